//! The task allocation: header, future and output in one `Box`, and the
//! waker that points at it.
//!
//! ```text
//!  RawTask ──► ┌──────────────────────────────┐
//!  (one ref)   │ Header                        │  touched from any thread:
//!  Waker ────► │   refs: AtomicUsize           │    refs, state
//!  (one ref)   │   state: COMPLETE,            │
//!  TaskEntry ─►│          REMOTE_SCHEDULED     │
//!  (no ref)    │   vtable: &'static TaskVtable │
//!              │   owner: Owner                │  the loop's remote queue
//!              │   local: Local                │  loop thread only (cells)
//!              ├──────────────────────────────┤
//!              │ stage: Running(F)             │  loop thread only
//!              │      | Finished(Result<T, _>) │
//!              │      | Consumed               │
//!              └──────────────────────────────┘
//! ```
//!
//! The state machine (`state`) says what each bit of `state` and of
//! `Local`'s bits means and which transitions are allowed.
//!
//! # Thread affinity, in types
//!
//! Only the loop thread may touch `Local` and the stage. The types that can
//! reach them are the ones that exist only there: a [`LocalRef`] (made on
//! the loop thread, `!Send`), a [`TaskEntry`] (the ready queue's, `!Send`),
//! and a [`RawTask`] shown together with its loop's
//! [`Scheduler`](super::Scheduler) (`!Send` and `!Sync`, so a reference to
//! it proves the thread). Through them, `Local` is a set of `Cell`s: a
//! shared view that no `&mut` can alias, whatever user code runs in
//! between (a task that awaits its own `Task` handle reads its own
//! `Local` while being polled, harmlessly).
//!
//! # Invariants (each is tested in `tests/task_invariants.rs`)
//!
//! 1. **One allocation per task.** The header, the future and its output
//!    share one `Box<Cell<F>>`; a `RawTask` and a `Waker` are both a pointer to it.
//! 2. **Atomic counts only for what crosses threads.** `refs` counts each
//!    `Waker`, each remote-queue entry, and one unit for all the loop-thread
//!    owners together ([`LocalRef`]s: the `Task` handle, the registry entry
//!    while the future is alive, a task's turn), which `Local::refs` counts
//!    without atomics. The allocation is freed when the last reference
//!    goes, on whichever thread drops it: seen as `refs` reaching zero, or,
//!    without the decrement, as `refs` being 1 when its holder lets go. A ready-queue entry is a
//!    [`TaskEntry`] that owns nothing, so a local wake touches no atomic:
//!    while the task is not complete the registry keeps it alive, and when
//!    it completes with an entry still queued, the registry's `LocalRef`
//!    passes to that entry, which releases it when popped. A `Task` awaited
//!    by another task of the same loop records that task by registry key
//!    and address ([`JoinWaiter::Local`]), also without a reference.
//! 3. **Queued at most once.** `SCHEDULED` is set by whoever pushes the
//!    task onto the ready queue and cleared by the loop when its turn
//!    starts, so a task woken many times before it runs is polled once,
//!    and a wake during its own poll queues it again (it runs in the next
//!    iteration). Wakes from other threads are coalesced the same way by
//!    `REMOTE_SCHEDULED`, which the loop clears when it takes the task from
//!    the remote queue.
//! 4. **`!Send` values stay on the loop thread.** The stage (future and
//!    output) and `Local` are only touched on the loop thread: the loop
//!    polls and drops the future, and the `!Send` `Task` handle takes or
//!    drops the output. By the time another thread can drop the last
//!    reference the stage is `Consumed` and `Local` holds no waker, so
//!    freeing the memory there drops nothing `!Send`.
//! 5. **A completed task is never polled again**, and a task is never
//!    polled inside its own poll: `COMPLETE` is set once, on the loop
//!    thread, after the future is dropped; only a [`Turn`] polls, a turn
//!    starts only for a task that is not complete, and the scheduler
//!    allows one turn at a time.

use std::any::Any;
use std::future::Future;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::panic::{catch_unwind, AssertUnwindSafe, Location};
use std::pin::Pin;
use std::ptr::NonNull;
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

use super::owner::Owner;
use super::scheduler::{Remote, Scheduler};
use super::state;
use crate::error::TaskError;
use crate::prefetch::prefetch;
use crate::sync::shim::{self, AtomicUsize, Ordering, UnsafeCell};

/// A panic payload, as `catch_unwind` returns it.
pub(crate) type Payload = Box<dyn Any + Send + 'static>;

/// The part of a task every thread may see. `#[repr(C)]` and first in
/// [`Cell`], so a pointer to the cell is a pointer to its header.
#[repr(C)]
pub(crate) struct Header {
    refs: AtomicUsize,
    state: state::Shared,
    vtable: &'static TaskVtable,
    /// The loop this task belongs to; wakes from other threads go through
    /// its remote queue.
    owner: Owner,
    local: Local,
}

