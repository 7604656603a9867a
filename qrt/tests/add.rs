//! Elementwise add: the pair encoding and the kernel, against an i64 model and the real
//! formula.

mod common;

use common::Rng;
use proptest::prelude::*;
use qrt::add::{add, encode_pair, Add};
use qrt::OutputQuant;

const FULL: OutputQuant = OutputQuant { zero_point: 0, min: -128, max: 127 };

fn layer(r_a: f64, z_a: i32, r_b: f64, z_b: i32, output: OutputQuant, len: usize) -> Add {
    let (a_multiplier, b_multiplier, shift) = encode_pair(r_a, r_b).unwrap();
    Add { len, a_zero_point: z_a, a_multiplier, b_zero_point: z_b, b_multiplier, shift, output }
}

fn run(p: &Add, a: &[i8], b: &[i8]) -> Vec<i8> {
    let mut out = vec![0x55; p.len];
    add(p, a, b, &mut out);
    out
}

/// The documented formula in i64 with a floor division.
fn model(p: &Add, a: i8, b: i8) -> i8 {
    let acc = (a as i64 - p.a_zero_point as i64) * p.a_multiplier as i64
        + (b as i64 - p.b_zero_point as i64) * p.b_multiplier as i64;
    assert!(acc.abs() < 1 << 30);
    let v = (acc + (1i64 << (p.shift - 1))).div_euclid(1i64 << p.shift) + p.output.zero_point as i64;
    v.clamp(p.output.min as i64, p.output.max as i64) as i8
}

#[test]
fn hand_derived() {
    // r_a = 0.5, r_b = 0.25: the largest shift with 0.5 * 2^s < 2^21 is 21, giving
    // m_a = 2^20 and m_b = 2^19.
    assert_eq!(encode_pair(0.5, 0.25), Some((1 << 20, 1 << 19, 21)));
    let p = layer(0.5, 2, 0.25, -10, OutputQuant { zero_point: 3, min: -128, max: 127 }, 5);
    // (10 - 2) * 0.5 + (-6 + 10) * 0.25 = 4 + 1 = 5 -> 8.
    // (3 - 2) * 0.5 + 0 = 0.5 rounds up to 1 -> 4; (1 - 2) * 0.5 = -0.5 rounds up to 0 -> 3.
    // (4 - 2) * 0.5 + (-9 + 10) * 0.25 = 1.25 -> 1 -> 4; (-3 - 2) * 0.5 + (-11 + 10) * 0.25
    // = -2.75 -> -3 -> 0.
    let got = run(&p, &[10, 3, 1, 4, -3], &[-6, -10, -10, -9, -11]);
    assert_eq!(got, [8, 4, 3, 4, 0]);
}

#[test]
fn saturates_at_both_ends() {
    let p = layer(1.0, -128, 1.0, 127, FULL, 5);
    // a - z_a and b - z_b: 255 + 0 -> 127; 0 - 255 -> -128; 255 - 255 = 0; 1 - 1 = 0;
    // 0 - 1 = -1 stays.
    let got = run(&p, &[127, -128, 127, -127, -128], &[127, -128, -128, 126, 126]);
    assert_eq!(got, [127, -128, 0, 0, -1]);
    let p = layer(1.0, -128, 1.0, -128, FULL, 1);
    assert_eq!(run(&p, &[127], &[127]), [127]);
    let p = layer(1.0, 127, 1.0, 127, FULL, 1);
    assert_eq!(run(&p, &[-128], &[-128]), [-128]);
    // The largest factors the encoding accepts, with the widest differences: |acc| < 2^30.
    let p = layer(1_048_575.5, 127, 1_048_575.5, 127, FULL, 2);
    assert_eq!(run(&p, &[-128, 127], &[-128, 126]), [-128, -128]);
    let p = layer(1_048_575.5, -128, 1_048_575.5, -128, FULL, 1);
    assert_eq!(run(&p, &[127], &[127]), [127]);
    // A narrower fused clamp.
    let p = layer(0.5, 0, 0.5, 0, OutputQuant { zero_point: 10, min: 10, max: 40 }, 3);
    assert_eq!(run(&p, &[-100, 20, 100], &[-100, 20, 100]), [10, 30, 40]);
}

#[test]
fn encoding_edges() {
    assert_eq!(encode_pair(0.0, 0.0), Some((0, 0, 30)));
    assert_eq!(encode_pair(1.0, 0.0), Some((1 << 20, 0, 20)));
    assert_eq!(encode_pair(1e-12, 0.0), Some((0, 0, 30)));
    // Small factors keep shift 30 and round: 2^-30 * 1.5 rounds to 2 (half away from zero).
    assert_eq!(encode_pair(1.5 * 2f64.powi(-30), 0.0), Some((2, 0, 30)));
    assert_eq!(encode_pair(1_048_575.5, 3.0), Some((2_097_151, 6, 1)));
    assert_eq!(encode_pair(1_048_575.75, 1.0), None);
    assert_eq!(encode_pair(1_048_576.0, 1.0), None);
    assert_eq!(encode_pair(1.0, 1_048_576.0), None);
    assert_eq!(encode_pair(-1e-9, 1.0), None);
    assert_eq!(encode_pair(1.0, f64::NAN), None);
    assert_eq!(encode_pair(f64::INFINITY, 1.0), None);
    assert_eq!(encode_pair(1.0, f64::NEG_INFINITY), None);
}

fn factors() -> impl Strategy<Value = f64> {
    prop_oneof![0.0..1_048_575.0f64, 1e-3..64.0f64, Just(0.0), Just(1.0)]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn encoding_picks_the_largest_shift(r_a in factors(), r_b in factors()) {
        let (m_a, m_b, s) = encode_pair(r_a, r_b).unwrap();
        let bound = 1i64 << 21;
        prop_assert!((1..=30).contains(&s));
        prop_assert_eq!(m_a as i64, (r_a * 2f64.powi(s)).round() as i64);
        prop_assert_eq!(m_b as i64, (r_b * 2f64.powi(s)).round() as i64);
        prop_assert!((m_a as i64) < bound && (m_b as i64) < bound);
        if s < 30 {
            let next_a = (r_a * 2f64.powi(s + 1)).round() as i64;
            let next_b = (r_b * 2f64.powi(s + 1)).round() as i64;
            prop_assert!(next_a >= bound || next_b >= bound, "shift {} is not the largest", s);
        }
    }

    #[test]
    fn kernel_matches_the_model_and_the_real_formula(
        r_a in 1e-3..64.0f64, r_b in 1e-3..64.0f64,
        z_a in any::<i8>(), z_b in any::<i8>(), z_out in any::<i8>(), seed in any::<u64>()
    ) {
        let p = layer(r_a, z_a as i32, r_b, z_b as i32, OutputQuant { zero_point: z_out as i32, ..FULL }, 64);
        let mut rng = Rng::new(seed);
        let (a, b) = (rng.activations(64), rng.activations(64));
        let got = run(&p, &a, &b);
        for i in 0..64 {
            prop_assert_eq!(got[i], model(&p, a[i], b[i]));
            let real = z_out as f64 + r_a * (a[i] as f64 - z_a as f64) + r_b * (b[i] as f64 - z_b as f64);
            let expected = real.round().clamp(-128.0, 127.0);
            prop_assert!((got[i] as f64 - expected).abs() <= 1.0, "{} vs real {}", got[i], real);
        }
    }
}
