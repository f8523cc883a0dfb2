//! Renders an evloop trace as an SVG timeline, so a trace can be looked at
//! without Perfetto or `chrome://tracing`.
//!
//! The input is the Chrome trace-event JSON that `Builder::trace` writes:
//! a header line, then one event per line, then `]}`. Each line is read on
//! its own with `serde_json` (a dev-dependency: only examples and tests
//! read traces); lines that are
//! not events (the header, the footer, blank lines) are skipped, and so are
//! events of kinds the timeline does not draw (metadata `"M"`). Complete
//! events (`"ph":"X"`) must have a string `name` and numeric `ts` and
//! `dur` (µs, `dur` ≥ 0): a malformed one is an error naming its line.
//! Instant events (`"ph":"i"`, e.g. "trace truncated") are drawn as
//! markers.
//!
//! # The picture
//!
//! One lane per category (`iteration`, then one per phase in the order
//! the phases run: `phase: poll`, `phase: io`, `phase: remote`,
//! `phase: timers`, `phase: ready`; then `callback`, `task`, then any
//! other category in order of appearance), since the loop's events nest
//! by time: an iteration contains its phases, and the `ready` phase
//! contains the callbacks and task polls. A phase gets a row of its own so
//! that one a millionth of the run long (`timers`, mostly) still shows,
//! where in a shared row the long `poll` waits would hide it. Each lane
//! has its colour, named in the legend; a time axis with 1-2-5 ticks labelled
//! in µs, ms or s; a `<title>` tooltip on every bar (name, duration, start,
//! iteration and the other args); the name inside a bar when it fits; a
//! legend.
//!
//! # Long traces
//!
//! Events of one lane do not overlap, so at most one bar per pixel can be
//! wide enough to see. Events narrower than [`MIN_BAR_PX`] are not drawn
//! one by one: each pixel column of a lane gets one merged bar, the more
//! opaque the more of the column's time the events fill, coloured like the
//! events that filled most of it, with a tooltip counting them.
//! Individual bars are also capped per lane (a lane of overlapping events,
//! which evloop does not write, falls back to merged bars). So the SVG's
//! size depends on the width and the number of lanes, not on the number of
//! events: about 540 kB for 100,000 events of a loop at the default width,
//! 850 kB for the million a trace holds at most, and a few MB however the
//! events lie. The events are all parsed before drawing, though: about
//! 500 bytes of memory per event with the file's text (0.5 GB and 1.4 s
//! for a million, in a release build).
#![allow(dead_code)] // each includer uses a part

use std::fmt::Write as _;

use serde_json::{Map, Value};

/// Events narrower than this many pixels are merged per pixel column.
pub const MIN_BAR_PX: f64 = 1.0;

/// What to draw: the time window and the picture's width.
#[derive(Debug, Clone)]
pub struct Options {
    /// Start of the window, µs since the loop was created (default: 0).
    pub from_us: Option<f64>,
    /// End of the window, µs (default: the end of the last event).
    pub to_us: Option<f64>,
    /// Width of the SVG in pixels (default 1200).
    pub width: f64,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            from_us: None,
            to_us: None,
            width: 1200.0,
        }
    }
}

/// The whole trace as an SVG timeline (see the module docs).
pub fn render_svg(json: &str) -> Result<String, String> {
    render_svg_with(json, &Options::default())
}

/// The trace as an SVG timeline of the window and width in `options`.
pub fn render_svg_with(json: &str, options: &Options) -> Result<String, String> {
    let trace = parse_trace(json)?;
    let scale = Scale::new(&trace, options)?;
    Ok(draw(&trace, &scale))
}

