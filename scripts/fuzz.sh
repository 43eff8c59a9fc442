#!/usr/bin/env bash
# Runs the cargo fuzz targets of fuzz/ (one per parser that reads what a client sends: the fast
# path's envelope and headers, OAuth form bodies, redirect URIs, client metadata, bearer
# tokens) and prints the executions of each.
#
#   scripts/fuzz.sh short [TARGET...]   a short run of each (FUZZ_SHORT_SECONDS, default 15 s):
#                                       the `fuzz` stage of scripts/test.sh
#   scripts/fuzz.sh long [TARGET...]    FUZZ_LONG_RUNS executions of each (default 10 million):
#                                       for a work session, not CI; one target at a time;
#                                       FUZZ_LONG_SECONDS caps each target's time (a run cut
#                                       short is marked in the summary)
#
# Each target starts from its committed seeds (fuzz/seeds/TARGET, real requests) plus what
# earlier runs here found (fuzz/corpus/TARGET, not committed). A crash stops the script
# non-zero; libFuzzer saves the input under fuzz/artifacts/TARGET/ and prints how to replay it.
# A crash that is fixed becomes a regression test in the crate's own tests and its input a
# seed.
#
# cargo fuzz needs nightly flags (-Z sanitizer coverage): the nightly toolchain when rustup has
# one, else the stable toolchain with RUSTC_BOOTSTRAP=1. Targets are built without a
# sanitizer (FUZZ_SANITIZER=address to add ASan): the parsers are safe Rust, where a sanitizer
# finds nothing that a panic would not, and it costs more than half the executions.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root/fuzz"

usage() {
    echo "usage: scripts/fuzz.sh short|long [TARGET...]" >&2
    exit 2
}
[ $# -ge 1 ] || usage
mode=$1
shift
# The short run builds without optimisations (half the build time, which is most of a short
# run); the long run optimised, as cargo fuzz does by default. Both keep debug assertions.
case $mode in
short) limits=(-max_total_time="${FUZZ_SHORT_SECONDS:-15}") profile=(--dev) ;;
long)
    limits=(-runs="${FUZZ_LONG_RUNS:-10000000}") profile=()
    [ -z "${FUZZ_LONG_SECONDS:-}" ] || limits+=(-max_total_time="$FUZZ_LONG_SECONDS")
    ;;
*) usage ;;
esac

if ! command -v cargo-fuzz >/dev/null 2>&1; then
    echo "fuzz: cargo-fuzz is missing; scripts/install-test-deps.sh installs it" >&2
    exit 1
fi
if rustup toolchain list 2>/dev/null | grep -q '^nightly'; then
    cargo=(cargo +nightly)
else
    echo "fuzz: no nightly toolchain; using stable with RUSTC_BOOTSTRAP=1"
    export RUSTC_BOOTSTRAP=1
    cargo=(cargo)
fi
flags=(--sanitizer "${FUZZ_SANITIZER:-none}" "${profile[@]}")

mapfile -t targets < <("${cargo[@]}" fuzz list)
[ $# -eq 0 ] || targets=("$@")

started=$(date +%s)
"${cargo[@]}" fuzz build "${flags[@]}"
echo "fuzz: built ${#targets[@]} targets in $(($(date +%s) - started)) s"

logs=$(mktemp -d -t outpost-fuzz.XXXXXX)
trap 'rm -rf "$logs"' EXIT
summary=()
for target in "${targets[@]}"; do
    mkdir -p "corpus/$target"
    echo "fuzz: $target ($mode)"
    if ! "${cargo[@]}" fuzz run "${flags[@]}" "$target" \
        "$root/fuzz/corpus/$target" "$root/fuzz/seeds/$target" -- \
        "${limits[@]}" -print_final_stats=1 >"$logs/$target.log" 2>&1; then
        tail -n 60 "$logs/$target.log" >&2
        echo "fuzz: $target FAILED (input saved under fuzz/artifacts/$target/)" >&2
        exit 1
    fi
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$logs/$target.log")
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$logs/$target.log")
    seconds=$(sed -n 's/.*Done [0-9]* runs in \([0-9]*\) second.*/\1/p' "$logs/$target.log")
    line=$(printf '%-20s %12s executions %8s exec/s %6s s' "$target" "$runs" "$rate" "$seconds")
    if [ "$mode" = long ] && [ "${runs:-0}" -lt "${FUZZ_LONG_RUNS:-10000000}" ]; then
        line+="  (cut short by FUZZ_LONG_SECONDS)"
    fi
    echo "fuzz: $line"
    summary+=("$line")
done

echo "fuzz: $mode run, no crash; $(($(date +%s) - started)) s in all"
printf '  %s\n' "${summary[@]}"
