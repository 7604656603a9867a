//! The parameters every requantizing kernel shares: output zero points and clamps, how the
//! per-channel multipliers, shifts and biases are drawn, and the values of inputs and
//! weights. Each family picks from these tables, so "every zero point extreme" and "clamps
//! at both ends" mean the same cases for every kernel.

use proptest::prelude::*;
use qrt::requant::{OutputQuant, Requant};

use crate::common::Rng;

/// The whole int8 range, zero point 0.
pub const FULL: OutputQuant = OutputQuant { zero_point: 0, min: -128, max: 127 };

/// Zero points at both ends of int8, and 0.
pub const ZERO_POINTS: [i32; 3] = [-128, 0, 127];

/// Clamps: the full range, ReLU and its mirror image, ReLU6-like, narrow ranges at each end,
/// `min == max` at the bottom, the middle and the top, and inverted (`min > max`, where
/// the definition gives `max`).
pub const CLAMPS: [(i8, i8); 11] = [
    (-128, 127),
    (0, 127),
    (-128, 0),
    (-3, 9),
    (-128, -120),
    (120, 127),
    (-128, -128),
    (0, 0),
    (127, 127),
    (5, 5),
    (10, -10),
];

/// Every clamp with output zero points at both ends, 0 and inside the clamp.
pub fn clamped_outputs() -> Vec<OutputQuant> {
    let mut outs = Vec::new();
    for (min, max) in CLAMPS {
        for zero_point in [-128, 0, 127, (min as i32 + max as i32) / 2] {
            outs.push(OutputQuant { zero_point, min, max });
        }
    }
    outs
}

/// Q31 mantissas at the ends of `[2^30, 2^31)`, 0 (the encoding of multipliers below
/// `2^-32`), and two between.
pub const MULTIPLIERS: [i32; 5] = [0, 1 << 30, (1 << 30) + 1, 1_518_500_250, i32::MAX];

/// Right shifts at both ends of `[1, 62]` and on both sides of the SIMD paths' changes of
/// form (30/31/32, 32/33).
pub const SHIFTS: [i32; 16] = [1, 2, 3, 15, 16, 29, 30, 31, 32, 33, 34, 47, 48, 60, 61, 62];

/// Every `(multiplier, shift)` of the grid `MULTIPLIERS x SHIFTS` (80 pairs).
pub fn grid() -> Vec<(i32, i32)> {
    MULTIPLIERS.iter().flat_map(|&m| SHIFTS.iter().map(move |&s| (m, s))).collect()
}

/// The encodings of the smallest and largest real multipliers `Requant::from_f64` accepts.
pub fn encodable_extremes() -> [(i32, i32); 4] {
    let enc = |r: f64| {
        let q = Requant::from_f64(r).expect("encodable");
        (q.multiplier, q.shift)
    };
    // Below 2^-32 (0), 2^-32 itself, and just under 2^30 (shift 1).
    [enc(1e-10), enc(2f64.powi(-32)), enc(2f64.powi(30) * (1.0 - 2f64.powi(-31))), enc(2f64.powi(29) * 1.5)]
}

/// How per-channel multipliers and shifts are drawn.
#[derive(Clone, Copy, Debug)]
pub enum Scales {
    /// Multipliers of trained layers, `1e-4` to `2` (shifts 30 to 45), each channel its own.
    Typical,
    /// Multipliers of trained layers below 1/4, `1e-4` to `0.2` (shifts 33 to 45): every
    /// block of 16 channels on the x86 kernels' fast form, which typical multipliers up to
    /// 2 rarely give a whole block.
    Small,
    /// One typical multiplier for every channel (per-tensor weights).
    PerTensor,
    /// Each channel its own multiplier, log-uniform over every encodable value
    /// `[2^-32, 2^30)`: shifts from 1 to 62 side by side in every SIMD block.
    AnyPerChannel,
    /// Channel `c` takes the `c`-th pair of [`grid`] (cyclically).
    Grid,
    /// Every channel the same `(multiplier, shift)`.
    Fixed(i32, i32),
}

