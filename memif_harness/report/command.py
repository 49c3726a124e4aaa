"""``memif-harness report``: render, merge and compare interop reports.

::

    memif-harness report reports/*.json --html reports/interop.html --junit reports/cells.xml
    memif-harness report reports/ --history baseline/history --html reports/interop.html
    memif-harness report compare baseline/ reports/        # exit 1 on any regression

RESULTS and BASE/NEW are report files or directories of them; several are merged into one
matrix (one report per CI job: peer x version). Exit status: 0, 1 when ``compare`` finds a
regression (passed before, fails now, or a new test failing), 2 when a report cannot be read.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from .compare import diff, render_diff
from .document import InvalidReport, Report, dump
from .html import write_html
from .junit import write_junit
from .merge import load_many
from .render import console_for, render
from .trend import load_history

PROG = "memif-harness report"


def _report_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Show interop reports (merged into one matrix when several) and write "
        "them as HTML, JUnit or JSON. `memif-harness report compare BASE NEW` compares two.",
    )
    parser.add_argument("results", nargs="+", type=Path, metavar="RESULTS",
                        help="report files, or directories of them (*.json)")
    parser.add_argument("--html", type=Path, metavar="PATH",
                        help="write one self-contained HTML page (artifact links relative to it)")
    parser.add_argument("--junit", type=Path, metavar="PATH",
                        help="write JUnit XML, a test case per scenario x peer/version/role")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write the (merged) report")
    parser.add_argument("--history", type=Path, metavar="DIR",
                        help="past reports (*.json) for the pass-count trend in the HTML")
    parser.add_argument("--title", default="memif interop report")
    parser.add_argument("-q", "--quiet", action="store_true", help="do not print the matrix")
    return parser


def _compare_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"{PROG} compare",
        description="Regressions (passed before, fails now), fixes, new and removed tests, "
        "scenarios and peers from BASE to NEW; exit 1 on any regression.",
    )
    parser.add_argument("base", type=Path, metavar="BASE", help="report file or directory")
    parser.add_argument("new", type=Path, metavar="NEW", help="report file or directory")
    return parser


def _with_current(history: list[Report], report: Report) -> list[Report]:
    """The history with this run last (unless it is already stored there)."""
    same = [h for h in history if h["run"]["started"] == report["run"]["started"]
            and h["summary"] == report["summary"]]
    return history if same else [*history, report]


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    try:
        if args_list[:1] == ["compare"]:
            cargs = _compare_parser().parse_args(args_list[1:])
            base, _ = load_many([cargs.base])
            new, _ = load_many([cargs.new])
            d = diff(base, new)
            render_diff(d, console_for())
            return 1 if d.has_regressions else 0
        args = _report_parser().parse_args(args_list)
        report, _ = load_many(args.results)
        if not args.quiet:
            render(report, console_for(report))
        history = None
        if args.history:
            stored, unreadable = load_history(args.history)
            for line in unreadable:
                print(f"{PROG}: history: skipped {line}", file=sys.stderr)
            history = _with_current(stored, report)
        if args.json:
            print(f"json:  {dump(report, args.json)}")
        if args.junit:
            print(f"junit: {write_junit(report, args.junit)}")
        if args.html:
            print(f"html:  {write_html(report, args.html, history=history, title=args.title)}")
    except (OSError, json.JSONDecodeError, InvalidReport) as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
