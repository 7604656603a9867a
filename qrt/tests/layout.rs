//! NHWC <-> NCHW copies.

mod common;

use common::Rng;
use proptest::prelude::*;
use qrt::layout::{nchw_to_nhwc, nhwc_to_nchw};

#[test]
fn hand_derived_indices() {
    // c = 2, h = 1, w = 3. NHWC [p0c0, p0c1, p1c0, p1c1, p2c0, p2c1] = [1, 10, 2, 20, 3, 30].
    let nhwc = [1, 10, 2, 20, 3, 30];
    let mut nchw = [0i8; 6];
    nhwc_to_nchw(2, 1, 3, &nhwc, &mut nchw);
    assert_eq!(nchw, [1, 2, 3, 10, 20, 30]);
    let mut back = [0i8; 6];
    nchw_to_nhwc(2, 1, 3, &nchw, &mut back);
    assert_eq!(back, nhwc);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn round_trips_and_indexing(c in 0..6usize, h in 0..6usize, w in 0..6usize, seed in any::<u64>()) {
        let nhwc = Rng::new(seed).activations(c * h * w);
        let mut nchw = vec![0i8; nhwc.len()];
        nhwc_to_nchw(c, h, w, &nhwc, &mut nchw);
        for (y, x, ch) in (0..h).flat_map(|y| (0..w).flat_map(move |x| (0..c).map(move |ch| (y, x, ch)))) {
            prop_assert_eq!(nchw[(ch * h + y) * w + x], nhwc[(y * w + x) * c + ch]);
        }
        let mut back = vec![0i8; nhwc.len()];
        nchw_to_nhwc(c, h, w, &nchw, &mut back);
        prop_assert_eq!(&back, &nhwc);
        let mut again = vec![0i8; nhwc.len()];
        nhwc_to_nchw(c, h, w, &back, &mut again);
        prop_assert_eq!(again, nchw);
    }
}

/// Every channel-count branch of `nchw_to_nhwc` (3, up to 16, more) against the index
/// formula, and the round trip back.
#[test]
fn nchw_to_nhwc_matches_the_index_formula_for_every_branch() {
    for (c, h, w) in [(1, 5, 7), (2, 3, 3), (3, 224, 7), (3, 1, 1), (4, 6, 5), (16, 3, 9), (17, 4, 4), (32, 7, 7)] {
        let nchw: Vec<i8> = (0..c * h * w).map(|i| (i * 7919 % 251) as i8).collect();
        let mut nhwc = vec![0i8; nchw.len()];
        nchw_to_nhwc(c, h, w, &nchw, &mut nhwc);
        for ch in 0..c {
            for px in 0..h * w {
                assert_eq!(nhwc[px * c + ch], nchw[ch * h * w + px], "c {c} h {h} w {w}");
            }
        }
        let mut back = vec![0i8; nchw.len()];
        nhwc_to_nchw(c, h, w, &nhwc, &mut back);
        assert_eq!(back, nchw);
    }
}
