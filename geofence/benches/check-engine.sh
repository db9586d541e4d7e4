#!/usr/bin/env bash
# Performance regression check of the geofence engine (docs/PERFORMANCE.md,
# Geofence engine), with criterion's saved baselines.
#
#   geofence/benches/check-engine.sh save [NAME]    record a baseline (default NAME: main)
#   geofence/benches/check-engine.sh check [NAME]   compare with it; exit 1 on a regression
#
# Typical use: `save` on main, then `check` on a branch (same CARGO_TARGET_DIR:
# baselines live in $CARGO_TARGET_DIR/criterion, default ./target/criterion).
#
# It fails when
# - the bench itself fails: engine state per device over its 2,048 B budget
#   (memory is deterministic, so the bench checks it on every run), or the
#   baseline NAME does not exist;
# - criterion reports "Performance has regressed" for a CPU-time benchmark
#   (`on_fix` or `tick`, ", CPU time"): the change's confidence interval lies
#   entirely above +NOISE (default 5 %) with p < 0.05. The wall-clock figures
#   are compared and printed too, but on a machine shared with other work they
#   move with the load average; ENGINE_CHECK_WALL=1 makes them count as well.
#
# Environment: NOISE (criterion --noise-threshold, default 0.05), ENGINE_CHECK_WALL.
set -euo pipefail

mode=${1:-check}
name=${2:-main}
noise=${NOISE:-0.05}

# Names of the benchmarks criterion reported as regressed, from its output.
regressed() {
    awk '
        /^[^ \t]/ && !/^(Benchmarking|memory:|Found|Gnuplot|WARNING|warning|error)/ {
            bench = $0
            sub(/ +time:.*/, "", bench) # a short name shares its line with the time
        }
        /Performance has regressed/ { print bench }
    ' "$1"
}

case "$mode" in
save)
    exec cargo bench -p geofence --bench engine -- --save-baseline "$name" --noise-threshold "$noise"
    ;;
check)
    log=$(mktemp)
    trap 'rm -f "$log"' EXIT
    status=0
    cargo bench -p geofence --bench engine -- --baseline "$name" --noise-threshold "$noise" 2>&1 |
        tee "$log" || status=$?
    echo
    if [ "$status" -ne 0 ]; then
        echo "engine check: FAILED: the bench exited with $status (memory budget, or no baseline '$name'?)"
        exit 1
    fi
    failed=0
    while IFS= read -r bench; do
        if [[ "$bench" == *"CPU time"* || "${ENGINE_CHECK_WALL:-0}" == 1 ]]; then
            echo "engine check: FAILED: $bench regressed against baseline '$name'"
            failed=1
        else
            echo "engine check: note: $bench (wall clock) regressed against '$name'; not counted (load)"
        fi
    done < <(regressed "$log")
    if [ "$failed" -ne 0 ]; then
        exit 1
    fi
    echo "engine check: no regression against baseline '$name' (noise threshold $noise)"
    ;;
*)
    echo "usage: $0 save|check [BASELINE]" >&2
    exit 2
    ;;
esac
