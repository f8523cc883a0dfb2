//! Unix-domain sockets: [`UnixListener`], [`UnixStream`], [`UnixDatagram`].

use std::fmt;
use std::io;
use std::net::Shutdown;
use std::os::unix::net::SocketAddr;
use std::path::Path;

use crate::io::sources::Direction;
use crate::io::IoHandle;

/// A Unix-domain stream socket server, listening for connections at a path
/// (asyncio's `create_unix_server` socket; tokio's `UnixListener`).
///
/// Like std's, it does not remove its socket file when dropped: the path
/// must be unlinked before it can be bound again.
pub struct UnixListener {
    io: IoHandle<mio::net::UnixListener>,
}

impl UnixListener {
    /// Binds to `path` and listens. Synchronous: there is no name to look
    /// up. `AddrInUse` if the path exists.
    ///
    /// # Panics
    ///
    /// If no evloop is running on this thread.
    #[track_caller]
    pub fn bind<P: AsRef<Path>>(path: P) -> io::Result<UnixListener> {
        let listener = mio::net::UnixListener::bind(path)?;
        let io = IoHandle::new(listener, "UnixListener::bind")?;
        Ok(UnixListener { io })
    }

    /// Wraps a std listener (made non-blocking here).
    ///
    /// # Panics
    ///
    /// If no evloop is running on this thread.
    #[track_caller]
    pub fn from_std(listener: std::os::unix::net::UnixListener) -> io::Result<UnixListener> {
        listener.set_nonblocking(true)?;
        let io = IoHandle::new(
            mio::net::UnixListener::from_std(listener),
            "UnixListener::from_std",
        )?;
        Ok(UnixListener { io })
    }

    /// Back to a std listener (still non-blocking), deregistered.
    pub fn into_std(self) -> io::Result<std::os::unix::net::UnixListener> {
        Ok(self.io.into_inner()?.into())
    }

    /// Waits for a connection. Cancel-safe: if the future is dropped, no
    /// connection is taken from the backlog.
    pub async fn accept(&self) -> io::Result<(UnixStream, SocketAddr)> {
        let (stream, addr) = self.io.op(Direction::Read, |l| l.accept()).await?;
        Ok((UnixStream::from_mio(stream)?, addr))
    }

    /// The connections, one `next().await` at a time.
    pub fn incoming(&self) -> UnixIncoming<'_> {
        UnixIncoming { listener: self }
    }

    /// The address the listener is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }
}

/// The connections of a [`UnixListener`] ([`UnixListener::incoming`]).
pub struct UnixIncoming<'a> {
    listener: &'a UnixListener,
}

impl UnixIncoming<'_> {
    /// The next connection. Cancel-safe.
    pub async fn next(&mut self) -> io::Result<UnixStream> {
        self.listener.accept().await.map(|(s, _)| s)
    }
}

impl fmt::Debug for UnixListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixListener")
            .field("local_addr", &self.local_addr().ok())
            .finish()
    }
}

crate::net::impl_as_fd!(UnixListener);

/// A Unix-domain stream connection.
///
/// Methods take `&self`: one task may read while another writes. Dropping
/// the stream deregisters and closes the socket.
pub struct UnixStream {
    io: IoHandle<mio::net::UnixStream>,
}

impl UnixStream {
    /// Connects to the listener at `path`.
    ///
    /// Errors: `NotFound` if nothing is bound there, `ConnectionRefused` if
    /// nobody listens, … as `io::Error`. On Linux a full backlog is
    /// `WouldBlock` (the kernel does not queue the attempt, so there is
    /// nothing to wait for). Cancel-safe: dropping the future closes the
    /// half-made connection.
    ///
    /// # Panics
    ///
    /// If no evloop is running on this thread.
    pub async fn connect<P: AsRef<Path>>(path: P) -> io::Result<UnixStream> {
        let stream = UnixStream::from_mio(mio::net::UnixStream::connect(path)?)?;
        // As for TCP: done when writable, then SO_ERROR says how it went.
        stream
            .io
            .connected(|s| s.take_error(), |s| s.peer_addr())
            .await?;
        Ok(stream)
    }

    /// A connected pair of streams (`socketpair`).
    ///
    /// # Panics
    ///
    /// If no evloop is running on this thread.
    #[track_caller]
    pub fn pair() -> io::Result<(UnixStream, UnixStream)> {
        let (a, b) = mio::net::UnixStream::pair()?;
        Ok((UnixStream::from_mio(a)?, UnixStream::from_mio(b)?))
    }

    #[track_caller]
    fn from_mio(stream: mio::net::UnixStream) -> io::Result<UnixStream> {
        Ok(UnixStream {
            io: IoHandle::new(stream, "evloop::net::UnixStream")?,
        })
    }

    /// Wraps a connected std stream (made non-blocking here).
    ///
    /// # Panics
    ///
    /// If no evloop is running on this thread.
    #[track_caller]
    pub fn from_std(stream: std::os::unix::net::UnixStream) -> io::Result<UnixStream> {
        stream.set_nonblocking(true)?;
        UnixStream::from_mio(mio::net::UnixStream::from_std(stream))
    }

    /// Back to a std stream (still non-blocking), deregistered.
    pub fn into_std(self) -> io::Result<std::os::unix::net::UnixStream> {
        Ok(self.io.into_inner()?.into())
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

    /// Shuts down the read half, the write half (the peer reads EOF), or
    /// both.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.io.get_ref().shutdown(how)
    }

