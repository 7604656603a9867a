//! Layout changes between NHWC (inside the model) and NCHW (ONNX order at the boundary and
//! before a Flatten/Reshape of a spatial tensor). Plain copies.

use crate::wide::wide;

wide! {
/// `out[c][h][w] = input[h][w][c]`.
pub fn nhwc_to_nchw / nhwc_to_nchw_on(c: usize, h: usize, w: usize, input: &[i8], output: &mut [i8]) {
    check(c, h, w, input, output);
    let plane = h * w;
    for pixel in 0..plane {
        for channel in 0..c {
            output[channel * plane + pixel] = input[pixel * c + channel];
        }
    }
}
}

wide! {
/// `out[h][w][c] = input[c][h][w]`.
pub fn nchw_to_nhwc / nchw_to_nhwc_on(c: usize, h: usize, w: usize, input: &[i8], output: &mut [i8]) {
    check(c, h, w, input, output);
    let plane = h * w;
    if c == 3 {
        // An RGB image: interleave the three planes (no bounds checks in the loop).
        let (r, rest) = input.split_at(plane);
        let (g, b) = rest.split_at(plane);
        for (o, ((&r, &g), &b)) in output.chunks_exact_mut(3).zip(r.iter().zip(g).zip(b)) {
            o[0] = r;
            o[1] = g;
            o[2] = b;
        }
        return;
    }
    if c <= 16 {
        // Few channels: read each plane once, in order.
        for (channel, src) in input.chunks_exact(plane.max(1)).enumerate().take(c) {
            for (pixel, &v) in src.iter().enumerate() {
                output[pixel * c + channel] = v;
            }
        }
        return;
    }
    for pixel in 0..plane {
        for channel in 0..c {
            output[pixel * c + channel] = input[channel * plane + pixel];
        }
    }
}
}

/// Asserts that both slices hold `c * h * w` elements.
fn check(c: usize, h: usize, w: usize, input: &[i8], output: &[i8]) {
    let len = c * h * w;
    assert!(input.len() == len && output.len() == len, "layout: slice lengths are not c * h * w");
}
