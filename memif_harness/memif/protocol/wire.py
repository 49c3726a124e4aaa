"""Control messages: pack and parse the nine 128-byte memif datagrams at their fixed offsets.

Layouts follow protocol.md A.2 (little-endian, packed). Protocol 1.0 differs only in ADD_RING
(u64 offset at 8, log2 at 16, no ``private_hdr_size``; 64ebb5ff133 memif.h:98-106, A.13):
:func:`pack` and :func:`parse` take the connection's ``version``. Parsing accepts non-zero
padding and checks only what the layout itself demands (size, known type); meaning is checked by the
state machine. Strings are NUL-terminated; senders truncate them to ``field - 1`` bytes.
"""

from __future__ import annotations

import dataclasses
import struct
from typing import ClassVar

from .constants import (
    ADD_RING_FLAG_S2M,
    MAX_LOG2_RING_SIZE,
    MAX_REGIONS,
    MAX_RINGS,
    MSG_SIZE,
    NAME_SIZE,
    REASON_SIZE,
    SECRET_SIZE,
    VERSION,
    MsgType,
)
from .errors import ErrorCode, RemoteProtocolError
from .versions import VERSION_V1

__all__ = [
    "Ack",
    "AddRegion",
    "AddRing",
    "Connect",
    "Connected",
    "Disconnect",
    "Hello",
    "Init",
    "Message",
    "pack",
    "parse",
]

_TYPE = struct.Struct("<H")
#: ADD_RING of protocol 1.0: flags, index, region, offset u64, log2_ring_size.
ADD_RING_V1 = struct.Struct("<HHHQB")


def _cstr(raw: bytes) -> str:
    """Decode a NUL-terminated field (bytes after the first NUL are ignored)."""
    return raw.split(b"\0", 1)[0].decode("utf-8", "replace")


def _field(text: str, size: int) -> bytes:
    """Encode ``text`` into a NUL-terminated field of ``size`` bytes, truncating as C senders do."""
    return text.encode()[: size - 1]


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    """Base of all control messages; ``TYPE`` is the wire type, ``FORMAT`` the payload layout."""

    TYPE: ClassVar[MsgType] = MsgType.NONE
    FORMAT: ClassVar[struct.Struct] = struct.Struct("<")

    def _values(self) -> tuple[object, ...]:
        return ()


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Ack(Message):
    """Master's acknowledgement of each slave message but CONNECT."""

    TYPE = MsgType.ACK


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Hello(Message):
    """First message of the master: its name, version range and limits."""

    TYPE = MsgType.HELLO
    FORMAT = struct.Struct(f"<{NAME_SIZE}sHHHHHB")
    name: str = ""
    min_version: int = VERSION
    max_version: int = VERSION
    max_region: int = MAX_REGIONS
    max_m2s_ring: int = MAX_RINGS
    max_s2m_ring: int = MAX_RINGS
    max_log2_ring_size: int = MAX_LOG2_RING_SIZE

    def _values(self) -> tuple[object, ...]:
        return (
            _field(self.name, NAME_SIZE),
            self.min_version,
            self.max_version,
            self.max_region,
            self.max_m2s_ring,
            self.max_s2m_ring,
            self.max_log2_ring_size,
        )


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Init(Message):
    """Slave's request to connect to interface ``id`` of the listening socket."""

    TYPE = MsgType.INIT
    FORMAT = struct.Struct(f"<HIB{SECRET_SIZE}s{NAME_SIZE}s")
    version: int = VERSION
    id: int = 0
    mode: int = 0
    secret: str = ""
    name: str = ""

    def _values(self) -> tuple[object, ...]:
        return (
            self.version,
            self.id,
            self.mode,
            _field(self.secret, SECRET_SIZE),
            _field(self.name, NAME_SIZE),
        )


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class AddRegion(Message):
    """A shared-memory region; the memfd travels with it in SCM_RIGHTS."""

    TYPE = MsgType.ADD_REGION
    FORMAT = struct.Struct("<HQ")
    index: int = 0
    size: int = 0

    def _values(self) -> tuple[object, ...]:
        return (self.index, self.size)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class AddRing(Message):
    """A ring inside a region; its interrupt eventfd travels with it in SCM_RIGHTS."""

    TYPE = MsgType.ADD_RING
    FORMAT = struct.Struct("<HHHIBH")
    flags: int = 0
    index: int = 0
    region: int = 0
    offset: int = 0
    log2_ring_size: int = 0
    private_hdr_size: int = 0

    @property
    def is_s2m(self) -> bool:
        """Whether this ring carries slave-to-master traffic."""
        return bool(self.flags & ADD_RING_FLAG_S2M)

    def _values(self) -> tuple[object, ...]:
        return (
            self.flags,
            self.index,
            self.region,
            self.offset,
            self.log2_ring_size,
            self.private_hdr_size,
        )


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Connect(Message):
    """Slave's last handshake message: its interface name."""

    TYPE = MsgType.CONNECT
    FORMAT = struct.Struct(f"<{NAME_SIZE}s")
    if_name: str = ""

    def _values(self) -> tuple[object, ...]:
        return (_field(self.if_name, NAME_SIZE),)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Connected(Message):
    """Master's answer to CONNECT: its interface name; the link is up."""

    TYPE = MsgType.CONNECTED
    FORMAT = struct.Struct(f"<{NAME_SIZE}s")
    if_name: str = ""

    def _values(self) -> tuple[object, ...]:
        return (_field(self.if_name, NAME_SIZE),)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Disconnect(Message):
    """Either side, any time: a code (normally 0) and a reason; the socket closes after it."""

    TYPE = MsgType.DISCONNECT
    FORMAT = struct.Struct(f"<I{REASON_SIZE}s")
    code: int = 0
    reason: str = ""

    def _values(self) -> tuple[object, ...]:
        return (self.code, _field(self.reason, REASON_SIZE))


