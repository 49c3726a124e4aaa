"""LibmemifPeer (fixtures/peers/libmemif.py): parsing of libmemif 4.0 icmp_responder output
(golden captures in tests/data/libmemif/), its command line, process handling with a stand-in
app, and -- when ``LIBMEMIF_APP`` names a real icmp_responder -- links to the real thing.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from scapy.layers.inet import ICMP, IP
from scapy.layers.l2 import ARP, Ether
from scapy.packet import Raw

from memif_harness.memif.protocol.constants import Role
from memif_harness.traffic.frames import internet_checksum
from memif_harness_fixtures.links import Link, open_link, wait_for
from memif_harness_fixtures.peers import libmemif
from memif_harness_fixtures.peers.app import AppInterface
from memif_harness_fixtures.peers.base import InterfaceSpec, PeerError, PeerUnavailable
from memif_harness_fixtures.peers.libmemif import (
    DEFAULT_IP,
    DEFAULT_MAC,
    LibmemifPeer,
    LibmemifUnsupported,
    app_messages,
    mac_option,
    parse_version,
)
from memif_harness_fixtures.peers.sockets import listening, remove_stale_socket

DATA = Path(__file__).parent / "data" / "libmemif"
APP = os.environ.get("LIBMEMIF_APP")
needs_app = pytest.mark.skipif(
    not APP,
    reason="LIBMEMIF_APP not set: build libmemif's icmp_responder (FD.io VPP extras/libmemif, "
    "examples/icmp_responder + examples/common) and export LIBMEMIF_APP=/path/to/icmp_responder",
)


def golden(name: str) -> str:
    return (DATA / name).read_text()


# -- output parsing (golden captures) ----------------------------------------------------------


def test_versions_from_version_and_help_output() -> None:
    assert parse_version(golden("version.txt")) == ("4.0", "2.0")
    assert parse_version(golden("help.txt")) == ("4.0", "2.0")
    assert parse_version("libmemif version: 3.1") == ("3.1", "")
    assert parse_version("usage: something else") is None


def test_app_messages_are_the_info_lines_but_link_events() -> None:
    assert app_messages(golden("session.txt")) == []
    assert app_messages(golden("stale_socket.txt")) == [
        "memif_create_socket: Unspecified syscall error (build with -DMEMIF_DBG or make debug)."]
    assert app_messages(golden("no_dir.txt")) == [
        "memif_create_socket: Socket file does not exist"]
    assert app_messages(golden("invalid_role.txt")) == ["Invalid role value: 'boss'"]
    assert app_messages(golden("invalid_ip.txt")) == ["Invalid ipv4 address: 1.2"]
    assert app_messages("INFO: memif connected!\r\nINFO: x\r\n") == ["x"]  # pty line ends


def test_session_output_drives_the_link_state() -> None:
    text = golden("session.txt")
    assert text.rfind(libmemif.CONNECTED) < text.rfind(libmemif.DISCONNECTED)
    assert text.count("INFO: memif connected!") == text.count("INFO: memif disconnected!") == 1


#: The real usage texts (``-?``) and the MAC option each has.
USAGES = [("help.txt", "-h"), ("help-v26.06.txt", "-m")]


def _fake_app(tmp_path: Path, body: str = "", usage: str = "help-v26.06.txt") -> Path:
    """A stand-in for icmp_responder: a Python script that prints the real ``usage`` on
    ``-?`` and runs ``body`` otherwise."""
    app = tmp_path / "icmp_responder"
    app.write_text(f"#!{sys.executable}\nimport sys\nif sys.argv[1:] == ['-?']:\n"
                   f"    sys.stdout.write({golden(usage)!r})\n    sys.exit(0)\n"
                   + textwrap.dedent(body))
    app.chmod(0o755)
    return app


@pytest.mark.parametrize(("usage", "mac"), USAGES)
def test_command_line_uses_the_options_of_the_real_usage(tmp_path: Path, usage: str,
                                                         mac: str) -> None:
    help_text = golden(usage)
    assert mac_option(help_text) == mac
    peer = LibmemifPeer(_fake_app(tmp_path, usage=usage))
    peer.start()
    assert peer.burst == (1024 if mac == "-m" else 256)
    spec = InterfaceSpec(role=Role.SLAVE, socket="/run/x.sock", id=4, ip="10.1.1.1/24",
                         mac="02:00:00:00:00:09")
    argv = peer.command_line(spec)
    assert argv[:2] == [shutil.which("stdbuf"), "-oL"]
    app_args = argv[3:]
    assert app_args == ["-r", "slave", "-s", "/run/x.sock", "-i", "4", "-a", "10.1.1.1",
                        mac, "02:00:00:00:00:09"]
    for flag in app_args[::2]:
        assert f"\t{flag}\t" in help_text, flag
    assert "<slave|master>" in help_text
    assert "using @ before the path" in help_text  # abstract sockets as we spell them
    # our defaults are the app's
    assert f"IPv4 address. Default: {DEFAULT_IP}" in help_text
    assert f"Mac address. Default: {DEFAULT_MAC}" in help_text
    default = peer.command_line(InterfaceSpec(role=Role.MASTER, socket="@a"))
    assert default[3:] == ["-r", "master", "-s", "@a", "-i", "0", "-a", DEFAULT_IP,
                           mac, DEFAULT_MAC]


def test_an_app_whose_usage_names_no_mac_option_is_unavailable(tmp_path: Path) -> None:
    app = tmp_path / "icmp_responder"
    app.write_text("#!/bin/sh\necho 'Usage: something else'\n")
    app.chmod(0o755)
    with pytest.raises(PeerUnavailable, match="names no MAC option"):
        LibmemifPeer(app).start()


def test_specs_the_app_cannot_do(tmp_path: Path) -> None:
    peer = LibmemifPeer(_fake_app(tmp_path))
    with pytest.raises(LibmemifUnsupported, match="socket path over 107 bytes"):
        peer.create_interface(InterfaceSpec(role=Role.SLAVE, socket="/" + "x" * 107))
    with pytest.raises(LibmemifUnsupported,
                       match=r"ring size 4096 \(\{ring_size\}\), buffer size 4096"):
        peer.create_interface(InterfaceSpec(role=Role.SLAVE, socket="@x", log2_ring_size=12,
                                            buffer_size=4096))
    assert peer.interfaces == []
    peer.stop()


def test_without_stdbuf_the_peer_is_unavailable(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    real_which = shutil.which
    monkeypatch.setattr(shutil, "which",
                        lambda name: None if name == "stdbuf" else real_which(name))
    with pytest.raises(PeerUnavailable, match="stdbuf"):
        LibmemifPeer(_fake_app(tmp_path)).start()


# -- sockets -----------------------------------------------------------------------------------


@pytest.fixture
def sock_dir() -> Iterator[Path]:
    path = Path("/tmp") / f"lm-{uuid.uuid4().hex[:8]}"  # short: sun_path is 108 bytes
    path.mkdir()
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_stale_socket_files_are_removed_live_ones_and_other_files_kept(sock_dir: Path) -> None:
    stale = sock_dir / "stale.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as s:
        s.bind(str(stale))
    assert remove_stale_socket(str(stale))
    assert not stale.exists()
    live = sock_dir / "live.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as s:
        s.bind(str(live))
        s.listen(1)
        assert not remove_stale_socket(str(live))
        assert live.exists()
    regular = sock_dir / "file"
    regular.write_text("not a socket")
    assert not remove_stale_socket(str(regular))
    assert regular.exists()
    assert not remove_stale_socket(str(sock_dir / "absent"))
    assert not remove_stale_socket("@abstract")


def test_listening_reads_proc_net_unix(sock_dir: Path) -> None:
    path = str(sock_dir / "m.sock")
    name = f"@lm-test-{uuid.uuid4().hex[:8]}"
    assert not listening(path)
    assert not listening(name)
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as s, \
            socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as a:
        s.bind(path)
        a.bind("\0" + name[1:])
        assert not listening(path)  # bound, not listening
        s.listen(1)
        a.listen(1)
        assert listening(path)
        assert listening(name)
    assert not listening(name)


# -- process handling with a stand-in app --------------------------------------------------------

#: Emulates icmp_responder: a master listens on -s; both print the real INFO lines.
FAKE = """
import os, socket, sys, time
args = dict(zip(sys.argv[1::2], sys.argv[2::2]))
mode = os.environ.get("FAKE_MODE", "ok")
if mode == "no_dir":
    print("INFO: memif_create_socket: Socket file does not exist", flush=True)
    sys.exit(4)
