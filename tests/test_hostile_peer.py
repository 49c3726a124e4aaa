"""Hostile peers: a raw SOCK_SEQPACKET peer written here, against our master and our slave.

The raw peer speaks the wire format through :mod:`memif_harness.memif.protocol.wire` and passes fds
with ``socket.send_fds``/``recv_fds``; as slave it builds real memfd regions and rings with
CopyLayout/Region/Ring and then corrupts what each case needs. For every bad input we check
the DISCONNECT we send (VPP's reason where VPP has one, protocol.md A.8), that the link is
down and the socket closed, that no fd leaked, and that a well-behaved peer connects after.
"""

from __future__ import annotations

import contextlib
import gc
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest

from memif_harness.conformance.raw import Closed, RawConnection, Received
from memif_harness.conformance.raw import SlaveMemory as RawSlaveMemory
from memif_harness.memif.datapath.layout import CopyLayout
from memif_harness.memif.datapath.ring import Ring
from memif_harness.memif.datapath.shm import Region
from memif_harness.memif.protocol import wire
from memif_harness.memif.protocol.config import InterfaceConfig
from memif_harness.memif.protocol.constants import (
    COOKIE,
    DESC_FLAG_NEXT,
    VERSION,
    Mode,
    RingType,
    Role,
)
from memif_harness.memif.protocol.errors import RemoteProtocolError
from memif_harness.memif.runtime.endpoint import EventLoop
from memif_harness.memif.runtime.interface import Interface

S2M, M2S = RingType.S2M, RingType.M2S


def fd_count() -> int:
    gc.collect()
    return len(os.listdir("/proc/self/fd"))


def fds_back_to(baseline: int) -> None:
    """Wait until the process has ``baseline`` fds again; name the extra ones if not."""
    assert wait_for(lambda: fd_count() == baseline), f"{baseline}: {' '.join(fd_list())}"


def fd_list() -> list[str]:
    out = []
    for fd in sorted(os.listdir("/proc/self/fd"), key=int):
        with contextlib.suppress(OSError):
            out.append(f"{fd}:{os.readlink('/proc/self/fd/' + fd)}")
    return out


def wait_for(predicate: Callable[[], bool], timeout: float = 3.0) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def violation(call: Callable[[], object]) -> str:
    """The reason of the RemoteProtocolError ``call`` raises (its traceback is dropped:
    it would keep the queue, and with it the shared-memory mapping, alive)."""
    try:
        call()
    except RemoteProtocolError as exc:
        return exc.reason
    raise AssertionError("no RemoteProtocolError")


class Raw(RawConnection):
    """The conformance raw peer's connection, with the assertions these tests make."""

    def recv(self) -> wire.Message | None:
        """The next message (None at EOF); fds that came with it are closed."""
        answer = self.receive(3.0)
        if isinstance(answer, Closed):
            return None
        assert isinstance(answer, Received), f"nothing within 3 s ({answer})"
        assert answer.message is not None, answer.error
        return answer.message

    def recv_with_fds(self) -> tuple[wire.Message, list[int]]:
        data, fds, _, _ = socket.recv_fds(self.sock, 256, 8)
        assert data, "EOF"
        return wire.parse(data), fds

    def expect(self, cls: type[wire.Message]) -> Any:
        msg = self.recv()
        assert isinstance(msg, cls), f"expected {cls.__name__}, got {msg}"
        return msg

    def expect_disconnect(self) -> str:
        """The reason of the DISCONNECT we were sent; the socket must then be closed."""
        msg = self.recv()
        assert isinstance(msg, wire.Disconnect), f"expected DISCONNECT, got {msg}"
        assert self.recv() is None, "socket not closed after DISCONNECT"
        return msg.reason

    def expect_eof(self) -> None:
        assert self.recv() is None


def connect(path: str) -> Raw:
    raw = Raw.connect(path)
    assert isinstance(raw, Raw)
    return raw


class SlaveMemory(RawSlaveMemory):
    """The conformance raw peer's slave memory, with small rings, as a handshake list."""

    def __init__(self, n_s2m: int = 1, n_m2s: int = 1, log2: int = 4, bsize: int = 2048) -> None:
        super().__init__(n_s2m, n_m2s, log2, bsize)

    def steps(
        self, *, id: int = 0, region_fd: int | None = None, **init: Any
    ) -> list[tuple[wire.Message, list[int]]]:
        """INIT, ADD_REGION, ADD_RING S2M.., ADD_RING M2S.., CONNECT with their fds
        (``region_fd`` instead of our region's)."""
        region, fds = self.region_message()
        return [
            (wire.Init(id=id, name="raw-slave", **init), []),
            (region, fds if region_fd is None else [region_fd]),
            *self.ring_messages(),
            (wire.Connect(if_name="raw0"), []),
        ]

    def post_s2m(self, descs: Sequence[dict[str, int]], ring_index: int = 0) -> None:
        """Write descriptors at head (missing fields: the slot's own buffer) and advance head."""
        self.post(S2M, descs, ring_index)


def send_until_connect(raw: Raw, steps: Sequence[tuple[wire.Message, list[int]]]) -> None:
    """Send every step but the last (CONNECT), each answered by ACK."""
    for msg, fds in steps[:-1]:
        raw.send(msg, fds)
        raw.expect(wire.Ack)


