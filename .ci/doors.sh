#!/usr/bin/env bash
# The build-time doors: builds and runs examples/macro (qrt::quantize_model!) and
# examples/build-rs (qforge::Builder) on the digits test split, and checks that each one's
# int8 accuracy equals the compiler's, and its outputs equal the compiler's simulator byte
# for byte (qforge eval --crate-output). Then builds examples/macro-no-std, a #![no_std]
# library using the macro, for Cortex-M (thumbv7em-none-eabihf; the rustup target is
# installed here if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
here=examples/digits
work=target/doors
mkdir -p "$work"

step() { printf '\n== %s\n' "$*"; }

step "qforge CLI"
cargo build --release --quiet -p qforge
qforge=target/release/qforge

step "the compiler's figures (simulator) for the digits test split"
"$qforge" eval "$here/digits.onnx" --calib "$here/calib.npy" --data "$here/test_x.npy" \
    --labels "$here/test_y.npy" | tee "$work/eval.txt"
want=$(sed -n 's/.*int8 \([0-9.]*\)%.*/\1/p' "$work/eval.txt" | head -1)
[ -n "$want" ] || { echo "could not read the int8 top-1 from qforge eval"; exit 1; }

for example in macro build-rs; do
    step "examples/$example"
    cargo run --release --quiet -p "qforge-example-$example" -- "$here/test_x.npy" "$here/test_y.npy" \
        "$work/$example.npy" | tee "$work/$example.txt"
    got=$(sed -n 's/^int8 top-1: [0-9]*\/[0-9]* (\([0-9.]*\)%)$/\1/p' "$work/$example.txt")
    if [ "$got" != "$want" ]; then
        echo "examples/$example: int8 top-1 $got%, the compiler says $want%"
        exit 1
    fi
    echo "int8 top-1 $got% == the compiler's $want%"
    "$qforge" eval "$here/digits.onnx" --calib "$here/calib.npy" --data "$here/test_x.npy" \
        --crate-output "$work/$example.npy" | grep 'byte-identical'
done

step "examples/macro-no-std: the macro in a #![no_std] library, built for thumbv7em-none-eabihf"
rustup target add thumbv7em-none-eabihf
cargo build --release --quiet -p qforge-example-macro-no-std --target thumbv7em-none-eabihf
echo "built target/thumbv7em-none-eabihf/release/libqforge_example_macro_no_std.rlib"
echo "ok (the macro's diagnostics and the no_std library's host test run with cargo test --workspace)"
