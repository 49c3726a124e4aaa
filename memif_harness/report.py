"""The interop report: build, validate, render and compare.

A report is one JSON document per pytest run (see ``report_schema.json``, JSON Schema 2020-12):
run metadata, the peers, one record per test, counts per outcome, and a matrix of scenario id x
peer/role -> outcome. ``fixtures/report.py`` writes it; this module reads it back::

    python -m memif_harness.report show reports/interop.json
    python -m memif_harness.report markdown reports/interop.json >> "$GITHUB_STEP_SUMMARY"
    python -m memif_harness.report diff old.json new.json     # exit 1 on regressions

Reports are plain ``dict`` values as loaded from JSON; the schema is the contract.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import shutil
import sys
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from importlib import resources
from pathlib import Path
from typing import Any, Final

import jsonschema
from rich.console import Console
from rich.table import Table
from rich.text import Text

from memif_harness import __version__

Report = dict[str, Any]
Record = dict[str, Any]

FORMAT: Final = "memif-harness-interop-report"
SCHEMA_VERSION: Final = 1

OUTCOMES: Final = ("passed", "failed", "skipped", "xfailed", "xpassed", "error")
#: a cell shows its worst outcome; earlier is worse
SEVERITY: Final = ("error", "failed", "xpassed", "xfailed", "passed", "skipped")
BAD: Final = frozenset({"failed", "error"})

PEERS: Final = ("python", "testpmd", "vpp", "libmemif")
ROLES: Final = ("master", "slave")
#: scenario groups in catalogue order (handshake, identity, regions, data, interrupts,
#: lifecycle, sockets, zero-copy); other prefixes sort after them
SCENARIO_GROUPS: Final = ("H", "I", "R", "D", "Q", "L", "S", "Z")

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

MESSAGE_LIMIT: Final = 500


class InvalidReport(ValueError):
    """The document is not a valid memif-harness report; ``errors`` lists why."""

    def __init__(self, errors: Sequence[str], source: str = "report") -> None:
        self.errors = list(errors)
        shown = "\n  ".join(self.errors[:20])
        more = f"\n  ... and {len(self.errors) - 20} more" if len(self.errors) > 20 else ""
        super().__init__(f"{source} does not match report_schema.json:\n  {shown}{more}")


# --- schema -----------------------------------------------------------------------------------


def load_schema() -> dict[str, Any]:
    text = resources.files("memif_harness").joinpath("report_schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def validation_errors(report: object) -> list[str]:
    """Every schema violation in ``report``, as ``path: message`` lines (empty if valid)."""
    validator = jsonschema.Draft202012Validator(
        load_schema(), format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    errors = sorted(validator.iter_errors(report), key=lambda e: list(map(str, e.path)))
    return [f"{e.json_path}: {e.message}" for e in errors]


def validate(report: object, source: str = "report") -> None:
    """Raise :class:`InvalidReport` unless ``report`` matches the schema."""
    errors = validation_errors(report)
    if errors:
        raise InvalidReport(errors, source)


def load(path: str | os.PathLike[str]) -> Report:
    """Read and validate a report file."""
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    validate(data, str(path))
    report: Report = data
    return report


def dump(report: Report, path: str | os.PathLike[str]) -> Path:
    """Validate ``report`` and write it (parent directories are created)."""
    validate(report)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(target)
    return target


# --- building -----------------------------------------------------------------------------------


def scenario_sort_key(scenario: str) -> tuple[int, str, int, str]:
    """Catalogue order: H1 < H2 < H10 < I1 < ... ; unknown prefixes after, alphabetically."""
    m = re.fullmatch(r"([A-Za-z]+)(\d+)(.*)", scenario)
    if not m:
        return (len(SCENARIO_GROUPS) + 1, scenario, 0, "")
    prefix, number, rest = m.groups()
    group = (
        SCENARIO_GROUPS.index(prefix) if prefix in SCENARIO_GROUPS else len(SCENARIO_GROUPS)
    )
    return (group, prefix, int(number), rest)


def column_key(peer: str, role: str | None) -> str:
    return f"{peer}/{role}" if role else peer


def _column_sort_key(peer: str, role: str | None) -> tuple[int, str, int]:
    p = PEERS.index(peer) if peer in PEERS else len(PEERS)
    r = ROLES.index(role) if role in ROLES else len(ROLES)
    return (p, peer, r)


def worst(outcomes: Iterable[str]) -> str:
    """The most severe outcome of ``outcomes`` (which must not be empty)."""
    return min(outcomes, key=SEVERITY.index)


def summarize(results: Sequence[Record]) -> dict[str, int]:
    counts = Counter(r["outcome"] for r in results)
    summary = {"total": len(results)}
    summary.update({o: counts.get(o, 0) for o in OUTCOMES})
    return summary


def _strip_id(title: str, scenario: str) -> str:
    """``"I2: the peer rejects ..."`` -> ``"the peer rejects ..."`` (the row shows the id)."""
    m = re.match(rf"{re.escape(scenario)}\b\s*[:.\-\u2013\u2014]?\s*", title)
    return title[m.end():] if m and title[m.end():] else title


def build_matrix(results: Sequence[Record]) -> dict[str, Any]:
    """Scenario x peer/role -> worst outcome, from records that name a scenario and a peer."""
    columns: dict[str, tuple[str, str | None]] = {}
    cells: dict[str, dict[str, list[str]]] = {}
    titles: dict[str, str | None] = {}
    for r in results:
        peer = r.get("peer")
        scenarios = r.get("scenarios") or ([r["scenario"]] if r.get("scenario") else [])
        if not scenarios or not peer:
            continue
        role = r.get("peer_role")
        key = column_key(peer, role)
        columns[key] = (peer, role)
        for scenario in scenarios:
            cells.setdefault(scenario, {}).setdefault(key, []).append(r["outcome"])
            # a test covering several scenarios does not name any one of them
            if r.get("title") and len(scenarios) == 1 and not titles.get(scenario):
                titles[scenario] = _strip_id(r["title"], scenario)
    ordered = sorted(columns.items(), key=lambda kv: _column_sort_key(*kv[1]))
    rows = []
    for scenario in sorted(cells, key=scenario_sort_key):
        row_cells = {}
        for key, outcomes in cells[scenario].items():
            counts = Counter(outcomes)
            row_cells[key] = {
                "outcome": worst(outcomes),
                "tests": len(outcomes),
                "counts": {o: counts[o] for o in OUTCOMES if counts[o]},
            }
        rows.append({"scenario": scenario, "title": titles.get(scenario), "cells": row_cells})
    return {
        "columns": [{"key": k, "peer": p, "role": r} for k, (p, r) in ordered],
        "rows": rows,
    }


def ci_info(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """What CI (if any) ran us: GitHub Actions, GitLab CI or another that sets ``CI``."""
    env = os.environ if env is None else env

    def get(*names: str) -> str | None:
        for name in names:
            if env.get(name):
                return env[name]
        return None

    is_ci = (env.get("CI") or "").strip().lower() not in ("", "0", "false", "no")
    provider: str | None = None
    url = None
    if env.get("GITHUB_ACTIONS") == "true" or env.get("GITHUB_RUN_ID"):
        provider = "github"
        server, repo, run = get("GITHUB_SERVER_URL"), get("GITHUB_REPOSITORY"), get("GITHUB_RUN_ID")
        if server and repo and run:
            url = f"{server}/{repo}/actions/runs/{run}"
    elif env.get("GITLAB_CI") or env.get("CI_PIPELINE_ID"):
        provider = "gitlab"
        url = get("CI_JOB_URL", "CI_PIPELINE_URL")
    elif is_ci:
        provider = "other"
    return {
        "ci": is_ci,
        "provider": provider,
        "run_id": get("GITHUB_RUN_ID"),
        "pipeline_id": get("CI_PIPELINE_ID"),
        "job": get("GITHUB_JOB", "CI_JOB_NAME"),
        "ref": get("GITHUB_REF_NAME", "CI_COMMIT_REF_NAME"),
        "sha": get("GITHUB_SHA", "CI_COMMIT_SHA"),
        "url": url,
    }


@dataclasses.dataclass
class PeerStatus:
    """Whether a peer can be used, as far as the configuration tells before running."""

    name: str
    available: bool
    reason: str | None = None
    version: str | None = None
    detail: str | None = None


def _executable(path: str | None, name: str) -> str | None:
    if not path:
        return shutil.which(name)
    if os.sep not in path:
        return shutil.which(path)
    return path if os.path.isfile(path) and os.access(path, os.X_OK) else None


def detect_peers(
    *,
    testpmd: str | None = None,
    vpp_bin: str | None = None,
    vpp_image: str | None = None,
    libmemif_app: str | None = None,
    harness_version: str | None = None,
) -> list[PeerStatus]:
    """Which peers are configured. ``None`` options fall back to the environment and PATH,
    as the plugin's options do (``TESTPMD``, ``VPP_BIN``, ``VPP_IMAGE``, ``LIBMEMIF_APP``)."""
    if harness_version is None:
        harness_version = __version__
    peers = [PeerStatus("python", True, version=harness_version, detail="memif_harness")]

    testpmd = testpmd or os.environ.get("TESTPMD")
    found = _executable(testpmd, "dpdk-testpmd")
    if found:
        peers.append(PeerStatus("testpmd", True, detail=found))
    elif testpmd:
        peers.append(PeerStatus("testpmd", False, f"--testpmd {testpmd!r} is not an executable"))
    else:
        peers.append(PeerStatus(
            "testpmd", False,
            "dpdk-testpmd not found on PATH: install DPDK (Debian: apt-get install dpdk-dev) "
            "or pass --testpmd PATH / set TESTPMD",
        ))

    vpp_bin = vpp_bin or os.environ.get("VPP_BIN")
    vpp_image = vpp_image or os.environ.get("VPP_IMAGE")
    if vpp_image:
        peers.append(PeerStatus("vpp", True, detail=f"image {vpp_image}"))
    elif vpp_bin and _executable(vpp_bin, "vpp"):
        peers.append(PeerStatus("vpp", True, detail=vpp_bin))
    elif vpp_bin:
        peers.append(PeerStatus("vpp", False, f"--vpp-bin {vpp_bin!r} is not an executable"))
    else:
        peers.append(PeerStatus(
            "vpp", False,
            "VPP not configured: pass --vpp-bin PATH (and --vppctl) or --vpp-image IMAGE "
            "(VPP_BIN/VPPCTL/VPP_IMAGE)",
        ))

    libmemif_app = libmemif_app or os.environ.get("LIBMEMIF_APP")
    if libmemif_app and _executable(libmemif_app, libmemif_app):
        peers.append(PeerStatus("libmemif", True, detail=libmemif_app))
    elif libmemif_app:
        peers.append(PeerStatus(
            "libmemif", False, f"--libmemif-app {libmemif_app!r} is not an executable"
        ))
    else:
        peers.append(PeerStatus(
            "libmemif", False,
            "libmemif not configured: pass --libmemif-app PATH (an icmp_responder build) "
            "or set LIBMEMIF_APP",
        ))
    return peers


