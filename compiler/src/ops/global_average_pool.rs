//! `GlobalAveragePool`: mean over H and W, NCHW `[1, C, H, W]` -> `[1, C, 1, 1]` (any
//! number of spatial axes: every axis after C becomes 1).
//! Quantized, `out = clamp(z_out + requantize(Σ(x - z_in), s_in / (s_out * H * W)))`.

use super::{check_input_count, infos_of, required, required_info, InputInfo};
use crate::ir::Array;

/// Shape inference.
pub fn infer(inputs: &[Option<InputInfo<'_>>]) -> Result<Vec<Vec<usize>>, String> {
    check_input_count(inputs, 1, 1, "X")?;
    let x = required_info(inputs, 0)?;
    if x.shape.len() < 3 {
        return Err(format!("the input has shape {:?}; expected [N, C, H, W]", x.shape));
    }
    if x.shape[2..].contains(&0) {
        return Err(format!("the input has shape {:?}; the mean of an empty plane is undefined", x.shape));
    }
    let mut out = x.shape[..2].to_vec();
    out.resize(x.shape.len(), 1);
    Ok(vec![out])
}

/// fp32 reference evaluation (sums in f64).
pub fn eval(inputs: &[Option<&Array>]) -> Result<Vec<Array>, String> {
    let shape = infer(&infos_of(inputs))?.remove(0);
    let x = required(inputs, 0)?;
    let plane: usize = x.shape[2..].iter().product();
    let data =
        x.data.chunks_exact(plane).map(|p| (p.iter().map(|&v| v as f64).sum::<f64>() / plane as f64) as f32).collect();
    Ok(vec![Array::new(shape, data)])
}
