//! `make_data <out.npy> --shape 1,3,224,224 --count N --seed S`: writes `N` random
//! `N(0, 1)` float32 samples of the given shape, stacked along the first axis (so the
//! file's shape is `[N * shape[0], shape[1..]]`), as a `.npy` file.

use qforge_tests::{npy, rng::Rng};
use std::process::ExitCode;

const USAGE: &str = "usage: make_data <out.npy> --shape 1,3,224,224 [--count N] [--seed S]";

fn main() -> ExitCode {
    match run(std::env::args().skip(1).collect()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("make_data: {e}\n{USAGE}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Vec<String>) -> Result<(), String> {
    let (mut out, mut shape, mut count, mut seed) = (None, None, 1usize, 0u64);
    let mut it = args.into_iter();
    while let Some(a) = it.next() {
        let mut value = |flag: &str| it.next().ok_or_else(|| format!("{flag} needs a value"));
        match a.as_str() {
            "--shape" => {
                let v = value("--shape")?;
                let dims: Result<Vec<usize>, _> = v.split(',').map(|d| d.trim().parse::<usize>()).collect();
                shape = Some(dims.map_err(|_| format!("--shape: '{v}' is not a comma-separated list of sizes"))?);
            }
            "--count" => count = value("--count")?.parse().map_err(|_| "--count needs a positive integer")?,
            "--seed" => seed = value("--seed")?.parse().map_err(|_| "--seed needs a non-negative integer")?,
            "-h" | "--help" => return Err("help".into()),
            _ if out.is_none() => out = Some(a),
            _ => return Err(format!("unexpected argument '{a}'")),
        }
    }
    let out = out.ok_or("expected an output path")?;
    let mut shape = shape.ok_or("expected --shape")?;
    if shape.is_empty() || count == 0 {
        return Err("the shape and the count must not be empty".into());
    }
    shape[0] *= count;
    let len = shape.iter().product();
    let data = Rng::new(seed).normals(len, 1.0);
    npy::write_f32(out.as_ref(), &shape, &data).map_err(|e| format!("{out}: {e}"))?;
    eprintln!("wrote {out} (shape {shape:?})");
    Ok(())
}