def merge_peers(
    configured: Sequence[PeerStatus], results: Sequence[Record]
) -> list[dict[str, Any]]:
    """Peer records: what the configuration said, corrected by what the tests saw.

    A peer some test got past setup with is available; one whose every test skipped or
    failed in setup is not, and the most common reason says why; versions come from the
    tests' ``peer_version``.
    """
    by_name: dict[str, list[Record]] = {}
    for r in results:
        if r.get("peer"):
            by_name.setdefault(r["peer"], []).append(r)
    names = [p.name for p in configured] + sorted(set(by_name) - {p.name for p in configured})
    status = {p.name: p for p in configured}
    records = []
    for name in names:
        conf = status.get(name)
        tests = by_name.get(name, [])
        versions = Counter(r["peer_version"] for r in tests if r.get("peer_version"))
        version = versions.most_common(1)[0][0] if versions else (conf.version if conf else None)
        if tests and not any(_got_past_setup(r) for r in tests):
            reasons = Counter(r["message"] for r in tests if r.get("message"))
            available = False
            reason = reasons.most_common(1)[0][0] if reasons else "no test got past its setup"
        elif tests:
            available, reason = True, None
        elif conf:
            available, reason = conf.available, conf.reason
        else:  # pragma: no cover - names come from either side
            available, reason = False, "no tests ran"
        records.append({
            "name": name,
            "version": version,
            "available": available,
            "reason": None if available else reason,
            "tests": len(tests),
        })
    return records


