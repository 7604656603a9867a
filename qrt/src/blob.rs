//! Typed views into a model's weight blob (the bytes of `weights.bin`, embedded with
//! `include_bytes!` in 16-byte aligned storage). int32 values are little-endian.

/// 16-byte aligned storage for an embedded blob: `&Aligned(*include_bytes!("weights.bin"))`
/// coerces to `&Aligned<[u8]>`.
#[repr(C, align(16))]
pub struct Aligned<T: ?Sized>(pub T);

/// `len` int8 values at byte `offset`.
pub fn i8s(blob: &[u8], offset: usize, len: usize) -> &[i8] {
    let _ = (blob, offset, len);
    &[]
}

/// `len` int32 values at byte `offset` (which must be 4-byte aligned in memory).
pub fn i32s(blob: &[u8], offset: usize, len: usize) -> &[i32] {
    let _ = (blob, offset, len);
    &[]
}
