"""What a person reads: the HTML page, JUnit, merged and compared runs, the trend, the
terminal at 80 columns, and the ``memif-harness report`` command."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pytest
from rich.console import Console

from memif_harness import report as mreport
from memif_harness.conformance import catalogue
from memif_harness.report.html import to_html, write_html
from memif_harness.report.junit import to_junit
from memif_harness.report.merge import load_many, merge
from memif_harness.report.trend import load_history, pass_counts, trend_svg

from .captures import CAPTURES
from .reports import make_record, make_report

SCENARIOS_MD = CAPTURES.parent / "reference" / "scenarios.md"


def sample(tmp_path: Path | None = None) -> mreport.Report:
    """Two peers, both roles, every kind of outcome, a test naming no scenario or peer."""
    failed = make_record(
        "s::test_h1[vpp-peer_slave]", "failed", role="slave", message="AssertionError: no HELLO"
    )
    failed["assertion"] = "test_x.py:12: assert hello is not None"
    if tmp_path is not None:
        art = tmp_path / "artifacts" / "h1"
        art.mkdir(parents=True)
        (art / "diagnostics.json").write_text("{}")
        (art / "sent.pcap").write_bytes(b"\xd4\xc3\xb2\xa1")
        failed["artifacts"] = [str(art)]
    return make_report(
        make_record("s::test_h1[vpp-peer_master]", "passed"),
        failed,
        make_record("s::test_d2[vpp-peer_master]", "skipped", scenario="D2",
                    message="VPP not configured"),
        make_record("s::test_d2[testpmd-peer_slave]", "xfailed", scenario="D2",
                    peer="testpmd", role="slave", version="22.11.4"),
        make_record("s::test_d1[testpmd-peer_master]", "passed", scenario="D1",
                    peer="testpmd", version="22.11.4"),
        make_record("s::test_d1b[testpmd-peer_master]", "error", scenario="D1",
                    peer="testpmd", version="22.11.4", message="RuntimeError: port start"),
        make_record("s::test_docker_pair[master]", "passed", scenario=None, peer=None, role=None),
    )


class _Cells(HTMLParser):
    """The matrix rows of the page: row id -> [(outcome, detail id)]; and detail rows."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, list[tuple[str, str | None]]] = {}
        self.details: dict[str, str] = {}
        self._row: str | None = None
        self._in_id = False
        self._detail: str | None = None
        self.scripts = 0
        self.external: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag in ("script", "link", "img") and (a.get("src") or a.get("href")):
            self.external.append(str(a.get("src") or a.get("href")))
        if tag == "script":
            self.scripts += 1
        if tag == "tr" and "row" in (a.get("class") or "").split():
            self._row = ""
        if tag == "tr" and a.get("class") == "detail":
            self._detail = str(a["id"])
            self.details[self._detail] = ""
        if tag == "th" and "id" in (a.get("class") or "").split():
            self._in_id = True
        if tag == "td" and "cell" in (a.get("class") or "") and self._row:
            self.rows[self._row].append((str(a["data-outcome"]), a.get("data-detail")))

    def handle_endtag(self, tag: str) -> None:
        if tag == "th":
            self._in_id = False
        if tag == "tr":
            self._detail = None

    def handle_data(self, data: str) -> None:
        if self._in_id and self._row == "":
            self._row = data
            self.rows[data] = []
        if self._detail:
            self.details[self._detail] += data


def test_catalogue_has_every_id_of_the_reference() -> None:
    ids = [s.id for s in catalogue.scenarios()]
    assert len(ids) == len(set(ids))
    assert set(catalogue.families()) == {s.family for s in catalogue.scenarios()}
    assert catalogue.titles()["I2"] == "id unknown on that socket"
    if not SCENARIOS_MD.is_file():
        pytest.skip(f"the reference catalogue is not here ({SCENARIOS_MD})")
    table = re.findall(r"^\|\s*([HIRDQLSZ]\d+)\s*\|", SCENARIOS_MD.read_text(), re.M)
    assert ids == table


