//! The `qforge` command line: inspect, calibrate, compile and evaluate a model.

use anyhow::bail;
use clap::{Args, Parser, Subcommand, ValueEnum};
use qforge::calib::Observer;
use qforge::pipeline::{self, Model, Ranges};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

const EXAMPLES: &str = "\
Examples:
  qforge inspect mobilenet_v2.onnx
  qforge calibrate mobilenet_v2.onnx --calib calib.npy -o stats.json
  qforge compile mobilenet_v2.onnx --stats stats.json -o mbv2/
  qforge compile model.json --weights model.safetensors --calib calib.npy -o mynet/
  qforge eval mobilenet_v2.onnx --calib calib.npy --data test.npy --labels labels.npy
  cd mbv2 && cargo run --release --example run_npy -- test.npy out.npy";

/// Ahead-of-time compiler from fp32 CNNs (ONNX, or JSON + safetensors) to standalone int8 Rust crates.
#[derive(Parser)]
#[command(name = "qforge", version, after_help = EXAMPLES)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Print the model's ops, shapes, parameters and MACs, before and after fusion.
    #[command(after_help = "Example:\n  qforge inspect mobilenet_v2.onnx")]
    Inspect {
        #[command(flatten)]
        model: ModelArgs,
    },
    /// Run calibration data through the fp32 model and write per-tensor ranges (stats.json).
    #[command(
        after_help = "Example:\n  qforge calibrate mobilenet_v2.onnx --calib calib.npy --observer percentile -o stats.json"
    )]
    Calibrate {
        #[command(flatten)]
        model: ModelArgs,
        /// Calibration samples: .npy float32 [N, ...input shape], or .safetensors with one tensor per input.
        #[arg(long, value_name = "FILE")]
        calib: PathBuf,
        #[command(flatten)]
        observer: ObserverArgs,
        /// Where to write the statistics.
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
    },
    /// Quantize the model and write a standalone int8 crate.
    #[command(
        after_help = "Examples:\n  qforge compile mobilenet_v2.onnx --calib calib.npy -o mbv2/\n  qforge compile mobilenet_v2.onnx --stats stats.json -o mbv2/ --force\n  qforge compile digits.onnx --calib calib.npy -o digits/ --max-ram 16K --max-flash 256K"
    )]
    Compile {
        #[command(flatten)]
        model: ModelArgs,
        #[command(flatten)]
        ranges: RangeArgs,
        /// Output folder for the crate (refused if it exists, unless --force).
        #[arg(short, long, value_name = "DIR")]
        output: PathBuf,
        /// Replace the output folder if it exists.
        #[arg(long)]
        force: bool,
        /// Crate name (default: from the output folder's name).
        #[arg(long, value_parser = parse_crate_name)]
        name: Option<String>,
        #[command(flatten)]
        budgets: BudgetArgs,
    },
    /// Compile, build and time the emitted crate on each backend: latency, per-layer time, GMAC/s, share of the int8 ceiling.
    #[command(
        after_help = "Examples:\n  qforge bench mobilenet_v2.onnx --stats stats.json\n  qforge bench mobilenet_v2.onnx --calib calib.npy --backend avx2,avxvnni,avx512vnni,amx --iterations 100\n  qforge bench mobilenet_v2.onnx --stats stats.json --backend avx512vnni --threads 2"
    )]
    Bench {
        #[command(flatten)]
        model: ModelArgs,
        #[command(flatten)]
        ranges: RangeArgs,
        /// Backends to time, comma separated (scalar, avx2, avxvnni, avx512vnni, amx, neon, dotprod); unavailable ones are skipped.
        #[arg(long, value_delimiter = ',', default_value = "scalar,avx2,avxvnni,avx512vnni,amx")]
        backend: Vec<String>,
        /// Timed runs per backend (the median is reported).
        #[arg(long, default_value_t = 50)]
        iterations: usize,
        /// Clock in GHz for the ceiling (default: measured with a dependent-multiply loop, for each backend while its multiply-accumulate instruction runs).
        #[arg(long)]
        ghz: Option<f64>,
        /// Where to write and build the crate.
        #[arg(long, value_name = "DIR", default_value = "target/qforge-bench/model")]
        dir: PathBuf,
        /// Skip timing the fp32 reference interpreter.
        #[arg(long)]
        no_fp32: bool,
        /// int8 MACs per cycle and core of the AVX-512 VNNI path for the ceiling column (default: measured, a register-only `vpdpbusd` loop: 64 on Zen 4, 128 on Zen 5 and Intel server cores with two 512-bit units).
        #[arg(long)]
        vnni_macs_per_cycle: Option<f64>,
        /// Threads per run (the emitted crate's Model::with_threads); 1 = single-threaded. With
        /// more, also the speed-up over one thread, from alternating blocks of runs, next to
        /// the cores' own speed-up timed in the same blocks (an in-cache GEMM loop), and each
        /// thread's speed as the pool measured it.
        #[arg(long, default_value_t = 1)]
        threads: usize,
    },
    /// Compare the int8 model with the fp32 model on a data set: top-1, agreement, SQNR per layer.
    #[command(
        after_help = "Example:\n  qforge eval mobilenet_v2.onnx --calib calib.npy --data test.npy --labels labels.npy"
    )]
    Eval {
        #[command(flatten)]
        model: ModelArgs,
        #[command(flatten)]
        ranges: RangeArgs,
        /// Evaluation samples (.npy float32 [N, ...input shape], or .safetensors).
        #[arg(long, value_name = "FILE")]
        data: PathBuf,
        /// Labels (.npy integer [N]) for top-1 accuracy.
        #[arg(long, value_name = "FILE")]
        labels: Option<PathBuf>,
        /// Outputs of an emitted crate on the same data (run_npy's output.npy): checked byte for byte against the simulator.
        #[arg(long, value_name = "FILE")]
        crate_output: Option<PathBuf>,
        /// Print the per-layer SQNR table.
        #[arg(long)]
        layers: bool,
    },
}

