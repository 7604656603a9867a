//! `qforge bench`: builds the emitted crate's `bench` example, runs it on each requested
//! backend, and reports whole-model latency, per-layer time, GMAC/s and the share of the
//! machine's int8 ceiling. A benchmark, never a test: nothing here asserts a time.

use crate::codegen::{step_names, Provenance};
use crate::error::{Error, Result};
use crate::quant::Program;
use std::fmt::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Timings of one backend, in nanoseconds.
#[derive(Clone, Debug)]
pub struct Timings {
    /// The backend qrt reported.
    pub backend: String,
    /// Whole runs: median, min, 10th and 90th percentile.
    pub run: [u64; 4],
    /// Median per layer.
    pub layers: Vec<u64>,
    /// The paired comparison with another thread count, if asked for.
    pub paired: Option<Paired>,
    /// The same comparison for an in-cache GEMM loop on every thread, timed in the same
    /// blocks: the speed-up the cores themselves give.
    pub machine: Option<Paired>,
    /// The model's speed-up over the machine's, block pair by block pair.
    pub share: Option<Paired>,
    /// Each thread's speed relative to the calling thread's, as the model's pool measured
    /// it by the end of the timing (rows are shared out in these proportions).
    pub speeds: Vec<f64>,
}

/// Blocks of runs alternating between two thread counts: how many times faster the
/// benchmarked count is than `against`, block pair by block pair.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Paired {
    /// The other thread count.
    pub against: usize,
    /// Block pairs timed.
    pub blocks: usize,
    /// Speed-up: median, 10th and 90th percentile over the block pairs.
    pub ratio: [f64; 3],
}

/// One backend's int8 peak on one core: MACs per cycle of its exact instruction and the
/// clock the core runs that instruction at.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Peak {
    /// MACs per cycle.
    pub macs_per_cycle: f64,
    /// GHz while the instruction keeps the vector units busy (many cores drop their clock
    /// under 512-bit multiplies; a figure from a table assumes the scalar clock).
    pub ghz: f64,
}

impl Peak {
    /// GMAC/s per core.
    pub fn gmacs(&self) -> f64 {
        self.macs_per_cycle * self.ghz
    }
}

/// The int8 ceiling of one core on each backend's exact path.
#[derive(Clone, Debug, PartialEq)]
pub struct Ceiling {
    /// `vpmaddwd` on 16-bit values: 32 MACs per cycle with two 256-bit ops per cycle.
    pub avx2: Peak,
    /// 512-bit `vpdpbusd`: 64 where it issues once per cycle (Zen 4, Intel cores with one
    /// 512-bit unit), 128 where twice (Zen 5, Intel server cores with two).
    pub vnni: Peak,
    /// The VEX-encoded 256-bit `vpdpbusd` of AVX-VNNI: 32 MACs per instruction, 64 at two
    /// per cycle (Zen 5, Intel's P-cores).
    pub avx_vnni: Peak,
    /// Where the figures come from, printed under the table.
    pub basis: String,
}

impl Ceiling {
    /// The ceiling of this core, measured. [`qrt::peak::macs_per_second`] runs each
    /// backend's instruction on registers only and [`qrt::peak::loaded_ghz`] the clock
    /// while it does; their ratio, rounded to the nearest power of two (the issue rate is
    /// a whole number of instructions per cycle), is the MACs per cycle, counted at that
    /// clock. `ghz` is the scalar clock; `given` (the user's `--ghz`) makes it replace the
    /// measured clocks. Backends this CPU lacks keep the figures of [`Ceiling::nominal`].
    pub fn measure(ghz: f64, given: bool) -> Ceiling {
        use qrt::cpu::Backend;
        let nominal = Ceiling::nominal(ghz);
        let mut ceiling = Ceiling { basis: String::new(), ..nominal.clone() };
        let mut parts = Vec::new();
        for (backend, what, slot) in [
            (Backend::Avx2, "vpmaddwd ymm", &mut ceiling.avx2),
            (Backend::AvxVnni, "vpdpbusd ymm", &mut ceiling.avx_vnni),
            (Backend::Avx512Vnni, "vpdpbusd zmm", &mut ceiling.vnni),
        ] {
            if let Some(rate) = qrt::peak::macs_per_second(backend, 2_000_000) {
                let loaded = if given { None } else { qrt::peak::loaded_ghz(backend, 2_000_000) };
                let clock = loaded.unwrap_or(ghz);
                let per_cycle = rate / (clock * 1e9);
                *slot = Peak { macs_per_cycle: per_cycle.log2().round().exp2(), ghz: clock };
                parts.push(format!(
                    "{what} {per_cycle:.0} -> {} at {clock:.2} GHz = {:.0} GMAC/s",
                    slot.macs_per_cycle,
                    slot.gmacs()
                ));
            }
        }
        if parts.is_empty() {
            return nominal;
        }
        let clocks = if given {
            "at the --ghz clock"
        } else {
            "each at the clock this core keeps while it runs that instruction"
        };
        ceiling.basis = format!("measured on this core, MACs/cycle {clocks}: {}", parts.join("; "));
        ceiling
    }

