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
    BeforeGuard(crate::common::guard::Guarded, usize),
}

impl<T: Copy + Default> Placed<T> {
    /// `data` before a guard page when `at` is even (where supported), else `at` elements
    /// into a vector.
    pub fn new(data: Vec<T>, at: usize) -> Placed<T> {
        #[cfg(all(target_os = "linux", target_pointer_width = "64"))]
        if at.is_multiple_of(2) {
            let g = crate::common::guard::Guarded::new(std::mem::size_of_val(&data[..]));
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