impl Header {
    /// Whether the caller's reference is the only one: then no other
    /// thread holds one, and only a holder can make another, so none can
    /// appear and no other thread can reach the task. (A borrowed waker
    /// holds none, but it lives only inside a poll, and a poll holds the
    /// loop-thread owners' reference.) Most tasks end this way, no waker
    /// ever cloned, and skip a locked read-modify-write. `Acquire`: the
    /// last uses of the other threads' references (their `Release`
    /// decrements) happen before what the caller does next.
    fn only_reference(&self) -> bool {
        self.refs.load(Ordering::Acquire) == 1
    }
}

/// Task state that only the loop thread reads or writes: cells, reached
/// only through the loop-thread types (see the module docs).
pub(crate) struct Local {
    /// Loop-thread owners ([`LocalRef`]s). Together they hold one unit of
    /// `refs` (invariant 2).
    refs: LoopCell<u32>,
    bits: LoopCell<u8>,
    /// Whoever awaits the `Task` handle.
    join_waiter: LoopCell<JoinWaiter>,
    /// Key of this task in the loop's registry.
    registry_key: LoopCell<usize>,
    /// The loop's number for this task (1, 2, ...; 0 until registered).
    id: LoopCell<u64>,
    /// Where `ensure_future` was called.
    location: &'static Location<'static>,
}

/// A `Cell` for `Local`, built on the shim's `UnsafeCell` so that loom
/// sees every access in its models (a free on another thread racing with
/// the loop's writes would show).
struct LoopCell<T>(UnsafeCell<T>);

impl<T> LoopCell<T> {
    fn new(value: T) -> LoopCell<T> {
        LoopCell(UnsafeCell::new(value))
    }

    fn replace(&self, value: T) -> T {
        self.0.with_mut(|p| {
            // SAFETY: a `LoopCell` lives in a `Local`, which only loop-thread
            // types reach (module docs), so there is no concurrent access; no
            // reference into the cell outlives this call, so none is aliased.
            unsafe { std::mem::replace(&mut *p, value) }
        })
    }

    fn set(&self, value: T) {
        drop(self.replace(value));
    }
}

impl<T> LoopCell<T> {
    /// Runs `f` on a shared reference to the value. `f` must not write
    /// this cell (it cannot reach it: callers pass closures that only read
    /// the value and other cells).
    fn with_ref<R>(&self, f: impl FnOnce(&T) -> R) -> R {
        // SAFETY: as in `replace`; the shared reference lives for `f`
        // only, and nothing writes the cell meanwhile (see above).
        self.0.with(|p| f(unsafe { &*p }))
    }
}

impl<T: Copy> LoopCell<T> {
    fn get(&self) -> T {
        // SAFETY: as in `replace`.
        self.0.with(|p| unsafe { *p })
    }
}

impl LoopCell<u8> {
    /// The loop-only state bits, as the state machine's type.
    fn bits(&self) -> state::Local {
        state::Local::from(self.get())
    }
}

/// Type-erased operations on the stage, which depend on the future's type.
struct TaskVtable {
    /// Polls the future. On completion or panic, drops it, stores the output
    /// and returns `Ready`.
    poll: unsafe fn(NonNull<Header>, &mut Context<'_>) -> Poll<()>,
    /// Drops the future in place and stores `Err(cancelled)`; returns the
    /// payload if the future's `Drop` panicked.
    cancel: unsafe fn(NonNull<Header>) -> Option<Payload>,
    /// Moves the output into `*dst` (an `Option<Result<T, TaskError>>`).
    take_output: unsafe fn(NonNull<Header>, *mut ()),
    /// Drops the output; returns the panic payload if the task panicked.
    discard_output: unsafe fn(NonNull<Header>) -> Option<Payload>,
    /// Frees the allocation.
    dealloc: unsafe fn(NonNull<Header>),
}

enum Stage<F: Future> {
    Running(F),
    Finished(Result<F::Output, TaskError>),
    Consumed,
}

#[repr(C)]
struct Cell<F: Future> {
    header: Header,
    stage: UnsafeCell<Stage<F>>,
}

/// An owned reference to a task, on any thread. Cloning adds a reference;
/// dropping removes one.
///
/// It reaches only the cross-thread part of the header; the loop-thread
/// part needs a [`LocalRef`] or the loop's scheduler
/// ([`RawTask::local_view`]). `!Send`: the remote queue carries tasks as
/// [`RemoteTask`].
pub(crate) struct RawTask {
    ptr: NonNull<Header>,
    _not_send: PhantomData<*const ()>,
}

impl RawTask {
    /// Allocates a task around `future`; the caller (the scheduler, on its
    /// loop thread) gets its first loop-thread reference. The task starts
    /// `SCHEDULED`: the caller pushes its first entry.
    pub(crate) fn allocate<F>(
        future: F,
        owner: Owner,
        location: &'static Location<'static>,
    ) -> LocalRef
    where
        F: Future + 'static,
    {
        let cell = Cell {
            header: Header {
                refs: AtomicUsize::new(1),
                state: state::Shared::new(),
                vtable: vtable::<F>(),
                owner,
                local: Local {
                    refs: LoopCell::new(1),
                    bits: LoopCell::new(state::Local::new().into()),
                    join_waiter: LoopCell::new(JoinWaiter::None),
                    registry_key: LoopCell::new(super::registry::UNREGISTERED),
                    id: LoopCell::new(0),
                    location,
                },
            },
            stage: UnsafeCell::new(Stage::Running(future)),
        };
        let ptr = place(cell).cast::<Header>();
        shim::track_alloc(ptr.as_ptr() as usize);
        LocalRef::at(ptr)
    }

