//! Where a case's input lies in memory. Cases alternate between two placements: the input
//! ends exactly where an inaccessible page begins, so that a kernel reading one byte past
//! its slice faults instead of passing (64-bit Linux, where the test maps the pages
//! itself), or it starts at a chosen offset into a vector, so that cases vary its
//! alignment. (Output slices have poison canaries instead; see `guarded`.)

/// A slice placed for one case.
pub struct Placed<T> {
    place: Place<T>,
}

enum Place<T> {
    Offset(Vec<T>, usize),
    #[cfg(all(target_os = "linux", target_pointer_width = "64"))]
    BeforeGuard(guard::Guarded, usize),
}

impl<T: Copy + Default> Placed<T> {
    /// `data` before a guard page when `at` is even (where supported), else `at` elements
    /// into a vector.
    pub fn new(data: Vec<T>, at: usize) -> Placed<T> {
        #[cfg(all(target_os = "linux", target_pointer_width = "64"))]
        if at.is_multiple_of(2) {
            let g = guard::Guarded::new(std::mem::size_of_val(&data[..]));
            let len = data.len();
            // SAFETY: the mapping holds `len * size_of::<T>()` writable bytes ending at the
            // guard page, aligned for `T` (the guard page is, and the size is a multiple).
            unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), g.start().cast::<T>(), len) };
            return Placed { place: Place::BeforeGuard(g, len) };
        }
        let mut buf = vec![T::default(); at];
        buf.extend(data);
        Placed { place: Place::Offset(buf, at) }
    }

    pub fn get(&self) -> &[T] {
        match &self.place {
            Place::Offset(buf, at) => &buf[*at..],
            #[cfg(all(target_os = "linux", target_pointer_width = "64"))]
            // SAFETY: `new` copied `len` values of `T` there; the mapping lives as long as
            // `self` and is only read from now on.
            Place::BeforeGuard(g, len) => unsafe { std::slice::from_raw_parts(g.start().cast::<T>(), *len) },
        }
    }
}

#[cfg(all(target_os = "linux", target_pointer_width = "64"))]
mod guard {
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
}
