//! Multi-core execution of the heavy kernels, with output identical to one thread.
//!
//! A layer is cut into bands of output rows and each band is computed as a smaller
//! problem of the same kernel (a GEMM over fewer rows or pixels; a depthwise conv over a
//! band of output rows with the input rows it reads). Every output byte is produced by
//! the same code from the same inputs as in a single-threaded run, so the bytes cannot
//! differ. Without `std`, or without a pool, everything runs on the calling thread.

use crate::depthwise::Depthwise;
use crate::fused::ExpandDepthwise;
use crate::fused_project::DepthwiseProject;
use crate::gemm::{Gemm, GemmQuant, NR};
use crate::im2col::Im2colGemm;
use crate::pool::Pool2d;
use crate::requant::ChannelQuant;

/// Where a layer may run: on the calling thread only, or on a thread pool.
#[derive(Clone, Copy)]
pub struct Par<'a> {
    #[cfg(feature = "std")]
    pool: Option<&'a crate::threads::Pool>,
    #[cfg(feature = "std")]
    min_work: usize,
    #[cfg(not(feature = "std"))]
    _single: core::marker::PhantomData<&'a ()>,
}

impl Default for Par<'_> {
    fn default() -> Self {
        Par::single()
    }
}

impl core::fmt::Debug for Par<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Par({} threads)", self.threads())
    }
}

/// Layers with fewer multiply-accumulates (or bytes moved) than this run on one thread:
/// waking the workers would cost more than it saves.
pub const MIN_PARALLEL_WORK: usize = 1 << 17;

