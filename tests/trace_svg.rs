//! The trace renderer of the examples (`examples/common/trace_svg.rs`):
//! handcrafted traces in the format `Builder::trace` writes, checked for a
//! well-formed SVG, one bar per event, escaping, errors, windows and the
//! size bound on long traces.

#[path = "../examples/common/trace_svg.rs"]
mod trace_svg;

use trace_svg::{busiest_window, parse_trace, render_svg, render_svg_with, Options};

// ---- helpers -----------------------------------------------------------------

/// A trace file of these event lines, as the loop writes it.
fn trace(events: &[String]) -> String {
    let mut out = String::from("{\"displayTimeUnit\":\"ns\",\"traceEvents\":[\n");
    out.push_str(
        r#"{"name":"thread_name","ph":"M","pid":1,"tid":1,"args":{"name":"evloop loop"}}"#,
    );
    for e in events {
        out.push_str(",\n");
        out.push_str(e);
    }
    out.push_str("\n]}\n");
    out
}

/// A complete event line; `args` is the inside of the args object.
fn x(name: &str, cat: &str, ts: f64, dur: f64, args: &str) -> String {
    format!(
        r#"{{"name":"{name}","cat":"{cat}","ph":"X","ts":{ts:.3},"dur":{dur:.3},"pid":1,"tid":1,"args":{{{args}}}}}"#
    )
}

/// One iteration `i` from `t` µs: the iteration, a poll, a ready phase
/// with a callback and a task poll inside it: 5 events, 10 µs.
fn iteration(i: u64, t: f64) -> Vec<String> {
    let it = format!(r#""iteration":{i}"#);
    vec![
        x(&format!("iteration {i}"), "iteration", t, 10.0, &it),
        x(
            "poll",
            "phase",
            t + 0.1,
            4.0,
            &format!(r#"{it},"timeout_ms":null"#),
        ),
        x(
            "ready",
            "phase",
            t + 5.0,
            4.5,
            &format!(r#"{it},"items":2"#),
        ),
        x(
            "callback examples/trace.rs:20:9",
            "callback",
            t + 5.1,
            2.0,
            &format!(r#"{it},"at":"examples/trace.rs:20:9""#),
        ),
        x(
            "task 3 task_a",
            "task",
            t + 7.2,
            2.0,
            &format!(r#"{it},"task":3,"at":"examples/trace.rs:30:5""#),
        ),
    ]
}

/// `n` iterations of [`iteration`], back to back.
fn iterations(n: u64) -> Vec<String> {
    (1..=n)
        .flat_map(|i| iteration(i, (i - 1) as f64 * 10.0))
        .collect()
}

/// Checks that `svg` is well-formed XML as far as this renderer can go
/// wrong: tags balanced and properly nested, attribute values quoted, no raw
/// `<` or `&` outside markup, only known entities; the root is an `<svg>`
/// with the SVG namespace.
fn assert_well_formed(svg: &str) {
    let mut stack: Vec<&str> = Vec::new();
    let mut rest = svg;
    let mut root = None;
    while let Some(open) = rest.find('<') {
        assert_text(&rest[..open]);
        let tag_end =
            tag_end(&rest[open..]).unwrap_or_else(|| panic!("unclosed tag: {}", &rest[open..]));
        let tag = &rest[open + 1..open + tag_end];
        rest = &rest[open + tag_end + 1..];
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(
                stack.pop(),
                Some(name.trim()),
                "closing tag </{name}> out of place"
            );
            continue;
        }
        let self_closing = tag.ends_with('/');
        let name = tag.split([' ', '/', '\n']).next().unwrap();
        assert!(
            !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric()),
            "tag name {name:?}"
        );
        assert_attributes(tag);
        if root.is_none() {
            root = Some(tag);
        } else {
            assert!(!stack.is_empty(), "a second root element: <{tag}>");
        }
        if !self_closing {
            stack.push(name);
        }
    }
    assert_text(rest);
    assert!(stack.is_empty(), "unclosed elements: {stack:?}");
    let root = root.expect("a root element");
    assert!(root.starts_with("svg "), "root is <svg>");
    assert!(
        root.contains(r#"xmlns="http://www.w3.org/2000/svg""#),
        "SVG namespace"
    );
}

/// The index of the `>` that ends the tag at the start of `s`, skipping
/// quoted attribute values.
fn tag_end(s: &str) -> Option<usize> {
    let mut quoted = false;
    for (i, c) in s.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '>' if !quoted => return Some(i),
            _ => {}
        }
    }
    None
}

/// Attributes: `name="value"` pairs, values without `<` and with valid
/// entities.
fn assert_attributes(tag: &str) {
    let body = tag.trim_end_matches('/');
    let mut rest = body.split_once(' ').map_or("", |(_, r)| r).trim();
    while !rest.is_empty() {
        let (name, after) = rest
            .split_once("=\"")
            .unwrap_or_else(|| panic!("attribute without a quoted value in <{tag}>"));
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == ':'),
            "attribute name {name:?}"
        );
        let (value, after) = after.split_once('"').expect("closing quote");
        assert!(!value.contains('<'), "raw < in attribute {name}");
        assert_text(value);
        rest = after.trim_start();
    }
}

