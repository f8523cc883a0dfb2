//! [`SendRef`]: a `Send` token for a value that stays on its loop's thread.
//!
//! The value itself never leaves the loop: it is registered with the loop
//! (beside the `LoopFuture`s of threadsafe setters) and a token holds only
//! its id and a [`LoopHandle`]. Dereferencing looks the id up in the
//! running loop, so it works only on that loop's thread; the last token to
//! go sends a job that takes the value out and drops it there, and `close`
//! drops whatever is still registered. No `unsafe` is needed: nothing
//! `!Send` ever crosses a thread.

use std::fmt;
use std::marker::PhantomData;
use std::rc::Rc;
use std::sync::Arc;

use crate::core::{Core, LoopValueId};
use crate::error::LoopClosed;
use crate::event_loop::EventLoop;
use crate::loop_handle::LoopHandle;

/// A `Send + Sync + Clone` token for an `Rc<T>` that lives on one loop's
/// thread, made by [`EventLoop::send_ref`].
///
/// Other threads hold and clone it, and reach the value through
/// [`LoopHandle::call_soon_threadsafe_with`], which runs a closure with
/// `&T` on the loop thread; on that thread [`get`](SendRef::get) gives the
/// `Rc<T>` back. This is how a threadsafe callback reaches `!Send` loop
/// state without a `thread_local!`. The value is dropped on the loop
/// thread: when the last token is gone (in a later iteration), or when the
/// loop closes, whichever comes first.
///
/// ```
/// use std::cell::RefCell;
/// use std::rc::Rc;
/// let lp = evloop::EventLoop::new();
/// let seen = Rc::new(RefCell::new(Vec::new())); // `!Send` loop state
/// let token = lp.send_ref(seen.clone());
/// let handle = lp.handle();
/// std::thread::spawn(move || {
///     for n in 0..3 {
///         handle
///             .call_soon_threadsafe_with(&token, move |seen| seen.borrow_mut().push(n))
///             .unwrap();
///     }
///     handle.stop().unwrap();
/// });
/// lp.run_forever().unwrap();
/// assert_eq!(*seen.borrow(), [0, 1, 2]);
/// ```
pub struct SendRef<T: 'static> {
    token: Arc<Token>,
    /// Which value type the id stands for; `fn() -> T` keeps the token
    /// `Send + Sync` whatever `T` is (no `T` is ever held).
    _value: PhantomData<fn() -> T>,
}

/// What the clones of one [`SendRef`] share.
struct Token {
    id: LoopValueId,
    handle: LoopHandle,
}

impl Drop for Token {
    /// The last token is gone: the value is taken out and dropped on its
    /// loop's thread. After close the job is refused, and the value was
    /// dropped by `close` already.
    fn drop(&mut self) {
        let id = self.id;
        let _ = self.handle.call_soon_threadsafe(move || {
            if let Some(core) = crate::core::current() {
                drop(core.take_value(id));
            }
        });
    }
}

impl EventLoop {
    /// Registers `value` with this loop and returns a `Send` token for it
    /// (see [`SendRef`]).
    pub fn send_ref<T: 'static>(&self, value: Rc<T>) -> SendRef<T> {
        SendRef {
            token: Arc::new(Token {
                id: self.core().register_value(Box::new(value)),
                handle: self.handle(),
            }),
            _value: PhantomData,
        }
    }
}

impl<T: 'static> SendRef<T> {
    /// The value, from inside its running loop (a task or callback on it).
    ///
    /// # Panics
    ///
    /// Elsewhere: on another thread, in another loop, or when its loop is
    /// not running (use [`get_on`](SendRef::get_on) there).
    #[track_caller]
    pub fn get(&self) -> Rc<T> {
        let core = crate::core::current()
            .filter(|core| self.is_of(core))
            .expect("SendRef::get: not inside the running loop the value belongs to");
        core.shared_value(self.token.id)
            .expect("a registered value stays while a token exists and the loop is open")
    }

    /// The value, if `lp` is its loop and has not been closed (its values
    /// are dropped at close).
    pub fn get_on(&self, lp: &EventLoop) -> Option<Rc<T>> {
        let core = lp.core();
        if !self.is_of(core) {
            return None;
        }
        core.shared_value(self.token.id)
    }

    /// A handle to the value's loop.
    pub fn handle(&self) -> &LoopHandle {
        &self.token.handle
    }

    fn is_of(&self, core: &Core) -> bool {
        Arc::ptr_eq(self.token.handle.remote(), core.shared())
    }
}

impl<T: 'static> Clone for SendRef<T> {
    fn clone(&self) -> SendRef<T> {
        SendRef {
            token: self.token.clone(),
            _value: PhantomData,
        }
    }
}

impl<T: 'static> fmt::Debug for SendRef<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SendRef")
            .field("type", &std::any::type_name::<T>())
            .finish_non_exhaustive()
    }
}

impl LoopHandle {
    /// Runs `f` with the value `token` stands for, on the loop thread, in a
    /// later iteration (as [`call_soon_threadsafe`](Self::call_soon_threadsafe)
    /// does). The job holds a clone of the token, so the value lives at
    /// least until it ran.
    ///
    /// # Panics
    ///
    /// If `token` belongs to another loop.
    #[track_caller]
    pub fn call_soon_threadsafe_with<T, F>(
        &self,
        token: &SendRef<T>,
        f: F,
    ) -> Result<(), LoopClosed>
    where
        T: 'static,
        F: FnOnce(&T) + Send + 'static,
    {
        assert!(
            Arc::ptr_eq(token.token.handle.remote(), self.remote()),
            "LoopHandle::call_soon_threadsafe_with: the token belongs to another loop"
        );
        let token = token.clone();
        self.call_soon_threadsafe(move || f(&token.get()))
    }
}
