//! The aarch64 GEMMs over the packed layout: a NEON baseline for Cortex-A53/A72-class cores
//! and an `sdot` kernel for cores with the dot-product extension (A55, A76 and later).
//!
//! Both walk the rows in tiles and, within a tile, the output channels one 16-wide packed
//! block at a time, keeping the whole tile's accumulators in registers across the reduction:
//!
//! - `sdot`, 4 rows x 16 channels (16 accumulators). Each 64-byte group of the packed
//!   layout is four operands `w[j]` (channels `4j..4j+4`, four reduction bytes each); one
//!   16-byte load of a row covers four groups, and `sdot acc[r][j], w[j], x[r].4b[lane]`
//!   adds the four products of channel `4j + i` into lane `i`. The dot-product intrinsics
//!   are not stable in Rust, so `sdot` is a one-instruction `asm!`.
//! - Baseline, 2 rows x 16 channels (16 accumulators). The four bytes of a group of a row
//!   are broadcast to every 32-bit lane, so `smull` / `smull2` against `w[j]` give the 16
//!   products of channels `4j..4j+4` as int16; `smlal` / `smlal2` add the next group's
//!   products in int16, and `sadalp` folds adjacent pairs into int32. Each channel ends
//!   with two partial sums in adjacent lanes, which one `addp` joins.
//!
//! A tail of fewer than 16 reduction bytes is copied into a zeroed buffer (the packed
//! weights are already zero there), and a block of fewer than 16 output channels is computed
//! whole and stored through a buffer, so no load or store leaves its slice.
//!
//! Exactness (every step equals [`Requant::apply`] and [`OutputQuant::finish`]):
//!
//! - Accumulation. The scalar twin adds products with `wrapping_add` in int32, so its
//!   result is the true sum modulo 2^32, whatever the order. `sdot`, `sadalp`, `addp` and
//!   `add` are modular int32 additions as well. The only narrower sums are the baseline's
//!   int16 pairs: an activation lies in `[-128, 127]` and a weight in `[-127, 127]` (the
//!   numeric contract), so one product is at most 16,256 in magnitude and two at most
//!   32,512 < 2^15: exact. (A weight of -128 paired with two -128 activations would reach
//!   32,768; the compiler never emits one.)
//! - Multiplication. `smull` / `smull2` form the exact 64-bit product `acc * m`; its
//!   magnitude is at most 2^62.
//! - Rounding. `srshl` by `-s` computes, in the architecture's unbounded arithmetic,
//!   `(x + 2^(s-1)) >> s` with an arithmetic (flooring) shift, then keeps the low 64 bits.
//!   `Requant::apply` computes the same expression in i64, where it cannot overflow
//!   (`|x| <= 2^62`, `2^(s-1) <= 2^61`), and the result is below 2^62 in magnitude, so
//!   keeping 64 bits loses nothing. The shift count is read from the low byte of each
//!   64-bit lane as a signed value; `-s` for `s` in `[1, 62]` is exactly representable.
//!   Ties therefore round toward +inf in both (floor of `x / 2^s + 1/2`).
//! - Saturation. `sqxtn` saturates int64 to int32 (`clamp(i32::MIN, i32::MAX)`), `sqadd`
//!   is `saturating_add`, and `smax` then `smin` are `max(min)` then `min(max)`, in the
//!   scalar order. The result lies in `[-128, 127]` (it is `max` when `min > max`), so the
//!   saturating narrowings `sqxtn` to int16 and int8 leave it unchanged.
//!
//! [`Requant::apply`]: crate::requant::Requant::apply

use crate::neon_quant::BlockQuant;
use core::arch::aarch64::*;
use core::arch::asm;

use super::{check, Gemm, GemmQuant, NR};
use crate::cpu::Backend;

/// Rows per tile of the `sdot` kernel.
const MR_DOT: usize = 4;
/// Rows per tile of the baseline kernel.
const MR_NEON: usize = 2;

/// NEON GEMM; `dot` selects the `sdot` kernel.
pub(super) fn gemm(p: &Gemm, input: &[i8], packed: &[i8], q: &GemmQuant<'_>, output: &mut [i8], dot: bool) {
    check(p, input, packed, q, output);
    if dot {
        assert!(Backend::NeonDot.available(), "gemm: this CPU has no dot-product extension");
        // SAFETY: NEON is part of every aarch64 CPU and the dot-product extension was
        // detected just above.
        unsafe { gemm_dot(p, input, packed, q, output) }
    } else {
        // SAFETY: NEON is part of every aarch64 CPU.
        unsafe { gemm_neon(p, input, packed, q, output) }
    }
}