def handshake(raw: Raw, steps: Sequence[tuple[wire.Message, list[int]]]) -> None:
    """Send each step and check the master's answer (ACK, then CONNECTED for CONNECT)."""
    for msg, fds in steps:
        raw.send(msg, fds)
        if isinstance(msg, wire.Connect):
            assert raw.expect(wire.Connected).if_name == "m0"
        else:
            raw.expect(wire.Ack)


@pytest.fixture
def sock_dir() -> Iterator[str]:
    path = tempfile.mkdtemp(prefix="mh-", dir="/tmp")
    yield path
    shutil.rmtree(path, ignore_errors=True)


# ==== against our MASTER =====================================================================


class Master:
    """Our master interface id 0 served by an EventLoop; a raw slave per connection."""

    def __init__(self, path: str, mode: Mode = Mode.ETHERNET) -> None:
        self.path = path
        self.loop = EventLoop()
        self.iface: Interface = self.loop.memif.create(
            InterfaceConfig(role=Role.MASTER, socket=path, interface_name="m0", mode=mode)
        )
        self.raws: list[Raw] = []
        self.mems: list[SlaveMemory] = []

    def connect(self) -> Raw:
        raw = connect(self.path)
        self.raws.append(raw)
        raw.expect(wire.Hello)
        return raw

    def memory(self, **kw: int) -> SlaveMemory:
        self.mems.append(SlaveMemory(**kw))
        return self.mems[-1]

    def release_peer(self) -> None:
        for raw in self.raws:
            raw.close()
        for mem in self.mems:
            mem.close()
        self.raws, self.mems = [], []

    def check_recovers(self) -> None:
        """A well-behaved slave connects and delivers a frame; then it goes away."""
        raw = self.connect()
        mem = self.memory()
        handshake(raw, mem.steps())
        assert wait_for(lambda: self.iface.link_up)
        payload = bytes(range(64))
        mem.region.buf[mem.layout.slot_offset(S2M, 0, 0) :][:64] = list(payload)
        mem.post_s2m([{"length": 64, "metadata": 0xDEADBEEF}])  # D14: metadata ignored
        assert [bytes(v) for v in self.iface.rx_burst(0)] == [payload]
        self.iface.buffer_free(0)
        assert mem.rings[S2M, 0].tail == 1
        raw.close()
        assert wait_for(lambda: not self.iface.link_up)
        assert self.iface.get_details().error == "disconnected"  # L3: EOF
        self.release_peer()

    def close(self) -> None:
        self.release_peer()
        self.loop.close()


@pytest.fixture
def master(sock_dir: str) -> Iterator[Master]:
    m = Master(os.path.join(sock_dir, "m.sock"))
    yield m
    m.close()


def finish(master: Master, baseline: int, errors_before: int, *, bound: bool) -> None:
    """Link down, no fd leak once the raw peer is gone, and a good peer connects again."""
    assert wait_for(lambda: not master.iface.link_up and master.iface.sock is None)
    master.release_peer()
    fds_back_to(baseline)
    errors = master.iface.get_details().counters.protocol_errors
    assert errors == errors_before + (1 if bound else 0)
    master.check_recovers()
    fds_back_to(baseline)


def _init() -> bytes:
    return wire.pack(wire.Init(id=0, name="raw"))


def _region(mem: SlaveMemory) -> tuple[wire.Message, list[int]]:
    return wire.AddRegion(index=0, size=mem.layout.size), [mem.region.fd]


def _ring(mem: SlaveMemory, **kw: int) -> tuple[wire.Message, list[int]]:
    fields = {"flags": 1, "index": 0, "region": 0, "offset": 0, "log2_ring_size": 4} | kw
    return wire.AddRing(**fields), [mem.efds[S2M, 0]]


def _padded(msg: wire.Message, size: int) -> bytes:
    return wire.pack(msg)[:size].ljust(size, b"\xff")


# Each case: (id, messages before the bad one [sent with ACK expected], bad message, reason,
# whether INIT was accepted (the interface owns the connection)).
Case = tuple[
    str,
    Callable[[SlaveMemory], list[tuple[wire.Message | bytes, list[int]]]],
    Callable[[SlaveMemory], tuple[wire.Message | bytes, list[int]]],
    str,
    bool,
]

