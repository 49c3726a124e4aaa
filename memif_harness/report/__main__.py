"""``python -m memif_harness.report show|markdown|diff``."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from .compare import diff, render_diff
from .document import InvalidReport, load
from .render import console_for, render, to_markdown


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m memif_harness.report", description="Show or compare interop reports."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    show = sub.add_parser("show", help="print the matrix, peers and failures")
    show.add_argument("path", type=Path)
    md = sub.add_parser("markdown", help="print the report as Markdown (CI job summaries)")
    md.add_argument("path", type=Path)
    md.add_argument("--heading", default="memif interop report")
    cmp_ = sub.add_parser(
        "diff", help="regressions and fixes from OLD to NEW (exit 1 on regressions)"
    )
    cmp_.add_argument("old", type=Path)
    cmp_.add_argument("new", type=Path)
    args = parser.parse_args(argv)
    try:
        if args.command == "show":
            report = load(args.path)
            render(report, console_for(report))
        elif args.command == "markdown":
            sys.stdout.write(to_markdown(load(args.path), heading=args.heading) + "\n")
        else:
            d = diff(load(args.old), load(args.new))
            render_diff(d, console_for())
            return 1 if d.has_regressions else 0
    except (OSError, json.JSONDecodeError, InvalidReport) as exc:
        print(f"memif_harness.report: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
