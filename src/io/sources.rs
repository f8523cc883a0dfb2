//! The registry of I/O sources: what phase 3 of an iteration dispatches to.
//!
//! Every mio source (a socket, a pipe, any raw fd) gets an entry in a slab,
//! and its mio `Token` is built from the slab key *and* a generation, so a
//! late event for a closed source never reaches the source that reused its
//! slot. The remote queue's waker uses `Token(usize::MAX)`, which no source
//! token can equal (keys stay below `u32::MAX`).
//!
//! # Readiness, and why no event is lost
//!
//! mio is edge-triggered: epoll reports a source once per transition to
//! ready, not while it stays ready. So each entry remembers its readiness,
//! and the rule is: **readiness is set by events, and cleared only when an
//! operation returns `WouldBlock`.** An operation is tried first; on
//! `WouldBlock` the bit is cleared and the task's waker is stored; the next
//! edge sets the bit and wakes the task, which tries again. Clearing and
//! registering happen on the loop thread with no event processing in
//! between (events are only dispatched in phase 3), so an edge can never
//! slip between the clear and the re-arm. Entries start out ready in both
//! directions: an operation on a new socket is tried at once, and a socket
//! that was already readable at registration is read without waiting for
//! an event.
//!
//! Each direction keeps a list of waiters, not one slot: two tasks may wait
//! on the same socket (a shared `UdpSocket`), and each is woken. A waiting
//! operation that is dropped (a `read` that timed out) takes its entry out
//! of the list (`sync::waiters`), so the lists never grow with abandoned
//! waits.

use std::cell::RefCell;
use std::rc::Rc;

use slab::Slab;

use crate::sync::waiters::WaiterList;
use crate::task::StoredWaker;

/// Readiness bits of a source.
pub(crate) mod ready {
    pub(crate) const READABLE: u8 = 1;
    pub(crate) const WRITABLE: u8 = 2;
    pub(crate) const READ_CLOSED: u8 = 4;
    pub(crate) const WRITE_CLOSED: u8 = 8;
    pub(crate) const ERROR: u8 = 16;
    /// What makes a read worth trying.
    pub(crate) const ANY_READ: u8 = READABLE | READ_CLOSED | ERROR;
    /// What makes a write worth trying.
    pub(crate) const ANY_WRITE: u8 = WRITABLE | WRITE_CLOSED | ERROR;
}

/// Which way an operation goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Direction {
    Read,
    Write,
}

impl Direction {
    fn mask(self) -> u8 {
        match self {
            Direction::Read => ready::ANY_READ,
            Direction::Write => ready::ANY_WRITE,
        }
    }
}

/// A level-triggered callback of `add_reader` / `add_writer`, with where
/// it was registered (what reports about it name).
#[derive(Clone)]
pub(crate) struct FdCallback {
    /// `FnMut` in a `RefCell`: at most one run of it is queued at a time
    /// (its fd is re-armed only after the run), and a run cannot start
    /// another (the loop refuses to run re-entrantly), so the borrow never
    /// meets another.
    pub(crate) f: Rc<RefCell<dyn FnMut()>>,
    pub(crate) at: &'static std::panic::Location<'static>,
}

/// A token is split in halves: the slab key below, the generation above
/// (32 + 32 bits on 64-bit targets, 16 + 16 on 32-bit ones). Keys stay
/// below `KEY_MASK`, so no token is `usize::MAX`, the waker's.
const KEY_BITS: u32 = usize::BITS / 2;
const KEY_MASK: usize = (1 << KEY_BITS) - 1;
const GEN_MASK: usize = KEY_MASK;

/// Identifies a registered source: slab key and generation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct IoKey {
    key: u32,
    generation: u32,
}

impl IoKey {
    pub(crate) fn token(self) -> mio::Token {
        mio::Token(((self.generation as usize & GEN_MASK) << KEY_BITS) | self.key as usize)
    }

    fn from_token(token: mio::Token) -> IoKey {
        IoKey {
            key: (token.0 & KEY_MASK) as u32,
            generation: ((token.0 >> KEY_BITS) & GEN_MASK) as u32,
        }
    }
}

struct Source {
    generation: u32,
    readiness: u8,
    readers: WaiterList,
    writers: WaiterList,
    on_readable: Option<FdCallback>,
    on_writable: Option<FdCallback>,
    /// The fd of an `add_reader` / `add_writer` entry (to re-arm it).
    raw_fd: Option<std::os::fd::RawFd>,
}