/// For a run too long for one picture: the window of a second picture
/// zoomed on its busiest iteration, or `None` if the whole picture at
/// `width` already draws every piece of work as a bar of its own.
///
/// Work is every event but iterations and the `poll` phase (the loop
/// waiting). The run is too long when some work would be merged into
/// pixel columns (narrower than [`MIN_BAR_PX`]). The busiest iteration is
/// the one whose work adds up to the most time (events without an
/// `iteration` arg count as one more iteration of their own); the window
/// spans its work, from the first piece's start to the last one's end,
/// with a margin of a tenth of that (at least 1 µs) on each side.
pub fn busiest_window(trace: &Trace, width: f64) -> Option<Options> {
    let whole = Scale::new(
        trace,
        &Options {
            width,
            ..Options::default()
        },
    )
    .ok()?;
    let work: Vec<&Event> = trace.events.iter().filter(|e| is_work(e)).collect();
    if !work.iter().any(|e| e.dur / whole.us_per_px() < MIN_BAR_PX) {
        return None;
    }
    // Per iteration: (busy time, first start, last end).
    let mut per_iteration: Vec<(Option<&str>, f64, f64, f64)> = Vec::new();
    for e in work {
        let i = e.iteration();
        match per_iteration.iter_mut().find(|p| p.0 == i) {
            Some(p) => (p.1, p.2, p.3) = (p.1 + e.dur, p.2.min(e.ts), p.3.max(e.end())),
            None => per_iteration.push((i, e.dur, e.ts, e.end())),
        }
    }
    let (_, _, first, last) = per_iteration
        .into_iter()
        .max_by(|a, b| a.1.total_cmp(&b.1))?;
    let margin = ((last - first) / 10.0).max(1.0);
    Some(Options {
        from_us: Some(first - margin),
        to_us: Some(last + margin),
        width,
    })
}

/// Whether an event is the loop doing something (not an iteration as a
/// whole, not the wait in `poll`).
fn is_work(e: &Event) -> bool {
    !(e.cat == "iteration" || (e.cat == "phase" && e.name == "poll"))
}

// ---- the trace --------------------------------------------------------------

/// The parts of a trace the timeline draws.
#[derive(Debug, Clone, Default)]
pub struct Trace {
    /// Complete (`"X"`) events, in file order.
    pub events: Vec<Event>,
    /// Instant (`"i"`) events: name and time (µs).
    pub markers: Vec<(String, f64)>,
    /// The loop's thread name, from the `thread_name` metadata event.
    pub thread: Option<String>,
}

/// One complete event: something that ran from `ts` for `dur` µs.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// `name`: "iteration 3", "poll", "task 3 task_a", ...
    pub name: String,
    /// `cat`: "iteration", "phase", "callback", "task" ("" if absent).
    pub cat: String,
    /// Start, µs since the loop was created.
    pub ts: f64,
    /// Duration, µs.
    pub dur: f64,
    /// `args`, each value as JSON text (strings unquoted).
    pub args: Vec<(String, String)>,
}

impl Event {
    /// The end, µs.
    pub fn end(&self) -> f64 {
        self.ts + self.dur
    }

    /// The `iteration` arg, if any.
    pub fn iteration(&self) -> Option<&str> {
        self.arg("iteration")
    }

