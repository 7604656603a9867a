//! The GEMM on every backend this machine runs equals the definition
//! (`fc::fully_connected`, itself tested against an i128 model) byte for byte: edge shapes
//! around the 16-channel block and the 4-wide reduction group, zero points and clamps at
//! both ends, multipliers differing per channel, strided rows, and a proptest.

use proptest::prelude::*;
use qrt::cpu::Backend;
use qrt::fc::{fully_connected, FullyConnected};
use qrt::gemm::{bias_u8, gemm_on, pack, packed_len, Gemm, GemmQuant};
use qrt::requant::{ChannelQuant, OutputQuant, Requant};

mod common;
use common::Rng;

fn backends() -> Vec<Backend> {
    Backend::ALL.into_iter().filter(|b| b.available()).collect()
}

/// One case: compares every backend with the definition; returns how many backends ran.
fn check_case(
    rows: usize,
    k: usize,
    n: usize,
    in_pad: usize,
    out_pad: usize,
    out: OutputQuant,
    seed: u64,
    extreme: bool,
) -> usize {
    let mut rng = Rng::new(seed);
    let (input_stride, output_stride) = (k + in_pad, n + out_pad);
    let mut input = rng.activations(rows * input_stride);
    let mut w = rng.activations(n * k);
    if extreme {
        input.iter_mut().for_each(|v| *v = -128);
        w.iter_mut().enumerate().for_each(|(i, v)| *v = if i % 2 == 0 { -127 } else { 127 });
    }
    for v in &mut w {
        *v = (*v).max(-127);
    }
    let bias: Vec<i32> = (0..n).map(|_| rng.range(-50_000, 50_000) as i32).collect();
    let requants: Vec<Requant> = (0..n)
        .map(|c| {
            Requant::from_f64([1e-4, 3e-3, 0.02, 0.5, 1.7][c % 5] * (1.0 + (rng.next_u64() % 1000) as f64 / 1000.0))
                .unwrap()
        })
        .collect();
    let multiplier: Vec<i32> = requants.iter().map(|r| r.multiplier).collect();
    let shift: Vec<i32> = requants.iter().map(|r| r.shift).collect();
    let bu8: Vec<i32> = (0..n).map(|c| bias_u8(bias[c], &w[c * k..(c + 1) * k])).collect();

    // The definition, row by row on contiguous copies.
    let dense: Vec<i8> = (0..rows).flat_map(|r| input[r * input_stride..r * input_stride + k].to_vec()).collect();
    let mut expected = vec![0i8; rows * n];
    let fc = FullyConnected { rows, in_features: k, out_features: n, output: out };
    let cq = ChannelQuant { bias: &bias, multiplier: &multiplier, shift: &shift };
    fully_connected(&fc, &dense, &w, &cq, &mut expected);

    let mut packed = vec![0i8; packed_len(k, n)];
    pack(&w, k, n, &mut packed);
    let q = GemmQuant { bias: &bias, bias_u8: &bu8, multiplier: &multiplier, shift: &shift };
    let p = Gemm { rows, k, n, input_stride, output_stride, output: out };
    let all = backends();
    for &b in &all {
        let mut got = vec![0x55u8 as i8; rows * output_stride];
        gemm_on(b, &p, &input, &packed, &q, &mut got);
        for r in 0..rows {
            assert_eq!(
                &got[r * output_stride..r * output_stride + n],
                &expected[r * n..(r + 1) * n],
                "{}: rows {rows} k {k} n {n} row {r}",
                b.name()
            );
            // Bytes between output rows are left alone.
            assert!(
                got[r * output_stride + n..(r + 1) * output_stride].iter().all(|&v| v == 0x55),
                "{}: wrote padding",
                b.name()
            );
        }
    }
    all.len()
}

const FULL: OutputQuant = OutputQuant { zero_point: 0, min: -128, max: 127 };

#[test]
fn edge_shapes_on_every_backend() {
    let mut seed = 1;
    for rows in [1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 33] {
        for k in [1, 2, 3, 4, 5, 7, 8, 15, 16, 17, 31, 32, 33, 64, 96, 144, 320] {
            for n in [1, 3, 8, 15, 16, 17, 24, 31, 32, 33, 48, 64, 96] {
                seed += 1;
                check_case(rows, k, n, 0, 0, FULL, seed, false);
            }
        }
    }
}

#[test]
fn strided_rows_and_quantization_extremes() {
    for (i, (zp, lo, hi)) in
        [(-128, -128, 127), (127, -128, 127), (0, 0, 127), (-20, -20, 40), (5, -128, -100), (3, 120, 127)]
            .into_iter()
            .enumerate()
    {
        let out = OutputQuant { zero_point: zp, min: lo, max: hi };
        check_case(9, 37, 35, 3, 5, out, 100 + i as u64, false);
        check_case(4, 64, 16, 0, 16, out, 200 + i as u64, true);
    }
}

