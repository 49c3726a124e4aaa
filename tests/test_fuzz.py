"""Property-based fuzzing (Hypothesis) of what a peer controls (issue 10).

* the wire parser on arbitrary datagrams;
* the control channel, both roles, fed sequences of datagrams (valid messages with fuzzed
  fields, or raw bytes) and fds: it returns events or raises RemoteProtocolError, and every
  fd it was given is closed or handed over, never leaked;
* descriptor validation on a mapped region: the master reading S2M and writing M2S, the
  slave reading M2S, with fuzzed descriptors and counters, return frames that lie inside the
  region or raise RemoteProtocolError.

Bounded in CI (``MEMIF_HARNESS_FUZZ_EXAMPLES``, default 150 per test); raise it for a longer
run, e.g. ``MEMIF_HARNESS_FUZZ_EXAMPLES=20000 pytest tests/test_fuzz.py``. Every crash found
becomes a test of its own.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from memif_harness.memif.datapath.layout import CopyLayout
from memif_harness.memif.datapath.queue import RxQueue, TxQueue
from memif_harness.memif.datapath.ring import Ring
from memif_harness.memif.datapath.shm import Region
from memif_harness.memif.protocol import wire
from memif_harness.memif.protocol.config import InterfaceConfig
from memif_harness.memif.protocol.constants import MSG_SIZE, Mode, RingType, Role
from memif_harness.memif.protocol.control import ControlChannel
from memif_harness.memif.protocol.errors import RemoteProtocolError
from memif_harness.memif.protocol.events import ConnectRequested, HelloReceived

EXAMPLES = int(os.environ.get("MEMIF_HARNESS_FUZZ_EXAMPLES", "150"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFF_FFFF)
text = st.text(max_size=40)


# -- the wire parser --------------------------------------------------------------------------


@FUZZ
@given(st.binary(max_size=2 * MSG_SIZE) | st.binary(min_size=MSG_SIZE, max_size=MSG_SIZE))
def test_parse_returns_a_message_or_a_remote_error(data: bytes) -> None:
    try:
        msg = wire.parse(data)
    except RemoteProtocolError as exc:
        assert exc.reason
        return
    assert len(data) == MSG_SIZE
    assert wire.pack(msg)[:2] == data[:2]
    assert wire.parse(wire.pack(msg)) == msg  # what we understood packs back the same


# -- the control channel ----------------------------------------------------------------------

messages = st.one_of(
    st.builds(wire.Ack),
    st.builds(wire.Hello, name=text, min_version=u16, max_version=u16, max_region=u16,
              max_m2s_ring=u16, max_s2m_ring=u16, max_log2_ring_size=u8),
    st.builds(wire.Init, version=st.sampled_from([0x0200, 0x0100, 0]), id=st.integers(0, 2),
              mode=st.integers(0, 3), secret=st.sampled_from(["", "s", "x"]), name=text),
    st.builds(wire.AddRegion, index=st.integers(0, 3) | u16, size=st.integers(0, 1 << 20) | u32),
    st.builds(wire.AddRing, flags=st.integers(0, 3), index=st.integers(0, 3) | u16,
              region=st.integers(0, 2) | u16, offset=u32, log2_ring_size=st.integers(0, 16),
              private_hdr_size=st.sampled_from([0, 0, 1])),
    st.builds(wire.Connect, if_name=text),
    st.builds(wire.Connected, if_name=text),
    st.builds(wire.Disconnect, code=u32, reason=text),
)  # fmt: skip
datagrams = st.one_of(
    messages.map(wire.pack),
    st.binary(min_size=MSG_SIZE, max_size=MSG_SIZE).map(
        lambda b: int(b[0] % 10).to_bytes(2, "little") + b[2:]
    ),
    st.binary(max_size=MSG_SIZE + 1),
)
steps = st.lists(st.tuples(datagrams, st.integers(0, 2)), min_size=1, max_size=12)


@contextlib.contextmanager
def no_fd_leak() -> Iterator[None]:
    before = set(os.listdir("/proc/self/fd"))
    yield
    leaked = set(os.listdir("/proc/self/fd")) - before
    assert not leaked, leaked


def _resolver(id_: int) -> InterfaceConfig:
    if id_ != 0:
        raise RemoteProtocolError("unmatched interface id")
    return InterfaceConfig(role=Role.MASTER, secret="s")


@FUZZ
@given(role=st.sampled_from(Role), script=steps)
def test_control_channel_survives_any_input(role: Role, script: list[tuple[bytes, int]]) -> None:
    with no_fd_leak():
        if role is Role.MASTER:
            channel = ControlChannel(Role.MASTER, resolver=_resolver)
        else:
            channel = ControlChannel(Role.SLAVE, config=InterfaceConfig(role=Role.SLAVE))
        handed: list[int] = []
        for data, n_fds in script:
            fds = [os.eventfd(0, os.EFD_CLOEXEC) for _ in range(n_fds)]
            try:
                events = channel.receive(data, fds)
            except RemoteProtocolError as exc:
                assert exc.reason
                assert channel.state.value == "closed"
                sent = [wire.parse(d) for d, _ in channel.data_to_send()]
                assert sent[-1] == wire.Disconnect(reason=exc.reason[:95])
                break
            for event in events:
                if isinstance(event, ConnectRequested):  # the fds are now ours
                    handed += [fd for _, fd in (*event.regions, *event.rings)]
                if isinstance(event, HelloReceived):
                    channel.start_handshake([], [])
            for out, fd in channel.data_to_send():
                assert len(out) == MSG_SIZE
                assert fd is None  # nothing of ours was given to send
        channel.disconnect("done")
        for fd in handed:
            os.close(fd)


# -- descriptor validation on a mapped region -------------------------------------------------

LOG2 = 4
LAYOUT = CopyLayout(n_s2m=1, n_m2s=1, log2_ring_size=LOG2, buffer_size=256)

descriptor = st.fixed_dictionaries(
    {
        "flags": st.sampled_from([0, 0, 1, 2, 0xFFFF]),
        "region": st.sampled_from([0, 0, 0, 1, 0xFFFF]),
        "length": st.sampled_from([0, 1, 60, 256, 257, 9216, 9217]) | u32,
        "offset": st.integers(0, LAYOUT.size + 10) | u32,
    }
)


def _write(ring: Ring, start: int, descs: list[dict[str, int]]) -> None:
    for n, fields in enumerate(descs):
        slot = (start + n) & ring.mask
        for key, value in fields.items():
            ring.desc[key][slot] = value


def _inside(frames: list[memoryview], region: Region) -> None:
    base = region.buf.ctypes.data
    for frame in frames:
        assert len(frame) > 0
        arr = np.frombuffer(frame, dtype=np.uint8)
        start = arr.ctypes.data
        # a view into the region, or a gathered copy of a chain (then not in the region)
        if base <= start < base + region.size:
            assert start + len(frame) <= base + region.size


@FUZZ
@given(
    descs=st.lists(descriptor, max_size=2 * (1 << LOG2)),
    head=st.none() | u16,
    mode=st.sampled_from([Mode.ETHERNET, Mode.IP]),
    counts=st.lists(st.integers(1, 40), min_size=1, max_size=4),
)
def test_master_rx_validates_any_descriptors(
    descs: list[dict[str, int]], head: int | None, mode: Mode, counts: list[int]
) -> None:
    with Region.create(LAYOUT.size) as region:
        offset = LAYOUT.ring_offset(RingType.S2M, 0)
        Ring(region, offset, LOG2).init()
        rxq = RxQueue(Role.MASTER, Ring.locate(region, offset, LOG2), [region], mode=mode)
        ring = Ring(region, offset, LOG2)
        _write(ring, 0, descs)
        ring.head = len(descs) if head is None else head
        for count in counts:
            try:
                frames = rxq.recv(count)
            except RemoteProtocolError as exc:
                assert exc.reason
                return
            _inside(frames, region)
            del frames
            rxq.release()


@FUZZ
@given(
    descs=st.lists(descriptor, max_size=1 << LOG2),
    head=st.none() | u16,
    sizes=st.lists(st.integers(1, 3000), min_size=1, max_size=20),
)
def test_master_tx_validates_any_postings(
    descs: list[dict[str, int]], head: int | None, sizes: list[int]
) -> None:
    with Region.create(LAYOUT.size) as region:
        offset = LAYOUT.ring_offset(RingType.M2S, 0)
        Ring(region, offset, LOG2).init()
        txq = TxQueue(Role.MASTER, Ring.locate(region, offset, LOG2), [region])
        ring = Ring(region, offset, LOG2)
        _write(ring, 0, descs)
        ring.head = len(descs) if head is None else head
        before = region.buf.copy()
        try:
            consumed = txq.send([bytes([7]) * n for n in sizes])
        except RemoteProtocolError as exc:
            assert exc.reason
            assert np.array_equal(region.buf[: offset + 64], before[: offset + 64])
            return
        assert 0 <= consumed <= len(sizes)


@FUZZ
@given(
    lengths=st.lists(st.sampled_from([0, 1, 100, 256, 257]) | u32, max_size=1 << LOG2),
    flags=st.lists(st.sampled_from([0, 1]), min_size=1 << LOG2, max_size=1 << LOG2),
    tail=st.none() | u16,
)
def test_slave_rx_validates_any_master_writes(
    lengths: list[int], flags: list[int], tail: int | None
) -> None:
    with Region.create(LAYOUT.size) as region:
        offset = LAYOUT.ring_offset(RingType.M2S, 0)
        ring = Ring(region, offset, LOG2)
        ring.init()
        rxq = RxQueue(Role.SLAVE, ring, [region], layout=LAYOUT)
        rxq.refill()
        peer = Ring(region, offset, LOG2)
        for slot, length in enumerate(lengths):
            peer.desc["length"][slot] = length
            peer.desc["flags"][slot] = flags[slot]
        peer.tail = len(lengths) if tail is None else tail
        try:
            frames = rxq.recv(64)
        except RemoteProtocolError as exc:
            assert exc.reason
            return
        _inside(frames, region)
        assert all(len(f) <= 256 * (1 << LOG2) for f in frames)
        del frames
        rxq.release()
