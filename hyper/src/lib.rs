//! # evloop-hyper
//!
//! [hyper](https://docs.rs/hyper) 1.x on [evloop]: the three
//! runtime pieces hyper asks of its host, and a small HTTP/1.1 + HTTP/2
//! server built with them.
//!
//! | hyper wants | evloop-hyper gives | hyper-util's tokio counterpart |
//! | --- | --- | --- |
//! | `rt::Read` + `rt::Write` (the connection) | [`EvloopIo`] over evloop's `TcpStream` / `UnixStream` | `TokioIo` |
//! | `rt::Executor` (HTTP/2 streams) | [`EvloopExecutor`], spawning `!Send` futures with `evloop::ensure_future` | `TokioExecutor` (`Send` only) |
//! | `rt::Timer` + `rt::Sleep` (timeouts, keep-alive pings) | [`EvloopTimer`] → [`EvloopSleep`] on the loop's timers and clock | `TokioTimer` |
//!
//! Everything runs on the loop's thread: services and bodies need not be
//! `Send`.
//!
//! ## Example: an HTTP/1.1 server
//!
//! ```no_run
//! use std::convert::Infallible;
//! use bytes::Bytes;
//! use evloop::net::TcpListener;
//! use evloop_hyper::{EvloopIo, EvloopTimer};
//! use http_body_util::Full;
//! use hyper::{service::service_fn, Request, Response};
//!
//! async fn hello(_: Request<hyper::body::Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
//!     Ok(Response::new(Full::new(Bytes::from_static(b"hello\n"))))
//! }
//!
//! evloop::run(async {
//!     let listener = TcpListener::bind("127.0.0.1:8080").await.unwrap();
//!     loop {
//!         let (stream, _) = listener.accept().await.unwrap();
//!         let connection = hyper::server::conn::http1::Builder::new()
//!             .timer(EvloopTimer) // hyper's header-read timeout (30 s)
//!             .serve_connection(EvloopIo::new(stream), service_fn(hello));
//!         drop(evloop::ensure_future(connection)); // a task per connection
//!     }
//! })
//! .unwrap();
//! ```
//!
//! For HTTP/2, give the `http2` builders [`EvloopExecutor`] as well; the
//! [`server`] module serves both on one port.

mod executor;
mod io;
pub mod server;
mod timer;

pub use executor::EvloopExecutor;
pub use io::EvloopIo;
pub use timer::{EvloopSleep, EvloopTimer};