impl<'a> Par<'a> {
    /// Run everything on the calling thread.
    pub const fn single() -> Par<'static> {
        Par {
            #[cfg(feature = "std")]
            pool: None,
            #[cfg(feature = "std")]
            min_work: MIN_PARALLEL_WORK,
            #[cfg(not(feature = "std"))]
            _single: core::marker::PhantomData,
        }
    }

    /// Spread heavy layers over `pool`.
    #[cfg(feature = "std")]
    pub fn pool(pool: &'a crate::threads::Pool) -> Par<'a> {
        Par { pool: Some(pool), min_work: MIN_PARALLEL_WORK }
    }

    /// Splits even layers smaller than [`MIN_PARALLEL_WORK`] (tests use 0 to split every
    /// layer that has at least two rows).
    #[cfg(feature = "std")]
    pub fn with_min_work(self, min_work: usize) -> Par<'a> {
        Par { min_work, ..self }
    }

    fn min_work(&self) -> usize {
        #[cfg(feature = "std")]
        {
            self.min_work
        }
        #[cfg(not(feature = "std"))]
        {
            MIN_PARALLEL_WORK
        }
    }

    /// Threads available.
    pub fn threads(&self) -> usize {
        #[cfg(feature = "std")]
        if let Some(p) = self.pool {
            return p.threads();
        }
        1
    }

    /// Splits `rows` output rows of `row_bytes` each (the last may be shorter) into bands,
    /// and calls `band(first_row, rows_in_band, output_of_band)` for each, in parallel
    /// when the work is large enough. The bands' output slices are disjoint.
    fn bands(
        &self,
        rows: usize,
        row_bytes: usize,
        work: usize,
        output: &mut [i8],
        band: &(dyn Fn(usize, usize, &mut [i8]) + Sync),
    ) {
        self.bands_with_scratch(rows, row_bytes, work, 0, output, &mut [], &|r0, n, out, _| band(r0, n, out));
    }

    /// Splits an elementwise layer over ranges of whole [`ELEMENT_CHUNK`]s of `output`
    /// (`work` counted as the layer likes), calling `range(elements, output_of_range)`.
    fn elements(&self, work: usize, output: &mut [i8], range: &(dyn Fn(core::ops::Range<usize>, &mut [i8]) + Sync)) {
        let len = output.len();
        self.bands(len.div_ceil(ELEMENT_CHUNK), ELEMENT_CHUNK, work, output, &|c0, _, out| {
            let start = c0 * ELEMENT_CHUNK;
            range(start..start + out.len(), out)
        });
    }

    /// [`Par::bands`] with each band also given its own equal share of `scratch`, at least
    /// `min_share` bytes (so at most `scratch.len() / min_share` bands): `band(first_row,
    /// rows_in_band, output_of_band, scratch_of_band)`. The shares start on cache lines
    /// where they can keep `min_share`.
    fn bands_with_scratch(
        &self,
        rows: usize,
        row_bytes: usize,
        work: usize,
        min_share: usize,
        output: &mut [i8],
        scratch: &mut [i8],
        band: &BandWithScratch<'_>,
    ) {
        let no_second = &mut [];
        self.bands_with_two(
            rows,
            (row_bytes, 0),
            work,
            min_share,
            (output, no_second),
            scratch,
            &|r0, n, out, _, s| band(r0, n, out, s),
        );
    }

    /// [`Par::bands_with_scratch`] over two outputs cut by the same rows (`row_bytes`
    /// each): `band(first_row, rows_in_band, output_of_band, second_of_band,
    /// scratch_of_band)`.
    fn bands_with_two(
        &self,
        rows: usize,
        row_bytes: (usize, usize),
        work: usize,
        min_share: usize,
        (output, second): (&mut [i8], &mut [i8]),
        scratch: &mut [i8],
        band: &BandWithTwo<'_>,
    ) {
        #[cfg(not(feature = "std"))]
        let _ = row_bytes;
        let max_parts = scratch.len().checked_div(min_share).unwrap_or(MAX_PARTS).max(1);
        let parts = if work < self.min_work() { 1 } else { self.threads().min(rows).min(max_parts).min(MAX_PARTS) };
        if parts <= 1 {
            band(0, rows, output, second, scratch);
            return;
        }
        #[cfg(feature = "std")]
        if let Some(pool) = self.pool {
            // Cut the outputs (and the scratch) into one disjoint slice per band; each part
            // takes its own.
            type Slot<'s> = std::sync::Mutex<Option<[&'s mut [i8]; 3]>>;
            let mut slots: [Slot<'_>; MAX_PARTS] = Default::default();
            let split = pool.split(rows, parts);
            let parts = split.parts();
            // Whole cache lines per share where that leaves each its least.
            let share = scratch.len() / parts;
            let share = match share / crate::arena::ALIGN * crate::arena::ALIGN {
                lines if lines >= min_share => lines,
                _ => share,
            };
            let mut rest = [output, second, scratch];
            for (i, slot) in slots.iter_mut().enumerate().take(parts) {
                // The last band takes the outputs' remaining bytes (a last row may be
                // shorter); every band takes an equal share of the scratch.
                let len = split.range(i).len();
                let [out, sec] = if i + 1 == parts {
                    [rest[0].len(), rest[1].len()]
                } else {
                    [len * row_bytes.0, len * row_bytes.1]
                };
                let mut mine: [&mut [i8]; 3] = Default::default();
                for ((m, r), take) in mine.iter_mut().zip(rest.iter_mut()).zip([out, sec, share]) {
                    (*m, *r) = core::mem::take(r).split_at_mut(take);
                }
                *slot.get_mut().unwrap_or_else(|e| e.into_inner()) = Some(mine);
            }
            pool.run_split(&split, &|i| {
                let r = split.range(i);
                let part = slots[i].lock().unwrap_or_else(|e| e.into_inner()).take();
                if let Some([out, second, scratch]) = part {
                    band(r.start, r.len(), out, second, scratch);
                }
            });
            return;
        }
        band(0, rows, output, second, scratch);
    }
}

/// Elements per range of an elementwise layer split over threads.
const ELEMENT_CHUNK: usize = 4096;

/// `band(first_row, rows_in_band, output_of_band, scratch_of_band)`.
type BandWithScratch<'f> = dyn Fn(usize, usize, &mut [i8], &mut [i8]) + Sync + 'f;

/// `band(first_row, rows_in_band, output_of_band, second_of_band, scratch_of_band)`.
type BandWithTwo<'f> = dyn Fn(usize, usize, &mut [i8], &mut [i8], &mut [i8]) + Sync + 'f;

/// The most bands one layer is cut into.
pub const MAX_PARTS: usize = 16;
#[cfg(feature = "std")]
const _: () = assert!(MAX_PARTS <= crate::threads::MAX_SPLIT);

