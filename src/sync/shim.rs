//! The atomics and queue of the cross-thread protocols, swappable for
//! loom's model-checked versions with `RUSTFLAGS="--cfg evloop_loom"`.
//!
//! A crate-specific cfg, not `--cfg loom`: that one also flips tokio's
//! internal loom paths and breaks its build when tokio is a dev-dependency.
//! Under `evloop_loom`, `SegQueue` (whose internals loom cannot see) is
//! replaced by a loom `Mutex<VecDeque>`, and the `mio::Waker` by a counter
//! of wake-ups; the protocol code in `remote.rs` is the production code.

#[cfg(not(evloop_loom))]
pub(crate) use std::sync::atomic::{fence, AtomicBool, AtomicUsize, Ordering};

#[cfg(evloop_loom)]
pub(crate) use loom::sync::atomic::{fence, AtomicBool, AtomicUsize, Ordering};

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
    use std::collections::VecDeque;

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
}
