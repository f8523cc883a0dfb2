//! Task memory, kept on the loop's thread for the next task.
//!
//! Spawning and finishing a task costs one allocation and one free. With
//! the system allocator that is about a third of a trivial task's
//! instructions (glibc's `malloc` and `free` of a ~150-byte block, beyond
//! its small per-size caches), so the blocks of finished tasks are kept in
//! a free list per size class, on the thread, and the next task of a
//! similar size takes one.
//!
//! Bounded in time, not in count: while a loop works, every freed block is
//! kept (a burst of a million tasks is followed by the next burst reusing
//! the same memory), but a loop that stays busy gives back half of what it
//! keeps every [`DECAY_POLLS`] I/O polls (about 62,000 busy iterations), so
//! the memory of a one-off burst does not stay pinned under steady load;
//! when the loop goes to sleep in `epoll_wait` (it has nothing to do) the
//! cache gives back all but [`IDLE_KEEP_BYTES`]; when the last loop of the
//! thread is dropped it gives back everything. Only a
//! thread with a live loop keeps blocks: a task freed on another thread (its
//! last waker dropped there) goes back to the system allocator at once.
//!
//! Blocks come in [`CLASSES`] sizes, multiples of [`GRAIN`], aligned to
//! [`ALIGN`]; a task larger or more aligned than that is allocated as
//! before. A free block holds the link to the next one in its first word.

use std::alloc::{alloc, dealloc, handle_alloc_error, Layout};
use std::cell::RefCell;
use std::ptr::NonNull;

/// Size classes step by this many bytes.
const GRAIN: usize = 64;
/// Blocks of 64, 128, ..., 1,024 bytes.
const CLASSES: usize = 16;
/// The alignment of every block.
const ALIGN: usize = 16;
/// What the cache keeps while its loop sleeps.
pub(crate) const IDLE_KEEP_BYTES: usize = 256 * 1024;
/// A busy loop halves the cache every this many I/O polls (it polls once
/// in 61 busy iterations).
pub(crate) const DECAY_POLLS: u64 = 1024;

/// The free blocks of one thread.
struct Cache {
    /// The first free block of each class; each holds the next one's
    /// address in its first word (null: the end).
    heads: [*mut u8; CLASSES],
    /// Bytes held in free blocks.
    bytes: usize,
    /// Loops alive on this thread: blocks are kept only while there is one.
    loops: usize,
}

impl Cache {
    const fn new() -> Cache {
        Cache {
            heads: [std::ptr::null_mut(); CLASSES],
            bytes: 0,
            loops: 0,
        }
    }

    /// Gives blocks back to the system allocator until at most `keep`
    /// bytes are held, the largest classes first.
    fn trim(&mut self, keep: usize) {
        for class in (0..CLASSES).rev() {
            while self.bytes > keep && !self.heads[class].is_null() {
                let block = self.heads[class];
                // SAFETY: a block in the list is a live allocation of
                // `block_layout(class)` whose first word holds the next
                // block's address (written by `release`).
                unsafe {
                    self.heads[class] = block.cast::<*mut u8>().read();
                    dealloc(block, block_layout(class));
                }
                self.bytes -= block_layout(class).size();
            }
        }
    }
}

impl Drop for Cache {
    fn drop(&mut self) {
        self.trim(0);
    }
}

thread_local! {
    static CACHE: RefCell<Cache> = const { RefCell::new(Cache::new()) };
}

/// The size class of `layout`, if a block can hold it.
#[inline]
fn class_of(layout: Layout) -> Option<usize> {
    let class = layout.size().div_ceil(GRAIN).checked_sub(1)?;
    (class < CLASSES && layout.align() <= ALIGN).then_some(class)
}

#[inline]
fn block_layout(class: usize) -> Layout {
    // A multiple of 16 below 2 GiB with a power-of-two alignment: valid.
    Layout::from_size_align((class + 1) * GRAIN, ALIGN).expect("a block layout")
}

/// Memory for a value of `layout` (not zero-sized): a kept block if one of
/// its class is free, else a new allocation. Give it back with
/// [`release`] and the same layout.
#[inline]
pub(super) fn allocate(layout: Layout) -> NonNull<u8> {
    debug_assert!(layout.size() > 0);
    let Some(class) = class_of(layout) else {
        return system(layout);
    };
    let reused = CACHE
        .try_with(|cache| {
            let mut cache = cache.try_borrow_mut().ok()?;
            let block = NonNull::new(cache.heads[class])?;
            // SAFETY: as in `Cache::trim`: a free block's first word is the
            // next block's address.
            cache.heads[class] = unsafe { block.as_ptr().cast::<*mut u8>().read() };
            cache.bytes -= block_layout(class).size();
            Some(block)
        })
        .ok()
        .flatten();
    reused.unwrap_or_else(|| system(block_layout(class)))
}

fn system(layout: Layout) -> NonNull<u8> {
    // SAFETY: `layout` is not zero-sized (the callers' values are not).
    let ptr = unsafe { alloc(layout) };
    NonNull::new(ptr).unwrap_or_else(|| handle_alloc_error(layout))
}

