//! On the host: the library's outputs over a byte arena equal the compiler's simulator on
//! the whole digits test split, bit for bit, and its errors are errors.

use qforge::calib::Observer;
use qforge::pipeline::{self, Ranges};
use qforge::sim::Simulator;
use qforge_example_macro_no_std::{Classifier, Error, ARENA_BYTES, INPUT_LEN};
use std::path::Path;

#[test]
fn classifies_the_test_split_like_the_simulator() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../digits");
    let model = pipeline::load(&dir.join("digits.onnx"), None).expect("load");
    let ranges = Ranges::Data(dir.join("calib.npy"), Observer::MinMax);
    let (stats, _, source) = ranges.resolve(&model, false).expect("calibrate");
    let program = pipeline::quantize(&model, &stats, &source).expect("quantize");
    let mut sim = Simulator::new(&program);
    let test = pipeline::load_samples(&model, &dir.join("test_x.npy")).expect("test split");
    assert_eq!(test.len(), 360);

    // A dirty arena: nothing may depend on it starting zeroed.
    let mut arena = vec![0x5au8; ARENA_BYTES];
    let mut classifier = Classifier::new(&mut arena).expect("arena of ARENA_BYTES");
    for (i, sample) in test.iter().enumerate() {
        let want = sim.run(&sample.data);
        let (class, got) = classifier.classify(&sample.data).expect("classify");
        let want_bits: Vec<u32> = want.iter().map(|v| v.to_bits()).collect();
        let got_bits: Vec<u32> = got.iter().map(|v| v.to_bits()).collect();
        assert_eq!(got_bits, want_bits, "sample {i}: {got:?} != simulator {want:?}");
        let best = (0..want.len()).fold(0, |b, c| if want[c] > want[b] { c } else { b });
        assert_eq!(class, best, "sample {i}");
    }
    assert_eq!(classifier.classify(&[0.0; 3]).err(), Some(Error::InputLength { expected: INPUT_LEN, actual: 3 }));
}

#[test]
fn a_short_arena_is_an_error() {
    let mut arena = vec![0u8; ARENA_BYTES - 1];
    assert_eq!(
        Classifier::new(&mut arena).err(),
        Some(Error::ArenaTooSmall { expected: ARENA_BYTES, actual: ARENA_BYTES - 1 })
    );
}
