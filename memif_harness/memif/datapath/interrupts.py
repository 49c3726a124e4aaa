"""Interrupts and rx mode of one ring, the same in both protocol versions (protocol.md A.7).

The ring's consumer sets ``MASK_INT`` to poll and clears it to be woken; the producer writes
the u64 ``1`` to the ring's eventfd after publishing, unless the consumer masked it.
"""

from __future__ import annotations

import os

from ..protocol.constants import RING_FLAG_MASK_INT, RxMode
from ..protocol.errors import RemoteProtocolError
from .ring import Ring

__all__ = ["read_eventfd", "set_mask", "signal_eventfd"]


def signal_eventfd(eventfd: int | None, ring: Ring, name: str) -> bool:
    """Signal the peer unless it set MASK_INT on ``ring``; return whether it was written."""
    if eventfd is None or ring.flags & RING_FLAG_MASK_INT:
        return False
    try:
        os.eventfd_write(eventfd, 1)
    except BlockingIOError:  # counter saturated: an interrupt is pending anyway
        return False
    except OSError as exc:  # the slave passed something else than an eventfd
        raise RemoteProtocolError(
            f"ring {name} interrupt fd cannot be written: {exc.strerror}"
        ) from None
    return True


def read_eventfd(eventfd: int | None, name: str) -> int:
    """Read the eventfd without blocking; the count of signals pending (0 if none)."""
    if eventfd is None:
        return 0
    try:
        return os.eventfd_read(eventfd)
    except BlockingIOError:
        return 0
    except OSError as exc:  # the slave passed something else than an eventfd
        raise RemoteProtocolError(
            f"ring {name} interrupt fd cannot be read: {exc.strerror}"
        ) from None


def set_mask(ring: Ring, mode: RxMode) -> None:
    """Set (polling) or clear (interrupt) MASK_INT on the ring we consume."""
    flags = ring.flags
    if mode is RxMode.POLLING:
        ring.flags = flags | RING_FLAG_MASK_INT
    else:
        ring.flags = flags & ~RING_FLAG_MASK_INT
