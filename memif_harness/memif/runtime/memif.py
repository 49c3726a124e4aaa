"""The libmemif-equivalent runtime: sockets, the reconnect timer and fd dispatch.

:class:`Memif` is ``memif_init``'s state. Give it an ``on_fd_update`` callback to watch the
fds yourself (then call :meth:`Memif.control_fd_handler` when one is ready), or none to let
:meth:`Memif.poll_event` run an internal epoll. One listener serves every master interface on
a socket, told apart by id; each slave interface opens its own connection and retries every
``reconnect_period`` seconds while it is down (the timer is disarmed when no slave exists).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import select
import socket
import threading
import time
from collections.abc import Callable
from typing import Any

from ..protocol.config import InterfaceConfig
from ..protocol.constants import (
    DEFAULT_HANDSHAKE_TIMEOUT,
    DEFAULT_RECONNECT_PERIOD,
    MAX_HANDSHAKE_FDS,
    Role,
    RxMode,
)
from ..protocol.control import ControlChannel
from ..protocol.errors import ErrorCode, MemifError, RemoteProtocolError
from ..protocol.events import (
    ConnectRequested,
    Disconnected,
    Event,
    HelloReceived,
    InitAccepted,
    LinkUp,
)
from ..protocol.state import State
from ..protocol.versions import hello_range
from . import transport
from .interface import ConnCallback, Interface, InterruptCallback

#: libmemif's MEMIF_FD_EVENT_* bits.
FD_EVENT_READ = 1
FD_EVENT_WRITE = 2
FD_EVENT_ERROR = 4
FD_EVENT_DEL = 8
FD_EVENT_MOD = 16

#: ``on_fd_update(fd, events)``: start (READ/WRITE) or stop (DEL) watching ``fd``.
FdUpdate = Callable[[int, int], None]

#: Seconds a listener stops accepting after ``accept`` failed (EMFILE: out of fds).
ACCEPT_BACKOFF = 0.5
#: Period of the housekeeping timer while it has work (paused listeners, handshakes).
_HOUSEKEEPING_PERIOD = 0.1


@dataclasses.dataclass
class RuntimeCounters:
    """What the runtime refused or survived, over its lifetime (no interface to count it)."""

    #: ``accept`` failures (EMFILE, ENFILE, ENOMEM ...); each pauses the listener.
    accept_errors: int = 0
    #: Connections dropped because the handshake took longer than ``handshake_timeout``.
    handshake_timeouts: int = 0
    #: Connections that ended before CONNECTED (refused by us or by the peer, timed out).
    refused: int = 0


@dataclasses.dataclass
class _Listener:
    sock: socket.socket
    path: str
    interfaces: dict[int, Interface] = dataclasses.field(default_factory=dict)
    #: While accepts are paused: the monotonic time to resume them.
    resume_at: float | None = None
    #: The socket file we created (device, inode): the only one we may remove.
    file_id: tuple[int, int] | None = None


@dataclasses.dataclass
class _Pending:
    """A master connection that has not sent a valid INIT yet."""

    sock: socket.socket
    channel: ControlChannel
    path: str
    interface: Interface | None = None


class Memif:
    """libmemif's main context; see the module docstring."""

    def __init__(
        self,
        on_fd_update: FdUpdate | None = None,
        app_name: str = "memif-harness",
        reconnect_period: float = DEFAULT_RECONNECT_PERIOD,
        *,
        handshake_timeout: float | None = DEFAULT_HANDSHAKE_TIMEOUT,
        max_handshake_fds: int = MAX_HANDSHAKE_FDS,
        on_notice: Callable[[str], None] | None = None,
    ) -> None:
        self.app_name = app_name
        self.reconnect_period = reconnect_period
        #: Seconds from accept/connect to CONNECTED before a connection is dropped with
        #: DISCONNECT ``handshake timed out after N s``; None: no limit (as VPP, libmemif).
        self.handshake_timeout = handshake_timeout
        self.max_handshake_fds = max_handshake_fds
        #: Told, in one line, about every connection refused or dropped without an
        #: interface to report it, and every accept failure.
        self.on_notice = on_notice or (lambda _line: None)
        self.counters = RuntimeCounters()
        self.lock = threading.RLock()
        self._on_fd_update = on_fd_update
        self._epoll = select.epoll() if on_fd_update is None else None
        self._handlers: dict[int, Callable[[int], None]] = {}
        self._listeners: dict[str, _Listener] = {}
        self._slaves: list[Interface] = []
        self._conns: dict[int, _Pending] = {}
        #: Connections not CONNECTED yet, by socket fd: (deadline, how to abort it).
        self._handshakes: dict[int, tuple[float, Callable[[str], None]]] = {}
        #: The last refusal told to ``on_notice`` per interface (a retrying slave would
        #: repeat it every reconnect period).
        self._told: dict[Interface, str] = {}
        self._cancel = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        self._cancelled = False
        self._timer = transport.TimerFd()
        self._watch(self._timer.fd, self._on_timer)
        self._housekeeping = transport.TimerFd()
        self._watch(self._housekeeping.fd, self._on_housekeeping)
        if self._epoll is not None:
            self._epoll.register(self._cancel, select.EPOLLIN)

    # -- fd bookkeeping -------------------------------------------------------------------

    def _watch(self, fd: int, handler: Callable[[int], None]) -> None:
        self._handlers[fd] = handler
        if self._epoll is not None:
            self._epoll.register(fd, select.EPOLLIN)
        else:
            assert self._on_fd_update is not None
            self._on_fd_update(fd, FD_EVENT_READ)

    def _unwatch(self, fd: int) -> None:
        if self._handlers.pop(fd, None) is None:
            return
        if self._epoll is not None:
            with contextlib.suppress(OSError):
                self._epoll.unregister(fd)
        else:
            assert self._on_fd_update is not None
            self._on_fd_update(fd, FD_EVENT_DEL)

    def watched_fds(self) -> list[int]:
        """Every fd the runtime needs watched for reading (what ``on_fd_update`` was told)."""
        return list(self._handlers)

    # -- public API -----------------------------------------------------------------------

    def create(
        self,
        config: InterfaceConfig,
        on_connect: ConnCallback | None = None,
        on_disconnect: ConnCallback | None = None,
        on_interrupt: InterruptCallback | None = None,
        private_ctx: Any = None,
        *,
        default_rx_mode: RxMode = RxMode.INTERRUPT,
    ) -> Interface:
        """``memif_create``: a master starts listening (or joins its socket's listener); a
        slave tries to connect now and then every ``reconnect_period`` seconds.

        ``default_rx_mode`` is the mode of every receive queue not given one by
        :meth:`Interface.set_rx_mode`.
        """
        iface = Interface(
            config,
            on_connect=on_connect,
            on_disconnect=on_disconnect,
            on_interrupt=on_interrupt,
            private_ctx=private_ctx,
            inst_name=self.app_name,
        )
        iface.default_rx_mode = default_rx_mode
        iface.on_violation = self._violation
        with self.lock:
            if config.role is Role.MASTER:
                listener = self._listeners.get(config.socket)
                if listener is None:
                    sock = transport.listen(config.socket)
                    listener = _Listener(
                        sock, config.socket, file_id=transport.file_id(config.socket)
                    )
                    self._listeners[config.socket] = listener
                    self._watch(sock.fileno(), functools.partial(self._accept, listener))
                if config.id in listener.interfaces:
                    raise MemifError("interface already exists", ErrorCode.CONN)
                listener.interfaces[config.id] = iface
            else:
                if any(
                    s.config.socket == config.socket and s.config.id == config.id
                    for s in self._slaves
                ):
                    raise MemifError("interface already exists", ErrorCode.CONN)
                self._slaves.append(iface)
                if self._timer.period == 0.0 and self.reconnect_period > 0:
                    self._timer.arm(self.reconnect_period)
                self.request_connection(iface)
        return iface

    def delete(self, iface: Interface) -> None:
        """``memif_delete``: disconnect (peer gets ``interface deleted``) and forget it."""
        with self.lock:
            self.disconnect(iface, "interface deleted")
            self._told.pop(iface, None)
            if iface.role is Role.SLAVE:
                if iface in self._slaves:
                    self._slaves.remove(iface)
                if not self._slaves:
                    self._timer.disarm()
                return
            listener = self._listeners.get(iface.config.socket)
            if listener is None or listener.interfaces.get(iface.config.id) is not iface:
                return
            del listener.interfaces[iface.config.id]
            if not listener.interfaces:
                self._close_listener(listener)

    def request_connection(self, iface: Interface) -> bool:
        """Slave: try to connect now; False (reason in ``local_reason``) if the master is absent."""
        with self.lock:
            if iface.role is not Role.SLAVE or iface.connected:
                return iface.connected
            try:
                sock = transport.connect(iface.config.socket)
            except MemifError as exc:
                iface.local_reason = str(exc)
                self._tell(
                    iface,
                    f"{iface.config.socket} id {iface.config.id}: no master yet ({exc}); "
                    f"retrying every {self.reconnect_period:g} s",
                )
                return False
            iface.sock = sock
            channel = ControlChannel(Role.SLAVE, config=iface.config, name=self.app_name)
            iface.channel = channel
            self._watch(sock.fileno(), functools.partial(self._on_slave_readable, iface))
            self._start_handshake_clock(
                sock, lambda reason: self._handle(iface, channel, channel.disconnect(reason))
            )
            return True

    def disconnect(self, iface: Interface, reason: str = "disconnected by application") -> None:
        """Close ``iface``'s connection, telling the peer ``reason``; it may reconnect later."""
        with self.lock:
            if iface.channel is not None:
                self._handle(iface, iface.channel, iface.channel.disconnect(reason))

    def control_fd_handler(self, fd: int, events: int = FD_EVENT_READ) -> None:
        """``memif_control_fd_handler``: ``fd`` (one we asked to be watched) is ready."""
        with self.lock:
            handler = self._handlers.get(fd)
            if handler is None:
                raise MemifError(f"fd {fd} is not a memif fd", ErrorCode.BAD_FD)
            handler(events)

    def poll_event(self, timeout: float = -1) -> int:
        """``memif_poll_event``: wait up to ``timeout`` s (-1: forever, 0: don't) for events on
        the internal epoll and handle them; returns how many fds were handled.

        Raises ``MemifError(POLL_CANCEL)`` once after :meth:`cancel_poll_event`.
        """
        if self._epoll is None:
            raise MemifError(
                "poll_event needs internal polling (no on_fd_update)", ErrorCode.INVAL_ARG
            )
        ready = self._epoll.poll(timeout)
        handled = 0
        for fd, mask in ready:
            if fd == self._cancel:
                with contextlib.suppress(BlockingIOError):
                    os.eventfd_read(self._cancel)
                self._cancelled = True
                continue
            events = FD_EVENT_ERROR if mask & (select.EPOLLERR | select.EPOLLHUP) else 0
            with self.lock:
                handler = self._handlers.get(fd)
                if handler is not None:
                    handler(events | FD_EVENT_READ)
                    handled += 1
        if self._cancelled:
            self._cancelled = False
            raise MemifError("poll cancelled", ErrorCode.POLL_CANCEL)
        return handled

    def cancel_poll_event(self) -> None:
        """``memif_cancel_poll_event``: make a concurrent :meth:`poll_event` return soon."""
        os.eventfd_write(self._cancel, 1)

    def cleanup(self) -> None:
        """``memif_cleanup``: delete every interface and release every fd."""
        with self.lock:
            for listener in list(self._listeners.values()):
                for iface in list(listener.interfaces.values()):
                    self.delete(iface)
            for iface in list(self._slaves):
                self.delete(iface)
            for pending in list(self._conns.values()):
                self._drop_pending(pending)
            for timer in (self._timer, self._housekeeping):
                self._unwatch(timer.fd)
                timer.close()
            if self._epoll is not None:
                self._epoll.close()
            with contextlib.suppress(OSError):
                os.close(self._cancel)

    def __enter__(self) -> Memif:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cleanup()

    # -- handlers -------------------------------------------------------------------------

    def _on_timer(self, _events: int) -> None:
        self._timer.consume()
        for iface in list(self._slaves):
            if not iface.connected:
                self.request_connection(iface)

    def _on_housekeeping(self, _events: int) -> None:
        self._housekeeping.consume()
        now = time.monotonic()
        for listener in self._listeners.values():
            if listener.resume_at is not None and now >= listener.resume_at:
                listener.resume_at = None
                self._watch(listener.sock.fileno(), functools.partial(self._accept, listener))
        for fd, (deadline, abort) in list(self._handshakes.items()):
            if now >= deadline and self._handshakes.pop(fd, None) is not None:
                self.counters.handshake_timeouts += 1
                abort(f"handshake timed out after {self.handshake_timeout:g} s")
        paused = any(listener.resume_at is not None for listener in self._listeners.values())
        if not paused and not self._handshakes:
            self._housekeeping.disarm()

    def _start_housekeeping(self) -> None:
        if self._housekeeping.period == 0.0:
            self._housekeeping.arm(_HOUSEKEEPING_PERIOD)

    def _start_handshake_clock(self, sock: socket.socket, abort: Callable[[str], None]) -> None:
        """Give the connection on ``sock`` ``handshake_timeout`` s to reach CONNECTED."""
        if self.handshake_timeout is not None:
            deadline = time.monotonic() + self.handshake_timeout
            self._handshakes[sock.fileno()] = (deadline, abort)
            self._start_housekeeping()

    def _pause_accepts(self, listener: _Listener, exc: OSError) -> None:
        """``accept`` failed (out of fds, most likely): stop watching the listener for a
        while instead of spinning on it; established links are served meanwhile."""
        self.counters.accept_errors += 1
        self.on_notice(
            f"{listener.path}: accept failed: {exc.strerror}; "
            f"not accepting for {ACCEPT_BACKOFF} s"
        )
        self._unwatch(listener.sock.fileno())
        listener.resume_at = time.monotonic() + ACCEPT_BACKOFF
        self._start_housekeeping()

    def _accept(self, listener: _Listener, _events: int) -> None:
        while True:
            try:
                sock, _ = listener.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # EMFILE, ENFILE, ENOBUFS, ENOMEM
                self._pause_accepts(listener, exc)
                return
            sock.setblocking(False)
            holder: list[_Pending] = []
            channel = ControlChannel(
                Role.MASTER,
                resolver=functools.partial(self._resolve, listener, holder),
                name=self.app_name,
                max_fds=self.max_handshake_fds,
                hello_versions=hello_range(
                    tuple(i.config.protocol for i in listener.interfaces.values())
                ),
            )
            pending = _Pending(sock, channel, listener.path)
            holder.append(pending)
            self._conns[sock.fileno()] = pending
            self._watch(sock.fileno(), functools.partial(self._on_master_readable, pending))
            self._start_handshake_clock(sock, functools.partial(self._abort_pending, pending))
            if not self._flush(sock, channel):
                self._drop_pending(pending)

    def _resolve(self, listener: _Listener, holder: list[_Pending], id_: int) -> InterfaceConfig:
        pending = holder[0]
        iface = listener.interfaces.get(id_)
        if iface is None:
            raise RemoteProtocolError("unmatched interface id", ErrorCode.ID)
        if iface.connected:
            raise RemoteProtocolError("already connected", ErrorCode.ALRCONN)
        pending.interface = iface
        iface.sock, iface.channel = pending.sock, pending.channel
        return iface.config

    def _on_master_readable(self, pending: _Pending, _events: int) -> None:
        self._on_readable(pending.sock, pending.channel, lambda: pending.interface)
        if pending.interface is None and pending.channel.state is State.CLOSED:
            reason = pending.channel.local_reason
            self._drop_pending(
                pending, "closed before INIT" if reason == "disconnected" else reason
            )

    def _abort_pending(self, pending: _Pending, reason: str) -> None:
        """End a master connection that is not CONNECTED, telling the peer ``reason``."""
        iface, channel = pending.interface, pending.channel
        if iface is not None:
            self._handle(iface, channel, channel.disconnect(reason))
            return
        channel.disconnect(reason)
        self._flush(pending.sock, channel)
        self._drop_pending(pending, reason)

    def _drop_pending(self, pending: _Pending, reason: str = "") -> None:
        """Close a connection that matched no interface; a ``reason`` is counted and told."""
        if reason:
            self.counters.refused += 1
            self.on_notice(f"{pending.path}: connection refused: {reason}")
        self._handshakes.pop(pending.sock.fileno(), None)
        self._conns.pop(pending.sock.fileno(), None)
        self._unwatch(pending.sock.fileno())
        pending.sock.close()

    def _on_slave_readable(self, iface: Interface, _events: int) -> None:
        if iface.sock is not None and iface.channel is not None:
            self._on_readable(iface.sock, iface.channel, lambda: iface)

    def _on_readable(
        self,
        sock: socket.socket,
        channel: ControlChannel,
        owner: Callable[[], Interface | None],
    ) -> None:
        """Read every waiting datagram and react to what the channel makes of it.

        ``owner()`` is the interface the connection belongs to (a master's is known only
        once INIT matched one).
        """
        while channel.state is not State.CLOSED:
            received = transport.receive(sock)
            if received is None:
                return
            try:
                if isinstance(received, transport.Truncated):
                    events = channel.receive_truncated()
                else:
                    data, fds = received
                    events = channel.receive(data, fds) if data or fds else channel.receive_eof()
            except RemoteProtocolError:
                iface = owner()
                if iface is None:
                    self._flush(sock, channel)
                    return
                iface.counters.protocol_errors += 1
                events = [
                    Disconnected(
                        local_reason=channel.local_reason, remote_reason=channel.remote_reason
                    )
                ]
            iface = owner()
            if iface is None:
                self._flush(sock, channel)
            else:
                self._handle(iface, channel, events)

    def _handle(self, iface: Interface, channel: ControlChannel, events: list[Event]) -> None:
        """React to channel events for ``iface``, then send what the channel queued."""
        queue = list(events)
        while queue:
            event = queue.pop(0)
            if isinstance(event, HelloReceived):
                try:
                    regions, rings = iface.prepare_memory(event.run)
                except (MemifError, OSError) as exc:  # OSError: EMFILE, ENOMEM from memfd/eventfd
                    queue += channel.disconnect(f"cannot create memory: {exc}")
                    continue
                channel.start_handshake(regions, rings)
            elif isinstance(event, InitAccepted):
                iface.peer_name = channel.peer_name
            elif isinstance(event, ConnectRequested):
                try:
                    iface.map_memory(event)
                except RemoteProtocolError as exc:
                    iface.counters.protocol_errors += 1
                    queue += channel.disconnect(exc.reason)
                    continue
                except (MemifError, OSError) as exc:  # ours (EMFILE, ENOMEM), not the peer's
                    queue += channel.disconnect(f"cannot map memory: {exc}")
                    continue
                queue += channel.confirm_connected()
            elif isinstance(event, LinkUp):
                if iface.sock is not None:
                    self._handshakes.pop(iface.sock.fileno(), None)
                self._told.pop(iface, None)
                iface.peer_name = channel.peer_name
                iface.peer_if_name = event.peer_if_name
                iface.local_reason = iface.remote_reason = ""
                with iface.lock:
                    iface.build_queues()
                if iface.on_interrupt is not None:
                    for efd, qid in iface.interrupt_fds():
                        self._watch(efd, functools.partial(self._on_interrupt, iface, qid))
                self._flush_iface(iface, channel)
                if iface.on_connect is not None:
                    iface.on_connect(iface, iface.private_ctx)
            elif isinstance(event, Disconnected):
                self._teardown(iface, channel, event)
                return
        self._flush_iface(iface, channel)

    def _flush_iface(self, iface: Interface, channel: ControlChannel) -> None:
        if iface.sock is not None and not self._flush(iface.sock, channel):
            self._handle(iface, channel, channel.disconnect("connection fd error"))

    def _flush(self, sock: socket.socket, channel: ControlChannel) -> bool:
        try:
            for data, fd in channel.data_to_send():
                transport.send(sock, data, fd)
        except OSError:
            return False
        return True

    def _teardown(self, iface: Interface, channel: ControlChannel, event: Disconnected) -> None:
        was_up = iface.link_up
        # Reasons and counters first: whoever sees the DISCONNECT, the EOF or link_up drop
        # must also see why.
        with iface.lock:
            iface.local_reason, iface.remote_reason = event.local_reason, event.remote_reason
            iface.counters.disconnects += 1
        if iface.sock is not None:
            self._flush(iface.sock, channel)
            self._handshakes.pop(iface.sock.fileno(), None)
            self._conns.pop(iface.sock.fileno(), None)
            self._unwatch(iface.sock.fileno())
            iface.sock.close()
        for efd, _ in iface.interrupt_fds():
            self._unwatch(efd)
        iface.release_memory()
        iface.sock = iface.channel = None
        if not was_up:
            self.counters.refused += 1
            where = f"{iface.config.socket} id {iface.config.id}"
            if event.remote_reason:
                line = f"{where}: the peer refused the connection: {event.remote_reason}"
            else:
                line = f"{where}: connection refused: {event.local_reason}"
            self._tell(iface, line)
        if was_up and iface.on_disconnect is not None:
            iface.on_disconnect(iface, iface.private_ctx)

    def _tell(self, iface: Interface, line: str) -> None:
        """``on_notice(line)`` unless it is what was last told about ``iface``."""
        if self._told.get(iface) != line:
            self._told[iface] = line
            self.on_notice(line)

    def _violation(self, iface: Interface, exc: RemoteProtocolError) -> None:
        with self.lock:
            iface.counters.protocol_errors += 1
            self.disconnect(iface, exc.reason)

    def _on_interrupt(self, iface: Interface, qid: int, _events: int) -> None:
        try:
            with iface.lock:
                if not iface.link_up or qid >= len(iface.rx_queues):
                    return
                iface.rx_queues[qid].ack_interrupt()
        except RemoteProtocolError as exc:
            self._violation(iface, exc)
            return
        if iface.on_interrupt is not None:
            iface.on_interrupt(iface, iface.private_ctx, qid)

    def _close_listener(self, listener: _Listener) -> None:
        self._unwatch(listener.sock.fileno())  # a no-op while accepts are paused
        listener.sock.close()
        del self._listeners[listener.path]
        transport.unlink_if_ours(listener.path, listener.file_id)


def wait_until(predicate: Callable[[], bool], memif: Memif, timeout: float) -> bool:
    """Drive ``memif``'s internal poll until ``predicate()`` holds or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while not predicate():
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        memif.poll_event(min(left, 0.05))
    return True
