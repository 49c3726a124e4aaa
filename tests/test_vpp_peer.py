"""VppPeer's launchers and CLI handling, without VPP (tests/test_vpp_real.py has real VPP).

These tests check startup.conf generation, the launchers' process/container logic and how
:meth:`VppPeer.cli` reads VPP's answers. Where a VPP would answer, a *fake* stands in
(``FakeVppLauncher`` replays text from the real captures; ``fake-vpp`` and ``fake-vppctl`` are
shell scripts). None of them is VPP and nothing here shows VPP works.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from memif_harness_fixtures.peers import containers
from memif_harness_fixtures.peers.base import PeerError, PeerUnavailable
from memif_harness_fixtures.peers.vpp import (
    NOT_CONFIGURED,
    CliResult,
    ContainerVpp,
    LocalVpp,
    VppLauncher,
    VppPeer,
    container_name,
    startup_conf,
)

CAPTURES = Path(__file__).parents[1].parent / "shared" / "captures" / "vpp-26.06"
VERSION_TEXT = "vpp v26.06-release built by root on vm at 2026-11-24T19:21:50\n"


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A runtime dir short enough for unix socket paths (pytest's tmp_path may not be)."""
    with tempfile.TemporaryDirectory(prefix="vpp-t-", dir="/tmp") as d:
        yield Path(d)


# --- startup.conf -------------------------------------------------------------------------------


def test_startup_conf_runs_without_hugepages(short_dir: Path) -> None:
    conf = startup_conf(short_dir, plugin_path="/opt/vpp/plugins", api_prefix="mh-1")
    rt = str(short_dir)
    for line in (
        f"cli-listen {rt}/cli.sock", f"runtime-dir {rt}", f"log {rt}/vpp.log", "nodaemon",
        "main-heap-size 512M", "main-heap-page-size 4k",
        "buffers-per-numa 16384", "size 32M", f"socket-name {rt}/stats.sock",
        f"socket-name {rt}/api.sock", "main-core 0", "path /opt/vpp/plugins",
        "plugin default { disable }", "plugin memif_plugin.so { enable }",
        "plugin ping_plugin.so { enable }", "prefix mh-1",
    ):
        assert f"  {line}\n" in conf, line
    # buffers and stats segment both on 4k pages
    assert conf.count("  page-size 4k\n") == 2
    assert "hugepage" not in conf
    assert "coredump" not in conf  # crashes are expected in conformance runs: die fast
    assert "dpdk" not in conf
    assert conf.count("{") == conf.count("}")
    assert "path " not in startup_conf(short_dir)


def test_startup_conf_refuses_paths_unix_sockets_cannot_hold() -> None:
    with pytest.raises(ValueError, match="too long"):
        startup_conf("/" + "x" * 100)
    with pytest.raises(ValueError, match="absolute"):
        startup_conf("relative/dir")


def test_local_vpp_conf_in_private_dir(short_dir: Path) -> None:
    launcher = LocalVpp("/usr/bin/vpp", "/usr/bin/vppctl", workdir=short_dir)
    assert launcher.cli_socket == f"{short_dir}/cli.sock"
    conf = launcher.startup_conf()
    assert f"cli-listen {short_dir}/cli.sock" in conf
    assert f"prefix {launcher.api_prefix}" in conf
    other = LocalVpp("/usr/bin/vpp", workdir=short_dir)
    assert other.api_prefix != launcher.api_prefix  # two VPPs in one process do not collide
    assert other.vppctl_bin == "/usr/bin/vppctl"  # vppctl defaults to vpp's sibling


def test_local_vpp_default_dir_is_short_and_removable() -> None:
    launcher = LocalVpp("/nonexistent/vpp")
    try:
        assert launcher.runtime_dir.is_dir()
        assert len(launcher.cli_socket) < 108
    finally:
        launcher.remove_workdir()
    assert not launcher.runtime_dir.exists()


# --- from_options / availability ----------------------------------------------------------------