s = None
if args["-r"] == "master":
    s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    path = args["-s"]
    s.bind("\\0" + path[1:] if path.startswith("@") else path)
    s.listen(1)
time.sleep(0.3)
if mode == "late_fail":  # gives up after create_interface returned, before any link
    time.sleep(0.5)
    print("INFO: memif_connect: late failure", flush=True)
    sys.exit(3)
print("INFO: memif connected!", flush=True)
if mode == "crash":
    sys.exit(1)
if mode == "nobuf":  # more than 256 frames at one interrupt
    print("INFO: memif_rx_burst: Not enough memif buffers. There are unreceived data in "
          "shared memory.", flush=True)
    sys.exit(0)
if mode == "one_link":
    time.sleep(0.3)
    print("INFO: memif disconnected!", flush=True)
    sys.exit(0)
time.sleep(60)
"""


def test_master_is_ready_once_listening_and_its_socket_removed(
    tmp_path: Path, sock_dir: Path
) -> None:
    path = sock_dir / "m.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as s:
        s.bind(str(path))  # a stale file the real app could not bind over
    peer = LibmemifPeer(_fake_app(tmp_path, FAKE))
    iface = peer.create_interface(InterfaceSpec(role=Role.MASTER, socket=str(path)))
    assert listening(str(path))
    iface.wait_up(5)
    assert iface.is_up()
    assert peer.alive()
    iface.delete()
    assert not path.exists()
    peer.stop()


def test_exit_after_disconnect_is_normal_a_crash_is_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    peer = LibmemifPeer(_fake_app(tmp_path, FAKE))
    monkeypatch.setenv("FAKE_MODE", "one_link")
    iface = peer.create_interface(InterfaceSpec(role=Role.SLAVE, socket="@x"))
    iface.wait_up(5)
    assert wait_for(lambda: not iface.alive(), 5)
    assert not iface.is_up()
    assert iface.finished()
    assert peer.alive()
    assert iface.details()["exit_status"] == 0
    monkeypatch.setenv("FAKE_MODE", "crash")
    crashed = peer.create_interface(InterfaceSpec(role=Role.SLAVE, socket="@y"))
    assert wait_for(lambda: not crashed.alive(), 5)
    assert not crashed.finished()
    assert not peer.alive()
    crashed.delete()
    monkeypatch.setenv("FAKE_MODE", "nobuf")
    nobuf = peer.create_interface(InterfaceSpec(role=Role.SLAVE, socket="@z"))
    assert wait_for(lambda: not nobuf.alive(), 5)
    assert nobuf.process.returncode == 0
    assert not nobuf.finished()  # status 0, but no disconnect: it gave up
    assert nobuf.why("ended").endswith(
        "ended, exit status 0; its last lines:\n  | INFO: memif connected!\n  | INFO: "
        "memif_rx_burst: Not enough memif buffers. There are unreceived data in shared memory.")
    assert not peer.alive()
    peer.stop()


def test_an_app_that_exits_at_start_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_MODE", "no_dir")
    peer = LibmemifPeer(_fake_app(tmp_path, FAKE))
    with pytest.raises(PeerError, match=r"-s /nonexistent/m.sock .*\) did not listen on "
                       r"/nonexistent/m.sock \(it exited\), exit status 4; its last lines:\n"
                       r"  \| INFO: memif_create_socket: Socket file does not exist"):
        peer.create_interface(InterfaceSpec(role=Role.MASTER, socket="/nonexistent/m.sock"))
    with pytest.raises(PeerError, match=r"exited at start \(it exited\), exit status 4; its "
                       r"last lines:\n  \| INFO: memif_create_socket"):
        peer.create_interface(InterfaceSpec(role=Role.SLAVE, socket="/nonexistent/s.sock"))
    assert peer.interfaces == []
    peer.stop()


def test_wait_up_reports_the_last_output_of_an_app_that_gave_up(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """wait_up reads the app's last line (the reader thread is not blocked by wait_up's lock)
    and says it at once, not after the reader's join timeout."""
    monkeypatch.setenv("FAKE_MODE", "late_fail")
    peer = LibmemifPeer(_fake_app(tmp_path, FAKE))
    iface = peer.create_interface(InterfaceSpec(role=Role.SLAVE, socket="@late"))
    start = time.monotonic()
    with pytest.raises(PeerError, match=r"exited before the link came up, exit status 3; "
                       r"its last lines:\n  \| INFO: memif_connect: late failure"):
        iface.wait_up(5)
    assert time.monotonic() - start < 2.0
    peer.stop()


