"""Building a report: records into the matrix, peer detection, run metadata."""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from .. import __version__
from .document import (
    FORMAT,
    NO_PEER,
    OUTCOMES,
    PEERS,
    ROLES,
    SCENARIO_GROUPS,
    SCHEMA_VERSION,
    SEVERITY,
    Record,
    Report,
)


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


def column_key(peer: str, role: str | None, version: str | None = None) -> str:
    """``vpp@26.06/master``; the version and role parts only when known."""
    key = f"{peer}@{version}" if version else peer
    return f"{key}/{role}" if role else key


def _column_sort_key(peer: str, version: str | None, role: str | None) -> tuple[Any, ...]:
    p = PEERS.index(peer) if peer in PEERS else len(PEERS) + (peer == NO_PEER)
    r = ROLES.index(role) if role in ROLES else len(ROLES)
    return (p, peer, version or "", r)


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


def test_name(nodeid: str) -> str:
    """The row of a test that names no scenario: its function, without parameters."""
    return nodeid.rsplit("::", maxsplit=1)[-1].split("[", maxsplit=1)[0] or nodeid


def peer_versions(results: Sequence[Record]) -> dict[str, str]:
    """Peer -> its version, for peers whose tests saw exactly one (a test that skipped before
    its peer started has none, and belongs in the same column)."""
    seen: dict[str, set[str]] = {}
    for r in results:
        if r.get("peer") and r.get("peer_version"):
            seen.setdefault(r["peer"], set()).add(r["peer_version"])
    return {peer: next(iter(v)) for peer, v in seen.items() if len(v) == 1}


RowKey = tuple[str, str]  # (kind, scenario id or test name)


def cell_records(results: Sequence[Record]) -> dict[RowKey, dict[str, list[Record]]]:
    """(kind, row) -> column key -> the records in that cell, in row and column order."""
    return _place(results)[1]


def _place(
    results: Sequence[Record],
) -> tuple[
    dict[str, tuple[str, str | None, str | None]], dict[RowKey, dict[str, list[Record]]]
]:
    only_version = peer_versions(results)
    columns: dict[str, tuple[str, str | None, str | None]] = {}
    cells: dict[RowKey, dict[str, list[Record]]] = {}
    for r in results:
        peer = r.get("peer") or NO_PEER
        version = r.get("peer_version") or only_version.get(peer)
        scenarios = r.get("scenarios") or ([r["scenario"]] if r.get("scenario") else [])
        rows = [("scenario", s) for s in scenarios] or [("test", test_name(r["nodeid"]))]
        role = r.get("peer_role")
        key = column_key(peer, role, version)
        columns[key] = (peer, version, role)
        for row in rows:
            cells.setdefault(row, {}).setdefault(key, []).append(r)
    ordered = dict(sorted(columns.items(), key=lambda kv: _column_sort_key(*kv[1])))
    order = list(ordered)
    sorted_cells = {
        row: dict(sorted(cells[row].items(), key=lambda kv: order.index(kv[0])))
        for row in sorted(cells, key=lambda kn: (kn[0] == "test", scenario_sort_key(kn[1])))
    }
    return ordered, sorted_cells


def build_matrix(results: Sequence[Record]) -> dict[str, Any]:
    """Scenario (or test) x peer/version/role -> worst outcome, from every record.

    Rows are scenario ids in catalogue order, then tests that name no scenario (by name);
    tests that name no peer are in the :data:`NO_PEER` column.
    """
    columns, cells = _place(results)
    rows = []
    for (kind, name), by_column in cells.items():
        row_cells = {}
        for key, records in by_column.items():
            counts = Counter(r["outcome"] for r in records)
            row_cells[key] = {
                "outcome": worst(counts),
                "tests": len(records),
                "counts": {o: counts[o] for o in OUTCOMES if counts[o]},
            }
        rows.append(
            {"scenario": name, "kind": kind, "title": _title(kind, name, by_column),
             "cells": row_cells}
        )
    return {
        "columns": [{"key": k, "peer": p, "version": v, "role": r}
                    for k, (p, v, r) in columns.items()],
        "rows": rows,
    }


def _title(kind: str, name: str, by_column: Mapping[str, list[Record]]) -> str | None:
    """The first title a test naming only this scenario gives (a test covering several
    scenarios does not name any one of them)."""
    if kind != "scenario":
        return None
    for records in by_column.values():
        for r in records:
            if r.get("title") and len(r.get("scenarios") or [name]) == 1:
                return _strip_id(r["title"], name)
    return None


def peer_summaries(report: Report) -> dict[tuple[str, str | None], Counter[str]]:
    """(peer, version) -> outcome counts of its tests, in column order."""
    only_version = peer_versions(report["results"])
    out: dict[tuple[str, str | None], Counter[str]] = {}
    for col in report["matrix"]["columns"]:
        out.setdefault((col["peer"], col["version"]), Counter())
    for r in report["results"]:
        peer = r.get("peer") or NO_PEER
        version = r.get("peer_version") or only_version.get(peer)
        out.setdefault((peer, version), Counter())[r["outcome"]] += 1
    return out


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
