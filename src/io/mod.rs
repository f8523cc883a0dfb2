//! I/O readiness: the registry of mio sources (`sources`), the handle that
//! async sockets wrap their mio source in ([`IoHandle`]), and asyncio's raw
//! fd API (`add_reader` / `add_writer`, on [`EventLoop`](crate::EventLoop)).

mod registry;
pub(crate) mod signal;
pub(crate) mod sources;

use std::cell::Cell;
use std::future::poll_fn;
use std::io::{self, Read, Write};
use std::rc::Rc;
use std::task::{Context, Poll};

use crate::core::Core;
use crate::error::LoopClosed;
use crate::sync::waiters::WaiterSlot;
use crate::task::context;
use sources::{Direction, IoKey};

/// A mio source registered with the running loop, with its readiness.
/// Deregistered when dropped.
///
/// Operations wait in two ways. The `async` ones (`op`, `read`, `write`)
/// each keep their own place in the source's waiter list and give it up
/// when dropped. The `poll_*` ones, behind `AsyncRead`-style traits, have
/// no future to hold that place, so each direction of the handle has one
/// (`poll_slots`), replaced by every poll (as tokio's `poll_read` keeps
/// the last waker) and given up when the handle is dropped.
pub(crate) struct IoHandle<S: mio::event::Source> {
    source: Option<S>,
    key: IoKey,
    core: Rc<Core>,
    poll_slots: [Cell<WaiterSlot>; 2],
}

/// The place of one waiting `async` operation in its source's waiter
/// list, given up when the operation's future is dropped.
struct OpWaiter<'a> {
    core: &'a Core,
    key: IoKey,
    dir: Direction,
    slot: WaiterSlot,
}

impl Drop for OpWaiter<'_> {
    #[inline]
    fn drop(&mut self) {
        if self.slot.is_some() {
            self.core
                .remove_io_waiter(self.key, self.dir, &mut self.slot);
        }
    }
}

impl<S: mio::event::Source> IoHandle<S> {
    /// Registers `source` with the loop running on this thread, for both
    /// directions (edge-triggered: one `epoll_ctl` for its lifetime).
    ///
    /// # Panics
    ///
    /// If no evloop is running on this thread (`what` names the caller).
    #[track_caller]
    pub(crate) fn new(mut source: S, what: &str) -> io::Result<IoHandle<S>> {
        let core = crate::core::expect_current(what);
        let interest = mio::Interest::READABLE | mio::Interest::WRITABLE;
        let key = core.register(&mut source, interest)?;
        Ok(IoHandle {
            source: Some(source),
            key,
            core,
            poll_slots: Default::default(),
        })
    }

    pub(crate) fn get_ref(&self) -> &S {
        self.source.as_ref().expect("present until into_inner")
    }

    /// Tries `op` when the source may be ready in `dir`; on `WouldBlock`
    /// clears the readiness and waits for the next event. For `poll_*`
    /// callers: the handle's own place in the waiter list is used.
    pub(crate) fn poll_op<R>(
        &self,
        dir: Direction,
        cx: &mut Context<'_>,
        op: impl FnMut(&S) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        self.with_poll_slot(dir, |slot| self.poll_op_at(dir, cx, slot, op))
    }

    /// Runs `f` with the handle's own place in the waiter list of `dir`.
    fn with_poll_slot<R>(&self, dir: Direction, f: impl FnOnce(&mut WaiterSlot) -> R) -> R {
        let cell = &self.poll_slots[dir as usize];
        let mut slot = cell.get();
        let result = f(&mut slot);
        cell.set(slot);
        result
    }

    /// `poll_op`, waiting at `slot`.
    ///
    /// Each operation that completes spends one unit of the task's
    /// budget; once it is spent, the task is woken and yields (`Pending`)
    /// instead of trying, so a socket that never stops being ready cannot
    /// hold the loop (see `core::tasks::TASK_BUDGET`).
    fn poll_op_at<R>(
        &self,
        dir: Direction,
        cx: &mut Context<'_>,
        slot: &mut WaiterSlot,
        mut op: impl FnMut(&S) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        // A closed loop has dropped this source's entry and dispatches no
        // more events: a wait could never end, and with no entry
        // `poll_io_ready` says "try", so `WouldBlock` would spin here.
        if self.core.is_closed() {
            return Poll::Ready(Err(io::Error::other(LoopClosed)));
        }
        if context::poll_budget(cx).is_pending() {
            return Poll::Pending;
        }
        loop {
            if self
                .core
                .poll_io_ready(self.key, dir, slot, cx.waker())
                .is_pending()
            {
                return Poll::Pending;
            }
            match op(self.get_ref()) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.core.clear_io_ready(self.key, dir);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                result => {
                    context::spend_budget(cx.waker());
                    return Poll::Ready(result);
                }
            }
        }
    }

    /// A place in the waiter list of `dir` for one `async` operation.
    fn op_waiter(&self, dir: Direction) -> OpWaiter<'_> {
        OpWaiter {
            core: &self.core,
            key: self.key,
            dir,
            slot: WaiterSlot::NONE,
        }
    }

    /// `poll_op` as an `async fn`, with its own place in the waiter list.
    pub(crate) async fn op<R>(
        &self,
        dir: Direction,
        mut op: impl FnMut(&S) -> io::Result<R>,
    ) -> io::Result<R> {
        let mut waiter = self.op_waiter(dir);
        poll_fn(|cx| self.poll_op_at(dir, cx, &mut waiter.slot, &mut op)).await
    }

    /// A short read or write (some bytes, fewer than asked) drained the
    /// buffer: see [`poll_read`](IoHandle::poll_read).
    fn clear_if_short(&self, dir: Direction, result: &io::Result<usize>, asked: usize) {
        if matches!(*result, Ok(n) if 0 < n && n < asked) {
            self.core.clear_io_drained(self.key, dir);
        }
    }

    /// Deregisters and hands the mio source back.
    pub(crate) fn into_inner(mut self) -> io::Result<S> {
        let mut source = self.source.take().expect("present until into_inner");
        self.core.deregister(&mut source, self.key)?;
        Ok(source)
    }
}

