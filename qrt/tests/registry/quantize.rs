//! `f32_qs8_vcvt`: [`qrt::quant::quantize_on`], f32 to int8 at the model boundary. It has
//! one body, written without branches so that the compiler vectorizes it, compiled once per
//! x86 vector width (baseline, AVX2, AVX-512); its scalar twin is `quantize_one`, and its
//! reference the formula with std's `f32::round`.

use proptest::prelude::*;
use qrt::cpu::Backend;
use qrt::quant;

use super::{guarded, inner, model, Kernel, Placed};
use crate::common::Rng;

/// The inputs' values.
#[derive(Clone, Copy, Debug)]
pub enum Floats {
    /// Uniform over the representable range and a little beyond.
    InRange,
    /// Exact halves `(t + 1/2) * scale` and their neighbours: the ties.
    Halves,
    /// Values that saturate at both ends, and those just inside each end.
    Saturating,
    /// NaN, infinities, signed zeros, subnormals, the largest and smallest finite values.
    Specials,
    /// Any bit pattern.
    Bits,
}

#[derive(Clone, Debug)]
pub struct QuantParams {
    pub len: usize,
    pub scale: f32,
    pub zero_point: i32,
    pub floats: Floats,
    /// Offsets of the input and the output in their buffers.
    pub offsets: (usize, usize),
    pub seed: u64,
}

impl QuantParams {
    pub fn new(len: usize, seed: u64) -> QuantParams {
        let s = seed as usize;
        let floats = [Floats::InRange, Floats::Halves, Floats::Saturating, Floats::Specials, Floats::Bits][s % 5];
        QuantParams { len, scale: 0.0173, zero_point: -3, floats, offsets: (s % 16, (s / 5) % 64), seed }
    }
}

pub struct QuantCase {
    p: QuantParams,
    input: Placed<f32>,
}

pub struct Quantize;

impl Quantize {
    fn output(c: &QuantCase, poison: i8, f: impl FnOnce(&mut [i8])) -> Vec<i8> {
        let mut out = guarded(c.p.offsets.1 + c.p.len, poison);
        f(&mut inner(&mut out)[c.p.offsets.1..]);
        out
    }
}

fn floats(rng: &mut Rng, p: &QuantParams) -> Vec<f32> {
    let (s, z) = (p.scale, p.zero_point as f32);
    let specials = [
        f32::NAN,
        -f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        0.0,
        -0.0,
        f32::MIN_POSITIVE,
        -f32::MIN_POSITIVE,
        1e-45,
        -1e-45,
        f32::MAX,
        f32::MIN,
    ];
    (0..p.len)
        .map(|_| {
            let pick = |rng: &mut Rng, n: usize| rng.range(0, n as i64 - 1) as usize;
            match p.floats {
                Floats::InRange => ((rng.unit() * 300.0 - 150.0) as f32 - z) * s,
                Floats::Halves => {
                    let half = (rng.range(-300, 300) as f32 + 0.5) * s;
                    [half, half.next_up(), half.next_down()][pick(rng, 3)]
                }
                Floats::Saturating => {
                    // Just inside, on and beyond 127.5 - z and -128.5 - z, and far beyond.
                    let edge = [127.5 - z, -128.5 - z, 126.5 - z, -127.5 - z, 1e6, -1e6][pick(rng, 6)] * s;
                    [edge, edge.next_up(), edge.next_down()][pick(rng, 3)]
                }
                Floats::Specials => specials[pick(rng, specials.len())],
                Floats::Bits => f32::from_bits(rng.next_u64() as u32),
            }
        })
        .collect()
}

impl Kernel for Quantize {
    type Params = QuantParams;
    type Case = QuantCase;
    const RANDOM_CASES: u32 = 128;

    fn build(p: &QuantParams) -> QuantCase {
        let mut rng = Rng::new(p.seed);
        QuantCase { input: Placed::new(floats(&mut rng, p), p.offsets.0), p: p.clone() }
    }

    fn definition(c: &QuantCase, poison: i8) -> Vec<i8> {
        Quantize::output(c, poison, |out| {
            for (o, &x) in out.iter_mut().zip(c.input.get()) {
                *o = quant::quantize_one(c.p.scale, c.p.zero_point, x);
            }
        })
    }

