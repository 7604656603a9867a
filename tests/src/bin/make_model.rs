//! `make_model <name> <out.onnx> [--size HW] [--classes N]`: writes one of the test models
//! (see `qforge_tests::models::NAMES`) to disk.

use qforge_tests::models;
use std::process::ExitCode;

const USAGE: &str = "usage: make_model <name> <out.onnx> [--size HW] [--classes N]";

fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("make_model: {e}\n{USAGE}\nmodels: {}", models::NAMES.join(", "));
            ExitCode::FAILURE
        }
    }
}

fn run(args: Vec<String>) -> Result<(), String> {
    let mut positional = Vec::new();
    let (mut size, mut classes) = (None, 1000);
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--size" => size = Some(number(it.next(), "--size")?),
            "--classes" => classes = number(it.next(), "--classes")?,
            "-h" | "--help" => return Err("help".into()),
            _ => positional.push(a),
        }
    }
    let [name, out] = <[String; 2]>::try_from(positional).map_err(|_| "expected a model name and an output path")?;
    let default_size = match name.as_str() {
        "mobilenet_v2" | "resnet18" | "vgg16" => 224,
        "concat_net" => 16,
        _ => 32,
    };
    let bytes = models::by_name(&name, size.unwrap_or(default_size), classes)
        .ok_or_else(|| format!("unknown model '{name}'"))?;
    std::fs::write(&out, &bytes).map_err(|e| format!("{out}: {e}"))?;
    eprintln!("wrote {out} ({} bytes)", bytes.len());
    Ok(())
}

fn number(v: Option<String>, flag: &str) -> Result<usize, String> {
    let v = v.ok_or_else(|| format!("{flag} needs a value"))?;
    v.parse().map_err(|_| format!("{flag}: '{v}' is not a positive integer"))
}
