//! The add on every backend this machine runs, and through the dispatcher, equals the
//! scalar definition byte for byte: every length from 0 to 130 and a few large ones (all
//! remainders of the 32- and 64-element steps), each zero point at both extremes, outputs
//! saturating at both ends, narrow and inverted clamps, the largest multipliers, and a
//! proptest. Constants outside the documented ranges fall back to the definition.

mod common;

use common::Rng;
use proptest::prelude::*;
use qrt::add::{add, add_on, add_scalar, encode_pair, Add};
use qrt::cpu::{force, Backend};
use qrt::OutputQuant;

const FULL: OutputQuant = OutputQuant { zero_point: 0, min: -128, max: 127 };

fn backends() -> Vec<Backend> {
    Backend::ALL.into_iter().filter(|b| b.available()).collect()
}

fn layer(r_a: f64, z_a: i32, r_b: f64, z_b: i32, output: OutputQuant, len: usize) -> Add {
    let (a_multiplier, b_multiplier, shift) = encode_pair(r_a, r_b).unwrap();
    Add { len, a_zero_point: z_a, a_multiplier, b_zero_point: z_b, b_multiplier, shift, output }
}

/// Runs every backend on `a`, `b` and compares with the definition; returns the output.
fn check(p: &Add, a: &[i8], b: &[i8]) -> Vec<i8> {
    let mut expected = vec![0x55; p.len];
    add_scalar(p, a, b, &mut expected);
    for backend in backends() {
        // A poisoned output shows any element a backend forgets to write.
        for poison in [0x55, -0x56] {
            let mut got = vec![poison; p.len];
            add_on(backend, p, a, b, &mut got);
            if let Some(i) = (0..p.len).find(|&i| got[i] != expected[i]) {
                panic!(
                    "{}: len {} element {i}: a {} b {} -> {} expected {} ({p:?})",
                    backend.name(),
                    p.len,
                    a[i],
                    b[i],
                    got[i],
                    expected[i]
                );
            }
        }
    }
    expected
}

fn random_case(rng: &mut Rng, p: &Add) {
    let (a, b) = (rng.activations(p.len), rng.activations(p.len));
    check(p, &a, &b);
}

#[test]
fn every_length_up_to_130_and_large() {
    let mut rng = Rng::new(1);
    let lengths = (0..=130).chain([255, 256, 257, 1000, 4096 + 33, 56 * 56 * 24, 100_003]);
    for len in lengths {
        let p = layer(0.37, 5, 1.9, -20, OutputQuant { zero_point: -3, ..FULL }, len);
        random_case(&mut rng, &p);
    }
}

#[test]
fn zero_point_extremes() {
    let mut rng = Rng::new(2);
    for z_a in [-128, 127, 0] {
        for z_b in [-128, 127, 0] {
            for z_out in [-128, 127, 0] {
                for (r_a, r_b) in [(1.0, 1.0), (0.01, 0.7), (3.5, 0.25)] {
                    let p = layer(r_a, z_a, r_b, z_b, OutputQuant { zero_point: z_out, ..FULL }, 97);
                    random_case(&mut rng, &p);
                }
            }
        }
    }
}

#[test]
fn saturation_at_both_ends() {
    let mut rng = Rng::new(3);
    // The largest factors the encoding accepts: |acc| approaches 2^30 and every output
    // saturates one way or the other.
    for (z_a, z_b) in [(127, 127), (-128, -128), (127, -128)] {
        let p = layer(1_048_575.5, z_a, 1_048_575.5, z_b, FULL, 200);
        let extremes: Vec<i8> = (0..200).map(|i| if i % 3 == 0 { -128 } else { 127 }).collect();
        let out = check(&p, &extremes, &extremes.iter().rev().copied().collect::<Vec<_>>());
        assert!(out.iter().all(|&v| v == -128 || v == 127 || v == 0));
        random_case(&mut rng, &p);
    }
    // Every input pair at once, with factors large enough to saturate most of them.
    let (a, b): (Vec<i8>, Vec<i8>) = (-128..=127).flat_map(|a| (-128..=127).map(move |b| (a as i8, b as i8))).unzip();
    for (r_a, r_b, z_out) in [(2.0, 3.0, 0), (0.5, 0.5, -128), (0.5, 0.5, 127), (1e-3, 1e-3, 0), (700.0, 0.0, 5)] {
        let p = layer(r_a, 3, r_b, -9, OutputQuant { zero_point: z_out, ..FULL }, a.len());
        check(&p, &a, &b);
    }
}