    fn header(&self) -> &Header {
        // SAFETY: `self` owns a reference, so the allocation is alive.
        unsafe { header(self.ptr) }
    }

    /// Whether two references point at the same task.
    pub(crate) fn ptr_eq(&self, other: &RawTask) -> bool {
        self.ptr == other.ptr
    }

    pub(crate) fn owner(&self) -> &Remote {
        self.header().owner.get()
    }

    pub(crate) fn is_complete(&self) -> bool {
        self.header().state.is_complete()
    }

    /// A wake off the loop thread: whether the caller must push a
    /// reference onto the remote queue (see `state::Shared::mark_remote`).
    pub(crate) fn mark_remote_scheduled(&self) -> bool {
        self.header().state.mark_remote()
    }

    /// The loop-thread view of this task, if `scheduler` is its loop's: a
    /// `&Scheduler` exists only on its loop's thread (it is `!Send` and
    /// `!Sync`), so the check proves this is the task's thread.
    pub(crate) fn local_view<'a>(&'a self, scheduler: &'a Scheduler) -> Option<View<'a>> {
        let header = self.header();
        header
            .owner
            .is(scheduler.remote())
            .then(|| View::new(header))
    }

    /// A ready-queue entry for this task (invariant 2 says why it may own
    /// nothing). Only the task layer makes entries.
    pub(super) fn entry(&self) -> TaskEntry {
        TaskEntry(self.ptr)
    }

    /// The task's address, as `JoinWaiter::Local` records it.
    pub(crate) fn addr(&self) -> usize {
        self.ptr.as_ptr() as usize
    }

    /// Asks the processor to bring the task's header and the start of its
    /// future into the cache, without waiting for them (see `prefetch`):
    /// the loop does it some timers ahead of waking a batch of sleeps.
    ///
    /// The first 128 bytes: the header (88) and the future's first 40,
    /// where a sleeping task keeps its `Sleep`. A task's block is aligned
    /// to 16 bytes, not to a cache line, so those bytes lie on two or
    /// three lines: one prefetch at each end and one between ask for all
    /// of them. (Asking for the header's line and the line where the
    /// future starts, as a first version did, missed the future's line in
    /// most alignments: 334 → 306 ns a timer with the three.)
    #[inline(always)]
    pub(crate) fn prefetch(&self) {
        let start = self.ptr.as_ptr().cast_const().cast::<u8>();
        prefetch(start);
        prefetch(start.wrapping_add(64));
        prefetch(start.wrapping_add(127));
    }

    /// A waker that borrows this reference instead of owning one: valid while
    /// `self` is, and never dropped (it is wrapped in `ManuallyDrop`).
    #[cfg(evloop_loom)]
    pub(crate) fn waker_ref(&self) -> ManuallyDrop<Waker> {
        // SAFETY: `self` owns a reference, so the header is alive for as
        // long as the borrowed waker is used.
        unsafe { borrowed_waker(self.ptr) }
    }
}

impl Clone for RawTask {
    fn clone(&self) -> RawTask {
        // SAFETY: `self` owns a reference, so the header is alive.
        unsafe { increment(self.ptr) };
        RawTask {
            ptr: self.ptr,
            _not_send: PhantomData,
        }
    }
}

impl Drop for RawTask {
    fn drop(&mut self) {
        // SAFETY: `self` owns the reference being released.
        unsafe { decrement(self.ptr) }
    }
}

/// The loop-thread view of a task: its state bits, ids and join waiter.
/// `!Send`; made only from a loop-thread type (module docs).
#[derive(Clone, Copy)]
pub(crate) struct View<'a> {
    local: &'a Local,
    _not_send: PhantomData<*const ()>,
}

