//! The ways work gets onto the loop besides tasks: callbacks (`call_soon`),
//! timers (`call_later`, `sleep`), values for `Send` handles (threadsafe
//! setters of `LoopFuture`s, `SendRef`s), and the built-in executor; each
//! with its cancel.

use std::any::Any;
use std::panic::Location;
use std::rc::Rc;
use std::sync::Arc;
use std::task::Waker;

use slab::Slab;

use super::{Core, TimerEntry};
use crate::callback::InlineFn;
use crate::error::LoopClosed;
use crate::executor::ThreadPool;
use crate::ready::Callback;
use crate::stats::Counters;
use crate::task::{Handler, Runnable, StoredWaker};
use crate::timer::TimerKey;

/// Identifies a value registered for a `Send` handle (a `LoopFuture` for a
/// `ThreadsafeSetter`, the value of a `SendRef`): a slab key and a
/// generation, so an id never reaches a later registration.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LoopValueId {
    key: usize,
    generation: u64,
}

impl LoopValueId {
    /// The value this id stands for in `values`, if it is still there (not
    /// a later registration at the same key).
    fn find(self, values: &Slab<(u64, Box<dyn Any>)>) -> Option<&dyn Any> {
        match values.get(self.key) {
            Some((g, value)) if *g == self.generation => Some(value.as_ref()),
            _ => None,
        }
    }
}

impl Core {
    #[inline]
    pub(crate) fn call_soon(
        &self,
        f: InlineFn,
        location: &'static Location<'static>,
    ) -> Result<u64, LoopClosed> {
        if self.is_closed() {
            return Err(LoopClosed);
        }
        Ok(self
            .sched
            .ready()
            .borrow_mut()
            .push(Runnable::Callback(Callback { f, location })))
    }

    /// Cancels a queued callback; drops it after the borrow is released.
    #[inline]
    pub(crate) fn cancel_callback(&self, seq: u64) -> bool {
        let cb = self.sched.ready().borrow_mut().cancel(seq);
        cb.is_some()
    }

    #[inline]
    pub(crate) fn callback_pending(&self, seq: u64) -> bool {
        self.sched.ready().borrow().is_pending(seq)
    }

    /// Always inlined: left out of line (the compiler's choice once the
    /// callers grew), arming and cancelling a timer took 66 ns instead of
    /// 60, the `entry` argument going through the stack once more: copied
    /// in wide loads right after the caller wrote it in narrow stores,
    /// which the processor cannot forward to the loads.
    #[inline(always)]
    pub(crate) fn add_timer(
        &self,
        deadline: u64,
        entry: TimerEntry,
    ) -> Result<TimerKey, LoopClosed> {
        if self.is_closed() {
            return Err(LoopClosed);
        }
        self.next_timer.set(self.next_timer.get().min(deadline));
        Ok(self.timers.borrow_mut().insert(deadline, entry))
    }

    /// Removes a timer; the entry is dropped after the borrow is released.
    #[inline]
    pub(crate) fn remove_timer(&self, key: TimerKey) -> bool {
        let entry = self.timers.borrow_mut().remove(key);
        entry.is_some()
    }

    /// For `Sleep`: `None` once the timer fired (or was removed); else
    /// refreshes the stored waker. A waker of another executor is cloned,
    /// and the old one dropped, with the wheel not borrowed (either may
    /// run that executor's code, which may call back into the loop).
    #[inline]
    pub(crate) fn refresh_timer_waker(&self, key: TimerKey, waker: &Waker) -> Option<()> {
        let current = match self.timers.borrow().get(key)? {
            TimerEntry::Waker(w) => w.will_wake(waker),
            TimerEntry::Callback(_) => return None,
        };
        if !current {
            let new = StoredWaker::new(waker); // no borrow held: may run foreign code
            let old = match self.timers.borrow_mut().get_mut(key) {
                Some(TimerEntry::Waker(w)) => Some(std::mem::replace(w, new)),
                _ => None, // the clone fired or removed it: nothing to refresh
            };
            drop(old);
        }
        Some(())
    }

    /// Counts work in flight on other threads (`+1` / `-1`).
    #[inline]
    pub(crate) fn external_work(&self, delta: isize) {
        self.external
            .set(self.external.get().wrapping_add_signed(delta));
    }

    /// The built-in executor, started on first use.
    pub(crate) fn default_executor(&self) -> Arc<ThreadPool> {
        let mut slot = self.executor.borrow_mut();
        slot.get_or_insert_with(|| {
            Arc::new(ThreadPool::with_spin(
                self.executor_threads,
                self.shared().spin,
            ))
        })
        .clone()
    }

    /// Waits for the built-in executor's jobs and stops its threads.
    pub(crate) fn shutdown_default_executor(&self) {
        let pool = self.executor.borrow_mut().take();
        if let Some(pool) = pool {
            pool.shutdown();
            Counters::high_water(&self.counters.executor_high_water, pool.most_in_flight());
        }
    }

    /// Registers a value that a `Send` handle will find by id.
    pub(crate) fn register_value(&self, value: Box<dyn Any>) -> LoopValueId {
        let generation = self.value_generation.get() + 1;
        self.value_generation.set(generation);
        let key = self.values.borrow_mut().insert((generation, value));
        LoopValueId { key, generation }
    }

    /// Takes back the value registered as `id`, if still there.
    pub(crate) fn take_value(&self, id: LoopValueId) -> Option<Box<dyn Any>> {
        let mut values = self.values.borrow_mut();
        id.find(&values)?;
        Some(values.remove(id.key).1)
    }

    /// A clone of the `Rc<T>` registered as `id`, if still there.
    pub(crate) fn shared_value<T: 'static>(&self, id: LoopValueId) -> Option<Rc<T>> {
        id.find(&self.values.borrow())?
            .downcast_ref::<Rc<T>>()
            .cloned()
    }

    pub(crate) fn set_handler(&self, handler: Option<Handler>) {
        self.sched.set_handler(handler);
    }
}
