//! `Builder::trace`: a record of what the loop did, written as Chrome
//! trace-event JSON when the loop closes (Perfetto and `chrome://tracing`
//! open it; `examples/trace_svg.rs` draws it as an SVG timeline).
//!
//! Each iteration is one "complete" (`"ph":"X"`) event, with its phases
//! nested inside (`poll` — the `epoll_wait` —, `io`, `remote`, `timers`,
//! `ready`; phases that did nothing are left out), and each callback and
//! task poll nested inside `ready`, named by where it was scheduled or
//! spawned. One event per line:
//!
//! ```text
//! {"displayTimeUnit":"ns","traceEvents":[
//! {"name":"thread_name","ph":"M","pid":1,"tid":1,"args":{"name":"evloop loop"}},
//! {"name":"iteration 1","cat":"iteration","ph":"X","ts":0.000,"dur":12.345,"pid":1,"tid":1,"args":{"iteration":1}},
//! {"name":"ready","cat":"phase","ph":"X","ts":0.010,"dur":5.000,"pid":1,"tid":1,"args":{"iteration":1,"items":2}},
//! {"name":"callback src/main.rs:20:9","cat":"callback","ph":"X","ts":0.020,"dur":0.500,"pid":1,"tid":1,"args":{"iteration":1,"at":"src/main.rs:20:9"}},
//! {"name":"task 3 reader","cat":"task","ph":"X","ts":0.600,"dur":1.200,"pid":1,"tid":1,"args":{"iteration":1,"task":3,"at":"src/main.rs:30:5"}}
//! ]}
//! ```
//!
//! Times are µs (three decimals: ns) since the loop was created. Events
//! are written in the order they *end* — an iteration's items, then its
//! phases, then the iteration itself (the example above is sorted for
//! reading; viewers sort by `ts`). They are kept in memory until the loop
//! closes, at most [`MAX_EVENTS`]; then recording stops and a `trace
//! truncated` instant event marks where (the last iteration recorded may
//! lack its own event, its children kept).

use std::cell::{Cell, RefCell};
use std::fmt::Write as _;
use std::io::{self, Write};
use std::panic::Location;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

/// Events kept before recording stops (about 64 bytes each in memory,
/// 200 in the file).
pub(crate) const MAX_EVENTS: usize = 1_000_000;

/// What an event stands for.
pub(crate) enum What {
    Iteration,
    Phase {
        name: &'static str,
        items: Option<usize>,
    },
    Callback(&'static Location<'static>),
    Task {
        id: u64,
        name: Option<Arc<str>>,
        at: &'static Location<'static>,
    },
}

struct Event {
    what: What,
    iteration: u64,
    start: u64,
    end: u64,
}

/// The recorder (loop thread only).
pub(crate) struct Tracer {
    path: PathBuf,
    origin: Instant,
    events: RefCell<Vec<Event>>,
    /// `MAX_EVENTS`, smaller in tests.
    cap: usize,
    /// When recording stopped at the cap, if it did.
    truncated_at: Cell<Option<u64>>,
}

impl Tracer {
    pub(crate) fn new(path: PathBuf) -> Tracer {
        Tracer::with_cap(path, MAX_EVENTS)
    }

    fn with_cap(path: PathBuf, cap: usize) -> Tracer {
        Tracer {
            path,
            origin: Instant::now(),
            events: RefCell::default(),
            cap,
            truncated_at: Cell::new(None),
        }
    }

    /// Nanoseconds since the loop was created.
    pub(crate) fn now(&self) -> u64 {
        crate::clock::saturating_nanos(self.origin.elapsed())
    }

    /// Records `what` in `iteration`, from `start` to `end` (`now()` units).
    pub(crate) fn record(&self, what: What, iteration: u64, start: u64, end: u64) {
        let mut events = self.events.borrow_mut();
        if events.len() >= self.cap {
            if self.truncated_at.get().is_none() {
                self.truncated_at.set(Some(start));
            }
            return;
        }
        events.push(Event {
            what,
            iteration,
            start,
            end,
        });
    }