    /// An arg's value as text.
    pub fn arg(&self, key: &str) -> Option<&str> {
        self.args
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Reads a trace line by line (see the module docs for what is skipped and
/// what is an error).
pub fn parse_trace(json: &str) -> Result<Trace, String> {
    let mut trace = Trace::default();
    let mut header = false;
    for (i, line) in json.lines().enumerate() {
        let line = line.trim();
        let line = line.strip_suffix(',').unwrap_or(line);
        if line.contains("\"traceEvents\"") {
            header = true;
        } else if line.starts_with('{') {
            parse_line(line, &mut trace).map_err(|e| format!("line {}: {e}", i + 1))?;
        }
    }
    if !header {
        return Err("not an evloop trace: no \"traceEvents\" line".to_owned());
    }
    Ok(trace)
}

/// One event line into `trace`; an error only for a malformed `X` event.
fn parse_line(line: &str, trace: &mut Trace) -> Result<(), String> {
    let fields = match serde_json::from_str::<Value>(line) {
        Ok(Value::Object(fields)) => fields,
        Ok(_) if line.contains("\"ph\":\"X\"") => {
            return Err("malformed X event: not an object".to_owned())
        }
        Err(e) if line.contains("\"ph\":\"X\"") => return Err(format!("malformed X event: {e}")),
        _ => return Ok(()),
    };
    let text = |key: &str| fields.get(key).and_then(Value::as_str);
    match text("ph") {
        Some("X") => trace.events.push(complete_event(&fields)?),
        Some("i" | "I") => {
            let ts = fields
                .get("ts")
                .and_then(Value::as_f64)
                .ok_or("instant event without a numeric ts")?;
            trace
                .markers
                .push((text("name").unwrap_or_default().to_owned(), ts));
        }
        Some("M") if text("name") == Some("thread_name") => {
            let name = fields.get("args").and_then(|a| a.get("name"));
            if let Some(name) = name.and_then(Value::as_str) {
                trace.thread = Some(name.to_owned());
            }
        }
        _ => {}
    }
    Ok(())
}

/// A complete event from its fields, or what is wrong with it.
fn complete_event(fields: &Map<String, Value>) -> Result<Event, String> {
    let name = match fields.get("name") {
        Some(Value::String(s)) => s.clone(),
        _ => return Err("X event without a string name".to_owned()),
    };
    let number = |key: &str| match fields.get(key).and_then(Value::as_f64) {
        Some(n) if n.is_finite() => Ok(n),
        _ => Err(format!("X event {name:?} without a numeric {key}")),
    };
    let (ts, dur) = (number("ts")?, number("dur")?);
    if dur < 0.0 {
        return Err(format!("X event {name:?} with a negative dur"));
    }
    let cat = fields
        .get("cat")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let args = match fields.get("args") {
        Some(Value::Object(args)) => args.iter().map(|(k, v)| (k.clone(), text_of(v))).collect(),
        _ => Vec::new(),
    };
    Ok(Event {
        name,
        cat,
        ts,
        dur,
        args,
    })
}

/// A value as text for a tooltip: strings as they are, the rest as JSON.
fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

// ---- geometry ----------------------------------------------------------------

/// Left edge of the plot (lane labels go to its left).
const PLOT_X: f64 = 100.0;
/// Space right of the plot.
const RIGHT_MARGIN: f64 = 20.0;
/// Top of the first lane.
const TOP: f64 = 62.0;
/// Height of a lane, and of a bar in it.
const LANE: f64 = 26.0;
const BAR: f64 = 18.0;
/// A merged column's bar is this wide, so that a lone one can be seen.
const MERGED_PX: f64 = 2.0;
/// Bars at least this wide end with a one-pixel gap.
const GAP_FROM_PX: f64 = 4.0;
/// Roughly the width of a character of the 11 px labels.
const CHAR_PX: f64 = 6.2;
/// At most this many individual bars per lane, in multiples of the plot's
/// width in pixels (lanes do not overlap, so only a malformed trace can
/// reach it).
const BARS_PER_PX: f64 = 2.0;

/// Maps trace time (µs) to x, over the window.
#[derive(Debug, Clone, Copy)]
struct Scale {
    from: f64,
    to: f64,
    width: f64,
}

impl Scale {
    /// The window of `options` (or the whole trace) at its width.
    fn new(trace: &Trace, options: &Options) -> Result<Scale, String> {
        let last = trace
            .events
            .iter()
            .map(Event::end)
            .chain(trace.markers.iter().map(|m| m.1))
            .fold(0.0_f64, f64::max);
        let first = trace.events.iter().map(|e| e.ts).fold(0.0_f64, f64::min);
        let from = options.from_us.unwrap_or(first);
        let to = options.to_us.unwrap_or(last.max(from + 1.0));
        if !(from.is_finite() && to.is_finite() && from < to) {
            return Err(format!("empty time window: {from} to {to} µs"));
        }
        if !(options.width >= 300.0 && options.width <= 100_000.0) {
            return Err(format!("width {} px: not in 300..=100000", options.width));
        }
        Ok(Scale {
            from,
            to,
            width: options.width,
        })
    }

    /// Width of the plot in pixels.
    fn plot_width(&self) -> f64 {
        self.width - PLOT_X - RIGHT_MARGIN
    }

    /// Microseconds per pixel.
    fn us_per_px(&self) -> f64 {
        (self.to - self.from) / self.plot_width()
    }

    fn x(&self, t: f64) -> f64 {
        PLOT_X + (t - self.from) / self.us_per_px()
    }

    /// The part of `e` inside the window, as x from..to; `None` if none of
    /// it is.
    fn clip(&self, e: &Event) -> Option<(f64, f64)> {
        let (a, b) = (e.ts.max(self.from), e.end().min(self.to));
        let touches = a < b || (a == b && e.ts >= self.from && e.ts <= self.to);
        touches.then(|| (self.x(a), self.x(b)))
    }

    /// Whether `t` is in the window.
    fn contains(&self, t: f64) -> bool {
        self.from <= t && t <= self.to
    }

    /// The pixel column of x.
    fn column(&self, x: f64) -> usize {
        let last = self.plot_width().ceil() as usize - 1;
        ((x - PLOT_X).max(0.0) as usize).min(last)
    }
}

// ---- colours -----------------------------------------------------------------

/// The fill of a bar, by colour key (phase name or category); `alt` is a
/// second shade that tells neighbours of the same kind apart.
fn fill(key: &str, alt: bool) -> &'static str {
    match (key, alt) {
        ("iteration", false) => "#8c8c8c",
        ("iteration", true) => "#b3b3b3",
        ("poll", _) => "#4e79a7",
        ("io", _) => "#f28e2b",
        ("remote", _) => "#e15759",
        ("timers", _) => "#76b7b2",
        ("ready", _) => "#59a14f",
        ("callback", false) => "#edc948",
        ("callback", true) => "#d9b02c",
        ("task", false) => "#b07aa1",
        ("task", true) => "#cfa3c2",
        (PHASE_OTHER, _) => "#bab0ac",
        (_, false) => "#9c755f",
        (_, true) => "#c09a84",
    }
}

/// The colour key of a phase that is not one of the loop's five.
const PHASE_OTHER: &str = "phase (other)";

/// The loop's phases, in the order they run.
const PHASES: [&str; 5] = ["poll", "io", "remote", "timers", "ready"];

/// What an event is coloured by: its phase name, or its category.
fn color_key(e: &Event) -> &str {
    match e.cat.as_str() {
        "phase" if PHASES.contains(&e.name.as_str()) => &e.name,
        "phase" => PHASE_OTHER,
        cat => cat,
    }
}

/// Black or white, whichever reads better on `fill` (`#rrggbb`).
fn ink(fill: &str) -> &'static str {
    let channel = |i: usize| u8::from_str_radix(&fill[i..i + 2], 16).unwrap_or(0) as f64;
    let luma = 0.299 * channel(1) + 0.587 * channel(3) + 0.114 * channel(5);
    if luma < 140.0 {
        "#ffffff"
    } else {
        "#1a1a1a"
    }
}

// ---- text --------------------------------------------------------------------

/// `s` escaped for SVG text and attributes; characters XML 1.0 forbids
/// (control characters other than tab and newlines) become U+FFFD.
pub fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// A duration or time in µs, in the unit that suits it.
pub fn fmt_us(us: f64) -> String {
    let a = us.abs();
    if a == 0.0 {
        "0".to_owned()
    } else if a < 1.0 {
        format!("{:.0} ns", us * 1e3)
    } else if a < 1e3 {
        format!("{us:.3} µs")
    } else if a < 1e6 {
        format!("{:.3} ms", us / 1e3)
    } else {
        format!("{:.3} s", us / 1e6)
    }
}

/// The tooltip of one event: name, duration, start, iteration, other args.
fn tooltip(e: &Event) -> String {
    let mut t = format!("{}: {} at {}", e.name, fmt_us(e.dur), fmt_us(e.ts));
    if let Some(i) = e.iteration() {
        let _ = write!(t, "\niteration {i}");
    }
    for (k, v) in e.args.iter().filter(|(k, _)| k != "iteration") {
        let _ = write!(t, "\n{k}: {v}");
    }
    t
}

/// The longest of the name's labels that fits in `px`: the name, the name
/// without its category ("iteration 12" → "12"), that without a path
/// ("src/a.rs:3:9" → "a.rs:3:9"), or its first word.
fn label(e: &Event, px: f64) -> Option<&str> {
    let short = e
        .name
        .strip_prefix(e.cat.as_str())
        .unwrap_or(&e.name)
        .trim();
    let file = short.rsplit('/').next().unwrap_or(short);
    let first = short.split(' ').next().unwrap_or(short);
    let fits = |s: &str| !s.is_empty() && (s.chars().count() as f64) * CHAR_PX + 6.0 <= px;
    [e.name.as_str(), short, file, first]
        .into_iter()
        .find(|s| fits(s))
}

// ---- drawing -----------------------------------------------------------------

/// One lane: a category (each of the loop's phases gets a lane of its
/// own) and its events.
struct Lane<'a> {
    /// The label: the category, or "phase: poll", "phase: io", ...
    name: String,
    /// The colour key of its events (see [`color_key`]).
    key: &'a str,
    events: Vec<&'a Event>,
}