#[derive(Args)]
struct BudgetArgs {
    /// Fail unless the activation arena (RAM) fits in BYTES: plain bytes, or K/KiB, M/MiB (powers of 1024).
    #[arg(long, value_name = "BYTES", value_parser = parse_bytes)]
    max_ram: Option<usize>,
    /// Fail unless the weight blob (flash; code not counted) fits in BYTES: plain bytes, or K/KiB, M/MiB.
    #[arg(long, value_name = "BYTES", value_parser = parse_bytes)]
    max_flash: Option<usize>,
}

impl BudgetArgs {
    fn budgets(&self) -> pipeline::Budgets {
        pipeline::Budgets { max_ram: self.max_ram, max_flash: self.max_flash }
    }
}

fn parse_crate_name(s: &str) -> Result<String, String> {
    qforge::codegen::check_crate_name(s).map(|()| s.to_string())
}

fn parse_bytes(text: &str) -> Result<usize, String> {
    qforge::memory::parse_bytes(text)
}

#[derive(Args)]
struct ModelArgs {
    /// The model: .onnx, or a .json graph description.
    #[arg(value_name = "MODEL")]
    path: PathBuf,
    /// Weights for a .json graph (default: the file its "weights" field names).
    #[arg(long, value_name = "FILE")]
    weights: Option<PathBuf>,
}

#[derive(Clone, Copy, ValueEnum)]
enum ObserverKind {
    /// Smallest and largest value seen.
    Minmax,
    /// Percentiles of a histogram (see --percentile).
    Percentile,
}

#[derive(Args)]
struct ObserverArgs {
    /// How activation ranges are chosen from the calibration data.
    #[arg(long, value_enum, default_value = "minmax")]
    observer: ObserverKind,
    /// Percentile kept by the percentile observer.
    #[arg(long, default_value_t = 99.99)]
    percentile: f64,
}

impl ObserverArgs {
    fn observer(&self) -> Observer {
        match self.observer {
            ObserverKind::Minmax => Observer::MinMax,
            ObserverKind::Percentile => Observer::Percentile(self.percentile),
        }
    }
}

#[derive(Args)]
#[group(required = true, multiple = false, id = "range_source")]
struct RangeSource {
    /// Calibration samples (.npy float32 [N, ...input shape], or .safetensors).
    #[arg(long, value_name = "FILE", group = "range_source")]
    calib: Option<PathBuf>,
    /// Activation statistics from `qforge calibrate` or another tool.
    #[arg(long, value_name = "FILE", group = "range_source")]
    stats: Option<PathBuf>,
}

#[derive(Args)]
struct RangeArgs {
    #[command(flatten)]
    source: RangeSource,
    #[command(flatten)]
    observer: ObserverArgs,
}

