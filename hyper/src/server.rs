//! The server of the `hyper_server` example, as a library so that the
//! tests serve with exactly the same code: HTTP/1.1 (keep-alive) and
//! HTTP/2 (h2c with prior knowledge) on one port, told apart by the HTTP/2
//! connection preface.
//!
//! - `GET /` answers [`HELLO`].
//! - `POST /echo` answers the request's body, streamed back as it arrives
//!   (the response starts before the request body has ended; nothing is
//!   collected in memory).
//! - Other methods on those paths get `405 Method Not Allowed`, other
//!   paths `404 Not Found`.
//!
//! Timeouts, all on evloop's timers through [`EvloopTimer`]: the first
//! bytes must come within [`PREFACE_TIMEOUT`]; an HTTP/1 request head
//! within hyper's header-read timeout (30 s); a quiet HTTP/2 connection is
//! pinged every [`H2_KEEP_ALIVE_INTERVAL`] and closed if the ping is not
//! answered within 20 s.

use std::cell::Cell;
use std::convert::Infallible;
use std::fmt;
use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_io::{AsyncRead, AsyncWrite};
use http_body_util::{Either, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, ALLOW, CONTENT_TYPE};
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};

use evloop::net::{TcpListener, ToSocketAddrs};
use evloop::Task;

use crate::{EvloopExecutor, EvloopIo, EvloopTimer};

/// The body of `GET /`.
pub const HELLO: &[u8] = b"hello from evloop + hyper\n";

/// What every HTTP/2 connection starts with (RFC 9113, section 3.4). No
/// HTTP/1 client sends it: it was chosen so that HTTP/1.1 servers refuse
/// it.
pub const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// How long a connection may take to send enough of its first bytes to
/// tell HTTP/1 from HTTP/2: hyper's default header-read timeout, which
/// then bounds the first HTTP/1 request head in the same way.
pub const PREFACE_TIMEOUT: Duration = Duration::from_secs(30);

/// How long an HTTP/2 connection may be quiet before the server pings
/// it; a peer that then does not answer within hyper's keep-alive timeout
/// (20 s) is cut off, so a vanished client holds its connection at most
/// 40 s. The same 20 s as that timeout. hyper leaves pings off by
/// default, and without them a quiet HTTP/2 connection (no open stream,
/// so no other timeout runs) would be held for as long as the peer's
/// socket lingers.
pub const H2_KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(20);

/// How long the accept loop waits after an error such as `EMFILE` before
/// trying again (asyncio's `ACCEPT_RETRY_DELAY`, as evloop's
/// `start_server`): retrying at once would spin while the descriptor table
/// is full.
const ACCEPT_RETRY_DELAY: Duration = Duration::from_secs(1);

/// The response body of [`handle`]: a fixed body, or the request's body
/// streamed back.
pub type ResponseBody = Either<Full<Bytes>, Incoming>;

/// The HTTP version a connection spoke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// HTTP/1.0 or 1.1 (`hyper::server::conn::http1`).
    Http1,
    /// HTTP/2 with prior knowledge (`hyper::server::conn::http2`).
    Http2,
}

/// The service: answers one request (see the [module docs](self)).
///
/// ```
/// use http_body_util::BodyExt;
/// // `Incoming` bodies only come from hyper, so this calls the service
/// // over a real connection; see `serve_connection` for the server side.
/// # use evloop::net::{TcpListener, TcpStream};
/// # use evloop_hyper::{server, EvloopIo};
/// evloop::run(async {
///     let server = server::start("127.0.0.1:0").await.unwrap();
///     let stream = TcpStream::connect(server.local_addr()).await.unwrap();
///     let (mut sender, conn) = hyper::client::conn::http1::handshake(EvloopIo::new(stream))
///         .await
///         .unwrap();
///     let _conn = evloop::ensure_future(conn);
///     let request = hyper::Request::get("/")
///         .header("host", "localhost")
///         .body(http_body_util::Empty::<bytes::Bytes>::new())
///         .unwrap();
///     let response = sender.send_request(request).await.unwrap();
///     let body = response.into_body().collect().await.unwrap().to_bytes();
///     assert_eq!(&body[..], server::HELLO);
/// })
/// .unwrap();
/// ```
pub async fn handle(request: Request<Incoming>) -> Result<Response<ResponseBody>, Infallible> {
    let path = request.uri().path();
    let response = match (request.method(), path) {
        (&Method::GET, "/") => {
            let mut response = fixed(StatusCode::OK, HELLO);
            let text = HeaderValue::from_static("text/plain; charset=utf-8");
            response.headers_mut().insert(CONTENT_TYPE, text);
            response
        }
        (&Method::POST, "/echo") => Response::new(Either::Right(request.into_body())),
        (_, "/" | "/echo") => {
            let mut response = fixed(StatusCode::METHOD_NOT_ALLOWED, b"");
            let allow = if path == "/" { "GET" } else { "POST" };
            response
                .headers_mut()
                .insert(ALLOW, HeaderValue::from_static(allow));
            response
        }
        _ => fixed(StatusCode::NOT_FOUND, b"not found\n"),
    };
    Ok(response)
}

