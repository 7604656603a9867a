#!/usr/bin/env python3
"""Train the bundled qforge example model on scikit-learn's 8x8 digits, in plain numpy.

The network (ONNX op names):

    Conv(1->16, 3x3, pad 1) -> BatchNormalization -> Relu
    Conv(16->32, 3x3, stride 2, pad 1) -> BatchNormalization -> Relu        8x8 -> 4x4
    residual block:
        Conv(32->32, 3x3, pad 1) -> BatchNormalization -> Relu
        Conv(32->32, 3x3, pad 1) -> BatchNormalization -> Add(block input) -> Relu
    GlobalAveragePool -> Flatten -> Gemm(32->10, transB=1)

Forward and backward passes are written by hand (convolutions via im2col); BatchNormalization
trains on batch statistics and keeps PyTorch-style running averages (momentum 0.1, unbiased
running variance). The trained model is exported twice with identical weights:

    digits.onnx                      opset 13, BatchNormalization left unfolded
    digits.json + digits.safetensors qforge's native graph format (PyTorch state_dict keys)

and checked against onnxruntime. Also written: calib.npy (128 training samples),
test_x.npy / test_y.npy (the held-out split) and fp32_reference.txt.

Usage:
    python3 examples/digits/train.py              # train, export, verify
    python3 examples/digits/train.py --gradcheck  # numerical gradient check only

Needs: numpy, scikit-learn, onnx, onnxruntime, safetensors.
"""

import argparse
import json
import os
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))

# Every source of randomness is one of these.
SPLIT_SEED = 0  # sklearn train_test_split(random_state=...)
TRAIN_SEED = 1234  # weight init, shuffling, augmentation
CALIB_SEED = 7  # which training samples go into calib.npy

EPOCHS = 40
BATCH = 32
LR = 3e-3  # Adam, cosine-decayed to 0 over training
WEIGHT_DECAY = 1e-4  # decoupled (AdamW-style), conv and fc weights only
BN_MOMENTUM = 0.1  # PyTorch convention: running = (1 - m) * running + m * batch
BN_EPS = 1e-5
N_CALIB = 128

# name, in channels, out channels, stride (all 3x3, pad 1, no bias, followed by BN)
CONVS = [
    ("conv1", 1, 16, 1),
    ("conv2", 16, 32, 2),
    ("conv3", 32, 32, 1),  # residual block, first conv
    ("conv4", 32, 32, 1),  # residual block, second conv
]
BN_OF = {"conv1": "bn1", "conv2": "bn2", "conv3": "bn3", "conv4": "bn4"}
N_CLASSES = 10


# --------------------------------------------------------------------------- data


def load_data():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32).reshape(-1, 1, 8, 8)
    y = digits.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.2, random_state=SPLIT_SEED, stratify=y)
    return (np.ascontiguousarray(x_tr), y_tr), (np.ascontiguousarray(x_te), y_te)


def random_shift(x, rng):
    """Shifts every image by a random -1, 0 or +1 pixel in each direction (zero fill)."""
    n, c, h, w = x.shape
    padded = np.zeros((n, c, h + 2, w + 2), dtype=x.dtype)
    padded[:, :, 1:-1, 1:-1] = x
    dy = rng.integers(0, 3, size=n)
    dx = rng.integers(0, 3, size=n)
    out = np.empty_like(x)
    for oy in range(3):
        for ox in range(3):
            sel = (dy == oy) & (dx == ox)
            out[sel] = padded[sel, :, oy : oy + h, ox : ox + w]
    return out


# --------------------------------------------------------------------------- layers
# All activations are NCHW. Each forward returns (output, cache); each backward takes the
# upstream gradient and the cache and returns the input gradient (and parameter gradients).


def im2col(x, k, stride, pad):
    """[N, C, H, W] -> columns [N*Ho*Wo, C*k*k], column order (c, ki, kj) like an OIHW weight."""
    n, c, h, w = x.shape
    ho = (h + 2 * pad - k) // stride + 1
    wo = (w + 2 * pad - k) // stride + 1
    xp = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    cols = np.empty((n, c, k * k, ho, wo), dtype=x.dtype)
    for ki in range(k):
        for kj in range(k):
            cols[:, :, ki * k + kj] = xp[:, :, ki : ki + stride * ho : stride, kj : kj + stride * wo : stride]
    # -> [N, Ho, Wo, C, k*k] -> [N*Ho*Wo, C*k*k]
    return cols.transpose(0, 3, 4, 1, 2).reshape(n * ho * wo, c * k * k), (ho, wo)


