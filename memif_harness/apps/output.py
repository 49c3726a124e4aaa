"""What the apps print: lines, result tables (rich on a terminal, aligned text otherwise)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

from ..traffic.verdict import Verdict


def say(text: str = "", *, err: bool = False) -> None:
    """One line to stdout (or stderr), flushed at once."""
    stream = sys.stderr if err else sys.stdout
    print(text, file=stream, flush=True)


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """A rich table on a terminal, aligned plain text otherwise (logs, pipes, tests)."""
    if sys.stdout.isatty():
        table = Table(title=title)
        for i, column in enumerate(columns):
            table.add_column(column, justify="left" if i == 0 else "right")
        for row in rows:
            table.add_row(*(str(cell) for cell in row))
        Console().print(table)
        return
    cells = [list(columns), *([str(c) for c in row] for row in rows)]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    say(title)
    for row in cells:
        say(
            "  ".join(
                cell.ljust(w) if i == 0 else cell.rjust(w)
                for i, (cell, w) in enumerate(zip(row, widths, strict=True))
            ).rstrip()
        )


VERDICT_COLUMNS = (
    "direction",
    "sent",
    "received",
    "delivered",
    "lost",
    "corrupted",
    "truncated",
    "dup",
    "reordered",
    "pps",
)


def verdict_row(name: str, verdict: Verdict) -> list[object]:
    """One row of :data:`VERDICT_COLUMNS`."""
    pps = f"{verdict.received / verdict.elapsed:,.0f}" if verdict.elapsed > 0 else "-"
    return [
        name,
        verdict.sent,
        verdict.received,
        verdict.delivered,
        verdict.lost,
        verdict.corrupted,
        verdict.truncated,
        verdict.duplicated,
        verdict.reordered,
        pps,
    ]
