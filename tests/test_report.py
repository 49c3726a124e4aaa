"""The interop report: the plugin that writes it, its schema, rendering and diff.

The pytester runs use plain test functions that set the ``user_properties`` a suite's link
fixture would (peer, peer_version, peer_role, scenario); no real peer is involved.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from memif_harness import report as mreport

from .reports import make_record as _record
from .reports import make_report as _report

pytest_plugins = ["pytester"]

SKIP = mreport.SYMBOLS["skipped"]

FAKE_SUITE = '''
import pytest

VERSIONS = {"python": "0.1.0", "testpmd": "22.11.4", "vpp": "26.06-release"}


@pytest.fixture(params=["python", "testpmd", "vpp"])
def link(request):
    """What the plugin's link fixture records, then the same skip an absent peer gives."""
    peer = request.param
    request.node.user_properties.append(("peer", peer))
    request.node.user_properties.append(("peer_version", VERSIONS[peer]))
    request.node.user_properties.append(("peer_role", "master"))
    if peer == "vpp":
        pytest.skip("VPP not configured: pass --vpp-bin PATH or --vpp-image IMAGE")
    return peer


@pytest.mark.scenario("H1")
def test_H1_hello(link, request):
    """master sends HELLO immediately on accept"""
    request.node.user_properties.append(("scenario", "H1"))
    request.node.user_properties.append(("artifact", "/tmp/h1-" + link + ".pcap"))
    assert link != "testpmd", "no HELLO within 1 s"


@pytest.mark.scenario("D2")
@pytest.mark.xfail(reason="known ring bug", strict=False)
def test_D2_frames(link):
    assert link == "python"  # passes for python: xpassed; fails for testpmd: xfailed


@pytest.fixture
def broken():
    raise RuntimeError("setup exploded")


@pytest.fixture
def bad_teardown():
    yield
    raise RuntimeError("teardown exploded")


@pytest.mark.scenario("L1")
@pytest.mark.peer("python")
@pytest.mark.role("slave")
def test_L1_setup_error(broken):
    pass


@pytest.mark.scenario("L2")
@pytest.mark.peer("python")
@pytest.mark.role("slave")
def test_L2_teardown_error(bad_teardown):
    pass


@pytest.mark.peer("libmemif")
@pytest.mark.role("master")
@pytest.mark.scenario("H1")
def test_H1_libmemif():
    pytest.skip("libmemif not configured: pass --libmemif-app PATH")


@pytest.mark.scenario("H2", "H3")
@pytest.mark.peer("python")
@pytest.mark.role("master")
def test_link_up_covers_two_scenarios():
    pass


def test_plain_unit_test():
    pass
