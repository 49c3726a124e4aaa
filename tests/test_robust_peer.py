"""A peer must never end the process (issue 10): every attack ends one connection at most.

Each test here is a regression test for a way a peer could kill, wedge or SIGBUS the harness:
data-path violations in the responder (all three driving variants), frames that can never
fit the peer's buffers, fd exhaustion, counters poisoned before CONNECTED, unsealable regions,
handshakes that never finish and another program's socket at our path. The raw peers come
from :mod:`tests.test_hostile_peer`.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from memif_harness.apps.responder import Responder, ResponderConfig
from memif_harness.memif.datapath.shm import Region
from memif_harness.memif.protocol import wire
from memif_harness.memif.protocol.config import InterfaceConfig
from memif_harness.memif.protocol.constants import RingType, Role
from memif_harness.memif.protocol.errors import MemifError
from memif_harness.memif.runtime.endpoint import Endpoint, EventLoop
from memif_harness.traffic import icmp, send_and_expect
from tests.test_hostile_peer import (
    Master,
    Raw,
    RawMaster,
    SlaveMemory,
    connect,
    connected,  # noqa: F401 - a fixture
    fd_count,
    fds_back_to,
    finish,
    handshake,
    map_slave_memory,
    send_until_connect,
    serve_as_master,
    wait_for,
)
from tests.test_responder import stop_responder

S2M, M2S = RingType.S2M, RingType.M2S
RESPONDER_IP = "192.168.1.1"

VARIANTS: dict[str, dict[str, Any]] = {
    "internal": {"fd_events": "internal"},
    "external": {"fd_events": "external"},
    "threads": {"threads": True},
}


@pytest.fixture
def sock_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="mh-robust-", dir="/tmp") as path:
        yield Path(path)


class RunningResponder:
    """A :class:`Responder` master named ``m0`` served by a thread, with its log kept."""

    def __init__(self, path: str, **options: Any) -> None:
        self.path = path
        self.log: list[str] = []
        config = ResponderConfig(role=Role.MASTER, socket=path, name="m0", **options)
        self.responder = Responder(config, log=self.log.append)
        self.status: list[int] = []
        self.thread = threading.Thread(target=lambda: self.status.append(self.responder.run()))
        self.thread.start()
        assert self.responder.started.wait(5)

    def raw_slave(self, **memory: int) -> tuple[Raw, SlaveMemory]:
        raw = connect(self.path)
        raw.expect(wire.Hello)
        mem = SlaveMemory(**memory)
        handshake(raw, mem.steps())
        assert self.responder.connected.wait(5)
        return raw, mem

    def check_serves_a_good_peer(self) -> None:
        """The interface took a new connection and answers pings on it."""
        with Endpoint("slave", self.path, log2_ring_size=4) as endpoint:
            endpoint.wait_connected(10)
            stream = icmp(1, 20, 98, dst_ip=RESPONDER_IP)
            send_and_expect(endpoint, None, stream, "icmp-echo", timeout=5)

    def stop(self) -> None:
        self.responder.stop()
        self.thread.join(10)
        assert not self.thread.is_alive()
        assert self.status == [0]


@pytest.fixture
def running(sock_dir: Path, request: pytest.FixtureRequest) -> Iterator[RunningResponder]:
    r = RunningResponder(str(sock_dir / "r.sock"), **VARIANTS[request.param])
    try:
        yield r
    finally:
        r.stop()


def _echo_request(mem: SlaveMemory) -> None:
    """Put one ICMP echo request to the responder on S2M slot 0 and signal it."""
    frame = icmp(1, 1, 98, dst_ip=RESPONDER_IP).frames()[0]
    offset = mem.layout.slot_offset(S2M, 0, 0)
    mem.region.buf[offset : offset + len(frame)] = list(frame)
    mem.post_s2m([{"length": len(frame)}])
    os.eventfd_write(mem.efds[S2M, 0], 1)


# -- 1. a data-path violation ends that connection only ----------------------------------------


@pytest.mark.parametrize("running", list(VARIANTS), indirect=True)
@pytest.mark.parametrize("attack", ["bad-descriptor", "head-beyond-ring", "bad-m2s-posting"])
def test_responder_survives_data_path_violation(running: RunningResponder, attack: str) -> None:
    raw, mem = running.raw_slave()
    if attack == "bad-descriptor":
        mem.post_s2m([{"length": 0}])
        os.eventfd_write(mem.efds[S2M, 0], 1)
        expected = "bad descriptor on ring S2M 0 slot 0: length 0"
    elif attack == "head-beyond-ring":
        mem.rings[S2M, 0].head = 40
        os.eventfd_write(mem.efds[S2M, 0], 1)
        expected = "ring S2M 0: producer claims 40 slots, ring has 16"
    else:  # the reply to a good request meets an M2S buffer outside the region
        ring = mem.rings[M2S, 0]
        ring.desc["offset"][0] = mem.layout.size - 10
        ring.desc["length"][0] = 2048
        ring.head = 1
        del ring
        _echo_request(mem)
        expected = "bad descriptor on ring M2S 0 slot 0: offset"
    assert raw.expect_disconnect().startswith(expected)
    raw.close()
    mem.close()
    assert wait_for(lambda: not running.responder.connected.is_set())
    assert running.thread.is_alive(), running.log
    iface = running.responder.interface
    assert iface is not None
    assert iface.get_details().counters.protocol_errors == 1
    assert any(line.startswith(f"disconnected: {expected}") for line in running.log), running.log
    running.check_serves_a_good_peer()


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_slave_responder_survives_a_hostile_master(sock_dir: Path, variant: str) -> None:
    """As slave: the master writes a bad M2S descriptor; the responder disconnects it, keeps
    running and connects again (its reconnect timer)."""
    path = str(sock_dir / "hostile-master.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    listener.bind(path)
    listener.listen(5)
    listener.settimeout(10)
    config = ResponderConfig(role=Role.SLAVE, socket=path, reconnect_period=0.1,
                             **VARIANTS[variant])  # fmt: skip
    responder = Responder(config)
    thread = threading.Thread(target=responder.run)
    thread.start()
    fds: list[int] = []
    regions: list[Region] = []
    try:
        sock, _ = listener.accept()
        raw = Raw(sock)
        got = serve_as_master(raw, fds)
        raw.send(wire.Connected(if_name="rawm"))
        assert responder.connected.wait(5)
        ring = map_slave_memory(got, fds, regions)[M2S, 0]
        ring.desc["length"][0] = 0
        ring.tail = 1
        del ring
        os.eventfd_write(fds[-1], 1)  # the M2S ring's interrupt (the last ring sent)
        assert raw.expect_disconnect() == "bad descriptor on ring M2S 0 slot 0: length 0"
        raw.close()
        assert thread.is_alive()
        again, _ = listener.accept()  # it comes back
        again.close()
        iface = responder.interface
        assert iface is not None
        assert iface.get_details().counters.protocol_errors == 1
    finally:
        responder.stop()
        thread.join(10)
        listener.close()
        for fd in fds:
            os.close(fd)
        for region in regions:
            region.close()
    assert not thread.is_alive()


# -- 2. a frame that cannot fit the peer's buffers is dropped and counted ----------------------


@pytest.fixture
def master(sock_dir: Path) -> Iterator[Master]:
    m = Master(str(sock_dir / "m.sock"))
    yield m
    m.close()


def test_master_drops_frame_that_cannot_fit_tiny_postings(
    connected: tuple[Master, Raw, SlaveMemory, int],  # noqa: F811 - the fixture
) -> None:
    master, raw, mem, baseline = connected
    ring = mem.rings[M2S, 0]
    ring.desc["length"][:] = 1  # 16 one-byte buffers: a 1242-byte frame can never fit
    ring.head = 16
    del ring
    assert master.iface.send(0, [b"x" * 1242, b"y"]) == 2  # dropped, then the 1-byte one sent
    details = master.iface.get_details()
    assert details.link_up
    assert (details.tx_queues[0].oversize, details.tx_queues[0].packets) == (1, 1)
    raw.close()
    finish(master, baseline, 0, bound=False)


def test_slave_drops_frame_larger_than_its_ring(sock_dir: Path) -> None:
    path = str(sock_dir / "s.sock")
    with EventLoop() as loop:
        m = Endpoint("master", path, loop=loop)
        s = Endpoint("slave", path, log2_ring_size=4, loop=loop)
        s.wait_connected(5)
        # 16 slots of 2048 bytes hold at most 32 KiB
        assert s.interface.send(0, [b"x" * 40000, b"z" * 60]) == 2
        assert [len(f) for f in m.recv(2, timeout=2)] == [60]
        assert s.details().tx_queues[0].oversize == 1
        assert s.connected
        s.close()
        m.close()


@pytest.mark.parametrize("running", ["internal", "threads"], indirect=True)
def test_responder_drops_reply_that_cannot_fit(running: RunningResponder) -> None:
    raw, mem = running.raw_slave()
    ring = mem.rings[M2S, 0]
    ring.desc["length"][:] = 1
    ring.head = 16
    del ring
    _echo_request(mem)
    iface = running.responder.interface
    assert iface is not None
    assert wait_for(lambda: iface.link_up and iface.get_details().tx_queues[0].oversize == 1)
    assert running.thread.is_alive()
    assert running.responder.connected.is_set()
    raw.close()
    mem.close()
    assert wait_for(lambda: not running.responder.connected.is_set())
    running.check_serves_a_good_peer()


# -- 3. fd exhaustion and what one handshake may hold ------------------------------------------


#: The responder CLI with at most 40 fds (the soft RLIMIT_NOFILE lowered first).
LOW_FD_RESPONDER = (
    "import resource, sys\n"
    "soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)\n"
    "resource.setrlimit(resource.RLIMIT_NOFILE, (40, hard))\n"
    "from memif_harness.cli import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


def _connect_within(path: str, timeout: float) -> socket.socket | None:
    """A connection, retried while the listener's backlog is full; None after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        sock.setblocking(False)
        try:
            sock.connect(path)
        except BlockingIOError:
            sock.close()
            time.sleep(0.01)
            continue
        return sock
    return None


