"""The icmp_responder core and its three driving variants, against an Endpoint of ours."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from scapy.layers.inet import ICMP, IP, UDP
from scapy.layers.l2 import ARP, Ether

from memif_harness.apps.responder import Responder, ResponderConfig, ResponderCore
from memif_harness.memif.protocol.constants import Mode, Role
from memif_harness.memif.runtime.endpoint import Endpoint
from memif_harness.traffic import IcmpEchoReply, icmp, send_and_expect
from memif_harness.traffic.frames import arp_request, parse_arp_reply, parse_mac

RESPONDER_IP = "192.168.1.1"
RESPONDER_MAC = "02:fe:00:00:00:01"
OUR_MAC = "02:fe:00:00:00:02"


@pytest.fixture
def sock_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="mh-resp-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


# -- the core --------------------------------------------------------------------------------


def test_core_answers_arp_for_its_ip_only() -> None:
    core = ResponderCore(RESPONDER_IP, RESPONDER_MAC, mode=Mode.ETHERNET)
    request = arp_request(parse_mac(OUR_MAC), bytes([192, 168, 1, 2]), bytes([192, 168, 1, 1]))
    reply = core.reply(request)
    assert reply is not None
    pkt = Ether(reply)
    assert (pkt.dst, pkt.src) == (OUR_MAC, RESPONDER_MAC)
    assert (pkt[ARP].op, pkt[ARP].hwsrc, pkt[ARP].psrc) == (2, RESPONDER_MAC, RESPONDER_IP)
    assert (pkt[ARP].hwdst, pkt[ARP].pdst) == (OUR_MAC, "192.168.1.2")
    assert parse_arp_reply(reply, bytes([192, 168, 1, 1])) == parse_mac(RESPONDER_MAC)
    other = arp_request(parse_mac(OUR_MAC), bytes([192, 168, 1, 2]), bytes([192, 168, 1, 9]))
    assert core.reply(other) is None


def test_core_answers_echo_to_its_ip_only() -> None:
    core = ResponderCore(RESPONDER_IP, RESPONDER_MAC, mode=Mode.ETHERNET)
    request = icmp(1, 1, 100, dst_ip=RESPONDER_IP).frames()[0]
    assert core.reply(request) == IcmpEchoReply(src_mac=RESPONDER_MAC)(request)
    assert core.reply(icmp(1, 1, 100, dst_ip="10.9.9.9").frames()[0]) is None
    udp_frame = bytes(Ether() / IP(dst=RESPONDER_IP) / UDP() / (b"x" * 20))
    assert core.reply(udp_frame) is None


def test_core_ip_mode() -> None:
    core = ResponderCore(RESPONDER_IP, mode=Mode.IP)
    request = icmp(1, 1, 100, l2=False, dst_ip=RESPONDER_IP).frames()[0]
    reply = core.reply(request)
    assert reply is not None
    pkt = IP(reply)
    assert (pkt.src, pkt.dst, pkt[ICMP].type) == (RESPONDER_IP, "192.168.1.2", 0)


# -- the three variants over a real socket ---------------------------------------------------

VARIANTS = {
    "internal": {"fd_events": "internal"},
    "external": {"fd_events": "external"},
    "threads": {"threads": True},
}


def _arp_resolve(endpoint: Endpoint) -> bytes:
    target = bytes([192, 168, 1, 1])
    endpoint.send([arp_request(parse_mac(OUR_MAC), bytes([192, 168, 1, 2]), target)])
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        for frame in endpoint.recv(1, timeout=0.2):
            mac = parse_arp_reply(frame, target)
            if mac is not None:
                return mac
    raise AssertionError("no ARP reply")


@pytest.mark.parametrize("mode", ["ethernet", "ip"])
@pytest.mark.parametrize("role", ["master", "slave"])
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_variant(variant: str, role: str, mode: str, sock_dir: Path) -> None:
    socket = str(sock_dir / "memif.sock")
    config = ResponderConfig(
        role=Role[role.upper()],
        socket=socket,
        mode=Mode[mode.upper()],
        queues=2,
        **VARIANTS[variant],  # type: ignore[arg-type]
    )
    responder = Responder(config)
    thread = threading.Thread(target=responder.run, daemon=True)
    peer_role = "slave" if role == "master" else "master"
    if role == "master":
        thread.start()
        assert responder.started.wait(5)
    endpoint = Endpoint(peer_role, socket, mode=mode, tx_queues=2, rx_queues=2)
    try:
        if role == "slave":
            thread.start()
        endpoint.wait_connected(10)
        assert responder.connected.wait(5)
        l2 = mode == "ethernet"
        if l2:
            assert _arp_resolve(endpoint) == parse_mac(RESPONDER_MAC)
        # every queue answers, byte for byte; queue 0 polls in the threads variant
        for qid in (0, 1):
            stream = icmp(10 + qid, 200, [98, 1500], l2=l2, dst_ip=RESPONDER_IP)
            send_and_expect(
                endpoint, None, stream, IcmpEchoReply(l2=l2), queue=qid, rx_queue=qid, timeout=5
            )
        deadline = time.monotonic() + 2  # the responder counts after it sent
        while responder.stats.icmp < 400 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert responder.stats.icmp == 400
        assert responder.stats.arp == (1 if l2 else 0)
    finally:
        responder.stop()
        thread.join(10)
        assert not thread.is_alive()
        try:
            endpoint.wait_disconnected(5)
            assert endpoint.interface.remote_reason == "interface deleted"
        finally:
            endpoint.close()


# -- as a subprocess -------------------------------------------------------------------------


def start_responder(*args: str) -> subprocess.Popen[str]:
    """``python -m memif_harness.cli responder ARGS``, returned once it announced itself."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "memif_harness.cli", "responder", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=Path(__file__).parent.parent,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "responder:" not in line:
        proc.kill()
        raise AssertionError(f"responder did not start: {line}{proc.stdout.read()}")
    return proc