'''

EXPECTED = {
    "test_fake.py::test_H1_hello[python]": ("passed", "H1", "python", "master"),
    "test_fake.py::test_H1_hello[testpmd]": ("failed", "H1", "testpmd", "master"),
    "test_fake.py::test_H1_hello[vpp]": ("skipped", "H1", "vpp", "master"),
    "test_fake.py::test_D2_frames[python]": ("xpassed", "D2", "python", "master"),
    "test_fake.py::test_D2_frames[testpmd]": ("xfailed", "D2", "testpmd", "master"),
    "test_fake.py::test_D2_frames[vpp]": ("skipped", "D2", "vpp", "master"),
    "test_fake.py::test_L1_setup_error": ("error", "L1", "python", "slave"),
    "test_fake.py::test_L2_teardown_error": ("error", "L2", "python", "slave"),
    "test_fake.py::test_H1_libmemif": ("skipped", "H1", "libmemif", "master"),
    "test_fake.py::test_link_up_covers_two_scenarios": ("passed", "H2", "python", "master"),
    "test_fake.py::test_plain_unit_test": ("passed", None, None, None),
}


def _isolate(pytester: pytest.Pytester) -> None:
    """An ini file of its own, so the inner run's rootdir (and so its node ids) is its
    directory even when the base temp dir lies inside this checkout (tox, --basetemp)."""
    pytester.makeini("[pytest]\n")


def _run_fake(pytester: pytest.Pytester, *args: str) -> tuple[pytest.RunResult, Path]:
    _isolate(pytester)
    pytester.makepyfile(test_fake=FAKE_SUITE)
    out = pytester.path / "reports" / "fake.json"
    result = pytester.runpytest(
        "-p", "memif_harness_fixtures.report", "--memif-report", str(out), *args
    )
    return result, out


def _check_fake_report(report: mreport.Report) -> None:
    records = {r["nodeid"]: r for r in report["results"]}
    assert set(records) == set(EXPECTED)
    for nodeid, (outcome, scenario, peer, role) in EXPECTED.items():
        r = records[nodeid]
        assert (r["outcome"], r["scenario"], r["peer"], r["peer_role"]) == (
            outcome,
            scenario,
            peer,
            role,
        ), nodeid
    assert records["test_fake.py::test_H1_hello[testpmd]"]["message"].startswith(
        "AssertionError: no HELLO within 1 s"
    )
    assert records["test_fake.py::test_H1_hello[vpp]"]["message"] == (
        "VPP not configured: pass --vpp-bin PATH or --vpp-image IMAGE"
    )
    assert records["test_fake.py::test_D2_frames[testpmd]"]["message"] == "known ring bug"
    assert "setup exploded" in records["test_fake.py::test_L1_setup_error"]["message"]
    assert "teardown exploded" in records["test_fake.py::test_L2_teardown_error"]["message"]
    assert records["test_fake.py::test_L1_setup_error"]["when"] == "setup"
    assert records["test_fake.py::test_L2_teardown_error"]["when"] == "teardown"
    assert records["test_fake.py::test_H1_hello[testpmd]"]["when"] == "call"
    assert records["test_fake.py::test_H1_hello[vpp]"]["when"] == "setup"
    assert records["test_fake.py::test_H1_hello[python]"]["artifacts"] == ["/tmp/h1-python.pcap"]
    assert records["test_fake.py::test_H1_hello[python]"]["peer_version"] == "0.1.0"
    assert records["test_fake.py::test_H1_hello[python]"]["title"] == (
        "master sends HELLO immediately on accept"
    )

    assert records["test_fake.py::test_link_up_covers_two_scenarios"]["scenarios"] == ["H2", "H3"]
    assert report["summary"] == {
        "total": 11,
        "passed": 3,
        "failed": 1,
        "skipped": 3,
        "xfailed": 1,
        "xpassed": 1,
        "error": 2,
    }
    matrix = report["matrix"]
    # one column per peer x version x role; tests naming no peer have their own column
    assert [c["key"] for c in matrix["columns"]] == [
        "python@0.1.0/master",
        "python@0.1.0/slave",
        "testpmd@22.11.4/master",
        "vpp@26.06-release/master",
        "libmemif/master",
        "(no peer)",
    ]
    assert matrix["columns"][2]["version"] == "22.11.4"
    # tests naming no scenario are rows of their own, after the scenarios
    assert [(row["scenario"], row["kind"]) for row in matrix["rows"]] == [
        *((s, "scenario") for s in ("H1", "H2", "H3", "D2", "L1", "L2")),
        ("test_plain_unit_test", "test"),
    ]
    h1 = matrix["rows"][0]
    assert h1["title"] == "master sends HELLO immediately on accept"
    assert {k: c["outcome"] for k, c in h1["cells"].items()} == {
        "python@0.1.0/master": "passed",
        "testpmd@22.11.4/master": "failed",
        "vpp@26.06-release/master": "skipped",
        "libmemif/master": "skipped",
    }
    assert records["test_fake.py::test_H1_hello[testpmd]"]["assertion"] == (
        "test_fake.py:23: assert link != \"testpmd\", \"no HELLO within 1 s\""
    )
    assert "raise RuntimeError" in records["test_fake.py::test_L1_setup_error"]["assertion"]

    peers = {p["name"]: p for p in report["peers"]}
    assert peers["python"]["available"] is True
    assert peers["testpmd"]["available"] is True
    assert peers["testpmd"]["version"] == "22.11.4"
    assert peers["vpp"]["available"] is False
    assert peers["vpp"]["reason"].startswith("VPP not configured")
    assert peers["libmemif"]["available"] is False
    assert report["run"]["exit_status"] == 1


def test_plugin_writes_a_valid_report(pytester: pytest.Pytester) -> None:
    result, out = _run_fake(pytester)
    result.assert_outcomes(passed=4, failed=1, skipped=3, xfailed=1, xpassed=1, errors=2)
    report = mreport.load(out)  # validates against the schema
    _check_fake_report(report)
    assert report["format"] == "memif-harness-interop-report"
    assert report["run"]["harness_version"]
    assert "--memif-report" in report["run"]["argv"]


def test_plugin_prints_the_matrix(pytester: pytest.Pytester) -> None:
    result, out = _run_fake(pytester)
    result.stdout.fnmatch_lines(
        [
            "*memif interop matrix*",
            # pytester's terminal is 80 columns wide: headings are abbreviated, none dropped
            "*py*py*pmd*vpp*",
            "*scenario*m*s*m*m*m*-*",
            f"*H1 master sends HELLO*✔*·*✘*{SKIP}*{SKIP}*·*",
            f"*D2*X*x*{SKIP}*",
            "columns: py python, pmd testpmd, lmf libmemif, - (no peer), m master, s slave*",
            "*· no test*",
            f"memif interop report: {out}",
        ]
    )
    quiet, _ = _run_fake(pytester, "--no-memif-matrix")
    assert "memif interop matrix" not in quiet.stdout.str()


def test_plugin_without_report_path_writes_nothing(pytester: pytest.Pytester) -> None:
    _isolate(pytester)
    pytester.makepyfile(test_fake=FAKE_SUITE)
    result = pytester.runpytest("-p", "memif_harness_fixtures.report")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    assert "memif interop matrix" in result.stdout.str()
    assert not list(pytester.path.rglob("*.json"))


def test_plugin_under_xdist_uses_the_reports(pytester: pytest.Pytester) -> None:
    """With workers the controller never sees items: everything must come with the reports."""
    pytest.importorskip("xdist")
    _isolate(pytester)
    pytester.makepyfile(test_fake=FAKE_SUITE)
    out = pytester.path / "xdist.json"
    result = pytester.runpytest_subprocess(
        "-p", "memif_harness_fixtures.report", "--memif-report", str(out),
        "-n", "2", "-p", "no:cacheprovider",
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED, result.stdout.str()
    _check_fake_report(mreport.load(out))


def test_collection_error_is_an_error_record(pytester: pytest.Pytester) -> None:
    _isolate(pytester)
    pytester.makepyfile(test_broken="import no_such_module_here\n")
    out = pytester.path / "r.json"
    result = pytester.runpytest("-p", "memif_harness_fixtures.report", "--memif-report", str(out))
    assert result.ret == pytest.ExitCode.INTERRUPTED
    report = mreport.load(out)
    assert [r["outcome"] for r in report["results"]] == ["error"]
    assert "no_such_module_here" in report["results"][0]["message"]


def test_invalid_report_is_a_bug_and_raises(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken_summary(results: Any) -> dict[str, int]:
        return {"total": -1}

    monkeypatch.setattr(mreport.build, "summarize", broken_summary)
    _isolate(pytester)
    pytester.makepyfile(test_ok="def test_ok():\n    pass\n")
    out = pytester.path / "r.json"
    result = pytester.runpytest("-p", "memif_harness_fixtures.report", "--memif-report", str(out))
    assert result.ret == pytest.ExitCode.INTERNAL_ERROR
    assert "does not match the report schema" in result.stderr.str() + result.stdout.str()
    assert not out.exists()


# --- schema ----------------------------------------------------------------------------------


def test_schema_rejects_what_it_should() -> None:
    good = _report(_record("t::a", "passed"))
    bad_outcome = copy.deepcopy(good)
    bad_outcome["results"][0]["outcome"] = "flaky"
    missing = copy.deepcopy(good)
    del missing["results"][0]["peer_role"]
    extra = copy.deepcopy(good)
    extra["run"]["surprise"] = 1
    bad_role = copy.deepcopy(good)
    bad_role["matrix"]["columns"][0]["role"] = "server"
    for broken, where in (
        (bad_outcome, "$.results[0].outcome"),
        (missing, "$.results[0]"),
        (extra, "$.run"),
        (bad_role, "$.matrix.columns[0].role"),
    ):
        with pytest.raises(mreport.InvalidReport) as info:
            mreport.validate(broken)
        assert any(e.startswith(where) for e in info.value.errors), info.value.errors


def test_load_rejects_other_json(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text(json.dumps({"tests": []}))
    with pytest.raises(mreport.InvalidReport, match="does not match"):
        mreport.load(path)


def test_ci_info_from_environment() -> None:
    gh = mreport.ci_info(
        {
            "CI": "true",
            "GITHUB_ACTIONS": "true",
            "GITHUB_RUN_ID": "42",
            "GITHUB_SERVER_URL": "https://example.test",
            "GITHUB_REPOSITORY": "o/r",
            "GITHUB_SHA": "abc",
            "GITHUB_JOB": "dpdk",
        }
    )
    assert gh["provider"] == "github"
    assert (gh["run_id"], gh["sha"], gh["job"]) == ("42", "abc", "dpdk")
    assert gh["url"] == "https://example.test/o/r/actions/runs/42"
    gl = mreport.ci_info({"CI": "true", "GITLAB_CI": "true", "CI_PIPELINE_ID": "7"})
    assert (gl["provider"], gl["pipeline_id"], gl["run_id"]) == ("gitlab", "7", None)
    assert mreport.ci_info({"CI": "1"})["provider"] == "other"
    assert mreport.ci_info({})["ci"] is False


def test_peer_that_never_got_past_setup_is_unavailable() -> None:
    """--require-peer turns an absent peer's skip into a setup error: still not available."""
    failed = _record("t::a", "error", message="peer vpp unavailable: image not found")
    failed["when"] = "setup"
    vpp = next(p for p in _report(failed)["peers"] if p["name"] == "vpp")
    assert vpp["available"] is False
    assert vpp["reason"] == "peer vpp unavailable: image not found"
    ran = _record("t::b", "failed", message="boom")
    ran["when"] = "call"
    vpp = next(p for p in _report(failed, ran)["peers"] if p["name"] == "vpp")
    assert vpp["available"] is True


def test_matrix_title_drops_a_repeated_id() -> None:
    rec = _record("t::a", "passed", scenario="I2")
    rec["title"] = "I2: the peer rejects our INIT"
    assert _report(rec)["matrix"]["rows"][0]["title"] == "the peer rejects our INIT"
    rec["title"] = "I20 is another scenario"
    assert _report(rec)["matrix"]["rows"][0]["title"] == "I20 is another scenario"


def test_matrix_cell_is_the_worst_outcome() -> None:
    report = _report(
        _record("t::a[1]", "passed"),
        _record("t::a[2]", "failed"),
        _record("t::a[3]", "skipped"),
        _record("t::b", "passed", scenario="H10"),
        _record("t::c", "passed", scenario="I2"),
        _record("t::d", "passed", scenario="H2"),
    )
    rows = report["matrix"]["rows"]
    assert [r["scenario"] for r in rows] == ["H1", "H2", "H10", "I2"]
    cell = rows[0]["cells"]["vpp@26.06/master"]
    assert cell == {
        "outcome": "failed",
        "tests": 3,
        "counts": {"passed": 1, "failed": 1, "skipped": 1},
    }


# --- rendering ---------------------------------------------------------------------------------


def _sample() -> mreport.Report:
    return _report(
        _record("s::test_H1[vpp-peer_master]", "passed"),
        _record(
            "s::test_H1[vpp-peer_slave]", "failed", role="slave", message="AssertionError: no HELLO"
        ),
        _record(
            "s::test_D2[vpp-peer_master]", "skipped", scenario="D2", message="VPP not configured"
        ),
        _record("s::test_D2[vpp-peer_slave]", "xfailed", scenario="D2", role="slave"),
    )


def test_render_shows_cells_and_failures() -> None:
    console = Console(record=True, width=120, color_system=None)
    mreport.render(_sample(), console)
    text = console.export_text()
    lines = text.splitlines()
    h1 = next(ln for ln in lines if ln.startswith("│ H1"))
    d2 = next(ln for ln in lines if ln.startswith("│ D2"))
    assert h1.index("✔") < h1.index("✘")
    assert d2.index(SKIP) < d2.index("x")
    assert "vpp/master" in text
    assert "vpp/slave" in text
    assert "failures (1):" in text
    assert "s::test_H1[vpp-peer_slave] (H1, vpp/slave)" in text
    assert "AssertionError: no HELLO" in text
    assert "4 tests: 1 passed, 1 failed, 1 skipped, 1 xfailed" in text


def test_markdown_has_the_matrix_and_failures() -> None:
    md = mreport.to_markdown(_sample())
    assert "| scenario | vpp@26.06/master | vpp@26.06/slave |" in md
    rows = {ln.split()[1]: ln for ln in md.splitlines() if ln.startswith("| ") and ln[2] in "HD"}
    # rows without a test title show the catalogue's
    assert rows["H1"].startswith("| H1 master sends HELLO immediately on accept")
    assert rows["H1"].endswith("| ✔ | ✘ |")
    assert rows["D2"].endswith(f"| {SKIP} | x |")
    assert "### Failures (1)" in md
    assert "`s::test_H1[vpp-peer_slave]` (H1, vpp/slave)" in md
    assert "AssertionError: no HELLO" in md


def test_diff_finds_regressions_and_fixes() -> None:
    old = _report(
        _record("t::a", "passed"),
        _record("t::b", "failed"),
        _record("t::c", "passed"),
        _record("t::gone", "passed"),
    )
    new = _report(
        _record("t::a", "failed", message="boom"),
        _record("t::b", "passed"),
        _record("t::c", "skipped"),
        _record("t::new", "error"),
    )
    d = mreport.diff(old, new)
    assert [(c.nodeid, c.old, c.new) for c in d.regressions] == [("t::a", "passed", "failed")]
    assert [(c.nodeid, c.old, c.new) for c in d.fixes] == [("t::b", "failed", "passed")]
    assert [c.nodeid for c in d.changes] == ["t::c"]
    assert [c.nodeid for c in d.new_failures] == ["t::new"]
    assert [c.nodeid for c in d.removed] == ["t::gone"]
    assert d.has_regressions
    assert not mreport.diff(old, old).has_regressions


def test_cli_show_markdown_diff(tmp_path: Path) -> None:
    old, new = tmp_path / "old.json", tmp_path / "new.json"
    good = _report(_record("t::a", "passed"))
    mreport.dump(good, old)
    mreport.dump(_report(_record("t::a", "failed", message="boom")), new)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "memif_harness.report", *args],
            capture_output=True,
            text=True,
            check=False,
        )

    show = cli("show", str(new))
    assert show.returncode == 0, show.stderr
    assert "memif interop matrix" in show.stdout
    assert "boom" in show.stdout
    md = cli("markdown", str(old))
    assert md.returncode == 0
    assert md.stdout.startswith("## memif interop report")
    regress = cli("diff", str(old), str(new))
    assert regress.returncode == 1
    assert "regressions (1):" in regress.stdout
    assert cli("diff", str(new), str(old)).returncode == 0
    (tmp_path / "bad.json").write_text("{}")
    bad = cli("show", str(tmp_path / "bad.json"))
    assert bad.returncode == 2
    assert "does not match the report schema" in bad.stderr
