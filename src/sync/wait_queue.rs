//! [`WaitQueue`]: the waiters of a queue, lock, semaphore or condition,
//! served in arrival order, each free to leave at any time.
//!
//! A waiter is a node of a doubly linked list threaded through a slab.
//! *Serving* the front waiter unlinks it and hands back its waker to wake;
//! the node itself stays, marked served, until its future takes it out.
//! So a future learns it was served even if it runs much later, and a
//! future dropped in between can tell: one dropped while still linked
//! simply leaves, one dropped after it was served passes on what it was
//! served (a permit, a claim on an item, a notification). The primitives
//! do that in their futures' `Drop`, which is what makes each of their
//! waits cancellation-safe and keeps the list from growing with abandoned
//! waits.
//!
//! Each node belongs to exactly one future, which removes it exactly once
//! (when it completes or is dropped), so a key is never stale and needs no
//! generation.
//!
//! Wakers come out of the list rather than being woken in it: the caller
//! wakes them after releasing its `RefCell` borrow ([`Wakes`]), since a
//! waker of another executor may run code that comes back to the same
//! primitive.

use std::task::Waker;

use slab::Slab;

use crate::task::StoredWaker;

/// No node (the end of the list).
const NIL: usize = usize::MAX;
/// The key of the node outside the slab (slab keys stay far below).
const SPARE: usize = usize::MAX - 1;

/// A waiter's place in a [`WaitQueue`]; owned by the one future that
/// waits, and given back to [`WaitQueue::remove`] exactly once.
#[derive(Debug)]
pub(crate) struct WaiterKey(usize);

/// One waiter.
struct Node<V> {
    prev: usize,
    next: usize,
    /// Taken off the list by [`WaitQueue::serve_front`]; the node waits
    /// for its future to remove it.
    served: bool,
    waker: Option<StoredWaker>,
    /// What the waiter brought or was given (a bounded queue's putter
    /// keeps its item here until it is served).
    value: Option<V>,
}

impl<V> Node<V> {
    /// The spare node while nobody uses it.
    fn blank() -> Node<V> {
        Node {
            prev: NIL,
            next: NIL,
            served: false,
            waker: None,
            value: None,
        }
    }
}

/// Waiters in arrival order (see the module docs).
pub(crate) struct WaitQueue<V> {
    /// One node kept outside the slab, at key [`SPARE`]: used whenever it
    /// is free, so a waiter alone (the common case: a consumer waiting on
    /// its queue, a task on its lock) costs no slab insertion or removal.
    /// It stays in place, filled and emptied field by field (no moves of
    /// the whole node in and out of an `Option`).
    spare: Node<V>,
    spare_in_use: bool,
    nodes: Slab<Node<V>>,
    head: usize,
    tail: usize,
    /// Linked (not yet served) waiters.
    waiting: usize,
}

impl<V> Default for WaitQueue<V> {
    fn default() -> WaitQueue<V> {
        WaitQueue {
            spare: Node::blank(),
            spare_in_use: false,
            nodes: Slab::new(),
            head: NIL,
            tail: NIL,
            waiting: 0,
        }
    }
}

/// A node taken out by [`WaitQueue::remove`].
pub(crate) struct Removed<V> {
    /// Whether the waiter had been served.
    pub(crate) served: bool,
    /// The value the node still held.
    pub(crate) value: Option<V>,
    /// Its waker, kept only so that it drops with this value, after the
    /// caller's borrow.
    _waker: Option<StoredWaker>,
}

impl<V> WaitQueue<V> {
    /// Waiters not yet served.
    #[inline]
    pub(crate) fn waiting(&self) -> usize {
        self.waiting
    }

    /// Nodes in the slab, served or not (their futures have not taken them
    /// out yet).
    #[cfg(test)]
    pub(crate) fn nodes(&self) -> usize {
        usize::from(self.spare_in_use) + self.nodes.len()
    }

    /// Adds a waiter at the back.
    #[inline]
    pub(crate) fn push_back(&mut self, waker: StoredWaker, value: Option<V>) -> WaiterKey {
        let key = if self.spare_in_use {
            self.nodes.insert(Node {
                prev: self.tail,
                next: NIL,
                served: false,
                waker: Some(waker),
                value,
            })
        } else {
            self.spare_in_use = true;
            let spare = &mut self.spare;
            spare.prev = self.tail;
            spare.next = NIL;
            spare.served = false;
            spare.waker = Some(waker);
            spare.value = value;
            SPARE
        };
        match self.tail {
            NIL => self.head = key,
            tail => self.node_mut(tail).next = key,
        }
        self.tail = key;
        self.waiting += 1;
        WaiterKey(key)
    }

    /// Whether the waiter was served.
    #[inline]
    pub(crate) fn is_served(&self, key: &WaiterKey) -> bool {
        self.node(key.0).served
    }