impl Source {
    fn waiters(&mut self, dir: Direction) -> &mut WaiterList {
        match dir {
            Direction::Read => &mut self.readers,
            Direction::Write => &mut self.writers,
        }
    }
}

/// What an event asks the loop to do, gathered under the borrow and
/// carried out after it is released.
#[derive(Default)]
pub(crate) struct Dispatch {
    pub(crate) wakers: Vec<StoredWaker>,
    pub(crate) callbacks: Vec<(IoKey, FdCallback)>,
}

/// The slab of registered sources.
#[derive(Default)]
pub(crate) struct Sources {
    slab: Slab<Source>,
    next_generation: u32,
}

impl Sources {
    /// A new entry, ready both ways.
    pub(crate) fn insert(&mut self) -> IoKey {
        self.next_generation = self.next_generation.wrapping_add(1);
        let generation = self.next_generation & GEN_MASK as u32;
        let key = self.slab.insert(Source {
            generation,
            readiness: ready::READABLE | ready::WRITABLE,
            readers: WaiterList::default(),
            writers: WaiterList::default(),
            on_readable: None,
            on_writable: None,
            raw_fd: None,
        });
        assert!(key < KEY_MASK, "evloop: too many I/O sources");
        IoKey {
            key: key as u32,
            generation,
        }
    }

    fn get(&mut self, key: IoKey) -> Option<&mut Source> {
        self.slab
            .get_mut(key.key as usize)
            .filter(|s| s.generation == key.generation)
    }

    /// Removes the entry; its wakers and callbacks are handed back to be
    /// dropped (or woken) outside the borrow.
    pub(crate) fn remove(&mut self, key: IoKey) -> Vec<StoredWaker> {
        let mut wakers = Vec::new();
        if self.get(key).is_some() {
            let mut source = self.slab.remove(key.key as usize);
            source.readers.take_all(&mut wakers);
            source.writers.take_all(&mut wakers);
        }
        wakers
    }

    /// The waiters of `dir`, if an operation in that direction must wait
    /// (the source is not ready); `None` if it is worth trying now. A
    /// removed source is always "ready": the operation itself then fails
    /// with the socket's error. (An `IoHandle` outlives its entry only when
    /// the loop closed, and `poll_op` refuses then.)
    pub(crate) fn waiters_if_not_ready(
        &mut self,
        key: IoKey,
        dir: Direction,
    ) -> Option<&mut WaiterList> {
        let source = self.get(key)?;
        if source.readiness & dir.mask() != 0 {
            return None;
        }
        Some(source.waiters(dir))
    }

    /// The waiters of `dir` of a registered source.
    pub(crate) fn waiters(&mut self, key: IoKey, dir: Direction) -> Option<&mut WaiterList> {
        Some(self.get(key)?.waiters(dir))
    }

    /// The operation returned `WouldBlock`: the source is not ready in `dir`
    /// until the next event. Every bit that made `dir` worth trying goes,
    /// the closed and error bits too: a pending error or a closed side makes
    /// the call return at once, so `WouldBlock` proves they are stale (an
    /// error already taken by an earlier call), and one left set would make
    /// `poll_op` retry forever without yielding.
    pub(crate) fn clear(&mut self, key: IoKey, dir: Direction) {
        if let Some(source) = self.get(key) {
            source.readiness &= !dir.mask();
        }
    }

    /// A short read (or write) drained the socket's buffer: the source is
    /// not readable (writable) until the next edge. Unlike `clear`, the closed and error bits stay: a FIN or an error
    /// that came with the last bytes raised no edge of its own to wait
    /// for, and the next call returns at once with it.
    pub(crate) fn clear_drained(&mut self, key: IoKey, dir: Direction) {
        if let Some(source) = self.get(key) {
            source.readiness &= !match dir {
                Direction::Read => ready::READABLE,
                Direction::Write => ready::WRITABLE,
            };
        }
    }

    /// Sets (or clears) the level-triggered callbacks of a raw fd entry.
    pub(crate) fn set_callback(
        &mut self,
        key: IoKey,
        dir: Direction,
        cb: Option<FdCallback>,
    ) -> Option<FdCallback> {
        let source = self.get(key)?;
        match dir {
            Direction::Read => std::mem::replace(&mut source.on_readable, cb),
            Direction::Write => std::mem::replace(&mut source.on_writable, cb),
        }
    }

