"""Rendering a report: the terminal matrix (rich), peers, failures, Markdown."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Final

from rich.console import Console
from rich.table import Table
from rich.text import Text

from ..conformance import catalogue
from .build import column_key, peer_summaries, test_name
from .document import BAD, NO_PEER, OUTCOMES, Record, Report

SYMBOLS: Final = {
    "passed": "✔",
    "failed": "✘",
    "error": "E",
    "skipped": "\u2013",  # en dash
    "xfailed": "x",
    "xpassed": "X",
}
NO_TEST: Final = "·"
STYLES: Final = {
    "passed": "bold green",
    "failed": "bold red",
    "error": "bold red reverse",
    "skipped": "dim",
    "xfailed": "yellow",
    "xpassed": "bold magenta",
}
LEGEND: Final = (
    "✔ passed  ✘ failed  E error  \u2013 skipped  x xfailed (expected failure)  "
    "X xpassed (passed, expected to fail)  · no test  n/m: n of m tests had the shown outcome"
)
#: short column headings when the full ones do not fit
PEER_ABBREVIATIONS: Final = {"python": "py", "testpmd": "pmd", "libmemif": "lmf", NO_PEER: "-"}
ROLE_ABBREVIATIONS: Final = {"master": "m", "slave": "s"}
#: columns of a table beyond its cells' content: border and padding
_COLUMN_OVERHEAD: Final = 3
_SCENARIO_MIN: Final = 22


def _cell_text(cell: Mapping[str, Any]) -> str:
    outcome = cell["outcome"]
    text = SYMBOLS[outcome]
    tests = cell["tests"]
    if tests > 1 and len(cell["counts"]) > 1:  # mixed: say how many had the shown outcome
        text += f" {cell['counts'][outcome]}/{tests}"
    return text


def row_title(row: Mapping[str, Any]) -> str | None:
    """The row's title: the tests' own, else the catalogue's one-line meaning."""
    if row.get("kind", "scenario") != "scenario":
        return None
    return row.get("title") or catalogue.titles().get(str(row["scenario"]))


def _row_label(row: Mapping[str, Any], width: int | None = None) -> str:
    title = row_title(row)
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


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 1, 1)] + "…"


def _heading(col: Mapping[str, Any], level: int) -> list[str]:
    """A column's heading lines (peer, version, role), shorter at higher ``level``s."""
    peer, version, role = col["peer"], col.get("version") or "", col.get("role") or ""
    if level >= 1:
        role = ROLE_ABBREVIATIONS.get(role, role)
        version = _cut(version, 6)
    if level >= 2:
        peer = PEER_ABBREVIATIONS.get(peer, peer)
        version = _cut(version, 4)
    return [line for line in (peer, version, role) if line]


def _column_width(report: Report, col: Mapping[str, Any], level: int) -> int:
    cells = [
        len(_cell_text(row["cells"][col["key"]]))
        for row in report["matrix"]["rows"] if col["key"] in row["cells"]
    ]
    return max([*map(len, _heading(col, level)), *cells, 1])


def matrix_width(report: Report, title_width: int = 40) -> int:
    """Columns the matrix needs with full headings and ``title_width`` of titles."""
    cols = report["matrix"]["columns"]
    used = sum(_column_width(report, c, 0) + _COLUMN_OVERHEAD for c in cols)
    return used + _COLUMN_OVERHEAD + 1 + title_width


def console_for(report: Report | None = None, **kwargs: Any) -> Console:
    """A console; when not a terminal (CI logs), wide enough for full column headings."""
    console = Console(highlight=False, **kwargs)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        width = max(100, matrix_width(report) if report else 0)
        console = Console(highlight=False, width=width, **kwargs)
    return console


def _layout(report: Report, width: int) -> tuple[int, list[list[dict[str, Any]]]]:
    """(abbreviation level, the columns of each table): the least abbreviation that fits
    ``width``; when even the shortest headings do not, the columns are split over several
    tables (every table repeats the scenario column), so no column is ever dropped."""
    cols = report["matrix"]["columns"]
    room = width - _SCENARIO_MIN - _COLUMN_OVERHEAD - 1
    for level in (0, 1, 2):
        if sum(_column_width(report, c, level) + _COLUMN_OVERHEAD for c in cols) <= room:
            return level, [cols]
    chunks: list[list[dict[str, Any]]] = [[]]
    used = 0
    for col in cols:
        need = _column_width(report, col, 2) + _COLUMN_OVERHEAD
        if chunks[-1] and used + need > room:
            chunks.append([])
            used = 0
        chunks[-1].append(col)
        used += need
    return 2, chunks