/// The lane an event goes to: its category, or for a phase, the phase.
fn lane_name(e: &Event) -> String {
    match e.cat.as_str() {
        "phase" => match color_key(e) {
            PHASE_OTHER => PHASE_OTHER.to_owned(),
            phase => format!("phase: {phase}"),
        },
        cat => cat.to_owned(),
    }
}

/// The lanes: the iteration, each phase in the order phases run (so that
/// a phase a millionth of the run long, `timers` say, still has a row
/// where it shows), callbacks, tasks, then any other category in order of
/// appearance; each lane's events by start time.
fn lanes(trace: &Trace) -> Vec<Lane<'_>> {
    let fixed = std::iter::once("iteration".to_owned())
        .chain(PHASES.iter().map(|p| format!("phase: {p}")))
        .chain([
            PHASE_OTHER.to_owned(),
            "callback".to_owned(),
            "task".to_owned(),
        ]);
    let mut lanes: Vec<Lane<'_>> = fixed
        .map(|name| Lane {
            name,
            key: "",
            events: Vec::new(),
        })
        .collect();
    for e in &trace.events {
        let name = lane_name(e);
        match lanes.iter_mut().find(|l| l.name == name) {
            Some(lane) => lane.events.push(e),
            None => lanes.push(Lane {
                name,
                key: "",
                events: vec![e],
            }),
        }
    }
    lanes.retain(|l| !l.events.is_empty());
    for lane in &mut lanes {
        lane.events.sort_by(|a, b| a.ts.total_cmp(&b.ts));
        lane.key = color_key(lane.events[0]);
    }
    lanes
}

