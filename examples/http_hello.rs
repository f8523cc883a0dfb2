//! A minimal HTTP/1.1 server: every request gets `200 OK` and
//! "Hello, world!". For curl, wrk or a browser.
//!
//! ```text
//! cargo run --example http_hello -- [ADDR] [--head-timeout SECS] [--max-connections N]
//! curl -s http://127.0.0.1:8080/
//! ```
//!
//! `ADDR` defaults to `127.0.0.1:8080`, `--head-timeout` to 10 seconds
//! (fractions allowed) and `--max-connections` to 512.
//!
//! What it does about HTTP:
//!
//! - **Keep-alive.** An HTTP/1.1 connection stays open unless the request
//!   says `Connection: close`; an HTTP/1.0 one closes unless it says
//!   `Connection: keep-alive`. A connection idle between requests closes
//!   after a minute.
//! - **Pipelining.** Requests are parsed (with `httparse`) in place in the
//!   reader's buffer, one after another, so several that arrive in one read
//!   are all answered; their responses go out together, in one write.
//! - **Bodies.** A `Content-Length` body is read and dropped, a buffer at a
//!   time. `Transfer-Encoding` (chunked bodies) gets `501` and a close.
//! - **Bounds.** A request head (request line and headers) over 8 KiB, or
//!   with more than 64 headers, gets `431 Request Header Fields Too Large`;
//!   one that does not parse gets `400 Bad Request`; both close the
//!   connection. The reader's limit is the head limit, so no input makes a
//!   connection buffer more than 8 KiB of requests.
//!
//! What it does about slow or too many clients:
//!
//! - **Head deadline.** A request head must be complete within the head
//!   timeout (`--head-timeout`, 10 s by default) of its first byte, or,
//!   for a connection's first request, of the accept. The time is for the
//!   whole head, not between reads, so a client that drips a byte now and
//!   then cannot hold a connection: past the deadline it gets
//!   `408 Request Timeout` and a close, however steadily it sends. (A
//!   body's reads are bounded by the idle timeout only, each read
//!   restarting it.)
//! - **Connection limit.** At most `--max-connections` (512 by default:
//!   nginx's default `worker_connections`, and half of the usual limit of
//!   1,024 descriptors, leaving room for the ones being turned away)
//!   connections are served at once. One beyond the limit is still
//!   accepted, so that it gets an answer instead of waiting in the backlog:
//!   `503 Service Unavailable` and a close (it holds its descriptor at most
//!   the 2 s linger below, and no read buffer unless it sends). Keep the
//!   limit under the process's descriptor limit (`ulimit -n`).
//! - **Memory.** An idle connection holds no read buffer: `StreamReader`
//!   allocates its buffer when the first bytes arrive.
//!
//! `Config`, `parse_args` and `start` are `pub` so that `tests/http_hello.rs`
//! can serve with them.

use std::cell::Cell;
use std::io;
use std::rc::Rc;
use std::time::{Duration, Instant};

use evloop::net::{start_server, Server, StreamReader, StreamWriter};

/// The longest request head accepted (request line and headers).
const MAX_HEAD: usize = 8 * 1024;

/// The most header fields a request may have.
const MAX_HEADERS: usize = 64;

/// How long a connection may wait for the client's next request (and for
/// each read of a body).
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// The default time a request head may take, from its first byte (from
/// the accept for a connection's first request). nginx's
/// `client_header_timeout` is 60 s and Apache's `RequestReadTimeout` 20 s
/// (up to 40 s while data keeps coming); 10 s frees a slow client's place
/// sooner and is still ample for a real client, whose head is one small
/// write.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);

/// The default connection limit (see the module docs).
const MAX_CONNECTIONS: usize = 512;

/// What the command line sets.
#[derive(Clone, Debug)]
pub struct Config {
    /// The address to listen on.
    pub addr: String,
    /// How long a request head may take (see the module docs).
    pub head_timeout: Duration,
    /// How many connections are served at once; more get `503`.
    pub max_connections: usize,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            addr: "127.0.0.1:8080".to_string(),
            head_timeout: HEAD_TIMEOUT,
            max_connections: MAX_CONNECTIONS,
        }
    }
}

const USAGE: &str = "usage: http_hello [ADDR] [--head-timeout SECS] [--max-connections N]";

