//! The scalar depthwise convolution over the packed layout: the twin every SIMD backend
//! must equal.

use super::{padded_channels, Depthwise};
use crate::requant::ChannelQuant;

/// Scalar depthwise convolution (see the module docs).
pub fn depthwise(p: &Depthwise, input: &[i8], packed: &[i8], q: &ChannelQuant<'_>, output: &mut [i8]) {
    super::check(p, input, packed, q, output);
    let (c_n, cp) = (p.channels, padded_channels(p.channels));
    for oy in 0..p.out_h {
        for ox in 0..p.out_w {
            let out = &mut output[(oy * p.out_w + ox) * c_n..][..c_n];
            for (c, o) in out.iter_mut().enumerate() {
                let mut acc = q.bias[c];
                for ky in 0..p.kernel_h {
                    let iy = (oy * p.stride_h + ky) as isize - p.pad_top as isize;
                    for kx in 0..p.kernel_w {
                        let ix = (ox * p.stride_w + kx) as isize - p.pad_left as isize;
                        let inside = iy >= 0 && ix >= 0 && (iy as usize) < p.in_h && (ix as usize) < p.in_w;
                        let x = if inside {
                            input[(iy as usize * p.in_w + ix as usize) * c_n + c] as i32
                        } else {
                            p.input_zero_point
                        };
                        acc = acc.wrapping_add(x * packed[(ky * p.kernel_w + kx) * cp + c] as i32);
                    }
                }
                *o = p.output.finish(q.requant(c).apply(acc));
            }
        }
    }
}
