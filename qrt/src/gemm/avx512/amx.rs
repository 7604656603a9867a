//! The GEMM on AMX-INT8 tiles (backend `amx`): `tdpbssd` multiplies signed by signed
//! bytes, so the input is read as it is (no flip) and the accumulators start from `bias`.
//!
//! The packed layout is already what a tile of weights wants: 16 groups of a block (64
//! inputs by 16 channels, 1 KiB) are one tile of 16 rows of 64 bytes, and 16 input rows of
//! 64 bytes are one tile of activations. Eight tile registers hold 2 x 2 accumulator
//! tiles (32 rows by 32 channels), two of activations and two of weights: one tile load
//! per `tdpbssd`. The accumulators start from zero and go through a stack buffer to the
//! AVX-512 epilogue (`requantize`, shared with the VNNI tiles), which adds the bias: a tile
//! loaded from the bias row (stride 0) cost more than that add (10 to 15% on reductions
//! of 64 to 96).
//!
//! Only reductions of at least [`MIN_K`] inputs (a multiple of 4) run here: every whole
//! 16-row tile, and the rows after them in one shorter tile where they are enough to pay
//! for it ([`short_tile_min`]); the caller runs the rest on the VNNI kernels. A reduction's last part of
//! fewer than 64 inputs reads its activations from a zero-padded copy, so the weight tile
//! may run past the block's groups: into the next block's (multiplied by zeros), or, for
//! the last block, from a zero-padded copy too, never past the packed weights.
//!
//! Tile registers are not renamed: a load into a tile waits for the products that read
//! it. On an Intel Xeon (Sapphire Rapids class) `tdpbssd` from registers ran 7.7 times
//! the `vpdpbusd zmm` rate, and with one 1 KiB load per product about 2 times.

use core::arch::asm;
use core::arch::x86_64::*;
use core::mem::MaybeUninit;

use super::{block_quant, requantize, BlockQuant, Bounds, GemmQuant, Job, NB_MAX, NR};

/// Rows of a tile.
const TM: usize = 16;
/// Inputs per tile step: 64 bytes per row of activations, 16 groups of weights.
const TK: usize = 64;
/// The shortest reduction the tiles take: below it the epilogue and the tile stores
/// outweigh the products, which the VNNI kernels do well enough.
pub(super) const MIN_K: usize = 48;

/// `ldtilecfg`'s 64-byte operand (palette 1).
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct TileConfig {
    palette: u8,
    start_row: u8,
    reserved: [u8; 14],
    /// Bytes per row of each tile.
    colsb: [u16; 16],
    /// Rows of each tile.
    rows: [u8; 16],
}

/// Tiles 0 to 3: accumulators (row tile `i`, block `j` in tile `2i + j`); 4 and 5:
/// activations of row tiles 0 and 1; 6 and 7: weights of blocks 0 and 1. All 16 rows of
/// 64 bytes.
const CONFIG: TileConfig = TileConfig {
    palette: 1,
    start_row: 0,
    reserved: [0; 14],
    colsb: [64, 64, 64, 64, 64, 64, 64, 64, 0, 0, 0, 0, 0, 0, 0, 0],
    rows: [16, 16, 16, 16, 16, 16, 16, 16, 0, 0, 0, 0, 0, 0, 0, 0],
};