/// [`crate::gemm::gemm`], split over rows (or, for a single row, over blocks of output
/// channels, which are then contiguous in the output, the packed weights and the constants).
pub fn gemm(par: Par<'_>, p: &Gemm, input: &[i8], packed: &[i8], q: &GemmQuant<'_>, output: &mut [i8]) {
    crate::gemm::check(p, input, packed, q, output);
    let work = p.rows * p.k * p.n;
    if p.rows == 1 {
        let blocks = p.n.div_ceil(NR);
        let block_bytes = p.k.div_ceil(4) * 4 * NR;
        // Bands of whole 16-channel blocks; the last band's output ends at `n`.
        par.bands(blocks, NR, work, &mut output[..p.n], &|b0, count, out| {
            let (n0, n1) = (b0 * NR, ((b0 + count) * NR).min(p.n));
            let sub = Gemm { n: n1 - n0, output_stride: n1 - n0, ..*p };
            let sub_q = GemmQuant {
                bias: &q.bias[n0..n1],
                bias_u8: &q.bias_u8[n0..n1],
                multiplier: &q.multiplier[n0..n1],
                shift: &q.shift[n0..n1],
            };
            let weights = &packed[b0 * block_bytes..(b0 + count) * block_bytes];
            crate::gemm::gemm(&sub, &input[..p.k], weights, &sub_q, out);
        });
        return;
    }
    par.bands(p.rows, p.output_stride, work, output, &|r0, rows, out| {
        let sub = Gemm { rows, ..*p };
        let start = r0 * p.input_stride;
        let end = if rows == 0 { start } else { start + (rows - 1) * p.input_stride + p.k };
        crate::gemm::gemm(&sub, &input[start..end], packed, q, out);
    });
}

/// [`crate::quant::quantize`] (the model's f32 input to int8), split over ranges of
/// elements.
pub fn quantize(par: Par<'_>, scale: f32, zero_point: i32, input: &[f32], output: &mut [i8]) {
    assert!(input.len() == output.len(), "quantize: input and output lengths differ");
    par.elements(input.len(), output, &|range, out| crate::quant::quantize(scale, zero_point, &input[range], out));
}

/// The most planes [`quantize_planes`] splits by rows (an image's channels: 1, 3 or 4).
pub const MAX_PLANES: usize = 4;

/// [`crate::quant::quantize`] of an input made of `planes` equal planes of rows of
/// `row_len` elements (an NCHW image: `N * C` planes of `W`-element rows), split over bands
/// of rows, each band quantizing its rows of every plane: the rows that the same band of
/// [`nchw_to_nhwc`] (and of the first layer after it) reads, so that no thread reads
/// another's bytes there. Other shapes (one row a plane, more than [`MAX_PLANES`] planes,
/// lengths that do not divide) are split as [`quantize`] splits them.
pub fn quantize_planes(
    par: Par<'_>,
    planes: usize,
    row_len: usize,
    scale: f32,
    zero_point: i32,
    input: &[f32],
    output: &mut [i8],
) {
    assert!(input.len() == output.len(), "quantize: input and output lengths differ");
    let plane = input.len().checked_div(planes).unwrap_or(0);
    let rows = plane.checked_div(row_len).unwrap_or(0);
    if !(1..=MAX_PLANES).contains(&planes) || rows < 2 || rows * row_len * planes != input.len() {
        return quantize(par, scale, zero_point, input, output);
    }
    #[cfg(feature = "std")]
    if let Some(pool) = par.pool.filter(|_| input.len() >= par.min_work()) {
        let split = pool.split(rows, par.threads().min(rows).min(MAX_PARTS));
        type Slot<'s> = std::sync::Mutex<Option<[&'s mut [i8]; MAX_PLANES]>>;
        let mut slots: [Slot<'_>; MAX_PARTS] = Default::default();
        let mut rest: [&mut [i8]; MAX_PLANES] = Default::default();
        for (r, p) in rest.iter_mut().zip(output.chunks_mut(plane)) {
            *r = p;
        }
        for (i, slot) in slots.iter_mut().enumerate().take(split.parts()) {
            let mut mine: [&mut [i8]; MAX_PLANES] = Default::default();
            for (m, r) in mine.iter_mut().zip(rest.iter_mut()).take(planes) {
                (*m, *r) = core::mem::take(r).split_at_mut(split.range(i).len() * row_len);
            }
            *slot.get_mut().unwrap_or_else(|e| e.into_inner()) = Some(mine);
        }
        pool.run_split(&split, &|i| {
            let r = split.range(i);
            if let Some(mine) = slots[i].lock().unwrap_or_else(|e| e.into_inner()).take() {
                for (k, out) in mine.into_iter().enumerate().take(planes) {
                    let start = k * plane + r.start * row_len;
                    crate::quant::quantize(scale, zero_point, &input[start..start + out.len()], out);
                }
            }
        });
        return;
    }
    crate::quant::quantize(scale, zero_point, input, output)
}

