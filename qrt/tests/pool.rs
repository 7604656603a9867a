//! Max, average and global average pooling: hand-derived borders and an independent
//! reference that walks every window tap in padded coordinates.

mod common;

use common::{requantize_model, Rng};
use proptest::prelude::*;
use qrt::pool::{average_pool, global_average_pool, max_pool, GlobalAveragePool, Pool2d};
use qrt::Requant;

/// A square-kernel pool; `pad` is (top, left, bottom, right).
fn pool(
    in_hw: (usize, usize),
    channels: usize,
    out_hw: (usize, usize),
    kernel: usize,
    stride: usize,
    pad: [usize; 4],
) -> Pool2d {
    Pool2d {
        in_h: in_hw.0,
        in_w: in_hw.1,
        channels,
        out_h: out_hw.0,
        out_w: out_hw.1,
        kernel_h: kernel,
        kernel_w: kernel,
        stride_h: stride,
        stride_w: stride,
        pad_top: pad[0],
        pad_left: pad[1],
        pad_bottom: pad[2],
        pad_right: pad[3],
        count_include_pad: false,
        zero_point: 0,
    }
}

fn run(kernel: fn(&Pool2d, &[i8], &mut [i8]), p: &Pool2d, input: &[i8]) -> Vec<i8> {
    let mut out = vec![0x55; p.out_h * p.out_w * p.channels];
    kernel(p, input, &mut out);
    out
}

/// Both pools by brute force: every tap of every window is classified as inside the
/// input, inside the padded input, or past it. The average rounds in f64 (exact here:
/// `sum / count` is never within an ulp of a half unless it is one).
fn reference(p: &Pool2d, input: &[i8]) -> (Vec<i8>, Vec<i8>) {
    let (mut max_out, mut avg_out) = (vec![], vec![]);
    for oy in 0..p.out_h {
        for ox in 0..p.out_w {
            for c in 0..p.channels {
                let (mut best, mut sum, mut inside, mut padded) = (None::<i8>, 0i64, 0i64, 0i64);
                for ky in 0..p.kernel_h {
                    for kx in 0..p.kernel_w {
                        let (y, x) = (oy * p.stride_h + ky, ox * p.stride_w + kx);
                        if y < p.pad_top + p.in_h + p.pad_bottom && x < p.pad_left + p.in_w + p.pad_right {
                            padded += 1;
                        }
                        let in_rows = (p.pad_top..p.pad_top + p.in_h).contains(&y);
                        if in_rows && (p.pad_left..p.pad_left + p.in_w).contains(&x) {
                            let v = input[((y - p.pad_top) * p.in_w + x - p.pad_left) * p.channels + c];
                            best = Some(best.map_or(v, |b| b.max(v)));
                            sum += v as i64 - p.zero_point as i64;
                            inside += 1;
                        }
                    }
                }
                max_out.push(best.unwrap_or(i8::MIN));
                let count = if p.count_include_pad { padded } else { inside };
                let mean = if count == 0 { 0 } else { (sum as f64 / count as f64 + 0.5).floor() as i64 };
                avg_out.push((p.zero_point as i64 + mean) as i8);
            }
        }
    }
    (max_out, avg_out)
}

#[test]
fn average_counts_padding_only_when_asked() {
    // 2x2 input, 3x3 kernel, pad 1 all round: every window holds all four cells. Inside
    // count 4; with padding the window fits the padded 4x4 input, count 9.
    //   x = [1, 2, 3, 4]: sum 10 -> 10/4 = 2.5 rounds up to 3; 10/9 = 1.1 -> 1.
    //   x = [-1, -2, -3, -4]: -10/4 = -2.5 rounds up to -2; -10/9 = -1.1 -> -1 (a true
    //   floor of -11/18; truncation would give 0).
    let mut p = pool((2, 2), 1, (2, 2), 3, 1, [1; 4]);
    for (x, without, with) in [([1, 2, 3, 4], 3, 1), ([-1, -2, -3, -4], -2, -1)] {
        for z in [0i8, 10] {
            p.zero_point = z as i32;
            let input = x.map(|v: i8| v + z);
            p.count_include_pad = false;
            assert_eq!(run(average_pool, &p, &input), [without + z; 4], "z {z}");
            p.count_include_pad = true;
            assert_eq!(run(average_pool, &p, &input), [with + z; 4], "z {z}");
        }
    }
}

