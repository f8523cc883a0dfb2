//! UDP on real loopback sockets: round trips, connected sockets, shared
//! sockets with several waiters, ping-pong, port sharing only when opted in
//! (`bind_reuseport`), ICMP errors.

mod util;

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use evloop::net::UdpSocket;
use evloop::EventLoop;

/// Runs `f` on a fresh loop, failing instead of hanging.
fn run<T: 'static>(f: impl std::future::Future<Output = T> + 'static) -> T {
    let lp = EventLoop::new();
    util::watchdog_local(|| lp.run_until_complete(f)).unwrap()
}

async fn bind_loopback() -> UdpSocket {
    UdpSocket::bind("127.0.0.1:0").await.unwrap()
}

#[test]
fn send_to_and_recv_from_round_trip() {
    run(async {
        let a = bind_loopback().await;
        let b = bind_loopback().await;
        let (a_addr, b_addr) = (a.local_addr().unwrap(), b.local_addr().unwrap());
        assert_eq!(a.send_to(b"ping", &b_addr).await.unwrap(), 4);
        let mut buf = [0u8; 16];
        let (n, from) = b.peek_from(&mut buf).await.unwrap();
        assert_eq!((&buf[..n], from), (&b"ping"[..], a_addr), "peek");
        let (n, from) = b.recv_from(&mut buf).await.unwrap();
        assert_eq!((&buf[..n], from), (&b"ping"[..], a_addr), "the same again");
        b.send_to(b"pong", &from).await.unwrap();
        let (n, from) = a.recv_from(&mut buf).await.unwrap();
        assert_eq!((&buf[..n], from), (&b"pong"[..], b_addr));
    });
}

#[test]
fn connected_sockets_send_and_recv() {
    run(async {
        let a = bind_loopback().await;
        let b = bind_loopback().await;
        let (a_addr, b_addr) = (a.local_addr().unwrap(), b.local_addr().unwrap());
        assert!(a.peer_addr().is_err(), "not connected yet");
        a.connect(&b_addr).await.unwrap();
        b.connect(&a_addr).await.unwrap();
        assert_eq!(a.peer_addr().unwrap(), b_addr);
        a.send(b"one").await.unwrap();
        b.send(b"two").await.unwrap();
        let mut buf = [0u8; 16];
        let n = b.recv(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"one");
        let n = a.recv(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"two");
    });
}

#[test]
fn two_tasks_waiting_on_one_socket_both_get_a_datagram() {
    let got = run(async {
        let shared = Rc::new(bind_loopback().await);
        let addr = shared.local_addr().unwrap();
        let waiting = Rc::new(Cell::new(0));
        let waiters: Vec<_> = (0..2)
            .map(|_| {
                let (sock, waiting) = (shared.clone(), waiting.clone());
                evloop::ensure_future(async move {
                    waiting.set(waiting.get() + 1);
                    let mut buf = [0u8; 16];
                    let (n, _) = sock.recv_from(&mut buf).await.unwrap();
                    buf[..n].to_vec()
                })
            })
            .collect();
        // Let both tasks reach their `recv_from` and park on the socket.
        for _ in 0..3 {
            evloop::yield_now().await;
        }
        assert_eq!(waiting.get(), 2, "both tasks are waiting");
        let sender = bind_loopback().await;
        sender.send_to(b"first", &addr).await.unwrap();
        sender.send_to(b"second", &addr).await.unwrap();
        let mut got = Vec::new();
        for w in waiters {
            got.push(w.await.unwrap());
        }
        got.sort();
        got
    });
    assert_eq!(got, [b"first".to_vec(), b"second".to_vec()]);
}

#[test]
fn a_thousand_ping_pongs() {
    const ROUNDS: u32 = 1000;
    let last = run(async {
        let a = bind_loopback().await;
        let b = bind_loopback().await;
        let b_addr = b.local_addr().unwrap();
        let echo = evloop::ensure_future(async move {
            let mut buf = [0u8; 4];
            for _ in 0..ROUNDS {
                let (n, from) = b.recv_from(&mut buf).await.unwrap();
                let next = u32::from_be_bytes(buf) + 1;
                assert_eq!(n, 4);
                b.send_to(&next.to_be_bytes(), &from).await.unwrap();
            }
        });
        let mut value = 0u32;
        let mut buf = [0u8; 4];
        for _ in 0..ROUNDS {
            a.send_to(&value.to_be_bytes(), &b_addr).await.unwrap();
            let (n, from) = a.recv_from(&mut buf).await.unwrap();
            assert_eq!((n, from), (4, b_addr));
            let reply = u32::from_be_bytes(buf);
            assert_eq!(reply, value + 1, "replies come back in order");
            value = reply;
        }
        echo.await.unwrap();
        value
    });
    assert_eq!(last, ROUNDS);
}