/// Character data: no raw `<`, every `&` starts a known entity, no
/// character XML 1.0 forbids.
fn assert_text(text: &str) {
    assert!(!text.contains('<'), "raw < in text {text:?}");
    for (i, _) in text.match_indices('&') {
        let entity = &text[i..];
        assert!(
            ["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"]
                .iter()
                .any(|e| entity.starts_with(e)),
            "bad entity at {:?}",
            &entity[..entity.len().min(10)]
        );
    }
    assert!(
        text.chars()
            .all(|c| c >= ' ' || matches!(c, '\t' | '\n' | '\r')),
        "control character in {text:?}"
    );
}

fn count(svg: &str, needle: &str) -> usize {
    svg.matches(needle).count()
}

/// The counts in the merged bars' tooltips ("N events merged, ...").
fn merged_events(svg: &str) -> usize {
    svg.split("<title>")
        .skip(1)
        .filter_map(|t| {
            t.split_once(" events merged")
                .and_then(|(n, _)| n.parse::<usize>().ok())
        })
        .sum()
}

// ---- small traces ------------------------------------------------------------

#[test]
fn the_example_of_the_format_parses() {
    let json = trace(&iteration(1, 0.0));
    let t = parse_trace(&json).unwrap();
    assert_eq!(t.events.len(), 5);
    assert_eq!(t.thread.as_deref(), Some("evloop loop"));
    let poll = &t.events[1];
    assert_eq!((poll.name.as_str(), poll.cat.as_str()), ("poll", "phase"));
    assert_eq!((poll.ts, poll.dur), (0.1, 4.0));
    assert_eq!(poll.iteration(), Some("1"));
    assert_eq!(poll.arg("timeout_ms"), Some("null"));
    assert_eq!(t.events[4].arg("at"), Some("examples/trace.rs:30:5"));
}

