//! What the tests share: hyper clients on evloop and a streamed test body.

#![allow(dead_code)] // each test file uses its own part

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use evloop::net::TcpStream;
use evloop_hyper::{EvloopExecutor, EvloopIo, EvloopTimer};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Body, Frame, Incoming};
use hyper::{Request, Response};

/// An HTTP/1.1 client connection to `addr`, its driver running as a task.
pub async fn http1(
    addr: std::net::SocketAddr,
) -> hyper::client::conn::http1::SendRequest<TestBody> {
    let stream = TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let (sender, conn) = hyper::client::conn::http1::handshake(EvloopIo::new(stream))
        .await
        .unwrap();
    drop(evloop::ensure_future(conn));
    sender
}

/// An HTTP/2 (prior knowledge) client connection to `addr`.
pub async fn http2(
    addr: std::net::SocketAddr,
) -> hyper::client::conn::http2::SendRequest<TestBody> {
    let stream = TcpStream::connect(addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let (sender, conn) = hyper::client::conn::http2::Builder::new(EvloopExecutor)
        .timer(EvloopTimer)
        .handshake(EvloopIo::new(stream))
        .await
        .unwrap();
    drop(evloop::ensure_future(conn));
    sender
}

/// The request bodies of the tests: none, a fixed one, or a generated
/// stream.
pub enum TestBody {
    Empty(Empty<Bytes>),
    Full(Full<Bytes>),
    Stream(Pattern),
}

impl Body for TestBody {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        match self.get_mut() {
            TestBody::Empty(b) => Pin::new(b).poll_frame(cx),
            TestBody::Full(b) => Pin::new(b).poll_frame(cx),
            TestBody::Stream(p) => Poll::Ready(p.next_chunk().map(|c| Ok(Frame::data(c)))),
        }
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        match self {
            TestBody::Empty(b) => b.size_hint(),
            TestBody::Full(b) => b.size_hint(),
            TestBody::Stream(p) => hyper::body::SizeHint::with_exact(p.left as u64),
        }
    }
}

/// A GET of `path`.
pub fn get(path: &str) -> Request<TestBody> {
    Request::get(path)
        .header("host", "localhost")
        .body(TestBody::Empty(Empty::new()))
        .unwrap()
}

/// A POST of `body` to `path`.
pub fn post(path: &str, body: impl Into<Bytes>) -> Request<TestBody> {
    Request::post(path)
        .header("host", "localhost")
        .body(TestBody::Full(Full::new(body.into())))
        .unwrap()
}

/// The whole body of `response`.
pub async fn body(response: Response<Incoming>) -> Bytes {
    response.into_body().collect().await.unwrap().to_bytes()
}

/// A deterministic stream of `len` bytes, in chunks of `chunk` bytes, that
/// no shift or repetition of a chunk leaves unchanged (byte `i` is a
/// function of `i` with period far above the chunk size).
pub struct Pattern {
    at: usize,
    left: usize,
    chunk: usize,
}

impl Pattern {
    pub fn new(len: usize, chunk: usize) -> Pattern {
        Pattern {
            at: 0,
            left: len,
            chunk,
        }
    }

    fn next_chunk(&mut self) -> Option<Bytes> {
        if self.left == 0 {
            return None;
        }
        let n = self.left.min(self.chunk);
        let chunk: Vec<u8> = (self.at..self.at + n).map(pattern_byte).collect();
        self.at += n;
        self.left -= n;
        Some(Bytes::from(chunk))
    }
}

/// Byte `i` of [`Pattern`].
pub fn pattern_byte(i: usize) -> u8 {
    (i ^ (i >> 8) ^ (i >> 16).wrapping_mul(7)) as u8
}

/// FNV-1a, 64 bits, fed a piece at a time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fnv(pub u64);

impl Fnv {
    pub fn new() -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }

    pub fn update(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// The FNV-1a checksum of the first `len` bytes of the pattern.
pub fn pattern_checksum(len: usize) -> Fnv {
    let mut fnv = Fnv::new();
    for i in 0..len {
        fnv.update(&[pattern_byte(i)]);
    }
    fnv
}

/// Runs `test` on a fresh loop.
pub fn run<F: std::future::Future<Output = ()> + 'static>(test: F) {
    evloop::EventLoop::new().run_until_complete(test).unwrap();
}