    /// The figures of Zen 4, the reference machine, at `ghz`, where nothing can be measured.
    pub fn nominal(ghz: f64) -> Ceiling {
        let at = |macs_per_cycle| Peak { macs_per_cycle, ghz };
        Ceiling {
            avx2: at(32.0),
            vnni: at(64.0),
            avx_vnni: at(64.0),
            basis: format!("nominal (not measured): vpdpbusd zmm 64, ymm 64, exact AVX2 32 MACs/cycle at {ghz:.2} GHz"),
        }
    }

    /// The peak of a backend, if known.
    pub fn of(&self, backend: &str) -> Option<Peak> {
        match backend {
            "avx2" => Some(self.avx2),
            "avxvnni" => Some(self.avx_vnni),
            // AMX's tiles run the GEMM's long reductions; its kernels are measured against
            // the 512-bit `vpdpbusd` ceiling, so its share reads how it compares with the
            // VNNI peak (the tiles' own peak is several times higher).
            "avx512vnni" | "amx" => Some(self.vnni),
            _ => None,
        }
    }
}

/// The core clock in GHz on scalar code, measured ([`qrt::peak::scalar_ghz`]: a chain of
/// dependent multiplies). Virtual machines often report a nominal clock in `/proc/cpuinfo`
/// well below the boost clock the kernels run at.
pub fn measure_ghz() -> f64 {
    qrt::peak::scalar_ghz()
}

/// The clock from `/proc/cpuinfo` in GHz, if it says.
pub fn cpuinfo_ghz() -> Option<f64> {
    let text = std::fs::read_to_string("/proc/cpuinfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("cpu MHz"))?;
    line.split(':').nth(1)?.trim().parse::<f64>().ok().map(|mhz| mhz / 1000.0)
}

/// Writes the crate to `dir`, builds its bench example and runs it once per backend. With
/// more than one thread, each backend is also timed in paired blocks against one thread.
pub fn run(
    p: &Program,
    meta: &Provenance,
    dir: &Path,
    backends: &[String],
    iterations: usize,
    threads: usize,
) -> Result<Vec<Timings>> {
    // Cargo runs inside the crate, so a relative target folder would be read from there.
    let dir = &std::path::absolute(dir).map_err(|e| Error::Other(format!("{}: {e}", dir.display())))?;
    crate::codegen::write_crate(p, meta, dir, true)?;
    let target = dir.with_file_name(format!("{}-target", meta.crate_name));
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(&cargo)
        .args(["build", "--release", "--offline", "--quiet", "--example", "bench"])
        .current_dir(dir)
        .env("CARGO_TARGET_DIR", &target)
        .status()
        .map_err(|e| Error::Other(format!("cannot run cargo: {e}")))?;
    if !status.success() {
        return Err(Error::Other(format!("{}: the emitted crate does not build", dir.display())));
    }
    let exe: PathBuf = target.join("release/examples/bench");
    let mut all = Vec::new();
    for b in backends {
        let mut cmd = Command::new(&exe);
        cmd.arg(iterations.to_string()).arg(threads.to_string()).env("QRT_BACKEND", b);
        if threads > 1 {
            cmd.arg("1");
        }
        let out = cmd.output().map_err(|e| Error::Other(format!("cannot run the benchmark: {e}")))?;
        if !out.status.success() {
            return Err(Error::Other(format!("the benchmark failed: {}", String::from_utf8_lossy(&out.stderr))));
        }
        let t = parse(&String::from_utf8_lossy(&out.stdout))?;
        if &t.backend != b {
            eprintln!("note: backend {b} is not available here; skipped (qrt ran {})", t.backend);
            continue;
        }
        all.push(t);
    }
    Ok(all)
}

fn parse(text: &str) -> Result<Timings> {
    let bad = || Error::Other(format!("unexpected benchmark output:\n{text}"));
    let mut t = Timings {
        backend: String::new(),
        run: [0; 4],
        layers: Vec::new(),
        paired: None,
        machine: None,
        share: None,
        speeds: Vec::new(),
    };
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        match f.as_slice() {
            ["backend", name] => t.backend = name.to_string(),
            ["run", rest @ ..] if rest.len() == 4 => {
                for (slot, v) in t.run.iter_mut().zip(rest) {
                    *slot = v.parse().map_err(|_| bad())?;
                }
            }
            ["layer", _, ns] => t.layers.push(ns.parse().map_err(|_| bad())?),
            ["speeds", rest @ ..] => {
                t.speeds = rest.iter().map(|v| v.parse().map_err(|_| bad())).collect::<Result<_>>()?;
            }
            [kind @ ("paired" | "machine" | "share"), against, blocks, p50, p10, p90] => {
                let r = |v: &str| v.parse::<f64>().map_err(|_| bad());
                let pair = Some(Paired {
                    against: against.parse().map_err(|_| bad())?,
                    blocks: blocks.parse().map_err(|_| bad())?,
                    ratio: [r(p50)?, r(p10)?, r(p90)?],
                });
                match *kind {
                    "paired" => t.paired = pair,
                    "machine" => t.machine = pair,
                    _ => t.share = pair,
                }
            }
            _ => {}
        }
    }
    if t.backend.is_empty() {
        return Err(bad());
    }
    Ok(t)
}

