//! The build.rs door: [`Builder`] writes a model's module into `OUT_DIR`.
//!
//! ```no_run
//! // build.rs (with `qforge` as a build-dependency)
//! fn main() -> Result<(), qforge::embed::BuildError> {
//!     qforge::Builder::new("digits.onnx").calibration("calib.npy").build_to_out_dir()?;
//!     Ok(())
//! }
//! // src/main.rs: include!(concat!(env!("OUT_DIR"), "/digits.rs"));
//! ```

use super::{cache, compile, Arg, Budgets, EmbedError, Options, RangeSource, Source};
use crate::calib::Observer;
use std::fmt;
use std::path::{Path, PathBuf};

/// Compiles a model at build time into `OUT_DIR/<module>.rs` (a `pub mod <module>`) and
/// `OUT_DIR/<module>.weights.bin`. Paths are relative to the crate's folder.
#[derive(Clone, Debug)]
pub struct Builder {
    model: String,
    weights: Option<String>,
    calib: Option<String>,
    stats: Option<String>,
    observer: Option<Observer>,
    module: Option<String>,
    budgets: Budgets,
}

/// A failed build-time compile. Its `Debug` form is its one-line message, so a build script
/// whose `main` returns `Result<(), BuildError>` fails with a readable line.
pub struct BuildError(String);

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BuildError {}

impl From<EmbedError> for BuildError {
    fn from(e: EmbedError) -> Self {
        let option = match e.arg {
            Some(Arg::Model) | None => String::new(),
            Some(a) => format!(" ({})", setter(a)),
        };
        BuildError(format!("qforge: {}{option}", e.message))
    }
}

/// The builder method that sets an option, for messages.
fn setter(a: Arg) -> &'static str {
    match a {
        Arg::Model => "Builder::new",
        Arg::Weights => ".weights()",
        Arg::Calib => ".calibration()",
        Arg::Stats => ".stats()",
        Arg::Observer => ".observer()",
        Arg::Percentile => ".percentile()",
        Arg::MaxRam => ".max_ram()",
        Arg::MaxFlash => ".max_flash()",
    }
}

impl Builder {
    /// A model: `.onnx`, or a `.json` graph.
    pub fn new(model: impl AsRef<Path>) -> Self {
        Builder {
            model: model.as_ref().display().to_string(),
            weights: None,
            calib: None,
            stats: None,
            observer: None,
            module: None,
            budgets: Budgets::default(),
        }
    }

    /// Calibration samples (`.npy` float32 `[N, ...input shape]`, or `.safetensors`).
    pub fn calibration(mut self, path: impl AsRef<Path>) -> Self {
        self.calib = Some(path.as_ref().display().to_string());
        self
    }

    /// Activation statistics (`stats.json`) instead of calibration samples.
    pub fn stats(mut self, path: impl AsRef<Path>) -> Self {
        self.stats = Some(path.as_ref().display().to_string());
        self
    }

    /// Weights for a `.json` graph (default: the file its `weights` field names).
    pub fn weights(mut self, path: impl AsRef<Path>) -> Self {
        self.weights = Some(path.as_ref().display().to_string());
        self
    }

    /// The observer for calibration data (default: min-max).
    pub fn observer(mut self, observer: Observer) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Shorthand for `.observer(Observer::Percentile(p))`, e.g. `99.99`.
    pub fn percentile(self, p: f64) -> Self {
        self.observer(Observer::Percentile(p))
    }

    /// The module's name (default: the model file's stem, made a valid identifier).
    pub fn module_name(mut self, name: &str) -> Self {
        self.module = Some(name.to_string());
        self
    }

    /// Fails the build when the model's arena exceeds `bytes`.
    pub fn max_ram(mut self, bytes: usize) -> Self {
        self.budgets.max_ram = Some(bytes);
        self
    }

    /// Fails the build when the model's weights exceed `bytes`.
    pub fn max_flash(mut self, bytes: usize) -> Self {
        self.budgets.max_flash = Some(bytes);
        self
    }

    /// Compiles into `OUT_DIR`, prints `cargo:rerun-if-changed` for every input, and
    /// returns the path of the module file to `include!`.
    pub fn build_to_out_dir(self) -> Result<PathBuf, BuildError> {
        let env = |name: &str| {
            std::env::var_os(name)
                .map(PathBuf::from)
                .ok_or_else(|| BuildError(format!("qforge: {name} is not set (call build_to_out_dir from build.rs)")))
        };
        let (out_dir, manifest) = (env("OUT_DIR")?, env("CARGO_MANIFEST_DIR")?);
        self.build_to(&out_dir, &manifest, &cache::root(&manifest))
    }

    /// Like [`Builder::build_to_out_dir`], with the folders given: the module goes to
    /// `out_dir`, relative paths start at `base`, the cache lives under `cache_root`.
    pub fn build_to(self, out_dir: &Path, base: &Path, cache_root: &Path) -> Result<PathBuf, BuildError> {
        let module = match &self.module {
            Some(m) => m.clone(),
            None => crate::codegen::crate_name_for(Path::new(&self.model).with_extension("").as_path()),
        };
        let name = syn::parse_str::<proc_macro2::Ident>(&module).map_err(|_| {
            BuildError(format!("qforge: module name `{module}` is not a Rust identifier (.module_name())"))
        })?;
        let source = |p: &String| Source::resolve(base, p);
        let ranges = match (&self.calib, &self.stats) {
            (Some(c), None) => RangeSource::Calib(source(c)),
            (None, Some(s)) => RangeSource::Stats(source(s)),
            _ => {
                return Err(BuildError(
                    "qforge: give exactly one of .calibration() and .stats() for the activation ranges".into(),
                ))
            }
        };
        let mut command = format!("qforge::Builder::new({:?})", self.model);
        for (setter, value) in [(".weights", &self.weights), (".calibration", &self.calib), (".stats", &self.stats)] {
            if let Some(v) = value {
                command.push_str(&format!("{setter}({v:?})"));
            }
        }
        let opts = Options {
            model: source(&self.model),
            weights: self.weights.as_ref().map(source),
            ranges,
            observer: self.observer,
            budgets: self.budgets,
            command,
        };
        for (_, s) in opts.inputs() {
            println!("cargo:rerun-if-changed={}", s.path.display());
        }
        let compiled = compile(&opts, cache_root)?;
        let io = |p: &Path, e: std::io::Error| BuildError(format!("qforge: {}: {e}", p.display()));
        let blob_name = format!("{module}.weights.bin");
        let blob_path = out_dir.join(&blob_name);
        std::fs::copy(&compiled.blob, &blob_path).map_err(|e| io(&blob_path, e))?;
        let body: proc_macro2::TokenStream = compiled
            .body
            .parse()
            .map_err(|e| BuildError(format!("qforge: internal error: cached module does not parse: {e}")))?;
        let blob_file = quote::quote!(concat!(env!("OUT_DIR"), "/", #blob_name));
        let code = crate::codegen::wrap_module(body, quote::quote!(pub), &name, blob_file, quote::quote!());
        let text = crate::codegen::format_file(code).map_err(|e| BuildError(format!("qforge: {e}")))?;
        let path = out_dir.join(format!("{module}.rs"));
        std::fs::write(&path, text).map_err(|e| io(&path, e))?;
        Ok(path)
    }
}