fn fixed(status: StatusCode, body: &'static [u8]) -> Response<ResponseBody> {
    let mut response = Response::new(Either::Left(Full::new(Bytes::from_static(body))));
    *response.status_mut() = status;
    response
}

/// Serves one connection until it closes: reads its first bytes to tell
/// HTTP/2 (the [`PREFACE`]) from HTTP/1, then hands it, those bytes
/// included, to hyper's `http2` or `http1` server with [`handle`] as the
/// service. Returns the protocol it spoke.
///
/// Errors: `TimedOut` if the first bytes take longer than
/// [`PREFACE_TIMEOUT`]; the connection's I/O errors; hyper's errors (a
/// client gone mid-message, a malformed request, ...) as `io::Error`s
/// whose source is the `hyper::Error`.
///
/// The stream is anything with `futures-io`'s traits: evloop's `TcpStream`
/// or `UnixStream`.
///
/// # Panics
///
/// If no evloop is running on this thread.
pub async fn serve_connection<T>(stream: T) -> io::Result<Protocol>
where
    T: AsyncRead + AsyncWrite + Unpin + 'static,
{
    let io = detect(stream).await?;
    let protocol = io.protocol();
    serve(io).await?;
    Ok(protocol)
}

/// Reads until the first bytes either are the [`PREFACE`] or cannot be.
///
/// Reading, not peeking: a peek of a partial preface would return the
/// same bytes again at once (the socket stays readable), so waiting for
/// the rest would spin. The bytes read are replayed to hyper by
/// [`Detected`].
async fn detect<T: AsyncRead + Unpin>(mut stream: T) -> io::Result<Detected<T>> {
    let mut first = [0u8; PREFACE.len()];
    let mut len = 0;
    let reading = async {
        while len < first.len() && first[..len] == PREFACE[..len] {
            let n = poll_fn(|cx| Pin::new(&mut stream).poll_read(cx, &mut first[len..])).await?;
            if n == 0 {
                break; // the end: hyper sees it too, after the bytes read
            }
            len += n;
        }
        Ok::<(), io::Error>(())
    };
    evloop::wait_for(PREFACE_TIMEOUT, reading)
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no request in time"))??;
    let http2 = len == PREFACE.len() && first == *PREFACE;
    Ok(Detected {
        io: EvloopIo::new(stream),
        first,
        at: 0,
        len,
        http2,
    })
}

/// Runs hyper's server for the protocol `io` was found to speak.
async fn serve<T>(io: Detected<T>) -> io::Result<()>
where
    T: AsyncRead + AsyncWrite + Unpin + 'static,
{
    let service = service_fn(handle);
    let served = match io.protocol() {
        Protocol::Http2 => {
            hyper::server::conn::http2::Builder::new(EvloopExecutor)
                .timer(EvloopTimer)
                .keep_alive_interval(H2_KEEP_ALIVE_INTERVAL)
                .serve_connection(io, service)
                .await
        }
        Protocol::Http1 => {
            hyper::server::conn::http1::Builder::new()
                .timer(EvloopTimer)
                .serve_connection(io, service)
                .await
        }
    };
    served.map_err(io::Error::other)
}

/// A connection whose first bytes were read to detect its protocol: reads
/// return those bytes first, then the stream's.
struct Detected<T> {
    io: EvloopIo<T>,
    first: [u8; PREFACE.len()],
    /// `first[at..len]` is yet to be read.
    at: usize,
    len: usize,
    http2: bool,
}

impl<T> Detected<T> {
    fn protocol(&self) -> Protocol {
        if self.http2 {
            Protocol::Http2
        } else {
            Protocol::Http1
        }
    }
}