def col2im(dcols, x_shape, k, stride, pad, ho, wo):
    """Adjoint of im2col: scatters-and-adds column gradients back onto the input."""
    n, c, h, w = x_shape
    d = dcols.reshape(n, ho, wo, c, k * k).transpose(0, 3, 4, 1, 2)  # [N, C, k*k, Ho, Wo]
    dxp = np.zeros((n, c, h + 2 * pad, w + 2 * pad), dtype=dcols.dtype)
    for ki in range(k):
        for kj in range(k):
            dxp[:, :, ki : ki + stride * ho : stride, kj : kj + stride * wo : stride] += d[:, :, ki * k + kj]
    return dxp[:, :, pad : pad + h, pad : pad + w]


def conv_forward(x, w, stride, pad=1):
    o, c, k, _ = w.shape
    cols, (ho, wo) = im2col(x, k, stride, pad)
    out = cols @ w.reshape(o, c * k * k).T  # [N*Ho*Wo, O]
    out = out.reshape(x.shape[0], ho, wo, o).transpose(0, 3, 1, 2)
    return np.ascontiguousarray(out), (x.shape, cols, w, stride, pad, ho, wo)


def conv_backward(dout, cache):
    x_shape, cols, w, stride, pad, ho, wo = cache
    o, c, k, _ = w.shape
    d2 = dout.transpose(0, 2, 3, 1).reshape(-1, o)  # [N*Ho*Wo, O]
    dw = (d2.T @ cols).reshape(w.shape)
    dcols = d2 @ w.reshape(o, c * k * k)
    dx = col2im(dcols, x_shape, k, stride, pad, ho, wo)
    return dx, dw


def bn_forward(x, p, prefix, training):
    gamma, beta = p[prefix + ".weight"], p[prefix + ".bias"]
    if training:
        mean = x.mean(axis=(0, 2, 3))
        var = x.var(axis=(0, 2, 3))  # biased, used for normalisation
        m = x.size // x.shape[1]
        rm, rv = p[prefix + ".running_mean"], p[prefix + ".running_var"]
        rm *= 1.0 - BN_MOMENTUM
        rm += BN_MOMENTUM * mean
        rv *= 1.0 - BN_MOMENTUM
        rv += BN_MOMENTUM * var * (m / (m - 1))  # unbiased, as PyTorch stores it
    else:
        mean, var = p[prefix + ".running_mean"], p[prefix + ".running_var"]
    inv_std = 1.0 / np.sqrt(var + BN_EPS)
    xhat = (x - mean[None, :, None, None]) * inv_std[None, :, None, None]
    out = gamma[None, :, None, None] * xhat + beta[None, :, None, None]
    return out.astype(x.dtype, copy=False), (xhat, inv_std, gamma)


def bn_backward(dout, cache):
    """Backward of training-mode BN (batch statistics depend on x)."""
    xhat, inv_std, gamma = cache
    m = dout.size // dout.shape[1]
    dgamma = (dout * xhat).sum(axis=(0, 2, 3))
    dbeta = dout.sum(axis=(0, 2, 3))
    dxhat = dout * gamma[None, :, None, None]
    dx = (
        inv_std[None, :, None, None]
        / m
        * (
            m * dxhat
            - dxhat.sum(axis=(0, 2, 3))[None, :, None, None]
            - xhat * (dxhat * xhat).sum(axis=(0, 2, 3))[None, :, None, None]
        )
    )
    return dx, dgamma, dbeta


# --------------------------------------------------------------------------- model


def init_params(rng, dtype=np.float32):
    p = {}
    for name, cin, cout, _ in CONVS:
        fan_in = cin * 9
        p[name + ".weight"] = (rng.standard_normal((cout, cin, 3, 3)) * np.sqrt(2.0 / fan_in)).astype(dtype)
        bn = BN_OF[name]
        p[bn + ".weight"] = np.ones(cout, dtype)
        p[bn + ".bias"] = np.zeros(cout, dtype)
        p[bn + ".running_mean"] = np.zeros(cout, dtype)
        p[bn + ".running_var"] = np.ones(cout, dtype)
    # Zero-init the last BN scale of the residual branch: the block starts as identity.
    p["bn4.weight"][:] = 0.0
    bound = 1.0 / np.sqrt(32)
    p["fc.weight"] = rng.uniform(-bound, bound, (N_CLASSES, 32)).astype(dtype)
    p["fc.bias"] = np.zeros(N_CLASSES, dtype)
    return p


