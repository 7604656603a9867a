#!/usr/bin/env bash
# Emitted model crates on Arm, under qemu-user: the digits model and a MobileNetV2 at 64x64
# are compiled by qforge, built for aarch64 and run with the NEON kernels
# (QEMU_CPU=cortex-a72) and the dot-product kernels (QEMU_CPU=max), and built for armv7
# (32-bit Raspberry Pi OS; armv7-unknown-linux-gnueabihf, scalar kernels) and run with
# QEMU_CPU=cortex-a15; their outputs must equal the x86-64 run byte for byte. Needs what
# .ci/arm.sh installs (linkers and runners are set in .cargo/config.toml).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
work="$root/target/arm-models"
mkdir -p "$work"
export CARGO_TERM_COLOR=never

cargo build --release --quiet -p qforge -p qforge-tests
bin="$root/target/release"

run_model() { # name model.onnx calib.npy test.npy
    local name=$1 model=$2 calib=$3 test=$4
    local crate="$work/$name"
    echo "== $name"
    "$bin/qforge" compile "$model" --calib "$calib" -o "$crate" --force >/dev/null
    (cd "$crate" && CARGO_TARGET_DIR="$work/target" cargo build --release --offline --quiet --example run_npy)
    (cd "$crate" && CARGO_TARGET_DIR="$work/target" cargo build --release --offline --quiet --example run_npy \
        --target aarch64-unknown-linux-gnu)
    (cd "$crate" && CARGO_TARGET_DIR="$work/target" cargo build --release --offline --quiet --example run_npy \
        --target armv7-unknown-linux-gnueabihf)
    "$work/target/release/examples/run_npy" "$test" "$work/$name.x86.npy" 2>/dev/null
    local arm="$work/target/aarch64-unknown-linux-gnu/release/examples/run_npy"
    for cpu in cortex-a72 max; do
        for backend in "" neon dotprod scalar; do
            [ "$cpu" = cortex-a72 ] && [ "$backend" = dotprod ] && continue
            QEMU_CPU=$cpu QRT_BACKEND=$backend qemu-aarch64 -L /usr/aarch64-linux-gnu "$arm" "$test" "$work/$name.arm.npy" \
                2>"$work/$name.arm.log"
            # A forced backend the CPU lacks would silently run another: check the one that ran.
            local ran
            ran=$(sed -n 's/.* samples on \([a-z0-9]*\),.*/\1/p' "$work/$name.arm.log")
            if [ -n "$backend" ] && [ "$ran" != "$backend" ]; then
                echo "aarch64 QEMU_CPU=$cpu QRT_BACKEND=$backend ran backend '$ran'" >&2
                exit 1
            fi
            if cmp -s "$work/$name.x86.npy" "$work/$name.arm.npy"; then
                echo "aarch64 QEMU_CPU=$cpu QRT_BACKEND=${backend:-auto} (ran $ran): output bytes equal the x86-64 run"
            else
                echo "aarch64 QEMU_CPU=$cpu QRT_BACKEND=${backend:-auto}: output DIFFERS from the x86-64 run" >&2
                exit 1
            fi
        done
    done
    local armv7="$work/target/armv7-unknown-linux-gnueabihf/release/examples/run_npy"
    QEMU_CPU=cortex-a15 qemu-arm -L /usr/arm-linux-gnueabihf "$armv7" "$test" "$work/$name.armv7.npy" 2>/dev/null
    if cmp -s "$work/$name.x86.npy" "$work/$name.armv7.npy"; then
        echo "armv7 QEMU_CPU=cortex-a15: output bytes equal the x86-64 run"
    else
        echo "armv7 QEMU_CPU=cortex-a15: output DIFFERS from the x86-64 run" >&2
        exit 1
    fi
}

run_model digits examples/digits/digits.onnx examples/digits/calib.npy examples/digits/test_x.npy
"$bin/make_model" mobilenet_v2 "$work/mbv2_64.onnx" --size 64 --classes 10 >/dev/null
"$bin/make_data" "$work/mbv2_calib.npy" --shape 1,3,64,64 --count 8 --seed 1 >/dev/null
"$bin/make_data" "$work/mbv2_test.npy" --shape 1,3,64,64 --count 20 --seed 2 >/dev/null
run_model mobilenet_v2_64 "$work/mbv2_64.onnx" "$work/mbv2_calib.npy" "$work/mbv2_test.npy"