def matrix_tables(
    report: Report, width: int = 80, title: str | None = "memif interop matrix"
) -> list[Table]:
    """The matrix as rich tables fitting ``width``: rows scenario (+ title, wrapped),
    columns peer/version/role (headings abbreviated, or split over tables, to fit)."""
    level, chunks = _layout(report, width)
    tables = []
    for i, chunk in enumerate(chunks):
        part = f" ({i + 1}/{len(chunks)})" if len(chunks) > 1 else ""
        table = Table(title=f"{title}{part}" if title else None, show_lines=False)
        table.add_column("scenario", overflow="fold", min_width=_SCENARIO_MIN, ratio=1)
        for col in chunk:
            table.add_column(
                Text("\n".join(_heading(col, level))), justify="center", no_wrap=True,
                min_width=_column_width(report, col, level),
            )
        for row in report["matrix"]["rows"]:
            cells: list[Text] = [Text(_row_label(row))]
            for col in chunk:
                cell = row["cells"].get(col["key"])
                if cell is None:
                    cells.append(Text(NO_TEST, style="dim"))
                else:
                    cells.append(Text(_cell_text(cell), style=STYLES[cell["outcome"]]))
            table.add_row(*cells)
        tables.append(table)
    return tables


def abbreviations_used(report: Report, width: int) -> str | None:
    """The key to abbreviated headings, when ``width`` made the matrix abbreviate them."""
    level, _ = _layout(report, width)
    if level < 1:
        return None
    names = {c["peer"] for c in report["matrix"]["columns"]}
    pairs = [f"{a} {p}" for p, a in PEER_ABBREVIATIONS.items() if level >= 2 and p in names]
    pairs += [f"{a} {r}" for r, a in ROLE_ABBREVIATIONS.items()]
    return "columns: " + ", ".join(pairs) + "; versions cut (see the peers)"


def print_matrix(report: Report, console: Console, title: str | None) -> None:
    """The matrix tables, the key to their headings and the legend."""
    for table in matrix_tables(report, console.width, title):
        console.print(table)
    key = abbreviations_used(report, console.width)
    if key:
        console.print(Text(key, style="dim"))
    console.print(Text(LEGEND, style="dim"))
    console.print(Text(coverage_line(report), style="dim"))


def coverage_line(report: Report) -> str:
    ids = {s.id for s in catalogue.scenarios()}
    seen = {r["scenario"] for r in report["matrix"]["rows"] if r.get("kind") == "scenario"}
    return (
        f"{len(seen & ids)} of {len(ids)} catalogue scenarios have tests here "
        "(the HTML report, memif-harness report --html, shows every id)"
    )


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


def peer_lines(report: Report) -> list[str]:
    """One line per peer and version: what its tests did."""
    lines = []
    for (peer, version), counts in peer_summaries(report).items():
        parts = ", ".join(f"{counts[o]} {o}" for o in OUTCOMES if counts.get(o))
        name = "tests naming no peer" if peer == NO_PEER else f"{peer} {version or '(version ?)'}"
        lines.append(f"{name}: {parts}")
    return lines


def skip_reasons(report: Report) -> list[tuple[str, list[Record]]]:
    """Each distinct skip reason once, with the tests it skipped (most first)."""
    by_reason: dict[str, list[Record]] = {}
    for r in report["results"]:
        if r["outcome"] == "skipped":
            by_reason.setdefault(r.get("message") or "(no reason given)", []).append(r)
    return sorted(by_reason.items(), key=lambda kv: -len(kv[1]))


def _print_skips(report: Report, console: Console) -> None:
    reasons = skip_reasons(report)
    if not reasons:
        return
    total = sum(len(tests) for _, tests in reasons)
    plural = "s" if len(reasons) > 1 else ""
    console.print(Text(f"skipped ({total} tests, {len(reasons)} reason{plural}):", style="bold"))
    for reason, tests in reasons:
        line = Text(f"  {SYMBOLS['skipped']} {len(tests)} tests: ", style="dim")
        line.append(reason)
        console.print(line)
        names = sorted({location(record_scenarios(r), r.get("peer"), r.get("peer_role"))
                        or test_name(r["nodeid"]) for r in tests})
        console.print(Text(indent_lines("; ".join(names), "      "), style="dim"))


def render(report: Report, console: Console | None = None, *, peers: bool = True) -> None:
    """Print the matrix, the peers, every skip reason once and the failures with their
    messages."""
    console = console or Console()
    if report["matrix"]["rows"]:
        print_matrix(report, console, "memif interop matrix")
    else:
        console.print("[dim]no tests ran[/dim]")
    for line in peer_lines(report):
        console.print(Text(line))
    if peers and report["peers"]:
        console.print(peers_table(report))
    _print_skips(report, console)
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
            if r.get("assertion"):
                console.print(Text(f"      at {r['assertion']}", style="dim"))
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