TRAINABLE = [n + ".weight" for n, *_ in CONVS] + [
    f"{BN_OF[n]}.{s}" for n, *_ in CONVS for s in ("weight", "bias")
] + ["fc.weight", "fc.bias"]
DECAYED = [n + ".weight" for n, *_ in CONVS] + ["fc.weight"]


def forward(p, x, training):
    """Returns logits [N, 10] and the caches the backward pass needs."""
    c = {}
    h = x
    for i, (name, _, _, stride) in enumerate(CONVS):
        if name == "conv3":
            c["block_in"] = h
        h, c[name] = conv_forward(h, p[name + ".weight"], stride)
        h, c[BN_OF[name]] = bn_forward(h, p, BN_OF[name], training)
        if name == "conv4":
            h = h + c["block_in"]  # Add
        c["relu" + str(i + 1)] = h > 0
        h = np.maximum(h, 0)  # Relu
    c["gap_shape"] = h.shape
    pooled = h.mean(axis=(2, 3))  # GlobalAveragePool + Flatten -> [N, 32]
    c["pooled"] = pooled
    logits = pooled @ p["fc.weight"].T + p["fc.bias"]  # Gemm, transB = 1
    return logits, c


def softmax_cross_entropy(logits, y):
    z = logits - logits.max(axis=1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    n = logits.shape[0]
    loss = -logp[np.arange(n), y].mean()
    dlogits = np.exp(logp)
    dlogits[np.arange(n), y] -= 1.0
    return loss, dlogits / n


def backward(p, c, dlogits):
    g = {}
    g["fc.weight"] = dlogits.T @ c["pooled"]
    g["fc.bias"] = dlogits.sum(axis=0)
    dpooled = dlogits @ p["fc.weight"]
    n, ch, hh, ww = c["gap_shape"]
    dh = np.broadcast_to(dpooled[:, :, None, None] / (hh * ww), (n, ch, hh, ww))
    d_block_in = None
    for i in reversed(range(len(CONVS))):
        name = CONVS[i][0]
        dh = dh * c["relu" + str(i + 1)]  # Relu
        if name == "conv4":
            d_block_in = dh  # the skip path of the Add
        bn = BN_OF[name]
        dh, g[bn + ".weight"], g[bn + ".bias"] = bn_backward(dh, c[bn])
        dh, g[name + ".weight"] = conv_backward(dh, c[name])
        if name == "conv3":
            dh = dh + d_block_in  # both paths meet at the block input
    return g, dh


# --------------------------------------------------------------------------- gradient check


def gradcheck():
    """Central differences vs the hand-written backward pass, float64, BN in training mode."""
    rng = np.random.default_rng(0)
    p = init_params(rng, np.float64)
    # Perturb the BN affine parameters so none of them sits at a special value (bn4.weight
    # starts at 0, which would hide every gradient flowing through the residual branch).
    for name, *_ in CONVS:
        bn = BN_OF[name]
        p[bn + ".weight"] = 1.0 + 0.3 * rng.standard_normal(p[bn + ".weight"].shape)
        p[bn + ".bias"] = 0.1 * rng.standard_normal(p[bn + ".bias"].shape)
    x = rng.random((4, 1, 8, 8))
    y = rng.integers(0, N_CLASSES, 4)

    def loss_of(params, xx):
        q = {k: v.copy() for k, v in params.items()}  # running stats must not leak between calls
        logits, _ = forward(q, xx, training=True)
        return softmax_cross_entropy(logits, y)[0]

    q = {k: v.copy() for k, v in p.items()}
    logits, cache = forward(q, x, training=True)
    _, dlogits = softmax_cross_entropy(logits, y)
    grads, dx = backward(q, cache, dlogits)
    grads["input"] = dx

    # Per tensor, on up to 40 random entries: relative error ||a - n|| / (||a|| + ||n||).
    eps = 1e-6
    worst = 0.0
    print(f"{'tensor':<16}{'checked':>8}{'max |grad|':>12}{'max |a - n|':>13}{'rel err':>11}")
    for name in TRAINABLE + ["input"]:
        target = x if name == "input" else p[name]
        flat = target.reshape(-1)
        idx = rng.choice(flat.size, size=min(flat.size, 40), replace=False)
        ana = grads[name].reshape(-1)[idx]
        num = np.empty_like(ana)
        for j, i in enumerate(idx):
            old = flat[i]
            flat[i] = old + eps
            lp = loss_of(p, x)
            flat[i] = old - eps
            lm = loss_of(p, x)
            flat[i] = old
            num[j] = (lp - lm) / (2 * eps)
        rel = np.linalg.norm(ana - num) / max(np.linalg.norm(ana) + np.linalg.norm(num), 1e-12)
        worst = max(worst, rel)
        print(f"{name:<16}{len(idx):>8}{np.abs(ana).max():>12.3e}{np.abs(ana - num).max():>13.3e}{rel:>11.2e}")
    ok = worst < 1e-6
    print(f"gradcheck {'PASSED' if ok else 'FAILED'}: worst relative error {worst:.2e} (threshold 1e-6)")
    return ok


# --------------------------------------------------------------------------- training


def train(x_tr, y_tr):
    rng = np.random.default_rng(TRAIN_SEED)
    p = init_params(rng)
    m = {k: np.zeros_like(p[k]) for k in TRAINABLE}
    v = {k: np.zeros_like(p[k]) for k in TRAINABLE}
    b1, b2, adam_eps = 0.9, 0.999, 1e-8
    n = x_tr.shape[0]
    steps_per_epoch = (n + BATCH - 1) // BATCH
    total = EPOCHS * steps_per_epoch
    step = 0
    for epoch in range(EPOCHS):
        order = rng.permutation(n)
        loss_sum = correct = 0.0
        for s in range(steps_per_epoch):
            idx = order[s * BATCH : (s + 1) * BATCH]
            if len(idx) < 2:  # BN needs more than one sample
                continue
            xb = random_shift(x_tr[idx], rng)
            logits, cache = forward(p, xb, training=True)
            loss, dlogits = softmax_cross_entropy(logits, y_tr[idx])
            grads, _ = backward(p, cache, dlogits)
            step += 1
            lr = LR * 0.5 * (1.0 + np.cos(np.pi * (step - 1) / total))
            for k in TRAINABLE:
                gk = grads[k].astype(np.float32)
                m[k] = b1 * m[k] + (1 - b1) * gk
                v[k] = b2 * v[k] + (1 - b2) * gk * gk
                mhat = m[k] / (1 - b1**step)
                vhat = v[k] / (1 - b2**step)
                if k in DECAYED:
                    p[k] -= (lr * WEIGHT_DECAY) * p[k]
                p[k] -= (lr * mhat / (np.sqrt(vhat) + adam_eps)).astype(np.float32)
            loss_sum += loss * len(idx)
            correct += (logits.argmax(axis=1) == y_tr[idx]).sum()
        if epoch % 5 == 4 or epoch == 0:
            print(f"epoch {epoch + 1:3d}  loss {loss_sum / n:.4f}  train acc (augmented) {correct / n:.4f}")
    return p


def predict(p, x):
    logits, _ = forward(p, x, training=False)
    return logits.astype(np.float32)


# --------------------------------------------------------------------------- export


def graph_nodes():
    """The inference graph as (name, op, inputs, outputs, attrs), shared by both exports."""
    conv_attrs = lambda stride: {  # noqa: E731
        "kernel_shape": [3, 3],
        "pads": [1, 1, 1, 1],
        "strides": [stride, stride],
        "group": 1,
    }
    nodes = []
    prev = "input"
    for i, (name, _, _, stride) in enumerate(CONVS):
        bn = BN_OF[name]
        if name == "conv3":
            block_in = prev
        nodes.append((name, "Conv", [prev, name + ".weight"], [name + "_out"], conv_attrs(stride)))
        bn_inputs = [name + "_out"] + [f"{bn}.{s}" for s in ("weight", "bias", "running_mean", "running_var")]
        nodes.append((bn, "BatchNormalization", bn_inputs, [bn + "_out"], {"epsilon": BN_EPS}))
        relu_in = bn + "_out"
        if name == "conv4":
            nodes.append(("add", "Add", [bn + "_out", block_in], ["add_out"], {}))
            relu_in = "add_out"
        nodes.append((f"relu{i + 1}", "Relu", [relu_in], [f"relu{i + 1}_out"], {}))
        prev = f"relu{i + 1}_out"
    nodes.append(("gap", "GlobalAveragePool", [prev], ["gap_out"], {}))
    nodes.append(("flatten", "Flatten", ["gap_out"], ["flatten_out"], {"axis": 1}))
    nodes.append(("fc", "Gemm", ["flatten_out", "fc.weight", "fc.bias"], ["logits"], {"transB": 1}))
    return nodes


def export_weights(p):
    """The PyTorch-style state_dict that both exports carry (float32, C order)."""
    keys = []
    for name, *_ in CONVS:
        bn = BN_OF[name]
        keys += [name + ".weight"] + [f"{bn}.{s}" for s in ("weight", "bias", "running_mean", "running_var")]
    keys += ["fc.weight", "fc.bias"]
    return {k: np.ascontiguousarray(p[k], dtype=np.float32) for k in keys}


def export_onnx(weights, path):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes = [helper.make_node(op, ins, outs, name=name, **attrs) for name, op, ins, outs, attrs in graph_nodes()]
    graph = helper.make_graph(
        nodes,
        "digits",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 1, 8, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, N_CLASSES])],
        initializer=[numpy_helper.from_array(a, name=k) for k, a in weights.items()],
    )
    model = helper.make_model(
        graph,
        producer_name="qforge-examples-digits",
        opset_imports=[helper.make_opsetid("", 13)],
    )
    model.ir_version = 7  # the IR version that opset 13 shipped with; readable by old runtimes
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, path)


