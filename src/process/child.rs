//! [`Child`]: a running child process, its pipes, its exit status.

use std::fmt;
use std::future::poll_fn;
use std::io;
use std::process::{self, ExitStatus, Output};
use std::rc::Rc;
use std::task::{Context, Poll};

use super::pipe::{ChildStderr, ChildStdin, ChildStdout};
use super::reap::{self, ExitWatch};
use crate::core::Core;
use crate::io::sources::Direction;

/// A child process spawned by [`Command::spawn`](super::Command::spawn)
/// (asyncio's `Process`, tokio's `process::Child`).
///
/// The pipes asked for with `Stdio::piped()` are in the public fields, to
/// be taken out and used from other tasks. The exit status is learnt from
/// the child's pidfd, which the loop polls like a socket (see the
/// [module docs](super) for kernels without pidfds).
///
/// # Dropping
///
/// Dropping a `Child` does not kill the process (unless
/// [`kill_on_drop`](super::Command::kill_on_drop) was set) and does not
/// leave a zombie: a child not yet waited for is handed to the loop, which
/// reaps it when it exits (see the [module docs](super)).
///
/// A `Child` belongs to the loop thread that spawned it; it is not `Send`:
///
/// ```compile_fail
/// fn assert_send<T: Send>() {}
/// assert_send::<evloop::process::Child>();
/// ```
pub struct Child {
    /// The write end of the child's standard input, if it was piped.
    pub stdin: Option<ChildStdin>,
    /// The read end of the child's standard output, if it was piped.
    pub stdout: Option<ChildStdout>,
    /// The read end of the child's standard error, if it was piped.
    pub stderr: Option<ChildStderr>,
    /// std's handle: its `try_wait` is `waitpid(pid, WNOHANG)` for this
    /// child alone, and it keeps the status once reaped. `None` only while
    /// dropping (handed to the loop's orphans).
    std: Option<process::Child>,
    exit: ExitWatch,
    /// Set once the child was reaped: its pid may belong to another
    /// process from then on, so nothing is sent to it.
    status: Option<ExitStatus>,
    kill_on_drop: bool,
    core: Rc<Core>,
}

impl Child {
    /// Wraps a child std just spawned: starts watching its exit and
    /// registers its pipes with the loop. If a step fails, the child (which
    /// the caller never sees) is killed and left to the loop to reap.
    #[track_caller]
    pub(super) fn new(
        core: Rc<Core>,
        mut std: process::Child,
        kill_on_drop: bool,
    ) -> io::Result<Child> {
        let stdin = std.stdin.take();
        let stdout = std.stdout.take();
        let stderr = std.stderr.take();
        let mut child = Child {
            stdin: None,
            stdout: None,
            stderr: None,
            std: Some(std),
            exit: ExitWatch::Sigchld,
            status: None,
            kill_on_drop: true,
            core,
        };
        child.attach(stdin, stdout, stderr)?;
        child.kill_on_drop = kill_on_drop;
        Ok(child)
    }

    #[track_caller]
    fn attach(
        &mut self,
        stdin: Option<process::ChildStdin>,
        stdout: Option<process::ChildStdout>,
        stderr: Option<process::ChildStderr>,
    ) -> io::Result<()> {
        let pid = self.std().id();
        self.exit = reap::watch(&self.core, pid)?;
        self.stdin = stdin.map(ChildStdin::from_std).transpose()?;
        self.stdout = stdout.map(ChildStdout::from_std).transpose()?;
        self.stderr = stderr.map(ChildStderr::from_std).transpose()?;
        Ok(())
    }

    fn std(&mut self) -> &mut process::Child {
        self.std.as_mut().expect("present until dropped")
    }

    /// The child's process id, until it is reaped; `None` after (the id
    /// may then belong to another process).
    ///
    /// ```
    /// evloop::run(async {
    ///     let mut child = evloop::process::Command::new("true").spawn().unwrap();
    ///     assert!(child.id().is_some());
    ///     child.wait().await.unwrap();
    ///     assert_eq!(child.id(), None);
    /// })
    /// .unwrap();
    /// ```
    pub fn id(&self) -> Option<u32> {
        match self.status {
            Some(_) => None,
            None => self.std.as_ref().map(process::Child::id),
        }
    }

