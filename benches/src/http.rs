//! hyper 1.x on both runtimes: `hyper_http1_rps` (keep-alive GETs of `/`
//! on one or many connections, client and server on one loop / runtime).
//!
//! Both sides run the same code shape with only the runtime pieces
//! swapped: the service is `evloop_hyper::server::handle` (plain hyper,
//! no runtime in it), the server is `hyper::server::conn::http1` with a
//! timer (hyper then arms its 30 s header-read timeout for every request
//! head, as any server with a timer does), the client is
//! `hyper::client::conn::http1` with its connection driven by a task of
//! its own. evloop's side uses `evloop_hyper` (`EvloopIo`, `EvloopTimer`);
//! tokio's uses hyper-util's `TokioIo` and `TokioTimer`, the adapters
//! hyper's own docs and examples use.
//!
//! Every socket is on 127.0.0.1 with `TCP_NODELAY` on both sides.
//! Connections are made and handshaken before the clock starts.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::client::conn::http1::SendRequest;
use hyper::service::service_fn;
use hyper::{Request, StatusCode};

use crate::runtime::{self, TokioForm};

const LOCALHOST: &str = "127.0.0.1:0";

/// The request every client sends.
fn get() -> Request<Empty<Bytes>> {
    Request::get("/")
        .header("host", "localhost")
        .body(Empty::new())
        .expect("a valid request")
}

/// `requests` GETs one after another on `sender`, each response read
/// whole and checked.
async fn client(mut sender: SendRequest<Empty<Bytes>>, requests: usize) {
    for _ in 0..requests {
        let response = sender.send_request(get()).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body.len(), evloop_hyper::server::HELLO.len());
    }
}

// ---- evloop ----------------------------------------------------------------

mod ev {
    use super::*;
    use evloop::net::{TcpListener, TcpStream};
    use evloop_hyper::{EvloopIo, EvloopTimer};

    /// A server task accepting `conns` connections, and `conns` handshaken
    /// clients.
    async fn connect(conns: usize) -> Vec<SendRequest<Empty<Bytes>>> {
        let listener = TcpListener::bind(LOCALHOST).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = evloop::ensure_future(async move {
            for _ in 0..conns {
                let (stream, _) = listener.accept().await.unwrap();
                stream.set_nodelay(true).unwrap();
                let conn = hyper::server::conn::http1::Builder::new()
                    .timer(EvloopTimer)
                    .serve_connection(
                        EvloopIo::new(stream),
                        service_fn(evloop_hyper::server::handle),
                    );
                drop(evloop::ensure_future(conn));
            }
        });
        let mut senders = Vec::with_capacity(conns);
        for _ in 0..conns {
            let stream = TcpStream::connect(addr).await.unwrap();
            stream.set_nodelay(true).unwrap();
            let (sender, conn) = hyper::client::conn::http1::handshake(EvloopIo::new(stream))
                .await
                .unwrap();
            drop(evloop::ensure_future(conn));
            senders.push(sender);
        }
        server.await.unwrap();
        senders
    }

    pub fn rps(conns: usize, requests: usize) -> Duration {
        runtime::evloop()
            .run_until_complete(async move {
                let senders = connect(conns).await;
                let start = Instant::now();
                let tasks: Vec<_> = senders
                    .into_iter()
                    .map(|sender| evloop::ensure_future(client(sender, requests)))
                    .collect();
                for task in tasks {
                    task.await.unwrap();
                }
                start.elapsed()
            })
            .unwrap()
    }
}

// ---- tokio -----------------------------------------------------------------

mod tk {
    use super::*;
    use hyper_util::rt::{TokioIo, TokioTimer};
    use tokio::net::{TcpListener, TcpStream};

    async fn connect(conns: usize, form: TokioForm) -> Vec<SendRequest<Empty<Bytes>>> {
        let listener = TcpListener::bind(LOCALHOST).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = form.spawn(async move {
            for _ in 0..conns {
                let (stream, _) = listener.accept().await.unwrap();
                stream.set_nodelay(true).unwrap();
                let conn = hyper::server::conn::http1::Builder::new()
                    .timer(TokioTimer::new())
                    .serve_connection(
                        TokioIo::new(stream),
                        service_fn(evloop_hyper::server::handle),
                    );
                drop(form.spawn(conn));
            }
        });
        let mut senders = Vec::with_capacity(conns);
        for _ in 0..conns {
            let stream = TcpStream::connect(addr).await.unwrap();
            stream.set_nodelay(true).unwrap();
            let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .unwrap();
            drop(form.spawn(conn));
            senders.push(sender);
        }
        server.await.unwrap();
        senders
    }

    pub fn rps(conns: usize, requests: usize, form: TokioForm) -> Duration {
        form.block_on(&runtime::tokio_io(), async move {
            let senders = connect(conns, form).await;
            let start = Instant::now();
            let tasks: Vec<_> = senders
                .into_iter()
                .map(|sender| form.spawn(client(sender, requests)))
                .collect();
            for task in tasks {
                task.await.unwrap();
            }
            start.elapsed()
        })
    }
}

// ---- the workloads ---------------------------------------------------------

/// `conns` keep-alive connections to a hyper HTTP/1.1 server on the same
/// loop, each sending `requests` GETs of `/` one after another (the next
/// once the previous response's body is read). Returns the time from the
/// first request to the last response.
pub fn http1_rps_evloop(conns: usize, requests: usize) -> Duration {
    ev::rps(conns, requests)
}

/// [`http1_rps_evloop`] on tokio.
pub fn http1_rps_tokio(conns: usize, requests: usize, form: TokioForm) -> Duration {
    tk::rps(conns, requests, form)
}
