//! `qforge compile --max-ram / --max-flash`: a model over budget fails with exit code 1 and
//! one line naming the planned bytes, the budget, the overrun and the layer responsible,
//! and leaves no output folder. The expected figures are computed here from the quantized
//! program's tensors and steps (lifetimes recounted by this file, weight bytes summed from
//! the blob references), not taken from the compiler's memory report.

use qforge::pipeline::{self, Ranges};
use qforge::quant::{Kernel, Program};
use std::path::{Path, PathBuf};
use std::process::Command;

fn digits(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/digits").join(file)
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli_budgets").join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

/// The digits program as the CLI builds it (shapes, plan and blob do not depend on the
/// calibration's float rounding).
fn digits_program() -> Program {
    let model = pipeline::load(&digits("digits.onnx"), None).expect("load");
    let ranges = Ranges::Data(digits("calib.npy"), qforge::calib::Observer::MinMax);
    let (stats, _, source) = ranges.resolve(&model, false).expect("calibrate");
    pipeline::quantize(&model, &stats, &source).expect("quantize")
}

/// The same program with every scratch band at its least: what a too-small RAM budget is
/// measured against.
fn least_digits_program() -> Program {
    let mut p = digits_program();
    qforge::quant::least_arena(&mut p);
    p
}

/// Live bytes at each step, recounted: a root tensor lives from its first to its last use
/// (a step's scratch tensor, during that step only).
fn live_per_step(p: &Program) -> Vec<usize> {
    let n = p.steps.len();
    let mut first = vec![usize::MAX; p.tensors.len()];
    let mut last = vec![0usize; p.tensors.len()];
    let mut uses = vec![(p.input, 0usize), (p.output, n + 1)];
    for (i, s) in p.steps.iter().enumerate() {
        uses.extend(s.inputs.iter().map(|&t| (t, i + 1)));
        uses.push((s.output, i + 1));
        uses.extend(s.scratch().map(|t| (t, i + 1)));
    }
    for (t, tick) in uses {
        let r = p.root(t);
        first[r] = first[r].min(tick);
        last[r] = last[r].max(tick);
    }
    (1..=n)
        .map(|tick| {
            (0..p.tensors.len()).filter(|&t| first[t] <= tick && tick <= last[t]).map(|t| p.tensors[t].len()).sum()
        })
        .collect()
}

/// Bytes each step's constants take in the blob.
fn weight_bytes_per_step(p: &Program) -> Vec<usize> {
    p.steps
        .iter()
        .map(|s| {
            let r = match &s.kernel {
                Kernel::Conv(_, r) | Kernel::Depthwise(_, r) => *r,
                Kernel::Gemm(_, g) | Kernel::Im2colGemm { gemm: g, .. } => g.base,
                _ => return 0,
            };
            let extra = match &s.kernel {
                Kernel::Gemm(_, g) | Kernel::Im2colGemm { gemm: g, .. } => g.bias_u8.len * 4,
                _ => 0,
            };
            r.weights.len + 4 * (r.bias.len + r.multiplier.len + r.shift.len) + extra
        })
        .collect()
}

/// Index of the first maximum.
fn first_max(v: &[usize]) -> usize {
    let m = *v.iter().max().expect("steps");
    v.iter().position(|&x| x == m).expect("max")
}

fn compile(dir: &Path, extra: &[&str]) -> (Option<i32>, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_qforge"))
        .arg("compile")
        .arg(digits("digits.onnx"))
        .arg("--calib")
        .arg(digits("calib.npy"))
        .args(extra)
        .arg("-o")
        .arg(dir.join("out"))
        .output()
        .expect("run qforge");
    let text = |b: &[u8]| String::from_utf8_lossy(b).to_string();
    (output.status.code(), text(&output.stdout), text(&output.stderr))
}

fn fails(dir: &Path, extra: &[&str], must_mention: &[String]) {
    let (code, _, stderr) = compile(dir, extra);
    assert_eq!(code, Some(1), "expected exit code 1; stderr: {stderr}");
    assert!(stderr.starts_with("error: "), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "expected one line: {stderr}");
    for m in must_mention {
        assert!(stderr.contains(m.as_str()), "message should mention {m:?}: {stderr}");
    }
    assert!(!dir.join("out").exists(), "a failed compile left an output folder behind");
    let leftovers = std::fs::read_dir(dir).expect("read dir").flatten().count();
    assert_eq!(leftovers, 0, "a failed compile left files behind");
}

#[test]
fn over_the_ram_budget_names_the_peak_layer_and_the_overrun() {
    let p = least_digits_program();
    let live = live_per_step(&p);
    let peak = first_max(&live);
    let name = qforge::codegen::step_names(&p)[peak].to_string();
    assert_eq!(live[peak], p.arena_lower_bound, "the peak step holds the lower bound");
    let budget = 1024; // --max-ram 1K
    assert!(p.arena_bytes > budget);
    fails(
        &scratch("ram"),
        &["--max-ram", "1K"],
        &[
            format!("activation arena of {} bytes", p.arena_bytes),
            format!("RAM budget (max-ram) of {budget} bytes"),
            format!("by {} bytes", p.arena_bytes - budget),
            format!("`{name}` (step {})", peak + 1),
            format!("{} bytes live", live[peak]),
        ],
    );
}

#[test]
fn over_the_flash_budget_names_the_largest_weight_layer() {
    let p = digits_program();
    let weights = weight_bytes_per_step(&p);
    let largest = first_max(&weights);
    let name = qforge::codegen::step_names(&p)[largest].to_string();
    let budget = p.blob.len() - 1; // plain bytes
    fails(
        &scratch("flash"),
        &["--max-flash", &budget.to_string()],
        &[
            format!("weight blob of {} bytes", p.blob.len()),
            format!("flash budget (max-flash) of {budget} bytes"),
            "by 1 bytes".to_string(),
            format!("`{name}` (step {}) with {} bytes", largest + 1, weights[largest]),
        ],
    );
}

#[test]
fn a_budget_below_the_default_plan_narrows_the_bands() {
    let (default, least) = (digits_program(), least_digits_program());
    // The banded convolutions' scratch is what the budget squeezes: the least plan is
    // smaller, and a budget between the two compiles to an arena within it.
    assert!(least.arena_bytes < default.arena_bytes, "{} vs {}", least.arena_bytes, default.arena_bytes);
    let budget = least.arena_bytes + (default.arena_bytes - least.arena_bytes) / 2;
    let dir = scratch("narrow");
    let (code, stdout, stderr) = compile(&dir, &["--max-ram", &budget.to_string()]);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains(&format!("activation arena {} bytes", least.arena_bytes)), "{stdout}");
    assert!(stdout.contains("planned for the least RAM"), "{stdout}");
    let lib = std::fs::read_to_string(dir.join("out/src/lib.rs")).expect("lib.rs");
    assert!(lib.contains(&format!("pub const ARENA_BYTES: usize = {};", least.arena_bytes)));
    // The least plan's scratch tensors are one gathered row each (a window rounded up to
    // a whole group of 4 bytes).
    for s in &least.steps {
        if let Kernel::Im2colGemm { conv, scratch, .. } = &s.kernel {
            let (g, len) = (&conv.gather, least.tensors[*scratch].len());
            assert_eq!(len, (g.kernel_h * g.kernel_w * g.in_c).next_multiple_of(4), "{}", s.node);
        }
    }
}

