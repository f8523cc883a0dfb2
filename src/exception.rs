//! What the loop's exception handler receives (asyncio's exception context).

use std::any::Any;
use std::fmt;
use std::panic::Location;

use crate::error::panic_message;

/// What a report to the exception handler is about: the work that
/// panicked, or the kind of health report (see [`is_panic`](ExceptionSource::is_panic)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExceptionSource {
    /// A callback from `call_soon`, `call_later`, `call_at` or `call_soon_threadsafe`.
    Callback,
    /// A task that nobody awaited (detached, or its handle dropped unread).
    Task,
    /// The `Drop` of a future that the loop dropped (cancel or close).
    Drop,
    /// The `wake` of a waker from another executor, called by the loop.
    Waker,
    /// Not a panic: a callback held the loop for the slow-callback
    /// threshold or longer
    /// ([`Builder::slow_callback_duration`](crate::Builder::slow_callback_duration));
    /// the message says how long.
    SlowCallback,
    /// Not a panic: one poll of a task held the loop for the threshold or
    /// longer; the location is where the task was spawned.
    SlowTask,
    /// Not a panic: the loop went the threshold or longer without polling
    /// for I/O although no single item was slow (many items in a row).
    LoopLag,
    /// Debug mode: a task was still pending when the loop closed, and was
    /// destroyed (asyncio's "Task was destroyed but it is pending!").
    PendingTaskDestroyed,
}

impl ExceptionSource {
    /// Whether this is a panic (`Callback`, `Task`, `Drop`, `Waker`), as
    /// opposed to a report on the loop's health (slow items, lag, pending
    /// tasks destroyed), whose payload is the report's message.
    ///
    /// ```
    /// use evloop::ExceptionSource;
    /// assert!(ExceptionSource::Callback.is_panic());
    /// assert!(!ExceptionSource::SlowCallback.is_panic());
    /// ```
    pub fn is_panic(self) -> bool {
        matches!(
            self,
            ExceptionSource::Callback
                | ExceptionSource::Task
                | ExceptionSource::Drop
                | ExceptionSource::Waker
        )
    }
}

/// A panic that escaped to the loop, or a report about the loop's health
/// (a slow callback, loop lag, a pending task destroyed), as given to the
/// exception handler set with
/// [`EventLoop::set_exception_handler`](crate::EventLoop::set_exception_handler).
/// For reports, the payload is the message (a `String`).
pub struct Exception<'a> {
    source: ExceptionSource,
    location: &'static Location<'static>,
    payload: &'a (dyn Any + Send),
}

impl<'a> Exception<'a> {
    pub(crate) fn new(
        source: ExceptionSource,
        location: &'static Location<'static>,
        payload: &'a (dyn Any + Send),
    ) -> Exception<'a> {
        Exception {
            source,
            location,
            payload,
        }
    }

    /// What kind of work panicked, or what kind of report this is.
    pub fn source(&self) -> ExceptionSource {
        self.source
    }

    /// Where that work was scheduled or spawned.
    pub fn location(&self) -> &'static Location<'static> {
        self.location
    }

    /// The panic message, if the payload is a string.
    pub fn message(&self) -> Option<&str> {
        panic_message(self.payload)
    }

    /// The raw panic payload.
    pub fn payload(&self) -> &(dyn Any + Send) {
        self.payload
    }
}

impl fmt::Display for Exception<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.source {
            ExceptionSource::Callback => "exception in callback scheduled",
            ExceptionSource::Task => "exception in task spawned",
            ExceptionSource::Drop => "exception while dropping a future spawned",
            ExceptionSource::Waker => "exception in a foreign waker, woken by the loop",
            ExceptionSource::SlowCallback => "slow callback scheduled",
            ExceptionSource::SlowTask => "slow task spawned",
            ExceptionSource::LoopLag => "loop lag",
            ExceptionSource::PendingTaskDestroyed => "task destroyed but it was pending, spawned",
        };
        write!(f, "{what} at {}: ", self.location)?;
        f.write_str(self.message().unwrap_or("Box<dyn Any>"))
    }
}

impl fmt::Debug for Exception<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Exception")
            .field("source", &self.source)
            .field("location", &self.location)
            .field("message", &self.message())
            .finish()
    }
}

/// The default handler: one line on stderr, as asyncio logs
/// "Exception in callback …".
/// Never panics: `eprintln!` would on a closed stderr (`prog 2>&1 | head`),
/// and a panic inside the loop's bookkeeping must not unwind.
pub(crate) fn print_default(e: &Exception<'_>) {
    print_line(format_args!("evloop: {e}"));
}

/// One line on stderr, ignoring write errors.
pub(crate) fn print_line(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{args}");
}

/// Drops a panic payload that nobody will read, without letting a panic
/// from its `Drop` unwind through the loop or a worker thread (or abort the
/// process, during teardown). That panic's own payload is dropped the same
/// way: usually a plain message, it goes; a chain of payloads that all
/// panic when dropped is cut after a few links and leaked.
pub(crate) fn drop_payload(mut payload: Box<dyn Any + Send>) {
    for _ in 0..4 {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(payload))) {
            Ok(()) => return,
            Err(next) => payload = next,
        }
    }
    std::mem::forget(payload);
}
