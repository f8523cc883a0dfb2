//! `EvloopIo` over a Unix-domain stream: the server's `serve_connection`
//! on one end of a socket pair, hyper's clients on the other.

mod util;

use evloop::net::UnixStream;
use evloop_hyper::server::{self, Protocol, HELLO};
use evloop_hyper::{EvloopExecutor, EvloopIo, EvloopTimer};
use util::{body, get, post, run};

#[test]
fn http1_over_a_unix_stream() {
    run(async {
        let (client, server_end) = UnixStream::pair().unwrap();
        let served = evloop::ensure_future(server::serve_connection(server_end));
        let (mut sender, conn) = hyper::client::conn::http1::handshake(EvloopIo::new(client))
            .await
            .unwrap();
        let conn = evloop::ensure_future(conn);
        let response = sender.send_request(get("/")).await.unwrap();
        assert_eq!(body(response).await, HELLO);
        let response = sender.send_request(post("/echo", "unix")).await.unwrap();
        assert_eq!(body(response).await, "unix");
        drop(sender); // the client closes the connection...
        conn.await.unwrap().unwrap();
        // ...and the server's side ends cleanly, having spoken HTTP/1.
        assert_eq!(served.await.unwrap().unwrap(), Protocol::Http1);
    });
}

#[test]
fn http2_over_a_unix_stream() {
    run(async {
        let (client, server_end) = UnixStream::pair().unwrap();
        let served = evloop::ensure_future(server::serve_connection(server_end));
        let (mut sender, conn) = hyper::client::conn::http2::Builder::new(EvloopExecutor)
            .timer(EvloopTimer)
            .handshake(EvloopIo::new(client))
            .await
            .unwrap();
        let conn = evloop::ensure_future(conn);
        let response = sender.send_request(get("/")).await.unwrap();
        assert_eq!(response.version(), hyper::Version::HTTP_2);
        assert_eq!(body(response).await, HELLO);
        drop(sender);
        conn.await.unwrap().unwrap();
        assert_eq!(served.await.unwrap().unwrap(), Protocol::Http2);
    });
}
