"""``memif-harness gen --bulk`` against real DPDK testpmd (and our own responder, which
needs nothing installed): what we say we sent, the peer received, and what the peer says it
sent back, we received. Counts, not speed."""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from memif_harness import cli
from memif_harness.apps import bulk
from memif_harness.memif.protocol.constants import Role
from memif_harness.memif.runtime.endpoint import Endpoint
from memif_harness_fixtures.peers.base import InterfaceSpec
from memif_harness_fixtures.peers.testpmd import TestpmdInterface, TestpmdPeer, find_pmd_dir

from .test_responder import start_responder, stop_responder

needs_testpmd = pytest.mark.skipif(
    shutil.which("dpdk-testpmd") is None or find_pmd_dir() is None,
    reason="dpdk-testpmd not installed: apt-get install dpdk dpdk-dev",
)

_SUMMARY = re.compile(
    r"gen: bulk: sent (\d+) \(.* pps, (\d+) bytes\), dropped (\d+), received (\d+)"
)


@pytest.fixture
def testpmd() -> Iterator[TestpmdPeer]:
    with TestpmdPeer(autostart=False) as peer:
        yield peer


def _settled(server: TestpmdInterface, sent: int) -> dict[str, int]:
    """testpmd's port counters once it has read all ``sent`` frames (at most 5 s: a busy
    machine may starve it), while the link is still up."""
    deadline = time.monotonic() + 5
    stats = server.port_stats()
    while stats["RX-packets"] < sent and time.monotonic() < deadline:
        time.sleep(0.05)
        stats = server.port_stats()
    return stats


def _server(peer: TestpmdPeer, sock: str, mode: str, queues: int = 1) -> TestpmdInterface:
    spec = InterfaceSpec(role=Role.MASTER, socket=sock, rx_queues=queues, tx_queues=queues)
    iface = peer.create_interface(spec)
    iface.set_forward_mode(mode)
    iface.start_forwarding()
    return iface


@needs_testpmd
@pytest.mark.parametrize(
    ("size", "mode"),
    # 9000-byte frames only one way: testpmd's own chained Tx (22.11) overruns the buffers
    # we posted once our ring is full ("producer claims 1180 slots, 1024 posted"), which we
    # rightly reject; see bench/throughput.py
    [(60, "io"), (1500, "io"), (9000, "rxonly")],
)
def test_unlimited_counts_match_testpmd(
    testpmd: TestpmdPeer, tmp_path: Path, size: int, mode: str
) -> None:
    """testpmd's port counters reset when the link goes down, so they are read while the
    link is up: through the API the command line uses."""
    sock = str(tmp_path / "gen.sock")
    server = _server(testpmd, sock, mode)
    with Endpoint("slave", sock) as ours:
        ours.wait_connected(10)
        frame = bytes(range(256)) * (size // 256) + bytes(size % 256)
        result = bulk.load(ours, frame, 1.0, drain=1.0)  # what testpmd echoes, we count
        stats = _settled(server, result.sent)
    assert result.sent > 0
    assert result.dropped == 0  # unlimited: nothing is due, so nothing is dropped
    assert stats["RX-packets"] == result.sent
    assert stats["RX-bytes"] == result.sent * size
    assert stats["TX-packets"] == result.received  # all testpmd put on our ring, we counted
    assert stats["TX-bytes"] == sum(q.received_bytes for q in result.queues)
    assert (result.received > 0) == (mode == "io")


@needs_testpmd
def test_rate_on_two_queues_counts_match_testpmd_rxonly(
    testpmd: TestpmdPeer, tmp_path: Path
) -> None:
    sock = str(tmp_path / "gen.sock")
    server = _server(testpmd, sock, "rxonly", queues=2)
    with Endpoint("slave", sock, tx_queues=2, rx_queues=2) as ours:
        ours.wait_connected(10)
        result = bulk.load(ours, bytes(64), 1.0, rate=20000)
        stats = _settled(server, result.sent)
    assert stats["RX-packets"] == result.sent
    assert [q.sent > 0 for q in result.queues] == [True, True]
    assert result.received == 0
    # the frames offered at the rate: never more than were due after 1 s (plus one burst)
    assert 0 < result.sent + sum(q.dropped for q in result.queues) <= 20000 + 1024


@needs_testpmd
def test_command_line_reports_what_it_sent_and_got_back(
    testpmd: TestpmdPeer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sock = str(tmp_path / "gen.sock")
    _server(testpmd, sock, "io")
    argv = ["gen", "--bulk", "--role", "slave", "--socket", sock, "--duration", "1"]
    assert cli.main([*argv, "--size", "200", "--rate", "5000"]) == 0
    out = capsys.readouterr().out
    match = _SUMMARY.search(out)
    assert match, out
    sent, sent_bytes, dropped, received = (int(g) for g in match.groups())
    assert 0 < sent + dropped <= 5000 + 1024
    assert sent_bytes == sent * 200
    assert 0 < received <= sent
    assert "ring full" in out  # the per-queue table


def test_command_line_counts_match_our_responder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Our ``responder`` (a subprocess, master) answers every ICMP echo: the counts it prints
    when stopped are what gen says it sent and got back."""
    sock = str(tmp_path / "gen.sock")
    responder = start_responder("--role", "master", "--socket", sock)
    argv = ["gen", "--bulk", "--role", "slave", "--socket", sock, "--stream", "icmp"]
    status = cli.main([*argv, "--duration", "1", "--rate", "20000"])
    code, log = stop_responder(responder)
    assert status == 0
    assert code == 0, log
    match = _SUMMARY.search(capsys.readouterr().out)
    assert match
    sent, _, dropped, received = (int(g) for g in match.groups())
    stats = re.search(r"stopped: received (\d+), replied (\d+)", log)
    assert stats, log
    assert int(stats.group(1)) == sent
    assert int(stats.group(2)) == received
    assert 0 < sent + dropped <= 20000 + 1024
