//! The AVX-VNNI GEMM: the VEX-encoded, 256-bit `vpdpbusd` over the packed layout, for
//! x86-64 cores that have AVX-VNNI but maybe not AVX-512 (Intel Alder Lake and later
//! client cores, Zen 5).
//!
//! The arithmetic is the AVX-512 kernel's (`avx512.rs`) with ymm registers and no mask
//! registers. `vpdpbusd` multiplies unsigned by signed bytes and adds groups of four
//! products into int32 lanes (wrapping, like the scalar twin). Activations are broadcast
//! four bytes at a time and fed as `x ^ 0x80 = x + 128`; the accumulators start from
//! `bias_u8`, which cancels the `128 * Σ w` this adds (see the module docs of `gemm`). A
//! 64-byte packed group (16 channels x 4 inputs) is two ymm operands: channels 0-7 in its
//! first 32 bytes, 8-15 in the second, so a 16-channel block takes two accumulators per row.
//!
//! Loop order: the output channels are cut into panels of whole blocks whose packed weights
//! fit about [`PANEL_BYTES`] (so they stay in L1 while the rows stream past), at least four
//! blocks when there are only one or two rows (fully connected layers, where the weights are
//! read once anyway). For each panel the rows are walked in tiles of up to [`MR`] = 6 rows;
//! each tile walks the panel's blocks, [`tile_width`] at a time, over the whole reduction.
//! The widest register tile is 6 rows x 16 channels: 12 accumulators, two weight vectors,
//! the broadcast row and the `0x80` constant, the 16 ymm registers AVX2 has. Per group of 4
//! inputs it does two weight loads, six broadcasts (`vpbroadcastd` + `vpxor`) and twelve
//! `vpdpbusd`, enough independent chains to keep two `vpdpbusd` per cycle busy. Tiles of
//! one to three rows are wider (up to 4 blocks) so that they still have 8 or more chains.
//!
//! The epilogue (`finish`) computes `OutputQuant::finish(Requant::apply(acc))` exactly with
//! the AVX2 kernel's ymm requantization (forms 1 to 3 of "Exact requantization" in
//! `avx2.rs`): the fast form when every shift of the tile's blocks is in `[33, 62]`, the
//! general 64-bit form otherwise. Each row of a block narrows to 16 bytes with saturating
//! packs and one store; a block that `n` ends inside goes through a stack buffer.

use core::arch::x86_64::*;
use core::mem::MaybeUninit;

use super::avx2::{requant_fast, requant_general, Bounds};
use super::avx512::tail;
use super::{Gemm, GemmQuant, Job, NR};

/// The most rows in a tile.
const MR: usize = 6;
/// The most blocks in a panel.
const PANEL_MAX: usize = 8;
/// Packed weight bytes a panel aims at (panels are at least one block).
const PANEL_BYTES: usize = 16 * 1024;
/// Accumulators a tile spills to its epilogue: `rows * blocks * 2` at most (6 x 1, 3 x 2,
/// 2 x 2, 1 x 4).
const SPILL: usize = 12;
/// `0x80` in every byte, loaded through a volatile read of its address (see `tile`).
static FLIP: [u32; 8] = [0x8080_8080; 8];

/// AVX-VNNI GEMM (lengths already checked by the dispatcher).
pub(super) fn gemm(p: &Gemm, input: &[i8], packed: &[i8], q: &GemmQuant<'_>, output: &mut [i8]) {
    let Some(bounds) = Bounds::new(p.output) else {
        // A zero point so far outside the int8 range that `min - z` leaves i32: never
        // planned, but still defined, so the scalar twin answers.
        return super::scalar::gemm(p, input, packed, q, output);
    };
    if p.rows == 0 || p.n == 0 {
        return;
    }
    let job = Job::new(p, input, packed, output);
    // SAFETY: the dispatcher only calls this module when `Backend::AvxVnni.available()`
    // (AVX2 and AVX-VNNI present) and after `gemm::check` verified every slice length
    // against `p`; `job` borrows the slices for the duration of the call.
    unsafe { gemm_vnni(&job, q, bounds) }
}

/// The epilogue constants of one 16-channel block, as two halves of eight channels.
#[derive(Clone, Copy)]
struct BlockQuant {
    /// `bias_u8`, the accumulators' start.
    bias: [__m256i; 2],
    /// Multipliers; `vpmuldq` reads the even lanes.
    m_even: [__m256i; 2],
    /// The odd lanes' multipliers, moved to the even positions.
    m_odd: [__m256i; 2],
    /// Fast path: `2^(s - 33)` (unused when the block is not fast).
    round: [__m256i; 2],
    /// Fast path: `s - 32` (unused when the block is not fast).
    shift: [__m256i; 2],
    /// General path: the shifts `s` (a tile with any block off the fast form runs the
    /// general form for all its blocks, which is exact for every shift).
    s: [__m256i; 2],
    /// The fast path applies: every shift of the block is in `[33, 62]` and the zero
    /// point is small (`Bounds::fast`).
    fast: bool,
    /// Channels of the block that exist (`n` may end inside it): 1 to 16.
    valid: usize,
}

