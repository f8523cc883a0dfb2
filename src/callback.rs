//! [`InlineFn`]: a type-erased `FnOnce()` stored inline when small.
//!
//! A ready-queue entry that boxes its closure pays an allocation and a free
//! per callback (18–36 ns here) where the rest of `call_soon` costs a few
//! ns. Most callbacks capture a pointer or two (an `Rc`, a `Box`), so the
//! closure is kept inside the entry when it fits in two words with at most
//! word alignment; larger closures are boxed, and the box (one word) is kept
//! inline instead. A boxed `dyn FnOnce` (two words) also fits, so jobs that
//! arrive boxed from other threads are not boxed again.
//!
//! Every `unsafe` block here is covered by the unit tests below, which run
//! under Miri (`cargo +nightly miri test --lib callback`).

use std::marker::PhantomData;
use std::mem::{align_of, size_of, ManuallyDrop, MaybeUninit};

/// Words of inline storage.
const WORDS: usize = 2;

type Storage = MaybeUninit<[usize; WORDS]>;

/// What to do with the closure stored in `Storage`, per closure type.
struct FnVtable {
    /// Moves the closure out and calls it.
    call: unsafe fn(*mut ()),
    /// Drops the closure in place.
    drop: unsafe fn(*mut ()),
}

/// A `FnOnce()` closure, stored inline if it fits, boxed otherwise.
pub(crate) struct InlineFn {
    data: Storage,
    vtable: &'static FnVtable,
    /// The closure may be `!Send` / `!Sync`; so is this.
    _not_send: PhantomData<*const ()>,
}

/// Whether `F` fits the inline storage.
const fn fits<F>() -> bool {
    size_of::<F>() <= size_of::<Storage>() && align_of::<F>() <= align_of::<Storage>()
}

impl InlineFn {
    /// Wraps `f`: inline if it fits, else in a `Box` whose pointer is inline.
    #[inline]
    pub(crate) fn new<F: FnOnce() + 'static>(f: F) -> InlineFn {
        if fits::<F>() {
            InlineFn::inline(f)
        } else {
            InlineFn::inline(Box::new(f))
        }
    }

    /// Stores `f`, which must fit (checked; the check folds away).
    #[inline]
    fn inline<F: FnOnce() + 'static>(f: F) -> InlineFn {
        assert!(fits::<F>(), "InlineFn::inline: the closure does not fit");
        let mut data = Storage::uninit();
        // SAFETY: `F` fits `Storage` in size and alignment (asserted), and
        // the storage is uninitialised, so nothing is overwritten.
        unsafe { data.as_mut_ptr().cast::<F>().write(f) };
        InlineFn {
            data,
            vtable: vtable::<F>(),
            _not_send: PhantomData,
        }
    }

    /// Calls the closure, consuming it.
    #[inline]
    pub(crate) fn call(self) {
        let mut this = ManuallyDrop::new(self);
        // `ManuallyDrop` keeps `Drop` from dropping the closure again, also
        // if the call panics: the closure was moved into the call by then.
        // SAFETY: the storage holds the closure `vtable` was made for; it
        // is moved out exactly once (see above).
        unsafe { (this.vtable.call)(this.data.as_mut_ptr().cast()) }
    }
}

impl Drop for InlineFn {
    fn drop(&mut self) {
        // SAFETY: the closure was never called (`call` skips this `Drop`),
        // so the storage still holds it.
        unsafe { (self.vtable.drop)(self.data.as_mut_ptr().cast()) }
    }
}

/// An [`InlineFn`] made from a `Send` closure, so it may cross threads:
/// the remote queue carries `call_soon_threadsafe` jobs in these, without a
/// box for small closures.
pub(crate) struct SendFn(InlineFn);

// SAFETY: `SendFn::new` only accepts `Send` closures (and a `Box` of a
// `Send` closure is `Send`), so the stored value may move between threads.
unsafe impl Send for SendFn {}

