//! The arena plan of every test model: tensors alive at the same tick never share bytes,
//! every tensor fits in the arena, offsets are aligned, and the arena is at least the lower
//! bound (checked pairwise here, independently of the planner's own bookkeeping).

use qforge::calib::{self, Observer};
use qforge::frontend::{build_graph, onnx};
use qforge::ir::Array;
use qforge::quant::plan::{lifetimes, ALIGN};
use qforge_tests::models;
use qforge_tests::rng::Rng;

fn check_plan(name: &str, bytes: Vec<u8>, shape: &[usize]) {
    let mut g = build_graph(onnx::from_bytes(&bytes, name).expect("read")).expect("build");
    qforge::passes::optimize(&mut g).expect("optimize");
    let mut rng = Rng::new(3);
    let len: usize = shape.iter().product();
    let samples: Vec<Array> = (0..2).map(|_| Array::new(shape.to_vec(), rng.normals(len, 1.0))).collect();
    let stats = calib::calibrate(&g, &samples, Observer::MinMax, false).expect("calibrate");
    let p = qforge::quant::quantize(&g, &stats, "stats").expect("quantize");
    let life = lifetimes(&p);
    let roots: Vec<usize> =
        (0..p.tensors.len()).filter(|&t| p.tensors[t].alias_of.is_none() && life[t].is_some()).collect();
    for &a in &roots {
        let ta = &p.tensors[a];
        assert_eq!(ta.offset % ALIGN, 0, "{name}: '{}' is misaligned", ta.name);
        assert!(ta.offset + ta.len() <= p.arena_bytes, "{name}: '{}' runs past the arena", ta.name);
        for &b in &roots {
            let tb = &p.tensors[b];
            let (la, lb) = (life[a].unwrap_or_default(), life[b].unwrap_or_default());
            let live_together = la.0 <= lb.1 && lb.0 <= la.1;
            let share_bytes = ta.offset < tb.offset + tb.len() && tb.offset < ta.offset + ta.len();
            assert!(
                a == b || !(live_together && share_bytes),
                "{name}: '{}' and '{}' overlap while both alive",
                ta.name,
                tb.name
            );
        }
    }
    // Aliases read their root's bytes.
    for t in &p.tensors {
        if let Some(root) = t.alias_of {
            assert_eq!(t.offset, p.tensors[p.root(root)].offset);
        }
    }
    assert!(p.arena_bytes >= p.arena_lower_bound);
    eprintln!(
        "{name}: arena {} bytes, lower bound {} ({:+.1}%)",
        p.arena_bytes,
        p.arena_lower_bound,
        100.0 * (p.arena_bytes as f64 / p.arena_lower_bound as f64 - 1.0)
    );
}

#[test]
fn plans_never_overlap_live_tensors() {
    check_plan("tiny_cnn", models::tiny_cnn(), &[1, 1, 8, 8]);
    check_plan("mobilenet_v2", models::mobilenet_v2(32, 10), &[1, 3, 32, 32]);
    check_plan("resnet_basic", models::resnet_basic(32), &[1, 3, 32, 32]);
    check_plan("vgg_stack", models::vgg_stack(32), &[1, 3, 32, 32]);
    check_plan("concat_net", models::concat_net(16), &[1, 3, 16, 16]);
    check_plan("matmul_net", models::matmul_net(), &[1, 1, 8, 8]);
}
