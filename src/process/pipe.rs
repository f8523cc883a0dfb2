//! The child's standard streams as non-blocking pipe ends on the loop:
//! [`ChildStdin`], [`ChildStdout`], [`ChildStderr`].

use std::cell::RefCell;
use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::task::{Context, Poll};

use mio::unix::pipe::{Receiver, Sender};

use crate::io::IoHandle;
use crate::net::stream_sealed;
use crate::net::{ReadStream, WriteStream};

/// The write end of a child's standard input (`Stdio::piped()`),
/// registered with the loop.
///
/// Dropping it, or [`close`](ChildStdin::close), closes the pipe: the
/// child reads end-of-file. It works with
/// [`StreamWriter`](crate::net::StreamWriter), whose `close` and
/// `shutdown` close the pipe too, and with the `futures-io` feature it
/// implements `futures_io::AsyncWrite` (`poll_close` closes the pipe).
///
/// A write to a child that closed its standard input (or exited) fails
/// with `BrokenPipe`: Rust programs ignore `SIGPIPE`, so the error comes
/// back instead of a signal.
pub struct ChildStdin {
    /// `None` once closed: a pipe has no half-close, and the child sees
    /// end-of-file only when the write end is gone, so closing through
    /// `&self` ([`StreamWriter::shutdown`](crate::net::StreamWriter::shutdown))
    /// takes it out of the cell.
    io: RefCell<Option<IoHandle<Sender>>>,
}

/// The read end of a child's standard output (`Stdio::piped()`),
/// registered with the loop.
///
/// Read it directly, or wrap it in a
/// [`StreamReader`](crate::net::StreamReader) for lines; with the
/// `futures-io` feature it implements `futures_io::AsyncRead`.
///
/// ```
/// use evloop::net::StreamReader;
/// use evloop::process::{Command, Stdio};
/// evloop::run(async {
///     let mut child = Command::shell("printf 'one\\ntwo\\n'")
///         .stdout(Stdio::piped())
///         .spawn()
///         .unwrap();
///     let mut lines = StreamReader::new(child.stdout.take().unwrap());
///     assert_eq!(lines.read_line().await.unwrap(), b"one\n");
///     assert_eq!(lines.read_line().await.unwrap(), b"two\n");
///     assert_eq!(lines.read_line().await.unwrap(), b""); // end of file
///     assert!(child.wait().await.unwrap().success());
/// })
/// .unwrap();
/// ```
pub struct ChildStdout {
    io: IoHandle<Receiver>,
}

/// The read end of a child's standard error (`Stdio::piped()`),
/// registered with the loop; the same as [`ChildStdout`].
pub struct ChildStderr {
    io: IoHandle<Receiver>,
}

fn closed() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "the child's stdin was closed")
}

impl ChildStdin {
    /// Wraps std's pipe end, made non-blocking and registered with the
    /// running loop.
    #[track_caller]
    pub(crate) fn from_std(stdin: std::process::ChildStdin) -> io::Result<ChildStdin> {
        let pipe = Sender::from(stdin);
        pipe.set_nonblocking(true)?;
        let io = IoHandle::new(pipe, "evloop::process::Command::spawn")?;
        Ok(ChildStdin {
            io: RefCell::new(Some(io)),
        })
    }

    /// Writes some bytes; returns how many. Cancel-safe: if the future is
    /// dropped before it completes, nothing was written.
    pub async fn write(&self, buf: &[u8]) -> io::Result<usize> {
        std::future::poll_fn(|cx| self.poll_write_pipe(cx, buf)).await
    }

    /// Writes all of `buf`. Not cancel-safe: if the future is dropped
    /// half-way, an unknown prefix of `buf` was written.
    pub async fn write_all(&self, mut buf: &[u8]) -> io::Result<()> {
        while !buf.is_empty() {
            match self.write(buf).await? {
                0 => return Err(io::ErrorKind::WriteZero.into()),
                n => buf = &buf[n..],
            }
        }
        Ok(())
    }

    /// Closes the pipe: the child reads end-of-file. Later writes fail
    /// with `BrokenPipe`; closing twice is not an error.
    pub fn close(&self) -> io::Result<()> {
        let io = self.io.borrow_mut().take();
        match io {
            Some(io) => io.into_inner().map(drop),
            None => Ok(()),
        }
    }

