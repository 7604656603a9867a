//! `stats.json`: per-tensor activation ranges, written by `qforge calibrate` or by any
//! other tool, and read by `qforge compile --stats`.
//!
//! ```json
//! {
//!   "qforge_stats": 1,
//!   "observer": "percentile",          // informative: "minmax", "percentile" or anything
//!   "percentile": 99.99,               // informative, optional
//!   "samples": 128,                    // informative, optional
//!   "tensors": {
//!     "input":    { "min": 0.0, "max": 1.0 },
//!     "conv1_out": { "min": 0.0, "max": 5.93,
//!                    "observed_min": 0.0, "observed_max": 7.1,
//!                    "histogram": { "lo": 0.0, "hi": 7.1, "counts": [ ... ] } }
//!   }
//! }
//! ```
//!
//! Only `tensors.<name>.min` and `.max` are required: they are the range the quantizer
//! uses (it widens it to contain 0.0). Names are the model's own tensor names; after
//! fusion a fused Conv+BatchNorm+Relu is observed at the Relu's output name, so stats
//! from another tool's observers placed after each fused block apply as they are.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

/// A histogram of observed values over `[lo, hi]` in equal-width bins.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Histogram {
    /// Left edge of the first bin.
    pub lo: f32,
    /// Right edge of the last bin.
    pub hi: f32,
    /// Values per bin.
    pub counts: Vec<u64>,
}

impl Histogram {
    /// An empty histogram with `bins` bins over `[lo, hi]`.
    pub fn new(lo: f32, hi: f32, bins: usize) -> Self {
        Histogram { lo, hi, counts: vec![0; bins.max(1)] }
    }

    /// Adds values (values outside `[lo, hi]` go to the end bins).
    pub fn add(&mut self, values: &[f32]) {
        let n = self.counts.len();
        let width = (self.hi - self.lo) as f64;
        if width <= 0.0 {
            self.counts[0] += values.len() as u64;
            return;
        }
        let k = n as f64 / width;
        for &v in values {
            let b = ((v - self.lo) as f64 * k) as isize;
            self.counts[b.clamp(0, n as isize - 1) as usize] += 1;
        }
    }

    /// The value below which `fraction` of the observations lie (linear within a bin).
    pub fn quantile(&self, fraction: f64) -> f32 {
        let total: u64 = self.counts.iter().sum();
        if total == 0 {
            return self.lo;
        }
        let target = fraction.clamp(0.0, 1.0) * total as f64;
        let width = (self.hi - self.lo) as f64 / self.counts.len() as f64;
        let mut seen = 0.0;
        for (i, &c) in self.counts.iter().enumerate() {
            let next = seen + c as f64;
            if next >= target && c > 0 {
                let within = (target - seen) / c as f64;
                return (self.lo as f64 + (i as f64 + within) * width) as f32;
            }
            seen = next;
        }
        self.hi
    }
}

/// Statistics of one tensor.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TensorStats {
    /// Lower end of the range to quantize.
    pub min: f32,
    /// Upper end of the range to quantize.
    pub max: f32,
    /// The smallest value seen (informative).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_min: Option<f32>,
    /// The largest value seen (informative).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_max: Option<f32>,
    /// The distribution (percentile observer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub histogram: Option<Histogram>,
}

/// The contents of `stats.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stats {
    /// Format version; 1.
    pub qforge_stats: u32,
    /// Which observer produced the ranges.
    #[serde(default)]
    pub observer: String,
    /// Percentile used by the percentile observer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percentile: Option<f64>,
    /// Number of calibration samples.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub samples: Option<usize>,
    /// Ranges by tensor name.
    pub tensors: BTreeMap<String, TensorStats>,
}

impl Stats {
    /// Reads and checks a statistics file.
    pub fn read(path: &Path) -> Result<Stats> {
        let file = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        let stats: Stats = serde_json::from_str(&text)
            .map_err(|e| Error::format(&file, format!("not a qforge statistics file: {e}")))?;
        if stats.qforge_stats != 1 {
            return Err(Error::format(
                &file,
                format!("statistics format version {} is not supported (expected 1)", stats.qforge_stats),
            ));
        }
        for (name, t) in &stats.tensors {
            if !t.min.is_finite() || !t.max.is_finite() || t.min > t.max {
                return Err(Error::tensor(
                    &file,
                    name,
                    format!("range [{}, {}] is not a finite interval", t.min, t.max),
                ));
            }
        }
        Ok(stats)
    }

    /// Writes the statistics as pretty JSON.
    pub fn write(&self, path: &Path) -> Result<()> {
        let text =
            serde_json::to_string_pretty(self).map_err(|e| Error::Other(format!("cannot encode statistics: {e}")))?;
        crate::util::write_atomic(path, text.as_bytes())
    }

    /// The range of `tensor`, or an error naming the statistics file and the tensor.
    pub fn range(&self, source: &str, tensor: &str) -> Result<(f32, f32)> {
        self.tensors.get(tensor).map(|t| (t.min, t.max)).ok_or_else(|| {
            Error::tensor(
                source,
                tensor,
                "has no statistics (calibrate again with this model, or add it to the statistics file)",
            )
        })
    }
}