impl<'a> View<'a> {
    fn new(header: &'a Header) -> View<'a> {
        View {
            local: &header.local,
            _not_send: PhantomData,
        }
    }

    /// The loop-only state bits (see `state`).
    pub(crate) fn state(self) -> state::Local {
        self.local.bits.bits()
    }

    /// Applies a transition of the state machine; returns what it returns.
    pub(crate) fn update<R>(self, f: impl FnOnce(&mut state::Local) -> R) -> R {
        let mut bits = self.state();
        let out = f(&mut bits);
        self.local.bits.set(bits.into());
        out
    }

    pub(crate) fn id(self) -> u64 {
        self.local.id.get()
    }

    pub(crate) fn set_id(self, id: u64) {
        self.local.id.set(id);
    }

    pub(crate) fn registry_key(self) -> usize {
        self.local.registry_key.get()
    }

    pub(super) fn set_registry_key(self, key: usize) {
        self.local.registry_key.set(key);
    }

    pub(crate) fn location(self) -> &'static Location<'static> {
        self.local.location
    }

    /// Puts `waiter` in place of the join waiter; the old one comes back,
    /// for the caller to drop or wake outside any borrow (a foreign waker's
    /// `Drop` is user code).
    pub(crate) fn replace_join_waiter(self, waiter: JoinWaiter) -> JoinWaiter {
        self.local.join_waiter.replace(waiter)
    }

    /// Whether the join waiter already stands for `waker`, so a re-poll of
    /// the `Task` handle changes nothing. A local waiter matches only the
    /// same task *and* registry key: a new task at a freed task's address
    /// must not be mistaken for it. `waker` may be this very task's own (a
    /// task that awaits its own handle): every read here is a cell read.
    pub(crate) fn join_waiter_is(self, waker: &Waker, scheduler: &Scheduler) -> bool {
        // Reads only: the waiter, and (for a local one) the registry key of
        // the waker's task, a different cell even if it is this task.
        self.local.join_waiter.with_ref(|waiter| match waiter {
            JoinWaiter::None => false,
            JoinWaiter::Local { key, task } => {
                is_task_waker(waker)
                    && waker.data() as usize == *task
                    && waker_view(waker, scheduler).is_some_and(|v| v.registry_key() == *key)
            }
            JoinWaiter::Waker(w) => w.will_wake(waker),
        })
    }
}

/// A loop-thread owner of a task: the `Task` handle, the registry entry,
/// the entry of a completed task, a task's turn. Counted in `Local::refs`
/// without atomics; the first one to come and the last one to go move the
/// shared atomic count (invariant 2). `!Send`, like the loop, and made only
/// on the loop thread, so it is the safe way to the task's loop-thread part.
pub(crate) struct LocalRef {
    raw: ManuallyDrop<RawTask>,
}

impl std::ops::Deref for LocalRef {
    type Target = RawTask;

    fn deref(&self) -> &RawTask {
        &self.raw
    }
}

impl LocalRef {
    /// The loop-thread owner of the task at `ptr`. Counts nothing: each
    /// caller says which unit of `Local::refs` the new owner stands for
    /// (or wraps it in `ManuallyDrop` when it stands for none).
    fn at(ptr: NonNull<Header>) -> LocalRef {
        LocalRef {
            raw: ManuallyDrop::new(RawTask {
                ptr,
                _not_send: PhantomData,
            }),
        }
    }

    /// The loop-thread view of the task.
    pub(crate) fn view(&self) -> View<'_> {
        View::new(self.raw.header())
    }

    /// Drops the future (a cancellation or the teardown) and stores
    /// `Err(cancelled)`; the payload if the future's `Drop` panicked.
    /// Nothing to do if the task is already complete.
    ///
    /// # Panics
    ///
    /// If called from inside the task's own poll.
    pub(crate) fn cancel_future(&self) -> Option<Payload> {
        if self.is_complete() {
            return None;
        }
        assert!(
            !self.view().state().is_running(),
            "evloop: a task cancelled inside its own poll"
        );
        // SAFETY: loop thread; alive; not complete and not being polled.
        unsafe { (self.raw.header().vtable.cancel)(self.raw.ptr) }
    }

    /// Marks the task complete (invariant 5): its future is gone.
    ///
    /// While the loop thread's owners hold the only reference
    /// (`Header::only_reference`), no other thread can reach the state
    /// word, and a plain store does, without the locked read-modify-write.
    #[inline(never)] // once per task: kept out of the turn's code
    pub(crate) fn set_complete(&self) {
        let header = self.raw.header();
        if header.only_reference() {
            header.state.set_complete_alone();
        } else {
            header.state.set_complete();
        }
    }

    /// Moves the output out.
    ///
    /// # Safety
    ///
    /// `T` must be the future's output type.
    pub(crate) unsafe fn take_output<T>(&self) -> Option<Result<T, TaskError>> {
        let mut out: Option<Result<T, TaskError>> = None;
        // SAFETY: loop thread; `out` has the type the vtable writes, per
        // the caller.
        unsafe {
            (self.raw.header().vtable.take_output)(self.raw.ptr, &mut out as *mut _ as *mut ())
        };
        out
    }

    /// Drops the output (if any is stored), returning a panic payload
    /// nobody retrieved.
    pub(crate) fn discard_output(&self) -> Option<Payload> {
        // SAFETY: loop thread; alive. A stage that is not `Finished` is
        // left alone.
        unsafe { (self.raw.header().vtable.discard_output)(self.raw.ptr) }
    }
}