/// Reads `[ADDR] [--head-timeout SECS] [--max-connections N]` (without the
/// program name).
pub fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Config, String> {
    let mut config = Config::default();
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--head-timeout" => {
                let secs = args.next().and_then(|s| s.parse::<f64>().ok());
                config.head_timeout = secs
                    .filter(|&s| s > 0.0)
                    .and_then(|s| Duration::try_from_secs_f64(s).ok())
                    .ok_or("--head-timeout needs a number of seconds above 0")?;
            }
            "--max-connections" => {
                let n = args.next().and_then(|s| s.parse::<usize>().ok());
                config.max_connections = n
                    .filter(|&n| n > 0)
                    .ok_or("--max-connections needs a number above 0")?;
            }
            flag if flag.starts_with("--") => return Err(format!("unknown flag {flag}")),
            addr => config.addr = addr.to_string(),
        }
    }
    Ok(config)
}

/// When closing: how much of what the client still sends to read and drop,
/// and for how long, so that the close does not turn into a reset that
/// could destroy the last response before the client has read it.
const LINGER_BYTES: usize = 64 * 1024;
const LINGER_TIME: Duration = Duration::from_secs(2);

const BODY: &[u8] = b"Hello, world!";
const CONTINUE: &[u8] = b"HTTP/1.1 100 Continue\r\n\r\n";

/// What the response to a request depends on.
struct Request {
    http11: bool,
    keep_alive: bool,
    head_only: bool,
    body_len: u64,
    expect_continue: bool,
}

/// Why a request is refused (and the connection closed).
#[derive(Clone, Copy, Debug)]
enum Refusal {
    BadRequest,
    HeadTooLarge,
    NotImplemented,
    /// The head was not complete by its deadline.
    HeadTimeout,
    /// The connection is over the limit.
    Busy,
}

/// What the next bytes on the connection hold.
enum Next {
    Request(Request),
    Refused(Refusal),
    /// The client closed the connection (between requests, or mid-head).
    Closed,
}

/// What parsing the buffered bytes gave.
enum Parsed {
    /// A complete head of this many bytes.
    Complete(usize, Request),
    Partial,
    Refused(Refusal),
}

/// Listens on `config.addr` and serves every connection, up to
/// `config.max_connections` at once.
pub async fn start(config: &Config) -> io::Result<Server> {
    let open = Rc::new(Cell::new(0));
    let (head_timeout, max) = (config.head_timeout, config.max_connections);
    start_server(&config.addr, move |reader, writer| {
        // Counted here, as the connection is accepted, so that the next
        // accept already sees it.
        let slot = Slot::take(&open, max);
        handle_connection(reader, writer, head_timeout, slot)
    })
    .await
}

/// A place among the connections served at once, given back on drop.
struct Slot(Rc<Cell<usize>>);

