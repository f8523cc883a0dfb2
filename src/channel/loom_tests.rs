//! Model checks of the channel's notification protocols, on the production
//! code (its atomics, lock, condition variables and `Arc` are loom's, its
//! queue the shim's model queue):
//! `RUSTFLAGS="--cfg evloop_loom" cargo test --lib --release loom_channel`.

use std::sync::Arc as StdArc;
use std::task::{Context, Poll, Wake, Waker};

use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;

use super::*;

/// Counts wake-ups.
struct CountWakes(AtomicUsize);

impl Wake for CountWakes {
    fn wake(self: StdArc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn counting_waker() -> (StdArc<CountWakes>, Waker) {
    let count = StdArc::new(CountWakes(AtomicUsize::new(0)));
    (count.clone(), Waker::from(count))
}

/// A send racing the receiver task parking: the receiver gets the value,
/// or is woken (a lost wake-up would leave the task asleep with a value
/// queued).
#[test]
fn loom_channel_send_racing_the_receiver_parking() {
    loom::model(|| {
        let (tx, mut rx) = channel::<u32>();
        let sender = thread::spawn(move || tx.send(7).unwrap());
        let (wakes, waker) = counting_waker();
        let first = rx.poll_recv(&mut Context::from_waker(&waker));
        sender.join().unwrap();
        match first {
            Poll::Ready(v) => assert_eq!(v, Some(7)),
            Poll::Pending => {
                assert_eq!(wakes.0.load(Ordering::SeqCst), 1, "parked and never woken");
                assert_eq!(rx.try_recv(), Ok(7));
            }
        }
    });
}

/// Two sends while the receiver parks: if it parked, exactly one of them
/// woke it (the flag coalesces the burst); if not, at most one spurious
/// wake.
///
/// Three threads: bounded to 3 preemptions per execution so that the
/// model finishes in seconds.
#[test]
fn loom_channel_a_burst_wakes_the_parked_receiver_once() {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = builder.preemption_bound.or(Some(3));
    builder.check(|| {
        let (tx, mut rx) = channel::<u32>();
        let senders: Vec<_> = (0..2)
            .map(|i| {
                let tx = tx.clone();
                thread::spawn(move || tx.send(i).unwrap())
            })
            .collect();
        drop(tx);
        let (wakes, waker) = counting_waker();
        let first = rx.poll_recv(&mut Context::from_waker(&waker));
        senders.into_iter().for_each(|t| t.join().unwrap());
        let wakes = wakes.0.load(Ordering::SeqCst);
        if first.is_pending() {
            assert_eq!(wakes, 1, "one wake for the burst");
        } else {
            assert!(wakes <= 1, "{wakes} wakes");
        }
    });
}

/// The last sender dropped while the receiver parks: it sees `None`, or
/// is woken to see it.
#[test]
fn loom_channel_last_sender_drop_racing_the_receiver_parking() {
    loom::model(|| {
        let (tx, mut rx) = channel::<u32>();
        let sender = thread::spawn(move || drop(tx));
        let (wakes, waker) = counting_waker();
        let first = rx.poll_recv(&mut Context::from_waker(&waker));
        sender.join().unwrap();
        match first {
            Poll::Ready(v) => assert_eq!(v, None),
            Poll::Pending => {
                assert_eq!(wakes.0.load(Ordering::SeqCst), 1, "never told of the close");
                assert_eq!(rx.try_recv(), Err(TryRecvError::Disconnected));
            }
        }
    });
}

/// `recv_blocking` on a thread while a sender sends then goes: the value
/// comes, then `None` (a lost notification is a deadlock loom reports).
#[test]
fn loom_channel_recv_blocking_is_woken() {
    loom::model(|| {
        let (tx, mut rx) = channel::<u32>();
        let sender = thread::spawn(move || tx.send(7).unwrap());
        assert_eq!(rx.recv_blocking(), Some(7));
        assert_eq!(rx.recv_blocking(), None);
        sender.join().unwrap();
    });
}

/// A sender blocked for room in a full bounded channel is released when
/// the receiver takes a value (a lost notification is a deadlock).
#[test]
fn loom_channel_a_blocked_sender_is_released_by_a_receive() {
    loom::model(|| {
        let (tx, mut rx) = bounded::<u32>(1);
        tx.send(1).unwrap();
        let sender = thread::spawn(move || tx.send_blocking(2).unwrap());
        assert_eq!(rx.try_recv(), Ok(1));
        assert_eq!(rx.recv_blocking(), Some(2));
        sender.join().unwrap();
    });
}

/// A `send_async` future waiting for room while the receiver takes a
/// value: the future gets in at once, or is woken.
#[test]
fn loom_channel_a_waiting_send_future_is_woken_by_a_receive() {
    loom::model(|| {
        let (tx, mut rx) = bounded::<u32>(1);
        tx.send(1).unwrap();
        let receiver = thread::spawn(move || {
            assert_eq!(rx.try_recv(), Ok(1));
            rx
        });
        let (wakes, waker) = counting_waker();
        let mut fut = tx.send_async(2);
        let first = Pin::new(&mut fut).poll(&mut Context::from_waker(&waker));
        let mut rx = receiver.join().unwrap();
        match first {
            Poll::Ready(r) => assert!(r.is_ok()),
            Poll::Pending => {
                assert!(
                    wakes.0.load(Ordering::SeqCst) >= 1,
                    "room made, sender asleep"
                );
                let again = Pin::new(&mut fut).poll(&mut Context::from_waker(&waker));
                assert!(matches!(again, Poll::Ready(Ok(()))));
            }
        }
        drop(fut);
        assert_eq!(rx.try_recv(), Ok(2));
    });
}