/// The whole picture.
fn draw(trace: &Trace, scale: &Scale) -> String {
    let lanes = lanes(trace);
    let bottom = TOP + LANE * lanes.len().max(1) as f64;
    let mut body = String::new();
    draw_header(&mut body, trace, scale);
    draw_axis(&mut body, scale, bottom);
    for (i, lane) in lanes.iter().enumerate() {
        draw_lane(&mut body, lane, TOP + LANE * i as f64, scale);
    }
    if lanes.is_empty() {
        let _ = writeln!(
            body,
            r##"<text x="{PLOT_X}" y="{}" fill="#777777">no events</text>"##,
            TOP + 17.0
        );
    }
    draw_markers(&mut body, trace, scale, bottom);
    let marker = trace.markers.iter().any(|m| scale.contains(m.1));
    let end = draw_legend(&mut body, &lanes, marker, bottom + 44.0, scale.width);
    document(scale.width, end + 14.0, &body)
}

/// The `<svg>` element around `body`, on a white background.
fn document(width: f64, height: f64, body: &str) -> String {
    let mut s = String::with_capacity(body.len() + 400);
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">"#
    );
    s.push_str("<style>rect.ev:hover,rect.merged:hover{stroke:#000;stroke-width:1}</style>\n");
    s.push_str("<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n");
    s.push_str(body);
    s.push_str("</svg>\n");
    s
}

/// The title and the line under it.
fn draw_header(s: &mut String, trace: &Trace, scale: &Scale) {
    let iterations = trace.events.iter().filter(|e| e.cat == "iteration").count();
    let title = format!(
        "trace of {}: {} iterations, {} events",
        trace.thread.as_deref().unwrap_or("an evloop loop"),
        iterations,
        trace.events.len()
    );
    let _ = writeln!(
        s,
        r#"<text x="10" y="20" font-size="14" font-weight="bold">{}</text>"#,
        xml(&title)
    );
    let note = format!(
        "{} to {} · hover a bar for details · events narrower than a pixel are merged per pixel column (the more opaque, the busier)",
        fmt_us(scale.from),
        fmt_us(scale.to)
    );
    let _ = writeln!(
        s,
        r##"<text x="10" y="38" fill="#555555">{}</text>"##,
        xml(&note)
    );
}

