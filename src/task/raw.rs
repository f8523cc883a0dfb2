//! The task allocation: header, future and output in one `Box`.
//!
//! ```text
//!  RawTask ──► ┌──────────────────────────────┐
//!  (one ref)   │ Header                        │  touched from any thread:
//!  Waker ────► │   refs: AtomicUsize           │    refs, remote_scheduled,
//!  (one ref)   │   remote_scheduled: AtomicBool│    complete
//!  TaskPtr ──► │   complete: AtomicBool        │
//!  (no ref)    │   vtable: &'static TaskVtable │
//!              │   owner: Arc<Shared>          │  the loop's remote queue
//!              │   local: UnsafeCell<Local>    │  loop thread only
//!              ├──────────────────────────────┤
//!              │ stage: Running(F)             │  loop thread only
//!              │      | Finished(Result<T, _>) │
//!              │      | Consumed               │
//!              └──────────────────────────────┘
//! ```
//!
//! # Invariants (each is tested in `tests/task_invariants.rs`)
//!
//! 1. **One allocation per task.** The header, the future and its output
//!    share one `Box<Cell<F>>`; a `RawTask` and a `Waker` are both a pointer to it.
//! 2. **Atomic counts only for what crosses threads.** `refs` counts each
//!    `Waker`, each remote-queue entry, and one unit for all the loop-thread
//!    owners together ([`LocalRef`]s: the `Task` handle, the registry entry
//!    while the future is alive), which `Local::local_refs` counts without
//!    atomics. The allocation is freed when `refs` reaches zero, on whichever
//!    thread drops the last reference. A ready-queue entry is a [`TaskPtr`]
//!    that owns nothing, so a local wake touches no atomic: while the task is
//!    not complete the registry keeps it alive, and when it completes with
//!    an entry still queued, the registry's `LocalRef` passes to that entry,
//!    which releases it when popped. A `Task` awaited by another task of the
//!    same loop records that task by registry key and address
//!    ([`JoinWaiter::Local`]), also without a reference.
//! 3. **Queued at most once.** `Local::scheduled` (loop thread only, no
//!    atomics) is set by whoever pushes the task onto the ready queue and
//!    cleared by the loop just before it polls the task, so a task woken
//!    many times before it runs is polled once, and a wake during its own
//!    poll queues it again (it runs in the next iteration). Wakes from other
//!    threads are coalesced the same way by `remote_scheduled`, an atomic
//!    flag the loop clears when it takes the task from the remote queue.
//! 4. **`!Send` values stay on the loop thread.** The stage (future and output)
//!    and `Local` are only touched on the loop thread: the loop polls and
//!    drops the future, and the `!Send` `Task` handle takes or drops the
//!    output. By the time another thread can drop the last reference the
//!    stage is `Consumed`, so freeing the memory there drops nothing `!Send`.
//! 5. **A completed task is never polled again.** `complete` is set once, on
//!    the loop thread, after the future is dropped; stale queue entries for a
//!    completed task are discarded when popped.

use std::any::Any;
use std::future::Future;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::panic::{catch_unwind, AssertUnwindSafe, Location};
use std::pin::Pin;
use std::ptr::NonNull;
use std::sync::Arc;
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};

use crate::error::TaskError;
use crate::remote::Shared;
use crate::sync::shim::{self, AtomicBool, AtomicUsize, Ordering, UnsafeCell};

/// A panic payload, as `catch_unwind` returns it.
pub(crate) type Payload = Box<dyn Any + Send + 'static>;

/// The part of a task every thread may see. `#[repr(C)]` and first in
/// [`Cell`], so a pointer to the cell is a pointer to its header.
#[repr(C)]
pub(crate) struct Header {
    refs: AtomicUsize,
    remote_scheduled: AtomicBool,
    complete: AtomicBool,
    vtable: &'static TaskVtable,
    /// The loop this task belongs to; wakes from other threads go through
    /// its remote queue.
    pub(crate) owner: Arc<Shared>,
    local: UnsafeCell<Local>,
}

