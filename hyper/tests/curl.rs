//! The server with curl as the client (HTTP/1.1, and HTTP/2 with prior
//! knowledge), where curl is installed: the server runs on a loop in a
//! thread of its own, curl as a child process.

use std::process::{Command, Output};
use std::sync::mpsc;
use std::thread;

use evloop_hyper::server::{self, HELLO};

/// A server on its own thread, stopped when dropped.
struct Background {
    addr: std::net::SocketAddr,
    handle: evloop::LoopHandle,
    thread: Option<thread::JoinHandle<()>>,
}

impl Background {
    fn start() -> Background {
        let (tx, rx) = mpsc::channel();
        let thread = thread::spawn(move || {
            let lp = evloop::EventLoop::new();
            let handle = lp.handle();
            // Runs until `stop` from the test's thread; the run then ends
            // with an error saying it was stopped, which is the plan.
            let _stopped = lp.run_until_complete(async move {
                let server = server::start("127.0.0.1:0").await.unwrap();
                tx.send((server.local_addr(), handle)).unwrap();
                std::future::pending::<()>().await;
            });
        });
        let (addr, handle) = rx.recv().unwrap();
        Background {
            addr,
            handle,
            thread: Some(thread),
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.handle.stop();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Whether curl is there; if not, says so (the test then passes without
/// checking anything, as a skip).
fn have_curl() -> bool {
    let found = Command::new("curl")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        eprintln!("curl not found: skipping the curl tests");
    }
    found
}

/// Runs curl quietly with `args`; fails the test if curl fails.
fn curl(args: &[&str]) -> Vec<u8> {
    let Output {
        status,
        stdout,
        stderr,
    } = Command::new("curl")
        .args(["--silent", "--show-error", "--max-time", "30"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        status.success(),
        "curl {args:?}: {}",
        String::from_utf8_lossy(&stderr)
    );
    stdout
}

/// The body `--data-binary @file` sends: 100 KiB, every byte value, in
/// a file removed when dropped.
fn body_file() -> (TempFile, Vec<u8>) {
    let data: Vec<u8> = (0..100 * 1024)
        .map(|i: usize| (i * 7 + i / 256) as u8)
        .collect();
    (TempFile::new(&data), data)
}

/// A file removed when dropped.
struct TempFile(std::path::PathBuf);

impl TempFile {
    fn new(data: &[u8]) -> TempFile {
        // The test's name keeps tests running at once apart.
        let test = thread::current().name().unwrap_or("curl").replace(':', "_");
        let name = format!("evloop-hyper-{}-{test}.bin", std::process::id());
        let path = std::env::temp_dir().join(name);
        std::fs::write(&path, data).unwrap();
        TempFile(path)
    }

    /// The argument of `--data-binary`.
    fn at(&self) -> String {
        format!("@{}", self.0.display())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// A GET of `/` (its head starting with `status_line`, its body the
/// greeting) and an echo of the body file, by curl with `version` (its
/// flag choosing the HTTP version).
fn get_and_echo_with_curl(version: &str, status_line: &str) {
    if !have_curl() {
        return;
    }
    let server = Background::start();
    let head_and_body = curl(&["--include", version, &server.url("/")]);
    let text = String::from_utf8(head_and_body).unwrap();
    assert!(text.starts_with(status_line), "{text}");
    assert!(
        text.ends_with(std::str::from_utf8(HELLO).unwrap()),
        "{text}"
    );

    let (file, data) = body_file();
    let echoed = curl(&[version, "--data-binary", &file.at(), &server.url("/echo")]);
    assert_eq!(echoed.len(), data.len());
    assert!(echoed == data, "the echo differs from what was sent");
}

#[test]
fn http1_get_and_echo_with_curl() {
    get_and_echo_with_curl("--http1.1", "HTTP/1.1 200 OK\r\n");
}

#[test]
fn http2_prior_knowledge_get_and_echo_with_curl() {
    get_and_echo_with_curl("--http2-prior-knowledge", "HTTP/2 200");
}

/// Several URLs on one curl command line share its connection: HTTP/1.1
/// keep-alive as curl does it (`num_connects` is 0 for a reused
/// connection). Not tried with HTTP/2: curl 7.88 fails the second request
/// on a reused prior-knowledge connection before sending it (a curl bug,
/// fixed in curl 8.0).
#[test]
fn curl_reuses_its_http1_connection() {
    if !have_curl() {
        return;
    }
    let server = Background::start();
    let url = server.url("/");
    let out = curl(&[
        "--http1.1",
        "--write-out",
        "%{num_connects}\n",
        &url,
        &url,
        &url,
    ]);
    let hello = std::str::from_utf8(HELLO).unwrap();
    let expected = format!("{hello}1\n{hello}0\n{hello}0\n");
    assert_eq!(String::from_utf8(out).unwrap(), expected);
}
