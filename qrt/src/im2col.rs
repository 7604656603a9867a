//! Gathering convolution windows into rows, so a dense k x k convolution (groups = 1) runs
//! as a GEMM, and [`im2col_gemm`], which does both a band of output pixels at a time.
//!
//! Row `oy * out_w + ox` holds, for each tap `(ky, kx)` in order and each input channel `c`,
//! `x(oy * stride_h + ky * dilation_h - pad_top, ox * stride_w + kx * dilation_w - pad_left, c)`,
//! with `zero_point` for taps in the padding: `kernel_h * kernel_w * in_c` bytes, the order of
//! the conv weights `[out][ky][kx][c]`.
//!
//! The whole gathered matrix of a large layer is big (VGG16's second layer: 50,176 rows of
//! 576 bytes, 29 MB), so the compiler runs dense convolutions through [`im2col_gemm`]: it
//! gathers a band of rows into a scratch buffer that stays in cache and runs the GEMM on
//! it, band after band. The GEMM computes each output row from its own gathered row only,
//! so the bytes are those of the whole gather followed by the whole GEMM.

use crate::gemm::{Gemm, GemmQuant};

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
    assert!(output.len() == p.out_h * p.out_w * p.row_len(), "im2col: output of the wrong length");
    gather(p, input, 0, output);
}

/// Gathers the windows of output pixels `first..first + output.len() / row_len` (pixels
/// counted row-major over `out_h x out_w`) into `output`.
pub fn gather(p: &Im2col, input: &[i8], first: usize, output: &mut [i8]) {
    gather_rows(p, input, first, output, p.row_len());
}

/// [`gather`] into rows `row` bytes apart (`row >= row_len`; the bytes past each window
/// are left unspecified).
///
/// Short kernel rows (`kernel_w * in_c` of at most 32 bytes, such as the 9 of a 3x3 first
/// layer on 3 channels) are moved as whole 16- or 32-byte blocks where the window lies
/// inside the input: each block also writes the bytes after its kernel row, which the next
/// kernel row, the next pixel or the per-kernel-row pass after it writes over, so the
/// pixels go in order and no block runs past the band. MobileNetV2's first layer gathers
/// its 12,544 windows in 39 us this way and in 55 kernel row by kernel row (medians).
fn gather_rows(p: &Im2col, input: &[i8], first: usize, output: &mut [i8], row: usize) {
    let c = p.in_c;
    assert!(input.len() == p.in_h * p.in_w * c, "im2col: input of the wrong length");
    assert!(row >= p.row_len(), "im2col: rows shorter than a window");
    assert!(row > 0 && output.len().is_multiple_of(row), "im2col: output not a whole number of rows");
    let count = output.len() / row;
    assert!(first + count <= p.out_h * p.out_w, "im2col: pixels past the output");
    // Output row by output row: the input rows its kernel rows read are the same for every
    // pixel of the output row, so they are found once.
    let mut pixel = first;
    while pixel < first + count {
        let (oy, ox0) = (pixel / p.out_w, pixel % p.out_w);
        let ox1 = p.out_w.min(ox0 + first + count - pixel);
        let base = (pixel - first) * row;
        // Columns `lo..hi` go as whole blocks (none if the fast form does not apply).
        let at = (oy, ox0..ox1, base, row);
        let (lo, hi) = match (p.kernel_w * c, p.kernel_h) {
            (1..=16, 1) => wide_columns::<16, 1>(p, input, at, output),
            (1..=16, 3) => wide_columns::<16, 3>(p, input, at, output),
            (1..=16, 5) => wide_columns::<16, 5>(p, input, at, output),
            (17..=32, 5) => wide_columns::<32, 5>(p, input, at, output),
            (17..=32, 7) => wide_columns::<32, 7>(p, input, at, output),
            _ => (ox0, ox0),
        };
        // The rest kernel row by kernel row, the columns after the blocks last.
        for xs in [ox0..lo, hi..ox1] {
            if xs.is_empty() {
                continue;
            }
            let dst = &mut output[base + (xs.start - ox0) * row..base + (xs.end - ox0) * row];
            for ky in 0..p.kernel_h {
                match input_line(p, input, oy, ky) {
                    None => {
                        for taps in dst.chunks_exact_mut(row) {
                            taps[ky * p.kernel_w * c..][..p.kernel_w * c].fill(p.zero_point);
                        }
                    }
                    Some(line) => kernel_row(p, line, xs.clone(), ky * p.kernel_w * c, row, dst),
                }
            }
        }
        pixel += ox1 - ox0;
    }
}

