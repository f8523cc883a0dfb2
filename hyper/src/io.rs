//! [`EvloopIo`]: hyper's `Read` and `Write` over an evloop stream.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use futures_io::{AsyncRead, AsyncWrite};
use hyper::rt::{Read, ReadBufCursor, Write};

/// The most bytes of hyper's read buffer made ready (zeroed) for one read.
///
/// hyper hands over its buffer's whole spare capacity uninitialized, which
/// may be hundreds of KiB once its adaptive read strategy has grown it;
/// zeroing all of that for every read would cost more than the read. 64 KiB
/// is the most a loopback read usually returns at once and the chunk size
/// evloop's own I/O benchmarks read with; hyper sees a short read and
/// simply reads again.
const MAX_READ: usize = 64 * 1024;

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
/// A read zeroes the part of hyper's buffer it reads into (at most 64 KiB)
/// before reading, because `AsyncRead` reads into initialized memory only;
/// that costs a `memset` per read and no `unsafe` beyond telling hyper how
/// many bytes were filled. Writes go straight to the socket: evloop keeps no
/// user-space buffer, so [`poll_flush`](Write::poll_flush) is immediate.
/// evloop's streams have no vectored write, so `is_write_vectored` is
/// `false` and hyper gathers a message's head and body into one buffer
/// before writing it.
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
        let len = buf.remaining().min(MAX_READ);
        let dst = buf.initialize_unfilled_to(len);
        let n = ready!(Pin::new(&mut self.get_mut().inner).poll_read(cx, dst))?;
        // `AsyncRead` promises n <= dst.len(); a stream that broke that
        // promise must not make the `advance` below claim bytes that are
        // not there.
        assert!(
            n <= len,
            "poll_read returned more bytes than the buffer holds"
        );
        // SAFETY: `initialize_unfilled_to(len)` initialized the first `len`
        // unfilled bytes and `n <= len` (asserted above), so the `n` bytes
        // `advance` marks filled are initialized, as it requires.
        unsafe { buf.advance(n) };
        Poll::Ready(Ok(()))
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