/// The `sdot` GEMM. Safety: the CPU must have NEON and the dot-product extension.
///
/// Channel blocks outside, row tiles inside: a block's weights (`16 * K` bytes) and
/// constants stay in L1 and registers while the rows stream past, which reads the
/// activations `N / 16` times rather than the weights `rows / 4` times.
#[target_feature(enable = "neon,dotprod")]
unsafe fn gemm_dot(p: &Gemm, input: &[i8], packed: &[i8], q: &GemmQuant<'_>, output: &mut [i8]) {
    let block_len = p.k.div_ceil(4) * 64;
    for nb in 0..p.n.div_ceil(NR) {
        let block = &packed[nb * block_len..(nb + 1) * block_len];
        let bq = BlockQuant::load(q.bias, q.multiplier, q.shift, nb * NR, p.output);
        let mut r = 0;
        while r + MR_DOT <= p.rows {
            dot_tile::<MR_DOT>(p, input, block, &bq, output, r, nb * NR);
            r += MR_DOT;
        }
        match p.rows - r {
            3 => dot_tile::<3>(p, input, block, &bq, output, r, nb * NR),
            2 => dot_tile::<2>(p, input, block, &bq, output, r, nb * NR),
            1 => dot_tile::<1>(p, input, block, &bq, output, r, nb * NR),
            _ => {}
        }
    }
}

/// The baseline GEMM, in the same order. Safety: the CPU must have NEON.
#[target_feature(enable = "neon")]
unsafe fn gemm_neon(p: &Gemm, input: &[i8], packed: &[i8], q: &GemmQuant<'_>, output: &mut [i8]) {
    let block_len = p.k.div_ceil(4) * 64;
    for nb in 0..p.n.div_ceil(NR) {
        let block = &packed[nb * block_len..(nb + 1) * block_len];
        let bq = BlockQuant::load(q.bias, q.multiplier, q.shift, nb * NR, p.output);
        let mut r = 0;
        while r + MR_NEON <= p.rows {
            neon_tile::<MR_NEON>(p, input, block, &bq, output, r, nb * NR);
            r += MR_NEON;
        }
        if r < p.rows {
            neon_tile::<1>(p, input, block, &bq, output, r, nb * NR);
        }
    }
}

/// Rows `r0..r0 + MR` x channels `c0..c0 + 16` (fewer at the edge) with `sdot`.
#[target_feature(enable = "neon,dotprod")]
fn dot_tile<const MR: usize>(
    p: &Gemm,
    input: &[i8],
    block: &[i8],
    bq: &BlockQuant,
    output: &mut [i8],
    r0: usize,
    c0: usize,
) {
    let mut acc = [bq.bias; MR];
    let rows = row_starts::<MR>(p, input, r0);
    let chunks = p.k / 16;
    let mut x = [vdupq_n_s8(0); MR];
    for (ch, w) in block.chunks_exact(256).take(chunks).enumerate() {
        for (xi, &row) in x.iter_mut().zip(&rows) {
            // SAFETY: `ch < chunks = k / 16`, so bytes `16 * ch..16 * ch + 16` lie within the
            // `k` readable bytes at `row` (see `row_starts`).
            *xi = unsafe { vld1q_s8(row.add(16 * ch)) };
        }
        let w: &[i8; 256] = w.try_into().expect("256-byte chunks");
        dot_group::<0, MR>(&mut acc, sub(w, 0), &x);
        dot_group::<1, MR>(&mut acc, sub(w, 64), &x);
        dot_group::<2, MR>(&mut acc, sub(w, 128), &x);
        dot_group::<3, MR>(&mut acc, sub(w, 192), &x);
    }
    let tail = p.k - chunks * 16;
    if tail > 0 {
        for (i, xi) in x.iter_mut().enumerate() {
            *xi = load_tail(&input[(r0 + i) * p.input_stride + chunks * 16..][..tail]);
        }
        let w = &block[chunks * 256..];
        dot_group::<0, MR>(&mut acc, group(w, 0), &x);
        if tail > 4 {
            dot_group::<1, MR>(&mut acc, group(w, 1), &x);
        }
        if tail > 8 {
            dot_group::<2, MR>(&mut acc, group(w, 2), &x);
        }
        if tail > 12 {
            dot_group::<3, MR>(&mut acc, group(w, 3), &x);
        }
    }
    for (i, a) in acc.iter().enumerate() {
        store_block(p, output, r0 + i, c0, bq.finish(a));
    }
}

