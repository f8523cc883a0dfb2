//! asyncio's streams: [`StreamReader`], [`StreamWriter`], [`open_connection`],
//! [`start_server`] and [`start_server_on`].
//!
//! A `StreamReader` buffers what it reads, so it can hand out lines
//! ([`read_line`](StreamReader::read_line)), delimited records
//! ([`read_until`](StreamReader::read_until)) and fixed-size frames
//! ([`read_exact`](StreamReader::read_exact)). A `StreamWriter` writes
//! through to the socket: there is no user-space buffer, so `write_all`
//! returning means the kernel has the bytes (asyncio's `write` + `drain`).
//!
//! The public docs are on the items (this module is private; its items
//! are re-exported from [`crate::net`]).

use std::fmt;
use std::future::{poll_fn, Future};
use std::io;
use std::net::SocketAddr;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use crate::net::addr::ToSocketAddrs;
use crate::net::tcp::{OwnedReadHalf, OwnedWriteHalf, TcpListener, TcpStream};
use crate::sync::Event;
use crate::task::Task;

/// The default buffer limit of a [`StreamReader`]: 64 KiB, as asyncio's.
pub const DEFAULT_LIMIT: usize = 64 * 1024;

/// The buffer's first allocation, made when the first data arrives (not
/// before: a connection waiting for its first bytes holds no buffer); it
/// doubles, up to the limit, only when a record needs it, so idle
/// connections stay small.
const INITIAL_CAPACITY: usize = 8 * 1024;

/// How long the accept loop waits after an error such as `EMFILE` before
/// trying again (asyncio's `ACCEPT_RETRY_DELAY`); retrying at once would
/// spin while the descriptor table is full.
const ACCEPT_RETRY_DELAY: Duration = Duration::from_secs(1);

/// The poll functions the stream types share. TCP's are below; another
/// transport (Unix streams, …) can implement them in its own module.
pub(crate) mod sealed {
    use std::io;
    use std::task::{Context, Poll};

    /// The poll function a [`StreamReader`](super::StreamReader) reads with.
    pub trait Read: Unpin {
        fn poll_read(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>>;
    }

    /// What a [`StreamWriter`](super::StreamWriter) writes with.
    pub trait Write: Unpin {
        fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>>;
        fn shutdown_write(&self) -> io::Result<()>;
    }
}

/// Something a [`StreamReader`] can read from: the read half of a
/// connection ([`OwnedReadHalf`]), a whole [`TcpStream`], or a child
/// process's output (`process::ChildStdout`, `process::ChildStderr`).
///
/// Sealed: implemented by the crate's stream types.
pub trait ReadStream: sealed::Read {}

/// Something a [`StreamWriter`] can write to: the write half of a
/// connection ([`OwnedWriteHalf`]), a whole [`TcpStream`], or a child
/// process's input (`process::ChildStdin`).
///
/// Sealed: implemented by the crate's stream types.
pub trait WriteStream: sealed::Write {}

impl sealed::Read for OwnedReadHalf {
    fn poll_read(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.0.poll_read_buf(cx, buf)
    }
}
impl ReadStream for OwnedReadHalf {}

impl sealed::Read for TcpStream {
    fn poll_read(&self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        self.poll_read_buf(cx, buf)
    }
}
impl ReadStream for TcpStream {}

impl sealed::Write for OwnedWriteHalf {
    fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.0.poll_write_buf(cx, buf)
    }
    fn shutdown_write(&self) -> io::Result<()> {
        self.shutdown()
    }
}
impl WriteStream for OwnedWriteHalf {}

impl sealed::Write for TcpStream {
    fn poll_write(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.poll_write_buf(cx, buf)
    }
    fn shutdown_write(&self) -> io::Result<()> {
        self.shutdown(std::net::Shutdown::Write)
    }
}
impl WriteStream for TcpStream {}

// ---- StreamReader ------------------------------------------------------------