/// [`crate::layout::nchw_to_nhwc`], split over bands of output rows.
pub fn nchw_to_nhwc(par: Par<'_>, c: usize, h: usize, w: usize, input: &[i8], output: &mut [i8]) {
    assert!(input.len() == c * h * w && output.len() == c * h * w, "layout: slice lengths are not c * h * w");
    par.bands(h, w * c, c * h * w, output, &|r0, _, out| crate::layout::nchw_to_nhwc_rows(c, h, w, r0, input, out));
}

/// [`crate::add::add`], split over ranges of elements (the work counted as the bytes
/// read and written).
pub fn add(par: Par<'_>, p: &crate::add::Add, a: &[i8], b: &[i8], output: &mut [i8]) {
    crate::add::check(p, a, b, output);
    par.elements(3 * p.len, output, &|range, out| {
        let sub = crate::add::Add { len: out.len(), ..*p };
        crate::add::add(&sub, &a[range.clone()], &b[range], out)
    });
}

/// The input rows `[first, first + count)` of the window a band of output rows reads,
/// and the padding rows above it: `(first, count, pad_top)`.
pub(crate) fn input_band(
    oy0: usize,
    rows: usize,
    stride: usize,
    span: usize,
    pad_top: usize,
    in_h: usize,
) -> (usize, usize, usize) {
    let top = (oy0 * stride) as isize - pad_top as isize;
    let bottom = ((oy0 + rows - 1) * stride + span) as isize - pad_top as isize;
    let first = top.max(0) as usize;
    let last = (bottom.min(in_h as isize)).max(first as isize) as usize;
    (first, last - first, (-top).max(0) as usize)
}

/// [`crate::depthwise::depthwise`], split over bands of output rows.
pub fn depthwise(par: Par<'_>, p: &Depthwise, input: &[i8], packed: &[i8], q: &ChannelQuant<'_>, output: &mut [i8]) {
    let row_bytes = p.out_w * p.channels;
    let work = p.out_h * row_bytes * p.kernel_h * p.kernel_w;
    par.bands(p.out_h, row_bytes, work, output, &|oy0, rows, out| {
        if rows == p.out_h {
            crate::depthwise::depthwise(p, input, packed, q, out);
            return;
        }
        let (first, count, pad_top) = input_band(oy0, rows, p.stride_h, p.kernel_h, p.pad_top, p.in_h);
        let sub = Depthwise { in_h: count, out_h: rows, pad_top, ..*p };
        let line = p.in_w * p.channels;
        crate::depthwise::depthwise(&sub, &input[first * line..(first + count) * line], packed, q, out);
    });
}

/// [`crate::pool::max_pool`], split over bands of output rows, each reading the input rows
/// its windows cover (a window's rows outside the input are padding either way).
pub fn max_pool(par: Par<'_>, p: &Pool2d, input: &[i8], output: &mut [i8]) {
    let row_bytes = p.out_w * p.channels;
    let work = p.out_h * row_bytes * p.kernel_h * p.kernel_w;
    par.bands(p.out_h, row_bytes, work, output, &|oy0, rows, out| {
        if rows == p.out_h {
            crate::pool::max_pool(p, input, out);
            return;
        }
        let (first, count, pad_top) = input_band(oy0, rows, p.stride_h, p.kernel_h, p.pad_top, p.in_h);
        let sub = Pool2d { in_h: count, out_h: rows, pad_top, ..*p };
        let line = p.in_w * p.channels;
        crate::pool::max_pool(&sub, &input[first * line..(first + count) * line], out);
    });
}

/// [`crate::fused::expand_depthwise`], split over bands of output rows, each band with
/// its own share of `scratch` (as many bands as shares of at least the least scratch).
#[allow(clippy::too_many_arguments)]
pub fn expand_depthwise(
    par: Par<'_>,
    p: &ExpandDepthwise,
    input: &[i8],
    gemm_packed: &[i8],
    gemm_q: &GemmQuant<'_>,
    dw_packed: &[i8],
    dw_q: &ChannelQuant<'_>,
    scratch: &mut [i8],
    output: &mut [i8],
) {
    let d = &p.dw;
    let row_bytes = d.out_w * d.channels;
    let work = p.gemm.rows * p.gemm.k * p.gemm.n + d.out_h * row_bytes * d.kernel_h * d.kernel_w;
    crate::fused::check(p, input, scratch, output);
    let layers = crate::fused::Layers { p, input, gemm_packed, gemm_q, dw_packed, dw_q };
    par.bands_with_scratch(d.out_h, row_bytes, work, p.min_scratch(), output, scratch, &|oy0, rows, out, scratch| {
        layers.rows(oy0, oy0 + rows, scratch, out)
    });
}

