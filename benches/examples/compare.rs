//! `cargo compare`: evloop side by side with tokio's current-thread runtime.
//!
//! `cargo compare --help` for the options; the logic is in
//! `evloop_benches::compare` (so that `tests/compare.rs` can run it
//! in-process). Results are in docs/BENCHMARKS.md.

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::process::exit(evloop_benches::compare::main(&args));
}
