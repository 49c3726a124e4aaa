"""The memif link an app runs over: where and how to connect, and waiting for the peer."""

from __future__ import annotations

import dataclasses

from ..memif.protocol.constants import (
    DEFAULT_BUFFER_SIZE,
    DEFAULT_HANDSHAKE_TIMEOUT,
    DEFAULT_LOG2_RING_SIZE,
)
from ..memif.runtime.endpoint import Endpoint
from .output import say


@dataclasses.dataclass(frozen=True, kw_only=True)
class LinkConfig:
    """One interface of ours: ``role`` and ``mode`` as the CLI spells them."""

    role: str
    socket: str
    id: int = 0
    secret: str = ""
    mode: str = "ethernet"
    queues: int = 1
    log2_ring_size: int = DEFAULT_LOG2_RING_SIZE
    buffer_size: int = DEFAULT_BUFFER_SIZE
    connect_timeout: float = 5.0
    allow_unsealed_regions: bool = False
    handshake_timeout: float | None = DEFAULT_HANDSHAKE_TIMEOUT

    def endpoint(self) -> Endpoint:
        """A new endpoint on this link (it connects in the background)."""
        return Endpoint(
            self.role,
            self.socket,
            id=self.id,
            secret=self.secret,
            mode=self.mode,
            tx_queues=self.queues,
            rx_queues=self.queues,
            log2_ring_size=self.log2_ring_size,
            buffer_size=self.buffer_size,
            name="memif-harness",
            allow_unsealed_regions=self.allow_unsealed_regions,
            handshake_timeout=self.handshake_timeout,
        )

    def connect(self, endpoint: Endpoint, what: str) -> bool:
        """Wait for the peer; False, having said why on stderr, if none connected in time."""
        try:
            endpoint.wait_connected(self.connect_timeout)
        except TimeoutError:
            iface = endpoint.interface
            why = iface.local_reason or iface.remote_reason or "nobody answered"
            say(
                f"memif-harness {what}: no memif peer connected as {self.role} on {self.socket} "
                f"id {self.id} within {self.connect_timeout:g}s ({why})",
                err=True,
            )
            return False
        return True
