//! Requantization: the encoding of real multipliers and the single-rounding apply step.

mod common;

use common::requantize_model;
use proptest::prelude::*;
use qrt::{OutputQuant, Requant};

const TWO_30: i32 = 1 << 30;

/// An independent `QuantizeMultiplier`: find `e` with `2^(e-1) <= r < 2^e` by walking
/// powers of two, then round `r / 2^e * 2^31` with std's `round`.
fn reference_encode(r: f64) -> (i32, i32) {
    let (mut e, mut p) = (0i32, 1.0f64);
    while r >= p {
        p *= 2.0;
        e += 1;
    }
    while r < p / 2.0 {
        p /= 2.0;
        e -= 1;
    }
    let mut m = (r / p * 2f64.powi(31)).round() as i64;
    if m == 1i64 << 31 {
        m /= 2;
        e += 1;
    }
    (m as i32, 31 - e)
}

fn multipliers() -> impl Strategy<Value = i32> {
    prop_oneof![Just(0), TWO_30..=i32::MAX, 0..=i32::MAX]
}

fn accumulators() -> impl Strategy<Value = i32> {
    prop_oneof![any::<i32>(), Just(i32::MIN), Just(i32::MAX), -4..=4, -70_000..=70_000]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn apply_matches_the_i128_model(acc in accumulators(), multiplier in multipliers(), shift in 1..=62i32) {
        let q = Requant { multiplier, shift };
        prop_assert_eq!(q.apply(acc) as i64, requantize_model(acc as i64, multiplier, shift));
    }

    #[test]
    fn encoding_is_within_2_pow_minus_30(bits in 2f64.powi(-32).to_bits()..2f64.powi(30).to_bits()) {
        let r = f64::from_bits(bits);
        match Requant::from_f64(r) {
            Some(q) => {
                prop_assert!((TWO_30..=i32::MAX).contains(&q.multiplier), "{:?}", q);
                prop_assert!((1..=62).contains(&q.shift), "{:?}", q);
                prop_assert_eq!((q.multiplier, q.shift), reference_encode(r));
                prop_assert!((q.to_f64() - r).abs() <= r * 2f64.powi(-30));
            }
            // Only the sliver whose mantissa rounds up to 2^31 at exponent 30 is rejected.
            None => prop_assert!(r >= 2f64.powi(30) - 0.25, "{} rejected", r),
        }
    }

    #[test]
    fn multipliers_below_2_pow_minus_32_encode_as_zero(bits in 0..2f64.powi(-32).to_bits()) {
        let r = f64::from_bits(bits);
        prop_assert_eq!(Requant::from_f64(r), Some(Requant { multiplier: 0, shift: 1 }));
    }
}

#[test]
fn apply_edges_match_the_model() {
    let accs = [i32::MIN, i32::MIN + 1, -65_536, -3, -1, 0, 1, 3, 65_536, i32::MAX - 1, i32::MAX];
    let multipliers = [0, 1, TWO_30, TWO_30 + 1, i32::MAX];
    for acc in accs {
        for multiplier in multipliers {
            for shift in [1, 2, 30, 31, 32, 61, 62] {
                let q = Requant { multiplier, shift };
                assert_eq!(q.apply(acc) as i64, requantize_model(acc as i64, multiplier, shift), "{q:?} acc {acc}");
            }
        }
    }
}

#[test]
fn apply_saturates_to_i32() {
    // M = (2^31 - 1) / 2: acc = 1 gives (2^31 - 1 + 1) >> 1 = 2^30, acc = 4 gives
    // floor(2^32 - 1.5), acc = -4 gives floor(-2^32 + 2.5); the last two saturate.
    let q = Requant { multiplier: i32::MAX, shift: 1 };
    assert_eq!(q.apply(1), TWO_30);
    assert_eq!(q.apply(4), i32::MAX);
    assert_eq!(q.apply(-4), i32::MIN);
    assert_eq!(q.apply(i32::MAX), i32::MAX);
    assert_eq!(q.apply(i32::MIN), i32::MIN);
}

