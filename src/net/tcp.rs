//! [`TcpListener`] and [`TcpStream`].

use std::fmt;
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::rc::Rc;
use std::task::{Context, Poll};

use crate::io::sources::Direction;
use crate::io::IoHandle;
use crate::net::addr::{first_ok, resolve, ToSocketAddrs};
use crate::net::TcpSocket;

/// A TCP socket server, listening for connections (asyncio's `Server`
/// socket; tokio's `TcpListener`).
///
/// [`bind`](TcpListener::bind) makes the choices std makes: `SO_REUSEADDR`
/// (a restarted server can bind a port that its old connections still hold
/// in `TIME_WAIT`) and no port sharing, so binding a port another listener
/// holds fails with `AddrInUse`. To share a port between several loops
/// (one per core, the way to scale an evloop server past one core), make
/// each listener with [`TcpSocket`](crate::net::TcpSocket) and
/// [`set_reuseport`](crate::net::TcpSocket::set_reuseport).
///
/// ```
/// use evloop::net::{TcpListener, TcpStream};
/// evloop::run(async {
///     let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
///     let addr = listener.local_addr().unwrap();
///     let client = evloop::ensure_future(async move {
///         let stream = TcpStream::connect(&addr).await.unwrap();
///         stream.write_all(b"hi").await.unwrap();
///     });
///     let (stream, _) = listener.accept().await.unwrap();
///     let mut buf = [0; 2];
///     stream.read_exact(&mut buf).await.unwrap();
///     assert_eq!(&buf, b"hi");
///     client.await.unwrap();
/// })
/// .unwrap();
/// ```
pub struct TcpListener {
    io: IoHandle<mio::net::TcpListener>,
}

impl TcpListener {
    /// Binds to `addr` (the first of its addresses that works) and listens,
    /// with a backlog of 1024. Host names are resolved on the executor.
    ///
    /// Sets `SO_REUSEADDR`, as std does, and nothing else: a port that
    /// another socket listens on is refused with `AddrInUse`, whoever holds
    /// it. For other options (port sharing), use
    /// [`TcpSocket`](crate::net::TcpSocket).
    ///
    /// # Panics
    ///
    /// If no evloop is running on this thread.
    pub async fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<TcpListener> {
        let addrs = resolve(&addr).await?;
        let listener = first_ok(&addrs, |addr| {
            let socket = TcpSocket::new_for_addr(*addr)?;
            socket.set_reuseaddr(true)?;
            socket.bind(*addr)?;
            socket.listen_std(1024)
        })?;
        TcpListener::register(listener, "TcpListener::bind")
    }

    /// Wraps a std listener (made non-blocking here).
    ///
    /// # Panics
    ///
    /// If no evloop is running on this thread.
    #[track_caller]
    pub fn from_std(listener: std::net::TcpListener) -> io::Result<TcpListener> {
        listener.set_nonblocking(true)?;
        TcpListener::register(listener, "TcpListener::from_std")
    }

    /// Registers a non-blocking listener with the running loop; `what`
    /// names the public function for the panic if there is none.
    #[track_caller]
    pub(crate) fn register(listener: std::net::TcpListener, what: &str) -> io::Result<TcpListener> {
        let io = IoHandle::new(mio::net::TcpListener::from_std(listener), what)?;
        Ok(TcpListener { io })
    }

    /// Back to a std listener (still non-blocking), deregistered.
    pub fn into_std(self) -> io::Result<std::net::TcpListener> {
        let mio = self.io.into_inner()?;
        Ok(std::net::TcpListener::from(std::os::fd::OwnedFd::from(mio)))
    }

    /// Waits for a connection. Cancel-safe: if the future is dropped, no
    /// connection is taken from the backlog.
    pub async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
        let (stream, addr) = self.io.op(Direction::Read, |l| l.accept()).await?;
        Ok((TcpStream::from_mio(stream)?, addr))
    }

    /// `accept` as a poll function.
    pub fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        self.io
            .poll_op(Direction::Read, cx, |l| l.accept())
            .map(|r| r.and_then(|(s, a)| Ok((TcpStream::from_mio(s)?, a))))
    }

    /// The connections, one `next().await` at a time.
    pub fn incoming(&self) -> Incoming<'_> {
        Incoming { listener: self }
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }
}

/// The connections of a [`TcpListener`] ([`TcpListener::incoming`]).
pub struct Incoming<'a> {
    listener: &'a TcpListener,
}

impl Incoming<'_> {
    /// The next connection. Cancel-safe.
    pub async fn next(&mut self) -> io::Result<TcpStream> {
        self.listener.accept().await.map(|(s, _)| s)
    }
}

