//! Child processes on the loop (asyncio's `create_subprocess_exec` and
//! `create_subprocess_shell`; tokio's `process`).
//!
//! [`Command`] is std's builder ([`std::process::Command`], wrapped) with
//! [`Command::shell`] for `/bin/sh -c` and [`kill_on_drop`](Command::kill_on_drop);
//! [`spawn`](Command::spawn) gives a [`Child`] whose piped standard streams
//! ([`ChildStdin`], [`ChildStdout`], [`ChildStderr`]) are non-blocking pipe
//! ends on the loop, usable with [`StreamReader`](crate::net::StreamReader)
//! and [`StreamWriter`](crate::net::StreamWriter) (and `futures-io`'s
//! traits, with that feature).
//!
//! ```
//! use evloop::net::StreamReader;
//! use evloop::process::{Command, Stdio};
//! evloop::run(async {
//!     let mut child = Command::shell("echo hi | tr a-z A-Z")
//!         .stdout(Stdio::piped())
//!         .spawn()
//!         .unwrap();
//!     let mut out = StreamReader::new(child.stdout.take().unwrap());
//!     assert_eq!(out.read_line().await.unwrap(), b"HI\n");
//!     assert!(child.wait().await.unwrap().success());
//! })
//! .unwrap();
//! ```
//!
//! # Waiting, and why it cannot take another process's status
//!
//! Each child gets a pidfd (`pidfd_open`, Linux 5.3+), registered with the
//! loop like a socket: it turns readable when the child exits, and the
//! wait that follows is `waitpid` for that child's pid alone. A child's pid
//! cannot be recycled before it is waited for, and evloop never calls
//! `waitpid(-1)`, which would take the statuses of other code's children.
//! Signals ([`Child::send_signal`]) go through the pidfd too, so they
//! cannot reach a process that reused the pid; once the child is reaped,
//! nothing is sent at all.
//!
//! Where the kernel has no pidfds (`ENOSYS` or `EPERM` from
//! `pidfd_open`), the loop watches `SIGCHLD` through its signal machinery
//! ([`EventLoop::add_signal_handler`](crate::EventLoop::add_signal_handler)'s
//! self-pipe) and each `SIGCHLD` makes every waiting child try
//! `waitpid(pid, WNOHANG)` for itself. On that path the loop's own
//! `SIGCHLD` callback is taken by evloop: do not install another one with
//! `add_signal_handler` on a loop that spawns children. (Setting the
//! environment variable `EVLOOP_PROCESS_NO_PIDFD` before the first spawn
//! forces this path, for testing it where pidfds exist.)
//!
//! # Children nobody waits for
//!
//! A [`Child`] dropped before its child was reaped is not killed (unless
//! [`kill_on_drop`](Command::kill_on_drop) was set, as in tokio) and does
//! not become a zombie: the loop keeps it on an orphan list and reaps it
//! when its pidfd turns readable (or at the next `SIGCHLD`), on a later
//! iteration.
//!
//! At [`close`](crate::EventLoop::close), children that are still running
//! are not killed either. The loop makes one last non-blocking wait for
//! each orphan; those still running are handed to one "evloop-reaper"
//! thread, which waits for them in turn (blocking `waitpid` for each pid)
//! and ends with the last. So no child stays a zombie once it exits, even
//! after its loop is gone; the price is a thread while such children run,
//! started only when some do. A `Child` handle dropped after its loop was
//! closed goes the same way. (tokio instead keeps orphans in a process-wide
//! queue reaped on `SIGCHLD` by whichever runtime still runs, and they
//! stay zombies if none does.)
//!
//! Not guaranteed: a child that another part of the program reaps first
//! (a `waitpid(-1)` elsewhere, or `SIGCHLD` set to `SIG_IGN`) makes
//! [`Child::wait`] fail with `ECHILD`; nothing can get that status back.
//!
//! # Implementation notes
//!
//! [`spawn`](Command::spawn) is synchronous, as asyncio's and tokio's are:
//! std forks (or `posix_spawn`s) and execs on the loop thread, and an exec
//! failure comes back as `spawn`'s `io::Error`.

mod child;
mod pipe;
mod reap;

use std::ffi::OsStr;
use std::fmt;
use std::future::Future;
use std::io;
use std::path::Path;

pub use child::Child;
pub use pipe::{ChildStderr, ChildStdin, ChildStdout};
/// std's types, used as they are (re-exported for convenience).
pub use std::process::{ExitStatus, Output, Stdio};

