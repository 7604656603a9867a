//! The AVX-512 VNNI GEMM: `vpdpbusd` over the packed layout, one zmm per 16-channel block.
//!
//! `vpdpbusd` multiplies unsigned by signed bytes and adds groups of four products into
//! int32 lanes (wrapping, like the scalar twin). Activations are broadcast four bytes at a
//! time and fed as `x ^ 0x80 = x + 128`; the accumulators start from `bias_u8`, which
//! cancels the `128 * Σ w` this adds (see the module docs of `gemm`).
//!
//! Loop order: the output channels are cut into panels of `NB` blocks (16 channels each);
//! for each panel the rows are walked in tiles of `MR` rows, and each tile walks the
//! reduction with `MR x NB` zmm accumulators: per group of 4 inputs, `NB` weight loads,
//! `MR` broadcasts (`vpbroadcastd` from memory) and `MR * NB` `vpdpbusd`. `MR x NB` is
//! 6x4, 8x3, 12x2 or 12x1: 12 to 24 independent accumulators keep two `vpdpbusd` per cycle
//! busy through their 4-cycle latency. With one or two rows (fully connected layers)
//! panels are 8 blocks wide, so that eight chains stream the weights.
//!
//! Rows of 64 inputs or more are flipped to `x ^ 0x80` ahead, 64 bytes per `vpxord`, into
//! a small stack buffer that the broadcasts read; shorter rows are flipped per broadcast.
//! Reductions of 16 to 32 inputs skip the tiles (`short_group`): panels of up to 4 blocks
//! whose weights fit in registers (`short_rows`) run two or four rows at a time,
//! accumulators straight into the epilogue, over blocks of 128 rows that are flipped once
//! for every panel of the layer (up to 16 blocks), not once per broadcast.
//! On Intel's server cores `vpxord` and `vpdpbusd` share the same two ports, so a
//! per-broadcast xor costs `1 / NB` of the tile's throughput: a quarter for 6x4 tiles, all
//! of it for 12x1.
//!
//! A layer of more than one panel whose rows fit `PREFLIP_BYTES` (MobileNetV2's 14x14 and
//! 7x7 expansions) has its whole input flipped once for the call instead, into a stack
//! buffer the tiles read in place: each row was flipped once per panel, up to 20 times
//! (those shapes 3 to 6% faster).
//!
//! Layers of 17 to 24 channels with reductions of 64 to 512 inputs go in pairs of rows
//! (`pair_gemm`): the second block's 8 channels of two rows share one vector, a quarter
//! fewer products and requantizations than two 16-channel blocks per row (MobileNetV2's
//! projections to 24 channels 17 to 18% faster).
//!
//! Such reductions over more than one tile of rows also run in chunks of 256 inputs over
//! blocks of 8 tiles (the tiles' accumulators saved between chunks), so that the 16 KiB of
//! a 4-block panel's weights for a chunk stay in L1 while every tile of the block reads
//! them: 3% to 10% faster for VGG-sized reductions (K of 576 to 4608) on an Intel Xeon.
//! Shorter reductions keep the whole panel in L1 anyway.
//!
//! A model's weights are not in cache when its layers start (MobileNetV2's 3.5 MB do
//! not stay in a 2 MB L2 from one run to the next), and a chunk's first tile waits for
//! them. So one tile per row block, the second, prefetches into L2 the weights that come
//! next, one line per block for each group it reads: the panel's next chunk, or, in the
//! panel's last row block, after its last chunk, the next panel's first (a later row block
//! finds the panel's chunks in cache). The tiles after it give the lines time to land.
//! Short reductions (k < 64, a few KiB a panel) and one- or two-row GEMMs (fully connected
//! layers, one tile streaming its panel: nothing to overlap) prefetch nothing. On
//! MobileNetV2 each 7x7 step got 2 to 4 us faster, the model about 1% on one thread and
//! two threads' speed-up rose by 0.03.
//!
//! The epilogue (`finish`) is shared by every tile shape; it computes
//! `OutputQuant::finish(Requant::apply(acc))` exactly, see "Exact requantization" in
//! `avx2.rs` (here `vpsravq` and 64-bit min/max make the general path direct), narrows
//! four blocks at once with saturating packs and stores each row of a tile with one masked
//! store. On the fast form, the zero point is folded into the rounding term where it fits
//! (`finish_fast_folded`), one add fewer per 16 outputs: the epilogue, not the products,
//! bounds the expansions with K of 16 to 32, and this made them 3.5% to 7.7% faster.

use core::arch::x86_64::*;
use core::mem::MaybeUninit;

use super::avx2::Bounds;
use super::{Gemm, GemmQuant, Job, NR};

mod amx;

/// The widest panel, in 16-channel blocks.
const NB_MAX: usize = 8;
/// The most rows in a tile.
const MR_MAX: usize = 12;
/// Inputs per chunk of a tile's rows flipped ahead (`MR_MAX * KC` bytes on the stack).
const KC: usize = 512;
/// Inputs per chunk of a long reduction (see `gemm_vnni`): a 4-block panel's weights for
/// one chunk are 16 KiB.
const K_CHUNK: usize = 256;
/// Tiles per row block of a chunked reduction.
const ROW_BLOCK: usize = 8;
/// The most weight vectors (`groups x blocks`) of a panel that runs row by row
/// (`short_rows`): they stay in registers. With 32 (4 blocks of 32 inputs) that loop ran 10
/// to 20% slower than the tiles; with 24 or fewer up to 25% faster. Wider panels of 6
/// blocks (16 inputs), to share each row's broadcasts, were slower too.
const SHORT_WEIGHTS_MAX: usize = 24;
/// Rows per block of a short reduction (`short_group`): flipped together into a stack
/// buffer (two of `SHORT_ROWS * 32` bytes), which every panel of the column group then
/// reads. 128 measured 0 to 4% faster than 64 on MobileNetV2's short shapes, 32 slower,
/// 256 no better than 128.
const SHORT_ROWS: usize = 128;
/// The most bytes of input (rows of `k` rounded up to 64) that a GEMM of more than one
/// panel flips once for the call, into a stack buffer that stays in L1, instead of once
/// per panel in each tile.
const PREFLIP_BYTES: usize = 32 * 1024;
/// Blocks per column group of a short reduction: their constants are built once.
const SHORT_BLOCKS: usize = 16;
/// Rows of at least this many inputs are flipped ahead (`reduce_flipped_ahead`); shorter
/// ones as they are read (`reduce`), which measured faster for `k` of 16 to 32.
const FLIP_AHEAD_MIN_K: usize = 64;
/// `0x80` in every byte, loaded through a volatile read of its address (see `reduce`).
static FLIP: [u32; 16] = [0x8080_8080; 16];

/// AVX-512 VNNI GEMM (lengths already checked by the dispatcher).
pub(super) fn gemm(p: &Gemm, input: &[i8], packed: &[i8], q: &GemmQuant<'_>, output: &mut [i8]) {
    run(p, input, packed, q, output, false)
}

/// The AMX backend's GEMM: the rows the AMX tiles take (`amx`), then the rest as [`gemm`]
/// runs them. Requires AMX usable by this process (`Backend::Avx512Amx.available()`) and
/// lengths checked by the dispatcher.
pub(super) fn gemm_amx(p: &Gemm, input: &[i8], packed: &[i8], q: &GemmQuant<'_>, output: &mut [i8]) {
    run(p, input, packed, q, output, true)
}

/// [`gemm`], and with `tiles` [`gemm_amx`].
fn run(p: &Gemm, input: &[i8], packed: &[i8], q: &GemmQuant<'_>, output: &mut [i8], tiles: bool) {
    let Some(bounds) = Bounds::new(p.output) else {
        // A zero point so far outside the int8 range that `min - z` leaves i32: never
        // planned, but still defined, so the scalar twin answers.
        return super::scalar::gemm(p, input, packed, q, output);
    };
    if p.rows == 0 || p.n == 0 {
        return;
    }
    let job = Job::new(p, input, packed, output);
    // SAFETY: the dispatcher only calls this module when `Backend::Avx512Vnni.available()`
    // (AVX-512F/BW/VL/VNNI present), with `tiles` only when `Backend::Avx512Amx.available()`
    // (AMX-TILE and AMX-INT8 too, the tile state granted to this process), and after
    // `gemm::check` verified every slice length against `p`; `job` borrows the slices for
    // the duration of the call; `rows_from` gets `done < rows`.
    unsafe {
        let done = if tiles { amx::gemm(&job, q, bounds) } else { 0 };
        if done < job.rows {
            gemm_vnni(&job.rows_from(done), q, bounds);
        }
    }
}

