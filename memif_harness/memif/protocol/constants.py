"""Protocol constants of memif 2.0 (shared/reference/protocol.md, sections A.1-A.3, A.10)."""

from __future__ import annotations

import enum

COOKIE = 0x3E31F20
VERSION = 0x0200

MSG_SIZE = 128
NAME_SIZE = 32
SECRET_SIZE = 24
REASON_SIZE = 96

#: What we advertise in HELLO (the same maxima as libmemif, DPDK and gomemif).
MAX_REGIONS = 255
MAX_RINGS = 255
MAX_LOG2_RING_SIZE = 14
MAX_BUFFER_SIZE = 65535
#: Most fds (regions + rings) a master holds for one handshake before CONNECT: enough for
#: 1 region and 63 queue pairs, or a zero-copy peer's many regions; a peer that parks more
#: is refused ("too many fds before CONNECT"), so one connection cannot exhaust our fds.
MAX_HANDSHAKE_FDS = 128
#: Longest NEXT chain we follow before calling a descriptor chain malformed.
MAX_CHAIN = 256
#: Per-descriptor length limit VPP applies in ethernet mode (ETHERNET_MAX_PACKET_BYTES).
ETHERNET_MAX_DESC_LEN = 9216

RING_FLAG_MASK_INT = 1
DESC_FLAG_NEXT = 1
ADD_RING_FLAG_S2M = 1

DEFAULT_CACHELINE = 64
DEFAULT_LOG2_RING_SIZE = 10
DEFAULT_BUFFER_SIZE = 2048
DEFAULT_RECONNECT_PERIOD = 2.0
#: Seconds a connection may take from accept/connect to CONNECTED before we drop it
#: (neither VPP nor libmemif has such a limit, A.9: one silent peer would hold an id for ever).
DEFAULT_HANDSHAKE_TIMEOUT = 5.0
DEFAULT_SOCKET = "/run/vpp/memif.sock"


class MsgType(enum.IntEnum):
    """Control message types (memif.h:23-34)."""

    NONE = 0
    ACK = 1
    HELLO = 2
    INIT = 3
    ADD_REGION = 4
    ADD_RING = 5
    CONNECT = 6
    CONNECTED = 7
    DISCONNECT = 8


class RingType(enum.IntEnum):
    """Direction of a ring: S2M is written by the slave's TX, M2S by the master's TX."""

    S2M = 0
    M2S = 1


class Mode(enum.IntEnum):
    """Interface mode carried in INIT."""

    ETHERNET = 0
    IP = 1
    PUNT_INJECT = 2


class Role(enum.IntEnum):
    """Interface role, numbered as libmemif's ``is_master`` and VPP's API (0 = master)."""

    MASTER = 0
    SLAVE = 1

    @property
    def peer(self) -> Role:
        """The role on the other end of the socket."""
        return Role.SLAVE if self is Role.MASTER else Role.MASTER


class RxMode(enum.IntEnum):
    """Per-queue receive mode, numbered as libmemif's ``memif_rx_mode_t``."""

    INTERRUPT = 0
    POLLING = 1
