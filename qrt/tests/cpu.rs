//! Backend selection: names round-trip, scalar is always available, forcing works and is
//! refused for a backend the CPU lacks.

use qrt::cpu::{backend, best, force, Backend};

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