/// [`crate::fused_project::depthwise_project`], split over bands of output pixels, each
/// band with its own share of `scratch` (as many bands as shares of at least one row).
/// A band's GEMM and Add read only what its own depthwise rows wrote.
#[allow(clippy::too_many_arguments)]
pub fn depthwise_project(
    par: Par<'_>,
    p: &DepthwiseProject,
    input: &[i8],
    dw_packed: &[i8],
    dw_q: &ChannelQuant<'_>,
    gemm_packed: &[i8],
    gemm_q: &GemmQuant<'_>,
    residual: &[i8],
    scratch: &mut [i8],
    output: &mut [i8],
) {
    let (d, g) = (&p.dw, &p.gemm);
    crate::fused_project::check(p, input, residual, scratch, output);
    let work = d.out_h * d.out_w * d.channels * d.kernel_h * d.kernel_w + g.rows * g.k * g.n;
    let layers = crate::fused_project::Layers { p, input, dw_packed, dw_q, gemm_packed, gemm_q, residual };
    par.bands_with_scratch(g.rows, g.n, work, p.min_scratch(), output, scratch, &|p0, pixels, out, scratch| {
        layers.pixels(p0, p0 + pixels, scratch, out)
    });
}

/// [`depthwise_project`], then the 1x1 GEMM `next` over its output, in one job: `next`
/// reads, pixel by pixel, only what the same band wrote (`next.rows == p.gemm.rows`,
/// `next.k == p.gemm.n`, rows `k` bytes apart), so no band waits for another in between;
/// one join instead of two. `output` keeps the first step's whole output (read later, as
/// MobileNetV2's next residual), `next_output` gets the GEMM's. The bytes are those of the
/// two calls one after the other.
#[allow(clippy::too_many_arguments)]
pub fn depthwise_project_then_gemm(
    par: Par<'_>,
    p: &DepthwiseProject,
    (input, residual): (&[i8], &[i8]),
    (dw_packed, dw_q): (&[i8], &ChannelQuant<'_>),
    (gemm_packed, gemm_q): (&[i8], &GemmQuant<'_>),
    scratch: &mut [i8],
    output: &mut [i8],
    (next, next_packed, next_q): (&Gemm, &[i8], &GemmQuant<'_>),
    next_output: &mut [i8],
) {
    let (d, g) = (&p.dw, &p.gemm);
    crate::fused_project::check(p, input, residual, scratch, output);
    crate::gemm::check(next, output, next_packed, next_q, next_output);
    assert!(
        next.rows == g.rows && next.k == g.n && next.input_stride == next.k,
        "depthwise_project_then_gemm: the GEMM does not read the first step's rows"
    );
    let work =
        d.out_h * d.out_w * d.channels * d.kernel_h * d.kernel_w + g.rows * g.k * g.n + next.rows * next.k * next.n;
    let layers = crate::fused_project::Layers { p, input, dw_packed, dw_q, gemm_packed, gemm_q, residual };
    let rows = (g.n, next.output_stride);
    par.bands_with_two(
        g.rows,
        rows,
        work,
        p.min_scratch(),
        (output, next_output),
        scratch,
        &|p0, pixels, out, next_out, scratch| {
            layers.pixels(p0, p0 + pixels, scratch, out);
            crate::gemm::gemm(&Gemm { rows: pixels, ..*next }, out, next_packed, next_q, next_out);
        },
    );
}

/// [`crate::im2col::im2col_gemm`], split over ranges of output pixels, each with its own
/// share of `scratch` (as many ranges as shares of at least one gathered row).
pub fn im2col_gemm(
    par: Par<'_>,
    p: &Im2colGemm,
    input: &[i8],
    packed: &[i8],
    q: &GemmQuant<'_>,
    scratch: &mut [i8],
    output: &mut [i8],
) {
    crate::im2col::check(p, input, scratch, output);
    let g = &p.gemm;
    par.bands_with_scratch(
        g.rows,
        g.output_stride,
        g.rows * g.k * g.n,
        p.min_scratch(),
        output,
        scratch,
        &|r0, rows, out, scratch| crate::im2col::pixels(p, input, packed, q, r0, r0 + rows, scratch, out),
    );
}
