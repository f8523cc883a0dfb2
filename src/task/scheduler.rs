//! [`Scheduler`]: what tasks need from their loop, and nothing more — the
//! ready queue, the registry of live tasks, the closed flag, the remote
//! queue for wakes from other threads, the tasks' names and the exception
//! handler their reports go to.
//!
//! The loop (`core`) holds one in an `Rc` and runs what it queues; a
//! `Task` handle holds one too, and the thread-local (`context`) points at
//! the running loop's, so a waker finds its loop's queue with no lock and
//! no syscall. `!Send` and `!Sync`: a `&Scheduler` exists only on its
//! loop's thread, which is what lets [`RawTask::local_view`] hand out a
//! task's loop-thread part safely.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe, Location};
use std::rc::Rc;
use std::sync::Arc;
use std::task::Waker;

use super::owner::TaskOwners;
use super::raw::{JoinWaiter, LocalRef, Payload, RawTask, RemoteTask, TaskEntry, Turn};
use super::registry::Registry;
use super::{state, Task};
use crate::callback::SendFn;
use crate::exception::{drop_payload, print_default, print_line, Exception, ExceptionSource};
use crate::ready::{self, ReadyQueue};
use crate::remote::{Job, Shared};

/// One unit of work in the ready queue: a callback, a task's entry, an
/// expired timer, or a hole left by a cancel.
pub(crate) type Runnable = ready::Runnable<TaskEntry>;

/// A job from another thread.
pub(crate) enum RemoteJob {
    /// `call_soon_threadsafe`, with where it was called from. Small
    /// closures travel inline, with no allocation.
    Call(SendFn, &'static Location<'static>),
    /// A task woken off the loop thread (its `REMOTE_SCHEDULED` bit is set).
    Wake(RemoteTask),
}

impl Job for RemoteJob {
    fn is_call(&self) -> bool {
        matches!(self, RemoteJob::Call(..))
    }
}

/// The loop's remote queue, as every task header and `LoopHandle` holds it.
pub(crate) type Remote = Shared<RemoteJob>;

