//! A standalone activation (ReLU, ReLU6, Clip) that could not be fused into its producer.
//! The output keeps the input's scale and zero point, so the real-domain clamp is an
//! integer clamp with bounds computed at compile time:
//!
//! ```text
//! out = min(max(x, min), max)
//! ```

/// Constants of one clamp.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Clamp {
    /// Elements.
    pub len: usize,
    /// Lowest output value (e.g. the zero point for ReLU).
    pub min: i8,
    /// Highest output value.
    pub max: i8,
}

/// Scalar reference clamp.
pub fn clamp(p: &Clamp, input: &[i8], output: &mut [i8]) {
    assert!(input.len() == p.len && output.len() == p.len, "clamp: slice lengths do not match the layer");
    for (o, &x) in output.iter_mut().zip(input) {
        *o = x.max(p.min).min(p.max);
    }
}