fn ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

/// The report: a summary line per backend, then the per-layer table of the last one.
pub fn render(
    p: &Program,
    results: &[Timings],
    fp32_ns: Option<u64>,
    ghz: f64,
    threads: usize,
    ceiling: Ceiling,
) -> String {
    let mut out = String::new();
    let macs = p.macs() as f64;
    let _ = writeln!(
        out,
        "model: {} layers, {:.1} M MACs; scalar clock {ghz:.2} GHz (measured unless --ghz); {threads} thread(s)",
        p.steps.len(),
        macs / 1e6
    );
    let _ = writeln!(
        out,
        "\n{:<12} {:>10} {:>10} {:>10} {:>10} {:>9} {:>10}",
        "backend", "median ms", "min ms", "p10 ms", "p90 ms", "GMAC/s", "ceiling"
    );
    for t in results {
        let gmacs = macs / t.run[0] as f64;
        let share = ceiling
            .of(&t.backend)
            .map_or("-".to_string(), |c| format!("{:.0}%", 100.0 * gmacs / (c.gmacs() * threads as f64)));
        let _ = writeln!(
            out,
            "{:<12} {:>10.3} {:>10.3} {:>10.3} {:>10.3} {:>9.1} {:>10}",
            t.backend,
            ms(t.run[0]),
            ms(t.run[1]),
            ms(t.run[2]),
            ms(t.run[3]),
            gmacs,
            share
        );
    }
    let _ = writeln!(out, "{:<12} ceiling: {}", "", ceiling.basis);
    if results.iter().any(|t| t.backend == "amx") {
        let _ = writeln!(
            out,
            "{:<12} amx's shares are of the vpdpbusd zmm ceiling (its AMX tiles' own peak is several times higher)",
            ""
        );
    }
    if let Some(f) = fp32_ns {
        let _ = writeln!(
            out,
            "{:<12} {:>10.3} {:>43.1}   (qforge's fp32 reference interpreter)",
            "fp32",
            ms(f),
            macs / f as f64
        );
    }
    for t in results {
        if let Some(pd) = t.paired {
            let against = if pd.against == 1 { "one".to_string() } else { pd.against.to_string() };
            let [p50, p10, p90] = pd.ratio;
            let _ = writeln!(
                out,
                "{:<12} {threads} threads are {p50:.2}x as fast as {against} (median of {} paired blocks of 10 runs; \
                 p10 {p10:.2}x, p90 {p90:.2}x)",
                t.backend, pd.blocks
            );
            if let Some(m) = t.machine {
                let [p50, p10, p90] = m.ratio;
                let _ = writeln!(
                    out,
                    "{:<12} the cores themselves, in the same blocks: {p50:.2}x (p10 {p10:.2}x, p90 {p90:.2}x) for qrt's GEMM \
                     looping on in-cache data on every thread",
                    ""
                );
            }
            if let Some(sh) = t.share {
                let [p50, p10, p90] = sh.ratio;
                let _ = writeln!(
                    out,
                    "{:<12} so the model gets {:.0}% of the speed-up the cores give (p10 {:.0}%, p90 {:.0}%)",
                    "",
                    100.0 * p50,
                    100.0 * p10,
                    100.0 * p90
                );
            }
            if t.speeds.len() > 1 {
                let speeds: Vec<String> = t.speeds.iter().map(|v| format!("{v:.2}")).collect();
                let _ = writeln!(
                    out,
                    "{:<12} threads' speeds as measured by the pool, relative to the calling thread: {} (each layer's \
                     rows are shared out in these proportions)",
                    "",
                    speeds.join(", ")
                );
            }
        }
    }
    // The per-layer tables describe the fastest backend timed.
    if let Some(t) = results.iter().min_by_key(|t| t.run[0]) {
        let names = step_names(p);
        let total: u64 = t.layers.iter().sum::<u64>().max(1);
        let per_cycle = ceiling.of(&t.backend);
        // Columns as wide as the longest name and op (a fused step's op reads like
        // "Conv+Relu6 then Conv then Add").
        let name_w = names.iter().map(|n| n.to_string().len()).max().unwrap_or(0).max(34);
        let op_w = p.steps.iter().map(|s| s.op.len()).max().unwrap_or(0).max(16);
        let _ = writeln!(
            out,
            "\nper layer ({}):\n{:<4} {:<name_w$} {:<op_w$} {:>11} {:>9} {:>7} {:>8} {:>8}",
            t.backend, "#", "layer", "op", "MACs", "us", "share", "GMAC/s", "ceiling"
        );
        // A step run in the job of the step before shows there: its own time is nil.
        let joined = p.joined_steps();
        let macs: Vec<u64> = (0..p.steps.len())
            .map(|i| match (joined[i], joined.get(i + 1)) {
                (true, _) => 0,
                (false, Some(true)) => p.steps[i].macs + p.steps[i + 1].macs,
                _ => p.steps[i].macs,
            })
            .collect();
        for (i, (step, ns)) in p.steps.iter().zip(&t.layers).enumerate() {
            let (shown, tail) = if joined[i] {
                (step.macs, format!("{:>9}   (runs in the job of the step before)", "-"))
            } else {
                let gmacs = macs[i] as f64 / (*ns).max(1) as f64;
                let share = match (per_cycle, macs[i]) {
                    (Some(c), m) if m > 0 => format!("{:.0}%", 100.0 * gmacs / (c.gmacs() * threads as f64)),
                    _ => "-".into(),
                };
                let time = *ns as f64 / 1e3;
                (macs[i], format!("{time:>9.1} {:>6.1}% {gmacs:>8.1} {share:>8}", 100.0 * *ns as f64 / total as f64))
            };
            let _ =
                writeln!(out, "{:<4} {:<name_w$} {:<op_w$} {shown:>11} {tail}", i + 1, names[i].to_string(), step.op);
        }
        let mut by_op: Vec<(String, u64, u64)> = Vec::new();
        for ((step, ns), &m) in p.steps.iter().zip(&t.layers).zip(&macs) {
            let kind = kernel_kind(step);
            match by_op.iter_mut().find(|(k, _, _)| *k == kind) {
                Some(e) => {
                    e.1 += ns;
                    e.2 += m;
                }
                None => by_op.push((kind, *ns, m)),
            }
        }
        by_op.sort_by_key(|e| std::cmp::Reverse(e.1));
        let _ = writeln!(out, "\nby kernel ({}):", t.backend);
        let width = by_op.iter().map(|e| e.0.len()).max().unwrap_or(0);
        for (kind, ns, m) in by_op {
            let _ = writeln!(
                out,
                "  {kind:<width$} {:>8.3} ms {:>5.1}%  {:>7.1} GMAC/s",
                ms(ns),
                100.0 * ns as f64 / total as f64,
                m as f64 / ns.max(1) as f64
            );
        }
    }
    out
}

