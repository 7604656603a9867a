//! The backends CI expects are really there, so that a run meant to test the dot-product
//! kernels cannot silently test only the scalar ones.
//!
//! `QRT_EXPECT_BACKENDS` (set by `.ci/arm.sh`) lists, comma-separated, the backends this CPU
//! must offer besides `scalar`, e.g. `neon,dotprod` under `QEMU_CPU=max` or `neon` under
//! `QEMU_CPU=cortex-a72`. Availability must match the list exactly: a backend missing from
//! the CPU fails the test, and so does one the CPU offers that the list leaves out (a
//! detection that claims too much would run instructions the core lacks). Without the
//! variable the test only reports what it found.
//!
//! Runtime detection needs qrt's `std` feature; without it, availability follows the
//! compile-time target features.

use qrt::cpu::{best, Backend};

#[test]
fn expected_backends_are_available() {
    let available: Vec<Backend> = Backend::ALL.into_iter().filter(|b| b.available()).collect();
    let names: Vec<&str> = available.iter().map(|b| b.name()).collect();
    eprintln!("backends available: {} (best: {})", names.join(","), best().name());
    let Ok(list) = std::env::var("QRT_EXPECT_BACKENDS") else {
        return;
    };
    let mut expected = vec![Backend::Scalar];
    for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        match Backend::from_name(name) {
            Some(b) if !expected.contains(&b) => expected.push(b),
            Some(_) => {}
            None => panic!("QRT_EXPECT_BACKENDS names an unknown backend {name:?}"),
        }
    }
    for b in Backend::ALL {
        assert_eq!(
            b.available(),
            expected.contains(&b),
            "backend {}: available = {}, but QRT_EXPECT_BACKENDS = {list:?} (features: {})",
            b.name(),
            b.available(),
            if cfg!(feature = "std") { "std, detected at run time" } else { "no std, compile-time target features" },
        );
    }
    // The fastest expected backend is the one the dispatcher picks by default.
    let fastest = [Backend::Avx512Vnni, Backend::AvxVnni, Backend::Avx2, Backend::NeonDot, Backend::Neon]
        .into_iter()
        .find(|b| expected.contains(b))
        .unwrap_or(Backend::Scalar);
    assert_eq!(best(), fastest);
}