    /// Whether the waiter's stored waker would not wake the task `waker`
    /// wakes (so the future must store a clone of it).
    #[inline]
    pub(crate) fn needs_waker(&self, key: &WaiterKey, waker: &Waker) -> bool {
        !self
            .node(key.0)
            .waker
            .as_ref()
            .is_some_and(|w| w.will_wake(waker))
    }

    /// Stores `waker` for the waiter; returns the one it replaces, to drop
    /// after the caller's borrow.
    #[inline]
    pub(crate) fn set_waker(&mut self, key: &WaiterKey, waker: StoredWaker) -> Option<StoredWaker> {
        self.node_mut(key.0).waker.replace(waker)
    }

    /// Puts the future whose key is `key` in line (at the back, with
    /// `value`) if it is not yet, or refreshes its waker if it is. Returns
    /// a replaced waker, to drop after the caller's borrow.
    #[inline]
    pub(crate) fn wait(
        &mut self,
        key: &mut Option<WaiterKey>,
        waker: &mut WakerSource<'_>,
        value: impl FnOnce() -> Option<V>,
    ) -> Option<StoredWaker> {
        match key {
            None => {
                *key = Some(self.push_back(waker.take(), value()));
                None
            }
            Some(k) if self.needs_waker(k, waker.get()) => self.set_waker(k, waker.take()),
            Some(_) => None,
        }
    }

    /// Serves the front waiter: unlinks it and takes out its waker and its
    /// value. `None` if nobody waits.
    #[inline]
    pub(crate) fn serve_front(&mut self) -> Option<(StoredWaker, Option<V>)> {
        if self.head == NIL {
            return None;
        }
        let (waker, node) = self.serve_head();
        Some((waker, node.value.take()))
    }

    /// Serves the front waiter with `value` (left in its node for its
    /// future); returns its waker, or gives `value` back if nobody waits.
    #[inline]
    pub(crate) fn serve_front_with(&mut self, value: V) -> Result<StoredWaker, V> {
        if self.head == NIL {
            return Err(value);
        }
        let (waker, node) = self.serve_head();
        node.value = Some(value);
        Ok(waker)
    }

    /// Serves every waiter, leaving their values in their nodes; their
    /// wakers go to `wakes`.
    pub(crate) fn serve_all(&mut self, wakes: &mut Wakes) {
        while self.head != NIL {
            wakes.push(self.serve_head().0);
        }
    }

    /// The values of the served waiters whose futures have not taken them
    /// out yet, for the caller to take or leave.
    pub(crate) fn served_values(&mut self) -> impl Iterator<Item = &mut Option<V>> {
        let spare = self.spare_in_use.then_some(&mut self.spare);
        spare
            .into_iter()
            .chain(self.nodes.iter_mut().map(|(_, node)| node))
            .filter(|node| node.served)
            .map(|node| &mut node.value)
    }

    /// Unlinks the front waiter (there is one) and marks it served;
    /// returns its waker and its node, for the caller's value.
    #[inline]
    fn serve_head(&mut self) -> (StoredWaker, &mut Node<V>) {
        let key = self.head;
        self.unlink(key);
        let node = self.node_mut(key);
        node.served = true;
        let waker = node.waker.take().expect("a linked waiter has a waker");
        (waker, node)
    }

    /// Takes the waiter out, linked or served.
    #[inline]
    pub(crate) fn remove(&mut self, key: WaiterKey) -> Removed<V> {
        if !self.node(key.0).served {
            self.unlink(key.0);
        }
        match key.0 {
            SPARE => {
                self.spare_in_use = false;
                Removed {
                    served: self.spare.served,
                    value: self.spare.value.take(),
                    _waker: self.spare.waker.take(),
                }
            }
            key => {
                let node = self.nodes.remove(key);
                Removed {
                    served: node.served,
                    value: node.value,
                    _waker: node.waker,
                }
            }
        }
    }

    #[inline]
    fn node(&self, key: usize) -> &Node<V> {
        match key {
            SPARE => {
                debug_assert!(self.spare_in_use, "the spare node is in use");
                &self.spare
            }
            key => &self.nodes[key],
        }
    }

    #[inline]
    fn node_mut(&mut self, key: usize) -> &mut Node<V> {
        match key {
            SPARE => {
                debug_assert!(self.spare_in_use, "the spare node is in use");
                &mut self.spare
            }
            key => &mut self.nodes[key],
        }
    }

    #[inline]
    fn unlink(&mut self, key: usize) {
        let (prev, next) = (self.node(key).prev, self.node(key).next);
        match prev {
            NIL => self.head = next,
            prev => self.node_mut(prev).next = next,
        }
        match next {
            NIL => self.tail = prev,
            next => self.node_mut(next).prev = prev,
        }
        self.waiting -= 1;
    }
}