/// The epilogue constants of one 16-channel block.
#[derive(Clone, Copy)]
struct BlockQuant {
    /// `bias_u8`, the VNNI accumulators' start; `bias` for the AMX tiles, whose epilogue
    /// adds it (`block_quant`).
    bias: __m512i,
    /// Multipliers; `vpmuldq` reads the even lanes.
    m_even: __m512i,
    /// The odd lanes' multipliers, moved to the even positions.
    m_odd: __m512i,
    /// Fast path: `2^(s - 33)`. General path: unused.
    round: __m512i,
    /// Fast path with the zero point folded in: `2^(s - 33) + z * 2^(s - 32)`.
    round_z: __m512i,
    /// Fast path: `s - 32`. General path: unused.
    shift: __m512i,
    /// General path: the even and odd lanes' shifts as 64-bit counts, and their rounding
    /// terms `2^(s - 1)` (unused on the fast path).
    s_even: __m512i,
    s_odd: __m512i,
    r_even: __m512i,
    r_odd: __m512i,
    /// The fast path applies: every shift of the block is in `[33, 62]` and the zero
    /// point is small (`Bounds::fast`).
    fast: bool,
    /// On the fast path, the zero point can ride in the rounding term: `|z| * 2^(s - 32)
    /// < 2^29` in every lane (see `finish_fast`).
    fold: bool,
    /// Channels of the block that exist (`n` may end inside it), shifted to the block's
    /// place in a four-block store: `mask << (16 * (index in panel % 4))`.
    store_mask: u64,
}

impl BlockQuant {
    /// Constants for no block (all zero), to fill a panel's unused places.
    // SAFETY: all-zero bytes are a valid `__m512i`.
    const BLANK: BlockQuant = {
        let zero = unsafe { core::mem::zeroed::<__m512i>() };
        BlockQuant {
            bias: zero,
            m_even: zero,
            m_odd: zero,
            round: zero,
            round_z: zero,
            shift: zero,
            s_even: zero,
            s_odd: zero,
            r_even: zero,
            r_odd: zero,
            fast: true,
            fold: true,
            store_mask: 0,
        }
    };
}

#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn gemm_vnni(job: &Job, q: &GemmQuant<'_>, bounds: Bounds) {
    // SAFETY: `job` is a checked GEMM.
    let paired = unsafe { pair_gemm(job, q, bounds) };
    if paired == job.rows {
        return;
    }
    // The rows the pairs left (one, or all): the same GEMM from row `paired`.
    // SAFETY: `paired < rows`.
    let rest = unsafe { job.rows_from(paired) };
    // A layer of more than one panel of tiles whose rows fit the buffer: flipped once for
    // the call. (Short reductions have their own loop; one or two rows, a fully connected
    // layer's, flip little.)
    let blocks = job.n.div_ceil(NR);
    if job.k >= FLIP_AHEAD_MIN_K
        && rest.rows > 2
        && panel_shape(blocks, rest.rows).0 < blocks
        && rest.rows * job.k.next_multiple_of(64) <= PREFLIP_BYTES
    {
        // SAFETY: `rest` is the checked GEMM's last `rows - paired` rows, and fits.
        unsafe { panels_preflipped(&rest, q, bounds) }
    } else {
        // SAFETY: `rest` is the checked GEMM's last `rows - paired` rows.
        unsafe { panels(&rest, q, bounds) }
    }
}

/// [`panels`] on the input flipped once for the call: rows of `k` rounded up to 64 bytes
/// in a stack buffer (its own frame, so that other calls do not reserve it). Requires a
/// checked GEMM with `rows * ceil(k / 64) * 64 <= PREFLIP_BYTES`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
#[inline(never)]
unsafe fn panels_preflipped(job: &Job, q: &GemmQuant<'_>, bounds: Bounds) {
    let kp = job.k.next_multiple_of(64);
    let mut flipped = MaybeUninit::<[__m512i; PREFLIP_BYTES / 64]>::uninit();
    let flipped = flipped.as_mut_ptr().cast::<i8>();
    for r in 0..job.rows {
        // SAFETY: row `r` has `k` bytes inside the input; the whole vectors written fill
        // its `kp` bytes of `flipped` (`rows * kp <= PREFLIP_BYTES`).
        unsafe { flip_bytes(job.input.add(r * job.input_stride), job.k, flipped.add(r * kp)) };
    }
    let flipped = Job { input: flipped, input_stride: kp, flipped: true, ..*job };
    // SAFETY: the same GEMM, its rows flipped, each in whole 64-byte vectors.
    unsafe { panels(&flipped, q, bounds) }
}

/// The GEMM in panels of blocks: short reductions row by row (`short_group`), the rest in
/// tiles.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn panels(job: &Job, q: &GemmQuant<'_>, bounds: Bounds) {
    let mut panel = [BlockQuant::BLANK; NB_MAX];
    // Accumulators on their way from a tile's registers to `finish`.
    let mut spill = MaybeUninit::<[__m512i; MR_MAX * 2]>::uninit();
    let spill = spill.as_mut_ptr().cast::<__m512i>();
    // The accumulators of a row block's tiles between K chunks.
    let mut partial = MaybeUninit::<[__m512i; ROW_BLOCK * MR_MAX * 2]>::uninit();
    let partial = partial.as_mut_ptr().cast::<__m512i>();
    let blocks = job.n.div_ceil(NR);
    let block_stride = job.groups * 64;
    // Reductions of 16 to 32 inputs in whole groups of 4 go row by row (`short_rows`).
    let short = (job.rows > 2 && job.k.is_multiple_of(4) && (16..=32).contains(&job.k)).then_some(job.k / 4);
    // Blocks before this one that the tiles take: a short reduction's column group with a
    // block off the folded form.
    let mut tiles_until = 0;
    let mut nb0 = 0;
    while nb0 < blocks {
        if let Some(g) = short.filter(|_| nb0 >= tiles_until) {
            let end = blocks.min(nb0 + SHORT_BLOCKS);
            // SAFETY: blocks `nb0..end` exist (at most `SHORT_BLOCKS`), `k = 4 * g` and
            // `rows > 2`.
            if unsafe { short_group(job, q, bounds, nb0, end, g) } {
                nb0 = end;
                continue;
            }
            tiles_until = end;
        }
        let (nb, mr_max) = panel_shape(blocks - nb0, job.rows);
        for (j, b) in panel[..nb].iter_mut().enumerate() {
            *b = block_quant(q, q.bias_u8, nb0 + j, j, job.n, bounds);
        }
        // Long reductions with more than one tile of rows run in chunks of `K_CHUNK`
        // inputs over blocks of `ROW_BLOCK` tiles, so that the panel's weights for a chunk
        // stay in L1 while every tile of the block reads them; the tiles' accumulators wait
        // in `partial` between chunks. Others run in one chunk.
        let per_chunk = if job.k >= FLIP_AHEAD_MIN_K && job.rows > mr_max { K_CHUNK / 4 } else { job.groups.max(1) };
        let chunks = job.groups.div_ceil(per_chunk).max(1);
        // As few tiles as `mr_max` allows, their rows evened out (49 rows as 6+6+6+6+5+5+5+5+5
        // rather than eight tiles of 6 and one of 1, whose accumulators would each wait on
        // the latency of `vpdpbusd`).
        let tiles = job.rows.div_ceil(mr_max);
        let first_row = |t: usize| even_start(job.rows, tiles, t);
        let mut tb0 = 0;
        while tb0 < tiles {
            let tb1 = tiles.min(tb0 + ROW_BLOCK);
            for c in 0..chunks {
                let groups = (c * per_chunk, job.groups.min((c + 1) * per_chunk));
                // The weights to prefetch while this chunk runs: the panel's next chunk,
                // or after its last chunk of the last row block, the next panel's first
                // (the same groups of the blocks `nb` further on), at most `nb` blocks of it.
                // Short reductions (`reduce`, which does not prefetch) and one- or two-row
                // GEMMs get none.
                let (ahead, ahead_blocks) = if job.rows <= 2 || job.k < FLIP_AHEAD_MIN_K {
                    (0, 0)
                } else if c + 1 < chunks {
                    ((per_chunk * 64) as isize, nb)
                } else if tb1 == tiles && nb0 + nb < blocks {
                    ((nb * block_stride) as isize - (c * per_chunk * 64) as isize, nb.min(blocks - nb0 - nb))
                } else {
                    (0, 0)
                };
                // The second tile of the block prefetches (the first is busy waiting for
                // this chunk's own lines), the only tile if there is one.
                let prefetcher = usize::from(tb1 - tb0 > 1);
                for (slot, t) in (tb0..tb1).enumerate() {
                    let ahead_blocks = if slot == prefetcher { ahead_blocks } else { 0 };
                    let r0 = first_row(t);
                    // SAFETY: `slot < ROW_BLOCK`: each slot holds `2 * MR_MAX` vectors.
                    let saved = unsafe { partial.add(slot * MR_MAX * 2) };
                    let chunk = Chunk { groups, first: c == 0, last: c + 1 == chunks, saved, ahead, ahead_blocks };
                    // SAFETY: `r0 + mr <= rows` (the last tile ends at `rows`; none exceeds
                    // `mr_max`) and `nb0 + nb <= blocks`, the bounds `tile` requires;
                    // `panel[..nb]` holds those blocks' constants; the chunk's groups lie in
                    // `0..groups`, and a chunk after the first finds the tile's
                    // accumulators where the one before left them.
                    unsafe { run_tile(nb, first_row(t + 1) - r0, (job, r0, nb0, &panel, bounds, spill, chunk)) };
                }
            }
            tb0 = tb1;
        }
        nb0 += nb;
    }
}

