//! The results: [`Record`]s, and the table, JSON and SVG made of them.

use std::fmt::Write as _;

use super::machine::Machine;
use super::workloads::{Better, Spec};

/// One workload's values, every repetition of both sides.
#[derive(Debug, Clone)]
pub struct Record {
    /// The workload.
    pub spec: Spec,
    /// evloop's value for each repetition, in the order they ran.
    pub evloop: Vec<f64>,
    /// tokio's value for each repetition, in its fastest form for this
    /// workload.
    pub tokio: Vec<f64>,
    /// How tokio's side ran: the form measured in `tokio` (see
    /// [`crate::runtime::TokioForm`]) or, for a workload with one form, what
    /// it uses.
    pub tokio_form: String,
    /// The other tokio forms tried, with their medians.
    pub tokio_others: Vec<(String, f64)>,
    /// The floor's value for each repetition: the same work hand-written
    /// with no runtime ([`crate::floor`]); empty if the workload has none.
    pub floor: Vec<f64>,
    /// Extra figures for the notes: label, evloop's and tokio's values.
    pub extra: Vec<(String, Vec<f64>, Vec<f64>)>,
}

/// The median (the mean of the middle two for an even count); NaN if empty.
pub fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn min_max(values: &[f64]) -> (f64, f64) {
    let min = values.iter().copied().fold(f64::INFINITY, f64::min);
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    (min, max)
}

impl Record {
    /// A record of these values.
    pub fn new(spec: Spec, evloop: Vec<f64>, tokio: Vec<f64>) -> Record {
        Record {
            spec,
            evloop,
            tokio,
            tokio_form: String::new(),
            tokio_others: Vec::new(),
            floor: Vec::new(),
            extra: Vec::new(),
        }
    }

    /// The floor's median (NaN without a floor).
    pub fn floor_median(&self) -> f64 {
        median(&self.floor)
    }

    /// How many times the floor's cost evloop's median is (NaN without a
    /// floor): 1.0 would be a runtime that costs nothing.
    pub fn floor_distance(&self) -> f64 {
        let (e, f) = (self.evloop_median(), self.floor_median());
        if e > 0.0 && f > 0.0 {
            e / f
        } else {
            f64::NAN
        }
    }

    /// Whether the ratio reaches the workload's target (false without one).
    pub fn met(&self) -> bool {
        self.spec.target.is_some_and(|t| self.ratio() >= t)
    }

    /// evloop's median.
    pub fn evloop_median(&self) -> f64 {
        median(&self.evloop)
    }

    /// tokio's median.
    pub fn tokio_median(&self) -> f64 {
        median(&self.tokio)
    }

    /// The ratio of the medians, oriented so that above 1 evloop is better;
    /// NaN if it has no meaning (a zero or negative median).
    pub fn ratio(&self) -> f64 {
        let (e, t) = (self.evloop_median(), self.tokio_median());
        let r = match self.spec.better {
            Better::Lower => t / e,
            Better::Higher => e / t,
        };
        if r.is_finite() && r > 0.0 && e > 0.0 && t > 0.0 {
            r
        } else {
            f64::NAN
        }
    }
}

// ---- numbers ---------------------------------------------------------------

