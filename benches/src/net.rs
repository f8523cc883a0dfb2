//! Loopback I/O workloads, client and server on one loop / runtime:
//! `tcp_echo` (64-byte round trips on one or many connections),
//! `tcp_bulk` (a stream echoed back, in 64 KiB writes) and `udp_ping_pong`.
//!
//! Every socket is on 127.0.0.1 and every TCP socket has `TCP_NODELAY` on
//! both sides. Connections are set up before the clock starts.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::runtime::{self, TokioForm};

/// The size of one echo message.
pub const MSG: usize = 64;
/// The size of one write in `tcp_bulk`, and of the servers' read buffers.
pub const CHUNK: usize = 64 * 1024;

const LOCALHOST: &str = "127.0.0.1:0";

// ---- evloop ----------------------------------------------------------------

mod ev {
    use super::*;
    use evloop::net::{TcpListener, TcpStream, UdpSocket};

    /// Echoes everything back until the peer closes.
    async fn echo(stream: TcpStream) {
        let mut buf = vec![0u8; CHUNK];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if stream.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            }
        }
    }

    /// A listener whose task accepts `conns` connections and starts an echo
    /// task for each, and `conns` client streams connected to it.
    async fn connect(conns: usize) -> Vec<TcpStream> {
        let listener = TcpListener::bind(LOCALHOST).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = evloop::ensure_future(async move {
            for _ in 0..conns {
                let (stream, _) = listener.accept().await.unwrap();
                stream.set_nodelay(true).unwrap();
                drop(evloop::ensure_future(echo(stream)));
            }
        });
        let mut clients = Vec::with_capacity(conns);
        for _ in 0..conns {
            let stream = TcpStream::connect(&addr).await.unwrap();
            stream.set_nodelay(true).unwrap();
            clients.push(stream);
        }
        server.await.unwrap();
        clients
    }

    pub fn tcp_echo(conns: usize, round_trips: usize) -> Duration {
        runtime::evloop()
            .run_until_complete(async move {
                let clients = connect(conns).await;
                let start = Instant::now();
                let tasks: Vec<_> = clients
                    .into_iter()
                    .map(|stream| {
                        evloop::ensure_future(async move {
                            let msg = [7u8; MSG];
                            let mut buf = [0u8; MSG];
                            for _ in 0..round_trips {
                                stream.write_all(&msg).await.unwrap();
                                stream.read_exact(&mut buf).await.unwrap();
                            }
                        })
                    })
                    .collect();
                for task in tasks {
                    task.await.unwrap();
                }
                start.elapsed()
            })
            .unwrap()
    }

    pub fn tcp_bulk(bytes: usize) -> Duration {
        runtime::evloop()
            .run_until_complete(async move {
                let stream = connect(1).await.pop().unwrap();
                let (rd, wr) = stream.into_split();
                let start = Instant::now();
                let writer = evloop::ensure_future(async move {
                    let chunk = vec![7u8; CHUNK];
                    let mut left = bytes;
                    while left > 0 {
                        let n = left.min(CHUNK);
                        wr.write_all(&chunk[..n]).await.unwrap();
                        left -= n;
                    }
                    wr.shutdown().unwrap();
                });
                let mut buf = vec![0u8; CHUNK];
                let mut got = 0;
                while got < bytes {
                    match rd.read(&mut buf).await.unwrap() {
                        0 => panic!("tcp_bulk: EOF after {got} of {bytes} bytes"),
                        n => got += n,
                    }
                }
                writer.await.unwrap();
                start.elapsed()
            })
            .unwrap()
    }

    pub fn udp_ping_pong(round_trips: usize) -> Duration {
        runtime::evloop()
            .run_until_complete(async move {
                let a = UdpSocket::bind(LOCALHOST).await.unwrap();
                let b = UdpSocket::bind(LOCALHOST).await.unwrap();
                a.connect(&b.local_addr().unwrap()).await.unwrap();
                b.connect(&a.local_addr().unwrap()).await.unwrap();
                let start = Instant::now();
                let ponger = evloop::ensure_future(async move {
                    let mut buf = [0u8; MSG];
                    for _ in 0..round_trips {
                        let n = b.recv(&mut buf).await.unwrap();
                        b.send(&buf[..n]).await.unwrap();
                    }
                });
                let msg = [7u8; MSG];
                let mut buf = [0u8; MSG];
                for _ in 0..round_trips {
                    a.send(&msg).await.unwrap();
                    assert_eq!(a.recv(&mut buf).await.unwrap(), MSG);
                }
                ponger.await.unwrap();
                start.elapsed()
            })
            .unwrap()
    }
}

// ---- tokio -----------------------------------------------------------------

mod tk {
    use super::*;
    use tokio::net::{TcpListener, TcpStream, UdpSocket};

