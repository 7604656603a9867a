//! `qrt`: qforge's int8 runtime, as user crates depend on it.
//!
//! This crate re-exports the kernels (package `qrt-core`) unchanged. With the `macros`
//! feature it also exports [`quantize_model!`], which compiles a model at build time into a
//! module of the calling crate:
//!
//! ```ignore
//! qrt::quantize_model!(pub mod digits, model = "models/digits.onnx", calib = "data/calib.npy");
//! let mut m = digits::Model::new(); // needs the `std` feature
//! ```
//!
//! Features: `std` (run-time CPU detection, the thread pool, and the generated `Model`
//! type; without it a generated module offers `ArenaModel` and `run_with_arena` over a
//! caller-supplied arena) and `macros`.

#![no_std]
#![forbid(unsafe_code)]

pub use qrt_core::*;

#[cfg(feature = "macros")]
pub use qforge_macros::quantize_model;

/// The standard library, as generated modules reach it (`::qrt::__std::vec::Vec`): their
/// `Model` type follows this crate's `std` feature, which may be on for a `#![no_std]` user
/// crate (another crate in the same build asked for it), and there `::std` is not in scope.
#[doc(hidden)]
#[cfg(feature = "std")]
pub extern crate std as __std;

/// Emits its items when this crate's `std` feature is on (generated modules put their
/// `Model` type, which owns a `Vec`, behind it).
#[doc(hidden)]
#[cfg(feature = "std")]
#[macro_export]
macro_rules! __if_std {
    ($($item:item)*) => { $($item)* };
}

/// Emits its items when this crate's `std` feature is on (here it is off: nothing).
#[doc(hidden)]
#[cfg(not(feature = "std"))]
#[macro_export]
macro_rules! __if_std {
    ($($item:item)*) => {};
}