/// A buffered reader over a connection (asyncio's `StreamReader`).
///
/// Lines and delimited records are bounded by the reader's *limit*
/// (default [`DEFAULT_LIMIT`], 64 KiB; asyncio's `limit`): a record longer
/// than the limit is an `InvalidData` error, so no peer can make the reader
/// buffer without bound.
///
/// # Cancel safety
///
/// Every method keeps what it has read in the reader's buffer until it
/// returns it, so dropping a `read_line`, `read_until`, `read_exact`, `fill`
/// or `read` future part-way (a `wait_for` timing out, say) loses no data:
/// the next call sees the same bytes. Errors leave the buffered data in
/// place too: [`buffer`](StreamReader::buffer) shows it and
/// [`consume`](StreamReader::consume) drops it.
///
/// With the `futures-io` feature it implements `futures_io::AsyncRead` and
/// `AsyncBufRead`, so `futures::io` helpers work on it. Their extension
/// traits have methods named `read_line`, `read_until` and `read_exact` too;
/// method syntax picks this type's own, so call theirs as
/// `AsyncBufReadExt::read_line(&mut reader, &mut s)`.
///
/// ```
/// use evloop::net::{StreamReader, TcpListener, TcpStream};
/// evloop::run(async {
///     let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
///     let client = TcpStream::connect(&listener.local_addr().unwrap()).await.unwrap();
///     client.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nrest").await.unwrap();
///     let (server, _) = listener.accept().await.unwrap();
///     let (read_half, _write_half) = server.into_split();
///     let mut reader = StreamReader::new(read_half);
///     let head = reader.read_until(b"\r\n\r\n").await.unwrap();
///     assert!(head.ends_with(b"Host: x\r\n\r\n"));
///     assert_eq!(reader.read_exact(4).await.unwrap(), b"rest");
/// })
/// .unwrap();
/// ```
///
/// # The type parameter
///
/// `R` is what the reader reads from. It defaults to the read half of a
/// split [`TcpStream`] ([`OwnedReadHalf`], what [`open_connection`] and
/// [`start_server`] hand out), so most code just writes `StreamReader`.
/// A whole `TcpStream` works as well, for one task that reads through the
/// reader and writes through [`get_ref`](StreamReader::get_ref):
///
/// ```
/// use evloop::net::{StreamReader, TcpListener, TcpStream};
/// evloop::run(async {
///     let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
///     let client = TcpStream::connect(listener.local_addr().unwrap()).await.unwrap();
///     let (server, _) = listener.accept().await.unwrap();
///     let mut reader: StreamReader<TcpStream> = StreamReader::new(server);
///     client.write_all(b"ping\n").await.unwrap();
///     assert_eq!(reader.read_line().await.unwrap(), b"ping\n");
///     reader.get_ref().write_all(b"pong\n").await.unwrap(); // same socket
///     let mut buf = [0; 5];
///     client.read_exact(&mut buf).await.unwrap();
///     assert_eq!(&buf, b"pong\n");
/// })
/// .unwrap();
/// ```
pub struct StreamReader<R = OwnedReadHalf> {
    inner: R,
    /// `buf[start..end]` is the data read but not yet returned; past `end`
    /// is allocated space to read into.
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// The stream returned end-of-file (it is never read again).
    eof: bool,
    limit: usize,
}

/// What a delimiter search found.
enum Found {
    /// A record of this many bytes, the delimiter included.
    Record(usize),
    /// End of stream before any delimiter.
    Eof,
}

impl<R: ReadStream> StreamReader<R> {
    /// A reader with the default limit (64 KiB).
    pub fn new(inner: R) -> StreamReader<R> {
        StreamReader::with_limit(inner, DEFAULT_LIMIT)
    }

