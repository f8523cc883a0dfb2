//! The server over HTTP/2 (prior knowledge), with hyper's HTTP/2 client on
//! the same loop.

mod util;

use evloop_hyper::server::{self, HELLO};
use http_body_util::BodyExt;
use hyper::{StatusCode, Version};
use util::{body, get, http2, pattern_checksum, post, run, Fnv, Pattern, TestBody};

#[test]
fn get_and_echo_over_http2() {
    run(async {
        let server = server::start("127.0.0.1:0").await.unwrap();
        let mut client = http2(server.local_addr()).await;
        let response = client.send_request(get("/")).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.version(), Version::HTTP_2);
        assert_eq!(body(response).await, HELLO);
        let response = client.send_request(post("/echo", "over h2")).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(body(response).await, "over h2");
        let stats = server.stats();
        assert_eq!((stats.accepted, stats.http1, stats.http2), (1, 0, 1));
    });
}

/// 100 streams at once on one connection, each echoing its own body.
#[test]
fn concurrent_streams_on_one_connection() {
    run(async {
        let server = server::start("127.0.0.1:0").await.unwrap();
        let client = http2(server.local_addr()).await;
        let streams = (0..100).map(|i| {
            let mut client = client.clone();
            evloop::ensure_future(async move {
                let sent = format!("stream {i}");
                let response = client
                    .send_request(post("/echo", sent.clone()))
                    .await
                    .unwrap();
                (response.status(), body(response).await == sent)
            })
        });
        let results = evloop::gather(streams).await;
        for (i, result) in results.into_iter().enumerate() {
            assert_eq!(result.unwrap(), (StatusCode::OK, true), "stream {i}");
        }
        let stats = server.stats();
        assert_eq!((stats.accepted, stats.http2), (1, 1));
    });
}

/// 4 MiB, more than HTTP/2's flow-control windows hold, echoed while it
/// is sent: the windows must be reopened as the echo is read.
#[test]
fn streamed_body_through_flow_control() {
    const LEN: usize = 4 * 1024 * 1024;
    let expected = pattern_checksum(LEN);
    run(async move {
        let server = server::start("127.0.0.1:0").await.unwrap();
        let mut client = http2(server.local_addr()).await;
        let request = hyper::Request::post("/echo")
            .body(TestBody::Stream(Pattern::new(LEN, 16 * 1024)))
            .unwrap();
        let mut response = client.send_request(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let (mut len, mut sum) = (0, Fnv::new());
        while let Some(frame) = response.body_mut().frame().await {
            let data = frame.unwrap().into_data().unwrap();
            len += data.len();
            sum.update(&data);
        }
        assert_eq!(len, LEN);
        assert_eq!(sum, expected);
    });
}

/// HTTP/1 and HTTP/2 clients side by side on the one port.
#[test]
fn both_protocols_on_one_port() {
    run(async {
        let server = server::start("127.0.0.1:0").await.unwrap();
        let mut one = util::http1(server.local_addr()).await;
        let mut two = http2(server.local_addr()).await;
        for _ in 0..3 {
            let response = one.send_request(get("/")).await.unwrap();
            assert_eq!(response.version(), Version::HTTP_11);
            assert_eq!(body(response).await, HELLO);
            let response = two.send_request(get("/")).await.unwrap();
            assert_eq!(response.version(), Version::HTTP_2);
            assert_eq!(body(response).await, HELLO);
        }
        let stats = server.stats();
        assert_eq!((stats.accepted, stats.http1, stats.http2), (2, 1, 1));
    });
}