/// A waker to store, cloned without holding a borrow where that matters.
///
/// Made before the primitive's state is borrowed: a waker of another
/// executor is cloned right away (its clone may run code that comes back
/// to the primitive), evloop's own task waker only when it is needed (it
/// runs no foreign code, so it may happen under the borrow; a task of the
/// running loop is kept without an atomic count, see [`StoredWaker`]).
pub(crate) struct WakerSource<'a> {
    waker: &'a Waker,
    foreign: Option<StoredWaker>,
}

impl<'a> WakerSource<'a> {
    #[inline]
    pub(crate) fn new(waker: &'a Waker) -> WakerSource<'a> {
        let foreign =
            (!crate::task::is_task_waker(waker)).then(|| StoredWaker::Other(waker.clone()));
        WakerSource { waker, foreign }
    }

    /// The waker the future was polled with.
    #[inline]
    pub(crate) fn get(&self) -> &Waker {
        self.waker
    }

    /// The waker to store.
    #[inline]
    pub(crate) fn take(&mut self) -> StoredWaker {
        self.foreign
            .take()
            .unwrap_or_else(|| StoredWaker::new(self.waker))
    }
}

/// Wakers to wake once the caller's borrow is released. The first needs
/// no allocation (the common case: one waiter served); an empty `Vec`
/// allocates nothing either.
#[derive(Default)]
pub(crate) struct Wakes {
    first: Option<StoredWaker>,
    rest: Vec<StoredWaker>,
}

impl Wakes {
    #[inline]
    pub(crate) fn push(&mut self, waker: StoredWaker) {
        if self.first.is_none() {
            self.first = Some(waker);
        } else {
            self.rest.push(waker);
        }
    }

    /// Wakes them all, in the order they were pushed.
    #[inline(always)]
    pub(crate) fn wake(self) {
        let Some(first) = self.first else {
            return; // nothing pushed (`rest` fills only after `first`)
        };
        first.wake();
        if !self.rest.is_empty() {
            wake_all(self.rest);
        }
    }

    /// How many there are.
    #[cfg(test)]
    fn len(&self) -> usize {
        usize::from(self.first.is_some()) + self.rest.len()
    }
}

#[inline(never)]
fn wake_all(wakers: Vec<StoredWaker>) {
    wakers.into_iter().for_each(StoredWaker::wake);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noop() -> StoredWaker {
        StoredWaker::Other(Waker::noop().clone())
    }

    #[test]
    fn waiters_are_served_in_arrival_order_and_may_leave_from_anywhere() {
        let mut q = WaitQueue::default();
        let keys: Vec<_> = (0..5).map(|i| q.push_back(noop(), Some(i))).collect();
        let mut keys = keys.into_iter();
        let (k0, k1, k2) = (
            keys.next().unwrap(),
            keys.next().unwrap(),
            keys.next().unwrap(),
        );
        let (k3, k4) = (keys.next().unwrap(), keys.next().unwrap());
        assert!(!q.remove(k2).served);
        assert!(!q.remove(k4).served);
        assert_eq!(q.waiting(), 3);
        assert_eq!(q.serve_front().unwrap().1, Some(0));
        assert!(q.is_served(&k0));
        assert_eq!(q.serve_front().unwrap().1, Some(1));
        assert_eq!(q.serve_front().unwrap().1, Some(3));
        assert!(q.serve_front().is_none());
        for k in [k0, k1, k3] {
            let removed = q.remove(k);
            assert!(removed.served && removed.value.is_none());
        }
        assert_eq!(q.nodes(), 0);
        // The list works again after emptying.
        let k = q.push_back(noop(), Some(9));
        assert_eq!(q.serve_front().unwrap().1, Some(9));
        q.remove(k);
    }

    /// The node outside the slab is reused by whoever comes when it is
    /// free, wherever that puts it in the line: order is the links', not
    /// the keys'.
    #[test]
    fn the_spare_node_takes_its_place_in_line_like_any_other() {
        let mut q = WaitQueue::default();
        let a = q.push_back(noop(), Some('a')); // the spare
        let b = q.push_back(noop(), Some('b')); // the slab
        q.remove(a);
        let c = q.push_back(noop(), Some('c')); // the spare again, behind b
        let d = q.push_back(noop(), Some('d'));
        let order: Vec<_> = std::iter::from_fn(|| q.serve_front().map(|s| s.1.unwrap())).collect();
        assert_eq!(order, ['b', 'c', 'd']);
        for k in [b, c, d] {
            q.remove(k);
        }
        assert_eq!(q.nodes(), 0);
    }

    #[test]
    fn serve_all_leaves_the_values_for_their_owners() {
        let mut q = WaitQueue::default();
        let a = q.push_back(noop(), Some("a"));
        let b = q.push_back(noop(), Some("b"));
        let mut wakes = Wakes::default();
        q.serve_all(&mut wakes);
        assert_eq!(wakes.len(), 2);
        assert_eq!(q.waiting(), 0);
        assert_eq!(q.remove(b).value, Some("b"));
        assert_eq!(q.remove(a).value, Some("a"));
    }
}
