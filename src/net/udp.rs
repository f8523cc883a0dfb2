//! [`UdpSocket`].

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::task::{Context, Poll};

use crate::io::sources::Direction;
use crate::io::IoHandle;
use crate::net::addr::{first_ok, resolve, ToSocketAddrs};

/// A UDP socket (asyncio's datagram endpoint; tokio's `UdpSocket`).
///
/// Bound with `SO_REUSEADDR` and `SO_REUSEPORT`, so several loops (one per
/// core) can bind the same port and the kernel spreads the datagrams.
///
/// Methods take `&self`, and several tasks may wait on one socket (share it
/// in an `Rc`): each waiter is woken when a datagram arrives, and the ones
/// that find nothing wait again. Every datagram operation is cancel-safe: a
/// datagram is sent or received whole, or not at all.
///
/// ```
/// use evloop::net::UdpSocket;
/// evloop::run(async {
///     let a = UdpSocket::bind("127.0.0.1:0").await.unwrap();
///     let b = UdpSocket::bind("127.0.0.1:0").await.unwrap();
///     a.send_to(b"hi", &b.local_addr().unwrap()).await.unwrap();
///     let mut buf = [0; 8];
///     let (n, from) = b.recv_from(&mut buf).await.unwrap();
///     assert_eq!((&buf[..n], from), (&b"hi"[..], a.local_addr().unwrap()));
/// })
/// .unwrap();
/// ```
pub struct UdpSocket {
    io: IoHandle<mio::net::UdpSocket>,
}

impl UdpSocket {
    /// Binds to `addr` (the first of its addresses that works). Host names
    /// are resolved on the executor. Cancel-safe: nothing is bound until the
    /// addresses are known, and binding itself does not wait.
    ///
    /// # Panics
    ///
    /// If no evloop is running on this thread.
    pub async fn bind<A: ToSocketAddrs + ?Sized>(addr: &A) -> io::Result<UdpSocket> {
        let addrs = resolve(addr).await?;
        let fd = first_ok(&addrs, |addr| {
            crate::sys::bind_reuseport(addr, libc::SOCK_DGRAM)
        })?;
        UdpSocket::from_std(std::net::UdpSocket::from(fd))
    }

    /// Wraps a std socket (made non-blocking here).
    ///
    /// # Panics
    ///
    /// If no evloop is running on this thread.
    #[track_caller]
    pub fn from_std(socket: std::net::UdpSocket) -> io::Result<UdpSocket> {
        socket.set_nonblocking(true)?;
        let io = IoHandle::new(mio::net::UdpSocket::from_std(socket), "UdpSocket::from_std")?;
        Ok(UdpSocket { io })
    }

    /// Back to a std socket (still non-blocking), deregistered.
    pub fn into_std(self) -> io::Result<std::net::UdpSocket> {
        Ok(self.io.into_inner()?.into())
    }

    /// Sets the default peer: [`send`](UdpSocket::send) goes there, and
    /// only its datagrams are received. Uses the first of `addr`'s
    /// addresses that works. Cancel-safe: resolving is the only wait.
    pub async fn connect<A: ToSocketAddrs + ?Sized>(&self, addr: &A) -> io::Result<()> {
        let addrs = resolve(addr).await?;
        first_ok(&addrs, |addr| self.io.get_ref().connect(*addr))
    }

    /// Sends a datagram to the connected peer; returns its length.
    /// Cancel-safe.
    pub async fn send(&self, buf: &[u8]) -> io::Result<usize> {
        self.io.op(Direction::Write, |s| s.send(buf)).await
    }

    /// Receives a datagram from the connected peer; returns its length (the
    /// rest of a datagram longer than `buf` is discarded). Cancel-safe.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        self.io.op(Direction::Read, |s| s.recv(buf)).await
    }

    /// Sends a datagram to `target` (its first address); returns its
    /// length. Cancel-safe: if the future is dropped, nothing was sent.
    pub async fn send_to<A: ToSocketAddrs + ?Sized>(
        &self,
        buf: &[u8],
        target: &A,
    ) -> io::Result<usize> {
        let addrs = resolve(target).await?;
        let target = *addrs.first().ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "no addresses to send to")
        })?;
        self.io
            .op(Direction::Write, |s| s.send_to(buf, target))
            .await
    }

    /// Receives a datagram; returns its length and sender (the rest of a
    /// datagram longer than `buf` is discarded). Cancel-safe.
    pub async fn recv_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.io.op(Direction::Read, |s| s.recv_from(buf)).await
    }

    /// `recv_from` as a poll function.
    pub fn poll_recv_from(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<(usize, SocketAddr)>> {
        self.io.poll_op(Direction::Read, cx, |s| s.recv_from(buf))
    }

    /// Like [`recv_from`](UdpSocket::recv_from), but the datagram stays
    /// queued: the next receive gets it again. Cancel-safe.
    pub async fn peek_from(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        self.io.op(Direction::Read, |s| s.peek_from(buf)).await
    }

    /// The address the socket is bound to.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().local_addr()
    }

    /// The connected peer's address (`NotConnected` if there is none).
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.io.get_ref().peer_addr()
    }

    /// Takes the pending socket error (`SO_ERROR`), e.g. an ICMP "port
    /// unreachable" reported for an earlier send.
    pub fn take_error(&self) -> io::Result<Option<io::Error>> {
        self.io.get_ref().take_error()
    }
}

impl fmt::Debug for UdpSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UdpSocket")
            .field("local_addr", &self.local_addr().ok())
            .field("peer_addr", &self.peer_addr().ok())
            .finish()
    }
}

crate::net::impl_as_fd!(UdpSocket);
