//! The scalar add: the definition every SIMD backend must equal (formula in the module docs).

use super::Add;

/// Scalar reference add.
pub fn add(p: &Add, a: &[i8], b: &[i8], output: &mut [i8]) {
    super::check(p, a, b, output);
    let round = 1i32 << (p.shift - 1);
    for ((out, &a), &b) in output.iter_mut().zip(a).zip(b) {
        let acc = (a as i32 - p.a_zero_point) * p.a_multiplier + (b as i32 - p.b_zero_point) * p.b_multiplier;
        *out = p.output.finish((acc + round) >> p.shift);
    }
}
