//! Calibration: run the fp32 graph over sample inputs and record each activation's range.
//!
//! Two observers: `minmax` keeps the smallest and largest value seen; `percentile` makes a
//! second pass that builds a histogram of each tensor over its min-max range and keeps the
//! `(100 - p)`th and `p`th percentiles, so rare outliers do not stretch the int8 grid.

pub mod stats;

pub use stats::{Histogram, Stats, TensorStats};

use crate::error::{Error, Result};
use crate::interp;
use crate::ir::{Array, Graph};
use std::collections::BTreeMap;

/// Bins of the percentile observer's histograms.
pub const HISTOGRAM_BINS: usize = 2048;

/// How activation ranges are chosen.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Observer {
    /// Smallest and largest value seen.
    MinMax,
    /// The `(100 - p)`th and `p`th percentiles of all values seen (e.g. `p = 99.99`).
    Percentile(f64),
}

impl Observer {
    /// The name written to `stats.json`.
    pub fn name(&self) -> &'static str {
        match self {
            Observer::MinMax => "minmax",
            Observer::Percentile(_) => "percentile",
        }
    }
}

/// Runs `samples` through `g` (after the pass pipeline) and returns every activation's range.
/// `progress` shows a progress bar on stderr.
pub fn calibrate(g: &Graph, samples: &[Array], observer: Observer, progress: bool) -> Result<Stats> {
    if samples.is_empty() {
        return Err(Error::Other("calibration needs at least one sample".into()));
    }
    if let Observer::Percentile(p) = observer {
        if !(50.0..=100.0).contains(&p) {
            return Err(Error::Other(format!("percentile {p} is outside [50, 100]")));
        }
    }
    let passes = if matches!(observer, Observer::Percentile(_)) { 2 } else { 1 };
    let bar = progress_bar(progress, (samples.len() * passes) as u64);
    let mut ranges: Vec<Option<(f32, f32)>> = vec![None; g.tensors.len()];
    for sample in samples {
        interp::run(g, std::slice::from_ref(sample), |t, a| {
            let (lo, hi) = min_max(&a.data);
            let r = ranges[t].get_or_insert((lo, hi));
            *r = (r.0.min(lo), r.1.max(hi));
        })?;
        bar.inc(1);
    }
    let mut histograms: Vec<Option<Histogram>> =
        ranges.iter().map(|r| r.map(|(lo, hi)| Histogram::new(lo, hi, HISTOGRAM_BINS))).collect();
    if passes == 2 {
        for sample in samples {
            interp::run(g, std::slice::from_ref(sample), |t, a| {
                if let Some(h) = histograms[t].as_mut() {
                    h.add(&a.data);
                }
            })?;
            bar.inc(1);
        }
    }
    bar.finish_and_clear();
    let mut tensors = BTreeMap::new();
    for (t, range) in ranges.iter().enumerate() {
        let Some((lo, hi)) = *range else { continue };
        let (min, max, histogram) = match observer {
            Observer::MinMax => (lo, hi, None),
            Observer::Percentile(p) => {
                let h = histograms[t].take();
                let (min, max) = h.as_ref().map_or((lo, hi), |h| (h.quantile(1.0 - p / 100.0), h.quantile(p / 100.0)));
                (min, max, h)
            }
        };
        let stats = TensorStats { min, max, observed_min: Some(lo), observed_max: Some(hi), histogram };
        tensors.insert(g.tensors[t].name.clone(), stats);
    }
    let percentile = match observer {
        Observer::Percentile(p) => Some(p),
        Observer::MinMax => None,
    };
    Ok(Stats { qforge_stats: 1, observer: observer.name().into(), percentile, samples: Some(samples.len()), tensors })
}

fn min_max(values: &[f32]) -> (f32, f32) {
    values.iter().fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)))
}

/// A progress bar on stderr, or a hidden one.
pub fn progress_bar(show: bool, len: u64) -> indicatif::ProgressBar {
    if !show {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len);
    let style =
        indicatif::ProgressStyle::with_template("{prefix:>12} [{bar:30}] {pos}/{len} samples, {elapsed} (eta {eta})")
            .map(|s| s.progress_chars("=> "))
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_prefix("calibrating");
    bar
}
