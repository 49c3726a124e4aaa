"""The generic app peer (fixtures/peers/app.py): descriptions, command lines, bad apps (labelled
stand-in scripts), and two real apps from examples/apps.toml -- our own ``memif-harness
responder`` process and DPDK ``dpdk-testpmd`` in non-interactive mode.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from scapy.layers.inet import ICMP, IP
from scapy.layers.l2 import ARP, Ether
from scapy.packet import Raw

from memif_harness import __version__
from memif_harness.memif.protocol.constants import Role
from memif_harness.traffic.expect import mac_swap
from memif_harness_fixtures.links import Unsupported, make_frame, open_link, wait_for
from memif_harness_fixtures.peers import libmemif
from memif_harness_fixtures.peers.app import (
    AppDescription,
    AppInterface,
    AppPeer,
    AppUnsupported,
    load_apps,
    parse_settings,
)
from memif_harness_fixtures.peers.base import InterfaceSpec, PeerError, PeerUnavailable

EXAMPLES = Path(__file__).resolve().parents[1] / "examples" / "apps.toml"
VENV_BIN = str(Path(sys.executable).parent)


def app(cmd: str, **table: object) -> AppDescription:
    return AppDescription.from_table("t", {"cmd": cmd, **table})


# -- descriptions and command lines -------------------------------------------------------------


def test_placeholders_fill_whole_arguments() -> None:
    desc = app("my-cnf --role {role} -s {socket} --id={id} --q {queues} --ring {ring_size} "
               "--lr {log2_ring_size} --buf {buffer_size} --ip {ip} --mac {mac} --k {secret} "
               "--name {socket_name} --abs {abstract} --p {tag}",
               role_names={"master": "server", "slave": "client"})
    spec = InterfaceSpec(role=Role.MASTER, socket="/tmp/a dir/x.sock", id=7, secret="s e",
                         rx_queues=2, tx_queues=2, log2_ring_size=12, buffer_size=4096,
                         ip="10.0.0.1/24", mac="02:00:00:00:00:01")
    assert desc.argv(spec, "T1") == [
        "my-cnf", "--role", "server", "-s", "/tmp/a dir/x.sock", "--id=7", "--q", "2",
        "--ring", "4096", "--lr", "12", "--buf", "4096", "--ip", "10.0.0.1", "--mac",
        "02:00:00:00:00:01", "--k", "s e", "--name", "/tmp/a dir/x.sock", "--abs", "no",
        "--p", "T1"]
    abstract = desc.argv(InterfaceSpec(role=Role.SLAVE, socket="@mh-x"))
    assert abstract[abstract.index("--name") + 1] == "mh-x"
    assert abstract[abstract.index("--abs") + 1] == "yes"
    assert abstract[abstract.index("--role") + 1] == "client"
    assert abstract[abstract.index("--k") + 1] == ""  # no secret: an empty argument


def test_what_the_command_line_cannot_say_is_unsupported() -> None:
    desc = app("my-cnf {role} {socket}", roles=["master"], defaults={"ip": "10.9.9.9"})
    assert desc.unsupported(InterfaceSpec(role=Role.MASTER, socket="@a")) == []
    assert desc.unsupported(InterfaceSpec(role=Role.MASTER, socket="@a", ip="10.9.9.9/8")) == []
    problems = desc.unsupported(InterfaceSpec(
        role=Role.SLAVE, socket="@a", id=3, secret="x", rx_queues=2, tx_queues=2,
        log2_ring_size=11, buffer_size=1024, ip="10.1.1.1/24", mac="02:00:00:00:00:02"))
    assert problems == ["the slave role", "a secret ({secret})", "id 3 ({id})",
                        "2/2 queues ({queues})", "ring size 2048 ({ring_size})",
                        "buffer size 1024 ({buffer_size})", "ip 10.1.1.1 ({ip})",
                        "mac 02:00:00:00:00:02 ({mac})"]
    with pytest.raises(AppUnsupported, match="app t cannot do the slave role, a secret"):
        desc.argv(InterfaceSpec(role=Role.SLAVE, socket="@a", secret="x"))
    assert app("x {queues}").unsupported(InterfaceSpec(role=Role.MASTER, socket="@a",
                                                       rx_queues=2)) == ["2 rx but 1 tx queues"]


def test_bad_descriptions_are_named() -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"cmd": "x {sokcet}"}, r"unknown placeholder\(s\) \['sokcet'\]"),
        ({"cmd": "x", "frame": "io"}, r"unknown key\(s\) \['frame'\]"),
        ({"cmd": "x", "frames": "echo"}, "frames is one of icmp, io, macswap, sink, none"),
        ({"cmd": "x", "ready": "line"}, "ready = 'line' needs ready_line"),
        ({"cmd": "x", "up_line": "(unclosed"}, "up_line: bad regex"),
        ({"cmd": "x", "roles": ["server"]}, "unknown role or signal"),
        ({"cmd": "x", "stop_signal": "SIGNOPE"}, "unknown role or signal"),
        ({"cmd": "x", "stop_input": 3}, "stop_input: a string or a list of strings"),
        ({"cmd": ""}, "empty cmd"),
        ({}, "no cmd"),
    ]
    for table, error in cases:
        with pytest.raises(ValueError, match=error):
            AppDescription.from_table("t", table)
    assert app("x", stop_signal="int").stop_signal is signal.SIGINT
    assert app("x", ready_line="up").ready == "line"


def test_settings_are_toml_values_or_plain_strings() -> None:
    assert parse_settings(["frames=io", 'ready_line="a b"', 'roles=["master"]',
                           "stop_timeout=1.5", "version=1.2.3"]) == {
        "frames": "io", "ready_line": "a b", "roles": ["master"], "stop_timeout": 1.5,
        "version": "1.2.3"}
    with pytest.raises(ValueError, match="expected KEY=VALUE"):
        parse_settings(["frames"])


def test_app_file_with_like(tmp_path: Path) -> None:
    path = tmp_path / "apps.toml"
    path.write_text(textwrap.dedent("""
        [app.a]
        cmd = "a {socket}"
        frames = "io"
        [app.b]
        like = "a"
        frames = "macswap"
    """))
    apps = load_apps(path)
    assert (apps["a"].frames, apps["b"].frames, apps["b"].cmd) == ("io", "macswap", "a {socket}")
    path.write_text('[app.a]\nlike = "a"\ncmd = "x"\n')
    with pytest.raises(ValueError, match="loops"):
        load_apps(path)
    path.write_text('[peer.a]\ncmd = "x"\n')
    with pytest.raises(ValueError, match=r"only \[app.NAME\] tables"):
        load_apps(path)
    with pytest.raises(ValueError, match="--app-file"):
        load_apps(tmp_path / "absent.toml")


def test_the_examples_file_loads() -> None:
    apps = load_apps(EXAMPLES)
    assert {"responder", "testpmd-io", "testpmd-macswap"} <= set(apps)
    assert apps["testpmd-macswap"].role_names == apps["testpmd-io"].role_names


def test_a_missing_executable_is_unavailable() -> None:
    with pytest.raises(PeerUnavailable, match="'no-such-memif-app' not found"):
        AppPeer(app("no-such-memif-app {socket}")).start()


# -- bad apps (stand-in scripts, labelled as such) ----------------------------------------------


def stand_in(tmp_path: Path, body: str) -> str:
    """A stand-in app (a Python script), not any real memif implementation."""
    script = tmp_path / "stand_in_app"
    script.write_text(f"#!{sys.executable}\nimport sys, time, signal\n"
                      + textwrap.dedent(body))
    script.chmod(0o755)
    return str(script)


def test_an_app_that_exits_at_start_names_its_command_and_output(tmp_path: Path) -> None:
    exe = stand_in(tmp_path, """
        print("my-cnf 1.0 starting", flush=True)
        print("error: cannot open /dev/nope", flush=True)
        sys.exit(3)
    """)
    peer = AppPeer(app(f"{exe} --socket {{socket}}", ready_line="ready"))
    start = time.monotonic()
    with pytest.raises(PeerError) as info:
        peer.create_interface(InterfaceSpec(role=Role.SLAVE, socket="@x"))
    assert time.monotonic() - start < 5
    message = str(info.value)
    assert f"app t ({shutil.which('stdbuf')} -oL {exe} --socket @x) no line matching " \
           "'ready' (it exited), exit status 3; its last lines:" in message
    assert "  | my-cnf 1.0 starting\n  | error: cannot open /dev/nope" in message
    assert peer.interfaces == []
    # a master, ready when it listens, that exits first
    with pytest.raises(PeerError, match=r"did not listen on @y \(it exited\), exit status 3"):
        AppPeer(app(f"{exe} {{socket}}")).create_interface(
            InterfaceSpec(role=Role.MASTER, socket="@y"))
    # a slave, ready after a delay
    with pytest.raises(PeerError, match=r"exited at start \(it exited\), exit status 3"):
        AppPeer(app(f"{exe} {{socket}}", ready_delay=2.0)).create_interface(
            InterfaceSpec(role=Role.SLAVE, socket="@z"))


def test_an_app_that_never_gets_ready_is_stopped_after_ready_timeout(tmp_path: Path) -> None:
    exe = stand_in(tmp_path, """
        print("waiting for a licence server", flush=True)
        time.sleep(60)
    """)
    for table in ({"ready_line": "^up$"}, {}):  # a line that never comes; never listens
        peer = AppPeer(app(f"{exe} {{socket}}", ready_timeout=1.0, **table))
        start = time.monotonic()
        with pytest.raises(PeerError, match=r"within 1s; its last lines:\n  \| waiting for a "
                           "licence server"):
            peer.create_interface(InterfaceSpec(role=Role.MASTER, socket="@never"))
        assert time.monotonic() - start < 5
        assert peer.interfaces == []
    assert not any("stand_in_app" in p.read_text() for p in _cmdlines())


def _cmdlines() -> list[Path]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (entry / "cmdline").exists():
            try:
                (entry / "cmdline").read_text()
            except OSError:
                continue
            out.append(entry / "cmdline")
    return out


def test_an_app_that_ignores_its_stop_is_killed_and_named(tmp_path: Path) -> None:
    exe = stand_in(tmp_path, """
        import os
        signal.signal(signal.SIGTERM, lambda *_: os.write(1, b"SIGTERM? no.\\n"))
        os.write(1, b"up\\n")
        while True:
            time.sleep(1)
    """)
    peer = AppPeer(app(f"{exe} {{socket}}", ready_line="^up$", stop_timeout=1.0))
    iface = peer.create_interface(InterfaceSpec(role=Role.SLAVE, socket="@stop"))
    assert iface.alive()
    start = time.monotonic()
    with pytest.raises(PeerError, match=r"ignored its stop \(SIGTERM\) for 1s; killed, exit "
                       r"status -9; its last lines:\n  \| up\n  \| SIGTERM\? no\."):
        peer.stop()
    assert time.monotonic() - start < 5
    assert not iface.alive()
    peer.stop()  # safe twice


def test_stdin_lines_start_and_stop_an_interactive_app(tmp_path: Path) -> None:
    exe = stand_in(tmp_path, """
        print("> ", flush=True)
        for line in sys.stdin:
            print("got", line.strip(), flush=True)
            if line.strip() == "start":
                print("link up", flush=True)
            if line.strip() == "exit":
                print("bye", flush=True)
                sys.exit(0)
    """)
    peer = AppPeer(app(f"{exe} {{socket}}", ready_line="^> ", start_input=["start"],
                       stop_input=["exit"], up_line="^link up", stop_timeout=3.0))
    iface = peer.create_interface(InterfaceSpec(role=Role.SLAVE, socket="@i"))
    iface.wait_up(3)
    assert iface.details()["connects"] == 1
    peer.stop()
    assert iface.process.returncode == 0
    assert "got exit\nbye" in iface.output


def test_wait_up_names_an_app_that_never_reports_its_link(tmp_path: Path) -> None:
    exe = stand_in(tmp_path, """
        print("ready", flush=True)
        time.sleep(60)
    """)
    peer = AppPeer(app(f"{exe} {{socket}}", ready_line="ready", up_line="link up"))
    iface = peer.create_interface(InterfaceSpec(role=Role.SLAVE, socket="@w"))
    try:
        with pytest.raises(PeerError, match=r"printed no 'link up' within 0.5s; its last "
                           r"lines:\n  \| ready"):
            iface.wait_up(0.5)
    finally:
        peer.stop()


# -- real apps from examples/apps.toml ----------------------------------------------------------

PEER_IP, OUR_IP = "192.168.9.1", "192.168.9.2"
PEER_MAC, OUR_MAC = "02:fe:00:00:09:01", "02:fe:00:00:09:02"


@pytest.fixture
def on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """This venv's ``memif-harness`` first on PATH, as the example file names it."""
    monkeypatch.setenv("PATH", f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}")