# -- the real icmp_responder (LIBMEMIF_APP) ------------------------------------------------------

PEER_IP, OUR_IP = "192.168.7.1", "192.168.7.2"
PEER_MAC, OUR_MAC = "02:fe:00:00:07:01", "02:fe:00:00:07:02"


@pytest.fixture
def real_peer() -> Iterator[LibmemifPeer]:
    assert APP is not None
    peer = LibmemifPeer(APP)
    peer.start()
    yield peer
    peer.stop()


def _ping(link: Link, payload: bytes) -> Ether:
    """ARP for the app, then one echo request; the reply."""
    arp = Ether(dst="ff:ff:ff:ff:ff:ff", src=OUR_MAC) / ARP(
        op=1, hwsrc=OUR_MAC, psrc=OUR_IP, pdst=PEER_IP)
    (answer,) = link.exchange([bytes(arp)], timeout=3)
    assert Ether(answer)[ARP].hwsrc == PEER_MAC
    request = (Ether(dst=PEER_MAC, src=OUR_MAC) / IP(src=OUR_IP, dst=PEER_IP)
               / ICMP(type=8, id=0x4D48, seq=1) / Raw(payload))
    (reply,) = link.exchange([bytes(request)], timeout=3)
    return Ether(reply)


@needs_app
def test_real_version_and_usage(real_peer: LibmemifPeer) -> None:
    assert APP is not None
    versions = parse_version(golden("version.txt"))
    assert versions is not None
    assert real_peer.version() == versions[0]
    usage = subprocess.run([APP, "-?"], capture_output=True, text=True, timeout=10,
                           check=True).stdout
    options = [line for line in usage.splitlines() if line.startswith("\t-")]
    assert options in ([line for line in golden(name).splitlines() if line.startswith("\t-")]
                       for name, _ in USAGES), "an icmp_responder usage we have not captured"


