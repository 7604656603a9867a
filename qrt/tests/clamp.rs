//! The standalone clamp against hand-derived values and an i32 reference.

use qrt::clamp::{clamp, Clamp};

#[test]
fn relu_at_zero_point_keeps_non_negative_reals() {
    // ReLU with zero point -5: codes below -5 stand for negative reals and become -5.
    let p = Clamp { len: 6, min: -5, max: 127 };
    let mut out = [0i8; 6];
    clamp(&p, &[-128, -6, -5, -4, 0, 127], &mut out);
    assert_eq!(out, [-5, -5, -5, -4, 0, 127]);
}

#[test]
fn every_input_against_reference() {
    let input: Vec<i8> = (-128..=127).collect();
    for (lo, hi) in [(-128i8, 127i8), (-10, 30), (0, 0), (127, 127), (-128, -128)] {
        let p = Clamp { len: input.len(), min: lo, max: hi };
        let mut out = vec![0i8; input.len()];
        clamp(&p, &input, &mut out);
        for (x, y) in input.iter().zip(&out) {
            assert_eq!(*y as i32, (*x as i32).clamp(lo as i32, hi as i32));
        }
    }
}

#[test]
#[should_panic]
fn wrong_length_panics() {
    clamp(&Clamp { len: 3, min: 0, max: 1 }, &[0; 2], &mut [0; 3]);
}
