"""The Pythonic layer: a memif interface with its own event loop, for test authors.

>>> with EventLoop() as loop:                                  # doctest: +SKIP
...     master = Endpoint("master", "/tmp/m.sock", loop=loop)
...     slave = Endpoint("slave", "/tmp/m.sock", loop=loop)
...     slave.wait_connected(5)
...     slave.send([bytes(Ether() / IP() / ICMP())])
...     frames = master.recv(count=1, timeout=1)

An :class:`EventLoop` runs :meth:`Memif.poll_event` in a background thread, so the control
channel is served while the test does something else (starts a peer, sleeps, asserts).
"""

from __future__ import annotations

import select
import threading
import time
import types
from collections.abc import Iterable, Sequence
from typing import Protocol, Self

from ..protocol.config import InterfaceConfig
from ..protocol.constants import (
    DEFAULT_BUFFER_SIZE,
    DEFAULT_CACHELINE,
    DEFAULT_HANDSHAKE_TIMEOUT,
    DEFAULT_LOG2_RING_SIZE,
    Mode,
    Role,
    RxMode,
)
from ..protocol.errors import ErrorCode, MemifError, RingFull
from ..protocol.versions import ProtocolVersion
from .interface import Details, Interface, send_retrying
from .memif import Memif


class SupportsBytes(Protocol):
    """Anything ``bytes()`` accepts as a frame (a scapy packet, bytes, a memoryview)."""

    def __bytes__(self) -> bytes: ...


Frame = bytes | bytearray | memoryview | SupportsBytes


class EventLoop:
    """A :class:`Memif` runtime served by a daemon thread; share one among endpoints."""

    def __init__(
        self,
        app_name: str = "memif-harness",
        reconnect_period: float = 0.5,
        *,
        handshake_timeout: float | None = DEFAULT_HANDSHAKE_TIMEOUT,
    ) -> None:
        self.memif = Memif(
            app_name=app_name,
            reconnect_period=reconnect_period,
            handshake_timeout=handshake_timeout,
        )
        #: What stopped the thread, if it died; reported by :meth:`Endpoint.wait_connected`.
        self.error: BaseException | None = None
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="memif-event-loop", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            while not self._stop:
                try:
                    self.memif.poll_event(-1)
                except MemifError as exc:
                    if exc.code is not ErrorCode.POLL_CANCEL:
                        raise
        except BaseException as exc:
            self.error = exc
            raise

    def close(self) -> None:
        """Delete every interface and stop the thread."""
        if self._stop:
            return
        self._stop = True
        self.memif.cancel_poll_event()
        self._thread.join(5)
        self.memif.cleanup()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: types.TracebackType | None,
    ) -> None:
        self.close()


