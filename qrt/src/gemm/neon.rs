//! The aarch64 GEMMs (NEON baseline and dot product). Until they have their own kernels
//! they run the scalar twin.

use super::{Gemm, GemmQuant};

/// NEON GEMM; `dot` selects the `sdot` kernel.
pub(super) fn gemm(p: &Gemm, input: &[i8], packed: &[i8], q: &GemmQuant<'_>, output: &mut [i8], dot: bool) {
    let _ = dot;
    super::scalar::gemm(p, input, packed, q, output)
}
