// A model compiled from statistics: the module has the emitted crate's API, and runs.
qrt::quantize_model!(mod relu, model = "fixtures/relu.json", stats = "fixtures/relu.stats.json");

fn main() {
    assert_eq!(relu::INPUT_SHAPE, [1, 1, 2, 2]);
    let mut model = relu::Model::new();
    let mut out = [0.0f32; relu::OUTPUT_LEN];
    model.run(&[-1.0, 0.0, 0.5, 1.0], &mut out).expect("run");
    // ReLU with the output range [0, 1] in 255 steps: exact at 0 and 1, within a step at 0.5.
    assert_eq!(out[0], 0.0);
    assert_eq!(out[1], 0.0);
    assert!((out[2] - 0.5).abs() <= 1.0 / 255.0, "{}", out[2]);
    assert!((out[3] - 1.0).abs() <= 1.0 / 255.0, "{}", out[3]);
    let mut arena = vec![0i8; relu::ARENA_BYTES];
    let mut again = [0.0f32; relu::OUTPUT_LEN];
    relu::run_with_arena(&mut arena, &[-1.0, 0.0, 0.5, 1.0], &mut again).expect("run_with_arena");
    assert_eq!(out, again);
    // The same through a byte arena.
    let mut bytes = vec![0xffu8; relu::ARENA_BYTES];
    let mut held = relu::ArenaModel::from_bytes(&mut bytes).expect("from_bytes");
    let mut third = [0.0f32; relu::OUTPUT_LEN];
    held.run(&[-1.0, 0.0, 0.5, 1.0], &mut third).expect("ArenaModel::run");
    assert_eq!(out, third);
    assert!(model.run(&[0.0; 3], &mut out).is_err(), "a wrong input length is an error");
}
