//! Sockets on the loop: TCP, UDP and Unix-domain, with async methods
//! (asyncio's transports and streams; tokio's `net`).
//!
//! - TCP: [`TcpListener`], [`TcpStream`] (and its split halves), and
//!   [`TcpSocket`] to set options before listening or connecting.
//! - UDP: [`UdpSocket`].
//! - Unix-domain: [`UnixListener`], [`UnixStream`], [`UnixDatagram`].
//!
//! Every type registers its socket with the loop running on the current
//! thread when it is made (so it must be made inside a running loop), once,
//! edge-triggered, and deregisters it when dropped. Each async method's
//! docs say whether it is cancel-safe: what is lost if its future is
//! dropped before it completes. Datagram operations always are: a datagram
//! is sent or received whole, or not at all.
//!
//! Binding makes std's choices: `SO_REUSEADDR` on TCP listeners (a
//! restarted server can bind a port held in `TIME_WAIT`), nothing on UDP,
//! and no port sharing, so a second bind of a port in use fails with
//! `AddrInUse`. Sharing a port between several loops (one per core) is
//! opt-in: [`TcpSocket::set_reuseport`] for TCP,
//! [`UdpSocket::bind_reuseport`] for UDP.

/// `AsRawFd` and `AsFd` for a socket type whose `io` field is an `IoHandle`.
macro_rules! impl_as_fd {
    ($t:ty) => {
        impl std::os::fd::AsRawFd for $t {
            fn as_raw_fd(&self) -> std::os::fd::RawFd {
                std::os::fd::AsRawFd::as_raw_fd(self.io.get_ref())
            }
        }

        impl std::os::fd::AsFd for $t {
            fn as_fd(&self) -> std::os::fd::BorrowedFd<'_> {
                std::os::fd::AsFd::as_fd(self.io.get_ref())
            }
        }
    };
}
pub(crate) use impl_as_fd;

mod addr;
mod socket;
mod stream;
mod tcp;
mod udp;
mod unix;

pub use addr::ToSocketAddrs;
pub use socket::TcpSocket;
pub use stream::{
    open_connection, start_server, start_server_on, ReadStream, Server, StreamReader, StreamWriter,
    WriteStream, DEFAULT_LIMIT,
};
pub use tcp::{
    Incoming, OwnedReadHalf, OwnedWriteHalf, ReadHalf, TcpListener, TcpStream, WriteHalf,
};
pub use udp::UdpSocket;

/// The poll functions behind [`ReadStream`] and [`WriteStream`], for the
/// child process pipes (the `process` module) to implement.
pub(crate) use stream::sealed as stream_sealed;
pub use unix::{UnixDatagram, UnixIncoming, UnixListener, UnixStream};