/// The GEMM's first rows on the tiles, if the reduction suits them (`k >= MIN_K`, a
/// multiple of 4): every whole 16-row tile, and the rows left after them in one shorter
/// tile where there are at least [`short_tile_min`] of them. Returns the rows done (0 if
/// the tiles take none).
///
/// # Safety
/// Requires AVX-512 F/BW/VL/VNNI, AMX-TILE and AMX-INT8 with the tile state granted to
/// this process, and `job` a checked GEMM.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
pub(super) unsafe fn gemm(job: &Job, q: &GemmQuant<'_>, bounds: Bounds) -> usize {
    if job.k < MIN_K || !job.k.is_multiple_of(4) {
        return 0;
    }
    let row_tiles = job.rows / TM;
    let left = job.rows % TM;
    let short = if left >= short_tile_min(job.k) { left } else { 0 };
    if row_tiles == 0 && short == 0 {
        return 0;
    }
    let blocks = job.n.div_ceil(NR);
    let steps = job.k / TK;
    let tail = job.k % TK;
    let block_bytes = job.groups * 64;
    // The last block's weights for the last step, zero-padded to a whole tile.
    let mut last_weights = [0i8; 16 * 64];
    if tail > 0 {
        let from = (blocks - 1) * block_bytes + steps * 16 * 64;
        // SAFETY: the last block's groups `16 * steps..groups` (`tail / 4` of them) lie
        // inside `packed`, and `tail * 16 < 1024` bytes fit the copy.
        unsafe { core::ptr::copy_nonoverlapping(job.packed.add(from), last_weights.as_mut_ptr(), tail * 16) };
    }
    // The last step's activations of two row tiles, zero-padded to 64 bytes a row.
    let mut last_inputs = [[0i8; TK]; 2 * TM];
    // Two row tiles by two blocks of accumulators, row by row (`requantize`'s layout).
    let mut acc = MaybeUninit::<[__m512i; 2 * TM * 2]>::uninit();
    let acc = acc.as_mut_ptr().cast::<__m512i>();
    // The blocks in column groups of up to `NB_MAX`, whose constants are built once for
    // every row (built per group of 32 rows, they cost 3136x96x24 12%); within a group,
    // pairs of blocks, each block built as the first or second of its pair. (The rows'
    // last parts are copied again for each group: 32 rows of at most 60 bytes.)
    let mut consts = [BlockQuant::BLANK; NB_MAX];
    let mut cg0 = 0;
    while cg0 < blocks {
        let cg = (blocks - cg0).min(NB_MAX);
        for (j, c) in consts[..cg].iter_mut().enumerate() {
            // The epilogue adds `bias` (the accumulators start from zero: a tile loaded
            // from the bias row cost more than the add).
            *c = block_quant(q, q.bias, cg0 + j, j % 2, job.n, bounds);
        }
        // Rows `r0..r0 + count` (`mt` tiles; the last may be short) by the group's blocks.
        let mut rows = |r0: usize, mt: usize, count: usize| {
            if tail > 0 {
                for (i, row) in last_inputs[..count].iter_mut().enumerate() {
                    // SAFETY: row `r0 + i < rows`; bytes `64 * steps..k` of it lie inside
                    // the input.
                    unsafe {
                        let from = job.input.add((r0 + i) * job.input_stride + steps * TK);
                        core::ptr::copy_nonoverlapping(from, row.as_mut_ptr(), tail);
                    }
                }
            }
            for p in (0..cg).step_by(2) {
                let (nb0, nt) = (cg0 + p, (cg - p).min(2));
                let run =
                    Run { job, r0, nb0, blocks, steps, tail, last_weights: &last_weights, last_inputs: &last_inputs };
                let panel = &consts[p..p + nt];
                // SAFETY: rows `r0..r0 + count` and blocks `nb0..nb0 + nt` exist, the tiles
                // are configured for them; `acc` holds `2 * TM * 2` vectors; `panel` holds
                // the blocks' constants, each built as its place in the pair.
                unsafe {
                    match (mt, nt) {
                        (2, 2) => run.tiles::<2, 2>(acc),
                        (2, _) => run.tiles::<2, 1>(acc),
                        (_, 2) => run.tiles::<1, 2>(acc),
                        _ => run.tiles::<1, 1>(acc),
                    }
                    match nt {
                        2 => requantize::<2, true>(acc, count, job, r0, nb0, panel, bounds),
                        _ => requantize::<1, true>(acc, count, job, r0, nb0, panel, bounds),
                    }
                }
            }
        };
        if row_tiles > 0 {
            // SAFETY: `CONFIG` is a valid palette-1 configuration; loading it zeroes the
            // tiles.
            unsafe { asm!("ldtilecfg [{0}]", in(reg) &CONFIG, options(nostack, readonly, preserves_flags)) };
            let mut rt = 0;
            while rt < row_tiles {
                let mt = (row_tiles - rt).min(2);
                rows(rt * TM, mt, mt * TM);
                rt += mt;
            }
        }
        if short > 0 {
            // The short tile: accumulators 0 and 1 and activations 4 with `short` rows.
            let mut config = CONFIG;
            for t in [0, 1, 4] {
                config.rows[t] = short as u8;
            }
            // SAFETY: a valid palette-1 configuration (rows 1 to 15 for those tiles).
            unsafe { asm!("ldtilecfg [{0}]", in(reg) &config, options(nostack, readonly, preserves_flags)) };
            rows(row_tiles * TM, 1, short);
        }
        cg0 += cg;
    }
    // SAFETY: releases the tile state this call configured (the tiles are not used after).
    unsafe { asm!("tilerelease", options(nostack, nomem, preserves_flags)) };
    row_tiles * TM + short
}

/// The fewest rows left after the whole tiles that a short tile takes (fewer go to the
/// VNNI kernels). A short tile's weight tiles are whole ones, so it pays only where the
/// VNNI kernels would take longer for those rows. Measured on an Intel Xeon (Sapphire
/// Rapids class), the tiles ran faster from 4 rows with 576 to 1280 inputs, from 8 with
/// 160, and from 13 with 64.
fn short_tile_min(k: usize) -> usize {
    match k {
        512.. => 4,
        256..512 => 6,
        128..256 => 8,
        _ => 13,
    }
}

