//! `qs8_vadd`: [`qrt::add::add_on`], elementwise add with two rescaled inputs (AVX2 32 and
//! AVX-512 64 elements per step; the NEON hook runs the scalar twin), against `add_scalar`
//! and an i128 model.

use proptest::prelude::*;
use qrt::add::{self, Add};
use qrt::cpu::Backend;
use qrt::requant::OutputQuant;

use super::params::*;
use super::{guarded, inner, model, Kernel, Placed};
use crate::common::Rng;

/// How the constants are given.
#[derive(Clone, Copy, Debug)]
pub enum Consts {
    /// Real rescale factors, encoded by `encode_pair` as the compiler does.
    Reals(f64, f64),
    /// Multipliers in `[0, 2^21)` and a shift in `[1, 30]`, as they are.
    Raw(i32, i32, i32),
}

/// The inputs' values.
#[derive(Clone, Copy, Debug)]
pub enum AddValues {
    Random,
    /// -128 and 127 only.
    Extreme,
    /// Each input at its zero point.
    ZeroPoints,
    /// Every pair `(a, b)` once (`len` is then 65,536).
    AllPairs,
}

#[derive(Clone, Debug)]
pub struct AddParams {
    pub len: usize,
    pub z_a: i32,
    pub z_b: i32,
    pub consts: Consts,
    pub out: OutputQuant,
    pub values: AddValues,
    /// Offsets of `a`, `b` and the output in their buffers (alignment).
    pub offsets: [usize; 3],
    pub seed: u64,
}

impl AddParams {
    pub fn new(len: usize, seed: u64) -> AddParams {
        let s = seed as usize;
        AddParams {
            len,
            z_a: 5,
            z_b: -20,
            consts: Consts::Reals(0.37, 1.9),
            out: OutputQuant { zero_point: -3, ..FULL },
            values: AddValues::Random,
            offsets: [s % 64, (s / 3) % 64, (s / 7) % 64],
            seed,
        }
    }
}

pub struct AddCase {
    p: Add,
    a: Placed<i8>,
    b: Placed<i8>,
    out_at: usize,
}

pub struct Vadd;

impl Vadd {
    fn output(c: &AddCase, poison: i8, f: impl FnOnce(&mut [i8])) -> Vec<i8> {
        let mut out = guarded(c.out_at + c.p.len, poison);
        f(&mut inner(&mut out)[c.out_at..]);
        out
    }
}

impl Kernel for Vadd {
    type Params = AddParams;
    type Case = AddCase;
    const RANDOM_CASES: u32 = 128;

    fn build(p: &AddParams) -> AddCase {
        let mut rng = Rng::new(p.seed);
        let (a_multiplier, b_multiplier, shift) = match p.consts {
            Consts::Reals(r_a, r_b) => add::encode_pair(r_a, r_b).expect("encodable factors"),
            Consts::Raw(m_a, m_b, s) => (m_a, m_b, s),
        };
        let len = if let AddValues::AllPairs = p.values { 1 << 16 } else { p.len };
        let (a, b): (Vec<i8>, Vec<i8>) = match p.values {
            AddValues::Random => (rng.activations(len), rng.activations(len)),
            AddValues::Extreme => {
                let pick = |rng: &mut Rng| if rng.next_u64().is_multiple_of(2) { -128 } else { 127 };
                (0..len).map(|_| (pick(&mut rng), pick(&mut rng))).unzip()
            }
            AddValues::ZeroPoints => (vec![p.z_a as i8; len], vec![p.z_b as i8; len]),
            AddValues::AllPairs => (0..len).map(|i| ((i >> 8) as u8 as i8, i as u8 as i8)).unzip(),
        };
        let p2 =
            Add { len, a_zero_point: p.z_a, a_multiplier, b_zero_point: p.z_b, b_multiplier, shift, output: p.out };
        AddCase { p: p2, a: Placed::new(a, p.offsets[0]), b: Placed::new(b, p.offsets[1]), out_at: p.offsets[2] }
    }

    fn definition(c: &AddCase, poison: i8) -> Vec<i8> {
        Vadd::output(c, poison, |out| add::add_scalar(&c.p, c.a.get(), c.b.get(), out))
    }

    fn reference(c: &AddCase, poison: i8) -> Option<Vec<i8>> {
        let p = &c.p;
        Some(Vadd::output(c, poison, |out| {
            for ((o, &a), &b) in out.iter_mut().zip(c.a.get()).zip(c.b.get()) {
                let (z, m) = ((p.a_zero_point, p.b_zero_point), (p.a_multiplier, p.b_multiplier));
                *o = model::add(a, b, z, m, p.shift, p.output);
            }
        }))
    }

    fn run(b: Backend, c: &AddCase, poison: i8) -> Vec<i8> {
        Vadd::output(c, poison, |out| add::add_on(b, &c.p, c.a.get(), c.b.get(), out))
    }

    fn locate(c: &AddCase, i: usize) -> String {
        match i.checked_sub(c.out_at) {
            Some(e) => format!("element {e} (a = {}, b = {})", c.a.get()[e], c.b.get()[e]),
            None => format!("byte {} before the output slice", c.out_at - i),
        }
    }

