//! Accuracy of the int8 program against the fp32 graph: top-1 (with labels), agreement,
//! output SQNR and a per-layer SQNR table.

use crate::error::Result;
use crate::interp;
use crate::ir::{Array, Graph};
use crate::quant::{Layout, Program};
use crate::sim::Simulator;
use std::collections::HashMap;

/// Signal and noise energy of one tensor, summed over samples.
#[derive(Clone, Debug, Default)]
pub struct Energy {
    /// Σ ref².
    pub signal: f64,
    /// Σ (ref - int8)².
    pub noise: f64,
}

impl Energy {
    /// `10 log10(signal / noise)` in dB (infinite when exact).
    pub fn sqnr_db(&self) -> f64 {
        if self.noise == 0.0 {
            f64::INFINITY
        } else {
            10.0 * (self.signal / self.noise).log10()
        }
    }

    fn add(&mut self, reference: &[f32], quantized: &[f32]) {
        for (r, q) in reference.iter().zip(quantized) {
            self.signal += (*r as f64) * (*r as f64);
            self.noise += (*r as f64 - *q as f64).powi(2);
        }
    }
}

/// What `qforge eval` reports.
#[derive(Clone, Debug)]
pub struct Report {
    /// Samples evaluated.
    pub samples: usize,
    /// fp32 top-1 accuracy (with labels).
    pub fp32_top1: Option<f64>,
    /// int8 top-1 accuracy (with labels).
    pub int8_top1: Option<f64>,
    /// Share of samples where int8 and fp32 pick the same class.
    pub agreement: f64,
    /// Output SQNR.
    pub output: Energy,
    /// Per step output: (step index, tensor name, op, energy).
    pub layers: Vec<(usize, String, String, Energy)>,
    /// The int8 program's dequantized outputs, one per sample.
    pub int8_outputs: Vec<Vec<f32>>,
}

fn argmax(v: &[f32]) -> usize {
    v.iter().enumerate().fold((0, f32::NEG_INFINITY), |(bi, bv), (i, &x)| if x > bv { (i, x) } else { (bi, bv) }).0
}

/// An NHWC int8 tensor dequantized into ONNX order.
fn dequantize_onnx_order(p: &Program, t: usize, bytes: &[i8]) -> Vec<f32> {
    let q = &p.tensors[t];
    let mut f = vec![0f32; bytes.len()];
    qrt::quant::dequantize(q.scale, q.zero_point, bytes, &mut f);
    if q.layout == Layout::Nhwc && q.shape.len() == 4 {
        let (c, h, w) = (q.shape[1], q.shape[2], q.shape[3]);
        let mut out = vec![0f32; f.len()];
        for y in 0..h {
            for x in 0..w {
                for ch in 0..c {
                    out[(ch * h + y) * w + x] = f[(y * w + x) * c + ch];
                }
            }
        }
        return out;
    }
    f
}

/// Runs every sample through the fp32 graph and the int8 program.
pub fn evaluate(g: &Graph, p: &Program, samples: &[Array], labels: Option<&[i64]>, progress: bool) -> Result<Report> {
    let names: HashMap<&str, usize> = g.tensors.iter().enumerate().map(|(i, t)| (t.name.as_str(), i)).collect();
    let mut sim = Simulator::new(p);
    let mut output = Energy::default();
    let mut layer_energy: Vec<Energy> = vec![Energy::default(); p.steps.len()];
    let (mut fp32_ok, mut int8_ok, mut agree) = (0usize, 0usize, 0usize);
    let mut int8_outputs = Vec::with_capacity(samples.len());
    let bar = crate::calib::progress_bar(progress, samples.len() as u64);
    bar.set_prefix("evaluating");
    for (i, sample) in samples.iter().enumerate() {
        let mut fp32: HashMap<usize, Vec<f32>> = HashMap::new();
        let outs = interp::run(g, std::slice::from_ref(sample), |t, a| {
            fp32.insert(t, a.data.clone());
        })?;
        let reference = &outs[0].data;
        let mut snapshots: HashMap<usize, (usize, Vec<i8>)> = HashMap::new();
        let q_in = sim.quantize_input(&sample.data);
        let q_out = sim.run_int8_observed(&q_in, |idx, step, bytes| {
            snapshots.insert(step.output, (idx, bytes.to_vec()));
        });
        let t_out = &p.tensors[p.output];
        let mut deq = vec![0f32; q_out.len()];
        qrt::quant::dequantize(t_out.scale, t_out.zero_point, &q_out, &mut deq);
        output.add(reference, &deq);
        for (t, (step, bytes)) in &snapshots {
            if let Some(values) = names.get(p.tensors[*t].name.as_str()).and_then(|id| fp32.get(id)) {
                layer_energy[*step].add(values, &dequantize_onnx_order(p, *t, bytes));
            }
        }
        let (a, b) = (argmax(reference), argmax(&deq));
        agree += usize::from(a == b);
        if let Some(l) = labels {
            fp32_ok += usize::from(a as i64 == l[i]);
            int8_ok += usize::from(b as i64 == l[i]);
        }
        int8_outputs.push(deq);
        bar.inc(1);
    }
    bar.finish_and_clear();
    let n = samples.len().max(1) as f64;
    let layers = p
        .steps
        .iter()
        .enumerate()
        .filter(|(i, s)| layer_energy[*i].signal > 0.0 && names.contains_key(p.tensors[s.output].name.as_str()))
        .map(|(i, s)| (i, p.tensors[s.output].name.clone(), s.op.clone(), layer_energy[i].clone()))
        .collect();
    Ok(Report {
        samples: samples.len(),
        fp32_top1: labels.map(|_| fp32_ok as f64 / n),
        int8_top1: labels.map(|_| int8_ok as f64 / n),
        agreement: agree as f64 / n,
        output,
        layers,
        int8_outputs,
    })
}
