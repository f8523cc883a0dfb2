//! The `embed_poll` example's host loop, fed through a pipe instead of
//! stdin: lines come back reversed, `quit` and EOF both end it after the
//! pending lines are done. No timing assertions (ticks may or may not
//! appear between lines).

mod util;

#[allow(dead_code)] // the example's `main`
#[path = "../examples/embed_poll.rs"]
mod embed_poll;

use std::io::Write;
use std::time::Duration;

/// The outputs of `run_host` minus the ticks (their number depends on timing).
fn without_ticks(lines: Vec<String>) -> Vec<String> {
    lines
        .into_iter()
        .filter(|l| !l.starts_with("tick "))
        .collect()
}

#[test]
fn lines_come_back_reversed_and_quit_ends() {
    let (reader, mut writer) = util::pipe();
    writer
        .write_all(b"hello\nevloop\nquit\nnot read\n")
        .unwrap();
    let mut lines = Vec::new();
    util::watchdog_local(|| embed_poll::run_host(reader, |l| lines.push(l)).unwrap());
    assert_eq!(without_ticks(lines), ["olleh", "poolve", "bye"]);
    drop(writer);
}

#[test]
fn eof_ends_and_a_last_unterminated_line_counts() {
    let (reader, mut writer) = util::pipe();
    writer.write_all(b"abc\r\nxyz").unwrap();
    drop(writer);
    let mut lines = Vec::new();
    util::watchdog_local(|| embed_poll::run_host(reader, |l| lines.push(l)).unwrap());
    assert_eq!(without_ticks(lines), ["cba", "zyx", "bye"]);
}

#[test]
fn lines_written_while_the_loop_runs() {
    let (reader, mut writer) = util::pipe();
    // A writer thread: lines arrive one by one (and one split in two writes)
    // while line tasks are sleeping on the loop.
    let feeder = std::thread::spawn(move || {
        for chunk in [&b"one\n"[..], b"tw", b"o\n", b"three\n"] {
            writer.write_all(chunk).unwrap();
            std::thread::sleep(Duration::from_millis(50));
        }
        // EOF when `writer` drops
    });
    let mut lines = Vec::new();
    util::watchdog_local(|| embed_poll::run_host(reader, |l| lines.push(l)).unwrap());
    feeder.join().unwrap();
    assert_eq!(without_ticks(lines), ["eno", "owt", "eerht", "bye"]);
}