impl Slot {
    /// A place if fewer than `max` are taken.
    fn take(open: &Rc<Cell<usize>>, max: usize) -> Option<Slot> {
        (open.get() < max).then(|| {
            open.set(open.get() + 1);
            Slot(open.clone())
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.set(self.0.get() - 1);
    }
}

/// Serves one connection: answers its requests until it is to be closed,
/// then closes it gracefully. Without a slot it only gets `503`.
async fn handle_connection(
    mut reader: StreamReader,
    mut writer: StreamWriter,
    head_timeout: Duration,
    slot: Option<Slot>,
) {
    reader.set_limit(MAX_HEAD);
    let mut out = Vec::new();
    let served = match slot {
        None => {
            refuse(&mut out, Refusal::Busy);
            Ok(())
        }
        Some(_) => serve(&mut reader, &mut writer, &mut out, head_timeout).await,
    };
    // An I/O error means the client is gone or idle too long: nothing
    // more to say to it. The slot, if any, is held until the socket is
    // closed: its descriptor is in use until then.
    if served.is_ok() && writer.write_all(&out).await.is_ok() {
        close_gracefully(&mut reader, writer).await;
    }
    drop(reader); // the socket closes here (the writer is gone)
    drop(slot);
}

/// Answers requests, queueing the responses in `out`, until the connection
/// is to be closed. `out` is written before every wait for more input, so
/// it holds at most the responses to one buffer's worth of requests.
async fn serve(
    reader: &mut StreamReader,
    writer: &mut StreamWriter,
    out: &mut Vec<u8>,
    head_timeout: Duration,
) -> io::Result<()> {
    // The first head is timed from the accept; the later ones from their
    // first byte (a keep-alive connection may idle between requests).
    let mut head_deadline = Some(now() + head_timeout);
    loop {
        match next_request(reader, writer, out, head_deadline, head_timeout).await? {
            Next::Request(request) => {
                if request.expect_continue && request.body_len > 0 {
                    out.extend_from_slice(CONTINUE);
                }
                discard_body(reader, writer, out, request.body_len).await?;
                respond(out, &request);
                if !request.keep_alive {
                    return Ok(());
                }
                head_deadline = None;
            }
            Next::Refused(why) => {
                refuse(out, why);
                return Ok(());
            }
            Next::Closed => return Ok(()),
        }
    }
}

/// The loop's clock.
fn now() -> Instant {
    evloop::EventLoop::current().time()
}

/// Parses the next request head from the buffer, reading more as needed,
/// until `deadline`; with no deadline yet (between keep-alive requests),
/// it starts at the head's first byte.
async fn next_request(
    reader: &mut StreamReader,
    writer: &mut StreamWriter,
    out: &mut Vec<u8>,
    mut deadline: Option<Instant>,
    head_timeout: Duration,
) -> io::Result<Next> {
    loop {
        match parse(reader.buffer()) {
            Parsed::Complete(len, request) => {
                reader.consume(len);
                return Ok(Next::Request(request));
            }
            Parsed::Refused(why) => return Ok(Next::Refused(why)),
            Parsed::Partial => {}
        }
        if deadline.is_none() && !reader.buffer().is_empty() {
            deadline = Some(now() + head_timeout); // the head has begun
        }
        let timeout = match deadline {
            Some(deadline) => deadline.saturating_duration_since(now()),
            None => IDLE_TIMEOUT,
        };
        match read_more(reader, writer, out, timeout).await {
            Ok(0) => return Ok(Next::Closed),
            Ok(_) => {}
            // The buffer is full (the reader's limit) and the head still
            // has no end.
            Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                return Ok(Next::Refused(Refusal::HeadTooLarge))
            }
            // Past the head's deadline: answered. (Idle between requests:
            // closed without a word, as the error below.)
            Err(e) if e.kind() == io::ErrorKind::TimedOut && deadline.is_some() => {
                return Ok(Next::Refused(Refusal::HeadTimeout))
            }
            Err(e) => return Err(e),
        }
    }
}

/// Reads and drops a body of `len` bytes.
async fn discard_body(
    reader: &mut StreamReader,
    writer: &mut StreamWriter,
    out: &mut Vec<u8>,
    mut len: u64,
) -> io::Result<()> {
    while len > 0 {
        if reader.buffer().is_empty() && read_more(reader, writer, out, IDLE_TIMEOUT).await? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        let n = reader
            .buffer()
            .len()
            .min(len.try_into().unwrap_or(usize::MAX));
        reader.consume(n);
        len -= n as u64;
    }
    Ok(())
}

/// Writes the queued responses, then reads more input into the reader's
/// buffer, waiting at most `timeout`: the bytes read, 0 at end of stream,
/// `TimedOut` if none came in time.
async fn read_more(
    reader: &mut StreamReader,
    writer: &mut StreamWriter,
    out: &mut Vec<u8>,
    timeout: Duration,
) -> io::Result<usize> {
    if !out.is_empty() {
        writer.write_all(out).await?;
        out.clear();
    }
    evloop::wait_for(timeout, reader.fill())
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "no input in time"))?
}

/// Parses a request head at the start of `buf`.
fn parse(buf: &[u8]) -> Parsed {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(buf) {
        Ok(httparse::Status::Complete(len)) => match request_of(&req) {
            Ok(request) => Parsed::Complete(len, request),
            Err(why) => Parsed::Refused(why),
        },
        Ok(httparse::Status::Partial) => Parsed::Partial,
        Err(httparse::Error::TooManyHeaders) => Parsed::Refused(Refusal::HeadTooLarge),
        Err(_) => Parsed::Refused(Refusal::BadRequest),
    }
}

