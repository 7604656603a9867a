//! The memory plan of a compiled model, as the compiler prints it and the model card shows
//! it, and the budgets a compile must meet.
//!
//! RAM is the activation arena, planned by [`crate::quant::plan`]: its size, the bytes live
//! at each layer, the layer where the most bytes are live (the peak), and the lower bound
//! (the largest sum of tensors live at the same time; no plan can use less). Flash is the
//! weight blob (`WEIGHT_BYTES` of the emitted crate: int8 weights, int32 biases,
//! multipliers and shifts); the code itself is not counted.
//!
//! [`Budgets`] is the one options struct every door into the compiler fills (the CLI's
//! `--max-ram` / `--max-flash`, a build script, the macro); [`Budgets::check`] turns an
//! overrun into [`Error::OverBudget`] naming the layer responsible.

use crate::error::{Error, Result};
use crate::quant::plan::{lifetimes, live_bytes};
use crate::quant::{Kernel, Program};
use std::fmt::{self, Write};

/// Memory of one step (layer) of the program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LayerMemory {
    /// The layer's function name in the emitted crate (after the source node).
    pub name: String,
    /// What it computes, e.g. `Conv+Relu6`.
    pub op: String,
    /// Bytes of the tensors live while this step runs (its inputs, its output, and every
    /// tensor computed earlier and read later).
    pub live_bytes: usize,
    /// One past the highest arena byte in use while this step runs.
    pub arena_end: usize,
    /// Bytes of this layer's constants in the weight blob (weights, biases, multipliers,
    /// shifts; alignment padding not counted).
    pub weight_bytes: usize,
    /// The step could write its output over an input that dies here (an `Add` or a
    /// `Clamp` whose input has the output's size and is not read later).
    pub in_place_candidate: bool,
}

/// The memory plan: what the compiler prints and the model card shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemoryPlan {
    /// Bytes of the activation arena (`ARENA_BYTES`).
    pub arena_bytes: usize,
    /// Bytes of the least placement of the same steps: `arena_bytes` unless the arena is
    /// placed for two threads (`quant::plan::plan_for_threads`).
    pub least_arena_bytes: usize,
    /// The largest sum of simultaneously live tensor bytes.
    pub lower_bound: usize,
    /// Bytes of the weight blob (`WEIGHT_BYTES`): what goes to flash.
    pub weight_blob_bytes: usize,
    /// Bytes of int8 weights alone.
    pub int8_weight_bytes: usize,
    /// One entry per step, in execution order.
    pub layers: Vec<LayerMemory>,
    /// Index in `layers` of the first step with the most live bytes (`None` without steps).
    pub peak: Option<usize>,
    /// The lower bound if every in-place candidate wrote over its dying input.
    pub in_place_lower_bound: usize,
}

/// Blob bytes of one step's constants (an exhaustive match: a new kernel with constants
/// must say here what it reads).
fn step_weight_bytes(kernel: &Kernel) -> usize {
    let words = |r: &crate::quant::ChannelRefs| r.weights.len + 4 * (r.bias.len + r.multiplier.len + r.shift.len);
    match kernel {
        Kernel::Conv(_, r) | Kernel::Depthwise(_, r) => words(r),
        Kernel::Gemm(_, r) | Kernel::Im2colGemm { gemm: r, .. } => words(&r.base) + 4 * r.bias_u8.len,
        Kernel::ExpandDepthwise { gemm, dw, .. } | Kernel::DepthwiseProject { gemm, dw, .. } => {
            words(&gemm.base) + 4 * gemm.bias_u8.len + words(dw)
        }
        Kernel::Add(_)
        | Kernel::MaxPool(_)
        | Kernel::AveragePool(_)
        | Kernel::GlobalAveragePool(_)
        | Kernel::Clamp(_)
        | Kernel::CopyInto(_)
        | Kernel::NhwcToNchw { .. }
        | Kernel::NchwToNhwc { .. } => 0,
    }
}

