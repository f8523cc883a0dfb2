//! Runs a command as a child process and streams its output line by line
//! (asyncio's `create_subprocess_shell` with a `readline` loop), giving up
//! on a line that takes too long; then prints the exit status.
//!
//! ```text
//! cargo run --example subprocess -- [--timeout SECS] [COMMAND...]
//! ```
//!
//! `COMMAND` is run with `/bin/sh -c` (so pipes and redirections work) and
//! defaults to `ls -l /`. Each line must arrive within `SECS` seconds
//! (default 5) of the one before: past that, the child is killed. Try
//! `cargo run --example subprocess -- --timeout 1 'echo a; sleep 3; echo b'`.

use std::io;
use std::os::unix::process::ExitStatusExt;
use std::time::Duration;

use evloop::net::StreamReader;
use evloop::process::{Command, Stdio};

async fn stream(command: String, line_timeout: Duration) -> io::Result<()> {
    let mut child = Command::shell(&command)
        .stdout(Stdio::piped())
        .stdin(Stdio::null())
        // If this function returns early (an error), do not leave the
        // child running on its own.
        .kill_on_drop(true)
        .spawn()?;
    println!("[pid {}] $ {command}", child.id().unwrap_or(0));
    let mut lines = StreamReader::new(child.stdout.take().expect("piped"));
    let mut count = 0;
    loop {
        match evloop::wait_for(line_timeout, lines.read_line()).await {
            Ok(line) => {
                let line = line?;
                if line.is_empty() {
                    break; // end of file: the child closed its stdout
                }
                count += 1;
                print!("{count:>4} | {}", String::from_utf8_lossy(&line));
            }
            Err(_timed_out) => {
                println!("(no line for {line_timeout:?}: killing the child)");
                child.kill()?;
                break;
            }
        }
    }
    let status = child.wait().await?;
    match (status.code(), status.signal()) {
        (Some(code), _) => println!("[exit status {code}] {count} lines"),
        (None, Some(signal)) => println!("[killed by signal {signal}] {count} lines"),
        _ => println!("[{status}] {count} lines"),
    }
    Ok(())
}

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut line_timeout = Duration::from_secs(5);
    if args.first().map(String::as_str) == Some("--timeout") {
        let secs = args.get(1).and_then(|s| s.parse::<f64>().ok());
        let Some(secs) = secs.filter(|s| *s > 0.0) else {
            eprintln!("usage: subprocess [--timeout SECS] [COMMAND...]");
            std::process::exit(2);
        };
        line_timeout = Duration::from_secs_f64(secs);
        args.drain(..2);
    }
    let command = if args.is_empty() {
        "ls -l /".to_string()
    } else {
        args.join(" ")
    };
    if let Err(e) = evloop::run(stream(command, line_timeout)).expect("the loop ran") {
        eprintln!("error: {e}");
        std::process::exit(1);
    }
}
