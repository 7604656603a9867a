//! The aarch64 add. Until it has its own kernel it runs the scalar twin.
//!
//! Hook for the NEON backend: the dispatcher in `mod.rs` calls this for `Neon` and
//! `NeonDot`, only with lengths checked and constants in their documented ranges (see
//! `in_range`), exactly as it calls the x86-64 paths.

use super::Add;

/// NEON add (lengths already checked by the dispatcher).
pub(super) fn add(p: &Add, a: &[i8], b: &[i8], output: &mut [i8]) {
    super::scalar::add(p, a, b, output)
}