/// Runs the `mr x nb` tile `t` (the instance of [`tile`] for that shape; a panel of 8
/// blocks takes at most 2 rows, of 4 at most 6, of 3 at most 8, of 2 and 1 at most 12).
/// Requires what `tile` requires.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn run_tile(nb: usize, mr: usize, t: TileArgs<'_>) {
    // SAFETY (every arm): the caller's guarantees, for the shape the arm picks.
    unsafe {
        match (nb, mr) {
            (8, 1) => tile::<1, 8>(t),
            (8, _) => tile::<2, 8>(t),
            (4, 1) => tile::<1, 4>(t),
            (4, 2) => tile::<2, 4>(t),
            (4, 3) => tile::<3, 4>(t),
            (4, 4) => tile::<4, 4>(t),
            (4, 5) => tile::<5, 4>(t),
            (4, _) => tile::<6, 4>(t),
            (3, 1) => tile::<1, 3>(t),
            (3, 2) => tile::<2, 3>(t),
            (3, 3) => tile::<3, 3>(t),
            (3, 4) => tile::<4, 3>(t),
            (3, 5) => tile::<5, 3>(t),
            (3, 6) => tile::<6, 3>(t),
            (3, 7) => tile::<7, 3>(t),
            (3, _) => tile::<8, 3>(t),
            (2, 1) => tile::<1, 2>(t),
            (2, 2) => tile::<2, 2>(t),
            (2, 3) => tile::<3, 2>(t),
            (2, 4) => tile::<4, 2>(t),
            (2, 5) => tile::<5, 2>(t),
            (2, 6) => tile::<6, 2>(t),
            (2, 7) => tile::<7, 2>(t),
            (2, 8) => tile::<8, 2>(t),
            (2, 9) => tile::<9, 2>(t),
            (2, 10) => tile::<10, 2>(t),
            (2, 11) => tile::<11, 2>(t),
            (2, _) => tile::<12, 2>(t),
            (_, 1) => tile::<1, 1>(t),
            (_, 2) => tile::<2, 1>(t),
            (_, 3) => tile::<3, 1>(t),
            (_, 4) => tile::<4, 1>(t),
            (_, 5) => tile::<5, 1>(t),
            (_, 6) => tile::<6, 1>(t),
            (_, 7) => tile::<7, 1>(t),
            (_, 8) => tile::<8, 1>(t),
            (_, 9) => tile::<9, 1>(t),
            (_, 10) => tile::<10, 1>(t),
            (_, 11) => tile::<11, 1>(t),
            (_, _) => tile::<12, 1>(t),
        }
    }
}

/// Blocks `b0..b1` (at most `SHORT_BLOCKS`) of a short reduction (`k = 4 * g`, `g` of 4
/// to 8) for every row, if all of them allow the folded fast form (otherwise returns
/// `false` having written nothing). The blocks are cut into panels of at most 4 whose
/// weights fit in `SHORT_WEIGHTS_MAX` registers, as evenly as possible; the rows go in
/// blocks of `SHORT_ROWS`, each flipped (`x ^ 0x80`) once into a stack buffer that every
/// panel's [`short_rows`] then broadcasts from. Requires blocks `b0..b1` to exist,
/// `b1 - b0 <= SHORT_BLOCKS`, `k = 4 * g` and `rows > 0`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn short_group(job: &Job, q: &GemmQuant<'_>, bounds: Bounds, b0: usize, b1: usize, g: usize) -> bool {
    debug_assert!((4..=8).contains(&g) && b1 - b0 <= SHORT_BLOCKS);
    let mut quant = [MaybeUninit::<BlockQuant>::uninit(); SHORT_BLOCKS];
    for (b, slot) in (b0..b1).zip(quant.iter_mut()) {
        let c = block_quant(q, q.bias_u8, b, 0, job.n, bounds);
        if !c.fold {
            return false;
        }
        slot.write(c);
    }
    // SAFETY: the first `b1 - b0` slots were just written.
    let quant = unsafe { core::slice::from_raw_parts(quant.as_ptr().cast::<BlockQuant>(), b1 - b0) };
    let count = b1 - b0;
    let panels = count.div_ceil((SHORT_WEIGHTS_MAX / g).min(4));
    // The first `wide` panels take `nb` blocks, the rest `nb - 1`.
    let nb = count.div_ceil(panels);
    let wide = count - panels * (nb - 1);
    // Two buffers of rows of `k` bytes, flipped, back to back (a row's 64-byte store may run
    // past its end): the next block of rows is flipped into one before the panels read the
    // other, so that no broadcast reads a store just made (one buffer measured up to 4%
    // slower on 12544x16x96, the same elsewhere).
    let mut flipped = MaybeUninit::<[[__m512i; SHORT_ROWS * 32 / 64 + 1]; 2]>::uninit();
    let flipped = flipped.as_mut_ptr().cast::<[__m512i; SHORT_ROWS * 32 / 64 + 1]>();
    // Flips rows `r0..r0 + len` into buffer `slot`.
    let flip_rows = |r0: usize, len: usize, slot: usize| {
        // SAFETY: rows `r0..r0 + len` are below `rows`: each masked load reads only bytes of
        // their `k` inputs, inside the input `gemm::check` verified (masked-off bytes are
        // not read). The stores stay inside the slot: `len * k <= SHORT_ROWS * 32` bytes,
        // plus at most 64 past the last row's start.
        unsafe {
            let x = job.input.add(r0 * job.input_stride);
            let to = flipped.add(slot).cast::<i8>();
            if job.input_stride == job.k {
                flip_bytes(x, len * job.k, to);
            } else {
                for i in 0..len {
                    flip_bytes(x.add(i * job.input_stride), job.k, to.add(i * job.k));
                }
            }
        }
    };
    flip_rows(0, SHORT_ROWS.min(job.rows), 0);
    let clamp = bounds.clamps();
    let mut r0 = 0;
    let mut slot = 0;
    while r0 < job.rows {
        let len = SHORT_ROWS.min(job.rows - r0);
        if r0 + len < job.rows {
            flip_rows(r0 + len, SHORT_ROWS.min(job.rows - r0 - len), 1 - slot);
        }
        // SAFETY: `slot < 2`.
        let flipped = unsafe { flipped.add(slot).cast::<i8>() };
        let mut p0 = 0;
        for p in 0..panels {
            let w = if p < wide { nb } else { nb - 1 };
            let rows = Rows { x: flipped, r0, len };
            macro_rules! widths {
                ($g:literal, $($nb:literal),*) => {
                    match w {
                        // SAFETY: blocks `b0 + p0..b0 + p0 + w` exist and `quant[p0..]`
                        // holds their constants on the folded form; `rows` holds rows
                        // `r0..r0 + len` flipped; `k = 4 * g`.
                        $($nb => unsafe {
                            let quant = &quant[p0..p0 + w];
                            if clamp {
                                short_rows::<$nb, $g, true>(job, rows, b0 + p0, quant, bounds)
                            } else {
                                short_rows::<$nb, $g, false>(job, rows, b0 + p0, quant, bounds)
                            }
                        },)*
                        _ => unreachable!("panels of at most SHORT_WEIGHTS_MAX / g blocks"),
                    }
                };
            }
            match g {
                4 => widths!(4, 1, 2, 3, 4),
                5 => widths!(5, 1, 2, 3, 4),
                6 => widths!(6, 1, 2, 3, 4),
                7 => widths!(7, 1, 2, 3),
                _ => widths!(8, 1, 2, 3),
            }
            p0 += w;
        }
        r0 += len;
        slot = 1 - slot;
    }
    true
}

