#!/usr/bin/env bash
# Run the interop suites (`memif-harness run`) and keep the results.
#
# Usage: ci/interop.sh [NAME] [memif-harness run options...]
#   NAME  names the outputs: reports/NAME.json (interop report), reports/NAME.xml (pytest's
#         JUnit), reports/NAME.html (the HTML report), reports/NAME-cells.xml (JUnit, a case
#         per scenario x peer/version/role), reports/NAME.md (Markdown matrix); default
#         "interop". Options are passed on, e.g.
#         ci/interop.sh dpdk --peer testpmd --require-peer testpmd
# Environment: REPORTS_DIR (default reports), and the peers' VPP_IMAGE, VPP_BIN, VPPCTL,
# TESTPMD, LIBMEMIF_APP. In GitHub Actions the Markdown matrix is appended to
# $GITHUB_STEP_SUMMARY. The exit status is the run's (see memif_harness/runner.py).
set -uo pipefail
cd "$(dirname "$0")/.."

name=interop
if (($#)) && [[ $1 != -* ]]; then
    name=$1
    shift
fi
dir=${REPORTS_DIR:-reports}
mkdir -p "$dir"
report=$dir/$name.json

memif-harness run --report "$report" --junitxml "$dir/$name.xml" "$@"
status=$?

if [[ -f $report ]]; then
    memif-harness report "$report" --quiet --html "$dir/$name.html" \
        --junit "$dir/$name-cells.xml" --title "memif interop: $name" || true
    python -m memif_harness.report markdown --heading "memif interop: $name" "$report" \
        >"$dir/$name.md" || true
    if [[ -n ${GITHUB_STEP_SUMMARY:-} && -s $dir/$name.md ]]; then
        cat "$dir/$name.md" >>"$GITHUB_STEP_SUMMARY"
    fi
fi
exit $status
