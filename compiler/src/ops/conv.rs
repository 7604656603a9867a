//! `Conv`: 2-D convolution over NCHW input with OIHW weights (ONNX opset 1..21; opsets
//! differ only in type support). Any group count (groups == channels is depthwise),
//! strides, dilations, symmetric or asymmetric pads, `auto_pad` (NOTSET, VALID,
//! SAME_UPPER, SAME_LOWER), optional bias.
//!
//! Output size per spatial axis: `out = floor((in + pad_begin + pad_end - ((k - 1) * d + 1)) / s) + 1`.
//! With `SAME_*`, `out = ceil(in / s)` and the total padding is
//! `max((out - 1) * s + (k - 1) * d + 1 - in, 0)`, split evenly with the odd unit at the end
//! (`SAME_UPPER`) or at the start (`SAME_LOWER`).
//!
//! The fp32 reference runs im2col + GEMM (`matrixmultiply::sgemm`) per group, in bands of
//! output rows so that the column buffer stays a few megabytes; depthwise convolutions
//! (one input and one output channel per group) and unpadded 1x1 stride-1 convolutions skip
//! the column buffer.
//!
//! Integer form (after quantization, see `docs/numerics.md`): for output channel `c`,
//! `acc = bias_q[c] + Σ x_q * w_q` over every tap, where a tap in the padding reads the
//! input zero point (so the `-z_in * Σw` correction folded into `bias_q` is exact), then
//! `out = clamp(requantize(acc, M[c]) + z_out, lo, hi)` with `M[c] = s_in * s_w[c] / s_out`.

use super::linalg::{sgemm, MatMut, MatRef};
use super::{infos_of, required, required_info, Clamp, InputInfo};
use crate::ir::{Array, Attrs};

/// How padding is specified.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AutoPad {
    /// Explicit `pads`.
    NotSet,
    /// No padding.
    Valid,
    /// Output = ceil(input / stride); extra padding at the end.
    SameUpper,
    /// Output = ceil(input / stride); extra padding at the start.
    SameLower,
}

impl AutoPad {
    /// Parses the `auto_pad` attribute (default `NOTSET`).
    pub fn parse(attrs: &Attrs) -> Result<Self, String> {
        match attrs.string("auto_pad", "NOTSET")?.as_str() {
            "NOTSET" | "" => Ok(AutoPad::NotSet),
            "VALID" => Ok(AutoPad::Valid),
            "SAME_UPPER" => Ok(AutoPad::SameUpper),
            "SAME_LOWER" => Ok(AutoPad::SameLower),
            other => Err(format!("unknown auto_pad '{other}' (expected NOTSET, VALID, SAME_UPPER or SAME_LOWER)")),
        }
    }

    /// The effective `[top, left, bottom, right]` pads for `input` `[h, w]`, dilated kernel
    /// extent `[(kh - 1) * dh + 1, (kw - 1) * dw + 1]` and strides; `explicit` is used for
    /// `NOTSET`.
    pub fn resolve(
        self,
        explicit: [usize; 4],
        input: [usize; 2],
        extent: [usize; 2],
        strides: [usize; 2],
    ) -> [usize; 4] {
        match self {
            AutoPad::NotSet => explicit,
            AutoPad::Valid => [0; 4],
            AutoPad::SameUpper | AutoPad::SameLower => {
                let mut pads = [0; 4];
                for axis in 0..2 {
                    let s = strides[axis].max(1);
                    let out = input[axis].div_ceil(s);
                    let total = (out.saturating_sub(1) * s + extent[axis]).saturating_sub(input[axis]);
                    let (small, big) = (total / 2, total - total / 2);
                    let (begin, end) = if self == AutoPad::SameUpper { (small, big) } else { (big, small) };
                    pads[axis] = begin;
                    pads[axis + 2] = end;
                }
                pads
            }
        }
    }
}