/// Gridlines and tick labels at 1-2-5 steps, about every 100 px.
fn draw_axis(s: &mut String, scale: &Scale, bottom: f64) {
    let step = nice_step((scale.to - scale.from) * 100.0 / scale.plot_width());
    let (unit, per) = axis_unit(scale.from.abs().max(scale.to.abs()));
    let decimals = (-(step / per).log10().floor()).max(0.0) as usize;
    let mut t = (scale.from / step).ceil() * step;
    while t <= scale.to + step * 1e-9 {
        let x = scale.x(t);
        let _ = writeln!(
            s,
            r##"<line x1="{x:.1}" y1="{}" x2="{x:.1}" y2="{bottom}" stroke="#e6e6e6" stroke-width="1"/>"##,
            TOP - 4.0
        );
        let _ = writeln!(
            s,
            r##"<text x="{x:.1}" y="{}" text-anchor="middle" fill="#333333">{:.decimals$} {unit}</text>"##,
            bottom + 16.0,
            t / per
        );
        t += step;
    }
}

/// The 1-2-5 step at or above `raw`.
fn nice_step(raw: f64) -> f64 {
    let p = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * p)
        .find(|&v| v >= raw * (1.0 - 1e-9))
        .unwrap_or(10.0 * p)
}

/// The unit for tick labels of times up to `max` µs, and µs per unit.
fn axis_unit(max: f64) -> (&'static str, f64) {
    if max >= 1e6 {
        ("s", 1e6)
    } else if max >= 1e3 {
        ("ms", 1e3)
    } else {
        ("µs", 1.0)
    }
}

/// One lane: its label, its wide events one by one, the narrow ones merged
/// per pixel column.
fn draw_lane(s: &mut String, lane: &Lane<'_>, y: f64, scale: &Scale) {
    let _ = writeln!(
        s,
        r#"<text x="{}" y="{}" text-anchor="end" font-weight="bold">{}<title>{} {} events</title></text>"#,
        PLOT_X - 8.0,
        y + BAR / 2.0 + 4.0,
        xml(&lane.name),
        lane.events.len(),
        xml(&lane.name)
    );
    let mut columns = vec![Column::default(); scale.plot_width().ceil() as usize];
    let cap = (scale.plot_width() * BARS_PER_PX) as usize;
    let mut drawn = 0;
    for e in &lane.events {
        let Some((a, b)) = scale.clip(e) else {
            continue;
        };
        if b - a >= MIN_BAR_PX && drawn < cap {
            draw_event(s, e, a, b - a, y, drawn % 2 == 1);
            drawn += 1;
        } else {
            let busy = e.end().min(scale.to) - e.ts.max(scale.from);
            columns[scale.column(a)].add(color_key(e), busy);
        }
    }
    for (i, c) in columns.iter().enumerate().filter(|(_, c)| c.count > 0) {
        c.draw(s, i, y, scale);
    }
}

/// One event's bar, its tooltip and its label if it fits.
fn draw_event(s: &mut String, e: &Event, x: f64, w: f64, y: f64, alt: bool) {
    let color = fill(color_key(e), alt);
    // A hairline gap after bars wide enough to spare it, so that
    // neighbours of one colour (two polls) stay apart.
    let drawn = if w >= GAP_FROM_PX { w - 1.0 } else { w };
    let _ = writeln!(
        s,
        r#"<rect class="ev" x="{x:.1}" y="{y}" width="{drawn:.1}" height="{BAR}" fill="{color}"><title>{}</title></rect>"#,
        xml(&tooltip(e))
    );
    if let Some(text) = label(e, w) {
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{}" fill="{}" pointer-events="none">{}</text>"#,
            x + 3.0,
            y + BAR / 2.0 + 4.0,
            ink(color),
            xml(text)
        );
    }
}

