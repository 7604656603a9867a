//! The digits model on a Cortex-M4F without an allocator: weights in flash (the emitted
//! crate's `include_bytes!` blob is read-only data), the activation arena in a `static`
//! placed in RAM, output over semihosting. Runs the first test images of
//! `examples/digits/test_x.npy` (embedded in the binary) and prints, for each, the class and
//! the int8 output bytes in hex.
//!
//! Built for the host (no `--target`), the same code prints the same lines through `std`
//! with the host's SIMD kernels, which is how `run.sh` checks the Cortex-M run against the
//! x86-64 run byte for byte.

#![cfg_attr(target_os = "none", no_std, no_main)]
#![deny(unsafe_code)]

use core::fmt::Write;
use digits_int8::{ArenaModel, ARENA_BYTES, INPUT_LEN, INPUT_SCALE, INPUT_ZERO_POINT, OUTPUT_LEN, WEIGHT_BYTES};

/// The held-out test images, float32 `[360, 1, 8, 8]` in `.npy` format.
static TEST_IMAGES: &[u8] = include_bytes!("../../digits/test_x.npy");

/// How many images to run (each takes a moment under emulation).
const IMAGES: usize = 8;

/// Float32 sample `index` of a little-endian `.npy` file, into `out`.
fn npy_sample(npy: &[u8], index: usize, out: &mut [f32]) -> Result<(), &'static str> {
    if npy.len() < 10 || &npy[..6] != b"\x93NUMPY" {
        return Err("not an .npy file");
    }
    let (header_len, start) = match npy[6] {
        1 => (u16::from_le_bytes([npy[8], npy[9]]) as usize, 10),
        _ => return Err("unsupported .npy version"),
    };
    let header = core::str::from_utf8(&npy[start..start + header_len]).map_err(|_| "bad .npy header")?;
    if !header.contains("'<f4'") || header.contains("'fortran_order': True") {
        return Err("expected little-endian float32 in C order");
    }
    let begin = start + header_len + index * out.len() * 4;
    let bytes = npy.get(begin..begin + out.len() * 4).ok_or("sample index past the end of the file")?;
    for (v, b) in out.iter_mut().zip(bytes.chunks_exact(4)) {
        *v = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    }
    Ok(())
}

/// Prints an error line and fails.
fn fail(w: &mut impl Write, msg: core::fmt::Arguments<'_>) -> core::fmt::Result {
    writeln!(w, "error: {msg}")?;
    Err(core::fmt::Error)
}

/// Runs the test images through the model in `arena` and writes one line per image.
fn report(arena: &mut [u8], w: &mut impl Write) -> core::fmt::Result {
    writeln!(w, "digits int8: arena {ARENA_BYTES} bytes (static, RAM), weights {WEIGHT_BYTES} bytes (flash)")?;
    let mut model = match ArenaModel::from_bytes(arena) {
        Ok(m) => m,
        Err(e) => return fail(w, format_args!("{e:?}")),
    };
    let mut image = [0f32; INPUT_LEN];
    let mut input = [0i8; INPUT_LEN];
    let mut output = [0i8; OUTPUT_LEN];
    for i in 0..IMAGES {
        if let Err(e) = npy_sample(TEST_IMAGES, i, &mut image) {
            return fail(w, format_args!("test_x.npy: {e}"));
        }
        qrt::quant::quantize(INPUT_SCALE, INPUT_ZERO_POINT, &image, &mut input);
        if let Err(e) = model.run_int8(&input, &mut output) {
            return fail(w, format_args!("{e:?}"));
        }
        let class = (0..OUTPUT_LEN).fold(0, |best, c| if output[c] > output[best] { c } else { best });
        write!(w, "image {i}: class {class} output ")?;
        for b in output {
            write!(w, "{:02x}", b as u8)?;
        }
        writeln!(w)?;
    }
    Ok(())
}

#[cfg(target_os = "none")]
mod device {
    use cortex_m_rt::entry;
    use cortex_m_semihosting::{debug, hio};
    use digits_int8::ARENA_BYTES;
    use panic_semihosting as _;

    #[entry]
    fn main() -> ! {
        // cortex-m-rt turns an entry function's `static mut` into a `&'static mut`: the arena
        // is a static in `.bss` (add `#[link_section = "..."]` to place it elsewhere).
        static mut ARENA: [u8; ARENA_BYTES] = [0; ARENA_BYTES];
        let ok = match hio::hstdout() {
            Ok(mut out) => super::report(ARENA, &mut out).is_ok(),
            Err(()) => false,
        };
        debug::exit(if ok { debug::EXIT_SUCCESS } else { debug::EXIT_FAILURE });
        // Only reached without a debugger or emulator to exit to.
        loop {
            cortex_m::asm::wfi();
        }
    }
}

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("host kernels: {}", qrt::cpu::backend().name());
    let mut arena = vec![0u8; ARENA_BYTES];
    let mut text = String::new();
    let ok = report(&mut arena, &mut text).is_ok();
    print!("{text}");
    std::process::exit(if ok { 0 } else { 1 });
}
