// {{banner}}
//! Runs the model over every sample of a float32 `.npy` file `[N, ...input shape]` and
//! writes the outputs as float32 `.npy` `[N, ...output shape]`; prints latency to stderr.
//! `QRT_THREADS=n` runs the model on `n` threads (the same output bytes).
//!
//! Usage: `cargo run --release --example run_npy -- input.npy output.npy`

use std::io::{Read, Write};
use std::process::ExitCode;
use std::time::Instant;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 3 {
        eprintln!("usage: {} INPUT.npy OUTPUT.npy", args[0]);
        return ExitCode::from(2);
    }
    match run(&args[1], &args[2]) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(input_path: &str, output_path: &str) -> Result<(), String> {
    let (shape, data) = read_f32_npy(input_path)?;
    let per = {{crate_ident}}::INPUT_LEN;
    let sample_shape = &{{crate_ident}}::INPUT_SHAPE[1..];
    if shape.len() != sample_shape.len() + 1 || shape[1..] != *sample_shape {
        return Err(format!("{input_path}: shape {shape:?}, expected [N, {sample_shape:?}...]"));
    }
    let n = shape[0];
    let threads = match std::env::var("QRT_THREADS") {
        Ok(v) => v.parse().map_err(|_| format!("QRT_THREADS={v}: not a number of threads"))?,
        Err(_) => 1,
    };
    let mut model = {{crate_ident}}::Model::with_threads(threads);
    let out_len = {{crate_ident}}::OUTPUT_LEN;
    let mut out = vec![0f32; n * out_len];
    let mut times = Vec::with_capacity(n);
    for (x, y) in data.chunks(per).zip(out.chunks_mut(out_len)) {
        let t = Instant::now();
        model.run(x, y).map_err(|e| e.to_string())?;
        times.push(t.elapsed().as_secs_f64());
    }
    let mut out_shape = vec![n];
    out_shape.extend_from_slice(&{{crate_ident}}::OUTPUT_SHAPE[1..]);
    write_f32_npy(output_path, &out_shape, &out)?;
    times.sort_by(|a, b| a.total_cmp(b));
    if !times.is_empty() {
        let median = times[times.len() / 2];
        eprintln!(
            "{n} samples on {}, median {:.1} us per sample (min {:.1} us), {threads} thread(s)",
            qrt::cpu::backend().name(),
            median * 1e6,
            times[0] * 1e6
        );
    }
    Ok(())
}

fn read_f32_npy(path: &str) -> Result<(Vec<usize>, Vec<f32>), String> {
    let mut bytes = Vec::new();
    std::fs::File::open(path).and_then(|mut f| f.read_to_end(&mut bytes)).map_err(|e| format!("{path}: {e}"))?;
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(format!("{path}: not a .npy file"));
    }
    let (header_len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        _ if bytes.len() >= 12 => (u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize, 12),
        _ => return Err(format!("{path}: truncated header")),
    };
    let header = bytes.get(start..start + header_len).ok_or(format!("{path}: truncated header"))?;
    let header = String::from_utf8_lossy(header);
    if !header.contains("'descr': '<f4'") || header.contains("'fortran_order': True") {
        return Err(format!("{path}: expected little-endian float32 in C order, header {header}"));
    }
    let dims = header.split("'shape': (").nth(1).and_then(|s| s.split(')').next()).ok_or(format!("{path}: no shape"))?;
    let shape: Vec<usize> =
        dims.split(',').map(str::trim).filter(|s| !s.is_empty()).map(|s| s.parse().map_err(|_| format!("{path}: bad shape"))).collect::<Result<_, _>>()?;
    let body = &bytes[start + header_len..];
    let count: usize = shape.iter().product();
    if body.len() != count * 4 {
        return Err(format!("{path}: {} data bytes, shape {shape:?} needs {}", body.len(), count * 4));
    }
    Ok((shape, body.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()))
}

fn write_f32_npy(path: &str, shape: &[usize], data: &[f32]) -> Result<(), String> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let dims = if dims.len() == 1 { format!("{},", dims[0]) } else { dims.join(", ") };
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({dims}), }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(header.len() as u16).to_le_bytes());
    bytes.extend_from_slice(header.as_bytes());
    for v in data {
        bytes.extend_from_slice(&v.to_le_bytes());
    }
    std::fs::File::create(path).and_then(|mut f| f.write_all(&bytes)).map_err(|e| format!("{path}: {e}"))
}
