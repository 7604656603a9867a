//! Concatenation copies: the rescaling formula, the block layout, and identity copies.

mod common;

use common::Rng;
use proptest::prelude::*;
use qrt::concat::{copy_into, encode, CopyInto};

/// The documented formula in i64 with a floor division.
fn model(p: &CopyInto, x: i8) -> i8 {
    let scaled = (x as i64 - p.in_zero_point as i64) * p.multiplier as i64 + (1i64 << (p.shift - 1));
    (p.out_zero_point as i64 + scaled.div_euclid(1i64 << p.shift)).clamp(-128, 127) as i8
}

fn params(outer: usize, inner: usize, out_inner: usize, offset: usize, r: f64, z_in: i32, z_out: i32) -> CopyInto {
    let (multiplier, shift) = encode(r).unwrap();
    CopyInto { outer, inner, out_inner, offset, in_zero_point: z_in, multiplier, shift, out_zero_point: z_out }
}

#[test]
fn identity_rescale_is_an_exact_copy() {
    assert_eq!(encode(1.0), Some((1 << 20, 20)));
    let input: Vec<i8> = (-128..=127).collect();
    for z in [-128, -1, 0, 5, 127] {
        let p = params(1, 256, 256, 0, 1.0, z, z);
        let mut out = vec![0; 256];
        copy_into(&p, &input, &mut out);
        assert_eq!(out, input, "zero point {z}");
    }
}

#[test]
fn hand_derived_layout_and_rescale() {
    // Two pixels, this input has 2 channels at offset 1 of 4 output channels.
    // r = 0.5, z_in = 4, z_out = -1: x = 10 -> 3 -> 2; 5 -> 0.5 rounds up -> 0;
    // 3 -> -0.5 rounds up -> -1; -128 -> -66 -> -67.
    let p = params(2, 2, 4, 1, 0.5, 4, -1);
    let mut out = [9i8; 8];
    copy_into(&p, &[10, 5, 3, -128], &mut out);
    assert_eq!(out, [9, 2, 0, 9, 9, -1, -67, 9]);
}

#[test]
fn saturates_at_both_ends() {
    let p = params(1, 4, 4, 0, 2.0, 0, 0);
    let mut out = [0i8; 4];
    copy_into(&p, &[64, 63, -64, -65], &mut out);
    assert_eq!(out, [127, 126, -128, -128]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn matches_the_model_and_the_real_formula(
        outer in 0..5usize, inner in 1..6usize, extra in 0..4usize, offset_seed in any::<usize>(),
        r in prop_oneof![1e-3..64.0f64, Just(1.0)], z_in in any::<i8>(), z_out in any::<i8>(), seed in any::<u64>()
    ) {
        let out_inner = inner + extra;
        let offset = offset_seed % (extra + 1);
        let p = params(outer, inner, out_inner, offset, r, z_in as i32, z_out as i32);
        let input = Rng::new(seed).activations(outer * inner);
        let mut out = vec![0x55u8 as i8; outer * out_inner];
        copy_into(&p, &input, &mut out);
        for o in 0..outer {
            for j in 0..out_inner {
                let y = out[o * out_inner + j];
                if (offset..offset + inner).contains(&j) {
                    let x = input[o * inner + j - offset];
                    prop_assert_eq!(y, model(&p, x));
                    let real = z_out as f64 + r * (x as f64 - z_in as f64);
                    prop_assert!((y as f64 - real.round().clamp(-128.0, 127.0)).abs() <= 1.0);
                } else {
                    prop_assert_eq!(y, 0x55u8 as i8, "wrote outside its slice");
                }
            }
        }
    }
}
