//! Layer helpers on [`ModelBuilder`]: each adds one ONNX node (plus its weights, drawn
//! from the builder's generator) and returns the name of its output.
//!
//! Initialisation: conv and gemm weights are He-normal (`std = sqrt(2 / fan_in)`), biases
//! `N(0, 0.05)`; BatchNorm `gamma ~ U(0.5, 1.5)`, `beta ~ N(0, 0.1)`,
//! `running_mean ~ N(0, 0.1)`, `running_var ~ U(0.5, 1.5)` (see
//! [`crate::calibrate::calibrate_batchnorm`] for data-driven statistics). Weight names
//! follow PyTorch (`conv_3.weight`, `bn_4.running_var`), so counting the `.weight` and
//! `.bias` elements gives the parameter count torchvision reports.

use crate::onnx_writer::{attr, ModelBuilder};

fn pooled(size: usize, k: usize, stride: usize, pad: usize) -> usize {
    (size + 2 * pad - k) / stride + 1
}

impl ModelBuilder {
    /// 2-D convolution, square kernel `k`, symmetric padding `pad`; `bias` adds a bias.
    pub fn conv(
        &mut self,
        x: &str,
        out_c: usize,
        k: usize,
        stride: usize,
        pad: usize,
        group: usize,
        bias: bool,
    ) -> String {
        let [n, c, h, w] = nchw(self.shape(x));
        assert_eq!(c % group, 0, "conv groups {group} do not divide {c} input channels");
        assert_eq!(out_c % group, 0, "conv groups {group} do not divide {out_c} output channels");
        let name = self.fresh("conv");
        let fan_in = c / group * k * k;
        let weight = self.rng.normals(out_c * fan_in, (2.0 / fan_in as f32).sqrt());
        let w_name = self.initializer(&format!("{name}.weight"), &[out_c, c / group, k, k], weight);
        let mut inputs = vec![x.to_string(), w_name];
        if bias {
            let b = self.rng.normals(out_c, 0.05);
            inputs.push(self.initializer(&format!("{name}.bias"), &[out_c], b));
        }
        let (k, s, p) = (k as i64, stride as i64, pad as i64);
        let attrs = vec![
            attr::ints("kernel_shape", &[k, k]),
            attr::ints("strides", &[s, s]),
            attr::ints("pads", &[p, p, p, p]),
            attr::ints("dilations", &[1, 1]),
            attr::int("group", group as i64),
        ];
        let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
        let y = self.node("Conv", &inputs, &[&name], attrs);
        let (k, s, p) = (k as usize, stride, pad);
        self.set_shape(&y, &[n, out_c, pooled(h, k, s, p), pooled(w, k, s, p)]);
        y
    }

    /// Inference-mode `BatchNormalization` over the channels of `x` (epsilon 1e-5).
    pub fn batch_norm(&mut self, x: &str) -> String {
        let shape = self.shape(x).to_vec();
        let c = shape[1];
        let name = self.fresh("bn");
        let gamma = self.rng.uniforms(c, 0.5, 1.5);
        let beta = self.rng.normals(c, 0.1);
        let mean = self.rng.normals(c, 0.1);
        let var = self.rng.uniforms(c, 0.5, 1.5);
        let mut inputs = vec![x.to_string()];
        for (suffix, data) in [("weight", gamma), ("bias", beta), ("running_mean", mean), ("running_var", var)] {
            inputs.push(self.initializer(&format!("{name}.{suffix}"), &[c], data));
        }
        let inputs: Vec<&str> = inputs.iter().map(String::as_str).collect();
        let y = self.node("BatchNormalization", &inputs, &[&name], vec![attr::float("epsilon", 1e-5)]);
        self.set_shape(&y, &shape);
        y
    }

    /// `Relu`.
    pub fn relu(&mut self, x: &str) -> String {
        self.unary("Relu", "relu", x, vec![])
    }

    /// ReLU6 as `Clip(x, 0, 6)`: bounds as constant inputs from opset 11 on, as
    /// attributes before.
    pub fn relu6(&mut self, x: &str) -> String {
        if self.opset() < 11 {
            let attrs = vec![attr::float("min", 0.0), attr::float("max", 6.0)];
            return self.unary("Clip", "relu6", x, attrs);
        }
        if self.initializer_data("relu6.min").is_none() {
            self.initializer("relu6.min", &[], vec![0.0]);
            self.initializer("relu6.max", &[], vec![6.0]);
        }
        let name = self.fresh("relu6");
        let y = self.node("Clip", &[x, "relu6.min", "relu6.max"], &[&name], vec![]);
        let shape = self.shape(x).to_vec();
        self.set_shape(&y, &shape);
        y
    }

    /// Elementwise `Add` (the output takes the shape of `a`).
    pub fn add(&mut self, a: &str, b: &str) -> String {
        let name = self.fresh("add");
        let y = self.node("Add", &[a, b], &[&name], vec![]);
        let shape = self.shape(a).to_vec();
        self.set_shape(&y, &shape);
        y
    }

    /// `MaxPool`, square window `k`, symmetric padding.
    pub fn max_pool(&mut self, x: &str, k: usize, stride: usize, pad: usize) -> String {
        self.pool("MaxPool", x, k, stride, pad, vec![])
    }

    /// `AveragePool`, square window `k`, symmetric padding, with `count_include_pad`.
    pub fn avg_pool(&mut self, x: &str, k: usize, stride: usize, pad: usize, count_include_pad: bool) -> String {
        self.pool("AveragePool", x, k, stride, pad, vec![attr::int("count_include_pad", count_include_pad as i64)])
    }

