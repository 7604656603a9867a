//! Typed views into the weight blob.

use qrt::blob::{i32s, i8s, Aligned};

static BLOB: Aligned<[u8; 20]> = Aligned([
    0xff, 0x80, 0x7f, 0x00, 0x01, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0x78, 0x56, 0x34, 0x12, 0, 0, 0, 0x80,
]);

fn blob() -> &'static [u8] {
    let unsized_blob: &'static Aligned<[u8]> = &BLOB;
    &unsized_blob.0
}

#[test]
fn int8_views_reinterpret_bytes() {
    assert_eq!(i8s(blob(), 0, 4), [-1, -128, 127, 0]);
    assert_eq!(i8s(blob(), 13, 2), [0x56, 0x34]);
    assert!(i8s(blob(), 20, 0).is_empty());
}

#[test]
fn int32_views_decode_little_endian() {
    assert_eq!(i32s(blob(), 4, 4), [1, -1, 0x1234_5678, i32::MIN]);
    assert_eq!(i32s(blob(), 0, 1), [0x007f_80ff]);
    assert!(i32s(blob(), 20, 0).is_empty());
}

#[test]
#[should_panic(expected = "not 4-byte aligned")]
fn misaligned_int32_offset_panics() {
    i32s(blob(), 2, 1);
}

#[test]
#[should_panic(expected = "outside a blob")]
fn int32_view_past_the_end_panics() {
    i32s(blob(), 16, 2);
}

#[test]
#[should_panic(expected = "outside a blob")]
fn int8_view_past_the_end_panics() {
    i8s(blob(), 19, 2);
}

#[test]
#[should_panic(expected = "outside a blob")]
fn overflowing_range_panics() {
    i8s(blob(), usize::MAX, 2);
}

#[test]
#[should_panic]
fn overflowing_int32_length_panics() {
    i32s(blob(), 0, usize::MAX / 2);
}
