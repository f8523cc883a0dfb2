//! The `http_hello` example's server, on loopback and driven by blocking
//! std clients (with read timeouts, so a hang fails): keep-alive,
//! pipelining, HTTP/1.0, bodies, the 400 / 431 refusals, the request head's
//! deadline (408) and the connection limit (503).

#[path = "../examples/http_hello.rs"]
mod http_hello;
mod util;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::panic::resume_unwind;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Serves http_hello with the default configuration on a loopback port
/// while `client` runs on another thread; the client's panics fail the
/// test.
fn with_server(client: impl FnOnce(SocketAddr) + Send + 'static) {
    with_server_flags(&[], client)
}

/// `with_server`, configured by these command-line flags.
fn with_server_flags(flags: &[&str], client: impl FnOnce(SocketAddr) + Send + 'static) {
    let args = ["127.0.0.1:0"].iter().chain(flags).map(|s| s.to_string());
    let config = http_hello::parse_args(args).unwrap();
    let lp = evloop::EventLoop::new();
    let outcome = util::watchdog_local(|| {
        lp.run_until_complete(async move {
            let server = http_hello::start(&config).await.unwrap();
            let addr = server.local_addr();
            evloop::EventLoop::current()
                .run_in_executor(move || client(addr))
                .await
        })
    });
    if let Err(e) = outcome.unwrap() {
        resume_unwind(e.into_panic());
    }
}

/// A response as the client saw it.
#[derive(Debug)]
struct Response {
    status: u16,
    /// Lower-cased names.
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        let mut found = self.headers.iter().filter(|(n, _)| n == name);
        found.next().map(|(_, v)| v.as_str())
    }
}

struct Client {
    stream: BufReader<TcpStream>,
}

impl Client {
    fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        Client {
            stream: BufReader::new(stream),
        }
    }

    fn send(&mut self, bytes: &[u8]) {
        self.stream.get_mut().write_all(bytes).unwrap();
    }

    fn line(&mut self) -> String {
        let mut line = String::new();
        self.stream.read_line(&mut line).unwrap();
        assert!(line.ends_with("\r\n"), "a CRLF line, got {line:?}");
        line.truncate(line.len() - 2);
        line
    }

    /// Reads one response (with its Content-Length body, unless `head`).
    fn response_to(&mut self, head: bool) -> Response {
        let status_line = self.line();
        let mut parts = status_line.splitn(3, ' ');
        assert_eq!(parts.next(), Some("HTTP/1.1"), "{status_line}");
        let status = parts.next().unwrap().parse().unwrap();
        let mut headers = Vec::new();
        loop {
            let line = self.line();
            if line.is_empty() {
                break;
            }
            let (name, value) = line.split_once(':').unwrap();
            headers.push((name.to_ascii_lowercase(), value.trim().to_string()));
        }
        let mut response = Response {
            status,
            headers,
            body: Vec::new(),
        };
        if !head {
            let len: usize = response.header("content-length").unwrap().parse().unwrap();
            response.body = vec![0; len];
            self.stream.read_exact(&mut response.body).unwrap();
        }
        response
    }

    fn response(&mut self) -> Response {
        self.response_to(false)
    }

    /// Asserts that the server closed the connection (EOF, not a timeout).
    fn expect_eof(&mut self) {
        let mut rest = Vec::new();
        let n = self.stream.read_to_end(&mut rest).unwrap();
        assert_eq!(n, 0, "nothing after the response: {rest:?}");
    }
}

fn assert_hello(response: &Response) {
    assert_eq!(response.status, 200, "{response:?}");
    assert_eq!(response.body, b"Hello, world!");
    assert_eq!(response.header("content-length"), Some("13"));
}

const GET: &[u8] = b"GET / HTTP/1.1\r\nHost: test\r\n\r\n";

#[test]
fn two_keep_alive_requests_on_one_connection_are_both_answered() {
    with_server(|addr| {
        let mut client = Client::connect(addr);
        for _ in 0..2 {
            client.send(GET);
            let response = client.response();
            assert_hello(&response);
            assert_eq!(response.header("connection"), None, "keep-alive by default");
        }
    });
}

