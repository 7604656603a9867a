//! `quantize_model!`: compiles an fp32 model into an int8 module of the calling crate, at
//! build time. Use it through the `qrt` crate's `macros` feature:
//!
//! ```ignore
//! qrt::quantize_model!(pub mod digits, model = "models/digits.onnx", calib = "data/calib.npy");
//! let mut m = digits::Model::new();
//! ```
//!
//! This crate is a thin shim: it parses the arguments with `syn`, hands them to
//! `qforge::embed` (the same pipeline, generator and cache as the build.rs door), and turns
//! every error into a `compile_error!` on the argument it concerns. See
//! `docs/embedding.md` in the repository for the options, the cache and the build costs.

use proc_macro2::{Span, TokenStream};
use qforge::calib::Observer;
use qforge::embed::{self, Arg, Budgets, Options, RangeSource, Source};
use quote::{quote, ToTokens};
use syn::parse::{Parse, ParseStream};
use syn::{Ident, Lit, LitStr, Token, Visibility};

/// Compiles a model into a module at build time.
///
/// `quantize_model!(<vis> mod <name>, model = "...", calib = "..." | stats = "...", ...)`
///
/// Options (paths are relative to the folder of the calling crate's `Cargo.toml`):
/// - `model = "net.onnx"` or a `.json` graph; `weights = "net.safetensors"` for a `.json`
///   graph whose `weights` field should be overridden;
/// - `calib = "calib.npy"` (calibration samples) or `stats = "stats.json"` (ranges);
/// - `observer = "minmax"` (default) or `"percentile"`, with `percentile = 99.99`;
/// - `max_ram = N`, `max_flash = N`: fail when the arena or the weights exceed `N` bytes.
///
/// The module has the API of an emitted crate's `lib.rs` (`Model`, `ArenaModel`, `run_with_arena`,
/// `INPUT_SHAPE`, `ARENA_BYTES`, ...). The weights are embedded with `include_bytes!` from
/// the compile cache under the target folder; editing an input file recompiles.
#[proc_macro]
pub fn quantize_model(input: proc_macro::TokenStream) -> proc_macro::TokenStream {
    let invocation = match syn::parse::<Invocation>(input) {
        Ok(i) => i,
        Err(e) => return e.to_compile_error().into(),
    };
    match expand(&invocation) {
        Ok(code) => code.into(),
        Err(e) => e.to_compile_error().into(),
    }
}

/// One `key = value` argument.
struct Argument {
    key: Ident,
    value: Lit,
}

/// The parsed invocation.
struct Invocation {
    vis: Visibility,
    name: Ident,
    args: Vec<Argument>,
}

impl Parse for Invocation {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let vis: Visibility = input.parse()?;
        input.parse::<Token![mod]>().map_err(|e| {
            syn::Error::new(e.span(), "expected `mod <name>` first, e.g. `quantize_model!(pub mod digits, ...)`")
        })?;
        let name: Ident = input.parse()?;
        let mut args = Vec::new();
        while !input.is_empty() {
            input.parse::<Token![,]>()?;
            if input.is_empty() {
                break;
            }
            let key: Ident = input.parse()?;
            input.parse::<Token![=]>()?;
            let value: Lit = input.parse()?;
            args.push(Argument { key, value });
        }
        Ok(Invocation { vis, name, args })
    }
}

/// The options as parsed, each with the span of its value.
#[derive(Default)]
struct Parsed {
    model: Option<(LitStr, Span)>,
    weights: Option<(LitStr, Span)>,
    calib: Option<(LitStr, Span)>,
    stats: Option<(LitStr, Span)>,
    observer: Option<(String, Span)>,
    percentile: Option<(f64, Span)>,
    max_ram: Option<(usize, Span)>,
    max_flash: Option<(usize, Span)>,
}

const KEYS: &str = "model, weights, calib, stats, observer, percentile, max_ram, max_flash";

fn parse_args(inv: &Invocation) -> syn::Result<Parsed> {
    let mut p = Parsed::default();
    let mut errors: Option<syn::Error> = None;
    let mut push = |e: syn::Error| match &mut errors {
        Some(all) => all.combine(e),
        None => errors = Some(e),
    };
    for a in &inv.args {
        let key = a.key.to_string();
        let span = a.value.span();
        let result = match key.as_str() {
            "model" => string(a).map(|s| set(&mut p.model, (s, span), a)),
            "weights" => string(a).map(|s| set(&mut p.weights, (s, span), a)),
            "calib" => string(a).map(|s| set(&mut p.calib, (s, span), a)),
            "stats" => string(a).map(|s| set(&mut p.stats, (s, span), a)),
            "observer" => string(a).map(|s| set(&mut p.observer, (s.value(), span), a)),
            "percentile" => number(a).map(|v| set(&mut p.percentile, (v, span), a)),
            "max_ram" => bytes(a).map(|v| set(&mut p.max_ram, (v, span), a)),
            "max_flash" => bytes(a).map(|v| set(&mut p.max_flash, (v, span), a)),
            _ => Err(syn::Error::new(a.key.span(), format!("unknown option `{key}`; the options are: {KEYS}"))),
        };
        match result {
            Ok(Ok(())) => {}
            Ok(Err(e)) | Err(e) => push(e),
        }
    }
    match errors {
        Some(e) => Err(e),
        None => Ok(p),
    }
}

/// Sets an option once; a second `key = ...` is an error on the second.
fn set<T>(slot: &mut Option<T>, value: T, a: &Argument) -> syn::Result<()> {
    if slot.is_some() {
        return Err(syn::Error::new(a.key.span(), format!("`{}` is given twice", a.key)));
    }
    *slot = Some(value);
    Ok(())
}