impl RangeArgs {
    fn ranges(&self) -> Ranges {
        match (&self.source.calib, &self.source.stats) {
            (Some(c), _) => Ranges::Data(c.clone(), self.observer.observer()),
            (None, Some(s)) => Ranges::Stats(s.clone()),
            (None, None) => unreachable!("clap requires --calib or --stats"),
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn load(m: &ModelArgs) -> anyhow::Result<Model> {
    Ok(pipeline::load(&m.path, m.weights.as_deref())?)
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Inspect { model } => {
            let m = load(&model)?;
            print!("{}", qforge::inspect::render(&m));
        }
        Command::Calibrate { model, calib, observer, output } => {
            let m = load(&model)?;
            let start = Instant::now();
            let stats = pipeline::calibrate(&m, &calib, observer.observer(), true)?;
            stats.write(&output)?;
            eprintln!(
                "calibrated {} tensors on {} samples ({} observer) in {:.1} s -> {}",
                stats.tensors.len(),
                stats.samples.unwrap_or(0),
                stats.observer,
                start.elapsed().as_secs_f64(),
                output.display()
            );
        }
        Command::Compile { model, ranges, output, force, name, budgets } => {
            if output.exists() && !force {
                bail!("{}: output folder exists (use --force to replace it)", output.display());
            }
            let start = Instant::now();
            let m = load(&model)?;
            let (stats, calibration, source) = ranges.ranges().resolve(&m, true)?;
            let mut program = pipeline::quantize(&m, &stats, &source)?;
            let (default_arena, default_steps) = (program.arena_bytes, program.steps.clone());
            let plan = pipeline::check_budgets(&mut program, &budgets.budgets())?;
            if program.arena_bytes < default_arena {
                let how = if program.steps == default_steps {
                    "the same steps placed for the least RAM rather than for two threads"
                } else {
                    "every expand + depthwise pair fused, scratch bands at their least"
                };
                println!(
                    "note: planned for the least RAM to fit --max-ram ({how}): arena {} bytes instead of {default_arena}",
                    program.arena_bytes
                );
            }
            let crate_name = match name {
                Some(n) => n,
                None => qforge::codegen::crate_name_for(&output),
            };
            let meta = pipeline::provenance(&m, &crate_name, calibration, command_line());
            qforge::codegen::write_crate(&program, &meta, &output, force)?;
            print!("{}", qforge::inspect::compile_summary(&m, &program));
            println!("\nmemory plan:\n{}\n{}", plan.summary(), plan.table());
            println!("wrote crate `{crate_name}` to {} in {:.2} s", output.display(), start.elapsed().as_secs_f64());
        }
        Command::Bench { model, ranges, backend, iterations, ghz, dir, no_fp32, vnni_macs_per_cycle, threads } => {
            let m = load(&model)?;
            let (stats, calibration, source) = ranges.ranges().resolve(&m, true)?;
            let program = pipeline::quantize(&m, &stats, &source)?;
            let name = qforge::codegen::crate_name_for(&dir);
            let meta = pipeline::provenance(&m, &name, calibration, command_line());
            let results = qforge::bench::run(&program, &meta, &dir, &backend, iterations, threads)?;
            let fp32 = if no_fp32 { None } else { Some(time_fp32(&m)?) };
            let scalar = ghz.unwrap_or_else(qforge::bench::measure_ghz);
            let mut ceiling = qforge::bench::Ceiling::measure(scalar, ghz.is_some());
            let ghz = scalar;
            if let Some(v) = vnni_macs_per_cycle {
                ceiling.basis = format!("{}; zmm {v} from --vnni-macs-per-cycle", ceiling.basis);
                ceiling.vnni.macs_per_cycle = v;
            }
            print!("{}", qforge::bench::render(&program, &results, fp32, ghz, threads, ceiling));
        }
        Command::Eval { model, ranges, data, labels, crate_output, layers } => {
            let m = load(&model)?;
            let (stats, _, source) = ranges.ranges().resolve(&m, true)?;
            let program = pipeline::quantize(&m, &stats, &source)?;
            let samples = pipeline::load_samples(&m, &data)?;
            let labels = match &labels {
                Some(l) => Some(qforge::dataset::load_labels(l, samples.len())?),
                None => None,
            };
            let report = qforge::report::evaluate(&m.graph, &program, &samples, labels.as_deref(), true)?;
            print!("{}", qforge::inspect::eval_summary(&m, &program, &report, layers));
            if let Some(path) = crate_output {
                check_crate_output(&path, &report)?;
            }
        }
    }
    Ok(())
}

/// Median time of the fp32 reference interpreter on a fixed input, in nanoseconds.
fn time_fp32(m: &Model) -> anyhow::Result<u64> {
    let (_, shape) = m.input();
    let len: usize = shape.iter().product();
    let input =
        qforge::ir::Array::new(shape.to_vec(), (0..len).map(|i| ((i * 7919) % 2001) as f32 / 1000.0 - 1.0).collect());
    let mut times = Vec::new();
    for _ in 0..7 {
        let t = Instant::now();
        qforge::interp::run_simple(&m.graph, &input)?;
        times.push(t.elapsed().as_nanos() as u64);
    }
    times.sort_unstable();
    Ok(times[times.len() / 2])
}

/// Compares an emitted crate's outputs with the simulator's, bit for bit.
fn check_crate_output(path: &Path, report: &qforge::report::Report) -> anyhow::Result<()> {
    let npy = qforge::npy::read(path)?;
    let qforge::npy::NpyData::F32(values) = npy.data else {
        bail!("{}: expected float32 outputs", path.display());
    };
    let expected: Vec<f32> = report.int8_outputs.concat();
    if values.len() != expected.len() {
        bail!("{}: {} values, the simulator produced {}", path.display(), values.len(), expected.len());
    }
    let per = expected.len() / report.samples.max(1);
    let differing = values
        .chunks(per.max(1))
        .zip(expected.chunks(per.max(1)))
        .filter(|(a, b)| a.iter().zip(b.iter()).any(|(x, y)| x.to_bits() != y.to_bits()))
        .count();
    if differing > 0 {
        bail!("{}: {differing} of {} samples differ from the simulator", path.display(), report.samples);
    }
    println!("emitted crate == simulator: {} of {} samples byte-identical", report.samples, report.samples);
    Ok(())
}

/// The command as typed, with paths reduced to file names (no machine paths in output).
fn command_line() -> String {
    let args: Vec<String> = std::env::args().skip(1).map(|a| pipeline::file_name(Path::new(&a))).collect();
    let line = format!("qforge {}", args.join(" "));
    line.trim_end().to_string()
}
