"""Rendering a report: the terminal matrix (rich), peers, failures, Markdown."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Final

from rich.console import Console
from rich.table import Table
from rich.text import Text

from .build import column_key
from .document import BAD, OUTCOMES, Record, Report

SYMBOLS: Final = {
    "passed": "✔",
    "failed": "✘",
    "error": "E",
    "skipped": "\u2013",  # en dash
    "xfailed": "x",
    "xpassed": "X",
}
STYLES: Final = {
    "passed": "bold green",
    "failed": "bold red",
    "error": "bold red reverse",
    "skipped": "dim",
    "xfailed": "yellow",
    "xpassed": "bold magenta",
}
LEGEND: Final = "✔ passed  ✘ failed  E error  \u2013 skipped  x xfailed  X xpassed"




def _cell_text(cell: Mapping[str, Any]) -> str:
    outcome = cell["outcome"]
    text = SYMBOLS[outcome]
    tests = cell["tests"]
    if tests > 1 and len(cell["counts"]) > 1:  # mixed: say how many had the shown outcome
        text += f" {cell['counts'][outcome]}/{tests}"
    return text


def _row_label(row: Mapping[str, Any], width: int | None = None) -> str:
    title = row.get("title")
    if not title:
        return str(row["scenario"])
    label = f"{row['scenario']} {title}"
    if width and len(label) > width:
        label = label[: width - 1] + "…"
    return label


def summary_line(report: Report) -> str:
    s = report["summary"]
    parts = [f"{s[o]} {o}" for o in OUTCOMES if s[o]]
    return f"{s['total']} tests: " + (", ".join(parts) if parts else "none ran")


def matrix_width(report: Report, title_width: int = 40) -> int:
    """Columns the matrix needs to show every peer/role column and ``title_width`` of titles."""
    return sum(len(c["key"]) + 3 for c in report["matrix"]["columns"]) + 4 + title_width


def console_for(report: Report | None = None, **kwargs: Any) -> Console:
    """A console; when not a terminal (CI logs), wide enough that the matrix is not cropped."""
    console = Console(highlight=False, **kwargs)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        width = max(100, matrix_width(report) if report else 0)
        console = Console(highlight=False, width=width, **kwargs)
    return console


def matrix_table(
    report: Report, width: int | None = None, title: str | None = "memif interop matrix"
) -> Table:
    """The matrix as a rich table: rows scenario (+ title), columns peer/role.

    Scenario titles are cut to fit ``width`` (the console's) beside the peer/role columns.
    """
    matrix = report["matrix"]
    title_width = 48
    if width:
        used = sum(len(c["key"]) + 3 for c in matrix["columns"]) + 4
        title_width = max(12, min(60, width - used))
    table = Table(title=title, show_lines=False)
    table.add_column(
        "scenario", no_wrap=True, overflow="ellipsis", max_width=title_width, min_width=12
    )
    for col in matrix["columns"]:
        table.add_column(
            Text(col["key"]), justify="center", no_wrap=True, min_width=len(col["key"])
        )
    for row in matrix["rows"]:
        cells: list[Text] = [Text(_row_label(row, title_width))]
        for col in matrix["columns"]:
            cell = row["cells"].get(col["key"])
            if cell is None:
                cells.append(Text("·", style="dim"))
            else:
                cells.append(Text(_cell_text(cell), style=STYLES[cell["outcome"]]))
        table.add_row(*cells)
    return table


def peers_table(report: Report) -> Table:
    table = Table(title="peers", show_header=True)
    for name in ("peer", "version", "available", "tests / reason"):
        table.add_column(name)
    for p in report["peers"]:
        ok = Text("yes", style="green") if p["available"] else Text("no", style="red")
        detail = p.get("reason") or f"{p.get('tests', 0)} tests"
        table.add_row(Text(p["name"]), Text(p.get("version") or "?"), ok, Text(detail))
    return table


def _failures(report: Report) -> list[Record]:
    return [r for r in report["results"] if r["outcome"] in BAD or r["outcome"] == "xpassed"]


def location(scenario: str | None, peer: str | None, role: str | None) -> str:
    bits = [b for b in (scenario, peer and column_key(peer, role)) if b]
    return ", ".join(bits)


def record_scenarios(r: Record) -> str | None:
    return ",".join(r.get("scenarios") or []) or r.get("scenario")


def _where(r: Record) -> str:
    where = location(record_scenarios(r), r.get("peer"), r.get("peer_role"))
    return f" ({where})" if where else ""


def render(report: Report, console: Console | None = None, *, peers: bool = True) -> None:
    """Print the matrix, the peers and the failures with their messages."""
    console = console or Console()
    if report["matrix"]["rows"]:
        console.print(matrix_table(report, console.width))
        console.print(Text(LEGEND, style="dim"))
    else:
        console.print("[dim]no interop results (no test named a scenario and a peer)[/dim]")
    if peers and report["peers"]:
        console.print(peers_table(report))
    failures = _failures(report)
    if failures:
        console.print(Text(f"failures ({len(failures)}):", style="bold red"))
        for r in failures:
            head = Text(f"  {SYMBOLS[r['outcome']]} ", style=STYLES[r["outcome"]])
            head.append(r["nodeid"], style="bold")
            head.append(_where(r), style="dim")
            console.print(head)
            if r.get("message"):
                console.print(Text(indent_lines(r["message"], "      "), style="red"))
            for artifact in r.get("artifacts", []):
                console.print(Text(f"      artifact: {artifact}", style="dim"))
    style = "bold red" if failures else "bold green"
    console.print(Text(summary_line(report), style=style))


def indent_lines(text: str, prefix: str) -> str:
    return "\n".join(prefix + line for line in text.splitlines())


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def to_markdown(report: Report, *, heading: str = "memif interop report") -> str:
    """GitHub-flavoured Markdown (for ``$GITHUB_STEP_SUMMARY`` and merge requests)."""
    run = report["run"]
    lines = [f"## {heading}", ""]
    lines.append(
        f"**{summary_line(report)}** — harness {run['harness_version']}, "
        f"pytest exit {run['exit_status']}, {run['duration']:.1f} s, host {run['host']['hostname']}"
    )
    if run["ci"].get("url"):
        lines.append(f"([CI run]({run['ci']['url']}))")
    lines.append("")
    matrix = report["matrix"]
    if matrix["rows"]:
        keys = [c["key"] for c in matrix["columns"]]
        lines.append("| scenario | " + " | ".join(keys) + " |")
        lines.append("|---|" + "|".join(":---:" for _ in keys) + "|")
        for row in matrix["rows"]:
            cells = []
            for key in keys:
                cell = row["cells"].get(key)
                cells.append(_cell_text(cell) if cell else "·")
            lines.append(f"| {_md_escape(_row_label(row, 60))} | " + " | ".join(cells) + " |")
        lines.extend(["", f"<sub>{LEGEND}</sub>", ""])
    else:
        lines.extend(["_no interop results (no test named a scenario and a peer)_", ""])
    if report["peers"]:
        lines.extend(["| peer | version | available | tests / reason |", "|---|---|---|---|"])
        for p in report["peers"]:
            detail = p.get("reason") or f"{p.get('tests', 0)} tests"
            lines.append(
                f"| {p['name']} | {p.get('version') or '?'} | "
                f"{'yes' if p['available'] else 'no'} | {_md_escape(detail)} |"
            )
        lines.append("")
    failures = _failures(report)
    if failures:
        lines.extend([f"### Failures ({len(failures)})", ""])
        for r in failures:
            lines.append(f"- {SYMBOLS[r['outcome']]} `{r['nodeid']}`{_where(r)}")
            if r.get("message"):
                msg = r["message"].strip().replace("```", "'''")
                lines.extend(["  ```", indent_lines(msg, "  "), "  ```"])
        lines.append("")
    return "\n".join(lines)