impl MemoryPlan {
    /// The plan of a quantized, planned program.
    pub fn of(p: &Program) -> MemoryPlan {
        let life = lifetimes(p);
        let live = live_bytes(p, &life);
        let names = crate::codegen::step_names(p);
        let roots: Vec<usize> = (0..p.tensors.len()).filter(|&t| life[t].is_some()).collect();
        let mut layers = Vec::with_capacity(p.steps.len());
        let mut saved = vec![0usize; live.len()];
        for (i, step) in p.steps.iter().enumerate() {
            let tick = i + 1;
            let arena_end = roots
                .iter()
                .filter(|&&t| life[t].is_some_and(|(a, b)| a <= tick && tick <= b))
                .map(|&t| p.tensors[t].offset + p.tensors[t].len())
                .max()
                .unwrap_or(0);
            let out_len = p.tensors[step.output].len();
            let in_place_candidate = matches!(step.kernel, Kernel::Add(_) | Kernel::Clamp(_))
                && step.inputs.iter().any(|&t| {
                    let root = p.root(t);
                    root != p.root(p.input)
                        && p.tensors[root].len() == out_len
                        && life[root].is_some_and(|(_, last)| last == tick)
                });
            if in_place_candidate {
                saved[tick] = out_len;
            }
            layers.push(LayerMemory {
                name: names[i].to_string(),
                op: step.op.clone(),
                live_bytes: live[tick],
                arena_end,
                weight_bytes: step_weight_bytes(&step.kernel),
                in_place_candidate,
            });
        }
        let peak = (0..layers.len()).fold(None, |best: Option<usize>, i| match best {
            Some(b) if layers[b].live_bytes >= layers[i].live_bytes => Some(b),
            _ => Some(i),
        });
        let in_place_lower_bound = live.iter().zip(&saved).map(|(l, s)| l - s).max().unwrap_or(0);
        MemoryPlan {
            arena_bytes: p.arena_bytes,
            least_arena_bytes: p.arena_least_bytes.min(p.arena_bytes),
            lower_bound: p.arena_lower_bound,
            weight_blob_bytes: p.blob.len(),
            int8_weight_bytes: p.weight_bytes(),
            layers,
            peak,
            in_place_lower_bound,
        }
    }

    /// The peak layer.
    pub fn peak_layer(&self) -> Option<&LayerMemory> {
        self.peak.map(|i| &self.layers[i])
    }

    /// The layer with the most bytes in the weight blob (the first of equals).
    pub fn largest_weight_layer(&self) -> Option<&LayerMemory> {
        self.layers.iter().rev().max_by_key(|l| l.weight_bytes).filter(|l| l.weight_bytes > 0)
    }

    /// Arena bytes over the lower bound.
    pub fn bytes_over_lower_bound(&self) -> usize {
        self.arena_bytes.saturating_sub(self.lower_bound)
    }

    /// Arena bytes divided by the lower bound (1.0 is optimal).
    pub fn ratio(&self) -> f64 {
        self.arena_bytes as f64 / self.lower_bound.max(1) as f64
    }

    /// The plan in a few lines, for the compile summary.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "RAM: activation arena {} bytes; lower bound {} bytes (ratio {:.3}, {} bytes over)",
            self.arena_bytes,
            self.lower_bound,
            self.ratio(),
            self.bytes_over_lower_bound()
        );
        if self.least_arena_bytes < self.arena_bytes {
            let _ = writeln!(
                out,
                "arena placed for two threads (each writes the cache lines it wrote last); the least placement takes {} bytes (`--max-ram {}` keeps to it)",
                self.least_arena_bytes, self.least_arena_bytes
            );
        }
        if let Some(i) = self.peak {
            let l = &self.layers[i];
            let _ = writeln!(
                out,
                "peak: layer `{}` ({}, step {} of {}), {} bytes live",
                l.name,
                l.op,
                i + 1,
                self.layers.len(),
                l.live_bytes
            );
        }
        let _ = write!(
            out,
            "flash: weight blob {} bytes ({} bytes int8 weights)",
            self.weight_blob_bytes, self.int8_weight_bytes
        );
        if let Some(l) = self.largest_weight_layer() {
            let _ = write!(out, "; largest weight layer `{}` {} bytes", l.name, l.weight_bytes);
        }
        out.push('\n');
        let candidates = self.layers.iter().filter(|l| l.in_place_candidate).count();
        let _ = writeln!(
            out,
            "in place: {candidates} step(s) (Add, Clamp) could write over an input that dies there; the lower bound would be {} bytes (the plan keeps inputs and outputs apart)",
            self.in_place_lower_bound
        );
        out
    }

    /// The per-layer table (Markdown), for the compile output and the model card.
    pub fn table(&self) -> String {
        let mut out =
            String::from("| # | layer | op | live bytes | arena end | weight bytes |\n|---|---|---|---|---|---|\n");
        for (i, l) in self.layers.iter().enumerate() {
            let mark = if Some(i) == self.peak { " (peak)" } else { "" };
            let _ = writeln!(
                out,
                "| {} | `{}` | {} | {}{mark} | {} | {} |",
                i + 1,
                l.name,
                l.op,
                l.live_bytes,
                l.arena_end,
                l.weight_bytes
            );
        }
        out
    }
}