/// `n` multipliers and shifts drawn as `scales` says.
pub fn requants(rng: &mut Rng, scales: Scales, n: usize) -> (Vec<i32>, Vec<i32>) {
    let encode = |r: f64| {
        let q = Requant::from_f64(r).expect("encodable multiplier");
        (q.multiplier, q.shift)
    };
    let typical = |rng: &mut Rng| encode(1e-4 * 20_000f64.powf(rng.unit()));
    let one = typical(rng);
    let grid = grid();
    let pairs: Vec<(i32, i32)> = (0..n)
        .map(|c| match scales {
            Scales::Typical => typical(rng),
            Scales::Small => encode(1e-4 * 2_000f64.powf(rng.unit())),
            Scales::PerTensor => one,
            Scales::AnyPerChannel => encode(2f64.powf(-32.0 + 61.9 * rng.unit())),
            Scales::Grid => grid[c % grid.len()],
            Scales::Fixed(m, s) => (m, s),
        })
        .collect();
    pairs.into_iter().unzip()
}

/// How raw biases (before the input zero point is folded in) are drawn.
#[derive(Clone, Copy, Debug)]
pub enum Bias {
    /// `±50,000`.
    Typical,
    /// Anywhere in i32: accumulators wrap.
    Wide,
    /// Per channel one of: 0, ±1, the ends of i32, `±2^s` (the SIMD paths' accumulator
    /// clamp) and its neighbours, and accumulators whose product with the multiplier is an
    /// exact tie (`acc * m = (t + 1/2) * 2^s`, which must round upward). With inputs at the
    /// zero point the accumulator is the raw bias itself.
    Edges,
    /// Uniform over the accumulators whose output lies in about `±200` before the zero
    /// point (`|acc| <= 200 * 2^s / m`): with inputs at the zero point, every rounding of
    /// the requantization at this multiplier and shift, without saturation.
    InRange,
}

/// One raw bias per channel.
pub fn raw_bias(rng: &mut Rng, bias: Bias, multiplier: &[i32], shift: &[i32]) -> Vec<i32> {
    (0..multiplier.len())
        .map(|c| match bias {
            Bias::Typical => rng.range(-50_000, 50_000) as i32,
            Bias::Wide => rng.next_u64() as i32,
            Bias::InRange => {
                let bound = if multiplier[c] == 0 { 1e6 } else { 200.0 * 2f64.powi(shift[c]) / multiplier[c] as f64 };
                let bound = bound.min(i32::MAX as f64) as i64;
                rng.range(-bound, bound) as i32
            }
            Bias::Edges => {
                let bound = 1i64 << shift[c].min(30);
                let tie = tie(multiplier[c], shift[c]);
                let choices = [
                    Some(0),
                    Some(1),
                    Some(-1),
                    Some(i32::MAX as i64),
                    Some(i32::MIN as i64),
                    Some(bound),
                    Some(bound - 1),
                    Some(bound + 1),
                    Some(-bound),
                    Some(-bound - 1),
                    tie,
                    tie.map(|t| t + 1),
                    tie.map(|t| t - 1),
                    tie.map(|t| -t),
                ];
                let pick = choices[rng.range(0, choices.len() as i64 - 1) as usize].or(tie).unwrap_or(bound);
                pick.clamp(i32::MIN as i64, i32::MAX as i64) as i32
            }
        })
        .collect()
}

/// An i32 accumulator `acc` with `acc * m + 2^(s-1)` a multiple of `2^s` (an exact tie of
/// the rounding), if one exists.
pub fn tie(m: i32, s: i32) -> Option<i64> {
    if m == 0 {
        return None;
    }
    let a = m.trailing_zeros() as i32;
    if a > s - 1 {
        return None;
    }
    // acc * m' = 2^(s-1-a) (mod 2^(s-a)) with m' odd: acc = 2^(s-1-a) * m'^-1.
    let odd = (m >> a) as i64 as u64;
    let mut inv = odd;
    for _ in 0..6 {
        inv = inv.wrapping_mul(2u64.wrapping_sub(odd.wrapping_mul(inv)));
    }
    let modulus = 1i128 << (s - a);
    let acc = ((1i128 << (s - 1 - a)) * inv as i128).rem_euclid(modulus);
    [acc, acc - modulus].into_iter().find(|&v| (i32::MIN as i128..=i32::MAX as i128).contains(&v)).map(|v| v as i64)
}

