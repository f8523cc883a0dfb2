//! An echo server on evloop's streams (asyncio's `start_server` example):
//! every line a client sends comes back; a "line" longer than the reader's
//! 64 KiB limit comes back in pieces, as raw bytes.
//!
//! ```text
//! cargo run --example echo_server -- [ADDR]        (default 127.0.0.1:7000)
//! cargo run --example echo_client -- 127.0.0.1:7000 hello world
//! ```

use std::io;

use evloop::net::{start_server, StreamReader, StreamWriter};

/// Serves one connection until the client closes it.
async fn handle(mut reader: StreamReader, mut writer: StreamWriter) {
    let peer = match writer.get_ref().peer_addr() {
        Ok(addr) => addr.to_string(),
        Err(e) => format!("<{e}>"),
    };
    println!("{peer}: connected");
    match echo(&mut reader, &mut writer).await {
        Ok(()) => println!("{peer}: closed"),
        Err(e) => println!("{peer}: {e}"),
    }
    let _ = writer.close();
}

async fn echo(reader: &mut StreamReader, writer: &mut StreamWriter) -> io::Result<()> {
    loop {
        let chunk = match reader.read_line().await {
            Ok(line) if line.is_empty() => return Ok(()), // EOF
            Ok(line) => line,
            // Longer than the limit: the bytes stay buffered; echo them as
            // they are, and go on looking for the end of the line.
            Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                let bytes = reader.buffer().to_vec();
                reader.consume(bytes.len());
                bytes
            }
            Err(e) => return Err(e),
        };
        writer.write_all(&chunk).await?;
    }
}

fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:7000".to_string());
    let served = evloop::run(async move {
        let server = start_server(&addr, handle).await?;
        println!("echo server listening on {}", server.local_addr());
        server.serve_forever().await;
        Ok::<(), io::Error>(())
    });
    match served {
        Ok(Ok(())) => {}
        Ok(Err(e)) => fail(&e),
        Err(e) => fail(&e),
    }
}

fn fail(e: &dyn std::fmt::Display) -> ! {
    eprintln!("echo_server: {e}");
    std::process::exit(1);
}