MASTER_CASES: list[Case] = [
    # H4: wrong datagram sizes
    (
        "H4-127-first",
        lambda m: [],
        lambda m: (_init()[:127], []),
        "recvmsg: malformed message (127 bytes, expected 128)",
        False,
    ),
    (
        "H4-129-first",
        lambda m: [],
        lambda m: (_init() + b"\0", []),
        "recvmsg: malformed message (129 bytes, expected 128)",
        False,
    ),
    (
        "H4-127-after-init",
        lambda m: [(_init(), [])],
        lambda m: (_padded(wire.Ack(), 127), []),
        "recvmsg: malformed message (127 bytes, expected 128)",
        True,
    ),
    (
        "H4-4000-after-init",
        lambda m: [(_init(), [])],
        lambda m: (b"\1" * 4000, []),
        "recvmsg: malformed message (129 bytes, expected 128)",
        True,
    ),
    # H12: first message is not INIT
    ("H12-ack", lambda m: [], lambda m: (wire.Ack(), []), "unexpected message received", False),
    ("H12-hello", lambda m: [], lambda m: (wire.Hello(), []), "unexpected message received", False),
    ("H12-add-region", lambda m: [], _region, "unexpected message received", False),
    (
        "H12-connect",
        lambda m: [],
        lambda m: (wire.Connect(), []),
        "unexpected message received",
        False,
    ),
    (
        "H12-connected",
        lambda m: [],
        lambda m: (wire.Connected(), []),
        "unexpected message received",
        False,
    ),
    (
        "H12-unknown-9",
        lambda m: [],
        lambda m: ((9).to_bytes(2, "little") + bytes(126), []),
        "unexpected message received",
        False,
    ),
    # H13: unknown type after INIT
    (
        "H13-type-0",
        lambda m: [(_init(), [])],
        lambda m: (bytes(128), []),
        "unknown message type (0x0)",
        True,
    ),
    (
        "H13-type-9",
        lambda m: [(_init(), [])],
        lambda m: ((9).to_bytes(2, "little") + bytes(126), []),
        "unknown message type (0x9)",
        True,
    ),
    (
        "H13-type-ffff",
        lambda m: [(_init(), [])],
        lambda m: (b"\xff\xff" + bytes(126), []),
        "unknown message type (0xffff)",
        True,
    ),
    # H6: two fds on one message / an fd where none belongs
    (
        "H6-two-fds",
        lambda m: [(_init(), [])],
        lambda m: (wire.AddRegion(index=0, size=m.layout.size), [m.region.fd, m.efds[S2M, 0]]),
        "ADD_REGION carried 2 fds, at most one is allowed",
        True,
    ),
    (
        "H6-fd-on-init",
        lambda m: [],
        lambda m: (_init(), [m.efds[S2M, 0]]),
        "unexpected fd with INIT",
        False,
    ),
    (
        "H6-six-fds",
        lambda m: [(_init(), [])],
        lambda m: (wire.AddRegion(index=0, size=m.layout.size), [m.region.fd] * 6),
        "control message truncated: too many fds",
        True,
    ),
    # H8: INIT versions
    (
        "H8-v1",
        lambda m: [],
        lambda m: (wire.Init(version=0x0100), []),
        "unsupported version",
        False,
    ),
    (
        "H8-v2.1",
        lambda m: [],
        lambda m: (wire.Init(version=0x0201), []),
        "unsupported version",
        False,
    ),
    # I2, I5, I6 (a punt/inject INIT is a mode mismatch)
    (
        "I2-unmatched-id",
        lambda m: [],
        lambda m: (wire.Init(id=5), []),
        "unmatched interface id",
        False,
    ),
    (
        "I5-init-twice",
        lambda m: [(_init(), [])],
        lambda m: (_init(), []),
        "unexpected message INIT in state await-connect as master",
        True,
    ),
    ("I6-punt-inject", lambda m: [], lambda m: (wire.Init(mode=2), []), "mode mismatch", True),
    # R1-R3: regions
    (
        "R1-region-without-fd",
        lambda m: [(_init(), [])],
        lambda m: (wire.AddRegion(index=0, size=m.layout.size), []),
        "missing memory region fd",
        True,
    ),
    (
        "R2-region-index-skips",
        lambda m: [(_init(), [])],
        lambda m: (wire.AddRegion(index=1, size=m.layout.size), [m.region.fd]),
        "unexpected region index",
        True,
    ),
    (
        "R2-region-index-repeats",
        lambda m: [(_init(), []), _region(m)],
        _region,
        "unexpected region index",
        True,
    ),
    (
        "R3-too-many-regions",
        lambda m: [(_init(), [])],
        lambda m: (wire.AddRegion(index=255, size=m.layout.size), [m.region.fd]),
        "too many regions",
        True,
    ),
    (
        "R-region-size-0",
        lambda m: [(_init(), [])],
        lambda m: (wire.AddRegion(index=0, size=0), [m.region.fd]),
        "region 0 has size 0",
        True,
    ),
    # R5-R8: rings
    (
        "R5-ring-without-fd",
        lambda m: [(_init(), []), _region(m)],
        lambda m: (_ring(m)[0], []),
        "missing ring interrupt fd",
        True,
    ),
    (
        "R6-private-header",
        lambda m: [(_init(), []), _region(m)],
        lambda m: _ring(m, private_hdr_size=1),
        "private headers not supported",
        True,
    ),
    (
        "R7-ring-index-skips",
        lambda m: [(_init(), []), _region(m)],
        lambda m: _ring(m, index=1),
        "unexpected ring index",
        True,
    ),
    (
        "R7-too-many-rings",
        lambda m: [(_init(), []), _region(m)],
        lambda m: _ring(m, flags=0, index=255),
        "too many rings",
        True,
    ),
    (
        "R8-ring-region-out-of-range",
        lambda m: [(_init(), []), _region(m)],
        lambda m: _ring(m, region=1),
        "ring 0 refers to region 1, only 1 regions were added",
        True,
    ),
    (
        "R8-log2-15",
        lambda m: [(_init(), []), _region(m)],
        lambda m: _ring(m, log2_ring_size=15),
        "ring 0 log2 size 15 out of range 1..14",
        True,
    ),
    (
        "R8-log2-0",
        lambda m: [(_init(), []), _region(m)],
        lambda m: _ring(m, log2_ring_size=0),
        "ring 0 log2 size 0 out of range 1..14",
        True,
    ),
    (
        "R10-connect-without-m2s",
        lambda m: [(_init(), []), _region(m), _ring(m)],
        lambda m: (wire.Connect(), []),
        "CONNECT with 1 S2M and 0 M2S rings; need at least one each",
        True,
    ),
    (
        "H2-connected-from-slave",  # a master-only message out of order
        lambda m: [(_init(), [])],
        lambda m: (wire.Connected(), []),
        "unexpected message CONNECTED in state await-connect as master",
        True,
    ),
]