/// Reads a two-element spatial attribute (`strides`, `dilations`, `kernel_shape`) whose
/// values must be at least 1.
pub(crate) fn spatial_pair(attrs: &Attrs, name: &str) -> Result<Option<[usize; 2]>, String> {
    let Some(v) = attrs.ints(name)? else { return Ok(None) };
    if v.len() != 2 {
        return Err(format!("only 2-D operations are supported, but '{name}' has {} value(s): {v:?}", v.len()));
    }
    if v.iter().any(|&x| x < 1) {
        return Err(format!("'{name}' must be positive, got {v:?}"));
    }
    Ok(Some([v[0] as usize, v[1] as usize]))
}

/// Reads the `pads` attribute: four non-negative values `[top, left, bottom, right]`.
pub(crate) fn spatial_pads(attrs: &Attrs) -> Result<[usize; 4], String> {
    let Some(v) = attrs.ints("pads")? else { return Ok([0; 4]) };
    if v.len() != 4 {
        return Err(format!(
            "only 2-D operations are supported, but 'pads' has {} value(s) (expected 4: top, left, bottom, right): {v:?}",
            v.len()
        ));
    }
    if v.iter().any(|&x| x < 0) {
        return Err(format!("negative pads are not supported: {v:?}"));
    }
    Ok([v[0] as usize, v[1] as usize, v[2] as usize, v[3] as usize])
}

/// Output size along one axis; `None` when the dilated kernel does not fit the padded input.
pub(crate) fn output_size(
    input: usize,
    pad_begin: usize,
    pad_end: usize,
    extent: usize,
    stride: usize,
) -> Option<usize> {
    let padded = input + pad_begin + pad_end;
    if padded < extent || stride == 0 {
        return None;
    }
    Some((padded - extent) / stride + 1)
}

/// The range of output positions `o < out` whose tap `o * stride + offset` lies in `[0, input)`.
fn valid_range(out: usize, input: usize, stride: usize, offset: isize) -> (usize, usize) {
    let s = stride as isize;
    let lo = if offset >= 0 { 0 } else { (-offset + s - 1) / s };
    let hi_excl = input as isize - offset;
    let hi = if hi_excl <= 0 { 0 } else { (hi_excl + s - 1) / s };
    let lo = (lo as usize).min(out);
    let hi = (hi as usize).clamp(lo, out);
    (lo, hi)
}

/// `Conv` attributes (2-D only).
#[derive(Clone, Debug, PartialEq)]
pub struct Conv {
    /// Kernel `[kh, kw]`; taken from the weight shape when the attribute is absent.
    pub kernel_shape: Option<[usize; 2]>,
    /// `[sh, sw]`.
    pub strides: [usize; 2],
    /// `[dh, dw]`.
    pub dilations: [usize; 2],
    /// `[top, left, bottom, right]` (ONNX order `[x1_begin, x2_begin, x1_end, x2_end]`).
    pub pads: [usize; 4],
    /// Padding mode.
    pub auto_pad: AutoPad,
    /// Group count.
    pub group: usize,
    /// Activation fused in by the fusion pass.
    pub act: Clamp,
}

/// Everything eval needs, derived from the input shapes.
#[derive(Clone, Copy, Debug)]
struct Geometry {
    n: usize,
    c: usize,
    h: usize,
    w: usize,
    m: usize,
    kh: usize,
    kw: usize,
    oh: usize,
    ow: usize,
    pads: [usize; 4],
}

impl Conv {
    /// Parses ONNX attributes.
    pub fn parse(attrs: &Attrs) -> Result<Self, String> {
        let group = attrs.int("group", 1)?;
        if group < 1 {
            return Err(format!("'group' must be at least 1, got {group}"));
        }
        Ok(Conv {
            kernel_shape: spatial_pair(attrs, "kernel_shape")?,
            strides: spatial_pair(attrs, "strides")?.unwrap_or([1, 1]),
            dilations: spatial_pair(attrs, "dilations")?.unwrap_or([1, 1]),
            pads: spatial_pads(attrs)?,
            auto_pad: AutoPad::parse(attrs)?,
            group: group as usize,
            act: Clamp::NONE,
        })
    }