#[test]
fn ties_round_upward() {
    // M = 0.5 is exactly m = 2^30, s = 31. acc * M: 0.5 -> 1, -0.5 -> 0, 1.5 -> 2, -1.5 -> -1.
    let half = Requant::from_f64(0.5).unwrap();
    assert_eq!(half, Requant { multiplier: TWO_30, shift: 31 });
    assert_eq!([half.apply(1), half.apply(-1), half.apply(3), half.apply(-3)], [1, 0, 2, -1]);
    // M = 0.25: 0.5 -> 1, -0.5 -> 0, 1.5 -> 2, -1.5 -> -1, 0.25 -> 0, -0.75 -> -1.
    let quarter = Requant::from_f64(0.25).unwrap();
    let got = [2, -2, 6, -6, 1, -3].map(|acc| quarter.apply(acc));
    assert_eq!(got, [1, 0, 2, -1, 0, -1]);
}

#[test]
fn encoding_edge_cases() {
    let zero = Some(Requant { multiplier: 0, shift: 1 });
    assert_eq!(Requant::from_f64(0.0), zero);
    assert_eq!(Requant::from_f64(-0.0), zero);
    assert_eq!(Requant::from_f64(f64::from_bits(1)), zero);
    assert_eq!(Requant::from_f64(f64::MIN_POSITIVE), zero);
    assert_eq!(Requant::from_f64(2f64.powi(-32) * (1.0 - f64::EPSILON)), zero);
    assert_eq!(Requant::from_f64(2f64.powi(30)), None);
    assert_eq!(Requant::from_f64(1e300), None);
    assert_eq!(Requant::from_f64(-1e-300), None);
    assert_eq!(Requant::from_f64(-1.0), None);
    assert_eq!(Requant::from_f64(f64::NAN), None);
    assert_eq!(Requant::from_f64(f64::INFINITY), None);
    assert_eq!(Requant::from_f64(f64::NEG_INFINITY), None);
    // 2^30 - 1/2 is the mantissa 2^31 - 1 at shift 1; 2^30 - 1/4 rounds up to 2^31 and
    // would need shift 0.
    assert_eq!(Requant::from_f64(2f64.powi(30) - 0.5), Some(Requant { multiplier: i32::MAX, shift: 1 }));
    assert_eq!(Requant::from_f64(2f64.powi(30) - 0.25), None);
    // A mantissa that rounds up to 2^31 moves to the next exponent: 1 - 2^-40 encodes as 1.
    assert_eq!(Requant::from_f64(1.0 - 2f64.powi(-40)), Some(Requant { multiplier: TWO_30, shift: 30 }));
}

#[test]
fn exact_powers_of_two_encode_exactly() {
    for k in -32..30 {
        let r = 2f64.powi(k);
        let q = Requant::from_f64(r).unwrap();
        assert_eq!(q, Requant { multiplier: TWO_30, shift: 30 - k }, "2^{k}");
        assert_eq!(q.to_f64(), r);
    }
}

#[test]
fn finish_adds_the_zero_point_saturating_and_clamps() {
    let full = OutputQuant { zero_point: 10, min: -128, max: 127 };
    assert_eq!([-200, -138, -137, 0, 117, 118, 500].map(|v| full.finish(v)), [-128, -128, -127, 10, 127, 127, 127]);
    assert_eq!(full.finish(i32::MAX), 127);
    let negative = OutputQuant { zero_point: -10, ..full };
    assert_eq!(negative.finish(i32::MIN), -128);
    // A fused ReLU6-like clamp: [z, z + 6 / s].
    let relu = OutputQuant { zero_point: -20, min: -20, max: 40 };
    assert_eq!([-5, 0, 30, 60, 61].map(|v| relu.finish(v)), [-20, -20, 10, 40, 40]);
}
