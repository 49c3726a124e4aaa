"""``memif-harness run`` (memif_harness.runner): suites lookup, pytest arguments, exit codes.

Full runs go through ``python -m memif_harness.runner`` in a subprocess (the runner calls
``pytest.main`` in-process, which should not nest inside this pytest).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from rich.console import Console

from memif_harness import cli, runner
from memif_harness import report as mreport

REPO = Path(__file__).resolve().parents[1]


def parse(*argv: str) -> argparse.Namespace:
    return runner.build_parser().parse_args(argv)


def run_cli(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "memif_harness.runner", *argv],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=600,
        check=False,
        env={**_clean_env(), "COLUMNS": "120"},
    )


def _clean_env() -> dict[str, str]:
    # the outer run's xdist/pytest variables must not leak into the inner run
    return {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "TESTPMD"))}


def test_finds_the_suites_of_this_checkout() -> None:
    assert runner.repo_root() == REPO
    assert runner.find_suites() == REPO / "suites"
    assert runner.find_suites(REPO / "no-such-dir") is None


def test_missing_suites_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    console = Console(record=True, width=200)
    code = runner.main(parse("--suites", str(tmp_path / "nope")), console)
    assert code == runner.EXIT_NO_SUITES
    err = capsys.readouterr().err
    assert "no suites directory" in err
    assert "clone the repository" in err


def test_unknown_peer_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = runner.main(parse("--suites", str(tmp_path), "--peer", "ovs"), Console(width=200))
    assert code == runner.EXIT_NO_SUITES
    assert "unknown peer(s) ovs" in capsys.readouterr().err


def test_pytest_arguments(tmp_path: Path) -> None:
    args = parse(
        "--peer",
        "testpmd,vpp",
        "--require-peer",
        "vpp",
        "--vpp-image=",
        "--vpp-bin",
        "/x/vpp",
        "--report",
        "r.json",
        "--junitxml",
        "j.xml",
        "-k",
        "D1",
        "-m",
        "not docker",
        "--",
        "-x",
        "-n",
        "2",
    )
    argv = runner.pytest_args(args, tmp_path, ["testpmd", "vpp"])
    assert argv[0] == str(tmp_path)
    text = " ".join(argv)
    assert "-p memif_harness_fixtures.report --memif-report r.json" in text
    # named peers are required: an absent one fails the run
    assert "--peer testpmd --peer vpp --require-peer testpmd --require-peer vpp" in text
    assert "--vpp-bin /x/vpp" in text
    assert "--vpp-image" not in text  # an empty value means "not given"
    assert "--junitxml j.xml" in text
    assert argv[argv.index("-k") + 1] == "D1"
    assert argv[argv.index("-m") + 1] == "not docker"
    assert argv[-3:] == ["-x", "-n", "2"]


def test_peer_choice() -> None:
    found = mreport.detect_peers(testpmd="/nonexistent/dpdk-testpmd", vpp_image="vpp:1")
    assert [(p.name, p.available) for p in found] == [
        ("python", True),
        ("testpmd", False),
        ("vpp", True),
        ("libmemif", False),
    ]
    assert runner.choose_peers(parse(), found) == (["python", "vpp"], [])
    assert runner.choose_peers(parse("--require-peer", "testpmd"), found) == (
        ["python", "vpp", "testpmd"],
        [],
    )
    assert runner.choose_peers(parse("--peer", "testpmd", "--require-peer", "vpp"), found) == (
        ["testpmd", "vpp"],
        [],
    )
    assert runner.choose_peers(parse("--peer", "python,bogus"), found)[1] == ["bogus"]


def test_exit_codes_are_described() -> None:
    assert runner.describe_exit(0).startswith("all selected tests passed")
    assert runner.describe_exit(5) == "no tests were selected"
    assert "status 42" in runner.describe_exit(42)


FAKE_SUITE = '''
import pytest

@pytest.mark.scenario("H1")
@pytest.mark.peer("python")
@pytest.mark.role("master")
def test_h1_hello(request):
    """master sends HELLO immediately"""
    request.node.user_properties.append(("peer_version", "0.1.0"))

@pytest.mark.scenario("D1")
@pytest.mark.peer("python")
@pytest.mark.role("slave")
def test_d1_frames():
    assert FAIL is False
'''


@pytest.fixture
def fake_suites(tmp_path: Path) -> Path:
    suites = tmp_path / "suites"
    suites.mkdir()
    (suites / "test_fake.py").write_text(FAKE_SUITE.replace("FAIL", "False"))
    return suites


def test_run_passes_renders_and_writes_the_report(fake_suites: Path, tmp_path: Path) -> None:
    out = tmp_path / "out" / "r.json"
    junit = tmp_path / "out" / "j.xml"
    proc = run_cli(
        "--suites",
        str(fake_suites),
        "--peer",
        "python",
        "--report",
        str(out),
        "--junitxml",
        str(junit),
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "python    found" in proc.stdout
    assert "memif interop matrix" in proc.stdout
    assert f"report: {out}" in proc.stdout
    report = mreport.load(out)
    assert report["summary"]["passed"] == 2
    assert report["run"]["selected_peers"] == ["python"]
    assert {r["scenario"] for r in report["matrix"]["rows"]} == {"H1", "D1"}
    assert junit.is_file()


def test_run_returns_pytest_failure_code(fake_suites: Path, tmp_path: Path) -> None:
    (fake_suites / "test_fake.py").write_text(FAKE_SUITE.replace("FAIL", "True"))
    out = tmp_path / "r.json"
    proc = run_cli(
        "--suites", str(fake_suites), "--peer", "python", "--report", str(out), cwd=tmp_path
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "failures (1):" in proc.stdout
    assert "exit 1: some tests failed" in proc.stdout
    assert mreport.load(out)["summary"]["failed"] == 1


def test_run_with_no_tests_selected_is_a_clear_error(fake_suites: Path, tmp_path: Path) -> None:
    stale = tmp_path / "r.json"
    stale.write_text("{}")
    proc = run_cli(
        "--suites",
        str(fake_suites),
        "--peer",
        "python",
        "-k",
        "no_such_test_xyz",
        "--report",
        str(stale),
        cwd=tmp_path,
    )
    assert proc.returncode == runner.EXIT_NO_TESTS
    assert "no tests were selected" in proc.stderr
    assert "-k 'no_such_test_xyz'" in proc.stderr
    if stale.exists():  # the stale file was replaced by this run's (empty) report
        assert mreport.load(stale)["summary"]["total"] == 0


def test_run_real_suites_tiny_subset(tmp_path: Path) -> None:
    """``--peer python -k H1`` against this checkout's suites: a valid report, or (while the
    suites are still being written) the clear no-tests error."""
    if runner.find_suites() is None:
        pytest.skip("no suites/ directory in this checkout yet")
    out = tmp_path / "interop.json"
    proc = run_cli("--peer", "python", "-k", "H1", "--report", str(out), cwd=tmp_path)
    if proc.returncode == runner.EXIT_NO_TESTS:
        assert "no tests were selected" in proc.stderr
        return
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    report = mreport.load(out)
    assert report["results"], "a run that selected tests must report them"
    # other peers' tests may be collected, but only skip: no other peer was started
    others = [r for r in report["results"] if r["peer"] not in ("python", None)]
    assert all(r["outcome"] == "skipped" for r in others), others
    assert report["run"]["exit_status"] == proc.returncode


def test_memif_harness_run_subcommand_has_the_runner_options() -> None:
    """``memif-harness run`` is wired to this runner (once memif_harness.cli exists)."""
    pytest.importorskip("memif_harness.cli", reason="memif_harness.cli is not written yet")
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from memif_harness.cli import main; sys.exit(main())",
            "run",
            "--help",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    for option in ("--peer", "--require-peer", "--vpp-image", "--report"):
        assert option in proc.stdout


def test_default_peers_are_not_required(tmp_path: Path) -> None:
    """Without --peer, peers that happen to be absent skip; only named ones are required."""
    argv = runner.pytest_args(parse(), tmp_path, ["python", "testpmd"])
    assert "--require-peer" not in argv
    assert argv.count("--peer") == 2


def test_app_peers_are_passed_listed_and_chosen(tmp_path: Path) -> None:
    apps = tmp_path / "apps.toml"
    apps.write_text('[app.cnf]\ncmd = "my-cnf --socket {socket}"\n')
    args = parse("--app-cmd", "x {socket}", "--app-set", "frames=io", "--app-set",
                 'ready_line="up"', "--app-file", str(apps))
    argv = runner.pytest_args(args, tmp_path, ["app", "app:cnf"])
    text = " ".join(argv)
    assert "--peer app --peer app:cnf" in text
    assert argv[argv.index("--app-cmd") + 1] == "x {socket}"
    assert argv[argv.index("--app-file") + 1] == str(apps)
    assert [argv[i + 1] for i, a in enumerate(argv) if a == "--app-set"] == [
        "frames=io", 'ready_line="up"']
    found = [*mreport.detect_peers(testpmd="/nonexistent/x"), *runner.app_peers(args)]
    assert [(p.name, p.detail) for p in found[-2:]] == [
        ("app", "x {socket}"), ("app:cnf", "my-cnf --socket {socket}")]
    assert runner.choose_peers(parse("--peer", "app:cnf"), found) == (["app:cnf"], [])
    assert "app:cnf" in runner.choose_peers(parse(), found)[0]
    assert runner.choose_peers(parse("--peer", "app:other"), found)[1] == ["app:other"]
    apps.write_text('[app.cnf]\ncmd = "my-cnf {sock}"\n')
    with pytest.raises(ValueError, match="unknown placeholder"):
        runner.app_peers(args)


SLOW_SUITE = '''
import pathlib, time
import pytest

@pytest.mark.scenario("H1")
@pytest.mark.peer("python")
@pytest.mark.role("master")
def test_h1_hello():
    pass

@pytest.mark.scenario("D1")
@pytest.mark.peer("python")
@pytest.mark.role("slave")
def test_d1_slow():
    pathlib.Path("STARTED").write_text("")
    time.sleep(60)
'''


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_run_cancelled_writes_the_partial_report(tmp_path: Path, sig: signal.Signals) -> None:
    """CI cancels with SIGTERM: like Ctrl-C, the report of what ran is written."""
    suites = tmp_path / "suites"
    suites.mkdir()
    (suites / "test_slow.py").write_text(SLOW_SUITE)
    out = tmp_path / "r.json"
    out.write_text("{}")  # a previous report: must not survive as this run's
    proc = subprocess.Popen(
        [sys.executable, "-m", "memif_harness.runner", "--suites", str(suites),
         "--peer", "python", "--report", str(out)],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**_clean_env(), "COLUMNS": "120"},
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not (tmp_path / "STARTED").exists():
            assert proc.poll() is None, proc.communicate()[0]
            assert time.monotonic() < deadline
            time.sleep(0.05)
        proc.send_signal(sig)
        stdout, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 2, stdout
    report = mreport.load(out)
    assert report["summary"]["passed"] == 1, report["summary"]
    assert f"report: {out}" in stdout


def test_conformance_runs_our_peer_in_process_unless_told_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``memif-harness conformance`` hands pytest ``--python-peer inprocess`` (the catalogue
    against ours in under a minute); ``--python-peer subprocess`` is passed on as given."""
    seen: list[list[str]] = []

    def fake_main(args: argparse.Namespace) -> int:
        seen.append(runner.pytest_args(args, Path("suites"), ["python"]))
        return 0

    monkeypatch.setattr(runner, "main", fake_main)
    for extra, flavour in (((), "inprocess"), (("--python-peer", "subprocess"), "subprocess")):
        assert cli.main(["conformance", "--peer", "python", *extra]) == 0
        argv = seen[-1]
        assert argv[argv.index("--python-peer") + 1] == flavour
    assert "--python-peer" not in runner.pytest_args(parse("--peer", "python"), Path("s"), [])
