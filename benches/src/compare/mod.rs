//! The comparison tool behind `cargo compare` (`benches/examples/compare.rs`
//! is a thin `main` over [`main`]): every workload on evloop and on tokio's
//! current-thread runtime, alternating the two for each repetition, one
//! table at the end, optionally a JSON file and an SVG chart.
//!
//! The tool's logic lives in the library so that `benches/tests/compare.rs`
//! can run it in-process at a tiny size.

mod machine;
mod report;
mod workloads;

use std::io::Write as _;
use std::path::PathBuf;
use std::process::Command;

pub use machine::Machine;
pub use report::{json, json_string, svg, table, Record};
pub use workloads::{Better, Size, Spec, SPECS};

/// The environment variable that makes a process a memory-measurement
/// child (see [`Launcher`]): `<workload>:<side>:<tasks>`.
pub const CHILD_ENV: &str = "EVLOOP_COMPARE_MEM_CHILD";
/// The hidden flag of the `compare` binary with the same meaning.
pub const CHILD_FLAG: &str = "--mem-child";
/// What precedes a child's result in its output (a test harness may print
/// other text before it on the same line).
const CHILD_RESULT: &str = "evloop-compare-mem-result: ";

/// How the memory workloads start the child process that measures.
#[derive(Debug, Clone)]
pub enum Launcher {
    /// Re-execute this binary with [`CHILD_FLAG`] and the spec (the
    /// `compare` example).
    Flag,
    /// Re-execute this binary with these arguments and the spec in
    /// [`CHILD_ENV`] (a test harness: the arguments select the test that
    /// calls [`child_main_if_requested`]).
    Env(Vec<String>),
}

/// What to run and where to write the results.
#[derive(Debug, Clone)]
pub struct Options {
    /// The counts of every workload.
    pub size: Size,
    /// Repetitions per side (each on a fresh runtime).
    pub reps: usize,
    /// Where to write the JSON array of records.
    pub json: Option<PathBuf>,
    /// Where to write the SVG chart of the ratios.
    pub svg: Option<PathBuf>,
    /// Substrings: a workload runs if its name contains any (all if empty).
    pub filters: Vec<String>,
    /// How memory workloads start their child processes.
    pub launcher: Launcher,
    /// Give the tokio runtimes of the non-I/O workloads the I/O driver too
    /// (see [`crate::runtime`]).
    pub tokio_io: bool,
    /// Print progress lines to stderr.
    pub progress: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            size: Size::Full,
            reps: 5,
            json: None,
            svg: None,
            filters: Vec::new(),
            launcher: Launcher::Flag,
            tokio_io: false,
            progress: true,
        }
    }
}

impl Options {
    /// Whether the workload `name` is selected by the filters.
    pub fn selects(&self, name: &str) -> bool {
        self.filters.is_empty() || self.filters.iter().any(|f| name.contains(f.as_str()))
    }
}

const USAGE: &str = "\
cargo compare [OPTIONS] [FILTER]...

Runs each workload on evloop and on tokio's current-thread runtime,
alternating the two for every repetition (a fresh runtime each time), and
prints a table of medians, min-max ranges and ratios. ratio > 1 means
evloop is better (tokio time / evloop time, evloop throughput / tokio
throughput, tokio memory / evloop memory).

Options:
  --quick        small counts (the whole run takes well under a minute)
  --reps N       repetitions per runtime (default 5, at least 1)
  --json PATH    write every repetition's value as a JSON array
  --svg PATH     write a bar chart of the ratios (log scale)
  --tokio-io     enable tokio's I/O driver in every workload, as
                 #[tokio::main(flavor = \"current_thread\")] does (default:
                 only in the I/O workloads; the others get enable_time())
  --list         list the workloads and exit
  -h, --help     this text

FILTER: run only the workloads whose name contains one of the FILTERs
(e.g. `cargo compare --quick tcp_ timer`).
";

/// Parses the command line (without the program name). `Err` carries the
/// text to print: the usage for `--help` (`Ok(None)` to list), or an error.
fn parse_args(args: &[String]) -> Result<Parsed, String> {
    let mut opts = Options::default();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = |flag: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{flag} needs a value\n\n{USAGE}"))
        };
        match arg.as_str() {
            "-h" | "--help" => return Ok(Parsed::Help),
            "--list" => return Ok(Parsed::List),
            "--quick" => opts.size = Size::Quick,
            "--tokio-io" => opts.tokio_io = true,
            // Hidden: the counts of the in-process test.
            "--tiny" => opts.size = Size::Tiny,
            "--reps" => {
                let v = value("--reps")?;
                opts.reps = v
                    .parse::<usize>()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or_else(|| format!("--reps: not a positive number: {v}"))?;
            }
            "--json" => opts.json = Some(value("--json")?.into()),
            "--svg" => opts.svg = Some(value("--svg")?.into()),
            CHILD_FLAG => return Ok(Parsed::Child(value(CHILD_FLAG)?)),
            a if a.starts_with('-') => return Err(format!("unknown option {a}\n\n{USAGE}")),
            a => opts.filters.push(a.to_owned()),
        }
    }
    Ok(Parsed::Run(opts))
}

