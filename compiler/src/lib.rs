//! qforge: an ahead-of-time compiler from fp32 CNNs to standalone int8 Rust crates.
//!
//! The flow (see `docs/architecture.md`): a front end ([`frontend`]) reads ONNX or the
//! native JSON + safetensors format into a [`ir::RawGraph`], which becomes a typed
//! [`ir::Graph`]; [`passes`] fold and fuse it; [`calib`] observes activation ranges with the
//! fp32 [`interp`]reter; [`quant`] turns the graph into an integer program over `qrt`
//! kernels, which [`sim`] runs and [`codegen`] writes out as a crate, or [`embed`] as a
//! module of the user's crate (the build.rs door, [`Builder`], and the `quantize_model!`
//! macro).

#![deny(missing_docs)]

pub mod bench;
pub mod calib;
pub mod codegen;
pub mod dataset;
pub mod embed;
pub mod error;
pub mod frontend;
pub mod inspect;
pub mod interp;
pub mod ir;
pub mod memory;
pub mod npy;
pub mod ops;
pub mod passes;
pub mod pipeline;
pub mod quant;
pub mod report;
pub mod sim;
pub mod util;

pub use embed::Builder;
pub use error::{Error, Result};
