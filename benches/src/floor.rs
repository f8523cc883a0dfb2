//! Floors: the same work as a workload, hand-written with no runtime
//! around it, so the report can say how far each runtime is from the cost
//! of the work itself.
//!
//! Each floor keeps what the work cannot do without (a queue of pending
//! closures, one allocation per task and a poll through a vtable, two
//! state machines that find each other's flag set) and drops everything a
//! runtime adds (type-erased storage, reference counts, wakers, task
//! states, timing, a loop iteration around the queue).

use std::cell::Cell;
use std::collections::VecDeque;
use std::future::Future;
use std::hint::black_box;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

/// `call_soon`'s floor: `n` closures, each holding a clone of an
/// `Rc<Cell>` counter, pushed into a `VecDeque` of the concrete closure
/// type (inline, no box), then popped and called in order.
pub fn call_soon(n: usize) -> Duration {
    let count = Rc::new(Cell::new(0usize));
    let start = Instant::now();
    let mut queue = VecDeque::new();
    for _ in 0..n {
        let count = count.clone();
        queue.push_back(move || count.set(count.get() + 1));
    }
    while let Some(callback) = queue.pop_front() {
        callback();
    }
    let elapsed = start.elapsed();
    assert_eq!(count.get(), n);
    elapsed
}

/// A task reduced to what spawn and join need: its future and a slot for
/// the output, in one allocation, polled through a vtable.
trait MiniTask {
    /// Polls the future once; true when it finished (its output stored).
    fn poll(&mut self, cx: &mut Context<'_>) -> bool;
}

struct Task<F: Future> {
    future: F,
    output: Option<F::Output>,
}

impl<F: Future + Unpin> MiniTask for Task<F> {
    fn poll(&mut self, cx: &mut Context<'_>) -> bool {
        match Pin::new(&mut self.future).poll(cx) {
            Poll::Ready(v) => {
                self.output = Some(v);
                true
            }
            Poll::Pending => false,
        }
    }
}

/// `spawn_join`'s floor: `n` trivial tasks (a `ready(())` future, what
/// `async {}` amounts to), each one allocation, polled once through a
/// vtable (they finish at once), then "joined" (the output read) and freed
/// in order.
pub fn spawn_join(n: usize) -> Duration {
    let mut cx = Context::from_waker(Waker::noop());
    let start = Instant::now();
    let mut tasks: Vec<Box<dyn MiniTask>> = (0..n)
        .map(|_| {
            Box::new(Task {
                future: std::future::ready(()),
                output: None,
            }) as Box<dyn MiniTask>
        })
        .collect();
    for task in &mut tasks {
        assert!(task.poll(&mut cx));
    }
    for task in tasks {
        black_box(task);
    }
    start.elapsed()
}

/// A flag a task waits for: `Pending` until set.
fn wait(flag: &Cell<bool>) -> impl Future<Output = ()> + '_ {
    std::future::poll_fn(move |_| {
        if flag.get() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
}

/// `ping_pong`'s floor: the two tasks as two `async` blocks waiting on
/// bare flags, type-erased as a runtime's tasks are (boxed before the
/// clock starts, polled through the vtable), polled alternately by a
/// two-line scheduler: per round trip, each is polled once.
pub fn ping_pong(n: usize) -> Duration {
    let (ping, pong) = (Cell::new(false), Cell::new(false));
    let mut cx = Context::from_waker(Waker::noop());
    let mut pinger: Pin<Box<dyn Future<Output = ()> + '_>> = Box::pin(async {
        for _ in 0..n {
            ping.set(true);
            wait(&pong).await;
            pong.set(false);
        }
    });
    let mut ponger: Pin<Box<dyn Future<Output = ()> + '_>> = Box::pin(async {
        for _ in 0..n {
            wait(&ping).await;
            ping.set(false);
            pong.set(true);
        }
    });
    let start = Instant::now();
    let (mut a, mut b) = (false, false);
    while !(a && b) {
        a = a || black_box(pinger.as_mut()).poll(&mut cx).is_ready();
        b = b || black_box(ponger.as_mut()).poll(&mut cx).is_ready();
    }
    start.elapsed()
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_floor_does_its_work() {
        super::call_soon(1000);
        super::spawn_join(1000);
        super::ping_pong(1000);
    }
}