/// What the response depends on, from a parsed head.
fn request_of(req: &httparse::Request<'_, '_>) -> Result<Request, Refusal> {
    let http11 = req.version == Some(1);
    let (mut close, mut keep_alive, mut has_host) = (false, false, false);
    let mut body_len: Option<u64> = None;
    let mut expect_continue = false;
    for header in req.headers.iter() {
        let name = header.name;
        if name.eq_ignore_ascii_case("connection") {
            for token in header.value.split(|&b| b == b',') {
                let token = token.trim_ascii();
                close |= token.eq_ignore_ascii_case(b"close");
                keep_alive |= token.eq_ignore_ascii_case(b"keep-alive");
            }
        } else if name.eq_ignore_ascii_case("content-length") {
            let len = parse_length(header.value).ok_or(Refusal::BadRequest)?;
            // Two different lengths: the message's end is ambiguous.
            if body_len.is_some_and(|l| l != len) {
                return Err(Refusal::BadRequest);
            }
            body_len = Some(len);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(Refusal::NotImplemented);
        } else if name.eq_ignore_ascii_case("expect") {
            expect_continue = header
                .value
                .trim_ascii()
                .eq_ignore_ascii_case(b"100-continue");
        } else if name.eq_ignore_ascii_case("host") {
            has_host = true;
        }
    }
    // RFC 9112 §3.2: a 1.1 request without Host is answered with 400.
    if http11 && !has_host {
        return Err(Refusal::BadRequest);
    }
    Ok(Request {
        http11,
        keep_alive: !close && (http11 || keep_alive),
        head_only: req.method == Some("HEAD"),
        body_len: body_len.unwrap_or(0),
        expect_continue,
    })
}

/// A `Content-Length` value: digits only (no sign, no spaces inside).
fn parse_length(value: &[u8]) -> Option<u64> {
    let digits = value.trim_ascii();
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// Queues the "Hello, world!" response.
fn respond(out: &mut Vec<u8>, request: &Request) {
    out.extend_from_slice(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n");
    out.extend_from_slice(format!("Content-Length: {}\r\n", BODY.len()).as_bytes());
    if !request.keep_alive {
        out.extend_from_slice(b"Connection: close\r\n");
    } else if !request.http11 {
        out.extend_from_slice(b"Connection: keep-alive\r\n");
    }
    out.extend_from_slice(b"\r\n");
    if !request.head_only {
        out.extend_from_slice(BODY);
    }
}

/// Queues the error response for `why`.
fn refuse(out: &mut Vec<u8>, why: Refusal) {
    let status = match why {
        Refusal::BadRequest => "400 Bad Request",
        Refusal::HeadTooLarge => "431 Request Header Fields Too Large",
        Refusal::NotImplemented => "501 Not Implemented",
        Refusal::HeadTimeout => "408 Request Timeout",
        Refusal::Busy => "503 Service Unavailable",
    };
    let body = format!("{status}\n");
    out.extend_from_slice(
        format!(
            "HTTP/1.1 {status}\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    );
}

/// Sends FIN, then reads and drops what the client still sends (a little,
/// briefly) before the socket closes: closing with unread input makes the
/// kernel send a reset, which can destroy the response in flight.
async fn close_gracefully(reader: &mut StreamReader, writer: StreamWriter) {
    if writer.close().is_err() {
        return;
    }
    let drain = async {
        let mut left = LINGER_BYTES;
        while left > 0 {
            reader.consume(usize::MAX);
            match reader.fill().await {
                Ok(0) | Err(_) => break,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
    };
    let _ = evloop::wait_for(LINGER_TIME, drain).await;
}

#[allow(dead_code)] // the tests include this file for `start`
fn main() {
    let config = parse_args(std::env::args().skip(1)).unwrap_or_else(|problem| {
        eprintln!("http_hello: {problem}\n{USAGE}");
        std::process::exit(2);
    });
    let served = evloop::run(async move {
        let server = start(&config).await?;
        println!("http_hello listening on http://{}/", server.local_addr());
        server.serve_forever().await;
        Ok::<(), io::Error>(())
    });
    match served {
        Ok(Ok(())) => {}
        Ok(Err(e)) => fail(&e),
        Err(e) => fail(&e),
    }
}

#[allow(dead_code)]
fn fail(e: &dyn std::fmt::Display) -> ! {
    eprintln!("http_hello: {e}");
    std::process::exit(1);
}
