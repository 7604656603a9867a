#!/usr/bin/env bash
# The digits model for a Raspberry Pi, without one: qforge writes the crate, its run_npy
# example is cross-compiled for aarch64 (64-bit Pi OS) and armv7 (32-bit Pi OS) and run under
# qemu-user on the 360 test images; both outputs must equal the x86-64 run byte for byte, and
# the x86-64 run must equal the compiler's simulator (`qforge eval --crate-output`).
# Needs: rustup targets aarch64-unknown-linux-gnu armv7-unknown-linux-gnueabihf; Debian's
# gcc-aarch64-linux-gnu libc6-dev-arm64-cross gcc-arm-linux-gnueabihf libc6-dev-armhf-cross
# qemu-user (what .ci/arm.sh installs).
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
work="$root/target/raspberry-pi"
crate="$work/digits_int8"
digits="$root/examples/digits"
export CARGO_TERM_COLOR=never
# The linkers, spelled out so the commands also work on a crate copied out of this repository.
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CARGO_TARGET_ARMV7_UNKNOWN_LINUX_GNUEABIHF_LINKER=arm-linux-gnueabihf-gcc

(cd "$root" && cargo build --release --quiet -p qforge)
qforge="$root/target/release/qforge"
mkdir -p "$work"
"$qforge" compile "$digits/digits.onnx" --calib "$digits/calib.npy" -o "$crate" --force >/dev/null
cd "$crate"
for target in "" aarch64-unknown-linux-gnu armv7-unknown-linux-gnueabihf; do
    cargo build --release --quiet --example run_npy ${target:+--target "$target"}
done
target/release/examples/run_npy "$digits/test_x.npy" "$work/x86_64.npy" 2>/dev/null
"$qforge" eval "$digits/digits.onnx" --calib "$digits/calib.npy" --data "$digits/test_x.npy" \
    --crate-output "$work/x86_64.npy" | grep 'emitted crate'
qemu-aarch64 -L /usr/aarch64-linux-gnu target/aarch64-unknown-linux-gnu/release/examples/run_npy \
    "$digits/test_x.npy" "$work/aarch64.npy" 2>/dev/null
qemu-arm -L /usr/arm-linux-gnueabihf target/armv7-unknown-linux-gnueabihf/release/examples/run_npy \
    "$digits/test_x.npy" "$work/armv7.npy" 2>/dev/null
for arch in aarch64 armv7; do
    if cmp -s "$work/x86_64.npy" "$work/$arch.npy"; then
        echo "$arch (qemu-user): output bytes equal the x86-64 run"
    else
        echo "$arch (qemu-user): output DIFFERS from the x86-64 run" >&2
        exit 1
    fi
done
