//! Concatenation as rescaling copies: each input is copied into its slice of the output
//! (outer blocks of `inner` elements, written at `offset` within each output block of
//! `out_inner`), rescaled to the output's quantization with the same integer form as
//! [`crate::add`] for a single input:
//!
//! ```text
//! out = clamp(z_out + (((x - z_in) * m + 2^(s-1)) >> s), -128, 127)
//! ```
//!
//! When input and output share scale and zero point (`m = 2^s`), this is a plain copy.

use crate::requant::OutputQuant;

/// Constants of one input's copy into a concatenation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CopyInto {
    /// Number of outer blocks (e.g. pixels for an NHWC channel concat).
    pub outer: usize,
    /// Elements per block in this input (its channel count).
    pub inner: usize,
    /// Elements per block in the output.
    pub out_inner: usize,
    /// Where this input's elements start inside each output block.
    pub offset: usize,
    /// Input zero point.
    pub in_zero_point: i32,
    /// Multiplier, `< 2^21`.
    pub multiplier: i32,
    /// Right shift in `[1, 30]`.
    pub shift: i32,
    /// Output zero point.
    pub out_zero_point: i32,
}

/// Encodes a real rescale factor `s_in / s_out` as `(multiplier, shift)` with the same
/// rules as [`crate::add::encode_pair`].
pub fn encode(r: f64) -> Option<(i32, i32)> {
    crate::add::encode_pair(r, 0.0).map(|(m, _, s)| (m, s))
}

/// Scalar reference copy of one input into its place in the output.
pub fn copy_into(p: &CopyInto, input: &[i8], output: &mut [i8]) {
    assert!(p.offset + p.inner <= p.out_inner, "copy_into: the input's block overruns the output block");
    assert!(input.len() == p.outer * p.inner, "copy_into: input length is not outer * inner");
    assert!(output.len() == p.outer * p.out_inner, "copy_into: output length is not outer * out_inner");
    let out = OutputQuant { zero_point: p.out_zero_point, min: i8::MIN, max: i8::MAX };
    let round = 1i32 << (p.shift - 1);
    for o in 0..p.outer {
        let source = &input[o * p.inner..][..p.inner];
        let target = &mut output[o * p.out_inner + p.offset..][..p.inner];
        for (y, &x) in target.iter_mut().zip(source) {
            // `|x - z_in| < 2^8` and `m < 2^21`, so this stays well inside i32.
            *y = out.finish(((x as i32 - p.in_zero_point) * p.multiplier + round) >> p.shift);
        }
    }
}