    /// A reader whose lines and records may be at most `limit` bytes long,
    /// delimiter included.
    ///
    /// # Panics
    ///
    /// If `limit` is 0.
    pub fn with_limit(inner: R, limit: usize) -> StreamReader<R> {
        assert!(limit > 0, "StreamReader limit must be at least 1");
        StreamReader {
            inner,
            buf: Vec::new(),
            start: 0,
            end: 0,
            eof: false,
            limit,
        }
    }

    /// The limit on the length of a line or record.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Changes the limit, say after a handshake. Data already buffered past
    /// a smaller limit stays; the next record is held to the new one.
    ///
    /// # Panics
    ///
    /// If `limit` is 0.
    pub fn set_limit(&mut self, limit: usize) {
        assert!(limit > 0, "StreamReader limit must be at least 1");
        self.limit = limit;
    }

    /// The stream read from.
    pub fn get_ref(&self) -> &R {
        &self.inner
    }

    /// The stream and the data buffered but not yet returned.
    pub fn into_parts(self) -> (R, Vec<u8>) {
        let rest = self.buf[self.start..self.end].to_vec();
        (self.inner, rest)
    }

    /// The data read from the stream but not yet returned.
    pub fn buffer(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// Drops the first `n` buffered bytes (all of them if fewer).
    pub fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.end);
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
            // Give back space that `read_exact` grew past the limit.
            if self.buf.len() > self.limit.max(INITIAL_CAPACITY) {
                self.buf = Vec::new();
            }
        }
    }

    /// Whether the stream has ended and everything buffered was returned
    /// (asyncio's `at_eof`). End of stream is only seen by a read, so this
    /// stays `false` until a read has returned the last data and hit EOF.
    pub fn at_eof(&self) -> bool {
        self.eof && self.start == self.end
    }

    /// Reads some bytes into `buf`: from the buffer if it holds any, else
    /// from the stream. `Ok(0)` at end of stream (or if `buf` is empty).
    /// Cancel-safe.
    pub async fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        poll_fn(|cx| self.poll_read_into(cx, buf)).await
    }

    /// Reads one line, `\n` included (asyncio's `readline`). At end of
    /// stream it returns the unterminated last line, then empty `Vec`s.
    ///
    /// Errors: `InvalidData` if the line is longer than the
    /// [limit](StreamReader::limit) (the data stays buffered); the stream's
    /// I/O errors. Cancel-safe.
    pub async fn read_line(&mut self) -> io::Result<Vec<u8>> {
        match self.find(b"\n").await? {
            Found::Record(n) => Ok(self.take(n)),
            Found::Eof => Ok(self.take(self.end - self.start)),
        }
    }

    /// Reads up to and including `delim`, which may be several bytes, such
    /// as `b"\r\n\r\n"` (asyncio's `readuntil`).
    ///
    /// Errors: `UnexpectedEof` if the stream ends before `delim` (the
    /// partial record stays in the [`buffer`](StreamReader::buffer));
    /// `InvalidData` if the record is longer than the
    /// [limit](StreamReader::limit) (the data stays buffered); the stream's
    /// I/O errors. Cancel-safe.
    ///
    /// # Panics
    ///
    /// If `delim` is empty.
    pub async fn read_until(&mut self, delim: &[u8]) -> io::Result<Vec<u8>> {
        match self.find(delim).await? {
            Found::Record(n) => Ok(self.take(n)),
            Found::Eof => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "stream ended before the delimiter; the partial record stays buffered",
            )),
        }
    }

    /// Reads once more from the stream into the buffer, for parsers that
    /// work on the [`buffer`](StreamReader::buffer) in place (such as
    /// `httparse`) and [`consume`](StreamReader::consume) what they parsed.
    /// Returns how many bytes were added: 0 at end of stream.
    ///
    /// Errors: `InvalidData` if the buffer already holds
    /// [limit](StreamReader::limit) bytes (so a parser that never finds a
    /// complete message cannot make it grow without bound); the stream's
    /// I/O errors. Cancel-safe.
    pub async fn fill(&mut self) -> io::Result<usize> {
        if self.end - self.start >= self.limit {
            return Err(self.too_long());
        }
        if self.eof {
            return Ok(0);
        }
        poll_fn(|cx| self.poll_fill(cx, self.limit)).await
    }

    /// Reads exactly `n` bytes (asyncio's `readexactly`).
    ///
    /// The bytes gather in the reader's buffer until all `n` are there
    /// (that is what makes it cancel-safe), so the buffer grows to `n`
    /// even past the limit: `n` is the caller's to bound.
    ///
    /// Errors: `UnexpectedEof` if the stream ends first (what arrived stays
    /// in the [`buffer`](StreamReader::buffer)); the stream's I/O errors.
    /// Cancel-safe.
    pub async fn read_exact(&mut self, n: usize) -> io::Result<Vec<u8>> {
        while self.end - self.start < n {
            if self.eof {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            poll_fn(|cx| self.poll_fill(cx, n)).await?;
        }
        Ok(self.take(n))
    }

    /// Finds the first record ending in `delim`, reading more as needed.
    async fn find(&mut self, delim: &[u8]) -> io::Result<Found> {
        assert!(!delim.is_empty(), "the delimiter must not be empty");
        // Where the search resumes: only the newly read bytes (and a
        // delimiter's worth before them) are scanned again.
        let mut from = 0;
        loop {
            let data = self.buffer();
            if let Some(i) = find_in(&data[from..], delim) {
                let len = from + i + delim.len();
                if len > self.limit {
                    return Err(self.too_long());
                }
                return Ok(Found::Record(len));
            }
            if data.len() >= self.limit {
                return Err(self.too_long());
            }
            if self.eof {
                return Ok(Found::Eof);
            }
            from = data.len().saturating_sub(delim.len() - 1);
            poll_fn(|cx| self.poll_fill(cx, self.limit)).await?;
        }
    }

    fn too_long(&self) -> io::Error {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("record longer than the limit of {} bytes", self.limit),
        )
    }

    /// Returns the first `n` buffered bytes.
    fn take(&mut self, n: usize) -> Vec<u8> {
        let out = self.buf[self.start..self.start + n].to_vec();
        self.consume(n);
        out
    }

    /// One read from the stream into the buffer, making room for `want`
    /// buffered bytes in all. `Ok(0)` (and `eof` set) at end of stream.
    fn poll_fill(&mut self, cx: &mut Context<'_>, want: usize) -> Poll<io::Result<usize>> {
        if self.buf.is_empty() {
            return self.poll_first_fill(cx, want);
        }
        self.make_room(want);
        let n = ready!(self.inner.poll_read(cx, &mut self.buf[self.end..]))?;
        self.end += n;
        self.eof |= n == 0;
        Poll::Ready(Ok(n))
    }

    /// `poll_fill` with no buffer yet: reads into the stack and allocates
    /// only once data has come, so a connection that waits for its first
    /// bytes (most of a server's idle connections) holds no buffer at all.
    /// The buffer then has the size `make_room` would have given it.
    fn poll_first_fill(&mut self, cx: &mut Context<'_>, want: usize) -> Poll<io::Result<usize>> {
        let mut first = [0u8; INITIAL_CAPACITY];
        let size = INITIAL_CAPACITY.min(want).max(1);
        let n = ready!(self.inner.poll_read(cx, &mut first[..size]))?;
        if n > 0 {
            self.buf.reserve_exact(size);
            self.buf.extend_from_slice(&first[..n]);
            self.buf.resize(size, 0);
            (self.start, self.end) = (0, n);
        }
        self.eof |= n == 0;
        Poll::Ready(Ok(n))
    }

    /// Moves the data to the front and grows the buffer (doubling, up to
    /// `want`), so that there is space to read into.
    fn make_room(&mut self, want: usize) {
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            let doubled = (self.buf.len() * 2).max(INITIAL_CAPACITY);
            self.buf.resize(doubled.min(want).max(self.end + 1), 0);
        }
    }

    fn poll_read_into(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        if self.start == self.end && !self.eof {
            if buf.len() >= INITIAL_CAPACITY {
                // A big read of an empty buffer: skip the copy.
                let n = ready!(self.inner.poll_read(cx, buf))?;
                self.eof |= n == 0;
                return Poll::Ready(Ok(n));
            }
            ready!(self.poll_fill(cx, self.limit))?;
        }
        let n = buf.len().min(self.end - self.start);
        buf[..n].copy_from_slice(&self.buf[self.start..self.start + n]);
        self.consume(n);
        Poll::Ready(Ok(n))
    }

    #[cfg_attr(not(feature = "futures-io"), allow(dead_code))]
    fn poll_fill_buf(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
        if self.start == self.end && !self.eof {
            ready!(self.poll_fill(cx, self.limit))?;
        }
        Poll::Ready(Ok(self.buffer()))
    }
}

