//! int8 GEMM with a requantizing epilogue: 1x1 convolutions over NHWC rows and fully
//! connected layers. Weights are packed once, at compile time, in one layout that every
//! backend reads.
//!
//! ```text
//! acc[r][c] = bias[c] + Σ_k x[r][k] * w[c][k]
//! out[r][c] = clamp(requantize(acc, M[c]) + z_out, min, max)
//! ```
//!
//! (the same as [`crate::fc::fully_connected`] and a 1x1 [`crate::conv::conv2d`]).
//!
//! Packed layout: output channels in blocks of [`NR`] = 16, the reduction in groups of 4:
//! `packed[((nb * kg) + g) * 64 + (c % 16) * 4 + (k % 4)] = w[nb * 16 + c % 16][g * 4 + k % 4]`
//! with `kg = ceil(K / 4)` groups and zeros beyond `N` or `K`. A 64-byte group is one
//! `vpdpbusd` operand (16 channels x 4 products), four `sdot` operands, or four 16-byte
//! `vpmaddwd` operands after sign extension.
//!
//! `vpdpbusd` multiplies unsigned by signed bytes, so the VNNI kernels (AVX-512 and
//! AVX-VNNI, which reads a group as two 32-byte halves of 8 channels) feed it
//! `x ^ 0x80 = x + 128` and start from `bias_u8[c] = bias[c] - 128 * Σ_k w[c][k]`, which
//! the compiler stores beside `bias`: the sum is the same integer.

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
#[cfg(target_arch = "x86_64")]
mod avxvnni;
#[cfg(target_arch = "aarch64")]
mod neon;
mod scalar;

pub use scalar::gemm as gemm_scalar;

use crate::cpu::{backend, Backend};
use crate::requant::OutputQuant;

/// Output channels per packed block.
pub const NR: usize = 16;

/// Shape and output quantization of one GEMM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gemm {
    /// Rows (output pixels, or batch rows of a fully connected layer).
    pub rows: usize,
    /// Reduction length (input channels).
    pub k: usize,
    /// Output channels.
    pub n: usize,
    /// Bytes from one input row to the next (`>= k`).
    pub input_stride: usize,
    /// Bytes from one output row to the next (`>= n`).
    pub output_stride: usize,
    /// Output zero point and clamp.
    pub output: OutputQuant,
}

/// Per-output-channel constants of a GEMM (each `n` long).
#[derive(Clone, Copy, Debug)]
pub struct GemmQuant<'a> {
    /// int32 bias (zero-point terms folded in).
    pub bias: &'a [i32],
    /// `bias[c] - 128 * Σ_k w[c][k]`: the start value when activations are fed as `x + 128`.
    pub bias_u8: &'a [i32],
    /// Q31 mantissas.
    pub multiplier: &'a [i32],
    /// Right shifts in `[1, 62]`.
    pub shift: &'a [i32],
}

/// Bytes of packed weights for `k` x `n`.
pub const fn packed_len(k: usize, n: usize) -> usize {
    n.div_ceil(NR) * NR * k.div_ceil(4) * 4
}

/// Packs `w` (`[n][k]`, row-major) into the layout above. `out` has `packed_len(k, n)` bytes.
pub fn pack(w: &[i8], k: usize, n: usize, out: &mut [i8]) {
    assert!(w.len() == k * n && out.len() == packed_len(k, n), "gemm::pack: wrong lengths");
    let groups = k.div_ceil(4);
    out.fill(0);
    for c in 0..n {
        for kk in 0..k {
            let (nb, g) = (c / NR, kk / 4);
            out[(nb * groups + g) * 64 + (c % NR) * 4 + kk % 4] = w[c * k + kk];
        }
    }
}

/// `bias[c] - 128 * Σ_k w[c][k]` for every channel (`w` is `[n][k]`), as the compiler stores it.
pub fn bias_u8(bias: i32, weights_of_channel: &[i8]) -> i32 {
    let sum: i32 = weights_of_channel.iter().map(|&v| v as i32).sum();
    bias.wrapping_sub(sum.wrapping_mul(128))
}