/// Gives back memory that [`allocate`] returned for `layout`; whatever
/// lived there has been dropped.
///
/// # Safety
///
/// `ptr` came from `allocate(layout)` and is not used again.
#[inline]
pub(super) unsafe fn release(ptr: NonNull<u8>, layout: Layout) {
    let Some(class) = class_of(layout) else {
        // SAFETY: `allocate` took it from the system with this layout.
        unsafe { dealloc(ptr.as_ptr(), layout) };
        return;
    };
    let kept = CACHE
        .try_with(|cache| {
            let Ok(mut cache) = cache.try_borrow_mut() else {
                return false;
            };
            if cache.loops == 0 {
                return false;
            }
            // SAFETY: the block is at least `GRAIN` bytes and `ALIGN`-aligned
            // (its class's layout), and no longer used: its first word may
            // hold the link.
            unsafe { ptr.as_ptr().cast::<*mut u8>().write(cache.heads[class]) };
            cache.heads[class] = ptr.as_ptr();
            cache.bytes += block_layout(class).size();
            true
        })
        .unwrap_or(false);
    if !kept {
        // SAFETY: `allocate` made every block of this class with this
        // layout, from the system or from the cache.
        unsafe { dealloc(ptr.as_ptr(), block_layout(class)) };
    }
}

/// Gives back all but [`IDLE_KEEP_BYTES`] of this thread's kept blocks
/// (its loop is about to sleep).
pub(crate) fn trim_idle() {
    let _ = CACHE.try_with(|cache| {
        if let Ok(mut cache) = cache.try_borrow_mut() {
            if cache.bytes > IDLE_KEEP_BYTES {
                cache.trim(IDLE_KEEP_BYTES);
            }
        }
    });
}

/// Gives back half of this thread's kept blocks, down to
/// [`IDLE_KEEP_BYTES`] (its loop has been busy for [`DECAY_POLLS`] polls).
pub(crate) fn decay() {
    let _ = CACHE.try_with(|cache| {
        if let Ok(mut cache) = cache.try_borrow_mut() {
            let keep = (cache.bytes / 2).max(IDLE_KEEP_BYTES);
            if cache.bytes > keep {
                cache.trim(keep);
            }
        }
    });
}

/// Bytes of task memory this thread keeps for reuse.
pub(crate) fn kept_bytes() -> usize {
    CACHE
        .try_with(|cache| cache.try_borrow().map_or(0, |c| c.bytes))
        .unwrap_or(0)
}

/// Held by each loop: while one lives on the thread, freed task blocks are
/// kept; when the last one goes, they are all given back.
pub(crate) struct LoopMemory(());

impl LoopMemory {
    pub(crate) fn new() -> LoopMemory {
        let _ = CACHE.try_with(|cache| cache.borrow_mut().loops += 1);
        LoopMemory(())
    }
}

impl Drop for LoopMemory {
    fn drop(&mut self) {
        let _ = CACHE.try_with(|cache| {
            if let Ok(mut cache) = cache.try_borrow_mut() {
                cache.loops -= 1;
                if cache.loops == 0 {
                    cache.trim(0);
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_kept_only_while_a_loop_lives_and_reused_by_class() {
        let layout = Layout::from_size_align(100, 8).unwrap();
        // No loop: straight back to the system.
        let a = allocate(layout);
        // SAFETY: the pointer came from `allocate` with the same layout
        // and is not used again (the same holds for every `release` here).
        unsafe { release(a, layout) };
        assert_eq!(kept_bytes(), 0);
        let guard = LoopMemory::new();
        let a = allocate(layout);
        // SAFETY: as above.
        unsafe { release(a, layout) };
        assert_eq!(kept_bytes(), 128);
        // The next value of the same class gets the same block.
        let b = allocate(Layout::from_size_align(120, 16).unwrap());
        assert_eq!(a, b);
        assert_eq!(kept_bytes(), 0);
        // SAFETY: as above.
        unsafe { release(b, Layout::from_size_align(120, 16).unwrap()) };
        drop(guard);
        assert_eq!(kept_bytes(), 0, "the last loop gives everything back");
    }

    #[test]
    fn an_idle_loop_keeps_a_bounded_amount() {
        let guard = LoopMemory::new();
        let layout = Layout::from_size_align(1000, 16).unwrap();
        let blocks: Vec<_> = (0..1000).map(|_| allocate(layout)).collect();
        for b in blocks {
            // SAFETY: as above.
            unsafe { release(b, layout) };
        }
        assert_eq!(kept_bytes(), 1000 * 1024);
        trim_idle();
        assert!(kept_bytes() <= IDLE_KEEP_BYTES);
        assert!(kept_bytes() > IDLE_KEEP_BYTES - 1024);
        drop(guard);
        assert_eq!(kept_bytes(), 0);
    }

    #[test]
    fn large_and_over_aligned_values_bypass_the_cache() {
        let _guard = LoopMemory::new();
        for layout in [
            Layout::from_size_align(2000, 8).unwrap(),
            Layout::from_size_align(64, 64).unwrap(),
        ] {
            let p = allocate(layout);
            assert_eq!(p.as_ptr() as usize % layout.align(), 0);
            // SAFETY: as above.
            unsafe { release(p, layout) };
            assert_eq!(kept_bytes(), 0);
        }
    }
}
