"""Reports made in the tests: records as the plugin writes them, and valid reports of them."""

from __future__ import annotations

from memif_harness import report as mreport


def make_record(
    nodeid: str,
    outcome: str,
    scenario: str | None = "H1",
    peer: str | None = "vpp",
    *,
    role: str | None = "master",
    message: str | None = None,
    version: str | None = None,
) -> mreport.Record:
    """A record as the plugin writes it (a vpp peer at 26.06 by default)."""
    return {
        "nodeid": nodeid,
        "scenario": scenario,
        "scenarios": [scenario] if scenario else [],
        "title": None,
        "peer": peer,
        "peer_version": version or ("26.06" if peer == "vpp" else None),
        "peer_role": role,
        "outcome": outcome,
        "duration": 0.5,
        "message": message,
        "artifacts": [],
    }


def make_report(
    *records: mreport.Record, started: str = "2026-11-26T12:00:00+00:00"
) -> mreport.Report:
    """A valid report of ``records`` (run metadata fixed, peers merged as the plugin does)."""
    run = {
        "harness_version": "0.1.0",
        "harness_revision": None,
        "started": started,
        "finished": "2026-11-26T12:01:00+00:00",
        "duration": 60.0,
        "exit_status": 0,
        "argv": [],
        "selected_peers": [],
        "required_peers": [],
        "host": {"hostname": "h", "platform": "Linux", "machine": "x86_64"},
        "python": {"version": "3.11.7", "implementation": "CPython"},
        "pytest_version": "9",
        "ci": mreport.ci_info({}),
    }
    peers = mreport.merge_peers(mreport.detect_peers(harness_version="0.1.0"), list(records))
    report = mreport.assemble(run, peers, list(records))
    mreport.validate(report)
    return report
