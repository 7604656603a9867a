//! Calibration: run the fp32 graph over sample inputs and record each activation's range.

pub mod stats;

pub use stats::{Histogram, Stats, TensorStats};