/// Where `needle` first occurs in `haystack`.
fn find_in(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if let [byte] = needle {
        return haystack.iter().position(|b| b == byte);
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

impl<R: fmt::Debug> fmt::Debug for StreamReader<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamReader")
            .field("inner", &self.inner)
            .field("buffered", &(self.end - self.start))
            .field("eof", &self.eof)
            .field("limit", &self.limit)
            .finish()
    }
}

// ---- StreamWriter ------------------------------------------------------------

/// The writing side of a connection (asyncio's `StreamWriter`).
///
/// Writes go straight to the socket: there is no user-space buffer, so
/// when [`write_all`](StreamWriter::write_all) returns, the kernel has the
/// bytes, and a slow peer holds the writer back (what asyncio's `drain()`
/// is for). [`flush`](StreamWriter::flush) therefore does nothing.
///
/// With the `futures-io` feature it implements `futures_io::AsyncWrite`
/// (`poll_close` shuts the write direction down).
#[derive(Debug)]
pub struct StreamWriter<W = OwnedWriteHalf> {
    inner: W,
}

impl<W: WriteStream> StreamWriter<W> {
    /// A writer over `inner`.
    pub fn new(inner: W) -> StreamWriter<W> {
        StreamWriter { inner }
    }

    /// The stream written to (for its addresses, say).
    pub fn get_ref(&self) -> &W {
        &self.inner
    }

