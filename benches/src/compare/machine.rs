//! What the results were measured on, printed before them.

use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

/// The machine, toolchain and versions of a run.
#[derive(Debug, Clone)]
pub struct Machine {
    /// `model name` from /proc/cpuinfo.
    pub cpu: String,
    /// `available_parallelism`.
    pub cores: usize,
    /// /proc/sys/kernel/osrelease (`uname -r`).
    pub kernel: String,
    /// `rustc --version` of the compiler that built this crate.
    pub rustc: &'static str,
    /// tokio's version in Cargo.lock when this crate was built.
    pub tokio: &'static str,
    /// evloop's commit (`git rev-parse --short HEAD`), and whether `src/`
    /// had uncommitted changes; `None` outside a git checkout.
    pub evloop: Option<String>,
    /// When the run started, UTC (`YYYY-MM-DD HH:MM UTC`).
    pub date: String,
}

impl Machine {
    /// Reads everything from /proc, git and the build.
    pub fn detect() -> Machine {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|info| {
                info.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, v)| v.trim().to_owned())
            })
            .unwrap_or_else(|| "unknown CPU".to_owned());
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map(|s| s.trim().to_owned())
            .unwrap_or_else(|_| "unknown".to_owned());
        Machine {
            cpu,
            cores: std::thread::available_parallelism().map_or(1, usize::from),
            kernel,
            rustc: env!("EVLOOP_BENCHES_RUSTC"),
            tokio: env!("EVLOOP_BENCHES_TOKIO"),
            evloop: evloop_commit(),
            date: utc_now(),
        }
    }

    /// The header printed before the results.
    pub fn describe(&self) -> String {
        format!(
            "machine: {} ({} cores), kernel {}\n\
             toolchain: {}, tokio {} (current_thread)\n\
             evloop: {}\n\
             date: {}",
            self.cpu,
            self.cores,
            self.kernel,
            self.rustc,
            self.tokio,
            self.evloop.as_deref().unwrap_or("commit unknown"),
            self.date,
        )
    }

    /// One line, for the chart.
    pub fn one_line(&self) -> String {
        format!(
            "{}, {} cores, kernel {}, {}, tokio {}, evloop {}, {}",
            self.cpu,
            self.cores,
            self.kernel,
            self.rustc,
            self.tokio,
            self.evloop.as_deref().unwrap_or("?"),
            self.date
        )
    }
}

/// `git rev-parse --short HEAD` of the workspace, with a note if `src/`
/// has uncommitted changes.
fn evloop_commit() -> Option<String> {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
    let git = |args: &[&str]| {
        Command::new("git")
            .arg("-C")
            .arg(root)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    let rev = git(&["rev-parse", "--short", "HEAD"])?;
    let dirty = git(&["status", "--porcelain", "--", "src"]).is_some_and(|s| !s.is_empty());
    Some(if dirty {
        format!("{rev} (with uncommitted changes in src/)")
    } else {
        rev
    })
}

/// The current UTC time as `YYYY-MM-DD HH:MM UTC`.
fn utc_now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard
/// Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::civil_from_days;

    #[test]
    fn dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_723), (2024, 1, 1));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }
}
