//! A safe wrapper around `matrixmultiply::sgemm` for the fp32 reference ops (Conv, Gemm,
//! MatMul). Matrices are views into slices with element strides; the wrapper checks that
//! every element it may touch lies inside its slice before the one `unsafe` call.

/// A read-only `rows x cols` matrix inside `data`: element `(r, c)` is at `r * rs + c * cs`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct MatRef<'a> {
    pub data: &'a [f32],
    pub rows: usize,
    pub cols: usize,
    pub rs: usize,
    pub cs: usize,
}

impl<'a> MatRef<'a> {
    /// A dense row-major matrix.
    pub fn row_major(data: &'a [f32], rows: usize, cols: usize) -> Self {
        MatRef { data, rows, cols, rs: cols, cs: 1 }
    }

    /// The same data read as its transpose.
    pub fn t(self) -> Self {
        MatRef { data: self.data, rows: self.cols, cols: self.rows, rs: self.cs, cs: self.rs }
    }

    fn fits(&self) -> bool {
        self.rows == 0 || self.cols == 0 || (self.rows - 1) * self.rs + (self.cols - 1) * self.cs < self.data.len()
    }
}

/// A writable `rows x cols` matrix with unit column stride and row stride `rs >= cols`,
/// so that no two elements alias.
#[derive(Debug)]
pub(crate) struct MatMut<'a> {
    pub data: &'a mut [f32],
    pub rows: usize,
    pub cols: usize,
    pub rs: usize,
}

/// `c = alpha * a * b + beta * c`. With `beta == 0` the old contents of `c` are ignored.
///
/// Panics when the dimensions disagree or a view does not fit its slice: callers derive
/// both from shapes that shape inference has already checked, so this is a programming
/// error, not bad user input.
pub(crate) fn sgemm(alpha: f32, a: MatRef<'_>, b: MatRef<'_>, beta: f32, c: MatMut<'_>) {
    assert!(a.cols == b.rows && c.rows == a.rows && c.cols == b.cols, "sgemm: dimensions disagree");
    assert!(a.fits() && b.fits(), "sgemm: an operand does not fit its slice");
    assert!(
        c.rows == 0 || c.cols == 0 || (c.rs >= c.cols && (c.rows - 1) * c.rs + c.cols <= c.data.len()),
        "sgemm: the output does not fit its slice"
    );
    if c.rows == 0 || c.cols == 0 {
        return;
    }
    if a.cols == 0 {
        for r in 0..c.rows {
            for v in &mut c.data[r * c.rs..r * c.rs + c.cols] {
                *v = if beta == 0.0 { 0.0 } else { *v * beta };
            }
        }
        return;
    }
    // SAFETY: the asserts above show that every element `sgemm` reads of `a` and `b`
    // (indices `r * rs + k * cs` for `r < rows`, `k < cols`) and every element it writes of
    // `c` (`r * c.rs + j` for `r < c.rows`, `j < c.cols <= c.rs`, distinct for distinct
    // `(r, j)`) lies inside its slice; `c` is borrowed mutably, so it aliases neither
    // `a` nor `b`. Strides fit in `isize` because they index within allocated slices.
    unsafe {
        matrixmultiply::sgemm(
            a.rows,
            a.cols,
            b.cols,
            alpha,
            a.data.as_ptr(),
            a.rs as isize,
            a.cs as isize,
            b.data.as_ptr(),
            b.rs as isize,
            b.cs as isize,
            beta,
            c.data.as_mut_ptr(),
            c.rs as isize,
            1,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_product_and_transpose() {
        // a = [[1, 2, 3], [4, 5, 6]], b = [[1, 0], [0, 1], [1, 1]]
        // a * b = [[1 + 3, 2 + 3], [4 + 6, 5 + 6]] = [[4, 5], [10, 11]]
        let a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let b = [1.0, 0.0, 0.0, 1.0, 1.0, 1.0];
        let mut c = [1.0; 4];
        sgemm(
            1.0,
            MatRef::row_major(&a, 2, 3),
            MatRef::row_major(&b, 3, 2),
            0.0,
            MatMut { data: &mut c, rows: 2, cols: 2, rs: 2 },
        );
        assert_eq!(c, [4.0, 5.0, 10.0, 11.0]);
        // bt is b stored transposed ([2, 3]); reading it transposed gives b again.
        let bt = [1.0, 0.0, 1.0, 0.0, 1.0, 1.0];
        let mut c2 = [1.0; 4];
        sgemm(
            2.0,
            MatRef::row_major(&a, 2, 3),
            MatRef::row_major(&bt, 2, 3).t(),
            1.0,
            MatMut { data: &mut c2, rows: 2, cols: 2, rs: 2 },
        );
        assert_eq!(c2, [9.0, 11.0, 21.0, 23.0]);
    }
}
