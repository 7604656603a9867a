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
    interleave(c, h, w, 0, input, output)
}
}

wide! {
/// Rows `first..first + output.len() / (w * c)` of [`nchw_to_nhwc`]'s output, from the
/// whole NCHW `input`: what one thread's band of rows writes.
pub fn nchw_to_nhwc_rows / nchw_to_nhwc_rows_on(c: usize, h: usize, w: usize, first: usize, input: &[i8], output: &mut [i8]) {
    assert!(input.len() == c * h * w, "layout: input length is not c * h * w");
    let rows = output.len().checked_div(w * c).unwrap_or(0);
    assert!(output.len() == rows * w * c && first + rows <= h, "layout: output is not whole rows inside the image");
    interleave(c, h, w, first, input, output)
}
}

/// Output rows `first..` (as many as `output` holds) of `out[h][w][c] = input[c][h][w]`;
/// lengths checked by the caller.
#[inline(always)]
fn interleave(c: usize, h: usize, w: usize, first: usize, input: &[i8], output: &mut [i8]) {
    let plane = h * w;
    let (start, len) = (first * w, output.len().checked_div(c).unwrap_or(0));
    if c == 3 {
        // An RGB image: interleave the three planes (no bounds checks in the loop).
        let (r, rest) = input.split_at(plane);
        let (g, b) = rest.split_at(plane);
        let (r, g, b) = (&r[start..start + len], &g[start..start + len], &b[start..start + len]);
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
            for (pixel, &v) in src[start..start + len].iter().enumerate() {
                output[pixel * c + channel] = v;
            }
        }
        return;
    }
    for pixel in 0..len {
        for channel in 0..c {
            output[pixel * c + channel] = input[channel * plane + start + pixel];
        }
    }
}

/// Asserts that both slices hold `c * h * w` elements.
fn check(c: usize, h: usize, w: usize, input: &[i8], output: &[i8]) {
    let len = c * h * w;
    assert!(input.len() == len && output.len() == len, "layout: slice lengths are not c * h * w");
}
