"""Byte layout of rings, descriptors and the slave's copy-mode region (protocol.md A.3, A.4).

A ring is ``cookie u32 @0, flags u16 @4, head u16 @6, tail u16 @CL`` followed by
``2**log2`` descriptors at ``2*CL``, where CL is the cache-line size the peer was built
with (64, or 128 for aarch64 builds of libmemif/VPP).
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from ..protocol.constants import (
    DEFAULT_BUFFER_SIZE,
    DEFAULT_CACHELINE,
    DEFAULT_LOG2_RING_SIZE,
    MAX_BUFFER_SIZE,
    MAX_LOG2_RING_SIZE,
    RingType,
)
from ..protocol.errors import LocalProtocolError

__all__ = [
    "COOKIE_OFFSET",
    "DESC_DTYPE",
    "DESC_SIZE",
    "FLAGS_OFFSET",
    "HEAD_OFFSET",
    "U32_MAX",
    "CopyLayout",
    "check_cacheline",
    "desc_offset",
    "ring_bytes",
    "tail_offset",
]

#: One descriptor (memif.h ``memif_desc_t``), little-endian, 16 bytes.
DESC_DTYPE = np.dtype(
    {
        "names": ["flags", "region", "length", "offset", "metadata"],
        "formats": ["<u2", "<u2", "<u4", "<u4", "<u4"],
        "offsets": [0, 2, 4, 8, 12],
        "itemsize": 16,
    }
)
DESC_SIZE = 16
COOKIE_OFFSET = 0
FLAGS_OFFSET = 4
HEAD_OFFSET = 6
U32_MAX = 0xFFFF_FFFF


def check_cacheline(cacheline: int) -> None:
    """Reject a cache-line size that cannot hold the header (a power of two >= 8)."""
    if cacheline < 8 or cacheline & (cacheline - 1):
        raise LocalProtocolError(f"cache-line size {cacheline} is not a power of two >= 8")


def tail_offset(cacheline: int = DEFAULT_CACHELINE) -> int:
    """Offset of the u16 ``tail`` in a ring header."""
    check_cacheline(cacheline)
    return cacheline


def desc_offset(cacheline: int = DEFAULT_CACHELINE) -> int:
    """Offset of the descriptor array (= ``sizeof(memif_ring_t)``)."""
    check_cacheline(cacheline)
    return 2 * cacheline


def ring_bytes(
    log2_size: int, cacheline: int = DEFAULT_CACHELINE, desc_size: int = DESC_SIZE
) -> int:
    """Bytes one ring takes: header plus ``2**log2_size`` descriptors of ``desc_size`` bytes
    (16 in protocol 2.0, 32 in 1.0)."""
    if not 0 <= log2_size <= MAX_LOG2_RING_SIZE:
        raise LocalProtocolError(f"log2 ring size {log2_size} not in 0..{MAX_LOG2_RING_SIZE}")
    return desc_offset(cacheline) + desc_size * (1 << log2_size)


@dataclasses.dataclass(frozen=True, kw_only=True)
class CopyLayout:
    """The slave's single copy-mode region, laid out as VPP and DPDK do.

    ``[S2M rings 0..n_s2m-1][M2S rings 0..n_m2s-1][buffers]``; every slot of every ring
    owns one ``buffer_size`` buffer. Offsets are Python ints (no u16 slot wrap, A.4).

    >>> CopyLayout(n_s2m=1, n_m2s=1, log2_ring_size=9, buffer_size=1024).size
    1065216
    """

    n_s2m: int
    n_m2s: int
    log2_ring_size: int = DEFAULT_LOG2_RING_SIZE
    buffer_size: int = DEFAULT_BUFFER_SIZE
    cacheline: int = DEFAULT_CACHELINE
    #: Bytes per descriptor and the largest buffer offset a descriptor holds.
    DESC_BYTES: ClassVar[int] = DESC_SIZE
    MAX_OFFSET: ClassVar[int] = U32_MAX

    def __post_init__(self) -> None:
        if self.n_s2m < 0 or self.n_m2s < 0 or self.n_s2m + self.n_m2s == 0:
            raise LocalProtocolError(f"bad ring counts {self.n_s2m} S2M / {self.n_m2s} M2S")
        if not 1 <= self.buffer_size <= MAX_BUFFER_SIZE:
            raise LocalProtocolError(f"buffer size {self.buffer_size} not in 1..{MAX_BUFFER_SIZE}")
        last = self.size - self.buffer_size  # also validates log2 and cache line
        if last > self.MAX_OFFSET:
            raise LocalProtocolError(f"buffer offset {last} does not fit the descriptor offset")

    @property
    def ring_size(self) -> int:
        """Slots per ring."""
        return 1 << self.log2_ring_size

    @property
    def ring_bytes(self) -> int:
        """Bytes per ring (header and descriptors)."""
        return ring_bytes(self.log2_ring_size, self.cacheline, self.DESC_BYTES)

    @property
    def buffer_offset(self) -> int:
        """Offset of the first packet buffer (just after the last ring)."""
        return (self.n_s2m + self.n_m2s) * self.ring_bytes

    @property
    def size(self) -> int:
        """Total region size in bytes."""
        slots = (self.n_s2m + self.n_m2s) * self.ring_size
        return self.buffer_offset + slots * self.buffer_size

    def _ring_number(self, ring_type: RingType, index: int) -> int:
        count = self.n_s2m if ring_type is RingType.S2M else self.n_m2s
        if not 0 <= index < count:
            raise LocalProtocolError(f"no {ring_type.name} ring {index} (have {count})")
        return index + (self.n_s2m if ring_type is RingType.M2S else 0)

    def ring_offset(self, ring_type: RingType, index: int) -> int:
        """Offset of ring ``index`` of ``ring_type`` (the ADD_RING offset)."""
        return self._ring_number(ring_type, index) * self.ring_bytes

    def slot_offset(self, ring_type: RingType, index: int, slot: int) -> int:
        """Offset of the buffer owned by ``slot`` of the given ring."""
        if not 0 <= slot < self.ring_size:
            raise LocalProtocolError(f"slot {slot} not in 0..{self.ring_size - 1}")
        ring_number = self._ring_number(ring_type, index)
        return self.buffer_offset + (ring_number * self.ring_size + slot) * self.buffer_size

    def slot_offsets(self, ring_type: RingType, index: int) -> npt.NDArray[np.int64]:
        """Buffer offsets of every slot of the given ring, indexed by slot."""
        first = self.slot_offset(ring_type, index, 0)
        return first + np.arange(self.ring_size, dtype=np.int64) * self.buffer_size
