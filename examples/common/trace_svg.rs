//! Renders an evloop trace as an SVG timeline, so a trace can be looked at
//! without Perfetto or `chrome://tracing`.
//!
//! The input is the Chrome trace-event JSON that `Builder::trace` writes:
//! a header line, then one event per line, then `]}`. Each line is read on
//! its own by the small JSON reader below (no dependency); lines that are
//! not events (the header, the footer, blank lines) are skipped, and so are
//! events of kinds the timeline does not draw (metadata `"M"`). Complete
//! events (`"ph":"X"`) must have a string `name` and numeric `ts` and
//! `dur` (µs, `dur` ≥ 0): a malformed one is an error naming its line.
//! Instant events (`"ph":"i"`, e.g. "trace truncated") are drawn as
//! markers.
//!
//! # The picture
//!
//! One lane per category (`iteration`, `phase`, `callback`, `task`, then
//! any other category in order of appearance), since the loop's events
//! nest by time: an iteration contains its phases, and the `ready` phase
//! contains the callbacks and task polls. Colours are per category, and
//! per phase name in the phase lane; a time axis with 1-2-5 ticks labelled
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
    let fields = match Reader::new(line).object_line() {
        Ok(fields) => fields,
        Err(e) if line.contains("\"ph\":\"X\"") => return Err(format!("malformed X event: {e}")),
        Err(_) => return Ok(()),
    };
    let text = |key: &str| match field(&fields, key) {
        Some(Json::Str(s)) => Some(s.clone()),
        _ => None,
    };
    let number = |key: &str| match field(&fields, key) {
        Some(Json::Num(n)) => Some(*n),
        _ => None,
    };
    match text("ph").as_deref() {
        Some("X") => trace.events.push(complete_event(&fields)?),
        Some("i" | "I") => {
            let ts = number("ts").ok_or("instant event without a numeric ts")?;
            trace.markers.push((text("name").unwrap_or_default(), ts));
        }
        Some("M") if text("name").as_deref() == Some("thread_name") => {
            if let Some(Json::Obj(args)) = field(&fields, "args") {
                if let Some(Json::Str(name)) = field(args, "name") {
                    trace.thread = Some(name.clone());
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// A complete event from its fields, or what is wrong with it.
fn complete_event(fields: &[(String, Json)]) -> Result<Event, String> {
    let name = match field(fields, "name") {
        Some(Json::Str(s)) => s.clone(),
        _ => return Err("X event without a string name".to_owned()),
    };
    let number = |key: &str| match field(fields, key) {
        Some(Json::Num(n)) if n.is_finite() => Ok(*n),
        _ => Err(format!("X event {name:?} without a numeric {key}")),
    };
    let (ts, dur) = (number("ts")?, number("dur")?);
    if dur < 0.0 {
        return Err(format!("X event {name:?} with a negative dur"));
    }
    let cat = match field(fields, "cat") {
        Some(Json::Str(s)) => s.clone(),
        _ => String::new(),
    };
    let args = match field(fields, "args") {
        Some(Json::Obj(args)) => args.iter().map(|(k, v)| (k.clone(), v.text())).collect(),
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

// ---- a JSON reader for one line ----------------------------------------------

/// A JSON value.
#[derive(Debug, Clone, PartialEq)]
enum Json {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

impl Json {
    /// The value as text for a tooltip: strings as they are, the rest as
    /// JSON.
    fn text(&self) -> String {
        match self {
            Json::Null => "null".to_owned(),
            Json::Bool(b) => b.to_string(),
            Json::Num(n) => n.to_string(),
            Json::Str(s) => s.clone(),
            Json::Arr(items) => {
                let items: Vec<String> = items.iter().map(Json::text).collect();
                format!("[{}]", items.join(", "))
            }
            Json::Obj(fields) => {
                let fields: Vec<String> = fields
                    .iter()
                    .map(|(k, v)| format!("{k}: {}", v.text()))
                    .collect();
                format!("{{{}}}", fields.join(", "))
            }
        }
    }
}

/// The value of `key` among an object's fields.
fn field<'a>(fields: &'a [(String, Json)], key: &str) -> Option<&'a Json> {
    fields.iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

/// Deeper nesting than this is refused (the loop writes depth 2).
const MAX_DEPTH: usize = 32;

/// A recursive-descent reader over one line's bytes.
struct Reader<'a> {
    text: &'a str,
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(text: &'a str) -> Reader<'a> {
        Reader { text, pos: 0 }
    }

    /// The line as exactly one object, nothing after it.
    fn object_line(&mut self) -> Result<Vec<(String, Json)>, String> {
        let Json::Obj(fields) = self.value(0)? else {
            return Err("not an object".to_owned());
        };
        self.skip_space();
        match self.peek() {
            None => Ok(fields),
            Some(c) => Err(format!("unexpected {:?} after the object", c as char)),
        }
    }

    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.pos).copied()
    }

    fn skip_space(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\r' | b'\n')) {
            self.pos += 1;
        }
    }

    /// Consumes `c` (after spaces) or fails.
    fn expect(&mut self, c: u8) -> Result<(), String> {
        self.skip_space();
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(format!(
                "expected {:?} at column {}",
                c as char,
                self.pos + 1
            ))
        }
    }

    fn value(&mut self, depth: usize) -> Result<Json, String> {
        if depth > MAX_DEPTH {
            return Err("nested too deeply".to_owned());
        }
        self.skip_space();
        match self.peek() {
            Some(b'{') => self.object(depth),
            Some(b'[') => self.array(depth),
            Some(b'"') => self.string().map(Json::Str),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => self.literal(),
            None => Err("unexpected end of line".to_owned()),
        }
    }

    fn object(&mut self, depth: usize) -> Result<Json, String> {
        self.expect(b'{')?;
        let mut fields = Vec::new();
        self.skip_space();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(Json::Obj(fields));
        }
        loop {
            self.skip_space();
            let key = self.string()?;
            self.expect(b':')?;
            fields.push((key, self.value(depth + 1)?));
            if !self.comma_or(b'}')? {
                return Ok(Json::Obj(fields));
            }
        }
    }

    fn array(&mut self, depth: usize) -> Result<Json, String> {
        self.expect(b'[')?;
        let mut items = Vec::new();
        self.skip_space();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(Json::Arr(items));
        }
        loop {
            items.push(self.value(depth + 1)?);
            if !self.comma_or(b']')? {
                return Ok(Json::Arr(items));
            }
        }
    }

    /// After an item: `true` on a comma (more items), `false` on `close`.
    fn comma_or(&mut self, close: u8) -> Result<bool, String> {
        self.skip_space();
        match self.peek() {
            Some(b',') => {
                self.pos += 1;
                Ok(true)
            }
            Some(c) if c == close => {
                self.pos += 1;
                Ok(false)
            }
            _ => Err(format!(
                "expected ',' or {:?} at column {}",
                close as char,
                self.pos + 1
            )),
        }
    }

    /// A string literal, unescaped.
    fn string(&mut self) -> Result<String, String> {
        self.expect(b'"')?;
        let mut out = String::new();
        loop {
            // Copy the run up to the next quote or backslash: both are
            // ASCII, so the run ends on a char boundary.
            let rest = &self.text[self.pos..];
            let run = rest.find(['"', '\\']).ok_or("unterminated string")?;
            out.push_str(&rest[..run]);
            self.pos += run + 1;
            if rest.as_bytes()[run] == b'"' {
                return Ok(out);
            }
            self.escape(&mut out)?;
        }
    }

    /// The escape after a backslash.
    fn escape(&mut self, out: &mut String) -> Result<(), String> {
        let c = self.peek().ok_or("unterminated escape")?;
        self.pos += 1;
        let plain = match c {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => return self.unicode_escape(out),
            _ => return Err(format!("bad escape \\{}", c as char)),
        };
        out.push(plain);
        Ok(())
    }

    /// `\uXXXX`, with a following `\uXXXX` if it is a surrogate pair; a
    /// lone surrogate becomes U+FFFD.
    fn unicode_escape(&mut self, out: &mut String) -> Result<(), String> {
        let hi = self.hex4()?;
        let code = if (0xd800..0xdc00).contains(&hi) && self.text[self.pos..].starts_with("\\u") {
            let save = self.pos;
            self.pos += 2;
            let lo = self.hex4()?;
            if (0xdc00..0xe000).contains(&lo) {
                0x10000 + ((hi - 0xd800) << 10) + (lo - 0xdc00)
            } else {
                self.pos = save;
                0xfffd
            }
        } else {
            hi
        };
        out.push(char::from_u32(code).unwrap_or('\u{fffd}'));
        Ok(())
    }

    fn hex4(&mut self) -> Result<u32, String> {
        let digits = self
            .text
            .get(self.pos..self.pos + 4)
            .ok_or("short \\u escape")?;
        let code = u32::from_str_radix(digits, 16).map_err(|_| format!("bad \\u{digits}"))?;
        self.pos += 4;
        Ok(code)
    }

    fn number(&mut self) -> Result<Json, String> {
        let start = self.pos;
        while matches!(
            self.peek(),
            Some(b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
        ) {
            self.pos += 1;
        }
        let digits = &self.text[start..self.pos];
        digits
            .parse()
            .map(Json::Num)
            .map_err(|_| format!("bad number {digits:?}"))
    }

    fn literal(&mut self) -> Result<Json, String> {
        for (word, value) in [
            ("null", Json::Null),
            ("true", Json::Bool(true)),
            ("false", Json::Bool(false)),
        ] {
            if self.text[self.pos..].starts_with(word) {
                self.pos += word.len();
                return Ok(value);
            }
        }
        Err(format!("unexpected character at column {}", self.pos + 1))
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

/// One lane: a category and its events.
struct Lane<'a> {
    cat: &'a str,
    events: Vec<&'a Event>,
}

/// The lanes: the loop's categories in nesting order, then the others in
/// order of appearance; each lane's events by start time.
fn lanes(trace: &Trace) -> Vec<Lane<'_>> {
    let mut lanes: Vec<Lane<'_>> = ["iteration", "phase", "callback", "task"]
        .into_iter()
        .map(|cat| Lane {
            cat,
            events: Vec::new(),
        })
        .collect();
    for e in &trace.events {
        match lanes.iter_mut().find(|l| l.cat == e.cat) {
            Some(lane) => lane.events.push(e),
            None => lanes.push(Lane {
                cat: &e.cat,
                events: vec![e],
            }),
        }
    }
    lanes.retain(|l| !l.events.is_empty());
    for lane in &mut lanes {
        lane.events.sort_by(|a, b| a.ts.total_cmp(&b.ts));
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
        xml(lane.cat),
        lane.events.len(),
        xml(lane.cat)
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
        let keys: Vec<&str> = lane.events.iter().map(|e| color_key(e)).collect();
        if lane.cat == "phase" {
            for key in PHASES.iter().copied().chain([PHASE_OTHER]) {
                if keys.contains(&key) {
                    entries.push((format!("phase: {key}"), fill(key, false), 1.0));
                }
            }
        } else {
            entries.push((lane.cat.to_owned(), fill(lane.cat, false), 1.0));
        }
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