impl fmt::Debug for TcpListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpListener")
            .field("local_addr", &self.local_addr().ok())
            .finish()
    }
}

crate::net::impl_as_fd!(TcpListener);

/// A TCP connection.
///
/// Methods take `&self`: the loop is single-threaded, so one task may read
/// while another writes (see also [`split`](TcpStream::split) and
/// [`into_split`](TcpStream::into_split)). Dropping the stream deregisters
/// and closes the socket.
pub struct TcpStream {
    io: IoHandle<mio::net::TcpStream>,
}

impl TcpStream {
    /// Connects to `addr`, trying each of its addresses in turn. Host names
    /// are resolved on the executor.
    ///
    /// Errors: connection refused, unreachable, … as `io::Error`.
    ///
    /// # Panics
    ///
    /// If no evloop is running on this thread.
    pub async fn connect<A: ToSocketAddrs>(addr: A) -> io::Result<TcpStream> {
        let addrs = resolve(&addr).await?;
        let mut last = io::Error::new(io::ErrorKind::InvalidInput, "no addresses to connect to");
        for addr in addrs {
            match TcpStream::connect_one(addr).await {
                Ok(stream) => return Ok(stream),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    async fn connect_one(addr: SocketAddr) -> io::Result<TcpStream> {
        let stream = TcpStream::from_mio(mio::net::TcpStream::connect(addr)?)?;
        stream
            .io
            .connected(|s| s.take_error(), |s| s.peer_addr())
            .await?;
        Ok(stream)
    }

    /// Connects the unconnected socket `fd` to `addr` (for
    /// [`TcpSocket::connect`](crate::net::TcpSocket::connect), named by
    /// `what` in the panic when no loop is running).
    pub(crate) async fn connect_fd(
        fd: std::os::fd::OwnedFd,
        addr: SocketAddr,
        what: &str,
    ) -> io::Result<TcpStream> {
        crate::sys::connect(std::os::fd::AsFd::as_fd(&fd), &addr)?;
        let std = std::net::TcpStream::from(fd);
        let stream = TcpStream::from_mio_as(mio::net::TcpStream::from_std(std), what)?;
        stream
            .io
            .connected(|s| s.take_error(), |s| s.peer_addr())
            .await?;
        Ok(stream)
    }

    #[track_caller]
    fn from_mio(stream: mio::net::TcpStream) -> io::Result<TcpStream> {
        TcpStream::from_mio_as(stream, "evloop::net::TcpStream")
    }

    #[track_caller]
    fn from_mio_as(stream: mio::net::TcpStream, what: &str) -> io::Result<TcpStream> {
        Ok(TcpStream {
            io: IoHandle::new(stream, what)?,
        })
    }

    /// Wraps a connected std stream (made non-blocking here).
    ///
    /// # Panics
    ///
    /// If no evloop is running on this thread.
    #[track_caller]
    pub fn from_std(stream: std::net::TcpStream) -> io::Result<TcpStream> {
        stream.set_nonblocking(true)?;
        TcpStream::from_mio(mio::net::TcpStream::from_std(stream))
    }

    /// Back to a std stream (still non-blocking), deregistered.
    pub fn into_std(self) -> io::Result<std::net::TcpStream> {
        let mio = self.io.into_inner()?;
        Ok(std::net::TcpStream::from(std::os::fd::OwnedFd::from(mio)))
    }

    /// Reads some bytes; `Ok(0)` at end of stream. Cancel-safe: if the
    /// future is dropped before it completes, no data was read.
    pub async fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.read(buf).await
    }

    /// Reads exactly `buf.len()` bytes; `UnexpectedEof` if the stream ends
    /// first. Not cancel-safe: bytes read before the future is dropped are lost.
    pub async fn read_exact(&self, buf: &mut [u8]) -> io::Result<()> {
        self.io.read_exact(buf).await
    }

    /// Reads without consuming: the same bytes come again on the next read.
    /// Cancel-safe.
    pub async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.op(Direction::Read, |s| s.peek(buf)).await
    }

    /// Writes some bytes; returns how many. Cancel-safe: if the future is
    /// dropped before it completes, nothing was written.
    pub async fn write(&self, buf: &[u8]) -> io::Result<usize> {
        self.io.write(buf).await
    }

    /// Writes all of `buf`. Not cancel-safe: if the future is dropped
    /// half-way, an unknown prefix of `buf` was written.
    pub async fn write_all(&self, buf: &[u8]) -> io::Result<()> {
        self.io.write_all(buf).await
    }

    /// Shuts down the read half, the write half (sends FIN), or both.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.io.get_ref().shutdown(how)
    }

