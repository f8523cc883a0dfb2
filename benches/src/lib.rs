//! Benchmarks of evloop against tokio's current-thread runtime.
//!
//! The criterion benchmarks live in `benches/` (`cargo bench -p
//! evloop-benches --bench core`, `--bench io`, ...); the side-by-side
//! comparison tool is `cargo compare` (`examples/compare.rs`, its logic in
//! [`compare`]). Results and the machine they were taken on are in
//! `docs/BENCHMARKS.md`.
//!
//! This library holds the workloads, each written for both runtimes (one
//! module per family: [`tasks`], [`timers`], [`xthread`], [`net`],
//! [`http`], [`process`], [`mem`]), and helpers shared by the bench
//! targets. Every workload
//! function builds a fresh runtime (see [`runtime`]) and returns what it
//! measured inside it.

pub mod compare;
pub mod floor;
pub mod http;
pub mod mem;
pub mod net;
pub mod process;
pub mod runtime;
pub mod sync;
pub mod tasks;
pub mod timers;
pub mod xthread;

/// A xorshift64* generator: deterministic, dependency-free, and good enough
/// to spread timer deadlines. Both runtimes get the same sequence.
#[derive(Debug, Clone)]
pub struct XorShift(u64);

impl XorShift {
    /// A generator from a non-zero seed (zero is replaced by a constant).
    pub fn new(seed: u64) -> XorShift {
        XorShift(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        })
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A value in `0..=max` (slightly biased for huge `max`; fine here).
    pub fn below_or_eq(&mut self, max: u64) -> u64 {
        self.next_u64() % (max + 1)
    }
}

/// `n` durations uniform in `0..=max_ms` milliseconds, at microsecond
/// resolution, from a fixed seed.
pub fn random_delays(n: usize, max_ms: u64, seed: u64) -> Vec<std::time::Duration> {
    let mut rng = XorShift::new(seed);
    (0..n)
        .map(|_| std::time::Duration::from_micros(rng.below_or_eq(max_ms * 1000)))
        .collect()
}

/// `n` durations uniform in `min..=max`, at microsecond resolution, from a
/// fixed seed.
pub fn random_delays_between(
    n: usize,
    min: std::time::Duration,
    max: std::time::Duration,
    seed: u64,
) -> Vec<std::time::Duration> {
    let (lo, hi) = (min.as_micros() as u64, max.as_micros() as u64);
    let mut rng = XorShift::new(seed);
    (0..n)
        .map(|_| std::time::Duration::from_micros(lo + rng.below_or_eq(hi.saturating_sub(lo))))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_are_in_range_and_deterministic() {
        let a = random_delays(10_000, 100, 7);
        assert_eq!(a, random_delays(10_000, 100, 7));
        assert!(a.iter().all(|d| d.as_micros() <= 100_000));
        let max = a.iter().max().unwrap().as_millis();
        let min = a.iter().min().unwrap().as_millis();
        assert!(max >= 99 && min <= 1, "spread over the range: {min}..{max}");
    }
}
