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

#[test]
fn one_allocation_per_task_and_none_to_join() {
    let lp = EventLoop::new();
    let run = |n: usize| {
        lp.run_until_complete(async move {
            let tasks: Vec<_> = (0..n)
                .map(|i| evloop::ensure_future(async move { i }))
                .collect();
            let before = ALLOCS.load(Ordering::Relaxed);
            let mut sum = 0;
            for t in tasks {
                sum += t.await.unwrap();
            }
            (sum, ALLOCS.load(Ordering::Relaxed) - before)
        })
        .unwrap()
    };
    run(1000); // warm up: the ready queue and the registry grow once
    let before = ALLOCS.load(Ordering::Relaxed);
    let (sum, join_allocs) = run(1000);
    let total = ALLOCS.load(Ordering::Relaxed) - before;
    assert_eq!(sum, (0..1000).sum::<usize>());
    assert_eq!(join_allocs, 0, "awaiting tasks allocates nothing");
    // 1000 tasks, the Vec of handles, and run_until_complete's main task
    // and its stop flag.
    assert_eq!(total, 1000 + 1 + 2);
}
