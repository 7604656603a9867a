//! Fusing MobileNetV2's expand + depthwise pairs changes no output byte: the fused program
//! and the unfused one (the same lowering, planned without the fusion) run through the
//! simulator on the same inputs, with the default scratch, the least scratch a pair can
//! work with, and two threads (every pair fused, whatever its size). The fused plan's
//! arena is also smaller. The same for the depthwise + project [+ add] fusion, alone and
//! after the first one.

use qforge::calib::{self, Observer};
use qforge::frontend::{build_graph, onnx};
use qforge::ir::Array;
use qforge::quant::{fuse, lower, plan, Kernel, Program};
use qforge::sim::Simulator;
use qforge_tests::models;
use qforge_tests::rng::Rng;

fn programs(size: usize) -> (Program, Program, Program, Vec<Vec<i8>>) {
    let (lowered, inputs) = lowered(size);
    let mut unfused = lowered.clone();
    plan::plan(&mut unfused);
    let mut fused = lowered.clone();
    fuse::expand_depthwise_with(&mut fused, 0, qrt::fused::DEFAULT_SCRATCH);
    plan::plan(&mut fused);
    let mut least = lowered;
    fuse::expand_depthwise_with(&mut least, 0, 0);
    plan::plan(&mut least);
    (unfused, fused, least, inputs)
}

#[test]
fn fused_programs_return_the_unfused_bytes() {
    let (unfused, fused, least, inputs) = programs(64);
    let pairs = |p: &Program| p.steps.iter().filter(|s| matches!(s.kernel, Kernel::ExpandDepthwise { .. })).count();
    // Every inverted residual block with an expansion (16). The stem conv is a banded
    // im2col GEMM of its own, not a pointwise GEMM, so it stays out.
    assert_eq!(pairs(&fused), 16);
    assert_eq!(pairs(&least), 16);
    assert_eq!(pairs(&unfused), 0);
    assert_eq!(fused.steps.len(), unfused.steps.len() - 16);
    let mut reference = Simulator::new(&unfused);
    let mut runs = [Simulator::new(&fused), Simulator::new(&least), Simulator::with_threads(&fused, 2)];
    for (i, x) in inputs.iter().enumerate() {
        let expected = reference.run_int8(x);
        for (k, sim) in runs.iter_mut().enumerate() {
            assert_eq!(sim.run_int8(x), expected, "input {i}, fused run {k}");
        }
    }
}

#[test]
fn fusion_lowers_the_arena() {
    let (unfused, fused, least, _) = programs(96);
    eprintln!(
        "arena at 96x96: unfused {} B, fused {} B, least scratch {} B",
        unfused.arena_bytes, fused.arena_bytes, least.arena_bytes
    );
    assert!(fused.arena_bytes < unfused.arena_bytes);
    assert!(least.arena_bytes <= fused.arena_bytes);
}

/// A RAM budget below the default plan replans MobileNetV2 for the least arena (every pair
/// fused, every band at its least); the simulator returns the default program's bytes.
#[test]
fn a_ram_budget_replans_for_the_least_arena_with_the_same_bytes() {
    let bytes = models::mobilenet_v2(64, 10);
    let mut g = build_graph(onnx::from_bytes(&bytes, "mobilenet_v2").expect("read")).expect("build");
    qforge::passes::optimize(&mut g).expect("optimize");
    let mut rng = Rng::new(23);
    let samples: Vec<Array> = (0..3).map(|_| Array::new(vec![1, 3, 64, 64], rng.normals(3 * 64 * 64, 1.0))).collect();
    let stats = calib::calibrate(&g, &samples, Observer::MinMax, false).expect("calibrate");
    let default = qforge::quant::quantize(&g, &stats, "stats").expect("quantize");
    let mut squeezed = default.clone();
    let budgets = qforge::memory::Budgets { max_ram: Some(default.arena_bytes - 1), max_flash: None };
    let plan = qforge::pipeline::check_budgets(&mut squeezed, &budgets).expect("fits once replanned");
    eprintln!("MobileNetV2-64 arena: default {} B, least {} B", default.arena_bytes, squeezed.arena_bytes);
    assert!(squeezed.arena_bytes < default.arena_bytes);
    assert_eq!(plan.arena_bytes, squeezed.arena_bytes);
    let pairs = |p: &Program| p.steps.iter().filter(|s| matches!(s.kernel, Kernel::ExpandDepthwise { .. })).count();
    assert_eq!((pairs(&default), pairs(&squeezed)), (0, 16));
    let (mut a, mut b) = (Simulator::new(&default), Simulator::new(&squeezed));
    for _ in 0..3 {
        let x = a.quantize_input(&rng.normals(3 * 64 * 64, 1.0));
        assert_eq!(b.run_int8(&x), a.run_int8(&x));
    }
}