@needs_app
@pytest.mark.parametrize("role", [Role.MASTER, Role.SLAVE], ids=["master", "slave"])
def test_real_link_answers_arp_and_echo(real_peer: LibmemifPeer, sock_dir: Path,
                                        role: Role) -> None:
    spec = InterfaceSpec(role=role, socket=str(sock_dir / "l.sock"), id=3,
                         ip=f"{PEER_IP}/24", mac=PEER_MAC)
    link = open_link(real_peer, spec)
    try:
        assert link.endpoint.details().remote_inst_name == "icmp_responder_example"
        reply = _ping(link, b"")
        assert (reply[IP].src, reply[IP].dst, reply[ICMP].type, reply[ICMP].seq) == (
            PEER_IP, OUR_IP, 0, 1)
        if real_peer.burst == 1024:  # v22.10 on, both roles: the request's checksum summed in
            header = bytearray(bytes(reply[ICMP])[:8])
            header[2:4] = bytes(ICMP(type=8, id=0x4D48, seq=1))[2:4]
            assert reply[ICMP].chksum == internet_checksum(bytes(header))
        elif role is Role.MASTER:  # before, copy mode: header-only, right for no payload
            assert internet_checksum(bytes(reply[ICMP])) == 0
    finally:
        link.close()


@needs_app
@pytest.mark.parametrize("role", [Role.MASTER, Role.SLAVE], ids=["master", "slave"])
def test_real_echo_reply_checksum_quirk(real_peer: LibmemifPeer, sock_dir: Path,
                                        role: Role) -> None:
    """The app's ICMP checksum covers the 8-byte header only (master, copy mode, before VPP
    v22.10) or also the request's checksum (slave, zero copy; since v22.10 both roles):
    replies with payload fail verification (so ``memif-harness ping`` reports them as bad).
    If this fails, libmemif fixed it."""
    spec = InterfaceSpec(role=role, socket=str(sock_dir / "c.sock"), ip=f"{PEER_IP}/24",
                         mac=PEER_MAC)
    link = open_link(real_peer, spec)
    try:
        reply = _ping(link, bytes(range(56)))
        assert bytes(reply[ICMP].payload) == bytes(range(56))
        assert internet_checksum(bytes(reply[ICMP])) != 0
    finally:
        link.close()