    /// The formula holds for zero points in int8 (the contract); `quantize_one` clamps
    /// `x / scale` to ±1024 before adding the zero point, which differs from it only for
    /// zero points far outside.
    fn reference(c: &QuantCase, poison: i8) -> Option<Vec<i8>> {
        if !(-128..=127).contains(&c.p.zero_point) {
            return None;
        }
        Some(Quantize::output(c, poison, |out| {
            for (o, &x) in out.iter_mut().zip(c.input.get()) {
                *o = model::quantize(c.p.scale, c.p.zero_point, x);
            }
        }))
    }

    fn run(backend: Backend, c: &QuantCase, poison: i8) -> Vec<i8> {
        Quantize::output(c, poison, |out| quant::quantize_on(backend, c.p.scale, c.p.zero_point, c.input.get(), out))
    }

    fn locate(c: &QuantCase, i: usize) -> String {
        match i.checked_sub(c.p.offsets.1) {
            Some(e) => format!("element {e} (x = {:e})", c.input.get()[e]),
            None => format!("byte {} before the output slice", c.p.offsets.1 - i),
        }
    }

    fn edge_shapes() -> Vec<QuantParams> {
        // Every remainder of vectors of 4 to 64 lanes, and every kind of value at each.
        let lengths = (0..=70).chain([127, 128, 129, 255, 256, 257, 1000, 224 * 224 * 3]);
        lengths.enumerate().map(|(i, len)| QuantParams::new(len, i as u64 + 1)).collect()
    }

    /// Zero points at -128, 0 and 127, and beyond int8 (outside the contract, still equal
    /// to `quantize_one`).
    fn zero_point_extremes() -> Vec<QuantParams> {
        let mut cases = Vec::new();
        for zero_point in [-128, 0, 127, -129, 128, -(1 << 20), 1 << 20, i32::MIN, i32::MAX] {
            for floats in [Floats::InRange, Floats::Halves, Floats::Saturating, Floats::Specials, Floats::Bits] {
                let p = QuantParams::new(300, 100 + cases.len() as u64);
                cases.push(QuantParams { zero_point, floats, ..p });
            }
        }
        cases
    }

    /// The scale is the multiplier here: from the smallest normal to the largest finite.
    fn multiplier_extremes() -> Vec<QuantParams> {
        let mut cases = Vec::new();
        for scale in [f32::MIN_POSITIVE, 1e-30, 1e-6, 0.0173, 0.5, 1.0, 3.0, 7e4, 1e30, f32::MAX] {
            for floats in [Floats::InRange, Floats::Halves, Floats::Saturating, Floats::Specials, Floats::Bits] {
                let p = QuantParams::new(300, 200 + cases.len() as u64);
                cases.push(QuantParams { scale, floats, ..p });
            }
        }
        cases
    }

    /// The only clamp is int8's: values at, just inside and beyond both ends, for zero
    /// points at both ends.
    fn clamps() -> Vec<QuantParams> {
        let mut cases = Vec::new();
        for zero_point in [-128, -3, 0, 127] {
            for scale in [1.0, 0.0173, 1e-6] {
                let p = QuantParams::new(500, 300 + cases.len() as u64);
                cases.push(QuantParams { zero_point, scale, floats: Floats::Saturating, ..p });
            }
        }
        cases
    }

    fn random() -> BoxedStrategy<QuantParams> {
        let floats = prop_oneof![
            Just(Floats::InRange),
            Just(Floats::Halves),
            Just(Floats::Saturating),
            Just(Floats::Specials),
            Just(Floats::Bits)
        ];
        let scale = prop_oneof![1e-4f32..1.0, 1.0f32..1e4, Just(1.0f32)];
        (0usize..600, scale, -128i32..=127, floats, (0usize..16, 0usize..64), any::<u64>())
            .prop_map(|(len, scale, zero_point, floats, offsets, seed)| QuantParams {
                len,
                scale,
                zero_point,
                floats,
                offsets,
                seed,
            })
            .boxed()
    }
}