impl Clone for LocalRef {
    fn clone(&self) -> LocalRef {
        let refs = &self.raw.header().local.refs;
        refs.set(refs.get() + 1);
        LocalRef::at(self.raw.ptr)
    }
}

impl Drop for LocalRef {
    fn drop(&mut self) {
        let refs = &self.raw.header().local.refs;
        // An underflow would mean a freed task is still in use: stop
        // rather than go on silently.
        let left = refs
            .get()
            .checked_sub(1)
            .unwrap_or_else(|| std::process::abort());
        refs.set(left);
        if left == 0 {
            // The last loop-thread owner: no `Task` handle, no registry
            // entry, no queued entry. No join waiter is left (the handle's
            // drop and the task's end both take it), so nothing `!Send` is
            // freed off the loop thread (invariant 4).
            debug_assert!(self
                .raw
                .header()
                .local
                .join_waiter
                .with_ref(|w| matches!(w, JoinWaiter::None)));
            // SAFETY: the loop-thread owners' unit of `refs` is released
            // exactly once, by the last of them.
            unsafe { ManuallyDrop::drop(&mut self.raw) }
        }
    }
}

/// Who awaits a `Task` handle.
#[derive(Default)]
pub(crate) enum JoinWaiter {
    #[default]
    None,
    /// A task of the same loop, by registry key and address: no reference
    /// is held, so no atomic is touched. The loop checks the registry
    /// before waking it: if the key now holds another task (the awaiter
    /// finished and its slot was reused), that one gets a spurious wake,
    /// which futures must tolerate.
    Local { key: usize, task: usize },
    /// Any other waker.
    Waker(Waker),
}

impl JoinWaiter {
    /// The waiter for `waker`, awaiting a task of `scheduler`'s loop.
    pub(crate) fn for_waker(waker: &Waker, scheduler: &Scheduler) -> JoinWaiter {
        match waker_view(waker, scheduler) {
            Some(view) => JoinWaiter::Local {
                key: view.registry_key(),
                task: waker.data() as usize,
            },
            None => JoinWaiter::Waker(waker.clone()),
        }
    }
}

/// The loop-thread view of the task behind `waker`, if it is an evloop
/// task waker of `scheduler`'s loop.
fn waker_view<'a>(waker: &'a Waker, scheduler: &'a Scheduler) -> Option<View<'a>> {
    if !is_task_waker(waker) {
        return None;
    }
    // SAFETY: an evloop waker's data is a live task header (the waker owns
    // a reference), which outlives the borrow of the waker.
    let header = unsafe { header(NonNull::new_unchecked(waker.data() as *mut Header)) };
    header
        .owner
        .is(scheduler.remote())
        .then(|| View::new(header))
}

/// A loop-thread reference to the task behind `waker`, if it is a task
/// waker of `scheduler`'s loop (so this is its thread) and the task is not
/// complete. Such a task is held by its registry entry (or, during the
/// teardown, by the list the registry was drained into), so `Local::refs`
/// is at least 1 and one more needs no atomic.
pub(crate) fn local_ref(waker: &Waker, scheduler: &Scheduler) -> Option<LocalRef> {
    let view = waker_view(waker, scheduler)?;
    // SAFETY: `waker_view` checked it is an evloop task waker, whose data
    // is a live task header it holds a reference to.
    let ptr = unsafe { NonNull::new_unchecked(waker.data() as *mut Header) };
    // SAFETY: as above; alive for this call.
    if unsafe { header(ptr) }.state.is_complete() {
        return None;
    }
    let refs = &view.local.refs;
    debug_assert!(refs.get() > 0, "a task that is not complete has an owner");
    refs.set(refs.get() + 1);
    Some(LocalRef::at(ptr))
}

/// A ready-queue entry for a task: a pointer that owns no reference
/// (invariant 2 says why the task is alive while it is queued). `!Send`,
/// not `Copy`: only the task layer makes one, when it pushes an entry.
pub(crate) struct TaskEntry(NonNull<Header>);

impl TaskEntry {
    fn header(&self) -> &Header {
        // SAFETY: a queued task is alive (invariant 2), for as long as
        // this entry is in, or just popped from, the queue.
        unsafe { header(self.0) }
    }