def test_html_shows_every_catalogue_id_and_the_cells(tmp_path: Path) -> None:
    report = sample(tmp_path)
    page = to_html(report, base=tmp_path)
    cells = _Cells()
    cells.feed(page)
    assert cells.external == []  # self-contained
    assert cells.scripts == 1
    for s in catalogue.scenarios():
        assert s.id in cells.rows, s.id
    columns = report["matrix"]["columns"]
    assert len(cells.rows["H1"]) == len(columns)
    keys = [c["key"] for c in columns]
    h1 = dict(zip(keys, cells.rows["H1"], strict=True))
    assert h1["vpp@26.06/master"][0] == "passed"
    assert h1["vpp@26.06/slave"][0] == "failed"
    assert h1["testpmd@22.11.4/master"] == ("none", None)  # a gap
    assert all(o == "none" for o, _ in cells.rows["Z5"])  # no test at all
    assert cells.rows["test_docker_pair"][keys.index("(no peer)")][0] == "passed"
    detail = cells.details[str(h1["vpp@26.06/slave"][1])]
    assert "AssertionError: no HELLO" in detail
    assert "test_x.py:12: assert hello is not None" in detail
    assert "0.50 s" in detail
    # artifacts are linked relative to the page
    assert 'href="artifacts/h1/sent.pcap"' in page
    assert 'href="artifacts/h1/diagnostics.json"' in page
    # a summary line per peer and version
    assert re.search(r"<b>vpp</b> 26\.06: 1 passed, 1 failed, 1 skipped; 2 of 84 catalogue", page)
    assert "<b>testpmd</b> 22.11.4: 1 passed, 1 xfailed, 1 error" in page


def test_html_escapes_what_the_tests_wrote(tmp_path: Path) -> None:
    rec = make_record("s::t", "failed", message="<script>alert(1)</script>")
    page = to_html(make_report(rec))
    assert "<script>alert(1)" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_junit_has_a_case_per_scenario_and_column() -> None:
    root = to_junit(sample()).getroot()
    suites = {s.get("name"): s for s in root.iter("testsuite")}
    assert set(suites) == {c["key"] for c in sample()["matrix"]["columns"]}
    slave = suites["vpp@26.06/slave"]
    (case,) = slave.iter("testcase")
    assert case.get("name", "").startswith("H1 [vpp@26.06/slave] master sends HELLO")
    failure = case.find("failure")
    assert failure is not None
    assert failure.get("message") == "AssertionError: no HELLO"
    assert "test_x.py:12" in (failure.text or "")
    pmd = suites["testpmd@22.11.4/master"]
    assert pmd.get("errors") == "1"
    assert pmd.get("tests") == "1"  # D1's two tests are one case, in error
    assert suites["testpmd@22.11.4/slave"].get("skipped") == "1"  # xfailed
    ET.fromstring(ET.tostring(root))  # well-formed


def test_merge_puts_each_job_in_its_own_columns() -> None:
    old = make_report(make_record("s::test_h1[vpp-peer_master]", "passed", version="26.02"),
                      started="2026-11-01T10:00:00+00:00")
    new = make_report(make_record("s::test_h1[vpp-peer_master]", "failed", version="26.06"),
                      make_record("s::test_h1[testpmd-peer_master]", "passed", peer="testpmd",
                                  version="22.11.4"))
    merged = merge([old, new], ["a.json", "b.json"])
    mreport.validate(merged)
    assert [c["key"] for c in merged["matrix"]["columns"]] == [
        "testpmd@22.11.4/master", "vpp@26.02/master", "vpp@26.06/master",
    ]
    assert merged["run"]["sources"] == ["a.json", "b.json"]
    assert merged["run"]["started"] == "2026-11-01T10:00:00+00:00"
    assert merged["summary"]["total"] == 3
    versions = {(p["name"], p["version"]) for p in merged["peers"] if p["available"]}
    assert {("vpp", "26.02"), ("vpp", "26.06"), ("testpmd", "22.11.4")} <= versions


def test_compare_names_regressions_fixes_scenarios_and_peers() -> None:
    base = make_report(
        make_record("s::a[vpp-peer_master]", "passed"),
        make_record("s::b[vpp-peer_master]", "failed", scenario="D1"),
        make_record("s::c[vpp-peer_master]", "passed", scenario="L5"),
    )
    new = make_report(
        make_record("s::a[vpp-peer_master]", "failed", message="boom"),
        make_record("s::b[vpp-peer_master]", "passed", scenario="D1"),
        make_record("s::d[testpmd-peer_master]", "passed", scenario="I2", peer="testpmd"),
    )
    d = mreport.diff(base, new)
    assert [c.nodeid for c in d.regressions] == ["s::a[vpp-peer_master]"]
    assert [c.nodeid for c in d.fixes] == ["s::b[vpp-peer_master]"]
    assert d.scenarios_added == ["I2"]
    assert d.scenarios_removed == ["L5"]
    assert d.peers_added == ["testpmd"]
    assert d.peers_removed == []
    assert d.has_regressions
    same = mreport.diff(base, base)
    assert not same.has_regressions
    assert same.scenarios_added == same.peers_removed == []


