//! The operators qforge understands: one enum, one file per op.
//!
//! Each op file holds the op's attributes, its parser (from generic [`Attrs`]), shape
//! inference and fp32 reference evaluation; quantized lowering lives beside them. Adding an
//! op means adding a variant here: every exhaustive `match` over [`Op`] then tells you where
//! else it must be handled (see `docs/adding-an-op.md`).

pub mod add;
pub mod average_pool;
pub mod batch_norm;
pub mod clip;
pub mod concat;
pub mod conv;
pub mod dropout;
pub mod flatten;
pub mod gemm;
pub mod global_average_pool;
mod linalg;
pub mod mat_mul;
pub mod max_pool;
pub mod pool;
pub mod relu;
pub mod reshape;

use crate::ir::{Array, Attrs};

/// A fused output clamp in the real domain (`Relu` is `[0, +inf)`, `Relu6` is `[0, 6]`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Clamp {
    /// Lower bound (may be `-inf`).
    pub min: f32,
    /// Upper bound (may be `+inf`).
    pub max: f32,
}

impl Clamp {
    /// No clamping.
    pub const NONE: Clamp = Clamp { min: f32::NEG_INFINITY, max: f32::INFINITY };

    /// Applies the clamp to one value.
    pub fn apply(&self, v: f32) -> f32 {
        v.max(self.min).min(self.max)
    }

    /// The clamp of applying `self` then `next`.
    pub fn then(&self, next: Clamp) -> Clamp {
        Clamp { min: self.min.max(next.min).min(next.max), max: self.max.min(next.max).max(next.min) }
    }

    /// True when it clamps nothing.
    pub fn is_none(&self) -> bool {
        self.min == f32::NEG_INFINITY && self.max == f32::INFINITY
    }
}

/// What shape inference and parsing know about one input.
#[derive(Clone, Copy, Debug)]
pub struct InputInfo<'a> {
    /// The input's shape.
    pub shape: &'a [usize],
    /// Its data, when it is a constant.
    pub data: Option<&'a Array>,
}

/// One operator with its parsed attributes.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// `Conv` (any groups, strides, pads, dilations), possibly with a fused clamp.
    Conv(conv::Conv),
    /// `BatchNormalization` in inference mode.
    BatchNorm(batch_norm::BatchNorm),
    /// `Relu`.
    Relu,
    /// `Clip` (ReLU6 and friends).
    Clip(clip::Clip),
    /// `Add` (same shape, or broadcast of a per-channel/scalar constant), possibly fused clamp.
    Add(add::Add),
    /// `MaxPool`.
    MaxPool(pool::Pool2d),
    /// `AveragePool`.
    AveragePool(pool::Pool2d),
    /// `GlobalAveragePool`.
    GlobalAveragePool,
    /// `Gemm` with a constant `B`, possibly fused clamp.
    Gemm(gemm::Gemm),
    /// `MatMul` with a constant 2-D right operand, possibly fused clamp.
    MatMul(mat_mul::MatMul),
    /// `Flatten`.
    Flatten(flatten::Flatten),
    /// `Reshape` with a constant target shape.
    Reshape(reshape::Reshape),
    /// `Identity`.
    Identity,
    /// `Dropout` (inference: identity).
    Dropout,
    /// `Concat`.
    Concat(concat::Concat),
}

impl Op {
    /// Parses an ONNX-domain op. `Ok(None)` means qforge does not support this op type.
    /// `inputs[i]` holds the data of input `i` when it is a constant (Clip bounds, Reshape
    /// shape), or `None`.
    pub fn parse(op_type: &str, attrs: &Attrs, opset: i64, inputs: &[Option<&Array>]) -> Result<Option<Op>, String> {
        Ok(Some(match op_type {
            "Conv" => Op::Conv(conv::Conv::parse(attrs)?),
            "BatchNormalization" => Op::BatchNorm(batch_norm::BatchNorm::parse(attrs)?),
            "Relu" => Op::Relu,
            "Clip" => Op::Clip(clip::Clip::parse(attrs, opset, inputs)?),
            "Add" => Op::Add(add::Add::default()),
            "MaxPool" => Op::MaxPool(pool::Pool2d::parse(attrs, pool::PoolKind::Max)?),
            "AveragePool" => Op::AveragePool(pool::Pool2d::parse(attrs, pool::PoolKind::Average)?),
            "GlobalAveragePool" => Op::GlobalAveragePool,
            "Gemm" => Op::Gemm(gemm::Gemm::parse(attrs)?),
            "MatMul" => Op::MatMul(mat_mul::MatMul::default()),
            "Flatten" => Op::Flatten(flatten::Flatten::parse(attrs)?),
            "Reshape" => Op::Reshape(reshape::Reshape::parse(attrs, inputs)?),
            "Identity" => Op::Identity,
            "Dropout" => {
                dropout::parse(attrs, inputs)?;
                Op::Dropout
            }
            "Concat" => Op::Concat(concat::Concat::parse(attrs)?),
            _ => return Ok(None),
        }))
    }

