#!/usr/bin/env bash
# The digits model on a Cortex-M4F under QEMU, checked against the host:
#   1. `qforge compile` writes the digits crate into model/ (what Cargo.toml depends on);
#   2. this crate is built for thumbv7em-none-eabihf (no_std, no allocator) and run on the
#      emulated MPS2 AN386 board (qemu-system-arm, semihosting for output and exit);
#   3. the same source, built for the host, prints the same lines, and they must be equal.
# Needs: rustup target thumbv7em-none-eabihf, qemu-system-arm (see .ci/cortex-m.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
export CARGO_TERM_COLOR=never

(cd "$root" && cargo build --release --quiet -p qforge)
# The budgets of a small part (32 KiB of RAM for the arena, 128 KiB of flash for the
# weights): the compile fails, naming the layer, if the model does not fit.
"$root/target/release/qforge" compile "$root/examples/digits/digits.onnx" \
    --calib "$root/examples/digits/calib.npy" -o "$here/model" --name digits_int8 --force \
    --max-ram 32K --max-flash 128K | grep -E '^(RAM|peak|flash):'
echo "compiled the digits model into examples/cortex-m/model"

cd "$here"
cargo build --release --quiet --target thumbv7em-none-eabihf
elf=target/thumbv7em-none-eabihf/release/digits-cortex-m
echo "built examples/cortex-m/$elf"

host=$(cargo run --release --quiet)
device=$(timeout 300 cargo run --release --quiet --target thumbv7em-none-eabihf)
echo "$device"
if [ "$host" != "$device" ]; then
    echo "Cortex-M output DIFFERS from the host run:" >&2
    diff <(echo "$host") <(echo "$device") >&2 || true
    exit 1
fi
echo "Cortex-M4 (qemu-system-arm, mps2-an386) output equals the host run: $(grep -c '^image' <<<"$device") images, byte for byte"
# The same binary on a Cortex-M7 board (MPS2 AN500, which also has the memory.x regions).
m7=$(timeout 300 qemu-system-arm -cpu cortex-m7 -machine mps2-an500 -nographic \
    -semihosting-config enable=on,target=native -kernel "$elf")
if [ "$host" != "$m7" ]; then
    echo "Cortex-M7 output DIFFERS from the host run" >&2
    exit 1
fi
echo "Cortex-M7 (qemu-system-arm, mps2-an500) output equals the host run"