#[test]
fn average_windows_past_the_padded_input_are_clipped() {
    // 3x3 input 1..9, 2x2 kernel, stride 2, out 2x2 (ceil mode): the last row and column
    // of windows hang past the input.
    let input: Vec<i8> = (1..=9).collect();
    // Without padding, both modes count only the cells inside:
    // [1,2,4,5] -> 3; [3,6] -> 4.5 -> 5; [7,8] -> 7.5 -> 8; [9] -> 9.
    let mut p = pool((3, 3), 1, (2, 2), 2, 2, [0; 4]);
    assert_eq!(run(average_pool, &p, &input), [3, 5, 8, 9]);
    p.count_include_pad = true;
    assert_eq!(run(average_pool, &p, &input), [3, 5, 8, 9]);
    // With one row and column of bottom/right padding, the padded input is 4x4, so every
    // window counts 4: 12/4 = 3; 9/4 = 2.25 -> 2; 15/4 = 3.75 -> 4; 9/4 -> 2.
    p.pad_bottom = 1;
    p.pad_right = 1;
    assert_eq!(run(average_pool, &p, &input), [3, 2, 4, 2]);
    p.count_include_pad = false;
    assert_eq!(run(average_pool, &p, &input), [3, 5, 8, 9]);
}

#[test]
fn padding_never_wins_a_max() {
    // All inputs negative and below the zero point: the padded cells must not contribute.
    let mut p = pool((2, 2), 1, (2, 2), 3, 1, [1; 4]);
    for z in [0, 100] {
        p.zero_point = z;
        assert_eq!(run(max_pool, &p, &[-5, -3, -7, -9]), [-3; 4]);
    }
}

#[test]
fn windows_entirely_in_the_padding() {
    // 1x1 input, 1x1 kernel, pad 1: only the centre window sees the input. Max pool writes
    // -128 elsewhere; average pool writes the zero point (sum 0 over count 0, or over the
    // one padded cell when padding counts).
    let mut p = pool((1, 1), 2, (3, 3), 1, 1, [1; 4]);
    p.zero_point = 7;
    let input = [50, -50];
    let mut expected_max = [-128i8; 18];
    expected_max[8..10].copy_from_slice(&input);
    assert_eq!(run(max_pool, &p, &input), expected_max);
    let mut expected_avg = [7i8; 18];
    expected_avg[8..10].copy_from_slice(&input);
    assert_eq!(run(average_pool, &p, &input), expected_avg);
    p.count_include_pad = true;
    assert_eq!(run(average_pool, &p, &input), expected_avg);
}

#[test]
fn global_average_hand_derived() {
    // 4 pixels, 2 channels, M = 0.25, z_in = 0, z_out = -1.
    // Channel 0: 1 + 2 + 3 + 5 = 11 -> 2.75 -> 3 -> 2. Channel 1: -10 -> -2.5 rounds up
    // to -2 -> -3.
    let p = GlobalAveragePool {
        pixels: 4,
        channels: 2,
        in_zero_point: 0,
        requant: Requant::from_f64(0.25).unwrap(),
        out_zero_point: -1,
    };
    let mut out = [0i8; 2];
    global_average_pool(&p, &[1, -1, 2, -2, 3, -3, 5, -4], &mut out);
    assert_eq!(out, [2, -3]);
}