MESSAGE_TYPES: dict[MsgType, type[Message]] = {
    cls.TYPE: cls for cls in (Ack, Hello, Init, AddRegion, AddRing, Connect, Connected, Disconnect)
}


def _format(cls: type[Message], version: int) -> struct.Struct:
    return ADD_RING_V1 if cls is AddRing and version == VERSION_V1 else cls.FORMAT


def pack(msg: Message, version: int = VERSION) -> bytes:
    """The exact 128-byte datagram for ``msg`` in protocol ``version``, zero-padded.

    >>> pack(AddRing(offset=2**33, log2_ring_size=10), 0x0100)[8:17].hex()
    '00000000020000000a'
    """
    fmt = _format(type(msg), version)
    values = msg._values()
    payload = fmt.pack(*values[: len(values) - (fmt is ADD_RING_V1)])
    return (_TYPE.pack(msg.TYPE) + payload).ljust(MSG_SIZE, b"\0")


def parse(data: bytes, version: int = VERSION) -> Message:
    """Decode one datagram of protocol ``version``; a wrong size or unknown type raises
    :class:`RemoteProtocolError`."""
    if len(data) != MSG_SIZE:
        raise RemoteProtocolError(
            f"recvmsg: malformed message ({len(data)} bytes, expected {MSG_SIZE})",
            ErrorCode.MFMSG,
        )
    (raw_type,) = _TYPE.unpack_from(data)
    try:
        cls = MESSAGE_TYPES[MsgType(raw_type)]
    except (ValueError, KeyError):
        raise RemoteProtocolError(
            f"unknown message type (0x{raw_type:x})", ErrorCode.UNKNOWN_MSG
        ) from None
    fields = _format(cls, version).unpack_from(data, _TYPE.size)
    if cls is Hello:
        name, *rest = fields
        return Hello(
            name=_cstr(name),
            min_version=rest[0],
            max_version=rest[1],
            max_region=rest[2],
            max_m2s_ring=rest[3],
            max_s2m_ring=rest[4],
            max_log2_ring_size=rest[5],
        )
    if cls is Init:
        version, id_, mode, secret, name = fields
        return Init(version=version, id=id_, mode=mode, secret=_cstr(secret), name=_cstr(name))
    if cls is AddRegion:
        return AddRegion(index=fields[0], size=fields[1])
    if cls is AddRing:
        flags, index, region, offset, log2, *extra = fields
        return AddRing(
            flags=flags,
            index=index,
            region=region,
            offset=offset,
            log2_ring_size=log2,
            private_hdr_size=extra[0] if extra else 0,
        )
    if cls is Connect:
        return Connect(if_name=_cstr(fields[0]))
    if cls is Connected:
        return Connected(if_name=_cstr(fields[0]))
    if cls is Disconnect:
        return Disconnect(code=fields[0], reason=_cstr(fields[1]))
    return Ack()