    fn edge_shapes() -> Vec<AddParams> {
        // Every remainder of the 32- and 64-element steps, a few large lengths, and every
        // alignment of the three slices (the seed moves them).
        let lengths = (0..=130).chain([191, 192, 193, 255, 256, 257, 511, 512, 513, 1000, 4096 + 33, 56 * 56 * 24]);
        lengths.enumerate().map(|(i, len)| AddParams::new(len, i as u64 + 1)).collect()
    }

    fn zero_point_extremes() -> Vec<AddParams> {
        let mut cases = Vec::new();
        for z_a in ZERO_POINTS {
            for z_b in ZERO_POINTS {
                for z_out in ZERO_POINTS {
                    for values in [AddValues::Random, AddValues::Extreme, AddValues::ZeroPoints] {
                        for consts in [Consts::Reals(1.0, 1.0), Consts::Reals(0.01, 0.7), Consts::Reals(3.5, 0.25)] {
                            let p = AddParams::new(97, 1000 + cases.len() as u64);
                            let out = OutputQuant { zero_point: z_out, ..FULL };
                            cases.push(AddParams { z_a, z_b, consts, out, values, ..p });
                        }
                    }
                }
            }
        }
        cases
    }

    fn multiplier_extremes() -> Vec<AddParams> {
        let mut cases = Vec::new();
        let top = (1 << 21) - 1;
        // Raw multipliers at both ends of [0, 2^21) with shifts at both ends of [1, 30]:
        // |acc| up to 2^30 with extreme inputs at extreme zero points.
        for shift in [1, 2, 15, 29, 30] {
            for (m_a, m_b) in [(0, 0), (top, 0), (0, top), (top, top), (1, 1 << 20), (1, 1)] {
                for (z_a, z_b, values) in
                    [(-128, 127, AddValues::Extreme), (127, -128, AddValues::Extreme), (0, 0, AddValues::AllPairs)]
                {
                    let p = AddParams::new(200, 2000 + cases.len() as u64);
                    cases.push(AddParams { z_a, z_b, consts: Consts::Raw(m_a, m_b, shift), values, ..p });
                }
            }
        }
        // The encoding's extremes: factors that round to 0, tiny ones (shift 30), and the
        // largest it accepts.
        for (r_a, r_b) in [(1e-12, 1e-12), (1e-6, 2e-9), (1_048_575.5, 1_048_575.5), (1_048_575.5, 1e-9), (0.0, 700.0)]
        {
            for values in [AddValues::Extreme, AddValues::AllPairs] {
                let p = AddParams::new(200, 2000 + cases.len() as u64);
                cases.push(AddParams { z_a: 3, z_b: -9, consts: Consts::Reals(r_a, r_b), values, ..p });
            }
        }
        cases
    }

    fn clamps() -> Vec<AddParams> {
        clamped_outputs()
            .into_iter()
            .enumerate()
            .flat_map(|(i, out)| {
                let p = AddParams::new(131, 3000 + i as u64);
                [
                    AddParams { out, ..p.clone() },
                    AddParams { out, values: AddValues::AllPairs, consts: Consts::Reals(2.0, 3.0), ..p },
                ]
            })
            .collect()
    }

    /// Add has no channels; its per-input constants differ instead: one factor up to 2^20
    /// times the other, each way round.
    fn per_channel() -> Vec<AddParams> {
        let mut cases = Vec::new();
        for (r_a, r_b) in [(1.0, 1e-6), (1e-6, 1.0), (70_000.0, 0.1), (0.1, 70_000.0), (0.5, 0.5), (0.999, 0.001)] {
            for values in [AddValues::Random, AddValues::AllPairs] {
                let p = AddParams::new(257, 4000 + cases.len() as u64);
                cases.push(AddParams { consts: Consts::Reals(r_a, r_b), values, ..p });
            }
        }
        cases
    }

    fn random() -> BoxedStrategy<AddParams> {
        let factor = || prop_oneof![0.0..4.0f64, 1e-4..1e-2f64, 1.0..70_000.0f64];
        let consts = prop_oneof![
            (factor(), factor()).prop_map(|(a, b)| Consts::Reals(a, b)),
            (0i32..1 << 21, 0i32..1 << 21, 1i32..=30).prop_map(|(a, b, s)| Consts::Raw(a, b, s)),
        ];
        let values =
            prop_oneof![4 => Just(AddValues::Random), 1 => Just(AddValues::Extreme), 1 => Just(AddValues::ZeroPoints)];
        let zs = (any::<i8>(), any::<i8>());
        (0usize..300, zs, consts, any_output(), values, [0usize..64, 0usize..64, 0usize..64], any::<u64>())
            .prop_map(|(len, (z_a, z_b), consts, out, values, offsets, seed)| AddParams {
                len,
                z_a: z_a as i32,
                z_b: z_b as i32,
                consts,
                out,
                values,
                offsets,
                seed,
            })
            .boxed()
    }
}
