"""The memif-harness pytest plugin (fixtures/plugin.py), run in a child pytest via ``pytester``."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pytest

from memif_harness.memif.protocol.constants import Mode, Role
from memif_harness.traffic import mac_swap
from memif_harness_fixtures.links import make_frame, open_link
from memif_harness_fixtures.peers.base import (
    InterfaceSpec,
    PeerError,
    PeerUnavailable,
    PeerUnsupported,
)
from memif_harness_fixtures.peers.libmemif import HINT, LibmemifPeer, LibmemifUnsupported
from memif_harness_fixtures.peers.python import PythonPeer, PythonUnsupported
from memif_harness_fixtures.peers.testpmd import TestpmdUnsupported
from memif_harness_fixtures.plugin import PeerFactory

pytest_plugins = ["pytester"]

ENV = ("LIBMEMIF_APP", "VPP_BIN", "VPP_IMAGE", "VPPCTL", "MEMIF_ARTIFACTS")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV:
        monkeypatch.delenv(name, raising=False)


def _run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:randomly", *args)


LIBMEMIF_TEST = """
def test_needs_libmemif(libmemif_peer):
    pass
"""


def test_absent_peer_skips_with_how_to_provide_it(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(LIBMEMIF_TEST)
    result = _run(pytester, "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*peer libmemif unavailable*pass --libmemif-app PATH*"])


def test_require_peer_turns_the_skip_into_a_failure(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(LIBMEMIF_TEST)
    result = _run(pytester, "--require-peer", "libmemif")
    result.assert_outcomes(errors=1)  # fails in fixture setup
    result.stdout.fnmatch_lines(["*peer libmemif unavailable*--require-peer libmemif*"])


def test_require_peer_for_vpp_via_memif_link(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_link(memif_link):\n    pass\n")
    result = _run(pytester, "--peer", "vpp", "--require-peer", "vpp,libmemif", "-rs")
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(["*VPP not configured: pass --vpp-bin PATH*--vpp-image*"])


def test_parametrisation_ids_and_peer_selection(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        def test_link(memif_link):
            pass

        def test_name_only(peer_name):
            pass

        @pytest.mark.role("master")
        def test_master_only(peer_name, peer_role):
            pass
        """
    )
    result = _run(pytester, "--collect-only", "-q")
    ids = [line for line in result.stdout.lines if "::" in line]
    links = [i.split("[", 1)[1].rstrip("]") for i in ids if "::test_link[" in i]
    assert links == [
        f"{p}-peer_{r}" for p in ("python", "testpmd", "vpp", "libmemif", "libmemif1")
        for r in ("master", "slave")
    ]
    assert next(i for i in ids if "test_name_only" in i).endswith("[python]")
    assert all(i.endswith("-peer_master]") for i in ids if "test_master_only" in i)
    assert len([i for i in ids if "test_master_only" in i]) == 5

    result = _run(pytester, "--collect-only", "-q", "--peer", "testpmd,python", "--peer", "vpp")
    assert sum("::test_link[" in line for line in result.stdout.lines) == 6

    result = _run(pytester, "--collect-only", "-q", "-m", "peer(name='testpmd')")
    selected = [line for line in result.stdout.lines if "::" in line]
    assert selected
    assert all("testpmd" in line for line in selected)
    assert len(selected) == 2 + 1 + 1

    result = _run(pytester, "--collect-only", "-q", "--peer", "nosuchpeer")
    assert result.ret != 0
    result.stderr.fnmatch_lines(["*unknown peer*nosuchpeer*"])


