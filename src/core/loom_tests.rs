//! Model checks of a task's cross-thread protocols (`task/raw.rs`): wakes
//! from other threads, the reference count, and the free on whichever
//! thread lets go last. `RUSTFLAGS="--cfg evloop_loom" cargo test --lib
//! --release loom_`.
//!
//! The loop thread runs the production phases themselves (`drain_remote`,
//! `run_ready`, `close`) on a real `Core`; only `epoll_wait` is left out
//! (loom cannot model it, and the sleep flag around it has its own models
//! in `remote.rs`). Wakers are the production wakers, woken on loom
//! threads. What loom sees: the task's atomics (`refs` and the state word
//! with `REMOTE_SCHEDULED` and `COMPLETE`), its loop-thread cells (`Local`
//! and the stage, whose drop on free counts as a write), and every allocation and
//! free of the task (`shim::track_*`: a use after free or a double free
//! panics).
//!
//! No model enters the loop's thread-local `CURRENT`: loom runs its threads
//! on one OS thread, so they would all see it. Every wake here therefore
//! takes the remote path, the cross-thread one that needs checking; the
//! local path has no atomics.

use std::future::Future;
use std::panic::Location;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;

use super::{Config, Core};
use crate::sync::shim::is_live;

/// Runs `f` as the loop thread of every execution, exploring at most
/// `preemptions` preemptions per execution (`None`: all interleavings;
/// `LOOM_MAX_PREEMPTIONS` overrides). The loop thread is a loom thread
/// with a 1 MiB stack: loom's default (32 KiB) is too small for a `Core`.
fn model(preemptions: Option<usize>, f: impl Fn() + Sync + Send + 'static) {
    let f = std::sync::Arc::new(f);
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = builder.preemption_bound.or(preemptions);
    builder.check(move || {
        let f = f.clone();
        thread::Builder::new()
            .stack_size(1 << 20)
            .spawn(move || f())
            .expect("a loom thread")
            .join()
            .unwrap();
    });
}

fn core() -> Core {
    Core::new(&Config::default()).expect("a loop")
}

/// Spawns `future` (detached) and returns its address and `n` wakers.
fn spawn_with_wakers<F>(core: &Core, future: F, n: usize) -> (usize, Vec<Waker>)
where
    F: Future<Output = ()> + 'static,
{
    drop(core.spawn(future, Location::caller()));
    let tasks = core.sched.tasks();
    let task = tasks.first().expect("just spawned");
    let wakers = (0..n).map(|_| (*task.waker_ref()).clone()).collect();
    (task.addr(), wakers)
}

/// One turn of the loop without `epoll_wait`: phases 4 and 6.
fn turn(core: &Core) {
    core.drain_remote();
    assert!(
        core.sched.ready().borrow().len() <= 1,
        "the task is queued twice"
    );
    core.run_ready::<false>();
}

/// Finishes once it has seen `target` wake-ups announced in `woken`.
struct UntilWoken {
    woken: Arc<AtomicUsize>,
    target: usize,
    finished: Rc<std::cell::Cell<bool>>,
}

impl Future for UntilWoken {
    type Output = ();

    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        assert!(!self.finished.get(), "polled after it finished");
        if self.woken.load(Ordering::Acquire) < self.target {
            return Poll::Pending;
        }
        self.finished.set(true);
        Poll::Ready(())
    }
}

/// (a) Two threads wake a task while the loop polls it. Each announces
/// its wake-up (a `Release` increment) and then wakes. Whatever the
/// interleaving: a wake is never lost (the task is polled after the last
/// wake and sees both announcements), the task is never queued twice
/// (remote queue or ready queue), and the task is freed exactly once, when
/// the last waker and queue entry are gone.
///
/// Bounded to 4 preemptions per execution: 108k executions, about 20 s in
/// release here (5: 120 s; unbounded: over ten minutes). The lost wake
/// this model found needs one preemption.
#[test]
fn loom_task_woken_from_two_threads_while_polled() {
    model(Some(4), || {
        let core = core();
        let woken = Arc::new(AtomicUsize::new(0));
        let finished = Rc::new(std::cell::Cell::new(false));
        let future = UntilWoken {
            woken: woken.clone(),
            target: 2,
            finished: finished.clone(),
        };
        let (addr, wakers) = spawn_with_wakers(&core, future, 2);
        let wakers: Vec<_> = wakers
            .into_iter()
            .map(|waker| {
                let woken = woken.clone();
                let shared = core.shared().clone();
                thread::spawn(move || {
                    woken.fetch_add(1, Ordering::Release);
                    waker.wake();
                    assert!(shared.len() <= 1, "two remote entries for one task");
                })
            })
            .collect();
        turn(&core); // the first poll, racing both wakes
        turn(&core);
        wakers.into_iter().for_each(|t| t.join().unwrap());
        turn(&core);
        turn(&core);
        assert!(finished.get(), "a wake was lost: the task never saw both");
        assert!(!is_live(addr), "the task leaked");
        assert_eq!(core.shared().len(), 0);
    });
}

/// Never finishes; checks that it is dropped on the thread that made it
/// (invariant 4: the future is the loop thread's).
struct Forever {
    home: thread::ThreadId,
}

impl Future for Forever {
    type Output = ();

    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        Poll::Pending
    }
}

impl Drop for Forever {
    fn drop(&mut self) {
        assert_eq!(
            thread::current().id(),
            self.home,
            "future dropped off its loop"
        );
    }
}

/// (b) A waker outlives its loop: another thread wakes it and drops it
/// (the last reference) while the loop closes and is dropped. Whatever the
/// interleaving: the future is dropped on the loop thread, the task is
/// freed exactly once and only after the loop thread's last access to it
/// (loom checks the free against every cell access), nothing stays queued,
/// and a wake after the close does nothing.
///
/// Unbounded: all 306 interleavings.
#[test]
fn loom_waker_outlives_its_loop() {
    model(None, || {
        let core = core();
        let future = Forever {
            home: thread::current().id(),
        };
        let (addr, mut wakers) = spawn_with_wakers(&core, future, 1);
        turn(&core); // polled once: pending, waiting for its waker
        let waker = wakers.pop().expect("one waker");
        let shared = core.shared().clone();
        let other = thread::spawn(move || {
            waker.wake_by_ref();
            drop(waker);
        });
        drop(core); // close: the future is dropped here, queued wakes too
        other.join().unwrap();
        assert!(!is_live(addr), "the task leaked");
        assert!(shared.is_closed());
        assert_eq!(shared.len(), 0, "a wake stayed queued after close");
    });
}

/// (b') As (b), but the other thread wakes by value (`Waker::wake`, its
/// reference consumed by the wake) and nobody else holds the remote queue:
/// the task is freed exactly once, after the loop thread's last access,
/// whatever the interleaving.
#[test]
fn loom_waker_woken_by_value_while_its_loop_closes() {
    model(None, || {
        let core = core();
        let future = Forever {
            home: thread::current().id(),
        };
        let (addr, mut wakers) = spawn_with_wakers(&core, future, 1);
        turn(&core);
        let waker = wakers.pop().expect("one waker");
        let other = thread::spawn(move || waker.wake());
        drop(core);
        other.join().unwrap();
        assert!(!is_live(addr), "the task leaked");
    });
}
