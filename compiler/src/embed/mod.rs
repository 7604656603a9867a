//! Compiling a model into a module of the user's own crate at build time: the shared core of
//! the `quantize_model!` macro (crate `qforge-macros`) and the build.rs door ([`Builder`]).
//!
//! Both doors describe the job as [`Options`] and call [`compile`], which runs the same
//! pipeline as `qforge compile` and renders the module with the same generator as the
//! emitted crate's `lib.rs` ([`crate::codegen::module_body`]). Results are cached by content
//! (see [`cache`], which also says how the cache is pruned), so an unchanged model is not
//! recompiled. Errors are [`EmbedError`]s: one line, with paths as the user wrote them,
//! naming the option they concern so the macro can point at it.

mod builder;
pub mod cache;

pub use builder::{BuildError, Builder};

use crate::calib::Observer;
use crate::pipeline::{self, Ranges};
use std::fmt;
use std::path::{Path, PathBuf};

/// An input file: where it is, and how the user wrote it (for messages and banners).
#[derive(Clone, Debug)]
pub struct Source {
    /// The file, resolved (relative paths are joined to the user crate's folder).
    pub path: PathBuf,
    /// The path as the user wrote it.
    pub shown: String,
}

impl Source {
    /// `written` resolved against `base` (the folder of the user crate's `Cargo.toml`).
    pub fn resolve(base: &Path, written: &str) -> Self {
        Source { path: base.join(written), shown: written.to_string() }
    }
}

/// Which option an error concerns (the macro puts the error on that argument).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arg {
    /// `model`.
    Model,
    /// `weights`.
    Weights,
    /// `calib`.
    Calib,
    /// `stats`.
    Stats,
    /// `observer`.
    Observer,
    /// `percentile`.
    Percentile,
    /// `max_ram`.
    MaxRam,
    /// `max_flash`.
    MaxFlash,
}

/// Resource budgets, the same as the CLI's `--max-ram` / `--max-flash`.
pub use crate::memory::Budgets;

/// Where activation ranges come from.
#[derive(Clone, Debug)]
pub enum RangeSource {
    /// Calibration samples (`.npy` or `.safetensors`), observed with the [`Options::observer`].
    Calib(Source),
    /// A `stats.json` file.
    Stats(Source),
}

/// Everything a door knows about the job.
#[derive(Clone, Debug)]
pub struct Options {
    /// The model (`.onnx`, or a `.json` graph).
    pub model: Source,
    /// Weights for a `.json` graph (default: the file its `weights` field names).
    pub weights: Option<Source>,
    /// Calibration data or statistics.
    pub ranges: RangeSource,
    /// The observer for calibration data (`None`: min-max).
    pub observer: Option<Observer>,
    /// Resource budgets.
    pub budgets: Budgets,
    /// How the door was invoked, for the banner (paths as the user wrote them).
    pub command: String,
}

/// A failed compile: the one-line message, and the option it concerns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmbedError {
    /// The option the error concerns, if one does.
    pub arg: Option<Arg>,
    /// One line, with paths as the user wrote them.
    pub message: String,
}

impl fmt::Display for EmbedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for EmbedError {}

fn err(arg: Arg, message: impl Into<String>) -> EmbedError {
    EmbedError { arg: Some(arg), message: message.into() }
}

/// A compiled model, ready to be wrapped into a module ([`crate::codegen::wrap_module`]).
#[derive(Clone, Debug)]
pub struct Compiled {
    /// The module's inner attributes and items, as Rust tokens in text form.
    pub body: String,
    /// The weight blob (a file in the cache).
    pub blob: PathBuf,
    /// Whether the cache already held this compile.
    pub cache_hit: bool,
}

impl Options {
    /// The input files, each with the option that names it. A `.json` graph without
    /// `weights` brings the weights file its `weights` field names (under `model`).
    pub fn inputs(&self) -> Vec<(Arg, Source)> {
        let mut inputs = vec![(Arg::Model, self.model.clone())];
        match &self.weights {
            Some(w) => inputs.push((Arg::Weights, w.clone())),
            None => inputs.extend(self.named_weights().map(|w| (Arg::Model, w))),
        }
        inputs.push(match &self.ranges {
            RangeSource::Calib(s) => (Arg::Calib, s.clone()),
            RangeSource::Stats(s) => (Arg::Stats, s.clone()),
        });
        inputs
    }

    /// The weights file a `.json` graph's `weights` field names, relative to the graph.
    /// (An unreadable graph names none here; loading it reports the problem.)
    fn named_weights(&self) -> Option<Source> {
        if self.model.path.extension().is_none_or(|e| e != "json") {
            return None;
        }
        let text = std::fs::read_to_string(&self.model.path).ok()?;
        let json: serde_json::Value = serde_json::from_str(&text).ok()?;
        let file = json.get("weights")?.as_str()?;
        let dir = |p: &Path| p.parent().unwrap_or(Path::new("")).to_path_buf();
        Some(Source {
            path: dir(&self.model.path).join(file),
            shown: dir(Path::new(&self.model.shown)).join(file).display().to_string(),
        })
    }

