//! Backend selection: names round-trip, scalar is always available, forcing works and is
//! refused for a backend the CPU lacks.

use qrt::cpu::{backend, best, force, from_override, Backend};

#[test]
fn names_round_trip_and_forcing_follows_availability() {
    for b in Backend::ALL {
        assert_eq!(Backend::from_name(b.name()), Some(b));
    }
    assert_eq!(Backend::from_name("sse9"), None);
    assert!(Backend::Scalar.available());
    assert!(best().available());
    for b in Backend::ALL {
        assert_eq!(force(b), b.available(), "{}", b.name());
        if b.available() {
            assert_eq!(backend(), b);
        }
    }
    assert!(force(Backend::Scalar));
    assert_eq!(backend(), Backend::Scalar);
}

/// `QRT_BACKEND`: an available name is taken, an empty value is no override, and a name
/// the CPU cannot run or an unknown one is an error that says which backend runs instead.
#[test]
fn overrides_are_taken_or_refused_with_a_reason() {
    assert_eq!(from_override(""), Ok(None));
    assert_eq!(from_override("  "), Ok(None));
    assert_eq!(from_override(" scalar\n"), Ok(Some(Backend::Scalar)));
    for b in Backend::ALL {
        let got = from_override(b.name());
        if b.available() {
            assert_eq!(got, Ok(Some(b)));
        } else {
            let e = got.expect_err(b.name());
            assert!(e.known && e.instead == best(), "{e:?}");
            assert_eq!(
                e.to_string(),
                format!("QRT_BACKEND={}: this CPU cannot run it; using {}", b.name(), best().name())
            );
        }
    }
    let e = from_override("AVX512").expect_err("not a name: names are lower case");
    assert!(!e.known);
    assert_eq!(
        e.to_string(),
        format!(
            "QRT_BACKEND=AVX512: not a backend (one of scalar avx2 avxvnni avx512vnni amx neon dotprod); using {}",
            best().name()
        )
    );
}

#[test]
fn peak_rates_exist_for_the_x86_dot_product_backends_only() {
    for b in Backend::ALL {
        let rate = qrt::peak::macs_per_second(b, 10_000);
        let measurable = matches!(b, Backend::Avx2 | Backend::AvxVnni | Backend::Avx512Vnni) && b.available();
        assert_eq!(rate.is_some(), measurable, "{}", b.name());
        if let Some(r) = rate {
            // 10^8 to 10^13 MACs per second brackets every core from a slow emulator to
            // two 512-bit units at 6 GHz; a loop folded away by the compiler leaves it.
            assert!((1e8..1e13).contains(&r), "{}: {r:e} MACs/s", b.name());
        }
    }
}

#[test]
fn clocks_under_load_exist_where_peak_rates_do() {
    for b in Backend::ALL {
        let ghz = qrt::peak::loaded_ghz(b, 10_000);
        assert_eq!(ghz.is_some(), qrt::peak::macs_per_second(b, 10).is_some(), "{}", b.name());
        if let Some(g) = ghz {
            // 0.05 to 10 GHz brackets every core from an emulator to the fastest boost
            // clocks; a chain folded away by the compiler would read far above it.
            assert!((0.05..10.0).contains(&g), "{}: {g} GHz", b.name());
        }
    }
}

/// The AMX backend is the AVX-512 VNNI one with tiles: never without it, preferred over
/// it, and (on Linux, where `/proc/cpuinfo` lists the flags) only where the CPU has the
/// tile instructions.
#[test]
fn amx_needs_avx512_vnni_and_the_tile_flags() {
    if !Backend::Avx512Amx.available() {
        return;
    }
    assert!(Backend::Avx512Vnni.available());
    assert_eq!(best(), Backend::Avx512Amx);
    if let Ok(info) = std::fs::read_to_string("/proc/cpuinfo") {
        let flags: Vec<&str> =
            info.lines().find(|l| l.starts_with("flags")).map(|l| l.split_whitespace().collect()).unwrap_or_default();
        for flag in ["amx_tile", "amx_int8"] {
            assert!(flags.contains(&flag), "AMX reported available, but /proc/cpuinfo lacks {flag}");
        }
    }
}
