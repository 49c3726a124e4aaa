"""The icmp_responder core, as libmemif's example apps, in three driving variants.

:class:`ResponderCore` answers ARP requests for its IPv4 address (ethernet mode) and ICMP
echo requests to it (both modes; IP mode frames start at the IP header), on every queue,
replying on the queue the request came in on. Replies are built by byte-level slicing and
an incremental checksum update (RFC 1624), not by scapy: measured on the CI machine, the
reply to a 64-byte echo request takes about 4.5 us this way against about 1 ms for a scapy
dissect-swap-rebuild, so the memif queues, not the core, bound the throughput (about 85-90k
echo round trips per second against ``memif-harness gen`` in another process).

:class:`Responder` drives the core like the libmemif examples do:

* ``internal`` (icmp_responder): :meth:`Memif.poll_event` runs the library's own epoll and
  the ``on_interrupt`` callback drains the queue that fired;
* ``external`` (icmp_responder-epoll): the application owns a :func:`select.epoll`, the
  library names the fds to watch through ``on_fd_update`` and the application hands ready
  ones to :meth:`Memif.control_fd_handler`;
* ``threads`` (icmp_responder-mt): one worker thread per receive queue, queue 0 polling
  (MASK_INT set, no interrupts) and the others in interrupt mode waiting on their eventfd;
  the main thread handles the connection.

:meth:`Responder.run` returns after :meth:`Responder.stop` (the CLI calls it on SIGINT and
SIGTERM), having deleted the interface, so the peer sees a DISCONNECT.

This module does not import scapy (it starts fast as a subprocess): replies are built by
:mod:`memif_harness.traffic.frames`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import ipaddress
import os
import select
import threading
import time
from collections.abc import Callable, Sequence
from typing import Literal

from ..memif.protocol.config import InterfaceConfig
from ..memif.protocol.constants import (
    DEFAULT_BUFFER_SIZE,
    DEFAULT_HANDSHAKE_TIMEOUT,
    DEFAULT_LOG2_RING_SIZE,
    Mode,
    Role,
    RxMode,
)
from ..memif.protocol.errors import ErrorCode, MemifError, RemoteProtocolError
from ..memif.protocol.versions import ProtocolVersion
from ..memif.runtime.interface import Interface, ack_queue_interrupt, send_retrying
from ..memif.runtime.memif import (
    FD_EVENT_DEL,
    FD_EVENT_ERROR,
    FD_EVENT_MOD,
    FD_EVENT_READ,
    FD_EVENT_WRITE,
    Memif,
)
from ..traffic.frames import ETH_P_ARP, ETH_P_IP, arp_reply_at, echo_reply_at, l3_offset, parse_mac

DEFAULT_IP = "192.168.1.1"
DEFAULT_MAC = "02:fe:00:00:00:01"

FdEvents = Literal["internal", "external"]
ReplyKind = Literal["arp", "icmp"]


# -- the core ------------------------------------------------------------------------------


@dataclasses.dataclass
class ResponderStats:
    """What the responder saw and did (all queues)."""

    received: int = 0
    sent: int = 0
    arp: int = 0
    icmp: int = 0
    ignored: int = 0
    #: Replies dropped because the transmit ring stayed full.
    tx_dropped: int = 0

    def __str__(self) -> str:
        return (
            f"received {self.received}, replied {self.sent} "
            f"(arp {self.arp}, icmp {self.icmp}), ignored {self.ignored}, "
            f"tx dropped {self.tx_dropped}"
        )


class ResponderCore:
    """Builds replies: ARP for ``ip`` (ethernet mode) and ICMP echo to ``ip`` (both modes)."""

    def __init__(self, ip: str = DEFAULT_IP, mac: str | bytes = DEFAULT_MAC, *, mode: Mode) -> None:
        self.ip = ipaddress.IPv4Address(ip).packed
        self.mac = mac if isinstance(mac, bytes) else parse_mac(mac)
        self.mode = mode
        self.stats = ResponderStats()
        self._lock = threading.Lock()

    def reply(self, frame: bytes | bytearray | memoryview) -> bytes | None:
        """The reply to one received frame, or None when it needs none."""
        answer = self._reply(frame)
        return None if answer is None else answer[0]

    def _reply(self, frame: bytes | bytearray | memoryview) -> tuple[bytes, ReplyKind] | None:
        """:meth:`reply` with its kind; the frame is copied and parsed once."""
        data = bytes(frame)
        if self.mode is Mode.ETHERNET:
            if len(data) < 14:
                return None
            ethertype, off = l3_offset(data)
            if ethertype == ETH_P_ARP:
                out = arp_reply_at(data, off, self.mac, self.ip)
                return None if out is None else (out, "arp")
            if ethertype != ETH_P_IP or data[off + 16 : off + 20] != self.ip:
                return None
            out = echo_reply_at(data, ETH_P_IP, off, l2=True, src_mac=self.mac, ttl=None)
        else:
            if len(data) < 20 or data[0] >> 4 != 4 or data[16:20] != self.ip:
                return None
            out = echo_reply_at(data, ETH_P_IP, 0, l2=False, src_mac=None, ttl=None)
        return None if out is None else (out, "icmp")

    def serve_queue(self, iface: Interface, qid: int, tx_wait: float = 0.01) -> int:
        """Drain receive queue ``qid`` and answer on the transmit queue of the same number.

        Returns the number of frames received. Replies that find the transmit ring full for
        ``tx_wait`` seconds are dropped (counted in ``stats.tx_dropped``). A peer's violation
        ends the burst: the interface has already disconnected it, with the reason, and
        waits for the next connection; so does a link that went down meanwhile.
        """
        try:
            return self._serve(iface, qid, tx_wait)
        except RemoteProtocolError:
            return 0
        except MemifError as exc:
            if exc.code in (ErrorCode.NOCONN, ErrorCode.QID):
                return 0
            raise

    def _serve(self, iface: Interface, qid: int, tx_wait: float) -> int:
        total = 0
        n_tx = len(iface.tx_queues)
        if not iface.link_up or not n_tx:
            return 0
        # No lock held across the burst: the views keep the mapping alive even if another
        # thread tears the link down, and the next call then raises MemifError(NOCONN).
        while True:
            views = iface.rx_burst(qid, 256)
            if not views:
                break
            answers = [a for a in map(self._reply, views) if a is not None]
            n = len(views)
            del views
            iface.refill_queue(qid)
            replies = [reply for reply, _ in answers]
            arp = sum(1 for _, kind in answers if kind == "arp")
            sent = send_retrying(iface, qid % n_tx, replies, tx_wait)
            self._count(n, replies, arp, sent)
            total += n
        return total

    def _count(self, received: int, replies: Sequence[bytes], arp: int, sent: int) -> None:
        with self._lock:
            stats = self.stats
            stats.received += received
            stats.arp += arp
            stats.icmp += len(replies) - arp
            stats.ignored += received - len(replies)
            stats.sent += sent
            stats.tx_dropped += len(replies) - sent


# -- driving variants ----------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True)
class ResponderConfig:
    """The interface and behaviour of one responder (the CLI's ``responder`` options)."""

    role: Role
    socket: str
    id: int = 0
    secret: str = ""
    mode: Mode = Mode.ETHERNET
    ip: str = DEFAULT_IP
    mac: str = DEFAULT_MAC
    queues: int = 1
    log2_ring_size: int = DEFAULT_LOG2_RING_SIZE
    buffer_size: int = DEFAULT_BUFFER_SIZE
    fd_events: FdEvents = "internal"
    threads: bool = False
    name: str = "memif_connection"
    reconnect_period: float = 0.5
    allow_unsealed_regions: bool = False
    #: Seconds a connection may take to reach CONNECTED (None: no limit).
    handshake_timeout: float | None = DEFAULT_HANDSHAKE_TIMEOUT
    protocol: ProtocolVersion = ProtocolVersion.V2

    def interface_config(self) -> InterfaceConfig:
        """The ``memif_create`` arguments."""
        return InterfaceConfig(
            role=self.role,
            socket=self.socket,
            id=self.id,
            secret=self.secret,
            mode=self.mode,
            num_s2m_rings=self.queues,
            num_m2s_rings=self.queues,
            log2_ring_size=self.log2_ring_size,
            buffer_size=self.buffer_size,
            interface_name=self.name,
            allow_unsealed_regions=self.allow_unsealed_regions,
            protocol=self.protocol,
        )

    @property
    def variant(self) -> str:
        """``internal``, ``external`` or ``threads``."""
        return "threads" if self.threads else self.fd_events


class Responder:
    """An icmp_responder: create with a config, :meth:`run` in one thread, :meth:`stop` from
    any thread or a signal handler."""

    def __init__(self, config: ResponderConfig, log: Callable[[str], None] | None = None) -> None:
        if config.threads and config.fd_events == "external":
            raise ValueError("--threads drives the connection with internal polling")
        self.config = config
        self.core = ResponderCore(config.ip, config.mac, mode=config.mode)
        self.log = log or (lambda _msg: None)
        #: Set while the link is up (tests wait on it).
        self.connected = threading.Event()
        self.started = threading.Event()
        self._stopping = False
        self._memif: Memif | None = None
        self._iface: Interface | None = None
        self._epoll: select.epoll | None = None
        self._wake = -1
        self._workers: list[threading.Thread] = []
        self._worker_stop = threading.Event()
        self._failed = False

    @property
    def stats(self) -> ResponderStats:
        """The core's counters."""
        return self.core.stats

    @property
    def interface(self) -> Interface | None:
        """The interface, once :meth:`run` created it."""
        return self._iface

    # -- lifetime -----------------------------------------------------------------------

    def stop(self) -> None:
        """Make :meth:`run` delete the interface and return (thread- and signal-safe)."""
        self._stopping = True
        memif = self._memif
        if self._wake >= 0:
            with contextlib.suppress(OSError):
                os.eventfd_write(self._wake, 1)
        elif memif is not None:
            with contextlib.suppress(OSError):
                memif.cancel_poll_event()

    def run(self) -> int:
        """Serve until :meth:`stop`; returns the exit status (0; 1 if a queue worker failed)."""
        cfg = self.config
        if cfg.fd_events == "external":
            self._epoll = select.epoll()
            self._wake = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
            self._epoll.register(self._wake, select.EPOLLIN)
            memif = Memif(
                on_fd_update=self._on_fd_update,
                app_name="icmp_responder",
                reconnect_period=cfg.reconnect_period,
                handshake_timeout=cfg.handshake_timeout,
                on_notice=self.log,
            )
        else:
            memif = Memif(
                app_name="icmp_responder",
                reconnect_period=cfg.reconnect_period,
                handshake_timeout=cfg.handshake_timeout,
                on_notice=self.log,
            )
        self._memif = memif
        try:
            iface = memif.create(
                cfg.interface_config(),
                on_connect=self._on_connect,
                on_disconnect=self._on_disconnect,
                on_interrupt=None if cfg.threads else self._on_interrupt,
            )
            self._iface = iface
            for qid in range(cfg.queues):
                mode = RxMode.POLLING if cfg.threads and qid == 0 else RxMode.INTERRUPT
                iface.set_rx_mode(mode, qid)
            self.log(
                f"{cfg.variant} responder: {cfg.role.name.lower()} on {cfg.socket} id {cfg.id}, "
                f"{cfg.mode.name.lower()} mode, ip {cfg.ip}"
                + (f" mac {cfg.mac}" if cfg.mode is Mode.ETHERNET else "")
            )
            self.started.set()
            if self._epoll is not None:
                self._loop_external(memif, self._epoll)
            else:
                self._loop_internal(memif)
        finally:
            self.started.set()
            self._stop_workers()
            memif.cleanup()  # deletes the interface: the peer sees a DISCONNECT
            if self._epoll is not None:
                self._epoll.close()
            if self._wake >= 0:
                os.close(self._wake)
                self._wake = -1
        counters = self._iface.get_details().counters if self._iface is not None else None
        if counters is not None:
            self.log(
                f"stopped: {self.stats}; connections {counters.connects}, "
                f"protocol errors {counters.protocol_errors}"
            )
        else:
            self.log(f"stopped: {self.stats}")
        return 1 if self._failed else 0

    def _loop_internal(self, memif: Memif) -> None:
        while not self._stopping:
            try:
                memif.poll_event(-1)
            except MemifError as exc:
                if exc.code is not ErrorCode.POLL_CANCEL:
                    raise

    def _loop_external(self, memif: Memif, epoll: select.epoll) -> None:
        while not self._stopping:
            for fd, mask in epoll.poll(-1):
                if fd == self._wake:
                    with contextlib.suppress(BlockingIOError):
                        os.eventfd_read(self._wake)
                    continue
                events = FD_EVENT_READ
                if mask & (select.EPOLLERR | select.EPOLLHUP):
                    events |= FD_EVENT_ERROR
                try:
                    memif.control_fd_handler(fd, events)
                except MemifError as exc:  # unwatched earlier in this batch
                    if exc.code is not ErrorCode.BAD_FD:
                        raise

    def _on_fd_update(self, fd: int, events: int) -> None:
        """libmemif's ``memif_control_fd_update_t``: keep our epoll in step."""
        epoll = self._epoll
        assert epoll is not None
        mask = select.EPOLLIN if events & FD_EVENT_READ else 0
        if events & FD_EVENT_WRITE:
            mask |= select.EPOLLOUT
        if events & FD_EVENT_DEL:
            with contextlib.suppress(OSError, ValueError):
                epoll.unregister(fd)
        elif events & FD_EVENT_MOD:
            epoll.modify(fd, mask)
        else:
            epoll.register(fd, mask or select.EPOLLIN)

    # -- callbacks ------------------------------------------------------------------------

    def _on_connect(self, iface: Interface, _ctx: object) -> None:
        details = iface.get_details()
        self.log(
            f"connected: peer {details.remote_inst_name!r} interface {details.remote_if_name!r},"
            f" {len(details.rx_queues)} rx / {len(details.tx_queues)} tx queues"
        )
        if self.config.threads:
            self._start_workers(iface)
        else:
            for qid in range(len(iface.rx_queues)):
                self.core.serve_queue(iface, qid)
        self.connected.set()

    def _on_disconnect(self, iface: Interface, _ctx: object) -> None:
        self.connected.clear()
        self._worker_stop.set()  # joined later: a worker may wait for a lock we hold
        self.log(f"disconnected: {iface.remote_reason or iface.local_reason}")

    def _on_interrupt(self, iface: Interface, _ctx: object, qid: int) -> None:
        self.core.serve_queue(iface, qid)

    # -- threads variant ------------------------------------------------------------------

    def _start_workers(self, iface: Interface) -> None:
        self._workers = [w for w in self._workers if w.is_alive()]
        stop = threading.Event()
        self._worker_stop = stop
        for qid in range(len(iface.rx_queues)):
            polling = qid == 0
            worker = threading.Thread(
                target=self._worker,
                args=(self._poll_queue if polling else self._wait_queue, iface, qid, stop),
                name=f"responder-q{qid}-{'poll' if polling else 'irq'}",
                daemon=True,
            )
            self._workers.append(worker)
            worker.start()

    def _worker(
        self,
        serve: Callable[[Interface, int, threading.Event], None],
        iface: Interface,
        qid: int,
        stop: threading.Event,
    ) -> None:
        """Run ``serve`` until ``stop``; a failure of ours is logged and stops the responder
        (exit status 1) rather than leave the queue unserved with the link up."""
        try:
            serve(iface, qid, stop)
        except Exception as exc:  # reported, then the responder stops
            self.log(f"queue {qid} worker failed: {exc!r}")
            self._failed = True
            self.stop()

    def _poll_queue(self, iface: Interface, qid: int, stop: threading.Event) -> None:
        """Queue 0: MASK_INT set, so the peer never signals; poll the ring."""
        idle = 0
        while not stop.is_set():
            got = self.core.serve_queue(iface, qid)
            # Spin while busy; back off a little when idle so the GIL is not monopolised.
            idle = 0 if got else min(idle + 1, 50)
            if idle:
                time.sleep(idle * 0.00002)

    def _wait_queue(self, iface: Interface, qid: int, stop: threading.Event) -> None:
        """Other queues: wait on the queue's eventfd, then drain."""
        try:
            efd = iface.get_queue_efd(qid)
        except MemifError:  # the link went down before the worker started
            return
        while not stop.is_set():
            ready: list[int] = []
            with contextlib.suppress(OSError, ValueError):
                ready = select.select([efd], [], [], 0.1)[0]
            if stop.is_set():
                return
            if ready:
                ack_queue_interrupt(iface, qid)
            self.core.serve_queue(iface, qid)

    def _stop_workers(self) -> None:
        self._worker_stop.set()
        for worker in self._workers:
            if worker is not threading.current_thread():
                worker.join(5)
        self._workers = []
