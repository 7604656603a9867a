//! `Relu`: `max(x, 0)`. Fused into the producer as a clamp; also the shape rule of every
//! shape-preserving unary op (Identity, Dropout).

use super::{required_info, InputInfo};
use crate::ir::Array;

/// Output shape equals input 0's shape.
pub fn infer_same(inputs: &[Option<InputInfo<'_>>]) -> Result<Vec<Vec<usize>>, String> {
    Ok(vec![required_info(inputs, 0)?.shape.to_vec()])
}

/// fp32 reference evaluation.
pub fn eval(inputs: &[Option<&Array>]) -> Result<Vec<Array>, String> {
    let x = super::required(inputs, 0)?;
    Ok(vec![Array::new(x.shape.clone(), x.data.iter().map(|v| v.max(0.0)).collect())])
}