/// The exception handler, shared out of its `RefCell` before it is called.
pub(crate) type Handler = Rc<dyn Fn(&Exception<'_>)>;

/// A loop's scheduling state (see the module docs).
pub(crate) struct Scheduler {
    ready: RefCell<ReadyQueue<TaskEntry>>,
    /// Every task whose future is alive; each entry owns a reference.
    registry: RefCell<Registry>,
    closed: Cell<bool>,
    /// A task's turn is under way (a `Turn` exists): the registry must not
    /// be emptied meanwhile (the turn owns no reference).
    in_turn: Cell<bool>,
    remote: Arc<Remote>,
    /// The references to `remote` that this loop hands its tasks.
    owners: TaskOwners,
    /// The names of named tasks that are not finished, by id: a side
    /// table, so that unnamed tasks pay nothing.
    names: RefCell<HashMap<u64, Arc<str>>>,
    handler: RefCell<Option<Handler>>,
    /// `!Send` and `!Sync` (module docs).
    _loop_thread: PhantomData<Rc<()>>,
}

impl Scheduler {
    pub(crate) fn new(remote: Arc<Remote>) -> Scheduler {
        Scheduler {
            ready: RefCell::default(),
            registry: RefCell::default(),
            closed: Cell::new(false),
            in_turn: Cell::new(false),
            owners: TaskOwners::new(&remote),
            remote,
            names: RefCell::default(),
            handler: RefCell::new(None),
            _loop_thread: PhantomData,
        }
    }

    #[inline]
    pub(crate) fn remote(&self) -> &Arc<Remote> {
        &self.remote
    }

    /// The references to the remote queue this loop hands its tasks.
    #[inline]
    pub(crate) fn owners(&self) -> &TaskOwners {
        &self.owners
    }

    /// The ready queue. Borrowed only briefly, never across user code.
    #[inline]
    pub(crate) fn ready(&self) -> &RefCell<ReadyQueue<TaskEntry>> {
        &self.ready
    }

    #[inline]
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.get()
    }

    /// The loop closes: nothing is queued any more (`close()` empties what
    /// is there).
    pub(crate) fn close(&self) {
        self.closed.set(true);
    }

    // ---- spawning and waking ------------------------------------------------

    /// Allocates a task around `future`, registers it and queues its first
    /// turn. On a closed loop the task is cancelled at once (never a panic:
    /// spawning from a `Drop` that runs during `close()` must not abort).
    pub(crate) fn spawn<F>(
        self: &Rc<Self>,
        future: F,
        at: &'static Location<'static>,
    ) -> Task<F::Output>
    where
        F: Future + 'static,
    {
        let task = RawTask::allocate(future, self.owners.hand_out(), at);
        if self.closed.get() {
            if let Some(payload) = task.cancel_future() {
                self.report(ExceptionSource::Drop, at, payload);
            }
            task.set_complete();
            return Task::from_raw(task, self.clone());
        }
        let view = task.view();
        self.registry.borrow_mut().insert(task.clone());
        view.update(state::Local::schedule);
        // The id is the first entry's sequence number (+ 1, so that 0 means
        // "never registered"): unique and increasing, at no extra cost.
        let seq = self
            .ready
            .borrow_mut()
            .push(ready::Runnable::task(task.entry()));
        view.set_id(seq + 1);
        Task::from_raw(task, self.clone())
    }

    /// Wakes `task`: onto the ready queue if this is its loop (no lock, no
    /// atomic, no syscall), through its loop's remote queue otherwise, or
    /// when the ready queue cannot be pushed right now.
    #[inline]
    pub(crate) fn wake(&self, task: &RawTask) {
        if !self.schedule(task) {
            wake_remote(task);
        }
    }

    /// The local path of a wake: pushes an entry unless the task is queued
    /// already or complete. `false` if refused (another loop's task, the
    /// queue borrowed right now, or the loop closed).
    #[inline]
    pub(crate) fn schedule(&self, task: &RawTask) -> bool {
        let Some(view) = task.local_view(self) else {
            return false;
        };
        if self.closed.get() {
            return false;
        }
        let Ok(mut ready) = self.ready.try_borrow_mut() else {
            return false;
        };
        if !task.is_complete() && view.update(state::Local::schedule) {
            ready.push(ready::Runnable::task(task.entry()));
        }
        true
    }

    /// A task woken from another thread arrived through the remote queue:
    /// the entry to push, if it must be queued.
    pub(crate) fn arrived(&self, task: RemoteTask) -> Option<TaskEntry> {
        let task = task.arrive();
        let view = task.local_view(self)?;
        (!task.is_complete() && view.update(state::Local::schedule)).then(|| task.entry())
    }

    // ---- turns and their end ------------------------------------------------

    /// The entry popped from the ready queue: the task's turn, or `None`
    /// for a stale entry (the task completed since it was queued).
    ///
    /// # Panics
    ///
    /// If another turn is under way (the loop never nests them).
    pub(crate) fn start_turn(&self, entry: TaskEntry) -> Option<Turn> {
        assert!(
            !self.in_turn.get(),
            "evloop: a task's turn inside another's"
        );
        let turn = entry.start()?;
        self.in_turn.set(true);
        Some(turn)
    }

    /// The turn ends with the task still pending.
    pub(crate) fn end_turn(&self, _turn: Turn) {
        self.in_turn.set(false);
    }

    /// The turn ends with the future gone (it completed, panicked, or was
    /// cancelled): see [`finish`](Scheduler::finish).
    pub(crate) fn finish_turn(&self, turn: Turn) {
        self.finish(&turn.as_local());
        self.in_turn.set(false);
    }

    /// The future is gone: mark the task complete, take it out of the
    /// registry (its reference passes to a queued entry if there is one,
    /// invariant 2), forget its name, wake whoever awaits it; a detached
    /// task's output is dropped here, and a panic nobody will read goes to
    /// the exception handler. The registry's reference is released last,
    /// even if something before unwinds.
    pub(crate) fn finish(&self, task: &LocalRef) {
        task.set_complete();
        let view = task.view();
        let join = view.replace_join_waiter(JoinWaiter::None);
        let state = view.state();
        if state.is_named() {
            self.names.borrow_mut().remove(&view.id());
        }
        // One compare on the header's line, which is in the cache: what
        // makes the registry's unread slot safe to trust.
        assert!(
            task.local_view(self).is_some(),
            "evloop: a task finished by a loop it does not belong to"
        );
        // SAFETY: `task` is a task of this loop (just checked), so its key,
        // if any, was given by this loop's registry.
        let entry = unsafe { self.registry.borrow_mut().remove(task) };
        let _registry_ref = RegistryRef(entry);
        if state.is_detached() {
            if let Some(payload) = task.discard_output() {
                self.report(ExceptionSource::Task, view.location(), payload);
            }
        }
        self.wake_joiner(join);
    }

    /// Wakes whoever awaits a finished task. A task of this loop is looked
    /// up in the registry (no reference was held, see `JoinWaiter`); a
    /// waker of another executor is woken with its panic reported, not
    /// unwound through the loop's bookkeeping.
    fn wake_joiner(&self, join: JoinWaiter) {
        match join {
            JoinWaiter::None => {}
            JoinWaiter::Waker(w) => self.wake_foreign(w),
            JoinWaiter::Local { key, task } => {
                // Scheduling runs no user code: the registry may stay
                // borrowed meanwhile.
                let registry = self.registry.borrow();
                if let Some(waiter) = registry.get(key).filter(|t| t.addr() == task) {
                    // Refused (the ready queue borrowed right now): through
                    // the remote queue, as any wake, rather than lost.
                    self.wake(waiter);
                }
            }
        }
    }

    /// Wakes a waker of another executor; a panic from it goes to the
    /// exception handler.
    pub(crate) fn wake_foreign(&self, waker: Waker) {
        if let Err(payload) = catch_unwind(AssertUnwindSafe(|| waker.wake())) {
            self.report(ExceptionSource::Waker, Location::caller(), payload);
        }
    }

    // ---- the registry ---------------------------------------------------------

    /// A reference to each task whose future is alive.
    pub(crate) fn tasks(&self) -> Vec<LocalRef> {
        self.registry.borrow().iter().cloned().collect()
    }

    /// The task registered under `key`, if any.
    pub(crate) fn task(&self, key: usize) -> Option<LocalRef> {
        self.registry.borrow().get(key).cloned()
    }

    /// Teardown: every registered task, out of the registry.
    ///
    /// # Panics
    ///
    /// During a task's turn (the turn owns no reference; the loop refuses
    /// to close while it runs anyway).
    pub(crate) fn take_tasks(&self) -> Vec<LocalRef> {
        assert!(
            !self.in_turn.get(),
            "evloop: the registry emptied during a turn"
        );
        self.registry.borrow_mut().drain()
    }

    /// Idle: the registry gives back the slots a burst of tasks left.
    pub(crate) fn shrink_registry(&self, keep: usize) {
        self.registry.borrow_mut().shrink(keep);
    }

    // ---- names ------------------------------------------------------------------

    #[inline]
    pub(crate) fn name(&self, id: u64) -> Option<Arc<str>> {
        let names = self.names.borrow();
        if names.is_empty() {
            return None;
        }
        names.get(&id).cloned()
    }

    /// Names a task that is not finished.
    pub(crate) fn set_name(&self, task: &LocalRef, name: Arc<str>) {
        if task.is_complete() {
            return;
        }
        let view = task.view();
        view.update(state::Local::set_named);
        let old = self.names.borrow_mut().insert(view.id(), name);
        drop(old);
    }

    // ---- reports ----------------------------------------------------------------

    pub(crate) fn set_handler(&self, handler: Option<Handler>) {
        let old = self.handler.replace(handler);
        drop(old);
    }

    /// Hands a panic or a report to the exception handler (or stderr). A
    /// handler that panics itself is reported on stderr; the loop keeps
    /// running. The handler is taken out of its cell before it is called:
    /// it may replace itself.
    pub(crate) fn report(
        &self,
        source: ExceptionSource,
        at: &'static Location<'static>,
        payload: Payload,
    ) {
        let handler = self.handler.borrow().clone();
        let exception = Exception::new(source, at, &*payload);
        match handler {
            Some(h) => {
                if let Err(p) = catch_unwind(AssertUnwindSafe(|| h(&exception))) {
                    print_line(format_args!(
                        "evloop: the exception handler panicked while handling: {exception}"
                    ));
                    drop_payload(p); // the handler's own payload may panic on drop too
                }
            }
            None => print_default(&exception),
        }
        drop_payload(payload);
    }
}

/// Wakes `task` through its loop's remote queue (another thread, a loop
/// that is not running, a queue that cannot be pushed now).
pub(crate) fn wake_remote(task: &RawTask) {
    if task.mark_remote_scheduled() {
        // A refused job (closed loop) drops its reference here: teardown
        // has already dropped the future, so this frees at most memory.
        let _ = task
            .owner()
            .push(RemoteJob::Wake(RemoteTask::new(task.clone())));
    }
}

/// The registry's reference to a finishing task, released on drop (also
/// while unwinding) with [`LocalRef::release_from_registry`].
struct RegistryRef(Option<LocalRef>);

impl Drop for RegistryRef {
    fn drop(&mut self) {
        if let Some(task) = self.0.take() {
            task.release_from_registry();
        }
    }
}
