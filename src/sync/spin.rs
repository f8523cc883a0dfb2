//! Spinning before sleeping (`Builder::spin_before_park`).

use std::time::{Duration, Instant};

/// Spins for up to `spin` until `ready()` is true; returns whether it was.
///
/// After [`YIELD_AFTER`] (2 µs, beyond a hand-off between two free CPUs,
/// about 0.6 µs here) it also yields the CPU between checks: when the
/// thread it waits for shares this CPU (2 vCPUs and more runnable
/// threads), pure spinning would hold that thread off for the whole spin,
/// turning a sub-µs hand-off into hundreds of µs. Not sooner: on this VM a
/// `sched_yield` costs a hand-off between two CPUs about 5 µs (a thread
/// round trip took 5.9 µs yielding every 64 checks, 0.6 µs without).
pub(crate) fn spin_until(spin: Duration, mut ready: impl FnMut() -> bool) -> bool {
    if spin.is_zero() {
        return false;
    }
    let start = Instant::now();
    let until = start + spin;
    let yield_from = start + YIELD_AFTER;
    loop {
        for _ in 0..64 {
            if ready() {
                return true;
            }
            std::hint::spin_loop();
        }
        let now = Instant::now();
        if now >= until {
            return ready();
        }
        if now >= yield_from {
            std::thread::yield_now();
        }
    }
}

/// How long a spin goes before it starts yielding the CPU.
const YIELD_AFTER: Duration = Duration::from_micros(2);
