//! The fused expand + depthwise pair equals the two layers run one after the other, byte
//! for byte: every scratch size from the least (one output row's window) to the whole
//! layer, strides 1 and 2, kernels 3 and 5, padding on every side or none, GEMM input rows
//! with gaps, and 1 to 3 threads each with its own share of the scratch.

use qrt::depthwise;
use qrt::fused::{expand_depthwise, ExpandDepthwise};
use qrt::gemm::{self, Gemm, GemmQuant};
use qrt::par::{self, Par};
use qrt::requant::{ChannelQuant, OutputQuant};
use qrt::threads::Pool;

mod common;
use common::Rng;

struct Case {
    p: ExpandDepthwise,
    input: Vec<i8>,
    gemm_packed: Vec<i8>,
    bias: Vec<i32>,
    bias_u8: Vec<i32>,
    dw_packed: Vec<i8>,
    dw_bias: Vec<i32>,
    multiplier: Vec<i32>,
    shift: Vec<i32>,
}

impl Case {
    /// `h x w` pixels of `k` channels expanded to `c`, then a `kernel x kernel` depthwise
    /// conv with stride `stride` and padding `pad = [top, left, bottom, right]`.
    fn new(
        rng: &mut Rng,
        h: usize,
        w: usize,
        k: usize,
        c: usize,
        kernel: usize,
        stride: usize,
        pad: [usize; 4],
    ) -> Case {
        let extra = rng.range(0, 3) as usize;
        let g = Gemm {
            rows: h * w,
            k,
            n: c,
            input_stride: k + extra,
            output_stride: c,
            output: OutputQuant { zero_point: -128, min: -128, max: 100 },
        };
        let out = OutputQuant { zero_point: 5, min: -128, max: 127 };
        let dw = common::depthwise_layer((h, w, c), (kernel, stride, pad), -128, out);
        let input = rng.activations((g.rows - 1) * g.input_stride + k);
        let (gemm_packed, bias, bias_u8) = common::gemm_layer(rng, k, c);
        let dw_packed = common::depthwise_weights(rng, kernel, c);
        let dw_bias = (0..c).map(|_| rng.range(-1000, 1001) as i32).collect();
        let (multiplier, shift) = common::requants(rng, c);
        Case {
            p: ExpandDepthwise { gemm: g, dw },
            input,
            gemm_packed,
            bias,
            bias_u8,
            dw_packed,
            dw_bias,
            multiplier,
            shift,
        }
    }

    fn quant(&self) -> (GemmQuant<'_>, ChannelQuant<'_>) {
        (
            GemmQuant { bias: &self.bias, bias_u8: &self.bias_u8, multiplier: &self.multiplier, shift: &self.shift },
            ChannelQuant { bias: &self.dw_bias, multiplier: &self.multiplier, shift: &self.shift },
        )
    }

    /// The two layers one after the other, through a whole intermediate tensor.
    fn unfused(&self) -> Vec<i8> {
        let (gq, dq) = self.quant();
        let (g, d) = (&self.p.gemm, &self.p.dw);
        let mut mid = vec![0; g.rows * g.n];
        gemm::gemm(g, &self.input, &self.gemm_packed, &gq, &mut mid);
        let mut out = vec![0; d.out_h * d.out_w * d.channels];
        depthwise::depthwise(d, &mid, &self.dw_packed, &dq, &mut out);
        out
    }

    fn fused(&self, scratch: usize, par: Option<Par<'_>>) -> Vec<i8> {
        let (gq, dq) = self.quant();
        let d = &self.p.dw;
        let mut out = vec![0x55; d.out_h * d.out_w * d.channels];
        let mut scratch = vec![0x33; scratch];
        match par {
            None => expand_depthwise(
                &self.p,
                &self.input,
                &self.gemm_packed,
                &gq,
                &self.dw_packed,
                &dq,
                &mut scratch,
                &mut out,
            ),
            Some(par) => par::expand_depthwise(
                par,
                &self.p,
                &self.input,
                &self.gemm_packed,
                &gq,
                &self.dw_packed,
                &dq,
                &mut scratch,
                &mut out,
            ),
        }
        out
    }
}

#[test]
fn fused_pair_equals_the_two_layers() {
    let mut rng = Rng::new(41);
    let pools: Vec<Pool> = [2, 3].into_iter().map(Pool::new).collect();
    for (h, w, k, c) in
        [(9, 7, 16, 96), (12, 12, 24, 144), (5, 6, 8, 20), (1, 4, 3, 17), (8, 3, 32, 64), (16, 16, 4, 40)]
    {
        for (kernel, stride, pad) in common::DEPTHWISE_WINDOWS {
            if h + pad[0] + pad[2] < kernel || w + pad[1] + pad[3] < kernel {
                continue;
            }
            let case = Case::new(&mut rng, h, w, k, c, kernel, stride, pad);
            let expected = case.unfused();
            let least = case.p.min_scratch();
            let whole = case.p.scratch_len(usize::MAX);
            let what = format!("{h}x{w}x{k}->{c} k{kernel} s{stride} pads {pad:?}");
            for scratch in [least, least + case.p.line() - 1, least + case.p.line(), 2 * least + 3, whole] {
                assert_eq!(case.fused(scratch, None), expected, "{what}, scratch {scratch}");
                for pool in &pools {
                    let par = Par::pool(pool).with_min_work(0);
                    let got = case.fused(scratch * pool.threads(), Some(par));
                    assert_eq!(got, expected, "{what}, scratch {scratch}, {} threads", pool.threads());
                }
            }
        }
    }
}

#[test]
fn band_rows_fit_the_scratch() {
    let mut rng = Rng::new(3);
    let case = Case::new(&mut rng, 112, 112, 16, 96, 3, 2, [1, 1, 1, 1]);
    let p = &case.p;
    let line = 112 * 96;
    assert_eq!(p.line(), line);
    assert_eq!(p.min_scratch(), 3 * line);
    // Rows `2b - 1 + 3` for `b` output rows at stride 2.
    assert_eq!(p.band_rows(3 * line), 1);
    assert_eq!(p.band_rows(5 * line - 1), 1);
    assert_eq!(p.band_rows(5 * line), 2);
    assert_eq!(p.band_rows(9 * line), 4);
    assert_eq!(p.band_rows(1000 * line), 56);
    // The whole layer never needs more than its input rows.
    assert_eq!(p.scratch_len(usize::MAX), 112 * line);
    assert_eq!(p.scratch_len(0), 3 * line);
}
