"""Compiled kernels for the bulk paths (``send``/``send_packed``, ``recv_into``, the slave's
re-posting), with Numba when it is installed (the ``fast`` extra).

Each kernel does in one compiled loop what :mod:`.queue`'s numpy path does in some forty
numpy calls a burst, with the same semantics: every descriptor the peer wrote is read once
into a snapshot, the snapshot is validated, and only then are bytes copied. A kernel only
*finds* a violation; the queue then puts the snapshot through the numpy checks, which count
the bad descriptors and raise the very :class:`RemoteProtocolError` the numpy path raises
(``tests/test_kernel.py`` checks both paths agree, property by property).

The kernels live in :mod:`.kernel_numba`; :func:`warm` compiles them, or loads them from
Numba's cache on disk, before a link comes up. ``MEMIF_HARNESS_KERNEL=numpy`` turns them off;
without Numba the numpy path runs.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import sys
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

#: Environment variable: ``numpy`` keeps the bulk paths on numpy even with Numba installed.
KERNEL_ENV = "MEMIF_HARNESS_KERNEL"

#: Most regions a link may have for its queues to take the kernels; more take the numpy path.
#: Numba compiles once per region count (the regions are a tuple): a copy-mode link has 1, a
#: zero-copy VPP 2 to 4, and a peer must not make us compile for 255 counts.
MAX_REGIONS = 4

#: Kernel results (first element of the tuple each returns).
OK, LONG_CHAIN, NEXT_EVERYWHERE, BAD_DESCRIPTOR, NO_ROOM, EMPTY_FRAME, SHORT_DATA, BAD_COUNTER = (
    range(8)
)

#: Rows of a snapshot: the peer's descriptor fields, read once.
FLAGS, REGION, LENGTH, OFFSET, METADATA = range(5)

#: Items of a receive queue's ``config`` for ``rx_burst``: ring size - 1, the longest chain,
#: the ethernet-mode descriptor limit (0: none), the producer's and our counter (u16 words
#: of the ring header), and the slave's buffer size (0: we are the master).
RX_MASK, RX_MAX_CHAIN, RX_ETH_MAX, RX_PRODUCER, RX_CONSUMER, RX_BUFFER_SIZE = range(6)


def rx_config(
    *, mask: int, max_chain: int, eth_max: int, producer: int, consumer: int, buffer_size: int
) -> npt.NDArray[np.int64]:
    """A receive queue's ``config`` for ``rx_burst`` (:data:`RX_MASK` ...)."""
    return np.array([mask, max_chain, eth_max, producer, consumer, buffer_size], dtype=np.int64)


#: Items of a transmit queue's ``config`` for ``tx_burst``: ring size - 1, the capacity of
#: the slave's own buffers (0: we are the master), the ethernet-mode descriptor limit (0:
#: none), the peer's counter and ours (u16 words of the ring header).
TX_MASK, TX_SLOT_CAPACITY, TX_ETH_MAX, TX_PEER, TX_OURS = range(5)


def tx_config(
    *, mask: int, slot_capacity: int, eth_max: int, peer: int, ours: int
) -> npt.NDArray[np.int64]:
    """A transmit queue's ``config`` for ``tx_burst`` (:data:`TX_MASK` ...)."""
    return np.array([mask, slot_capacity, eth_max, peer, ours], dtype=np.int64)


@dataclasses.dataclass(frozen=True)
class Kernels:
    """The compiled kernels, and what compiled them."""

    name: str
    rx_burst: Callable[..., tuple[int, int, int, int]]
    tx_burst: Callable[..., tuple[int, int, int, int, int, int]]
    post_buffers: Callable[..., None]


@functools.cache
def load() -> Kernels | None:
    """The kernels, compiled by Numba on first call; None when Numba is missing or
    ``MEMIF_HARNESS_KERNEL=numpy``."""
    if os.environ.get(KERNEL_ENV, "").lower() == "numpy" or sys.byteorder != "little":
        return None  # the kernels read descriptors as native words: memif's are little-endian
    try:
        from . import kernel_numba  # noqa: PLC0415  (Numba is an optional extra)
    except ImportError:
        return None
    return Kernels(
        f"numba {kernel_numba.VERSION}",
        kernel_numba.rx_burst,
        kernel_numba.tx_burst,
        kernel_numba.post_buffers,
    )


@functools.cache
def warm(n_regions: int) -> None:
    """Compile the kernels for links of ``n_regions`` regions now (or load them from Numba's
    cache: milliseconds), so that no link waits for Numba once it is up: an interface warms
    1 region when it is created, a master its peer's count while it builds its queues,
    before it sends CONNECTED."""
    kernels = load()
    if kernels is None:
        return
    desc = np.zeros((1, 4), dtype=np.uint32)  # a ring's descriptors as words
    bufs = tuple(np.zeros(1, dtype=np.uint8) for _ in range(n_regions))
    i64, snap, out = np.zeros(1, np.int64), np.zeros((5, 1), np.int64), np.zeros(1, np.uint8)
    words = np.zeros(1, np.uint16)
    config = tx_config(mask=0, slot_capacity=0, eth_max=0, peer=0, ours=0)
    for data in (out, np.frombuffer(b"\0", np.uint8)):  # send_packed's and send()'s
        kernels.tx_burst(desc, words, config, 0, i64, bufs, i64, snap, data, i64)
    config = rx_config(mask=0, max_chain=0, eth_max=0, producer=0, consumer=0, buffer_size=0)
    kernels.rx_burst(desc, words, config, 0, 0, bufs, i64, i64, i64, snap, out, i64)
    kernels.post_buffers(desc, 0, 0, 0, i64, 0, 1, i64)


def describe() -> str:
    """What runs the bulk paths here, for benchmarks and reports."""
    kernels = load()
    return kernels.name if kernels else "numpy"
