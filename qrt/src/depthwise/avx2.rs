//! The avx2 depthwise convolution. Until it has its own kernel it runs the scalar twin.

use super::Depthwise;
use crate::requant::ChannelQuant;

/// avx2 depthwise convolution (lengths already checked by the dispatcher).
pub(super) fn depthwise(p: &Depthwise, input: &[i8], packed: &[i8], q: &ChannelQuant<'_>, output: &mut [i8]) {
    super::scalar::depthwise(p, input, packed, q, output)
}
