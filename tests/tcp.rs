//! TCP on real loopback sockets: echo under concurrency, half-close, resets,
//! errors; port sharing only when opted in (`TcpSocket`), and `TIME_WAIT`.

mod util;

use std::future::Future;
use std::net::{Shutdown, SocketAddr};
use std::time::Duration;

use evloop::net::{TcpListener, TcpSocket, TcpStream};
use evloop::EventLoop;

/// A deterministic payload of `len` bytes for connection `seed`.
fn payload(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn checksum(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x100_0000_01b3)
    })
}

async fn echo_server(listener: TcpListener, connections: usize) {
    let mut handlers = Vec::new();
    for _ in 0..connections {
        let (stream, _) = listener.accept().await.unwrap();
        handlers.push(evloop::ensure_future(async move {
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = stream.read(&mut buf).await.unwrap();
                if n == 0 {
                    stream.shutdown(Shutdown::Write).unwrap();
                    return;
                }
                stream.write_all(&buf[..n]).await.unwrap();
            }
        }));
    }
    for h in handlers {
        h.await.unwrap();
    }
}

#[test]
fn a_hundred_concurrent_connections_echo_checksummed_payloads() {
    const CONNECTIONS: usize = 100;
    let lp = util::quiet_loop(); // a debug build under load: slow, on purpose
    let ok = util::watchdog_local(|| {
        lp.run_until_complete(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let server = evloop::ensure_future(echo_server(listener, CONNECTIONS));
            let clients: Vec<_> = (0..CONNECTIONS as u64)
                .map(|i| {
                    evloop::ensure_future(async move {
                        let len =
                            (payload(i, 8)[0] as usize * 4099 + i as usize * 7919) % (1 << 20) + 1;
                        let data = payload(i, len);
                        let stream = TcpStream::connect(&addr).await.unwrap();
                        let (r, w) = stream.split();
                        let send = async {
                            w.write_all(&data).await.unwrap();
                            w.shutdown().unwrap(); // half-close: the server sees EOF
                        };
                        let recv = async {
                            let mut got = Vec::with_capacity(len);
                            let mut buf = vec![0u8; 32 * 1024];
                            loop {
                                let n = r.read(&mut buf).await.unwrap();
                                if n == 0 {
                                    return got;
                                }
                                got.extend_from_slice(&buf[..n]);
                            }
                        };
                        let (_, got) = join(send, recv).await;
                        (checksum(&got) == checksum(&data)) && got.len() == len
                    })
                })
                .collect();
            let mut all = true;
            for c in clients {
                all &= c.await.unwrap();
            }
            server.await.unwrap();
            all
        })
    });
    assert!(ok.unwrap(), "every payload came back intact");
}

/// Polls two futures together (a tiny join, to keep the tests dependency-free).
async fn join<A: std::future::Future, B: std::future::Future>(
    a: A,
    b: B,
) -> (A::Output, B::Output) {
    let mut a = std::pin::pin!(a);
    let mut b = std::pin::pin!(b);
    let (mut ra, mut rb) = (None, None);
    std::future::poll_fn(|cx| {
        if ra.is_none() {
            if let std::task::Poll::Ready(v) = a.as_mut().poll(cx) {
                ra = Some(v);
            }
        }
        if rb.is_none() {
            if let std::task::Poll::Ready(v) = b.as_mut().poll(cx) {
                rb = Some(v);
            }
        }
        if ra.is_some() && rb.is_some() {
            std::task::Poll::Ready((ra.take().unwrap(), rb.take().unwrap()))
        } else {
            std::task::Poll::Pending
        }
    })
    .await
}

#[test]
fn connection_refused_is_an_error() {
    let err = evloop::run(async {
        // Bind then drop, so the port is (almost certainly) closed.
        let addr = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        TcpStream::connect(&addr).await.unwrap_err()
    })
    .unwrap();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
}

#[test]
fn address_in_use_without_reuseport_peer_is_an_error() {
    evloop::run(async {
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap(); // no SO_REUSEPORT
        let addr = std_listener.local_addr().unwrap();
        let err = TcpListener::bind(&addr).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
    })
    .unwrap();
}

#[test]
fn a_second_bind_of_a_held_port_is_addr_in_use() {
    // Without opting in, nobody (another evloop server included) can bind
    // a port an evloop listener holds and take its connections.
    evloop::run(async {
        let first = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = first.local_addr().unwrap();
        let err = TcpListener::bind(&addr).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
        let err = std::net::TcpListener::bind(addr).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse, "std too");
        // Opting in on the second socket alone does not help either.
        let err = reuseport_listener(addr).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse, "SO_REUSEPORT");
    })
    .unwrap();
}

