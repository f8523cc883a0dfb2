//! The atomics, locks, cells and queue of the cross-thread protocols,
//! swappable for loom's model-checked versions with
//! `RUSTFLAGS="--cfg evloop_loom"`.
//!
//! A crate-specific cfg, not `--cfg loom`: that one also flips tokio's
//! internal loom paths and breaks its build when tokio is a dev-dependency.
//!
//! Without the cfg every item here is the production type itself (std's
//! atomics and `Arc`, parking_lot's `Mutex` and `Condvar`, crossbeam's
//! `SegQueue`, `mio::Waker`), or a `#[repr(transparent)]` wrapper whose
//! methods are one inlined call ([`UnsafeCell`]). Under `evloop_loom`:
//!
//! - atomics, `Arc`, `Mutex`, `Condvar` and `UnsafeCell` are loom's, so
//!   loom explores their interleavings, reports a leaked `Arc`, and checks
//!   that every cell access happens-before the next conflicting one;
//! - `SegQueue` (whose internals loom cannot see) becomes a model queue and
//!   the `mio::Waker` a counter of wake-ups;
//! - task allocations are tracked ([`track_alloc`]), so a model sees a use
//!   after free or a double free as a panic, not as silent corruption.
//!
//! The protocol code (`remote.rs`, `task/raw.rs`, `oneshot.rs`) is the
//! production code in both builds.

#[cfg(not(evloop_loom))]
pub(crate) use parking_lot::{Condvar, Mutex};
#[cfg(not(evloop_loom))]
pub(crate) use std::sync::atomic::{fence, AtomicBool, AtomicUsize, Ordering};
#[cfg(not(evloop_loom))]
pub(crate) use std::sync::Arc;

#[cfg(evloop_loom)]
pub(crate) use self::model::{Condvar, Mutex, UnsafeCell};
#[cfg(evloop_loom)]
pub(crate) use loom::sync::atomic::{fence, AtomicBool, AtomicUsize, Ordering};
#[cfg(evloop_loom)]
pub(crate) use loom::sync::Arc;

/// `std::cell::UnsafeCell`, accessed through closures (as loom's is), so
/// that the loom build can check each access.
#[cfg(not(evloop_loom))]
#[repr(transparent)]
pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

#[cfg(not(evloop_loom))]
impl<T> UnsafeCell<T> {
    pub(crate) const fn new(value: T) -> Self {
        UnsafeCell(std::cell::UnsafeCell::new(value))
    }

    /// Runs `f` with a pointer for reading.
    #[inline(always)]
    pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        f(self.0.get())
    }

    /// Runs `f` with a pointer for writing.
    #[inline(always)]
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
}

/// Records a new task allocation at `addr` (loom build only).
#[cfg(not(evloop_loom))]
#[inline(always)]
pub(crate) fn track_alloc(_addr: usize) {}

/// Records the free of the allocation at `addr`; under loom, panics if it
/// is not live (a double free).
#[cfg(not(evloop_loom))]
#[inline(always)]
pub(crate) fn track_free(_addr: usize) {}

/// Under loom, panics if the allocation at `addr` is not live (a use after
/// free).
#[cfg(not(evloop_loom))]
#[inline(always)]
pub(crate) fn track_access(_addr: usize) {}

#[cfg(all(test, evloop_loom))]
pub(crate) use self::model::is_live;
#[cfg(evloop_loom)]
pub(crate) use self::model::{track_access, track_alloc, track_free};

/// One turn of a spin-wait (loom must be told, or it explores forever).
#[cfg(not(evloop_loom))]
pub(crate) fn spin() {
    std::hint::spin_loop();
}

#[cfg(evloop_loom)]
pub(crate) fn spin() {
    loom::thread::yield_now();
}

/// The multi-producer queue of the remote path.
#[cfg(not(evloop_loom))]
pub(crate) type Queue<T> = crossbeam_queue::SegQueue<T>;

/// What wakes a loop blocked in `epoll_wait`.
#[cfg(not(evloop_loom))]
pub(crate) type Signal = mio::Waker;

#[cfg(evloop_loom)]
pub(crate) use self::model::{Queue, Signal};

#[cfg(evloop_loom)]
mod model {
    use std::cell::RefCell;
    use std::collections::{HashSet, VecDeque};
    use std::ops::{Deref, DerefMut};
    use std::time::Instant;

    use loom::sync::atomic::{AtomicUsize, Ordering};

    /// Stands in for `SegQueue` with what the protocol relies on: its
    /// length is published by `SeqCst` read-modify-writes and read by
    /// `SeqCst` loads, as crossbeam's indices are. The items sit behind a
    /// std mutex that loom does not see, so it adds no ordering of its own
    /// (a loom mutex would, and would hide a missing fence).
    pub(crate) struct Queue<T> {
        items: std::sync::Mutex<VecDeque<T>>,
        len: AtomicUsize,
    }