/// Checks slice lengths against the shape (every backend relies on this).
pub(crate) fn check(p: &Gemm, input: &[i8], packed: &[i8], q: &GemmQuant<'_>, output: &[i8]) {
    assert!(p.input_stride >= p.k && p.output_stride >= p.n, "gemm: strides shorter than rows");
    let needs = |rows: usize, stride: usize, width: usize| if rows == 0 { 0 } else { (rows - 1) * stride + width };
    assert!(input.len() >= needs(p.rows, p.input_stride, p.k), "gemm: input too short");
    assert!(output.len() >= needs(p.rows, p.output_stride, p.n), "gemm: output too short");
    assert!(packed.len() == packed_len(p.k, p.n), "gemm: packed weights of the wrong length");
    for a in [q.bias, q.bias_u8, q.multiplier, q.shift] {
        assert!(a.len() == p.n, "gemm: per-channel constants of the wrong length");
    }
}

/// Runs the GEMM on the selected backend ([`crate::cpu::backend`]).
pub fn gemm(p: &Gemm, input: &[i8], packed: &[i8], q: &GemmQuant<'_>, output: &mut [i8]) {
    gemm_on(backend(), p, input, packed, q, output)
}

/// Runs the GEMM on `b` (which must be available; tests use this to compare backends).
pub fn gemm_on(b: Backend, p: &Gemm, input: &[i8], packed: &[i8], q: &GemmQuant<'_>, output: &mut [i8]) {
    check(p, input, packed, q, output);
    assert!(b.available(), "gemm: backend {} is not available on this CPU", b.name());
    match b {
        #[cfg(target_arch = "x86_64")]
        Backend::Avx2 => avx2::gemm(p, input, packed, q, output),
        #[cfg(target_arch = "x86_64")]
        Backend::AvxVnni => avxvnni::gemm(p, input, packed, q, output),
        #[cfg(target_arch = "x86_64")]
        Backend::Avx512Vnni => avx512::gemm(p, input, packed, q, output),
        #[cfg(target_arch = "x86_64")]
        Backend::Avx512Amx => avx512::gemm_amx(p, input, packed, q, output),
        #[cfg(target_arch = "aarch64")]
        Backend::Neon => neon::gemm(p, input, packed, q, output, false),
        #[cfg(target_arch = "aarch64")]
        Backend::NeonDot => neon::gemm(p, input, packed, q, output, true),
        _ => scalar::gemm(p, input, packed, q, output),
    }
}

/// A GEMM's shape as raw pointers, for the x86 VNNI kernels (valid for the lengths
/// [`check`] verified, while the borrowed slices live).
#[cfg(target_arch = "x86_64")]
#[derive(Clone, Copy)]
struct Job {
    input: *const i8,
    input_stride: usize,
    output: *mut i8,
    output_stride: usize,
    packed: *const i8,
    /// `ceil(k / 4)`: groups per packed block.
    groups: usize,
    k: usize,
    n: usize,
    rows: usize,
    /// The input is already flipped (`x ^ 0x80`), each row readable in whole 64-byte
    /// vectors (the AVX-512 GEMM flips it once per call for wide layers).
    flipped: bool,
}

#[cfg(target_arch = "x86_64")]
impl Job {
    fn new(p: &Gemm, input: &[i8], packed: &[i8], output: &mut [i8]) -> Job {
        Job {
            input: input.as_ptr(),
            input_stride: p.input_stride,
            output: output.as_mut_ptr(),
            output_stride: p.output_stride,
            packed: packed.as_ptr(),
            groups: p.k.div_ceil(4),
            k: p.k,
            n: p.n,
            rows: p.rows,
            flipped: false,
        }
    }

    /// The same GEMM from row `r` on (its last `rows - r` rows).
    ///
    /// # Safety
    /// Requires a checked job and `r < rows` (row `r` then starts inside the input and the
    /// output).
    unsafe fn rows_from(&self, r: usize) -> Job {
        // SAFETY: row `r < rows` of a checked job starts inside the input and the output.
        unsafe {
            Job {
                input: self.input.add(r * self.input_stride),
                output: self.output.add(r * self.output_stride),
                rows: self.rows - r,
                ..*self
            }
        }
    }
}
