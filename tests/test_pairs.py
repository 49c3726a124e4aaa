"""Our master against our slave over real SOCK_SEQPACKET sockets (filesystem and abstract).

Scenario ids are those of shared/reference/scenarios.md. Every pair runs the full control
handshake, maps real memfd regions on both sides and moves frames through shared memory.
"""

from __future__ import annotations

import contextlib
import gc
import os
import select
import shutil
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import pytest

from memif_harness.memif.protocol.config import InterfaceConfig
from memif_harness.memif.protocol.constants import RING_FLAG_MASK_INT, Mode, Role, RxMode
from memif_harness.memif.protocol.errors import ErrorCode, MemifError, RingFull, strerror
from memif_harness.memif.runtime.endpoint import Endpoint, EventLoop
from memif_harness.memif.runtime.interface import Interface
from memif_harness.memif.runtime.memif import FD_EVENT_DEL, FD_EVENT_READ, Memif, wait_until

# -- helpers ----------------------------------------------------------------------------------


def payloads(sizes: Sequence[int], seed: int = 0) -> list[bytes]:
    """Random frames of ``sizes``, each starting with its sequence number (little-endian u32)."""
    rng = np.random.default_rng(seed)
    data = rng.integers(0, 256, int(sum(sizes)) + 4, dtype=np.uint8).tobytes()
    frames, pos = [], 0
    for i, size in enumerate(sizes):
        head = (i & 0xFFFF_FFFF).to_bytes(4, "little")[:size]
        frames.append(head + data[pos + len(head) : pos + size])
        pos += size
    return frames


def transfer(
    tx: Endpoint, rx: Endpoint, frames: Sequence[bytes], queue: int = 0, timeout: float = 20.0
) -> list[bytes]:
    """Push ``frames`` through ``queue`` using the non-blocking API, draining as we go."""
    got: list[bytes] = []
    sent = 0
    deadline = time.monotonic() + timeout
    while len(got) < len(frames):
        if sent < len(frames):
            sent += tx.interface.send(queue, frames[sent : sent + 512])
        views = rx.interface.rx_burst(queue, 512)
        got += [bytes(v) for v in views]
        del views
        rx.interface.refill_queue(queue)
        assert time.monotonic() < deadline, f"stuck after {len(got)} of {len(frames)} frames"
    return got


def fd_count() -> int:
    gc.collect()
    return len(os.listdir("/proc/self/fd"))


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


@pytest.fixture
def sock_dir() -> Iterator[str]:
    path = tempfile.mkdtemp(prefix="mh-", dir="/tmp")
    yield path
    shutil.rmtree(path, ignore_errors=True)


def socket_name(sock_dir: str, abstract: bool) -> str:
    if abstract:
        return f"@memif-harness-test-{uuid.uuid4().hex[:12]}"
    return os.path.join(sock_dir, f"{uuid.uuid4().hex[:8]}.sock")


class Pairs:
    """Creates endpoints (and loops) and closes all of them at the end of the test."""

    def __init__(self, sock_dir: str) -> None:
        self.sock_dir = sock_dir
        self.loops: list[EventLoop] = []
        self.endpoints: list[Endpoint] = []

    def loop(self) -> EventLoop:
        self.loops.append(EventLoop(reconnect_period=0.1))
        return self.loops[-1]

    def endpoint(self, role: str, socket: str, loop: EventLoop, **kw: object) -> Endpoint:
        ep = Endpoint(role, socket, loop=loop, **kw)  # type: ignore[arg-type]
        self.endpoints.append(ep)
        return ep

    def pair(
        self,
        *,
        abstract: bool = False,
        shared: bool = True,
        master: dict[str, object] | None = None,
        slave: dict[str, object] | None = None,
        connect: bool = True,
    ) -> tuple[Endpoint, Endpoint]:
        name = socket_name(self.sock_dir, abstract)
        mloop = self.loop()
        sloop = mloop if shared else self.loop()
        m = self.endpoint("master", name, mloop, **(master or {}))
        s = self.endpoint("slave", name, sloop, **(slave or {}))
        if connect:
            s.wait_connected(5)
            m.wait_connected(5)
        return m, s

    def close(self) -> None:
        for ep in reversed(self.endpoints):
            with contextlib.suppress(MemifError):
                ep.close()
        for loop in self.loops:
            loop.close()


