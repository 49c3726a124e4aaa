"""Shared-memory regions: memfds we create as slave, or receive from the slave as master.

Lifetime rule: :attr:`Region.buf` and every view derived from it (rings, descriptor arrays,
frames handed out by queues) keep the mapping alive. :meth:`Region.close` closes the fd and
drops the region's own references; the memory is unmapped at once when no view is left,
otherwise when the last view is garbage-collected. A view can therefore never dangle, but
views kept after ``close()`` keep memory mapped (and still shared with the peer).

SIGBUS: touching a page of a shared mapping beyond the current end of its file kills the
process with SIGBUS, which Python cannot catch. :meth:`Region.attach` first adds
``F_SEAL_SHRINK`` and only then checks the size, so a sealed region (:attr:`Region.sealed`;
every region VPP, DPDK and libmemif send is sealable) can never shrink under us. What
remains is a peer that sends an unsealable fd (a memfd without ``MFD_ALLOW_SEALING`` or a
plain tmpfs file) and truncates it after our check: the next access to the lost pages
raises SIGBUS. Callers that do not accept this risk refuse regions with ``sealed=False``.
Regions we create are sealed against shrinking and growing.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import mmap
import os
import stat
import types
from typing import Self

import numpy as np
import numpy.typing as npt

from ..protocol.errors import LocalProtocolError, RemoteProtocolError

__all__ = ["MAX_REGION_SIZE", "Region"]

#: Largest region we map: a descriptor can address at most u32 offset + u32 length.
MAX_REGION_SIZE = 1 << 33


class Region:
    """One mapped shared-memory region (read/write, ``MAP_SHARED``).

    Build it with :meth:`create` or :meth:`attach`; the region owns its fd.
    """

    def __init__(self, fd: int, size: int, mm: mmap.mmap, *, sealed: bool, index: int) -> None:
        self._fd = fd
        self._mm: mmap.mmap | None = mm
        self._buf: npt.NDArray[np.uint8] | None = np.frombuffer(mm, dtype=np.uint8)
        self.size = size
        self.sealed = sealed
        self.index = index

    @classmethod
    def create(cls, size: int, name: str = "memif region", *, index: int = 0) -> Region:
        """Create a sealed memfd of ``size`` bytes and map it (what a slave sends)."""
        if not 0 < size <= MAX_REGION_SIZE:
            raise LocalProtocolError(f"region size {size} not in 1..{MAX_REGION_SIZE}")
        fd = os.memfd_create(name, os.MFD_ALLOW_SEALING | os.MFD_CLOEXEC)
        try:
            os.ftruncate(fd, size)
            fcntl.fcntl(fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW)
            mm = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        except BaseException:
            os.close(fd)
            raise
        return cls(fd, size, mm, sealed=True, index=index)

    @classmethod
    def attach(cls, fd: int, size: int, *, index: int = 0) -> Region:
        """Map ``size`` bytes of a region fd received from the peer; takes ownership of ``fd``.

        Raises :class:`RemoteProtocolError` (and closes ``fd``) when the size is 0 or absurd,
        the fd is not a regular file/memfd, its memory object is smaller than ``size``, or
        mmap fails. ``index`` only labels the messages.
        """
        label = f"region {index}"
        try:
            if not 0 < size <= MAX_REGION_SIZE:
                raise RemoteProtocolError(f"{label}: invalid size {size}")
            sealed = _seal_shrink(fd, label)
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise RemoteProtocolError(
                    f"{label}: fd is not a memory object (mode {st.st_mode:o})"
                )
            if st.st_size < size:
                raise RemoteProtocolError(
                    f"{label}: size {size} larger than its memory object ({st.st_size})"
                )
            try:
                mm = mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
            except OSError as exc:
                raise RemoteProtocolError(f"{label}: mmap: {exc.strerror}") from exc
        except BaseException:
            os.close(fd)
            raise
        return cls(fd, size, mm, sealed=sealed, index=index)

    @property
    def buf(self) -> npt.NDArray[np.uint8]:
        """The whole mapping as a writable uint8 array."""
        if self._buf is None:
            raise LocalProtocolError(f"region {self.index} is closed")
        return self._buf

    @property
    def fd(self) -> int:
        """The memory object's fd (what ADD_REGION carries); -1 once closed."""
        return self._fd

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._mm is None

    def close(self) -> None:
        """Close the fd and unmap (at once, or when the last outstanding view dies). Idempotent."""
        mm, self._mm, self._buf = self._mm, None, None
        if mm is None:
            return
        os.close(self._fd)
        self._fd = -1
        with contextlib.suppress(BufferError):  # views left: unmapped when the last one dies
            mm.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: types.TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"fd={self._fd}"
        return f"<Region {self.index} size={self.size} sealed={self.sealed} {state}>"


def _seal_shrink(fd: int, label: str) -> bool:
    """Add ``F_SEAL_SHRINK`` if the object allows it; return whether it is now sealed."""
    try:
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, fcntl.F_SEAL_SHRINK)
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.EINVAL):
            raise RemoteProtocolError(f"{label}: F_ADD_SEALS: {exc.strerror}") from exc
        try:
            seals = fcntl.fcntl(fd, fcntl.F_GET_SEALS)
        except OSError:
            return False
        return bool(seals & fcntl.F_SEAL_SHRINK)
    return True