def test_not_configured() -> None:
    with pytest.raises(PeerUnavailable) as info:
        VppPeer.from_options()
    assert str(info.value) == NOT_CONFIGURED
    assert "--vpp-bin PATH" in NOT_CONFIGURED
    assert "--vpp-image IMAGE" in NOT_CONFIGURED
    with pytest.raises(ValueError, match="not both"):
        VppPeer.from_options(vpp_bin="/x/vpp", image="vpp:latest")


def test_from_options_picks_launcher(short_dir: Path) -> None:
    local = VppPeer.from_options(vpp_bin="/x/vpp", vppctl="/y/vppctl", plugin_path="/p",
                                 workdir=short_dir)
    assert isinstance(local.launcher, LocalVpp)
    assert (local.launcher.vpp_bin, local.launcher.vppctl_bin) == ("/x/vpp", "/y/vppctl")
    assert "path /p" in local.launcher.startup_conf()
    image = VppPeer.from_options(image="memif-harness/vpp:26.06", workdir=short_dir)
    assert isinstance(image.launcher, ContainerVpp)
    assert image.name == "vpp"


def test_local_vpp_given_but_missing_binary_is_an_error(short_dir: Path) -> None:
    peer = VppPeer(LocalVpp("/nonexistent/vpp", "/nonexistent/vppctl", workdir=short_dir))
    with pytest.raises(PeerError, match=r"'/nonexistent/vpp' \(given with --vpp-bin"):
        peer.start()
    assert not peer.alive()
    peer.stop()  # safe after a failed start


# --- container launcher (docker is real; the VPP image is not) ---------------------------------


def _docker_reachable() -> bool:
    try:
        import docker

        docker.from_env(timeout=10).ping()
    except Exception:
        return False
    return True


@pytest.mark.skipif(not _docker_reachable(), reason="docker SDK or daemon not available")
def test_container_vpp_given_but_missing_image_is_an_error(short_dir: Path) -> None:
    peer = VppPeer(ContainerVpp("memif-harness-test/no-such-vpp-image:never", short_dir))
    with pytest.raises(PeerError) as info:
        peer.start()
    assert "memif-harness-test/no-such-vpp-image:never" in str(info.value)
    assert "--vpp-image IMAGE" in str(info.value)
    assert "docker/build.sh vpp" in str(info.value)
    assert not peer.alive()


