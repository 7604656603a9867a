//! Test support for qforge: an ONNX writer, model builders, data-driven BatchNorm
//! statistics, and a `.npy` writer.
//!
//! - [`onnx_writer`]: [`onnx_writer::ModelBuilder`] builds ONNX graphs from Rust; the layer
//!   helpers (`conv`, `batch_norm`, `gemm`, ...) live in `layers.rs`.
//! - [`models`]: MobileNetV2, ResNet-18, VGG-16 as in torchvision, and small nets that
//!   exercise particular ops.
//! - [`calibrate`]: sets BatchNorm statistics from the fp32 activations of random inputs.
//! - [`npy`], [`rng`]: float32 `.npy` files and a seeded generator.

pub mod calibrate;
mod layers;
pub mod models;
pub mod npy;
pub mod onnx_writer;
pub mod rng;
