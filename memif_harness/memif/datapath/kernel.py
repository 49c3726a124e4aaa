"""Compiled kernels for the bulk paths (``send``/``send_packed``, ``recv_into``, the slave's
re-posting), with Numba when it is installed (the ``fast`` extra).

Each kernel does in one compiled loop what :mod:`.queue`'s numpy path does in some forty
numpy calls a burst, with the same semantics: every descriptor the peer wrote is read once
into a snapshot, the snapshot is validated, and only then are bytes copied. A kernel only
*finds* a violation; the queue then puts the snapshot through the numpy checks, which count
the bad descriptors and raise the very :class:`RemoteProtocolError` the numpy path raises
(``tests/test_kernel.py`` checks both paths agree, property by property).

The kernels live in :mod:`.kernel_numba`, compiled on first use and cached on disk.
``MEMIF_HARNESS_KERNEL=numpy`` turns them off; without Numba the numpy path runs.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Callable

#: Environment variable: ``numpy`` keeps the bulk paths on numpy even with Numba installed.
KERNEL_ENV = "MEMIF_HARNESS_KERNEL"

#: Kernel results (first element of the tuple each returns).
OK, LONG_CHAIN, NEXT_EVERYWHERE, BAD_DESCRIPTOR, NO_ROOM, EMPTY_FRAME, SHORT_DATA = range(7)

#: Rows of a snapshot: the peer's descriptor fields, read once.
FLAGS, REGION, LENGTH, OFFSET, METADATA = range(5)


@dataclasses.dataclass(frozen=True)
class Kernels:
    """The compiled kernels, and what compiled them."""

    name: str
    rx_gather: Callable[..., tuple[int, int, int, int]]
    tx_place: Callable[..., tuple[int, int, int, int, int]]
    post_buffers: Callable[..., None]


@functools.cache
def load() -> Kernels | None:
    """The kernels, compiled by Numba on first call; None when Numba is missing or
    ``MEMIF_HARNESS_KERNEL=numpy``."""
    if os.environ.get(KERNEL_ENV, "").lower() == "numpy":
        return None
    try:
        from . import kernel_numba  # noqa: PLC0415  (Numba is an optional extra)
    except ImportError:
        return None
    return Kernels(
        f"numba {kernel_numba.VERSION}",
        kernel_numba.rx_gather,
        kernel_numba.tx_place,
        kernel_numba.post_buffers,
    )


def describe() -> str:
    """What runs the bulk paths here, for benchmarks and reports."""
    kernels = load()
    return kernels.name if kernels else "numpy"