    /// The stream written to.
    pub fn into_inner(self) -> W {
        self.inner
    }

    /// Writes some of `buf`; returns how many bytes. Cancel-safe: if the
    /// future is dropped before it completes, nothing was written.
    pub async fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        poll_fn(|cx| self.inner.poll_write(cx, buf)).await
    }

    /// Writes all of `buf` (asyncio's `write` followed by `drain`).
    /// Not cancel-safe: if the future is dropped half-way, an unknown
    /// prefix of `buf` was written.
    pub async fn write_all(&mut self, mut buf: &[u8]) -> io::Result<()> {
        while !buf.is_empty() {
            match self.write(buf).await? {
                0 => return Err(io::ErrorKind::WriteZero.into()),
                n => buf = &buf[n..],
            }
        }
        Ok(())
    }

    /// Does nothing: writes are not buffered in user space (see the type's
    /// docs). For code written against buffered writers.
    pub async fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }

    /// Shuts the write direction down: the peer reads end-of-file, and
    /// this side can still read (asyncio's `write_eof`).
    pub fn shutdown(&self) -> io::Result<()> {
        self.inner.shutdown_write()
    }

    /// Shuts the write direction down and drops the writer (asyncio's
    /// `close`). The socket itself closes once the reader is dropped too;
    /// until then the reader can still drain what the peer sends. A peer
    /// that is already gone is not an error.
    pub fn close(self) -> io::Result<()> {
        match self.shutdown() {
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(()),
            result => result,
        }
    }
}

// ---- open_connection, start_server --------------------------------------------