/// Blocks side by side in a tile of `mr` rows.
fn tile_width(mr: usize) -> usize {
    match mr {
        1 => 4,
        2 | 3 => 2,
        _ => 1,
    }
}

/// Blocks per panel, given the bytes of one packed block and the rows.
fn panel_blocks(block_bytes: usize, rows: usize) -> usize {
    let fit = (PANEL_BYTES / block_bytes.max(1)).clamp(1, PANEL_MAX);
    if rows <= 2 {
        fit.max(tile_width(rows))
    } else {
        fit
    }
}

#[target_feature(enable = "avx2,avxvnni")]
unsafe fn gemm_vnni(job: &Job, q: &GemmQuant<'_>, bounds: Bounds) {
    let zero = _mm256_setzero_si256();
    let blank = BlockQuant {
        bias: [zero; 2],
        m_even: [zero; 2],
        m_odd: [zero; 2],
        round: [zero; 2],
        shift: [zero; 2],
        s: [zero; 2],
        fast: true,
        valid: 0,
    };
    let mut panel = [blank; PANEL_MAX];
    // Accumulators on their way from a tile's registers to `finish`.
    let mut spill = MaybeUninit::<[__m256i; SPILL]>::uninit();
    let spill = spill.as_mut_ptr().cast::<__m256i>();
    let blocks = job.n.div_ceil(NR);
    let panel_max = panel_blocks(job.groups * 64, job.rows);
    let mut nb0 = 0;
    while nb0 < blocks {
        let np = panel_max.min(blocks - nb0);
        for (j, b) in panel[..np].iter_mut().enumerate() {
            *b = block_quant(q, nb0 + j, job.n, bounds);
        }
        let mut r0 = 0;
        while r0 < job.rows {
            let mr = MR.min(job.rows - r0);
            let mut j0 = 0;
            while j0 < np {
                let nb = tile_width(mr).min(np - j0);
                let t = (job, r0, nb0 + j0, &panel[j0..j0 + nb], bounds, spill);
                // SAFETY (every arm): `r0 + mr <= rows`, `nb0 + j0 + nb <= blocks` and the
                // slice holds those `nb` blocks' constants, the bounds `tile` requires; each
                // arm's tile is at most `mr` rows by `nb` blocks.
                unsafe {
                    match (mr, nb) {
                        (1, 1) => tile::<1, 1>(t),
                        (1, 2) => tile::<1, 2>(t),
                        (1, 3) => tile::<1, 3>(t),
                        (1, _) => tile::<1, 4>(t),
                        (2, 1) => tile::<2, 1>(t),
                        (2, _) => tile::<2, 2>(t),
                        (3, 1) => tile::<3, 1>(t),
                        (3, _) => tile::<3, 2>(t),
                        (4, _) => tile::<4, 1>(t),
                        (5, _) => tile::<5, 1>(t),
                        (_, _) => tile::<MR, 1>(t),
                    }
                }
                j0 += nb;
            }
            r0 += mr;
        }
        nb0 += np;
    }
}

/// Loads the constants of block `block` (channels `16 * block..min(16 * block + 16, n)`).
#[target_feature(enable = "avx2,avxvnni")]
fn block_quant(q: &GemmQuant<'_>, block: usize, n: usize, bounds: Bounds) -> BlockQuant {
    let c0 = block * NR;
    let valid = (n - c0).min(NR);
    // Lanes past `n` get `m = 0` and `s = 33`: defined values, never stored.
    let lanes = |a: &[i32], fill: i32| {
        let mut v = [fill; NR];
        v[..valid].copy_from_slice(&a[c0..c0 + valid]);
        v
    };
    let s = lanes(q.shift, 33);
    let fast = bounds.fast() && s.iter().all(|s| (33..=62).contains(s));
    let load = |a: [i32; NR]| {
        // SAFETY: reads the two eight-lane halves of a 16-lane array on the stack.
        unsafe { [_mm256_loadu_si256(a.as_ptr().cast()), _mm256_loadu_si256(a.as_ptr().add(8).cast())] }
    };
    let m_even = load(lanes(q.multiplier, 0));
    let s = load(s);
    let (mut round, mut shift) = (s, s);
    if fast {
        for h in 0..2 {
            let s32 = _mm256_sub_epi32(s[h], _mm256_set1_epi32(32));
            round[h] = _mm256_sllv_epi32(_mm256_set1_epi32(1), _mm256_sub_epi32(s32, _mm256_set1_epi32(1)));
            shift[h] = s32;
        }
    }
    BlockQuant {
        bias: load(lanes(q.bias_u8, 0)),
        m_even,
        m_odd: [_mm256_srli_epi64::<32>(m_even[0]), _mm256_srli_epi64::<32>(m_even[1])],
        round,
        shift,
        s,
        fast,
        valid,
    }
}