    /// Waits for the child to exit and returns its status (asyncio's
    /// `Process.wait`). Does not close the child's stdin: a child that
    /// reads its input until end of file needs `stdin` dropped (or
    /// [`ChildStdin::close`]d) first, or it never exits.
    ///
    /// Cancel-safe: if the future is dropped (a [`wait_for`](crate::wait_for)
    /// timing out), nothing is lost, and a later `wait` or
    /// [`try_wait`](Child::try_wait) gets the status. Once reaped, every
    /// call returns the same status at once.
    ///
    /// ```
    /// evloop::run(async {
    ///     let mut child = evloop::process::Command::shell("exit 3").spawn().unwrap();
    ///     assert_eq!(child.wait().await.unwrap().code(), Some(3));
    ///     assert_eq!(child.wait().await.unwrap().code(), Some(3));
    /// })
    /// .unwrap();
    /// ```
    pub async fn wait(&mut self) -> io::Result<ExitStatus> {
        if let Some(status) = self.status {
            return Ok(status);
        }
        let std = self.std.as_mut().expect("present until dropped");
        let status = match &self.exit {
            ExitWatch::PidFd(pidfd) => pidfd.op(Direction::Read, |_| reap::try_reap(std)).await?,
            ExitWatch::Sigchld => poll_fn(|cx| reap::poll_sigchld(&self.core, std, cx)).await?,
            ExitWatch::Reaped => unreachable!("a reaped child has a status"),
        };
        self.reaped(status);
        Ok(status)
    }

    /// The exit status if the child has exited (reaping it), `None` if it
    /// still runs; never waits.
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        if let Some(status) = self.status {
            return Ok(Some(status));
        }
        let status = self.std().try_wait()?;
        if let Some(status) = status {
            self.reaped(status);
        }
        Ok(status)
    }

    /// The child was reaped: its pidfd is closed at once (an fd a child
    /// no longer needs), and its status kept.
    fn reaped(&mut self, status: ExitStatus) {
        self.status = Some(status);
        self.exit = ExitWatch::Reaped;
    }

    /// Sends the signal `signum` (`libc::SIGUSR1`, ...) to the child
    /// (asyncio's `send_signal`).
    ///
    /// Sent through the child's pidfd, so it can only ever reach this
    /// child, never a process that reused its pid. Once the child is
    /// reaped (a `wait` returned), nothing is sent and the result is
    /// `Ok(())`; a child that exited but is not reaped yet takes the
    /// signal harmlessly. An invalid `signum` is `InvalidInput`
    /// (`EINVAL`).
    pub fn send_signal(&mut self, signum: i32) -> io::Result<()> {
        if self.status.is_some() {
            return Ok(());
        }
        let pid = self.std().id();
        let result = match &self.exit {
            ExitWatch::PidFd(pidfd) => pidfd.get_ref().send_signal(signum),
            // Not reaped yet, so the pid is still this child's.
            _ => crate::sys::process::kill(pid, signum),
        };
        match result {
            Err(e) if e.raw_os_error() == Some(libc::ESRCH) => Ok(()),
            result => result,
        }
    }

    /// Sends `SIGKILL` (asyncio's `kill`). Does not wait: follow with
    /// [`wait`](Child::wait) for the status (tokio's `kill` does both;
    /// this is its `start_kill`). Harmless once the child was reaped (see
    /// [`send_signal`](Child::send_signal)).
    ///
    /// ```
    /// use std::os::unix::process::ExitStatusExt;
    /// evloop::run(async {
    ///     let mut child = evloop::process::Command::new("sleep").arg("60").spawn().unwrap();
    ///     child.kill().unwrap();
    ///     assert_eq!(child.wait().await.unwrap().signal(), Some(libc::SIGKILL));
    ///     child.kill().unwrap(); // reaped: nothing is sent
    /// })
    /// .unwrap();
    /// ```
    pub fn kill(&mut self) -> io::Result<()> {
        self.send_signal(libc::SIGKILL)
    }

    /// Sends `SIGTERM` (asyncio's `terminate`), without waiting; see
    /// [`kill`](Child::kill).
    pub fn terminate(&mut self) -> io::Result<()> {
        self.send_signal(libc::SIGTERM)
    }

    /// Closes stdin, reads stdout and stderr to their end, and waits for
    /// the child (tokio's `wait_with_output`): [`communicate`](Child::communicate)
    /// with no input.
    pub async fn output(&mut self) -> io::Result<Output> {
        self.communicate(Vec::new()).await
    }

    /// Writes `input` to the child's stdin and closes it, while reading
    /// stdout and stderr to their end, then waits for the child (asyncio's
    /// `communicate`). The three go on together, so a child that writes
    /// more than a pipe holds before reading its input cannot deadlock
    /// with this side. The pipes are taken out of the `Child`: the
    /// `Output` holds what came from those that were piped (empty for
    /// the others); `input` is dropped unread if stdin was not piped.
    ///
    /// A child that exits (or closes its stdin) before taking all the
    /// input is not an error: the rest is dropped, as asyncio does.
    ///
    /// Not cancel-safe: if the future is dropped, the input not yet
    /// written and the output read so far are lost (and the pipes closed);
    /// the status is not, and [`wait`](Child::wait) still gets it.
    ///
    /// ```
    /// use evloop::process::{Command, Stdio};
    /// evloop::run(async {
    ///     let mut child = Command::new("tr")
    ///         .args(["a-z", "A-Z"])
    ///         .stdin(Stdio::piped())
    ///         .stdout(Stdio::piped())
    ///         .spawn()
    ///         .unwrap();
    ///     let out = child.communicate(b"hello".to_vec()).await.unwrap();
    ///     assert_eq!(out.stdout, b"HELLO");
    ///     assert!(out.status.success());
    /// })
    /// .unwrap();
    /// ```
    pub async fn communicate(&mut self, input: Vec<u8>) -> io::Result<Output> {
        let mut feed = Feed {
            stdin: self.stdin.take(),
            input,
            written: 0,
        };
        let mut stdout = Drain::new(self.stdout.take());
        let mut stderr = Drain::new(self.stderr.take());
        poll_fn(|cx| {
            // Each is polled every time, so each has its waker stored.
            let fed = feed.poll(cx)?;
            let out = stdout.poll(cx)?;
            let err = stderr.poll(cx)?;
            if fed.is_ready() && out.is_ready() && err.is_ready() {
                Poll::Ready(Ok::<(), io::Error>(()))
            } else {
                Poll::Pending
            }
        })
        .await?;
        let status = self.wait().await?;
        Ok(Output {
            status,
            stdout: stdout.buf,
            stderr: stderr.buf,
        })
    }
}

