//! The unit tests' measure of what code really allocates, an oracle outside the code under test:
//! a test binary that installs [`Counting`] as its global allocator can compare a bound the code
//! charges (a parse cost, a cache entry's weight) with the heap it stands for.
//!
//! ```ignore
//! #[cfg(test)]
//! #[global_allocator]
//! static HEAP: keywarden_heap_meter::Counting = keywarden_heap_meter::Counting;
//! ```
//!
//! Counts are per thread: tests run in parallel on their own threads, and everything a measured
//! block allocates (and frees) happens on the test's thread. This is the workspace's only crate
//! with `unsafe` code: a `GlobalAlloc` must be an `unsafe impl`, and each method forwards to
//! [`System`] unchanged.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

/// The system allocator, counting per thread.
#[derive(Debug)]
pub struct Counting;

thread_local! {
    static HELD: Cell<isize> = const { Cell::new(0) };
    static PEAK: Cell<isize> = const { Cell::new(0) };
}

/// What the system allocator takes for a request of `size` bytes: glibc's malloc rounds each
/// chunk up to a multiple of 16 with an 8-byte header, 32 bytes at least. Counting chunks, not
/// requests, keeps many small allocations from hiding behind their requested sizes.
fn chunk(size: usize) -> isize {
    ((size + 8).next_multiple_of(16).max(32)) as isize
}

fn count(delta: isize) {
    // `try_with`: a thread's last frees happen after its locals are gone.
    let _ = HELD.try_with(|held| {
        let now = held.get() + delta;
        held.set(now);
        let _ = PEAK.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

// SAFETY: every call is forwarded to `System` unchanged; only a thread-local counter is added.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(chunk(layout.size()));
        // SAFETY: forwarded as received.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(chunk(layout.size()));
        // SAFETY: forwarded as received.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(-chunk(layout.size()));
        // SAFETY: forwarded as received.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(chunk(new_size) - chunk(layout.size()));
        // SAFETY: forwarded as received.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// What running `f` on this thread allocated, with [`Counting`] installed: (its result, bytes
/// still held after it, most bytes held at once during it), both relative to the start.
pub fn measure<T>(f: impl FnOnce() -> T) -> (T, usize, usize) {
    let start = HELD.with(Cell::get);
    PEAK.with(|peak| peak.set(start));
    let out = f();
    let held = HELD.with(Cell::get) - start;
    let peak = PEAK.with(Cell::get) - start;
    (out, held.max(0) as usize, peak.max(0) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[global_allocator]
    static HEAP: Counting = Counting;

    #[test]
    fn counts_what_is_held_and_the_peak() {
        let (kept, held, peak) = measure(|| {
            drop(vec![1u8; 1 << 20]);
            vec![2u8; 1 << 10]
        });
        assert_eq!(kept.len(), 1 << 10);
        assert!((1 << 10..(1 << 10) + 64).contains(&held), "held {held}");
        assert!(peak >= 1 << 20, "peak {peak}");
        let (_, held, _) = measure(|| drop(kept));
        assert_eq!(held, 0, "a free counts down, never below the start");
    }
}