@needs_app
def test_real_one_link_per_process_and_socket_cleanup(real_peer: LibmemifPeer,
                                                      sock_dir: Path) -> None:
    path = sock_dir / "o.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as s:
        s.bind(str(path))  # stale: the app alone would fail with status 1
    spec = InterfaceSpec(role=Role.MASTER, socket=str(path))
    link = open_link(real_peer, spec)
    iface = link.peer_interface
    assert isinstance(iface, AppInterface)
    link.close_endpoint()  # our DISCONNECT: the app reports it and exits 0
    assert wait_for(iface.finished, 5), iface.diag()
    assert real_peer.alive()
    assert path.exists()  # the app leaves its socket file ...
    link.delete_peer_interface()
    assert not path.exists()  # ... the wrapper removes it


@needs_app
def test_real_delete_closes_without_disconnect(real_peer: LibmemifPeer, sock_dir: Path) -> None:
    spec = InterfaceSpec(role=Role.MASTER, socket=str(sock_dir / "d.sock"))
    link = open_link(real_peer, spec)
    try:
        link.delete_peer_interface()
        iface = link.endpoint.interface
        assert wait_for(lambda: not link.endpoint.connected, 5)
        time.sleep(0.2)
        assert iface.remote_reason == ""
    finally:
        link.close()


@needs_app
@pytest.mark.parametrize("role", [Role.MASTER, Role.SLAVE], ids=["master", "slave"])
def test_real_more_than_256_waiting_frames_end_the_app(real_peer: LibmemifPeer, sock_dir: Path,
                                                       role: Role) -> None:
    if real_peer.burst >= 1024:
        pytest.skip("this icmp_responder (VPP v22.10 on) reads its whole ring (1024) at an "
                    "interrupt: no more frames than its burst can wait")
    spec = InterfaceSpec(role=role, socket=str(sock_dir / "b.sock"), ip=f"{PEER_IP}/24",
                         mac=PEER_MAC)
    link = open_link(real_peer, spec)
    try:
        iface = link.peer_interface
        assert isinstance(iface, AppInterface)
        request = bytes(Ether(dst=PEER_MAC, src=OUR_MAC) / IP(src=OUR_IP, dst=PEER_IP)
                        / ICMP(type=8, id=1, seq=1))
        link.endpoint.send([request] * (real_peer.burst + 1), timeout=3)
        assert wait_for(lambda: not iface.alive(), 5), iface.diag()
        assert iface.process.returncode == 0
        assert not iface.finished()
        assert app_messages(iface.output) == [
            "memif_rx_burst: Not enough memif buffers. There are unreceived data in shared "
            "memory."]
        assert wait_for(lambda: not link.endpoint.connected, 5)
        assert link.endpoint.interface.remote_reason == ""
    finally:
        link.close()