#[test]
fn budgets_that_fit_exactly_compile_and_the_card_shows_the_plan() {
    let p = digits_program();
    let dir = scratch("fits");
    let (ram, flash) = (p.arena_bytes.to_string(), p.blob.len().to_string());
    let (code, stdout, stderr) = compile(&dir, &["--max-ram", &ram, "--max-flash", &flash]);
    assert_eq!(code, Some(0), "{stderr}");
    let live = live_per_step(&p);
    let peak = first_max(&live);
    let name = qforge::codegen::step_names(&p)[peak].to_string();
    let card = std::fs::read_to_string(dir.join("out/README.md")).expect("model card");
    for text in [&stdout, &card] {
        assert!(text.contains(&format!("activation arena {} bytes", p.arena_bytes)), "{text}");
        assert!(text.contains(&format!("lower bound {} bytes", p.arena_lower_bound)), "{text}");
        assert!(text.contains(&format!("weight blob {} bytes", p.blob.len())), "{text}");
        assert!(text.contains(&format!("peak: layer `{name}`")), "{text}");
        // One table row per step with its live bytes.
        let names = qforge::codegen::step_names(&p);
        for (i, bytes) in live.iter().enumerate() {
            let row = format!("| {} | `{}` | {} | {bytes}", i + 1, names[i], p.steps[i].op);
            assert!(text.contains(&row), "no row {row:?} in:\n{text}");
        }
    }
}

#[test]
fn bad_byte_counts_are_refused_by_the_parser() {
    let dir = scratch("bad_unit");
    let (code, _, stderr) = compile(&dir, &["--max-ram", "64KB"]);
    assert_eq!(code, Some(2), "clap reports bad values with exit code 2: {stderr}");
    assert!(stderr.contains("64KB") && stderr.contains("unknown unit"), "{stderr}");
    assert!(!dir.join("out").exists());
}