impl SendFn {
    pub(crate) fn new<F: FnOnce() + Send + 'static>(f: F) -> SendFn {
        SendFn(InlineFn::new(f))
    }

    /// Back to a loop-thread callback.
    pub(crate) fn into_inner(self) -> InlineFn {
        self.0
    }
}

fn vtable<F: FnOnce()>() -> &'static FnVtable {
    struct Holder<F>(PhantomData<F>);
    impl<F: FnOnce()> Holder<F> {
        const VTABLE: FnVtable = FnVtable {
            call: call::<F>,
            drop: drop_in_place::<F>,
        };
    }
    &Holder::<F>::VTABLE
}

/// # Safety
///
/// `p` points at a live `F`, which this moves out (it must not be used again).
unsafe fn call<F: FnOnce()>(p: *mut ()) {
    // SAFETY: per the contract.
    let f = unsafe { p.cast::<F>().read() };
    f();
}

/// # Safety
///
/// `p` points at a live `F`, dropped here (it must not be used again).
unsafe fn drop_in_place<F>(p: *mut ()) {
    // SAFETY: per the contract.
    unsafe { p.cast::<F>().drop_in_place() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::rc::Rc;

    #[test]
    fn small_closures_are_inline_and_large_ones_boxed() {
        assert!(fits::<Rc<()>>());
        assert!(fits::<Box<dyn FnOnce()>>());
        assert!(fits::<()>());
        assert!(!fits::<[u64; 3]>());
        #[repr(align(16))]
        struct Aligned(#[allow(dead_code)] u8);
        assert!(!fits::<Aligned>());
    }

    #[test]
    fn calls_inline_boxed_zero_sized_and_over_aligned_closures() {
        let hits = Rc::new(Cell::new(0));
        let h = hits.clone();
        InlineFn::new(move || h.set(h.get() + 1)).call();
        let (h, big) = (hits.clone(), [7u64; 8]);
        InlineFn::new(move || h.set(h.get() + big.iter().sum::<u64>() as i32)).call();
        InlineFn::new(|| {}).call();
        #[repr(align(32))]
        struct Aligned(u8);
        let (h, a) = (hits.clone(), Aligned(3));
        InlineFn::new(move || h.set(h.get() + i32::from(a.0))).call();
        let boxed: Box<dyn FnOnce()> = {
            let h = hits.clone();
            Box::new(move || h.set(h.get() + 100))
        };
        InlineFn::new(boxed).call();
        assert_eq!(hits.get(), 1 + 56 + 3 + 100);
        assert_eq!(Rc::strong_count(&hits), 1, "every capture was dropped");
    }

    #[test]
    fn dropping_uncalled_closures_drops_their_captures() {
        let token = Rc::new(());
        let (a, b) = (token.clone(), token.clone());
        let big = [0u64; 8];
        drop(InlineFn::new(move || drop(a)));
        drop(InlineFn::new(move || drop((b, big))));
        assert_eq!(Rc::strong_count(&token), 1);
    }

    #[test]
    fn send_fns_cross_threads_and_run_or_drop_there() {
        let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let h = hits.clone();
        let small = SendFn::new(move || {
            h.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        });
        let (h, big) = (hits.clone(), [1u64; 8]);
        let large = SendFn::new(move || {
            h.fetch_add(big[0] as usize, std::sync::atomic::Ordering::SeqCst);
        });
        let h = hits.clone();
        let dropped = SendFn::new(move || drop(h));
        std::thread::spawn(move || {
            small.into_inner().call();
            large.into_inner().call();
            drop(dropped);
        })
        .join()
        .unwrap();
        assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 2);
        assert_eq!(std::sync::Arc::strong_count(&hits), 1);
    }

    #[test]
    fn a_panicking_closure_is_consumed_once() {
        let token = Rc::new(());
        let t = token.clone();
        let f = InlineFn::new(move || {
            let _t = t;
            panic!("boom");
        });
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f.call()));
        assert!(r.is_err());
        assert_eq!(
            Rc::strong_count(&token),
            1,
            "dropped once, by the unwinding call"
        );
    }
}
