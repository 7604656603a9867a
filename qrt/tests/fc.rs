//! `fully_connected` against a naive i64 reference.

mod common;

use common::{finish_model, requantize_model, Rng};
use proptest::prelude::*;
use qrt::fc::{fully_connected, FullyConnected};
use qrt::{ChannelQuant, OutputQuant, Requant};

struct Layer {
    p: FullyConnected,
    input: Vec<i8>,
    weights: Vec<i8>,
    bias: Vec<i32>,
    multiplier: Vec<i32>,
    shift: Vec<i32>,
}

impl Layer {
    fn random(rows: usize, k: usize, n: usize, output: OutputQuant, seed: u64) -> Layer {
        let mut rng = Rng::new(seed);
        let typical_acc = 5400.0 * (k as f64).sqrt();
        let (mut multiplier, mut shift) = (vec![], vec![]);
        for _ in 0..n {
            let r = Requant::from_f64(150.0 / typical_acc * (0.5 + 1.5 * rng.unit())).unwrap();
            multiplier.push(r.multiplier);
            shift.push(r.shift);
        }
        Layer {
            p: FullyConnected { rows, in_features: k, out_features: n, output },
            input: rng.activations(rows * k),
            weights: rng.weights(n * k),
            bias: (0..n).map(|_| rng.range(-40_000, 40_000) as i32).collect(),
            multiplier,
            shift,
        }
    }

    fn run(&self) -> Vec<i8> {
        let q = ChannelQuant { bias: &self.bias, multiplier: &self.multiplier, shift: &self.shift };
        let mut out = vec![0x55; self.p.rows * self.p.out_features];
        fully_connected(&self.p, &self.input, &self.weights, &q, &mut out);
        out
    }

    /// Column-major walk over the weights, i64 sums, i128 requantization.
    fn reference(&self) -> Vec<i8> {
        let (k, n) = (self.p.in_features, self.p.out_features);
        let mut acc = vec![0i64; self.p.rows * n];
        for i in 0..k {
            for c in 0..n {
                for r in 0..self.p.rows {
                    acc[r * n + c] += self.input[r * k + i] as i64 * self.weights[c * k + i] as i64;
                }
            }
        }
        let o = self.p.output;
        (0..self.p.rows * n)
            .map(|j| {
                let c = j % n;
                let v = requantize_model(acc[j] + self.bias[c] as i64, self.multiplier[c], self.shift[c]);
                finish_model(v, o.zero_point, o.min, o.max)
            })
            .collect()
    }
}

#[test]
fn table_matches_the_reference() {
    let outputs = [
        OutputQuant { zero_point: 0, min: -128, max: 127 },
        OutputQuant { zero_point: -128, min: -128, max: 127 },
        OutputQuant { zero_point: 20, min: 20, max: 90 },
    ];
    let mut seed = 0;
    for rows in [1, 3] {
        for k in [1, 7, 64, 257] {
            for n in [1, 5, 16] {
                for output in outputs {
                    seed += 1;
                    let layer = Layer::random(rows, k, n, output, seed);
                    assert_eq!(layer.run(), layer.reference(), "rows {rows} k {k} n {n} {output:?}");
                }
            }
        }
    }
}

#[test]
fn hand_derived() {
    // x = [1, -2, 3]; w0 = [1, 1, 1], w1 = [2, 0, -1]; bias [10, -4]; M = 0.5; z_out = 1.
    // acc0 = 10 + 2 = 12 -> 6 -> 7; acc1 = -4 + 2 - 3 = -5 -> -2.5 rounds up to -2 -> -1.
    let p = FullyConnected {
        rows: 1,
        in_features: 3,
        out_features: 2,
        output: OutputQuant { zero_point: 1, min: -128, max: 127 },
    };
    let q = ChannelQuant { bias: &[10, -4], multiplier: &[1 << 30, 1 << 30], shift: &[31, 31] };
    let mut out = [0i8; 2];
    fully_connected(&p, &[1, -2, 3], &[1, 1, 1, 2, 0, -1], &q, &mut out);
    assert_eq!(out, [7, -1]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_shapes_match_the_reference(
        rows in 0..4usize, k in 1..40usize, n in 1..9usize, z in any::<i8>(), a in any::<i8>(), b in any::<i8>(), seed in any::<u64>()
    ) {
        let output = OutputQuant { zero_point: z as i32, min: a.min(b), max: a.max(b) };
        let layer = Layer::random(rows, k, n, output, seed);
        prop_assert_eq!(layer.run(), layer.reference());
    }
}