def test_trend_counts_passes_per_peer_in_run_order(tmp_path: Path) -> None:
    runs = [
        ("2026-11-03T00:00:00+00:00", ["passed", "passed", "passed"]),
        ("2026-11-01T00:00:00+00:00", ["passed", "failed", "failed"]),
        ("2026-11-02T00:00:00+00:00", ["passed", "passed", "failed"]),
    ]
    for i, (started, outcomes) in enumerate(runs):
        records = [make_record(f"s::t{n}[vpp-peer_master]", o) for n, o in enumerate(outcomes)]
        mreport.dump(make_report(*records, started=started), tmp_path / f"run{i}.json")
    (tmp_path / "junk.json").write_text("[]")
    history, unreadable = load_history(tmp_path)
    assert [h["run"]["started"][:10] for h in history] == [
        "2026-11-01", "2026-11-02", "2026-11-03"
    ]
    assert len(unreadable) == 1
    assert "junk.json" in unreadable[0]
    assert pass_counts(history) == {"vpp": [1, 2, 3]}
    svg = trend_svg(history)
    assert svg.startswith("<svg")
    assert svg.endswith("</svg>")
    assert svg.count("<circle") == 3
    assert "vpp: 3 passed, run of 2026-11-03" in svg
    assert "<polyline" in to_html(history[-1], history=history)


def _lines_at(report: mreport.Report, width: int) -> list[str]:
    console = Console(record=True, width=width, color_system=None)
    mreport.render(report, console)
    return console.export_text().splitlines()


def _eight_columns() -> mreport.Report:
    records = [
        make_record(f"s::test_x[{peer}-peer_{role}]", "passed", scenario="H14", peer=peer,
                    role=role, version=version)
        for peer, version in (("python", "0.1.0"), ("testpmd", "22.11.4"),
                              ("vpp", "26.06-release"), ("libmemif", "4.0"))
        for role in ("master", "slave")
    ]
    records.append(make_record("s::test_y[vpp-peer_slave]", "skipped", scenario="D2",
                               role="slave", version="26.06-release", message="needs root"))
    records.append(make_record("s::test_z[vpp-peer_master]", "skipped", scenario="D3",
                               version="26.06-release", message="needs root"))
    return make_report(*records)


@pytest.mark.parametrize("width", [80, 60])
def test_terminal_matrix_keeps_every_column_within_the_width(width: int) -> None:
    report = _eight_columns()
    lines = _lines_at(report, width)
    assert max(map(len, lines)) <= width
    h14 = [ln for ln in lines if ln.startswith("│ H14")]
    # every column is shown, in one table or over several, each with its cell
    assert sum(ln.count("✔") for ln in h14) == 8
    text = "\n".join(lines)
    assert "H14 CONNECTED echoes" in text  # the catalogue's title, wrapped
    assert "· no test" in text
    key = "columns: py python, pmd testpmd, lmf libmemif, m master, s slave"
    assert key in " ".join(text.split())
    # each skip reason once, with the tests it skipped
    assert text.count("needs root") == 1
    assert "2 tests: needs root" in text
    assert "D2, vpp/slave; D3, vpp/master" in text
    assert "vpp 26.06-release: 2 passed, 2 skipped" in text


def test_terminal_matrix_uses_full_headings_when_they_fit() -> None:
    lines = _lines_at(_eight_columns(), 200)
    header = "\n".join(lines[:6])
    assert "testpmd" in header
    assert "libmemif" in header
    assert "master" in header
    assert not any(ln.startswith("columns:") for ln in lines)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "memif_harness.cli", "report", *args],
        capture_output=True, text=True, check=False,
    )


def test_report_command_writes_html_junit_json_and_compares(tmp_path: Path) -> None:
    jobs = tmp_path / "jobs"
    base = tmp_path / "base.json"
    mreport.dump(make_report(make_record("s::t[vpp-peer_master]", "passed")), base)
    mreport.dump(make_report(make_record("s::t[vpp-peer_master]", "failed", message="boom")),
                 jobs / "vpp.json")
    mreport.dump(make_report(make_record("s::u[testpmd-peer_master]", "passed", peer="testpmd",
                                         version="22.11.4")), jobs / "dpdk.json")
    out = _cli(str(jobs), "--html", str(tmp_path / "out.html"), "--junit",
               str(tmp_path / "out.xml"), "--json", str(tmp_path / "merged.json"),
               "--history", str(tmp_path))
    assert out.returncode == 0, out.stderr
    assert "memif interop matrix" in out.stdout
    merged = mreport.load(tmp_path / "merged.json")
    assert len(merged["run"]["sources"]) == 2
    assert "<polyline" in (tmp_path / "out.html").read_text()  # base.json + this run
    assert ET.parse(tmp_path / "out.xml").getroot().tag == "testsuites"

    regress = _cli("compare", str(base), str(jobs))
    assert regress.returncode == 1, regress.stdout
    assert "regressions (1):" in regress.stdout
    assert "peers that ran now (1): testpmd@22.11.4" in regress.stdout
    assert _cli("compare", str(base), str(base)).returncode == 0
    missing = _cli("compare", str(base), str(tmp_path / "nope"))
    assert missing.returncode == 2
    assert "nope" in missing.stderr