    /// The effective `[top, left, bottom, right]` pads for an input of `[h, w]` and kernel `[kh, kw]`.
    pub fn resolved_pads(&self, input_hw: [usize; 2], kernel: [usize; 2]) -> [usize; 4] {
        let extent = [(kernel[0].max(1) - 1) * self.dilations[0] + 1, (kernel[1].max(1) - 1) * self.dilations[1] + 1];
        self.auto_pad.resolve(self.pads, input_hw, extent, self.strides)
    }

    fn geometry(&self, inputs: &[Option<InputInfo<'_>>]) -> Result<Geometry, String> {
        if inputs.len() < 2 || inputs.len() > 3 {
            return Err(format!("expects 2 or 3 inputs (X, W, optional B), got {}", inputs.len()));
        }
        let x = required_info(inputs, 0)?;
        let wt = inputs.get(1).copied().flatten().ok_or("the weights (input 1) are missing")?;
        if x.shape.len() != 4 {
            return Err(format!(
                "only 2-D convolution is supported: the input has shape {:?}, expected 4 dims [N, C, H, W]",
                x.shape
            ));
        }
        if wt.data.is_none() {
            return Err("weights must be a constant".into());
        }
        if wt.shape.len() != 4 {
            return Err(format!("weights have shape {:?}, expected 4 dims [M, C/group, kh, kw]", wt.shape));
        }
        let [n, c, h, w] = [x.shape[0], x.shape[1], x.shape[2], x.shape[3]];
        let [m, cg, kh, kw] = [wt.shape[0], wt.shape[1], wt.shape[2], wt.shape[3]];
        let g = self.group;
        if let Some(k) = self.kernel_shape {
            if k != [kh, kw] {
                return Err(format!(
                    "kernel_shape is {}x{} but the weights have shape {:?} (a {kh}x{kw} kernel)",
                    k[0], k[1], wt.shape
                ));
            }
        }
        if m == 0 || cg == 0 || kh == 0 || kw == 0 {
            return Err(format!("weights have an empty dimension: shape {:?}", wt.shape));
        }
        if cg * g != c {
            return Err(format!("input has {c} channels but the weights expect {} (group {g})", cg * g));
        }
        if m % g != 0 {
            return Err(format!("the weights have {m} output channels, which is not a multiple of group {g}"));
        }
        if let Some(b) = inputs.get(2).copied().flatten() {
            if b.data.is_none() {
                return Err("bias must be a constant".into());
            }
            if b.shape != [m] {
                return Err(format!("bias has shape {:?} but the weights have {m} output channels", b.shape));
            }
        }
        let pads = self.resolved_pads([h, w], [kh, kw]);
        let extent = [(kh - 1) * self.dilations[0] + 1, (kw - 1) * self.dilations[1] + 1];
        let oh = output_size(h, pads[0], pads[2], extent[0], self.strides[0]);
        let ow = output_size(w, pads[1], pads[3], extent[1], self.strides[1]);
        let (Some(oh), Some(ow)) = (oh, ow) else {
            return Err(format!(
                "the kernel ({}x{} with dilation) is larger than the padded input ({}x{})",
                extent[0],
                extent[1],
                h + pads[0] + pads[2],
                w + pads[1] + pads[3]
            ));
        };
        Ok(Geometry { n, c, h, w, m, kh, kw, oh, ow, pads })
    }

    /// Shape inference: inputs are X `[1, C, H, W]`, W `[M, C/group, kh, kw]`, optional B `[M]`.
    pub fn infer(&self, inputs: &[Option<InputInfo<'_>>]) -> Result<Vec<Vec<usize>>, String> {
        let g = self.geometry(inputs)?;
        Ok(vec![vec![g.n, g.m, g.oh, g.ow]])
    }

    /// fp32 reference: im2col + GEMM, then the fused clamp.
    pub fn eval(&self, inputs: &[Option<&Array>]) -> Result<Vec<Array>, String> {
        let geo = self.geometry(&infos_of(inputs))?;
        let x = required(inputs, 0)?;
        let wt = required(inputs, 1)?;
        let bias = inputs.get(2).copied().flatten();
        let Geometry { n, c, h, w, m, oh, ow, .. } = geo;
        let g = self.group;
        let (cg, mg) = (c / g, m / g);
        let k = cg * geo.kh * geo.kw;
        let plane = oh * ow;
        let mut out = vec![0.0f32; n * m * plane];
        if let Some(b) = bias {
            for (dst, &bv) in out.chunks_exact_mut(plane.max(1)).zip(b.data.iter().cycle()) {
                dst.fill(bv);
            }
        }
        let beta = if bias.is_some() { 1.0 } else { 0.0 };
        let mut col = Vec::new();
        for ni in 0..n {
            for gi in 0..g {
                let xg = &x.data[(ni * c + gi * cg) * h * w..][..cg * h * w];
                let wg = &wt.data[gi * mg * k..][..mg * k];
                let og = &mut out[(ni * m + gi * mg) * plane..][..mg * plane];
                if cg == 1 && mg == 1 {
                    self.depthwise_channel(&geo, xg, wg, og);
                } else if geo.kh == 1 && geo.kw == 1 && self.strides == [1, 1] && geo.pads == [0; 4] {
                    sgemm(
                        1.0,
                        MatRef::row_major(wg, mg, k),
                        MatRef::row_major(xg, cg, h * w),
                        beta,
                        MatMut { data: og, rows: mg, cols: plane, rs: plane },
                    );
                } else {
                    // Bands of output rows keep the column buffer near 4 MB.
                    let band = ((1usize << 20) / (k * ow).max(1)).clamp(1, oh);
                    col.resize(k * band * ow, 0.0);
                    let mut r0 = 0;
                    while r0 < oh {
                        let r1 = (r0 + band).min(oh);
                        let cols = (r1 - r0) * ow;
                        self.im2col(&geo, xg, cg, r0, r1, &mut col[..k * cols]);
                        sgemm(
                            1.0,
                            MatRef::row_major(wg, mg, k),
                            MatRef::row_major(&col[..k * cols], k, cols),
                            beta,
                            MatMut { data: &mut og[r0 * ow..], rows: mg, cols, rs: plane },
                        );
                        r0 = r1;
                    }
                }
            }
        }
        drop(col);
        if !self.act.is_none() {
            let (lo, hi) = (self.act.min, self.act.max);
            for v in &mut out {
                *v = v.max(lo).min(hi);
            }
        }
        Ok(vec![Array::new(vec![n, m, oh, ow], out)])
    }

    /// Fills `col` (`[cg * kh * kw, (r1 - r0) * ow]`, row-major) with the input taps of
    /// output rows `r0..r1`; taps in the padding are zero.
    fn im2col(&self, geo: &Geometry, xg: &[f32], cg: usize, r0: usize, r1: usize, col: &mut [f32]) {
        let (h, w, ow) = (geo.h, geo.w, geo.ow);
        let [sh, sw] = self.strides;
        let [dh, dw] = self.dilations;
        let cols = (r1 - r0) * ow;
        let mut rows = col.chunks_exact_mut(cols);
        for ci in 0..cg {
            let xc = &xg[ci * h * w..][..h * w];
            for ki in 0..geo.kh {
                let (oh_lo, oh_hi) = valid_range(geo.oh, h, sh, (ki * dh) as isize - geo.pads[0] as isize);
                for kj in 0..geo.kw {
                    let Some(dst) = rows.next() else { return };
                    let off = (kj * dw) as isize - geo.pads[1] as isize;
                    let (lo, hi) = valid_range(ow, w, sw, off);
                    for (r, d) in (r0..r1).zip(dst.chunks_exact_mut(ow)) {
                        if r < oh_lo || r >= oh_hi || lo == hi {
                            d.fill(0.0);
                            continue;
                        }
                        let ih = r * sh + ki * dh - geo.pads[0];
                        let src = &xc[ih * w..][..w];
                        d[..lo].fill(0.0);
                        d[hi..].fill(0.0);
                        let start = (lo as isize * sw as isize + off) as usize;
                        if sw == 1 {
                            d[lo..hi].copy_from_slice(&src[start..start + (hi - lo)]);
                        } else {
                            for (dv, &sv) in d[lo..hi].iter_mut().zip(src[start..].iter().step_by(sw)) {
                                *dv = sv;
                            }
                        }
                    }
                }
            }
        }
    }

    /// Adds one channel's depthwise convolution (one input channel, one output channel)
    /// into `out` (`[oh, ow]`, already holding the bias), tap by tap.
    fn depthwise_channel(&self, geo: &Geometry, xc: &[f32], wc: &[f32], out: &mut [f32]) {
        let (h, w, ow) = (geo.h, geo.w, geo.ow);
        let [sh, sw] = self.strides;
        let [dh, dw] = self.dilations;
        for ki in 0..geo.kh {
            let (oh_lo, oh_hi) = valid_range(geo.oh, h, sh, (ki * dh) as isize - geo.pads[0] as isize);
            for kj in 0..geo.kw {
                let wv = wc[ki * geo.kw + kj];
                let off = (kj * dw) as isize - geo.pads[1] as isize;
                let (lo, hi) = valid_range(ow, w, sw, off);
                if lo == hi {
                    continue;
                }
                let start = (lo as isize * sw as isize + off) as usize;
                for r in oh_lo..oh_hi {
                    let ih = r * sh + ki * dh - geo.pads[0];
                    let src = &xc[ih * w + start..(ih + 1) * w];
                    let dst = &mut out[r * ow + lo..r * ow + hi];
                    if sw == 1 {
                        for (d, &s) in dst.iter_mut().zip(src) {
                            *d += wv * s;
                        }
                    } else {
                        for (d, &s) in dst.iter_mut().zip(src.iter().step_by(sw)) {
                            *d += wv * s;
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_range_matches_a_scan() {
        for out in 0..7 {
            for input in 1..7 {
                for stride in 1..4 {
                    for offset in -5isize..5 {
                        let inside: Vec<usize> = (0..out)
                            .filter(|&o| {
                                let i = (o * stride) as isize + offset;
                                i >= 0 && i < input as isize
                            })
                            .collect();
                        let (lo, hi) = valid_range(out, input, stride, offset);
                        assert_eq!((lo..hi).collect::<Vec<_>>(), inside, "{out} {input} {stride} {offset}");
                    }
                }
            }
        }
    }

    #[test]
    fn same_pads_put_the_odd_unit_where_asked() {
        // in 5, stride 2, kernel 3: out 3, total = (3 - 1) * 2 + 3 - 5 = 2 -> 1 and 1.
        assert_eq!(AutoPad::SameUpper.resolve([0; 4], [5, 5], [3, 3], [2, 2]), [1, 1, 1, 1]);
        // in 4, stride 1, kernel 2: out 4, total = 3 + 2 - 4 = 1 -> upper [0, 1], lower [1, 0].
        assert_eq!(AutoPad::SameUpper.resolve([0; 4], [4, 4], [2, 2], [1, 1]), [0, 0, 1, 1]);
        assert_eq!(AutoPad::SameLower.resolve([0; 4], [4, 4], [2, 2], [1, 1]), [1, 1, 0, 0]);
        // in 6, stride 4, kernel 1: out 2, total = 4 + 1 - 6 < 0 -> 0.
        assert_eq!(AutoPad::SameUpper.resolve([9; 4], [6, 6], [1, 1], [4, 4]), [0; 4]);
        assert_eq!(AutoPad::Valid.resolve([9; 4], [6, 6], [1, 1], [4, 4]), [0; 4]);
        assert_eq!(AutoPad::NotSet.resolve([1, 2, 3, 4], [6, 6], [1, 1], [4, 4]), [1, 2, 3, 4]);
    }
}
