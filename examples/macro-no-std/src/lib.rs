//! A `no_std` library that holds the bundled digits CNN, compiled to int8 by
//! `qrt::quantize_model!` while this crate builds. No allocator: the caller supplies the
//! activation arena, e.g. a `static mut [u8; ARENA_BYTES]` placed in the RAM of its choice.
//!
//! ```ignore
//! static mut ARENA: [u8; ARENA_BYTES] = [0; ARENA_BYTES];
//! let mut classifier = Classifier::new(arena)?; // arena: &'static mut [u8] (checked once)
//! let (class, scores) = classifier.classify(&image)?;
//! ```
//!
//! It builds for `thumbv7em-none-eabihf` (`.ci/doors.sh` does), and its host test checks its
//! outputs against the compiler's simulator byte for byte.

#![no_std]
#![forbid(unsafe_code)]

qrt::quantize_model!(pub mod digits, model = "../digits/digits.onnx", calib = "../digits/calib.npy");

pub use digits::{Error, ARENA_BYTES, INPUT_LEN, OUTPUT_LEN};

/// The digits model over a caller-supplied arena.
pub struct Classifier<'a> {
    model: digits::ArenaModel<'a>,
}

impl<'a> Classifier<'a> {
    /// Takes the arena (at least `ARENA_BYTES` bytes; `Err(Error::ArenaTooSmall)` if not).
    pub fn new(arena: &'a mut [u8]) -> Result<Self, Error> {
        Ok(Classifier { model: digits::ArenaModel::from_bytes(arena)? })
    }

    /// Classifies an 8x8 image (`INPUT_LEN` floats in [0, 1], row by row): the class and
    /// the ten scores.
    pub fn classify(&mut self, image: &[f32]) -> Result<(usize, [f32; OUTPUT_LEN]), Error> {
        let mut scores = [0f32; OUTPUT_LEN];
        self.model.run(image, &mut scores)?;
        let class = (0..OUTPUT_LEN).fold(0, |best, c| if scores[c] > scores[best] { c } else { best });
        Ok((class, scores))
    }
}
