//! `Dropout` in inference: the identity. Opset 12+ takes optional `ratio` and
//! `training_mode` inputs; `training_mode`, when given, must be a constant false. The mask
//! output is not supported (see [`super::Op::check_outputs`]). Older opsets' `ratio` and
//! `is_test` attributes do not change inference and are ignored.

use super::{check_input_count, required_info, InputInfo};
use crate::ir::{Array, Attrs};

/// Checks that the node runs in inference mode. `inputs[i]` holds constant input data.
pub fn parse(attrs: &Attrs, inputs: &[Option<&Array>]) -> Result<(), String> {
    let _ = attrs;
    if let Some(mode) = inputs.get(2).copied().flatten() {
        check_training_mode(mode)?;
    }
    Ok(())
}

fn check_training_mode(mode: &Array) -> Result<(), String> {
    if mode.data.iter().any(|&v| v != 0.0) {
        return Err("Dropout with training_mode = true is not supported (qforge compiles for inference)".into());
    }
    Ok(())
}

/// Shape inference: the output has the input's shape.
pub fn infer(inputs: &[Option<InputInfo<'_>>]) -> Result<Vec<Vec<usize>>, String> {
    check_input_count(inputs, 1, 3, "data, optional ratio, optional training_mode")?;
    let x = required_info(inputs, 0)?;
    if let Some(mode) = inputs.get(2).copied().flatten() {
        match mode.data {
            Some(data) => check_training_mode(data)?,
            None => return Err("training_mode must be a constant (false)".into()),
        }
    }
    // The optional mask output has the input's shape.
    Ok(vec![x.shape.to_vec(), x.shape.to_vec()])
}
