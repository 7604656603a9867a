//! A pointwise GEMM feeding a depthwise convolution (MobileNet's expand + depthwise pair),
//! run band by band so that the GEMM's output never exists whole.
//!
//! The GEMM's output rows are the depthwise input's pixels (NHWC, `n == channels`). For
//! each band of depthwise output rows, the input rows that band reads are computed by the
//! GEMM into a small scratch buffer (rows the previous band already computed are moved to
//! its start, not computed again) and the depthwise kernel runs on that window, with its
//! padding shifted as [`crate::par`] does for a band of threads. Every GEMM row and every
//! depthwise output is computed by the same kernel from the same bytes as in the unfused
//! pair, so the output is identical, byte for byte; only memory traffic changes (for
//! MobileNetV2's 112x112x96 expansion, 1.2 MB written and read back become a buffer of
//! some tens of kilobytes that stays in cache).

use crate::depthwise::Depthwise;
use crate::gemm::{Gemm, GemmQuant};
use crate::requant::ChannelQuant;

/// Scratch bytes the compiler plans by default: enough for several output rows of every
/// MobileNetV2 layer in each of two threads' halves, small enough to stay in L2. (With
/// 96 KiB, MobileNetV2's 112x112x96 pair ran on two threads at 1.6x to 1.7x its one-thread
/// speed, in bands of one output row; with 192 KiB at 1.8x to 1.9x, and no slower on one.)
pub const DEFAULT_SCRATCH: usize = 192 * 1024;

/// The two layers of a fused pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExpandDepthwise {
    /// The pointwise layer: `rows == dw.in_h * dw.in_w`, `n == dw.channels`,
    /// `output_stride == n`.
    pub gemm: Gemm,
    /// The depthwise layer reading the GEMM's output.
    pub dw: Depthwise,
}

impl ExpandDepthwise {
    /// Bytes of one input row of the depthwise layer.
    pub const fn line(&self) -> usize {
        self.dw.in_w * self.dw.channels
    }

    /// Input rows that `rows` consecutive output rows read at most.
    pub const fn window(&self, rows: usize) -> usize {
        (rows - 1) * self.dw.stride_h + self.dw.kernel_h
    }

    /// The least scratch that works: the window of one output row.
    pub const fn min_scratch(&self) -> usize {
        self.window(1) * self.line()
    }

    /// Scratch bytes for bands of up to `budget` bytes (at least [`Self::min_scratch`],
    /// at most what the whole layer needs).
    pub fn scratch_len(&self, budget: usize) -> usize {
        let whole = self.window(self.dw.out_h).min(self.dw.in_h) * self.line();
        budget.min(whole).max(self.min_scratch())
    }

    /// Output rows per band when `scratch` bytes are available (0 if too few).
    pub fn band_rows(&self, scratch: usize) -> usize {
        let rows = scratch / self.line();
        if rows < self.dw.kernel_h {
            return 0;
        }
        ((rows - self.dw.kernel_h) / self.dw.stride_h + 1).min(self.dw.out_h)
    }
}

/// Checks the pair's shapes and the slice lengths.
pub(crate) fn check(p: &ExpandDepthwise, input: &[i8], scratch: &[i8], output: &[i8]) {
    let (g, d) = (&p.gemm, &p.dw);
    assert!(
        g.rows == d.in_h * d.in_w && g.n == d.channels && g.output_stride == g.n && g.input_stride >= g.k,
        "expand_depthwise: the GEMM's output is not the depthwise input"
    );
    let needs = if g.rows == 0 { 0 } else { (g.rows - 1) * g.input_stride + g.k };
    assert!(input.len() >= needs, "expand_depthwise: input too short");
    assert!(output.len() == d.out_h * d.out_w * d.channels, "expand_depthwise: output of the wrong length");
    assert!(scratch.len() >= p.min_scratch(), "expand_depthwise: scratch shorter than one output row's window");
}

/// Runs the pair: `input` is the GEMM's input, `output` the depthwise output, `scratch`
/// at least [`ExpandDepthwise::min_scratch`] bytes (more makes wider bands).
#[allow(clippy::too_many_arguments)]
pub fn expand_depthwise(
    p: &ExpandDepthwise,
    input: &[i8],
    gemm_packed: &[i8],
    gemm_q: &GemmQuant<'_>,
    dw_packed: &[i8],
    dw_q: &ChannelQuant<'_>,
    scratch: &mut [i8],
    output: &mut [i8],
) {
    let single = crate::par::Par::single();
    crate::par::expand_depthwise(single, p, input, gemm_packed, gemm_q, dw_packed, dw_q, scratch, output)
}

/// The pair's constants, borrowed for one run.
pub(crate) struct Layers<'a> {
    pub(crate) p: &'a ExpandDepthwise,
    pub(crate) input: &'a [i8],
    pub(crate) gemm_packed: &'a [i8],
    pub(crate) gemm_q: &'a GemmQuant<'a>,
    pub(crate) dw_packed: &'a [i8],
    pub(crate) dw_q: &'a ChannelQuant<'a>,
}

impl Layers<'_> {
    /// Output rows `oy0..oy1` (written to `out`, which holds exactly those rows), in bands
    /// as wide as `scratch` allows.
    pub(crate) fn rows(&self, oy0: usize, oy1: usize, scratch: &mut [i8], out: &mut [i8]) {
        let (p, g, d) = (self.p, &self.p.gemm, &self.p.dw);
        let line = p.line();
        let band = p.band_rows(scratch.len()).max(1);
        let out_row = d.out_w * d.channels;
        // Input rows `have.0..have.1` of the depthwise layer sit at the start of `scratch`.
        let mut have = (0usize, 0usize);
        let mut oy = oy0;
        while oy < oy1 {
            let rows = band.min(oy1 - oy);
            let (first, count, pad_top) = crate::par::input_band(oy, rows, d.stride_h, d.kernel_h, d.pad_top, d.in_h);
            let end = first + count;
            // Rows already computed move to the front; the rest are computed after them.
            let keep_from = first.max(have.0);
            let kept = have.1.saturating_sub(keep_from).min(count);
            if kept > 0 {
                scratch.copy_within((keep_from - have.0) * line..(keep_from - have.0 + kept) * line, 0);
            }
            let fresh = first + kept;
            if fresh < end {
                let sub = Gemm { rows: (end - fresh) * d.in_w, ..*g };
                let start = fresh * d.in_w * g.input_stride;
                let stop = start + (sub.rows - 1) * g.input_stride + g.k;
                crate::gemm::gemm(
                    &sub,
                    &self.input[start..stop],
                    self.gemm_packed,
                    self.gemm_q,
                    &mut scratch[kept * line..count * line],
                );
            }
            have = (first, end);
            let sub = Depthwise { in_h: count, out_h: rows, pad_top, ..*d };
            let o = (oy - oy0) * out_row;
            crate::depthwise::depthwise(
                &sub,
                &scratch[..count * line],
                self.dw_packed,
                self.dw_q,
                &mut out[o..o + rows * out_row],
            );
            oy += rows;
        }
    }
}