/// A builder for child processes: std's [`std::process::Command`], whose
/// [`spawn`](Command::spawn) gives a [`Child`] on the running loop.
///
/// Defaults are std's: the child inherits the environment, the working
/// directory and the three standard streams, except with
/// [`output`](Command::output), which pipes stdout and stderr and gives
/// stdin `/dev/null` unless told otherwise. Settings not mirrored here
/// (`uid`, `process_group`, `pre_exec`, ...) are on the std builder:
/// [`as_std_mut`](Command::as_std_mut) and
/// `std::os::unix::process::CommandExt`.
///
/// ```
/// use evloop::process::{Command, Stdio};
/// evloop::run(async {
///     let out = Command::new("sh")
///         .args(["-c", "echo $GREETING"])
///         .env("GREETING", "hello")
///         .stdout(Stdio::piped())
///         .output()
///         .await
///         .unwrap();
///     assert_eq!(out.stdout, b"hello\n");
/// })
/// .unwrap();
/// ```
pub struct Command {
    std: std::process::Command,
    kill_on_drop: bool,
    /// Which of stdin, stdout and stderr the caller set (`output` leaves
    /// those alone).
    stdio_set: [bool; 3],
}

impl Command {
    /// A command that runs `program` (found in `PATH` if it has no `/`),
    /// with no arguments (asyncio's `create_subprocess_exec`).
    pub fn new<S: AsRef<OsStr>>(program: S) -> Command {
        Command::from(std::process::Command::new(program))
    }

    /// A command that runs `command` with `/bin/sh -c` (asyncio's
    /// `create_subprocess_shell`): pipes, redirections and variables work,
    /// and quoting whatever goes into `command` is the caller's job.
    ///
    /// ```
    /// evloop::run(async {
    ///     let out = evloop::process::Command::shell("echo hi | tr a-z A-Z")
    ///         .output()
    ///         .await
    ///         .unwrap();
    ///     assert_eq!(out.stdout, b"HI\n");
    /// })
    /// .unwrap();
    /// ```
    pub fn shell<S: AsRef<OsStr>>(command: S) -> Command {
        let mut cmd = Command::new("/bin/sh");
        cmd.arg("-c").arg(command);
        cmd
    }

    /// Adds an argument.
    pub fn arg<S: AsRef<OsStr>>(&mut self, arg: S) -> &mut Command {
        self.std.arg(arg);
        self
    }