/// Arguments of a tile: the job, its first row, its first block, the constants of its
/// blocks, the output bounds and the spill buffer ([`SPILL`] vectors).
type TileArgs<'a> = (&'a Job, usize, usize, &'a [BlockQuant], Bounds, *mut __m256i);

/// One tile: rows `r0..r0 + MR` by blocks `nb0..nb0 + NB`, the whole reduction, then the
/// epilogue. Requires `r0 + MR <= job.rows`, `nb0 + NB <= ceil(n / 16)`, `quant` holding
/// at least `NB` blocks' constants and `MR * NB * 2 <= SPILL`.
#[target_feature(enable = "avx2,avxvnni")]
#[inline(never)]
unsafe fn tile<const MR: usize, const NB: usize>((job, r0, nb0, quant, bounds, spill): TileArgs<'_>) {
    let mut acc = [[[_mm256_setzero_si256(); 2]; NB]; MR];
    for row in acc.iter_mut() {
        for (a, b) in row.iter_mut().zip(quant) {
            *a = b.bias;
        }
    }
    let mut x = [job.input; MR];
    for (i, x) in x.iter_mut().enumerate() {
        // SAFETY: row `r0 + i < rows` starts inside `input` (`gemm::check`).
        *x = unsafe { job.input.add((r0 + i) * job.input_stride) };
    }
    // A constant the optimiser cannot see through: otherwise it rewrites
    // `splat(load) ^ splat(0x80)` as a scalar xor followed by a register broadcast (as in
    // the AVX-512 kernel).
    // SAFETY: `FLIP` is 32 readable bytes.
    let flip = unsafe { _mm256_loadu_si256(core::ptr::read_volatile(&&FLIP).as_ptr().cast()) };
    let block_stride = job.groups * 64;
    // SAFETY: blocks `nb0..nb0 + NB` exist, so their groups lie inside `packed`.
    let mut w = unsafe { job.packed.add(nb0 * block_stride) };
    let full = job.k / 4;
    for g in 0..full {
        // SAFETY: group `g` of blocks `nb0..nb0 + NB` lies inside `packed`.
        let wv = unsafe { weights::<NB>(w, block_stride) };
        for i in 0..MR {
            // SAFETY: `4 * g + 4 <= k`: the four bytes belong to row `r0 + i`.
            let v = unsafe { x[i].add(4 * g).cast::<i32>().read_unaligned() };
            let a = _mm256_xor_si256(_mm256_set1_epi32(v), flip);
            for j in 0..NB {
                for h in 0..2 {
                    acc[i][j][h] = _mm256_dpbusd_avx_epi32(acc[i][j][h], a, wv[j][h]);
                }
            }
        }
        // SAFETY: at most one group past the panel's first block (still in `packed`).
        w = unsafe { w.add(64) };
    }
    if full < job.groups {
        // The last 1..3 inputs of each row, read byte by byte (never past the row's `k`
        // bytes); the padding bytes meet packed zeros.
        // SAFETY: the last group of blocks `nb0..nb0 + NB`.
        let wv = unsafe { weights::<NB>(w, block_stride) };
        for i in 0..MR {
            // SAFETY: `tail(p, k - 4 * full)` reads bytes `4 * full..k` of row `r0 + i`.
            let v = unsafe { tail(x[i].add(4 * full), job.k - 4 * full) };
            let a = _mm256_xor_si256(_mm256_set1_epi32(v), flip);
            for j in 0..NB {
                for h in 0..2 {
                    acc[i][j][h] = _mm256_dpbusd_avx_epi32(acc[i][j][h], a, wv[j][h]);
                }
            }
        }
    }
    // The accumulators leave their registers only here, through explicit stores (an
    // array whose address escapes would live in memory across the loop).
    for (i, row) in acc.iter().enumerate() {
        for (j, pair) in row.iter().enumerate() {
            for (h, a) in pair.iter().enumerate() {
                // SAFETY: `(i * NB + j) * 2 + h < MR * NB * 2 <= SPILL`, the spill's size.
                unsafe { _mm256_storeu_si256(spill.add((i * NB + j) * 2 + h).cast(), *a) };
            }
        }
    }
    // SAFETY: the `MR * NB * 2` vectors were just written; rows and blocks as required
    // above. Tiles whose blocks all allow the fast form get an epilogue without the general
    // one (as in the AVX-512 kernel).
    unsafe {
        if quant[..NB].iter().all(|b| b.fast) {
            finish::<true>(spill, MR, NB, job, r0, nb0, quant, bounds)
        } else {
            finish::<false>(spill, MR, NB, job, r0, nb0, quant, bounds)
        }
    };
}

