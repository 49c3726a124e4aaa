"""Interface configuration (what ``memif_create`` takes) and the parameters a handshake settles."""

from __future__ import annotations

import dataclasses

from .constants import (
    DEFAULT_BUFFER_SIZE,
    DEFAULT_CACHELINE,
    DEFAULT_LOG2_RING_SIZE,
    DEFAULT_SOCKET,
    MAX_BUFFER_SIZE,
    MAX_LOG2_RING_SIZE,
    MAX_RINGS,
    NAME_SIZE,
    SECRET_SIZE,
    VERSION,
    Mode,
    Role,
)
from .errors import LocalProtocolError
from .versions import ProtocolVersion


@dataclasses.dataclass(frozen=True, kw_only=True)
class InterfaceConfig:
    """One memif interface, as libmemif's ``memif_conn_args_t`` describes it.

    ``socket`` is a filesystem path or ``@name`` (abstract). An empty ``secret`` means none.
    Ring counts are per direction: a slave transmits on S2M rings, a master on M2S rings.
    ``allow_unsealed_regions`` lets a master map regions it cannot seal against shrinking
    (a memfd made without ``MFD_ALLOW_SEALING``, a regular file): the peer can then truncate
    one after we mapped it, and our next access to the lost pages ends the process with
    SIGBUS. Off by default; VPP, DPDK and libmemif regions are sealable.
    ``protocol`` picks memif 1.0, 2.0 or whichever the peer speaks (:class:`ProtocolVersion`).
    """

    role: Role
    socket: str = DEFAULT_SOCKET
    id: int = 0
    secret: str = ""
    mode: Mode = Mode.ETHERNET
    num_s2m_rings: int = 1
    num_m2s_rings: int = 1
    log2_ring_size: int = DEFAULT_LOG2_RING_SIZE
    buffer_size: int = DEFAULT_BUFFER_SIZE
    interface_name: str = ""
    cacheline: int = DEFAULT_CACHELINE
    allow_unsealed_regions: bool = False
    protocol: ProtocolVersion = ProtocolVersion.V2

    def __post_init__(self) -> None:
        checks = [
            (0 <= self.id < 2**32, f"id {self.id} is not a u32"),
            (1 <= self.num_s2m_rings <= MAX_RINGS, "num_s2m_rings must be 1..255"),
            (1 <= self.num_m2s_rings <= MAX_RINGS, "num_m2s_rings must be 1..255"),
            (
                1 <= self.log2_ring_size <= MAX_LOG2_RING_SIZE,
                f"log2_ring_size must be 1..{MAX_LOG2_RING_SIZE}",
            ),
            (1 <= self.buffer_size <= MAX_BUFFER_SIZE, "buffer_size must be 1..65535"),
            (len(self.secret.encode()) < SECRET_SIZE, "secret is longer than 23 bytes"),
            (len(self.interface_name.encode()) < NAME_SIZE, "interface_name is too long"),
            (self.cacheline in (64, 128), "cacheline must be 64 or 128"),
            (bool(self.socket), "socket must not be empty"),
            (
                isinstance(self.protocol, ProtocolVersion),
                "protocol must be a ProtocolVersion (ProtocolVersion.of(1), .of('auto'))",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise LocalProtocolError(message)


@dataclasses.dataclass(frozen=True, kw_only=True)
class RunParams:
    """What the handshake settled: ring counts and size as the slave laid them out."""

    num_s2m_rings: int
    num_m2s_rings: int
    log2_ring_size: int
    buffer_size: int
    #: The wire version both sides speak (0x0200 or 0x0100).
    version: int = VERSION
