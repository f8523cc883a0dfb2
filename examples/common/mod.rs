//! Shared by the seed examples: where lines go, and how long "a second" is.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Where a scenario writes its lines; `Send + Sync`, since worker threads
/// print too.
pub type Out = Arc<dyn Fn(String) + Send + Sync>;

/// Prints to stdout.
pub fn stdout() -> Out {
    Arc::new(|line| println!("{line}"))
}

/// Collects the lines (for tests).
pub fn collect() -> (Out, Arc<Mutex<Vec<String>>>) {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let l = lines.clone();
    (Arc::new(move |line| l.lock().unwrap().push(line)), lines)
}

/// The article's "second": 1 s, or `EVLOOP_TIME_UNIT_MS` milliseconds, so
/// that tests can run the scenarios in scaled real time.
pub fn unit() -> Duration {
    std::env::var("EVLOOP_TIME_UNIT_MS")
        .ok()
        .and_then(|ms| ms.parse().ok())
        .map_or(Duration::from_secs(1), Duration::from_millis)
}
