//! Spinning before sleeping (`Builder::spin_before_park`).

use std::time::{Duration, Instant};

/// Spins for up to `spin` until `ready()` is true; returns whether it was.
///
/// Between checks it yields the CPU now and then: when the thread it waits
/// for shares this CPU (2 vCPUs and more runnable threads), pure spinning
/// would hold that thread off for the whole spin, turning a sub-µs hand-off
/// into hundreds of µs.
pub(crate) fn spin_until(spin: Duration, mut ready: impl FnMut() -> bool) -> bool {
    if spin.is_zero() {
        return false;
    }
    let until = Instant::now() + spin;
    loop {
        for _ in 0..64 {
            if ready() {
                return true;
            }
            std::hint::spin_loop();
        }
        if Instant::now() >= until {
            return ready();
        }
        std::thread::yield_now();
    }
}