    /// The loop-thread view of the queued task.
    pub(crate) fn view(&self) -> View<'_> {
        View::new(self.header())
    }

    /// The entry was popped (by the scheduler, which checks that no
    /// other turn is under way): the task's [`Turn`], or `None` for a
    /// stale entry of a completed task, whose reference (handed to it when
    /// the task completed) is released here. Clears `SCHEDULED` either way.
    pub(super) fn start(self) -> Option<Turn> {
        let view = self.view();
        view.update(state::Local::take_turn);
        if self.header().state.is_complete() {
            // SAFETY: the entry of a completed task owns the registry's
            // former reference (invariant 2), consumed here once.
            drop(unsafe { self.into_owned() });
            return None;
        }
        Some(Turn {
            ptr: self.0,
            _not_send: PhantomData,
        })
    }

    /// Drops an entry without running it (teardown): a completed task's
    /// entry releases its reference.
    pub(crate) fn discard(self) {
        if self.header().state.is_complete() {
            // SAFETY: as in `start`.
            drop(unsafe { self.into_owned() });
        }
    }

    /// Turns the entry into the loop-thread reference it stands for.
    ///
    /// # Safety
    ///
    /// A unit of `Local::refs` must belong to this entry, and is consumed.
    unsafe fn into_owned(self) -> LocalRef {
        LocalRef::at(self.0)
    }
}

/// A task's turn on the loop: from its entry being popped to its poll's
/// end (or its cancellation's). Owns no reference: the task is alive
/// because it is not complete, so the registry holds it, and the registry
/// lets go of it only in [`Scheduler::finish`], which consumes the turn,
/// or in the teardown, which the scheduler refuses while a turn is under
/// way. `!Send`, neither `Clone` nor `Copy`.
pub(crate) struct Turn {
    ptr: NonNull<Header>,
    _not_send: PhantomData<*const ()>,
}

impl Turn {
    fn header(&self) -> &Header {
        // SAFETY: alive while the turn lasts (see the type's docs).
        unsafe { header(self.ptr) }
    }

    /// The loop-thread view of the task.
    pub(crate) fn view(&self) -> View<'_> {
        View::new(self.header())
    }

    /// A waker that borrows the turn's task (see [`RawTask::waker_ref`]).
    pub(crate) fn waker_ref(&self) -> ManuallyDrop<Waker> {
        // SAFETY: the task is alive while the turn lasts.
        unsafe { borrowed_waker(self.ptr) }
    }

    /// Polls the future with `cx`; `Ready` once it completed or panicked.
    /// Marks the task `RUNNING` for the length of the poll.
    pub(crate) fn poll(&self, cx: &mut Context<'_>) -> Poll<()> {
        let view = self.view();
        view.update(state::Local::begin_poll);
        // A second poll in the same turn would find the stage finished and
        // return at once.
        // SAFETY: loop thread (`Turn`); alive and not complete (the turn);
        // no other poll of the task is in progress (one turn at a time).
        let ready = unsafe { (self.header().vtable.poll)(self.ptr, cx) };
        view.update(state::Local::end_poll);
        ready
    }

    /// Drops the future of a cancelled task and stores `Err(cancelled)`;
    /// the payload if the future's `Drop` panicked.
    pub(crate) fn cancel_future(&self) -> Option<Payload> {
        // SAFETY: loop thread; alive and not complete (the turn); not
        // being polled.
        unsafe { (self.header().vtable.cancel)(self.ptr) }
    }

    /// The turn as a borrowed `LocalRef`, for bookkeeping shared with the
    /// teardown; never dropped (it owns no count).
    pub(super) fn as_local(&self) -> ManuallyDrop<LocalRef> {
        ManuallyDrop::new(LocalRef::at(self.ptr))
    }
}

impl LocalRef {
    /// Another owner of the task, made without counting: it adopts a
    /// reference that its holder gives up (the registry's, when the task
    /// leaves it; see `registry`).
    ///
    /// # Safety
    ///
    /// A unit of `Local::refs` must be held for this task by someone who
    /// gives it up: the returned owner releases it when dropped.
    pub(super) unsafe fn adopt(&self) -> LocalRef {
        LocalRef::at(self.raw.ptr)
    }

    /// The loop-thread references the task has (its `Local::refs`).
    #[cfg(test)]
    pub(super) fn local_refs(&self) -> u32 {
        self.raw.header().local.refs.get()
    }

    /// The registry lets go of a completed task: if an entry for it is
    /// still in the ready queue, the reference passes to that entry
    /// (invariant 2), which releases it when popped.
    pub(crate) fn release_from_registry(self) {
        debug_assert!(self.is_complete());
        if self.view().state().is_scheduled() {
            std::mem::forget(self);
        }
    }
}

/// A task reference on its way through the remote queue.
pub(crate) struct RemoteTask(RawTask);

// SAFETY: a `RemoteTask` is only ever used to move a reference between
// threads: the sending thread touches nothing but the atomic count (when it
// drops a refused job), and the loop thread turns it back into a `RawTask`.
// Dropping the last reference off the loop thread frees only memory whose
// stage is `Consumed` (invariant 4).
unsafe impl Send for RemoteTask {}

impl RemoteTask {
    pub(crate) fn new(task: RawTask) -> RemoteTask {
        RemoteTask(task)
    }

    /// Back to a reference, on the loop thread: the loop took the task's
    /// `Wake` job, so later remote wakes must queue it again.
    pub(crate) fn arrive(self) -> RawTask {
        self.0.header().state.clear_remote();
        self.0
    }
}

