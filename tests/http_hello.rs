//! The `http_hello` example's connection handler, served on loopback and
//! driven by a blocking std client (with read timeouts, so a hang fails):
//! keep-alive, pipelining, HTTP/1.0, bodies, and the 400 / 431 refusals.

#[path = "../examples/http_hello.rs"]
mod http_hello;
mod util;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::panic::resume_unwind;
use std::time::Duration;

use evloop::net::start_server;

/// Serves `handle_connection` on a loopback port while `client` runs on
/// another thread; the client's panics fail the test.
fn with_server(client: impl FnOnce(SocketAddr) + Send + 'static) {
    let lp = evloop::EventLoop::new();
    let outcome = util::watchdog_local(|| {
        lp.run_until_complete(async move {
            let server = start_server("127.0.0.1:0", http_hello::handle_connection)
                .await
                .unwrap();
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
