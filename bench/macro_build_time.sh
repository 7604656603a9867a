#!/usr/bin/env bash
# How long the build-time doors make a user crate's build: `cargo build` of a throwaway
# crate that compiles a model with `qrt::quantize_model!`, and of one that uses
# `qforge::Builder` in build.rs (`--door` picks one), in each situation a user meets:
#
#   baseline      the same crate with a hand-written stub module instead of the model
#   cold cache    `cargo clean -p` of the crate and an empty compile cache: the compiler runs
#   warm cache    `cargo clean -p` of the crate only: the compile cache answers
#   nothing       nothing changed
#   touched       the model file touched, same bytes (a cache hit)
#   edited        one bit of a weight in the model flipped (a cache miss)
#
# Each figure is the median wall-clock time of N builds (default 3), with the fastest and
# slowest. Nothing here is a test: run it on a quiet machine and compare within one run.
#
# usage: bench/macro_build_time.sh [--model M.onnx --stats S.json] [--runs N]
#            [--door macro|build-rs|both] [--debug] [--no-build-override] [--work DIR]
#
# Without --model, it makes MobileNetV2 at 224x224 (1000 classes) with the repository's
# `make_model`, 8 random calibration images with `make_data`, and their statistics with
# `qforge calibrate` (kept in the work folder, default target/bench-build-time, for the next
# run). The crates depend on this checkout by `path`; they have `[profile.*.build-override]
# opt-level = 2` as docs/embedding.md advises, unless --no-build-override.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
export CARGO_TERM_COLOR=never
unset QFORGE_CACHE_DIR CARGO_TARGET_DIR CARGO_BUILD_TARGET_DIR

usage() {
    echo "usage: bench/macro_build_time.sh [--model M.onnx --stats S.json] [--runs N]" >&2
    echo "           [--door macro|build-rs|both] [--debug] [--no-build-override] [--work DIR]" >&2
    exit 2
}

model="" stats="" runs=3 door=both profile=release override=1 work="$root/target/bench-build-time"
while [ $# -gt 0 ]; do
    case "$1" in
        --model) model=${2:?--model needs a file}; shift 2 ;;
        --stats) stats=${2:?--stats needs a file}; shift 2 ;;
        --runs) runs=${2:?--runs needs a number}; shift 2 ;;
        --door) door=${2:?--door needs macro, build-rs or both}; shift 2 ;;
        --debug) profile=dev; shift ;;
        --no-build-override) override=0; shift ;;
        --work) work=${2:?--work needs a folder}; shift 2 ;;
        -h | --help) usage ;;
        *) echo "unknown argument: $1" >&2; usage ;;
    esac
done
case "$runs" in '' | *[!0-9]* | 0) echo "--runs: expected a positive integer, got '$runs'" >&2; exit 2 ;; esac
case "$door" in macro) doors=(macro) ;; build-rs) doors=(build-rs) ;; both) doors=(macro build-rs) ;;
    *) echo "--door: expected macro, build-rs or both, got '$door'" >&2; exit 2 ;; esac
if { [ -n "$model" ] && [ -z "$stats" ]; } || { [ -z "$model" ] && [ -n "$stats" ]; }; then
    echo "give both --model and --stats, or neither (for MobileNetV2)" >&2
    exit 2
fi
for f in "$model" "$stats"; do
    if [ -n "$f" ] && [ ! -f "$f" ]; then echo "$f: file not found" >&2; exit 2; fi
done
mkdir -p "$work"
work=$(cd "$work" && pwd)
build_flag=()
[ "$profile" = release ] && build_flag=(--release)

echo "== qforge and the model tools (release)"
(cd "$root" && cargo build --release --quiet -p qforge -p qforge-tests --bins)
qforge="$root/target/release/qforge"
if [ -z "$model" ]; then
    model="$work/mbv2.onnx" stats="$work/mbv2.stats.json"
    if [ ! -f "$model" ] || [ ! -f "$stats" ]; then
        "$root/target/release/make_model" mobilenet_v2 "$model" --size 224 --classes 1000
        "$root/target/release/make_data" "$work/calib.npy" --shape 1,3,224,224 --count 8 --seed 1
        "$qforge" calibrate "$model" --calib "$work/calib.npy" -o "$stats" >/dev/null
    fi
fi
# The model must compile with these statistics before anything is timed.
if ! "$qforge" compile "$model" --stats "$stats" -o "$work/check" --force >"$work/check.log" 2>&1; then
    cat "$work/check.log" >&2
    exit 1
fi

# Writes the user crate for door $1 into folder $2, with the model and statistics copied in.
make_crate() {
    local kind=$1 dir=$2
    rm -rf "$dir"
    mkdir -p "$dir/src"
    cp "$model" "$dir/model.onnx"
    cp "$stats" "$dir/stats.json"
    {
        printf '[package]\nname = "buildtime-%s"\nversion = "0.1.0"\nedition = "2021"\npublish = false\n\n' "$kind"
        if [ "$kind" = macro ]; then
            printf '[dependencies]\nqrt = { path = "%s/qrt-facade", features = ["std", "macros"] }\n\n' "$root"
        else
            printf '[dependencies]\nqrt = { path = "%s/qrt-facade", features = ["std"] }\n\n' "$root"
            printf '[build-dependencies]\nqforge = { path = "%s/compiler" }\n\n' "$root"
        fi
        if [ "$override" = 1 ]; then
            printf '[profile.release.build-override]\nopt-level = 2\n[profile.dev.build-override]\nopt-level = 2\n\n'
        fi
        printf '[workspace]\n'
    } >"$dir/Cargo.toml"
    if [ "$kind" = build-rs ]; then
        cat >"$dir/build.rs" <<'EOF'
fn main() -> Result<(), qforge::embed::BuildError> {
    qforge::Builder::new("model.onnx").stats("stats.json").module_name("net").build_to_out_dir()?;
    Ok(())
}
EOF
    fi
}

