"""Comparing two reports: regressions, fixes, new and removed tests, scenarios and peers.

Tests are matched by node id and peer version, so merged reports of several versions of a
peer compare version by version.
"""

from __future__ import annotations

import dataclasses

from rich.console import Console
from rich.text import Text

from .build import peer_versions
from .document import BAD, NO_PEER, Record, Report
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
    peer_version: str | None = None  # as matched: the record's, or its peer's in that run

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
    scenarios_added: list[str] = dataclasses.field(default_factory=list)
    scenarios_removed: list[str] = dataclasses.field(default_factory=list)
    peers_added: list[str] = dataclasses.field(default_factory=list)  # peer[@version]
    peers_removed: list[str] = dataclasses.field(default_factory=list)

    @property
    def has_regressions(self) -> bool:
        return bool(self.regressions or self.new_failures)

    def marks(self) -> dict[tuple[str, str | None], tuple[str, Change]]:
        """(nodeid, peer version) -> ("regressed" or "fixed", the change), to mark cells."""
        out = {(c.nodeid, c.peer_version): ("fixed", c) for c in self.fixes}
        out.update({(c.nodeid, c.peer_version): ("regressed", c)
                    for c in (*self.regressions, *self.new_failures)})
        return out

    def coverage_changes(self) -> list[tuple[str, list[str]]]:
        """(what, names) for scenarios and peers that appeared or went (only non-empty)."""
        pairs = [
            ("scenarios with tests now", self.scenarios_added),
            ("scenarios without tests now", self.scenarios_removed),
            ("peers that ran now", self.peers_added),
            ("peers that no longer ran", self.peers_removed),
        ]
        return [(what, names) for what, names in pairs if names]

    def summary(self) -> str:
        return (
            f"{len(self.regressions)} regressions, {len(self.new_failures)} new failing, "
            f"{len(self.fixes)} fixes, {len(self.changes)} other changes, "
            f"{len(self.added)} added, {len(self.removed)} removed"
        )


def diff(old: Report, new: Report) -> ReportDiff:
    """What changed from ``old`` to ``new``: regressions (passed -> failed/error), fixes
    (failed/error -> passed), failing new tests, other outcome changes, added/removed tests."""
    before, after = _by_test(old), _by_test(new)
    result = ReportDiff()
    for key, r in after.items():
        nodeid, o = key[0], before.get(key)
        change = Change(
            nodeid, o["outcome"] if o else None, r["outcome"], record_scenarios(r), r.get("peer"),
            r.get("peer_role"), r.get("message"), key[1],
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
    for key, o in before.items():
        nodeid = key[0]
        if key not in after:
            result.removed.append(Change(
                nodeid, o["outcome"], None, record_scenarios(o), o.get("peer"),
                o.get("peer_role"), None, key[1],
            ))
    result.scenarios_added, result.scenarios_removed = _added_removed(
        _scenarios(old), _scenarios(new))
    result.peers_added, result.peers_removed = _added_removed(_peers(old), _peers(new))
    return result


def _by_test(report: Report) -> dict[tuple[str, str | None], Record]:
    only = peer_versions(report["results"])
    return {
        (r["nodeid"], r.get("peer_version") or only.get(r.get("peer") or "")): r
        for r in report["results"]
    }


def _scenarios(report: Report) -> list[str]:
    return [row["scenario"] for row in report["matrix"]["rows"] if row["kind"] == "scenario"]


def _peers(report: Report) -> list[str]:
    """peer[@version] of every column that ran a test (skips do not count)."""
    names: dict[str, None] = {}
    keys = {c["key"]: c for c in report["matrix"]["columns"]}
    for row in report["matrix"]["rows"]:
        for key, cell in row["cells"].items():
            col = keys[key]
            if col["peer"] != NO_PEER and set(cell["counts"]) - {"skipped"}:
                names[f"{col['peer']}@{col['version']}" if col["version"] else col["peer"]] = None
    return list(names)


def _added_removed(old: list[str], new: list[str]) -> tuple[list[str], list[str]]:
    return [x for x in new if x not in old], [x for x in old if x not in new]


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
    for title, names in d.coverage_changes():
            console.print(Text(f"{title} ({len(names)}): {', '.join(names)}", style="bold"))
    console.print(Text(
        d.summary(),
        style="bold red" if d.has_regressions else "bold green",
    ))


def gate(old: Report, new: Report, console: Console | None = None) -> int:
    """Print what changed from ``old`` to ``new``; 1 if anything regressed, else 0 (for CI)."""
    d = diff(old, new)
    render_diff(d, console)
    return 1 if d.has_regressions else 0