    pub(super) fn poll_write_pipe(
        &self,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        // The borrow ends with the call: polling runs no user code.
        match &*self.io.borrow() {
            Some(io) => io.poll_write(cx, buf),
            None => Poll::Ready(Err(closed())),
        }
    }
}

/// The methods the two read ends share.
macro_rules! read_end {
    ($t:ident, $std:ty) => {
        impl $t {
            /// Wraps std's pipe end, made non-blocking and registered with
            /// the running loop.
            #[track_caller]
            pub(crate) fn from_std(pipe: $std) -> io::Result<$t> {
                let pipe = Receiver::from(pipe);
                pipe.set_nonblocking(true)?;
                let io = IoHandle::new(pipe, "evloop::process::Command::spawn")?;
                Ok($t { io })
            }

            /// Reads some bytes; `Ok(0)` at end of file (the child closed
            /// the stream, usually by exiting). Cancel-safe: if the future
            /// is dropped before it completes, nothing was read.
            pub async fn read(&self, buf: &mut [u8]) -> io::Result<usize> {
                self.io.read(buf).await
            }

            /// Reads until end of file, appending to `buf`; returns how
            /// many bytes were read. Not cancel-safe as a whole: bytes read
            /// before the future is dropped are in `buf`, and no more.
            pub async fn read_to_end(&self, buf: &mut Vec<u8>) -> io::Result<usize> {
                let start = buf.len();
                std::future::poll_fn(|cx| poll_read_to_end(&self.io, cx, buf)).await?;
                Ok(buf.len() - start)
            }

            pub(crate) fn poll_read_to_end(
                &self,
                cx: &mut Context<'_>,
                buf: &mut Vec<u8>,
            ) -> Poll<io::Result<()>> {
                poll_read_to_end(&self.io, cx, buf)
            }
        }

        impl stream_sealed::Read for $t {
            fn poll_read(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
                self.io.poll_read(cx, buf)
            }
        }
        impl ReadStream for $t {}

        impl AsRawFd for $t {
            fn as_raw_fd(&self) -> RawFd {
                self.io.get_ref().as_raw_fd()
            }
        }

        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($t))
                    .field("fd", &self.as_raw_fd())
                    .finish()
            }
        }

        #[cfg(feature = "futures-io")]
        impl futures_io::AsyncRead for $t {
            fn poll_read(
                self: std::pin::Pin<&mut Self>,
                cx: &mut Context<'_>,
                buf: &mut [u8],
            ) -> Poll<io::Result<usize>> {
                self.io.poll_read(cx, buf)
            }
        }
    };
}

read_end!(ChildStdout, std::process::ChildStdout);
read_end!(ChildStderr, std::process::ChildStderr);

/// How much `read_to_end` asks for at a time: a pipe's default capacity
/// on Linux (16 pages), so one read usually drains a full pipe.
const READ_CHUNK: usize = 64 * 1024;

/// Reads into `buf` until end of file; what was read stays in `buf` when
/// the poll returns `Pending` (so `communicate` can poll it again).
fn poll_read_to_end(
    io: &IoHandle<Receiver>,
    cx: &mut Context<'_>,
    buf: &mut Vec<u8>,
) -> Poll<io::Result<()>> {
    loop {
        let len = buf.len();
        buf.resize(len + READ_CHUNK, 0);
        let result = io.poll_read(cx, &mut buf[len..]);
        let n = match &result {
            Poll::Ready(Ok(n)) => *n,
            _ => 0,
        };
        buf.truncate(len + n);
        match result {
            Poll::Ready(Ok(0)) => return Poll::Ready(Ok(())),
            Poll::Ready(Ok(_)) => {}
            Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
            Poll::Pending => return Poll::Pending,
        }
    }
}

impl stream_sealed::Write for ChildStdin {
    fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.poll_write_pipe(cx, buf)
    }

    /// A pipe has no half-close: shutting the write direction down closes it.
    fn shutdown_write(&self) -> io::Result<()> {
        self.close()
    }
}
impl WriteStream for ChildStdin {}

impl fmt::Debug for ChildStdin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fd = self.io.borrow().as_ref().map(|io| io.get_ref().as_raw_fd());
        f.debug_struct("ChildStdin").field("fd", &fd).finish()
    }
}

#[cfg(feature = "futures-io")]
impl futures_io::AsyncWrite for ChildStdin {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.poll_write_pipe(cx, buf)
    }

    fn poll_flush(self: std::pin::Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(())) // no user-space buffer
    }

    fn poll_close(self: std::pin::Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(self.close())
    }
}
