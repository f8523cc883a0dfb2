//! I/O readiness: the registry of mio sources (`sources`), the handle that
//! async sockets wrap their mio source in ([`IoHandle`]), and asyncio's raw
//! fd API (`add_reader` / `add_writer`, on [`EventLoop`](crate::EventLoop)).

mod registry;
pub(crate) mod signal;
pub(crate) mod sources;

use std::future::poll_fn;
use std::io;
use std::rc::Rc;
use std::task::{Context, Poll};

use crate::core::Core;
use sources::{Direction, IoKey};

/// A mio source registered with the running loop, with its readiness.
/// Deregistered when dropped.
pub(crate) struct IoHandle<S: mio::event::Source> {
    source: Option<S>,
    key: IoKey,
    core: Rc<Core>,
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
        let core = crate::context::expect_current(what);
        let interest = mio::Interest::READABLE | mio::Interest::WRITABLE;
        let key = core.register(&mut source, interest)?;
        Ok(IoHandle {
            source: Some(source),
            key,
            core,
        })
    }

    pub(crate) fn get_ref(&self) -> &S {
        self.source.as_ref().expect("present until into_inner")
    }

    /// Tries `op` when the source may be ready in `dir`; on `WouldBlock`
    /// clears the readiness and waits for the next event.
    pub(crate) fn poll_op<R>(
        &self,
        dir: Direction,
        cx: &mut Context<'_>,
        mut op: impl FnMut(&S) -> io::Result<R>,
    ) -> Poll<io::Result<R>> {
        loop {
            if self.core.poll_io_ready(self.key, dir, cx).is_pending() {
                return Poll::Pending;
            }
            match op(self.get_ref()) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.core.clear_io_ready(self.key, dir);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                result => return Poll::Ready(result),
            }
        }
    }

    /// `poll_op` as an `async fn`.
    pub(crate) async fn op<R>(
        &self,
        dir: Direction,
        mut op: impl FnMut(&S) -> io::Result<R>,
    ) -> io::Result<R> {
        poll_fn(|cx| self.poll_op(dir, cx, &mut op)).await
    }

    /// Deregisters and hands the mio source back.
    pub(crate) fn into_inner(mut self) -> io::Result<S> {
        let mut source = self.source.take().expect("present until into_inner");
        self.core.deregister(&mut source, self.key)?;
        Ok(source)
    }
}

impl<S: mio::event::Source> Drop for IoHandle<S> {
    fn drop(&mut self) {
        if let Some(mut source) = self.source.take() {
            let _ = self.core.deregister(&mut source, self.key);
        }
    }
}