    /// The ONNX op type this op came from.
    pub fn type_name(&self) -> &'static str {
        match self {
            Op::Conv(_) => "Conv",
            Op::BatchNorm(_) => "BatchNormalization",
            Op::Relu => "Relu",
            Op::Clip(_) => "Clip",
            Op::Add(_) => "Add",
            Op::MaxPool(_) => "MaxPool",
            Op::AveragePool(_) => "AveragePool",
            Op::GlobalAveragePool => "GlobalAveragePool",
            Op::Gemm(_) => "Gemm",
            Op::MatMul(_) => "MatMul",
            Op::Flatten(_) => "Flatten",
            Op::Reshape(_) => "Reshape",
            Op::Identity => "Identity",
            Op::Dropout => "Dropout",
            Op::Concat(_) => "Concat",
        }
    }

    /// Output shapes from input shapes (and constant inputs). Bad input is an `Err`.
    pub fn infer(&self, inputs: &[Option<InputInfo<'_>>]) -> Result<Vec<Vec<usize>>, String> {
        match self {
            Op::Conv(op) => op.infer(inputs),
            Op::BatchNorm(op) => op.infer(inputs),
            Op::Relu | Op::Identity => relu::infer_same(inputs),
            Op::Dropout => dropout::infer(inputs),
            Op::Clip(op) => op.infer(inputs),
            Op::Add(op) => op.infer(inputs),
            Op::MaxPool(op) | Op::AveragePool(op) => op.infer(inputs),
            Op::GlobalAveragePool => global_average_pool::infer(inputs),
            Op::Gemm(op) => op.infer(inputs),
            Op::MatMul(op) => op.infer(inputs),
            Op::Flatten(op) => op.infer(inputs),
            Op::Reshape(op) => op.infer(inputs),
            Op::Concat(op) => op.infer(inputs),
        }
    }

    /// Checks that a node of this op declares `count` outputs. Every supported op has exactly
    /// one; the optional second outputs of `MaxPool` (Indices) and `Dropout` (mask) are
    /// rejected here with a message saying so.
    pub fn check_outputs(&self, count: usize) -> Result<(), String> {
        match (self, count) {
            (_, 1) => Ok(()),
            (Op::MaxPool(_), 2) => Err("MaxPool's second output (Indices) is not supported".into()),
            // An unused mask is dropped with the Dropout; remove-identity rejects a used one.
            (Op::Dropout, 2) => Ok(()),
            (_, n) => Err(format!("{} has one output, but the node declares {n}", self.type_name())),
        }
    }

    /// fp32 reference evaluation. Inputs have been shape-checked by [`Op::infer`]; each op
    /// checks them again and returns an `Err` (never panics) when they do not fit.
    pub fn eval(&self, inputs: &[Option<&Array>]) -> Result<Vec<Array>, String> {
        match self {
            Op::Conv(op) => op.eval(inputs),
            Op::BatchNorm(op) => op.eval(inputs),
            Op::Relu => relu::eval(inputs),
            Op::Identity => Ok(vec![required(inputs, 0)?.clone()]),
            // In inference every element is kept: the mask is all true (1.0).
            Op::Dropout => {
                let x = required(inputs, 0)?;
                Ok(vec![x.clone(), Array::new(x.shape.clone(), vec![1.0; x.len()])])
            }
            Op::Clip(op) => op.eval(inputs),
            Op::Add(op) => op.eval(inputs),
            Op::MaxPool(op) | Op::AveragePool(op) => op.eval(inputs),
            Op::GlobalAveragePool => global_average_pool::eval(inputs),
            Op::Gemm(op) => op.eval(inputs),
            Op::MatMul(op) => op.eval(inputs),
            Op::Flatten(op) => op.eval(inputs),
            Op::Reshape(op) => op.eval(inputs),
            Op::Concat(op) => op.eval(inputs),
        }
    }
}

/// Input infos for arrays whose data are all known; `eval` re-runs shape inference on
/// them so that bad input is an `Err` there too, never a panic.
pub(crate) fn infos_of<'a>(inputs: &[Option<&'a Array>]) -> Vec<Option<InputInfo<'a>>> {
    inputs.iter().map(|i| i.map(|a| InputInfo { shape: &a.shape, data: Some(a) })).collect()
}

/// Checks the input count: at least `min` slots, at most `max` (`what` names them).
pub(crate) fn check_input_count<T>(inputs: &[Option<T>], min: usize, max: usize, what: &str) -> Result<(), String> {
    let n = inputs.len();
    if n < min || n > max {
        let count = if min == max { format!("{min}") } else { format!("{min} to {max}") };
        return Err(format!("expects {count} input(s) ({what}), got {n}"));
    }
    Ok(())
}

/// Input `i`, or an error saying it is missing.
pub fn required<'a>(inputs: &[Option<&'a Array>], i: usize) -> Result<&'a Array, String> {
    inputs.get(i).copied().flatten().ok_or_else(|| format!("input {i} is missing"))
}

/// Input info `i`, or an error saying it is missing.
pub fn required_info<'a>(inputs: &[Option<InputInfo<'a>>], i: usize) -> Result<InputInfo<'a>, String> {
    inputs.get(i).copied().flatten().ok_or_else(|| format!("input {i} is missing"))
}
