"""Property-based fuzzing of the protocol 1.0 paths (the same bounds as tests/test_fuzz.py):
the 1.0 ADD_RING layout, a channel speaking 1.0, and the 1.0 queues over whatever a hostile
peer writes into their rings (indices, lengths, the buffers the slave assigned)."""

from __future__ import annotations

import os

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from memif_harness.memif.datapath.layout_v1 import CopyLayoutV1
from memif_harness.memif.datapath.queue_v1 import RxQueueV1, TxQueueV1
from memif_harness.memif.datapath.ring import Ring
from memif_harness.memif.datapath.shm import Region
from memif_harness.memif.protocol import wire
from memif_harness.memif.protocol.config import InterfaceConfig
from memif_harness.memif.protocol.constants import MSG_SIZE, Mode, RingType, Role
from memif_harness.memif.protocol.control import ControlChannel
from memif_harness.memif.protocol.errors import RemoteProtocolError
from memif_harness.memif.protocol.events import ConnectRequested
from memif_harness.memif.protocol.versions import VERSION_V1, ProtocolVersion
from tests.test_fuzz import FUZZ, _inside, datagrams, no_fd_leak, u16, u32

V1 = ProtocolVersion.V1
LOG2 = 4
LAYOUT = CopyLayoutV1(n_s2m=1, n_m2s=1, log2_ring_size=LOG2, buffer_size=256)
u64 = st.integers(0, 2**64 - 1)


@FUZZ
@given(st.binary(min_size=MSG_SIZE, max_size=MSG_SIZE))
def test_parse_v1_returns_a_message_or_a_remote_error(data: bytes) -> None:
    try:
        msg = wire.parse(data, VERSION_V1)
    except RemoteProtocolError as exc:
        assert exc.reason
        return
    assert wire.parse(wire.pack(msg, VERSION_V1), VERSION_V1) == msg


@FUZZ
@given(script=st.lists(st.tuples(datagrams, st.integers(0, 2)), min_size=1, max_size=12))
def test_a_1_0_master_channel_survives_any_input(script: list[tuple[bytes, int]]) -> None:
    config = InterfaceConfig(role=Role.MASTER, protocol=V1)
    with no_fd_leak():
        channel = ControlChannel(Role.MASTER, resolver=lambda _id: config,
                                 hello_versions=(VERSION_V1, VERSION_V1))
        handed: list[int] = []
        for data, n_fds in script:
            fds = [os.eventfd(0, os.EFD_CLOEXEC) for _ in range(n_fds)]
            try:
                events = channel.receive(data, fds)
            except RemoteProtocolError as exc:
                assert exc.reason
                assert channel.state.value == "closed"
                break
            handed += [fd for e in events if isinstance(e, ConnectRequested)
                       for _, fd in (*e.regions, *e.rings)]
        channel.disconnect("done")
        for fd in handed:
            os.close(fd)


descriptor = st.fixed_dictionaries({
    "flags": st.sampled_from([0, 0, 1, 0xFFFF]),
    "region": st.sampled_from([0, 0, 0, 1, 0xFFFF]),
    "length": st.sampled_from([0, 1, 60, 256, 257, 9217]) | u32,
    "buffer_length": st.sampled_from([0, 1, 256, 257]) | u32,
    "offset": st.integers(0, LAYOUT.size + 10) | u64,
})


def _ring(region: Region, kind: RingType) -> tuple[int, Ring]:
    offset = LAYOUT.ring_offset(kind, 0)
    ring = Ring(region, offset, LOG2, version=VERSION_V1)
    ring.init()
    LAYOUT.assign_buffers(ring.desc, kind, 0)
    return offset, ring


def _write(ring: Ring, descs: list[dict[str, int]]) -> None:
    for slot, fields in enumerate(descs):
        for key, value in fields.items():
            ring.desc[key][slot] = value


@FUZZ
@given(descs=st.lists(descriptor, max_size=1 << LOG2), head=st.none() | u16,
       mode=st.sampled_from([Mode.ETHERNET, Mode.IP]))
def test_a_1_0_master_rx_validates_anything(descs: list[dict[str, int]], head: int | None,
                                            mode: Mode) -> None:
    with Region.create(LAYOUT.size) as region:
        offset, ring = _ring(region, RingType.S2M)
        rxq = RxQueueV1(Role.MASTER, Ring.locate(region, offset, LOG2, version=VERSION_V1),
                        [region], mode=mode)
        _write(ring, descs)
        ring.head = (len(descs) & ring.mask) if head is None else head
        try:
            frames = rxq.recv(64)
        except RemoteProtocolError as exc:
            assert exc.reason
            return
        _inside(frames, region)
        del frames
        rxq.release()


@FUZZ
@given(descs=st.lists(descriptor, max_size=1 << LOG2), tail=st.none() | u16,
       sizes=st.lists(st.integers(1, 3000), min_size=1, max_size=20))
def test_a_1_0_master_tx_writes_only_where_it_may(descs: list[dict[str, int]],
                                                  tail: int | None, sizes: list[int]) -> None:
    with Region.create(LAYOUT.size) as region:
        offset, ring = _ring(region, RingType.M2S)
        txq = TxQueueV1(Role.MASTER, Ring.locate(region, offset, LOG2, version=VERSION_V1),
                        [region])
        _write(ring, descs)
        if tail is not None:
            ring.tail = tail
        before = region.buf.copy()
        try:
            consumed = txq.send([bytes([7]) * n for n in sizes])
        except RemoteProtocolError as exc:
            assert exc.reason
            assert np.array_equal(region.buf, before)  # nothing written before the check
            return
        assert 0 <= consumed <= len(sizes)
