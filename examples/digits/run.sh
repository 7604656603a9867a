#!/usr/bin/env bash
# The README's main job: compile the bundled digits CNN to an int8 crate with the qforge
# CLI, build and run that crate on the held-out test split, and compare it with fp32.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
here="$root/examples/digits"
work="$root/target/digits-demo"
mkdir -p "$work"

echo "== building qforge"
cargo build --release --quiet --manifest-path "$root/Cargo.toml" -p qforge
qforge="$root/target/release/qforge"

echo "== qforge compile digits.onnx --calib calib.npy -o digits-int8"
"$qforge" compile "$here/digits.onnx" --calib "$here/calib.npy" -o "$work/digits-int8" --force

echo "== building the emitted crate and running it on the test split"
(cd "$work/digits-int8" && CARGO_TARGET_DIR="$work/target" cargo run --release --quiet --offline \
    --example run_npy -- "$here/test_x.npy" "$work/int8_out.npy")

echo "== fp32 vs int8 on the held-out split (int8 = the emitted crate's outputs)"
"$qforge" eval "$here/digits.onnx" --calib "$here/calib.npy" --data "$here/test_x.npy" \
    --labels "$here/test_y.npy" --crate-output "$work/int8_out.npy"