impl<T: AsyncRead + Unpin> Read for Detected<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.at == this.len {
            return Pin::new(&mut this.io).poll_read(cx, buf);
        }
        let n = buf.remaining().min(this.len - this.at);
        buf.put_slice(&this.first[this.at..this.at + n]);
        this.at += n;
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncWrite + Unpin> Write for Detected<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

/// What a [`Server`] has done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Connections accepted.
    pub accepted: u64,
    /// Connections that turned out to speak HTTP/1 (counted once
    /// detected, before they are served).
    pub http1: u64,
    /// Connections that turned out to speak HTTP/2 (likewise).
    pub http2: u64,
    /// Connections that ended in an error: a client gone mid-message, a
    /// malformed request, a timeout (hyper's header-read timeout also ends
    /// an HTTP/1 keep-alive connection left idle for 30 s), ...
    pub failed: u64,
}

/// The counters behind [`Stats`], shared by the accept loop and the
/// connections' tasks (all on the loop's thread).
#[derive(Default)]
struct Counters {
    accepted: Cell<u64>,
    http1: Cell<u64>,
    http2: Cell<u64>,
    failed: Cell<u64>,
}

fn bump(counter: &Cell<u64>) {
    counter.set(counter.get() + 1);
}

/// A listening server made by [`start`] or [`start_on`]: it accepts until
/// [`close`](Server::close) is called or it is dropped, and serves each
/// connection with [`serve_connection`] in a task of its own.
#[must_use = "dropping the Server closes it"]
pub struct Server {
    local_addr: std::net::SocketAddr,
    accept_task: Task<()>,
    counters: Rc<Counters>,
}

/// Binds `addr` and starts serving (see the [module docs](self)). Accepted
/// connections get `TCP_NODELAY`, so that a response is not held back
/// waiting for the client's ACK of the previous one.
///
/// # Panics
///
/// If no evloop is running on this thread.
pub async fn start<A: ToSocketAddrs>(addr: A) -> io::Result<Server> {
    start_on(TcpListener::bind(addr).await?)
}

/// [`start`] on a listener made by the caller.
///
/// # Panics
///
/// If no evloop is running on this thread.
#[track_caller]
pub fn start_on(listener: TcpListener) -> io::Result<Server> {
    let local_addr = listener.local_addr()?;
    let counters = Rc::new(Counters::default());
    let accept_task = evloop::ensure_future(accept_loop(listener, counters.clone()));
    Ok(Server {
        local_addr,
        accept_task,
        counters,
    })
}

async fn accept_loop(listener: TcpListener, counters: Rc<Counters>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                bump(&counters.accepted);
                // Best effort: a connection already reset fails here and
                // then in hyper, which reports it.
                let _ = stream.set_nodelay(true);
                drop(evloop::ensure_future(serve_counted(
                    stream,
                    counters.clone(),
                )));
            }
            // The pending connection died before it was taken: next.
            Err(e) if is_connection_error(&e) => {}
            // EMFILE, ENOBUFS, ...: the backlog keeps them; try later.
            Err(_) => evloop::sleep(ACCEPT_RETRY_DELAY).await,
        }
    }
}

/// [`serve_connection`], counted.
async fn serve_counted<T>(stream: T, counters: Rc<Counters>)
where
    T: AsyncRead + AsyncWrite + Unpin + 'static,
{
    let served = match detect(stream).await {
        Ok(io) => {
            bump(match io.protocol() {
                Protocol::Http1 => &counters.http1,
                Protocol::Http2 => &counters.http2,
            });
            serve(io).await
        }
        Err(e) => Err(e),
    };
    if served.is_err() {
        bump(&counters.failed);
    }
}

fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    )
}

impl Server {
    /// The address the server listens on.
    pub fn local_addr(&self) -> std::net::SocketAddr {
        self.local_addr
    }

    /// What the server has done so far.
    pub fn stats(&self) -> Stats {
        let c = &self.counters;
        Stats {
            accepted: c.accepted.get(),
            http1: c.http1.get(),
            http2: c.http2.get(),
            failed: c.failed.get(),
        }
    }

    /// Stops accepting; the listening socket closes at the loop's next
    /// iteration. Connections already accepted are served on. Idempotent.
    pub fn close(&self) {
        self.accept_task.cancel();
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
            .field("stats", &self.stats())
            .finish()
    }
}