    /// Writes the JSON file, once: the events are gone afterwards.
    pub(crate) fn write(&self) -> io::Result<PathBuf> {
        let events = std::mem::take(&mut *self.events.borrow_mut());
        let mut out = io::BufWriter::new(std::fs::File::create(&self.path)?);
        out.write_all(b"{\"displayTimeUnit\":\"ns\",\"traceEvents\":[\n")?;
        out.write_all(
            b"{\"name\":\"thread_name\",\"ph\":\"M\",\"pid\":1,\"tid\":1,\"args\":{\"name\":\"evloop loop\"}}",
        )?;
        let mut line = String::new();
        for event in &events {
            line.clear();
            event_json(&mut line, event);
            out.write_all(b",\n")?;
            out.write_all(line.as_bytes())?;
        }
        if let Some(at) = self.truncated_at.get() {
            write!(
                out,
                ",\n{{\"name\":\"trace truncated\",\"ph\":\"i\",\"s\":\"g\",\"ts\":{},\"pid\":1,\"tid\":1}}",
                Micros(at)
            )?;
        }
        out.write_all(b"\n]}\n")?;
        out.flush()?;
        Ok(self.path.clone())
    }
}

/// One event as a JSON object.
fn event_json(out: &mut String, e: &Event) {
    let (cat, name) = match &e.what {
        What::Iteration => ("iteration", format!("iteration {}", e.iteration)),
        What::Phase { name, .. } => ("phase", (*name).to_owned()),
        What::Callback(at) => ("callback", format!("callback {at}")),
        What::Task { id, name, .. } => match name {
            Some(name) => ("task", format!("task {id} {name}")),
            None => ("task", format!("task {id}")),
        },
    };
    out.push_str("{\"name\":");
    json_string(out, &name);
    let _ = write!(
        out,
        ",\"cat\":\"{cat}\",\"ph\":\"X\",\"ts\":{},\"dur\":{},\"pid\":1,\"tid\":1,\"args\":{{\"iteration\":{}",
        Micros(e.start),
        Micros(e.end.saturating_sub(e.start)),
        e.iteration
    );
    match &e.what {
        What::Iteration => {}
        What::Phase { items, .. } => {
            if let Some(n) = items {
                let _ = write!(out, ",\"items\":{n}");
            }
        }
        What::Callback(at) => {
            out.push_str(",\"at\":");
            json_string(out, &at.to_string());
        }
        What::Task { id, at, .. } => {
            let _ = write!(out, ",\"task\":{id},\"at\":");
            json_string(out, &at.to_string());
        }
    }
    out.push_str("}}");
}

/// `s` as a JSON string literal.
fn json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Nanoseconds shown as microseconds with three decimals.
struct Micros(u64);

impl std::fmt::Display for Micros {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{:03}", self.0 / 1000, self.0 % 1000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_escaped_and_times_are_microseconds() {
        let mut out = String::new();
        let e = Event {
            what: What::Task {
                id: 7,
                name: Some("say \"hi\"\\\n".into()),
                at: Location::caller(),
            },
            iteration: 3,
            start: 1_234_567,
            end: 1_235_067,
        };
        event_json(&mut out, &e);
        assert!(
            out.starts_with(r#"{"name":"task 7 say \"hi\"\\\u000a","cat":"task","ph":"X","ts":1234.567,"dur":0.500,"#),
            "{out}"
        );
        assert!(
            out.contains(r#""args":{"iteration":3,"task":7,"at":"src/trace.rs:"#),
            "{out}"
        );
        assert!(out.ends_with("}}"), "{out}");
    }

    #[test]
    fn recording_stops_at_the_cap_and_says_where() {
        let path =
            std::env::temp_dir().join(format!("evloop-trace-cap-{}.json", std::process::id()));
        let tracer = Tracer::with_cap(path.clone(), 10);
        for i in 0..15 {
            tracer.record(What::Iteration, i, i, i + 1);
        }
        tracer.write().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        let kept = text.lines().filter(|l| l.contains(r#""cat":"iteration""#));
        assert_eq!(kept.count(), 10);
        assert!(
            text.contains(r#"{"name":"trace truncated","ph":"i","s":"g","ts":0.010,"#),
            "{text}"
        );
    }
}
