//! The tokio side of `benches/footprint.sh`: evloop's `examples/echo_server.rs`
//! written idiomatically on tokio's current-thread runtime. Same behaviour:
//! every line a client sends comes back; a "line" longer than 64 KiB comes
//! back in pieces. Not part of any crate of this repo: the script copies it
//! into a scratch crate of its own.

use std::io;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// Serves one connection until the client closes it.
async fn handle(mut stream: TcpStream) {
    let peer = match stream.peer_addr() {
        Ok(addr) => addr.to_string(),
        Err(e) => format!("<{e}>"),
    };
    println!("{peer}: connected");
    let (reader, mut writer) = stream.split();
    let mut reader = BufReader::new(reader);
    match echo(&mut reader, &mut writer).await {
        Ok(()) => println!("{peer}: closed"),
        Err(e) => println!("{peer}: {e}"),
    }
    let _ = writer.shutdown().await;
}

/// The reader's limit for one line, as evloop's `StreamReader` (64 KiB).
const LIMIT: u64 = 64 * 1024;

async fn echo<R, W>(reader: &mut BufReader<R>, writer: &mut W) -> io::Result<()>
where
    R: AsyncRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut chunk = Vec::new();
    loop {
        chunk.clear();
        // Up to and with a newline, at most LIMIT bytes (a longer line comes
        // back in pieces), or what is left at EOF.
        if (&mut *reader).take(LIMIT).read_until(b'\n', &mut chunk).await? == 0 {
            return Ok(()); // EOF
        }
        writer.write_all(&chunk).await?;
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:7000".to_string());
    let listener = match TcpListener::bind(&addr).await {
        Ok(l) => l,
        Err(e) => fail(&e),
    };
    match listener.local_addr() {
        Ok(a) => println!("echo server listening on {a}"),
        Err(e) => fail(&e),
    }
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(handle(stream));
            }
            Err(e) => eprintln!("echo_server: accept: {e}"),
        }
    }
}

fn fail(e: &dyn std::fmt::Display) -> ! {
    eprintln!("echo_server: {e}");
    std::process::exit(1);
}