/// Adds group `L` of each row's 16 loaded bytes times the 64-byte weight group `w`.
#[target_feature(enable = "neon,dotprod")]
#[inline]
fn dot_group<const L: i32, const MR: usize>(acc: &mut [[int32x4_t; 4]; MR], w: &[i8; 64], x: &[int8x16_t; MR]) {
    let w = [load16(sub(w, 0)), load16(sub(w, 16)), load16(sub(w, 32)), load16(sub(w, 48))];
    for (a, &xi) in acc.iter_mut().zip(x) {
        for (aj, &wj) in a.iter_mut().zip(&w) {
            *aj = sdot_lane::<L>(*aj, wj, xi);
        }
    }
}

/// `sdot acc.4s, w.16b, x.4b[L]`: lane `i` of `acc` plus `Σ_{b<4} w[4i + b] * x[4L + b]`.
#[target_feature(enable = "neon,dotprod")]
#[inline]
fn sdot_lane<const L: i32>(acc: int32x4_t, w: int8x16_t, x: int8x16_t) -> int32x4_t {
    let mut acc = acc;
    // SAFETY: `sdot` reads and writes only the three named vector registers, touches no
    // memory, stack or flags, and this function is only compiled for and called on CPUs
    // with the dot-product extension (its `target_feature`).
    unsafe {
        asm!(
            "sdot {acc:v}.4s, {w:v}.16b, {x:v}.4b[{lane}]",
            acc = inout(vreg) acc,
            w = in(vreg) w,
            x = in(vreg) x,
            lane = const L,
            options(pure, nomem, nostack, preserves_flags),
        );
    }
    acc
}

/// Rows `r0..r0 + MR` x channels `c0..c0 + 16` (fewer at the edge) with `smull` / `smlal`
/// / `sadalp`, one half of the block (8 channels) at a time so that accumulators, weights
/// and broadcast activations fit the 32 vector registers without spilling.
#[target_feature(enable = "neon")]
fn neon_tile<const MR: usize>(
    p: &Gemm,
    input: &[i8],
    block: &[i8],
    bq: &BlockQuant,
    output: &mut [i8],
    r0: usize,
    c0: usize,
) {
    let rows = row_starts::<MR>(p, input, r0);
    let mut sums = [bq.bias; MR];
    for half in 0..2 {
        // acc[r][2j] holds two partial sums of channels 8 * half + 4j and + 4j + 1,
        // acc[r][2j + 1] of channels 8 * half + 4j + 2 and + 4j + 3.
        let mut acc = [[vdupq_n_s32(0); 4]; MR];
        let chunks = p.k / 16;
        let mut x = [vdupq_n_s8(0); MR];
        for (ch, w) in block.chunks_exact(256).take(chunks).enumerate() {
            for (xi, &row) in x.iter_mut().zip(&rows) {
                // SAFETY: `ch < chunks = k / 16`, so bytes `16 * ch..16 * ch + 16` lie within
                // the `k` readable bytes at `row` (see `row_starts`).
                *xi = unsafe { vld1q_s8(row.add(16 * ch)) };
            }
            let w: &[i8; 256] = w.try_into().expect("256-byte chunks");
            mul_pair::<0, 1, MR>(&mut acc, sub(w, 32 * half), sub(w, 64 + 32 * half), &x);
            mul_pair::<2, 3, MR>(&mut acc, sub(w, 128 + 32 * half), sub(w, 192 + 32 * half), &x);
        }
        let tail = p.k - chunks * 16;
        if tail > 0 {
            for (i, xi) in x.iter_mut().enumerate() {
                *xi = load_tail(&input[(r0 + i) * p.input_stride + chunks * 16..][..tail]);
            }
            let w = &block[chunks * 256..];
            let g = |n: usize| -> &[i8; 32] { sub(group(w, n), 32 * half) };
            match tail.div_ceil(4) {
                1 => mul_one::<0, MR>(&mut acc, g(0), &x),
                2 => mul_pair::<0, 1, MR>(&mut acc, g(0), g(1), &x),
                3 => {
                    mul_pair::<0, 1, MR>(&mut acc, g(0), g(1), &x);
                    mul_one::<2, MR>(&mut acc, g(2), &x);
                }
                _ => {
                    mul_pair::<0, 1, MR>(&mut acc, g(0), g(1), &x);
                    mul_pair::<2, 3, MR>(&mut acc, g(2), g(3), &x);
                }
            }
        }
        for (s, a) in sums.iter_mut().zip(&acc) {
            for j in 0..2 {
                s[2 * half + j] = vaddq_s32(s[2 * half + j], vpaddq_s32(a[2 * j], a[2 * j + 1]));
            }
        }
    }
    for (i, s) in sums.iter().enumerate() {
        store_block(p, output, r0 + i, c0, bq.finish(s));
    }
}

