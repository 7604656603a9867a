#!/usr/bin/env bash
# The digits model as a no_std Cortex-M4F program (examples/cortex-m): compiled by qforge,
# built for thumbv7em-none-eabihf without an allocator, run under qemu-system-arm on the
# MPS2 AN386 board, and compared byte for byte with the same program on the host.
#
# Installs what it needs (idempotent; Debian/Ubuntu with rustup, run as root or with sudo):
#   qemu-system-arm, and the rustup target thumbv7em-none-eabihf.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never
t0=$SECONDS

printf '\n== toolchain: qemu-system-arm, rustup target thumbv7em-none-eabihf\n'
if ! dpkg-query -W -f='${Status}' qemu-system-arm 2>/dev/null | grep -q 'install ok installed'; then
    sudo=()
    if [ "$(id -u)" -ne 0 ]; then sudo=(sudo); fi
    echo "installing: qemu-system-arm"
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends qemu-system-arm >/dev/null
fi
rustup target add thumbv7em-none-eabihf
qemu-system-arm --version | head -n 1

printf '\n== examples/cortex-m: digits on a Cortex-M4F (qemu-system-arm) vs the host\n'
bash examples/cortex-m/run.sh
echo "total $((SECONDS - t0))s"