@pytest.mark.parametrize("case", MASTER_CASES, ids=[c[0] for c in MASTER_CASES])
def test_master_rejects_bad_handshake(master: Master, case: Case) -> None:
    _, before, bad, reason, bound = case
    baseline = fd_count()
    errors_before = master.iface.get_details().counters.protocol_errors
    raw = master.connect()
    mem = master.memory()
    for msg, fds in before(mem):
        raw.send(msg, fds)
        raw.expect(wire.Ack)
    msg, fds = bad(mem)
    raw.send(msg, fds)
    assert raw.expect_disconnect() == reason
    details = master.iface.get_details()
    if bound:
        assert details.error == reason
    assert details.counters.connects == 0
    finish(master, baseline, errors_before, bound=bound)


def test_H4_zero_length_datagram_closes_without_disconnect(master: Master) -> None:
    baseline = fd_count()
    raw = master.connect()
    raw.send(_init())
    raw.expect(wire.Ack)
    raw.send(b"")  # indistinguishable from EOF on SOCK_SEQPACKET: VPP says "disconnected"
    raw.expect_eof()
    assert wait_for(lambda: master.iface.get_details().error == "disconnected")
    finish(master, baseline, 0, bound=False)


def test_L4_disconnect_from_slave_records_remote_reason(master: Master) -> None:
    baseline = fd_count()
    raw = master.connect()
    mem = master.memory()
    handshake(raw, mem.steps())
    assert wait_for(lambda: master.iface.link_up)
    raw.send(wire.Disconnect(code=3, reason="xyz"))
    raw.expect_eof()  # no DISCONNECT back
    assert wait_for(lambda: not master.iface.link_up)
    details = master.iface.get_details()
    assert (details.error, details.remote_error) == ("disconnect received", "xyz")
    finish(master, baseline, 0, bound=False)


@pytest.mark.parametrize("kind", [S2M, M2S])
def test_R9_wrong_cookie(master: Master, kind: RingType) -> None:
    baseline = fd_count()
    raw = master.connect()
    mem = master.memory()
    mem.rings[kind, 0].cookie = 0x3E31F10  # a protocol 1.0 cookie (H9)
    steps = mem.steps()
    for msg, fds in steps[:-1]:
        raw.send(msg, fds)
        raw.expect(wire.Ack)
    raw.send(*steps[-1])
    label = "rx" if kind is S2M else "tx"  # our direction; VPP says "tx" for both
    assert raw.expect_disconnect() == f"wrong cookie on {label} ring 0"
    finish(master, baseline, 0, bound=True)


@pytest.mark.parametrize("kind", [S2M, M2S])
@pytest.mark.parametrize("what", ["pipe", "file"])
def test_R_ring_interrupt_fd_must_be_an_eventfd(master: Master, kind: RingType, what: str) -> None:
    """A pipe or file as ring fd would make notify() write into it: refused at CONNECT."""
    baseline = fd_count()
    raw = master.connect()
    mem = master.memory()
    steps = mem.steps()
    ring_step = 2 if kind is S2M else 3
    read_end, write_end = os.pipe()
    with tempfile.TemporaryFile() as regular:
        fake = {"pipe": write_end if kind is M2S else read_end, "file": regular.fileno()}[what]
        steps[ring_step] = (steps[ring_step][0], [fake])
        for msg, fds in steps[:-1]:
            raw.send(msg, fds)
            raw.expect(wire.Ack)
    os.close(read_end)
    os.close(write_end)
    raw.send(*steps[-1])
    assert raw.expect_disconnect() == "ring 0 interrupt fd is not an eventfd"
    assert master.iface.get_details().error == "ring 0 interrupt fd is not an eventfd"
    finish(master, baseline, 0, bound=True)


def _mutate_ring(steps: list[tuple[wire.Message, list[int]]], **kw: int) -> None:
    msg, fds = steps[2]
    assert isinstance(msg, wire.AddRing)
    fields = {
        "flags": msg.flags,
        "index": msg.index,
        "region": msg.region,
        "offset": msg.offset,
        "log2_ring_size": msg.log2_ring_size,
    } | kw
    steps[2] = (wire.AddRing(**fields), fds)


