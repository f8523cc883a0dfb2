//! [`prefetch`]: a hint that memory will be read soon.
//!
//! When the loop walks a batch whose memory has gone cold (a million
//! sleeps expiring: each timer's entry, then its task), each step waits for
//! the miss of the one before. Asked for some steps ahead, the lines are
//! on their way while the steps before run, many misses in flight at once.

/// Asks the processor to bring the cache line holding `ptr` into the
/// cache, without waiting for it. A hint only: nothing changes but timing.
/// A no-op where no prefetch instruction is available.
#[inline(always)]
pub(crate) fn prefetch<T>(ptr: *const T) {
    // A prefetch reads no value into the program and never faults: the
    // processor ignores an address that is not mapped.
    #[cfg(target_arch = "x86_64")]
    // SAFETY: the intrinsic needs SSE, in every x86-64 processor's baseline.
    unsafe {
        std::arch::x86_64::_mm_prefetch(ptr.cast::<i8>(), std::arch::x86_64::_MM_HINT_T0);
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = ptr;
}

#[cfg(test)]
mod tests {
    use super::prefetch;

    /// Any address may be prefetched: one in use, one past the end of an
    /// allocation, one freed, null. Nothing is read, nothing faults (also
    /// under Miri).
    #[test]
    fn prefetching_any_address_reads_nothing_and_never_faults() {
        let v = vec![1u64; 8];
        prefetch(v.as_ptr());
        prefetch(v.as_ptr().wrapping_add(1 << 20));
        let freed = v.as_ptr();
        drop(v);
        prefetch(freed);
        prefetch(std::ptr::null::<u8>());
    }
}