#[test]
fn global_average_saturates() {
    let p = GlobalAveragePool {
        pixels: 2,
        channels: 2,
        in_zero_point: 0,
        requant: Requant::from_f64(4.0).unwrap(),
        out_zero_point: 0,
    };
    let mut out = [0i8; 2];
    global_average_pool(&p, &[100, -100, 100, -100], &mut out);
    assert_eq!(out, [127, -128]);
}

fn arbitrary_pool() -> impl Strategy<Value = (Pool2d, u64)> {
    // Channel counts below, at and past the max pool's 64-channel blocks.
    let channels = prop::sample::select(vec![1usize, 2, 3, 4, 63, 64, 65, 128, 130]);
    let shape = (1..=6usize, 1..=6usize, channels, 1..=5usize, 1..=5usize, 1..=4usize, 1..=4usize, 1..=3usize);
    let pads = ([0..=2usize, 0..=2usize, 0..=2usize, 0..=2usize], any::<bool>(), any::<i8>(), any::<u64>());
    (shape, pads).prop_map(|((in_h, in_w, channels, out_h, out_w, kh, kw, stride), (pad, include, z, seed))| {
        let mut p = pool((in_h, in_w), channels, (out_h, out_w), kh, stride, pad);
        p.kernel_w = kw;
        p.stride_w = 1 + (stride + kw) % 3;
        p.count_include_pad = include;
        p.zero_point = z as i32;
        (p, seed)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn pools_match_the_reference((p, seed) in arbitrary_pool()) {
        let input = Rng::new(seed).activations(p.in_h * p.in_w * p.channels);
        let (max_ref, avg_ref) = reference(&p, &input);
        prop_assert_eq!(run(max_pool, &p, &input), max_ref);
        prop_assert_eq!(run(average_pool, &p, &input), avg_ref);
    }

    #[test]
    fn global_average_matches_the_model(
        pixels in 1..50usize, channels in 1..5usize, z_in in any::<i8>(), z_out in any::<i8>(),
        ratio in 0.05..4.0f64, seed in any::<u64>()
    ) {
        let requant = Requant::from_f64(ratio / pixels as f64).unwrap();
        let p = GlobalAveragePool { pixels, channels, in_zero_point: z_in as i32, requant, out_zero_point: z_out as i32 };
        let input = Rng::new(seed).activations(pixels * channels);
        let mut out = vec![0i8; channels];
        global_average_pool(&p, &input, &mut out);
        for c in 0..channels {
            let sum: i64 = (0..pixels).map(|px| input[px * channels + c] as i64 - z_in as i64).sum();
            let v = requantize_model(sum, requant.multiplier, requant.shift) + z_out as i64;
            prop_assert_eq!(out[c] as i64, v.clamp(-128, 127));
        }
    }
}

/// Channel counts across the kernel's 64-channel blocks, against a direct i64 sum of
/// `x - z` per channel requantized by the i128 model.
#[test]
fn global_average_pool_across_channel_blocks() {
    let mut rng = common::Rng::new(77);
    for channels in [1usize, 3, 63, 64, 65, 127, 128, 129, 320, 1280] {
        for pixels in [1usize, 7, 49] {
            for zp in [-128, -3, 0, 127] {
                let input = rng.activations(channels * pixels);
                let requant = qrt::Requant::from_f64(0.9 / pixels as f64).expect("multiplier");
                let p =
                    qrt::pool::GlobalAveragePool { pixels, channels, in_zero_point: zp, requant, out_zero_point: -5 };
                let mut got = vec![0i8; channels];
                qrt::pool::global_average_pool(&p, &input, &mut got);
                for c in 0..channels {
                    let sum: i64 = (0..pixels).map(|px| input[px * channels + c] as i64 - zp as i64).sum();
                    let want = common::finish_model(
                        common::requantize_model(sum, requant.multiplier, requant.shift),
                        -5,
                        -128,
                        127,
                    );
                    assert_eq!(got[c], want, "channels {channels} pixels {pixels} zp {zp} channel {c}");
                }
            }
        }
    }
}
