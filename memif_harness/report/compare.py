"""Comparing two reports: regressions, fixes, new and removed scenarios."""

from __future__ import annotations

import dataclasses

from rich.console import Console
from rich.text import Text

from .document import BAD, Report
from .render import indent_lines, location, record_scenarios


@dataclasses.dataclass(frozen=True)
class Change:
    nodeid: str
    old: str | None  # None: the test is new
    new: str | None  # None: the test is gone
    scenario: str | None
    peer: str | None
    peer_role: str | None
    message: str | None

    @property
    def where(self) -> str:
        return location(self.scenario, self.peer, self.peer_role)


@dataclasses.dataclass
class ReportDiff:
    """Per-test differences between two reports (tests are matched by nodeid)."""

    regressions: list[Change] = dataclasses.field(default_factory=list)  # passed -> failed/error
    fixes: list[Change] = dataclasses.field(default_factory=list)  # failed/error -> passed
    new_failures: list[Change] = dataclasses.field(default_factory=list)  # new test, failing
    changes: list[Change] = dataclasses.field(default_factory=list)  # any other outcome change
    added: list[Change] = dataclasses.field(default_factory=list)
    removed: list[Change] = dataclasses.field(default_factory=list)

    @property
    def has_regressions(self) -> bool:
        return bool(self.regressions or self.new_failures)


def diff(old: Report, new: Report) -> ReportDiff:
    """What changed from ``old`` to ``new``: regressions (passed -> failed/error), fixes
    (failed/error -> passed), failing new tests, other outcome changes, added/removed tests."""
    before = {r["nodeid"]: r for r in old["results"]}
    after = {r["nodeid"]: r for r in new["results"]}
    result = ReportDiff()
    for nodeid, r in after.items():
        o = before.get(nodeid)
        change = Change(
            nodeid, o["outcome"] if o else None, r["outcome"], record_scenarios(r), r.get("peer"),
            r.get("peer_role"), r.get("message"),
        )
        if o is None:
            result.added.append(change)
            if r["outcome"] in BAD:
                result.new_failures.append(change)
        elif o["outcome"] == r["outcome"]:
            continue
        elif o["outcome"] == "passed" and r["outcome"] in BAD:
            result.regressions.append(change)
        elif o["outcome"] in BAD and r["outcome"] == "passed":
            result.fixes.append(change)
        else:
            result.changes.append(change)
    for nodeid, o in before.items():
        if nodeid not in after:
            result.removed.append(Change(
                nodeid, o["outcome"], None, record_scenarios(o), o.get("peer"),
                o.get("peer_role"), None,
            ))
    return result


def render_diff(d: ReportDiff, console: Console | None = None) -> None:
    console = console or Console()
    sections = (
        ("regressions", d.regressions, "bold red"),
        ("new failing tests", d.new_failures, "bold red"),
        ("fixes", d.fixes, "bold green"),
        ("other changes", d.changes, "yellow"),
    )
    for title, changes, style in sections:
        if not changes:
            continue
        console.print(Text(f"{title} ({len(changes)}):", style=style))
        for c in changes:
            line = Text(f"  {c.old or 'new'} -> {c.new}  ", style=style)
            line.append(c.nodeid, style="bold")
            if c.where:
                line.append(f" ({c.where})", style="dim")
            console.print(line)
            if c.message and c.new in BAD:
                console.print(Text(indent_lines(c.message, "      "), style="red"))
    console.print(Text(
        f"{len(d.regressions)} regressions, {len(d.new_failures)} new failing, "
        f"{len(d.fixes)} fixes, {len(d.changes)} other changes, "
        f"{len(d.added)} added, {len(d.removed)} removed",
        style="bold red" if d.has_regressions else "bold green",
    ))