@pytest.mark.parametrize(
    ("what", "expected"),
    [
        ("R8-offset-beyond", "ring of 16 slots at offset {size} ends at {end}, beyond region 0"),
        ("R8-offset-u32-max", "ring of 16 slots at offset 4294967295 ends at"),
        ("R8-log2-too-big-for-region", "ring of 16384 slots at offset 0 ends at"),
        ("R4-size-beyond-memfd", "region 0: size {big} larger than its memory object ({size})"),
        ("R4-size-absurd", "region 0: invalid size 1099511627776"),
        ("R-region-is-a-pipe", "region 0: fd is not a memory object"),
    ],
)
def test_R4_R8_memory_checked_at_connect(master: Master, what: str, expected: str) -> None:
    baseline = fd_count()
    raw = master.connect()
    mem = master.memory()
    steps = mem.steps()
    size = mem.layout.size
    pipe: tuple[int, int] | None = None
    if what == "R8-offset-beyond":
        _mutate_ring(steps, offset=size - 8)
        expected = expected.format(size=size - 8, end=size - 8 + 128 + 16 * 16)
    elif what == "R8-offset-u32-max":
        _mutate_ring(steps, offset=0xFFFF_FFFF)
    elif what == "R8-log2-too-big-for-region":
        _mutate_ring(steps, log2_ring_size=14)
    elif what == "R4-size-beyond-memfd":
        steps[1] = (wire.AddRegion(index=0, size=size + 4096), steps[1][1])
        expected = expected.format(big=size + 4096, size=size)
    elif what == "R4-size-absurd":
        steps[1] = (wire.AddRegion(index=0, size=1 << 40), steps[1][1])
    else:
        pipe = os.pipe()
        steps[1] = (steps[1][0], [pipe[0]])
    try:
        for msg, fds in steps[:-1]:
            raw.send(msg, fds)
            raw.expect(wire.Ack)
        raw.send(*steps[-1])
        # The process is still alive (no SIGBUS, no out-of-bounds access) and says why.
        reason = raw.expect_disconnect()
        assert reason.startswith(expected), reason
    finally:
        if pipe is not None:
            os.close(pipe[0])
            os.close(pipe[1])
    finish(master, baseline, 0, bound=True)


def test_R4_region_shrunk_after_add_region_is_refused(master: Master) -> None:
    # A memfd that cannot be sealed and is truncated before CONNECT: refused, no SIGBUS.
    baseline = fd_count()
    raw = master.connect()
    mem = master.memory()
    fd = os.memfd_create("unsealable", os.MFD_CLOEXEC)
    os.ftruncate(fd, mem.layout.size)
    try:
        steps = mem.steps(region_fd=fd)
        send_until_connect(raw, steps)
        os.ftruncate(fd, 4096)
        raw.send(*steps[-1])
        assert raw.expect_disconnect() == (
            f"region 0: size {mem.layout.size} larger than its memory object (4096)"
        )
    finally:
        os.close(fd)
    finish(master, baseline, 0, bound=True)


def test_H3_pipelined_slave_and_H5_nonzero_padding(master: Master) -> None:
    baseline = fd_count()
    raw = master.connect()
    mem = master.memory(n_s2m=2, n_m2s=3)
    steps = mem.steps()
    for msg, fds in steps:  # everything at once, no waiting for ACKs, padding set
        used = 2 + msg.FORMAT.size
        raw.send(wire.pack(msg)[:used].ljust(128, b"\xa5"), fds)
    for _ in steps[:-1]:
        raw.expect(wire.Ack)
    assert raw.expect(wire.Connected).if_name == "m0"
    assert wait_for(lambda: master.iface.link_up)
    details = master.iface.get_details()
    assert details.remote_if_name == "raw0"
    assert len(details.rx_queues) == 2
    assert len(details.tx_queues) == 3
    assert details.regions == ((0, mem.layout.size, True),)
    raw.send(wire.Disconnect(reason="bye"))
    raw.expect_eof()
    assert wait_for(lambda: not master.iface.link_up)
    finish(master, baseline, 0, bound=False)


# -- data path after connect (master reading S2M) ---------------------------------------------


@pytest.fixture
def connected(master: Master) -> tuple[Master, Raw, SlaveMemory, int]:
    baseline = fd_count()
    raw = master.connect()
    mem = master.memory()
    handshake(raw, mem.steps())
    assert wait_for(lambda: master.iface.link_up)
    return master, raw, mem, baseline


def _expect_violation(
    master: Master, raw: Raw, reason_start: str, baseline: int, *, bad: int | None = 1
) -> None:
    queue = master.iface.rx_queues[0]
    reason = violation(lambda: master.iface.rx_burst(0))
    assert reason.startswith(reason_start), reason
    assert raw.expect_disconnect() == reason[:95]  # the wire field holds 95 chars + NUL
    details = master.iface.get_details()
    assert details.error == reason
    assert details.counters.protocol_errors == 1
    assert details.counters.disconnects == 1
    if bad is not None:
        assert queue.stats.bad_descriptors == bad
        assert details.counters.bad_descriptors == bad  # kept after the queues are gone
    del queue
    finish(master, baseline, 1, bound=False)


@pytest.mark.parametrize(
    ("desc", "why"),
    [
        ({"length": 0}, "length 0"),
        ({"region": 1}, "region 1 out of range (1 regions)"),
        ({"region": 0xFFFF}, "region 65535 out of range (1 regions)"),
        ({"offset": "end-10", "length": 64}, "offset {o} + length 64 overruns region 0"),
        ({"offset": 0xFFFF_FFF0, "length": 0x20}, "offset 4294967280 + length 32 overruns"),
        ({"offset": 0, "length": 0xFFFF_FFFF}, "offset 0 + length 4294967295 overruns"),
        ({"offset": 0, "length": 9217}, "length 9217 > 9216 in ethernet mode"),
    ],
    ids=["len0", "region1", "region-ffff", "overrun", "u32-overflow", "len-u32-max", "len9217"],
)
def test_D6_bad_descriptor_from_slave(
    connected: tuple[Master, Raw, SlaveMemory, int], desc: dict[str, Any], why: str
) -> None:
    master, raw, mem, baseline = connected
    # one good frame first, then the bad one: the good one is delivered
    mem.post_s2m([{"length": 60}])
    assert len(master.iface.rx_burst(0)) == 1
    master.iface.buffer_free(0)
    if desc.get("offset") == "end-10":
        desc = desc | {"offset": mem.layout.size - 10}
        why = why.format(o=mem.layout.size - 10)
    mem.post_s2m([desc])
    _expect_violation(master, raw, f"bad descriptor on ring S2M 0 slot 1: {why}", baseline)


