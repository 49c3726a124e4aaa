"""Events the control channel reports to its owner (immutable, keyword-only)."""

from __future__ import annotations

import dataclasses

from .config import InterfaceConfig, RunParams
from .constants import VERSION
from .wire import AddRegion, AddRing, Hello, Init


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """Base of control-channel events."""


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class HelloReceived(Event):
    """Slave: the master said HELLO; create memory for ``run`` and call ``start_handshake``."""

    hello: Hello
    run: RunParams


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class InitAccepted(Event):
    """Master: the slave's INIT matched ``config``; the connection now belongs to it."""

    init: Init
    config: InterfaceConfig


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class ConnectRequested(Event):
    """Master: the slave sent CONNECT. Map ``regions``, check ``rings``, then confirm or reject.

    The fds (one per region, one eventfd per ring) now belong to the receiver of this event.
    """

    if_name: str
    regions: tuple[tuple[AddRegion, int], ...]
    rings: tuple[tuple[AddRing, int], ...]
    #: The wire version the handshake settled (0x0200 or 0x0100).
    version: int = VERSION


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class LinkUp(Event):
    """Both: the handshake finished; ``peer_if_name`` is what the peer calls its interface."""

    peer_if_name: str


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Disconnected(Event):
    """Both: the connection ended. ``remote_reason`` is the peer's DISCONNECT text, if any."""

    local_reason: str
    remote_reason: str = ""
