//! `qrt`: qforge's int8 runtime.
//!
//! Every emitted crate and the compiler's own integer simulator execute these kernels, so
//! an accuracy figure printed by the compiler describes exactly the bytes a model produces.
//! Each kernel's doc comment states its integer formula; the scalar code is the definition.
//!
//! Rules: no allocation, no panics on input the compiler planned (lengths are checked with
//! `assert!` at each kernel's entry, which only a planner bug can trip), no dependencies,
//! `no_std` unless the `std` feature is on.

#![no_std]
#![deny(missing_docs)]

#[cfg(feature = "std")]
extern crate std;

pub mod add;
pub mod arena;
pub mod blob;
pub mod clamp;
pub mod concat;
pub mod conv;
pub mod cpu;
pub mod depthwise;
pub mod fc;
mod fmath;
pub mod fused;
pub mod fused_project;
pub mod gemm;
pub mod im2col;
pub mod layout;
#[cfg(target_arch = "aarch64")]
mod neon_quant;
pub mod par;
#[cfg(feature = "std")]
pub mod peak;
pub mod pool;
pub mod quant;
pub mod requant;
#[cfg(feature = "std")]
pub mod threads;
mod wide;

pub use requant::{ChannelQuant, OutputQuant, Requant};

/// Errors reported by the safe entry points of an emitted model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Error {
    /// The input slice has the wrong number of elements.
    InputLength {
        /// Elements the model expects.
        expected: usize,
        /// Elements supplied.
        actual: usize,
    },
    /// The output slice has the wrong number of elements.
    OutputLength {
        /// Elements the model writes.
        expected: usize,
        /// Elements supplied.
        actual: usize,
    },
    /// The caller-supplied arena is smaller than the model's plan needs.
    ArenaTooSmall {
        /// Bytes the plan needs.
        expected: usize,
        /// Bytes supplied.
        actual: usize,
    },
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match *self {
            Error::InputLength { expected, actual } => {
                write!(f, "input has {actual} elements, the model expects {expected}")
            }
            Error::OutputLength { expected, actual } => {
                write!(f, "output has {actual} elements, the model writes {expected}")
            }
            Error::ArenaTooSmall { expected, actual } => {
                write!(f, "arena has {actual} bytes, the model needs {expected}")
            }
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for Error {}