/// Task state that only the loop thread reads or writes.
pub(crate) struct Local {
    /// Loop-thread owners ([`LocalRef`]s: the `Task` handle, the registry
    /// entry, a completed task's queue entry). Together they hold one unit
    /// of `refs` (invariant 2).
    local_refs: u32,
    /// An entry for this task is in the ready queue (invariant 3).
    pub(crate) scheduled: bool,
    /// Whoever awaits the `Task` handle.
    pub(crate) join_waiter: JoinWaiter,
    /// Whether the `Task` handle still exists (false: detached).
    pub(crate) handle_alive: bool,
    /// `Task::cancel` was called: the next run drops the future.
    pub(crate) cancel_requested: bool,
    /// The task has an entry in the loop's `TaskNames` (fits in padding).
    pub(crate) named: bool,
    /// Key of this task in the loop's registry.
    pub(crate) registry_key: usize,
    /// The loop's number for this task (1, 2, ...; 0 until registered).
    pub(crate) id: u64,
    /// Where `ensure_future` was called.
    pub(crate) location: &'static Location<'static>,
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

/// An owned reference to a task. Cloning adds a reference; dropping removes one.
///
/// Not `Send`: all but the reference count is the loop thread's. The remote
/// queue carries tasks as [`RemoteTask`].
pub(crate) struct RawTask {
    ptr: NonNull<Header>,
    _not_send: PhantomData<*const ()>,
}

impl RawTask {
    /// Allocates a task around `future`; the caller gets its first
    /// loop-thread reference.
    pub(crate) fn allocate<F>(
        future: F,
        owner: Arc<Shared>,
        location: &'static Location<'static>,
    ) -> LocalRef
    where
        F: Future + 'static,
    {
        let cell = Box::new(Cell {
            header: Header {
                refs: AtomicUsize::new(1),
                remote_scheduled: AtomicBool::new(false),
                complete: AtomicBool::new(false),
                vtable: vtable::<F>(),
                owner,
                local: UnsafeCell::new(Local {
                    local_refs: 1,
                    scheduled: false,
                    join_waiter: JoinWaiter::None,
                    handle_alive: true,
                    cancel_requested: false,
                    named: false,
                    registry_key: usize::MAX,
                    id: 0,
                    location,
                }),
            },
            stage: UnsafeCell::new(Stage::Running(future)),
        });
        let ptr = NonNull::from(Box::leak(cell)).cast::<Header>();
        shim::track_alloc(ptr.as_ptr() as usize);
        LocalRef {
            raw: ManuallyDrop::new(RawTask {
                ptr,
                _not_send: PhantomData,
            }),
        }
    }

    fn header(&self) -> &Header {
        // SAFETY: `self` owns a reference, so the allocation is alive.
        unsafe { header(self.ptr) }
    }

    /// Whether two references point at the same task.
    pub(crate) fn ptr_eq(&self, other: &RawTask) -> bool {
        self.ptr == other.ptr
    }

    pub(crate) fn owner(&self) -> &Arc<Shared> {
        &self.header().owner
    }

    pub(crate) fn is_complete(&self) -> bool {
        self.header().complete.load(Ordering::Acquire)
    }

    /// A non-owning pointer, for the ready queue (invariant 2).
    pub(crate) fn as_ptr(&self) -> TaskPtr {
        TaskPtr(self.ptr)
    }

    /// Sets `remote_scheduled`; returns whether it was clear, in which case
    /// the caller must push a reference onto the remote queue.
    pub(crate) fn mark_remote_scheduled(&self) -> bool {
        let h = self.header();
        !h.complete.load(Ordering::Acquire) && !h.remote_scheduled.swap(true, Ordering::AcqRel)
    }

    /// The loop took the task from the remote queue: later remote wakes
    /// must queue it again.
    ///
    /// A read-modify-write with `Acquire`, not a store: a wake that found
    /// the flag already set queued nothing, and counts on the poll that
    /// follows this clear to see what it wrote before waking. The swap reads
    /// the flag's latest value, written by the last wake that set it or
    /// found it set (each a `Release` swap), so their writes are visible to
    /// that poll. A `Release` store, or a swap without `Acquire`, does not
    /// order them: loom finds the lost wake
    /// (`core::loom_tests::loom_task_woken_from_two_threads_while_polled`).
    pub(crate) fn clear_remote_scheduled(&self) {
        self.header().remote_scheduled.swap(false, Ordering::AcqRel);
    }

    /// Sets `Local::scheduled`; returns whether the caller must push a
    /// [`TaskPtr`] onto the ready queue (the task is not complete and not
    /// queued yet).
    ///
    /// # Safety
    ///
    /// On the loop thread that owns the task.
    pub(crate) unsafe fn claim_schedule(&self) -> bool {
        if self.is_complete() {
            return false;
        }
        // SAFETY: forwarded from the caller; no user code inside.
        unsafe { self.with_local(|l| !std::mem::replace(&mut l.scheduled, true)) }
    }