def export_native(weights, json_path, st_path):
    from safetensors.numpy import save_file

    save_file(weights, st_path, metadata={"producer": "qforge examples/digits/train.py"})
    os.chmod(st_path, 0o644)  # safetensors creates the file 0600
    graph = {
        "qforge_graph": 1,
        "name": "digits",
        "weights": os.path.basename(st_path),
        "opset": 13,
        "inputs": [{"name": "input", "shape": [1, 1, 8, 8]}],
        "outputs": ["logits"],
        "nodes": [
            {"name": name, "op": op, "inputs": ins, "outputs": outs, "attrs": attrs}
            for name, op, ins, outs, attrs in graph_nodes()
        ],
    }
    # Pretty-printed, but one line per node and per input so the graph reads top to bottom.
    lines = ["{"]
    for key in ("qforge_graph", "name", "weights", "opset", "inputs", "outputs"):
        if key == "inputs":
            lines.append('  "inputs": [' + ", ".join(json.dumps(i) for i in graph["inputs"]) + "],")
        else:
            lines.append(f"  {json.dumps(key)}: {json.dumps(graph[key])},")
    lines.append('  "nodes": [')
    lines.append(",\n".join("    " + json.dumps(n) for n in graph["nodes"]))
    lines.append("  ]")
    lines.append("}")
    text = "\n".join(lines) + "\n"
    assert json.loads(text) == graph
    with open(json_path, "w") as f:
        f.write(text)