def _got_past_setup(r: Record) -> bool:
    """Whether the test ran, and so its peer was there: it got past setup (``when``, where
    recorded) and did not skip."""
    if r["outcome"] == "skipped":
        return False
    when = r.get("when")
    if when is not None:
        return bool(when in ("call", "teardown"))
    return bool(r["outcome"] != "error")


def assemble(run: dict[str, Any], peers: list[dict[str, Any]], results: list[Record]) -> Report:
    """A complete report from its parts (summary and matrix are derived from ``results``)."""
    return {
        "format": FORMAT,
        "schema_version": SCHEMA_VERSION,
        "run": run,
        "peers": peers,
        "results": results,
        "summary": summarize(results),
        "matrix": build_matrix(results),
    }


# --- rendering ----------------------------------------------------------------------------------


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


def _location(scenario: str | None, peer: str | None, role: str | None) -> str:
    bits = [b for b in (scenario, peer and column_key(peer, role)) if b]
    return ", ".join(bits)


def _scenarios(r: Record) -> str | None:
    return ",".join(r.get("scenarios") or []) or r.get("scenario")


def _where(r: Record) -> str:
    where = _location(_scenarios(r), r.get("peer"), r.get("peer_role"))
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
                console.print(Text(_indent(r["message"], "      "), style="red"))
            for artifact in r.get("artifacts", []):
                console.print(Text(f"      artifact: {artifact}", style="dim"))
    style = "bold red" if failures else "bold green"
    console.print(Text(summary_line(report), style=style))


def _indent(text: str, prefix: str) -> str:
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
                lines.extend(["  ```", _indent(msg, "  "), "  ```"])
        lines.append("")
    return "\n".join(lines)


# --- diff ---------------------------------------------------------------------------------------


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
        return _location(self.scenario, self.peer, self.peer_role)


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
            nodeid, o["outcome"] if o else None, r["outcome"], _scenarios(r), r.get("peer"),
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
                nodeid, o["outcome"], None, _scenarios(o), o.get("peer"),
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
                console.print(Text(_indent(c.message, "      "), style="red"))
    console.print(Text(
        f"{len(d.regressions)} regressions, {len(d.new_failures)} new failing, "
        f"{len(d.fixes)} fixes, {len(d.changes)} other changes, "
        f"{len(d.added)} added, {len(d.removed)} removed",
        style="bold red" if d.has_regressions else "bold green",
    ))


# --- CLI ----------------------------------------------------------------------------------------


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
