"""Data path: a slave and a master over the same memfd regions in one process.

The slave creates the region and rings from a :class:`CopyLayout`; the master attaches
``os.dup`` of the same fds, as it would after ADD_REGION/ADD_RING.
"""

from __future__ import annotations

import dataclasses
import math
import os
import select
from collections.abc import Callable, Iterator, Sequence

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memif_harness.memif.datapath.layout import CopyLayout
from memif_harness.memif.datapath.queue import RxQueue, TxQueue
from memif_harness.memif.datapath.ring import Ring
from memif_harness.memif.datapath.shm import Region
from memif_harness.memif.protocol.constants import (
    DESC_FLAG_NEXT,
    MAX_CHAIN,
    RING_FLAG_MASK_INT,
    Mode,
    RingType,
    Role,
    RxMode,
)
from memif_harness.memif.protocol.errors import LocalProtocolError, RemoteProtocolError


def payloads(sizes: Sequence[int], seed: int = 0) -> list[bytes]:
    """Random frames of the given sizes, each starting with its index (to spot reordering).

    The same sizes and seed give the same frames.
    """
    data = np.random.default_rng(seed).integers(0, 256, int(sum(sizes)), dtype=np.uint8).tobytes()
    frames, pos = [], 0
    for i, size in enumerate(sizes):
        head = i.to_bytes(4, "little")[:size]
        frames.append(head + data[pos + len(head) : pos + size])
        pos += size
    return frames


@dataclasses.dataclass
class Pair:
    """Both ends of one connection: S2M = slave_tx -> master_rx, M2S = master_tx -> slave_rx."""

    layout: CopyLayout
    slave_region: Region
    master_region: Region
    slave_tx: TxQueue
    slave_rx: RxQueue
    master_tx: TxQueue
    master_rx: RxQueue
    eventfds: list[int]

    def close(self) -> None:
        for fd in self.eventfds:
            os.close(fd)
        self.slave_region.close()
        self.master_region.close()


def build_pair(
    log2: int = 10,
    bsize: int = 2048,
    *,
    mode: Mode = Mode.ETHERNET,
    cacheline: int = 64,
    refill: bool = True,
) -> Pair:
    layout = CopyLayout(
        n_s2m=1, n_m2s=1, log2_ring_size=log2, buffer_size=bsize, cacheline=cacheline
    )
    region = Region.create(layout.size)
    master_region = Region.attach(os.dup(region.fd), layout.size)
    queues: dict[tuple[RingType, Role], TxQueue | RxQueue] = {}
    eventfds = []
    for ring_type in RingType:
        offset = layout.ring_offset(ring_type, 0)
        slave_ring = Ring(region, offset, log2, cacheline)
        slave_ring.init()
        master_ring = Ring.locate(master_region, offset, log2, cacheline)
        master_ring.check_cookie(f"tx ring {ring_type.value}")
        efd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        efd_master = os.dup(efd)
        eventfds += [efd, efd_master]
        slave_cls = TxQueue if ring_type is RingType.S2M else RxQueue
        master_cls = RxQueue if ring_type is RingType.S2M else TxQueue
        queues[ring_type, Role.SLAVE] = slave_cls(
            Role.SLAVE, slave_ring, [region], layout=layout, mode=mode, eventfd=efd
        )
        queues[ring_type, Role.MASTER] = master_cls(
            Role.MASTER, master_ring, [master_region], mode=mode, eventfd=efd_master
        )
    pair = Pair(
        layout,
        region,
        master_region,
        slave_tx=queues[RingType.S2M, Role.SLAVE],  # type: ignore[arg-type]
        slave_rx=queues[RingType.M2S, Role.SLAVE],  # type: ignore[arg-type]
        master_tx=queues[RingType.M2S, Role.MASTER],  # type: ignore[arg-type]
        master_rx=queues[RingType.S2M, Role.MASTER],  # type: ignore[arg-type]
        eventfds=eventfds,
    )
    if refill:
        assert pair.slave_rx.refill() == layout.ring_size
    return pair


@pytest.fixture
def make_pair() -> Iterator[Callable[..., Pair]]:
    pairs: list[Pair] = []

    def make(*args: object, **kwargs: object) -> Pair:
        pairs.append(build_pair(*args, **kwargs))  # type: ignore[arg-type]
        return pairs[-1]

    yield make
    for pair in pairs:
        pair.close()


