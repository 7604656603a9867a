//! Gathering convolution windows into rows, so a dense k x k convolution (groups = 1) runs
//! as one GEMM. The destination is a tensor the compiler plans in the arena like any other,
//! so nothing is allocated at run time.
//!
//! Row `oy * out_w + ox` holds, for each tap `(ky, kx)` in order and each input channel `c`,
//! `x(oy * stride_h + ky * dilation_h - pad_top, ox * stride_w + kx * dilation_w - pad_left, c)`,
//! with `zero_point` for taps in the padding: `kernel_h * kernel_w * in_c` bytes, the order of
//! the conv weights `[out][ky][kx][c]`.

/// Geometry of one gather.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Im2col {
    /// Input height.
    pub in_h: usize,
    /// Input width.
    pub in_w: usize,
    /// Input channels.
    pub in_c: usize,
    /// Output height.
    pub out_h: usize,
    /// Output width.
    pub out_w: usize,
    /// Kernel height.
    pub kernel_h: usize,
    /// Kernel width.
    pub kernel_w: usize,
    /// Vertical stride.
    pub stride_h: usize,
    /// Horizontal stride.
    pub stride_w: usize,
    /// Vertical dilation.
    pub dilation_h: usize,
    /// Horizontal dilation.
    pub dilation_w: usize,
    /// Rows of padding above.
    pub pad_top: usize,
    /// Columns of padding on the left.
    pub pad_left: usize,
    /// The input zero point, written for padded taps.
    pub zero_point: i8,
}

impl Im2col {
    /// Bytes per gathered row.
    pub const fn row_len(&self) -> usize {
        self.kernel_h * self.kernel_w * self.in_c
    }
}

/// Gathers every output pixel's window (NHWC input, one row per output pixel).
pub fn im2col(p: &Im2col, input: &[i8], output: &mut [i8]) {
    let (c, row) = (p.in_c, p.row_len());
    assert!(input.len() == p.in_h * p.in_w * c, "im2col: input of the wrong length");
    assert!(output.len() == p.out_h * p.out_w * row, "im2col: output of the wrong length");
    let span = (p.kernel_w - 1) * p.dilation_w + 1;
    for oy in 0..p.out_h {
        for ox in 0..p.out_w {
            let dst = &mut output[(oy * p.out_w + ox) * row..][..row];
            let x0 = (ox * p.stride_w) as isize - p.pad_left as isize;
            // Without dilation the kernel row's pixels are adjacent in NHWC: one copy of
            // kernel_w * c bytes when the whole row lies inside the input.
            let whole_rows = p.dilation_w == 1 && x0 >= 0 && x0 as usize + span <= p.in_w;
            for ky in 0..p.kernel_h {
                let iy = (oy * p.stride_h + ky * p.dilation_h) as isize - p.pad_top as isize;
                let taps = &mut dst[ky * p.kernel_w * c..][..p.kernel_w * c];
                if iy < 0 || iy as usize >= p.in_h {
                    taps.fill(p.zero_point);
                } else if whole_rows {
                    copy_short(taps, &input[(iy as usize * p.in_w + x0 as usize) * c..][..p.kernel_w * c]);
                } else {
                    for kx in 0..p.kernel_w {
                        let ix = x0 + (kx * p.dilation_w) as isize;
                        let tap = &mut taps[kx * c..][..c];
                        if ix >= 0 && (ix as usize) < p.in_w {
                            tap.copy_from_slice(&input[(iy as usize * p.in_w + ix as usize) * c..][..c]);
                        } else {
                            tap.fill(p.zero_point);
                        }
                    }
                }
            }
        }
    }
}

/// `dst.copy_from_slice(src)`, with rows of up to 32 bytes (a 3x3 kernel row of a 3-channel
/// first layer is 9) moved as two overlapping fixed-size copies instead of a call to
/// `memcpy` with a run-time length.
#[inline(always)]
fn copy_short(dst: &mut [i8], src: &[i8]) {
    let n = src.len();
    assert!(dst.len() == n, "im2col: copy of unequal lengths");
    macro_rules! two {
        ($w:literal) => {{
            dst[..$w].copy_from_slice(&src[..$w]);
            dst[n - $w..].copy_from_slice(&src[n - $w..]);
        }};
    }
    match n {
        16..=32 => two!(16),
        8..=15 => two!(8),
        4..=7 => two!(4),
        _ => dst.copy_from_slice(src),
    }
}