# The crate's main.rs: the model ($1 = model) or a stub module ($1 = stub).
write_main() {
    local kind=$1 dir=$2 what=$3
    {
        if [ "$what" = stub ]; then
            printf 'pub mod net {\n    pub const WEIGHT_BYTES: usize = 0;\n}\n'
        elif [ "$kind" = macro ]; then
            printf 'qrt::quantize_model!(pub mod net, model = "model.onnx", stats = "stats.json");\n'
        else
            printf 'include!(concat!(env!("OUT_DIR"), "/net.rs"));\n'
        fi
        printf '\nfn main() {\n    println!("{} bytes of weights", net::WEIGHT_BYTES);\n}\n'
    } >"$dir/src/main.rs"
}

# Times `cargo build` in folder $1 (seconds, printed).
build() {
    local t0=$EPOCHREALTIME
    if ! (cd "$1" && cargo build "${build_flag[@]}" --quiet 2>"$1/build.log"); then
        echo "cargo build failed in $1:" >&2
        cat "$1/build.log" >&2
        exit 1
    fi
    local t1=$EPOCHREALTIME
    awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f\n", b - a }'
}

# "median (min-max)" of the numbers on stdin.
summary() {
    sort -n | awk '{ v[NR] = $1 } END {
        m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
        printf "%.2f s (%.2f-%.2f)", m, v[1], v[NR] }'
}

# Flips bit 0 of byte $2 of file $1 (of a float32 weight, that moves the value a little and
# never makes a NaN or an infinity).
flip_bit() {
    local b
    b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
    # shellcheck disable=SC2059
    printf "\\$(printf '%03o' $((b ^ 1)))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

scenarios=(baseline cold warm nothing touched edited)
declare -A label=(
    [baseline]="the same crate with a stub module instead of the model (baseline)"
    [cold]="cold cache: \`cargo clean -p\` of the crate, empty compile cache (the compiler runs)"
    [warm]="warm cache: \`cargo clean -p\` of the crate, compile cache kept"
    [nothing]="nothing changed"
    [touched]="model touched, same bytes (cache hit)"
    [edited]="model edited, one weight bit flipped (cache miss)"
)
declare -A result

# One target folder for both crates (their dependencies are built once); the compile cache
# is the doors' default under it.
export CARGO_TARGET_DIR="$work/target"
cache="$CARGO_TARGET_DIR/qforge-cache"
for kind in "${doors[@]}"; do
    dir="$work/crate-$kind"
    name="buildtime-$kind"
    echo "== $kind: $dir"
    make_crate "$kind" "$dir"
    write_main "$kind" "$dir" model
    echo "first build (dependencies included): $(build "$dir") s"
    # The weight bytes sit in the middle of a model file; the check above proved it loads,
    # and the bit flipped below is checked to keep it loading.
    size=$(wc -c <"$dir/model.onnx")
    middle=$((size / 2))
    cp "$dir/model.onnx" "$work/original.onnx"

    write_main "$kind" "$dir" stub
    times=()
    for _ in $(seq "$runs"); do touch "$dir/src/main.rs"; times+=("$(build "$dir")"); done
    result[$kind,baseline]=$(printf '%s\n' "${times[@]}" | summary)
    write_main "$kind" "$dir" model
    build "$dir" >/dev/null

    times=()
    for _ in $(seq "$runs"); do
        rm -rf "$cache"
        (cd "$dir" && cargo clean --quiet -p "$name" "${build_flag[@]}")
        times+=("$(build "$dir")")
    done
    result[$kind,cold]=$(printf '%s\n' "${times[@]}" | summary)

    times=()
    for _ in $(seq "$runs"); do
        (cd "$dir" && cargo clean --quiet -p "$name" "${build_flag[@]}")
        times+=("$(build "$dir")")
    done
    result[$kind,warm]=$(printf '%s\n' "${times[@]}" | summary)

    times=()
    for _ in $(seq "$runs"); do times+=("$(build "$dir")"); done
    result[$kind,nothing]=$(printf '%s\n' "${times[@]}" | summary)

    times=()
    for _ in $(seq "$runs"); do touch "$dir/model.onnx"; times+=("$(build "$dir")"); done
    result[$kind,touched]=$(printf '%s\n' "${times[@]}" | summary)

    times=()
    for i in $(seq "$runs"); do
        flip_bit "$dir/model.onnx" $((middle + i))
        if ! "$qforge" inspect "$dir/model.onnx" >/dev/null 2>&1 || cmp -s "$dir/model.onnx" "$work/original.onnx"; then
            echo "could not edit a weight of the model at byte $((middle + i)) (it no longer loads)" >&2
            exit 1
        fi
        times+=("$(build "$dir")")
    done
    result[$kind,edited]=$(printf '%s\n' "${times[@]}" | summary)
    cp "$work/original.onnx" "$dir/model.onnx"
done

echo
printf '%s, %s profile, median of %s builds (fastest-slowest), wall clock\n' \
    "$(basename "$model") ($(wc -c <"$model") bytes) with $(basename "$stats")" "$profile" "$runs"
[ "$override" = 1 ] || echo "(without build-override: the compiler in the macro and build script is unoptimized)"
header="| build |" rule="|---|"
for kind in "${doors[@]}"; do
    case "$kind" in macro) header+=" quantize_model! |" ;; *) header+=" build.rs |" ;; esac
    rule+="---|"
done
echo "$header"
echo "$rule"
for s in "${scenarios[@]}"; do
    row="| ${label[$s]} |"
    for kind in "${doors[@]}"; do row+=" ${result[$kind,$s]} |"; done
    echo "$row"
done