/// One group of accumulator tiles: where its activations and weights are.
struct Run<'a> {
    job: &'a Job,
    r0: usize,
    nb0: usize,
    blocks: usize,
    steps: usize,
    tail: usize,
    last_weights: &'a [i8; 16 * 64],
    last_inputs: &'a [[i8; TK]; 2 * TM],
}

impl Run<'_> {
    /// `MT` row tiles from row `r0` by `NT` blocks from `nb0`: the accumulators start from
    /// zero, run the whole reduction, and are stored at `acc` (`acc[i * NT + j]`: row
    /// `r0 + i`, block `nb0 + j`).
    ///
    /// # Safety
    /// Requires the tiles configured as [`CONFIG`], rows `r0..r0 + 16 * MT` and blocks
    /// `nb0..nb0 + NT` to exist, `last_inputs` to hold those rows' last `tail` inputs (if
    /// any), and `2 * TM * 2` writable vectors at `acc`.
    #[inline(always)]
    unsafe fn tiles<const MT: usize, const NT: usize>(&self, acc: *mut __m512i) {
        let job = self.job;
        let block_bytes = job.groups * 64;
        // SAFETY (all the loads, products and stores below): each tile load reads 16 rows
        // of 64 bytes from the addresses the comments give, inside their buffers; the
        // stores write the `acc` vectors of their tile.
        unsafe {
            asm!("tilezero tmm0", options(nostack, nomem, preserves_flags));
            if NT == 2 {
                asm!("tilezero tmm1", options(nostack, nomem, preserves_flags));
            }
            if MT == 2 {
                asm!("tilezero tmm2", options(nostack, nomem, preserves_flags));
                if NT == 2 {
                    asm!("tilezero tmm3", options(nostack, nomem, preserves_flags));
                }
            }
            for step in 0..self.steps + usize::from(self.tail > 0) {
                let last = step == self.steps;
                // Activations: rows `r0..r0 + 16` (and the next 16), inputs `64 * step..`
                // (all below `k` except in the last step, which reads the padded copy).
                let (a, a_stride) = if last {
                    (self.last_inputs.as_ptr().cast::<i8>(), TK)
                } else {
                    (job.input.add(self.r0 * job.input_stride + step * TK), job.input_stride)
                };
                // Weights: groups `16 * step..` of each block (in the last step up to 15
                // groups past the block's own, inside the next block, or the padded copy
                // for the last block).
                let weights = |j: usize| {
                    if last && self.nb0 + j == self.blocks - 1 {
                        self.last_weights.as_ptr()
                    } else {
                        job.packed.add((self.nb0 + j) * block_bytes + step * 16 * 64)
                    }
                };
                asm!("tileloadd tmm4, [{p} + {s}*1]", p = in(reg) a, s = in(reg) a_stride, options(nostack, readonly, preserves_flags));
                if MT == 2 {
                    asm!("tileloadd tmm5, [{p} + {s}*1]", p = in(reg) a.add(TM * a_stride), s = in(reg) a_stride, options(nostack, readonly, preserves_flags));
                }
                asm!("tileloadd tmm6, [{p} + {s}*1]", p = in(reg) weights(0), s = in(reg) 64usize, options(nostack, readonly, preserves_flags));
                if NT == 2 {
                    asm!("tileloadd tmm7, [{p} + {s}*1]", p = in(reg) weights(1), s = in(reg) 64usize, options(nostack, readonly, preserves_flags));
                }
                asm!("tdpbssd tmm0, tmm4, tmm6", options(nostack, nomem, preserves_flags));
                if NT == 2 {
                    asm!("tdpbssd tmm1, tmm4, tmm7", options(nostack, nomem, preserves_flags));
                }
                if MT == 2 {
                    asm!("tdpbssd tmm2, tmm5, tmm6", options(nostack, nomem, preserves_flags));
                    if NT == 2 {
                        asm!("tdpbssd tmm3, tmm5, tmm7", options(nostack, nomem, preserves_flags));
                    }
                }
            }
            // Row `i` of tile (row tile `t`, block `j`) is vector `(16t + i) * NT + j`.
            let stride = NT * 64;
            asm!("tilestored [{p} + {s}*1], tmm0", p = in(reg) acc, s = in(reg) stride, options(nostack, preserves_flags));
            if NT == 2 {
                asm!("tilestored [{p} + {s}*1], tmm1", p = in(reg) acc.add(1), s = in(reg) stride, options(nostack, preserves_flags));
            }
            if MT == 2 {
                asm!("tilestored [{p} + {s}*1], tmm2", p = in(reg) acc.add(TM * NT), s = in(reg) stride, options(nostack, preserves_flags));
                if NT == 2 {
                    asm!("tilestored [{p} + {s}*1], tmm3", p = in(reg) acc.add(TM * NT + 1), s = in(reg) stride, options(nostack, preserves_flags));
                }
            }
        }
    }
}