@pytest.fixture
def pairs(sock_dir: str) -> Iterator[Pairs]:
    p = Pairs(sock_dir)
    yield p
    p.close()


# -- connect and traffic ----------------------------------------------------------------------


@pytest.mark.parametrize("abstract", [False, True], ids=["file", "abstract"])
@pytest.mark.parametrize("shared", [True, False], ids=["one-loop", "two-loops"])
def test_H2_H14_D1_connect_and_traffic_both_ways(
    pairs: Pairs, abstract: bool, shared: bool
) -> None:
    m, s = pairs.pair(abstract=abstract, shared=shared)
    md, sd = m.details(), s.details()
    assert md.link_up
    assert sd.link_up
    assert (md.role, sd.role) == (Role.MASTER, Role.SLAVE)
    assert md.remote_if_name == "slave0"
    assert sd.remote_if_name == "master0"
    assert md.remote_inst_name == sd.remote_inst_name == "memif-harness"
    if abstract:
        assert not os.path.exists(m.config.socket[1:])
    else:
        assert os.path.exists(m.config.socket)
    frames = payloads([14, 60, 64, 1000, 1514, 2047, 2048], seed=1)
    assert transfer(s, m, frames) == frames
    frames = payloads([2048, 2047, 1514, 64, 14], seed=2)
    assert transfer(m, s, frames) == frames
    md, sd = m.details(), s.details()
    assert sd.tx_queues[0].packets == md.rx_queues[0].packets == 7
    assert md.tx_queues[0].packets == sd.rx_queues[0].packets == 5
    assert md.rx_queues[0].bytes == sum(map(len, payloads([14, 60, 64, 1000, 1514, 2047, 2048])))


def test_endpoint_send_recv_copy_api(pairs: Pairs) -> None:
    m, s = pairs.pair()
    assert s.send([b"\x01" * 60, bytearray(b"\x02" * 61), memoryview(b"\x03" * 62)]) == 3
    assert m.recv(count=3, timeout=2) == [b"\x01" * 60, b"\x02" * 61, b"\x03" * 62]
    assert m.recv(count=1, timeout=0.05) == []
    m.send([b"x" * 100])
    assert s.drain() == 1


@pytest.mark.parametrize("queues", [1, 2, 3, 8])
def test_D13_multi_queue_traffic_every_queue(pairs: Pairs, queues: int) -> None:
    m, s = pairs.pair(slave={"tx_queues": queues, "rx_queues": queues})
    md, sd = m.details(), s.details()
    assert len(md.rx_queues) == len(md.tx_queues) == queues
    assert len(sd.rx_queues) == len(sd.tx_queues) == queues
    for q in range(queues):
        up = payloads([100 + q, 3000, 60], seed=q)
        down = payloads([200 + q, 60, 5000], seed=100 + q)
        assert transfer(s, m, up, queue=q) == up
        assert transfer(m, s, down, queue=q) == down
    md = m.details()
    # Each queue carried its own frames and nothing else.
    assert [q.packets for q in md.rx_queues] == [3] * queues
    assert [q.packets for q in md.tx_queues] == [3] * queues


def test_H10_ring_counts_are_the_slaves_choice(pairs: Pairs) -> None:
    # The master's own counts are ignored (VPP policy); the slave lays out what it wants.
    m, s = pairs.pair(
        master={"tx_queues": 1, "rx_queues": 1},
        slave={"tx_queues": 3, "rx_queues": 2, "log2_ring_size": 6},
    )
    md = m.details()
    assert [q.ring for q in md.rx_queues] == ["S2M"] * 3
    assert [q.ring for q in md.tx_queues] == ["M2S"] * 2
    assert {q.ring_size for q in (*md.rx_queues, *md.tx_queues)} == {64}
    frames = payloads([64] * 10)
    assert transfer(s, m, frames, queue=2) == frames
    assert transfer(m, s, frames, queue=1) == frames
    with pytest.raises(MemifError) as info:
        m.interface.send(2, frames)
    assert info.value.code is ErrorCode.QID


