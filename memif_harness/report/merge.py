"""Merging reports of several runs (one per CI job: peer x version) into one."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .build import assemble
from .document import Report, load


def load_many(paths: Sequence[str | os.PathLike[str]]) -> tuple[Report, list[str]]:
    """One report from files and directories (every ``*.json`` in one), merged when there is
    more than one; and the files it was read from."""
    files: list[Path] = []
    for p in map(Path, paths):
        files += sorted(p.glob("*.json")) if p.is_dir() else [p]
    if not files:
        raise FileNotFoundError(f"no report files in {', '.join(map(str, paths))}")
    reports = [load(f) for f in files]
    names = [str(f) for f in files]
    return (reports[0] if len(reports) == 1 else merge(reports, names)), names


def merge(reports: Sequence[Report], sources: Sequence[str]) -> Report:
    """One report holding every record of ``reports``; run metadata spans them (earliest
    start, latest finish, worst exit status), peers are kept per name and version."""
    first = reports[0]["run"]
    runs = [r["run"] for r in reports]
    run: dict[str, Any] = {
        **first,
        "started": min(r["started"] for r in runs),
        "finished": max(r["finished"] for r in runs),
        "duration": round(sum(r["duration"] for r in runs), 3),
        "exit_status": max(r["exit_status"] for r in runs),
        "argv": [],
        "selected_peers": sorted({p for r in runs for p in r["selected_peers"]}),
        "required_peers": sorted({p for r in runs for p in r.get("required_peers", [])}),
        "sources": list(sources),
    }
    peers: dict[tuple[str, str | None], dict[str, Any]] = {}
    for report in reports:
        for p in report["peers"]:
            have = peers.setdefault((p["name"], p["version"]), {**p, "tests": 0})
            have["tests"] += p.get("tests", 0)
            if p["available"] and not have["available"]:
                have.update(available=True, reason=None)
    # a peer that ran somewhere is not also listed as absent where another job lacked it
    ran = {name for (name, _), p in peers.items() if p["available"]}
    kept = [p for (name, _), p in peers.items() if p["available"] or name not in ran]
    results = [r for report in reports for r in report["results"]]
    return assemble(run, kept, results)
