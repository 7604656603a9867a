//! The avx2 GEMM. Until it has its own kernel it runs the scalar twin.

use super::{Gemm, GemmQuant};

/// avx2 GEMM (lengths already checked by the dispatcher).
pub(super) fn gemm(p: &Gemm, input: &[i8], packed: &[i8], q: &GemmQuant<'_>, output: &mut [i8]) {
    super::scalar::gemm(p, input, packed, q, output)
}
