//! Quantization parameters and observers against values derived by hand or computed
//! independently (sorting for percentiles, f64 formulas for scales).

use qforge::calib::Histogram;
use qforge::ops::Clamp;
use qforge::quant::params::{activation_qparams, clamp_bounds, quantize_per_channel, QParams};

#[test]
fn activation_range_is_widened_to_contain_zero() {
    // [0, 6] (ReLU6): scale 6/255, zero point -128 (0.0 is the lowest code).
    let q = activation_qparams(0.0, 6.0);
    assert_eq!(q.zero_point, -128);
    assert!((q.scale as f64 - 6.0 / 255.0).abs() < 1e-9);
    // [2, 4] widens to [0, 4].
    let q = activation_qparams(2.0, 4.0);
    assert_eq!(q.zero_point, -128);
    assert!((q.scale as f64 - 4.0 / 255.0).abs() < 1e-9);
    // [-4, -2] widens to [-4, 0]: 0.0 is the highest code.
    let q = activation_qparams(-4.0, -2.0);
    assert_eq!(q.zero_point, 127);
    // [-1, 1]: scale 2/255, zero point round(-128 + 127.5) = round(-0.5) = -1 (half away from zero).
    let q = activation_qparams(-1.0, 1.0);
    assert_eq!(q.zero_point, -1);
    // [-3, 1]: zero point round(-128 + 3 * 255 / 4) = round(63.25) = 63.
    assert_eq!(activation_qparams(-3.0, 1.0).zero_point, 63);
}

#[test]
fn zero_is_exactly_representable() {
    for (lo, hi) in [(-1.0f32, 1.0f32), (-0.3, 7.9), (-100.0, 0.01), (0.5, 3.0), (-2.5, -0.1), (-1e-3, 1e3)] {
        let q = activation_qparams(lo, hi);
        // Dequantizing the zero point gives exactly 0.0.
        assert_eq!((q.zero_point - q.zero_point) as f32 * q.scale, 0.0);
        assert!((-128..=127).contains(&q.zero_point));
        // The widened range is covered within one step at both ends.
        let top = (127 - q.zero_point) as f32 * q.scale;
        let bottom = (-128 - q.zero_point) as f32 * q.scale;
        assert!(top >= hi.max(0.0) - q.scale && bottom <= lo.min(0.0) + q.scale, "[{lo}, {hi}] -> {q:?}");
    }
}

#[test]
fn degenerate_ranges_get_a_sane_scale() {
    for (lo, hi) in [(0.0, 0.0), (-0.0, 0.0)] {
        let q = activation_qparams(lo, hi);
        assert!(q.scale > 0.0 && q.scale.is_finite());
    }
    // A constant non-zero tensor still has a non-degenerate range once widened to 0.
    let q = activation_qparams(3.0, 3.0);
    assert!((q.scale as f64 - 3.0 / 255.0).abs() < 1e-9);
}

#[test]
fn weights_are_symmetric_per_channel() {
    // Channel 0: max |w| = 2 -> scale 2/127; channel 1: all zero -> scale 1; channel 2: max 0.5.
    let w = [2.0, -1.0, 0.5, 0.0, 0.0, 0.0, -0.5, 0.25, 0.1];
    let (q, scales) = quantize_per_channel(&w, 3);
    assert_eq!(scales.len(), 3);
    assert!((scales[0] - 2.0 / 127.0).abs() < 1e-7);
    assert_eq!(scales[1], 1.0);
    assert!((scales[2] - 0.5 / 127.0).abs() < 1e-7);
    // -1 / (2/127) = -63.5 -> -64 (half away from zero); 0.5 -> 31.75 -> 32.
    assert_eq!(&q[..3], &[127, -64, 32]);
    assert_eq!(&q[3..6], &[0, 0, 0]);
    // 0.25 / (0.5/127) = 63.5 -> 64; 0.1 -> 25.4 -> 25.
    assert_eq!(&q[6..], &[-127, 64, 25]);
    assert!(q.iter().all(|&v| v >= -127), "-128 must never appear in weights");
}

#[test]
fn fused_activations_become_integer_bounds() {
    let q = QParams { scale: 6.0 / 255.0, zero_point: -128 };
    // ReLU6 over [0, 6]: the whole int8 range.
    assert_eq!(clamp_bounds(Clamp { min: 0.0, max: 6.0 }, q), (-128, 127));
    // ReLU with a range that includes negatives: the lower bound is the zero point.
    let q = QParams { scale: 0.05, zero_point: 10 };
    assert_eq!(clamp_bounds(Clamp { min: 0.0, max: f32::INFINITY }, q), (10, 127));
    // Clip(-1, 1) at scale 0.05, zero point 10: 10 - 20 = -10, 10 + 20 = 30.
    assert_eq!(clamp_bounds(Clamp { min: -1.0, max: 1.0 }, q), (-10, 30));
    // No clamp.
    assert_eq!(clamp_bounds(Clamp::NONE, q), (-128, 127));
}

/// The `p`th quantile of `values` by sorting (linear within ranks), the reference.
fn sorted_quantile(values: &[f32], p: f64) -> f32 {
    let mut v = values.to_vec();
    v.sort_by(f32::total_cmp);
    v[((p * v.len() as f64).ceil() as usize).clamp(1, v.len()) - 1]
}

#[test]
fn histogram_quantiles_agree_with_sorting() {
    // A deterministic, skewed sample: squares of a low-discrepancy sequence, with outliers.
    let mut values: Vec<f32> = (0..20_000).map(|i| ((i as f64 * 0.618_033_988_7) % 1.0).powi(2) as f32 * 4.0).collect();
    values.extend([50.0, 80.0, -30.0]);
    let (lo, hi) = values.iter().fold((f32::MAX, f32::MIN), |(a, b), &v| (a.min(v), b.max(v)));
    let mut h = Histogram::new(lo, hi, 2048);
    h.add(&values[..10_000]);
    h.add(&values[10_000..]);
    let bin = (hi - lo) / 2048.0;
    for p in [0.0001, 0.01, 0.5, 0.9, 0.99, 0.9999] {
        let (a, b) = (h.quantile(p), sorted_quantile(&values, p));
        assert!((a - b).abs() <= 1.5 * bin, "p = {p}: histogram {a}, sorted {b}, bin {bin}");
    }
    // The outliers sit beyond the 99.99th percentile.
    assert!(h.quantile(0.9999) < 5.0 && h.quantile(0.0001) > -1.0);
    assert_eq!(h.counts.iter().sum::<u64>(), values.len() as u64);
}