/// A figure for the table: three significant digits or so, thousands
/// separated; `n/a` for NaN.
pub fn fmt_num(v: f64) -> String {
    if !v.is_finite() {
        return "n/a".to_owned();
    }
    let a = v.abs();
    if a >= 100.0 {
        let digits = format!("{:.0}", a);
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(c);
        }
        if v < 0.0 {
            out.insert(0, '-');
        }
        out
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// A ratio for the table: two decimals below 10.
pub fn fmt_ratio(r: f64) -> String {
    if !r.is_finite() {
        "n/a".to_owned()
    } else if r >= 10.0 {
        format!("{r:.1}")
    } else {
        format!("{r:.2}")
    }
}

// ---- table -----------------------------------------------------------------

/// The results as a Markdown table, then notes for the extra figures.
pub fn table(records: &[Record]) -> String {
    let header = [
        "workload",
        "unit",
        "evloop",
        "tokio",
        "evloop min–max",
        "tokio min–max",
        "ratio",
        "target",
        "floor",
        "evloop ÷ floor",
        "tokio's form",
    ];
    let rows: Vec<[String; 11]> = records
        .iter()
        .map(|r| {
            let range = |v: &[f64]| {
                let (lo, hi) = min_max(v);
                format!("{}–{}", fmt_num(lo), fmt_num(hi))
            };
            let better = match r.spec.better {
                Better::Lower => "↓",
                Better::Higher => "↑",
            };
            [
                format!("`{}`", r.spec.name),
                format!("{} {better}", r.spec.unit),
                fmt_num(r.evloop_median()),
                fmt_num(r.tokio_median()),
                range(&r.evloop),
                range(&r.tokio),
                fmt_ratio(r.ratio()),
                target_cell(r),
                if r.floor.is_empty() {
                    String::new()
                } else {
                    fmt_num(r.floor_median())
                },
                if r.floor.is_empty() {
                    String::new()
                } else {
                    format!("{}×", fmt_ratio(r.floor_distance()))
                },
                r.tokio_form.clone(),
            ]
        })
        .collect();
    let width = |i: usize| {
        rows.iter()
            .map(|row| row[i].chars().count())
            .chain([header[i].chars().count()])
            .max()
            .unwrap_or(0)
    };
    let widths: Vec<usize> = (0..header.len()).map(width).collect();
    let pad = |s: &str, w: usize, right: bool| {
        let fill = " ".repeat(w.saturating_sub(s.chars().count()));
        if right {
            format!("{fill}{s}")
        } else {
            format!("{s}{fill}")
        }
    };
    // Every column but the names, the units and tokio's form is a number.
    let numeric = |i: usize| (2..header.len() - 1).contains(&i);
    let mut out = String::new();
    let line = |cells: &[String], out: &mut String| {
        out.push('|');
        for (i, c) in cells.iter().enumerate() {
            let _ = write!(out, " {} |", pad(c, widths[i], numeric(i)));
        }
        out.push('\n');
    };
    line(&header.map(String::from), &mut out);
    out.push('|');
    for (i, w) in widths.iter().enumerate() {
        let dashes = "-".repeat((*w).max(3));
        if numeric(i) {
            let _ = write!(out, " {}: |", &dashes[1..]);
        } else {
            let _ = write!(out, " {dashes} |");
        }
    }
    out.push('\n');
    for row in &rows {
        line(row, &mut out);
    }
    out.push_str(
        "\nMedians of the repetitions; ↓ lower is better, ↑ higher is better; \
         ratio > 1: evloop better; target: the ratio aimed for, ✓ met, ✗ missed; \
         floor: the same work hand-written with no runtime around it; tokio's form: \
         the faster of tokio's forms where a workload spawns tasks (both are run).\n",
    );
    out.push_str(&timer_pending_notes(records));
    let notes: Vec<String> = records
        .iter()
        .filter(|r| !r.extra.is_empty() || !r.tokio_others.is_empty())
        .map(|r| {
            let others = r
                .tokio_others
                .iter()
                .map(|(form, m)| format!("tokio as {form} {} (median)", fmt_num(*m)));
            let parts: Vec<String> = r
                .extra
                .iter()
                .map(|(label, e, t)| {
                    // A maximum is reported as the largest of the runs; the
                    // rest as medians.
                    let (e, t, how) = if label.starts_with("max") {
                        (min_max(e).1, min_max(t).1, "largest of the runs")
                    } else {
                        (median(e), median(t), "median")
                    };
                    format!(
                        "{label} evloop {} / tokio {} ({how})",
                        fmt_num(e),
                        fmt_num(t)
                    )
                })
                .chain(others)
                .collect();
            format!("- `{}`: {}", r.spec.name, parts.join("; "))
        })
        .collect();
    if !notes.is_empty() {
        out.push('\n');
        out.push_str(&notes.join("\n"));
        out.push('\n');
    }
    out
}

/// The most a pending far-away timer may add to a workload's evloop time.
const TIMER_PENDING_LIMIT: f64 = 1.10;

/// For each `X_timer_pending` record whose `X` also ran: evloop's time with
/// the timer pending as a multiple of its time without (the aim: at most
/// [`TIMER_PENDING_LIMIT`]).
fn timer_pending_notes(records: &[Record]) -> String {
    let mut out = String::new();
    for r in records {
        let Some(base) = r.spec.name.strip_suffix("_timer_pending") else {
            continue;
        };
        let Some(b) = records.iter().find(|b| b.spec.name == base) else {
            continue;
        };
        let times = r.evloop_median() / b.evloop_median();
        let _ = writeln!(
            out,
            "- `{}`: evloop {}× its `{base}` time (aim ≤ {}× {})",
            r.spec.name,
            fmt_ratio(times),
            fmt_ratio(TIMER_PENDING_LIMIT),
            if times <= TIMER_PENDING_LIMIT {
                "✓"
            } else {
                "✗"
            },
        );
    }
    out
}

/// `≥ 4 ✓` or `≥ 4 ✗`; empty without a target.
fn target_cell(r: &Record) -> String {
    match r.spec.target {
        Some(t) => format!("≥ {} {}", fmt_ratio(t), if r.met() { "✓" } else { "✗" }),
        None => String::new(),
    }
}

// ---- JSON ------------------------------------------------------------------

/// `s` as a JSON string literal.
pub fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `v` as a JSON number (`null` if not finite).
fn json_number(v: f64) -> String {
    if v.is_finite() {
        // Display of an f64 never uses an exponent: always a JSON number.
        format!("{v}")
    } else {
        "null".to_owned()
    }
}

fn json_array(values: &[f64]) -> String {
    let items: Vec<String> = values.iter().map(|&v| json_number(v)).collect();
    format!("[{}]", items.join(", "))
}

/// The records as a JSON array: per workload `workload`, `unit`, `better`
/// (`"lower"` / `"higher"`), `evloop` and `tokio` (every repetition's
/// value), `evloop_median`, `tokio_median`, `ratio` (> 1: evloop better),
/// `target`, `tokio_form` and `tokio_others` (form → median), `floor`
/// (every repetition, `[]` without one), `floor_median` and
/// `floor_distance` (evloop ÷ floor; `null` without one), and `extra`
/// (label → `{"evloop": [...], "tokio": [...]}`).
pub fn json(records: &[Record]) -> String {
    let mut out = String::from("[\n");
    for (i, r) in records.iter().enumerate() {
        let better = match r.spec.better {
            Better::Lower => "lower",
            Better::Higher => "higher",
        };
        let extra: Vec<String> = r
            .extra
            .iter()
            .map(|(label, e, t)| {
                format!(
                    "{}: {{\"evloop\": {}, \"tokio\": {}}}",
                    json_string(label),
                    json_array(e),
                    json_array(t)
                )
            })
            .collect();
        let others: Vec<String> = r
            .tokio_others
            .iter()
            .map(|(form, m)| format!("{}: {}", json_string(form), json_number(*m)))
            .collect();
        let _ = write!(
            out,
            "  {{\"workload\": {}, \"unit\": {}, \"better\": {}, \"evloop\": {}, \"tokio\": {}, \
             \"evloop_median\": {}, \"tokio_median\": {}, \"ratio\": {}, \"target\": {}, \
             \"tokio_form\": {}, \"tokio_others\": {{{}}}, \"floor\": {}, \"floor_median\": {}, \
             \"floor_distance\": {}, \"extra\": {{{}}}}}",
            json_string(r.spec.name),
            json_string(r.spec.unit),
            json_string(better),
            json_array(&r.evloop),
            json_array(&r.tokio),
            json_number(r.evloop_median()),
            json_number(r.tokio_median()),
            json_number(r.ratio()),
            r.spec.target.map_or("null".to_string(), json_number),
            json_string(&r.tokio_form),
            others.join(", "),
            json_array(&r.floor),
            json_number(r.floor_median()),
            json_number(r.floor_distance()),
            extra.join(", "),
        );
        out.push_str(if i + 1 < records.len() { ",\n" } else { "\n" });
    }
    out.push_str("]\n");
    out
}

// ---- SVG -------------------------------------------------------------------

/// `s` escaped for SVG text.
fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The attribute that shrinks a 12-px line of `text` to fit `width`
/// pixels if it would be wider (a long machine line must not run off the
/// picture); nothing if it fits. The width is estimated at 0.6 em a
/// character, a little more than sans-serif's average.
fn fit_within(text: &str, width: f64) -> String {
    let em_per_char = 0.6;
    let chars = text.chars().count() as f64;
    if chars * 12.0 * em_per_char <= width {
        return String::new();
    }
    format!(r#" font-size="{:.1}""#, width / (chars * em_per_char))
}

/// A horizontal bar chart of the ratios on a log scale: a bar per workload
/// from 1 to its ratio (green: evloop better, red: tokio better), a line at
/// 1.0, gridlines at 1-2-5 steps.
pub fn svg(records: &[Record], machine: &Machine) -> String {
    const WIDTH: f64 = 900.0;
    const LABEL_X: f64 = 250.0; // right edge of the workload names
    const X0: f64 = 262.0;
    const X1: f64 = 810.0;
    const TOP: f64 = 78.0;
    const ROW: f64 = 24.0;
    const BAR: f64 = 15.0;

    let ratios: Vec<f64> = records.iter().map(Record::ratio).collect();
    let finite = ratios.iter().copied().filter(|r| r.is_finite());
    let lo = finite.clone().fold(1.0_f64, f64::min);
    let hi = finite.fold(1.0_f64, f64::max);
    let lo_p = (lo.log10().floor() as i32).min(-1);
    let hi_p = (hi.log10().ceil() as i32).max(1);
    let x = |r: f64| X0 + (r.log10() - lo_p as f64) / (hi_p - lo_p) as f64 * (X1 - X0);
    let height = TOP + ROW * records.len() as f64 + 50.0;
    let bottom = TOP + ROW * records.len() as f64;

    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r##"<rect width="100%" height="100%" fill="#ffffff"/>"##);
    let _ = writeln!(
        s,
        r#"<text x="{}" y="22" font-size="15" font-weight="bold" text-anchor="middle">{}</text>"#,
        WIDTH / 2.0,
        xml("evloop vs tokio current_thread: ratio of medians (> 1: evloop better), log scale")
    );
    for (y, line) in [
        (42, machine.one_line()),
        (60, "green: evloop better, red: tokio better; times and memory: tokio ÷ evloop, throughputs: evloop ÷ tokio".to_string()),
    ] {
        let _ = writeln!(
            s,
            r##"<text x="{}" y="{y}" text-anchor="middle" fill="#555555"{}>{}</text>"##,
            WIDTH / 2.0,
            fit_within(&line, WIDTH - 40.0),
            xml(&line)
        );
    }
    // Gridlines and axis labels.
    for p in lo_p..=hi_p {
        for m in [1.0, 2.0, 5.0] {
            let r = m * 10f64.powi(p);
            if p == hi_p && m > 1.0 {
                break;
            }
            let gx = x(r);
            let major = m == 1.0;
            let _ = writeln!(
                s,
                r##"<line x1="{gx:.1}" y1="{TOP}" x2="{gx:.1}" y2="{bottom}" stroke="{}" stroke-width="1"/>"##,
                if major { "#bbbbbb" } else { "#e6e6e6" }
            );
            let label = if r >= 1.0 {
                format!("{r:.0}")
            } else {
                format!("{}", (r * 1e6).round() / 1e6)
            };
            let _ = writeln!(
                s,
                r##"<text x="{gx:.1}" y="{}" text-anchor="middle" fill="{}">{label}</text>"##,
                bottom + 16.0,
                if major { "#333333" } else { "#999999" }
            );
        }
    }
    let _ = writeln!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle">ratio (log scale)</text>"#,
        (X0 + X1) / 2.0,
        bottom + 36.0
    );
    // Bars.
    for (i, (rec, &r)) in records.iter().zip(&ratios).enumerate() {
        let y = TOP + ROW * i as f64;
        let mid = y + ROW / 2.0 + 4.0;
        let _ = writeln!(
            s,
            r#"<text x="{LABEL_X}" y="{mid}" text-anchor="end">{}</text>"#,
            xml(rec.spec.name)
        );
        if !r.is_finite() {
            let _ = writeln!(
                s,
                r##"<text x="{:.1}" y="{mid}" fill="#777777">n/a</text>"##,
                x(1.0) + 4.0
            );
            continue;
        }
        let (a, b) = (x(1.0), x(r));
        let (left, w) = (a.min(b), (a - b).abs().max(1.0));
        let color = if r >= 1.0 { "#2e7d32" } else { "#c62828" };
        let _ = writeln!(
            s,
            r#"<rect x="{left:.1}" y="{:.1}" width="{w:.1}" height="{BAR}" fill="{color}"><title>{}: {} (evloop {} / tokio {} {})</title></rect>"#,
            y + (ROW - BAR) / 2.0,
            xml(rec.spec.name),
            fmt_ratio(r),
            xml(&fmt_num(rec.evloop_median())),
            xml(&fmt_num(rec.tokio_median())),
            xml(rec.spec.unit),
        );
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{mid}">{}</text>"#,
            a.max(b) + 4.0,
            fmt_ratio(r)
        );
    }
    // The line at 1.0, over the bars.
    let one = x(1.0);
    let _ = writeln!(
        s,
        r##"<line x1="{one:.1}" y1="{}" x2="{one:.1}" y2="{bottom}" stroke="#000000" stroke-width="1.5"/>"##,
        TOP - 4.0
    );
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_numbers() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
        assert_eq!(fmt_num(1234567.4), "1,234,567");
        assert_eq!(fmt_num(-1234.0), "-1,234");
        assert_eq!(fmt_num(123.4), "123");
        assert_eq!(fmt_num(12.34), "12.3");
        assert_eq!(fmt_num(1.234), "1.23");
        assert_eq!(fmt_num(f64::NAN), "n/a");
    }

    #[test]
    fn a_long_subtitle_is_squeezed_into_the_picture_and_a_short_one_left_alone() {
        assert_eq!(fit_within("short", 860.0), "");
        let long = "x".repeat(150);
        assert_eq!(fit_within(&long, 860.0), r#" font-size="9.6""#);
    }

    #[test]
    fn json_strings_are_escaped() {
        assert_eq!(
            json_string("a\"b\\c\nd\u{1}µ"),
            "\"a\\\"b\\\\c\\nd\\u0001µ\""
        );
        assert_eq!(json_number(f64::NAN), "null");
        assert_eq!(json_number(1e-7), "0.0000001");
        assert_eq!(json_number(1e21), "1000000000000000000000");
    }
}
