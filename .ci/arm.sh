#!/usr/bin/env bash
# CI for Arm without Arm hardware: cross-compiles qrt's tests for aarch64 and armv7 and runs
# them under qemu-user, once per emulated core, so every kernel backend is compared with the
# scalar twin byte for byte. Speed cannot be measured this way; exactness can.
#
# Installs what it needs (idempotent; Debian/Ubuntu with rustup, run as root or with sudo):
#   qemu-user, gcc-aarch64-linux-gnu, libc6-dev-arm64-cross, gcc-arm-linux-gnueabihf,
#   libc6-dev-armhf-cross, and the rustup targets aarch64-unknown-linux-gnu and
#   armv7-unknown-linux-gnueabihf. Linkers and qemu runners are set in .cargo/config.toml.
#
# Runs:
#   aarch64, QEMU_CPU=cortex-a72 (NEON, no dot product), default features: backends from
#       compile-time target features (scalar, neon)
#   aarch64, QEMU_CPU=cortex-a72, --features std: run-time detection (scalar, neon)
#   aarch64, QEMU_CPU=max (NEON with dot product), --features std: (scalar, neon, dotprod)
#   armv7,   QEMU_CPU=cortex-a15: scalar paths
# Each run sets QRT_EXPECT_BACKENDS, and tests/arm_backends.rs fails when the backends the
# emulated CPU offers differ from it, so a run cannot silently skip a kernel.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

step() { printf '\n== %s\n' "$*"; }
elapsed() { printf '(%ds)\n' "$((SECONDS - $1))"; }

step "toolchain: cross linkers, qemu-user, rustup targets"
t0=$SECONDS
packages=(qemu-user gcc-aarch64-linux-gnu libc6-dev-arm64-cross gcc-arm-linux-gnueabihf libc6-dev-armhf-cross)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
    sudo=()
    if [ "$(id -u)" -ne 0 ]; then sudo=(sudo); fi
    echo "installing: ${missing[*]}"
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
    echo "apt packages already installed"
fi
rustup target add aarch64-unknown-linux-gnu armv7-unknown-linux-gnueabihf
qemu-aarch64 --version | head -n 1
aarch64-linux-gnu-gcc --version | head -n 1
arm-linux-gnueabihf-gcc --version | head -n 1
elapsed "$t0"

summary=()

# run <label> <target> <QEMU_CPU> <QRT_EXPECT_BACKENDS> [cargo args...]
run() {
    local label=$1 target=$2 cpu=$3 expect=$4
    shift 4
    step "$label: cargo test -p qrt-core --release --target $target $* (QEMU_CPU=$cpu)"
    local t=$SECONDS log
    log=$(mktemp)
    if ! QEMU_CPU=$cpu QRT_EXPECT_BACKENDS=$expect \
        cargo test -p qrt-core --release --target "$target" "$@" -- --nocapture >"$log" 2>&1; then
        cat "$log"
        echo "FAILED: $label"
        rm -f "$log"
        exit 1
    fi
    local tests backends
    tests=$(awk '/^test result: ok\./ { n += $4 } END { print n + 0 }' "$log")
    backends=$(sed -n 's/^backends available: //p' "$log" | head -n 1)
    grep -E '^(backends available|gemm backends tested|[a-z_0-9:]+: [0-9]+ cases, each on)' "$log" || true
    echo "$tests tests passed $(elapsed "$t")"
    summary+=("$label (QEMU_CPU=$cpu): $tests tests passed; backends: $backends")
    rm -f "$log"
}

run "aarch64, no std" aarch64-unknown-linux-gnu cortex-a72 neon
run "aarch64, std" aarch64-unknown-linux-gnu cortex-a72 neon --features std
run "aarch64 dotprod, std" aarch64-unknown-linux-gnu max neon,dotprod --features std
run "armv7" armv7-unknown-linux-gnueabihf cortex-a15 ""

step "summary"
printf '%s\n' "${summary[@]}"
echo "total $((SECONDS))s"