@pytest.mark.usefixtures("on_path")
@pytest.mark.parametrize("role", [Role.MASTER, Role.SLAVE], ids=["master", "slave"])
def test_our_responder_process_as_an_app(memif_socket_dir: Path, role: Role) -> None:
    """Our own ``memif-harness responder`` (a real process of this project) run as an app."""
    peer = AppPeer(load_apps(EXAMPLES)["responder"])
    assert peer.version() == __version__
    spec = InterfaceSpec(role=role, socket=str(memif_socket_dir / "r.sock"), id=2, secret="k",
                         ip=f"{PEER_IP}/24", mac=PEER_MAC)
    link = open_link(peer, spec)
    try:
        details = link.peer_interface.details()
        ours = link.endpoint.details()
        assert (details["remote_if_name"], details["remote_inst_name"]) == (
            ours.if_name, ours.inst_name)
        assert ours.remote_inst_name == "icmp_responder"
        link.forward("icmpecho")
        arp = Ether(dst="ff:ff:ff:ff:ff:ff", src=OUR_MAC) / ARP(
            op=1, hwsrc=OUR_MAC, psrc=OUR_IP, pdst=PEER_IP)
        (answer,) = link.exchange([bytes(arp)], timeout=3)
        assert Ether(answer)[ARP].hwsrc == PEER_MAC
        request = (Ether(dst=PEER_MAC, src=OUR_MAC) / IP(src=OUR_IP, dst=PEER_IP)
                   / ICMP(type=8, id=9, seq=4) / Raw(b"x" * 56))
        (reply,) = link.exchange([bytes(request)], timeout=3)
        assert (Ether(reply)[IP].src, Ether(reply)[ICMP].type, Ether(reply)[ICMP].seq) == (
            PEER_IP, 0, 4)
        with pytest.raises(Unsupported, match="frames = 'icmp', not io"):
            link.forward("io")
        link.close_endpoint()
        assert wait_for(lambda: not link.peer_interface.is_up(), 5)
        assert link.peer_interface.details()["remote_reason"] == "interface deleted"
    finally:
        link.close()
    assert link.peer_interface.details()["exit_status"] == 0  # SIGTERM: a clean stop


