# shellcheck shell=bash
# Sourced by scripts/test.sh (not run on its own): `stage NAME COMMAND...` runs one stage of the
# test suite between `==> NAME` and `<== NAME: N s` lines, and `stage_summary` prints the
# duration of every stage run so far, so a slow or failing stage is seen without reading the log.

stage_lines=()

# Runs COMMAND. On failure it prints `<== NAME FAILED after N s` and returns COMMAND's exit
# status, which stops a `set -e` caller there.
stage() {
    local name=$1 start=$SECONDS status=0 took
    shift
    echo "==> $name"
    "$@" || status=$?
    took=$((SECONDS - start))
    if [ "$status" -eq 0 ]; then
        echo "<== $name: $took s"
        stage_lines+=("$(printf '  %-14s %6d s' "$name" "$took")")
    else
        echo "<== $name FAILED after $took s (exit $status)"
        stage_lines+=("$(printf '  %-14s %6d s  FAILED (exit %d)' "$name" "$took" "$status")")
    fi
    return "$status"
}

# The table of stage durations; as an EXIT trap it also comes after a failed stage.
stage_summary() {
    [ ${#stage_lines[@]} -gt 0 ] || return 0
    echo "Stage durations:"
    printf '%s\n' "${stage_lines[@]}"
    printf '  %-14s %6d s\n' total "$SECONDS"
}
