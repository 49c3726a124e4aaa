"""One ring inside a mapped region: header fields and the descriptor array (protocol.md A.3).

Head and tail are free-running u16 counters: the slave writes ``head``, the master writes
``tail``, the ring's consumer writes ``flags`` (A.6, A.7). A ring built with ``version=0x0100``
has the 1.0 cookie and 32-byte descriptors (:mod:`.layout_v1`); what its counters mean is the
queue's business (:mod:`.queue_v1`).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ..protocol.constants import DEFAULT_CACHELINE, MAX_LOG2_RING_SIZE, VERSION
from ..protocol.errors import LocalProtocolError, RemoteProtocolError
from ..protocol.versions import VERSION_V1, cookie_of
from .layout import (
    COOKIE_OFFSET,
    DESC_DTYPE,
    DESC_SIZE,
    FLAGS_OFFSET,
    HEAD_OFFSET,
    check_cacheline,
    desc_offset,
    ring_bytes,
)
from .layout_v1 import DESC_V1_DTYPE
from .shm import Region

__all__ = ["Ring"]


def _desc_dtype(version: int) -> np.dtype[np.void]:
    return DESC_V1_DTYPE if version == VERSION_V1 else DESC_DTYPE


def _misfit(
    region: Region, offset: int, log2_size: int, cacheline: int, desc_size: int = DESC_SIZE
) -> str | None:
    """Why a ring cannot live at ``offset`` of ``region``, or None when it fits."""
    check_cacheline(cacheline)
    if not 0 <= log2_size <= MAX_LOG2_RING_SIZE:
        return f"log2 ring size {log2_size} not in 0..{MAX_LOG2_RING_SIZE}"
    end = offset + ring_bytes(log2_size, cacheline, desc_size)
    if offset < 0 or end > region.size:
        return (
            f"ring of {1 << log2_size} slots at offset {offset} ends at {end}, "
            f"beyond region {region.index} ({region.size} bytes)"
        )
    return None


class Ring:
    """View of one ring at ``offset`` in ``region``; raises LocalProtocolError if it misfits.

    Counter setters store the value modulo 2**16.
    """

    def __init__(
        self,
        region: Region,
        offset: int,
        log2_size: int,
        cacheline: int = DEFAULT_CACHELINE,
        *,
        version: int = VERSION,
    ) -> None:
        dtype = _desc_dtype(version)
        reason = _misfit(region, offset, log2_size, cacheline, dtype.itemsize)
        if reason is not None:
            raise LocalProtocolError(reason)
        self.region = region
        self.offset = offset
        self.log2_size = log2_size
        self.cacheline = cacheline
        self.version = version
        self.expected_cookie = cookie_of(version)
        self.size = 1 << log2_size
        self.mask = self.size - 1
        start = offset + desc_offset(cacheline)
        header = region.buf[offset:start]
        self._cookie = header[COOKIE_OFFSET : COOKIE_OFFSET + 4].view("<u4")
        #: The header as u16 words, and where ``head`` and ``tail`` are in it (for kernels).
        self.words: npt.NDArray[np.uint16] = header.view("<u2")
        self.head_word = HEAD_OFFSET // 2
        self.tail_word = cacheline // 2
        #: The ``2**log2_size`` descriptors, a structured :data:`DESC_DTYPE` array
        #: (:data:`DESC_V1_DTYPE` in protocol 1.0).
        self.desc: npt.NDArray[np.void] = region.buf[
            start : start + dtype.itemsize * self.size
        ].view(dtype)

    @classmethod
    def locate(
        cls,
        region: Region,
        offset: int,
        log2_size: int,
        cacheline: int = DEFAULT_CACHELINE,
        *,
        version: int = VERSION,
    ) -> Ring:
        """Build a ring the peer announced (ADD_RING); RemoteProtocolError if it misfits."""
        check_cacheline(cacheline)  # ours, not the peer's: stays a LocalProtocolError
        try:
            return cls(region, offset, log2_size, cacheline, version=version)
        except LocalProtocolError as exc:
            raise RemoteProtocolError(str(exc)) from None

    def init(self) -> None:
        """Write a fresh header (slave, before ADD_RING): cookie, flags 0, head = tail = 0."""
        self.cookie = self.expected_cookie
        self.flags = 0
        self.head = 0
        self.tail = 0

    def check_cookie(self, label: str) -> None:
        """Raise ``RemoteProtocolError("wrong cookie on <label>")``, VPP's text (A.8).

        VPP says ``tx ring N`` for rings of both directions.
        """
        if self.cookie != self.expected_cookie:
            raise RemoteProtocolError(f"wrong cookie on {label}")

    @property
    def cookie(self) -> int:
        """u32 at offset 0."""
        return int(self._cookie[0])

    @cookie.setter
    def cookie(self, value: int) -> None:
        self._cookie[0] = value

    @property
    def flags(self) -> int:
        """u16 at offset 4 (bit 0: MASK_INT), written by the ring's consumer."""
        return int(self.words[FLAGS_OFFSET // 2])

    @flags.setter
    def flags(self, value: int) -> None:
        self.words[FLAGS_OFFSET // 2] = value & 0xFFFF

    @property
    def head(self) -> int:
        """u16 at offset 6, written by the slave."""
        return int(self.words[self.head_word])

    @head.setter
    def head(self, value: int) -> None:
        self.words[self.head_word] = value & 0xFFFF

    @property
    def tail(self) -> int:
        """u16 at offset CL, written by the master."""
        return int(self.words[self.tail_word])

    @tail.setter
    def tail(self, value: int) -> None:
        self.words[self.tail_word] = value & 0xFFFF

    def __repr__(self) -> str:
        return (
            f"<Ring region={self.region.index} offset={self.offset} size={self.size} "
            f"flags={self.flags} head={self.head} tail={self.tail}>"
        )
