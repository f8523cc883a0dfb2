//! The OS calls of child processes: a pidfd per child (Linux 5.3+), and
//! signals sent through it, so that neither a wait nor a signal can reach
//! another process that was given a recycled pid.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use super::check;

/// A pidfd: readable once its process has exited (and can be waited for).
/// Registered with the loop like any other source.
#[derive(Debug)]
pub(crate) struct PidFd(OwnedFd);

impl PidFd {
    /// `pidfd_open(pid, 0)`. `Ok(None)` where the kernel has no pidfds
    /// (`ENOSYS`, before 5.3; `EPERM` from a seccomp filter that refuses
    /// syscalls it does not know): the caller then watches `SIGCHLD`.
    ///
    /// The pid must be a child of this process that nobody has waited for
    /// yet: then it cannot have been recycled, whether or not it exited.
    pub(crate) fn open(pid: u32) -> io::Result<Option<PidFd>> {
        let pid = libc::pid_t::try_from(pid).map_err(io::Error::other)?;
        // SAFETY: pidfd_open takes a pid and flags and returns a new fd
        // (close-on-exec, always) or -1; no memory is passed.
        let ret = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0 as libc::c_uint) };
        if ret == -1 {
            let e = io::Error::last_os_error();
            return match e.raw_os_error() {
                Some(libc::ENOSYS) | Some(libc::EPERM) => Ok(None),
                _ => Err(e),
            };
        }
        let fd = libc::c_int::try_from(ret).map_err(io::Error::other)?;
        // SAFETY: `fd` was just returned by pidfd_open and is owned by nobody else.
        Ok(Some(PidFd(unsafe { OwnedFd::from_raw_fd(fd) })))
    }

    /// `pidfd_send_signal(pidfd, signum, NULL, 0)`. `ESRCH` once the
    /// process was waited for: the pidfd still names *that* process, so a
    /// signal can never reach a process that reused its pid.
    pub(crate) fn send_signal(&self, signum: libc::c_int) -> io::Result<()> {
        // SAFETY: the pidfd is open (owned by `self`); a null siginfo asks
        // the kernel to fill one in, as kill(2) does.
        let ret = unsafe {
            libc::syscall(
                libc::SYS_pidfd_send_signal,
                self.0.as_raw_fd(),
                signum,
                std::ptr::null::<libc::siginfo_t>(),
                0 as libc::c_uint,
            )
        };
        check(ret as libc::c_int).map(drop)
    }
}

impl AsRawFd for PidFd {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.0.as_raw_fd()
    }
}

impl mio::event::Source for PidFd {
    fn register(
        &mut self,
        registry: &mio::Registry,
        token: mio::Token,
        interests: mio::Interest,
    ) -> io::Result<()> {
        mio::unix::SourceFd(&self.0.as_raw_fd()).register(registry, token, interests)
    }

    fn reregister(
        &mut self,
        registry: &mio::Registry,
        token: mio::Token,
        interests: mio::Interest,
    ) -> io::Result<()> {
        mio::unix::SourceFd(&self.0.as_raw_fd()).reregister(registry, token, interests)
    }

    fn deregister(&mut self, registry: &mio::Registry) -> io::Result<()> {
        mio::unix::SourceFd(&self.0.as_raw_fd()).deregister(registry)
    }
}

/// `kill(pid, signum)`, for a child without a pidfd. Only for a child this
/// process has not waited for yet: until then its pid cannot be recycled.
pub(crate) fn kill(pid: u32, signum: libc::c_int) -> io::Result<()> {
    let pid = libc::pid_t::try_from(pid).map_err(io::Error::other)?;
    // SAFETY: plain syscall; no memory is passed.
    check(unsafe { libc::kill(pid, signum) }).map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pidfd_outlives_the_wait_and_refuses_signals_after_it() {
        let mut child = std::process::Command::new("sleep")
            .arg("60")
            .spawn()
            .unwrap();
        let pidfd = PidFd::open(child.id())
            .unwrap()
            .expect("pidfds on this kernel");
        pidfd.send_signal(libc::SIGKILL).unwrap();
        let status = child.wait().unwrap();
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(libc::SIGKILL)
        );
        // Reaped: the pid may be anybody's now, but the pidfd still names
        // the dead child, so the kernel refuses instead of signalling.
        let err = pidfd.send_signal(libc::SIGKILL).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ESRCH));
    }

    #[test]
    fn kill_reaches_a_child_not_yet_waited_for() {
        let mut child = std::process::Command::new("sleep")
            .arg("60")
            .spawn()
            .unwrap();
        kill(child.id(), libc::SIGTERM).unwrap();
        let status = child.wait().unwrap();
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(libc::SIGTERM)
        );
    }
}