@pytest.mark.parametrize("log2", [1, 2, 6, 10, 14])
def test_ring_sizes(pairs: Pairs, log2: int) -> None:
    m, s = pairs.pair(slave={"log2_ring_size": log2})
    size = 1 << log2
    assert s.details().tx_queues[0].ring_size == size
    assert m.details().rx_queues[0].ring_size == size
    count = min(3 * size + 3, 3000)
    sizes = np.random.default_rng(log2).integers(1, 4000, count).tolist()  # up to 2 descs
    frames = payloads(sizes, seed=log2)
    assert transfer(s, m, frames) == frames
    assert transfer(m, s, frames) == frames


@pytest.mark.parametrize("bsize", [100, 1000, 2047, 65535])
def test_D11_odd_buffer_sizes(pairs: Pairs, bsize: int) -> None:
    m, s = pairs.pair(slave={"buffer_size": bsize, "log2_ring_size": 8})
    assert s.details().tx_queues[0].buffer_size == bsize
    sizes = [1, bsize - 1, bsize, bsize + 1, 2 * bsize + 3, 9000, 60]
    sizes = [n for n in sizes if 0 < n <= 9216]
    frames = payloads(sizes, seed=bsize)
    assert transfer(s, m, frames) == frames
    assert transfer(m, s, frames) == frames