/// Rows `r0..r0 + len` of a short reduction, flipped, back to back (`k` bytes each) at `x`.
#[derive(Clone, Copy)]
struct Rows {
    x: *const i8,
    r0: usize,
    len: usize,
}

/// The rows `rows` of a short reduction (`k = 4 * G`, 16 to 32 inputs) for one panel of
/// `NB` (at most 4) blocks from `nb0`, two or four rows at a time: the panel's weights are
/// a few registers' worth (`G * NB` vectors), read once, and each row's `NB` accumulators go
/// to the epilogue in registers, with no tile, spill or call between. Requires blocks
/// `nb0..nb0 + NB` to exist with their constants in `quant` on the folded fast form,
/// `rows` to hold flipped rows below `job.rows`, and `k = 4 * G`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
#[inline(never)]
unsafe fn short_rows<const NB: usize, const G: usize, const CLAMP: bool>(
    job: &Job,
    rows: Rows,
    nb0: usize,
    quant: &[BlockQuant],
    bounds: Bounds,
) {
    let quant: &[BlockQuant; NB] = quant.try_into().expect("one constant set per block");
    let block_stride = job.groups * 64;
    let mut w = [[_mm512_setzero_si512(); NB]; G];
    for (g, wg) in w.iter_mut().enumerate() {
        for (j, wv) in wg.iter_mut().enumerate() {
            // SAFETY: group `g < groups` of block `nb0 + j`: 64 bytes inside `packed`.
            *wv = unsafe { _mm512_loadu_si512(job.packed.add((nb0 + j) * block_stride + g * 64).cast()) };
        }
    }
    let (min, max) = (_mm512_set1_epi8(bounds.min), _mm512_set1_epi8(bounds.max));
    let zero = _mm512_setzero_si512();
    // The channels of each block that exist, as 16 mask bits.
    let lanes: [u64; NB] = core::array::from_fn(|j| quant[j].store_mask);
    // A one-block layer (`n = 16`) whose rows lie back to back: four rows' outputs are one
    // run of 64 bytes, one plain store instead of four masked ones (12544x32x16 7% faster).
    // Only for one block: with the test in their loops, the wider panels' code slowed by 8
    // to 20% although it never took the branch.
    let dense = NB == 1 && job.output_stride == NR && job.n == NR;
    // `R` rows from row `r` of `rows` (`r + R <= len`): several at a time, so that their
    // chains of `G` dependent `vpdpbusd` overlap and, for 1 or 3 blocks, their outputs fill
    // whole 64-byte vectors; then the last rows one by one.
    macro_rules! rows {
        ($r:expr, $R:literal) => {{
            let r = $r;
            let mut acc = [[zero; NB]; $R];
            for row in acc.iter_mut() {
                for (a, b) in row.iter_mut().zip(quant) {
                    *a = b.bias;
                }
            }
            for (g, wg) in w.iter().enumerate() {
                for (i, row) in acc.iter_mut().enumerate() {
                    // SAFETY: row `r + i < len` of `rows`, `4 * g + 4 <= k`: four of its
                    // flipped bytes (`k` is a multiple of 4, so the read is aligned).
                    let v = unsafe { rows.x.add((r + i) * job.k + 4 * g).cast::<i32>().read() };
                    let a = _mm512_set1_epi32(v);
                    for j in 0..NB {
                        row[j] = _mm512_dpbusd_epi32(row[j], a, wg[j]);
                    }
                }
            }
            // The rows' blocks in order, (row 0, block 0), (row 0, block 1), ..., four to a
            // 64-byte vector, each row's part of a vector stored with its own mask: a panel
            // of fewer than 4 blocks shares the packs and the permute with the next row.
            let mut v = [zero; 16];
            for (i, row) in acc.iter().enumerate() {
                for j in 0..NB {
                    v[i * NB + j] = finish_fast_folded(row[j], &quant[j]);
                }
            }
            let count = $R * NB;
            for q0 in (0..count).step_by(4) {
                let bytes = narrow4::<CLAMP>([v[q0], v[q0 + 1], v[q0 + 2], v[q0 + 3]], min, max);
                let q1 = count.min(q0 + 4);
                if dense && q1 == q0 + 4 {
                    // SAFETY: rows `rows.r0 + r..rows.r0 + r + R` are below `rows` and lie
                    // back to back, 16 bytes each: the vector's 64 bytes are rows
                    // `q0..q0 + 4` of them.
                    unsafe {
                        let at = job.output.add((rows.r0 + r) * job.output_stride + q0 * NR);
                        _mm512_storeu_si512(at.cast(), bytes);
                    }
                    continue;
                }
                for i in q0 / NB..=(q1 - 1) / NB {
                    // Vectors `lo..hi` of the four are row `i`'s blocks `lo - i * NB..`.
                    let (lo, hi) = ((i * NB).max(q0), (i * NB + NB).min(q1));
                    let mask = (lo..hi).fold(0, |m, q| m | lanes[q - i * NB] << (16 * (q - q0)));
                    // SAFETY: row `rows.r0 + r + i < rows`: its `n` output bytes lie inside
                    // the output, and block `nb0 + lo - i * NB` starts before `n`. The store
                    // writes only the bytes of `mask`, its blocks' channels below `n`, at
                    // their places in the row; the bytes before them are neither written
                    // nor faulted on (so the address may point before the output).
                    unsafe {
                        let row = rows.r0 + r + i;
                        let at = job.output.add(row * job.output_stride + (nb0 + lo - i * NB) * NR);
                        let at = at.wrapping_sub((lo - q0) * NR);
                        _mm512_mask_storeu_epi8(at, mask, bytes);
                    }
                }
            }
        }};
    }
    let mut r = 0;
    match NB {
        1 | 3 => {
            while r + 4 <= rows.len {
                rows!(r, 4);
                r += 4;
            }
        }
        _ => {
            while r + 2 <= rows.len {
                rows!(r, 2);
                r += 2;
            }
        }
    }
    while r < rows.len {
        rows!(r, 1);
        r += 1;
    }
}

/// Pairs of rows in a pair tile (`pair_tile`): 24 accumulators.
const PAIRS: usize = 8;
/// The longest reduction the pair path takes: the second block's weights, rearranged
/// (`PAIR_K_MAX / 4` vectors), and a tile's rows, interleaved, sit on the stack.
const PAIR_K_MAX: usize = 512;