/// The lowered MobileNetV2 at `size`, and inputs for it.
fn lowered(size: usize) -> (Program, Vec<Vec<i8>>) {
    let bytes = models::mobilenet_v2(size, 10);
    let mut g = build_graph(onnx::from_bytes(&bytes, "mobilenet_v2").expect("read")).expect("build");
    qforge::passes::optimize(&mut g).expect("optimize");
    let mut rng = Rng::new(31);
    let samples: Vec<Array> =
        (0..4).map(|_| Array::new(vec![1, 3, size, size], rng.normals(3 * size * size, 1.0))).collect();
    let stats = calib::calibrate(&g, &samples, Observer::MinMax, false).expect("calibrate");
    let lowered = lower(&g, &stats, "stats").expect("lower");
    let mut planned = lowered.clone();
    plan::plan(&mut planned);
    let sim = Simulator::new(&planned);
    let inputs = (0..6).map(|_| sim.quantize_input(&rng.normals(3 * size * size, 1.0))).collect();
    (lowered, inputs)
}

fn count(p: &Program, what: fn(&Kernel) -> bool) -> usize {
    p.steps.iter().filter(|s| what(&s.kernel)).count()
}

fn with_add(k: &Kernel) -> bool {
    matches!(k, Kernel::DepthwiseProject { layers, .. } if layers.residual.is_some())
}

fn dw_project(k: &Kernel) -> bool {
    matches!(k, Kernel::DepthwiseProject { .. })
}

#[test]
fn depthwise_project_fusion_returns_the_unfused_bytes() {
    let (lowered, inputs) = lowered(64);
    let mut unfused = lowered.clone();
    plan::plan(&mut unfused);
    let fused_with = |budget: usize| {
        let mut p = lowered.clone();
        fuse::depthwise_project_with(&mut p, budget);
        plan::plan(&mut p);
        p
    };
    let (fused, least) = (fused_with(qrt::fused_project::DEFAULT_SCRATCH), fused_with(0));
    // MobileNetV2's 17 depthwise layers each feed a project GEMM; 10 of those feed a
    // residual Add.
    assert_eq!((count(&fused, dw_project), count(&fused, with_add)), (17, 10));
    assert_eq!(fused.steps.len(), unfused.steps.len() - 17 - 10);
    // The scratch never outgrows what it replaces (at 64x64 the peak is a depthwise
    // layer's input and output, so the arena stays the same; at 224x224 it shrinks).
    assert!(fused.arena_bytes <= unfused.arena_bytes, "{} > {}", fused.arena_bytes, unfused.arena_bytes);
    // With every expand + depthwise pair fused first, only the first block's depthwise
    // (it has no expansion) is left to fuse with its project GEMM.
    let mut both = lowered.clone();
    fuse::expand_depthwise_with(&mut both, 0, qrt::fused::DEFAULT_SCRATCH);
    fuse::depthwise_project(&mut both);
    plan::plan(&mut both);
    assert_eq!(count(&both, dw_project), 1);
    let mut reference = Simulator::new(&unfused);
    let mut runs = [
        Simulator::new(&fused),
        Simulator::new(&least),
        Simulator::new(&both),
        Simulator::with_threads(&fused, 2),
        Simulator::with_threads(&least, 3),
    ];
    for (i, x) in inputs.iter().enumerate() {
        let expected = reference.run_int8(x);
        for (k, sim) in runs.iter_mut().enumerate() {
            assert_eq!(sim.run_int8(x), expected, "input {i}, fused run {k}");
        }
    }
}

#[test]
fn splitting_the_depthwise_project_steps_restores_the_unfused_steps() {
    let (lowered, _) = lowered(32);
    let mut p = lowered.clone();
    fuse::depthwise_project(&mut p);
    assert_eq!(count(&p, dw_project), 17);
    fuse::split_depthwise_project(&mut p);
    assert_eq!(p.steps, lowered.steps);
}
