//! `Conv`: 2-D convolution over NCHW input with OIHW weights (ONNX opset 1..21; opsets
//! differ only in type support). Any group count (groups == channels is depthwise),
//! strides, dilations, symmetric or asymmetric pads, `auto_pad` (NOTSET, VALID,
//! SAME_UPPER, SAME_LOWER), optional bias.
//!
//! Integer form (after quantization, see `docs/numerics.md`): for output channel `c`,
//! `acc = bias_q[c] + Σ x_q * w_q` over every tap, where a tap in the padding reads the
//! input zero point (so the `-z_in * Σw` correction folded into `bias_q` is exact), then
//! `out = clamp(requantize(acc, M[c]) + z_out, lo, hi)` with `M[c] = s_in * s_w[c] / s_out`.

use super::{Clamp, InputInfo};
use crate::ir::{Array, Attrs};

/// How padding is specified.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AutoPad {
    /// Explicit `pads`.
    NotSet,
    /// No padding.
    Valid,
    /// Output = ceil(input / stride); extra padding at the end.
    SameUpper,
    /// Output = ceil(input / stride); extra padding at the start.
    SameLower,
}

/// `Conv` attributes (2-D only).
#[derive(Clone, Debug, PartialEq)]
pub struct Conv {
    /// Kernel `[kh, kw]`; taken from the weight shape when the attribute is absent.
    pub kernel_shape: Option<[usize; 2]>,
    /// `[sh, sw]`.
    pub strides: [usize; 2],
    /// `[dh, dw]`.
    pub dilations: [usize; 2],
    /// `[top, left, bottom, right]` (ONNX order `[x1_begin, x2_begin, x1_end, x2_end]`).
    pub pads: [usize; 4],
    /// Padding mode.
    pub auto_pad: AutoPad,
    /// Group count.
    pub group: usize,
    /// Activation fused in by the fusion pass.
    pub act: Clamp,
}

impl Conv {
    /// Parses ONNX attributes.
    pub fn parse(attrs: &Attrs) -> Result<Self, String> {
        let _ = attrs;
        Err("Conv parsing is not implemented yet".into())
    }

    /// The effective `[top, left, bottom, right]` pads for an input of `[h, w]` and kernel `[kh, kw]`.
    pub fn resolved_pads(&self, input_hw: [usize; 2], kernel: [usize; 2]) -> [usize; 4] {
        let _ = (input_hw, kernel);
        self.pads
    }

    /// Shape inference: inputs are X `[1, C, H, W]`, W `[M, C/group, kh, kw]`, optional B `[M]`.
    pub fn infer(&self, inputs: &[Option<InputInfo<'_>>]) -> Result<Vec<Vec<usize>>, String> {
        let _ = inputs;
        Err("Conv shape inference is not implemented yet".into())
    }

    /// fp32 reference: im2col + GEMM, then the fused clamp.
    pub fn eval(&self, inputs: &[Option<&Array>]) -> Result<Vec<Array>, String> {
        let _ = inputs;
        Err("Conv evaluation is not implemented yet".into())
    }
}
