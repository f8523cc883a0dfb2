//! A client for the `echo_server` example (asyncio's `open_connection`
//! example): sends lines, prints what comes back, and exits.
//!
//! ```text
//! cargo run --example echo_client -- [ADDR [LINE...]]
//! ```
//!
//! `ADDR` defaults to `127.0.0.1:7000`. With no `LINE`s, the lines are read
//! from standard input (until end of file, Ctrl-D on a terminal).

use std::io::{self, BufRead};

use evloop::net::open_connection;

async fn exchange(addr: String, lines: Vec<String>) -> io::Result<()> {
    let (mut reader, mut writer) = open_connection(&addr).await?;
    for line in &lines {
        writer.write_all(format!("{line}\n").as_bytes()).await?;
        let echo = reader.read_line().await?;
        if echo.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the server closed the connection",
            ));
        }
        print!("echo: {}", String::from_utf8_lossy(&echo));
    }
    // Tell the server we are done, and wait for it to close its side.
    writer.shutdown()?;
    let rest = reader.read_line().await?;
    if !rest.is_empty() {
        println!("unexpected: {}", String::from_utf8_lossy(&rest).trim_end());
    }
    Ok(())
}

fn main() {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:7000".to_string());
    let mut lines: Vec<String> = args.collect();
    if lines.is_empty() {
        // Read stdin before the loop starts: a blocking read inside it
        // would stall the loop.
        lines = match io::stdin().lock().lines().collect() {
            Ok(lines) => lines,
            Err(e) => fail(&e),
        };
    }
    let outcome = evloop::run(exchange(addr, lines));
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(e)) => fail(&e),
        Err(e) => fail(&e),
    }
}

fn fail(e: &dyn std::fmt::Display) -> ! {
    eprintln!("echo_client: {e}");
    std::process::exit(1);
}
