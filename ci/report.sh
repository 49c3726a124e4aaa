#!/usr/bin/env bash
# Merge the interop reports of a pipeline's jobs (one per peer x version) into one matrix,
# write it as JSON, HTML and JUnit, compare it with the baseline (the last main-branch
# result) and, when asked (on the main branch), make this run the new baseline.
#
# Usage: ci/report.sh OUT_DIR REPORT_OR_DIR...
#   writes OUT_DIR/interop.json (merged), interop.html (with the pass-count trend of the
#   stored main-branch runs, cells marked where they changed since the baseline),
#   interop-cells.xml (JUnit, a case per scenario x peer/version/
#   role) and compare.txt (what changed since the baseline).
# Environment: BASELINE_DIR (default baseline): BASELINE_DIR/interop.json is the baseline,
#   BASELINE_DIR/history/ the stored main-branch results (the last 30 are kept);
#   MEMIF_UPDATE_BASELINE=1 stores this run there after the comparison.
# Exit status: 1 when the comparison finds a regression (passed before, fails now, or a new
# failing test), 2 when a report cannot be read, else 0 (also when there is no baseline yet).
set -uo pipefail
cd "$(dirname "$0")/.."

if (($# < 2)); then
    sed -n '2,/^set -uo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
    exit 2
fi
out=$1
shift
baseline=${BASELINE_DIR:-baseline}
mkdir -p "$out"

marks=()  # the HTML marks regressed and fixed cells against the baseline
if [[ -f $baseline/interop.json ]]; then marks=(--baseline "$baseline/interop.json"); fi
memif-harness report "$@" --json "$out/interop.json" --html "$out/interop.html" \
    --junit "$out/interop-cells.xml" --history "$baseline/history" "${marks[@]}" --quiet \
    || exit $?

status=0
if [[ -f $baseline/interop.json ]]; then
    memif-harness report compare "$baseline/interop.json" "$out/interop.json" \
        | tee "$out/compare.txt"
    status=${PIPESTATUS[0]}
else
    echo "no baseline at $baseline/interop.json yet: nothing to compare with" \
        | tee "$out/compare.txt"
fi

if [[ ${MEMIF_UPDATE_BASELINE:-0} == 1 ]]; then
    mkdir -p "$baseline/history"
    cp "$out/interop.json" "$baseline/interop.json"
    cp "$out/interop.json" "$baseline/history/$(date -u +%Y%m%dT%H%M%SZ).json"
    # keep the last 30 results (names sort by time)
    find "$baseline/history" -maxdepth 1 -name '*.json' | sort | head -n -30 | xargs -r rm --
    echo "baseline updated: $baseline/interop.json"
fi
exit "$status"