/// Adds groups `LA` and `LB` of each row's 16 loaded bytes times the 8-channel halves
/// `wa` and `wb` of two consecutive weight groups, pairing the products in int16 before
/// widening.
#[target_feature(enable = "neon")]
#[inline]
fn mul_pair<const LA: i32, const LB: i32, const MR: usize>(
    acc: &mut [[int32x4_t; 4]; MR],
    wa: &[i8; 32],
    wb: &[i8; 32],
    x: &[int8x16_t; MR],
) {
    for j in 0..2 {
        let (wa, wb) = (load16(sub(wa, 16 * j)), load16(sub(wb, 16 * j)));
        for i in 0..MR {
            let (xa, xb) = (broadcast_group::<LA>(x[i]), broadcast_group::<LB>(x[i]));
            let lo = vmlal_s8(vmull_s8(vget_low_s8(wa), vget_low_s8(xa)), vget_low_s8(wb), vget_low_s8(xb));
            let hi = vmlal_high_s8(vmull_high_s8(wa, xa), wb, xb);
            acc[i][2 * j] = vpadalq_s16(acc[i][2 * j], lo);
            acc[i][2 * j + 1] = vpadalq_s16(acc[i][2 * j + 1], hi);
        }
    }
}

/// Adds group `L` of each row's 16 loaded bytes times the 8-channel half `w` of a weight
/// group.
#[target_feature(enable = "neon")]
#[inline]
fn mul_one<const L: i32, const MR: usize>(acc: &mut [[int32x4_t; 4]; MR], w: &[i8; 32], x: &[int8x16_t; MR]) {
    for j in 0..2 {
        let wa = load16(sub(w, 16 * j));
        for i in 0..MR {
            let xa = broadcast_group::<L>(x[i]);
            acc[i][2 * j] = vpadalq_s16(acc[i][2 * j], vmull_s8(vget_low_s8(wa), vget_low_s8(xa)));
            acc[i][2 * j + 1] = vpadalq_s16(acc[i][2 * j + 1], vmull_high_s8(wa, xa));
        }
    }
}

/// Bytes `4L..4L + 4` of `x` repeated four times.
#[target_feature(enable = "neon")]
#[inline]
fn broadcast_group<const L: i32>(x: int8x16_t) -> int8x16_t {
    vreinterpretq_s8_s32(vdupq_laneq_s32::<L>(vreinterpretq_s32_s8(x)))
}

/// Pointers to the first byte of rows `r0..r0 + MR` of the input, each checked to start
/// `k` readable bytes.
#[inline(always)]
fn row_starts<const MR: usize>(p: &Gemm, input: &[i8], r0: usize) -> [*const i8; MR] {
    core::array::from_fn(|i| input[(r0 + i) * p.input_stride..][..p.k].as_ptr())
}

/// The `N` bytes of `w` from `at` (lengths known at compile time fold the check away).
#[inline(always)]
fn sub<const M: usize, const N: usize>(w: &[i8; M], at: usize) -> &[i8; N] {
    w[at..at + N].try_into().expect("a sub-array within bounds")
}

/// The 64-byte weight group `g` of a block slice.
#[inline(always)]
fn group(w: &[i8], g: usize) -> &[i8; 64] {
    w[g * 64..g * 64 + 64].try_into().expect("a 64-byte slice")
}

/// The 16 bytes of `s`.
#[target_feature(enable = "neon")]
#[inline]
fn load16(s: &[i8; 16]) -> int8x16_t {
    // SAFETY: `s` is 16 readable bytes.
    unsafe { vld1q_s8(s.as_ptr()) }
}

/// `s` (at most 16 bytes) followed by zeros.
#[target_feature(enable = "neon")]
#[inline]
fn load_tail(s: &[i8]) -> int8x16_t {
    let mut buf = [0i8; 16];
    buf[..s.len()].copy_from_slice(s);
    load16(&buf)
}

/// Stores the first `min(16, n - c0)` bytes of `v` at channel `c0` of output row `r`.
#[target_feature(enable = "neon")]
#[inline]
fn store_block(p: &Gemm, output: &mut [i8], r: usize, c0: usize, v: int8x16_t) {
    let width = (p.n - c0).min(16);
    let dst = &mut output[r * p.output_stride + c0..][..width];
    if let Ok(dst) = <&mut [i8; 16]>::try_from(&mut *dst) {
        // SAFETY: `dst` is 16 writable bytes.
        unsafe { vst1q_s8(dst.as_mut_ptr(), v) }
    } else {
        let mut buf = [0i8; 16];
        // SAFETY: `buf` is 16 writable bytes.
        unsafe { vst1q_s8(buf.as_mut_ptr(), v) }
        dst.copy_from_slice(&buf[..width]);
    }
}