/// A listener on `addr` made with `SO_REUSEADDR` and `SO_REUSEPORT`.
fn reuseport_listener(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = TcpSocket::new_for_addr(addr)?;
    socket.set_reuseaddr(true)?;
    socket.set_reuseport(true)?;
    socket.bind(addr)?;
    socket.listen(64)
}

#[test]
fn two_listeners_share_a_port_with_reuseport() {
    evloop::run(async {
        let a = reuseport_listener("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = a.local_addr().unwrap();
        let b = reuseport_listener(addr).unwrap();
        assert_eq!(b.local_addr().unwrap(), addr);
        // Each connection goes to one of them: accept on both until all
        // are taken.
        const CLIENTS: usize = 8;
        let clients: Vec<_> = (0..CLIENTS)
            .map(|_| std::net::TcpStream::connect(addr).unwrap())
            .collect();
        let (a, b) = (std::rc::Rc::new(a), std::rc::Rc::new(b));
        let accepted = std::rc::Rc::new(std::cell::Cell::new(0));
        let acceptors: Vec<_> = [a, b]
            .into_iter()
            .map(|listener| {
                let accepted = accepted.clone();
                evloop::ensure_future(async move {
                    loop {
                        listener.accept().await.unwrap();
                        accepted.set(accepted.get() + 1);
                    }
                })
            })
            .collect();
        while accepted.get() < CLIENTS {
            evloop::yield_now().await;
        }
        for task in acceptors {
            task.cancel();
        }
        drop(clients);
    })
    .unwrap();
}

#[test]
fn a_port_left_in_time_wait_binds_again() {
    // SO_REUSEADDR, as std sets it: a restarted server gets its port back
    // although its old connections still hold it in TIME_WAIT. (Reading
    // /proc/net/tcp blocks the loop a while: a quiet loop.)
    util::quiet_loop()
        .run_until_complete(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let client = TcpStream::connect(&addr).await.unwrap();
            let (server, _) = listener.accept().await.unwrap();
            // The side that closes first is the one left in TIME_WAIT: the
            // server's, which holds the listening port.
            drop(server);
            let mut buf = [0u8; 1];
            assert_eq!(client.read(&mut buf).await.unwrap(), 0, "the server's FIN");
            drop(client);
            while !in_time_wait(addr.port()) {
                evloop::sleep(Duration::from_millis(1)).await; // the client's FIN in flight
            }
            drop(listener);
            let again = TcpListener::bind(&addr).await.unwrap();
            assert_eq!(again.local_addr().unwrap(), addr);
        })
        .unwrap();
}

/// Whether the kernel lists an IPv4 TCP socket with local port `port` in
/// TIME_WAIT (state 06 in `/proc/net/tcp`).
fn in_time_wait(port: u16) -> bool {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    let port = format!(":{port:04X}");
    table.lines().skip(1).any(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        fields[1].ends_with(&port) && fields[3] == "06"
    })
}

#[test]
fn tcp_socket_connects_from_its_bound_address() {
    evloop::run(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let socket = TcpSocket::new_v4().unwrap();
        assert!(!socket.reuseaddr().unwrap() && !socket.reuseport().unwrap());
        socket.set_reuseaddr(true).unwrap();
        assert!(socket.reuseaddr().unwrap());
        socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let local = socket.local_addr().unwrap();
        assert_ne!(local.port(), 0);
        let stream = socket.connect(addr).await.unwrap();
        assert_eq!(stream.local_addr().unwrap(), local);
        let (server, peer) = listener.accept().await.unwrap();
        assert_eq!(peer, local);
        stream.write_all(b"hi").await.unwrap();
        let mut buf = [0u8; 2];
        server.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"hi");
        // A refused connection is an error, as with TcpStream::connect.
        drop(listener);
        let err = TcpSocket::new_v4()
            .unwrap()
            .connect(addr)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
    })
    .unwrap();
}

#[test]
fn tcp_socket_v6_and_for_addr_pick_the_family() {
    let v4 = TcpSocket::new_for_addr("127.0.0.1:0".parse().unwrap()).unwrap();
    assert!(v4.local_addr().unwrap().is_ipv4());
    assert!(TcpSocket::new_v4().unwrap().local_addr().unwrap().is_ipv4());
    // IPv6 may be disabled on the machine; when it is there, the family is right.
    if let Ok(v6) = TcpSocket::new_v6() {
        assert!(v6.local_addr().unwrap().is_ipv6());
    }
}