/// What the command line asks for.
enum Parsed {
    Run(Options),
    Help,
    List,
    Child(String),
}

/// The `compare` binary: parses `args` (without the program name), runs,
/// prints, writes the files; returns the process exit code.
pub fn main(args: &[String]) -> i32 {
    let opts = match parse_args(args) {
        Ok(Parsed::Run(opts)) => opts,
        Ok(Parsed::Help) => {
            print!("{USAGE}");
            return 0;
        }
        Ok(Parsed::List) => {
            for spec in SPECS {
                println!("{:<28} {}", spec.name, spec.unit);
            }
            return 0;
        }
        Ok(Parsed::Child(spec)) => child_main(&spec),
        Err(text) => {
            eprint!("{text}");
            return 2;
        }
    };
    if !SPECS.iter().any(|s| opts.selects(s.name)) {
        eprintln!(
            "no workload matches {:?}; `--list` lists them",
            opts.filters
        );
        return 2;
    }
    match run(&opts) {
        Ok(_) => 0,
        Err(e) => {
            eprintln!("compare: {e}");
            1
        }
    }
}

/// Runs the selected workloads, prints the machine and the table to
/// stdout, writes the JSON / SVG files asked for, and returns the records.
pub fn run(opts: &Options) -> Result<Vec<Record>, String> {
    crate::runtime::set_tokio_io_everywhere(opts.tokio_io);
    let machine = Machine::detect();
    println!("{}", machine.describe());
    println!(
        "tokio drivers: {}",
        if opts.tokio_io {
            "enable_all() everywhere (--tokio-io)"
        } else {
            "enable_all() for I/O workloads, enable_time() for the others"
        }
    );
    println!(
        "size: {:?}, {} repetitions per runtime, alternating; ratio > 1 = evloop better\n",
        opts.size, opts.reps
    );
    let _ = std::io::stdout().flush();
    let records = workloads::run_all(opts)?;
    println!("{}", table(&records));
    if let Some(path) = &opts.json {
        std::fs::write(path, json(&records))
            .map_err(|e| format!("writing {}: {e}", path.display()))?;
        println!("JSON: {}", path.display());
    }
    if let Some(path) = &opts.svg {
        std::fs::write(path, svg(&records, &machine))
            .map_err(|e| format!("writing {}: {e}", path.display()))?;
        println!("SVG: {}", path.display());
    }
    Ok(records)
}

// ---- memory children -------------------------------------------------------

/// In a test harness: if this process was started as a memory child
/// ([`Launcher::Env`]), measures, prints the result and exits; otherwise
/// returns.
pub fn child_main_if_requested() {
    if let Ok(spec) = std::env::var(CHILD_ENV) {
        child_main(&spec);
    }
}

/// Runs one memory measurement described by `spec`, prints it, exits.
fn child_main(spec: &str) -> ! {
    match workloads::mem_child(spec) {
        Ok(bytes) => {
            println!("{CHILD_RESULT}{bytes}");
            let _ = std::io::stdout().flush();
            std::process::exit(0)
        }
        Err(e) => {
            eprintln!("memory child: {e}");
            std::process::exit(2)
        }
    }
}

/// Starts a child that measures `spec` and returns its result.
fn run_child(launcher: &Launcher, spec: &str) -> Result<f64, String> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let mut cmd = Command::new(exe);
    match launcher {
        Launcher::Flag => {
            cmd.arg(CHILD_FLAG).arg(spec);
        }
        Launcher::Env(args) => {
            cmd.args(args).env(CHILD_ENV, spec);
        }
    }
    let out = cmd
        .output()
        .map_err(|e| format!("starting the memory child: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "memory child {spec} failed ({}): {}{}",
            out.status,
            stdout,
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    stdout
        .lines()
        .find_map(|l| l.find(CHILD_RESULT).map(|at| &l[at + CHILD_RESULT.len()..]))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| format!("memory child {spec}: no result in its output: {stdout}"))
}
