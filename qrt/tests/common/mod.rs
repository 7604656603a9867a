//! Helpers shared by qrt's integration tests: a small deterministic generator and an
//! exact model of requantization written independently of `qrt::Requant`.

#![allow(dead_code)]

#[cfg(all(target_os = "linux", target_pointer_width = "64"))]
pub mod guard;

/// SplitMix64: a tiny, seedable generator so table tests are reproducible.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A uniform integer in `[lo, hi]`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        lo + (self.next_u64() % (hi - lo + 1) as u64) as i64
    }

    /// A uniform float in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// `len` values uniform in `[lo, hi]`.
    pub fn i8s(&mut self, len: usize, lo: i8, hi: i8) -> Vec<i8> {
        (0..len).map(|_| self.range(lo as i64, hi as i64) as i8).collect()
    }

    /// `len` activations (any int8 value).
    pub fn activations(&mut self, len: usize) -> Vec<i8> {
        self.i8s(len, i8::MIN, i8::MAX)
    }

    /// `len` weights (symmetric int8, `[-127, 127]`).
    pub fn weights(&mut self, len: usize) -> Vec<i8> {
        self.i8s(len, -127, 127)
    }
}

/// `floor((acc * m + 2^(s-1)) / 2^s)` saturated to i32, in i128 with a true division, so
/// it shares no shifts or 64-bit tricks with the code under test.
pub fn requantize_model(acc: i64, m: i32, s: i32) -> i64 {
    let numerator = acc as i128 * m as i128 + (1i128 << (s - 1));
    let quotient = numerator.div_euclid(1i128 << s);
    quotient.clamp(i32::MIN as i128, i32::MAX as i128) as i64
}

/// `clamp(v + z, lo, hi)` as int8, for values already saturated to i32.
pub fn finish_model(v: i64, zero_point: i32, lo: i8, hi: i8) -> i8 {
    let with_zero = (v + zero_point as i64).clamp(i32::MIN as i64, i32::MAX as i64);
    with_zero.clamp(lo as i64, hi as i64) as i8
}

/// The depthwise windows the fused-kernel tests run: `(kernel, stride, [top, left, bottom,
/// right] padding)`, 3x3 and 5x5 at strides 1 and 2 (padded and not) and an odd 3x3 at
/// stride 3 with uneven padding.
pub const DEPTHWISE_WINDOWS: [(usize, usize, [usize; 4]); 7] = [
    (3, 1, [1, 1, 1, 1]),
    (3, 2, [1, 1, 1, 1]),
    (3, 2, [0, 0, 1, 1]),
    (3, 1, [0, 0, 0, 0]),
    (5, 1, [2, 2, 2, 2]),
    (5, 2, [2, 2, 2, 2]),
    (3, 3, [2, 0, 1, 2]),
];

/// A depthwise layer over an `h x w x c` input: a square `kernel`, `stride` both ways and
/// padding `[top, left, bottom, right]`, its output size from those.
pub fn depthwise_layer(
    (h, w, c): (usize, usize, usize),
    (kernel, stride, pad): (usize, usize, [usize; 4]),
    input_zero_point: i32,
    output: qrt::requant::OutputQuant,
) -> qrt::depthwise::Depthwise {
    qrt::depthwise::Depthwise {
        in_h: h,
        in_w: w,
        channels: c,
        out_h: (h + pad[0] + pad[2] - kernel) / stride + 1,
        out_w: (w + pad[1] + pad[3] - kernel) / stride + 1,
        kernel_h: kernel,
        kernel_w: kernel,
        stride_h: stride,
        stride_w: stride,
        pad_top: pad[0],
        pad_left: pad[1],
        input_zero_point,
        output,
    }
}

/// Random weights for a pointwise layer of `k` inputs and `n` outputs, packed for the
/// GEMM, with random biases and the `bias_u8` the GEMM starts from: `(packed, bias, bias_u8)`.
pub fn gemm_layer(rng: &mut Rng, k: usize, n: usize) -> (Vec<i8>, Vec<i32>, Vec<i32>) {
    let w = rng.weights(k * n);
    let mut packed = vec![0; qrt::gemm::packed_len(k, n)];
    qrt::gemm::pack(&w, k, n, &mut packed);
    let bias: Vec<i32> = (0..n).map(|_| rng.range(-10_000, 10_001) as i32).collect();
    let bias_u8 = (0..n).map(|i| qrt::gemm::bias_u8(bias[i], &w[i * k..(i + 1) * k])).collect();
    (packed, bias, bias_u8)
}

/// Random weights for a `kernel x kernel` depthwise layer of `c` channels, packed.
pub fn depthwise_weights(rng: &mut Rng, kernel: usize, c: usize) -> Vec<i8> {
    let w = rng.weights(c * kernel * kernel);
    let mut packed = vec![0; qrt::depthwise::packed_len(kernel, kernel, c)];
    qrt::depthwise::pack(&w, kernel, kernel, c, &mut packed);
    packed
}

/// `len` random requantizations with real multipliers of 0.001 to 0.1:
/// `(multipliers, shifts)`.
pub fn requants(rng: &mut Rng, len: usize) -> (Vec<i32>, Vec<i32>) {
    (0..len)
        .map(|_| {
            let r = qrt::requant::Requant::from_f64(1e-3 * (1 + rng.range(0, 100)) as f64).expect("multiplier");
            (r.multiplier, r.shift)
        })
        .unzip()
}

/// Output height and width of a square `k` x `k` window at `stride` over an `h` x `w`
/// input padded by `pad` on every side.
pub fn out_size(h: usize, w: usize, k: usize, stride: usize, pad: usize) -> (usize, usize) {
    ((h + 2 * pad - k) / stride + 1, (w + 2 * pad - k) / stride + 1)
}
