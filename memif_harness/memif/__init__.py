"""memif 2.0 as a library, with no test-harness code in it.

Three layers, each importing only the ones below it; data flows one way, socket -> wire ->
state machine -> rings:

* :mod:`.protocol`: the sans-I/O core: message layouts (:mod:`~.protocol.wire`), the one
  transition table (:mod:`~.protocol.state`), the per-connection state machine
  (:mod:`~.protocol.control`), its events, errors, constants and configuration;
* :mod:`.datapath`: shared memory and rings: region layout, memfd regions, ring headers,
  descriptor queues (validation of everything the peer wrote);
* :mod:`.runtime`: the I/O: unix sockets with fd passing, the libmemif-style runtime
  (:class:`Memif`), the connection handle (:class:`Interface`) and the Pythonic layer
  (:class:`Endpoint`, :class:`EventLoop`).
"""

from __future__ import annotations

from .protocol.config import InterfaceConfig
from .protocol.constants import Mode, Role, RxMode
from .protocol.errors import (
    ErrorCode,
    LocalProtocolError,
    MemifError,
    RemoteProtocolError,
    RingFull,
    strerror,
)
from .protocol.versions import ProtocolVersion
from .runtime.endpoint import Endpoint, EventLoop
from .runtime.interface import Details, Interface
from .runtime.memif import Memif

__all__ = [
    "Details",
    "Endpoint",
    "ErrorCode",
    "EventLoop",
    "Interface",
    "InterfaceConfig",
    "LocalProtocolError",
    "Memif",
    "MemifError",
    "Mode",
    "ProtocolVersion",
    "RemoteProtocolError",
    "RingFull",
    "Role",
    "RxMode",
    "strerror",
]
