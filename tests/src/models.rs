//! Test models, encoded as ONNX bytes (opset 13, one `1 x C x H x W` input named `input`).
//!
//! `mobilenet_v2`, `resnet18` and `vgg16` follow torchvision's architectures layer for
//! layer; the others are small nets that exercise particular ops. Each `*_builder`
//! function returns the [`ModelBuilder`] with random BatchNorm statistics; the plain
//! functions of the deep nets first calibrate those statistics on random inputs
//! ([`calibrate_batchnorm`]) so that activations stay O(1) through every layer.

use crate::calibrate::calibrate_batchnorm;
use crate::onnx_writer::ModelBuilder;

/// The names [`by_name`] accepts.
pub const NAMES: &[&str] = &[
    "tiny_cnn",
    "mobilenet_v2",
    "resnet_basic",
    "vgg_stack",
    "resnet18",
    "vgg16",
    "concat_net",
    "matmul_net",
    "standalone_activation_net",
];

/// Builds the model called `name` (one of [`NAMES`]) for a square input of side `hw`
/// (ignored by `tiny_cnn` and `matmul_net`, whose input is 8 x 8) with `classes` outputs
/// where the model has a classifier of that size.
pub fn by_name(name: &str, hw: usize, classes: usize) -> Option<Vec<u8>> {
    Some(match name {
        "tiny_cnn" => tiny_cnn(),
        "mobilenet_v2" => mobilenet_v2(hw, classes),
        "resnet_basic" => resnet_basic(hw),
        "vgg_stack" => vgg_stack(hw),
        "resnet18" => resnet18(hw, classes),
        "vgg16" => vgg16(hw, classes),
        "concat_net" => concat_net(hw),
        "matmul_net" => matmul_net(),
        "standalone_activation_net" => standalone_activation_net(hw),
        "linear_net" => linear_net(),
        _ => return None,
    })
}

/// Calibrates BatchNorm statistics on a few random inputs, then encodes.
fn calibrated(mut mb: ModelBuilder) -> Vec<u8> {
    if let Err(e) = calibrate_batchnorm(&mut mb, 4, 0xCA11B) {
        panic!("BatchNorm calibration failed: {e}");
    }
    mb.finish()
}

/// conv-bn-relu, maxpool, conv, global average pool, gemm; input `1 x 1 x 8 x 8`,
/// 4 outputs.
pub fn tiny_cnn() -> Vec<u8> {
    let mut mb = ModelBuilder::new(1);
    let x = mb.input("input", &[1, 1, 8, 8]);
    let y = mb.conv(&x, 4, 3, 1, 1, 1, true);
    let y = mb.batch_norm(&y);
    let y = mb.relu(&y);
    let y = mb.max_pool(&y, 2, 2, 0);
    let y = mb.conv(&y, 8, 3, 1, 1, 1, true);
    let y = mb.global_avg_pool(&y);
    let y = mb.flatten(&y);
    let y = mb.gemm(&y, 4);
    mb.output(&y);
    mb.finish()
}

/// torchvision's MobileNetV2 (width 1.0) with calibrated BatchNorm statistics.
pub fn mobilenet_v2(input_hw: usize, num_classes: usize) -> Vec<u8> {
    calibrated(mobilenet_v2_builder(input_hw, num_classes))
}

/// torchvision's MobileNetV2 (width 1.0): 3,504,872 parameters for 1000 classes.
pub fn mobilenet_v2_builder(input_hw: usize, num_classes: usize) -> ModelBuilder {
    const SETTINGS: [(usize, usize, usize, usize); 7] =
        [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)];
    let mut mb = ModelBuilder::new(0x2_0001);
    let x = mb.input("input", &[1, 3, input_hw, input_hw]);
    let y = mb.conv_bn(&x, 32, 3, 2, 1);
    let mut y = mb.relu6(&y);
    let mut in_c = 32;
    for (t, c, n, s) in SETTINGS {
        for i in 0..n {
            y = inverted_residual(&mut mb, &y, c, if i == 0 { s } else { 1 }, t);
            in_c = c;
        }
    }
    debug_assert_eq!(in_c, 320);
    let y = mb.conv_bn(&y, 1280, 1, 1, 1);
    let y = mb.relu6(&y);
    let y = mb.global_avg_pool(&y);
    let y = mb.flatten(&y);
    let y = mb.dropout(&y);
    let y = mb.gemm(&y, num_classes);
    mb.output(&y);
    mb
}

/// MobileNetV2's block: expand 1x1 (unless `t == 1`), depthwise 3x3, project 1x1 (no
/// activation), residual add when the shape is kept.
fn inverted_residual(mb: &mut ModelBuilder, x: &str, out_c: usize, stride: usize, t: usize) -> String {
    let in_c = mb.shape(x)[1];
    let hidden = in_c * t;
    let mut y = x.to_string();
    if t != 1 {
        y = mb.conv_bn(&y, hidden, 1, 1, 1);
        y = mb.relu6(&y);
    }
    y = mb.conv_bn(&y, hidden, 3, stride, hidden);
    y = mb.relu6(&y);
    y = mb.conv_bn(&y, out_c, 1, 1, 1);
    if stride == 1 && in_c == out_c {
        mb.add(x, &y)
    } else {
        y
    }
}

