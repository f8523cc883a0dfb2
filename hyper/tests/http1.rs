//! The server over HTTP/1.1, with hyper's client on the same loop.

mod util;

use std::time::Duration;

use evloop::net::TcpStream;
use evloop_hyper::server::{self, HELLO};
use http_body_util::BodyExt;
use hyper::StatusCode;
use util::{body, get, http1, pattern_checksum, post, run, Fnv, Pattern, TestBody};

#[test]
fn get_answers_hello() {
    run(async {
        let server = server::start("127.0.0.1:0").await.unwrap();
        let mut client = http1(server.local_addr()).await;
        let response = client.send_request(get("/")).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.version(), hyper::Version::HTTP_11);
        assert_eq!(
            response.headers()["content-type"],
            "text/plain; charset=utf-8"
        );
        assert_eq!(body(response).await, HELLO);
        let stats = server.stats();
        assert_eq!((stats.accepted, stats.http1, stats.http2), (1, 1, 0));
    });
}

#[test]
fn post_echo_answers_the_body() {
    run(async {
        let server = server::start("127.0.0.1:0").await.unwrap();
        let mut client = http1(server.local_addr()).await;
        let response = client
            .send_request(post("/echo", "ping, with a comma"))
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(body(response).await, "ping, with a comma");
        // An empty body comes back empty.
        let response = client.send_request(post("/echo", "")).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(body(response).await, "");
    });
}

#[test]
fn other_paths_and_methods_are_refused() {
    run(async {
        let server = server::start("127.0.0.1:0").await.unwrap();
        let mut client = http1(server.local_addr()).await;
        let response = client.send_request(get("/nowhere")).await.unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        body(response).await;
        let response = client.send_request(get("/echo")).await.unwrap();
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(response.headers()["allow"], "POST");
        body(response).await;
        let response = client.send_request(post("/", "x")).await.unwrap();
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(response.headers()["allow"], "GET");
    });
}

/// 10 MiB sent in 64 KiB chunks and read back as it comes (the server
/// streams it back while the request is still being sent): the same
/// length and checksum, without holding either copy in memory.
#[test]
fn ten_mib_body_is_echoed_byte_exact() {
    const LEN: usize = 10 * 1024 * 1024;
    // Computed before the loop runs: in a debug build it takes long
    // enough to trip the loop's slow-callback report.
    let expected = pattern_checksum(LEN);
    run(async move {
        let server = server::start("127.0.0.1:0").await.unwrap();
        let mut client = http1(server.local_addr()).await;
        let request = hyper::Request::post("/echo")
            .header("host", "localhost")
            .body(TestBody::Stream(Pattern::new(LEN, 64 * 1024)))
            .unwrap();
        let mut response = client.send_request(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let (mut len, mut sum, mut frames) = (0, Fnv::new(), 0);
        while let Some(frame) = response.body_mut().frame().await {
            let data = frame.unwrap().into_data().unwrap();
            len += data.len();
            sum.update(&data);
            frames += 1;
        }
        assert_eq!(len, LEN);
        assert_eq!(sum, expected);
        assert!(frames > 1, "the echo came back in pieces, as it was read");
        assert_eq!(server.stats().failed, 0);
    });
}

#[test]
fn keep_alive_serves_many_requests_on_one_connection() {
    run(async {
        let server = server::start("127.0.0.1:0").await.unwrap();
        let mut client = http1(server.local_addr()).await;
        for i in 0..10 {
            let response = client.send_request(get("/")).await.unwrap();
            assert_eq!(body(response).await, HELLO);
            let sent = format!("request {i}");
            let response = client
                .send_request(post("/echo", sent.clone()))
                .await
                .unwrap();
            assert_eq!(body(response).await, sent);
        }
        assert_eq!(server.stats().accepted, 1);
    });
}

/// A client that sends half a body and goes away fails its connection
/// (counted), and the server goes on serving.
#[test]
fn client_gone_mid_body_leaves_the_server_serving() {
    run(async {
        let server = server::start("127.0.0.1:0").await.unwrap();
        let raw = TcpStream::connect(server.local_addr()).await.unwrap();
        raw.write_all(b"POST /echo HTTP/1.1\r\nhost: x\r\ncontent-length: 1000000\r\n\r\n")
            .await
            .unwrap();
        raw.write_all(&[b'a'; 4096]).await.unwrap();
        // The response has begun (its head and some of the echo), so the
        // server is in the middle of the body when the client goes.
        let mut head = [0u8; 17];
        raw.read_exact(&mut head).await.unwrap();
        assert_eq!(&head, b"HTTP/1.1 200 OK\r\n");
        drop(raw);

        let failed = async {
            while server.stats().failed == 0 {
                evloop::sleep(Duration::from_millis(1)).await;
            }
        };
        evloop::wait_for(Duration::from_secs(10), failed)
            .await
            .expect("the server saw the connection fail");

        let mut client = http1(server.local_addr()).await;
        let response = client.send_request(get("/")).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(body(response).await, HELLO);
        let stats = server.stats();
        assert_eq!((stats.accepted, stats.failed), (2, 1));
    });
}

/// 1,000 requests one after another, each on a connection of its own.
#[test]
fn thousand_sequential_requests() {
    run(async {
        let server = server::start("127.0.0.1:0").await.unwrap();
        for i in 0..1000 {
            let mut client = http1(server.local_addr()).await;
            let response = if i % 2 == 0 {
                client.send_request(get("/")).await.unwrap()
            } else {
                client.send_request(post("/echo", HELLO)).await.unwrap()
            };
            assert_eq!(response.status(), StatusCode::OK, "request {i}");
            assert_eq!(body(response).await, HELLO, "request {i}");
        }
        let stats = server.stats();
        assert_eq!((stats.accepted, stats.http1), (1000, 1000));
    });
}

/// 100 clients at once, each on its own connection, each echoing its own
/// body.
#[test]
fn hundred_concurrent_requests() {
    run(async {
        let server = server::start("127.0.0.1:0").await.unwrap();
        let addr = server.local_addr();
        let clients = (0..100).map(|i| async move {
            let mut client = http1(addr).await;
            let sent = format!("client {i}");
            let response = client
                .send_request(post("/echo", sent.clone()))
                .await
                .unwrap();
            (response.status(), body(response).await == sent)
        });
        let results = evloop::gather(clients.map(evloop::ensure_future)).await;
        for (i, result) in results.into_iter().enumerate() {
            assert_eq!(result.unwrap(), (StatusCode::OK, true), "client {i}");
        }
        assert_eq!(server.stats().accepted, 100);
    });
}
