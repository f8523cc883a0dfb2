//! Invariant 1 of `src/task/raw.rs`: one allocation per task, and the join
//! path allocates nothing. A binary of its own: it counts every allocation
//! of the process with a counting global allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use evloop::EventLoop;

struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator, only counting calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Spawns `n` tasks returning `f(i)`, awaits them all; returns the sum of
/// `g` over the outputs and the allocations made while awaiting.
fn spawn_and_join<T: 'static>(
    lp: &EventLoop,
    n: usize,
    f: fn(usize) -> T,
    g: fn(T) -> usize,
) -> (usize, usize) {
    lp.run_until_complete(async move {
        let tasks: Vec<_> = (0..n)
            .map(|i| evloop::ensure_future(async move { f(i) }))
            .collect();
        let before = ALLOCS.load(Ordering::Relaxed);
        let mut sum = 0;
        for t in tasks {
            sum += g(t.await.unwrap());
        }
        (sum, ALLOCS.load(Ordering::Relaxed) - before)
    })
    .unwrap()
}

#[test]
fn one_allocation_per_task_none_to_join_and_none_while_memory_is_kept() {
    let lp = EventLoop::new();
    let small = |lp: &EventLoop| spawn_and_join(lp, 1000, |i| i, |i| i);
    // Warm-up: the ready queue and the registry grow once, and the loop
    // keeps the finished tasks' memory.
    small(&lp);
    assert!(lp.stats().task_memory_kept >= 1000 * 64);

    // The same tasks again: their memory is the first round's.
    let before = ALLOCS.load(Ordering::Relaxed);
    let (sum, join_allocs) = small(&lp);
    let total = ALLOCS.load(Ordering::Relaxed) - before;
    assert_eq!(sum, (0..1000).sum::<usize>());
    assert_eq!(join_allocs, 0, "awaiting tasks allocates nothing");
    // Only the Vec of handles and run_until_complete's stop flag: the
    // tasks, run_until_complete's main task among them, reuse kept memory.
    assert_eq!(total, 2, "allocations for 1000 tasks on kept memory");

    // Tasks of a size nothing was kept for: one allocation each.
    let before = ALLOCS.load(Ordering::Relaxed);
    let (sum, join_allocs) = spawn_and_join(&lp, 1000, |i| [i; 40], |a| a[39]);
    let total = ALLOCS.load(Ordering::Relaxed) - before;
    assert_eq!(sum, (0..1000).sum::<usize>());
    assert_eq!(join_allocs, 0, "awaiting tasks allocates nothing");
    assert_eq!(
        total,
        1000 + 2,
        "one allocation per task, and the two above"
    );
}