#[test]
fn a_second_bind_of_a_held_port_is_addr_in_use() {
    // Without opting in, nobody (another evloop socket included) can bind
    // a port an evloop socket holds and take its datagrams.
    run(async {
        let first = bind_loopback().await;
        let addr = first.local_addr().unwrap();
        let err = UdpSocket::bind(&addr).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
        // Opting in on the second socket alone does not help either.
        let err = UdpSocket::bind_reuseport(&addr).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse, "SO_REUSEPORT");
    });
}

#[test]
fn two_sockets_share_a_port_with_bind_reuseport() {
    run(async {
        let a = UdpSocket::bind_reuseport("127.0.0.1:0").await.unwrap();
        let addr = a.local_addr().unwrap();
        let b = UdpSocket::bind_reuseport(&addr).await.unwrap();
        assert_eq!(b.local_addr().unwrap(), addr);
        // A datagram to the port reaches one of them.
        let sender = bind_loopback().await;
        sender.send_to(b"to either", &addr).await.unwrap();
        let (a, b) = (Rc::new(a), Rc::new(b));
        let got = Rc::new(Cell::new(0));
        let receivers: Vec<_> = [a, b]
            .into_iter()
            .map(|socket| {
                let got = got.clone();
                evloop::ensure_future(async move {
                    let mut buf = [0u8; 16];
                    let (n, _) = socket.recv_from(&mut buf).await.unwrap();
                    assert_eq!(&buf[..n], b"to either");
                    got.set(got.get() + 1);
                })
            })
            .collect();
        while got.get() == 0 {
            evloop::yield_now().await;
        }
        for task in receivers {
            task.cancel();
        }
    });
}

#[test]
fn binding_a_port_held_without_reuseport_is_an_error() {
    run(async {
        let std_socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap(); // no SO_REUSEPORT
        let addr = std_socket.local_addr().unwrap();
        let err = UdpSocket::bind(&addr).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
    });
}

/// A connected socket gets ICMP "port unreachable" as an error on its next
/// receive; after that the error is gone and the socket waits normally.
#[test]
fn an_icmp_error_is_reported_once_and_the_socket_keeps_working() {
    run(async {
        let dead = {
            let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
            s.local_addr().unwrap()
        };
        let sock = Rc::new(bind_loopback().await);
        sock.connect(&dead).await.unwrap();
        sock.send(b"anyone?").await.unwrap();
        // Let the loop poll while the error is pending, so the socket's
        // readiness records it (EPOLLERR) before `recv` consumes it.
        evloop::sleep(Duration::from_millis(1)).await;
        let mut buf = [0u8; 16];
        let err = sock.recv(&mut buf).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);

        let live = bind_loopback().await;
        sock.connect(&live.local_addr().unwrap()).await.unwrap();
        let s = sock.clone();
        let receiver = evloop::ensure_future(async move {
            let mut buf = [0u8; 16];
            let n = s.recv(&mut buf).await.unwrap();
            buf[..n].to_vec()
        });
        // The receiver must park (no datagram yet), not spin on a stale error.
        for _ in 0..3 {
            evloop::yield_now().await;
        }
        live.send_to(b"here", &sock.local_addr().unwrap())
            .await
            .unwrap();
        assert_eq!(receiver.await.unwrap(), b"here");
    });
}

#[test]
fn std_conversions_round_trip() {
    run(async {
        let a = bind_loopback().await;
        let addr = a.local_addr().unwrap();
        let std_socket = a.into_std().unwrap();
        let a = UdpSocket::from_std(std_socket).unwrap();
        assert_eq!(a.local_addr().unwrap(), addr);
        let b = UdpSocket::from_std(std::net::UdpSocket::bind("127.0.0.1:0").unwrap()).unwrap();
        b.send_to(b"x", &addr).await.unwrap();
        let mut buf = [0u8; 1];
        assert_eq!(a.recv(&mut buf).await.unwrap(), 1);
    });
}