/// Connects to `addr` and returns a buffered reader and a writer for the
/// connection (asyncio's `open_connection`). Sets `TCP_NODELAY`, as asyncio
/// does: writes go out at once instead of waiting on Nagle's algorithm.
///
/// # Panics
///
/// If no evloop is running on this thread.
pub async fn open_connection<A: ToSocketAddrs>(
    addr: A,
) -> io::Result<(StreamReader, StreamWriter)> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    Ok(streams_of(stream))
}

fn streams_of(stream: TcpStream) -> (StreamReader, StreamWriter) {
    let (read, write) = stream.into_split();
    (StreamReader::new(read), StreamWriter::new(write))
}

/// Listens on `addr` and runs `handler(reader, writer)` as a new task for
/// each connection (asyncio's `start_server`). Accepted sockets get
/// `TCP_NODELAY`. The listener is bound as by [`TcpListener::bind`]: a
/// port in use is refused with `AddrInUse`. To serve a listener made
/// otherwise (one port shared by a server on each of several loops, see
/// [`TcpSocket::set_reuseport`](crate::net::TcpSocket::set_reuseport)),
/// use [`start_server_on`].
///
/// A handler that panics is reported to the loop's exception handler; the
/// server goes on. Accept errors never stop the server: a connection that
/// died in the backlog is skipped, and after other errors (`EMFILE`: out of
/// file descriptors, …) it pauses a second, as asyncio does, and retries.
///
/// ```
/// use evloop::net::{open_connection, start_server};
/// evloop::run(async {
///     // A line echo server: each connection's handler runs as its own task.
///     let server = start_server("127.0.0.1:0", |mut reader, mut writer| async move {
///         while let Ok(line) = reader.read_line().await {
///             if line.is_empty() || writer.write_all(&line).await.is_err() {
///                 break; // EOF or a dead peer
///             }
///         }
///     })
///     .await
///     .unwrap();
///     let (mut reader, mut writer) = open_connection(&server.local_addr()).await.unwrap();
///     writer.write_all(b"hello\nworld\n").await.unwrap();
///     assert_eq!(reader.read_line().await.unwrap(), b"hello\n");
///     assert_eq!(reader.read_line().await.unwrap(), b"world\n");
///     server.close();
/// })
/// .unwrap();
/// ```
///
/// # Panics
///
/// If no evloop is running on this thread.
pub async fn start_server<A, F, Fut>(addr: A, handler: F) -> io::Result<Server>
where
    A: ToSocketAddrs,
    F: Fn(StreamReader, StreamWriter) -> Fut + 'static,
    Fut: Future<Output = ()> + 'static,
{
    let listener = TcpListener::bind(addr).await?;
    start_server_on(listener, handler)
}

/// [`start_server`] on a listener made by the caller (asyncio's
/// `start_server(cb, sock=...)`): from a [`TcpSocket`](crate::net::TcpSocket)
/// with options set, such as `SO_REUSEPORT` so that a server on each of
/// several loops shares one port, or from a std listener handed over by
/// [`TcpListener::from_std`].
///
/// ```
/// use evloop::net::{open_connection, start_server_on, TcpSocket};
/// evloop::run(async {
///     // One of several loops sharing a port: each runs this with the same address.
///     let socket = TcpSocket::new_v4().unwrap();
///     socket.set_reuseaddr(true).unwrap();
///     socket.set_reuseport(true).unwrap();
///     socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
///     let listener = socket.listen(1024).unwrap();
///     let server = start_server_on(listener, |_reader, mut writer| async move {
///         let _ = writer.write_all(b"hello\n").await;
///     })
///     .unwrap();
///     let (mut reader, _writer) = open_connection(&server.local_addr()).await.unwrap();
///     assert_eq!(reader.read_line().await.unwrap(), b"hello\n");
/// })
/// .unwrap();
/// ```
///
/// # Panics
///
/// If no evloop is running on this thread.
#[track_caller]
pub fn start_server_on<F, Fut>(listener: TcpListener, handler: F) -> io::Result<Server>
where
    F: Fn(StreamReader, StreamWriter) -> Fut + 'static,
    Fut: Future<Output = ()> + 'static,
{
    let local_addr = listener.local_addr()?;
    let accept_task = crate::ensure_future(accept_loop(listener, handler));
    Ok(Server {
        local_addr,
        accept_task,
        closed: Event::new(),
    })
}