def test_D6_bad_descriptor_inside_a_chain(connected: tuple[Master, Raw, SlaveMemory, int]) -> None:
    master, raw, mem, baseline = connected
    mem.post_s2m([{"flags": DESC_FLAG_NEXT}, {"flags": DESC_FLAG_NEXT, "length": 0}, {}])
    _expect_violation(master, raw, "bad descriptor on ring S2M 0 slot 1: length 0", baseline)


def test_D7_head_beyond_ring_size(connected: tuple[Master, Raw, SlaveMemory, int]) -> None:
    master, raw, mem, baseline = connected
    mem.rings[S2M, 0].head = 17
    _expect_violation(
        master, raw, "ring S2M 0: producer claims 17 slots, ring has 16", baseline, bad=None
    )


def test_D7_head_moved_backwards(connected: tuple[Master, Raw, SlaveMemory, int]) -> None:
    master, raw, mem, baseline = connected
    mem.post_s2m([{}, {}, {}])
    assert len(master.iface.rx_burst(0, 2)) == 2  # 2 read and held, tail still 0
    mem.rings[S2M, 0].head = 1
    _expect_violation(master, raw, "ring S2M 0: producer counter 1 went back", baseline, bad=None)


def test_D8_next_chain_that_never_ends(connected: tuple[Master, Raw, SlaveMemory, int]) -> None:
    master, raw, mem, baseline = connected
    # An incomplete trailing chain is left for later (D8), the link stays up ...
    mem.post_s2m([{"flags": DESC_FLAG_NEXT}] * 5)
    assert master.iface.rx_burst(0) == []
    assert master.iface.link_up
    # ... until NEXT is set on every slot of the ring: it can never complete.
    mem.post_s2m([{"flags": DESC_FLAG_NEXT}] * 11)
    _expect_violation(master, raw, "ring S2M 0: NEXT set on all 16 slots", baseline, bad=None)


def test_D8_chain_completes_later(connected: tuple[Master, Raw, SlaveMemory, int]) -> None:
    master, raw, mem, baseline = connected
    mem.post_s2m([{"flags": DESC_FLAG_NEXT, "length": 100}] * 3)
    assert master.iface.rx_burst(0) == []
    mem.post_s2m([{"length": 10}])
    frames = master.iface.rx_burst(0)
    assert [len(f) for f in frames] == [310]
    del frames
    master.iface.buffer_free(0)
    assert mem.rings[S2M, 0].tail == 4
    raw.close()
    assert wait_for(lambda: not master.iface.link_up)
    finish(master, baseline, 0, bound=False)


def test_D6_master_tx_rejects_bad_m2s_posting(
    connected: tuple[Master, Raw, SlaveMemory, int],
) -> None:
    # The slave posts an M2S buffer outside its region: our master refuses to write there.
    master, raw, mem, baseline = connected
    ring = mem.rings[M2S, 0]
    ring.desc["offset"][0] = mem.layout.size - 100
    ring.desc["length"][0] = 2048
    ring.head = 1
    del ring  # a view of the region would keep it mapped (and its fd open)
    reason = violation(lambda: master.iface.send(0, [b"x" * 60]))
    assert reason.startswith("bad descriptor on ring M2S 0 slot 0: offset")
    assert raw.expect_disconnect() == reason[:95]
    finish(master, baseline, 1, bound=False)


def test_D6_m2s_head_beyond_ring(connected: tuple[Master, Raw, SlaveMemory, int]) -> None:
    master, raw, mem, baseline = connected
    mem.rings[M2S, 0].head = 40
    reason = violation(lambda: master.iface.send(0, [b"x" * 60]))
    assert reason == "ring M2S 0: slave posted 40 slots, ring has 16"
    assert raw.expect_disconnect() == reason
    finish(master, baseline, 1, bound=False)


def test_ip_mode_master_accepts_large_descriptor(sock_dir: str) -> None:
    m = Master(os.path.join(sock_dir, "ip.sock"), mode=Mode.IP)
    try:
        raw = m.connect()
        mem = m.memory(bsize=16384)
        handshake(raw, mem.steps(mode=int(Mode.IP)))
        assert wait_for(lambda: m.iface.link_up)
        mem.post_s2m([{"length": 10000}])  # > 9216 is fine outside ethernet mode
        assert [len(f) for f in m.iface.rx_burst(0)] == [10000]
    finally:
        m.close()


# ==== against our SLAVE (a raw listener plays master) =========================================


