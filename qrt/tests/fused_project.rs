//! The fused depthwise + project [+ add] equals the layers run one after the other on the
//! scalar backend, byte for byte, on every backend this machine runs: every scratch size
//! from the least (one output row) to the whole layer, strides 1 and 2, kernels 3 and 5,
//! padding on every side or none, without an Add and with the GEMM's output as either of
//! the Add's inputs, and 1 to 3 threads each with its own share of the scratch.
//!
//! Backends are forced (a process-wide choice) in one test function; the other does not
//! depend on the backend.

use qrt::add::{self, encode_pair, Add};
use qrt::cpu::{self, Backend};
use qrt::depthwise;
use qrt::fused_project::{depthwise_project, DepthwiseProject, Residual};
use qrt::gemm::{self, Gemm, GemmQuant};
use qrt::par::{self, Par};
use qrt::requant::{ChannelQuant, OutputQuant};
use qrt::threads::Pool;

mod common;
use common::Rng;

struct Case {
    p: DepthwiseProject,
    input: Vec<i8>,
    residual: Vec<i8>,
    dw_packed: Vec<i8>,
    dw_bias: Vec<i32>,
    dw_multiplier: Vec<i32>,
    dw_shift: Vec<i32>,
    gemm_packed: Vec<i8>,
    bias: Vec<i32>,
    bias_u8: Vec<i32>,
    multiplier: Vec<i32>,
    shift: Vec<i32>,
}

/// `(h, w, c, n)`, `(kernel, stride, [top, left, bottom, right])` and which Add:
/// `None`, or `Some(gemm_is_a)`.
type Shape = ((usize, usize, usize, usize), (usize, usize, [usize; 4]), Option<bool>);

impl Case {
    fn new(rng: &mut Rng, ((h, w, c, n), (kernel, stride, pad), add): Shape) -> Case {
        let out = OutputQuant { zero_point: -128, min: -128, max: 100 };
        let dw = common::depthwise_layer((h, w, c), (kernel, stride, pad), -7, out);
        let (out_h, out_w) = (dw.out_h, dw.out_w);
        let rows = out_h * out_w;
        let g = Gemm {
            rows,
            k: c,
            n,
            input_stride: c,
            output_stride: n,
            output: OutputQuant { zero_point: 3, min: -128, max: 127 },
        };
        let residual = add.map(|gemm_is_a| {
            let (m_a, m_b, shift) = encode_pair(0.7, 1.3).expect("rescale factors");
            let add = Add {
                len: rows * n,
                a_zero_point: if gemm_is_a { 3 } else { -20 },
                a_multiplier: m_a,
                b_zero_point: if gemm_is_a { -20 } else { 3 },
                b_multiplier: m_b,
                shift,
                output: OutputQuant { zero_point: -4, min: -128, max: 127 },
            };
            Residual { add, gemm_is_a }
        });
        let dw_packed = common::depthwise_weights(rng, kernel, c);
        let (dw_multiplier, dw_shift) = common::requants(rng, c);
        let (gemm_packed, bias, bias_u8) = common::gemm_layer(rng, c, n);
        let (multiplier, shift) = common::requants(rng, n);
        Case {
            input: rng.activations(h * w * c),
            residual: if add.is_some() { rng.activations(rows * n) } else { Vec::new() },
            p: DepthwiseProject { dw, gemm: g, residual },
            dw_packed,
            dw_bias: (0..c).map(|_| rng.range(-1000, 1001) as i32).collect(),
            dw_multiplier,
            dw_shift,
            gemm_packed,
            bias,
            bias_u8,
            multiplier,
            shift,
        }
    }

    fn quant(&self) -> (ChannelQuant<'_>, GemmQuant<'_>) {
        (
            ChannelQuant { bias: &self.dw_bias, multiplier: &self.dw_multiplier, shift: &self.dw_shift },
            GemmQuant { bias: &self.bias, bias_u8: &self.bias_u8, multiplier: &self.multiplier, shift: &self.shift },
        )
    }

