//! The NEON requantization epilogue shared by the aarch64 GEMM and depthwise kernels:
//! 16 channels' constants in registers, and the exact `Requant::apply` + `finish` on 16
//! int32 accumulators (the proof is in `gemm/neon.rs`'s module docs).

use crate::requant::OutputQuant;
use core::arch::aarch64::*;

/// One 16-channel block's bias and requantization constants, in registers.
pub(crate) struct BlockQuant {
    pub(crate) bias: [int32x4_t; 4],
    multiplier: [int32x4_t; 4],
    /// `-shift` widened to int64, two channels per register (the `srshl` count).
    neg_shift: [int64x2_t; 8],
    zero_point: int32x4_t,
    min: int32x4_t,
    max: int32x4_t,
}

impl BlockQuant {
    /// Channels `c0..c0 + 16` of the per-channel slices (all of equal length); lanes past
    /// the end get bias 0, multiplier 0 and shift 1, and their outputs are never stored.
    #[target_feature(enable = "neon")]
    pub(crate) fn load(bias: &[i32], multiplier: &[i32], shift: &[i32], c0: usize, out: OutputQuant) -> BlockQuant {
        let width = (bias.len() - c0).min(16);
        let (mut b, mut m, mut s) = ([0i32; 16], [0i32; 16], [1i32; 16]);
        b[..width].copy_from_slice(&bias[c0..c0 + width]);
        m[..width].copy_from_slice(&multiplier[c0..c0 + width]);
        s[..width].copy_from_slice(&shift[c0..c0 + width]);
        let quads = |a: &[i32; 16]| {
            // SAFETY: each offset `4j..4j + 4` lies within the 16 values of `a`.
            core::array::from_fn(|j| unsafe { vld1q_s32(a.as_ptr().add(4 * j)) })
        };
        let neg: [int32x4_t; 4] = quads(&s).map(|v| vnegq_s32(v));
        BlockQuant {
            bias: quads(&b),
            multiplier: quads(&m),
            neg_shift: core::array::from_fn(|h| {
                let v = neg[h / 2];
                if h % 2 == 0 {
                    vmovl_s32(vget_low_s32(v))
                } else {
                    vmovl_high_s32(v)
                }
            }),
            zero_point: vdupq_n_s32(out.zero_point),
            min: vdupq_n_s32(out.min as i32),
            max: vdupq_n_s32(out.max as i32),
        }
    }

    /// Requantizes 16 accumulators (bias included) to int8, exactly as the scalar path.
    #[target_feature(enable = "neon")]
    #[inline]
    pub(crate) fn finish(&self, acc: &[int32x4_t; 4]) -> int8x16_t {
        let v: [int32x4_t; 4] = core::array::from_fn(|j| {
            let m = self.multiplier[j];
            let lo = vrshlq_s64(vmull_s32(vget_low_s32(acc[j]), vget_low_s32(m)), self.neg_shift[2 * j]);
            let hi = vrshlq_s64(vmull_high_s32(acc[j], m), self.neg_shift[2 * j + 1]);
            let v = vqaddq_s32(vqmovn_high_s64(vqmovn_s64(lo), hi), self.zero_point);
            vminq_s32(vmaxq_s32(v, self.min), self.max)
        });
        let lo = vqmovn_high_s32(vqmovn_s32(v[0]), v[1]);
        let hi = vqmovn_high_s32(vqmovn_s32(v[2]), v[3]);
        vqmovn_high_s16(vqmovn_s16(lo), hi)
    }
}
