//! `MaxPool` (opsets 1..12+; dilations must be 1, one output). Geometry in [`super::pool`].
//! Quantized, max commutes with the monotonic dequantization, so the output keeps the
//! input's scale and zero point and the integer kernel is a plain max.

use super::pool::Windows;

/// Max over each window's cells inside the input (padding never wins), for every `[H, W]`
/// plane of `x`.
pub fn eval(win: &Windows, x: &[f32]) -> Vec<f32> {
    let [h, w] = win.input;
    let [oh, ow] = win.output;
    let planes = x.len().checked_div(h * w).unwrap_or(0);
    let mut out = Vec::with_capacity(planes * oh * ow);
    let cols: Vec<_> = (0..ow).map(|o| win.span(1, o)).collect();
    for plane in x.chunks_exact((h * w).max(1)).take(planes) {
        for r in 0..oh {
            let rows = win.span(0, r);
            for c in &cols {
                let mut m = f32::NEG_INFINITY;
                for row in plane[rows.start * w..rows.end * w].chunks_exact(w) {
                    for &v in &row[c.start..c.end] {
                        m = m.max(v);
                    }
                }
                out.push(m);
            }
        }
    }
    out
}