def _testpmd(name: str) -> AppPeer:
    if shutil.which("dpdk-testpmd") is None:
        pytest.skip("dpdk-testpmd not installed (apt-get install dpdk)")
    return AppPeer(load_apps(EXAMPLES)[name])


@pytest.mark.parametrize("role", [Role.MASTER, Role.SLAVE], ids=["master", "slave"])
def test_testpmd_as_a_plain_app_io(memif_socket_dir: Path, role: Role) -> None:
    """DPDK testpmd run as an app (non-interactive, --auto-start --forward-mode=io), stopped
    by Enter on its stdin; its version from its own ``-v`` output."""
    peer = _testpmd("testpmd-io")
    link = open_link(peer, InterfaceSpec(role=role, socket=str(memif_socket_dir / "t.sock"), id=1))
    try:
        assert peer.version() == "unknown" or re.fullmatch(r"\d+\.\d+\S*", peer.version())
        assert link.endpoint.details().remote_inst_name.startswith("DPDK")
        frames = [make_frame(seq, 60 + seq * 13) for seq in range(100)]
        assert link.exchange(frames) == frames
        with pytest.raises(Unsupported, match="frames = 'io', not macswap"):
            link.forward("macswap")
        link.close_endpoint()  # its down_line: our DISCONNECT, with the reason
        assert wait_for(lambda: not link.peer_interface.is_up(), 5)
        assert link.peer_interface.details()["remote_reason"] == "interface deleted"
    finally:
        link.close()
    assert re.fullmatch(r"\d+\.\d+\S*", peer.version())
    iface = link.peer_interface
    assert isinstance(iface, AppInterface)
    status = iface.details()["exit_status"]
    if status == 0:  # Enter ended it
        assert "Bye..." in iface.output
    else:  # testpmd 22.11 in this mode sometimes segfaults once the link went down (under load)
        assert status == -signal.SIGSEGV, iface.why("stopped")