    impl<T> Queue<T> {
        pub(crate) fn new() -> Self {
            Queue {
                items: std::sync::Mutex::new(VecDeque::new()),
                len: AtomicUsize::new(0),
            }
        }
        pub(crate) fn push(&self, v: T) {
            self.items.lock().unwrap().push_back(v);
            self.len.fetch_add(1, Ordering::SeqCst);
        }
        pub(crate) fn pop(&self) -> Option<T> {
            if self.len.load(Ordering::SeqCst) == 0 {
                return None;
            }
            self.len.fetch_sub(1, Ordering::SeqCst);
            self.items.lock().unwrap().pop_front()
        }
        pub(crate) fn is_empty(&self) -> bool {
            self.len.load(Ordering::SeqCst) == 0
        }
        pub(crate) fn len(&self) -> usize {
            self.len.load(Ordering::SeqCst)
        }
    }

    /// Counts wake-ups instead of writing an eventfd.
    #[derive(Default)]
    pub(crate) struct Signal(AtomicUsize);

    impl Signal {
        pub(crate) fn wake(&self) -> std::io::Result<()> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
        #[cfg_attr(not(test), allow(dead_code))] // read by the loom tests
        pub(crate) fn count(&self) -> usize {
            self.0.load(Ordering::SeqCst)
        }
    }

    /// loom's `UnsafeCell`, plus one check: dropping the cell counts as a
    /// write, so freeing a task on another thread must happen-after the
    /// loop thread's last access (what `decrement`'s fence is for).
    pub(crate) struct UnsafeCell<T>(loom::cell::UnsafeCell<T>);

    impl<T> UnsafeCell<T> {
        #[track_caller]
        pub(crate) fn new(value: T) -> Self {
            UnsafeCell(loom::cell::UnsafeCell::new(value))
        }
        #[track_caller]
        pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
            self.0.with(f)
        }
        #[track_caller]
        pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
            self.0.with_mut(f)
        }
    }

    impl<T> Drop for UnsafeCell<T> {
        fn drop(&mut self) {
            if !std::thread::panicking() {
                self.0.with_mut(|_| ());
            }
        }
    }

    /// parking_lot's `Mutex` API over loom's.
    pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);

    /// The guard; an `Option` only so that `Condvar::wait` can hand it to
    /// loom by value and put it back.
    pub(crate) struct MutexGuard<'a, T>(Option<loom::sync::MutexGuard<'a, T>>);

    impl<T> Mutex<T> {
        pub(crate) fn new(value: T) -> Self {
            Mutex(loom::sync::Mutex::new(value))
        }
        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            MutexGuard(Some(self.0.lock().unwrap()))
        }
    }

    impl<T> Deref for MutexGuard<'_, T> {
        type Target = T;
        fn deref(&self) -> &T {
            self.0.as_ref().expect("guard is held")
        }
    }

    impl<T> DerefMut for MutexGuard<'_, T> {
        fn deref_mut(&mut self) -> &mut T {
            self.0.as_mut().expect("guard is held")
        }
    }

    /// parking_lot's `Condvar` API over loom's. loom has no time: a timed
    /// wait is an untimed one that never reports a time-out.
    pub(crate) struct Condvar(loom::sync::Condvar);

    /// As parking_lot's.
    pub(crate) struct WaitTimeoutResult(bool);

    impl WaitTimeoutResult {
        pub(crate) fn timed_out(&self) -> bool {
            self.0
        }
    }

    impl Condvar {
        pub(crate) fn new() -> Self {
            Condvar(loom::sync::Condvar::new())
        }
        pub(crate) fn wait<T>(&self, guard: &mut MutexGuard<'_, T>) {
            let held = guard.0.take().expect("guard is held");
            guard.0 = Some(self.0.wait(held).unwrap());
        }
        pub(crate) fn wait_until<T>(
            &self,
            guard: &mut MutexGuard<'_, T>,
            _deadline: Instant,
        ) -> WaitTimeoutResult {
            self.wait(guard);
            WaitTimeoutResult(false)
        }
        pub(crate) fn notify_all(&self) {
            self.0.notify_all();
        }
    }

    std::thread_local! {
        /// Addresses of the live task allocations. Thread-local because
        /// loom runs all the threads of one model on the test's own OS
        /// thread, while `cargo test` runs several models at once.
        static LIVE: RefCell<HashSet<usize>> = RefCell::new(HashSet::new());
    }

    pub(crate) fn track_alloc(addr: usize) {
        LIVE.with(|l| {
            assert!(
                l.borrow_mut().insert(addr),
                "task {addr:#x} allocated twice"
            )
        });
    }

    pub(crate) fn track_free(addr: usize) {
        LIVE.with(|l| assert!(l.borrow_mut().remove(&addr), "task {addr:#x} freed twice"));
    }

    pub(crate) fn track_access(addr: usize) {
        assert!(is_live(addr), "task {addr:#x} used after it was freed");
    }

    /// Whether the task allocation at `addr` is live (for the models).
    pub(crate) fn is_live(addr: usize) -> bool {
        LIVE.with(|l| l.borrow().contains(&addr))
    }
}