/// Memory budgets for a compile; `None` means no limit. The CLI fills it from `--max-ram`
/// and `--max-flash`; other doors fill the same struct.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Budgets {
    /// Most activation arena bytes allowed (RAM).
    pub max_ram: Option<usize>,
    /// Most weight blob bytes allowed (flash; code not counted).
    pub max_flash: Option<usize>,
}

impl Budgets {
    /// Checks `plan` against the budgets: RAM first, then flash.
    pub fn check(&self, plan: &MemoryPlan) -> Result<()> {
        if let Some(budget) = self.max_ram.filter(|&b| plan.arena_bytes > b) {
            let (layer, step, live) = match plan.peak {
                Some(i) => (plan.layers[i].name.clone(), i + 1, plan.layers[i].live_bytes),
                None => (String::new(), 0, 0),
            };
            return Err(Error::OverBudget(BudgetExceeded {
                resource: Resource::Ram,
                planned: plan.arena_bytes,
                budget,
                layer,
                step,
                layer_bytes: live,
            }));
        }
        if let Some(budget) = self.max_flash.filter(|&b| plan.weight_blob_bytes > b) {
            let (layer, step, bytes) = plan
                .layers
                .iter()
                .enumerate()
                .rev()
                .max_by_key(|(_, l)| l.weight_bytes)
                .map(|(i, l)| (l.name.clone(), i + 1, l.weight_bytes))
                .unwrap_or_default();
            return Err(Error::OverBudget(BudgetExceeded {
                resource: Resource::Flash,
                planned: plan.weight_blob_bytes,
                budget,
                layer,
                step,
                layer_bytes: bytes,
            }));
        }
        Ok(())
    }
}

/// Which budget was exceeded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resource {
    /// The activation arena (`max_ram`).
    Ram,
    /// The weight blob (`max_flash`).
    Flash,
}

/// A budget the planned model does not fit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BudgetExceeded {
    /// RAM or flash.
    pub resource: Resource,
    /// Planned bytes (arena or weight blob).
    pub planned: usize,
    /// The budget in bytes.
    pub budget: usize,
    /// For RAM the peak layer, for flash the layer with the most weight bytes.
    pub layer: String,
    /// That layer's step number (1-based).
    pub step: usize,
    /// Its live bytes (RAM) or weight bytes (flash).
    pub layer_bytes: usize,
}

impl fmt::Display for BudgetExceeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let over = self.planned - self.budget;
        match self.resource {
            Resource::Ram => write!(
                f,
                "activation arena of {} bytes exceeds the RAM budget (max-ram) of {} bytes by {over} bytes; peak at layer `{}` (step {}) with {} bytes live",
                self.planned, self.budget, self.layer, self.step, self.layer_bytes
            ),
            Resource::Flash => write!(
                f,
                "weight blob of {} bytes exceeds the flash budget (max-flash) of {} bytes by {over} bytes; largest weight layer `{}` (step {}) with {} bytes",
                self.planned, self.budget, self.layer, self.step, self.layer_bytes
            ),
        }
    }
}

/// Parses a byte count: plain bytes (`65536`) or with a binary suffix, `K`/`KiB` (1024)
/// or `M`/`MiB` (1024 * 1024), case-insensitive (`64K`, `1MiB`, `512 kib`).
pub fn parse_bytes(text: &str) -> std::result::Result<usize, String> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, suffix) = t.split_at(split);
    let unit: usize = match suffix.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        other => return Err(format!("'{text}': unknown unit '{other}' (use bytes, K/KiB or M/MiB)")),
    };
    let n: usize =
        digits.parse().map_err(|_| format!("'{text}': expected a whole number of bytes, e.g. 65536, 64K or 1MiB"))?;
    n.checked_mul(unit).ok_or_else(|| format!("'{text}': too large"))
}

#[cfg(test)]
mod tests {
    use super::parse_bytes;

    #[test]
    fn byte_counts_with_binary_suffixes() {
        assert_eq!(parse_bytes("65536"), Ok(65536));
        assert_eq!(parse_bytes("64K"), Ok(64 * 1024));
        assert_eq!(parse_bytes("64kib"), Ok(64 * 1024));
        assert_eq!(parse_bytes("2M"), Ok(2 * 1024 * 1024));
        assert_eq!(parse_bytes("3 MiB"), Ok(3 * 1024 * 1024));
        assert!(parse_bytes("64KB").is_err());
        assert!(parse_bytes("1.5M").is_err());
        assert!(parse_bytes("").is_err());
        assert!(parse_bytes("-1").is_err());
    }
}
