//! Layout changes between NHWC (inside the model) and NCHW (ONNX order at the boundary and
//! before a Flatten/Reshape of a spatial tensor). Plain copies.

/// `out[c][h][w] = input[h][w][c]`.
pub fn nhwc_to_nchw(c: usize, h: usize, w: usize, input: &[i8], output: &mut [i8]) {
    let _ = (c, h, w, input, output);
}

/// `out[h][w][c] = input[c][h][w]`.
pub fn nchw_to_nhwc(c: usize, h: usize, w: usize, input: &[i8], output: &mut [i8]) {
    let _ = (c, h, w, input, output);
}
