"""The thin I/O layer of the control channel: SOCK_SEQPACKET sockets with fd passing.

Addresses are filesystem paths or ``@name`` for the abstract namespace (``\\0name`` on the
wire, no trailing NUL, as libmemif and DPDK spell it). Every function here does I/O; the
protocol logic lives in :mod:`memif_harness.memif.protocol.control`.
"""

from __future__ import annotations

import array
import contextlib
import ctypes
import ctypes.util
import errno
import os
import socket
import stat
import struct

from ..protocol.constants import MSG_SIZE
from ..protocol.errors import ErrorCode, MemifError

#: Room for a few fds more than the one a message may carry, so extras are seen, not lost.
_MAX_FDS = 4
_ANCILLARY = socket.CMSG_SPACE(_MAX_FDS * array.array("i").itemsize)
_SUN_PATH = 108


def address(name: str) -> str:
    """The ``bind``/``connect`` address for a socket name (``@x`` becomes abstract ``\\0x``)."""
    addr = "\0" + name[1:] if name.startswith("@") else name
    if len(addr.encode()) >= _SUN_PATH:
        raise MemifError(
            f"socket name longer than {_SUN_PATH - 1} bytes: {name}", ErrorCode.INVAL_ARG
        )
    return addr


def is_abstract(name: str) -> bool:
    """Whether ``name`` lives in the abstract namespace."""
    return name.startswith("@")


def _seqpacket() -> socket.socket:
    return socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)


def _error_code(exc: OSError) -> ErrorCode:
    return {
        errno.ECONNREFUSED: ErrorCode.CONNREFUSED,
        errno.ENOENT: ErrorCode.NO_FILE,
        errno.EACCES: ErrorCode.ACCES,
        errno.EAGAIN: ErrorCode.AGAIN,
        errno.EMFILE: ErrorCode.PROC_FILE_LIMIT,
        errno.ENFILE: ErrorCode.FILE_LIMIT,
        errno.ENOTSOCK: ErrorCode.FILE_NOT_SOCK,
    }.get(exc.errno or 0, ErrorCode.SYSCALL)


def _stale(addr: str) -> bool:
    """Whether nobody is bound at the socket file ``addr``: connecting is refused.

    A socket of another type bound there (another program's stream or datagram socket)
    answers EPROTOTYPE, a busy listener EAGAIN: both are alive and left alone.
    """
    probe = _seqpacket()
    probe.setblocking(False)
    try:
        probe.connect(addr)
    except ConnectionRefusedError:
        return True
    except OSError:
        return False
    finally:
        probe.close()
    return False


def listen(name: str, backlog: int = 5) -> socket.socket:
    """A listening socket for master interfaces (VPP's rules for what already exists).

    A stale socket file (nobody bound to it) is removed; a live socket of any type, or a
    file that is not a socket, is an error (``Active listener on ...`` / ``File ... already
    exists``).
    """
    addr = address(name)
    if not is_abstract(name):
        with contextlib.suppress(FileNotFoundError):
            if not stat.S_ISSOCK(os.stat(name).st_mode):
                raise MemifError(f"File '{name}' already exists", ErrorCode.FILE_NOT_SOCK)
            if not _stale(addr):
                raise MemifError(f"Active listener on '{name}'", ErrorCode.ALREADY)
            os.unlink(name)
    sock = _seqpacket()
    try:
        sock.bind(addr)
        sock.listen(backlog)
    except OSError as exc:
        sock.close()
        raise MemifError(f"listen on {name}: {exc.strerror}", _error_code(exc)) from exc
    sock.setblocking(False)
    return sock


def file_id(name: str) -> tuple[int, int] | None:
    """``(device, inode)`` of the socket file ``name``; None if abstract or absent."""
    if is_abstract(name):
        return None
    try:
        st = os.stat(name)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def unlink_if_ours(name: str, ours: tuple[int, int] | None) -> None:
    """Remove the socket file ``name`` if it still is the file ``ours`` identifies (one we
    created: someone may have replaced it meanwhile)."""
    if ours is not None and file_id(name) == ours:
        with contextlib.suppress(OSError):
            os.unlink(name)


def connect(name: str) -> socket.socket:
    """Connect to a master's socket (UNIX connects complete at once or fail)."""
    sock = _seqpacket()
    try:
        sock.connect(address(name))
    except OSError as exc:
        sock.close()
        raise MemifError(f"connect to {name}: {exc.strerror}", _error_code(exc)) from exc
    sock.setblocking(False)
    return sock


def send(sock: socket.socket, data: bytes, fd: int | None = None) -> None:
    """Send one datagram with at most one fd."""
    ancillary = []
    if fd is not None:
        ancillary = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, struct.pack("i", fd))]
    sock.sendmsg([data], ancillary)


class Truncated:
    """What :func:`receive` returns for a datagram whose fds did not fit (MSG_CTRUNC)."""


#: The one :class:`Truncated` value; the fds that did arrive are already closed.
TRUNCATED = Truncated()


def receive(sock: socket.socket) -> tuple[bytes, list[int]] | Truncated | None:
    """One datagram and the fds that came with it; ``None`` when nothing is waiting.

    An EOF is returned as ``(b"", [])``. A datagram larger than 128 bytes is returned at
    its true length (up to one byte more), so the caller can call it malformed. A datagram
    with more fds than we make room for returns :data:`TRUNCATED`.
    """
    try:
        data, ancdata, flags, _ = sock.recvmsg(MSG_SIZE + 1, _ANCILLARY)
    except BlockingIOError:
        return None
    except ConnectionResetError:
        return b"", []
    fds: list[int] = []
    for level, kind, payload in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            arr = array.array("i")
            arr.frombytes(payload[: len(payload) - len(payload) % arr.itemsize])
            fds.extend(arr)
    if flags & socket.MSG_CTRUNC:
        for fd in fds:
            os.close(fd)
        return TRUNCATED
    return data, fds


class TimerFd:
    """A periodic timerfd (the slave's reconnect timer), via libc: Python 3.11 has none."""

    _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    _CLOCK_MONOTONIC = 1
    _TFD_NONBLOCK_CLOEXEC = os.O_NONBLOCK | os.O_CLOEXEC

    def __init__(self) -> None:
        fd = self._libc.timerfd_create(self._CLOCK_MONOTONIC, self._TFD_NONBLOCK_CLOEXEC)
        if fd < 0:
            err = ctypes.get_errno()
            raise MemifError(f"timerfd_create: {os.strerror(err)}", ErrorCode.SYSCALL)
        self.fd: int = fd
        self.period = 0.0

    def arm(self, period: float) -> None:
        """Fire every ``period`` seconds, first after ``period``; 0 disarms."""
        sec, nsec = int(period), int((period % 1) * 1e9)
        spec = struct.pack("llll", sec, nsec, sec, nsec)
        buf = ctypes.create_string_buffer(spec)
        if self._libc.timerfd_settime(self.fd, 0, buf, None) < 0:
            err = ctypes.get_errno()
            raise MemifError(f"timerfd_settime: {os.strerror(err)}", ErrorCode.SYSCALL)
        self.period = period

    def disarm(self) -> None:
        """Stop the timer."""
        self.arm(0.0)

    def consume(self) -> int:
        """How many expirations happened since the last call (0 if none)."""
        try:
            return int.from_bytes(os.read(self.fd, 8), "little")
        except BlockingIOError:
            return 0

    def close(self) -> None:
        """Close the fd; idempotent."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
