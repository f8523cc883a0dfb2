//! Scenario B of the seed (`scenario_b_executor`), traced: the loop records
//! its iterations, phases, callbacks and task polls, writes them as a
//! Chrome trace when it closes, and this example draws them as SVG.
//!
//! ```text
//! cargo run --example trace
//! ```
//!
//! Open `target/trace.json` in <https://ui.perfetto.dev> or
//! `chrome://tracing`, or the pictures in a browser: `target/trace.svg`
//! (the whole run), `target/trace-busiest.svg` (zoomed in on the busiest
//! stretch, drawn when the whole run is too long to show every piece of
//! work) and `target/trace-remote.svg` (zoomed in on the iteration where
//! the executor job's result comes back through the remote queue). One "second" of the scenario is 150 ms here, so the run
//! takes about a second.

// This example includes `examples/common` itself and through
// `scenario_b_executor`, as intended.
#![allow(clippy::duplicate_mod)]

#[path = "common/mod.rs"]
mod common;
#[path = "scenario_b_executor.rs"]
mod scenario_b_executor;
#[path = "common/trace_svg.rs"]
mod trace_svg;

use std::error::Error;
use std::fs;
use std::time::Duration;

/// The scenario's "second".
const UNIT: Duration = Duration::from_millis(150);
/// Where the loop writes its trace, and where the pictures go.
const JSON: &str = "target/trace.json";
const SVG: &str = "target/trace.svg";
const SVG_REMOTE: &str = "target/trace-remote.svg";
const SVG_BUSIEST: &str = "target/trace-busiest.svg";

fn main() -> Result<(), Box<dyn Error>> {
    fs::create_dir_all("target")?;
    let lp = evloop::EventLoop::builder().trace(JSON).build()?;
    lp.run_until_complete(scenario_b_executor::scenario(common::stdout(), UNIT))?;
    // Closing the loop writes the trace.
    lp.close()?;
    let json = fs::read_to_string(JSON)?;
    fs::write(SVG, trace_svg::render_svg(&json)?)?;
    println!("trace: {JSON} (open it in https://ui.perfetto.dev or chrome://tracing)");
    println!("picture: {SVG}");
    let trace = trace_svg::parse_trace(&json)?;
    if let Some(window) = trace_svg::busiest_window(&trace, trace_svg::Options::default().width) {
        fs::write(SVG_BUSIEST, trace_svg::render_svg_with(&json, &window)?)?;
        println!("zoomed in on the busiest stretch: {SVG_BUSIEST}");
    }
    if let Some(window) = around_remote(&trace) {
        fs::write(SVG_REMOTE, trace_svg::render_svg_with(&json, &window)?)?;
        println!("zoomed in on the remote phase: {SVG_REMOTE}");
    }
    Ok(())
}

/// A window of 160 µs around the first `remote` phase: the end of the
/// blocking poll before it, and the iteration after it.
fn around_remote(trace: &trace_svg::Trace) -> Option<trace_svg::Options> {
    let remote = trace
        .events
        .iter()
        .find(|e| e.cat == "phase" && e.name == "remote");
    remote.map(|e| trace_svg::Options {
        from_us: Some(e.ts - 50.0),
        to_us: Some(e.ts + 110.0),
        ..trace_svg::Options::default()
    })
}