def test_version_1_reports_are_upgraded_on_load(tmp_path: Path) -> None:
    v2 = make_report(make_record("s::t[vpp-peer_master]", "passed"))
    v1 = json.loads(json.dumps(v2))
    v1["schema_version"] = 1
    for col in v1["matrix"]["columns"]:
        del col["version"]
    for row in v1["matrix"]["rows"]:
        del row["kind"]
    (tmp_path / "v1.json").write_text(json.dumps(v1))
    loaded, _ = load_many([tmp_path / "v1.json"])
    assert loaded["schema_version"] == mreport.SCHEMA_VERSION
    assert loaded["matrix"] == v2["matrix"]


def test_html_marks_cells_that_changed_since_the_baseline() -> None:
    base = make_report(make_record("s::a[vpp-peer_master]", "passed"),
                       make_record("s::b[vpp-peer_master]", "failed", scenario="D1"))
    new = make_report(make_record("s::a[vpp-peer_master]", "failed", message="boom"),
                      make_record("s::b[vpp-peer_master]", "passed", scenario="D1"))
    cells = _Cells()
    page = to_html(new, changes=mreport.diff(base, new))
    cells.feed(page)
    assert "class='cell failed regressed'" in page
    assert "class='cell passed fixed'" in page
    detail = cells.details[str(cells.rows["H1"][0][1])]
    assert "▼ regressed since the baseline (was passed)" in detail
    assert "since the baseline:</b> 1 regressions, 0 new failing, 1 fixes" in page
    assert "cell failed regressed" not in to_html(new)  # without a baseline, no marks
    assert "since the baseline" not in to_html(new)


def test_write_html_creates_the_directory(tmp_path: Path) -> None:
    path = write_html(sample(), tmp_path / "deep" / "r.html")
    assert path.read_text().startswith("<!DOCTYPE html>")


REPORT_SH = Path(__file__).resolve().parents[1] / "ci" / "report.sh"


def test_ci_report_script_keeps_a_baseline_and_gates_on_regressions(tmp_path: Path) -> None:
    """ci/report.sh as the pipelines use it: the first main run makes the baseline, a later
    run that breaks a passing test exits 1, and the stored runs feed the trend."""
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "BASELINE_DIR": str(tmp_path / "baseline"),
    }

    def job(name: str, outcome: str, started: str) -> Path:
        d = tmp_path / name
        rec = make_record("s::test_h1[vpp-peer_master]", outcome, message="boom")
        mreport.dump(make_report(rec, started=started), d / "vpp.json")
        return d

    def run(out: str, jobs: Path, update: bool) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", str(REPORT_SH), str(tmp_path / out), str(jobs)],
            env={**env, "MEMIF_UPDATE_BASELINE": "1" if update else "0"},
            capture_output=True, text=True, check=False,
        )

    first = run("main1", job("j1", "passed", "2026-11-01T00:00:00+00:00"), update=True)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "no baseline" in first.stdout
    assert (tmp_path / "baseline" / "interop.json").is_file()
    for name in ("interop.json", "interop.html", "interop-cells.xml", "compare.txt"):
        assert (tmp_path / "main1" / name).is_file(), name
    broken = run("pr", job("j2", "failed", "2026-11-02T00:00:00+00:00"), update=False)
    assert broken.returncode == 1, broken.stdout + broken.stderr
    assert "regressions (1):" in (tmp_path / "pr" / "compare.txt").read_text()
    assert len(list((tmp_path / "baseline" / "history").glob("*.json"))) == 1  # PRs store none
    html = (tmp_path / "pr" / "interop.html").read_text()
    assert html.count("<circle") == 2  # the stored main run and this one
    assert "since the baseline:</b> 1 regressions" in html
    assert "class='cell failed regressed'" in html