/// Layers of 17 to 24 channels (MobileNetV2's projections to 24) in pairs of rows, so that
/// the second block's 8 channels do not leave half of every vector empty. Rows `A` and `B`
/// of a pair take three accumulators instead of four: block 0 for each row, and one vector
/// whose even lanes are row `A`'s channels `16 + i` and whose odd lanes are row `B`'s. Its
/// weights are the second block's with each channel doubled (lanes `2i` and `2i + 1`,
/// rearranged once per call), and the rows are broadcast as pairs of groups: the flip also
/// interleaves each pair's rows group by group (`A`'s 4 bytes, then `B`'s), so that one
/// 8-byte broadcast feeds the shared vector and the 4-byte ones the rows' own. A quarter
/// fewer products and requantizations.
///
/// Returns the rows done: an even number from row 0, all of them or all but the last, or 0
/// where the path does not apply (other widths, fewer than `2 * PAIRS` rows, reductions
/// outside `FLIP_AHEAD_MIN_K..=PAIR_K_MAX`, or a block off the folded fast form).
/// Requires a checked GEMM.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn pair_gemm(job: &Job, q: &GemmQuant<'_>, bounds: Bounds) -> usize {
    if !(NR + 1..=NR + NR / 2).contains(&job.n)
        || job.rows < 2 * PAIRS
        || !(FLIP_AHEAD_MIN_K..=PAIR_K_MAX).contains(&job.k)
    {
        return 0;
    }
    let b0 = block_quant(q, q.bias_u8, 0, 0, job.n, bounds);
    let b1 = block_quant(q, q.bias_u8, 1, 0, job.n, bounds);
    if !(b0.fold && b1.fold) {
        return 0;
    }
    // Each of the second block's lanes `0..8` twice: lanes `2i` and `2i + 1` are lane `i`.
    let doubled = _mm512_setr_epi32(0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7);
    let double = |v: __m512i| _mm512_permutexvar_epi32(doubled, v);
    let m = double(b1.m_even);
    let half = BlockQuant {
        bias: double(b1.bias),
        m_even: m,
        m_odd: _mm512_srli_epi64::<32>(m),
        round: double(b1.round),
        round_z: double(b1.round_z),
        shift: double(b1.shift),
        ..b1
    };
    let mut w1 = MaybeUninit::<[__m512i; PAIR_K_MAX / 4]>::uninit();
    let w1 = w1.as_mut_ptr().cast::<__m512i>();
    for g in 0..job.groups {
        // SAFETY: group `g` of block 1 lies inside `packed`; `g < groups <= PAIR_K_MAX / 4`
        // vectors of `w1`.
        unsafe {
            let v = _mm512_loadu_si512(job.packed.add((job.groups + g) * 64).cast());
            _mm512_storeu_si512(w1.add(g).cast(), double(v));
        }
    }
    let pairs = job.rows / 2;
    // As few tiles as `PAIRS` allows, their sizes evened out (4 to 8 pairs, as there are at
    // least `PAIRS` pairs).
    let tiles = pairs.div_ceil(PAIRS);
    let first_pair = |t: usize| even_start(pairs, tiles, t);
    let panel = PairPanel { b0, half, w1 };
    let clamp = bounds.clamps();
    for t in 0..tiles {
        let (p0, count) = (first_pair(t), first_pair(t + 1) - first_pair(t));
        macro_rules! sizes {
            ($($p:literal),*) => {
                match count {
                    // SAFETY: pairs `p0..p0 + count` lie below `rows / 2`; `panel` holds the
                    // constants of both blocks and `groups` rearranged weight vectors.
                    $($p => unsafe {
                        if clamp {
                            pair_tile::<$p, true>(job, 2 * p0, &panel, bounds)
                        } else {
                            pair_tile::<$p, false>(job, 2 * p0, &panel, bounds)
                        }
                    },)*
                    _ => unreachable!("tiles of 4 to 8 pairs"),
                }
            };
        }
        sizes!(4, 5, 6, 7, 8);
    }
    2 * pairs
}

/// A pair tile's constants: block 0's, the shared vector's (`pair_gemm`), and the second
/// block's weights with each channel doubled (`groups` vectors).
struct PairPanel {
    b0: BlockQuant,
    half: BlockQuant,
    w1: *const __m512i,
}

/// Rows `r0..r0 + 2 * P` of a pair GEMM (`pair_gemm`): flipped and interleaved by pairs
/// into a stack buffer, reduced with `3 * P` accumulators, requantized and stored. Requires
/// `r0 + 2 * P <= rows`, `k <= PAIR_K_MAX`, `n` of 17 to 24, and `panel` as `pair_gemm`
/// builds it.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
#[inline(never)]
unsafe fn pair_tile<const P: usize, const CLAMP: bool>(job: &Job, r0: usize, panel: &PairPanel, bounds: Bounds) {
    // Bytes per pair in the buffer: 8 per group, whole 128-byte units of 16 groups.
    let units = job.k.div_ceil(64);
    let stride = units * 128;
    let mut rows = MaybeUninit::<[__m512i; PAIRS * PAIR_K_MAX * 2 / 64]>::uninit();
    let rows = rows.as_mut_ptr().cast::<i8>();
    // Dwords `0..8` of `a` and `b` alternating, then dwords `8..16`.
    let low = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    let high = _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
    for p in 0..P {
        // SAFETY: rows `r0 + 2p` and `r0 + 2p + 1` are below `rows`; the loads read bytes
        // below `k` of each (the tail's masked-off bytes are not read); the stores fill pair
        // `p`'s `stride` bytes, inside the buffer (`P <= PAIRS`, `stride <= 2 * PAIR_K_MAX`).
        unsafe {
            let a = job.input.add((r0 + 2 * p) * job.input_stride);
            let b = a.add(job.input_stride);
            let to = rows.add(p * stride);
            for u in 0..units {
                let (va, vb) = (flipped(a.add(64 * u), job.k - 64 * u), flipped(b.add(64 * u), job.k - 64 * u));
                _mm512_storeu_si512(to.add(128 * u).cast(), _mm512_permutex2var_epi32(va, low, vb));
                _mm512_storeu_si512(to.add(128 * u + 64).cast(), _mm512_permutex2var_epi32(va, high, vb));
            }
        }
    }
    let (b0, half) = (&panel.b0, &panel.half);
    let mut acc_a = [b0.bias; P];
    let mut acc_b = [b0.bias; P];
    let mut acc_h = [half.bias; P];
    for g in 0..job.groups {
        // SAFETY: group `g` of block 0 lies inside `packed`, and `w1` holds `groups` vectors.
        let (w0, wh) =
            unsafe { (_mm512_loadu_si512(job.packed.add(g * 64).cast()), _mm512_loadu_si512(panel.w1.add(g).cast())) };
        for p in 0..P {
            // SAFETY: group `g` of pair `p`: 8 bytes written by the flip above (`8g + 8 <=
            // 128 * units`).
            let (a, b, h) = unsafe {
                let at = rows.add(p * stride + 8 * g);
                (at.cast::<i32>().read(), at.add(4).cast::<i32>().read(), at.cast::<i64>().read())
            };
            acc_a[p] = _mm512_dpbusd_epi32(acc_a[p], _mm512_set1_epi32(a), w0);
            acc_b[p] = _mm512_dpbusd_epi32(acc_b[p], _mm512_set1_epi32(b), w0);
            acc_h[p] = _mm512_dpbusd_epi32(acc_h[p], _mm512_set1_epi64(h), wh);
        }
    }
    let (min, max) = (_mm512_set1_epi8(bounds.min), _mm512_set1_epi8(bounds.max));
    // The shared vector's even lanes (row `A`) then its odd ones (row `B`), and the reverse.
    let a_first = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 1, 3, 5, 7, 9, 11, 13, 15);
    let b_first = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 0, 2, 4, 6, 8, 10, 12, 14);
    let mask = low_bits(job.n);
    for p in 0..P {
        let h = finish_fast_folded(acc_h[p], half);
        let a = finish_fast_folded(acc_a[p], b0);
        let b = finish_fast_folded(acc_b[p], b0);
        // Bytes `0..n`: row `A`'s channels; bytes `32..32 + n`: row `B`'s.
        let bytes = narrow4::<CLAMP>(
            [a, _mm512_permutexvar_epi32(a_first, h), b, _mm512_permutexvar_epi32(b_first, h)],
            min,
            max,
        );
        // SAFETY: rows `r0 + 2p` and `r0 + 2p + 1` are below `rows`, each with `n` output
        // bytes; the masks write only those (row `B`'s from byte 32 of the vector, so its
        // address is 32 bytes before the row, and the bytes before it are neither written
        // nor faulted on).
        unsafe {
            let out = job.output.add((r0 + 2 * p) * job.output_stride);
            _mm512_mask_storeu_epi8(out, mask, bytes);
            _mm512_mask_storeu_epi8(out.add(job.output_stride).wrapping_sub(32), mask << 32, bytes);
        }
    }
}

/// Where part `t` of `total` items cut into `parts` parts as even as possible starts (the
/// first `total % parts` parts take one more); `t = parts` gives `total`.
fn even_start(total: usize, parts: usize, t: usize) -> usize {
    t * (total / parts) + t.min(total % parts)
}

/// Blocks in the next panel and the rows of its full tiles, given the blocks left.
fn panel_shape(blocks_left: usize, rows: usize) -> (usize, usize) {
    if rows <= 2 && blocks_left >= NB_MAX {
        return (NB_MAX, 2);
    }
    // 5 and 9 blocks split as 3+2 and 3+3+3 rather than leave a single block.
    let nb = match blocks_left {
        5 | 6 | 9 => 3,
        b => b.min(4),
    };
    // 24 accumulators where the registers allow; two blocks over 12 rows rather than 8
    // measured 2 to 4% faster (MobileNetV2's projections to 24 and 32 channels).
    (nb, [0, 12, 12, 8, 6][nb])
}