def directions(pair: Pair) -> list[tuple[TxQueue, RxQueue]]:
    return [(pair.slave_tx, pair.master_rx), (pair.master_tx, pair.slave_rx)]


def transfer(tx: TxQueue, rx: RxQueue, frames: Sequence[bytes]) -> list[bytes]:
    """Send every frame, draining the receiver whenever the ring fills."""
    got: list[bytes] = []
    sent = 0
    while sent < len(frames):
        placed = tx.send(frames[sent:])
        sent += placed
        received = rx.recv(1 << 20)
        assert placed or received, "no progress"
        got += [bytes(view) for view in received]
        rx.release()
    got += [bytes(view) for view in rx.recv(1 << 20)]
    rx.release()
    return got


# --- payload delivery ------------------------------------------------------------------------


def test_every_size_up_to_the_buffer_size(make_pair: Callable[..., Pair]) -> None:
    pair = make_pair(bsize=2048)
    frames = payloads(range(1, 2049))
    for tx, rx in directions(pair):
        assert transfer(tx, rx, frames) == frames
        assert tx.stats.packets == rx.stats.packets == 2048
        assert tx.stats.bytes == rx.stats.bytes == sum(range(1, 2049))


@pytest.mark.parametrize(("size", "descriptors"), [(3000, 2), (6000, 3), (8960, 5)])
def test_jumbo_frames_are_chained(
    make_pair: Callable[..., Pair], size: int, descriptors: int
) -> None:
    pair = make_pair(bsize=2048)
    for tx, rx in directions(pair):
        frames = payloads([size, 60, size])
        start = tx._next
        assert tx.send(frames) == 3
        slots = (start + np.arange(2 * descriptors + 1)) & tx.ring.mask
        desc = tx.ring.desc[slots]
        chain = [DESC_FLAG_NEXT] * (descriptors - 1) + [0]
        assert desc["flags"].tolist() == [*chain, 0, *chain]
        assert desc["length"][: descriptors - 1].tolist() == [2048] * (descriptors - 1)
        assert int(desc["length"][:descriptors].sum()) == size
        received = rx.recv(10)
        assert [bytes(view) for view in received] == frames
        rx.release()


@pytest.mark.parametrize("bsize", [1000, 2047, 64])
def test_odd_buffer_sizes(make_pair: Callable[..., Pair], bsize: int) -> None:
    pair = make_pair(log2=8, bsize=bsize)
    sizes = np.random.default_rng(bsize).integers(1, 9001, 300).tolist()
    sizes += [bsize - 1, bsize, bsize + 1, 2 * bsize]
    frames = payloads(sizes)
    for tx, rx in directions(pair):
        if math.ceil(9000 / bsize) > tx.ring.size:
            continue
        assert transfer(tx, rx, frames) == frames


@pytest.mark.parametrize("log2", range(1, 15))
def test_ring_sizes(make_pair: Callable[..., Pair], log2: int) -> None:
    pair = make_pair(log2=log2, bsize=128)
    size = 1 << log2
    sizes = np.random.default_rng(log2).integers(1, 257, 3 * size + 5).tolist()
    frames = payloads(sizes)  # up to 2 descriptors each
    for tx, rx in directions(pair):
        assert transfer(tx, rx, frames) == frames


@pytest.mark.parametrize("cacheline", [64, 128])
def test_cacheline_sizes(make_pair: Callable[..., Pair], cacheline: int) -> None:
    pair = make_pair(log2=4, cacheline=cacheline)
    frames = payloads([64, 3000, 1500])
    for tx, rx in directions(pair):
        assert transfer(tx, rx, frames) == frames
        assert tx.ring.region.buf[tx.ring.offset + cacheline] == tx.ring.tail & 0xFF


