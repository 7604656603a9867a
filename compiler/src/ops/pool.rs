//! Window geometry shared by `MaxPool` and `AveragePool` (2-D, NCHW): kernel, strides,
//! pads, `auto_pad`, `ceil_mode`, and `count_include_pad` for averages. The op-specific
//! window reductions live in [`super::max_pool`] and [`super::average_pool`].
//!
//! Output size per spatial axis with explicit pads (`p = pad_begin + pad_end`):
//! `floor((in + p - k) / s) + 1`, or with `ceil_mode` `ceil((in + p - k) / s) + 1` minus one
//! when the last window would start in the right padding (`(out - 1) * s >= in + pad_begin`),
//! as the ONNX spec and PyTorch say. With `auto_pad` the pads are resolved as for `Conv`
//! and `ceil_mode` changes nothing: the spec gives `ceil((in - k + 1) / s)` for VALID and
//! `ceil(in / s)` for SAME. (ONNX Runtime and onnx's shape inference apply the
//! explicit-pads ceil formula to VALID instead, which can give one more window; qforge
//! follows the spec text, as does onnx's reference evaluator.) Window `o` covers
//! `[o * s - pad_begin, o * s - pad_begin + k)`; with `ceil_mode` it may reach past the
//! padded input.

use super::conv::{spatial_pads, spatial_pair, AutoPad};
use super::{check_input_count, infos_of, required, required_info, InputInfo};
use crate::ir::{Array, Attrs};

/// Which pooling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolKind {
    /// `MaxPool`: padding never wins.
    Max,
    /// `AveragePool`.
    Average,
}

/// Pooling attributes.
#[derive(Clone, Debug, PartialEq)]
pub struct Pool2d {
    /// Max or average.
    pub kind: PoolKind,
    /// `[kh, kw]`.
    pub kernel: [usize; 2],
    /// `[sh, sw]`.
    pub strides: [usize; 2],
    /// `[top, left, bottom, right]`.
    pub pads: [usize; 4],
    /// Padding mode.
    pub auto_pad: AutoPad,
    /// Round output size up.
    pub ceil_mode: bool,
    /// Average counts padded cells (ONNX `count_include_pad`).
    pub count_include_pad: bool,
}

/// The windows of a pool over one input size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Windows {
    /// Input `[h, w]`.
    pub input: [usize; 2],
    /// Output `[h, w]`.
    pub output: [usize; 2],
    /// `[kh, kw]`.
    pub kernel: [usize; 2],
    /// `[sh, sw]`.
    pub strides: [usize; 2],
    /// Effective `[top, left, bottom, right]` pads.
    pub pads: [usize; 4],
}

/// One window along one axis.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    /// First input index inside the input.
    pub start: usize,
    /// One past the last input index inside the input (`> start`).
    pub end: usize,
    /// Cells of the window inside the padded input (the `count_include_pad` divisor factor).
    pub padded: usize,
}

impl Windows {
    /// Window `o` along `axis` (0 = rows, 1 = columns).
    pub fn span(&self, axis: usize, o: usize) -> Span {
        let (pb, pe) = (self.pads[axis], self.pads[axis + 2]);
        let begin = (o * self.strides[axis]) as isize - pb as isize;
        let end = begin + self.kernel[axis] as isize;
        let input = self.input[axis] as isize;
        let padded_end = end.min(input + pe as isize);
        let start = begin.max(0) as usize;
        let stop = (end.min(input).max(0) as usize).max(start);
        Span { start, end: stop, padded: (padded_end - begin).max(0) as usize }
    }
}

impl Pool2d {
    /// Parses ONNX attributes (dilations other than 1 and `storage_order` 1 are rejected).
    pub fn parse(attrs: &Attrs, kind: PoolKind) -> Result<Self, String> {
        let kernel = spatial_pair(attrs, "kernel_shape")?.ok_or("the 'kernel_shape' attribute is required")?;
        if let Some(d) = attrs.ints("dilations")? {
            if d.iter().any(|&v| v != 1) {
                return Err(format!("dilations other than 1 are not supported, got {d:?}"));
            }
        }
        if kind == PoolKind::Max && attrs.int("storage_order", 0)? != 0 {
            return Err("storage_order 1 (column-major indices) is not supported".into());
        }
        let count_include_pad = kind == PoolKind::Average && attrs.int("count_include_pad", 0)? != 0;
        Ok(Pool2d {
            kind,
            kernel,
            strides: spatial_pair(attrs, "strides")?.unwrap_or([1, 1]),
            pads: spatial_pads(attrs)?,
            auto_pad: AutoPad::parse(attrs)?,
            ceil_mode: attrs.int("ceil_mode", 0)? != 0,
            count_include_pad,
        })
    }

    /// The effective `[top, left, bottom, right]` pads for an input of `[h, w]`.
    pub fn resolved_pads(&self, input_hw: [usize; 2]) -> [usize; 4] {
        self.auto_pad.resolve(self.pads, input_hw, self.kernel, self.strides)
    }

