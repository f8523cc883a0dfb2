//! [`EvloopIo`]: hyper's `Read` and `Write` over an evloop stream.

use std::cell::RefCell;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use futures_io::{AsyncRead, AsyncWrite};
use hyper::rt::{Read, ReadBufCursor, Write};

/// The most bytes one read takes: the size of the scratch buffer reads go
/// through. 64 KiB is the chunk evloop's own I/O benchmarks read and write
/// with (`tcp_bulk`), big enough that a bulk transfer costs few syscalls
/// and small enough to stay in cache; a bigger message is read again.
const MAX_READ: usize = 64 * 1024;

thread_local! {
    /// Where this thread's reads land before they are copied into hyper's
    /// buffer. hyper lends its buffer uninitialized, and `AsyncRead` reads
    /// only into initialized memory: zeroing hyper's buffer (up to its
    /// whole spare capacity, 8 KiB or more) before every read, including
    /// the reads that find nothing, cost more than copying what a read
    /// returns, which for requests and responses is a few hundred bytes.
    /// One buffer serves every connection of the thread: a read is over
    /// before the next begins.
    static SCRATCH: RefCell<Box<[u8]>> = RefCell::new(vec![0; MAX_READ].into_boxed_slice());
}

/// An evloop stream as hyper's I/O: [`hyper::rt::Read`] and
/// [`hyper::rt::Write`] over anything with `futures-io`'s `AsyncRead` and
/// `AsyncWrite`, which evloop's [`TcpStream`](evloop::net::TcpStream) and
/// [`UnixStream`](evloop::net::UnixStream) have (the default `futures-io`
/// feature of evloop). The counterpart of hyper-util's `TokioIo`.
///
/// ```
/// use evloop::net::{TcpListener, TcpStream};
/// use evloop_hyper::EvloopIo;
///
/// evloop::run(async {
///     let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
///     let stream = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
///     // What hyper's `serve_connection` and `handshake` take.
///     let io = EvloopIo::new(stream);
///     assert!(io.get_ref().peer_addr().is_ok());
/// })
/// .unwrap();
/// ```
///
/// # Notes
///
/// A read goes through a per-thread 64 KiB scratch buffer and is copied
/// into hyper's: `AsyncRead` reads only into initialized memory, and hyper
/// lends its buffer uninitialized. The copy costs what the read returned
/// (zeroing hyper's buffer instead would cost its whole size on every
/// read), and no `unsafe` is needed. Writes go straight to the socket:
/// evloop keeps no user-space buffer, so [`poll_flush`](Write::poll_flush)
/// is immediate. evloop's streams have no vectored write, so
/// `is_write_vectored` is `false` and hyper gathers a message's head and
/// body into one buffer before writing it.
#[derive(Debug)]
pub struct EvloopIo<T> {
    inner: T,
}

impl<T> EvloopIo<T> {
    /// Wraps `inner`.
    pub fn new(inner: T) -> EvloopIo<T> {
        EvloopIo { inner }
    }

    /// The stream.
    pub fn get_ref(&self) -> &T {
        &self.inner
    }

    /// The stream, mutably.
    pub fn get_mut(&mut self) -> &mut T {
        &mut self.inner
    }

    /// The stream back.
    pub fn into_inner(self) -> T {
        self.inner
    }
}

impl<T: AsyncRead + Unpin> Read for EvloopIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let inner = Pin::new(&mut self.get_mut().inner);
        let len = buf.remaining().min(MAX_READ);
        SCRATCH.with(|scratch| {
            match scratch.try_borrow_mut() {
                Ok(mut scratch) => {
                    let n = ready!(inner.poll_read(cx, &mut scratch[..len]))?;
                    buf.put_slice(&scratch[..n]);
                }
                // Only if the stream's own `poll_read` reads through
                // another `EvloopIo` on this thread: a buffer of its own.
                Err(_) => {
                    let mut own = vec![0; len];
                    let n = ready!(inner.poll_read(cx, &mut own))?;
                    buf.put_slice(&own[..n]);
                }
            }
            Poll::Ready(Ok(()))
        })
    }
}

impl<T: AsyncWrite + Unpin> Write for EvloopIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_close(cx)
    }
}