async fn accept_loop<F, Fut>(listener: TcpListener, handler: F)
where
    F: Fn(StreamReader, StreamWriter) -> Fut + 'static,
    Fut: Future<Output = ()> + 'static,
{
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                // Best effort: a connection already reset fails here, and
                // its handler then sees the error on its first read.
                let _ = stream.set_nodelay(true);
                let (reader, writer) = streams_of(stream);
                drop(crate::ensure_future(handler(reader, writer))); // detached
            }
            // The pending connection died before we took it: take the next.
            Err(e) if is_connection_error(&e) => {}
            // EMFILE, ENOBUFS, …: the backlog keeps them; try again later.
            Err(_) => crate::sleep(ACCEPT_RETRY_DELAY).await,
        }
    }
}

fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    )
}

/// A listening server made by [`start_server`] or [`start_server_on`]
/// (asyncio's `Server`).
///
/// It accepts until [`close`](Server::close) is called or it is dropped;
/// connections already accepted run on in their own tasks either way.
///
/// ```
/// use std::rc::Rc;
/// use evloop::net::start_server;
/// evloop::run(async {
///     let server = start_server("127.0.0.1:0", |_reader, _writer| async {}).await.unwrap();
///     println!("listening on {}", server.local_addr());
///     let server = Rc::new(server); // to close it from another task
///     let stopper = evloop::ensure_future({
///         let server = server.clone();
///         async move { server.close() }
///     });
///     server.serve_forever().await; // returns once closed
///     stopper.await.unwrap();
///     assert!(!server.is_serving());
/// })
/// .unwrap();
/// ```
pub struct Server {
    local_addr: SocketAddr,
    accept_task: Task<()>,
    closed: Event,
}

impl Server {
    /// The address the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting connections. The listening socket is closed at the
    /// loop's next iteration (when the accept task is cancelled). Idempotent.
    pub fn close(&self) {
        self.accept_task.cancel();
        self.closed.set();
    }

    /// Whether the server still accepts connections.
    pub fn is_serving(&self) -> bool {
        !self.closed.is_set()
    }

    /// Waits until the server is closed (asyncio's `serve_forever`, which
    /// also returns when `close` is called). Cancel-safe.
    pub async fn serve_forever(&self) {
        self.closed.wait().await
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.close();
    }
}

impl fmt::Debug for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("local_addr", &self.local_addr)
            .field("serving", &self.is_serving())
            .finish()
    }
}

#[cfg(feature = "futures-io")]
mod futures_io_impls {
    use std::pin::Pin;

    use super::*;

    impl<R: ReadStream> futures_io::AsyncRead for StreamReader<R> {
        fn poll_read(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &mut [u8],
        ) -> Poll<io::Result<usize>> {
            self.get_mut().poll_read_into(cx, buf)
        }
    }

    impl<R: ReadStream> futures_io::AsyncBufRead for StreamReader<R> {
        fn poll_fill_buf(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<&[u8]>> {
            self.get_mut().poll_fill_buf(cx)
        }

        fn consume(self: Pin<&mut Self>, amt: usize) {
            self.get_mut().consume(amt)
        }
    }

    impl<W: WriteStream> futures_io::AsyncWrite for StreamWriter<W> {
        fn poll_write(
            self: Pin<&mut Self>,
            cx: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<io::Result<usize>> {
            self.inner.poll_write(cx, buf)
        }

        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(())) // no user-space buffer
        }

        fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(self.inner.shutdown_write())
        }
    }
}