def test_counters_wrap_past_u16(make_pair: Callable[..., Pair]) -> None:
    pair = make_pair(log2=10, bsize=64)
    sizes = (np.arange(70_000) % 60 + 4).tolist()
    frames = [i.to_bytes(4, "little") * (size // 4) for i, size in enumerate(sizes)]
    for tx, rx in directions(pair):
        assert transfer(tx, rx, frames) == frames
        assert tx._next > 0xFFFF
        assert tx.ring.tail == tx._next & 0xFFFF
        refilled = rx.ring.size if rx.role is Role.SLAVE else 0
        assert tx.ring.head == (tx._next + refilled) & 0xFFFF


def test_metadata_is_ignored(make_pair: Callable[..., Pair]) -> None:
    pair = make_pair(log2=4)
    tx, rx = pair.slave_tx, pair.master_rx
    tx.ring.desc["metadata"] = 0xDEADBEEF
    rx.ring.desc["metadata"] = 0xDEADBEEF
    assert tx.send(payloads([100])) == 1
    tx.ring.desc["metadata"] = 0xFFFFFFFF
    assert [bytes(v) for v in rx.recv(4)] == payloads([100])


@settings(max_examples=40, deadline=None)
@given(
    log2=st.integers(1, 6),
    bsize=st.integers(1, 300),
    bursts=st.lists(st.lists(st.integers(1, 900), max_size=20), max_size=6),
)
def test_random_bursts_both_directions(log2: int, bsize: int, bursts: list[list[int]]) -> None:
    pair = build_pair(log2=log2, bsize=bsize)
    try:
        for tx, rx in directions(pair):
            for sizes in bursts:
                frames = payloads(sizes)
                # a frame needing more slots than the ring has is dropped and counted
                fits = [f for f in frames if math.ceil(len(f) / bsize) <= tx.ring.size]
                oversize = tx.stats.oversize
                assert transfer(tx, rx, frames) == fits
                assert tx.stats.oversize - oversize == len(frames) - len(fits)
    finally:
        pair.close()


# --- ring full and partial release ------------------------------------------------------------


def test_ring_full_places_whole_frames_and_overwrites_nothing(
    make_pair: Callable[..., Pair],
) -> None:
    pair = make_pair(log2=3, bsize=2048)
    for tx, rx in directions(pair):
        first = payloads([100] * 6)
        assert tx.send(first) == 6
        ring_before = tx.ring.region.buf.copy()
        jumbo = payloads([8960, 50], seed=1)  # 5 descriptors, only 2 slots free
        assert tx.send(jumbo) == 0
        assert tx.stats.ring_full == 1
        assert np.array_equal(tx.ring.region.buf, ring_before)
        assert tx.send(payloads([10] * 3, seed=2)) == 2  # fills the last two slots
        assert tx.send(payloads([10])) == 0
        received = [bytes(v) for v in rx.recv(100)]
        assert received == first + payloads([10] * 2, seed=2)
        rx.release()
        assert tx.send(jumbo) == 2
        assert [bytes(v) for v in rx.recv(100)] == jumbo
        rx.release()


def test_master_can_only_fill_what_the_slave_posted(make_pair: Callable[..., Pair]) -> None:
    pair = make_pair(log2=4, refill=False)
    tx, rx = pair.master_tx, pair.slave_rx
    assert tx.free() == 0
    assert tx.send(payloads([64])) == 0
    assert rx.refill(3) == 3
    assert tx.free() == 3
    frames = payloads([64] * 5)
    assert tx.send(frames) == 3
    assert [bytes(v) for v in rx.recv(8)] == frames[:3]


def test_views_stay_valid_until_release(make_pair: Callable[..., Pair]) -> None:
    pair = make_pair(log2=3, bsize=256)
    for tx, rx in directions(pair):
        frames = payloads([200] * 8)
        assert tx.send(frames) == 8
        views = rx.recv(8)
        rx.release(3)
        assert tx.send(payloads([199] * 8, seed=1)) == 3
        assert [bytes(v) for v in views[3:]] == frames[3:]
        assert [bytes(v) for v in rx.recv(8)] == payloads([199] * 8, seed=1)[:3]
        rx.release()
        with pytest.raises(LocalProtocolError):
            rx.release(1)


def test_views_survive_region_close(make_pair: Callable[..., Pair]) -> None:
    pair = make_pair(log2=3)
    assert pair.slave_tx.send(payloads([64])) == 1
    views = pair.master_rx.recv(1)
    pair.master_region.close()
    assert bytes(views[0]) == payloads([64])[0]


# --- libmemif-style two-step TX and refill ---------------------------------------------------


def test_alloc_and_commit(make_pair: Callable[..., Pair]) -> None:
    pair = make_pair(log2=4, bsize=2048)
    for tx, rx in directions(pair):
        buffers = tx.alloc(2, 3000)
        assert [b.capacity for b in buffers] == [2048] * 4
        assert [b.next for b in buffers] == [True, False, True, False]
        assert [b.length for b in buffers] == [2048, 952, 2048, 952]
        frames = payloads([2500, 2500])
        buffers[1].length = 452
        buffers[3].length = 452
        for frame, (a, b) in zip(frames, [buffers[:2], buffers[2:]], strict=True):
            a.data[:2048] = frame[:2048]
            b.data[: len(frame) - 2048] = frame[2048:]
        with pytest.raises(LocalProtocolError):
            tx.send(frames)
        with pytest.raises(LocalProtocolError, match="order"):
            tx.commit(buffers[1:])
        assert tx.commit(buffers) == 4
        assert tx.stats.packets == 2
        single = tx.alloc(3)
        assert [b.length for b in single] == [0, 0, 0]
        single[0].data[:5] = b"hello"
        single[0].length = 5
        assert tx.commit(single[:1]) == 1  # the other two go back to the ring
        assert [bytes(v) for v in rx.recv(10)] == [*frames, b"hello"]
        rx.release()
        too_long = tx.alloc(1)
        too_long[0].length = 2049
        with pytest.raises(LocalProtocolError, match="capacity"):
            tx.commit(too_long)


def test_commit_refuses_to_end_inside_a_chain(make_pair: Callable[..., Pair]) -> None:
    pair = make_pair(log2=4, bsize=1024)
    for tx, rx in directions(pair):
        head = tx.ring.head if tx.role is Role.SLAVE else tx.ring.tail
        buffers = tx.alloc(2, 1500)
        assert [b.next for b in buffers] == [True, False, True, False]
        with pytest.raises(LocalProtocolError, match="inside a packet"):
            tx.commit(buffers[:1])  # would leave a NEXT chain that runs into the next frame
        with pytest.raises(LocalProtocolError, match="inside a packet"):
            tx.commit(buffers[:3])
        assert (tx.ring.head if tx.role is Role.SLAVE else tx.ring.tail) == head  # nothing out
        frames = payloads([1500, 1500])
        for frame, (a, b) in zip(frames, [buffers[:2], buffers[2:]], strict=True):
            a.data[:1024] = frame[:1024]
            b.data[:476] = frame[1024:]
        assert tx.commit(buffers[:2]) == 2  # the allocation survived the refusal
        assert tx.send([b"next"]) == 1
        assert [bytes(v) for v in rx.recv(8)] == [frames[0], b"next"]
        rx.release()


def test_interrupt_fd_that_is_no_eventfd_is_a_violation(make_pair: Callable[..., Pair]) -> None:
    pair = make_pair(log2=4)
    read_end, write_end = os.pipe()
    try:
        tx = TxQueue(Role.MASTER, pair.master_tx.ring, [pair.master_region], eventfd=read_end)
        with pytest.raises(RemoteProtocolError, match="interrupt fd cannot be written"):
            tx.notify()
        rx = RxQueue(Role.MASTER, pair.master_rx.ring, [pair.master_region], eventfd=write_end)
        with pytest.raises(RemoteProtocolError, match="interrupt fd cannot be read"):
            rx.ack_interrupt()
    finally:
        os.close(read_end)
        os.close(write_end)


def test_alloc_reserves_only_whole_packets(make_pair: Callable[..., Pair]) -> None:
    pair = make_pair(log2=2, bsize=1000)
    buffers = pair.slave_tx.alloc(3, 1500)
    assert len(buffers) == 4
    assert pair.slave_tx.stats.ring_full == 1
    assert pair.slave_tx.alloc(1) == []


def test_refill_headroom(make_pair: Callable[..., Pair]) -> None:
    pair = make_pair(log2=2, bsize=1024, refill=False)
    assert pair.slave_rx.refill(headroom=128) == 4
    desc = pair.master_tx.ring.desc
    offsets = pair.layout.slot_offsets(RingType.M2S, 0)
    assert desc["length"].tolist() == [896] * 4
    assert desc["offset"].tolist() == (offsets + 128).tolist()
    frames = payloads([1000, 50])  # 1000 > 896: chained over two buffers
    assert pair.master_tx.send(frames) == 2
    assert pair.master_region.buf[offsets[0] + 128 : offsets[0] + 132].tobytes() == frames[0][:4]
    assert [bytes(v) for v in pair.slave_rx.recv(4)] == frames
    with pytest.raises(LocalProtocolError):
        pair.master_rx.refill()


def test_master_chains_into_uneven_posted_buffers(make_pair: Callable[..., Pair]) -> None:
    pair = make_pair(log2=3, bsize=2048)
    pair.master_tx.ring.desc["length"] = [100, 2048, 7, 1000, 2048, 50, 2048, 2048]
    frames = payloads([150, 1007, 2000, 60])
    assert pair.master_tx.send(frames) == 4
    desc = pair.slave_rx.ring.desc
    assert desc["length"][:7].tolist() == [100, 50, 7, 1000, 2000, 50, 10]
    assert desc["flags"][:7].tolist() == [1, 0, 1, 0, 0, 1, 0]
    assert [bytes(v) for v in pair.slave_rx.recv(8)] == frames


def test_master_writes_into_any_posted_region() -> None:
    layout = CopyLayout(n_s2m=1, n_m2s=1, log2_ring_size=2, buffer_size=64)
    with Region.create(layout.size) as ring_region, Region.create(4096, index=1) as buffers:
        ring = Ring(ring_region, layout.ring_offset(RingType.M2S, 0), 2)
        ring.init()
        ring.desc[:] = [
            (0, 1, 64, 1024, 0),
            (0, 1, 64, 0, 0),
            (0, 0, 64, 400, 0),
            (0, 1, 9, 4087, 0),
        ]
        ring.head = 4
        with (
            Region.attach(os.dup(ring_region.fd), layout.size) as r0,
            Region.attach(os.dup(buffers.fd), 4096, index=1) as r1,
        ):
            tx = TxQueue(Role.MASTER, Ring.locate(r0, ring.offset, 2), [r0, r1])
            frames = payloads([64, 64, 64, 9])
            assert tx.send(frames) == 4
            assert buffers.buf[1024:1088].tobytes() == frames[0]
            assert buffers.buf[0:64].tobytes() == frames[1]
            assert ring_region.buf[400:464].tobytes() == frames[2]
            assert buffers.buf[4087:4096].tobytes() == frames[3]
            assert ring.tail == 4


def test_local_misuse_is_rejected(make_pair: Callable[..., Pair]) -> None:
    pair = make_pair(log2=2, bsize=1000)
    with pytest.raises(LocalProtocolError, match="empty"):
        pair.slave_tx.send([b"x", b""])
    with pytest.raises(LocalProtocolError, match="can never fit"):
        pair.slave_tx.alloc(1, 4001)
    with pytest.raises(LocalProtocolError, match="CopyLayout"):
        TxQueue(Role.SLAVE, pair.slave_tx.ring, [pair.slave_region])
    with pytest.raises(LocalProtocolError, match="CopyLayout"):
        RxQueue(Role.MASTER, pair.master_rx.ring, [pair.master_region], layout=pair.layout)
    with pytest.raises(LocalProtocolError, match="not where"):
        RxQueue(Role.SLAVE, pair.slave_tx.ring, [pair.slave_region], layout=pair.layout)
    assert pair.slave_tx.send([]) == 0


# --- interrupts -----------------------------------------------------------------------------


def _readable(fd: int) -> bool:
    return bool(select.select([fd], [], [], 0)[0])


def test_notify_honours_mask_int(make_pair: Callable[..., Pair]) -> None:
    pair = make_pair(log2=4)
    for tx, rx in directions(pair):
        rx.set_rx_mode(RxMode.POLLING)
        assert tx.ring.flags & RING_FLAG_MASK_INT
        assert tx.send(payloads([64])) == 1
        assert not tx.notify()
        assert rx.eventfd is not None
        assert not _readable(rx.eventfd)
        assert rx.ack_interrupt() == 0
        rx.set_rx_mode(RxMode.INTERRUPT)
        assert tx.ring.flags == 0
        assert tx.notify()
        assert tx.notify()
        assert _readable(rx.eventfd)
        assert rx.ack_interrupt() == 2
        assert rx.ack_interrupt() == 0
        assert (tx.stats.interrupts, rx.stats.interrupts) == (2, 1)


def test_refill_is_not_signalled(make_pair: Callable[..., Pair]) -> None:
    pair = make_pair(log2=4, refill=False)
    pair.slave_rx.refill()
    assert pair.master_tx.eventfd is not None
    assert not _readable(pair.master_tx.eventfd)


def test_notify_survives_a_saturated_eventfd(make_pair: Callable[..., Pair]) -> None:
    pair = make_pair(log2=4)
    assert pair.master_rx.eventfd is not None
    os.eventfd_write(pair.master_rx.eventfd, 0xFFFF_FFFF_FFFF_FFFE)  # a hostile peer
    assert not pair.slave_tx.notify()


# --- hostile peers ----------------------------------------------------------------------------


def _produce_raw(tx: TxQueue, descriptors: list[tuple[int, int, int, int, int]]) -> None:
    """Publish descriptors exactly as given, as a misbehaving producer would."""
    slots = (tx._next + np.arange(len(descriptors))) & tx.ring.mask
    for slot, desc in zip(slots.tolist(), descriptors, strict=True):
        tx.ring.desc[slot] = desc
    tx._next += len(descriptors)
    if tx.role is Role.SLAVE:
        tx.ring.head = tx._next
    else:
        tx.ring.tail = tx._next


@pytest.mark.parametrize(
    ("desc", "reason"),
    [
        ((0, 1, 64, 0, 0), "region 1 out of range (1 regions)"),
        ((0, 7, 64, 0, 0), "region 7 out of range"),
        ((0, 0, 0x20, 0xFFFF_FFF0, 0), "offset 4294967280 + length 32 overruns region 0"),
        ((0, 0, 0xFFFF_FFFF, 16, 0), "overruns region 0"),
        ((0, 0, 0, 16, 0), "length 0"),
        ((0, 0, 9217, 16, 0), "length 9217 > 9216 in ethernet mode"),
    ],
)
@pytest.mark.parametrize("direction", ["S2M", "M2S"])
def test_bad_descriptors_raise(
    make_pair: Callable[..., Pair],
    desc: tuple[int, int, int, int, int],
    reason: str,
    direction: str,
) -> None:
    pair = make_pair(log2=4, bsize=16384)
    tx, rx = directions(pair)[direction == "M2S"]
    _produce_raw(tx, [(0, 0, 64, 4096, 0), desc])
    with pytest.raises(RemoteProtocolError) as info:
        rx.recv(8)
    assert info.value.reason.startswith(f"bad descriptor on ring {direction} 0 slot 1: ")
    assert reason in info.value.reason
    assert rx.stats.bad_descriptors == 1
    assert rx.stats.packets == 0


def test_ethernet_limit_applies_to_ethernet_mode_only(make_pair: Callable[..., Pair]) -> None:
    pair = make_pair(log2=4, bsize=16384, mode=Mode.IP)
    frames = payloads([9217, 16384])
    for tx, rx in directions(pair):
        assert transfer(tx, rx, frames) == frames


def test_slave_rejects_a_length_beyond_what_it_posted(make_pair: Callable[..., Pair]) -> None:
    pair = make_pair(log2=4, bsize=1024)
    offset = pair.layout.slot_offset(RingType.M2S, 0, 0)
    _produce_raw(pair.master_tx, [(0, 0, 1025, offset, 0)])
    with pytest.raises(RemoteProtocolError, match="length 1025 > 1024 bytes posted"):
        pair.slave_rx.recv(8)


@pytest.mark.parametrize(
    ("desc", "reason"),
    [
        ((0, 3, 2048, 0, 0), "region 3 out of range"),
        ((0, 0, 2048, 0xFFFF_FF00, 0), r"offset 4294967040 \+ length 2048 overruns region 0"),
        ((0, 0, 0, 0, 0), "length 0"),
    ],
)
def test_master_rejects_bad_posted_buffers(
    make_pair: Callable[..., Pair], desc: tuple[int, int, int, int, int], reason: str
) -> None:
    pair = make_pair(log2=4)
    pair.master_tx.ring.desc[0] = desc
    with pytest.raises(RemoteProtocolError, match=f"bad descriptor on ring M2S 0 slot 0: {reason}"):
        pair.master_tx.send(payloads([64]))
    assert pair.master_tx.stats.bad_descriptors == 1


def test_producer_claiming_more_than_the_ring(make_pair: Callable[..., Pair]) -> None:
    pair = make_pair(log2=10)
    pair.slave_tx.ring.head = 2000
    with pytest.raises(
        RemoteProtocolError, match=r"^ring S2M 0: producer claims 2000 slots, ring has 1024$"
    ):
        pair.master_rx.recv(8)
    pair.master_tx.ring.tail = 1500
    with pytest.raises(
        RemoteProtocolError, match=r"^ring M2S 0: producer claims 1500 slots, 1024 posted$"
    ):
        pair.slave_rx.recv(8)


def test_peer_counters_out_of_range_on_tx(make_pair: Callable[..., Pair]) -> None:
    pair = make_pair(log2=4)
    pair.master_tx.ring.head = 17
    with pytest.raises(RemoteProtocolError, match="slave posted 17 slots, ring has 16"):
        pair.master_tx.send(payloads([64]))
    pair.slave_tx.ring.tail = 3  # consumer tail ahead of our head 0
    with pytest.raises(RemoteProtocolError, match="tail 3 is not within 16 slots behind head 0"):
        pair.slave_tx.send(payloads([64]))


def test_producer_counter_going_back(make_pair: Callable[..., Pair]) -> None:
    pair = make_pair(log2=4)
    assert pair.slave_tx.send(payloads([64] * 4)) == 4
    assert len(pair.master_rx.recv(8)) == 4
    pair.slave_tx.ring.head = 2
    with pytest.raises(RemoteProtocolError, match="went back"):
        pair.master_rx.recv(8)


def _buffer_offset(pair: Pair, tx: TxQueue, ahead: int) -> int:
    """Where the producer's ``ahead``-th next slot keeps its data."""
    slot = (tx._next + ahead) & tx.ring.mask
    if tx.role is Role.SLAVE:
        return int(pair.layout.slot_offsets(RingType.S2M, 0)[slot])
    return int(tx.ring.desc[slot]["offset"])


def test_incomplete_chain_waits_for_the_rest(make_pair: Callable[..., Pair]) -> None:
    pair = make_pair(log2=4, bsize=64)
    frame = payloads([100])[0]
    for tx, rx in directions(pair):
        assert tx.send([b"a" * 10]) == 1
        first, second = _buffer_offset(pair, tx, 0), _buffer_offset(pair, tx, 1)
        tx.ring.region.buf[first : first + 64] = np.frombuffer(frame[:64], np.uint8)
        tx.ring.region.buf[second : second + 36] = np.frombuffer(frame[64:], np.uint8)
        _produce_raw(tx, [(DESC_FLAG_NEXT, 0, 64, first, 0)])
        assert [bytes(v) for v in rx.recv(8)] == [b"a" * 10]
        assert rx.recv(8) == []
        _produce_raw(tx, [(0, 0, 36, second, 0)])
        assert [bytes(v) for v in rx.recv(8)] == [frame]
        rx.release()


def test_chain_longer_than_max_chain(make_pair: Callable[..., Pair]) -> None:
    pair = make_pair(log2=9, bsize=64)
    offset = pair.layout.slot_offset(RingType.S2M, 0, 0)
    _produce_raw(pair.slave_tx, [(DESC_FLAG_NEXT, 0, 64, offset, 0)] * (MAX_CHAIN + 1))
    with pytest.raises(RemoteProtocolError, match=f"NEXT chain of over {MAX_CHAIN} descriptors"):
        pair.master_rx.recv(8)


def test_chain_over_the_whole_ring_never_completes(make_pair: Callable[..., Pair]) -> None:
    pair = make_pair(log2=3, bsize=64)
    offset = pair.layout.slot_offset(RingType.S2M, 0, 0)
    _produce_raw(pair.slave_tx, [(DESC_FLAG_NEXT, 0, 64, offset, 0)] * 8)
    with pytest.raises(RemoteProtocolError, match="NEXT set on all 8 slots"):
        pair.master_rx.recv(8)
