"""The memif link an app runs over: where and how to connect, and waiting for the peer."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable

from ..memif.protocol.constants import (
    DEFAULT_BUFFER_SIZE,
    DEFAULT_HANDSHAKE_TIMEOUT,
    DEFAULT_LOG2_RING_SIZE,
)
from ..memif.protocol.errors import MemifError
from ..memif.protocol.versions import ProtocolVersion
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
    protocol: ProtocolVersion = ProtocolVersion.V2

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
            protocol=self.protocol,
        )

    def connect(self, endpoint: Endpoint, what: str) -> bool:
        """Wait for the peer; False, having said why on stderr, if none connected in time.

        Says at once what stands in the way: as slave, that no master listens yet (it keeps
        retrying) or the master's refusal (then it gives up: the master said why); as master,
        each slave it refused (and keeps waiting).
        """
        iface = endpoint.interface
        deadline = time.monotonic() + self.connect_timeout
        told = ""
        while True:
            left = deadline - time.monotonic()
            try:
                endpoint.wait_connected(max(0.0, min(left, 0.05)))
            except TimeoutError:
                pass
            else:
                return True
            if self.role == "slave" and iface.remote_reason:
                say(
                    f"memif-harness {what}: the master refused the connection: "
                    f"{iface.remote_reason!r}",
                    err=True,
                )
                return False
            news = iface.local_reason if iface.sock is None else ""
            if news and news != told:
                told = news
                if self.role == "slave":
                    period = endpoint.loop.memif.reconnect_period
                    line = (
                        f"waiting for a master on {self.socket} ({news}); "
                        f"retrying every {period:g} s"
                    )
                else:
                    line = f"refused a slave: {news!r}; still waiting"
                say(f"memif-harness {what}: {line}", err=True)
            if left <= 0:
                break
        why = iface.local_reason or iface.remote_reason or "nobody answered"
        say(
            f"memif-harness {what}: no memif peer connected as {self.role} on {self.socket} "
            f"id {self.id} within {self.connect_timeout:g}s ({why})",
            err=True,
        )
        return False

    def serve(self, what: str, work: Callable[[Endpoint], int]) -> int:
        """Create the endpoint, wait for the peer and return what ``work`` on it returns; 1
        (having said why) when the interface cannot be created, no peer came, or the link
        went down under ``work``."""
        try:
            endpoint = self.endpoint()
        except MemifError as exc:
            say(f"memif-harness {what}: cannot create the interface: {exc}", err=True)
            return 1
        with endpoint:
            if not self.connect(endpoint, what):
                return 1
            try:
                return work(endpoint)
            except MemifError as exc:  # the link went down under us
                return self.went_down(endpoint, what, exc)

    def went_down(self, endpoint: Endpoint, what: str, error: MemifError) -> int:
        """Say why the link went down under a running exchange (the peer's DISCONNECT reason
        when it sent one); the exit status (1)."""
        iface = endpoint.interface
        if iface.remote_reason:
            why = f"the peer said {iface.remote_reason!r}"
        else:
            why = iface.local_reason or str(error)
        say(f"memif-harness {what}: the link went down: {why}", err=True)
        return 1
