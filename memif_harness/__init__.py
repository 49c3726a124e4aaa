"""memif-harness: an independent memif 2.0 implementation and a conformance harness around it.

The names most code needs are re-exported here: the Pythonic layer (:class:`Endpoint`,
:class:`EventLoop`), the libmemif-equivalent runtime (:class:`Memif`, :class:`Interface`,
:class:`InterfaceConfig`) and the enums and errors they use.
"""

from __future__ import annotations

__version__ = "0.1.0"

from .memif import (
    Details,
    Endpoint,
    ErrorCode,
    EventLoop,
    Interface,
    InterfaceConfig,
    LocalProtocolError,
    Memif,
    MemifError,
    Mode,
    RemoteProtocolError,
    RingFull,
    Role,
    RxMode,
    strerror,
)

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
    "RemoteProtocolError",
    "RingFull",
    "Role",
    "RxMode",
    "__version__",
    "strerror",
]