    /// The layers one after the other, through whole intermediate tensors.
    fn unfused(&self) -> Vec<i8> {
        let (dq, gq) = self.quant();
        let (d, g) = (&self.p.dw, &self.p.gemm);
        let mut mid = vec![0; g.rows * g.k];
        depthwise::depthwise(d, &self.input, &self.dw_packed, &dq, &mut mid);
        let mut projected = vec![0; g.rows * g.n];
        gemm::gemm(g, &mid, &self.gemm_packed, &gq, &mut projected);
        let Some(r) = self.p.residual else { return projected };
        let mut out = vec![0; g.rows * g.n];
        let (a, b) = if r.gemm_is_a { (&projected, &self.residual) } else { (&self.residual, &projected) };
        add::add(&r.add, a, b, &mut out);
        out
    }

    fn fused(&self, scratch: usize, par: Option<Par<'_>>) -> Vec<i8> {
        let (dq, gq) = self.quant();
        let mut out = vec![0x55; self.p.output_len()];
        let mut scratch = vec![0x33; scratch];
        let (input, dw_w, gemm_w, residual) = (&self.input, &self.dw_packed, &self.gemm_packed, &self.residual);
        match par {
            None => depthwise_project(&self.p, input, dw_w, &dq, gemm_w, &gq, residual, &mut scratch, &mut out),
            Some(par) => {
                par::depthwise_project(par, &self.p, input, dw_w, &dq, gemm_w, &gq, residual, &mut scratch, &mut out)
            }
        }
        out
    }
}

#[test]
fn fused_layers_equal_the_layers_one_after_the_other_on_every_backend() {
    let mut rng = Rng::new(57);
    let pools: Vec<Pool> = [2, 3].into_iter().map(Pool::new).collect();
    let mut cases = Vec::new();
    for dims in [(9, 7, 96, 24), (12, 12, 144, 24), (5, 6, 20, 17), (1, 4, 17, 3), (7, 7, 64, 80), (14, 14, 40, 16)] {
        for (i, conv) in common::DEPTHWISE_WINDOWS.into_iter().enumerate() {
            let (h, w) = (dims.0, dims.1);
            if h + conv.2[0] + conv.2[2] < conv.0 || w + conv.2[1] + conv.2[3] < conv.0 {
                continue;
            }
            let add = [None, Some(true), Some(false)][i % 3];
            cases.push(Case::new(&mut rng, (dims, conv, add)));
        }
    }
    assert!(cpu::force(Backend::Scalar));
    let expected: Vec<Vec<i8>> = cases.iter().map(Case::unfused).collect();
    let mut backends = 0;
    for backend in Backend::ALL.into_iter().filter(|b| b.available()) {
        assert!(cpu::force(backend));
        backends += 1;
        for (case, expected) in cases.iter().zip(&expected) {
            let (d, g) = (&case.p.dw, &case.p.gemm);
            let what = format!(
                "{}: {}x{}x{} k{} s{} -> {}, add {:?}",
                backend.name(),
                d.in_h,
                d.in_w,
                d.channels,
                d.kernel_h,
                d.stride_h,
                g.n,
                case.p.residual.map(|r| r.gemm_is_a)
            );
            let row = case.p.min_scratch();
            let whole = case.p.scratch_len(usize::MAX);
            for scratch in [row, 2 * row - 1, 2 * row, 3 * row + 5, whole] {
                assert_eq!(&case.fused(scratch, None), expected, "{what}, scratch {scratch}");
                for pool in &pools {
                    let par = Par::pool(pool).with_min_work(0);
                    let got = case.fused(scratch * pool.threads(), Some(par));
                    assert_eq!(&got, expected, "{what}, scratch {scratch}, {} threads", pool.threads());
                }
            }
        }
    }
    assert!(backends >= 1 && cases.len() >= 30, "{backends} backends, {} cases", cases.len());
}