    /// Checks the options that do not need the files.
    pub fn validate(&self) -> Result<(), EmbedError> {
        match (&self.ranges, self.observer) {
            (RangeSource::Stats(_), Some(_)) => {
                Err(err(Arg::Observer, "an observer applies to calibration data (`calib`), not to `stats`"))
            }
            (_, Some(Observer::Percentile(p))) if !(p > 0.0 && p <= 100.0) => {
                Err(err(Arg::Percentile, format!("percentile must be in (0, 100], got {p}")))
            }
            _ => Ok(()),
        }
    }

    fn observer(&self) -> Observer {
        self.observer.unwrap_or(Observer::MinMax)
    }

    /// The cache key: everything that decides the generated module and blob.
    fn key(&self, contents: &[Vec<u8>]) -> String {
        let mut key = Vec::new();
        let mut field = |bytes: &[u8]| {
            key.extend((bytes.len() as u64).to_le_bytes());
            key.extend(bytes);
        };
        field(cache::FORMAT.as_bytes());
        field(crate::codegen::VERSION.as_bytes());
        field(env!("QFORGE_SOURCE_HASH").as_bytes());
        for ((arg, _), bytes) in self.inputs().iter().zip(contents) {
            field(format!("{arg:?}").as_bytes());
            field(bytes);
        }
        let observer = match (&self.ranges, self.observer()) {
            (RangeSource::Stats(_), _) => "stats".to_string(),
            (_, Observer::MinMax) => "minmax".to_string(),
            (_, Observer::Percentile(p)) => format!("percentile {:016x}", p.to_bits()),
        };
        field(observer.as_bytes());
        field(format!("{:?}", self.budgets).as_bytes());
        // The banner names the inputs as written and the command, so they are part of the key.
        for (_, s) in self.inputs() {
            field(pipeline::file_name(Path::new(&s.shown)).as_bytes());
        }
        field(self.command.as_bytes());
        crate::util::sha256_hex(&key)
    }

    /// Rewrites a compiler message for the user: resolved paths become the paths as
    /// written, and the option whose file the message names is found.
    fn user_error(&self, e: &crate::Error) -> EmbedError {
        let mut message = e.to_string();
        let mut first: Option<(usize, Arg)> = None;
        for (arg, s) in self.inputs() {
            let resolved = s.path.display().to_string();
            if let Some(at) = message.find(&resolved) {
                if first.is_none_or(|(f, _)| at < f) {
                    first = Some((at, arg));
                }
                message = message.replace(&resolved, &s.shown);
            }
        }
        let arg = match e {
            crate::Error::Node { .. } | crate::Error::Unsupported { .. } => Some(Arg::Model),
            _ => first.map(|(_, a)| a).or(Some(Arg::Model)),
        };
        EmbedError { arg, message }
    }
}

/// Compiles the model, or takes it from the cache under `cache_root`.
pub fn compile(opts: &Options, cache_root: &Path) -> Result<Compiled, EmbedError> {
    opts.validate()?;
    let mut contents = Vec::new();
    for (arg, s) in opts.inputs() {
        let bytes = std::fs::read(&s.path).map_err(|e| {
            let why = match e.kind() {
                std::io::ErrorKind::NotFound => "file not found".to_string(),
                _ => e.to_string(),
            };
            err(arg, format!("{}: {why} (relative paths start at the crate's Cargo.toml folder)", s.shown))
        })?;
        contents.push(bytes);
    }
    let key = opts.key(&contents);
    let entry = cache::Entry::new(cache_root, &key);
    if let Some(body) = entry.read() {
        return Ok(Compiled { body, blob: entry.blob(), cache_hit: true });
    }
    let (body, blob) = compile_fresh(opts)?;
    let model = opts.model.path.display().to_string();
    entry.write(&body, &blob, &model).map_err(|e| EmbedError { arg: None, message: e.to_string() })?;
    cache::prune(cache_root, &model, &cache::Policy::DEFAULT, std::time::SystemTime::now());
    Ok(Compiled { body, blob: entry.blob(), cache_hit: false })
}

/// Runs the pipeline: load, calibrate (or read statistics), quantize, check the budgets,
/// render the module body.
fn compile_fresh(opts: &Options) -> Result<(String, Vec<u8>), EmbedError> {
    let user = |e: crate::Error| opts.user_error(&e);
    let model = pipeline::load(&opts.model.path, opts.weights.as_ref().map(|w| w.path.as_path())).map_err(user)?;
    let ranges = match &opts.ranges {
        RangeSource::Calib(s) => Ranges::Data(s.path.clone(), opts.observer()),
        RangeSource::Stats(s) => Ranges::Stats(s.path.clone()),
    };
    let (stats, calibration, source) = ranges.resolve(&model, false).map_err(user)?;
    let mut program = pipeline::quantize(&model, &stats, &source).map_err(user)?;
    pipeline::check_budgets(&mut program, &opts.budgets).map_err(|e| match e {
        crate::Error::OverBudget(over) => {
            let arg = match over.resource {
                crate::memory::Resource::Ram => Arg::MaxRam,
                crate::memory::Resource::Flash => Arg::MaxFlash,
            };
            err(arg, over.to_string())
        }
        e => user(e),
    })?;
    let meta = pipeline::provenance(&model, "module", calibration, opts.command.clone());
    let body = crate::codegen::module_body(&program, &meta).to_string();
    Ok((body, program.blob))
}
