//! A depthwise convolution feeding a pointwise GEMM, optionally followed by the residual
//! Add that alone reads the GEMM's output (MobileNet's depthwise + project [+ add]), run
//! band by band so that neither the depthwise output nor the GEMM's output is stored whole.
//!
//! The depthwise output pixels are the GEMM's rows (NHWC, `k == channels`), and the
//! GEMM's output rows are the Add's elements, so a band of output pixels reads nothing but
//! the depthwise outputs of the same pixels: no thread ever reads what another wrote in the
//! same step. Bands are cut by pixels, not rows, so that a 7x7 layer splits 24 + 25 over two
//! threads rather than 3 + 4 rows; a band computes the depthwise rows its pixels lie in
//! (whole rows, into scratch, reading the input rows of their window, padding shifted as
//! [`crate::par`] does), the GEMM multiplies its pixels into the output (or, with an Add,
//! into a second part of the scratch), and the Add combines those with the same elements
//! of the residual.
//!
//! Every kernel runs on the same bytes as in the three separate steps, so the output is
//! identical byte for byte; what changes is the memory traffic (two tensors written and
//! read back become a few kilobytes that stay in cache) and, on several threads, the
//! number of joins: one per block instead of three.

use crate::add::Add;
use crate::depthwise::Depthwise;
use crate::gemm::{Gemm, GemmQuant};
use crate::requant::ChannelQuant;

/// Scratch bytes the compiler plans by default: several output rows of every MobileNetV2
/// block in each of two threads' halves, small enough to stay in L2.
pub const DEFAULT_SCRATCH: usize = 96 * 1024;

/// The residual Add after the GEMM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Residual {
    /// Its constants; `len` is the whole output's (`gemm.rows * gemm.n`).
    pub add: Add,
    /// Whether the GEMM's output is the Add's first input (`a`), the residual its second;
    /// otherwise the other way round.
    pub gemm_is_a: bool,
}

/// The layers of a fused depthwise + project [+ add].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DepthwiseProject {
    /// The depthwise layer.
    pub dw: Depthwise,
    /// The pointwise layer: `rows == dw.out_h * dw.out_w`, `k == dw.channels`,
    /// `input_stride == k`, `output_stride == n`.
    pub gemm: Gemm,
    /// The Add, if any.
    pub residual: Option<Residual>,
}

impl DepthwiseProject {
    /// Scratch bytes per output row of a band, the least that works: the depthwise row,
    /// and the GEMM's row if an Add follows it.
    pub const fn min_scratch(&self) -> usize {
        let dw_row = self.dw.out_w * self.dw.channels;
        match self.residual {
            Some(_) => dw_row + self.dw.out_w * self.gemm.n,
            None => dw_row,
        }
    }

    /// Scratch bytes for bands of up to `budget` bytes (at least [`Self::min_scratch`],
    /// at most the whole layer's).
    pub fn scratch_len(&self, budget: usize) -> usize {
        budget.min(self.dw.out_h * self.min_scratch()).max(self.min_scratch())
    }

    /// Bytes of the output: `gemm.rows * gemm.n`.
    pub const fn output_len(&self) -> usize {
        self.gemm.rows * self.gemm.n
    }
}

/// Checks the layers' shapes and the slice lengths.
pub(crate) fn check(p: &DepthwiseProject, input: &[i8], residual: &[i8], scratch: &[i8], output: &[i8]) {
    let (d, g) = (&p.dw, &p.gemm);
    assert!(
        g.rows == d.out_h * d.out_w && g.k == d.channels && g.input_stride == g.k && g.output_stride == g.n,
        "depthwise_project: the depthwise output is not the GEMM's input"
    );
    assert!(input.len() == d.in_h * d.in_w * d.channels, "depthwise_project: input of the wrong length");
    assert!(output.len() == p.output_len(), "depthwise_project: output of the wrong length");
    let residual_len = match p.residual {
        Some(r) => {
            assert!(r.add.len == p.output_len(), "depthwise_project: the Add's length is not the GEMM's output");
            r.add.len
        }
        None => 0,
    };
    assert!(residual.len() == residual_len, "depthwise_project: residual of the wrong length");
    assert!(scratch.len() >= p.min_scratch(), "depthwise_project: scratch shorter than one output row");
}

/// Runs the layers: `input` is the depthwise input, `residual` the Add's other input
/// (empty without an Add), `scratch` at least [`DepthwiseProject::min_scratch`] bytes
/// (more makes wider bands), `output` the GEMM's (or the Add's) output.
#[allow(clippy::too_many_arguments)]
pub fn depthwise_project(
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
    let single = crate::par::Par::single();
    crate::par::depthwise_project(single, p, input, dw_packed, dw_q, gemm_packed, gemm_q, residual, scratch, output)
}

/// The layers' constants and inputs, borrowed for one run.
pub(crate) struct Layers<'a> {
    pub(crate) p: &'a DepthwiseProject,
    pub(crate) input: &'a [i8],
    pub(crate) dw_packed: &'a [i8],
    pub(crate) dw_q: &'a ChannelQuant<'a>,
    pub(crate) gemm_packed: &'a [i8],
    pub(crate) gemm_q: &'a GemmQuant<'a>,
    pub(crate) residual: &'a [i8],
}

impl Layers<'_> {
    /// Output pixels `p0..p1` (written to `out`, which holds exactly those pixels' rows of
    /// the output), in chunks of as many depthwise output rows as `scratch` holds. A chunk
    /// computes whole depthwise rows, so a band that starts or ends inside a row computes
    /// that row in full and uses the part it needs (two threads' bands may both compute the
    /// row they share: the same bytes, each in its own scratch).
    pub(crate) fn pixels(&self, p0: usize, p1: usize, scratch: &mut [i8], out: &mut [i8]) {
        let (p, d, g) = (self.p, &self.p.dw, &self.p.gemm);
        let chunk = (scratch.len() / p.min_scratch()).max(1);
        let (line, w, c, n) = (d.in_w * d.channels, d.out_w, d.channels, g.n);
        let mut at = p0;
        while at < p1 {
            let oy = at / w;
            let rows = chunk.min((p1 - 1) / w + 1 - oy);
            let end = p1.min((oy + rows) * w);
            let (first, count, pad_top) = crate::par::input_band(oy, rows, d.stride_h, d.kernel_h, d.pad_top, d.in_h);
            let sub = Depthwise { in_h: count, out_h: rows, pad_top, ..*d };
            let (mid, rest) = scratch.split_at_mut(rows * w * c);
            crate::depthwise::depthwise(
                &sub,
                &self.input[first * line..(first + count) * line],
                self.dw_packed,
                self.dw_q,
                mid,
            );
            // The chunk's pixels `at..end` start `at - oy * w` pixels into its rows.
            let src = &mid[(at - oy * w) * c..(end - oy * w) * c];
            let sub = Gemm { rows: end - at, ..*g };
            let o = (at - p0) * n..(end - p0) * n;
            match p.residual {
                None => crate::gemm::gemm(&sub, src, self.gemm_packed, self.gemm_q, &mut out[o]),
                Some(r) => {
                    let projected = &mut rest[..(end - at) * n];
                    crate::gemm::gemm(&sub, src, self.gemm_packed, self.gemm_q, projected);
                    let add = Add { len: (end - at) * n, ..r.add };
                    let other = &self.residual[at * n..end * n];
                    let (a, b) = if r.gemm_is_a { (&*projected, other) } else { (other, &*projected) };
                    crate::add::add(&add, a, b, &mut out[o]);
                }
            }
            at = end;
        }
    }
}