/// The accumulators each multiplier family runs with: small and typical, the largest
/// (saturating), wrapping, at the zero point with edge biases (ties, `±2^s`, the ends of
/// i32), and at the zero point over the whole unsaturated output range.
pub const ACCUMULATORS: [(Values, Bias); 5] = [
    (Values::Random, Bias::Typical),
    (Values::Extreme, Bias::Typical),
    (Values::Random, Bias::Wide),
    (Values::ZeroPoint, Bias::Edges),
    (Values::ZeroPoint, Bias::InRange),
];

/// The accumulators each `(multiplier, shift)` pair runs with alone: saturating, at the
/// edges, and over the whole unsaturated range.
pub const FIXED_ACCUMULATORS: [(Values, Bias); 3] = [ACCUMULATORS[1], ACCUMULATORS[3], ACCUMULATORS[4]];

/// Values of inputs and weights.
#[derive(Clone, Copy, Debug)]
pub enum Values {
    /// Uniform activations, weights uniform in `[-127, 127]`.
    Random,
    /// Activations mostly -128 (some 127), each channel's weights all +127 or all -127:
    /// the largest accumulators.
    Extreme,
    /// Every activation equal to the input zero point, so that each accumulator is its
    /// channel's raw bias.
    ZeroPoint,
}

impl Values {
    /// `len` activations.
    pub fn activations(self, rng: &mut Rng, len: usize, zero_point: i32) -> Vec<i8> {
        match self {
            Values::Random => rng.activations(len),
            Values::Extreme => (0..len).map(|_| if rng.next_u64().is_multiple_of(8) { 127 } else { -128 }).collect(),
            Values::ZeroPoint => vec![zero_point as i8; len],
        }
    }

    /// `channels * per_channel` weights, channel-major.
    pub fn weights(self, rng: &mut Rng, channels: usize, per_channel: usize) -> Vec<i8> {
        match self {
            Values::Extreme => (0..channels * per_channel)
                .map(|i| if (i / per_channel.max(1)).is_multiple_of(2) { 127 } else { -127 })
                .collect(),
            _ => rng.weights(channels * per_channel),
        }
    }
}

/// The raw bias with the input zero point folded in, as the compiler stores it:
/// `raw - z_in * Σ w` (wrapping, like the kernels' accumulators).
pub fn fold(raw: &[i32], z_in: i32, weights: &[i8]) -> Vec<i32> {
    let per = if raw.is_empty() { 0 } else { weights.len() / raw.len() };
    raw.iter()
        .enumerate()
        .map(|(c, &b)| {
            let sum: i32 = weights[c * per..(c + 1) * per].iter().map(|&w| w as i32).sum();
            b.wrapping_sub(z_in.wrapping_mul(sum))
        })
        .collect()
}

pub fn any_scales() -> BoxedStrategy<Scales> {
    prop_oneof![
        2 => Just(Scales::Typical),
        2 => Just(Scales::Small),
        1 => Just(Scales::PerTensor),
        2 => Just(Scales::AnyPerChannel),
        1 => Just(Scales::Grid),
        1 => (0..MULTIPLIERS.len(), 0..SHIFTS.len()).prop_map(|(m, s)| Scales::Fixed(MULTIPLIERS[m], SHIFTS[s])),
    ]
    .boxed()
}

pub fn any_bias() -> BoxedStrategy<Bias> {
    prop_oneof![3 => Just(Bias::Typical), 1 => Just(Bias::Wide), 1 => Just(Bias::Edges), 1 => Just(Bias::InRange)]
        .boxed()
}

pub fn any_values() -> BoxedStrategy<Values> {
    prop_oneof![4 => Just(Values::Random), 1 => Just(Values::Extreme), 1 => Just(Values::ZeroPoint)].boxed()
}

/// Any zero point and clamp, the full range half of the time.
pub fn any_output() -> BoxedStrategy<OutputQuant> {
    prop_oneof![
        any::<i8>().prop_map(|z| OutputQuant { zero_point: z as i32, ..FULL }),
        (any::<i8>(), any::<i8>(), any::<i8>()).prop_map(|(z, min, max)| OutputQuant {
            zero_point: z as i32,
            min,
            max
        }),
    ]
    .boxed()
}
