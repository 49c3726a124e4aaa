"""The compiled bulk paths (:mod:`memif_harness.memif.datapath.kernel`) against the numpy
ones, property by property: two identical in-process pairs, one queue of each running the
kernel and its twin the numpy path, fed the same frames and the same hostile descriptors.

What must hold: the same result or the same exception with the same reason, the same
counters, the same bytes out, and the same shared memory afterwards (descriptors, buffers,
counters), byte for byte.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from hypothesis import event, example, given, settings
from hypothesis import strategies as st

from memif_harness.memif.datapath import kernel
from memif_harness.memif.datapath.layout import CopyLayout
from memif_harness.memif.datapath.queue import RxQueue, TxQueue
from memif_harness.memif.datapath.ring import Ring
from memif_harness.memif.datapath.shm import Region
from memif_harness.memif.protocol.constants import DESC_FLAG_NEXT, Mode, RingType, Role
from memif_harness.memif.protocol.errors import LocalProtocolError, RemoteProtocolError

from .test_bulk import _descriptor, produce_hostile
from .test_queue import Pair, build_pair, directions

if kernel.load() is None:
    pytest.skip(
        "the compiled kernel is off: install Numba (pip install -e '.[fast]') and leave "
        f"{kernel.KERNEL_ENV} unset",
        allow_module_level=True,
    )

PROPERTY = settings(max_examples=150, deadline=None)


@contextlib.contextmanager
def twins(**kwargs: Any) -> Iterator[tuple[Pair, Pair]]:
    """Two identical pairs (``build_pair(**kwargs)``); every queue of the second runs the
    numpy path."""
    compiled, numpy_path = build_pair(**kwargs), build_pair(**kwargs)
    try:
        for queue in (numpy_path.slave_tx, numpy_path.slave_rx, numpy_path.master_tx,
                      numpy_path.master_rx):  # fmt: skip
            queue.kernels = None
        assert compiled.slave_tx.kernels is not None
        yield compiled, numpy_path
    finally:
        compiled.close()
        numpy_path.close()


def _memory(pair: Pair) -> bytes:
    return pair.slave_region.buf.tobytes()


def _state(queue: TxQueue | RxQueue) -> tuple[object, ...]:
    counters = ("_next",) if isinstance(queue, TxQueue) else ("_read", "_released", "_head")
    return (dataclasses.asdict(queue.stats), *(getattr(queue, name) for name in counters))


def _receive(rx: RxQueue, buf_size: int, max_frames: int) -> tuple[object, ...]:
    buf = np.zeros(buf_size, dtype=np.uint8)
    lengths = np.zeros(max_frames, dtype=np.int64)
    try:
        count = rx.recv_into(buf, lengths)
    except (RemoteProtocolError, LocalProtocolError) as exc:
        return (type(exc).__name__, str(exc))
    return ("received", count, lengths[:count].tolist(), buf[: lengths[:count].sum()].tobytes())


@PROPERTY
@given(
    direction=st.sampled_from([0, 1]),
    descriptors=st.lists(_descriptor, min_size=1, max_size=16),
    overrun=st.sampled_from([0, 0, 0, 0, 0, 1, 3]),
    buf_size=st.sampled_from([1 << 16, 1 << 16, 5000, 64, 1]),
    max_frames=st.integers(1, 20),
)
@example(direction=0, descriptors=[(DESC_FLAG_NEXT, 0, 64, 4096, 0)] * 16, overrun=0,
         buf_size=1 << 16, max_frames=20)  # fmt: skip
@example(
    direction=1,
    descriptors=[(0, 0, 64, 4096, 0)] * 3 + [(0, 0, 0, 0, 0)],
    overrun=0,
    buf_size=1 << 16,
    max_frames=2,
)  # a bad one past max_frames: not read
@example(
    direction=0, descriptors=[(0, 0, 3000, 0, 0)] * 2, overrun=0, buf_size=5000, max_frames=4
)  # the second frame does not fit the buffer
@example(
    direction=1, descriptors=[(0, 0, 65, 4096, 0)], overrun=0, buf_size=64, max_frames=1
)  # one byte more than the buffer
@example(direction=0, descriptors=[(0, 0, 64, 4096, 0)], overrun=1, buf_size=64, max_frames=1)
@example(
    direction=1, descriptors=[(0, 0, 64, 4096, 0)], overrun=1, buf_size=64, max_frames=1
)  # the producer claims one slot more than the ring (or the posted buffers) holds
def test_receive_is_judged_and_copied_alike(
    direction: int,
    descriptors: list[tuple[int, int, int, int, int]],
    overrun: int,
    buf_size: int,
    max_frames: int,
) -> None:
    """Most bursts are hostile (see test_bulk's strategy); some are fine but bigger than the
    buffer or than ``max_frames``."""
    outcomes = []
    with twins(log2=4, bsize=2048) as pairs:
        for pair in pairs:
            rx = produce_hostile(pair, direction, descriptors, overrun)
            outcomes.append((_receive(rx, buf_size, max_frames), _state(rx), _memory(pair)))
    event(str(outcomes[0][0][0]))
    assert outcomes[0] == outcomes[1]


_bursts = st.lists(
    st.one_of(
        st.lists(st.integers(1, 5000), min_size=1, max_size=20),
        st.tuples(st.integers(1, 9000), st.integers(1, 40)).map(lambda t: [t[0]] * t[1]),
    ),
    min_size=1,
    max_size=5,
)


@PROPERTY
@given(
    direction=st.sampled_from([0, 1]),
    log2=st.integers(1, 5),
    bsize=st.sampled_from([64, 100, 2048, 10000]),
    mode=st.sampled_from([Mode.ETHERNET, Mode.IP]),
    bursts=_bursts,
    headroom=st.sampled_from([0, 0, 10]),
)
@example(direction=0, log2=2, bsize=64, mode=Mode.ETHERNET, bursts=[[300, 100]], headroom=0)
def test_send_and_receive_move_the_same_bytes(
    *,
    direction: int,
    log2: int,
    bsize: int,
    mode: Mode,
    bursts: list[list[int]],
    headroom: int,
) -> None:
    """Valid traffic in both directions: chains, oversize frames that are dropped, a full
    ring, receive buffers re-posted with headroom."""
    outcomes = []
    rng_seed = sum(map(sum, bursts))
    with twins(log2=log2, bsize=bsize, mode=mode, refill=False) as pairs:
        for pair in pairs:
            pair.slave_rx.refill(headroom=headroom)
            tx, rx = directions(pair)[direction]
            rng = np.random.default_rng(rng_seed)
            seen = []
            for lengths in bursts:
                sizes = np.array(lengths, dtype=np.int64)
                data = rng.integers(0, 256, int(sizes.sum()), dtype=np.uint8)
                sent = tx.send_packed(data, sizes)
                got = _receive(rx, 1 << 17, 64)
                if rx.role is Role.SLAVE:
                    rx.refill(headroom=headroom)
                seen.append((sent, got, _state(tx), _state(rx)))
            outcomes.append((seen, _memory(pair)))
    assert outcomes[0] == outcomes[1]


@PROPERTY
@given(
    posted=st.lists(_descriptor, min_size=1, max_size=16),
    lengths=st.lists(st.integers(1, 12000), min_size=1, max_size=20),
    overrun=st.sampled_from([0, 0, 0, 1]),
)
@example(posted=[(0, 0, 64, 4096, 0)] * 2 + [(0, 9, 64, 0, 0)], lengths=[64], overrun=0)
@example(posted=[(0, 0, 64, 4096, 0)] * 2 + [(0, 9, 64, 0, 0)], lengths=[64] * 3, overrun=0)
def test_master_transmit_judges_posted_buffers_alike(
    posted: list[tuple[int, int, int, int, int]],
    lengths: list[int],
    overrun: int,
) -> None:
    """The master fills the buffers a (hostile) slave posted on M2S: out-of-range regions,
    overruns, zero lengths, more posted than the ring holds; only the buffers the frames
    need are looked at, as many as there are frames first."""
    outcomes = []
    with twins(log2=4, bsize=2048, refill=False) as pairs:
        for pair in pairs:
            ring = pair.slave_rx.ring  # the slave posts raw descriptors: head counts them
            for i, desc in enumerate(posted):
                ring.desc[i & ring.mask] = desc
            ring.head = len(posted) + 16 * overrun
            sizes = np.array(lengths, dtype=np.int64)
            data = np.arange(int(sizes.sum()), dtype=np.int64).astype(np.uint8)
            try:
                result: object = pair.master_tx.send_packed(data, sizes)
            except RemoteProtocolError as exc:
                result = exc.reason
            outcomes.append((result, _state(pair.master_tx), _memory(pair)))
    event("rejected" if isinstance(outcomes[0][0], str) else "sent")
    assert outcomes[0] == outcomes[1]


@pytest.mark.parametrize("skew", [-1, 0, 1, 15, 16, 17, 0x8000])
@pytest.mark.parametrize("direction", [0, 1])
def test_transmit_judges_the_peer_counter_alike(direction: int, skew: int) -> None:
    """The counter the peer moves on our transmit ring, set ``skew`` slots from ours after a
    first burst (the master's tail that far behind our head, the slave's head that far
    ahead of our tail; 16 is the whole ring, 17 and -1 a lie): judged, and the slots it
    leaves filled, alike."""
    outcomes = []
    with twins(log2=4, bsize=2048) as pairs:
        for pair in pairs:
            tx, rx = directions(pair)[direction]
            sizes = np.full(5, 100, dtype=np.int64)
            data = np.arange(500, dtype=np.int64).astype(np.uint8)
            assert tx.send_packed(data, sizes) == 5
            assert _receive(rx, 1 << 16, 5)[0] == "received"
            if tx.role is Role.SLAVE:
                tx.ring.tail = tx._next - skew
            else:
                tx.ring.head = tx._next + skew
            try:
                result: object = tx.send_packed(np.zeros(2000, np.uint8), np.full(20, 100))
            except RemoteProtocolError as exc:
                result = exc.reason
            outcomes.append((result, _state(tx), _memory(pair)))
    assert outcomes[0] == outcomes[1]


def test_kernel_is_named() -> None:
    assert kernel.describe().startswith("numba ")


@pytest.mark.parametrize(
    ("data_size", "lengths"),
    [(16, [8, 0]), (16, [8, -1, 8]), (8, [8, 8]), (100, [40, 40, 40])],
)
@pytest.mark.parametrize("direction", [0, 1])
def test_local_misuse_is_refused_alike(direction: int, data_size: int, lengths: list[int]) -> None:
    """An empty frame, or fewer bytes packed than the lengths add up to: refused before
    anything is written, with the same words."""
    outcomes = []
    with twins(log2=4, bsize=2048) as pairs:
        for pair in pairs:
            tx, _ = directions(pair)[direction]
            with pytest.raises(LocalProtocolError) as excinfo:
                tx.send_packed(np.zeros(data_size, np.uint8), np.array(lengths, np.int64))
            outcomes.append((str(excinfo.value), _state(tx), _memory(pair)))
    assert outcomes[0] == outcomes[1]


def test_links_of_many_regions_take_the_numpy_path() -> None:
    """Numba compiles once per region count: past MAX_REGIONS the queue does not use it,
    so a peer cannot make us compile for every count up to 255."""
    layout = CopyLayout(n_s2m=1, n_m2s=1, log2_ring_size=4, buffer_size=2048)
    regions = [Region.create(layout.size) for _ in range(kernel.MAX_REGIONS + 1)]
    try:
        ring = Ring(regions[0], layout.ring_offset(RingType.S2M, 0), 4)
        ring.init()
        few = RxQueue(Role.MASTER, ring, regions[: kernel.MAX_REGIONS])
        many = RxQueue(Role.MASTER, ring, regions)
        assert few.kernels is not None
        assert many.kernels is None
    finally:
        for region in regions:
            region.close()