#[test]
fn a_pipelined_pair_in_one_write_gets_two_responses() {
    with_server(|addr| {
        let mut client = Client::connect(addr);
        client.send(b"GET /a HTTP/1.1\r\nHost: test\r\n\r\nGET /b HTTP/1.1\r\nHost: test\r\n\r\n");
        assert_hello(&client.response());
        assert_hello(&client.response());
        client.send(GET); // and the connection is still usable
        assert_hello(&client.response());
    });
}

#[test]
fn connection_close_gets_the_response_then_eof() {
    with_server(|addr| {
        let mut client = Client::connect(addr);
        client.send(b"GET / HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n");
        let response = client.response();
        assert_hello(&response);
        assert_eq!(response.header("connection"), Some("close"));
        client.expect_eof();
    });
}

#[test]
fn http_1_0_closes_unless_asked_to_keep_alive() {
    with_server(|addr| {
        let mut client = Client::connect(addr);
        client.send(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        let response = client.response();
        assert_hello(&response);
        assert_eq!(response.header("connection"), Some("keep-alive"));
        client.send(b"GET / HTTP/1.0\r\n\r\n");
        let response = client.response();
        assert_hello(&response);
        assert_eq!(response.header("connection"), Some("close"));
        client.expect_eof();
    });
}

#[test]
fn a_request_body_is_skipped_and_head_gets_no_body() {
    with_server(|addr| {
        let mut client = Client::connect(addr);
        // The body is split so that it is read after the head.
        client.send(b"POST / HTTP/1.1\r\nHost: test\r\nContent-Length: 10\r\n\r\n01234");
        client.send(b"56789HEAD / HTTP/1.1\r\nHost: test\r\n\r\n");
        assert_hello(&client.response());
        let head = client.response_to(true);
        assert_eq!(head.status, 200);
        assert_eq!(head.header("content-length"), Some("13"));
        client.send(GET);
        assert_hello(&client.response());
    });
}

#[test]
fn a_malformed_request_gets_400_and_a_close() {
    for bad in [
        &b"GET / HTTP/1.1\r\nHost: test\r\nnot a header line\r\n\r\n"[..],
        b"\x01\x02 garbage\r\n\r\n",
        b"GET / HTTP/1.1\r\n\r\n", // 1.1 without Host
        b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\n",
    ] {
        with_server(move |addr| {
            let mut client = Client::connect(addr);
            client.send(bad);
            let response = client.response();
            assert_eq!(response.status, 400, "{:?}", String::from_utf8_lossy(bad));
            assert_eq!(response.header("connection"), Some("close"));
            client.expect_eof();
        });
    }
}

#[test]
fn an_oversized_header_block_gets_431_and_a_close() {
    let mut big = b"GET / HTTP/1.1\r\nHost: test\r\n".to_vec();
    for i in 0..40 {
        big.extend_from_slice(format!("X-Pad-{i}: {}\r\n", "p".repeat(400)).as_bytes());
    }
    big.extend_from_slice(b"\r\n"); // 16 KiB in all
    let mut many = b"GET / HTTP/1.1\r\nHost: test\r\n".to_vec();
    for i in 0..65 {
        many.extend_from_slice(format!("X-{i}: y\r\n").as_bytes());
    }
    many.extend_from_slice(b"\r\n"); // small, but 66 headers
    for request in [big, many] {
        with_server(move |addr| {
            let mut client = Client::connect(addr);
            client.send(&request);
            let response = client.response();
            assert_eq!(response.status, 431);
            assert_eq!(response.header("connection"), Some("close"));
            client.expect_eof();
        });
    }
}

#[test]
fn a_head_that_never_ends_is_refused_at_the_limit() {
    with_server(|addr| {
        let mut client = Client::connect(addr);
        // A header line that goes on and on: the server stops at 8 KiB.
        client.send(b"GET / HTTP/1.1\r\nX-Long: ");
        client.send(&[b'a'; 9 * 1024]);
        let response = client.response();
        assert_eq!(response.status, 431);
        client.expect_eof();
    });
}

#[test]
fn the_flags_set_the_limits_and_bad_ones_are_refused() {
    let parse = |args: &[&str]| http_hello::parse_args(args.iter().map(|s| s.to_string()));
    let config = parse(&[]).unwrap();
    assert_eq!(config.addr, "127.0.0.1:8080");
    assert_eq!(config.head_timeout, Duration::from_secs(10), "the default");
    assert_eq!(config.max_connections, 512, "the default");
    let config = parse(&[
        "0.0.0.0:80",
        "--head-timeout",
        "2.5",
        "--max-connections",
        "7",
    ])
    .unwrap();
    assert_eq!(config.addr, "0.0.0.0:80");
    assert_eq!(config.head_timeout, Duration::from_millis(2500));
    assert_eq!(config.max_connections, 7);
    for bad in [
        &["--head-timeout"][..],
        &["--head-timeout", "0"],
        &["--head-timeout", "soon"],
        &["--max-connections", "0"],
        &["--max-connections", "-1"],
        &["--verbose"],
    ] {
        assert!(parse(bad).is_err(), "{bad:?}");
    }
}

/// A thread that sends a client's connection one byte every 20 ms until
/// stopped: a head that never ends, arriving faster than any idle timeout.
struct Dripper {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

impl Dripper {
    fn start(client: &Client) -> Dripper {
        let mut stream = client.stream.get_ref().try_clone().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let thread = std::thread::spawn({
            let stop = stop.clone();
            move || {
                for byte in b"abcdefgh".iter().cycle() {
                    if stop.load(Ordering::Relaxed) || stream.write_all(&[*byte]).is_err() {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        });
        Dripper { stop, thread }
    }

    fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().unwrap();
    }
}

#[test]
fn a_head_dripped_slower_than_its_deadline_gets_408_and_a_close() {
    // A byte every 20 ms restarts any idle timeout long before it expires;
    // the head's 300 ms deadline counts from its first byte regardless.
    with_server_flags(&["--head-timeout", "0.3"], |addr| {
        let mut client = Client::connect(addr);
        client.send(b"GET / HTTP/1.1\r\nHost: test\r\nX-Slow: ");
        let dripper = Dripper::start(&client);
        let response = client.response();
        assert_eq!(response.status, 408, "{response:?}");
        assert_eq!(response.header("connection"), Some("close"));
        client.expect_eof();
        dripper.stop();
    });
}

#[test]
fn a_keep_alive_request_dripped_after_an_idle_wait_gets_408_too() {
    // Between requests the connection may idle (up to the idle timeout);
    // the next head's deadline starts at its first byte.
    with_server_flags(&["--head-timeout", "0.3"], |addr| {
        let mut client = Client::connect(addr);
        client.send(GET);
        assert_hello(&client.response());
        // Idle for twice the head timeout: not a head, so not cut short.
        std::thread::sleep(Duration::from_millis(600));
        client.send(GET);
        assert_hello(&client.response());
        // Then a head that trickles in.
        client.send(b"GET / HTTP/1.1\r\nX-Slow: ");
        let dripper = Dripper::start(&client);
        assert_eq!(client.response().status, 408);
        client.expect_eof();
        dripper.stop();
    });
}

#[test]
fn a_connection_that_sends_nothing_gets_408_at_the_head_deadline() {
    // The first head is timed from the accept.
    with_server_flags(&["--head-timeout", "0.3"], |addr| {
        let mut client = Client::connect(addr);
        assert_eq!(client.response().status, 408);
        client.expect_eof();
    });
}

#[test]
fn beyond_the_connection_limit_a_client_gets_503_until_a_connection_closes() {
    with_server_flags(&["--max-connections", "2"], |addr| {
        // Two keep-alive connections, served and kept open: the limit.
        let mut first = Client::connect(addr);
        let mut second = Client::connect(addr);
        for client in [&mut first, &mut second] {
            client.send(GET);
            assert_hello(&client.response());
        }
        // A third gets 503 and a close, while the two are still served.
        let mut third = Client::connect(addr);
        third.send(GET);
        let response = third.response();
        assert_eq!(response.status, 503, "{response:?}");
        assert_eq!(response.header("connection"), Some("close"));
        third.expect_eof();
        second.send(GET);
        assert_hello(&second.response());
        // Once one of the two closes, a new connection is served. The server
        // learns of the close on its own time: until then a newcomer may
        // still get 503, so try until one is served.
        drop(first);
        let mut turned_away = 0;
        loop {
            let mut client = Client::connect(addr);
            client.send(GET);
            let response = client.response();
            if response.status == 200 {
                assert_hello(&response);
                break;
            }
            assert_eq!(response.status, 503, "{response:?}");
            turned_away += 1;
            assert!(
                turned_away < 1000,
                "the closed connection's place never came free"
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        second.send(GET);
        assert_hello(&second.response());
    });
}