@pytest.mark.parametrize("size", [3000, 6000, 8960])
def test_D2_jumbo_frames_over_2048_byte_buffers(pairs: Pairs, size: int) -> None:
    m, s = pairs.pair(slave={"log2_ring_size": 5})
    frames = payloads([size, 64, size, size - 1, size + 1], seed=size)
    assert transfer(s, m, frames) == frames
    assert transfer(m, s, frames) == frames
    # Chained over ceil(size / 2048) descriptors (S2M head counts descriptors).
    descs = sum(-(-len(f) // 2048) for f in frames)
    assert m.details().rx_queues[0].head == descs


@pytest.mark.timeout(60)
def test_D5_u16_wrap(pairs: Pairs) -> None:
    m, s = pairs.pair(slave={"log2_ring_size": 8})
    total = 70_000
    for tx, rx in ((s, m), (m, s)):
        base = b"\xab" * 60
        got = 0
        sent = 0
        batch = [base] * 256
        deadline = time.monotonic() + 30
        while got < total:
            n = min(256, total - sent)
            if n:
                chunk = batch[:n]
                placed = tx.interface.send(
                    0,
                    [
                        i.to_bytes(4, "little") + f[4:]
                        for i, f in zip(range(sent, sent + n), chunk, strict=True)
                    ],
                )
                sent += placed
            views = rx.interface.rx_burst(0, 256)
            for v in views:
                assert int.from_bytes(v[:4], "little") == got, "lost, duplicated or reordered"
                assert v[4:] == base[4:]
                got += 1
            del views
            rx.interface.refill_queue(0)
            assert time.monotonic() < deadline
        txd = tx.details().tx_queues[0]
        assert txd.packets == total
        # Free-running u16 counters wrapped: the ring counter is the count modulo 2**16.
        counter = txd.head if tx is s else txd.tail
        assert counter == total % 65536
    assert m.details().link_up
    assert s.details().link_up


def test_D4_ring_full_back_pressure(pairs: Pairs) -> None:
    m, s = pairs.pair(slave={"log2_ring_size": 4})
    frames = payloads([100 + i for i in range(40)], seed=4)
    assert s.interface.send(0, frames) == 16  # 16 slots, nothing read
    assert s.interface.send(0, frames[16:]) == 0
    t0 = time.monotonic()
    with pytest.raises(RingFull) as info:
        s.send(frames[16:], timeout=0.1)
    assert time.monotonic() - t0 >= 0.1
    assert "sent 0 of 24" in str(info.value)
    assert s.details().tx_queues[0].ring_full >= 2
    # Nothing was overwritten: the 16 first frames arrive exactly, in order, once.
    assert m.recv(count=100, timeout=0.2) == frames[:16]
    assert s.send(frames[16:32], timeout=2) == 16
    assert m.recv(count=100, timeout=0.2) == frames[16:32]
    # Endpoint.send waits for space while the master drains concurrently.
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.extend(m.recv(count=8, timeout=5)))
    reader.start()
    assert s.send(frames[32:], timeout=5) == 8
    reader.join()
    assert got == frames[32:]


def test_D3_chain_exactly_filling_the_ring_and_rollback(pairs: Pairs) -> None:
    m, s = pairs.pair(slave={"log2_ring_size": 4})
    small = payloads([60] * 14, seed=5)
    jumbo = payloads([3000, 3000], seed=6)  # 2 descriptors each
    assert s.interface.send(0, small) == 14
    assert s.interface.send(0, jumbo) == 1  # the first chain fills slots 14..15 exactly
    assert s.interface.send(0, [b"z" * 60]) == 0
    assert m.recv(count=100, timeout=0.2) == [*small, jumbo[0]]
    # A chain that does not fit is not placed at all (no half packet on the ring).
    assert s.interface.send(0, payloads([60] * 15, seed=7)) == 15
    assert s.interface.send(0, jumbo[1:]) == 0
    assert m.recv(count=100, timeout=0.2) == payloads([60] * 15, seed=7)
    assert s.interface.send(0, jumbo[1:]) == 1
    assert m.recv(count=100, timeout=0.2) == jumbo[1:]


def test_D10_master_cannot_send_before_the_slave_posts(pairs: Pairs) -> None:
    m, s = pairs.pair(slave={"log2_ring_size": 3})
    assert m.interface.send(0, payloads([60] * 20)) == 8  # all 8 posted at connect
    assert m.interface.send(0, [b"x" * 60]) == 0
    views = s.interface.rx_burst(0, 3)
    assert len(views) == 3
    del views
    assert m.interface.send(0, [b"x" * 60]) == 0  # received but not given back
    s.interface.refill_queue(0)
    assert m.interface.send(0, [b"x" * 60] * 5) == 3


# -- interrupts -------------------------------------------------------------------------------


def readable(fd: int, timeout: float) -> bool:
    return bool(select.select([fd], [], [], timeout)[0])


def test_Q1_interrupt_mode_receiver_is_signalled(pairs: Pairs) -> None:
    m, s = pairs.pair()
    for tx, rx in ((s, m), (m, s)):
        efd = rx.interface.get_queue_efd(0)
        assert not readable(efd, 0)
        assert rx.details().rx_queues[0].flags & RING_FLAG_MASK_INT == 0
        assert tx.details().tx_queues[0].flags & RING_FLAG_MASK_INT == 0  # same shared ring
        before = tx.details().tx_queues[0].interrupts
        tx.interface.send(0, [b"i" * 60])
        assert readable(efd, 1.0)
        assert tx.details().tx_queues[0].interrupts == before + 1
        assert rx.recv(1, timeout=1) == [b"i" * 60]
        assert not readable(efd, 0)  # rx_burst consumed the interrupt


def test_Q2_polling_mode_receiver_is_not_signalled(pairs: Pairs) -> None:
    m, s = pairs.pair(master={"rx_mode": RxMode.POLLING})
    s.interface.set_rx_mode(RxMode.POLLING, 0)
    for tx, rx in ((s, m), (m, s)):
        efd = rx.interface.get_queue_efd(0)
        assert rx.details().rx_queues[0].flags & RING_FLAG_MASK_INT
        assert tx.details().tx_queues[0].flags & RING_FLAG_MASK_INT
        before = tx.details().tx_queues[0].interrupts
        assert tx.interface.send(0, [b"p" * 60] * 3) == 3
        assert not readable(efd, 0.1)
        assert tx.details().tx_queues[0].interrupts == before
        assert rx.recv(3, timeout=1) == [b"p" * 60] * 3
    # Back to interrupt mode at run time (Q3): the flag clears and signals resume.
    m.interface.set_rx_mode(RxMode.INTERRUPT, 0)
    assert s.details().tx_queues[0].flags & RING_FLAG_MASK_INT == 0
    s.interface.send(0, [b"q" * 60])
    assert readable(m.interface.get_queue_efd(0), 1.0)


def test_Q1_on_interrupt_callback_through_the_runtime(sock_dir: str) -> None:
    path = socket_name(sock_dir, False)
    seen: list[int] = []
    with Memif(reconnect_period=0.1) as memif:
        master = memif.create(
            InterfaceConfig(role=Role.MASTER, socket=path, num_s2m_rings=2),
            on_interrupt=lambda _i, _c, qid: seen.append(qid),
        )
        slave = memif.create(InterfaceConfig(role=Role.SLAVE, socket=path, num_s2m_rings=2))
        assert wait_until(lambda: master.link_up and slave.link_up, memif, 5)
        slave.send(1, [b"a" * 60])
        assert wait_until(lambda: seen == [1], memif, 2)
        slave.send(0, [b"b" * 60])
        assert wait_until(lambda: seen == [1, 0], memif, 2)
        assert [bytes(v) for v in master.rx_burst(1)] == [b"a" * 60]


# -- lifecycle --------------------------------------------------------------------------------


@pytest.mark.parametrize("abstract", [False, True], ids=["file", "abstract"])
def test_L1_slave_created_before_master(pairs: Pairs, abstract: bool) -> None:
    name = socket_name(pairs.sock_dir, abstract)
    sloop, mloop = pairs.loop(), pairs.loop()
    s = pairs.endpoint("slave", name, sloop)
    time.sleep(0.25)
    assert not s.connected
    assert "connect to" in s.details().error
    t0 = time.monotonic()
    m = pairs.endpoint("master", name, mloop)
    s.wait_connected(2)
    m.wait_connected(2)
    assert time.monotonic() - t0 < 1.5  # reconnect period is 0.1 s
    assert transfer(s, m, [b"hello" * 20]) == [b"hello" * 20]


@pytest.mark.parametrize("abstract", [False, True], ids=["file", "abstract"])
def test_L2_L9_master_restart_slave_reconnects_with_fresh_regions(
    pairs: Pairs, abstract: bool
) -> None:
    m, s = pairs.pair(abstract=abstract, shared=False)
    frames = payloads([60, 3000, 200], seed=9)
    assert transfer(s, m, frames) == frames
    assert transfer(m, s, frames) == frames
    old_region = s.interface.regions[0]
    old_inode = os.fstat(old_region.fd).st_ino
    mloop = m.loop
    m.close()
    pairs.endpoints.remove(m)
    s.wait_disconnected(2)
    assert s.details().remote_error == "interface deleted"
    assert s.details().error == "disconnect received"
    assert old_region.closed
    if not abstract:
        assert not os.path.exists(m.config.socket)
    time.sleep(0.3)  # a few reconnect attempts against nobody
    assert not s.connected
    m2 = pairs.endpoint("master", m.config.socket, mloop)
    s.wait_connected(2)
    m2.wait_connected(2)
    new_region = s.interface.regions[0]
    assert new_region is not old_region
    assert os.fstat(new_region.fd).st_ino != old_inode
    sd = s.details()
    assert sd.tx_queues[0].head == 0
    assert sd.tx_queues[0].tail == 0
    assert sd.counters.connects == 2
    assert sd.counters.disconnects == 1
    assert transfer(s, m2, frames) == frames
    assert transfer(m2, s, frames) == frames


def test_L5_delete_connected_slave_master_sees_interface_deleted(pairs: Pairs) -> None:
    m, s = pairs.pair()
    s.close()
    pairs.endpoints.remove(s)
    m.wait_disconnected(2)
    md = m.details()
    assert md.remote_error == "interface deleted"
    assert md.error == "disconnect received"
    assert md.rx_queues == md.tx_queues == ()
    assert md.regions == ()
    with pytest.raises(MemifError) as info:
        m.interface.rx_burst(0)
    assert info.value.code is ErrorCode.NOCONN


def test_L4_disconnect_with_reason_and_slave_reconnects(pairs: Pairs) -> None:
    m, s = pairs.pair()
    m.disconnect("xyz maintenance")
    s.wait_disconnected(2)
    assert s.details().remote_error == "xyz maintenance"
    assert m.details().error == "xyz maintenance"
    s.wait_connected(2)  # the slave retries on its timer
    m.wait_connected(2)
    assert transfer(s, m, [b"back"]) == [b"back"]


# -- identity, secrets, modes -----------------------------------------------------------------


def wait_remote_error(ep: Endpoint, expected: str, timeout: float = 3.0) -> None:
    assert wait_for(lambda: ep.details().remote_error == expected, timeout), ep.details()
    assert not ep.connected


@pytest.mark.parametrize(
    ("master_secret", "slave_secret", "reason"),
    [
        ("abc", "abc", None),  # I7
        ("abc", "", "secret required"),  # I8
        ("abc", "abd", "incorrect secret"),  # I9
        ("", "abc", None),  # I10
        ("x" * 23, "x" * 23, None),  # I11: the longest secret that fits
        ("x" * 23, "x" * 22, "incorrect secret"),
    ],
    ids=["I7-match", "I8-required", "I9-incorrect", "I10-slave-only", "I11-23", "I11-prefix"],
)
def test_I7_I8_I9_secrets(
    pairs: Pairs, master_secret: str, slave_secret: str, reason: str | None
) -> None:
    m, s = pairs.pair(
        master={"secret": master_secret}, slave={"secret": slave_secret}, connect=False
    )
    if reason is None:
        s.wait_connected(3)
        m.wait_connected(3)
        assert transfer(s, m, [b"s" * 64]) == [b"s" * 64]
    else:
        wait_remote_error(s, reason)
        assert m.details().error == reason
        assert not m.connected
        assert s.details().error == "disconnect received"


def test_I2_unmatched_interface_id(pairs: Pairs) -> None:
    m, s = pairs.pair(master={"id": 1}, slave={"id": 2}, connect=False)
    wait_remote_error(s, "unmatched interface id")
    assert not m.connected


def test_I1_several_interfaces_on_one_socket(pairs: Pairs) -> None:
    name = socket_name(pairs.sock_dir, False)
    loop = pairs.loop()
    masters = [pairs.endpoint("master", name, loop, id=i) for i in range(3)]
    slaves = [pairs.endpoint("slave", name, loop, id=i) for i in range(3)]
    for m, s in zip(masters, slaves, strict=True):
        s.wait_connected(3)
        m.wait_connected(3)
    for i, (m, s) in enumerate(zip(masters, slaves, strict=True)):
        frame = bytes([i]) * 64
        assert transfer(s, m, [frame]) == [frame]
        assert m.details().id == i


def test_I4_second_slave_for_a_connected_id(pairs: Pairs) -> None:
    m, s = pairs.pair()
    intruder = pairs.endpoint("slave", m.config.socket, pairs.loop(), name="intruder")
    wait_remote_error(intruder, "already connected")
    # The first link is unaffected.
    assert m.connected
    assert s.connected
    assert m.details().counters.disconnects == 0
    assert m.details().remote_if_name == "slave0"
    assert transfer(s, m, [b"still here"]) == [b"still here"]
    assert transfer(m, s, [b"still here"]) == [b"still here"]
    # Once the first slave goes away the newcomer takes over.
    s.close()
    pairs.endpoints.remove(s)
    intruder.wait_connected(3)
    m.wait_connected(3)
    assert m.details().remote_if_name == "intruder"


@pytest.mark.parametrize(
    ("master_mode", "slave_mode"), [(Mode.ETHERNET, Mode.IP), (Mode.IP, Mode.ETHERNET)]
)
def test_I6_mode_mismatch(pairs: Pairs, master_mode: Mode, slave_mode: Mode) -> None:
    _m, s = pairs.pair(master={"mode": master_mode}, slave={"mode": slave_mode}, connect=False)
    wait_remote_error(s, "mode mismatch")


def test_I13_ip_mode_payloads_are_opaque(pairs: Pairs) -> None:
    m, s = pairs.pair(master={"mode": "ip"}, slave={"mode": "ip"})
    assert m.details().mode == s.details().mode == int(Mode.IP)
    ip4 = bytes.fromhex("450000140000400040000000c0a80001c0a80002")
    ip6 = bytes.fromhex("6000000000003b40") + bytes(32)
    not_ip = b"\x00" * 20
    frames = [ip4, ip6, not_ip, ip4 + bytes(3000)]
    assert transfer(s, m, frames) == frames
    assert transfer(m, s, frames) == frames


# -- the libmemif-style runtime: external fds, poll_event -------------------------------------


def test_external_fd_mode_with_own_epoll(sock_dir: str) -> None:
    path = socket_name(sock_dir, False)
    ep = select.epoll()
    watched: dict[int, int] = {}
    log: list[tuple[int, int]] = []

    def on_fd_update(fd: int, events: int) -> None:
        log.append((fd, events))
        if events & FD_EVENT_DEL:
            watched.pop(fd)
            ep.unregister(fd)
        else:
            assert fd not in watched
            watched[fd] = events
            ep.register(fd, select.EPOLLIN)

    def run(memif: Memif, cond: Callable[[], bool], timeout: float = 3.0) -> None:
        deadline = time.monotonic() + timeout
        while not cond():
            assert time.monotonic() < deadline
            for fd, _ in ep.poll(0.05):
                memif.control_fd_handler(fd, FD_EVENT_READ)

    try:
        memif = Memif(on_fd_update=on_fd_update, reconnect_period=0.1)
        assert len(watched) == 2  # the reconnect and housekeeping timers
        with pytest.raises(MemifError) as info:
            memif.poll_event(0)
        assert info.value.code is ErrorCode.INVAL_ARG
        master = memif.create(InterfaceConfig(role=Role.MASTER, socket=path))
        assert len(watched) == 3  # + the listener
        slave = memif.create(InterfaceConfig(role=Role.SLAVE, socket=path))
        assert len(watched) == 4  # + the slave's connection
        run(memif, lambda: master.link_up and slave.link_up)
        assert len(watched) == 5  # + the accepted connection
        assert set(watched) == set(memif.watched_fds())
        assert all(events == FD_EVENT_READ for events in watched.values())
        assert slave.send(0, [b"ext" * 20]) == 1
        assert [bytes(v) for v in master.rx_burst(0)] == [b"ext" * 20]
        master.buffer_free(0)
        with pytest.raises(MemifError) as info:
            memif.control_fd_handler(12345)
        assert info.value.code is ErrorCode.BAD_FD
        memif.delete(slave)
        run(memif, lambda: not master.link_up)
        assert master.get_details().remote_error == "interface deleted"
        assert len(watched) == 3  # both connection fds were removed (DEL)
        memif.delete(master)
        assert len(watched) == 2
        assert not os.path.exists(path)
        memif.cleanup()
        assert watched == {}
        assert all(events in (FD_EVENT_READ, FD_EVENT_DEL) for _, events in log)
    finally:
        ep.close()


def test_poll_event_and_cancel_poll_event() -> None:
    with Memif() as memif:
        assert memif.poll_event(0) == 0
        t0 = time.monotonic()
        assert memif.poll_event(0.05) == 0
        assert time.monotonic() - t0 >= 0.04
        timer = threading.Timer(0.1, memif.cancel_poll_event)
        timer.start()
        with pytest.raises(MemifError) as info:
            memif.poll_event(-1)
        timer.join()
        assert info.value.code is ErrorCode.POLL_CANCEL
        assert strerror(info.value.code) == "Memif event polling was canceled."
        assert memif.poll_event(0) == 0  # the cancel was consumed once


def test_strerror() -> None:
    assert strerror(0) == "Success."
    assert strerror(ErrorCode.NOCONN).startswith("Memif connection handle does not point")
    assert strerror(ErrorCode.QID) == "Invalid queue id"
    assert strerror(999) == "undefined error"


# -- resources --------------------------------------------------------------------------------


def full_cycle(sock_dir: str, abstract: bool) -> None:
    name = socket_name(sock_dir, abstract)
    with EventLoop(reconnect_period=0.1) as loop:
        m = Endpoint("master", name, loop=loop, rx_queues=2, tx_queues=2)
        s = Endpoint("slave", name, loop=loop, rx_queues=2, tx_queues=2)
        s.wait_connected(3)
        m.wait_connected(3)
        for q in range(2):
            frames = payloads([60, 3000], seed=q)
            assert transfer(s, m, frames, queue=q) == frames
            assert transfer(m, s, frames, queue=q) == frames
        s.close()
        m.wait_disconnected(2)
        m.close()


@pytest.mark.parametrize("abstract", [False, True], ids=["file", "abstract"])
def test_no_fd_leak_after_full_cycle(sock_dir: str, abstract: bool) -> None:
    full_cycle(sock_dir, abstract)  # warm up lazily created fds
    before = fd_count()
    for _ in range(3):
        full_cycle(sock_dir, abstract)
    assert wait_for(lambda: fd_count() == before, 3), (before, os.listdir("/proc/self/fd"))


def test_no_fd_leak_after_rejected_connections(sock_dir: str) -> None:
    name = socket_name(sock_dir, False)
    with EventLoop(reconnect_period=0.05) as loop:
        m = Endpoint("master", name, loop=loop, secret="s3cret")
        s = Endpoint("slave", name, loop=loop, secret="wrong")
        wait_remote_error(s, "incorrect secret")
        time.sleep(0.1)
        before = fd_count()
        counts = []
        for _ in range(10):  # ~10 more rejected attempts
            time.sleep(0.05)
            counts.append(fd_count())
        assert s.details().counters.disconnects >= 5
        assert min(counts) <= before + 2  # a connection attempt may be in flight
        assert max(counts) <= before + 8
        s.close()
        m.close()


def test_interfaces_are_independent_of_each_other(pairs: Pairs) -> None:
    m1, s1 = pairs.pair()
    m2, s2 = pairs.pair(abstract=True)
    s1.close()
    pairs.endpoints.remove(s1)
    m1.wait_disconnected(2)
    assert m2.connected
    assert s2.connected
    assert transfer(s2, m2, [b"ok"]) == [b"ok"]


def test_slave_without_master_holds_no_socket(pairs: Pairs) -> None:
    name = socket_name(pairs.sock_dir, False)
    loop = pairs.loop()
    s = pairs.endpoint("slave", name, loop)
    assert wait_for(lambda: "No such file" in s.details().error, 1)
    iface: Interface = s.interface
    assert iface.sock is None
    assert iface.channel is None


@pytest.mark.parametrize(("mode", "descs"), [("ethernet", 3), ("ip", 1)])
def test_D9_large_buffers_ethernet_tx_splits_at_9216(pairs: Pairs, mode: str, descs: int) -> None:
    # Regression: with 65535-byte buffers our ethernet TX put 20000 bytes in one descriptor,
    # which every ethernet receiver (ours and VPP's) drops as a bad descriptor.
    m, s = pairs.pair(
        master={"mode": mode}, slave={"mode": mode, "buffer_size": 65535, "log2_ring_size": 4}
    )
    frames = payloads([20000, 9216, 9217], seed=20)
    assert transfer(s, m, frames) == frames
    assert transfer(m, s, frames) == frames
    assert m.details().rx_queues[0].head == (descs + 1 + (2 if mode == "ethernet" else 1))
    assert m.connected
    assert s.connected
    assert m.details().counters.protocol_errors == s.details().counters.protocol_errors == 0
