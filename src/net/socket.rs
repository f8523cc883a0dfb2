//! [`TcpSocket`]: a TCP socket whose options are set before it binds,
//! listens or connects.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

use crate::net::tcp::{TcpListener, TcpStream};

/// A TCP socket that is not listening or connected yet, for the options
/// that must be set before `bind` (tokio's `TcpSocket`; the `reuse_port=`
/// and `reuse_address=` parameters of asyncio's `create_server`).
///
/// [`TcpListener::bind`] and [`TcpStream::connect`] cover the usual cases
/// with std's choices: a listener gets `SO_REUSEADDR` (a restarted server
/// can bind a port that its old connections still hold in `TIME_WAIT`) and
/// nothing else, so a second listener on a port that is in use fails with
/// [`AddrInUse`](io::ErrorKind::AddrInUse). `TcpSocket` is the way to opt
/// in to more, above all to **port sharing** with
/// [`set_reuseport`](TcpSocket::set_reuseport): several loops (one per
/// core, each on its own thread) each listen on the same port, and the
/// kernel spreads the new connections over them.
///
/// The socket is made with no loop needed (so it can be configured
/// anywhere); [`listen`](TcpSocket::listen) and
/// [`connect`](TcpSocket::connect) register it with the loop running on
/// the current thread.
///
/// # Examples
///
/// Two listeners on one port, as two loops would make them (here both on
/// one loop to keep the example short; `examples/multi_loop.rs` runs one
/// loop per thread):
///
/// ```
/// use std::net::SocketAddr;
/// use evloop::net::{TcpListener, TcpSocket, TcpStream};
///
/// /// What each loop runs to listen on the shared port.
/// fn listen_shared(addr: SocketAddr) -> std::io::Result<TcpListener> {
///     let socket = TcpSocket::new_for_addr(addr)?;
///     socket.set_reuseaddr(true)?;
///     socket.set_reuseport(true)?; // every listener on the port must opt in
///     socket.bind(addr)?;
///     socket.listen(1024)
/// }
///
/// evloop::run(async {
///     let first = listen_shared("127.0.0.1:0".parse().unwrap()).unwrap();
///     let addr = first.local_addr().unwrap(); // port 0 became a real port
///     let second = listen_shared(addr).unwrap();
///     assert_eq!(second.local_addr().unwrap(), addr);
///
///     // A listener that did not opt in cannot join them.
///     let err = TcpListener::bind(&addr).await.unwrap_err();
///     assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
///
///     // Each connection goes to one of the two.
///     let _client = TcpStream::connect(&addr).await.unwrap();
/// })
/// .unwrap();
/// ```
///
/// Connecting from a chosen local address:
///
/// ```
/// use evloop::net::{TcpListener, TcpSocket};
/// evloop::run(async {
///     let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
///     let socket = TcpSocket::new_v4().unwrap();
///     socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
///     let local = socket.local_addr().unwrap();
///     let stream = socket.connect(listener.local_addr().unwrap()).await.unwrap();
///     assert_eq!(stream.local_addr().unwrap(), local);
/// })
/// .unwrap();
/// ```
///
/// # Notes
///
/// On Linux, sockets share a port with `SO_REUSEPORT` only if every one of
/// them set it before binding and all belong to the same effective user:
/// another user's process cannot take over the port, and neither can a
/// socket of any user when the first one did not opt in. The kernel picks
/// the listener for each new connection by a hash of its addresses, so the
/// spread is statistical, and a listener that stops accepting still gets
/// its share (connections left in its queue are reset when it closes).
///
/// `SO_REUSEADDR` does not let two listeners share a port on Linux. Two
/// sockets that both set it may *bind* the same port while neither
/// listens, but the second [`listen`](TcpSocket::listen) then fails with
/// `AddrInUse`.
pub struct TcpSocket {
    fd: OwnedFd,
}

impl TcpSocket {
    /// A new IPv4 TCP socket (non-blocking, close-on-exec), no options set.
    pub fn new_v4() -> io::Result<TcpSocket> {
        TcpSocket::new(libc::AF_INET)
    }

    /// A new IPv6 TCP socket (non-blocking, close-on-exec), no options set.
    pub fn new_v6() -> io::Result<TcpSocket> {
        TcpSocket::new(libc::AF_INET6)
    }