    /// Runs `f` on the loop-thread-only state.
    ///
    /// # Safety
    ///
    /// Only on the loop thread that owns the task, and `f` must not reach
    /// this task's `Local` again (no user code inside `f`).
    pub(crate) unsafe fn with_local<R>(&self, f: impl FnOnce(&mut Local) -> R) -> R {
        self.header().local.with_mut(|local| {
            // SAFETY: the caller guarantees we are on the loop thread and
            // that no other reference to `local` exists while `f` runs.
            f(unsafe { &mut *local })
        })
    }

    /// Polls the future with `cx`; `Ready` once it completed or panicked.
    ///
    /// # Safety
    ///
    /// Loop thread only; never re-entered for the same task.
    pub(crate) unsafe fn poll(&self, cx: &mut Context<'_>) -> Poll<()> {
        // SAFETY: forwarded from the caller.
        unsafe { (self.header().vtable.poll)(self.ptr, cx) }
    }

    /// Drops the future and stores `Err(cancelled)`.
    ///
    /// # Safety
    ///
    /// Loop thread only; the task must not be complete.
    pub(crate) unsafe fn cancel(&self) -> Option<Payload> {
        // SAFETY: forwarded from the caller.
        unsafe { (self.header().vtable.cancel)(self.ptr) }
    }

    /// Marks the task complete (invariant 5).
    pub(crate) fn set_complete(&self) {
        self.header().complete.store(true, Ordering::Release);
    }

    /// Moves the output out.
    ///
    /// # Safety
    ///
    /// Loop thread only, and `T` must be the future's output type.
    pub(crate) unsafe fn take_output<T>(&self) -> Option<Result<T, TaskError>> {
        let mut out: Option<Result<T, TaskError>> = None;
        // SAFETY: `out` has the type the vtable writes, per the caller.
        unsafe { (self.header().vtable.take_output)(self.ptr, &mut out as *mut _ as *mut ()) };
        out
    }

    /// Drops the output, returning a panic payload nobody retrieved.
    ///
    /// # Safety
    ///
    /// Loop thread only.
    pub(crate) unsafe fn discard_output(&self) -> Option<Payload> {
        // SAFETY: forwarded from the caller.
        unsafe { (self.header().vtable.discard_output)(self.ptr) }
    }

