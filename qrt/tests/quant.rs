//! f32 <-> int8 at the model boundary.

use proptest::prelude::*;
use qrt::cpu::Backend;
use qrt::quant::{dequantize, quantize, quantize_on, quantize_one};

/// The documented formula with std's `f32::round` (halves away from zero).
fn model(scale: f32, zero_point: i32, x: f32) -> i8 {
    let scaled = x / scale;
    if scaled.is_nan() {
        return zero_point as i8;
    }
    // `as i32` saturates, so huge values and infinities stay huge.
    (scaled.round() as i32).saturating_add(zero_point).clamp(-128, 127) as i8
}

#[test]
fn rounding_edges() {
    let cases: [(f32, i8); 12] = [
        (0.0, 0),
        (-0.0, 0),
        (0.5, 1),
        (-0.5, -1),
        (0.499_999_97, 0),
        (-0.499_999_97, 0),
        (1.5, 2),
        (2.5, 3),
        (-2.5, -3),
        (126.5, 127),
        (127.49, 127),
        (-128.4, -128),
    ];
    for (x, want) in cases {
        assert_eq!(quantize_one(1.0, 0, x), want, "x = {x}");
    }
}

#[test]
fn saturation_and_non_finite_values() {
    for z in [-128, -3, 0, 127] {
        assert_eq!(quantize_one(0.1, z, 1e30), 127);
        assert_eq!(quantize_one(0.1, z, -1e30), -128);
        assert_eq!(quantize_one(0.1, z, f32::MAX), 127);
        assert_eq!(quantize_one(0.1, z, f32::INFINITY), 127);
        assert_eq!(quantize_one(0.1, z, f32::NEG_INFINITY), -128);
        assert_eq!(quantize_one(0.1, z, f32::NAN), z as i8);
        assert_eq!(quantize_one(0.1, z, 0.0), z as i8);
    }
    // Values that overflow only after the zero point is added.
    assert_eq!(quantize_one(1.0, 100, 27.0), 127);
    assert_eq!(quantize_one(1.0, 100, 28.0), 127);
    assert_eq!(quantize_one(1.0, -100, -28.0), -128);
    assert_eq!(quantize_one(1.0, -100, -29.0), -128);
    // x / scale uses division: 3 / 0.5 = 6.
    assert_eq!(quantize_one(0.5, 1, 3.0), 7);
}

#[test]
fn slices() {
    let input = [0.0, 0.25, -0.25, 1.0, f32::NAN, 100.0];
    let mut q = [0i8; 6];
    quantize(0.5, -1, &input, &mut q);
    assert_eq!(q, [-1, 0, -2, 1, -1, 127]);
    let mut x = [0f32; 6];
    dequantize(0.5, -1, &q, &mut x);
    assert_eq!(x, [0.0, 0.5, -0.5, 1.0, 0.0, 64.0]);
    let mut ends = [0f32; 2];
    dequantize(0.25, 127, &[-128, 127], &mut ends);
    assert_eq!(ends, [-63.75, 0.0]);
}

#[test]
#[should_panic(expected = "lengths differ")]
fn length_mismatch_is_caught() {
    quantize(1.0, 0, &[0.0; 3], &mut [0; 2]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn matches_std_rounding(
        scale in prop_oneof![1e-4f32..1.0, Just(1.0f32)],
        z in -128..=127i32,
        x in prop_oneof![any::<f32>(), -200.0f32..200.0, (-400i32..400).prop_map(|h| h as f32 / 2.0)],
    ) {
        prop_assert_eq!(quantize_one(scale, z, x), model(scale, z, x));
    }

    #[test]
    fn round_trip_is_exact_for_representable_values(q in any::<i8>(), z in -128..=127i32, e in -10..4i32) {
        let scale = 2f32.powi(e);
        let mut x = [0f32];
        dequantize(scale, z, &[q], &mut x);
        let expected = q as i32 - z;
        prop_assert_eq!(x[0], expected as f32 * scale);
        if (-128..=127).contains(&(expected + z)) {
            prop_assert_eq!(quantize_one(scale, z, x[0]), q);
        }
    }
}

/// The slice version is written differently (no branches); it must agree with
/// `quantize_one` on every kind of value: halves on both sides, values just inside and
/// outside the clamp, huge and tiny magnitudes, signed zeros, NaN and infinities.
#[test]
fn slice_quantize_equals_quantize_one() {
    let mut xs = vec![0.0f32, -0.0, f32::NAN, -f32::NAN, f32::INFINITY, f32::NEG_INFINITY, f32::MAX, f32::MIN];
    xs.extend([f32::MIN_POSITIVE, -f32::MIN_POSITIVE, 1e-45, -1e-45, 1e30, -1e30]);
    for i in -2100..=2100 {
        let h = i as f32 * 0.5;
        xs.extend([h, h.next_up(), h.next_down()]);
    }
    let mut state = 0x2545_f491_4f6c_dd1du64;
    for _ in 0..20_000 {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        xs.push(f32::from_bits(state as u32));
    }
    for scale in [1.0f32, 0.5, 0.1, 0.017_3, 3.0, 1e-6, 7e4] {
        for z in [i32::MIN, -100_000, -129, -128, -3, 0, 5, 127, 128, 1 << 21, i32::MAX] {
            let mut got = vec![0i8; xs.len()];
            quantize(scale, z, &xs, &mut got);
            for (x, g) in xs.iter().zip(&got) {
                assert_eq!(*g, quantize_one(scale, z, *x), "scale {scale}, zero point {z}, x {x:e}");
            }
        }
    }
}

/// The slice version multiplies by the reciprocal and divides only where the product lies
/// near a half: the values where the product and the quotient can round apart are the
/// products' halves `(k + 1/2) * scale` and the floats a few units away, at every scale.
#[test]
fn slice_quantize_divides_where_the_reciprocal_could_round_apart() {
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let mut scales = vec![0.1f32, 0.017_3, 3.0, 1e-6, 7e4, 0.038_561_475, f32::MIN_POSITIVE, 1e38];
    // Scales spread over 2^-20 to 2^8, with random mantissas.
    scales.extend(
        (0..60).map(|_| 2f32.powi((next() % 29) as i32 - 20) * (1.0 + (next() % 8_388_608) as f32 / 8_388_608.0)),
    );
    let backends: Vec<Backend> = Backend::ALL.iter().copied().filter(|b| b.available()).collect();
    for scale in scales {
        let mut xs = Vec::new();
        for k in -1100..1100 {
            let half = (k as f32 + 0.5) * scale;
            let (mut up, mut down) = (half, half);
            xs.push(half);
            for _ in 0..4 {
                (up, down) = (up.next_up(), down.next_down());
                xs.extend([up, down]);
            }
        }
        for z in [-128, -3, 0, 127] {
            let want: Vec<i8> = xs.iter().map(|&x| quantize_one(scale, z, x)).collect();
            for &b in &backends {
                let mut got = vec![0i8; xs.len()];
                quantize_on(b, scale, z, &xs, &mut got);
                if let Some(i) = (0..xs.len()).find(|&i| got[i] != want[i]) {
                    panic!(
                        "{}: scale {scale:e}, zero point {z}, x {:e}: {} against {}",
                        b.name(),
                        xs[i],
                        got[i],
                        want[i]
                    );
                }
            }
        }
    }
}