    /// A new TCP socket of `addr`'s family: [`new_v4`](TcpSocket::new_v4)
    /// or [`new_v6`](TcpSocket::new_v6).
    pub fn new_for_addr(addr: SocketAddr) -> io::Result<TcpSocket> {
        TcpSocket::new(crate::sys::family_of(&addr))
    }

    fn new(family: libc::c_int) -> io::Result<TcpSocket> {
        let fd = crate::sys::socket(family, libc::SOCK_STREAM)?;
        Ok(TcpSocket { fd })
    }

    /// Sets `SO_REUSEADDR`: a listener may bind a port that connections in
    /// `TIME_WAIT` still hold, so a restarted server need not wait for them
    /// to expire. [`TcpListener::bind`] sets it. Must come before
    /// [`bind`](TcpSocket::bind).
    pub fn set_reuseaddr(&self, reuseaddr: bool) -> io::Result<()> {
        crate::sys::set_flag(self.fd.as_fd(), libc::SO_REUSEADDR, reuseaddr)
    }

    /// Whether `SO_REUSEADDR` is set.
    pub fn reuseaddr(&self) -> io::Result<bool> {
        crate::sys::flag(self.fd.as_fd(), libc::SO_REUSEADDR)
    }

    /// Sets `SO_REUSEPORT`: several sockets that all set it (as the same
    /// user) may listen on one port, and the kernel spreads the new
    /// connections over them. Off unless set here. Must come before
    /// [`bind`](TcpSocket::bind). See the type's docs for an example.
    pub fn set_reuseport(&self, reuseport: bool) -> io::Result<()> {
        crate::sys::set_flag(self.fd.as_fd(), libc::SO_REUSEPORT, reuseport)
    }

    /// Whether `SO_REUSEPORT` is set.
    pub fn reuseport(&self) -> io::Result<bool> {
        crate::sys::flag(self.fd.as_fd(), libc::SO_REUSEPORT)
    }

    /// Binds the socket to `addr` (port 0: a free port the kernel picks;
    /// [`local_addr`](TcpSocket::local_addr) tells which).
    ///
    /// Errors: `AddrInUse` if the port is taken (and not shared, see
    /// [`set_reuseport`](TcpSocket::set_reuseport)), `AddrNotAvailable` for
    /// an address not of this host.
    pub fn bind(&self, addr: SocketAddr) -> io::Result<()> {
        crate::sys::bind(self.fd.as_fd(), &addr)
    }

    /// The address the socket is bound to (`0.0.0.0:0` or `[::]:0` before
    /// [`bind`](TcpSocket::bind)).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        crate::sys::local_addr(self.fd.as_fd())
    }

    /// Listens for connections, with at most `backlog` of them waiting to
    /// be accepted (the kernel caps it at `net.core.somaxconn`;
    /// [`TcpListener::bind`] uses 1024). Binds to a free port first if
    /// [`bind`](TcpSocket::bind) was not called.
    ///
    /// # Panics
    ///
    /// If no evloop is running on this thread.
    #[track_caller]
    pub fn listen(self, backlog: u32) -> io::Result<TcpListener> {
        TcpListener::register(self.listen_std(backlog)?, "TcpSocket::listen")
    }

    /// `listen` without registering with a loop (for [`TcpListener::bind`]).
    pub(crate) fn listen_std(self, backlog: u32) -> io::Result<std::net::TcpListener> {
        let backlog = libc::c_int::try_from(backlog).unwrap_or(libc::c_int::MAX);
        crate::sys::listen(self.fd.as_fd(), backlog)?;
        Ok(std::net::TcpListener::from(self.fd))
    }

    /// Connects to `addr`, from the address given to
    /// [`bind`](TcpSocket::bind) if any (else from one the kernel picks).
    /// If the future is dropped before it completes, the socket is closed:
    /// no half-made connection is left behind.
    ///
    /// Errors: connection refused, unreachable, … as `io::Error`.
    ///
    /// # Panics
    ///
    /// If no evloop is running on this thread.
    pub async fn connect(self, addr: SocketAddr) -> io::Result<TcpStream> {
        TcpStream::connect_fd(self.fd, addr, "TcpSocket::connect").await
    }
}

impl fmt::Debug for TcpSocket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TcpSocket")
            .field("fd", &self.fd.as_raw_fd())
            .field("local_addr", &self.local_addr().ok())
            .finish()
    }
}

/// For options that `TcpSocket` has no method for (set through `libc` or
/// `socket2` on the borrowed descriptor).
impl AsFd for TcpSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for TcpSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}