/// The input row that kernel row `ky` of output row `oy` reads, `None` in the padding.
fn input_line<'a>(p: &Im2col, input: &'a [i8], oy: usize, ky: usize) -> Option<&'a [i8]> {
    let iy = (oy * p.stride_h + ky * p.dilation_h) as isize - p.pad_top as isize;
    let width = p.in_w * p.in_c;
    (iy >= 0 && (iy as usize) < p.in_h).then(|| &input[iy as usize * width..][..width])
}

/// Gathers the windows of output row `oy`'s columns that lie inside the input as blocks of
/// `W` bytes per kernel row (`kernel_w * in_c <= W`, `KH` kernel rows), pixel after pixel,
/// into the rows at `base` of `output` (`row` bytes apart, column `xs.start` first), with
/// `at = (oy, xs, base, row)`. Returns the columns done, `lo..hi`: none unless the window
/// has no dilation and every kernel row of `oy` is inside the input; only columns whose
/// blocks stay inside their input rows and inside `output`.
fn wide_columns<const W: usize, const KH: usize>(
    p: &Im2col,
    input: &[i8],
    (oy, xs, base, row): (usize, core::ops::Range<usize>, usize, usize),
    output: &mut [i8],
) -> (usize, usize) {
    let none = (xs.start, xs.start);
    if p.dilation_w != 1 {
        return none;
    }
    let mut lines: [&[i8]; KH] = [&[]; KH];
    for (ky, l) in lines.iter_mut().enumerate() {
        match input_line(p, input, oy, ky) {
            Some(line) => *l = line,
            None => return none,
        }
    }
    let (c, seg) = (p.in_c, p.kernel_w * p.in_c);
    let (lo, mut hi) = interior(p, &xs);
    // A block at column `ox` reads `W` bytes of each line from `(ox * stride - pad) * c`
    // and writes `W` bytes at each kernel row's place in the column's output row.
    let fits = |ox: usize| {
        let src = (ox * p.stride_w - p.pad_left) * c;
        let dst = base + (ox - xs.start) * row + (KH - 1) * seg;
        src + W <= p.in_w * c && dst + W <= output.len()
    };
    while hi > lo && !fits(hi - 1) {
        hi -= 1;
    }
    if hi == lo {
        return none;
    }
    // Every block below lies inside its line and inside `out` (checked for the last
    // column; the earlier ones start lower).
    let out = &mut output[base + (lo - xs.start) * row..base + (hi - 1 - xs.start) * row + (KH - 1) * seg + W];
    let (step, first) = (p.stride_w * c, (lo * p.stride_w - p.pad_left) * c);
    for i in 0..hi - lo {
        let src = first + i * step;
        let at = i * row;
        for (ky, line) in lines.iter().enumerate() {
            let to = at + ky * seg;
            out[to..to + W].copy_from_slice(&line[src..src + W]);
        }
    }
    (lo, hi)
}

/// The columns of `xs` whose whole kernel row lies inside the input, without dilation
/// (none with it): there a kernel row's taps are adjacent in NHWC.
fn interior(p: &Im2col, xs: &core::ops::Range<usize>) -> (usize, usize) {
    let span = (p.kernel_w - 1) * p.dilation_w + 1;
    let (lo, hi) = if p.dilation_w == 1 && p.in_w + p.pad_left >= span {
        (p.pad_left.div_ceil(p.stride_w), (p.in_w + p.pad_left - span) / p.stride_w + 1)
    } else {
        (0, 0)
    };
    let lo = lo.clamp(xs.start, xs.end);
    (lo, hi.clamp(lo, xs.end))
}

