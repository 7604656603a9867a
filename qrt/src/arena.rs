//! Safe views into the activation arena: one mutable output region (and, for fused
//! layers, one mutable scratch region, and for a step that writes two tensors a second
//! output) and read-only inputs that lie entirely outside them (the planner guarantees
//! they never overlap).
//!
//! The arena is `[i8]`; [`bytes_as_i8`] lets a caller supply it as bytes (`[u8]`), the
//! usual type of a buffer a linker script or an allocator hands out.

/// The same memory viewed as `i8`: how a caller-supplied `&mut [u8]` arena becomes the
/// `&mut [i8]` the layers work on. No copy; the borrow carries over.
pub fn bytes_as_i8(bytes: &mut [u8]) -> &mut [i8] {
    let len = bytes.len();
    // SAFETY: `i8` and `u8` have the same size and alignment and every bit pattern is valid
    // for both; the pointer and length describe `bytes`, whose unique borrow is returned.
    unsafe { core::slice::from_raw_parts_mut(bytes.as_mut_ptr().cast::<i8>(), len) }
}

/// A cache line: the alignment the compiler gives the offset of every tensor of 1 KiB or
/// more in the arena (smaller ones get 16 bytes), and that an arena's start should have. A 64-byte load (an AVX-512 vector, a row of an
/// AMX tile) that starts on a line reads one line, not two; on the Intel host of
/// `bench/README.md` a 49x960x160 GEMM took 7.6 us with its input and weights on line
/// boundaries and 16.4 us with both 16 bytes off.
pub const ALIGN: usize = 64;

/// The `len` bytes of `arena` that a model runs on: from its first byte on an [`ALIGN`]
/// boundary if the arena has room for that (`len + ALIGN - 1` bytes always do), otherwise
/// from its start (the same bytes result either way, only slower on some CPUs). `None` if
/// `arena` is shorter than `len`.
pub fn window(arena: &mut [i8], len: usize) -> Option<&mut [i8]> {
    // `align_offset` may answer `usize::MAX` (no offset): then there is no room either.
    let skip = arena.as_ptr().align_offset(ALIGN);
    let start = if skip.checked_add(len).is_some_and(|end| end <= arena.len()) { skip } else { 0 };
    arena.get_mut(start..start.checked_add(len)?)
}

/// The arena split around one output region (and possibly a scratch region and a second
/// output).
pub struct Split<'a> {
    /// Read-only pieces between the mutable regions, each with its arena offset.
    pieces: [(usize, &'a [i8]); 4],
    /// The output region.
    pub output: &'a mut [i8],
    /// The scratch region (empty unless made by [`split_with_scratch`] or
    /// [`split_with_two`]).
    pub scratch: &'a mut [i8],
    /// A second output region (empty unless made by [`split_with_two`]).
    pub second: &'a mut [i8],
}

/// Splits `arena` around `out_len` bytes at `out_offset`.
pub fn split(arena: &mut [i8], out_offset: usize, out_len: usize) -> Split<'_> {
    split_with_two(arena, out_offset, out_len, out_offset + out_len, 0, out_offset + out_len, 0)
}

/// Splits `arena` around the output region and a scratch region of `scratch_len` bytes at
/// `scratch_offset`; the two must not overlap.
pub fn split_with_scratch(
    arena: &mut [i8],
    out_offset: usize,
    out_len: usize,
    scratch_offset: usize,
    scratch_len: usize,
) -> Split<'_> {
    let end = out_offset + out_len;
    let second = if scratch_offset >= end { scratch_offset + scratch_len } else { end };
    split_with_two(arena, out_offset, out_len, scratch_offset, scratch_len, second, 0)
}

/// Splits `arena` around the output region, a scratch region and a second output region
/// (for a step that writes two tensors); no two may overlap.
pub fn split_with_two(
    arena: &mut [i8],
    out_offset: usize,
    out_len: usize,
    scratch_offset: usize,
    scratch_len: usize,
    second_offset: usize,
    second_len: usize,
) -> Split<'_> {
    // The three regions in arena order, each remembering which it is.
    let mut regions = [(out_offset, out_len, 0), (scratch_offset, scratch_len, 1), (second_offset, second_len, 2)];
    regions.sort_unstable();
    for w in regions.windows(2) {
        assert!(w[0].0 + w[0].1 <= w[1].0, "arena scratch overlaps the output region");
    }
    let mut pieces: [(usize, &[i8]); 4] = [(0, &[]); 4];
    let mut mutable: [&mut [i8]; 3] = Default::default();
    let (mut rest, mut at) = (arena, 0);
    for (k, &(offset, len, which)) in regions.iter().enumerate() {
        let (before, tail) = rest.split_at_mut(offset - at);
        let (region, tail) = tail.split_at_mut(len);
        pieces[k] = (at, before);
        mutable[which] = region;
        (rest, at) = (tail, offset + len);
    }
    pieces[3] = (at, rest);
    let [output, scratch, second] = mutable;
    Split { pieces, output, scratch, second }
}

impl<'a> Split<'a> {
    /// The input region of `len` bytes at `offset`; it must not overlap the output or the
    /// scratch.
    pub fn input(&self, offset: usize, len: usize) -> &'a [i8] {
        for &(start, piece) in &self.pieces {
            if offset >= start && offset + len <= start + piece.len() {
                return &piece[offset - start..offset - start + len];
            }
        }
        panic!("arena input overlaps the output region");
    }
}