#[test]
fn narrow_and_inverted_clamps() {
    let mut rng = Rng::new(4);
    for (min, max) in [(-5, 40), (0, 6), (-128, -120), (120, 127), (3, 3), (10, -10)] {
        for z_out in [-128, 0, 127] {
            let p = layer(0.8, -7, 0.6, 11, OutputQuant { zero_point: z_out, min, max }, 131);
            random_case(&mut rng, &p);
        }
    }
}

#[test]
fn raw_constants_at_their_bounds() {
    let mut rng = Rng::new(5);
    for shift in [1, 2, 15, 29, 30] {
        for (m_a, m_b) in [(0, 0), ((1 << 21) - 1, 0), ((1 << 21) - 1, (1 << 21) - 1), (1, 1 << 20)] {
            let p = Add {
                len: 77,
                a_zero_point: -128,
                a_multiplier: m_a,
                b_zero_point: 127,
                b_multiplier: m_b,
                shift,
                output: FULL,
            };
            random_case(&mut rng, &p);
        }
    }
}

#[test]
fn constants_out_of_range_fall_back_to_the_definition() {
    let mut rng = Rng::new(6);
    // Wider zero points than int8, small enough that the definition does not overflow.
    let p = Add {
        len: 100,
        a_zero_point: 300,
        a_multiplier: 1000,
        b_zero_point: -1000,
        b_multiplier: 3,
        shift: 4,
        output: OutputQuant { zero_point: 400, min: -128, max: 127 },
    };
    random_case(&mut rng, &p);
    // A multiplier of 2^21 with small inputs.
    let p = Add {
        len: 70,
        a_zero_point: 0,
        a_multiplier: 1 << 21,
        b_zero_point: 0,
        b_multiplier: 1,
        shift: 30,
        output: FULL,
    };
    let a = rng.i8s(70, -100, 100);
    check(&p, &a, &a);
}

#[test]
fn the_dispatcher_follows_the_forced_backend() {
    let mut rng = Rng::new(7);
    let p = layer(0.3, 1, 0.45, 2, FULL, 1234);
    let (a, b) = (rng.activations(p.len), rng.activations(p.len));
    let expected = check(&p, &a, &b);
    for backend in backends() {
        assert!(force(backend));
        let mut got = vec![0; p.len];
        add(&p, &a, &b, &mut got);
        assert_eq!(got, expected, "{}", backend.name());
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn random_layers(
        r_a in prop_oneof![0.0..4.0f64, 1e-4..1e-2f64, 1.0..70_000.0f64],
        r_b in prop_oneof![0.0..4.0f64, 1e-4..1e-2f64, 1.0..70_000.0f64],
        z_a in any::<i8>(), z_b in any::<i8>(), z_out in any::<i8>(),
        min in any::<i8>(), max in any::<i8>(),
        len in 0usize..300, seed in any::<u64>(),
    ) {
        let output = OutputQuant { zero_point: z_out as i32, min, max };
        let p = layer(r_a, z_a as i32, r_b, z_b as i32, output, len);
        random_case(&mut Rng::new(seed), &p);
    }

    #[test]
    fn random_raw_constants(
        m_a in 0i32..1 << 21, m_b in 0i32..1 << 21, shift in 1i32..=30,
        z_a in any::<i8>(), z_b in any::<i8>(), z_out in any::<i8>(),
        len in 0usize..200, seed in any::<u64>(),
    ) {
        let output = OutputQuant { zero_point: z_out as i32, ..FULL };
        let p = Add { len, a_zero_point: z_a as i32, a_multiplier: m_a, b_zero_point: z_b as i32, b_multiplier: m_b, shift, output };
        random_case(&mut Rng::new(seed), &p);
    }
}
