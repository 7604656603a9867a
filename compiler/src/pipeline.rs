//! The compiler as one library call per stage, shared by the CLI (and every other door):
//! load and optimize a model, calibrate it, quantize and plan it, write its crate.

use crate::calib::{self, Observer, Stats};
use crate::codegen::Provenance;
use crate::error::{Error, Result};
use crate::ir::{Array, Graph};
pub use crate::memory::{Budgets, MemoryPlan};
use crate::quant::Program;
use std::path::{Path, PathBuf};

/// A model loaded and optimized, with what provenance needs.
#[derive(Clone, Debug)]
pub struct Model {
    /// The optimized fp32 graph.
    pub graph: Graph,
    /// The graph before the passes (for `inspect`).
    pub original: Graph,
    /// The model file.
    pub path: PathBuf,
    /// SHA-256 of the model file (and of the weights file for the JSON format).
    pub sha256: String,
}

impl Model {
    /// The single input's name and shape.
    pub fn input(&self) -> (&str, &[usize]) {
        let t = self.graph.tensor(self.graph.inputs[0]);
        (&t.name, t.shape.as_deref().unwrap_or(&[]))
    }

    /// The single output's name and shape.
    pub fn output(&self) -> (&str, &[usize]) {
        let t = self.graph.tensor(self.graph.outputs[0]);
        (&t.name, t.shape.as_deref().unwrap_or(&[]))
    }

    /// Bytes of fp32 constants the optimized graph's nodes read (weights and biases).
    pub fn fp32_weight_bytes(&self) -> usize {
        let g = &self.graph;
        let mut seen = vec![false; g.tensors.len()];
        let mut bytes = 0;
        for n in &g.nodes {
            for &i in n.inputs.iter().flatten() {
                if let (false, Some(a)) = (seen[i], g.const_data(i)) {
                    seen[i] = true;
                    bytes += 4 * a.len();
                }
            }
        }
        bytes
    }
}

/// Loads a model (ONNX, or JSON + safetensors) and runs the pass pipeline.
pub fn load(path: &Path, weights: Option<&Path>) -> Result<Model> {
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let mut hashed = bytes;
    if let Some(w) = weights {
        hashed.extend(std::fs::read(w).map_err(|e| Error::io(w, e))?);
    }
    let original = crate::frontend::load(path, weights)?;
    let mut graph = original.clone();
    crate::passes::optimize(&mut graph)?;
    let mut original = original;
    crate::passes::infer_shapes(&mut original)?;
    Ok(Model { graph, original, path: path.to_path_buf(), sha256: crate::util::sha256_hex(&hashed) })
}

/// Loads the samples in `path` for the model's input.
pub fn load_samples(model: &Model, path: &Path) -> Result<Vec<Array>> {
    let (name, shape) = model.input();
    crate::dataset::load_samples(path, name, shape)
}

/// Calibrates on the samples in `path`.
pub fn calibrate(model: &Model, path: &Path, observer: Observer, progress: bool) -> Result<Stats> {
    let samples = load_samples(model, path)?;
    calib::calibrate(&model.graph, &samples, observer, progress)
}

/// Where activation ranges come from.
#[derive(Clone, Debug)]
pub enum Ranges {
    /// Calibrate on this data file with this observer.
    Data(PathBuf, Observer),
    /// Read this statistics file.
    Stats(PathBuf),
}

impl Ranges {
    /// Statistics for `model`, and a description for provenance (`file (sha256 ...)`).
    pub fn resolve(&self, model: &Model, progress: bool) -> Result<(Stats, String, String)> {
        let (path, stats) = match self {
            Ranges::Data(path, observer) => (path, calibrate(model, path, *observer, progress)?),
            Ranges::Stats(path) => (path, Stats::read(path)?),
        };
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let what = match self {
            Ranges::Data(_, o) => format!("{} observer", o.name()),
            Ranges::Stats(_) => "statistics".into(),
        };
        let name = file_name(path);
        let desc = format!("`{name}` ({what}, sha256 {})", &crate::util::sha256_hex(&bytes)[..16]);
        Ok((stats, desc, path.display().to_string()))
    }
}

/// Quantizes and plans.
pub fn quantize(model: &Model, stats: &Stats, stats_source: &str) -> Result<Program> {
    crate::quant::quantize(&model.graph, stats, stats_source)
}

/// The memory plan of `program`, checked against `budgets` (an error names the layer that
/// peaks, or the largest weight layer, and by how much the budget is exceeded). When the
/// arena is over the RAM budget, the same steps are first placed for the least RAM (an
/// arena placed for two threads gives up that placement; same speed on one thread), and
/// if that is still over, the program is replanned for the least RAM
/// ([`crate::quant::least_arena`]: every expand + depthwise pair fused, every scratch band
/// at its least; same output bytes, slower) and kept if its arena is smaller.
pub fn check_budgets(program: &mut Program, budgets: &Budgets) -> Result<MemoryPlan> {
    let over = |p: &Program| budgets.max_ram.is_some_and(|max| p.arena_bytes > max);
    if over(program) && program.arena_least_bytes < program.arena_bytes {
        crate::quant::plan::plan(program);
    }
    if over(program) {
        let mut small = program.clone();
        crate::quant::least_arena(&mut small);
        if small.arena_bytes < program.arena_bytes {
            *program = small;
        }
    }
    let plan = MemoryPlan::of(program);
    budgets.check(&plan)?;
    Ok(plan)
}

/// Provenance for a crate compiled from `model`.
pub fn provenance(model: &Model, crate_name: &str, calibration: String, command: String) -> Provenance {
    Provenance {
        crate_name: crate_name.to_string(),
        model_file: file_name(&model.path),
        model_sha256: model.sha256.clone(),
        calibration,
        command,
        fp32_weight_bytes: model.fp32_weight_bytes(),
    }
}

/// The last component of a path, for messages and banners (never a machine path).
pub fn file_name(p: &Path) -> String {
    p.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| p.display().to_string())
}
