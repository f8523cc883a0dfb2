//! A `timerfd` for the high-resolution timer mode: epoll's timeout has
//! millisecond granularity (mio rounds up, and the kernel adds timer slack),
//! so a 100 µs timer would fire about 1 ms late; a timerfd armed for the
//! exact deadline and watched by epoll wakes the loop on time.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::Duration;

/// A non-blocking, close-on-exec `CLOCK_MONOTONIC` timerfd.
pub(crate) struct TimerFd {
    fd: OwnedFd,
}

impl TimerFd {
    pub(crate) fn new() -> io::Result<TimerFd> {
        // SAFETY: plain syscall with constant arguments.
        let fd = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if fd == -1 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `fd` was just returned by timerfd_create, owned by nobody else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(TimerFd { fd })
    }

    /// Arms the timer to expire once, `after` from now (at least 1 ns: a
    /// zero value would disarm it). Clears a pending expiration first, so
    /// that the next readable edge is this one.
    pub(crate) fn arm(&self, after: Duration) -> io::Result<()> {
        self.clear();
        let after = after.max(Duration::from_nanos(1));
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                tv_sec: after.as_secs().min(i64::MAX as u64) as libc::time_t,
                tv_nsec: after.subsec_nanos() as libc::c_long,
            },
        };
        // SAFETY: `spec` is a valid itimerspec; a null old value is allowed.
        if unsafe { libc::timerfd_settime(self.fd.as_raw_fd(), 0, &spec, std::ptr::null_mut()) }
            == -1
        {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Reads (and so resets) the expiration count, if any.
    fn clear(&self) {
        let mut count = 0u64;
        // SAFETY: reads at most 8 bytes into a live u64; a non-blocking fd
        // with nothing to read just returns EAGAIN.
        unsafe {
            libc::read(
                self.fd.as_raw_fd(),
                &mut count as *mut u64 as *mut libc::c_void,
                std::mem::size_of::<u64>(),
            )
        };
    }
}

impl AsRawFd for TimerFd {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}
