"""Byte layout of protocol 1.0 rings and descriptors (protocol.md A.13).

Written from FDio/vpp 64ebb5ff133 ``src/plugins/memif/memif.h``: the ring header is the one
of 2.0 (cookie u32 @0, flags u16 @4, head u16 @6, tail u16 @CL, descriptors @2*CL;
memif.h:164-175) but holds the 1.0 cookie ``0x3E31F10`` (memif.h:25), and each descriptor is
32 bytes (memif.h:146-159)::

    0 flags u16   2 region u16   4 buffer_length u32   8 length u32   12 reserved[4]
    16 offset u64   24 metadata u64

The slave's copy-mode region is laid out as in 2.0 (rings, then one buffer per slot;
64ebb5ff133 memif.c:263-322) and every descriptor is given its buffer (region 0, offset,
``buffer_length`` = buffer size) once, when the slave creates the region; the buffers never
move afterwards.
"""

from __future__ import annotations

import dataclasses
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from ..protocol.constants import RingType
from .layout import CopyLayout

__all__ = ["DESC_V1_DTYPE", "DESC_V1_SIZE", "U64_MAX", "CopyLayoutV1"]

#: One 1.0 descriptor (``memif_desc_t`` of 64ebb5ff133), little-endian, 32 bytes.
DESC_V1_DTYPE = np.dtype(
    {
        "names": ["flags", "region", "buffer_length", "length", "reserved", "offset", "metadata"],
        "formats": ["<u2", "<u2", "<u4", "<u4", "V4", "<u8", "<u8"],
        "offsets": [0, 2, 4, 8, 12, 16, 24],
        "itemsize": 32,
    }
)
DESC_V1_SIZE = 32
U64_MAX = 0xFFFF_FFFF_FFFF_FFFF


@dataclasses.dataclass(frozen=True, kw_only=True)
class CopyLayoutV1(CopyLayout):
    """The 1.0 slave's single region: as :class:`CopyLayout` with 32-byte descriptors and
    u64 buffer offsets (``memif_region_offset_t``, memif.h:61).

    >>> CopyLayoutV1(n_s2m=1, n_m2s=1, log2_ring_size=9, buffer_size=1024).size
    1081600
    """

    DESC_BYTES: ClassVar[int] = DESC_V1_SIZE
    MAX_OFFSET: ClassVar[int] = U64_MAX

    def assign_buffers(self, desc: npt.NDArray[np.void], ring_type: RingType, index: int) -> None:
        """Give every descriptor of a ring its buffer, as the 1.0 slave does once at region
        creation (64ebb5ff133 memif.c:299-306, 313-321): region 0, the slot's offset,
        ``buffer_length`` = buffer size; length, flags and metadata 0."""
        desc[...] = np.zeros(1, dtype=desc.dtype)
        desc["offset"] = self.slot_offsets(ring_type, index)
        desc["buffer_length"] = self.buffer_size