/// One group of `NB` consecutive blocks, each as two halves of eight channels. Requires
/// `w + j * block_stride` to start a group inside `packed` for every `j < NB`.
#[target_feature(enable = "avx2,avxvnni")]
#[inline]
unsafe fn weights<const NB: usize>(w: *const i8, block_stride: usize) -> [[__m256i; 2]; NB] {
    let mut wv = [[_mm256_setzero_si256(); 2]; NB];
    for (j, wv) in wv.iter_mut().enumerate() {
        // SAFETY: the 64 bytes of a group, as required above.
        unsafe {
            wv[0] = _mm256_loadu_si256(w.add(j * block_stride).cast());
            wv[1] = _mm256_loadu_si256(w.add(j * block_stride + 32).cast());
        }
    }
    wv
}

/// Requantizes and stores an `mr x nb` tile (`acc[(i * nb + j) * 2 + h]`: row `r0 + i`,
/// channels `8 * h..8 * h + 8` of block `nb0 + j`). Requires `r0 + mr <= job.rows`,
/// `nb0 + nb <= ceil(n / 16)` and `quant` holding `nb` blocks' constants.
#[target_feature(enable = "avx2,avxvnni")]
#[inline(never)]
unsafe fn finish<const FAST: bool>(
    acc: *const __m256i,
    mr: usize,
    nb: usize,
    job: &Job,
    r0: usize,
    nb0: usize,
    quant: &[BlockQuant],
    bounds: Bounds,
) {
    let zp = _mm256_set1_epi32(bounds.zero_point);
    let (lo, hi) = (_mm256_set1_epi32(bounds.lo), _mm256_set1_epi32(bounds.hi));
    let (min, max) = (_mm_set1_epi8(bounds.min), _mm_set1_epi8(bounds.max));
    // After the two packs, dword `4l + h` holds lanes `4l..4l + 4` of half `h`.
    let order = _mm256_setr_epi32(0, 4, 1, 5, 0, 4, 1, 5);
    for i in 0..mr {
        // SAFETY: row `r0 + i < rows`; its `n` bytes lie inside `output`.
        let out = unsafe { job.output.add((r0 + i) * job.output_stride) };
        for (j, b) in quant[..nb].iter().enumerate() {
            let half = |h: usize| {
                // SAFETY: `(i * nb + j) * 2 + h < mr * nb * 2` vectors behind `acc`.
                let a = unsafe { _mm256_loadu_si256(acc.add((i * nb + j) * 2 + h).cast()) };
                let v = if FAST {
                    requant_fast(a, b.m_even[h], b.m_odd[h], b.round[h], b.shift[h])
                } else {
                    requant_general(a, b.m_even[h], b.m_odd[h], b.s[h], lo, hi)
                };
                _mm256_add_epi32(v, zp)
            };
            // Saturating to int8 then clamping to `[min, max]` is the clamp the scalar path
            // does (forms 1 and 2 of "Exact requantization" in `avx2.rs`).
            let w = _mm256_packs_epi32(half(0), half(1));
            let bytes = _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(_mm256_packs_epi16(w, w), order));
            let bytes = _mm_min_epi8(_mm_max_epi8(bytes, min), max);
            // SAFETY: block `nb0 + j` starts before `n`, at byte `(nb0 + j) * 16` of the row.
            let dst = unsafe { out.add((nb0 + j) * NR) };
            if b.valid == NR {
                // SAFETY: the block's 16 channels all exist: 16 bytes of the row.
                unsafe { _mm_storeu_si128(dst.cast(), bytes) };
            } else {
                let mut tmp = [0i8; NR];
                // SAFETY: 16 bytes on the stack, then the `valid` bytes of the row that
                // belong to channels below `n`.
                unsafe {
                    _mm_storeu_si128(tmp.as_mut_ptr().cast(), bytes);
                    core::ptr::copy_nonoverlapping(tmp.as_ptr(), dst, b.valid);
                }
            }
        }
    }
}
