//! Safe views into the activation arena: one mutable output region (and, for fused
//! layers, one mutable scratch region) and read-only inputs that lie entirely outside
//! them (the planner guarantees they never overlap).
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

/// The arena split around one output region (and possibly a scratch region).
pub struct Split<'a> {
    /// Read-only pieces between the mutable regions, each with its arena offset.
    pieces: [(usize, &'a [i8]); 3],
    /// The output region.
    pub output: &'a mut [i8],
    /// The scratch region (empty unless made by [`split_with_scratch`]).
    pub scratch: &'a mut [i8],
}

/// Splits `arena` around `out_len` bytes at `out_offset`.
pub fn split(arena: &mut [i8], out_offset: usize, out_len: usize) -> Split<'_> {
    let (before, rest) = arena.split_at_mut(out_offset);
    let (output, after) = rest.split_at_mut(out_len);
    let end = out_offset + out_len;
    Split { pieces: [(0, before), (end, after), (end, &[])], output, scratch: &mut [] }
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
    let out_first = out_offset < scratch_offset;
    let ((a, a_len), (b, b_len)) = if out_first {
        ((out_offset, out_len), (scratch_offset, scratch_len))
    } else {
        ((scratch_offset, scratch_len), (out_offset, out_len))
    };
    assert!(a + a_len <= b, "arena scratch overlaps the output region");
    let (before, rest) = arena.split_at_mut(a);
    let (first, rest) = rest.split_at_mut(a_len);
    let (middle, rest) = rest.split_at_mut(b - a - a_len);
    let (second, after) = rest.split_at_mut(b_len);
    let (output, scratch) = if out_first { (first, second) } else { (second, first) };
    Split { pieces: [(0, before), (a + a_len, middle), (b + b_len, after)], output, scratch }
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