    fn pool(
        &mut self,
        op: &str,
        x: &str,
        k: usize,
        stride: usize,
        pad: usize,
        mut attrs: Vec<qforge::frontend::onnx::proto::AttributeProto>,
    ) -> String {
        let [n, c, h, w] = nchw(self.shape(x));
        let (ki, s, p) = (k as i64, stride as i64, pad as i64);
        attrs.extend([
            attr::ints("kernel_shape", &[ki, ki]),
            attr::ints("strides", &[s, s]),
            attr::ints("pads", &[p, p, p, p]),
        ]);
        let name = self.fresh(if op == "MaxPool" { "maxpool" } else { "avgpool" });
        let y = self.node(op, &[x], &[&name], attrs);
        self.set_shape(&y, &[n, c, pooled(h, k, stride, pad), pooled(w, k, stride, pad)]);
        y
    }

    /// `GlobalAveragePool` (output `N x C x 1 x 1`).
    pub fn global_avg_pool(&mut self, x: &str) -> String {
        let [n, c, _, _] = nchw(self.shape(x));
        let name = self.fresh("gap");
        let y = self.node("GlobalAveragePool", &[x], &[&name], vec![]);
        self.set_shape(&y, &[n, c, 1, 1]);
        y
    }

    /// `Flatten` with axis 1.
    pub fn flatten(&mut self, x: &str) -> String {
        let shape = self.shape(x).to_vec();
        let name = self.fresh("flatten");
        let y = self.node("Flatten", &[x], &[&name], vec![attr::int("axis", 1)]);
        self.set_shape(&y, &[shape[0], shape[1..].iter().product()]);
        y
    }

    /// `Reshape` to a constant int64 shape (`0` copies a dim, `-1` is inferred).
    pub fn reshape(&mut self, x: &str, target: &[i64]) -> String {
        let shape = self.shape(x).to_vec();
        let name = self.fresh("reshape");
        let s_name = self.initializer_i64(&format!("{name}.shape"), &[target.len()], target);
        let y = self.node("Reshape", &[x, &s_name], &[&name], vec![]);
        let mut out: Vec<usize> =
            target.iter().enumerate().map(|(i, &d)| if d == 0 { shape[i] } else { d.max(1) as usize }).collect();
        if let Some(i) = target.iter().position(|&d| d == -1) {
            out[i] = shape.iter().product::<usize>() / out.iter().product::<usize>();
        }
        self.set_shape(&y, &out);
        y
    }

    /// `Gemm` of a 2-D `x` by a He-normal `[out, in]` weight (`transB = 1`) plus a bias.
    pub fn gemm(&mut self, x: &str, out_features: usize) -> String {
        let [n, k] = self.shape(x).try_into().expect("gemm input must be 2-D");
        let name = self.fresh("gemm");
        let w = self.rng.normals(out_features * k, (2.0 / k as f32).sqrt());
        let w = self.initializer(&format!("{name}.weight"), &[out_features, k], w);
        let b = self.rng.normals(out_features, 0.05);
        let b = self.initializer(&format!("{name}.bias"), &[out_features], b);
        let y = self.node("Gemm", &[x, &w, &b], &[&name], vec![attr::int("transB", 1)]);
        self.set_shape(&y, &[n, out_features]);
        y
    }

    /// `MatMul` of a 2-D `x` by a He-normal `[in, out]` weight (no bias).
    pub fn matmul(&mut self, x: &str, out_features: usize) -> String {
        let [n, k] = self.shape(x).try_into().expect("matmul input must be 2-D");
        let name = self.fresh("matmul");
        let w = self.rng.normals(k * out_features, (2.0 / k as f32).sqrt());
        let w = self.initializer(&format!("{name}.weight"), &[k, out_features], w);
        let y = self.node("MatMul", &[x, &w], &[&name], vec![]);
        self.set_shape(&y, &[n, out_features]);
        y
    }

    /// `Concat` along `axis`.
    pub fn concat(&mut self, xs: &[&str], axis: usize) -> String {
        let mut shape = self.shape(xs[0]).to_vec();
        shape[axis] = xs.iter().map(|x| self.shape(x)[axis]).sum();
        let name = self.fresh("concat");
        let y = self.node("Concat", xs, &[&name], vec![attr::int("axis", axis as i64)]);
        self.set_shape(&y, &shape);
        y
    }

    /// `Dropout` (an identity at inference).
    pub fn dropout(&mut self, x: &str) -> String {
        self.unary("Dropout", "dropout", x, vec![])
    }

    /// `Identity`.
    pub fn identity(&mut self, x: &str) -> String {
        self.unary("Identity", "identity", x, vec![])
    }

    fn unary(
        &mut self,
        op: &str,
        prefix: &str,
        x: &str,
        attrs: Vec<qforge::frontend::onnx::proto::AttributeProto>,
    ) -> String {
        let name = self.fresh(prefix);
        let y = self.node(op, &[x], &[&name], attrs);
        let shape = self.shape(x).to_vec();
        self.set_shape(&y, &shape);
        y
    }

    /// Conv (no bias) + BatchNorm, the torchvision building block.
    pub fn conv_bn(&mut self, x: &str, out_c: usize, k: usize, stride: usize, group: usize) -> String {
        let y = self.conv(x, out_c, k, stride, k / 2, group, false);
        self.batch_norm(&y)
    }
}

fn nchw(shape: &[usize]) -> [usize; 4] {
    shape.try_into().unwrap_or_else(|_| panic!("expected an NCHW value, found shape {shape:?}"))
}
