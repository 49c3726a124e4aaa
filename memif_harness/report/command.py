"""``memif-harness report``: render, merge and compare interop reports.

::

    memif-harness report reports/*.json --html reports/interop.html --junit reports/cells.xml
    memif-harness report reports/ --history baseline/history --html reports/interop.html
    memif-harness report compare baseline/ reports/        # exit 1 on any regression

RESULTS and BASE/NEW are report files or directories of them; several are merged into one
matrix (one report per CI job: peer x version). ``show PATH``, ``markdown PATH`` and
``diff OLD NEW`` (``compare``'s old name) are kept from ``python -m memif_harness.report``,
which runs this too. Exit status: 0, 1 when ``compare`` finds a regression (passed before,
fails now, or a new test failing), 2 when a report cannot be read.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from .compare import diff, gate
from .document import READ_ERRORS, Report, dump, load
from .html import write_html
from .junit import write_junit
from .merge import load_many
from .render import console_for, render, to_markdown
from .trend import load_history

PROG = "memif-harness report"


def _parser(prog: str, description: str, *paths: tuple[str, str]) -> argparse.ArgumentParser:
    """A parser taking the ``paths`` positionals, (name, help); a name ending in ``...``
    takes one or more."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    for name, text in paths:
        many = name.endswith("...")
        parser.add_argument(name.removesuffix("..."), type=Path, help=text,
                            nargs="+" if many else None)
    return parser


def _report_parser(prog: str) -> argparse.ArgumentParser:
    parser = _parser(
        prog,
        "Show interop reports (merged into one matrix when several) and write them as HTML, "
        "JUnit or JSON. `memif-harness report compare BASE NEW` compares two.",
        ("RESULTS...", "report files, or directories of them (*.json)"),
    )
    parser.add_argument("--html", type=Path, metavar="PATH",
                        help="write one self-contained HTML page (artifact links relative to it)")
    parser.add_argument("--junit", type=Path, metavar="PATH",
                        help="write JUnit XML, a test case per scenario x peer/version/role")
    parser.add_argument("--json", type=Path, metavar="PATH", help="write the (merged) report")
    parser.add_argument("--history", type=Path, metavar="DIR",
                        help="past reports (*.json) for the pass-count trend in the HTML")
    parser.add_argument("--baseline", type=Path, metavar="BASE",
                        help="a report (or directory) to mark regressed and fixed cells against")
    parser.add_argument("--title", default="memif interop report")
    parser.add_argument("-q", "--quiet", action="store_true", help="do not print the matrix")
    return parser


def _with_current(history: list[Report], report: Report) -> list[Report]:
    """The history with this run last (unless it is already stored there)."""
    same = [h for h in history if h["run"]["started"] == report["run"]["started"]
            and h["summary"] == report["summary"]]
    return history if same else [*history, report]


def main(argv: Sequence[str] | None = None, prog: str = PROG) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    command, rest = (args_list[0], args_list[1:]) if args_list else ("", [])
    try:
        if command in ("compare", "diff"):
            cargs = _parser(
                f"{prog} {command}",
                "Regressions (passed before, fails now), fixes, new and removed tests, "
                "scenarios and peers from BASE to NEW; exit 1 on any regression.",
                ("BASE", "report file or directory"), ("NEW", "report file or directory"),
            ).parse_args(rest)
            base, _ = load_many([cargs.BASE])
            new, _ = load_many([cargs.NEW])
            return gate(base, new, console_for())
        if command == "show":
            report = load(_parser(f"{prog} show", "Print the matrix, peers and failures.",
                                  ("PATH", "a report file")).parse_args(rest).PATH)
            render(report, console_for(report))
            return 0
        if command == "markdown":
            md = _parser(f"{prog} markdown", "The report as Markdown (CI job summaries).",
                         ("PATH", "a report file"))
            md.add_argument("--heading", default="memif interop report")
            margs = md.parse_args(rest)
            sys.stdout.write(to_markdown(load(margs.PATH), heading=margs.heading) + "\n")
            return 0
        args = _report_parser(prog).parse_args(args_list)
        report, _ = load_many(args.RESULTS)
        if not args.quiet:
            render(report, console_for(report))
        history = None
        if args.history:
            stored, unreadable = load_history(args.history)
            for line in unreadable:
                print(f"{prog}: history: skipped {line}", file=sys.stderr)
            history = _with_current(stored, report)
        if args.json:
            print(f"json:  {dump(report, args.json)}")
        if args.junit:
            print(f"junit: {write_junit(report, args.junit)}")
        changes = diff(load_many([args.baseline])[0], report) if args.baseline else None
        if args.html:
            page = write_html(report, args.html, history=history, changes=changes,
                              title=args.title)
            print(f"html:  {page}")
    except READ_ERRORS as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