def test_responder_survives_emfile_on_accept(sock_dir: Path) -> None:
    path = str(sock_dir / "emfile.sock")
    proc = subprocess.Popen(
        [sys.executable, "-c", LOW_FD_RESPONDER, "responder", "--role=master", f"--socket={path}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    idle: list[socket.socket] = []
    try:
        assert proc.stdout is not None
        assert "responder:" in proc.stdout.readline()
        for _ in range(60):  # idle connections, until its accept backlog stays full
            sock = _connect_within(path, 0.5)
            if sock is None:
                break
            idle.append(sock)
        assert len(idle) > 30
        assert not wait_for(lambda: proc.poll() is not None, 1.0), proc.stdout.read()
        for sock in idle:
            sock.close()
        idle = []
        with Endpoint("slave", path) as endpoint:
            endpoint.wait_connected(10)
            send_and_expect(endpoint, None, icmp(1, 5, 98, dst_ip=RESPONDER_IP), "icmp-echo")
        status, out = stop_responder(proc)
        assert status == 0, out
        assert "accept failed: Too many open files" in out, out
    finally:
        for sock in idle:
            sock.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_one_handshake_holds_a_bounded_number_of_fds(master: Master) -> None:
    baseline = fd_count()
    raw = master.connect()
    mem = master.memory()
    raw.send(wire.Init(id=0, name="hoarder"))
    raw.expect(wire.Ack)
    raw.send(wire.AddRegion(index=0, size=mem.layout.size), [mem.region.fd])
    raw.expect(wire.Ack)
    efd = mem.efds[S2M, 0]
    reason = ""
    for index in range(255):
        raw.send(wire.AddRing(flags=1, index=index, region=0, log2_ring_size=4), [efd])
        msg = raw.recv()
        if isinstance(msg, wire.Disconnect):
            reason = msg.reason
            break
        assert isinstance(msg, wire.Ack)
    assert reason == "too many fds before CONNECT (limit 128)"
    assert index == 127  # 1 region + 127 rings held, the 129th fd refused
    finish(master, baseline, 0, bound=True)


# -- 4. counters come from our own state at connect --------------------------------------------


def test_slave_ignores_counters_poisoned_before_connected(sock_dir: Path) -> None:
    rm = RawMaster(str(sock_dir / "poison.sock"))
    try:
        raw = rm.accept()
        rings = rm.map(serve_as_master(raw, rm.fds, wire.Hello(name="poisoner")))
        rings[M2S, 0].head = 0xFFFF
        rings[S2M, 0].head = 40000
        raw.send(wire.Connected(if_name="rawm"))
        assert wait_for(lambda: rm.iface.link_up), rm.loop.error
        assert rm.loop.error is None
        # A.6: the slave starts from 0 and posts its whole M2S ring
        assert (rings[S2M, 0].head, rings[M2S, 0].head) == (0, 16)
        assert rm.iface.send(0, [b"x" * 60]) == 1
        assert rings[S2M, 0].head == 1
        del rings
        raw.close()
        assert wait_for(lambda: not rm.iface.link_up)
    finally:
        rm.close()


def test_master_starts_its_counters_from_zero(master: Master) -> None:
    raw = master.connect()
    mem = master.memory()
    mem.rings[S2M, 0].tail = 30000  # the master's own counters, poisoned by the slave
    mem.rings[M2S, 0].tail = 50000
    handshake(raw, mem.steps())
    assert wait_for(lambda: master.iface.link_up)
    assert (mem.rings[S2M, 0].tail, mem.rings[M2S, 0].tail) == (0, 0)
    mem.post_s2m([{"length": 60}])
    assert len(master.iface.rx_burst(0)) == 1
    master.iface.buffer_free(0)
    assert mem.rings[S2M, 0].tail == 1
    assert master.iface.link_up


# -- 5. regions not sealed against shrinking ---------------------------------------------------


def _unsealable(mem: SlaveMemory, kind: str, directory: Path) -> int:
    """An fd with the region's bytes that cannot be sealed: a memfd without
    MFD_ALLOW_SEALING, or a regular file."""
    if kind == "memfd":
        fd = os.memfd_create("unsealable", os.MFD_CLOEXEC)
    else:
        fd = os.open(directory / "region", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    os.write(fd, mem.region.buf.tobytes())
    return fd


@pytest.mark.parametrize("kind", ["memfd", "file"])
def test_master_refuses_unsealed_region_by_default(
    master: Master, kind: str, sock_dir: Path
) -> None:
    baseline = fd_count()
    raw = master.connect()
    mem = master.memory()
    fd = _unsealable(mem, kind, sock_dir)
    try:
        steps = mem.steps(region_fd=fd)
        send_until_connect(raw, steps)
        raw.send(*steps[-1])
        assert raw.expect_disconnect() == (
            "region 0 is not sealed against shrinking (F_SEAL_SHRINK)"
        )
    finally:
        os.close(fd)
    finish(master, baseline, 0, bound=True)


def test_unsealed_region_allowed_when_asked(sock_dir: Path) -> None:
    path = str(sock_dir / "unsealed.sock")
    with EventLoop() as loop:
        iface = loop.memif.create(
            InterfaceConfig(
                role=Role.MASTER, socket=path, interface_name="m0", allow_unsealed_regions=True
            )
        )
        raw = connect(path)
        raw.expect(wire.Hello)
        mem = SlaveMemory()
        fd = _unsealable(mem, "memfd", sock_dir)
        try:
            handshake(raw, mem.steps(region_fd=fd))
            assert wait_for(lambda: iface.link_up)
            assert iface.get_details().regions == ((0, mem.layout.size, False),)
        finally:
            raw.close()
            os.close(fd)
            mem.close()


# -- 6. a handshake that never finishes --------------------------------------------------------


@pytest.mark.parametrize("stop_after", ["nothing", "init", "add-region"])
def test_stalled_handshake_times_out(sock_dir: Path, stop_after: str) -> None:
    path = str(sock_dir / "stall.sock")
    with EventLoop(handshake_timeout=0.3) as loop:
        iface = loop.memif.create(
            InterfaceConfig(role=Role.MASTER, socket=path, interface_name="m0")
        )
        baseline = fd_count()
        raw = connect(path)
        raw.expect(wire.Hello)
        mem = SlaveMemory()
        steps = mem.steps()
        for msg, fds in steps[: {"nothing": 0, "init": 1, "add-region": 2}[stop_after]]:
            raw.send(msg, fds)
            raw.expect(wire.Ack)
        assert raw.expect_disconnect() == "handshake timed out after 0.3 s"
        raw.close()
        mem.close()
        fds_back_to(baseline)
        assert loop.memif.counters.handshake_timeouts == 1
        # the interface id is free again: a good slave connects
        with Endpoint("slave", path, loop=loop) as good:
            good.wait_connected(5)
            assert iface.link_up


def test_slave_times_out_a_master_that_never_says_hello(sock_dir: Path) -> None:
    path = str(sock_dir / "mute.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    listener.bind(path)
    listener.listen(5)
    listener.settimeout(3)
    try:
        with EventLoop(reconnect_period=0.1, handshake_timeout=0.3) as loop:
            loop.memif.create(InterfaceConfig(role=Role.SLAVE, socket=path))
            mute, _ = listener.accept()
            mute.settimeout(3)
            data = mute.recv(256)
            assert wire.parse(data) == wire.Disconnect(reason="handshake timed out after 0.3 s")
            assert mute.recv(256) == b""
            mute.close()
            second, _ = listener.accept()  # it retries
            second.close()
    finally:
        listener.close()


# -- 7. another program's socket at our path ---------------------------------------------------


@pytest.mark.parametrize("kind", [socket.SOCK_STREAM, socket.SOCK_DGRAM, socket.SOCK_SEQPACKET])
def test_listen_leaves_another_programs_socket_alone(sock_dir: Path, kind: int) -> None:
    path = str(sock_dir / "theirs.sock")
    theirs = socket.socket(socket.AF_UNIX, kind)
    theirs.bind(path)
    if kind != socket.SOCK_DGRAM:
        theirs.listen(1)
    inode = os.stat(path).st_ino
    try:
        with EventLoop() as loop, pytest.raises(MemifError, match="Active listener on"):
            loop.memif.create(InterfaceConfig(role=Role.MASTER, socket=path))
        assert os.stat(path).st_ino == inode
    finally:
        theirs.close()


def test_listen_replaces_a_stale_socket_and_removes_only_its_own(sock_dir: Path) -> None:
    path = str(sock_dir / "stale.sock")
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    stale.bind(path)
    stale.close()  # the file stays, nobody listens
    with EventLoop() as loop:
        iface = loop.memif.create(InterfaceConfig(role=Role.MASTER, socket=path))
        assert os.stat(path).st_ino != 0
        # someone replaces our socket file while we run: on delete we must not remove theirs
        os.unlink(path)
        other = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        other.bind(path)
        other.listen(1)
        try:
            loop.memif.delete(iface)
            assert os.path.exists(path)
        finally:
            other.close()
    created = str(sock_dir / "ours.sock")
    with EventLoop() as loop:
        loop.memif.delete(loop.memif.create(InterfaceConfig(role=Role.MASTER, socket=created)))
    assert not os.path.exists(created)