/// Loads the constants of block `block` (channels `16 * block..min(16 * block + 16, n)`),
/// the `in_panel`-th block of its panel, with `bias` (`n` long) as the block's `bias`:
/// `q.bias_u8` where the accumulators start from it (the VNNI kernels, which feed
/// `x + 128`), `q.bias` for the AMX tiles. Every GEMM call builds these for each of its
/// blocks, so they are built with vector operations: with the 16 lanes first copied one by
/// one, the call's set-up was 9% of a 25x160x960 call, now 5%.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
fn block_quant(q: &GemmQuant<'_>, bias: &[i32], block: usize, in_panel: usize, n: usize, bounds: Bounds) -> BlockQuant {
    let c0 = block * NR;
    let valid = (n - c0).min(NR);
    let lanes = ((1u32 << valid) - 1) as __mmask16;
    let store_mask = u64::from(lanes) << (16 * (in_panel % 4));
    // Lanes past `n` get `m = 0` and `s = 33`: defined values, never stored.
    let load = |a: &[i32], fill: i32| {
        // SAFETY: the mask reads elements `c0..c0 + valid` of `a` (each array is `n` long);
        // masked-off elements are not read.
        unsafe { _mm512_mask_loadu_epi32(_mm512_set1_epi32(fill), lanes, a.as_ptr().add(c0)) }
    };
    let s = load(q.shift, 33);
    let in_fast_range =
        _mm512_cmpge_epi32_mask(s, _mm512_set1_epi32(33)) & _mm512_cmple_epi32_mask(s, _mm512_set1_epi32(62));
    let fast = bounds.fast() && in_fast_range == 0xffff;
    let m_even = load(q.multiplier, 0);
    let (round, shift) = if fast {
        let s32 = _mm512_sub_epi32(s, _mm512_set1_epi32(32));
        (_mm512_sllv_epi32(_mm512_set1_epi32(1), _mm512_sub_epi32(s32, _mm512_set1_epi32(1))), s32)
    } else {
        (s, s)
    };
    let z = bounds.zero_point;
    // On the fast path every shift is in `[33, 62]`, so `max - 32` is a valid shift count.
    let fold = fast && ((z.unsigned_abs() as u64) << (_mm512_reduce_max_epi32(s) - 32)) < (1 << 29);
    let round_z = if fold { _mm512_add_epi32(round, _mm512_sllv_epi32(_mm512_set1_epi32(z), shift)) } else { round };
    let m_odd = _mm512_srli_epi64::<32>(m_even);
    let s_even = _mm512_and_si512(s, _mm512_set1_epi64(0xffff_ffff));
    let s_odd = _mm512_srli_epi64::<32>(s);
    let one = _mm512_set1_epi64(1);
    let r_even = _mm512_sllv_epi64(one, _mm512_sub_epi64(s_even, one));
    let r_odd = _mm512_sllv_epi64(one, _mm512_sub_epi64(s_odd, one));
    BlockQuant {
        bias: load(bias, 0),
        m_even,
        m_odd,
        round,
        round_z,
        shift,
        s_even,
        s_odd,
        r_even,
        r_odd,
        fast,
        fold,
        store_mask,
    }
}

/// Arguments of a tile: the job, its first row, its first block, the panel's constants,
/// the output bounds, the spill buffer (`MR_MAX * 2` vectors) and the part of the
/// reduction to run.
type TileArgs<'a> = (&'a Job, usize, usize, &'a [BlockQuant; NB_MAX], Bounds, *mut __m512i, Chunk);

/// The groups of 4 inputs a tile call reduces, and where its accumulators come from and go.
#[derive(Clone, Copy)]
struct Chunk {
    /// Groups `groups.0..groups.1` of the reduction.
    groups: (usize, usize),
    /// The accumulators start from the bias; otherwise from `saved`.
    first: bool,
    /// The reduction ends here: requantize and store; otherwise save them to `saved`.
    last: bool,
    /// `MR * NB` vectors kept between a tile's chunks.
    saved: *mut __m512i,
    /// Bytes from each weight group the tile reads to the line it prefetches: a hint
    /// (`prefetcht1`), which never faults, so a line just past `packed` would be harmless.
    ahead: isize,
    /// Blocks `0..ahead_blocks` of the panel prefetch (0: the tile prefetches nothing).
    ahead_blocks: usize,
}

/// One tile: rows `r0..r0 + MR` by blocks `nb0..nb0 + NB`, the whole reduction, then the
/// epilogue. Requires `r0 + MR <= job.rows`, `nb0 + NB <= ceil(n / 16)` and
/// `MR * NB <= 2 * MR_MAX`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
#[inline(never)]
unsafe fn tile<const MR: usize, const NB: usize>((job, r0, nb0, panel, bounds, spill, chunk): TileArgs<'_>) {
    let mut acc = [[_mm512_setzero_si512(); NB]; MR];
    for (i, row) in acc.iter_mut().enumerate() {
        for (j, (a, b)) in row.iter_mut().zip(panel).enumerate() {
            // SAFETY: `i * NB + j < MR * NB`, written by this tile's previous chunk.
            *a = if chunk.first { b.bias } else { unsafe { _mm512_loadu_si512(chunk.saved.add(i * NB + j).cast()) } };
        }
    }
    let mut x = [job.input; MR];
    for (i, x) in x.iter_mut().enumerate() {
        // SAFETY: row `r0 + i < rows` starts inside `input` (`gemm::check`).
        *x = unsafe { job.input.add((r0 + i) * job.input_stride) };
    }
    if job.flipped {
        // SAFETY: rows and blocks as `tile` requires, groups inside the reduction; the
        // rows were flipped for the whole call.
        unsafe { reduce_flipped_ahead::<MR, NB, true>(job, nb0, chunk, &x, &mut acc) };
    } else if job.k >= FLIP_AHEAD_MIN_K {
        // SAFETY: rows and blocks as `tile` requires, groups inside the reduction.
        unsafe { reduce_flipped_ahead::<MR, NB, false>(job, nb0, chunk, &x, &mut acc) };
    } else {
        // SAFETY: as above (short rows come in one chunk).
        unsafe { reduce::<MR, NB>(job, nb0, &x, &mut acc) };
    }
    if !chunk.last {
        for (i, row) in acc.iter().enumerate() {
            for (j, a) in row.iter().enumerate() {
                // SAFETY: `i * NB + j < MR * NB`, inside the tile's saved slot.
                unsafe { _mm512_storeu_si512(chunk.saved.add(i * NB + j).cast(), *a) };
            }
        }
        return;
    }
    // The accumulators leave their registers only here, through explicit stores (an
    // array whose address escapes would live in memory across the loop).
    for (i, row) in acc.iter().enumerate() {
        for (j, a) in row.iter().enumerate() {
            // SAFETY: `i * NB + j < MR * NB <= 2 * MR_MAX`, the spill's size.
            unsafe { _mm512_storeu_si512(spill.add(i * NB + j).cast(), *a) };
        }
    }
    // SAFETY: the `MR * NB` vectors were just written; rows and blocks as required above.
    unsafe { requantize::<NB, false>(spill, MR, job, r0, nb0, panel, bounds) };
}

/// Requantizes and stores `mr` rows by blocks `nb0..nb0 + NB` from their accumulators at
/// `acc` (`acc[i * NB + j]`: row `r0 + i`, block `nb0 + j`; with `BIAS`, the block's
/// `bias` is added to each first), with the epilogue their constants allow: tiles whose
/// blocks all allow the fast form get one without the general form, which would otherwise
/// cost the fast path registers and about a tenth of its speed, and layers whose clamp is
/// the whole int8 range skip it (see `narrow4`).
/// Requires `mr * NB` vectors at `acc`, `r0 + mr <= rows`, blocks `nb0..nb0 + NB` to exist
/// and `panel[..NB]` to hold their constants (`panel[j]` built as the `j`-th block of its
/// panel).
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
unsafe fn requantize<const NB: usize, const BIAS: bool>(
    acc: *const __m512i,
    mr: usize,
    job: &Job,
    r0: usize,
    nb0: usize,
    panel: &[BlockQuant],
    bounds: Bounds,
) {
    let clamp = bounds.clamps();
    // SAFETY: the caller's guarantees, which each `finish` requires.
    unsafe {
        if panel[..NB].iter().all(|b| b.fold) {
            if clamp {
                finish::<NB, true, true, true, BIAS>(acc, mr, job, r0, nb0, panel, bounds)
            } else {
                finish::<NB, true, true, false, BIAS>(acc, mr, job, r0, nb0, panel, bounds)
            }
        } else if panel[..NB].iter().all(|b| b.fast) {
            if clamp {
                finish::<NB, true, false, true, BIAS>(acc, mr, job, r0, nb0, panel, bounds)
            } else {
                finish::<NB, true, false, false, BIAS>(acc, mr, job, r0, nb0, panel, bounds)
            }
        } else {
            finish::<NB, false, false, true, BIAS>(acc, mr, job, r0, nb0, panel, bounds)
        }
    }
}