/// `communicate`'s writing side: `input` into `stdin`, which is closed
/// (dropped) once everything is written.
struct Feed {
    stdin: Option<ChildStdin>,
    input: Vec<u8>,
    written: usize,
}

impl Feed {
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some(stdin) = &self.stdin {
            if self.written == self.input.len() {
                self.stdin = None; // end of file for the child
                break;
            }
            match stdin.poll_write_pipe(cx, &self.input[self.written..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => self.written += n,
                // The child stopped reading (asyncio ignores these too).
                Poll::Ready(Err(e))
                    if matches!(
                        e.kind(),
                        io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
                    ) =>
                {
                    self.stdin = None;
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(Ok(()))
    }
}

/// `communicate`'s reading side for one pipe: everything until end of
/// file, into `buf`.
struct Drain<R> {
    pipe: Option<R>,
    buf: Vec<u8>,
}

impl<R: ReadToEnd> Drain<R> {
    fn new(pipe: Option<R>) -> Drain<R> {
        Drain {
            pipe,
            buf: Vec::new(),
        }
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let Some(pipe) = &self.pipe else {
            return Poll::Ready(Ok(()));
        };
        std::task::ready!(pipe.poll_read_to_end(cx, &mut self.buf))?;
        self.pipe = None; // at end of file: closed, and never polled again
        Poll::Ready(Ok(()))
    }
}

/// The two read ends, for [`Drain`].
trait ReadToEnd {
    fn poll_read_to_end(&self, cx: &mut Context<'_>, buf: &mut Vec<u8>) -> Poll<io::Result<()>>;
}

impl ReadToEnd for ChildStdout {
    fn poll_read_to_end(&self, cx: &mut Context<'_>, buf: &mut Vec<u8>) -> Poll<io::Result<()>> {
        ChildStdout::poll_read_to_end(self, cx, buf)
    }
}

impl ReadToEnd for ChildStderr {
    fn poll_read_to_end(&self, cx: &mut Context<'_>, buf: &mut Vec<u8>) -> Poll<io::Result<()>> {
        ChildStderr::poll_read_to_end(self, cx, buf)
    }
}

impl Drop for Child {
    /// Kills the child if `kill_on_drop` asked for it, then hands it, if
    /// not reaped yet, to the loop (`reap::adopt`).
    fn drop(&mut self) {
        if self.status.is_some() || self.std.is_none() {
            return;
        }
        if self.kill_on_drop {
            let _ = self.kill();
        }
        let std = self.std.take().expect("checked above");
        let pidfd = match std::mem::replace(&mut self.exit, ExitWatch::Reaped) {
            ExitWatch::PidFd(io) => io.into_inner().ok(),
            _ => None,
        };
        reap::adopt(&self.core, std, pidfd);
    }
}

impl fmt::Debug for Child {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Child")
            .field("id", &self.id())
            .field("status", &self.status)
            .field("stdin", &self.stdin)
            .field("stdout", &self.stdout)
            .field("stderr", &self.stderr)
            .finish()
    }
}
