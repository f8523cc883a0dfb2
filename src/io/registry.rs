//! Registration of I/O sources with the loop's mio `Poll`, and asyncio's
//! raw fd API (`add_reader` / `add_writer`): the `Core` methods that touch
//! epoll. The readiness bookkeeping itself is in `sources`.

use std::io;
use std::os::fd::RawFd;
use std::task::{Poll, Waker};

use crate::core::Core;
use crate::error::LoopClosed;
use crate::io::sources::{Direction, FdCallback, IoKey};
use crate::sync::waiters::{self, WaiterSlot};
use crate::task::StoredWaker;

impl Core {
    /// Registers a mio source (edge-triggered, once for its lifetime).
    pub(crate) fn register(
        &self,
        source: &mut impl mio::event::Source,
        interest: mio::Interest,
    ) -> io::Result<IoKey> {
        if self.is_closed() {
            return Err(io::Error::other(LoopClosed));
        }
        let key = self.io.borrow_mut().insert();
        let registered = self
            .poll
            .borrow()
            .registry()
            .register(source, key.token(), interest);
        if let Err(e) = registered {
            let wakers = self.io.borrow_mut().remove(key);
            drop(wakers);
            return Err(e);
        }
        Ok(key)
    }

    /// Deregisters a source and forgets its entry; waiting tasks are woken
    /// (their operation will then fail or find the socket gone).
    pub(crate) fn deregister(
        &self,
        source: &mut impl mio::event::Source,
        key: IoKey,
    ) -> io::Result<()> {
        let result = self.poll.borrow().registry().deregister(source);
        let wakers = self.io.borrow_mut().remove(key);
        wakers.into_iter().for_each(StoredWaker::wake);
        result
    }

    /// `Ready` if an operation in `dir` is worth trying; otherwise `waker`
    /// waits in the source's list, at `slot` (see `sync::waiters`).
    pub(crate) fn poll_io_ready(
        &self,
        key: IoKey,
        dir: Direction,
        slot: &mut WaiterSlot,
        waker: &Waker,
    ) -> Poll<()> {
        if waiters::register(&self.io, slot, waker, |io| {
            io.waiters_if_not_ready(key, dir)
        }) {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    }

    /// An operation that waited at `slot` is dropped: its entry goes.
    pub(crate) fn remove_io_waiter(&self, key: IoKey, dir: Direction, slot: &mut WaiterSlot) {
        waiters::unregister(&self.io, slot, |io| io.waiters(key, dir));
    }

    pub(crate) fn clear_io_ready(&self, key: IoKey, dir: Direction) {
        self.io.borrow_mut().clear(key, dir);
    }

    /// A short read or write drained the buffer: only the readable or
    /// writable bit goes (see `Sources::clear_drained`).
    pub(crate) fn clear_io_drained(&self, key: IoKey, dir: Direction) {
        self.io.borrow_mut().clear_drained(key, dir);
    }

    /// `add_reader` / `add_writer`: watch a raw fd with a level-triggered
    /// callback (replacing an earlier one for the same fd and direction).
    pub(crate) fn add_fd_callback(
        &self,
        fd: RawFd,
        dir: Direction,
        cb: FdCallback,
    ) -> io::Result<()> {
        if self.is_closed() {
            return Err(io::Error::other(LoopClosed));
        }
        let existing = self.fds.borrow().get(&fd).copied();
        let key = match existing {
            Some(key) => key,
            None => {
                let key = self.io.borrow_mut().insert();
                self.io.borrow_mut().set_raw_fd(key, fd);
                self.fds.borrow_mut().insert(fd, key);
                key
            }
        };
        let old = self.io.borrow_mut().set_callback(key, dir, Some(cb));
        drop(old);
        let result = self.update_fd_interest(fd, key, existing.is_none());
        if result.is_err() {
            let old = self.io.borrow_mut().set_callback(key, dir, None);
            drop(old);
            if existing.is_none() {
                self.fds.borrow_mut().remove(&fd);
                let wakers = self.io.borrow_mut().remove(key);
                drop(wakers);
            }
        }
        result
    }

    /// `remove_reader` / `remove_writer`; returns whether a callback was set.
    pub(crate) fn remove_fd_callback(&self, fd: RawFd, dir: Direction) -> io::Result<bool> {
        let Some(key) = self.fds.borrow().get(&fd).copied() else {
            return Ok(false);
        };
        let old = self.io.borrow_mut().set_callback(key, dir, None);
        let had = old.is_some();
        drop(old);
        let remaining = {
            let mut io = self.io.borrow_mut();
            io.has_callback(key, Direction::Read) || io.has_callback(key, Direction::Write)
        };
        if remaining {
            self.update_fd_interest(fd, key, false)?;
        } else {
            self.fds.borrow_mut().remove(&fd);
            let wakers = self.io.borrow_mut().remove(key);
            drop(wakers);
            let result = self
                .poll
                .borrow()
                .registry()
                .deregister(&mut mio::unix::SourceFd(&fd));
            // The fd may already be closed, which removed it from epoll.
            if let Err(e) = result {
                if e.raw_os_error() != Some(libc::EBADF) && e.kind() != io::ErrorKind::NotFound {
                    return Err(e);
                }
            }
        }
        Ok(had)
    }

    /// (Re-)registers a raw fd with the interest its callbacks need.
    /// `EPOLL_CTL_MOD` also re-arms the edge: if the fd is still ready,
    /// epoll reports it again, which is how the callbacks get asyncio's
    /// level-triggered behaviour on an edge-triggered poller.
    fn update_fd_interest(&self, fd: RawFd, key: IoKey, new: bool) -> io::Result<()> {
        let interest = {
            let mut io = self.io.borrow_mut();
            match (
                io.has_callback(key, Direction::Read),
                io.has_callback(key, Direction::Write),
            ) {
                (true, true) => mio::Interest::READABLE | mio::Interest::WRITABLE,
                (false, true) => mio::Interest::WRITABLE,
                _ => mio::Interest::READABLE,
            }
        };
        let poll = self.poll.borrow();
        let mut source = mio::unix::SourceFd(&fd);
        if new {
            poll.registry().register(&mut source, key.token(), interest)
        } else {
            poll.registry()
                .reregister(&mut source, key.token(), interest)
        }
    }

    /// After an fd callback ran: re-arm its fd, if it is still watched.
    pub(crate) fn rearm_fd(&self, key: IoKey) {
        let fd = self.io.borrow_mut().raw_fd(key);
        if let Some(fd) = fd {
            let _ = self.update_fd_interest(fd, key, false);
        }
    }
}
