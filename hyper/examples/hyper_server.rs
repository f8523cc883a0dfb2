//! HTTP/1.1 and HTTP/2 (h2c, prior knowledge) from hyper on one evloop and
//! one port. The server is `evloop_hyper::server`.
//!
//! ```text
//! cargo run -p evloop-hyper --example hyper_server -- [ADDR]
//! curl -s http://127.0.0.1:8080/
//! curl -s --http2-prior-knowledge http://127.0.0.1:8080/
//! curl -s --data-binary @Cargo.toml http://127.0.0.1:8080/echo
//! ```
//!
//! `ADDR` defaults to `127.0.0.1:8080`. `GET /` answers a line of text;
//! `POST /echo` streams the request's body back.

use std::io;

const USAGE: &str = "usage: hyper_server [ADDR]";

fn main() {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:8080".to_owned());
    if addr.starts_with('-') || args.next().is_some() {
        eprintln!("{USAGE}");
        std::process::exit(2);
    }
    let served = evloop::run(async move {
        let server = evloop_hyper::server::start(addr.as_str()).await?;
        println!("hyper_server listening on http://{}/", server.local_addr());
        std::future::pending::<()>().await; // serves until killed
        Ok::<(), io::Error>(())
    });
    match served {
        Ok(Ok(())) => {}
        Ok(Err(e)) => fail(&e),
        Err(e) => fail(&e),
    }
}

fn fail(e: &dyn std::fmt::Display) -> ! {
    eprintln!("hyper_server: {e}");
    std::process::exit(1);
}
