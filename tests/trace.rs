//! `Builder::trace`: the Chrome trace-event JSON a loop writes when it
//! closes.

use std::path::PathBuf;
use std::time::Duration;

use evloop::EventLoop;

/// One "X" event of the trace, times in ns.
#[derive(Debug, Clone)]
struct Event {
    cat: String,
    name: String,
    start: u64,
    end: u64,
    iteration: u64,
}

/// `1234.567` (µs, three decimals) as 1234567 ns.
fn nanos(micros: &str) -> u64 {
    let (whole, frac) = micros.split_once('.').unwrap();
    assert_eq!(frac.len(), 3, "{micros}");
    whole.parse::<u64>().unwrap() * 1000 + frac.parse::<u64>().unwrap()
}

fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let start = line.find(&format!("\"{key}\":"))? + key.len() + 3;
    let rest = &line[start..];
    if let Some(rest) = rest.strip_prefix('"') {
        rest.find('"').map(|end| &rest[..end])
    } else {
        let end = rest.find([',', '}']).unwrap_or(rest.len());
        Some(&rest[..end])
    }
}

fn events(json: &str) -> Vec<Event> {
    json.lines()
        .filter(|l| l.contains(r#""ph":"X""#))
        .map(|l| {
            let start = nanos(field(l, "ts").unwrap());
            let dur = nanos(field(l, "dur").unwrap());
            Event {
                cat: field(l, "cat").unwrap().to_string(),
                name: field(l, "name").unwrap().to_string(),
                start,
                end: start + dur,
                iteration: field(l, "iteration").unwrap().parse().unwrap(),
            }
        })
        .collect()
}

fn temp_path(name: &str) -> PathBuf {
    std::env::temp_dir().join(format!("evloop-{name}-{}.json", std::process::id()))
}

fn traced_run(path: &PathBuf) {
    let lp = EventLoop::builder()
        .virtual_time()
        .trace(path)
        .build()
        .unwrap();
    lp.call_soon(|| {}).unwrap();
    lp.call_later(Duration::from_millis(5), || {}).unwrap();
    let handle = lp.handle();
    let task = lp
        .ensure_future(async move {
            std::thread::spawn(move || handle.call_soon_threadsafe(|| {}).unwrap())
                .join()
                .unwrap();
            evloop::sleep(Duration::from_millis(10)).await;
        })
        .with_name("sleeper");
    lp.run_until_complete(task).unwrap().unwrap();
    lp.close().unwrap();
}

#[test]
fn the_trace_has_iterations_phases_and_named_items() {
    let path = temp_path("trace");
    traced_run(&path);
    let json = std::fs::read_to_string(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert!(json.starts_with(r#"{"displayTimeUnit":"ns","traceEvents":["#));
    assert!(json.trim_end().ends_with("]}"));
    let events = events(&json);
    let has = |cat: &str, name: &str| {
        events
            .iter()
            .any(|e| e.cat == cat && e.name.starts_with(name))
    };
    assert!(has("iteration", "iteration 1"));
    for phase in ["poll", "remote", "timers", "ready"] {
        assert!(has("phase", phase), "no {phase} phase in {json}");
    }
    assert!(has("callback", "callback tests/trace.rs:"));
    assert!(
        events
            .iter()
            .any(|e| e.cat == "task" && e.name.ends_with(" sleeper")),
        "the named task: {json}"
    );
}

#[test]
fn events_nest_inside_their_phase_and_iteration() {
    let path = temp_path("trace-nesting");
    traced_run(&path);
    let json = std::fs::read_to_string(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    let events = events(&json);
    let inside =
        |inner: &Event, outer: &Event| inner.start >= outer.start && inner.end <= outer.end;
    for e in events
        .iter()
        .filter(|e| e.cat == "callback" || e.cat == "task")
    {
        let ready = events
            .iter()
            .find(|p| p.name == "ready" && p.iteration == e.iteration)
            .unwrap_or_else(|| panic!("no ready phase for {e:?}"));
        assert!(inside(e, ready), "{e:?} outside {ready:?}");
    }
    for p in events.iter().filter(|e| e.cat == "phase") {
        let iteration = events
            .iter()
            .find(|i| i.cat == "iteration" && i.iteration == p.iteration)
            .unwrap();
        assert!(inside(p, iteration), "{p:?} outside {iteration:?}");
    }
}

#[test]
fn no_file_without_close_until_the_loop_is_dropped() {
    let path = temp_path("trace-drop");
    let lp = EventLoop::builder().trace(&path).build().unwrap();
    lp.call_soon(|| {}).unwrap();
    lp.run_once(Some(Duration::ZERO)).unwrap();
    assert!(!path.exists(), "written when the loop closes");
    drop(lp);
    let json = std::fs::read_to_string(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(
        events(&json).iter().filter(|e| e.cat == "callback").count(),
        1
    );
}
