//! Buffers that end exactly where an inaccessible page begins, so that a kernel reading
//! or writing one byte past a slice faults instead of passing (64-bit Linux only).

use core::ffi::c_void;

extern "C" {
    fn mmap(addr: *mut c_void, len: usize, prot: i32, flags: i32, fd: i32, offset: i64) -> *mut c_void;
    fn mprotect(addr: *mut c_void, len: usize, prot: i32) -> i32;
    fn munmap(addr: *mut c_void, len: usize) -> i32;
}

/// The largest page size of the targets this runs on (x86-64 and aarch64 Linux use 4 KiB
/// or, on some aarch64 kernels, 16 or 64 KiB: a multiple of any of them works).
const PAGE: usize = 64 * 1024;
const PROT_NONE: i32 = 0;
const PROT_READ_WRITE: i32 = 3;
const MAP_PRIVATE_ANONYMOUS: i32 = 0x02 | 0x20;

/// `len` bytes ending at an inaccessible page.
pub struct Guarded {
    base: *mut u8,
    total: usize,
    len: usize,
}

impl Guarded {
    pub fn new(len: usize) -> Guarded {
        let data = len.div_ceil(PAGE).max(1) * PAGE;
        let total = data + PAGE;
        // SAFETY: a fresh private anonymous mapping whose last page is then made
        // inaccessible; both calls are checked.
        unsafe {
            let base = mmap(core::ptr::null_mut(), total, PROT_READ_WRITE, MAP_PRIVATE_ANONYMOUS, -1, 0);
            assert!(base as isize != -1, "mmap failed");
            assert_eq!(mprotect(base.cast::<u8>().add(data).cast(), PAGE, PROT_NONE), 0, "mprotect failed");
            Guarded { base: base.cast(), total, len }
        }
    }

    /// The `len` bytes before the guard page.
    pub fn slice(&mut self) -> &mut [i8] {
        // SAFETY: the `len` bytes before the guard page are mapped read-write and
        // borrowed through `self`.
        unsafe { core::slice::from_raw_parts_mut(self.start().cast(), self.len) }
    }

    /// The first of the `len` bytes before the guard page.
    pub fn start(&self) -> *mut u8 {
        // SAFETY: `total - PAGE - len` lies within the mapping.
        unsafe { self.base.add(self.total - PAGE - self.len) }
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        // SAFETY: unmaps the mapping made in `new`, which nothing borrows any more.
        unsafe { munmap(self.base.cast(), self.total) };
    }
}