/// The header behind `ptr` (checked live in the loom build).
///
/// # Safety
///
/// `ptr` points at a live header, which outlives `'a`.
unsafe fn header<'a>(ptr: NonNull<Header>) -> &'a Header {
    shim::track_access(ptr.as_ptr() as usize);
    // SAFETY: per the caller.
    unsafe { ptr.as_ref() }
}

/// Adds a reference.
///
/// # Safety
///
/// `ptr` points at a live header whose caller owns a reference.
unsafe fn increment(ptr: NonNull<Header>) {
    // SAFETY: per the caller, the header is alive.
    let old = unsafe { header(ptr) }.refs.fetch_add(1, Ordering::Relaxed);
    if old > isize::MAX as usize {
        // As `Arc` does: a count this large means leaked clones; stop
        // before it can wrap around to a use-after-free.
        std::process::abort();
    }
}

/// Releases a reference, freeing the task with the last one.
///
/// # Safety
///
/// The caller owns the reference being released and does not use `ptr` again.
unsafe fn decrement(ptr: NonNull<Header>) {
    // SAFETY: the caller's reference keeps the header alive until here.
    let header = unsafe { header(ptr) };
    // The caller's reference the only one: free without the decrement.
    if !header.only_reference() {
        if header.refs.fetch_sub(1, Ordering::Release) != 1 {
            return;
        }
        // Pairs with the `Release` above on the other threads' decrements,
        // so their last uses happen before the free (as `Arc` does). An
        // `Acquire` load rather than a fence: it reads the end of the same
        // release sequence, so it synchronises the same way, and
        // ThreadSanitizer, which does not model fences, sees it (std's
        // `Arc` does this under TSan). Without it TSan reports the free as
        // racing with the loop's last writes (`tests/task_invariants.rs`,
        // last waker on another thread).
        header.refs.load(Ordering::Acquire);
    }
    // SAFETY: this was the last reference: nobody else can reach the task.
    unsafe { (header.vtable.dealloc)(ptr) }
}

fn vtable<F: Future + 'static>() -> &'static TaskVtable {
    // A `const` item is promoted to a `'static` constant per `F`.
    struct Holder<F>(PhantomData<F>);
    impl<F: Future + 'static> Holder<F> {
        const VTABLE: TaskVtable = TaskVtable {
            poll: poll::<F>,
            cancel: cancel::<F>,
            take_output: take_output::<F>,
            discard_output: discard_output::<F>,
            dealloc: dealloc::<F>,
        };
    }
    &Holder::<F>::VTABLE
}

/// # Safety
///
/// `ptr` points at a live `Cell<F>`; loop thread only; no other reference
/// to the stage exists.
unsafe fn stage<'a, F: Future>(ptr: NonNull<Header>) -> &'a mut Stage<F> {
    // SAFETY: the header is the first field of a `#[repr(C)]` `Cell<F>`.
    let cell = unsafe { ptr.cast::<Cell<F>>().as_ref() };
    // SAFETY: the caller guarantees exclusive, loop-thread access to the stage.
    cell.stage.with_mut(|stage| unsafe { &mut *stage })
}

unsafe fn poll<F: Future>(ptr: NonNull<Header>, cx: &mut Context<'_>) -> Poll<()> {
    // SAFETY: per `LocalRef::poll`.
    let stage = unsafe { stage::<F>(ptr) };
    let Stage::Running(future) = stage else {
        return Poll::Ready(());
    };
    // SAFETY: the future never moves: it lives in the heap cell until it is
    // dropped in place (the stage is overwritten, never moved out of).
    let future = unsafe { Pin::new_unchecked(future) };
    let output = match catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
        Ok(Poll::Pending) => return Poll::Pending,
        Ok(Poll::Ready(value)) => Ok(value),
        Err(payload) => Err(TaskError::panicked(payload)),
    };
    // Dropping the future may panic too; the first panic wins. What loses
    // (the output, or the second payload) is user code to drop as well,
    // and must not unwind from here.
    let dropped = catch_unwind(AssertUnwindSafe(|| *stage = Stage::Consumed));
    *stage = Stage::Finished(match (output, dropped) {
        (Ok(value), Err(payload)) => {
            if let Err(p) = catch_unwind(AssertUnwindSafe(|| drop(value))) {
                crate::exception::drop_payload(p);
            }
            Err(TaskError::panicked(payload))
        }
        (output, Err(second)) => {
            crate::exception::drop_payload(second);
            output
        }
        (output, Ok(())) => output,
    });
    Poll::Ready(())
}

unsafe fn cancel<F: Future>(ptr: NonNull<Header>) -> Option<Payload> {
    // SAFETY: per `LocalRef::cancel_future`.
    let stage = unsafe { stage::<F>(ptr) };
    let dropped = catch_unwind(AssertUnwindSafe(|| *stage = Stage::Consumed));
    *stage = Stage::Finished(Err(TaskError::cancelled()));
    dropped.err()
}