fn kernel_kind(step: &crate::quant::Step) -> String {
    use crate::quant::Kernel;
    match &step.kernel {
        Kernel::Conv(p, _) => format!("conv {}x{}", p.kernel_h, p.kernel_w),
        Kernel::Im2colGemm { conv, .. } => {
            let g = &conv.gather;
            let few = if g.in_c <= 4 { ", few channels" } else { "" };
            format!("conv {}x{} (im2col{few})", g.kernel_h, g.kernel_w)
        }
        Kernel::Gemm(g, _) if g.rows == 1 => "fully connected".into(),
        Kernel::Gemm(..) => "conv 1x1 (gemm)".into(),
        Kernel::Depthwise(p, _) => format!("depthwise {}x{}", p.kernel_h, p.kernel_w),
        Kernel::ExpandDepthwise { pair, .. } => format!("1x1 + depthwise {}x{}", pair.dw.kernel_h, pair.dw.kernel_w),
        Kernel::DepthwiseProject { layers: l, .. } => {
            let add = if l.residual.is_some() { " + add" } else { "" };
            format!("depthwise {}x{} + 1x1{add}", l.dw.kernel_h, l.dw.kernel_w)
        }
        Kernel::Add(_) => "add".into(),
        Kernel::MaxPool(_) | Kernel::AveragePool(_) | Kernel::GlobalAveragePool(_) => "pool".into(),
        Kernel::Clamp(_) => "clamp".into(),
        Kernel::CopyInto(_) => "concat".into(),
        Kernel::NhwcToNchw { .. } | Kernel::NchwToNhwc { .. } => "layout".into(),
    }
}
