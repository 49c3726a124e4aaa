"""Under load and faults (issue 10): a peer killed mid-traffic, many connect cycles.

A peer that dies with ``kill -9`` (our responder subprocess, DPDK testpmd) takes the link
down; our side reconnects when a peer returns, and nothing leaks: the fds and the shared-
memory mappings of this process come back to where they were. A thousand connect /
handshake / disconnect cycles against one runtime leave the same counts flat.
"""

from __future__ import annotations

import gc
import os
import shutil
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from memif_harness.memif.protocol.config import InterfaceConfig
from memif_harness.memif.protocol.constants import Role
from memif_harness.memif.protocol.errors import MemifError
from memif_harness.memif.runtime.endpoint import Endpoint, EventLoop
from memif_harness.traffic import icmp, send_and_expect, udp
from memif_harness_fixtures.peers.base import InterfaceSpec
from memif_harness_fixtures.peers.testpmd import TestpmdPeer, find_pmd_dir
from tests.test_responder import start_responder, stop_responder

RESPONDER_IP = "192.168.1.1"


def fd_count() -> int:
    gc.collect()
    return len(os.listdir("/proc/self/fd"))


def memfd_mappings() -> int:
    """Shared-memory mappings of this process (memfds show as ``/memfd:NAME (deleted)``)."""
    gc.collect()
    return sum("/memfd:" in line for line in Path("/proc/self/maps").read_text().splitlines())


def settles(value: object, read: Callable[[], object], timeout: float = 5.0) -> bool:
    """Whether ``read()`` becomes ``value`` within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while read() != value:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


class Traffic:
    """Echo requests sent in a loop from a thread; counts what came back, survives link loss."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        self.echoed = 0
        self.errors: list[BaseException] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        frames = icmp(7, 32, 98, dst_ip=RESPONDER_IP).frames()
        while not self._stop.is_set():
            if not self.endpoint.connected:
                time.sleep(0.01)
                continue
            try:
                self.endpoint.send(frames, timeout=0.2)
                self.echoed += len(self.endpoint.recv(32, timeout=0.2))
            except MemifError:  # the link went down under us: expected here
                continue
            except BaseException as exc:  # anything else is a bug
                self.errors.append(exc)
                return

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        assert not self._thread.is_alive()
        assert self.errors == []


@pytest.fixture
def sock_dir(tmp_path: Path) -> Path:
    return tmp_path


def test_subprocess_peer_killed_mid_traffic(sock_dir: Path) -> None:
    path = str(sock_dir / "kill.sock")
    fds, maps = fd_count(), memfd_mappings()
    proc = start_responder("--role", "master", "--socket", path)
    loop = EventLoop(reconnect_period=0.1)
    endpoint = Endpoint("slave", path, loop=loop)
    traffic = None
    try:
        endpoint.wait_connected(10)
        traffic = Traffic(endpoint)
        assert settles(True, lambda: traffic.echoed > 1000, 10)
        os.kill(proc.pid, signal.SIGKILL)  # no DISCONNECT: the socket just closes
        proc.wait(5)
        endpoint.wait_disconnected(5)
        assert endpoint.interface.get_details().error == "disconnected"
        # the dead master left its socket file: a new one replaces it, our slave comes back
        proc = start_responder("--role", "master", "--socket", path)
        endpoint.wait_connected(10)
        before = traffic.echoed
        assert settles(True, lambda: traffic.echoed > before + 1000, 10)
        traffic.stop()
        traffic = None
        assert endpoint.interface.get_details().counters.connects == 2
    finally:
        if traffic is not None:
            traffic.stop()
        endpoint.close()
        loop.close()
        if proc.poll() is None:
            stop_responder(proc)
    assert settles(fds, fd_count), (fds, fd_count())
    assert settles(maps, memfd_mappings), (maps, memfd_mappings())


needs_testpmd = pytest.mark.skipif(
    shutil.which("dpdk-testpmd") is None or find_pmd_dir() is None,
    reason="dpdk-testpmd not installed: apt-get install dpdk dpdk-dev",
)


@needs_testpmd
def test_testpmd_killed_mid_traffic(sock_dir: Path) -> None:
    """testpmd (io forwarding, client) dies with kill -9 under traffic; a new one connects."""
    path = str(sock_dir / "tp.sock")
    fds, maps = fd_count(), memfd_mappings()
    spec = InterfaceSpec(role=Role.SLAVE, socket=path)
    with EventLoop() as loop, TestpmdPeer() as peer:
        master = Endpoint("master", path, loop=loop)
        first = peer.create_interface(spec)
        master.wait_connected(10)
        stream = udp(1, 2000, 64)
        send_and_expect(master, None, stream, window=256, timeout=5)
        first.process.kill()
        first.process.wait(5)
        master.wait_disconnected(5)
        assert master.interface.get_details().error == "disconnected"
        first.delete()
        second = peer.create_interface(spec)
        master.wait_connected(10)
        send_and_expect(master, None, udp(2, 2000, 64), window=256, timeout=5)
        second.delete()
        master.wait_disconnected(5)
        details = master.interface.get_details()
        assert (details.counters.connects, details.counters.disconnects) == (2, 2)
        master.close()
    assert settles(fds, fd_count), (fds, fd_count())
    assert settles(maps, memfd_mappings), (maps, memfd_mappings())


#: Connect/handshake/disconnect cycles; MEMIF_HARNESS_CYCLES raises it for a longer run.
CYCLES = int(os.environ.get("MEMIF_HARNESS_CYCLES", "1000"))


def test_connect_cycles_leave_fds_and_mappings_flat(sock_dir: Path) -> None:
    path = str(sock_dir / "cycles.sock")
    with EventLoop(reconnect_period=0.05) as loop:
        memif = loop.memif
        master = memif.create(InterfaceConfig(role=Role.MASTER, socket=path, log2_ring_size=4))
        slave_config = InterfaceConfig(role=Role.SLAVE, socket=path, log2_ring_size=4)

        def cycle() -> None:
            slave = memif.create(slave_config)
            deadline = time.monotonic() + 5
            while not (slave.link_up and master.link_up):
                assert time.monotonic() < deadline, slave.get_details()
                time.sleep(0.0005)
            assert slave.send(0, [b"x" * 60]) == 1
            memif.delete(slave)
            while master.link_up or master.sock is not None:
                assert time.monotonic() < deadline
                time.sleep(0.0005)

        for _ in range(10):  # warm up: lazily allocated runtime state
            cycle()
        fds, maps = fd_count(), memfd_mappings()
        for _ in range(CYCLES):
            cycle()
        assert (fd_count(), memfd_mappings()) == (fds, maps)
        counters = master.get_details().counters
        assert counters.connects == counters.disconnects == CYCLES + 10
        assert counters.protocol_errors == 0
