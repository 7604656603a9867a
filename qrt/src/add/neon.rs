//! The NEON add: 16 elements per step, as four vectors of four i32 lanes.
//!
//! The integer steps of the x86-64 paths (see `avx512.rs` for the proof that they equal
//! the scalar definition): `sxtl` widens both inputs to i32, two `mla` form
//! `a * m_a + b * m_b + (2^(s-1) - z_a * m_a - z_b * m_b)`, which is `acc + 2^(s-1)`
//! exactly in i32, and `sshl` by `-s` is the arithmetic right shift. Then `sqxtn`
//! narrows to i16 with saturation, `sqadd` adds the output zero point, `sqxtn` narrows
//! to i8, and `smax` / `smin` clamp, in the scalar path's order. The last `len % 16`
//! elements go through zero-filled stack buffers.

use core::arch::aarch64::*;

use super::Add;

/// Elements per step.
const STEP: usize = 16;

/// NEON add (lengths and constant ranges already checked by the dispatcher).
pub(super) fn add(p: &Add, a: &[i8], b: &[i8], output: &mut [i8]) {
    // SAFETY: NEON is part of every aarch64 CPU; the dispatcher checked the lengths.
    unsafe { add_neon(p, a, b, output) }
}

/// The layer's constants, broadcast.
#[derive(Clone, Copy)]
struct Consts {
    a_multiplier: int32x4_t,
    b_multiplier: int32x4_t,
    /// `2^(s-1) - z_a * m_a - z_b * m_b`.
    offset: int32x4_t,
    /// `-s`: `sshl` by a negative count shifts right.
    shift: int32x4_t,
    zero_point: int16x8_t,
    lo: int8x16_t,
    hi: int8x16_t,
}

/// # Safety
///
/// `a`, `b` and `output` are `p.len` long and the constants in range (`super::in_range`).
#[target_feature(enable = "neon")]
unsafe fn add_neon(p: &Add, a: &[i8], b: &[i8], output: &mut [i8]) {
    // In range, `|z * m| < 2^28`, so the offset is exact in i32.
    let offset = (1i32 << (p.shift - 1)) - p.a_zero_point * p.a_multiplier - p.b_zero_point * p.b_multiplier;
    let c = Consts {
        a_multiplier: vdupq_n_s32(p.a_multiplier),
        b_multiplier: vdupq_n_s32(p.b_multiplier),
        offset: vdupq_n_s32(offset),
        shift: vdupq_n_s32(-p.shift),
        zero_point: vdupq_n_s16(p.output.zero_point as i16),
        lo: vdupq_n_s8(p.output.min),
        hi: vdupq_n_s8(p.output.max),
    };
    let full = p.len / STEP * STEP;
    for i in (0..full).step_by(STEP) {
        // SAFETY: `i + 16 <= len`, the length of all three slices.
        unsafe {
            let v = step(&c, vld1q_s8(a.as_ptr().add(i)), vld1q_s8(b.as_ptr().add(i)));
            vst1q_s8(output.as_mut_ptr().add(i), v);
        }
    }
    if full < p.len {
        let n = p.len - full;
        let (mut ta, mut tb, mut to) = ([0i8; STEP], [0i8; STEP], [0i8; STEP]);
        ta[..n].copy_from_slice(&a[full..]);
        tb[..n].copy_from_slice(&b[full..]);
        // SAFETY: 16-byte arrays on the stack.
        unsafe { vst1q_s8(to.as_mut_ptr(), step(&c, vld1q_s8(ta.as_ptr()), vld1q_s8(tb.as_ptr()))) };
        output[full..].copy_from_slice(&to[..n]);
    }
}

/// 16 outputs from 16 elements of each input.
#[target_feature(enable = "neon")]
#[inline]
fn step(c: &Consts, a: int8x16_t, b: int8x16_t) -> int8x16_t {
    let (a0, a1) = (vmovl_s8(vget_low_s8(a)), vmovl_high_s8(a));
    let (b0, b1) = (vmovl_s8(vget_low_s8(b)), vmovl_high_s8(b));
    let lanes = |a: int16x4_t, b: int16x4_t| {
        let acc = vmlaq_s32(vmlaq_s32(c.offset, vmovl_s16(a), c.a_multiplier), vmovl_s16(b), c.b_multiplier);
        vqmovn_s32(vshlq_s32(acc, c.shift))
    };
    let low = vcombine_s16(lanes(vget_low_s16(a0), vget_low_s16(b0)), lanes(vget_high_s16(a0), vget_high_s16(b0)));
    let high = vcombine_s16(lanes(vget_low_s16(a1), vget_low_s16(b1)), lanes(vget_high_s16(a1), vget_high_s16(b1)));
    let bytes = vcombine_s8(vqmovn_s16(vqaddq_s16(low, c.zero_point)), vqmovn_s16(vqaddq_s16(high, c.zero_point)));
    vminq_s8(vmaxq_s8(bytes, c.lo), c.hi)
}