/// Groups `first..end` of a tile's reduction into `acc`, its rows flipped (`x ^ 0x80`)
/// into a stack buffer one chunk of `KC` inputs at a time: a vector xor per 64 inputs there instead of
/// one per broadcast group in the loop, where it would compete with `vpdpbusd` for the two
/// vector ports of Intel's server cores. Requires what `tile` requires; `x` holds the
/// tile's row starts.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
#[inline]
unsafe fn reduce_flipped_ahead<const MR: usize, const NB: usize, const PRE: bool>(
    job: &Job,
    nb0: usize,
    chunk: Chunk,
    x: &[*const i8; MR],
    acc: &mut [[__m512i; NB]; MR],
) {
    let (first, end) = chunk.groups;
    let mut flipped = MaybeUninit::<[__m512i; MR_MAX * KC / 64]>::uninit();
    let flipped = flipped.as_mut_ptr().cast::<i8>();
    let block_stride = job.groups * 64;
    // SAFETY: blocks `nb0..nb0 + NB` exist, so their groups `first..end` lie inside `packed`.
    let mut w = unsafe { job.packed.add(nb0 * block_stride + first * 64) };
    let mut g0 = first;
    while g0 < end {
        let g1 = (g0 + KC / 4).min(end);
        let len = (4 * g1).min(job.k) - 4 * g0;
        // The chunk's rows, flipped: in place with `PRE` (the input was flipped once for
        // the call), otherwise into `flipped` now.
        let (rows, stride) = if PRE {
            // SAFETY: group `g0` of row `r0` lies inside the flipped input.
            (unsafe { x[0].add(4 * g0) }, job.input_stride)
        } else {
            for (i, x) in x.iter().enumerate() {
                // SAFETY: bytes `4 * g0..4 * g0 + len` of row `r0 + i` lie below `k`, inside
                // the row; the whole vectors written fill row `i`'s `KC` bytes of `flipped` at
                // most (`len <= KC`).
                unsafe { flip_bytes(x.add(4 * g0), len, flipped.add(i * KC)) };
            }
            (flipped.cast_const(), KC)
        };
        for g in 0..g1 - g0 {
            let mut wv = [_mm512_setzero_si512(); NB];
            for (j, wv) in wv.iter_mut().enumerate() {
                // SAFETY: group `g0 + g` of block `nb0 + j`: 64 bytes inside `packed`.
                *wv = unsafe { _mm512_loadu_si512(w.add(j * block_stride).cast()) };
                if j < chunk.ahead_blocks {
                    // A hint: the address is computed without `add`'s bound.
                    _mm_prefetch::<_MM_HINT_T1>(w.wrapping_add(j * block_stride).wrapping_offset(chunk.ahead));
                }
            }
            for i in 0..MR {
                // SAFETY: `4 * g + 4 <= 64 * ceil(len / 64)`: written by the flip above, or
                // by the call's (whose rows are whole vectors). Bytes past `k` in the last
                // group (flipped zeros) meet packed zeros.
                let v = unsafe { rows.add(i * stride + 4 * g).cast::<i32>().read() };
                let a = _mm512_set1_epi32(v);
                for j in 0..NB {
                    acc[i][j] = _mm512_dpbusd_epi32(acc[i][j], a, wv[j]);
                }
            }
            // SAFETY: at most one group past the panel's first block (still in `packed`).
            w = unsafe { w.add(64) };
        }
        g0 = g1;
    }
}

/// The whole reduction of a tile into `acc`, each broadcast group flipped as it is read:
/// for short rows (`k < FLIP_AHEAD_MIN_K`), where flipping ahead costs more than it saves.
/// Requires what `tile` requires; `x` holds the tile's row starts.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
#[inline]
unsafe fn reduce<const MR: usize, const NB: usize>(
    job: &Job,
    nb0: usize,
    x: &[*const i8; MR],
    acc: &mut [[__m512i; NB]; MR],
) {
    // A constant the optimiser cannot see through: otherwise it rewrites
    // `splat(load) ^ splat(0x80)` as a scalar xor followed by a register broadcast, two
    // more instructions per row and group than `vpbroadcastd` from memory + `vpxord`.
    // SAFETY: `FLIP` is 64 readable bytes.
    let flip = unsafe { _mm512_loadu_si512(core::ptr::read_volatile(&&FLIP).as_ptr().cast()) };
    let block_stride = job.groups * 64;
    // SAFETY: blocks `nb0..nb0 + NB` exist, so their groups lie inside `packed`.
    let mut w = unsafe { job.packed.add(nb0 * block_stride) };
    let full = job.k / 4;
    for g in 0..full {
        let mut wv = [_mm512_setzero_si512(); NB];
        for (j, wv) in wv.iter_mut().enumerate() {
            // SAFETY: group `g` of block `nb0 + j`: 64 bytes inside `packed`.
            *wv = unsafe { _mm512_loadu_si512(w.add(j * block_stride).cast()) };
        }
        for i in 0..MR {
            // SAFETY: `4 * g + 4 <= k`: the four bytes belong to row `r0 + i`.
            let v = unsafe { x[i].add(4 * g).cast::<i32>().read_unaligned() };
            let a = _mm512_xor_si512(_mm512_set1_epi32(v), flip);
            for j in 0..NB {
                acc[i][j] = _mm512_dpbusd_epi32(acc[i][j], a, wv[j]);
            }
        }
        // SAFETY: at most one group past the panel's first block (still in `packed`).
        w = unsafe { w.add(64) };
    }
    if full < job.groups {
        // The last 1..3 inputs of each row, read byte by byte (never past the row's `k`
        // bytes); the padding bytes meet packed zeros.
        let mut wv = [_mm512_setzero_si512(); NB];
        for (j, wv) in wv.iter_mut().enumerate() {
            // SAFETY: the last group of block `nb0 + j`.
            *wv = unsafe { _mm512_loadu_si512(w.add(j * block_stride).cast()) };
        }
        for i in 0..MR {
            // SAFETY: `tail(p, k - 4 * full)` reads bytes `4 * full..k` of row `r0 + i`.
            let v = unsafe { tail(x[i].add(4 * full), job.k - 4 * full) };
            let a = _mm512_xor_si512(_mm512_set1_epi32(v), flip);
            for j in 0..NB {
                acc[i][j] = _mm512_dpbusd_epi32(acc[i][j], a, wv[j]);
            }
        }
    }
}

/// Flips (`x ^ 0x80`) the `len` bytes at `src` into whole 64-byte vectors at `dst`, the
/// bytes past `len` in the last one flipped zeros. Requires `len` readable bytes at `src`
/// and `64 * ceil(len / 64)` writable bytes at `dst`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
#[inline]
unsafe fn flip_bytes(src: *const i8, len: usize, dst: *mut i8) {
    let mut o = 0;
    while o + 64 <= len {
        // SAFETY: bytes `o..o + 64` of `src` and vector `o / 64` of `dst`.
        unsafe { _mm512_storeu_si512(dst.add(o).cast(), flipped(src.add(o), 64)) };
        o += 64;
    }
    if o < len {
        // SAFETY: bytes `o..len` of `src` and vector `o / 64` of `dst`.
        unsafe { _mm512_storeu_si512(dst.add(o).cast(), flipped(src.add(o), len - o)) };
    }
}

/// The first `min(len, 64)` bytes at `src` flipped (`x ^ 0x80`), the rest of the vector
/// flipped zeros: a plain load for 64 bytes or more (the loop in [`flip_bytes`] passes 64,
/// so its loads stay unmasked), a masked one otherwise, which reads nothing past `len`.
/// Requires `min(len, 64)` readable bytes at `src`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
#[inline]
unsafe fn flipped(src: *const i8, len: usize) -> __m512i {
    // SAFETY: 64 readable bytes, or the mask keeps the load to the `len` that are
    // (masked-off bytes are neither read nor faulted on).
    let v = unsafe {
        if len >= 64 {
            _mm512_loadu_si512(src.cast())
        } else {
            _mm512_maskz_loadu_epi8(low_bits(len), src)
        }
    };
    _mm512_xor_si512(v, _mm512_set1_epi8(0x80u8 as i8))
}