    /// Remembers the raw fd of an `add_reader` / `add_writer` entry.
    pub(crate) fn set_raw_fd(&mut self, key: IoKey, fd: std::os::fd::RawFd) {
        if let Some(source) = self.get(key) {
            source.raw_fd = Some(fd);
        }
    }

    /// The raw fd of an `add_reader` / `add_writer` entry.
    pub(crate) fn raw_fd(&mut self, key: IoKey) -> Option<std::os::fd::RawFd> {
        self.get(key).and_then(|s| s.raw_fd)
    }

    /// Whether the entry has a callback in `dir`.
    pub(crate) fn has_callback(&mut self, key: IoKey, dir: Direction) -> bool {
        self.get(key).is_some_and(|s| match dir {
            Direction::Read => s.on_readable.is_some(),
            Direction::Write => s.on_writable.is_some(),
        })
    }

    /// Phase 3 for one event: record the readiness, collect what to wake
    /// and which callbacks to queue.
    pub(crate) fn dispatch(&mut self, event: &mio::event::Event, out: &mut Dispatch) {
        let key = IoKey::from_token(event.token());
        let Some(source) = self.get(key) else {
            return; // a late event for a closed source
        };
        let mut bits = 0;
        if event.is_readable() {
            bits |= ready::READABLE;
        }
        if event.is_writable() {
            bits |= ready::WRITABLE;
        }
        if event.is_read_closed() {
            bits |= ready::READ_CLOSED;
        }
        if event.is_write_closed() {
            bits |= ready::WRITE_CLOSED;
        }
        if event.is_error() {
            bits |= ready::ERROR;
        }
        source.readiness |= bits;
        if bits & ready::ANY_READ != 0 {
            source.readers.take_all(&mut out.wakers);
            if let Some(cb) = &source.on_readable {
                out.callbacks.push((key, cb.clone()));
            }
        }
        if bits & ready::ANY_WRITE != 0 {
            source.writers.take_all(&mut out.wakers);
            if let Some(cb) = &source.on_writable {
                out.callbacks.push((key, cb.clone()));
            }
        }
    }

    /// Takes every entry's wakers and callbacks out (teardown).
    pub(crate) fn drain(
        &mut self,
    ) -> Vec<(Vec<StoredWaker>, Option<FdCallback>, Option<FdCallback>)> {
        self.slab
            .drain()
            .map(|mut s| {
                let mut wakers = Vec::new();
                s.readers.take_all(&mut wakers);
                s.writers.take_all(&mut wakers);
                (wakers, s.on_readable, s.on_writable)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_carry_key_and_generation_and_never_hit_the_waker_token() {
        let mut s = Sources::default();
        let a = s.insert();
        assert_eq!(IoKey::from_token(a.token()), a);
        assert_ne!(a.token(), crate::core::WAKER_TOKEN);
        s.remove(a);
        let b = s.insert();
        assert_eq!(a.key, b.key, "the slot is reused");
        assert_ne!(a.token(), b.token(), "but the token differs");
        assert!(s.get(a).is_none(), "a stale key finds nothing");
    }

    #[test]
    fn readiness_is_cleared_only_by_would_block() {
        let mut s = Sources::default();
        let k = s.insert();
        assert!(
            s.waiters_if_not_ready(k, Direction::Read).is_none(),
            "new sources start ready"
        );
        s.clear(k, Direction::Read);
        assert!(s.waiters_if_not_ready(k, Direction::Read).is_some());
        assert!(
            s.waiters_if_not_ready(k, Direction::Write).is_none(),
            "directions are separate"
        );
    }

    #[test]
    fn would_block_clears_a_stale_error_too() {
        // A UDP socket's ICMP error: EPOLLERR is recorded, a `recv` takes the
        // error, the next `recv` gets `WouldBlock`, and must then wait.
        let mut s = Sources::default();
        let k = s.insert();
        s.get(k).unwrap().readiness |= ready::ERROR | ready::READ_CLOSED;
        s.clear(k, Direction::Read);
        assert!(s.waiters_if_not_ready(k, Direction::Read).is_some());
        assert!(
            s.waiters_if_not_ready(k, Direction::Write).is_none(),
            "still writable"
        );
    }
}
