//! Human-readable summaries printed by the CLI: the model's ops, the compiled program's
//! memory plan, and evaluation results.

use crate::ir::Graph;
use crate::ops::Op;
use crate::pipeline::Model;
use crate::quant::Program;
use crate::report::Report;
use std::fmt::Write;

/// Multiply-accumulates of one fp32 node (0 for data movement).
pub fn node_macs(g: &Graph, n: &crate::ir::Node) -> u64 {
    let out: u64 = n.outputs.first().and_then(|&o| g.shape(o)).map_or(0, |s| s.iter().product::<usize>() as u64);
    let w = n.input(1).and_then(|t| g.shape(t));
    match (&n.op, w) {
        (Op::Conv(_), Some(w)) => out * w[1..].iter().product::<usize>() as u64,
        (Op::Gemm(gm), Some(w)) => out * w[if gm.trans_b { 1 } else { 0 }] as u64,
        (Op::MatMul(_), Some(w)) => out * w[0] as u64,
        _ => 0,
    }
}

fn params(g: &Graph, n: &crate::ir::Node) -> usize {
    n.inputs.iter().flatten().filter_map(|&t| g.const_data(t)).map(|a| a.len()).sum()
}

fn graph_table(g: &Graph, out: &mut String) {
    let _ = writeln!(out, "{:<4} {:<36} {:<22} {:<20} {:>10} {:>14}", "#", "node", "op", "output", "params", "MACs");
    for (i, n) in g.nodes.iter().enumerate() {
        let shape = n.outputs.first().and_then(|&o| g.shape(o)).map(|s| format!("{s:?}")).unwrap_or_default();
        let op = match &n.op {
            Op::Conv(c) if !c.act.is_none() => format!("Conv+{}", act_name(c.act)),
            Op::Gemm(c) if !c.act.is_none() => format!("Gemm+{}", act_name(c.act)),
            Op::MatMul(c) if !c.act.is_none() => format!("MatMul+{}", act_name(c.act)),
            Op::Add(c) if !c.act.is_none() => format!("Add+{}", act_name(c.act)),
            op => op.type_name().to_string(),
        };
        let _ = writeln!(
            out,
            "{:<4} {:<36} {:<22} {:<20} {:>10} {:>14}",
            i + 1,
            clip(&n.name, 36),
            op,
            shape,
            params(g, n),
            node_macs(g, n)
        );
    }
    let macs: u64 = g.nodes.iter().map(|n| node_macs(g, n)).sum();
    let p: usize = g.nodes.iter().map(|n| params(g, n)).sum();
    let _ = writeln!(out, "total: {} nodes, {p} parameters, {macs} MACs", g.nodes.len());
}

fn act_name(c: crate::ops::Clamp) -> String {
    if c.min == 0.0 && c.max == f32::INFINITY {
        "Relu".into()
    } else if c.min == 0.0 && c.max == 6.0 {
        "Relu6".into()
    } else {
        format!("Clip[{}, {}]", c.min, c.max)
    }
}

fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let tail: String = s.chars().rev().take(n - 1).collect::<Vec<_>>().into_iter().rev().collect();
        format!("…{tail}")
    }
}

/// `qforge inspect`: the model as read, then after folding and fusion.
pub fn render(m: &Model) -> String {
    let mut out = String::new();
    let (iname, ishape) = m.input();
    let (oname, oshape) = m.output();
    let _ = writeln!(out, "model: {} (sha256 {})", crate::pipeline::file_name(&m.path), &m.sha256[..16]);
    let _ = writeln!(out, "input: {iname} {ishape:?} float32; output: {oname} {oshape:?}");
    for note in &m.graph.notes {
        let _ = writeln!(out, "note: {note}");
    }
    let _ = writeln!(out, "\nas read ({} nodes):", m.original.nodes.len());
    graph_table(&m.original, &mut out);
    let _ = writeln!(out, "\nafter folding and fusion ({} nodes):", m.graph.nodes.len());
    graph_table(&m.graph, &mut out);
    out
}

/// What `qforge compile` prints: layers, weights, and the memory plan.
pub fn compile_summary(m: &Model, p: &Program) -> String {
    let mut out = String::new();
    let (mut largest, mut largest_bytes) = (String::new(), 0);
    for s in &p.steps {
        let t = &p.tensors[s.output];
        if t.len() > largest_bytes {
            largest_bytes = t.len();
            largest = s.node.clone();
        }
    }
    let fp32 = m.fp32_weight_bytes();
    let _ = writeln!(out, "layers: {} steps, {} MACs per run", p.steps.len(), p.macs());
    let _ = writeln!(
        out,
        "weights: {} bytes int8 ({} bytes blob with biases and multipliers) vs {fp32} bytes fp32 ({:.2}x smaller)",
        p.weight_bytes(),
        p.blob.len(),
        fp32 as f64 / p.blob.len().max(1) as f64
    );
    // The arena and its lower bound are in the memory plan printed after this.
    let _ = writeln!(out, "largest activation: `{largest}` {largest_bytes} bytes");
    out
}

/// What `qforge eval` prints.
pub fn eval_summary(m: &Model, p: &Program, r: &Report, layers: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "samples: {}", r.samples);
    if let (Some(a), Some(b)) = (r.fp32_top1, r.int8_top1) {
        let _ = writeln!(
            out,
            "top-1: fp32 {:.2}%  int8 {:.2}%  (delta {:+.2} points)",
            100.0 * a,
            100.0 * b,
            100.0 * (b - a)
        );
    }
    let _ = writeln!(out, "agreement (same top-1 class): {:.2}%", 100.0 * r.agreement);
    let _ = writeln!(out, "output SQNR: {:.1} dB", r.output.sqnr_db());
    let _ = writeln!(
        out,
        "weights: fp32 {} bytes, int8 {} bytes (blob {} bytes)",
        m.fp32_weight_bytes(),
        p.weight_bytes(),
        p.blob.len()
    );
    if layers {
        let _ = writeln!(out, "\n{:<4} {:<40} {:<22} {:>10}", "#", "tensor", "op", "SQNR dB");
        for (i, name, op, e) in &r.layers {
            let _ = writeln!(out, "{:<4} {:<40} {:<22} {:>10.1}", i + 1, clip(name, 40), op, e.sqnr_db());
        }
    }
    out
}