#[test]
fn tcp_socket_listen_and_connect_panic_outside_a_loop() {
    let panic_message = |f: Box<dyn FnOnce()>| {
        let payload = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_err();
        payload
            .downcast_ref::<String>()
            .cloned()
            .unwrap_or_default()
    };
    let msg = panic_message(Box::new(|| {
        let _ = TcpSocket::new_v4().unwrap().listen(8);
    }));
    assert!(
        msg.contains("TcpSocket::listen called outside a running evloop"),
        "{msg}"
    );
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let msg = panic_message(Box::new(move || {
        let connect = std::pin::pin!(TcpSocket::new_v4().unwrap().connect(addr));
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        let _ = connect.poll(&mut cx);
    }));
    assert!(
        msg.contains("TcpSocket::connect called outside a running evloop"),
        "{msg}"
    );
}

#[test]
fn a_peer_that_resets_mid_write_gives_an_error() {
    let result = evloop::run(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let peer = std::thread::spawn(move || {
            let s = std::net::TcpStream::connect(addr).unwrap();
            // SO_LINGER 0 makes close send RST.
            let sock = socket_linger_zero(s);
            drop(sock);
        });
        let (stream, _) = listener.accept().await.unwrap();
        peer.join().unwrap();
        evloop::sleep(Duration::from_millis(20)).await;
        let chunk = vec![0u8; 64 * 1024];
        loop {
            if let Err(e) = stream.write_all(&chunk).await {
                return e.kind();
            }
        }
    })
    .unwrap();
    assert!(
        matches!(
            result,
            std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
        ),
        "{result:?}"
    );
}

fn socket_linger_zero(s: std::net::TcpStream) -> std::net::TcpStream {
    use std::os::fd::AsRawFd;
    let linger = [1i32, 0i32]; // l_onoff = 1, l_linger = 0
                               // A raw setsockopt, to keep the test free of dependencies.
    extern "C" {
        fn setsockopt(
            fd: i32,
            level: i32,
            name: i32,
            val: *const std::ffi::c_void,
            len: u32,
        ) -> i32;
    }
    // SAFETY: valid socket fd; the option points at two c_ints (struct linger).
    let r = unsafe {
        setsockopt(
            s.as_raw_fd(),
            1,  /* SOL_SOCKET */
            13, /* SO_LINGER */
            linger.as_ptr().cast(),
            8,
        )
    };
    assert_eq!(r, 0);
    s
}

#[test]
fn std_conversions_round_trip() {
    evloop::run(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let std_listener = listener.into_std().unwrap();
        let listener = TcpListener::from_std(std_listener).unwrap();
        let client = std::net::TcpStream::connect(addr).unwrap();
        let client = TcpStream::from_std(client).unwrap();
        client.set_nodelay(true).unwrap();
        assert!(client.nodelay().unwrap());
        let (server, peer) = listener.accept().await.unwrap();
        assert_eq!(peer, client.local_addr().unwrap());
        assert_eq!(server.peer_addr().unwrap(), client.local_addr().unwrap());
        client.write_all(b"abc").await.unwrap();
        let mut buf = [0u8; 3];
        assert_eq!(server.peek(&mut buf).await.unwrap(), 3);
        server.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"abc");
        let std_stream = client.into_std().unwrap();
        drop(std_stream);
        assert_eq!(
            server.read(&mut buf).await.unwrap(),
            0,
            "EOF after the peer closed"
        );
    })
    .unwrap();
}

#[test]
fn a_host_name_is_resolved_on_the_executor() {
    evloop::run(async {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let accept = evloop::ensure_future(async move { listener.accept().await.map(|_| ()) });
        let stream = TcpStream::connect(&("localhost", port)).await.unwrap();
        assert!(stream.peer_addr().unwrap().ip().is_loopback());
        accept.await.unwrap().unwrap();
        // `.invalid` never resolves (RFC 6761): an error, not a panic or a hang.
        assert!(TcpStream::connect("no-such-host.invalid:80").await.is_err());
    })
    .unwrap();
}

#[test]
fn after_a_short_read_the_next_bytes_still_arrive() {
    // A short read clears the readiness without an `EAGAIN` first: the
    // bytes written afterwards must raise a new edge and be read.
    use std::io::Write;
    let lp = EventLoop::new();
    let got = lp
        .run_until_complete(async {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            let writer = std::thread::spawn(move || {
                let mut peer = std::net::TcpStream::connect(addr).unwrap();
                peer.write_all(b"first").unwrap();
                std::thread::sleep(Duration::from_millis(50));
                peer.write_all(b"second").unwrap();
                peer
            });
            let (stream, _) = listener.accept().await.unwrap();
            let mut buf = [0u8; 64];
            let mut got = Vec::new();
            while got.len() < b"firstsecond".len() {
                let n = stream.read(&mut buf).await.unwrap();
                assert!(n > 0 && n < buf.len(), "short reads: {n}");
                got.extend_from_slice(&buf[..n]);
            }
            drop(writer.join().unwrap());
            got
        })
        .unwrap();
    assert_eq!(got, b"firstsecond");
}