    /// The window geometry for an input of `[h, w]`, or a message when it does not fit.
    pub fn windows(&self, input_hw: [usize; 2]) -> Result<Windows, String> {
        let pads = self.resolved_pads(input_hw);
        let mut output = [0; 2];
        for axis in 0..2 {
            let (k, s) = (self.kernel[axis], self.strides[axis]);
            let (pb, pe) = (pads[axis], pads[axis + 2]);
            if pb >= k || pe >= k {
                return Err(format!("pads {pads:?} must be smaller than the kernel {:?}", self.kernel));
            }
            let padded = input_hw[axis] + pb + pe;
            if padded < k {
                return Err(format!(
                    "the kernel {}x{} is larger than the padded input {}x{}",
                    self.kernel[0],
                    self.kernel[1],
                    input_hw[0] + pads[0] + pads[2],
                    input_hw[1] + pads[1] + pads[3]
                ));
            }
            let mut out = if self.ceil_mode && self.auto_pad == AutoPad::NotSet {
                (padded - k).div_ceil(s) + 1
            } else {
                (padded - k) / s + 1
            };
            if (out - 1) * s >= input_hw[axis] + pb {
                out -= 1;
            }
            output[axis] = out;
        }
        Ok(Windows { input: input_hw, output, kernel: self.kernel, strides: self.strides, pads })
    }

    /// Shape inference.
    pub fn infer(&self, inputs: &[Option<InputInfo<'_>>]) -> Result<Vec<Vec<usize>>, String> {
        check_input_count(inputs, 1, 1, "X")?;
        let x = required_info(inputs, 0)?;
        if x.shape.len() != 4 {
            return Err(format!(
                "only 2-D pooling is supported: the input has shape {:?}, expected 4 dims [N, C, H, W]",
                x.shape
            ));
        }
        if x.shape[2] == 0 || x.shape[3] == 0 {
            return Err(format!("the input has shape {:?}, with no pixels to pool", x.shape));
        }
        let win = self.windows([x.shape[2], x.shape[3]])?;
        Ok(vec![vec![x.shape[0], x.shape[1], win.output[0], win.output[1]]])
    }

    /// fp32 reference evaluation.
    pub fn eval(&self, inputs: &[Option<&Array>]) -> Result<Vec<Array>, String> {
        let shape = self.infer(&infos_of(inputs))?.remove(0);
        let x = required(inputs, 0)?;
        let win = self.windows([x.shape[2], x.shape[3]])?;
        let data = match self.kind {
            PoolKind::Max => super::max_pool::eval(&win, &x.data),
            PoolKind::Average => super::average_pool::eval(&win, &x.data, self.count_include_pad),
        };
        Ok(vec![Array::new(shape, data)])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(kernel: usize, stride: usize, pads: [usize; 4], ceil_mode: bool) -> Pool2d {
        Pool2d {
            kind: PoolKind::Max,
            kernel: [kernel; 2],
            strides: [stride; 2],
            pads,
            auto_pad: AutoPad::NotSet,
            ceil_mode,
            count_include_pad: false,
        }
    }

    #[test]
    fn ceil_mode_output_sizes() {
        // in 5, k 2, s 2: floor(3 / 2) + 1 = 2; ceil(3 / 2) + 1 = 3 (last window starts at 4 < 5).
        assert_eq!(pool(2, 2, [0; 4], false).windows([5, 5]).map(|w| w.output), Ok([2, 2]));
        assert_eq!(pool(2, 2, [0; 4], true).windows([5, 5]).map(|w| w.output), Ok([3, 3]));
        // in 4, k 1, s 2, ceil: ceil(3 / 2) + 1 = 3, but window 2 would start at 4, past the
        // input and the (empty) left padding, so it is dropped: 2.
        assert_eq!(pool(1, 2, [0, 0, 0, 0], true).windows([4, 4]).map(|w| w.output), Ok([2, 2]));
        let w = pool(2, 2, [0, 0, 1, 1], true).windows([4, 4]);
        // padded 5, ceil(3 / 2) + 1 = 3; (3 - 1) * 2 = 4 >= 4 -> 2.
        assert_eq!(w.map(|w| w.output), Ok([2, 2]));
        // Pads must be smaller than the kernel.
        assert!(pool(2, 1, [2, 0, 0, 0], false).windows([4, 4]).is_err());
    }

    #[test]
    fn spans_clip_to_input_and_padded_extent() {
        // in 5, k 3, s 2, pads 1/1, ceil: padded 7, ceil(4 / 2) + 1 = 3 windows starting at -1, 1, 3.
        let w = pool(3, 2, [1, 1, 1, 1], true).windows([5, 5]).unwrap();
        assert_eq!(w.output, [3, 3]);
        assert_eq!(w.span(0, 0), Span { start: 0, end: 2, padded: 3 });
        assert_eq!(w.span(0, 2), Span { start: 3, end: 5, padded: 3 });
        // in 6, k 3, s 2, pads 1/1, ceil: padded 8, ceil(5 / 2) + 1 = 4; starts -1, 1, 3, 5;
        // the last covers 5, 6 (pad), 7 (beyond the padded input): padded count 2.
        let w = pool(3, 2, [1, 1, 1, 1], true).windows([6, 6]).unwrap();
        assert_eq!(w.output, [4, 4]);
        assert_eq!(w.span(1, 3), Span { start: 5, end: 6, padded: 2 });
    }
}
