//! Shared by the seed examples: where lines go, and how long "a second" is.
#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Where a scenario writes its lines; `Send + Sync`, since worker threads
/// print too.
pub type Out = Arc<dyn Fn(String) + Send + Sync>;

/// Prints to stdout, each line stamped with the time since this call in
/// the article's "seconds" ([`unit`]), so that "the loop keeps working
/// meanwhile" shows in the times, not only in the order.
pub fn stdout() -> Out {
    let (start, unit) = (Instant::now(), unit());
    Arc::new(move |line| {
        let t = start.elapsed().as_secs_f64() / unit.as_secs_f64();
        println!("[{t:>4.1}s] {line}");
    })
}

/// Prints which scenario of the seed article this is and what to look for
/// in its lines.
pub fn header(scenario: &str, look_for: &str) {
    println!("{scenario}");
    println!("Look for: {look_for}");
    if unit() != Duration::from_secs(1) {
        println!("(one \"second\" is {:?} here: EVLOOP_TIME_UNIT_MS)", unit());
    }
    println!();
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
