//! Window geometry shared by `MaxPool` and `AveragePool` (2-D, NCHW): kernel, strides,
//! pads, `auto_pad`, `ceil_mode`, and `count_include_pad` for averages.

use super::conv::AutoPad;
use super::InputInfo;
use crate::ir::{Array, Attrs};

/// Which pooling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolKind {
    /// `MaxPool`: padding never wins.
    Max,
    /// `AveragePool`.
    Average,
}

/// Pooling attributes.
#[derive(Clone, Debug, PartialEq)]
pub struct Pool2d {
    /// Max or average.
    pub kind: PoolKind,
    /// `[kh, kw]`.
    pub kernel: [usize; 2],
    /// `[sh, sw]`.
    pub strides: [usize; 2],
    /// `[top, left, bottom, right]`.
    pub pads: [usize; 4],
    /// Padding mode.
    pub auto_pad: AutoPad,
    /// Round output size up.
    pub ceil_mode: bool,
    /// Average counts padded cells (ONNX `count_include_pad`).
    pub count_include_pad: bool,
}

impl Pool2d {
    /// Parses ONNX attributes (dilations other than 1 and `storage_order` 1 are rejected).
    pub fn parse(attrs: &Attrs, kind: PoolKind) -> Result<Self, String> {
        let _ = (attrs, kind);
        Err("pool parsing is not implemented yet".into())
    }

    /// Shape inference.
    pub fn infer(&self, inputs: &[Option<InputInfo<'_>>]) -> Result<Vec<Vec<usize>>, String> {
        let _ = inputs;
        Err("pool shape inference is not implemented yet".into())
    }

    /// fp32 reference evaluation.
    pub fn eval(&self, inputs: &[Option<&Array>]) -> Result<Vec<Array>, String> {
        let _ = inputs;
        Err("pool evaluation is not implemented yet".into())
    }
}
