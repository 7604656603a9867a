#!/usr/bin/env python3
"""Times qforge's emitted crate and ONNX Runtime side by side, round after round.

Each round times ONNX Runtime's fastest int8 configuration (its own quant_pre_process and
quantize_static: QDQ, per-channel int8 weights, uint8 activations, calibrated on the same
samples), then the crate on one thread (`bench ITER 1`), then two threads against one in
paired blocks (`bench ITER 2 1`, which also times the cores' own speed-up in the same
blocks). On a shared machine whose speed drifts, only figures from the same round compare.

    cargo build --release -p qforge
    target/release/qforge compile model.onnx --stats stats.json -o mynet/
    (cd mynet && cargo build --release --example bench)
    python3 bench/rounds.py model.onnx calib.npy mynet/target/release/examples/bench [--rounds 8]

Needs `pip install onnxruntime onnx numpy`. Prints one line per round and the medians.
"""
import argparse
import os
import statistics
import subprocess
import sys
import tempfile

import numpy as np
from onnxruntime.quantization import QuantType
from onnxruntime.quantization.shape_inference import quant_pre_process

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import quantize_int8, session, time_model  # noqa: E402


def crate(binary, *args):
    """The `run` median (ms) and the `paired` and `machine` medians of one bench call."""
    out = subprocess.run([binary, *map(str, args)], check=True, capture_output=True, text=True).stdout
    lines = {l.split()[0]: l.split()[1:] for l in out.splitlines() if l.strip()}
    run = int(lines["run"][0]) / 1e6
    paired = float(lines["paired"][2]) if "paired" in lines else None
    machine = float(lines["machine"][2]) if "machine" in lines else None
    return run, paired, machine


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model")
    ap.add_argument("calib")
    ap.add_argument("bench", help="the emitted crate's bench example binary")
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--iterations", type=int, default=200, help="runs per qforge measurement")
    ap.add_argument("--ort-iterations", type=int, default=50)
    ap.add_argument("--calib-samples", type=int, default=8)
    a = ap.parse_args()

    calib = np.load(a.calib).astype(np.float32)[: a.calib_samples]
    name = session(a.model, 1).get_inputs()[0].name
    feed = {name: calib[:1]}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        pre, q = os.path.join(tmp, "pre.onnx"), os.path.join(tmp, "u8s8.onnx")
        quant_pre_process(a.model, pre)
        quantize_int8(pre, q, name, calib, QuantType.QUInt8)
        print(f"{'round':>5} {'ORT u8s8 ms':>12} {'qforge ms':>10} {'ratio':>6} {'2 threads/1':>12} {'cores':>6}")
        for r in range(a.rounds):
            ort_ms = time_model(q, feed, 1, a.ort_iterations)[0]
            one, _, _ = crate(a.bench, a.iterations, 1)
            _, paired, machine = crate(a.bench, a.iterations, 2, 1)
            rows.append((ort_ms, one, paired, machine))
            print(f"{r + 1:>5} {ort_ms:>12.3f} {one:>10.3f} {one / ort_ms:>6.2f} {paired:>12.2f} {machine:>6.2f}", flush=True)
    med = [statistics.median(c) for c in zip(*rows)]
    print(f"{'median':>5} {med[0]:>12.3f} {med[1]:>10.3f} {med[1] / med[0]:>6.2f} {med[2]:>12.2f} {med[3]:>6.2f}")
    print(f"rounds with two threads at 1.7x or more: {sum(1 for r in rows if r[2] >= 1.7)} of {len(rows)}")


if __name__ == "__main__":
    sys.exit(main())
