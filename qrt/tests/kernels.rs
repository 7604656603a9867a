//! The kernel registry: every kernel with per-backend code, declared once, with its tests
//! generated from the declaration.
//!
//! Each entry names a kernel (`qs8_` for int8 in and out, then the op, kernel size and
//! stride: `qs8_dwconv3x3s2`) and the type that builds its cases, runs its scalar
//! definition, an independent i128 model and the kernel on one backend (see
//! `registry/mod.rs`). `kernels!` turns each into a module of tests, one per case family:
//!
//! - `edge_shapes`: tile-sized, multiples, smaller, larger, 1 (and 0), odd channel counts;
//! - `zero_point_extremes`: input and output zero points at -128, 0 and 127;
//! - `multiplier_extremes`: the smallest and largest multipliers and shifts accepted;
//! - `clamps`: full, narrow, `min == max` at both ends and inverted clamps;
//! - `per_channel`: multipliers, shifts and biases that differ from channel to channel;
//! - `proptest`: random shapes and parameters.
//!
//! Every case runs on every backend this CPU offers (`Backend::ALL` filtered by
//! `available()`: scalar, AVX2, AVX-VNNI, AVX-512 VNNI here; NEON and dot product under
//! `.ci/arm.sh`'s qemu runs) and must equal the scalar definition byte for byte, which
//! must equal the model. `cargo test -p qrt-core --test kernels qs8_gemm::` runs one
//! kernel's tests; `-- --nocapture` prints each family's case count.
//!
//! A new kernel gets its tests by implementing `registry::Kernel` and adding one line here.
//! Past bugs stay as named tests in the kernel's own file (`tests/gemm.rs`, ...).

mod common;
mod registry;

use registry::add::Vadd;
use registry::depthwise::{Dwconv, DwconvOther};
use registry::fused::ExpandDwconv;
use registry::gemm::QsGemm;
use registry::im2col_gemm::QsIm2colGemm;
use registry::kernels;
use registry::quantize::Quantize;

kernels! {
    /// `qrt::gemm::gemm_on`: pointwise convs and fully connected layers.
    qs8_gemm: QsGemm;
    /// `qrt::depthwise::depthwise_on`, 3x3, stride 1.
    qs8_dwconv3x3s1: Dwconv<3, 1>;
    /// `qrt::depthwise::depthwise_on`, 3x3, stride 2.
    qs8_dwconv3x3s2: Dwconv<3, 2>;
    /// `qrt::depthwise::depthwise_on`, 5x5, stride 1.
    qs8_dwconv5x5s1: Dwconv<5, 1>;
    /// `qrt::depthwise::depthwise_on`, 5x5, stride 2.
    qs8_dwconv5x5s2: Dwconv<5, 2>;
    /// `qrt::depthwise::depthwise_on` with any other kernel or stride (the general paths).
    qs8_dwconv: DwconvOther;
    /// `qrt::add::add_on`: elementwise add of two rescaled inputs.
    qs8_vadd: Vadd;
    /// `qrt::im2col::im2col_gemm` (and `qrt::par::im2col_gemm`): dense convs as banded
    /// gathers and the GEMM.
    qs8_im2col_gemm: QsIm2colGemm;
    /// `qrt::fused::expand_depthwise` (and `qrt::par::expand_depthwise`): a pointwise
    /// expansion feeding a depthwise conv through a small scratch.
    qs8_expand_dwconv: ExpandDwconv;
    /// `qrt::quant::quantize`: f32 to int8 at the model boundary.
    f32_qs8_vcvt: Quantize, without per_channel: "one scale and zero point per tensor";
}

#[test]
fn names_say_what_the_kernel_computes() {
    // Input and output types first (`qs8_`: int8 to int8; `f32_qs8_`: f32 to int8), then
    // the op; lower case, digits and single underscores only.
    let mut seen = std::collections::HashSet::new();
    for name in NAMES {
        assert!(name.starts_with("qs8_") || name.starts_with("f32_qs8_"), "{name}: no type prefix");
        assert!(name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'), "{name}");
        assert!(!name.contains("__") && !name.ends_with('_'), "{name}");
        assert!(seen.insert(name), "{name} is declared twice");
    }
}

#[test]
fn every_backend_of_this_cpu_is_under_test() {
    let names: Vec<&str> = registry::backends().iter().map(|b| b.name()).collect();
    eprintln!("kernels: backends under test: {names:?}");
    assert_eq!(registry::backends()[0], qrt::cpu::Backend::Scalar);
    #[cfg(target_arch = "x86_64")]
    {
        use qrt::cpu::Backend;
        assert_eq!(Backend::Avx2.available(), std::is_x86_feature_detected!("avx2"));
        let vnni = std::is_x86_feature_detected!("avx512f")
            && std::is_x86_feature_detected!("avx512bw")
            && std::is_x86_feature_detected!("avx512vl")
            && std::is_x86_feature_detected!("avx512vnni");
        assert_eq!(Backend::Avx512Vnni.available(), vnni);
        let avx_vnni = std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("avxvnni");
        assert_eq!(Backend::AvxVnni.available(), avx_vnni);
    }
    #[cfg(target_arch = "aarch64")]
    {
        use qrt::cpu::Backend;
        assert!(Backend::Neon.available());
        assert_eq!(Backend::NeonDot.available(), std::arch::is_aarch64_feature_detected!("dotprod"));
    }
}

#[test]
fn edge_biases_include_exact_ties() {
    // `params::tie` finds accumulators exactly halfway between two outputs.
    for (m, s) in registry::params::grid() {
        if let Some(acc) = registry::params::tie(m, s) {
            let product = acc as i128 * m as i128 + (1i128 << (s - 1));
            assert_eq!(product.rem_euclid(1i128 << s), 0, "m {m} s {s} acc {acc}");
        }
    }
    assert_eq!(registry::params::tie(1 << 30, 31), Some(1));
    assert_eq!(registry::params::tie(0, 31), None);
}