class RawMaster:
    """A raw listening socket and our slave interface (reconnecting every 0.1 s)."""

    def __init__(self, path: str) -> None:
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self.listener.bind(path)
        self.listener.listen(5)
        self.listener.settimeout(3)
        self.loop = EventLoop(reconnect_period=0.1)
        self.baseline = fd_count()
        self.baseline_fds = fd_list()
        self.iface: Interface = self.loop.memif.create(
            InterfaceConfig(
                role=Role.SLAVE,
                socket=path,
                interface_name="s0",
                num_s2m_rings=4,
                num_m2s_rings=4,
                log2_ring_size=4,
            )
        )
        self.fds: list[int] = []
        self.regions: list[Region] = []
        self.raws: list[Raw] = []

    def accept(self) -> Raw:
        sock, _ = self.listener.accept()
        self.raws.append(Raw(sock))
        return self.raws[-1]

    def serve(self, raw: Raw, hello: wire.Hello | None = None) -> list[tuple[wire.Message, int]]:
        """A well-behaved master: HELLO, ACK everything, CONNECTED; returns what came."""
        got = serve_as_master(raw, self.fds, hello)
        raw.send(wire.Connected(if_name="rawm"))
        return got

    def map(self, got: list[tuple[wire.Message, int]]) -> dict[tuple[RingType, int], Ring]:
        """Map the slave's region (as a master does) and locate its rings."""
        return map_slave_memory(got, self.fds, self.regions)

    def check_recovers(self, raw: Raw | None = None) -> None:
        raw = raw or self.accept()
        self.serve(raw)
        assert wait_for(lambda: self.iface.link_up)
        assert self.iface.get_details().remote_if_name == "rawm"
        raw.close()
        assert wait_for(lambda: not self.iface.link_up)

    def release(self) -> None:
        for raw in self.raws:
            raw.close()
        self.raws = []
        for fd in self.fds:
            os.close(fd)
        for region in self.regions:
            region.close()
        self.fds, self.regions = [], []

    def close(self) -> None:
        self.release()
        self.loop.close()
        self.listener.close()


def serve_as_master(
    raw: Raw, fds: list[int], hello: wire.Hello | None = None
) -> list[tuple[wire.Message, int]]:
    """HELLO, then ACK everything up to CONNECT (not answered); returns what came, the fds
    kept in ``fds``."""
    raw.send(hello or wire.Hello(name="raw-master"))
    got: list[tuple[wire.Message, int]] = []
    while True:
        msg, received = raw.recv_with_fds()
        assert len(received) <= 1
        fds += received
        got.append((msg, received[0] if received else -1))
        if isinstance(msg, wire.Connect):
            return got
        raw.send(wire.Ack())


def map_slave_memory(
    got: list[tuple[wire.Message, int]], fds: list[int], regions: list[Region]
) -> dict[tuple[RingType, int], Ring]:
    """Map the regions a slave sent (their fds move from ``fds`` to ``regions``) and locate
    its rings, as a master does."""
    for msg, fd in got:
        if isinstance(msg, wire.AddRegion):
            fds.remove(fd)
            regions.append(Region.attach(fd, msg.size, index=msg.index))
    rings = {}
    for msg, _ in got:
        if isinstance(msg, wire.AddRing):
            kind = S2M if msg.is_s2m else M2S
            rings[kind, msg.index] = Ring.locate(
                regions[msg.region], msg.offset, msg.log2_ring_size
            )
    return rings


@pytest.fixture
def raw_master(sock_dir: str) -> Iterator[RawMaster]:
    rm = RawMaster(os.path.join(sock_dir, "s.sock"))
    yield rm
    rm.close()


def slave_finish(rm: RawMaster, *, errors: int) -> None:
    # (not sock is None: the slave may already be connecting again, every 0.1 s)
    assert wait_for(lambda: not rm.iface.link_up)
    assert rm.iface.get_details().counters.protocol_errors == errors
    rm.release()
    rm.check_recovers()
    rm.loop.memif.delete(rm.iface)
    rm.release()
    assert wait_for(lambda: fd_count() == rm.baseline), set(rm.baseline_fds) ^ set(fd_list())


SLAVE_HELLO_CASES = [
    (
        "H7-v1-only",
        wire.Hello(min_version=0x0100, max_version=0x0100),
        "incompatible protocol version",
    ),
    (
        "H7-above",
        wire.Hello(min_version=0x0201, max_version=0x0300),
        "incompatible protocol version",
    ),
    (
        "H7-inverted",
        wire.Hello(min_version=0x0300, max_version=0x0100),
        "incompatible protocol version",
    ),
    ("H-max-log2-0", wire.Hello(max_log2_ring_size=0), "peer allows no ring size"),
    ("H12-ack-first", wire.Ack(), "unexpected message ACK in state await-hello as slave"),
    (
        "H12-connected-first",
        wire.Connected(),
        "unexpected message CONNECTED in state await-hello as slave",
    ),
    ("H13-unknown", (9).to_bytes(2, "little") + bytes(126), "unknown message type (0x9)"),
    (
        "H4-127",
        wire.pack(wire.Hello())[:127],
        "recvmsg: malformed message (127 bytes, expected 128)",
    ),
]


@pytest.mark.parametrize(
    ("hello", "reason"),
    [c[1:] for c in SLAVE_HELLO_CASES],
    ids=[c[0] for c in SLAVE_HELLO_CASES],
)
def test_slave_rejects_bad_hello(
    raw_master: RawMaster, hello: wire.Message | bytes, reason: str
) -> None:
    raw = raw_master.accept()
    raw.send(hello)
    assert raw.expect_disconnect() == reason
    assert wait_for(lambda: raw_master.iface.get_details().error == reason)
    assert raw_master.iface.regions == []
    slave_finish(raw_master, errors=1)