unsafe fn take_output<F: Future>(ptr: NonNull<Header>, dst: *mut ()) {
    // SAFETY: per `LocalRef::take_output`.
    let stage = unsafe { stage::<F>(ptr) };
    if let Stage::Finished(output) = std::mem::replace(stage, Stage::Consumed) {
        // SAFETY: the caller passed an `Option<Result<F::Output, TaskError>>`.
        unsafe { *(dst as *mut Option<Result<F::Output, TaskError>>) = Some(output) };
    }
}

unsafe fn discard_output<F: Future>(ptr: NonNull<Header>) -> Option<Payload> {
    // SAFETY: per `LocalRef::discard_output`.
    let stage = unsafe { stage::<F>(ptr) };
    let Stage::Finished(output) = std::mem::replace(stage, Stage::Consumed) else {
        return None;
    };
    match output {
        Ok(value) => catch_unwind(AssertUnwindSafe(|| drop(value))).err(),
        Err(e) => e.try_into_panic().ok(),
    }
}

/// Moves `cell` into task memory (`alloc`: reused when a block is free).
fn place<F: Future>(cell: Cell<F>) -> NonNull<Cell<F>> {
    #[cfg(not(evloop_loom))]
    {
        let ptr = super::alloc::allocate(std::alloc::Layout::new::<Cell<F>>()).cast::<Cell<F>>();
        // SAFETY: fresh memory of `Cell<F>`'s layout, ours alone.
        unsafe { ptr.as_ptr().write(cell) };
        ptr
    }
    // loom runs its threads on one OS thread: a thread-local cache would
    // be shared between them, so models allocate each task on its own.
    #[cfg(evloop_loom)]
    NonNull::from(Box::leak(Box::new(cell)))
}

unsafe fn dealloc<F: Future>(ptr: NonNull<Header>) {
    shim::track_free(ptr.as_ptr() as usize);
    let cell = ptr.cast::<Cell<F>>();
    #[cfg(not(evloop_loom))]
    // SAFETY: the last reference is gone, so nothing else reaches the
    // cell; it was written by `place` into memory from `allocate` with
    // this layout, dropped here once and released after.
    unsafe {
        std::ptr::drop_in_place(cell.as_ptr());
        super::alloc::release(cell.cast(), std::alloc::Layout::new::<Cell<F>>());
    }
    #[cfg(evloop_loom)]
    // SAFETY: the last reference is gone; the cell came from `Box::leak`.
    drop(unsafe { Box::from_raw(cell.as_ptr()) });
}

// ---- the waker -------------------------------------------------------------

static WAKER_VTABLE: RawWakerVTable =
    RawWakerVTable::new(waker_clone, waker_wake, waker_wake_by_ref, waker_drop);

/// Whether `waker` is a task waker of evloop's: cloning or dropping one
/// touches only the task's atomic count and runs no code of anybody else's
/// (so a loop-local list may clone it while borrowed).
pub(crate) fn is_task_waker(waker: &Waker) -> bool {
    std::ptr::eq(waker.vtable(), &WAKER_VTABLE)
}

/// A waker for the task at `ptr` that owns no reference: it must not be
/// dropped (it is wrapped in `ManuallyDrop`); clones of it do own one.
///
/// # Safety
///
/// The task must stay alive while the waker is used.
unsafe fn borrowed_waker(ptr: NonNull<Header>) -> ManuallyDrop<Waker> {
    // SAFETY: the vtable's contract holds for a pointer to a live header
    // (the caller's promise).
    ManuallyDrop::new(unsafe {
        Waker::from_raw(RawWaker::new(ptr.as_ptr() as *const (), &WAKER_VTABLE))
    })
}

unsafe fn waker_clone(data: *const ()) -> RawWaker {
    // SAFETY: an evloop waker's data is a live header it holds a reference to.
    unsafe { increment(NonNull::new_unchecked(data as *mut Header)) };
    RawWaker::new(data, &WAKER_VTABLE)
}

unsafe fn waker_wake(data: *const ()) {
    // SAFETY: an evloop waker's data is a non-null header pointer; the
    // waker's reference becomes this `RawTask` (released when it drops).
    let ptr = unsafe { NonNull::new_unchecked(data as *mut Header) };
    let task = RawTask {
        ptr,
        _not_send: PhantomData,
    };
    super::context::wake(&task);
}

unsafe fn waker_wake_by_ref(data: *const ()) {
    // SAFETY: an evloop waker's data is a non-null header pointer, borrowed
    // for the call: `ManuallyDrop` keeps the count intact.
    let ptr = unsafe { NonNull::new_unchecked(data as *mut Header) };
    let task = ManuallyDrop::new(RawTask {
        ptr,
        _not_send: PhantomData,
    });
    super::context::wake(&task);
}

unsafe fn waker_drop(data: *const ()) {
    // SAFETY: the waker owned this reference.
    unsafe { decrement(NonNull::new_unchecked(data as *mut Header)) }
}
