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
        let mut c = c.borrow_mut();
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

/// The running loop, or a panic naming `function`.
#[track_caller]
pub(crate) fn expect_current(function: &str) -> Rc<Core> {
    current().unwrap_or_else(|| {
        panic!("{function} called outside a running evloop: no evloop is running on this thread")
    })
}

/// Queues `task`, which the caller has just marked scheduled and whose
/// reference it hands over: locally if its loop is running on this thread,
/// through the loop's remote queue otherwise.
pub(crate) fn schedule(task: RawTask) {
    let mut task = Some(task);
    // `try_with`: during thread teardown the slot may be gone; the task
    // still reaches its loop through the remote path below.
    let _ = CURRENT.try_with(|c| {
        if let (Some(core), Some(t)) = (&*c.borrow(), &task) {
            if Arc::ptr_eq(core.shared(), t.owner()) {
                task = task.take().and_then(|t| core.push_task(t).err());
            }
        }
    });
    if let Some(task) = task {
        let owner = task.owner().clone();
        // A refused job (closed loop) drops the reference here: teardown has
        // already dropped the future, so this frees only memory.
        let _ = owner.push(RemoteJob::Wake(RemoteTask::new(task)));
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