fn string(a: &Argument) -> syn::Result<LitStr> {
    match &a.value {
        Lit::Str(s) => Ok(s.clone()),
        other => Err(syn::Error::new(other.span(), format!("`{}` takes a string, e.g. {} = \"...\"", a.key, a.key))),
    }
}

fn number(a: &Argument) -> syn::Result<f64> {
    match &a.value {
        Lit::Float(f) => f.base10_parse::<f64>(),
        Lit::Int(i) => i.base10_parse::<f64>(),
        other => Err(syn::Error::new(other.span(), format!("`{}` takes a number, e.g. {} = 99.99", a.key, a.key))),
    }
}

fn bytes(a: &Argument) -> syn::Result<usize> {
    match &a.value {
        Lit::Int(i) => i.base10_parse::<usize>(),
        other => Err(syn::Error::new(other.span(), format!("`{}` takes a byte count, e.g. {} = 65536", a.key, a.key))),
    }
}

fn expand(inv: &Invocation) -> syn::Result<TokenStream> {
    let p = parse_args(inv)?;
    let call_site = Span::call_site();
    let Some((model, model_span)) = &p.model else {
        return Err(syn::Error::new(call_site, "missing `model = \"...\"` (an .onnx file or a .json graph)"));
    };
    let ranges_lit = match (&p.calib, &p.stats) {
        (Some(_), Some((_, span))) => {
            return Err(syn::Error::new(*span, "give `calib` or `stats`, not both"));
        }
        (None, None) => {
            return Err(syn::Error::new(
                call_site,
                "missing `calib = \"...\"` (calibration samples) or `stats = \"...\"` (activation ranges)",
            ));
        }
        (Some(c), None) => (true, c),
        (None, Some(s)) => (false, s),
    };
    let observer = match (&p.observer, &p.percentile) {
        (None, None) => None,
        (Some((o, _)), None) if o == "minmax" => Some(Observer::MinMax),
        (Some((o, _)), Some((v, _))) if o == "percentile" => Some(Observer::Percentile(*v)),
        (Some((o, _)), None) if o == "percentile" => Some(Observer::Percentile(99.99)),
        (None, Some((v, _))) => Some(Observer::Percentile(*v)),
        (Some((o, span)), _) if o != "minmax" && o != "percentile" => {
            return Err(syn::Error::new(*span, format!("unknown observer `{o}`; use \"minmax\" or \"percentile\"")));
        }
        (Some(_), Some((_, span))) => {
            return Err(syn::Error::new(*span, "`percentile` needs `observer = \"percentile\"`"));
        }
        _ => None,
    };
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(std::path::PathBuf::from)
        .ok_or_else(|| syn::Error::new(call_site, "CARGO_MANIFEST_DIR is not set (build with cargo)"))?;
    let source = |s: &LitStr| Source::resolve(&manifest, &s.value());
    let ranges = match ranges_lit {
        (true, (s, _)) => RangeSource::Calib(source(s)),
        (false, (s, _)) => RangeSource::Stats(source(s)),
    };
    let mut command = format!("quantize_model!(mod {}, model = {:?}", inv.name, model.value());
    for (key, v) in [("weights", &p.weights), ("calib", &p.calib), ("stats", &p.stats)] {
        if let Some((s, _)) = v {
            command.push_str(&format!(", {key} = {:?}", s.value()));
        }
    }
    command.push(')');
    let opts = Options {
        model: source(model),
        weights: p.weights.as_ref().map(|(s, _)| source(s)),
        ranges,
        observer,
        budgets: Budgets { max_ram: p.max_ram.map(|(v, _)| v), max_flash: p.max_flash.map(|(v, _)| v) },
        command,
    };
    let span_of = |arg: Option<Arg>| -> Span {
        let span = match arg {
            Some(Arg::Model) | None => Some(*model_span),
            Some(Arg::Weights) => p.weights.as_ref().map(|v| v.1),
            Some(Arg::Calib) => p.calib.as_ref().map(|v| v.1),
            Some(Arg::Stats) => p.stats.as_ref().map(|v| v.1),
            Some(Arg::Observer) => p.observer.as_ref().map(|v| v.1),
            Some(Arg::Percentile) => p.percentile.as_ref().map(|v| v.1).or(p.observer.as_ref().map(|v| v.1)),
            Some(Arg::MaxRam) => p.max_ram.as_ref().map(|v| v.1),
            Some(Arg::MaxFlash) => p.max_flash.as_ref().map(|v| v.1),
        };
        span.unwrap_or(call_site)
    };
    let root = embed::cache::root(&manifest);
    let compiled = embed::compile(&opts, &root).map_err(|e| syn::Error::new(span_of(e.arg), e.message))?;
    let body: TokenStream = compiled
        .body
        .parse()
        .map_err(|e| syn::Error::new(call_site, format!("internal error: cached module does not parse: {e}")))?;
    let path_literal = |path: &std::path::Path, arg: Option<Arg>| -> syn::Result<LitStr> {
        let text = path
            .to_str()
            .ok_or_else(|| syn::Error::new(span_of(arg), format!("{}: the path is not valid UTF-8", path.display())))?;
        Ok(LitStr::new(text, call_site))
    };
    let blob = path_literal(&compiled.blob, None)?;
    // `include_bytes!` of each input makes rustc track it: editing one rebuilds the crate
    // (and so re-runs this macro, which then misses the cache and recompiles).
    let mut tracked = Vec::new();
    for (arg, s) in opts.inputs() {
        let lit = path_literal(&s.path, Some(arg))?;
        tracked.push(quote!(
            const _: &[u8] = include_bytes!(#lit);
        ));
    }
    let vis = inv.vis.to_token_stream();
    Ok(qforge::codegen::wrap_module(body, vis, &inv.name, blob.to_token_stream(), quote!(#(#tracked)*)))
}