def test_markers_registered_for_strict_markers(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.peer("python")
        @pytest.mark.role("slave")
        @pytest.mark.scenario("H1")
        @pytest.mark.needs_docker
        @pytest.mark.needs_root
        def test_marked():
            pass
        """
    )
    result = _run(pytester, "--strict-markers")
    result.assert_outcomes(passed=1)
    result = _run(pytester, "--markers")
    for name in ("peer(name)", "role(name)", "scenario(id)", "needs_docker", "needs_root"):
        result.stdout.fnmatch_lines([f"@pytest.mark.{name}:*"])


PROPERTIES_CONFTEST = """
import json
import sys

def pytest_runtest_logreport(report):
    if report.when == "call":
        with open("props.jsonl", "a") as f:
            f.write(json.dumps([report.nodeid, report.user_properties]) + "\\n")
    if report.failed:
        with open("sections.jsonl", "a") as f:
            titles = [t for t, _ in report.sections if t.startswith("memif ")]
            f.write(json.dumps([report.nodeid, titles]) + "\\n")
"""


def test_failure_sections_user_properties_and_artifacts(pytester: pytest.Pytester) -> None:
    """A failing test on a real (python) link gets the peer's diagnostics and our endpoint's
    details as report sections and in its artifact dir; passing tests do not."""
    pytester.makeconftest(PROPERTIES_CONFTEST)
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.scenario("D1")
        @pytest.mark.peer("python")
        def test_fails(memif_link, artifact_dir):
            assert memif_link.endpoint.connected
            assert False, "deliberate"

        @pytest.mark.scenario("H1")
        @pytest.mark.peer("python")
        @pytest.mark.role("slave")
        def test_passes(memif_link, artifact_dir):
            assert memif_link.peer_interface.is_up()
        """
    )
    artifacts = pytester.path / "arts"
    result = _run(pytester, "--memif-artifacts", str(artifacts), "-p", "no:xdist")
    result.assert_outcomes(passed=1, failed=2)
    out = result.stdout.str()
    assert "memif python: python worker" in out
    assert "memif python: harness endpoint" in out
    assert '"link_up": true' in out
    assert out.count("memif python: python worker") >= 2  # both failing params, not the pass
    sections = [json.loads(line)
                for line in (pytester.path / "sections.jsonl").read_text().splitlines()]
    assert len(sections) == 2
    for _nodeid, titles in sections:  # the peer's diagnostics attached once, not per link
        assert len(titles) == len(set(titles)), titles
        assert sum(t.startswith("memif python: python peer") for t in titles) == 1, titles
        assert sum(t.startswith("memif python: harness endpoint") for t in titles) == 1, titles
    props = [json.loads(line) for line in (pytester.path / "props.jsonl").read_text().splitlines()]
    by_id = {nodeid: dict(p) for nodeid, p in props}
    fails = by_id["test_failure_sections_user_properties_and_artifacts.py::test_fails"
                  "[python-peer_master]"]
    assert fails["peer"] == "python"
    assert fails["peer_role"] == "master"
    assert fails["scenario"] == "D1"
    assert fails["peer_version"].startswith("0.")
    passing = by_id["test_failure_sections_user_properties_and_artifacts.py::test_passes"
                    "[python-peer_slave]"]
    assert passing["scenario"] == "H1"
    dirs = sorted(p.name for p in artifacts.iterdir())
    assert len(dirs) == 2
    assert all("test_fails" in d for d in dirs)
    diag = json.loads((artifacts / dirs[0] / "diagnostics.json").read_text())
    assert any(title.startswith("memif python: python worker") for title in diag)