/// ResNet's basic block: conv3x3-bn-relu-conv3x3-bn, plus the input (or a 1x1 conv-bn
/// projection of it when the shape changes), then relu.
fn basic_block(mb: &mut ModelBuilder, x: &str, out_c: usize, stride: usize) -> String {
    let in_c = mb.shape(x)[1];
    let y = mb.conv_bn(x, out_c, 3, stride, 1);
    let y = mb.relu(&y);
    let y = mb.conv_bn(&y, out_c, 3, 1, 1);
    let shortcut = if stride != 1 || in_c != out_c { mb.conv_bn(x, out_c, 1, stride, 1) } else { x.to_string() };
    let y = mb.add(&y, &shortcut);
    mb.relu(&y)
}

/// A small ResNet: conv-bn-relu + maxpool stem, one identity block (16 channels), one
/// downsampling block with a projection shortcut (32 channels), gap, gemm to 10.
pub fn resnet_basic(input_hw: usize) -> Vec<u8> {
    calibrated(resnet_basic_builder(input_hw))
}

/// [`resnet_basic`] with random BatchNorm statistics.
pub fn resnet_basic_builder(input_hw: usize) -> ModelBuilder {
    let mut mb = ModelBuilder::new(0x2_0002);
    let x = mb.input("input", &[1, 3, input_hw, input_hw]);
    let y = mb.conv_bn(&x, 16, 3, 1, 1);
    let y = mb.relu(&y);
    let y = mb.max_pool(&y, 3, 2, 1);
    let y = basic_block(&mut mb, &y, 16, 1);
    let y = basic_block(&mut mb, &y, 32, 2);
    let y = mb.global_avg_pool(&y);
    let y = mb.flatten(&y);
    let y = mb.gemm(&y, 10);
    mb.output(&y);
    mb
}

/// torchvision's ResNet-18 with calibrated BatchNorm statistics (11,689,512 parameters
/// for 1000 classes).
pub fn resnet18(input_hw: usize, num_classes: usize) -> Vec<u8> {
    calibrated(resnet18_builder(input_hw, num_classes))
}

/// [`resnet18`] with random BatchNorm statistics.
pub fn resnet18_builder(input_hw: usize, num_classes: usize) -> ModelBuilder {
    let mut mb = ModelBuilder::new(0x2_0003);
    let x = mb.input("input", &[1, 3, input_hw, input_hw]);
    let y = mb.conv_bn(&x, 64, 7, 2, 1);
    let y = mb.relu(&y);
    let mut y = mb.max_pool(&y, 3, 2, 1);
    for (stage, c) in [64, 128, 256, 512].into_iter().enumerate() {
        y = basic_block(&mut mb, &y, c, if stage == 0 { 1 } else { 2 });
        y = basic_block(&mut mb, &y, c, 1);
    }
    let y = mb.global_avg_pool(&y);
    let y = mb.flatten(&y);
    let y = mb.gemm(&y, num_classes);
    mb.output(&y);
    mb
}

/// (conv3x3 + relu) x 2 then 2x2 maxpool, for each of `stages`.
fn vgg_features(mb: &mut ModelBuilder, x: &str, stages: &[(usize, usize)]) -> String {
    let mut y = x.to_string();
    for &(c, convs) in stages {
        for _ in 0..convs {
            y = mb.conv(&y, c, 3, 1, 1, 1, true);
            y = mb.relu(&y);
        }
        y = mb.max_pool(&y, 2, 2, 0);
    }
    y
}

/// A VGG-style stack: three stages (16, 32, 64 channels) of two conv3x3+relu and a
/// maxpool, then flatten, gemm-relu-dropout-gemm to 10. `input_hw` must be a multiple
/// of 8.
pub fn vgg_stack(input_hw: usize) -> Vec<u8> {
    let mut mb = ModelBuilder::new(0x2_0004);
    let x = mb.input("input", &[1, 3, input_hw, input_hw]);
    let y = vgg_features(&mut mb, &x, &[(16, 2), (32, 2), (64, 2)]);
    let y = mb.flatten(&y);
    let y = mb.gemm(&y, 64);
    let y = mb.relu(&y);
    let y = mb.dropout(&y);
    let y = mb.gemm(&y, 10);
    mb.output(&y);
    mb.finish()
}

