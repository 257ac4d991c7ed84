//! Shared by every fuzz target: a global allocator that aborts on any single allocation above
//! [`CAP_BYTES`]. Inputs are a few KiB, so a larger allocation can only come from trusting a
//! length or count read from the input — the "unbounded allocation" class of bug. libFuzzer's own
//! `-malloc_limit_mb` needs a sanitizer's malloc hooks; this works with `-s none` too.

use std::alloc::{GlobalAlloc, Layout, System};

/// Largest single allocation allowed (the log reader's tail-scan window is 1 MiB).
pub const CAP_BYTES: usize = 32 << 20;

pub struct CappedAlloc;

// SAFETY: forwards to `System` unchanged after checking the size; aborting is always sound.
unsafe impl GlobalAlloc for CappedAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        check(layout.size());
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        check(layout.size());
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        check(new_size);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

fn check(size: usize) {
    if size > CAP_BYTES {
        // No allocation may happen here: write the message with a fixed buffer, then abort.
        use std::io::Write;
        let mut buf = [0u8; 96];
        let mut cursor = std::io::Cursor::new(&mut buf[..]);
        let _ = writeln!(
            cursor,
            "alloc_cap: allocation of {size} bytes (cap {CAP_BYTES})"
        );
        let n = cursor.position() as usize;
        let _ = std::io::stderr().write_all(&buf[..n]);
        std::process::abort();
    }
}

#[global_allocator]
static GLOBAL: CappedAlloc = CappedAlloc;
