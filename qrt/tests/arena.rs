//! Arena splitting around an output region.

use qrt::arena::split;

#[test]
fn inputs_before_and_after_the_output() {
    let mut arena: Vec<i8> = (0..10).collect();
    let s = split(&mut arena, 4, 3);
    assert_eq!(s.input(0, 4), [0, 1, 2, 3]);
    assert_eq!(s.input(7, 3), [7, 8, 9]);
    assert_eq!(s.input(8, 1), [8]);
    assert!(s.input(4, 0).is_empty());
    s.output.copy_from_slice(&[40, 50, 60]);
    assert_eq!(arena, [0, 1, 2, 3, 40, 50, 60, 7, 8, 9]);
}

#[test]
#[should_panic(expected = "overlaps")]
fn overlapping_input_panics() {
    let mut arena = [0i8; 10];
    let s = split(&mut arena, 4, 3);
    s.input(3, 2);
}

#[test]
fn inputs_around_output_and_scratch() {
    for (out, scratch) in [((2, 3), (7, 2)), ((7, 2), (2, 3))] {
        let mut arena: Vec<i8> = (0..12).collect();
        let s = qrt::arena::split_with_scratch(&mut arena, out.0, out.1, scratch.0, scratch.1);
        assert_eq!(s.input(0, 2), [0, 1]);
        assert_eq!(s.input(5, 2), [5, 6]);
        assert_eq!(s.input(9, 3), [9, 10, 11]);
        s.output.fill(-1);
        s.scratch.fill(-2);
        let expected: Vec<i8> = (0..12)
            .map(|i| {
                if (out.0..out.0 + out.1).contains(&i) {
                    -1
                } else if (scratch.0..scratch.0 + scratch.1).contains(&i) {
                    -2
                } else {
                    i as i8
                }
            })
            .collect();
        assert_eq!(arena, expected);
    }
}

#[test]
#[should_panic(expected = "overlaps")]
fn input_over_the_scratch_panics() {
    let mut arena = [0i8; 12];
    let s = qrt::arena::split_with_scratch(&mut arena, 2, 3, 7, 2);
    s.input(6, 2);
}

#[test]
#[should_panic(expected = "overlaps")]
fn scratch_over_the_output_panics() {
    let mut arena = [0i8; 12];
    qrt::arena::split_with_scratch(&mut arena, 2, 3, 4, 2);
}

#[test]
fn a_byte_buffer_is_the_same_memory_as_i8() {
    let mut bytes = [0u8, 1, 127, 128, 200, 255];
    let arena = qrt::arena::bytes_as_i8(&mut bytes);
    assert_eq!(arena, [0, 1, 127, -128, -56, -1]);
    arena[1] = -2;
    arena[5] = 5;
    assert_eq!(bytes, [0, 254, 127, 128, 200, 5]);
    assert!(qrt::arena::bytes_as_i8(&mut []).is_empty());
}

/// The window a model runs on starts on a cache line whenever the arena has room for that,
/// at the arena's start otherwise, and does not exist in an arena that is too short.
#[test]
fn window_starts_on_a_line_where_there_is_room() {
    use qrt::arena::{window, ALIGN};
    let mut backing = vec![0i8; 4 * ALIGN];
    let base = backing.as_ptr() as usize;
    // Every start offset within a line, with exactly the room to align and with less.
    for off in 0..ALIGN {
        let line_up = (ALIGN - (base + off) % ALIGN) % ALIGN;
        let len = ALIGN + 5;
        let arena = &mut backing[off..off + len + line_up];
        let at = arena.as_ptr() as usize;
        let w = window(arena, len).expect("room enough");
        assert_eq!((w.len(), w.as_ptr() as usize), (len, at + line_up), "offset {off}: aligned window");
        assert_eq!(w.as_ptr() as usize % ALIGN, 0, "offset {off}");
        if line_up > 0 {
            let arena = &mut backing[off..off + len + line_up - 1];
            let w = window(arena, len).expect("long enough");
            assert_eq!(w.as_ptr() as usize, base + off, "offset {off}: no room to align, so the start");
        }
        assert!(window(&mut backing[off..off + len - 1], len).is_none(), "offset {off}: too short");
    }
    assert_eq!(window(&mut [], 0).map(|w| w.len()), Some(0));
}