def stop_responder(proc: subprocess.Popen[str], sig: int = signal.SIGTERM) -> tuple[int, str]:
    proc.send_signal(sig)
    out, _ = proc.communicate(timeout=10)
    return proc.returncode, out


@pytest.mark.parametrize(
    ("role", "extra", "sig"),
    [
        ("master", (), signal.SIGTERM),
        ("slave", ("--fd-events", "external", "--mode", "ip"), signal.SIGINT),
        ("master", ("--threads", "--queues", "2", "--ring-size", "256"), signal.SIGTERM),
    ],
    ids=["master-internal", "slave-external-ip", "master-threads"],
)
def test_subprocess_signal_exits_0_and_peer_sees_disconnect(
    role: str, extra: tuple[str, ...], sig: int, sock_dir: Path
) -> None:
    socket = str(sock_dir / "memif.sock")
    mode = "ip" if "ip" in extra else "ethernet"
    args = ["--role", role, "--socket", socket, "--id", "3", "--secret", "s3", *extra]
    peer_role = "slave" if role == "master" else "master"
    proc = start_responder(*args) if role == "master" else None
    endpoint = Endpoint(peer_role, socket, id=3, secret="s3", mode=mode, log2_ring_size=8)
    try:
        if proc is None:
            proc = start_responder(*args)
        endpoint.wait_connected(10)
        stream = icmp(1, 100, 98, l2=mode == "ethernet", dst_ip=RESPONDER_IP)
        send_and_expect(endpoint, None, stream, "icmp-echo", timeout=5)
        status, out = stop_responder(proc, sig)
        assert status == 0, out
        assert f"{signal.Signals(sig).name}: stopping" in out
        assert "replied 100" in out
        endpoint.wait_disconnected(5)
        assert endpoint.interface.remote_reason == "interface deleted"
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        endpoint.close()


def test_cli_rejects_threads_with_external_events(sock_dir: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "memif_harness.cli",
            "responder",
            "--role=master",
            f"--socket={sock_dir}/s",
            "--threads",
            "--fd-events=external",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env={**os.environ},
    )
    assert result.returncode == 2
    assert "--threads" in result.stderr
