"""JUnit XML with one test case per (scenario, peer x version x role) cell, for CI systems.

A suite per matrix column; a case per row in it (``H1 [vpp@26.06/master]``), failed or in
error when its worst test was, skipped when every test skipped (or xfailed); the case's
output lists each of its tests with outcome, message and the deciding line.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path

from .build import cell_records, worst
from .document import Report
from .render import row_title


def to_junit(report: Report) -> ET.ElementTree[ET.Element]:
    records = cell_records(report["results"])
    titles = {(r["kind"], r["scenario"]): row_title(r) for r in report["matrix"]["rows"]}
    root = ET.Element("testsuites", name="memif interop")
    for col in report["matrix"]["columns"]:
        suite = ET.SubElement(root, "testsuite", name=col["key"])
        props = ET.SubElement(suite, "properties")
        for name in ("peer", "version", "role"):
            ET.SubElement(props, "property", name=name, value=str(col[name] or ""))
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        total_time = 0.0
        for (kind, row), cells in records.items():
            tests = cells.get(col["key"])
            if not tests:
                continue
            outcome = worst(r["outcome"] for r in tests)
            seconds = sum(r["duration"] for r in tests)
            total_time += seconds
            title = titles.get((kind, row))
            case = ET.SubElement(
                suite, "testcase",
                classname=f"memif.{row[0] if kind == 'scenario' else 'tests'}",
                name=f"{row} [{col['key']}]" + (f" {title}" if title else ""),
                time=f"{seconds:.3f}",
            )
            counts["tests"] += 1
            bad = [r for r in tests if r["outcome"] == outcome]
            message = next((r["message"] for r in bad if r.get("message")), outcome)
            if outcome in ("failed", "error"):
                tag = "failure" if outcome == "failed" else "error"
                counts["failures" if tag == "failure" else "errors"] += 1
                ET.SubElement(case, tag, message=message, type=outcome).text = "\n".join(
                    f"{r['nodeid']}: {r['outcome']}"
                    + (f"\n  {r['message']}" if r.get("message") else "")
                    + (f"\n  at {r['assertion']}" if r.get("assertion") else "")
                    for r in tests
                )
            elif outcome in ("skipped", "xfailed"):
                counts["skipped"] += 1
                ET.SubElement(case, "skipped", message=message)
            ET.SubElement(case, "system-out").text = "\n".join(
                f"{r['nodeid']}: {r['outcome']} ({r['duration']:.2f} s)" for r in tests
            )
        suite.attrib.update({k: str(v) for k, v in counts.items()})
        suite.set("time", f"{total_time:.3f}")
    ET.indent(root)
    return ET.ElementTree(root)


def write_junit(report: Report, path: str | os.PathLike[str]) -> Path:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    to_junit(report).write(target, encoding="utf-8", xml_declaration=True)
    return target
