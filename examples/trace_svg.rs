//! Renders a trace written by `Builder::trace` as an SVG timeline that any
//! browser opens (see `examples/common/trace_svg.rs` for the picture). For
//! a whole run too long to show every piece of work, a second picture
//! zoomed on its busiest stretch goes beside the first (`OUT-busiest.svg`).
//!
//! ```text
//! cargo run --example trace_svg -- target/trace.json target/trace.svg
//! cargo run --example trace_svg -- target/trace.json zoom.svg --from-ms 300 --to-ms 320
//! ```

#[path = "common/trace_svg.rs"]
mod trace_svg;

use std::process::ExitCode;

const USAGE: &str = "usage: trace_svg TRACE.json OUT.svg [--from-ms A] [--to-ms B] [--width PX]";

/// The command line: input, output, and the drawing options.
struct Args {
    input: String,
    output: String,
    options: trace_svg::Options,
}

/// Reads the command line (by hand: no dependency).
fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut paths = Vec::new();
    let mut options = trace_svg::Options::default();
    while let Some(arg) = args.next() {
        let mut value = |name: &str| -> Result<f64, String> {
            let v = args.next().ok_or(format!("{name} needs a value"))?;
            v.parse().map_err(|_| format!("{name}: not a number: {v}"))
        };
        match arg.as_str() {
            "--from-ms" => options.from_us = Some(value("--from-ms")? * 1e3),
            "--to-ms" => options.to_us = Some(value("--to-ms")? * 1e3),
            "--width" => options.width = value("--width")?,
            "-h" | "--help" => return Err(USAGE.to_owned()),
            flag if flag.starts_with("--") => return Err(format!("unknown option {flag}")),
            path => paths.push(path.to_owned()),
        }
    }
    let [input, output] = <[String; 2]>::try_from(paths).map_err(|_| USAGE.to_owned())?;
    Ok(Args {
        input,
        output,
        options,
    })
}

/// Reads, renders, writes; for a whole run too long for one picture, also
/// a second picture zoomed on its busiest stretch, beside the first
/// (`OUT-busiest.svg`). Returns the files written and their sizes.
fn run(args: &Args) -> Result<Vec<(String, usize)>, String> {
    let json = std::fs::read_to_string(&args.input).map_err(|e| format!("{}: {e}", args.input))?;
    let at_input = |e: String| format!("{}: {e}", args.input);
    let mut pictures = vec![(args.output.clone(), args.options.clone())];
    let whole = args.options.from_us.is_none() && args.options.to_us.is_none();
    if whole {
        let trace = trace_svg::parse_trace(&json).map_err(at_input)?;
        if let Some(window) = trace_svg::busiest_window(&trace, args.options.width) {
            let stem = args.output.strip_suffix(".svg").unwrap_or(&args.output);
            pictures.push((format!("{stem}-busiest.svg"), window));
        }
    }
    let mut written = Vec::new();
    for (path, options) in pictures {
        let svg = trace_svg::render_svg_with(&json, &options).map_err(at_input)?;
        std::fs::write(&path, &svg).map_err(|e| format!("{path}: {e}"))?;
        written.push((path, svg.len()));
    }
    Ok(written)
}

fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(written) => {
            for (path, bytes) in written {
                println!("wrote {path} ({bytes} bytes)");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("trace_svg: {e}");
            ExitCode::FAILURE
        }
    }
}
