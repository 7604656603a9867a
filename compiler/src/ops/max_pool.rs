//! `MaxPool` (opsets 1..12+; dilations must be 1, one output). Geometry in [`super::pool`].
//! Quantized, max commutes with the monotonic dequantization, so the output keeps the
//! input's scale and zero point and the integer kernel is a plain max.