    async fn echo(mut stream: TcpStream) {
        let mut buf = vec![0u8; CHUNK];
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    if stream.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            }
        }
    }

    async fn connect(conns: usize, form: TokioForm) -> Vec<TcpStream> {
        let listener = TcpListener::bind(LOCALHOST).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = form.spawn(async move {
            for _ in 0..conns {
                let (stream, _) = listener.accept().await.unwrap();
                stream.set_nodelay(true).unwrap();
                drop(form.spawn(echo(stream)));
            }
        });
        let mut clients = Vec::with_capacity(conns);
        for _ in 0..conns {
            let stream = TcpStream::connect(addr).await.unwrap();
            stream.set_nodelay(true).unwrap();
            clients.push(stream);
        }
        server.await.unwrap();
        clients
    }

    pub fn tcp_echo(conns: usize, round_trips: usize, form: TokioForm) -> Duration {
        form.block_on(&runtime::tokio_io(), async move {
            let clients = connect(conns, form).await;
            let start = Instant::now();
            let tasks: Vec<_> = clients
                .into_iter()
                .map(|mut stream| {
                    form.spawn(async move {
                        let msg = [7u8; MSG];
                        let mut buf = [0u8; MSG];
                        for _ in 0..round_trips {
                            stream.write_all(&msg).await.unwrap();
                            stream.read_exact(&mut buf).await.unwrap();
                        }
                    })
                })
                .collect();
            for task in tasks {
                task.await.unwrap();
            }
            start.elapsed()
        })
    }

    pub fn tcp_bulk(bytes: usize, form: TokioForm) -> Duration {
        form.block_on(&runtime::tokio_io(), async move {
            let stream = connect(1, form).await.pop().unwrap();
            let (mut rd, mut wr) = stream.into_split();
            let start = Instant::now();
            let writer = form.spawn(async move {
                let chunk = vec![7u8; CHUNK];
                let mut left = bytes;
                while left > 0 {
                    let n = left.min(CHUNK);
                    wr.write_all(&chunk[..n]).await.unwrap();
                    left -= n;
                }
                wr.shutdown().await.unwrap();
            });
            let mut buf = vec![0u8; CHUNK];
            let mut got = 0;
            while got < bytes {
                match rd.read(&mut buf).await.unwrap() {
                    0 => panic!("tcp_bulk: EOF after {got} of {bytes} bytes"),
                    n => got += n,
                }
            }
            writer.await.unwrap();
            start.elapsed()
        })
    }

    pub fn udp_ping_pong(round_trips: usize, form: TokioForm) -> Duration {
        form.block_on(&runtime::tokio_io(), async move {
            let a = UdpSocket::bind(LOCALHOST).await.unwrap();
            let b = UdpSocket::bind(LOCALHOST).await.unwrap();
            a.connect(b.local_addr().unwrap()).await.unwrap();
            b.connect(a.local_addr().unwrap()).await.unwrap();
            let start = Instant::now();
            let ponger = form.spawn(async move {
                let mut buf = [0u8; MSG];
                for _ in 0..round_trips {
                    let n = b.recv(&mut buf).await.unwrap();
                    b.send(&buf[..n]).await.unwrap();
                }
            });
            let msg = [7u8; MSG];
            let mut buf = [0u8; MSG];
            for _ in 0..round_trips {
                a.send(&msg).await.unwrap();
                assert_eq!(a.recv(&mut buf).await.unwrap(), MSG);
            }
            ponger.await.unwrap();
            start.elapsed()
        })
    }
}

// ---- the workloads ---------------------------------------------------------

/// `conns` connections, each doing `round_trips` sequential 64-byte round
/// trips (write, then read the echo) to an echo server on the same loop.
/// Returns the time from the first write to the last echo.
pub fn tcp_echo_evloop(conns: usize, round_trips: usize) -> Duration {
    ev::tcp_echo(conns, round_trips)
}

/// [`tcp_echo_evloop`] on tokio.
pub fn tcp_echo_tokio(conns: usize, round_trips: usize, form: TokioForm) -> Duration {
    tk::tcp_echo(conns, round_trips, form)
}

/// One connection: a task writes `bytes` in 64 KiB `write_all`s (then
/// shuts its side down), the server echoes them back, and the main task
/// reads them all. Returns the time from the first write to the last byte
/// read back.
pub fn tcp_bulk_evloop(bytes: usize) -> Duration {
    ev::tcp_bulk(bytes)
}

/// [`tcp_bulk_evloop`] on tokio.
pub fn tcp_bulk_tokio(bytes: usize, form: TokioForm) -> Duration {
    tk::tcp_bulk(bytes, form)
}

/// Two connected UDP sockets: `round_trips` times, one sends 64 bytes and
/// waits for the other to send them back.
pub fn udp_ping_pong_evloop(round_trips: usize) -> Duration {
    ev::udp_ping_pong(round_trips)
}

/// [`udp_ping_pong_evloop`] on tokio.
pub fn udp_ping_pong_tokio(round_trips: usize, form: TokioForm) -> Duration {
    tk::udp_ping_pong(round_trips, form)
}