/// The low `n` bits set (all 64 for `n >= 64`): the mask of a load of `n` bytes.
#[inline(always)]
fn low_bits(n: usize) -> u64 {
    if n >= 64 {
        !0
    } else {
        (1u64 << n) - 1
    }
}

/// The `len` (1..=3) bytes at `p` as the low bytes of an i32, the rest zero.
#[inline]
pub(super) unsafe fn tail(p: *const i8, len: usize) -> i32 {
    // SAFETY (each read): `len` bytes at `p` are readable.
    let byte = |b: usize| if b < len { (unsafe { *p.add(b) } as u8 as i32) << (8 * b) } else { 0 };
    byte(0) | byte(1) | byte(2)
}

/// Requantizes and stores an `mr x NB` tile (`acc[i * NB + j]`: row `r0 + i`, block
/// `nb0 + j`; with `BIAS`, plus the block's `bias`). Requires `r0 + mr <= job.rows`,
/// `nb0 + NB <= ceil(n / 16)` and `panel[..NB]` those blocks' constants.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
#[inline(never)]
unsafe fn finish<const NB: usize, const FAST: bool, const FOLD: bool, const CLAMP: bool, const BIAS: bool>(
    acc: *const __m512i,
    mr: usize,
    job: &Job,
    r0: usize,
    nb0: usize,
    panel: &[BlockQuant],
    bounds: Bounds,
) {
    let panel = &panel[..NB];
    let zp = _mm512_set1_epi32(bounds.zero_point);
    let (lo, hi) = (_mm512_set1_epi64(bounds.lo as i64), _mm512_set1_epi64(bounds.hi as i64));
    let (min, max) = (_mm512_set1_epi8(bounds.min), _mm512_set1_epi8(bounds.max));
    let zero = _mm512_setzero_si512();
    for i in 0..mr {
        // SAFETY: row `r0 + i < rows`; its `n` bytes lie inside `output`.
        let out = unsafe { job.output.add((r0 + i) * job.output_stride) };
        // Up to four blocks (64 contiguous output bytes) per store; the four values are
        // written out one by one so that they stay in registers.
        for j0 in (0..NB).step_by(4) {
            let value = |t: usize| {
                if j0 + t >= NB {
                    return (zero, 0);
                }
                let b = &panel[j0 + t];
                // SAFETY: `i * NB + j0 + t < mr * NB` vectors behind `acc`.
                let a = unsafe { _mm512_loadu_si512(acc.add(i * NB + j0 + t).cast()) };
                let a = if BIAS { _mm512_add_epi32(a, b.bias) } else { a };
                let v = match (FAST, FOLD) {
                    (true, true) => finish_fast_folded(a, b),
                    (true, false) => finish_fast(a, b, zp),
                    _ => finish_general(a, b, lo, hi, zp),
                };
                (v, b.store_mask)
            };
            let ((v0, m0), (v1, m1), (v2, m2), (v3, m3)) = (value(0), value(1), value(2), value(3));
            let mask = m0 | m1 | m2 | m3;
            let bytes = narrow4::<CLAMP>([v0, v1, v2, v3], min, max);
            // SAFETY: block `nb0 + j0` starts before `n`; the mask keeps channels below `n`
            // (and drops blocks past the tile); masked-off bytes are neither written nor
            // faulted on.
            unsafe {
                let dst = out.add((nb0 + j0) * NR);
                if NB - j0 == 1 {
                    _mm_mask_storeu_epi8(dst, mask as u16, _mm512_castsi512_si128(bytes));
                } else {
                    _mm512_mask_storeu_epi8(dst, mask, bytes);
                }
            }
        }
    }
}

/// Four blocks' int32 results (`requantize(acc) + z`) as 64 output bytes in channel order:
/// saturated to int8 by the packs, then clamped to `[min, max]`, which is the clamp the
/// scalar path does (forms 1 and 2 of "Exact requantization" in `avx2.rs`).
///
/// Without `CLAMP` (a clamp of `[-128, 127]`, `Bounds::clamps`) the packs' saturation is
/// the whole clamp. That is every 1x1 layer of the MobileNetV2 we compile: a ReLU6
/// calibrated to `[0, 6]` puts 6 at 127 and the zero point at -128. Skipping the min and
/// max made the expansions with K of 16 and 24 5 to 6% faster.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
#[inline]
fn narrow4<const CLAMP: bool>([v0, v1, v2, v3]: [__m512i; 4], min: __m512i, max: __m512i) -> __m512i {
    // After the two packs, dword `4l + j` holds lane `l` of block `j`: put blocks in order.
    let order = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    let bytes = _mm512_packs_epi16(_mm512_packs_epi32(v0, v1), _mm512_packs_epi32(v2, v3));
    let bytes = _mm512_permutexvar_epi32(order, bytes);
    if CLAMP {
        _mm512_min_epi8(_mm512_max_epi8(bytes, min), max)
    } else {
        bytes
    }
}

/// `H = (acc * m) >> 32` per lane, the high dwords of the exact 64-bit products.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
#[inline]
fn high_dwords(acc: __m512i, b: &BlockQuant) -> __m512i {
    let even = _mm512_mul_epi32(acc, b.m_even);
    // `vpmuldq` reads the low dword of each qword: dwords 1, 3 moved to 0, 2 by a 64-bit
    // shift, which runs beside the shuffle unit that the combination below, the packs and
    // the permute need. With a shuffle here the expansions with K of 16 to 32 ran 2 to 9%
    // slower (MobileNetV2's 1x1 table 1.3 to 1.7%).
    let odd = _mm512_mul_epi32(_mm512_srli_epi64::<32>(acc), b.m_odd);
    // Even lanes take `even`'s high dwords (moved down), odd lanes `odd`'s, which are
    // already in place.
    _mm512_mask_shuffle_epi32::<0xf5>(odd, 0x5555, even)
}

/// `requantize(acc) + z` as int32 lanes for a block on the fast path (shifts in
/// `[33, 62]`, `|z| <= 2^30`): from the high halves of the 64-bit products, form 2 of
/// "Exact requantization" in `avx2.rs`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
#[inline]
fn finish_fast(acc: __m512i, b: &BlockQuant, zp: __m512i) -> __m512i {
    _mm512_add_epi32(_mm512_srav_epi32(_mm512_add_epi32(high_dwords(acc, b), b.round), b.shift), zp)
}

/// [`finish_fast`] with the zero point in the rounding term: `(H + t + z * 2^(s - 32)) >>
/// (s - 32)` is `((H + t) >> (s - 32)) + z` exactly, since adding a multiple of `2^(s - 32)`
/// passes through the floor division, and the sum stays in i32: `|H| <= 2^30`,
/// `t <= 2^29` and `|z| * 2^(s - 32) < 2^29` (`BlockQuant::fold`). One add fewer per
/// vector, on the two ports the products also need.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
#[inline]
fn finish_fast_folded(acc: __m512i, b: &BlockQuant) -> __m512i {
    _mm512_srav_epi32(_mm512_add_epi32(high_dwords(acc, b), b.round_z), b.shift)
}

/// `min(max(requantize(acc), lo), hi) + z` as int32 lanes for any shifts in `[1, 62]`, in
/// 64 bits (forms 3 and 1 of "Exact requantization" in `avx2.rs`); `lo` and `hi` are
/// 64-bit lanes, the shifts and rounding terms come precomputed with the block. Exact for
/// every shift, so a tile with any block off the fast form runs it for all its blocks.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512vnni")]
#[inline]
fn finish_general(acc: __m512i, b: &BlockQuant, lo: __m512i, hi: __m512i, zp: __m512i) -> __m512i {
    let apply = |product: __m512i, round: __m512i, s: __m512i| {
        let rounded = _mm512_add_epi64(product, round);
        _mm512_min_epi64(_mm512_max_epi64(_mm512_srav_epi64(rounded, s), lo), hi)
    };
    let even = apply(_mm512_mul_epi32(acc, b.m_even), b.r_even, b.s_even);
    let odd = apply(_mm512_mul_epi32(_mm512_srli_epi64::<32>(acc), b.m_odd), b.r_odd, b.s_odd);
    // The clamped values fit 32 bits: odd lanes take `odd`'s low dwords.
    _mm512_add_epi32(_mm512_mask_blend_epi32(0xaaaa, even, _mm512_slli_epi64::<32>(odd)), zp)
}
