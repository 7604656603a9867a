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