def onnxruntime_logits(model, x):
    """Runs an ONNX model (path or serialized bytes) one sample at a time (its batch is 1)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
    return np.concatenate([sess.run(["logits"], {"input": x[i : i + 1]})[0] for i in range(x.shape[0])])


def native_as_onnx(json_path):
    """Reads digits.json + digits.safetensors back from disk and rebuilds an ONNX model from
    them alone, so the native files can be run by onnxruntime and compared to digits.onnx."""
    from onnx import TensorProto, helper, numpy_helper
    from safetensors.numpy import load_file

    with open(json_path) as f:
        g = json.load(f)
    assert g["qforge_graph"] == 1
    weights = load_file(os.path.join(os.path.dirname(json_path), g["weights"]))
    produced = {i["name"] for i in g["inputs"]} | {o for n in g["nodes"] for o in n["outputs"]}
    used = {i for n in g["nodes"] for i in n["inputs"]}
    assert used - produced == set(weights), "weights referenced by the graph != safetensors keys"
    for a in weights.values():
        assert a.dtype == np.float32
    nodes = [helper.make_node(n["op"], n["inputs"], n["outputs"], name=n["name"], **n["attrs"]) for n in g["nodes"]]
    inputs = [helper.make_tensor_value_info(i["name"], TensorProto.FLOAT, i["shape"]) for i in g["inputs"]]
    outputs = [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in g["outputs"]]
    inits = [numpy_helper.from_array(a, name=k) for k, a in weights.items()]
    model = helper.make_model(
        helper.make_graph(nodes, g["name"], inputs, outputs, initializer=inits),
        opset_imports=[helper.make_opsetid("", g["opset"])],
    )
    model.ir_version = 7
    return model.SerializeToString()


# --------------------------------------------------------------------------- main


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--gradcheck", action="store_true", help="run the numerical gradient check and exit")
    args = ap.parse_args()
    if args.gradcheck:
        sys.exit(0 if gradcheck() else 1)

    (x_tr, y_tr), (x_te, y_te) = load_data()
    print(f"digits: {len(x_tr)} train, {len(x_te)} held-out test")

    t0 = time.perf_counter()
    p = train(x_tr, y_tr)
    train_s = time.perf_counter() - t0
    print(f"training took {train_s:.1f} s")

    np_logits = predict(p, x_te)
    np_acc = float((np_logits.argmax(axis=1) == y_te).mean())
    print(f"numpy fp32 held-out accuracy: {np_acc:.4f}")

    weights = export_weights(p)
    onnx_path = os.path.join(HERE, "digits.onnx")
    json_path = os.path.join(HERE, "digits.json")
    st_path = os.path.join(HERE, "digits.safetensors")
    export_onnx(weights, onnx_path)
    export_native(weights, json_path, st_path)

    ort_logits = onnxruntime_logits(onnx_path, x_te)
    ort_pred = ort_logits.argmax(axis=1)
    ort_acc = float((ort_pred == y_te).mean())
    max_diff = float(np.abs(ort_logits - np_logits).max())
    print(f"onnxruntime fp32 held-out accuracy: {ort_acc:.4f}  (max |logit diff| vs numpy {max_diff:.2e})")
    assert max_diff < 1e-4, f"onnxruntime and numpy logits differ by {max_diff}"
    assert ort_acc == np_acc, "onnxruntime and numpy accuracies differ"
    assert np.array_equal(ort_pred, np_logits.argmax(axis=1)), "onnxruntime and numpy predictions differ"
    native_logits = onnxruntime_logits(native_as_onnx(json_path), x_te)
    assert np.array_equal(native_logits, ort_logits), "digits.json + digits.safetensors differ from digits.onnx"
    print("digits.json + digits.safetensors, read back and run by onnxruntime: logits identical to digits.onnx")

    calib_idx = np.sort(np.random.default_rng(CALIB_SEED).choice(len(x_tr), size=N_CALIB, replace=False))
    np.save(os.path.join(HERE, "calib.npy"), np.ascontiguousarray(x_tr[calib_idx], dtype=np.float32))
    np.save(os.path.join(HERE, "test_x.npy"), np.ascontiguousarray(x_te, dtype=np.float32))
    np.save(os.path.join(HERE, "test_y.npy"), np.ascontiguousarray(y_te, dtype=np.int64))

    with open(os.path.join(HERE, "fp32_reference.txt"), "w") as f:
        f.write("# Written by examples/digits/train.py\n")
        f.write(f"fp32_accuracy_onnxruntime = {ort_acc:.6f}\n")
        f.write(f"correct = {int((ort_pred == y_te).sum())}\n")
        f.write(f"samples = {len(y_te)}\n")
        f.write(f"split = sklearn train_test_split(test_size=0.2, random_state={SPLIT_SEED}, stratify=y)\n")
        f.write(f"train_seed = {TRAIN_SEED}\n")
        f.write(f"calib_seed = {CALIB_SEED}\n")
        f.write(f"calib_samples = {N_CALIB}\n")
    print("wrote digits.onnx, digits.json, digits.safetensors, calib.npy, test_x.npy, test_y.npy, fp32_reference.txt")


if __name__ == "__main__":
    main()