    /// A waker that borrows this reference instead of owning one: valid while
    /// `self` is, and never dropped (it is wrapped in `ManuallyDrop`).
    pub(crate) fn waker_ref(&self) -> ManuallyDrop<Waker> {
        // SAFETY: the vtable's contract holds for a pointer to a live header;
        // `ManuallyDrop` keeps this borrowed waker from releasing a reference
        // it does not own (clones of it do own one).
        ManuallyDrop::new(unsafe {
            Waker::from_raw(RawWaker::new(self.ptr.as_ptr() as *const (), &WAKER_VTABLE))
        })
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

/// A loop-thread owner of a task: the `Task` handle, the registry entry,
/// the queue entry of a completed task. Counted in `Local::local_refs`
/// without atomics; the first one to come and the last one to go move the
/// shared atomic count (invariant 2). `!Send`, like the loop.
pub(crate) struct LocalRef {
    raw: ManuallyDrop<RawTask>,
}

impl std::ops::Deref for LocalRef {
    type Target = RawTask;

    fn deref(&self) -> &RawTask {
        &self.raw
    }
}

impl Clone for LocalRef {
    fn clone(&self) -> LocalRef {
        // SAFETY: a `LocalRef` lives on its loop's thread; no user code inside.
        unsafe { self.raw.with_local(|l| l.local_refs += 1) };
        LocalRef {
            raw: ManuallyDrop::new(RawTask {
                ptr: self.raw.ptr,
                _not_send: PhantomData,
            }),
        }
    }
}

impl Drop for LocalRef {
    fn drop(&mut self) {
        // SAFETY: as in `clone`.
        let last = unsafe {
            self.raw.with_local(|l| {
                // An underflow would mean a freed task is still in use:
                // stop rather than go on silently.
                l.local_refs = l
                    .local_refs
                    .checked_sub(1)
                    .unwrap_or_else(|| std::process::abort());
                l.local_refs == 0
            })
        };
        if last {
            // SAFETY: the loop-thread owners' unit of `refs` is released
            // exactly once, by the last of them.
            unsafe { ManuallyDrop::drop(&mut self.raw) }
        }
    }
}

/// Who awaits a `Task` handle.
pub(crate) enum JoinWaiter {
    None,
    /// A task of the same loop, by registry key and address: no reference
    /// is held, so no atomic is touched. The loop checks the registry
    /// before waking it: if the key now holds another task (the awaiter
    /// finished and its slot was reused), that one gets a spurious wake,
    /// which futures must tolerate.
    Local {
        key: usize,
        task: TaskPtr,
    },
    /// Any other waker.
    Waker(Waker),
}

impl JoinWaiter {
    /// The waiter for `waker`, awaiting a task owned by `owner`.
    ///
    /// # Safety
    ///
    /// On `owner`'s loop thread.
    pub(crate) unsafe fn for_waker(waker: &Waker, owner: &Arc<Shared>) -> JoinWaiter {
        if std::ptr::eq(waker.vtable(), &WAKER_VTABLE) {
            // SAFETY: an evloop waker's data is a live task header.
            let header = unsafe { header(NonNull::new_unchecked(waker.data() as *mut Header)) };
            if Arc::ptr_eq(&header.owner, owner) {
                // SAFETY: same loop, so this is its thread; no user code.
                let key = header.local.with(|l| unsafe { (*l).registry_key });
                let task = TaskPtr(NonNull::from(header));
                return JoinWaiter::Local { key, task };
            }
        }
        JoinWaiter::Waker(waker.clone())
    }

    /// What it takes to tell whether this waiter already stands for
    /// `waker`, read without touching any task's `Local`: the caller holds
    /// this task's `Local` borrowed, and `waker` may be this very task's
    /// (a task that awaits its own handle), so the second half of the check
    /// ([`JoinMatch::finish`]) runs after that borrow ends.
    pub(crate) fn matches(&self, waker: &Waker) -> JoinMatch {
        match self {
            JoinWaiter::None => JoinMatch::Decided(false),
            JoinWaiter::Local { key, task } => {
                if std::ptr::eq(waker.vtable(), &WAKER_VTABLE)
                    && waker.data() as usize == task.addr()
                {
                    JoinMatch::SameTask { key: *key }
                } else {
                    JoinMatch::Decided(false)
                }
            }
            JoinWaiter::Waker(w) => JoinMatch::Decided(w.will_wake(waker)),
        }
    }
}

/// The first half of "does the join waiter already stand for this waker?"
/// ([`JoinWaiter::matches`]).
pub(crate) enum JoinMatch {
    Decided(bool),
    /// `waker` is an evloop waker for the task recorded as the waiter; it
    /// is the same waiter only if that task still has registry key `key`
    /// (a new task at a freed task's address must not be mistaken for it).
    SameTask {
        key: usize,
    },
}

impl JoinMatch {
    /// The answer.
    ///
    /// # Safety
    ///
    /// On `owner`'s loop thread, with no borrow of any task's `Local` held.
    pub(crate) unsafe fn finish(self, waker: &Waker, owner: &Arc<Shared>) -> bool {
        match self {
            JoinMatch::Decided(same) => same,
            JoinMatch::SameTask { key } => {
                // SAFETY: an evloop waker's data is a live task header.
                let header = unsafe { header(NonNull::new_unchecked(waker.data() as *mut Header)) };
                // The owner first: only then is the header's `Local` ours
                // to read. SAFETY: same loop, so this thread; no borrow of
                // it is held (the caller's promise); no user code.
                Arc::ptr_eq(&header.owner, owner)
                    && header.local.with(|l| unsafe { (*l).registry_key }) == key
            }
        }
    }
}

/// A pointer to a task that owns no reference: what the ready queue holds
/// (invariant 2 says why the task is alive while it is queued).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) struct TaskPtr(NonNull<Header>);

impl TaskPtr {
    /// A `RawTask` view that must not be dropped (it owns no reference).
    ///
    /// # Safety
    ///
    /// The task must be alive for as long as the view is used.
    pub(crate) unsafe fn borrow(self) -> ManuallyDrop<RawTask> {
        ManuallyDrop::new(RawTask {
            ptr: self.0,
            _not_send: PhantomData,
        })
    }

    /// Where the task was spawned.
    ///
    /// # Safety
    ///
    /// The task must be alive, and this must be its loop's thread.
    pub(crate) unsafe fn location(self) -> &'static Location<'static> {
        // SAFETY: alive (the caller's promise); loop thread, and reading
        // the location runs no user code.
        unsafe { self.borrow().with_local(|l| l.location) }
    }

    /// Takes over the loop-thread reference that this pointer stands for
    /// (a queue entry of a completed task, invariant 2).
    ///
    /// # Safety
    ///
    /// A `LocalRef` must have been handed to this entry (forgotten), and is
    /// consumed.
    pub(crate) unsafe fn into_owned(self) -> LocalRef {
        LocalRef {
            raw: ManuallyDrop::new(RawTask {
                ptr: self.0,
                _not_send: PhantomData,
            }),
        }
    }

    /// The task's address, as `ptr_eq` compares it.
    pub(crate) fn addr(self) -> usize {
        self.0.as_ptr() as usize
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

    /// Back to a loop-thread reference.
    ///
    /// # Safety
    ///
    /// Only on the thread of the loop that owns the task.
    pub(crate) unsafe fn into_local(self) -> RawTask {
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
    if header.refs.fetch_sub(1, Ordering::Release) != 1 {
        return;
    }
    // Pairs with the `Release` above on the other threads' decrements, so
    // their last uses happen before the free (as `Arc` does). An `Acquire`
    // load rather than a fence: it reads the end of the same release
    // sequence, so it synchronises the same way, and ThreadSanitizer, which
    // does not model fences, sees it (std's `Arc` does this under TSan).
    // Without it TSan reports the free as racing with the loop's last
    // writes (`tests/task_invariants.rs`, last waker on another thread).
    header.refs.load(Ordering::Acquire);
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
    // SAFETY: per `RawTask::poll`'s contract.
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
    // SAFETY: per `RawTask::cancel`'s contract.
    let stage = unsafe { stage::<F>(ptr) };
    let dropped = catch_unwind(AssertUnwindSafe(|| *stage = Stage::Consumed));
    *stage = Stage::Finished(Err(TaskError::cancelled()));
    dropped.err()
}

unsafe fn take_output<F: Future>(ptr: NonNull<Header>, dst: *mut ()) {
    // SAFETY: per `RawTask::take_output`'s contract.
    let stage = unsafe { stage::<F>(ptr) };
    if let Stage::Finished(output) = std::mem::replace(stage, Stage::Consumed) {
        // SAFETY: the caller passed an `Option<Result<F::Output, TaskError>>`.
        unsafe { *(dst as *mut Option<Result<F::Output, TaskError>>) = Some(output) };
    }
}

unsafe fn discard_output<F: Future>(ptr: NonNull<Header>) -> Option<Payload> {
    // SAFETY: per `RawTask::discard_output`'s contract.
    let stage = unsafe { stage::<F>(ptr) };
    let Stage::Finished(output) = std::mem::replace(stage, Stage::Consumed) else {
        return None;
    };
    match output {
        Ok(value) => catch_unwind(AssertUnwindSafe(|| drop(value))).err(),
        Err(e) => e.try_into_panic().ok(),
    }
}

unsafe fn dealloc<F: Future>(ptr: NonNull<Header>) {
    shim::track_free(ptr.as_ptr() as usize);
    // SAFETY: the last reference is gone; the cell came from `Box::leak`.
    drop(unsafe { Box::from_raw(ptr.cast::<Cell<F>>().as_ptr()) });
}

// ---- the waker -------------------------------------------------------------

/// Whether `waker` is a task waker of evloop's: cloning or dropping one
/// touches only the task's atomic count and runs no code of anybody else's
/// (so a loop-local list may clone it while borrowed).
pub(crate) fn is_task_waker(waker: &Waker) -> bool {
    std::ptr::eq(waker.vtable(), &WAKER_VTABLE)
}

static WAKER_VTABLE: RawWakerVTable =
    RawWakerVTable::new(waker_clone, waker_wake, waker_wake_by_ref, waker_drop);

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
    crate::context::wake(&task);
}

unsafe fn waker_wake_by_ref(data: *const ()) {
    // SAFETY: an evloop waker's data is a non-null header pointer, borrowed
    // for the call: `ManuallyDrop` keeps the count intact.
    let ptr = unsafe { NonNull::new_unchecked(data as *mut Header) };
    let task = ManuallyDrop::new(RawTask {
        ptr,
        _not_send: PhantomData,
    });
    crate::context::wake(&task);
}

unsafe fn waker_drop(data: *const ()) {
    // SAFETY: the waker owned this reference.
    unsafe { decrement(NonNull::new_unchecked(data as *mut Header)) }
}