#[test]
fn small_trace_is_one_bar_per_event() {
    let svg = render_svg(&trace(&iterations(3))).unwrap();
    assert_well_formed(&svg);
    assert_eq!(count(&svg, r#"<rect class="ev""#), 15);
    assert_eq!(count(&svg, r#"class="merged""#), 0);
    // Every bar has a tooltip with its duration and iteration.
    assert_eq!(count(&svg, "<title>task 3 task_a: 2.000 µs at "), 3);
    assert!(svg.contains("\niteration 2\ntask: 3\nat: examples/trace.rs:30:5</title>"));
    // One lane per category, and per phase, labelled.
    for lane in [
        "iteration",
        "phase: poll",
        "phase: ready",
        "callback",
        "task",
    ] {
        assert!(
            svg.contains(&format!(r#"font-weight="bold">{lane}<title>"#)),
            "{lane} lane"
        );
    }
    // Phases have their own colours; the legend names them.
    assert!(svg.contains(r##"fill="#4e79a7"><title>poll: "##));
    assert!(svg.contains(r##"fill="#59a14f"><title>ready: "##));
    assert!(svg.contains(">phase: poll</text>") && svg.contains(">phase: ready</text>"));
}

#[test]
fn labels_are_drawn_when_they_fit() {
    // 20 µs over 1080 px: an iteration is 540 px wide, a callback or a
    // task poll 108 px.
    let svg = render_svg(&trace(&iterations(2))).unwrap();
    let labels: Vec<&str> = svg
        .split(r#"pointer-events="none">"#)
        .skip(1)
        .map(|t| t.split_once("</text>").unwrap().0)
        .collect();
    assert_eq!(
        labels,
        [
            "iteration 1",
            "iteration 2",
            "poll",
            "poll",
            "ready",
            "ready",
            "trace.rs:20:9",
            "trace.rs:20:9",
            "task 3 task_a",
            "task 3 task_a",
        ]
    );
}

#[test]
fn the_axis_has_readable_ticks() {
    let svg = render_svg(&trace(&iterations(3))).unwrap();
    assert!(
        svg.contains(">0 µs</text>") && svg.contains(">10 µs</text>"),
        "µs ticks"
    );
    // 300 iterations: 3 ms.
    let svg = render_svg(&trace(&iterations(300))).unwrap();
    assert!(
        svg.contains(">0.5 ms</text>") && svg.contains(">3.0 ms</text>"),
        "ms ticks"
    );
}

#[test]
fn names_are_escaped() {
    let name = r#"task 7 <b>&amp; \"quoted\" \\ \u0001 \u00e9 \ud83d\ude00"#;
    let json = trace(&[x(
        name,
        "task",
        0.0,
        10.0,
        r#""iteration":1,"at":"a<b>&\"c\"""#,
    )]);
    let e = &parse_trace(&json).unwrap().events[0];
    assert_eq!(e.name, "task 7 <b>&amp; \"quoted\" \\ \u{1} é 😀");
    let svg = render_svg(&json).unwrap();
    assert_well_formed(&svg);
    assert!(
        svg.contains("task 7 &lt;b&gt;&amp;amp; &quot;quoted&quot; \\ \u{fffd} é 😀: 10.000 µs")
    );
    assert!(svg.contains("at: a&lt;b&gt;&amp;&quot;c&quot;"));
    assert!(!svg.contains("<b>"));
}

#[test]
fn the_truncation_marker_is_drawn() {
    let mut events = iterations(2);
    events.push(
        r#"{"name":"trace truncated","ph":"i","s":"g","ts":20.000,"pid":1,"tid":1}"#.to_owned(),
    );
    let svg = render_svg(&trace(&events)).unwrap();
    assert_well_formed(&svg);
    assert!(svg.contains("<title>trace truncated at 20.000 µs</title>"));
    assert!(svg.contains(">trace truncated</text>"));
}

#[test]
fn unknown_lines_are_skipped() {
    let mut events = iterations(1);
    events
        .push(r#"{"name":"counter","ph":"C","ts":1.0,"pid":1,"tid":1,"args":{"n":3}}"#.to_owned());
    events.push(r#"{"name":"half a metadata line","ph":"M""#.to_owned());
    events.push("not json at all".to_owned());
    events.push(String::new());
    let svg = render_svg(&trace(&events)).unwrap();
    assert_well_formed(&svg);
    assert_eq!(count(&svg, r#"<rect class="ev""#), 5);
}

#[test]
fn an_empty_trace_renders() {
    let svg = render_svg(&trace(&[])).unwrap();
    assert_well_formed(&svg);
    assert!(svg.contains(">no events</text>"));
}

// ---- errors ------------------------------------------------------------------

#[test]
fn malformed_x_events_are_errors() {
    let cases = [
        (
            r#"{"name":"poll","cat":"phase","ph":"X","ts":1.000,"pid":1}"#,
            "numeric dur",
        ),
        (
            r#"{"name":"poll","cat":"phase","ph":"X","ts":"1","dur":1.0}"#,
            "numeric ts",
        ),
        (
            r#"{"cat":"phase","ph":"X","ts":1.0,"dur":1.0}"#,
            "string name",
        ),
        (
            r#"{"name":"poll","ph":"X","ts":1.0,"dur":-1.0}"#,
            "negative dur",
        ),
        (
            r#"{"name":"poll","ph":"X","ts":1.0,"dur":1.0"#,
            "malformed X event",
        ),
        (
            r#"{"name":"po\ll","ph":"X","ts":1.0,"dur":1.0}"#,
            "invalid escape",
        ),
        (
            r#"{"name":"poll","ph":"X","ts":1.0,"dur":1.0} trailing"#,
            "trailing characters",
        ),
    ];
    for (line, why) in cases {
        let mut events = iterations(1);
        events.push(line.to_owned());
        let err = render_svg(&trace(&events)).expect_err(line);
        assert!(err.starts_with("line 8: "), "{err}");
        assert!(err.contains(why), "{line}: {err}");
    }
}

#[test]
fn not_a_trace_is_an_error() {
    assert!(render_svg("").is_err());
    assert!(render_svg("hello\n").unwrap_err().contains("traceEvents"));
    let json = trace(&iterations(1));
    let window = Options {
        from_us: Some(5.0),
        to_us: Some(5.0),
        ..Options::default()
    };
    assert!(render_svg_with(&json, &window)
        .unwrap_err()
        .contains("empty time window"));
}

// ---- windows and long traces ------------------------------------------------

#[test]
fn a_window_draws_only_what_overlaps_it() {
    let json = trace(&iterations(100)); // 0..1000 µs
    let window = Options {
        from_us: Some(205.0),
        to_us: Some(230.0),
        ..Options::default()
    };
    let svg = render_svg_with(&json, &window).unwrap();
    assert_well_formed(&svg);
    // Iterations 21, 22, 23 (200..230) touch it; 21's poll (200.1..204.1) does not.
    assert_eq!(count(&svg, "<title>iteration "), 3);
    assert_eq!(count(&svg, "<title>poll: "), 2);
    assert_eq!(count(&svg, "<title>ready: "), 3);
    assert!(svg.contains(">205.000 µs to 230.000 µs"));
}

#[test]
fn every_event_is_drawn_or_merged() {
    // 2,000 iterations over 20 ms: iterations are 0.54 px wide.
    let events = iterations(2_000);
    let svg = render_svg(&trace(&events)).unwrap();
    assert_well_formed(&svg);
    let drawn = count(&svg, r#"<rect class="ev""#);
    assert_eq!(drawn + merged_events(&svg), events.len());
    // At most one merged bar per pixel column of each of the 5 lanes.
    assert!(count(&svg, r#"class="merged""#) <= 5 * 1080);
}

#[test]
fn long_traces_stay_small() {
    // 100,000 events (20,000 iterations, 200 ms), then one long blocking
    // poll that stays a bar of its own (about 540 kB here).
    let mut events = iterations(20_000);
    events.push(x(
        "iteration 20001",
        "iteration",
        200_000.0,
        50_000.0,
        r#""iteration":20001"#,
    ));
    events.push(x(
        "poll",
        "phase",
        200_000.1,
        49_000.0,
        r#""iteration":20001,"timeout_ms":49"#,
    ));
    let svg = render_svg(&trace(&events)).unwrap();
    assert_well_formed(&svg);
    assert!(svg.len() < 1_000_000, "{} bytes", svg.len());
    assert_eq!(
        count(&svg, r#"<rect class="ev""#) + merged_events(&svg),
        events.len()
    );
    assert!(svg
        .contains("<title>poll: 49.000 ms at 200.000 ms\niteration 20001\ntimeout_ms: 49</title>"));
}

#[test]
fn overlapping_events_fall_back_to_merged_bars() {
    // Not what the loop writes, but the bound must hold anyway: 20,000
    // overlapping 1 ms events in one lane.
    let events: Vec<String> = (0..20_000)
        .map(|i| x("overlap", "other", i as f64 * 0.05, 1_000.0, ""))
        .collect();
    let svg = render_svg(&trace(&events)).unwrap();
    assert_well_formed(&svg);
    assert!(count(&svg, r#"<rect class="ev""#) <= 2 * 1080);
    assert!(svg.len() < 1_500_000, "{} bytes", svg.len());
    assert_eq!(
        count(&svg, r#"<rect class="ev""#) + merged_events(&svg),
        events.len()
    );
}

// ---- a real trace ------------------------------------------------------------

/// Events of one lane never overlap (the renderer's size bound relies on
/// it): checked on what the loop writes.
fn assert_lanes_do_not_overlap(events: &[trace_svg::Event]) {
    for cat in ["iteration", "phase", "callback", "task"] {
        let mut lane: Vec<_> = events.iter().filter(|e| e.cat == cat).collect();
        lane.sort_by(|a, b| a.ts.total_cmp(&b.ts));
        for w in lane.windows(2) {
            // ts and dur are rounded to the ns each: allow 2 ns.
            assert!(
                w[0].end() <= w[1].ts + 0.002,
                "{:?} overlaps {:?}",
                w[0],
                w[1]
            );
        }
    }
}

#[test]
fn a_traced_run_renders() {
    let path = std::env::temp_dir().join(format!("evloop-trace-svg-{}.json", std::process::id()));
    let lp = evloop::EventLoop::builder()
        .virtual_time()
        .trace(path.clone())
        .build()
        .unwrap();
    lp.run_until_complete(async {
        let ticks = evloop::ensure_future(async {
            for _ in 0..3 {
                evloop::sleep(std::time::Duration::from_millis(10)).await;
            }
        });
        evloop::EventLoop::current().call_soon(|| ()).unwrap();
        ticks.await.unwrap();
    })
    .unwrap();
    lp.close().unwrap();
    let json = std::fs::read_to_string(&path).unwrap();
    let _ = std::fs::remove_file(&path);

    let trace = parse_trace(&json).unwrap();
    let named = |cat: &str, name: &str| {
        trace
            .events
            .iter()
            .filter(|e| e.cat == cat && e.name.starts_with(name))
            .count()
    };
    assert!(named("iteration", "iteration ") >= 4, "{json}");
    assert!(
        named("phase", "timers") >= 3,
        "three timer wake-ups: {json}"
    );
    assert!(named("callback", "callback ") >= 1, "{json}");
    assert!(named("task", "task ") >= 4, "{json}");
    assert_lanes_do_not_overlap(&trace.events);

    let svg = render_svg(&json).unwrap();
    assert_well_formed(&svg);
    assert_eq!(
        count(&svg, r#"<rect class="ev""#) + merged_events(&svg),
        trace.events.len()
    );
}

/// 1,000 idle iterations of 1 ms (a poll that waits), with a 0.2 µs
/// timers phase in each and a burst of work in iteration 700.
fn idle_run_with_a_burst() -> Vec<String> {
    let mut events = Vec::new();
    for i in 0..1_000u64 {
        let t = i as f64 * 1000.0;
        let it = format!(r#""iteration":{i}"#);
        events.push(x(&format!("iteration {i}"), "iteration", t, 1000.0, &it));
        events.push(x("poll", "phase", t, 990.0, &it));
        events.push(x("timers", "phase", t + 990.0, 0.2, &it));
        let work = if i == 700 { 5.0 } else { 0.5 };
        events.push(x("ready", "phase", t + 991.0, work, &it));
    }
    events
}

/// Each phase has a lane of its own: a phase a millionth of the run long
/// (`timers`) still shows, as merged bars in its own row, instead of
/// vanishing under `poll` in a shared one.
#[test]
fn a_tiny_phase_shows_in_its_own_lane() {
    let svg = render_svg(&trace(&idle_run_with_a_burst())).unwrap();
    assert_well_formed(&svg);
    let timers_lane = svg
        .split(r#"font-weight="bold">phase: timers<title>"#)
        .nth(1)
        .expect("a lane for the timers phase");
    let next_lane = timers_lane.find(r#"font-weight="bold">"#).unwrap();
    let merged_in_it = count(&timers_lane[..next_lane], r#"class="merged""#);
    assert!(merged_in_it >= 500, "{merged_in_it} merged bars");
    assert!(svg.contains(">phase: timers</text>"), "in the legend");
}

#[test]
fn a_short_trace_needs_no_second_picture() {
    let t = parse_trace(&trace(&iterations(3))).unwrap();
    assert!(busiest_window(&t, 1200.0).is_none());
}

/// A long run gets a second picture zoomed on its busiest iteration: the
/// burst's, from its first piece of work to its last, with a margin.
#[test]
fn the_second_picture_zooms_on_the_busiest_iteration() {
    let json = trace(&idle_run_with_a_burst());
    let t = parse_trace(&json).unwrap();
    let window = busiest_window(&t, 1200.0).expect("a long run");
    let (from, to) = (window.from_us.unwrap(), window.to_us.unwrap());
    // Iteration 700's work: timers at 700,990 (0.2 µs), ready at 700,991
    // for 5 µs: 6 µs in all, and the smallest margin, 1 µs, each side.
    assert!((from - 700_989.0).abs() < 1e-6, "{from}");
    assert!((to - 700_997.0).abs() < 1e-6, "{to}");
    let svg = render_svg_with(&json, &window).unwrap();
    assert_well_formed(&svg);
    assert!(
        svg.contains("<title>ready: 5.000 µs at 700.991 ms"),
        "a bar of its own"
    );
}