#[test]
fn large_reduction_cannot_overflow_differently() {
    // K = 2048 with every product at its extreme: |acc| ~ 2048 * 128 * 127 stays in i32.
    check_case(3, 2048, 20, 0, 0, FULL, 7, true);
    check_case(2, 1280, 33, 0, 0, FULL, 8, false);
}

#[test]
fn reductions_around_the_flip_ahead_and_k_chunks() {
    // The AVX-512 kernel flips rows of 64 inputs or more ahead, 512 at a time: both sides
    // of that threshold and of each chunk boundary, with 4-byte group tails, every tile
    // height and panel width.
    let mut seed = 4000;
    for k in [63, 64, 65, 67, 511, 512, 513, 515, 1023, 1029] {
        for (rows, n) in [(1, 130), (2, 16), (5, 48), (12, 16), (13, 33), (9, 64)] {
            seed += 1;
            check_case(rows, k, n, 3, 1, FULL, seed, false);
        }
        check_case(7, k, 40, 0, 0, FULL, seed, true);
    }
    // Long reductions over many tiles run in chunks of 256 inputs over blocks of 8 tiles,
    // the accumulators saved between chunks: chunk edges, row blocks with a short last
    // tile and a short last block, each panel width.
    for k in [255, 256, 257, 511, 513, 777] {
        for (rows, n) in [(100, 64), (97, 16), (70, 48), (50, 32), (13, 70)] {
            seed += 1;
            check_case(rows, k, n, 2, 3, FULL, seed, false);
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    #[test]
    fn random_shapes(rows in 1usize..20, k in 1usize..200, n in 1usize..70, in_pad in 0usize..5, out_pad in 0usize..5, zp in -128i32..128, seed: u64) {
        let out = OutputQuant { zero_point: zp, min: -128, max: 127 };
        check_case(rows, k, n, in_pad, out_pad, out, seed, false);
    }
}

#[test]
fn report_backends() {
    let names: Vec<&str> = backends().iter().map(|b| b.name()).collect();
    eprintln!("gemm backends tested on this machine: {names:?}");
    assert!(names.contains(&"scalar"));
    // qrt's tests enable its `std` feature (a dev-dependency on itself), so every backend
    // this CPU has is detected and compared; a SIMD path silently skipped would fail here.
    #[cfg(target_arch = "x86_64")]
    {
        assert_eq!(Backend::Avx2.available(), std::is_x86_feature_detected!("avx2"));
        let vnni = ["avx512f", "avx512bw", "avx512vl", "avx512vnni"];
        let has_vnni = std::is_x86_feature_detected!("avx512f")
            && std::is_x86_feature_detected!("avx512bw")
            && std::is_x86_feature_detected!("avx512vl")
            && std::is_x86_feature_detected!("avx512vnni");
        assert_eq!(Backend::Avx512Vnni.available(), has_vnni, "needs {vnni:?}");
        let has_avx_vnni = std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("avxvnni");
        assert_eq!(Backend::AvxVnni.available(), has_avx_vnni, "needs avx2 and avxvnni");
    }
}

/// The inputs of one case, built as `check_case` builds them but with `Requant`s given
/// directly, so that any multiplier and shift can be tested.
struct Case {
    p: Gemm,
    input: Vec<i8>,
    w: Vec<i8>,
    bias: Vec<i32>,
    requants: Vec<Requant>,
}

impl Case {
    fn new(rows: usize, k: usize, n: usize, in_pad: usize, out_pad: usize, out: OutputQuant, seed: u64) -> Case {
        let mut rng = Rng::new(seed);
        let input_stride = k + in_pad;
        let input = rng.activations(rows.saturating_sub(1) * input_stride + k);
        let w: Vec<i8> = rng.activations(n * k).into_iter().map(|v| v.max(-127)).collect();
        let bias = (0..n).map(|_| rng.range(-50_000, 50_000) as i32).collect();
        let requants = (0..n)
            .map(|c| {
                Requant::from_f64([1e-4, 3e-3, 0.02, 0.5, 1.7][c % 5] * (1.0 + (rng.next_u64() % 1000) as f64 / 1000.0))
                    .unwrap()
            })
            .collect();
        let p = Gemm { rows, k, n, input_stride, output_stride: n + out_pad, output: out };
        Case { p, input, w, bias, requants }
    }

    /// The definition's bytes, `rows x n`.
    fn expected(&self) -> Vec<i8> {
        let Gemm { rows, k, n, input_stride, output, .. } = self.p;
        let dense: Vec<i8> = (0..rows).flat_map(|r| self.input[r * input_stride..][..k].to_vec()).collect();
        let multiplier: Vec<i32> = self.requants.iter().map(|r| r.multiplier).collect();
        let shift: Vec<i32> = self.requants.iter().map(|r| r.shift).collect();
        let mut expected = vec![0i8; rows * n];
        let fc = FullyConnected { rows, in_features: k, out_features: n, output };
        let cq = ChannelQuant { bias: &self.bias, multiplier: &multiplier, shift: &shift };
        fully_connected(&fc, &dense, &self.w, &cq, &mut expected);
        expected
    }

    /// Runs every backend with `input` and `output` as given (`output` is pre-filled with
    /// 0x55, which must survive between rows) and compares with the definition.
    fn check_with(&self, input: &[i8], output: &mut [i8]) {
        let Gemm { rows, k, n, output_stride, .. } = self.p;
        let expected = self.expected();
        let mut packed = vec![0i8; packed_len(k, n)];
        pack(&self.w, k, n, &mut packed);
        let bu8: Vec<i32> = (0..n).map(|c| bias_u8(self.bias[c], &self.w[c * k..(c + 1) * k])).collect();
        let multiplier: Vec<i32> = self.requants.iter().map(|r| r.multiplier).collect();
        let shift: Vec<i32> = self.requants.iter().map(|r| r.shift).collect();
        let q = GemmQuant { bias: &self.bias, bias_u8: &bu8, multiplier: &multiplier, shift: &shift };
        for b in backends() {
            output.fill(0x55);
            gemm_on(b, &self.p, input, &packed, &q, output);
            for r in 0..rows {
                let got = &output[r * output_stride..][..n];
                assert_eq!(got, &expected[r * n..(r + 1) * n], "{}: {:?} row {r}", b.name(), self.p);
                let gap =
                    &output[(r * output_stride + n).min(output.len())..((r + 1) * output_stride).min(output.len())];
                assert!(gap.iter().all(|&v| v == 0x55), "{}: wrote padding, {:?}", b.name(), self.p);
            }
        }
    }

    /// Runs with slices of exactly the length `gemm::check` requires.
    fn check(&self) {
        let out_len = if self.p.rows == 0 { 0 } else { (self.p.rows - 1) * self.p.output_stride + self.p.n };
        self.check_with(&self.input, &mut vec![0i8; out_len]);
    }
}

#[test]
fn wide_panels_and_fully_connected_rows() {
    // One or two rows take 8-block panels; these widths also split as 8 + 1, 8 + 5, ...
    let mut seed = 1000;
    for rows in [1, 2, 3] {
        for n in [127, 128, 129, 144, 200, 257, 1000] {
            for k in [1, 3, 4, 64, 101] {
                seed += 1;
                Case::new(rows, k, n, 1, 3, FULL, seed).check();
            }
        }
    }
    Case::new(1, 1280, 1000, 0, 0, FULL, 7).check();
    Case::new(2, 1283, 130, 0, 0, FULL, 8).check();
}

#[test]
fn empty_reduction_and_no_rows() {
    // K = 0: the output is the requantized bias (and `bias_u8 == bias`).
    for n in [1, 16, 20, 200] {
        Case::new(3, 0, n, 0, 1, FULL, n as u64).check();
        Case::new(0, 5, n, 0, 0, FULL, n as u64).check();
    }
}

#[test]
fn panel_splits_and_row_tails() {
    // 5, 6, 7, 9, 10, 13 blocks of 16 (panels 3+2, 3+3, 4+3, 3+3+3, ...) and every row
    // count around the tile heights (6, 8, 12).
    let mut seed = 2000;
    for blocks in [5, 6, 7, 9, 10, 13] {
        for rows in [3, 5, 6, 7, 8, 11, 12, 13, 25] {
            seed += 1;
            Case::new(rows, 24 + rows % 4, 16 * blocks - rows % 3, 0, 0, FULL, seed).check();
        }
    }
}

#[test]
fn every_shift_and_multiplier_extreme() {
    // Shifts 1..=62 with multipliers 0, 2^30 and 2^31 - 1, and K = 2048 extremes so that
    // accumulators reach about ±2^25: products up to 2^56, quotients far outside i32 for
    // small shifts (saturation), and both the fast (s >= 33) and general forms in one
    // block.
    for (i, m) in [0, 1 << 30, i32::MAX, 1_518_500_250].into_iter().enumerate() {
        for extreme in [false, true] {
            let mut case = Case::new(3, 2048, 62, 0, 0, FULL, 40 + i as u64);
            if extreme {
                case.input.iter_mut().for_each(|v| *v = -128);
                case.w.iter_mut().enumerate().for_each(|(j, v)| *v = if (j / 2048) % 2 == 0 { -127 } else { 127 });
            }
            case.requants = (1..=62).map(|shift| Requant { multiplier: m, shift }).collect();
            case.check();
        }
    }
}

#[test]
fn panels_mixing_fast_and_general_blocks() {
    // The AVX-512 epilogue picks one form per tile: the fast one when every block of the
    // panel allows it, else the general one for all. Panels of 1 to 4 blocks with the
    // general block (multipliers of 0.5: shifts of 32) first, last, alone or absent.
    let mut seed = 3000;
    for blocks in [1, 2, 3, 4, 6, 8] {
        for general in [None, Some(0), Some(blocks - 1), Some(blocks / 2)] {
            for rows in [1, 5, 6, 8, 12, 13] {
                seed += 1;
                let mut case = Case::new(rows, 20, 16 * blocks - 3, 0, 0, FULL, seed);
                case.requants = (0..case.p.n)
                    .map(|c| {
                        let real = if general == Some(c / 16) { 0.5 } else { 3e-3 + c as f64 * 1e-5 };
                        Requant::from_f64(real).unwrap()
                    })
                    .collect();
                let shifts: Vec<i32> = case.requants.iter().map(|r| r.shift).collect();
                assert!(shifts.iter().enumerate().all(|(c, &s)| (s < 33) == (general == Some(c / 16))));
                case.check();
            }
        }
    }
}

#[test]
fn zero_points_in_the_rounding_term_only_where_they_fit() {
    // The AVX-512 fast form adds `z * 2^(s - 32)` to the rounding term when that stays
    // below 2^29 in every lane of a block, else adds `z` after the shift. Zero points on
    // both sides of that bound, with every fast shift (33..=62) across the channels and
    // multipliers small and large, so that a fold past the bound would wrap.
    for zp in [127, -128, 1 << 20, -(1 << 20), (1 << 22) + 5, -(1 << 23), 1 << 28] {
        for (i, m) in [1 << 30, i32::MAX, 3].into_iter().enumerate() {
            let out = OutputQuant { zero_point: zp, min: -128, max: 127 };
            // One block with shifts 33..=48 (folded for |z| < 2^13), and four blocks with
            // every fast shift (a tile folds only if all its blocks do).
            for (n, shifts) in [(16, 16), (60, 30)] {
                let mut case = Case::new(5, 96, n, 1, 2, out, zp as u64 ^ i as u64);
                case.requants = (0..n).map(|c| Requant { multiplier: m, shift: 33 + (c % shifts) as i32 }).collect();
                case.check();
            }
        }
    }
}

#[test]
fn zero_points_outside_the_fast_form() {
    // |z| > 2^30 takes the general form everywhere; `min - z` outside i32 makes the SIMD
    // backends hand the call to the scalar twin. Both must still equal the definition.
    for zp in [(1 << 30) + 7, -(1 << 30) - 9, i32::MAX, i32::MIN, 1 << 30, -(1 << 30)] {
        for (lo, hi) in [(-128, 127), (0, 6), (100, -100)] {
            let out = OutputQuant { zero_point: zp, min: lo, max: hi };
            Case::new(7, 37, 35, 2, 1, out, zp as u64).check();
        }
    }
    // `min > max` with an ordinary zero point: the scalar clamp gives `max`.
    Case::new(5, 20, 40, 0, 0, OutputQuant { zero_point: 3, min: 10, max: -10 }, 9).check();
}

#[cfg(all(target_os = "linux", target_pointer_width = "64"))]
#[test]
fn slices_ending_at_a_guard_page() {
    // The last row's K tail (1..3 bytes past a multiple of 4) and the last row's N tail
    // are the last bytes before an inaccessible page: reading or writing past either
    // slice faults.
    let mut seed = 3000;
    for rows in [1, 2, 3, 7, 13] {
        for k in [1, 2, 3, 5, 6, 7, 13, 31, 33, 63, 65, 130, 515, 1029] {
            for n in [1, 8, 15, 17, 24, 33, 129] {
                for (in_pad, out_pad) in [(0, 0), (3, 2)] {
                    seed += 1;
                    let case = Case::new(rows, k, n, in_pad, out_pad, FULL, seed);
                    let mut input = common::guard::Guarded::new(case.input.len());
                    input.slice().copy_from_slice(&case.input);
                    let mut output = common::guard::Guarded::new((rows - 1) * case.p.output_stride + n);
                    case.check_with(input.slice(), output.slice());
                }
            }
        }
    }
}