/// Copies the taps of one kernel row, read from input row `line`, for output columns `xs`
/// into bytes `at..at + kernel_w * in_c` of each `row`-byte row of `dst`.
#[inline(always)]
fn kernel_row(p: &Im2col, line: &[i8], xs: core::ops::Range<usize>, at: usize, row: usize, dst: &mut [i8]) {
    let (c, seg) = (p.in_c, p.kernel_w * p.in_c);
    // Columns whose whole kernel row lies inside the input: one copy of kernel_w * c bytes.
    let (lo, hi) = interior(p, &xs);
    for (ox, taps) in (xs.start..lo).zip(dst.chunks_exact_mut(row)) {
        edge(p, line, ox, &mut taps[at..at + seg]);
    }
    let step = p.stride_w * c;
    let mut src = if hi > lo { (lo * p.stride_w - p.pad_left) * c } else { 0 };
    for taps in dst.chunks_exact_mut(row).skip(lo - xs.start).take(hi - lo) {
        copy_short(&mut taps[at..at + seg], &line[src..src + seg]);
        src += step;
    }
    for (ox, taps) in (hi..xs.end).zip(dst.chunks_exact_mut(row).skip(hi - xs.start)) {
        edge(p, line, ox, &mut taps[at..at + seg]);
    }
}