/// The reading side of byte streams: TCP and Unix-domain streams, and the
/// read ends of pipes (mio implements `Read` for `&S`).
impl<S: mio::event::Source> IoHandle<S>
where
    for<'a> &'a S: Read,
{
    /// Reads some bytes; `Ok(0)` at end of stream.
    pub(crate) async fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
        let mut waiter = self.op_waiter(Direction::Read);
        poll_fn(|cx| self.poll_read_at(cx, buf, &mut waiter.slot)).await
    }

    /// Reads some bytes. A short read (some bytes, fewer than asked)
    /// drained the socket's receive buffer, so the readiness is cleared:
    /// the next read waits for the next edge instead of first failing with
    /// `EAGAIN` (a syscall saved per message; tokio does the same). Data
    /// that comes after the read raises a new edge, seen at the next poll,
    /// and nothing is polled in between.
    pub(crate) fn poll_read(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        self.with_poll_slot(Direction::Read, |slot| self.poll_read_at(cx, buf, slot))
    }

    fn poll_read_at(
        &self,
        cx: &mut Context<'_>,
        buf: &mut [u8],
        slot: &mut WaiterSlot,
    ) -> Poll<io::Result<usize>> {
        let asked = buf.len();
        let result =
            std::task::ready!(self.poll_op_at(Direction::Read, cx, slot, |mut s| s.read(buf)));
        self.clear_if_short(Direction::Read, &result, asked);
        Poll::Ready(result)
    }

    /// Reads exactly `buf.len()` bytes; `UnexpectedEof` if the stream ends first.
    pub(crate) async fn read_exact(&self, buf: &mut [u8]) -> io::Result<()> {
        let mut filled = 0;
        while filled < buf.len() {
            match self.read(&mut buf[filled..]).await? {
                0 => return Err(io::ErrorKind::UnexpectedEof.into()),
                n => filled += n,
            }
        }
        Ok(())
    }
}

/// The writing side of byte streams: TCP and Unix-domain streams, and the
/// write ends of pipes (mio implements `Write` for `&S`).
impl<S: mio::event::Source> IoHandle<S>
where
    for<'a> &'a S: Write,
{
    /// Writes some bytes; returns how many.
    pub(crate) async fn write(&self, buf: &[u8]) -> io::Result<usize> {
        let mut waiter = self.op_waiter(Direction::Write);
        poll_fn(|cx| self.poll_write_at(cx, buf, &mut waiter.slot)).await
    }

    /// Writes some bytes; a short write filled the send buffer, so the
    /// readiness is cleared (as for [`poll_read`](IoHandle::poll_read)).
    pub(crate) fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.with_poll_slot(Direction::Write, |slot| self.poll_write_at(cx, buf, slot))
    }

    fn poll_write_at(
        &self,
        cx: &mut Context<'_>,
        buf: &[u8],
        slot: &mut WaiterSlot,
    ) -> Poll<io::Result<usize>> {
        let asked = buf.len();
        let result =
            std::task::ready!(self.poll_op_at(Direction::Write, cx, slot, |mut s| s.write(buf)));
        self.clear_if_short(Direction::Write, &result, asked);
        Poll::Ready(result)
    }

    /// Writes all of `buf`; `WriteZero` if the socket takes nothing.
    pub(crate) async fn write_all(&self, mut buf: &[u8]) -> io::Result<()> {
        while !buf.is_empty() {
            match self.write(buf).await? {
                0 => return Err(io::ErrorKind::WriteZero.into()),
                n => buf = &buf[n..],
            }
        }
        Ok(())
    }

    /// Waits for a non-blocking `connect` to finish: it has when the socket
    /// turns writable, and then `SO_ERROR` (`take_error`) says whether it
    /// worked; a peer address that is not there yet means "still going".
    pub(crate) async fn connected<A>(
        &self,
        take_error: impl Fn(&S) -> io::Result<Option<io::Error>>,
        peer_addr: impl Fn(&S) -> io::Result<A>,
    ) -> io::Result<()> {
        self.op(Direction::Write, |s| {
            if let Some(e) = take_error(s)? {
                return Err(e);
            }
            match peer_addr(s) {
                Ok(_) => Ok(()),
                Err(e) if e.kind() == io::ErrorKind::NotConnected => {
                    Err(io::ErrorKind::WouldBlock.into())
                }
                Err(e) => Err(e),
            }
        })
        .await
    }
}

impl<S: mio::event::Source> Drop for IoHandle<S> {
    fn drop(&mut self) {
        // (Deregistering removes the entry with its waiter lists, the
        // handle's own places included.)
        if let Some(mut source) = self.source.take() {
            let _ = self.core.deregister(&mut source, self.key);
        }
    }
}