/// The events merged into one pixel column of a lane.
#[derive(Debug, Clone, Default)]
struct Column<'a> {
    count: usize,
    /// Time the events fill, µs.
    busy: f64,
    /// Per colour key: count and busy time.
    keys: Vec<(&'a str, usize, f64)>,
}

impl<'a> Column<'a> {
    fn add(&mut self, key: &'a str, busy: f64) {
        self.count += 1;
        self.busy += busy;
        match self.keys.iter_mut().find(|k| k.0 == key) {
            Some(k) => {
                k.1 += 1;
                k.2 += busy;
            }
            None => self.keys.push((key, 1, busy)),
        }
    }

    /// The column's bar: [`MERGED_PX`] wide (the next column's bar covers
    /// what overlaps), opaque from 0.6 for a column the events hardly fill
    /// to 1 for a full one: sparse columns still show, busy ones are solid.
    fn draw(&self, s: &mut String, i: usize, y: f64, scale: &Scale) {
        let main = self
            .keys
            .iter()
            .max_by(|a, b| a.2.total_cmp(&b.2).then(a.1.cmp(&b.1)))
            .map_or("", |k| k.0);
        let share = (self.busy / scale.us_per_px()).min(1.0);
        let start = scale.from + i as f64 * scale.us_per_px();
        let mut title = format!(
            "{} events merged, {} to {}: {} busy ({:.0}%)",
            self.count,
            fmt_us(start),
            fmt_us(start + scale.us_per_px()),
            fmt_us(self.busy),
            share * 100.0
        );
        for (key, n, _) in &self.keys {
            let _ = write!(title, "\n{key}: {n}");
        }
        let _ = writeln!(
            s,
            r#"<rect class="merged" x="{:.1}" y="{y}" width="{MERGED_PX}" height="{BAR}" fill="{}" fill-opacity="{:.2}"><title>{}</title></rect>"#,
            PLOT_X + i as f64,
            fill(main, false),
            0.6 + 0.4 * share,
            xml(&title)
        );
    }
}

/// Instant events (e.g. "trace truncated"): a dashed red line and a label.
fn draw_markers(s: &mut String, trace: &Trace, scale: &Scale, bottom: f64) {
    for (name, ts) in trace.markers.iter().filter(|m| scale.contains(m.1)) {
        let x = scale.x(*ts);
        let _ = writeln!(
            s,
            r##"<line x1="{x:.1}" y1="{}" x2="{x:.1}" y2="{bottom}" stroke="#d62728" stroke-width="1.5" stroke-dasharray="4 3"><title>{} at {}</title></line>"##,
            TOP - 10.0,
            xml(name),
            fmt_us(*ts)
        );
        let _ = writeln!(
            s,
            r##"<text x="{:.1}" y="{}" fill="#d62728" text-anchor="end">{}</text>"##,
            x - 3.0,
            TOP - 12.0,
            xml(name)
        );
    }
}

/// A swatch and a name per colour in use, wrapping at the width; returns
/// the baseline of its last row.
fn draw_legend(s: &mut String, lanes: &[Lane<'_>], marker: bool, y: f64, width: f64) -> f64 {
    let mut entries: Vec<(String, &str, f64)> = Vec::new();
    for lane in lanes {
        entries.push((lane.name.clone(), fill(lane.key, false), 1.0));
    }
    entries.push(("merged (< 1 px)".to_owned(), "#8c8c8c", 0.6));
    if marker {
        entries.push(("trace truncated".to_owned(), "#d62728", 1.0));
    }
    let (mut x, mut y) = (PLOT_X, y);
    for (name, color, opacity) in entries {
        let w = 22.0 + name.chars().count() as f64 * CHAR_PX + 16.0;
        if x + w > width && x > PLOT_X {
            (x, y) = (PLOT_X, y + 18.0);
        }
        let _ = writeln!(
            s,
            r#"<rect class="legend" x="{x:.1}" y="{}" width="14" height="12" fill="{color}" fill-opacity="{opacity}"/><text x="{:.1}" y="{y}">{}</text>"#,
            y - 10.0,
            x + 19.0,
            xml(&name)
        );
        x += w;
    }
    y
}
