//! [`UdpSocket`].

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::os::fd::AsFd;
use std::task::{Context, Poll};

use crate::io::sources::Direction;
use crate::io::IoHandle;
use crate::net::addr::{first_ok, resolve, ToSocketAddrs};

/// A UDP socket (asyncio's datagram endpoint; tokio's `UdpSocket`).
///
/// [`bind`](UdpSocket::bind) sets no socket option, as std does, so binding
/// a port another socket holds fails with `AddrInUse`. Sharing a port
/// between several loops (one per core, the kernel spreading the
/// datagrams) is opt-in: [`bind_reuseport`](UdpSocket::bind_reuseport).
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
    /// Sets no socket option, as std does: a port that another socket holds
    /// is refused with `AddrInUse`, whoever holds it.
    ///
    /// # Panics
    ///
    /// If no evloop is running on this thread.
    pub async fn bind<A: ToSocketAddrs>(addr: A) -> io::Result<UdpSocket> {
        let socket = bind_first(&addr, false).await?;
        UdpSocket::register(socket, "UdpSocket::bind")
    }

    /// Like [`bind`](UdpSocket::bind), but with `SO_REUSEPORT` set: several
    /// sockets bound this way (by the same user) share the port, and the
    /// kernel spreads the incoming datagrams over them by a hash of their
    /// addresses, so each peer's datagrams go to one socket. One socket per
    /// loop, one loop per core, is how a UDP server uses several cores.
    ///
    /// A socket bound with plain [`bind`](UdpSocket::bind), by anyone, is
    /// never joined: binding its port this way fails with `AddrInUse`.
    /// For other options (`SO_REUSEADDR` for multicast, buffer sizes, …)
    /// set them on a std socket (or a `socket2` one) and use
    /// [`from_std`](UdpSocket::from_std).
    ///
    /// (A method rather than a builder like
    /// [`TcpSocket`](crate::net::TcpSocket): a UDP socket has no `listen` or
    /// `connect` step to configure before, so the one option that must come
    /// before `bind` is all a builder would hold.)
    ///
    /// ```
    /// use evloop::net::UdpSocket;
    /// evloop::run(async {
    ///     let a = UdpSocket::bind_reuseport("127.0.0.1:0").await.unwrap();
    ///     let addr = a.local_addr().unwrap();
    ///     let b = UdpSocket::bind_reuseport(&addr).await.unwrap(); // the same port
    ///     assert_eq!(b.local_addr().unwrap(), addr);
    ///     // A socket that does not opt in cannot join them.
    ///     let err = UdpSocket::bind(&addr).await.unwrap_err();
    ///     assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
    /// })
    /// .unwrap();
    /// ```
    ///
    /// # Panics
    ///
    /// If no evloop is running on this thread.
    pub async fn bind_reuseport<A: ToSocketAddrs>(addr: A) -> io::Result<UdpSocket> {
        let socket = bind_first(&addr, true).await?;
        UdpSocket::register(socket, "UdpSocket::bind_reuseport")
    }

    /// Wraps a std socket (made non-blocking here).
    ///
    /// # Panics
    ///
    /// If no evloop is running on this thread.
    #[track_caller]
    pub fn from_std(socket: std::net::UdpSocket) -> io::Result<UdpSocket> {
        socket.set_nonblocking(true)?;
        UdpSocket::register(socket, "UdpSocket::from_std")
    }

    /// Registers a non-blocking socket with the running loop; `what` names
    /// the public function for the panic if there is none.
    #[track_caller]
    fn register(socket: std::net::UdpSocket, what: &str) -> io::Result<UdpSocket> {
        let io = IoHandle::new(mio::net::UdpSocket::from_std(socket), what)?;
        Ok(UdpSocket { io })
    }

    /// Back to a std socket (still non-blocking), deregistered.
    pub fn into_std(self) -> io::Result<std::net::UdpSocket> {
        Ok(self.io.into_inner()?.into())
    }

    /// Sets the default peer: [`send`](UdpSocket::send) goes there, and
    /// only its datagrams are received. Uses the first of `addr`'s
    /// addresses that works. Cancel-safe: resolving is the only wait.
    pub async fn connect<A: ToSocketAddrs>(&self, addr: A) -> io::Result<()> {
        let addrs = resolve(&addr).await?;
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
    pub async fn send_to<A: ToSocketAddrs>(&self, buf: &[u8], target: A) -> io::Result<usize> {
        let addrs = resolve(&target).await?;
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

/// A non-blocking UDP socket bound to the first of `addr`'s addresses
/// that works, with `SO_REUSEPORT` if `reuseport`.
async fn bind_first<A: ToSocketAddrs + ?Sized>(
    addr: &A,
    reuseport: bool,
) -> io::Result<std::net::UdpSocket> {
    let addrs = resolve(addr).await?;
    let fd = first_ok(&addrs, |addr| {
        let fd = crate::sys::socket(crate::sys::family_of(addr), libc::SOCK_DGRAM)?;
        if reuseport {
            crate::sys::set_flag(fd.as_fd(), libc::SO_REUSEPORT, true)?;
        }
        crate::sys::bind(fd.as_fd(), addr)?;
        Ok(fd)
    })?;
    Ok(std::net::UdpSocket::from(fd))
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