def test_sockets_are_unique_per_worker(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import os

        def test_dir(memif_socket_dir, abstract_socket_name):
            tag = os.environ.get("PYTEST_XDIST_WORKER", "gw")
            assert f"mh-{tag}-{os.getpid()}" in str(memif_socket_dir)
            assert abstract_socket_name.startswith(f"@mh-{tag}-{os.getpid()}-")
        """
    )
    env_worker = os.environ.get("PYTEST_XDIST_WORKER")
    result = _run(pytester)
    result.assert_outcomes(passed=1)
    assert env_worker is None or env_worker  # this run itself may be an xdist worker


# -- the peers behind the plugin ---------------------------------------------------------------


@pytest.mark.parametrize("flavour", ["subprocess", "inprocess"])
def test_python_peer_flavours_reflect(tmp_path: Path, flavour: str) -> None:
    with PythonPeer(flavour) as peer:  # type: ignore[arg-type]
        spec = InterfaceSpec(role=Role.SLAVE, socket=str(tmp_path / "m.sock"), id=3)
        link = open_link(peer, spec)
        try:
            frames = [make_frame(i, 60 + i) for i in range(100)]
            assert link.exchange(frames) == frames
            link.forward("macswap")
            assert link.exchange(frames[:5]) == [mac_swap(f) for f in frames[:5]]
            link.forward("rxonly")
            assert link.exchange(frames[:5], timeout=0.3) == []
            counters = link.peer_interface.counters()
            assert counters["rx_packets"] == 110
            assert counters["tx_packets"] == 105
            assert peer.version().startswith("0.")
            assert any("python" in title for title in peer.diagnostics())
        finally:
            link.close()
        assert not link.peer_interface.is_up()


def test_libmemif_peer_without_app_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(PeerUnavailable, match="pass --libmemif-app PATH"):
        LibmemifPeer(None).start()
    with pytest.raises(PeerUnavailable, match="not found or not executable"):
        LibmemifPeer(tmp_path / "nope").start()
    assert "icmp_responder" in HINT


def test_libmemif_command_line_and_unsupported_specs(tmp_path: Path) -> None:
    app = tmp_path / "icmp_responder"  # a stand-in: prints a v26.06 usage line, exits
    app.write_text("#!/bin/sh\nprintf '\\t-m\\tMac address. Default: aa:aa:aa:aa:aa:aa\\n'\n")
    app.chmod(0o755)
    peer = LibmemifPeer(app)
    peer.start()
    spec = InterfaceSpec(role=Role.MASTER, socket="@abc", id=4, ip="10.1.1.1/24",
                         mac="02:00:00:00:00:09")
    argv = peer.command_line(spec)
    assert argv[argv.index(str(app)):] == [str(app), "-r", "master", "-s", "@abc", "-i", "4",
                                           "-a", "10.1.1.1", "-m", "02:00:00:00:00:09"]
    with pytest.raises(LibmemifUnsupported, match="a secret"):
        peer.create_interface(InterfaceSpec(role=Role.SLAVE, socket="@x", secret="s"))
    with pytest.raises(LibmemifUnsupported, match="2/2 queues"):
        peer.create_interface(InterfaceSpec(role=Role.SLAVE, socket="@x", rx_queues=2,
                                            tx_queues=2))
    peer.stop()


def test_a_peer_that_fails_to_start_is_stopped_and_fails_every_later_test(
    pytestconfig: pytest.Config,
) -> None:
    """A start (or post-start check) that raises: the peer is stopped at once (no leaked
    process or container), and later tests fail with the same error without a new start."""
    started: list[object] = []
    stopped: list[object] = []

    class Broken(PythonPeer):
        def start(self) -> None:
            started.append(self)
            raise PeerError("container check: no vpp process")

        def stop(self) -> None:
            stopped.append(self)

    factory = PeerFactory(pytestconfig, build=lambda name, config: Broken())
    with pytest.raises(PeerError, match="no vpp process"):
        factory("vpp")
    assert len(started) == 1
    assert stopped == started
    for _ in range(2):
        with pytest.raises(pytest.fail.Exception, match=r"failed to start earlier.*no vpp"):
            factory("vpp")
    assert len(started) == 1
    factory.stop_all()
    assert len(stopped) == 1  # never reached factory.peers


def test_only_peer_unsupported_means_the_peer_cannot() -> None:
    for cls in (PythonUnsupported, LibmemifUnsupported, TestpmdUnsupported):
        assert issubclass(cls, PeerUnsupported)
    with PythonPeer("inprocess") as peer, pytest.raises(PeerUnsupported, match="punt"):
        peer.create_interface(InterfaceSpec(role=Role.MASTER, socket="/tmp/x.sock",
                                            mode=Mode.PUNT_INJECT))


def test_a_peers_diagnostics_are_shown_once_per_peer_start(pytester: pytest.Pytester) -> None:
    """One broken peer start fails many tests: its output is shown once, later failures say
    where it was (or show only what was added); the artifact files keep it all."""
    pytester.makepyfile(
        """
        import pytest
        from memif_harness_fixtures.peers.base import PeerError

        LOG = ["EAL: probe failed line %d" % i for i in range(50)]

        @pytest.mark.parametrize("n", range(4))
        def test_broken(n, artifact_dir):
            extra = ["second start " + "failed too"] if n == 3 else []  # not in the source
            raise PeerError("testpmd did not start",
                            diagnostics={"output": "\\n".join(LOG + extra)})
        """
    )
    artifacts = pytester.path / "arts"
    result = _run(pytester, "--memif-artifacts", str(artifacts), "-p", "no:xdist")
    result.assert_outcomes(failed=4)
    out = result.stdout.str()
    assert out.count("EAL: probe failed line 7") == 1
    assert out.count("(the same 50 lines as in the report of test_a_peers") == 2
    assert "(the first 50 lines as in the report of" in out
    assert out.count("second start failed too") == 1
    for d in artifacts.iterdir():  # every test's diagnostics.json is complete
        diag = json.loads((d / "diagnostics.json").read_text())
        assert "EAL: probe failed line 7" in diag["memif peer error: output"]


APPS_TOML = """
[app.echo]
cmd = "{exe} {{socket}}"
frames = "io"
[app.sink]
like = "echo"
frames = "sink"
"""


def test_app_peers_from_the_command_line_and_a_file(pytester: pytest.Pytester) -> None:
    """``--app-cmd`` makes peer ``app``, ``--app-file`` one ``app:NAME`` each; both join the
    default selection; bad descriptions are usage errors; ``--peer app`` without
    ``--app-cmd`` skips saying how to give one."""
    pytester.makepyfile("def test_link(memif_link):\n    pass\n")
    (pytester.path / "apps.toml").write_text(APPS_TOML.format(exe=sys.executable))
    result = _run(pytester, "--collect-only", "-q", "--app-cmd", "my-cnf {socket}",
                  "--app-file", "apps.toml")
    links = [line.split("[", 1)[1].rstrip("]") for line in result.stdout.lines if "[" in line]
    assert links[-6:] == [f"{p}-peer_{r}" for p in ("app", "app:echo", "app:sink")
                          for r in ("master", "slave")]
    result = _run(pytester, "--collect-only", "-q", "--app-file", "apps.toml",
                  "--peer", "app:sink", "-m", "peer(name='app:sink')")
    assert sum("::test_link[app:sink-peer_" in line for line in result.stdout.lines) == 2
    result = _run(pytester, "--collect-only", "-q", "--app-cmd", "x {sockte}")
    assert result.ret != 0
    result.stderr.fnmatch_lines(["*unknown placeholder(s)*sockte*"])
    result = _run(pytester, "--collect-only", "-q", "--app-set", "frames=io")
    result.stderr.fnmatch_lines(["*--app-set needs --app-cmd*"])
    result = _run(pytester, "--peer", "app", "-rs")
    result.assert_outcomes(skipped=2)
    result.stdout.fnmatch_lines(["*peer app unavailable: no app 'app' configured*--app-cmd*"])
    result = _run(pytester, "--peer", "app", "--app-cmd", "no-such-memif-cnf {socket}", "-rs")
    result.assert_outcomes(skipped=2)
    result.stdout.fnmatch_lines(["*'no-such-memif-cnf' not found*"])
