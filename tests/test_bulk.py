"""The bulk data paths, ``TxQueue.send_packed`` and ``RxQueue.recv_into``, against the
per-frame ones (``send``/``recv``) over the same kind of in-process pair as test_queue.py.

What must hold: the same bytes arrive, the same counters move, and a hostile producer's
descriptors are rejected by ``recv_into`` exactly as by ``recv`` (same exception, same
reason, same count of bad descriptors).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import closing

import numpy as np
import pytest
from hypothesis import event, example, given, settings
from hypothesis import strategies as st

from memif_harness.memif.datapath.queue import RxQueue, TxQueue
from memif_harness.memif.protocol.constants import DESC_FLAG_NEXT
from memif_harness.memif.protocol.errors import LocalProtocolError, RemoteProtocolError

from .test_queue import Pair, _produce_raw, build_pair, directions, payloads, transfer


def packed(frames: Sequence[bytes]) -> tuple[np.ndarray, np.ndarray]:
    lengths = np.array([len(f) for f in frames], dtype=np.int64)
    return np.frombuffer(b"".join(frames), dtype=np.uint8), lengths


def bulk_transfer(tx: TxQueue, rx: RxQueue, frames: Sequence[bytes]) -> list[bytes]:
    """send_packed everything, draining with recv_into whenever the ring fills."""
    data, lengths = packed(frames)
    buf = np.zeros(max(1, int(lengths.sum())), dtype=np.uint8)
    got_lengths = np.zeros(len(frames) + 1, dtype=np.int64)
    got: list[bytes] = []
    sent = offset = 0
    while True:
        placed = tx.send_packed(data[offset:], lengths[sent:]) if sent < len(frames) else 0
        offset += int(lengths[sent : sent + placed].sum())
        sent += placed
        n = rx.recv_into(buf, got_lengths)
        ends = np.cumsum(got_lengths[:n])
        got += [buf[e - size : e].tobytes() for e, size in zip(ends, got_lengths[:n], strict=True)]
        if not placed and not n:
            return got


@settings(max_examples=40, deadline=None)
@given(
    log2=st.integers(1, 6),
    bsize=st.integers(1, 300),
    bursts=st.lists(
        st.one_of(
            st.lists(st.integers(1, 900), max_size=20),  # mixed sizes: the general path
            st.tuples(st.integers(1, 900), st.integers(1, 70)).map(lambda t: [t[0]] * t[1]),
        ),
        max_size=6,
    ),
)
@example(log2=1, bsize=1, bursts=[[1, 1, 1]])  # more frames than the ring: ring full
@example(log2=1, bsize=1, bursts=[[3, 1, 1, 3]])  # an oversize frame after placed ones
def test_bulk_paths_deliver_what_the_per_frame_paths_do(
    log2: int, bsize: int, bursts: list[list[int]]
) -> None:
    bulk, frame = build_pair(log2=log2, bsize=bsize), build_pair(log2=log2, bsize=bsize)
    try:
        for (btx, brx), (ftx, frx) in zip(directions(bulk), directions(frame), strict=True):
            for sizes in bursts:
                frames = payloads(sizes)
                fits = [f for f in frames if -(-len(f) // bsize) <= btx.ring.size]
                assert bulk_transfer(btx, brx, frames) == fits
                assert transfer(ftx, frx, frames) == fits
                assert btx.stats == ftx.stats
                assert brx.stats == frx.stats
    finally:
        bulk.close()
        frame.close()


def test_equal_frames_are_chained_across_the_wrap() -> None:
    with closing(build_pair(log2=4, bsize=2048)) as pair:
        tx, rx = pair.slave_tx, pair.master_rx
        first = payloads([100] * 3)
        assert bulk_transfer(tx, rx, first) == first  # the next burst starts at slot 3
        frames = payloads([9000] * 3)  # 5 buffers each: slots 3..17, wrapping at 16
        data, lengths = packed(frames)
        assert tx.send_packed(data, lengths) == 3
        flags = tx.ring.desc["flags"][(3 + np.arange(15)) & 15]
        assert ((flags & DESC_FLAG_NEXT) != 0).tolist() == ([True] * 4 + [False]) * 3
        assert [bytes(v) for v in rx.recv(8)] == frames


def test_ring_full_is_counted_and_nothing_is_overwritten() -> None:
    with closing(build_pair(log2=3, bsize=2048)) as pair:
        tx, rx = pair.slave_tx, pair.master_rx
        frames = payloads([64] * 12)
        data, lengths = packed(frames)
        assert tx.send_packed(data, lengths) == 8
        assert tx.send_packed(data, lengths) == 0
        assert tx.stats.ring_full == 2
        assert [bytes(v) for v in rx.recv(16)] == frames[:8]


def test_recv_into_stops_at_what_the_buffer_holds() -> None:
    with closing(build_pair(log2=4)) as pair:
        tx, rx = pair.slave_tx, pair.master_rx
        frames = payloads([100, 200, 300])
        assert tx.send(frames) == 3
        buf, lengths = np.zeros(350, dtype=np.uint8), np.zeros(8, dtype=np.int64)
        assert rx.recv_into(buf, lengths) == 2
        assert lengths[:2].tolist() == [100, 200]
        assert buf[:300].tobytes() == frames[0] + frames[1]
        with pytest.raises(LocalProtocolError, match="300-byte frame does not fit 50 bytes"):
            rx.recv_into(buf[:50], lengths)
        assert rx.recv_into(buf, lengths) == 1
        assert buf[:300].tobytes() == frames[2]


def test_local_misuse_of_the_bulk_paths() -> None:
    with closing(build_pair(log2=4)) as pair:
        with pytest.raises(LocalProtocolError, match="empty frame"):
            pair.slave_tx.send_packed(np.zeros(8, np.uint8), np.array([8, 0]))
        with pytest.raises(LocalProtocolError, match="16 bytes of frames, 8 packed"):
            pair.slave_tx.send_packed(np.zeros(8, np.uint8), np.array([8, 8]))
        assert pair.slave_tx.send(payloads([10])) == 1
        assert len(pair.master_rx.recv(4)) == 1
        with pytest.raises(LocalProtocolError, match="held"):
            pair.master_rx.recv_into(np.zeros(64, np.uint8), np.zeros(4, np.int64))


# --- hostile producers: recv_into rejects what recv rejects, for the same reason ------------

_u16, _u32 = st.integers(0, 0xFFFF), st.integers(0, 0xFFFF_FFFF)
_descriptor = st.tuples(
    st.sampled_from([0, 0, DESC_FLAG_NEXT, 0xFFFF]),  # flags
    st.one_of(st.just(0), st.just(0), st.integers(1, 3), _u16),  # region: in range or not
    st.one_of(st.integers(0, 5000), _u32),  # length: 0, over capacity, u32 overflow
    st.one_of(st.integers(0, 70000), _u32),  # offset
    _u32,
)


def produce_hostile(
    pair: Pair, direction: int, descriptors: list[tuple[int, int, int, int, int]], overrun: int
) -> RxQueue:
    """Publish ``descriptors`` raw on ``directions(pair)[direction]``, the producer counter
    then advanced by ``overrun`` rings more; the receiving queue."""
    tx, rx = directions(pair)[direction]
    _produce_raw(tx, descriptors)
    if overrun:
        tx._next += tx.ring.size * overrun
        if direction == 0:
            tx.ring.head = tx._next
        else:
            tx.ring.tail = tx._next
    return rx


def _recv(rx: RxQueue) -> list[int]:
    return [len(view) for view in rx.recv(64)]


def _recv_into(rx: RxQueue) -> list[int]:
    lengths = np.zeros(64, dtype=np.int64)
    count = rx.recv_into(np.zeros(1 << 20, dtype=np.uint8), lengths)
    return lengths[:count].tolist()


def _outcome(call: Callable[[RxQueue], list[int]], rx: RxQueue) -> tuple[object, ...]:
    try:
        result = call(rx)
    except RemoteProtocolError as exc:
        return ("rejected", exc.reason, rx.stats.bad_descriptors, rx.stats.packets)
    return ("accepted", result, rx.stats.bad_descriptors, rx.stats.packets, rx.stats.bytes)


@settings(max_examples=150, deadline=None)
@given(
    direction=st.sampled_from([0, 1]),
    descriptors=st.lists(_descriptor, min_size=1, max_size=16),
    overrun=st.sampled_from([0, 0, 0, 0, 0, 1, 3]),
)
@example(direction=0, descriptors=[(DESC_FLAG_NEXT, 0, 64, 4096, 0)] * 16, overrun=0)
@example(direction=1, descriptors=[(DESC_FLAG_NEXT, 0, 64, 4096, 0)] * 16, overrun=0)
@example(direction=0, descriptors=[(0, 0, 64, 4096, 0), (DESC_FLAG_NEXT, 0, 64, 0, 0)], overrun=0)
@example(direction=0, descriptors=[(0, 0, 0x20, 0xFFFF_FFF0, 0)], overrun=0)
def test_hostile_descriptors_are_judged_alike(
    direction: int, descriptors: list[tuple[int, int, int, int, int]], overrun: int
) -> None:
    """Random bursts, most of them hostile: a chain past the ring or never ending, NEXT on
    the last slot, regions out of range, offset+length past u32 or the region, lengths over
    what was posted, a producer counter advanced by more than the ring (``overrun``)."""
    bulk, frame = build_pair(log2=4, bsize=2048), build_pair(log2=4, bsize=2048)
    try:
        outcomes = []
        for pair, bulk_call in ((bulk, True), (frame, False)):
            rx = produce_hostile(pair, direction, descriptors, overrun)
            outcomes.append(_outcome(_recv_into if bulk_call else _recv, rx))
        event(str(outcomes[0][1])[:40] if outcomes[0][0] == "rejected" else "accepted")
        assert outcomes[0] == outcomes[1]
    finally:
        bulk.close()
        frame.close()
