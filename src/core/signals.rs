//! The loop's signal state — its self-pipe and the callbacks per signal —
//! and its teardown. Adding and removing handlers, and reading the pipe,
//! is `io::signal`'s; the process-wide side is `sys::signal`'s.

use std::collections::HashMap;
use std::fs::File;
use std::os::fd::{AsRawFd, OwnedFd};
use std::panic::Location;
use std::rc::Rc;

use super::Core;
use crate::sys::signal;

/// A loop's signal state: its self-pipe (made on first use) and callbacks.
#[derive(Default)]
pub(crate) struct Signals {
    /// The read end (a `File`, so that `&File: Read` reads it) and the write end.
    pub(crate) pipe: Option<(File, OwnedFd)>,
    pub(crate) handlers: HashMap<libc::c_int, Watched>,
}

/// One watched signal: its callback, and the loop's slot in the signal's
/// row of the process-wide table (to acknowledge a wake byte).
pub(crate) struct Watched {
    pub(crate) callback: Rc<dyn Fn()>,
    pub(crate) slot: usize,
}

impl Core {
    /// Teardown: stop watching every signal (restoring the dispositions),
    /// then drop the callbacks, each under the teardown's panic isolation,
    /// then close the pipe (no signal handler can still be writing to it:
    /// `unwatch` waited for them).
    pub(super) fn close_signals(&self, at: &'static Location<'static>) {
        let state = std::mem::take(&mut *self.signals.borrow_mut());
        if let Some((_, write)) = &state.pipe {
            for signum in state.handlers.keys() {
                let _ = signal::unwatch(*signum, write.as_raw_fd());
            }
        }
        for (_, watched) in state.handlers {
            self.drop_isolated(watched.callback, at);
        }
        drop(state.pipe);
    }
}
