//! The scalar GEMM over the packed layout: the twin every SIMD backend must equal.

use super::{Gemm, GemmQuant, NR};
use crate::requant::Requant;

/// Scalar GEMM (see the module docs for the formula and layout).
pub fn gemm(p: &Gemm, input: &[i8], packed: &[i8], q: &GemmQuant<'_>, output: &mut [i8]) {
    super::check(p, input, packed, q, output);
    let groups = p.k.div_ceil(4);
    for r in 0..p.rows {
        let x = &input[r * p.input_stride..r * p.input_stride + p.k];
        let out = &mut output[r * p.output_stride..r * p.output_stride + p.n];
        for (c, o) in out.iter_mut().enumerate() {
            let block = &packed[(c / NR) * groups * 64..];
            let mut acc = q.bias[c];
            for (kk, &xv) in x.iter().enumerate() {
                let w = block[(kk / 4) * 64 + (c % NR) * 4 + kk % 4];
                acc = acc.wrapping_add(xv as i32 * w as i32);
            }
            let r = Requant { multiplier: q.multiplier[c], shift: q.shift[c] };
            *o = p.output.finish(r.apply(acc));
        }
    }
}
