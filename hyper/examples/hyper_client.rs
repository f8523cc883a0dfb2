//! Fetches a plain-`http` URL with hyper's HTTP/1.1 client on evloop and
//! prints the status line, the headers and the body.
//!
//! ```text
//! cargo run -p evloop-hyper --example hyper_client -- http://127.0.0.1:8080/
//! ```
//!
//! One request on one connection (`hyper::client::conn::http1`), with a
//! `Host` header and `Connection: close`; the body is written to stdout as
//! it arrives. No TLS: `https` URLs are refused.

use std::io::Write as _;

use bytes::Bytes;
use evloop::net::TcpStream;
use evloop_hyper::EvloopIo;
use http_body_util::{BodyExt, Empty};
use hyper::header::{CONNECTION, HOST};
use hyper::{Request, Uri};

type Error = Box<dyn std::error::Error>;

const USAGE: &str = "usage: hyper_client http://HOST[:PORT]/PATH";

fn main() {
    let mut args = std::env::args().skip(1);
    let (Some(url), None) = (args.next(), args.next()) else {
        eprintln!("{USAGE}");
        std::process::exit(2);
    };
    match evloop::run(fetch(url)) {
        Ok(Ok(())) => {}
        Ok(Err(e)) => fail(&e),
        Err(e) => fail(&e),
    }
}

async fn fetch(url: String) -> Result<(), Error> {
    let uri: Uri = url.parse()?;
    if uri.scheme_str() != Some("http") {
        return Err(format!("not a plain-http URL: {url}\n{USAGE}").into());
    }
    let host = uri.host().ok_or("the URL has no host")?;
    let port = uri.port_u16().unwrap_or(80);
    let stream = TcpStream::connect((host, port)).await?;
    stream.set_nodelay(true)?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(EvloopIo::new(stream)).await?;
    // The connection is driven by its own task while this one sends the
    // request and reads the response.
    let driver = evloop::ensure_future(connection);

    let authority = uri.authority().ok_or("the URL has no host")?.as_str();
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let request = Request::get(path)
        .header(HOST, authority)
        .header(CONNECTION, "close")
        .body(Empty::<Bytes>::new())?;
    let mut response = sender.send_request(request).await?;

    println!("{:?} {}", response.version(), response.status());
    for (name, value) in response.headers() {
        println!("{name}: {}", String::from_utf8_lossy(value.as_bytes()));
    }
    println!();
    let mut stdout = std::io::stdout().lock();
    while let Some(frame) = response.body_mut().frame().await {
        if let Some(data) = frame?.data_ref() {
            stdout.write_all(data)?;
        }
    }
    stdout.flush()?;
    driver.await??;
    Ok(())
}

fn fail(e: &dyn std::fmt::Display) -> ! {
    eprintln!("hyper_client: {e}");
    std::process::exit(1);
}
