//! Safe views into the activation arena: one mutable output region and read-only inputs
//! that lie entirely before or after it (the planner guarantees they never overlap).

/// The arena split around one output region.
pub struct Split<'a> {
    before: &'a [i8],
    after: &'a [i8],
    out_start: usize,
    out_end: usize,
    /// The output region.
    pub output: &'a mut [i8],
}

/// Splits `arena` around `out_len` bytes at `out_offset`.
pub fn split(arena: &mut [i8], out_offset: usize, out_len: usize) -> Split<'_> {
    let (before, rest) = arena.split_at_mut(out_offset);
    let (output, after) = rest.split_at_mut(out_len);
    Split { before, after, out_start: out_offset, out_end: out_offset + out_len, output }
}

impl<'a> Split<'a> {
    /// The input region of `len` bytes at `offset`; it must not overlap the output.
    pub fn input(&self, offset: usize, len: usize) -> &'a [i8] {
        if offset + len <= self.out_start {
            &self.before[offset..offset + len]
        } else {
            assert!(offset >= self.out_end, "arena input overlaps the output region");
            &self.after[offset - self.out_end..offset - self.out_end + len]
        }
    }
}