/// torchvision's VGG-16 (configuration D, no BatchNorm; 138,357,544 parameters for 1000
/// classes at 224 x 224). The adaptive 7 x 7 average pool is a no-op at 224, an
/// `AveragePool` when the final map is a multiple of 7, and left out otherwise (the first
/// classifier layer then takes the map as it is).
pub fn vgg16(input_hw: usize, num_classes: usize) -> Vec<u8> {
    let mut mb = ModelBuilder::new(0x2_0005);
    let x = mb.input("input", &[1, 3, input_hw, input_hw]);
    let mut y = vgg_features(&mut mb, &x, &[(64, 2), (128, 2), (256, 3), (512, 3), (512, 3)]);
    let (h, k) = (mb.shape(&y)[2], mb.shape(&y)[2] / 7);
    if k > 1 && k * 7 == h {
        y = mb.avg_pool(&y, k, k, 0, true);
    }
    y = mb.flatten(&y);
    for _ in 0..2 {
        y = mb.gemm(&y, 4096);
        y = mb.relu(&y);
        y = mb.dropout(&y);
    }
    let y = mb.gemm(&y, num_classes);
    mb.output(&y);
    mb.finish()
}

/// Channel concatenation and both `AveragePool` padding modes: two conv branches
/// concatenated, a 3x3 average pool excluding padding, a strided conv, then a
/// 3x3/2 average pool including padding concatenated with a 3x3/2 max pool; gap, gemm.
pub fn concat_net(input_hw: usize) -> Vec<u8> {
    let mut mb = ModelBuilder::new(0x2_0006);
    let x = mb.input("input", &[1, 3, input_hw, input_hw]);
    let a = mb.conv(&x, 8, 1, 1, 0, 1, true);
    let a = mb.relu(&a);
    let b = mb.conv(&x, 8, 3, 1, 1, 1, true);
    let b = mb.relu(&b);
    let y = mb.concat(&[&a, &b], 1);
    let y = mb.avg_pool(&y, 3, 1, 1, false);
    let y = mb.conv(&y, 16, 3, 2, 1, 1, true);
    let y = mb.relu(&y);
    let p = mb.avg_pool(&y, 3, 2, 1, true);
    let q = mb.max_pool(&y, 3, 2, 1);
    let y = mb.concat(&[&p, &q], 1);
    let y = mb.global_avg_pool(&y);
    let y = mb.flatten(&y);
    let y = mb.gemm(&y, 10);
    mb.output(&y);
    mb.finish()
}

/// MatMul and Reshape: conv-relu on a `1 x 1 x 8 x 8` input, reshape to `[1, -1]`,
/// MatMul by a `256 x 10` weight. (No bias `Add` after the MatMul: an `Add` with a
/// constant operand is a different case, left to its own model.)
pub fn matmul_net() -> Vec<u8> {
    let mut mb = ModelBuilder::new(0x2_0007);
    let x = mb.input("input", &[1, 1, 8, 8]);
    let y = mb.conv(&x, 4, 3, 1, 1, 1, true);
    let y = mb.relu(&y);
    let y = mb.reshape(&y, &[1, -1]);
    let y = mb.matmul(&y, 10);
    mb.output(&y);
    mb.finish()
}

/// Activations that cannot be fused into a producer: ReLU after a MaxPool and ReLU6 after
/// an AveragePool; input `1 x 3 x hw x hw`, 5 outputs.
pub fn standalone_activation_net(input_hw: usize) -> Vec<u8> {
    let mut mb = ModelBuilder::new(0x2_0008);
    let x = mb.input("input", &[1, 3, input_hw, input_hw]);
    let y = mb.conv(&x, 8, 3, 1, 1, 1, true);
    let y = mb.max_pool(&y, 2, 2, 0);
    let y = mb.relu(&y);
    let y = mb.conv(&y, 8, 3, 1, 1, 1, true);
    let y = mb.avg_pool(&y, 2, 2, 0, false);
    let y = mb.relu6(&y);
    let y = mb.global_avg_pool(&y);
    let y = mb.flatten(&y);
    let y = mb.gemm(&y, 5);
    mb.output(&y);
    mb.finish()
}

/// PyTorch's `Linear` on a 3-D input as it exports: MatMul by the transposed weight, then
/// an Add of the bias, then ReLU; input `1 x 1 x 8 x 8` reshaped to 4 rows of 16 features.
pub fn linear_net() -> Vec<u8> {
    let mut mb = ModelBuilder::new(0x2_0009);
    let x = mb.input("input", &[1, 1, 8, 8]);
    let y = mb.reshape(&x, &[1, 4, 16]);
    let mut y = y;
    for (i, (k, n)) in [(16, 12), (12, 6)].into_iter().enumerate() {
        let w = mb.rng.normals(k * n, (2.0 / k as f32).sqrt());
        let w = mb.initializer(&format!("fc{i}.weight_t"), &[k, n], w);
        let out = mb.fresh("matmul");
        let m = mb.node("MatMul", &[&y, &w], &[&out], vec![]);
        mb.set_shape(&m, &[1, 4, n]);
        let b = mb.rng.normals(n, 0.1);
        let b = mb.initializer(&format!("fc{i}.bias"), &[n], b);
        y = mb.add(&m, &b);
        if i == 0 {
            y = mb.relu(&y);
        }
    }
    let y = mb.reshape(&y, &[1, 24]);
    mb.output(&y);
    mb.finish()
}