def test_testpmd_as_a_plain_app_macswap(memif_socket_dir: Path) -> None:
    peer = _testpmd("testpmd-macswap")
    spec = InterfaceSpec(role=Role.MASTER, socket=str(memif_socket_dir / "m.sock"))
    link = open_link(peer, spec)
    try:
        link.forward("macswap")
        frames = [make_frame(seq, 64) for seq in range(32)]
        assert link.exchange(frames) == [mac_swap(f) for f in frames]
    finally:
        link.close()


def test_the_readme_describes_libmemif_as_its_preset(tmp_path: Path) -> None:
    """The README's ``[app.icmp-responder]`` is what ``--peer libmemif`` runs."""
    readme = (EXAMPLES.parents[1] / "README.md").read_text()
    block = re.search(r"```toml\n(\[app\.icmp-responder\].*?)```", readme, re.S)
    assert block is not None
    (tmp_path / "apps.toml").write_text(block.group(1))
    documented = load_apps(tmp_path / "apps.toml")["icmp-responder"]
    preset = libmemif.description("icmp_responder")
    spec = InterfaceSpec(role=Role.SLAVE, socket="@x", id=3, ip="10.0.0.1/24")
    assert documented.argv(spec) == preset.argv(spec)
    for key in ("frames", "exits_on_disconnect", "stop_signal", "version_cmd",
                "max_socket_bytes", "defaults", "expect"):
        assert getattr(documented, key) == getattr(preset, key), key
    for key in ("up_line", "down_line"):
        assert getattr(documented, key).pattern == getattr(preset, key).pattern, key
    version = (EXAMPLES.parents[1] / "tests/data/libmemif/version.txt").read_text()
    for desc in (documented, preset):
        assert desc.version_regex is not None
        match = desc.version_regex.search(version)
        assert match is not None
        assert match.group(1) == "4.0"


def test_children_an_app_leaves_behind_are_stopped_with_it() -> None:
    """A shell wrapper that dies on SIGTERM but leaves its child holding the output pipe."""
    peer = AppPeer(app("sh -c 'sleep 60 & echo ready {socket}; wait'", ready_line="ready"))
    iface = peer.create_interface(InterfaceSpec(role=Role.SLAVE, socket="@kids"))
    start = time.monotonic()
    peer.stop()
    assert time.monotonic() - start < 4
    assert wait_for(lambda: not _running_in_group(iface.process.pid), 3)


def _running_in_group(pgid: int) -> list[int]:
    """Pids of processes (not zombies) in process group ``pgid``, from /proc."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z" and int(fields[2]) == pgid:
            pids.append(int(stat.parent.name))
    return pids