def test_H6_slave_rejects_fd_on_hello(raw_master: RawMaster) -> None:
    raw = raw_master.accept()
    efd = os.eventfd(0)
    try:
        raw.send(wire.Hello(), [efd])
    finally:
        os.close(efd)
    assert raw.expect_disconnect() == "unexpected fd with HELLO"
    slave_finish(raw_master, errors=1)


def test_slave_rejects_ack_beyond_its_messages(raw_master: RawMaster) -> None:
    raw = raw_master.accept()
    raw_master.serve(raw)  # answers CONNECT with CONNECTED: up
    assert wait_for(lambda: raw_master.iface.link_up)
    raw.send(wire.Ack())
    assert raw.expect_disconnect() == "unexpected message ACK in state connected as slave"
    slave_finish(raw_master, errors=1)


def test_slave_rejects_unknown_type_mid_handshake(raw_master: RawMaster) -> None:
    raw = raw_master.accept()
    raw.send(wire.Hello())
    init, fds = raw.recv_with_fds()
    assert isinstance(init, wire.Init)
    assert fds == []
    raw.send(b"\x07\x07" + bytes(126))
    assert raw.expect_disconnect() == "unknown message type (0x707)"
    slave_finish(raw_master, errors=1)


def test_H10_slave_obeys_master_limits(raw_master: RawMaster) -> None:
    raw = raw_master.accept()
    got = raw_master.serve(
        raw,
        wire.Hello(
            name="raw-master", max_s2m_ring=1, max_m2s_ring=0, max_log2_ring_size=3, max_region=0
        ),
    )
    kinds = [type(m).__name__ for m, _ in got]
    assert kinds == ["Init", "AddRegion", "AddRing", "AddRing", "AddRing", "Connect"]
    init = got[0][0]
    assert isinstance(init, wire.Init)
    assert (init.version, init.id, init.mode, init.secret) == (VERSION, 0, 0, "")
    rings = [m for m, _ in got if isinstance(m, wire.AddRing)]
    assert [(r.is_s2m, r.index, r.log2_ring_size) for r in rings] == [
        (True, 0, 3),
        (True, 1, 3),
        (False, 0, 3),
    ]
    region = got[1][0]
    assert isinstance(region, wire.AddRegion)
    assert region.size == CopyLayout(n_s2m=2, n_m2s=1, log2_ring_size=3).size
    assert all(fd >= 0 for _, fd in got[1:5])
    assert wait_for(lambda: raw_master.iface.link_up)
    details = raw_master.iface.get_details()
    assert (len(details.tx_queues), len(details.rx_queues)) == (2, 1)
    assert {q.ring_size for q in (*details.tx_queues, *details.rx_queues)} == {8}
    assert details.remote_inst_name == "raw-master"
    assert details.remote_if_name == "rawm"
    # The rings as we mapped them: cookie, M2S fully posted, counters at 0 (A.6).
    rings_mapped = raw_master.map(got)
    assert {(r.cookie, r.tail) for r in rings_mapped.values()} == {(COOKIE, 0)}
    assert rings_mapped[S2M, 0].head == 0
    assert rings_mapped[M2S, 0].head == 8
    del rings_mapped
    raw.send(wire.Disconnect(reason="bye"))
    raw.expect_eof()
    assert wait_for(lambda: raw_master.iface.get_details().remote_error == "bye")
    slave_finish(raw_master, errors=0)


@pytest.mark.parametrize(
    ("write", "reason"),
    [
        ("len-2049", "bad descriptor on ring M2S 0 slot 0: length 2049 > 2048 bytes posted"),
        ("len-0", "bad descriptor on ring M2S 0 slot 0: length 0"),
        ("tail-17", "ring M2S 0: producer claims 17 slots, 16 posted"),
    ],
)
def test_D6_slave_rejects_bad_m2s_from_master(
    raw_master: RawMaster, write: str, reason: str
) -> None:
    raw = raw_master.accept()
    got = raw_master.serve(raw)
    assert wait_for(lambda: raw_master.iface.link_up)
    rings = raw_master.map(got)
    ring = rings[M2S, 0]
    if write == "tail-17":
        ring.tail = 17
    else:
        ring.desc["length"][0] = 2049 if write == "len-2049" else 0
        ring.tail = 1
    del rings, ring
    assert violation(lambda: raw_master.iface.rx_burst(0)) == reason
    assert raw.expect_disconnect() == reason
    slave_finish(raw_master, errors=1)


def test_slave_receives_master_frames(raw_master: RawMaster) -> None:
    raw = raw_master.accept()
    got = raw_master.serve(raw)
    assert wait_for(lambda: raw_master.iface.link_up)
    rings = raw_master.map(got)
    ring = rings[M2S, 0]
    region = raw_master.regions[0]
    # The master writes into the buffer the slave posted, capacity = posted length.
    offset, capacity = int(ring.desc["offset"][0]), int(ring.desc["length"][0])
    assert capacity == 2048
    region.buf[offset : offset + 5] = list(b"hello")
    ring.desc["length"][0] = 5
    ring.tail = 1
    del rings, ring, region
    assert [bytes(v) for v in raw_master.iface.rx_burst(0)] == [b"hello"]
    raw_master.iface.buffer_free(0)
    raw.close()
    assert wait_for(lambda: not raw_master.iface.link_up)
    slave_finish(raw_master, errors=0)