#[test]
fn scratch_sizes() {
    let mut rng = Rng::new(5);
    let plain = Case::new(&mut rng, ((14, 14, 384, 64), (3, 1, [1, 1, 1, 1]), None)).p;
    assert_eq!(plain.min_scratch(), 14 * 384);
    let with_add = Case::new(&mut rng, ((14, 14, 384, 64), (3, 2, [1, 1, 1, 1]), Some(true))).p;
    // Stride 2: 7 output rows of 7 pixels, each 384 depthwise bytes and 64 GEMM bytes.
    assert_eq!(with_add.min_scratch(), 7 * 384 + 7 * 64);
    assert_eq!(with_add.scratch_len(0), with_add.min_scratch());
    assert_eq!(with_add.scratch_len(usize::MAX), 7 * with_add.min_scratch());
    assert_eq!(with_add.scratch_len(3 * with_add.min_scratch() + 1), 3 * with_add.min_scratch() + 1);
}

/// The fused step and the 1x1 GEMM after it, run as one job (`par::depthwise_project_then_gemm`),
/// write both outputs exactly as the two calls one after the other: on one thread and on 2
/// and 3, every layer split, with the least scratch and the whole layer's.
#[test]
fn the_step_and_the_gemm_after_it_in_one_job_equal_the_two_calls() {
    let mut rng = Rng::new(91);
    let pools: Vec<Pool> = [2, 3].into_iter().map(Pool::new).collect();
    let mut checked = 0;
    for (dims, i) in [((9, 7, 96, 24), 0), ((7, 7, 64, 80), 1), ((14, 14, 40, 16), 2), ((5, 6, 20, 17), 4)] {
        let conv = common::DEPTHWISE_WINDOWS[i % common::DEPTHWISE_WINDOWS.len()];
        let case = Case::new(&mut rng, (dims, conv, [None, Some(true), Some(false)][i % 3]));
        let g = &case.p.gemm;
        let n2 = 3 * g.n + 5;
        let next = Gemm {
            rows: g.rows,
            k: g.n,
            n: n2,
            input_stride: g.n,
            output_stride: n2,
            output: OutputQuant { zero_point: -9, min: -100, max: 127 },
        };
        let (packed, bias, bias_u8) = common::gemm_layer(&mut rng, g.n, n2);
        let (multiplier, shift) = common::requants(&mut rng, n2);
        let nq = GemmQuant { bias: &bias, bias_u8: &bias_u8, multiplier: &multiplier, shift: &shift };
        let first = case.fused(case.p.min_scratch(), None);
        let mut second = vec![0; g.rows * n2];
        gemm::gemm(&next, &first, &packed, &nq, &mut second);
        let (dq, gq) = case.quant();
        let pars = std::iter::once(Par::single()).chain(pools.iter().map(|p| Par::pool(p).with_min_work(0)));
        for par in pars {
            for scratch in [case.p.min_scratch(), case.p.scratch_len(usize::MAX)] {
                let scratch_len = scratch * par.threads();
                let (mut got, mut got2, mut s) =
                    (vec![0x55; first.len()], vec![0x55; second.len()], vec![0x33; scratch_len]);
                par::depthwise_project_then_gemm(
                    par,
                    &case.p,
                    (&case.input, &case.residual),
                    (&case.dw_packed, &dq),
                    (&case.gemm_packed, &gq),
                    &mut s,
                    &mut got,
                    (&next, &packed, &nq),
                    &mut got2,
                );
                let what = format!("{dims:?}, {} threads, scratch {scratch_len}", par.threads());
                assert_eq!(got, first, "first output, {what}");
                assert_eq!(got2, second, "second output, {what}");
                checked += 1;
            }
        }
    }
    assert_eq!(checked, 4 * 3 * 2);
}