class Endpoint:
    """One memif interface seen from a test: connect, send frames, receive frames.

    ``tx_queues``/``rx_queues`` count from our side (as slave they are the S2M/M2S rings we
    create; as master the slave decides). Receive queues start in interrupt mode, so the peer
    wakes :meth:`recv` through the eventfd instead of it spinning. ``protocol`` is ``2``
    (default), ``1`` (memif 1.0) or ``"auto"`` (follow the peer; :class:`ProtocolVersion`).
    """

    def __init__(
        self,
        role: Role | str,
        socket: str,
        *,
        id: int = 0,
        secret: str = "",
        mode: Mode | str = Mode.ETHERNET,
        tx_queues: int = 1,
        rx_queues: int = 1,
        log2_ring_size: int = DEFAULT_LOG2_RING_SIZE,
        buffer_size: int = DEFAULT_BUFFER_SIZE,
        name: str = "",
        cacheline: int = DEFAULT_CACHELINE,
        rx_mode: RxMode = RxMode.INTERRUPT,
        allow_unsealed_regions: bool = False,
        handshake_timeout: float | None = DEFAULT_HANDSHAKE_TIMEOUT,
        loop: EventLoop | None = None,
        protocol: ProtocolVersion | int | str = ProtocolVersion.V2,
    ) -> None:
        role = role if isinstance(role, Role) else Role[role.upper()]
        mode = mode if isinstance(mode, Mode) else Mode[mode.upper().replace("-", "_")]
        s2m, m2s = (tx_queues, rx_queues) if role is Role.SLAVE else (rx_queues, tx_queues)
        self.config = InterfaceConfig(
            role=role,
            socket=socket,
            id=id,
            secret=secret,
            mode=mode,
            num_s2m_rings=s2m,
            num_m2s_rings=m2s,
            log2_ring_size=log2_ring_size,
            buffer_size=buffer_size,
            interface_name=name or f"{role.name.lower()}{id}",
            cacheline=cacheline,
            allow_unsealed_regions=allow_unsealed_regions,
            protocol=ProtocolVersion.of(protocol),
        )
        self._own_loop = loop is None
        self.loop = loop if loop is not None else EventLoop(handshake_timeout=handshake_timeout)
        self._changed = threading.Condition()
        try:
            self.interface: Interface = self.loop.memif.create(
                self.config,
                on_connect=self._notify,
                on_disconnect=self._notify,
                default_rx_mode=rx_mode,
            )
        except BaseException:
            if self._own_loop:
                self.loop.close()
            raise

    def _notify(self, _iface: Interface, _ctx: object) -> None:
        with self._changed:
            self._changed.notify_all()

    # -- link -----------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """Whether the link is up."""
        return self.interface.link_up

    def wait_connected(self, timeout: float = 10.0) -> None:
        """Block until the link is up; TimeoutError says the last disconnect reasons."""
        self._wait(True, timeout)

    def wait_disconnected(self, timeout: float = 10.0) -> None:
        """Block until the link is down."""
        self._wait(False, timeout)

    def _wait(self, up: bool, timeout: float) -> None:
        with self._changed:
            if not self._changed.wait_for(lambda: self.interface.link_up is up, timeout):
                state = "connected" if up else "disconnected"
                died = f"; the event loop died: {self.loop.error!r}" if self.loop.error else ""
                raise TimeoutError(
                    f"{self.config.role.name.lower()} {self.config.socket} id {self.config.id} "
                    f"not {state} after {timeout}s (local reason: "
                    f"{self.interface.local_reason!r}, peer's reason: "
                    f"{self.interface.remote_reason!r}){died}"
                )

    def disconnect(self, reason: str = "disconnected by application") -> None:
        """Drop the connection, telling the peer ``reason`` (a slave reconnects later)."""
        self.loop.memif.disconnect(self.interface, reason)

    def details(self) -> Details:
        """``get_details`` of the interface."""
        return self.interface.get_details()

    # -- traffic --------------------------------------------------------------------------

    def send(self, frames: Iterable[Frame], queue: int = 0, timeout: float = 1.0) -> int:
        """Put every frame on transmit ``queue``, waiting up to ``timeout`` for ring space.

        Raises :class:`RingFull` naming how many were sent if the peer did not drain in time.
        """
        data: Sequence[bytes | bytearray | memoryview] = [
            f if isinstance(f, bytes | bytearray | memoryview) else bytes(f) for f in frames
        ]
        sent = send_retrying(self.interface, queue, data, timeout, pause=0.0002)
        if sent < len(data):
            raise RingFull(f"ring full: sent {sent} of {len(data)} frames in {timeout}s")
        return sent

    def recv(self, count: int = 1, queue: int = 0, timeout: float = 1.0) -> list[bytes]:
        """Receive up to ``count`` frames (copies), waiting at most ``timeout`` seconds."""
        frames: list[bytes] = []
        deadline = time.monotonic() + timeout
        self.interface.ack_interrupt(queue)  # what is pending now is drained below
        while len(frames) < count:
            views = self.interface.rx_burst(queue, min(256, count - len(frames)))
            if views:
                frames.extend(bytes(v) for v in views)
                del views
                self.interface.refill_queue(queue)
                continue
            left = deadline - time.monotonic()
            if left <= 0:
                break
            # The peer signals through the eventfd when we are in interrupt mode; a short
            # cap covers peers that never signal. The fd is fetched per wait: a reconnect
            # closes the old one (and the number may be reused).
            efd = self.interface.get_queue_efd(queue)
            if select.select([efd], [], [], min(left, 0.002))[0]:
                self.interface.ack_interrupt(queue)
        return frames

    def drain(self, queue: int = 0, quiet: float = 0.05) -> int:
        """Discard frames until none arrive for ``quiet`` seconds; returns how many."""
        total = 0
        while batch := self.recv(256, queue, timeout=quiet):
            total += len(batch)
        return total

    # -- lifetime -------------------------------------------------------------------------

    def close(self) -> None:
        """Delete the interface (the peer sees ``interface deleted``) and stop an own loop."""
        self.loop.memif.delete(self.interface)
        if self._own_loop:
            self.loop.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: types.TracebackType | None,
    ) -> None:
        self.close()
