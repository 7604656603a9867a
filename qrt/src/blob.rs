//! Typed views into a model's weight blob (the bytes of `weights.bin`, embedded with
//! `include_bytes!` in 64-byte aligned storage, so that the compiler's cache-line offsets
//! are cache lines in memory). int32 values are little-endian.

// The views below reinterpret the blob's bytes in place, which reads int32 values as
// little-endian only on a little-endian target.
#[cfg(target_endian = "big")]
compile_error!("qrt reads its little-endian weight blob in place and supports little-endian targets only");

/// 64-byte aligned storage for an embedded blob: `&Aligned(*include_bytes!("weights.bin"))`
/// coerces to `&Aligned<[u8]>`.
#[repr(C, align(64))]
pub struct Aligned<T: ?Sized>(pub T);

/// `len` int8 values at byte `offset`.
pub fn i8s(blob: &[u8], offset: usize, len: usize) -> &[i8] {
    let bytes = byte_range(blob, offset, len);
    // SAFETY: `i8` and `u8` have the same size and alignment and every bit pattern is a
    // valid `i8`; the pointer and length describe `bytes`, which lives as long as `blob`.
    unsafe { core::slice::from_raw_parts(bytes.as_ptr().cast::<i8>(), bytes.len()) }
}

/// `len` int32 values at byte `offset` (which must be 4-byte aligned in memory).
pub fn i32s(blob: &[u8], offset: usize, len: usize) -> &[i32] {
    let byte_len = len.checked_mul(4).expect("blob::i32s: length overflows");
    let bytes = byte_range(blob, offset, byte_len);
    let first = bytes.as_ptr().cast::<i32>();
    assert!(first.is_aligned(), "blob::i32s: offset {offset} is not 4-byte aligned in memory");
    // SAFETY: `first` is 4-byte aligned (checked above) and points at `4 * len`
    // initialised bytes of `bytes`, which lives as long as `blob`; every bit pattern is a
    // valid `i32`. (`align_to` is not used because it may legally return an empty middle.)
    unsafe { core::slice::from_raw_parts(first, len) }
}

/// `blob[offset..offset + len]`, with a message naming the range when it does not fit.
fn byte_range(blob: &[u8], offset: usize, len: usize) -> &[u8] {
    let end = offset.checked_add(len);
    assert!(
        end.is_some_and(|end| end <= blob.len()),
        "blob: bytes {offset}..{offset}+{len} lie outside a blob of {} bytes",
        blob.len()
    );
    &blob[offset..offset + len]
}
