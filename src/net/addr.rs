//! Addresses to connect to or bind: IP addresses are used as they are;
//! host names are resolved on the executor (`getaddrinfo` blocks), as
//! asyncio's `getaddrinfo` does.

use std::io;
use std::net::{IpAddr, SocketAddr, ToSocketAddrs as _};

/// Something that names one or more socket addresses: a `SocketAddr`, an
/// `(IpAddr, u16)`, or a string like `"127.0.0.1:80"` or `"localhost:80"`.
///
/// Sealed; implemented for the usual address types.
pub trait ToSocketAddrs: sealed::Sealed {}

mod sealed {
    use super::*;

    /// Either addresses now, or a host to resolve off the loop.
    pub enum Resolve {
        Ready(Vec<SocketAddr>),
        Lookup(String),
    }

    pub trait Sealed {
        fn resolve(&self) -> Resolve;
    }

    impl Sealed for SocketAddr {
        fn resolve(&self) -> Resolve {
            Resolve::Ready(vec![*self])
        }
    }

    impl Sealed for (IpAddr, u16) {
        fn resolve(&self) -> Resolve {
            Resolve::Ready(vec![SocketAddr::from(*self)])
        }
    }

    impl Sealed for str {
        fn resolve(&self) -> Resolve {
            match self.parse::<SocketAddr>() {
                Ok(addr) => Resolve::Ready(vec![addr]),
                Err(_) => Resolve::Lookup(self.to_string()),
            }
        }
    }

    impl Sealed for String {
        fn resolve(&self) -> Resolve {
            self.as_str().resolve()
        }
    }

    impl Sealed for (&str, u16) {
        fn resolve(&self) -> Resolve {
            match self.0.parse::<IpAddr>() {
                Ok(ip) => Resolve::Ready(vec![SocketAddr::new(ip, self.1)]),
                Err(_) => Resolve::Lookup(format!("{}:{}", self.0, self.1)),
            }
        }
    }

    impl<T: Sealed + ?Sized> Sealed for &T {
        fn resolve(&self) -> Resolve {
            (**self).resolve()
        }
    }
}

impl ToSocketAddrs for SocketAddr {}
impl ToSocketAddrs for (IpAddr, u16) {}
impl ToSocketAddrs for str {}
impl ToSocketAddrs for String {}
impl ToSocketAddrs for (&str, u16) {}
impl<T: ToSocketAddrs + ?Sized> ToSocketAddrs for &T {}

/// The addresses `addr` names; host names are looked up on the loop's
/// executor, so the loop never blocks in `getaddrinfo`.
pub(crate) async fn resolve<A: ToSocketAddrs + ?Sized>(addr: &A) -> io::Result<Vec<SocketAddr>> {
    match addr.resolve() {
        sealed::Resolve::Ready(addrs) => Ok(addrs),
        sealed::Resolve::Lookup(host) => {
            let lp = crate::EventLoop::current();
            let lookup = lp.run_in_executor(move || host.to_socket_addrs().map(Vec::from_iter));
            lookup
                .await
                .map_err(|e| io::Error::other(format!("address lookup failed: {e}")))?
        }
    }
}

/// Tries `f` on each address in turn; the last error if all fail.
pub(crate) fn first_ok<T>(
    addrs: &[SocketAddr],
    mut f: impl FnMut(&SocketAddr) -> io::Result<T>,
) -> io::Result<T> {
    let mut last = io::Error::new(io::ErrorKind::InvalidInput, "no addresses to use");
    for addr in addrs {
        match f(addr) {
            Ok(v) => return Ok(v),
            Err(e) => last = e,
        }
    }
    Err(last)
}