def test_container_vpp_run_arguments(short_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw3")
    shared = short_dir / "sockets"
    launcher = ContainerVpp("img", short_dir / "rt", shared_dirs=(shared,), session="s1")
    assert launcher.name.startswith(f"memif-harness-vpp-gw3-{os.getpid()}-")
    assert container_name(7) == f"memif-harness-vpp-gw3-{os.getpid()}-7"
    assert launcher.labels() == {"memif-harness": "1", "memif-harness.session": "s1"}
    volumes = launcher.volumes()
    assert volumes[str(shared)] == {"bind": str(shared), "mode": "rw"}  # same path inside
    assert volumes[str(short_dir / "rt")]["bind"] == str(short_dir / "rt")
    assert volumes[str(short_dir / "rt" / "startup.conf")] == {"bind": "/etc/vpp/startup.conf",
                                                                "mode": "ro"}
    kwargs = launcher.run_kwargs()
    assert kwargs["privileged"] is False  # least privilege unless asked for
    assert ContainerVpp("img", privileged=True).run_kwargs()["privileged"] is True
    assert (kwargs["entrypoint"], kwargs["command"]) == (["vpp"], ["-c", "/etc/vpp/startup.conf"])
    assert kwargs["network_mode"] == "host"
    assert kwargs["volumes"] == volumes
    launcher.check_socket_path(f"{shared}/m.sock")
    launcher.check_socket_path("abstract:x")  # host network: abstract names are shared
    with pytest.raises(ValueError, match="outside"):
        launcher.check_socket_path("/elsewhere/m.sock")


# --- VppPeer against a fake launcher replaying captured VPP text --------------------------------


class FakeVppLauncher(VppLauncher):
    """NOT VPP: answers vppctl commands with canned text (from the real captures) and logs them."""

    def __init__(self, runtime_dir: Path,
                 answer: Callable[[str], str] | None = None) -> None:
        self.runtime_dir = runtime_dir
        self.commands: list[str] = []
        self.running = False
        self.answer = answer or (lambda command: "")
        self.not_ready_answers = 0

    def start(self) -> None:
        self.running = True

    def stop(self) -> None:
        self.running = False

    def alive(self) -> bool:
        return self.running

    def pid(self) -> int | None:
        return None  # no process to look at

    def vppctl(self, command: str, timeout: float) -> CliResult:
        self.commands.append(command)
        if not self.running:  # what vppctl says when VPP is gone
            return CliResult(1, "", "clib_socket_init: connect (fd 3, "
                             f"'{self.cli_socket}'): Connection refused\n")
        if command == "show version":
            if self.not_ready_answers:
                self.not_ready_answers -= 1
                return CliResult(1, "", "clib_socket_init: connect (fd 3, "
                                 f"'{self.cli_socket}'): Connection refused\n")
            return CliResult(0, VERSION_TEXT)
        return CliResult(0, self.answer(command))

    def logs(self) -> dict[str, str]:
        return {"fake log": "fake launcher, not VPP"}

    def api_dir(self) -> Path:
        return self.runtime_dir


def _captured(name: str, command: str, occurrence: int = 0) -> str:
    """The output of the ``occurrence``-th ``vpp# command`` in a captured transcript."""
    if not CAPTURES.is_dir():
        pytest.skip(f"VPP captures not found at {CAPTURES} (../shared of the repo)")
    text = (CAPTURES / name).read_text()
    blocks = [b.split("\n[exit ")[0] for b in text.split(f"vpp# {command}\n")[1:]]
    return blocks[occurrence] + "\n"


def test_cli_error_text_raises_with_the_launchers_logs(short_dir: Path) -> None:
    error = _captured("vppctl-create-and-errors.txt",
                      "create interface memif socket-id 1 id 2 master ring-size 1000")
    fake = FakeVppLauncher(short_dir, lambda c: error if c.startswith("create interface") else "")
    fake.start()
    peer = VppPeer(fake)
    with pytest.raises(PeerError, match="ring size must be power of 2") as info:
        peer.cli("create interface memif socket-id 1 id 2 master ring-size 1000")
    assert info.value.diagnostics == {"fake log": "fake launcher, not VPP"}
    assert peer.cli("show errors") == ""


def test_peer_rejects_unreachable_socket_for_container(short_dir: Path) -> None:
    peer = VppPeer(ContainerVpp("img", short_dir))
    with pytest.raises(ValueError, match="outside"):
        peer.socket_id("/somewhere/else.sock")


# --- LocalVpp process handling, with fake-vpp / fake-vppctl scripts ------------------------------


def _script(path: Path, body: str) -> str:
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


@pytest.fixture
def fake_bins(short_dir: Path) -> tuple[Path, str]:
    """fake-vppctl: refuses the connection twice, then prints a VPP-like version. NOT VPP."""
    bindir = short_dir / "bin"
    bindir.mkdir()
    vppctl = _script(bindir / "fake-vppctl", f"""
n=$(cat {bindir}/count 2>/dev/null || echo 0); echo $((n+1)) > {bindir}/count
echo "$@" >> {bindir}/vppctl-args
if [ "$n" -lt 2 ]; then
  echo "clib_socket_init: connect (fd 3, '$2'): Connection refused" >&2; exit 1
fi
echo "{VERSION_TEXT.strip()}"
""")
    return bindir, vppctl


def test_local_vpp_start_ready_stop(short_dir: Path, fake_bins: tuple[Path, str]) -> None:
    bindir, vppctl = fake_bins
    vpp = _script(bindir / "fake-vpp", f'echo "$@" > {bindir}/vpp-args\nexec sleep 600\n')
    rt = short_dir / "rt"
    launcher = LocalVpp(vpp, vppctl, workdir=rt)
    peer = VppPeer(launcher, ready_timeout=10)
    with pytest.raises(PeerError, match=f"no VPP API definitions.*under {bindir.parent}"):
        peer.start()  # ready, then no API to attach to: stopped again
    assert not peer.alive()
    assert (bindir / "count").read_text().strip() == "3"  # refused twice, then ready
    peer.launch()
    try:
        assert peer.alive()
        assert (bindir / "vpp-args").read_text().split() == ["-c", str(rt / "startup.conf")]
        assert "cli-listen" in (rt / "startup.conf").read_text()
        assert (bindir / "count").read_text().strip() == "4"
        assert (bindir / "vppctl-args").read_text().splitlines()[0] == (
            f"-s {rt}/cli.sock show version")
        assert peer.version() == "26.06-release"
    finally:
        peer.stop()
    assert not peer.alive()
    peer.stop()


def test_local_vpp_death_reported_with_log(short_dir: Path,
                                           fake_bins: tuple[Path, str]) -> None:
    bindir, vppctl = fake_bins
    vpp = _script(bindir / "fake-vpp", "echo 'fake-vpp: cannot map heap' >&2\nexit 3\n")
    peer = VppPeer(LocalVpp(vpp, vppctl, workdir=short_dir / "rt"), ready_timeout=10)
    with pytest.raises(PeerError, match="died while starting") as info:
        peer.start()
    assert "fake-vpp: cannot map heap" in info.value.diagnostics["vpp stderr"]
    assert "fake-vpp: cannot map heap" in str(info.value)
    assert not peer.alive()


def test_local_vpp_readiness_deadline(short_dir: Path) -> None:
    bindir = short_dir / "bin"
    bindir.mkdir()
    vpp = _script(bindir / "fake-vpp", "exec sleep 600\n")
    vppctl = _script(bindir / "fake-vppctl", "echo 'connect: No such file or directory' >&2\n"
                                             "exit 1\n")
    peer = VppPeer(LocalVpp(vpp, vppctl, workdir=short_dir / "rt"), ready_timeout=0.5)
    with pytest.raises(PeerError, match="not answering `show version`") as info:
        peer.start()
    assert "No such file or directory" in info.value.diagnostics["last vppctl output"]
    assert not peer.alive()  # stopped after the failed start


def test_local_vpp_stop_kills_after_sigterm_timeout(short_dir: Path,
                                                    fake_bins: tuple[Path, str]) -> None:
    bindir, vppctl = fake_bins
    vpp = _script(bindir / "fake-vpp", "trap '' TERM\nwhile :; do sleep 0.1; done\n")
    launcher = LocalVpp(vpp, vppctl, workdir=short_dir / "rt")
    launcher.start()
    assert launcher.alive()
    launcher.stop(timeout=0.5)
    assert not launcher.alive()


def test_cli_asks_whether_vpp_runs_only_after_a_failure(short_dir: Path) -> None:
    """``alive()`` costs docker round trips for a container: not asked per command."""

    class Counting(FakeVppLauncher):
        alive_calls = 0

        def alive(self) -> bool:
            self.alive_calls += 1
            return super().alive()

    fake = Counting(short_dir, lambda c: "unknown input `bogus'\n" if "bogus" in c else "")
    fake.start()
    peer = VppPeer(fake)
    before = fake.alive_calls
    peer.cli("show errors")
    peer.cli("show interface")
    assert fake.alive_calls == before
    with pytest.raises(PeerError, match="VPP rejected"):
        peer.cli("show bogus")
    assert fake.alive_calls == before + 1
    fake.running = False
    with pytest.raises(PeerError, match="is not running"):
        peer.cli("show errors")


def test_own_runtime_dirs_are_removed_on_stop_given_ones_kept(short_dir: Path) -> None:
    local, container = LocalVpp("/nonexistent/vpp"), ContainerVpp("img")
    for launcher in (local, container):
        assert launcher.runtime_dir.is_dir()
        launcher.stop()
        assert not launcher.runtime_dir.exists(), launcher
    given = ContainerVpp("img", short_dir, session="s2")
    given.stop()
    assert short_dir.is_dir()
    assert given.labels() == containers.labels("s2")
    assert container.session == containers.SESSION
