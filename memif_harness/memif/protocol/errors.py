"""Error codes mirroring libmemif's ``memif_err_t`` and the typed exceptions built on them.

Errors are split by who broke the rules (the h11 way): :class:`LocalProtocolError` when our
caller misused the API, :class:`RemoteProtocolError` when the peer sent something invalid.
A remote error carries the reason string we put in the DISCONNECT we send back.
"""

from __future__ import annotations

import enum


class ErrorCode(enum.IntEnum):
    """libmemif 4.0 error codes, same names and numbers (libmemif.h ``memif_err_t``)."""

    SUCCESS = 0
    SYSCALL = 1
    CONNREFUSED = 2
    ACCES = 3
    NO_FILE = 4
    FILE_LIMIT = 5
    PROC_FILE_LIMIT = 6
    ALREADY = 7
    AGAIN = 8
    BAD_FD = 9
    NOMEM = 10
    INVAL_ARG = 11
    NOCONN = 12
    CONN = 13
    CB_FDUPDATE = 14
    FILE_NOT_SOCK = 15
    NO_SHMFD = 16
    COOKIE = 17
    NOBUF_RING = 18
    NOBUF = 19
    NOBUF_DET = 20
    INT_WRITE = 21
    MFMSG = 22
    QID = 23
    PROTO = 24
    ID = 25
    ACCSLAVE = 26
    ALRCONN = 27
    MODE = 28
    SECRET = 29
    NOSECRET = 30
    MAXREG = 31
    MAXRING = 32
    NO_INTFD = 33
    DISCONNECT = 34
    DISCONNECTED = 35
    UNKNOWN_MSG = 36
    POLL_CANCEL = 37
    MAX_RING = 38
    PRIVHDR = 39


_MESSAGES: dict[ErrorCode, str] = {
    ErrorCode.SUCCESS: "Success.",
    ErrorCode.SYSCALL: "Unspecified syscall error (build with -DMEMIF_DBG or make debug).",
    ErrorCode.CONNREFUSED: "Connection refused",
    ErrorCode.ACCES: "Permission to resource denied.",
    ErrorCode.NO_FILE: "Socket file does not exist",
    ErrorCode.FILE_LIMIT: "System limit on total numer of open files reached.",
    ErrorCode.PROC_FILE_LIMIT: "Per-process limit on total number of open files reached.",
    ErrorCode.ALREADY: "Connection already requested.",
    ErrorCode.AGAIN: "File descriptor refers to file other than socket, or operation would block.",
    ErrorCode.BAD_FD: "Bad file descriptor.",
    ErrorCode.NOMEM: "Out of memory.",
    ErrorCode.INVAL_ARG: "Invalid argument.",
    ErrorCode.NOCONN: "Memif connection handle does not point to existing connection",
    ErrorCode.CONN: "Memif connection handle points to existing connection",
    ErrorCode.CB_FDUPDATE: "Callback memif_control_fd_update_t returned error",
    ErrorCode.FILE_NOT_SOCK: "File specified by socket filename exists and is not socket.",
    ErrorCode.NO_SHMFD: "Missing shared memory file descriptor. (internal error)",
    ErrorCode.COOKIE: "Invalid cookie on ring. (internal error)",
    ErrorCode.NOBUF_RING: "Ring buffer full.",
    ErrorCode.NOBUF: "Not enough memif buffers. There are unreceived data in shared memory.",
    ErrorCode.NOBUF_DET: "Not enough space for memif details in supplied buffer. String data might be malformed.",  # noqa: E501
    ErrorCode.INT_WRITE: "Send interrupt error.",
    ErrorCode.MFMSG: "Malformed message received on control channel.",
    ErrorCode.QID: "Invalid queue id",
    ErrorCode.PROTO: "Incompatible memory interface protocol version.",
    ErrorCode.ID: "Unmatched interface id.",
    ErrorCode.ACCSLAVE: "Slave cannot accept connection request.",
    ErrorCode.ALRCONN: "Interface is already connected.",
    ErrorCode.MODE: "Mode mismatch.",
    ErrorCode.SECRET: "Secret mismatch.",
    ErrorCode.NOSECRET: "Secret required.",
    ErrorCode.MAXREG: "Limit on total number of regions reached.",
    ErrorCode.MAXRING: "Limit on total number of ring reached.",
    ErrorCode.NO_INTFD: "Missing interrupt file descriptor. (internal error)",
    ErrorCode.DISCONNECT: "Interface received disconnect request.",
    ErrorCode.DISCONNECTED: "Interface is disconnected.",
    ErrorCode.UNKNOWN_MSG: "Unknown message type received on control channel. (internal error)",
    ErrorCode.POLL_CANCEL: "Memif event polling was canceled.",
    ErrorCode.MAX_RING: "Maximum log2 ring size is 15",
    ErrorCode.PRIVHDR: "Private headers not supported.",
}


def strerror(code: int) -> str:
    """Text for an error code, as ``memif_strerror`` gives it ("undefined error" for a code
    it does not know)."""
    try:
        return _MESSAGES[ErrorCode(code)]
    except ValueError:
        return "undefined error"


class MemifError(Exception):
    """Base of every error this package raises; carries a libmemif error code."""

    code: ErrorCode = ErrorCode.SYSCALL

    def __init__(self, message: str, code: ErrorCode | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class LocalProtocolError(MemifError):
    """We (our caller) asked for something the protocol or the API does not allow."""

    code = ErrorCode.INVAL_ARG


class RemoteProtocolError(MemifError):
    """The peer broke the protocol; ``reason`` is the DISCONNECT string we send for it."""

    code = ErrorCode.PROTO

    def __init__(self, reason: str, code: ErrorCode | None = None) -> None:
        super().__init__(reason, code)
        self.reason = reason


class RingFull(MemifError):
    """No free slots on a TX ring: back-pressure, nothing was overwritten."""

    code = ErrorCode.NOBUF_RING