    /// The local address (unnamed unless the socket was bound).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }

    /// The remote address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().peer_addr()
    }

    /// Takes the pending socket error (`SO_ERROR`).
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.io.get_ref().take_error()
    }
}

impl fmt::Debug for UnixStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixStream")
            .field("local_addr", &self.local_addr().ok())
            .field("peer_addr", &self.peer_addr().ok())
            .finish()
    }
}

crate::net::impl_as_fd!(UnixStream);

/// A Unix-domain datagram socket.
///
/// Methods take `&self`, and several tasks may wait on one socket. Every
/// datagram operation is cancel-safe: a datagram is sent or received
/// whole, or not at all. A bound socket does not remove its file when
/// dropped.
pub struct UnixDatagram {
    io: IoHandle<mio::net::UnixDatagram>,
}

impl UnixDatagram {
    /// A socket bound to `path`. `AddrInUse` if the path exists.
    ///
    /// # Panics
    ///
    /// If no evloop is running on this thread.
    #[track_caller]
    pub fn bind<P: AsRef<Path>>(path: P) -> io::Result<UnixDatagram> {
        UnixDatagram::from_mio(mio::net::UnixDatagram::bind(path)?)
    }

    /// A socket bound to no path: it can send, and receive only from a peer
    /// it is [`connect`](UnixDatagram::connect)ed to.
    ///
    /// # Panics
    ///
    /// If no evloop is running on this thread.
    #[track_caller]
    pub fn unbound() -> io::Result<UnixDatagram> {
        UnixDatagram::from_mio(mio::net::UnixDatagram::unbound()?)
    }

    /// A connected pair of sockets (`socketpair`).
    ///
    /// # Panics
    ///
    /// If no evloop is running on this thread.
    #[track_caller]
    pub fn pair() -> io::Result<(UnixDatagram, UnixDatagram)> {
        let (a, b) = mio::net::UnixDatagram::pair()?;
        Ok((UnixDatagram::from_mio(a)?, UnixDatagram::from_mio(b)?))
    }

    #[track_caller]
    fn from_mio(socket: mio::net::UnixDatagram) -> io::Result<UnixDatagram> {
        Ok(UnixDatagram {
            io: IoHandle::new(socket, "evloop::net::UnixDatagram")?,
        })
    }

    /// Wraps a std socket (made non-blocking here).
    ///
    /// # Panics
    ///
    /// If no evloop is running on this thread.
    #[track_caller]
    pub fn from_std(socket: std::os::unix::net::UnixDatagram) -> io::Result<UnixDatagram> {
        socket.set_nonblocking(true)?;
        UnixDatagram::from_mio(mio::net::UnixDatagram::from_std(socket))
    }

    /// Back to a std socket (still non-blocking), deregistered.
    pub fn into_std(self) -> io::Result<std::os::unix::net::UnixDatagram> {
        Ok(self.io.into_inner()?.into())
    }

    /// Sets the default peer: [`send`](UnixDatagram::send) goes there, and
    /// only its datagrams are received. Synchronous: it never waits.
    pub fn connect<P: AsRef<Path>>(&self, path: P) -> io::Result<()> {
        self.io.get_ref().connect(path)
    }

    /// Sends a datagram to the connected peer; returns its length.
    /// Cancel-safe.
    pub async fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.io.op(Direction::Write, |s| s.send(buf)).await
    }

    /// Receives a datagram; returns its length (the rest of a datagram
    /// longer than `buf` is discarded). Cancel-safe.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.op(Direction::Read, |s| s.recv(buf)).await
    }

    /// Sends a datagram to the socket bound at `path`; returns its length.
    /// Cancel-safe.
    pub async fn send_to<P: AsRef<Path>>(&self, buf: &[u8], path: P) -> io::Result<usize> {
        let path = path.as_ref();
        self.io.op(Direction::Write, |s| s.send_to(buf, path)).await
    }

    /// Receives a datagram; returns its length and sender (unnamed if the
    /// sender is not bound). Cancel-safe.
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.io.op(Direction::Read, |s| s.recv_from(buf)).await
    }

    /// Shuts down the read half, the write half, or both.
    pub fn shutdown(&self, how: Shutdown) -> io::Result<()> {
        self.io.get_ref().shutdown(how)
    }

    /// The address the socket is bound to (unnamed if it is not).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }

    /// The connected peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().peer_addr()
    }

    /// Takes the pending socket error (`SO_ERROR`).
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.io.get_ref().take_error()
    }
}

impl fmt::Debug for UnixDatagram {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UnixDatagram")
            .field("local_addr", &self.local_addr().ok())
            .field("peer_addr", &self.peer_addr().ok())
            .finish()
    }
}

crate::net::impl_as_fd!(UnixDatagram);

#[cfg(feature = "futures-io")]
mod futures_io_impls {
    use std::pin::Pin;
    use std::task::{Context, Poll};

    use super::*;

    impl futures_io::AsyncRead for UnixStream {
        fn poll_read(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut [u8],
        ) -> Poll<io::Result<usize>> {
            self.io.poll_read(cx, buf)
        }
    }

    impl futures_io::AsyncWrite for UnixStream {
        fn poll_write(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            self.io.poll_write(cx, buf)
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(())) // no user-space buffer
        }
        fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(self.shutdown(Shutdown::Write))
        }
    }
}