    /// Sets `TCP_NODELAY` (disables Nagle's algorithm).
    pub fn set_nodelay(&self, nodelay: bool) -> io::Result<()> {
        self.io.get_ref().set_nodelay(nodelay)
    }

    /// Whether `TCP_NODELAY` is set.
    pub fn nodelay(&self) -> io::Result<bool> {
        self.io.get_ref().nodelay()
    }

    /// The remote address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().peer_addr()
    }

    /// The local address.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }

    /// Borrowed halves, for reading and writing from two places at once.
    pub fn split(&self) -> (ReadHalf<'_>, WriteHalf<'_>) {
        (ReadHalf(self), WriteHalf(self))
    }

    /// Owned halves (they share the socket, which closes when both drop).
    pub fn into_split(self) -> (OwnedReadHalf, OwnedWriteHalf) {
        let shared = Rc::new(self);
        (OwnedReadHalf(shared.clone()), OwnedWriteHalf(shared))
    }

    pub(crate) fn poll_read_buf(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.io.poll_read(cx, buf)
    }

    pub(crate) fn poll_write_buf(
        &self,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.io.poll_write(cx, buf)
    }
}

impl fmt::Debug for TcpStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpStream")
            .field("local_addr", &self.local_addr().ok())
            .field("peer_addr", &self.peer_addr().ok())
            .finish()
    }
}

crate::net::impl_as_fd!(TcpStream);

/// The read side of [`TcpStream::split`].
#[derive(Debug, Clone, Copy)]
pub struct ReadHalf<'a>(&'a TcpStream);

/// The write side of [`TcpStream::split`].
#[derive(Debug, Clone, Copy)]
pub struct WriteHalf<'a>(&'a TcpStream);

/// The read side of [`TcpStream::into_split`].
#[derive(Debug)]
pub struct OwnedReadHalf(pub(crate) Rc<TcpStream>);

/// The write side of [`TcpStream::into_split`]. Dropping it does not shut
/// the connection down; call [`shutdown`](OwnedWriteHalf::shutdown).
#[derive(Debug)]
pub struct OwnedWriteHalf(pub(crate) Rc<TcpStream>);

macro_rules! read_half {
    ($t:ty) => {
        impl $t {
            /// See [`TcpStream::read`].
            pub async fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
                self.0.read(buf).await
            }
            /// See [`TcpStream::read_exact`].
            pub async fn read_exact(&self, buf: &mut [u8]) -> io::Result<()> {
                self.0.read_exact(buf).await
            }
            /// See [`TcpStream::peek`].
            pub async fn peek(&self, buf: &mut [u8]) -> io::Result<usize> {
                self.0.peek(buf).await
            }
            /// See [`TcpStream::peer_addr`].
            pub fn peer_addr(&self) -> io::Result<SocketAddr> {
                self.0.peer_addr()
            }
            /// See [`TcpStream::local_addr`].
            pub fn local_addr(&self) -> io::Result<SocketAddr> {
                self.0.local_addr()
            }
        }
    };
}

macro_rules! write_half {
    ($t:ty) => {
        impl $t {
            /// See [`TcpStream::write`].
            pub async fn write(&self, buf: &[u8]) -> io::Result<usize> {
                self.0.write(buf).await
            }
            /// See [`TcpStream::write_all`].
            pub async fn write_all(&self, buf: &[u8]) -> io::Result<()> {
                self.0.write_all(buf).await
            }
            /// Shuts the write direction down (sends FIN).
            pub fn shutdown(&self) -> io::Result<()> {
                self.0.shutdown(Shutdown::Write)
            }
            /// See [`TcpStream::peer_addr`].
            pub fn peer_addr(&self) -> io::Result<SocketAddr> {
                self.0.peer_addr()
            }
            /// See [`TcpStream::local_addr`].
            pub fn local_addr(&self) -> io::Result<SocketAddr> {
                self.0.local_addr()
            }
        }
    };
}

read_half!(ReadHalf<'_>);
read_half!(OwnedReadHalf);
write_half!(WriteHalf<'_>);
write_half!(OwnedWriteHalf);

#[cfg(feature = "futures-io")]
mod futures_io_impls {
    use std::pin::Pin;

    use super::*;

    impl futures_io::AsyncRead for TcpStream {
        fn poll_read(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut [u8],
        ) -> Poll<io::Result<usize>> {
            self.poll_read_buf(cx, buf)
        }
    }

    impl futures_io::AsyncWrite for TcpStream {
        fn poll_write(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            self.poll_write_buf(cx, buf)
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(())) // no user-space buffer
        }
        fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(self.shutdown(Shutdown::Write))
        }
    }
}
