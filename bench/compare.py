#!/usr/bin/env python3
"""Times ONNX Runtime on the same model qforge benchmarks, so a reader sees the ratio.

fp32, and int8 through ONNX Runtime's own static quantization (quant_pre_process, which
folds BatchNorm into the convs, then quantize_static, QDQ, per-channel weights) with int8
and with uint8 activations, calibrated on the same data.
Needs only `pip install onnxruntime onnx numpy`.

    python3 bench/compare.py model.onnx calib.npy [--threads 1] [--iterations 50]
"""
import argparse
import os
import statistics
import sys
import tempfile
import time

import numpy as np
import onnxruntime as ort
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.shape_inference import quant_pre_process


class Reader(CalibrationDataReader):
    def __init__(self, name, samples):
        self.items = iter([{name: s[None]} for s in samples])

    def get_next(self):
        return next(self.items, None)


def quantize_int8(pre, out, name, calib, activations):
    """ONNX Runtime's own static quantization of the pre-processed model `pre` into `out`:
    QDQ, per-channel int8 weights, `activations` (QuantType.QInt8 or QUInt8), calibrated on
    `calib` fed as input `name`."""
    quantize_static(pre, out, Reader(name, calib), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=activations, weight_type=QuantType.QInt8)


def session(path, threads):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])


def time_model(path, feed, threads, iterations):
    s = session(path, threads)
    for _ in range(max(3, iterations // 10)):
        s.run(None, feed)
    times = []
    for _ in range(iterations):
        t = time.perf_counter()
        s.run(None, feed)
        times.append(time.perf_counter() - t)
    times.sort()
    return statistics.median(times) * 1e3, times[0] * 1e3, times[int(0.9 * (len(times) - 1))] * 1e3


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("calib")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--iterations", type=int, default=50)
    ap.add_argument("--calib-samples", type=int, default=32)
    a = ap.parse_args()

    calib = np.load(a.calib).astype(np.float32)[: a.calib_samples]
    name = session(a.model, 1).get_inputs()[0].name
    feed = {name: calib[:1]}
    rows = [("onnxruntime fp32", *time_model(a.model, feed, a.threads, a.iterations))]
    with tempfile.TemporaryDirectory() as tmp:
        # ONNX Runtime's recommended first step: shape inference and graph optimisation
        # (BatchNorm folded into Conv), so the quantized graph has no float islands.
        pre = os.path.join(tmp, "pre.onnx")
        quant_pre_process(a.model, pre)
        for label, act in [("int8 s8s8 QDQ", QuantType.QInt8), ("int8 u8s8 QDQ", QuantType.QUInt8)]:
            out = os.path.join(tmp, f"q_{label.split()[1]}.onnx")
            quantize_int8(pre, out, name, calib, act)
            rows.append((f"onnxruntime {label}", *time_model(out, feed, a.threads, a.iterations)))
    print(f"onnxruntime {ort.__version__}, {a.threads} thread(s), {a.iterations} runs, model {os.path.basename(a.model)}")
    print(f"{'configuration':<28} {'median ms':>10} {'min ms':>9} {'p90 ms':>9}")
    for label, med, lo, p90 in rows:
        print(f"{label:<28} {med:>10.3f} {lo:>9.3f} {p90:>9.3f}")


if __name__ == "__main__":
    sys.exit(main())