/// One kernel row of output column `ox` tap by tap, with the zero point for taps outside
/// the input.
fn edge(p: &Im2col, line: &[i8], ox: usize, taps: &mut [i8]) {
    let c = p.in_c;
    let x0 = (ox * p.stride_w) as isize - p.pad_left as isize;
    for kx in 0..p.kernel_w {
        let ix = x0 + (kx * p.dilation_w) as isize;
        let tap = &mut taps[kx * c..][..c];
        if ix >= 0 && (ix as usize) < p.in_w {
            tap.copy_from_slice(&line[ix as usize * c..][..c]);
        } else {
            tap.fill(p.zero_point);
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

/// A dense convolution as a gather and a GEMM, run in bands (see the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Im2colGemm {
    /// The gather.
    pub gather: Im2col,
    /// The GEMM over the gathered rows: `rows == out_h * out_w`, `k == input_stride ==
    /// gather.row_len()`.
    pub gemm: Gemm,
}

/// Scratch bytes the compiler plans by default for [`im2col_gemm`]: a band of gathered
/// rows that stays in L2 beside the weights of one GEMM panel.
pub const DEFAULT_SCRATCH: usize = 96 * 1024;

/// Rows a band is rounded down to when it holds more: a multiple of every row tile of the
/// GEMM kernels, so that no band but the last ends in a partial tile.
const BAND_QUANTUM: usize = 24;

impl Im2colGemm {
    /// Bytes from one gathered row to the next in the scratch: the window rounded up to a
    /// whole group of 4, so the GEMM reads every row in whole groups. The 1 to 3 bytes past
    /// a window meet the packed weights' zero padding, which `gemm::pack` writes for a
    /// reduction that is not a multiple of 4; whatever they hold adds nothing.
    pub const fn row_stride(&self) -> usize {
        self.gather.row_len().next_multiple_of(4)
    }

    /// The least scratch that works: one gathered row.
    pub const fn min_scratch(&self) -> usize {
        self.row_stride()
    }

    /// Scratch bytes for bands of up to `budget` bytes (at least [`Self::min_scratch`],
    /// at most the whole gathered matrix).
    pub fn scratch_len(&self, budget: usize) -> usize {
        let whole = self.gemm.rows * self.row_stride();
        budget.min(whole).max(self.min_scratch())
    }

    /// The scratch the compiler plans: [`DEFAULT_SCRATCH`], or more when rows are long, so
    /// that a band has at least 96 pixels (the weights are read once per band, the gathered
    /// rows once per 64 output channels: with 64 pixels or more the weights cost less), up
    /// to 512 KiB.
    pub fn default_scratch(&self) -> usize {
        self.scratch_len(DEFAULT_SCRATCH.max((96 * self.row_stride()).min(512 * 1024)))
    }

    /// The most output pixels per band when `scratch` bytes are available (at least 1):
    /// all of them if they fit, else a whole number of [`BAND_QUANTUM`] when more than one
    /// fits.
    pub fn band_pixels(&self, scratch: usize) -> usize {
        let rows = (scratch / self.row_stride()).max(1);
        if rows >= self.gemm.rows {
            self.gemm.rows.max(1)
        } else if rows > BAND_QUANTUM {
            rows - rows % BAND_QUANTUM
        } else {
            rows
        }
    }
}

/// The band for `pixels` pixels when a band may hold up to `most`: the bands are as even as
/// their count allows (49 pixels in bands of at most 48 run as 25 + 24, not 48 + 1; each
/// band reads all the weights), rounded up to a whole [`BAND_QUANTUM`] where that fits.
fn even_band(pixels: usize, most: usize) -> usize {
    if pixels <= most {
        return pixels.max(1);
    }
    let even = pixels.div_ceil(pixels.div_ceil(most));
    let rounded = even.next_multiple_of(BAND_QUANTUM);
    if rounded <= most {
        rounded
    } else {
        even
    }
}

/// Checks the two halves agree and the slice lengths.
pub(crate) fn check(p: &Im2colGemm, input: &[i8], scratch: &[i8], output: &[i8]) {
    let (g, m) = (&p.gather, &p.gemm);
    assert!(
        m.rows == g.out_h * g.out_w && m.k == g.row_len() && m.input_stride == m.k,
        "im2col_gemm: the GEMM does not read the gathered rows"
    );
    assert!(input.len() == g.in_h * g.in_w * g.in_c, "im2col_gemm: input of the wrong length");
    let needs = if m.rows == 0 { 0 } else { (m.rows - 1) * m.output_stride + m.n };
    assert!(output.len() >= needs, "im2col_gemm: output too short");
    assert!(scratch.len() >= p.min_scratch(), "im2col_gemm: scratch shorter than one gathered row");
}

/// Runs the convolution: `input` is NHWC, `output` the GEMM's output rows, `scratch` at
/// least [`Im2colGemm::min_scratch`] bytes (more makes wider bands).
pub fn im2col_gemm(
    p: &Im2colGemm,
    input: &[i8],
    packed: &[i8],
    q: &GemmQuant<'_>,
    scratch: &mut [i8],
    output: &mut [i8],
) {
    check(p, input, scratch, output);
    pixels(p, input, packed, q, 0, p.gemm.rows, scratch, output);
}

/// Output pixels `first..end`, written to `out` (which starts at pixel `first`), in bands
/// as wide as `scratch` allows.
#[allow(clippy::too_many_arguments)]
pub(crate) fn pixels(
    p: &Im2colGemm,
    input: &[i8],
    packed: &[i8],
    q: &GemmQuant<'_>,
    first: usize,
    end: usize,
    scratch: &mut [i8],
    out: &mut [i8],
) {
    let (row, stride) = (p.row_stride(), p.gemm.output_stride);
    let band = even_band(end - first, p.band_pixels(scratch.len()));
    let mut at = first;
    while at < end {
        let rows = band.min(end - at);
        let cols = &mut scratch[..rows * row];
        gather_rows(&p.gather, input, at, cols, row);
        // Same packed weights: `packed_len` counts whole groups of 4.
        let sub = Gemm { rows, k: row, input_stride: row, ..p.gemm };
        let o = (at - first) * stride;
        crate::gemm::gemm(&sub, cols, packed, q, &mut out[o..o + (rows - 1) * stride + p.gemm.n]);
        at += rows;
    }
}
