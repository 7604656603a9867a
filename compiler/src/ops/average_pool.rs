//! `AveragePool` (both `count_include_pad` modes, `ceil_mode`). Geometry in
//! [`super::pool`]. The divisor is the number of window cells inside the input, or with
//! `count_include_pad` the number inside the padded input (a `ceil_mode` window reaching
//! past the padding does not count the overhang, as in ONNX and PyTorch). Quantized, the
//! output keeps the input's scale and zero point and the integer kernel divides the window
//! sum with rounding (see `qrt::pool`).

use super::pool::Windows;

/// Average over each window, for every `[H, W]` plane of `x`.
pub fn eval(win: &Windows, x: &[f32], count_include_pad: bool) -> Vec<f32> {
    let [h, w] = win.input;
    let [oh, ow] = win.output;
    let planes = x.len().checked_div(h * w).unwrap_or(0);
    let mut out = Vec::with_capacity(planes * oh * ow);
    let cols: Vec<_> = (0..ow).map(|o| win.span(1, o)).collect();
    for plane in x.chunks_exact((h * w).max(1)).take(planes) {
        for r in 0..oh {
            let rows = win.span(0, r);
            for c in &cols {
                let mut sum = 0.0f64;
                for row in plane[rows.start * w..rows.end * w].chunks_exact(w) {
                    for &v in &row[c.start..c.end] {
                        sum += v as f64;
                    }
                }
                let count = if count_include_pad {
                    rows.padded * c.padded
                } else {
                    (rows.end - rows.start) * (c.end - c.start)
                };
                out.push((sum / count.max(1) as f64) as f32);
            }
        }
    }
    out
}