    /// Adds arguments.
    pub fn args<I, S>(&mut self, args: I) -> &mut Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.std.args(args);
        self
    }

    /// Sets an environment variable for the child.
    pub fn env<K: AsRef<OsStr>, V: AsRef<OsStr>>(&mut self, key: K, value: V) -> &mut Command {
        self.std.env(key, value);
        self
    }

    /// Sets environment variables for the child.
    pub fn envs<I, K, V>(&mut self, vars: I) -> &mut Command
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        self.std.envs(vars);
        self
    }

    /// Removes an environment variable from the child's environment.
    pub fn env_remove<K: AsRef<OsStr>>(&mut self, key: K) -> &mut Command {
        self.std.env_remove(key);
        self
    }

    /// Gives the child an empty environment (plus what `env` adds after).
    pub fn env_clear(&mut self) -> &mut Command {
        self.std.env_clear();
        self
    }

    /// Sets the child's working directory.
    pub fn current_dir<P: AsRef<Path>>(&mut self, dir: P) -> &mut Command {
        self.std.current_dir(dir);
        self
    }

    /// The child's standard input: `Stdio::piped()` for a
    /// [`ChildStdin`] in [`Child::stdin`], `Stdio::null()`, or
    /// `Stdio::inherit()` (the default, except for `output`).
    pub fn stdin<T: Into<Stdio>>(&mut self, cfg: T) -> &mut Command {
        self.std.stdin(cfg);
        self.stdio_set[0] = true;
        self
    }

    /// The child's standard output: `Stdio::piped()` for a
    /// [`ChildStdout`] in [`Child::stdout`], `Stdio::null()`, or
    /// `Stdio::inherit()` (the default, except for `output`).
    pub fn stdout<T: Into<Stdio>>(&mut self, cfg: T) -> &mut Command {
        self.std.stdout(cfg);
        self.stdio_set[1] = true;
        self
    }

    /// The child's standard error: `Stdio::piped()` for a
    /// [`ChildStderr`] in [`Child::stderr`], `Stdio::null()`, or
    /// `Stdio::inherit()` (the default, except for `output`).
    pub fn stderr<T: Into<Stdio>>(&mut self, cfg: T) -> &mut Command {
        self.std.stderr(cfg);
        self.stdio_set[2] = true;
        self
    }

    /// Whether dropping the [`Child`] before it was reaped sends it
    /// `SIGKILL` (off by default, as in tokio: a dropped child runs on,
    /// and is reaped by the loop when it exits; see the module docs).
    ///
    /// ```
    /// evloop::run(async {
    ///     let child = evloop::process::Command::new("sleep")
    ///         .arg("60")
    ///         .kill_on_drop(true)
    ///         .spawn()
    ///         .unwrap();
    ///     drop(child); // killed, and reaped by the loop
    /// })
    /// .unwrap();
    /// ```
    pub fn kill_on_drop(&mut self, kill_on_drop: bool) -> &mut Command {
        self.kill_on_drop = kill_on_drop;
        self
    }

    /// Starts the child, on the loop running on this thread.
    ///
    /// Errors come from std's spawn, at once: `NotFound` for a program that
    /// does not exist, `PermissionDenied` for one that is not executable,
    /// and so on; or from registering the child with the loop (then the
    /// child, which the caller never sees, is killed and reaped).
    ///
    /// ```
    /// evloop::run(async {
    ///     let err = evloop::process::Command::new("/no/such/program").spawn().unwrap_err();
    ///     assert_eq!(err.kind(), std::io::ErrorKind::NotFound);
    /// })
    /// .unwrap();
    /// ```
    ///
    /// # Panics
    ///
    /// If no evloop is running on this thread (before starting anything).
    #[track_caller]
    pub fn spawn(&mut self) -> io::Result<Child> {
        let core = crate::core::expect_current("evloop::process::Command::spawn");
        let child = self.std.spawn()?;
        Child::new(core, child, self.kill_on_drop)
    }

    /// Spawns the child and returns a future of its exit status; the
    /// standard streams are as set (inherited by default). The child is
    /// started by this call, not when the future is first polled (as
    /// tokio's `status`): a spawn error is the future's output.
    ///
    /// ```
    /// evloop::run(async {
    ///     let status = evloop::process::Command::new("false").status().await.unwrap();
    ///     assert_eq!(status.code(), Some(1));
    /// })
    /// .unwrap();
    /// ```
    ///
    /// # Panics
    ///
    /// If no evloop is running on this thread.
    #[track_caller]
    pub fn status(&mut self) -> impl Future<Output = io::Result<ExitStatus>> + 'static {
        let child = self.spawn();
        async move { child?.wait().await }
    }

    /// Spawns the child with stdout and stderr piped and stdin from
    /// `/dev/null` (each unless set otherwise, as std's `output`), and
    /// returns a future of its status and everything it wrote. The child
    /// is started by this call, as with [`status`](Command::status).
    ///
    /// # Panics
    ///
    /// If no evloop is running on this thread.
    #[track_caller]
    pub fn output(&mut self) -> impl Future<Output = io::Result<Output>> + 'static {
        let set = self.stdio_set;
        if !set[0] {
            self.std.stdin(Stdio::null());
        }
        if !set[1] {
            self.std.stdout(Stdio::piped());
        }
        if !set[2] {
            self.std.stderr(Stdio::piped());
        }
        let child = self.spawn();
        // Back to the defaults for a later spawn: inheriting is what an
        // unset stream means.
        for (i, set) in set.into_iter().enumerate() {
            if !set {
                match i {
                    0 => self.std.stdin(Stdio::inherit()),
                    1 => self.std.stdout(Stdio::inherit()),
                    _ => self.std.stderr(Stdio::inherit()),
                };
            }
        }
        async move { child?.output().await }
    }

    /// The std builder inside.
    pub fn as_std(&self) -> &std::process::Command {
        &self.std
    }

    /// The std builder inside, for the settings this type does not mirror
    /// (`CommandExt::process_group`, `uid`, ...). Streams set here are not
    /// seen by [`output`](Command::output)'s defaults.
    pub fn as_std_mut(&mut self) -> &mut std::process::Command {
        &mut self.std
    }
}

impl From<std::process::Command> for Command {
    /// Wraps a std builder (its streams count as not set, for `output`).
    fn from(std: std::process::Command) -> Command {
        Command {
            std,
            kill_on_drop: false,
            stdio_set: [false; 3],
        }
    }
}

impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Command")
            .field("std", &self.std)
            .field("kill_on_drop", &self.kill_on_drop)
            .finish()
    }
}
