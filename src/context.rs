//! The one piece of thread-local state: which loop is running on this thread.
//!
//! `evloop::sleep()` and friends find their loop here, and a task's waker
//! uses it to take the local path: woken on the thread where its own loop is
//! running, a task goes straight onto the ready queue (no lock, no syscall);
//! woken anywhere else, it goes through the loop's remote queue.

use std::cell::RefCell;
use std::panic::Location;
use std::rc::Rc;
use std::sync::Arc;

use crate::core::Core;
use crate::remote::RemoteJob;
use crate::task::{Payload, RawTask, RemoteTask};

thread_local! {
    static CURRENT: RefCell<Option<Rc<Core>>> = const { RefCell::new(None) };
}

/// Marks `core` as running on this thread until the guard drops. Fails if
/// any loop is already running here.
pub(crate) fn enter(core: &Rc<Core>) -> Option<EnterGuard> {
    CURRENT.with(|c| {
        // Borrowed means some loop code is on the stack: already running.
        let mut c = c.try_borrow_mut().ok()?;
        if c.is_some() {
            return None;
        }
        *c = Some(core.clone());
        Some(EnterGuard(()))
    })
}

/// Clears the running loop on drop, also while unwinding.
pub(crate) struct EnterGuard(());

impl Drop for EnterGuard {
    fn drop(&mut self) {
        // Take the Rc out before dropping it, outside the borrow.
        let core = CURRENT.try_with(|c| c.borrow_mut().take()).ok().flatten();
        drop(core);
    }
}

/// The loop running on this thread, if any.
pub(crate) fn current() -> Option<Rc<Core>> {
    CURRENT.try_with(|c| c.borrow().clone()).ok().flatten()
}

/// Runs `f` with the running loop, without cloning its `Rc` (the hot path
/// of `evloop::ensure_future`); panics like [`expect_current`].
///
/// The panic is raised here, not inside the thread-local's closure: a
/// closure does not carry `#[track_caller]`, and the panic must name the
/// user's line.
#[track_caller]
pub(crate) fn with_current<R>(function: &str, f: impl FnOnce(&Core) -> R) -> R {
    let out = CURRENT.with(|c| c.borrow().as_deref().map(f));
    match out {
        Some(r) => r,
        None => not_running(function),
    }
}

/// The running loop, or a panic naming `function` at the caller's line.
#[track_caller]
pub(crate) fn expect_current(function: &str) -> Rc<Core> {
    match current() {
        Some(core) => core,
        None => not_running(function),
    }
}

/// The panic of the free functions called with no loop running.
#[track_caller]
fn not_running(function: &str) -> ! {
    panic!("{function} called outside a running evloop: no evloop is running on this thread")
}

/// Wakes `task`: onto the ready queue if its loop is running on this
/// thread (no lock, no atomic, no syscall), through the loop's remote queue
/// otherwise (another thread, the loop not running, or this thread's
/// thread-local already destroyed).
pub(crate) fn wake(task: &RawTask) {
    let local = CURRENT
        .try_with(|c| match &*c.borrow() {
            Some(core) if Arc::ptr_eq(core.shared(), task.owner()) => core.schedule_local(task),
            _ => false,
        })
        .unwrap_or(false);
    if !local && task.mark_remote_scheduled() {
        // A refused job (closed loop) drops its reference here: teardown
        // has already dropped the future, so this frees at most memory.
        let _ = task
            .owner()
            .push(RemoteJob::Wake(RemoteTask::new(task.clone())));
    }
}

/// A `Task` handle was dropped holding a panic nobody awaited.
pub(crate) fn report_unretrieved(task: &RawTask, at: &'static Location<'static>, payload: Payload) {
    match current() {
        Some(core) if Arc::ptr_eq(core.shared(), task.owner()) => {
            core.report_task_panic(at, payload)
        }
        _ => crate::exception::print_default(&crate::exception::Exception::task(at, &*payload)),
    }
}
