"""One memif interface (libmemif's *connection*): its control channel, memory and queues.

The interface reacts to control-channel events: a slave creates its region, rings and
eventfds on HELLO; a master maps what the slave sent on CONNECT and checks every ring. Once
the link is up it holds one :class:`TxQueue` and one :class:`RxQueue` per ring (their 1.0
counterparts when the handshake settled protocol 1.0, :mod:`..datapath.queue_v1`). All socket
work is done by :class:`memif_harness.memif.Memif`, which owns the interface.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt

from ..datapath import kernel
from ..datapath.layout import CopyLayout
from ..datapath.layout_v1 import CopyLayoutV1
from ..datapath.queue import BytesLike, RxQueue, TxBuffer, TxQueue
from ..datapath.queue_v1 import RxQueueV1, TxQueueV1
from ..datapath.ring import Ring
from ..datapath.shm import Region
from ..protocol.config import InterfaceConfig, RunParams
from ..protocol.constants import ADD_RING_FLAG_S2M, VERSION, RingType, Role, RxMode
from ..protocol.control import ControlChannel
from ..protocol.errors import ErrorCode, MemifError, RemoteProtocolError
from ..protocol.events import ConnectRequested
from ..protocol.versions import VERSION_V1
from ..protocol.wire import AddRegion, AddRing

AnyTx = TxQueue | TxQueueV1
AnyRx = RxQueue | RxQueueV1
ConnCallback = Callable[["Interface", Any], None]
InterruptCallback = Callable[["Interface", Any, int], None]
_I64: TypeAlias = npt.NDArray[np.int64]


def _is_eventfd(fd: int) -> bool:
    """Whether ``fd`` is an eventfd (what the peer must pass with ADD_RING)."""
    try:
        return os.readlink(f"/proc/self/fd/{fd}") == "anon_inode:[eventfd]"
    except OSError:
        return False


@dataclasses.dataclass
class InterfaceCounters:
    """Connection-level counters reported by ``get_details``."""

    connects: int = 0
    disconnects: int = 0
    #: Connections we closed because the peer broke the protocol.
    protocol_errors: int = 0
    #: Invalid descriptors the peer wrote, over every connection so far.
    bad_descriptors: int = 0


@dataclasses.dataclass(frozen=True, kw_only=True)
class QueueDetails:
    """One queue as ``get_details`` reports it (libmemif's ``memif_queue_details_t``)."""

    qid: int
    ring: str
    region: int
    ring_size: int
    flags: int
    head: int
    tail: int
    buffer_size: int
    packets: int
    bytes: int
    bad_descriptors: int
    ring_full: int
    oversize: int
    interrupts: int


@dataclasses.dataclass(frozen=True, kw_only=True)
class Details:
    """What ``memif_get_details`` reports, plus our counters."""

    if_name: str
    inst_name: str
    remote_if_name: str
    remote_inst_name: str
    id: int
    secret: str
    role: Role
    mode: int
    socket_path: str
    regions: tuple[tuple[int, int, bool], ...]  # (index, size, sealed)
    rx_queues: tuple[QueueDetails, ...]
    tx_queues: tuple[QueueDetails, ...]
    link_up: bool
    error: str
    remote_error: str
    counters: InterfaceCounters


class Interface:
    """A memif interface; create it through :meth:`Memif.create`."""

    def __init__(
        self,
        config: InterfaceConfig,
        *,
        on_connect: ConnCallback | None = None,
        on_disconnect: ConnCallback | None = None,
        on_interrupt: InterruptCallback | None = None,
        private_ctx: Any = None,
        inst_name: str = "",
    ) -> None:
        self.config = config
        #: Our instance name: the runtime's app_name, sent in HELLO/INIT.
        self.inst_name = inst_name
        self.on_connect = on_connect
        self.on_disconnect = on_disconnect
        self.on_interrupt = on_interrupt
        self.private_ctx = private_ctx
        self.counters = InterfaceCounters()
        #: Guards memory and queues against a disconnect from another thread.
        self.lock = threading.RLock()
        self.channel: ControlChannel | None = None
        self.sock: socket.socket | None = None
        self.link_up = False
        self.regions: list[Region] = []
        self.tx_queues: list[AnyTx] = []
        self.rx_queues: list[AnyRx] = []
        #: The wire version of the current (or last) connection.
        self.version = VERSION
        #: Mode of every receive queue without an entry in :attr:`rx_modes`.
        self.default_rx_mode = RxMode.INTERRUPT
        self.rx_modes: dict[int, RxMode] = {}
        self.peer_name = ""
        self.peer_if_name = ""
        self.local_reason = ""
        self.remote_reason = ""
        self._rings: list[tuple[AddRing, Ring, int]] = []
        self._layout: CopyLayout | None = None
        #: Called (outside the lock) when the data path finds the peer broke the protocol;
        #: the runtime sets it to disconnect with the reason.
        self.on_violation: Callable[[Interface, RemoteProtocolError], None] | None = None
        kernel.warm(1)  # a copy-mode link's kernels, before any link: Numba takes ~0.3 s

    @property
    def role(self) -> Role:
        """Our role."""
        return self.config.role

    @property
    def connected(self) -> bool:
        """Whether a control connection exists (in any state)."""
        return self.channel is not None

    # -- slave: create memory on HELLO ----------------------------------------------------

    def prepare_memory(
        self, run: RunParams
    ) -> tuple[list[tuple[AddRegion, int]], list[tuple[AddRing, int]]]:
        """Slave: create the copy-mode region, rings and eventfds that ``run`` asks for (in
        protocol 1.0 with 32-byte descriptors, each given its buffer)."""
        cfg = self.config
        v1 = run.version == VERSION_V1
        layout = (CopyLayoutV1 if v1 else CopyLayout)(
            n_s2m=run.num_s2m_rings,
            n_m2s=run.num_m2s_rings,
            log2_ring_size=run.log2_ring_size,
            buffer_size=run.buffer_size,
            cacheline=cfg.cacheline,
        )
        region = Region.create(layout.size, f"memif {cfg.id} region 0")
        self.regions = [region]
        self._layout = layout
        self.version = run.version
        rings = []
        for ring_type, count in (
            (RingType.S2M, run.num_s2m_rings),
            (RingType.M2S, run.num_m2s_rings),
        ):
            for index in range(count):
                offset = layout.ring_offset(ring_type, index)
                ring = Ring(
                    region, offset, run.log2_ring_size, cfg.cacheline, version=run.version
                )
                ring.init()
                if isinstance(layout, CopyLayoutV1):
                    layout.assign_buffers(ring.desc, ring_type, index)
                efd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
                msg = AddRing(
                    flags=ADD_RING_FLAG_S2M if ring_type is RingType.S2M else 0,
                    index=index,
                    region=0,
                    offset=offset,
                    log2_ring_size=run.log2_ring_size,
                )
                self._rings.append((msg, ring, efd))
                rings.append((msg, efd))
        return [(AddRegion(index=0, size=layout.size), region.fd)], rings

    # -- master: map memory on CONNECT ----------------------------------------------------

    def map_memory(self, request: ConnectRequested) -> None:
        """Master: map the slave's regions and rings; RemoteProtocolError if anything misfits
        or a region cannot be sealed against shrinking (unless the config allows it).

        Takes ownership of every fd in ``request``, also when it raises (then call
        :meth:`release_memory`).
        """
        regions, rings = list(request.regions), list(request.rings)
        self.version = request.version
        try:
            while regions:
                msg, fd = regions.pop(0)
                region = Region.attach(fd, msg.size, index=msg.index)
                if not region.sealed and not self.config.allow_unsealed_regions:
                    region.close()  # the peer could shrink it under us: SIGBUS
                    raise RemoteProtocolError(
                        f"region {msg.index} is not sealed against shrinking (F_SEAL_SHRINK)"
                    )
                self.regions.append(region)
            while rings:
                ring_msg, efd = rings.pop(0)
                try:
                    ring = Ring.locate(
                        self.regions[ring_msg.region],
                        ring_msg.offset,
                        ring_msg.log2_ring_size,
                        self.config.cacheline,
                        version=request.version,
                    )
                    direction = "rx" if ring_msg.is_s2m else "tx"
                    ring.check_cookie(f"{direction} ring {ring_msg.index}")
                    if not _is_eventfd(efd):  # notify()/ack would write into anything else
                        raise RemoteProtocolError(
                            f"ring {ring_msg.index} interrupt fd is not an eventfd"
                        )
                except BaseException:
                    os.close(efd)
                    raise
                self._rings.append((ring_msg, ring, efd))
        except BaseException:
            for _, fd in (*regions, *rings):
                with contextlib.suppress(OSError):
                    os.close(fd)
            raise

    # -- both -----------------------------------------------------------------------------

    def build_queues(self) -> None:
        """Link up: one queue per ring; a slave posts its whole receive ring at once."""
        cfg = self.config
        layout = self._layout if self.role is Role.SLAVE else None
        v1 = self.version == VERSION_V1
        for msg, ring, efd in self._rings:
            ours_tx = msg.is_s2m == (self.role is Role.SLAVE)
            queue: AnyTx | AnyRx
            if v1:
                assert layout is None or isinstance(layout, CopyLayoutV1)
                cls_v1 = TxQueueV1 if ours_tx else RxQueueV1
                queue = cls_v1(
                    self.role, ring, self.regions, index=msg.index, layout=layout,
                    mode=cfg.mode, eventfd=efd,
                )
            else:
                cls = TxQueue if ours_tx else RxQueue
                queue = cls(
                    self.role, ring, self.regions, index=msg.index, layout=layout,
                    mode=cfg.mode, eventfd=efd,
                )
            if isinstance(queue, TxQueue | TxQueueV1):
                self.tx_queues.append(queue)
            else:
                queue.set_rx_mode(self.rx_modes.get(msg.index, self.default_rx_mode))
                if self.role is Role.SLAVE:
                    queue.refill()
                self.rx_queues.append(queue)
        self.link_up = True
        self.counters.connects += 1

    def release_memory(self) -> None:
        """Drop queues, unmap regions and close eventfds (after any disconnect)."""
        with self.lock:
            self.link_up = False
            self.counters.bad_descriptors += self._live_bad_descriptors()
            self.tx_queues, self.rx_queues = [], []
            for _, _, efd in self._rings:
                with contextlib.suppress(OSError):
                    os.close(efd)
            self._rings = []
            for region in self.regions:
                region.close()
            self.regions = []
            self._layout = None

    def _live_bad_descriptors(self) -> int:
        return sum(q.stats.bad_descriptors for q in (*self.tx_queues, *self.rx_queues))

    def interrupt_fds(self) -> list[tuple[int, int]]:
        """``(eventfd, qid)`` of every receive queue, for watching interrupts."""
        return [(q.eventfd, q.index) for q in self.rx_queues if q.eventfd is not None]

    def queue(self, kind: str, qid: int) -> AnyTx | AnyRx:
        """The tx or rx queue ``qid``; MemifError NOCONN/QID when there is none."""
        if not self.link_up:
            raise MemifError("interface is not connected", ErrorCode.NOCONN)
        queues: list[AnyTx] | list[AnyRx] = self.tx_queues if kind == "tx" else self.rx_queues
        if not 0 <= qid < len(queues):
            raise MemifError(f"no {kind} queue {qid} (have {len(queues)})", ErrorCode.QID)
        return queues[qid]

    # -- libmemif data-path API -------------------------------------------------------------

    @contextlib.contextmanager
    def _tx(self, qid: int) -> Iterator[AnyTx]:
        with self._guard():
            queue = self.queue("tx", qid)
            assert isinstance(queue, TxQueue | TxQueueV1)
            yield queue

    @contextlib.contextmanager
    def _rx(self, qid: int) -> Iterator[AnyRx]:
        with self._guard():
            queue = self.queue("rx", qid)
            assert isinstance(queue, RxQueue | RxQueueV1)
            yield queue

    @contextlib.contextmanager
    def _guard(self) -> Iterator[None]:
        """Hold the lock; report a peer's violation once the lock is released."""
        try:
            with self.lock:
                yield
        except RemoteProtocolError as exc:
            self._report(exc)
            raise

    def _report(self, exc: RemoteProtocolError) -> None:
        if self.on_violation is not None:
            self.on_violation(self, exc)

    def _bulk_queue(self, kind: str, qid: int) -> TxQueue | RxQueue:
        """The 2.0 queue for a bulk call (lock held); 1.0 raises MemifError(INVAL_ARG)."""
        queue = self.queue(kind, qid)
        if isinstance(queue, TxQueueV1 | RxQueueV1):
            raise MemifError(
                f"the bulk path is protocol 2.0's; use {'send' if kind == 'tx' else 'recv'}()",
                ErrorCode.INVAL_ARG,
            )
        return queue

    def get_queue_efd(self, qid: int) -> int:
        """``memif_get_queue_efd``: the eventfd that signals receive queue ``qid``."""
        with self._rx(qid) as rxq:
            assert rxq.eventfd is not None
            return rxq.eventfd

    def set_rx_mode(self, mode: RxMode, qid: int) -> None:
        """``memif_set_rx_mode``: polling sets MASK_INT on our receive ring, interrupt clears it.

        Remembered across reconnects; may be called before the link is up, for any ``qid``
        (a queue the link brings up later takes it). Once up, a ``qid`` without a receive
        queue raises MemifError(QID).
        """
        with self.lock:  # one section: a link coming up cannot slip between the two steps
            self.rx_modes[qid] = mode
            if self.link_up:
                rxq = self.queue("rx", qid)
                assert isinstance(rxq, RxQueue | RxQueueV1)
                rxq.set_rx_mode(mode)

    def rx_burst(self, qid: int, count: int = 256) -> list[memoryview]:
        """``memif_rx_burst``: up to ``count`` received frames as views into shared memory.

        The views stay valid until :meth:`buffer_free` / :meth:`refill_queue` gives the
        slots back. A peer's bad descriptor raises :class:`RemoteProtocolError`.
        Does not read the queue's eventfd: a caller that waits on it (``select`` on
        :meth:`get_queue_efd`) clears it with :meth:`ack_interrupt`.
        """
        with self._rx(qid) as rxq:
            return rxq.recv(count)

    def ack_interrupt(self, qid: int) -> int:
        """Clear receive queue ``qid``'s eventfd without blocking; signals pending (0: none).

        Call it after ``select`` on :meth:`get_queue_efd` wakes, then drain with
        :meth:`rx_burst`, so the eventfd does not stay readable.
        """
        with self._rx(qid) as rxq:
            return rxq.ack_interrupt()

    def buffer_free(self, qid: int, count: int | None = None) -> None:
        """``memif_buffer_free``: give back the oldest ``count`` received frames (all: None)."""
        with self._rx(qid) as rxq:
            rxq.release(count)

    def refill_queue(self, qid: int, count: int | None = None, headroom: int = 0) -> int:
        """``memif_refill_queue``: release received frames and, as slave, re-post buffers."""
        with self._rx(qid) as rxq:
            return rxq.release(count, headroom)

    def buffer_alloc(self, qid: int, count: int, size: int = 0) -> list[TxBuffer]:
        """``memif_buffer_alloc``: up to ``count`` transmit buffers (chained if ``size`` needs
        more than one); fewer when the ring is full."""
        with self._tx(qid) as txq:
            return txq.alloc(count, size)

    def tx_burst(self, qid: int, buffers: Sequence[TxBuffer]) -> int:
        """``memif_tx_burst``: publish allocated buffers and interrupt the peer if it asked."""
        with self._tx(qid) as txq:
            sent = txq.commit(buffers)
            txq.notify()
            return sent

    def send(self, qid: int, frames: Sequence[BytesLike]) -> int:
        """Copy whole frames onto transmit queue ``qid``; returns how many were consumed:
        placed, or dropped (``oversize``) because they can never fit the ring."""
        with self._tx(qid) as txq:
            sent = txq.send(frames)
            txq.notify()
            return sent

    def send_packed(self, qid: int, data: npt.NDArray[np.uint8], lengths: _I64) -> int:
        """:meth:`send` for frames packed back to back in ``data`` (frame ``i`` is
        ``lengths[i]`` bytes): the bulk path, with no Python object per frame (protocol 2.0
        only: a 1.0 link raises ``MemifError(INVAL_ARG)``)."""
        try:  # _guard() without its generator: this is the hot path
            with self.lock:
                txq = self._bulk_queue("tx", qid)
                assert isinstance(txq, TxQueue)
                sent = txq.send_packed(data, lengths)
                txq.notify()
                return sent
        except RemoteProtocolError as exc:
            self._report(exc)
            raise

    def recv_into(self, qid: int, buf: npt.NDArray[np.uint8], lengths: _I64) -> int:
        """Copy up to ``lengths.size`` received frames back to back into ``buf``, their sizes
        into ``lengths``, and give their slots back (releasing as :meth:`refill_queue`
        does); returns how many. The bulk path: it reads every byte, no view is left
        (protocol 2.0 only, as :meth:`send_packed`)."""
        try:  # as send_packed
            with self.lock:
                rxq = self._bulk_queue("rx", qid)
                assert isinstance(rxq, RxQueue)
                return rxq.recv_into(buf, lengths)
        except RemoteProtocolError as exc:
            self._report(exc)
            raise

    def get_details(self) -> Details:
        """``memif_get_details``: names, rings, regions, counters and disconnect reasons."""
        with self.lock:
            cfg = self.config

            def queue_details(q: AnyTx | AnyRx) -> QueueDetails:
                return QueueDetails(
                    qid=q.index,
                    ring=q.ring_type.name,
                    region=q.ring.region.index,
                    ring_size=q.ring.size,
                    flags=q.ring.flags,
                    head=q.ring.head,
                    tail=q.ring.tail,
                    buffer_size=q.buffer_size,
                    packets=q.stats.packets,
                    bytes=q.stats.bytes,
                    bad_descriptors=q.stats.bad_descriptors,
                    ring_full=q.stats.ring_full,
                    oversize=q.stats.oversize,
                    interrupts=q.stats.interrupts,
                )

            return Details(
                if_name=cfg.interface_name,
                inst_name=self.inst_name,
                remote_if_name=self.peer_if_name,
                remote_inst_name=self.peer_name,
                id=cfg.id,
                secret=cfg.secret,
                role=cfg.role,
                mode=int(cfg.mode),
                socket_path=cfg.socket,
                regions=tuple((r.index, r.size, r.sealed) for r in self.regions),
                rx_queues=tuple(queue_details(q) for q in self.rx_queues),
                tx_queues=tuple(queue_details(q) for q in self.tx_queues),
                link_up=self.link_up,
                error=self.local_reason,
                remote_error=self.remote_reason,
                counters=dataclasses.replace(
                    self.counters,
                    bad_descriptors=self.counters.bad_descriptors + self._live_bad_descriptors(),
                ),
            )


def send_retrying(
    iface: Interface,
    qid: int,
    frames: Sequence[BytesLike],
    timeout: float,
    *,
    pause: float = 0.0001,
    idle: Callable[[], None] | None = None,
) -> int:
    """Send ``frames`` on transmit queue ``qid``, retrying while the ring is full, until all
    went or ``timeout`` seconds passed; between tries call ``idle`` (if given) and sleep
    ``pause`` seconds. Returns how many were sent."""
    deadline = time.monotonic() + timeout
    sent = iface.send(qid, frames) if frames else 0
    while sent < len(frames):
        if idle is not None:
            idle()
        if time.monotonic() > deadline:
            break
        time.sleep(pause)
        sent += iface.send(qid, frames[sent:])
    return sent


def ack_queue_interrupt(iface: Interface, qid: int) -> None:
    """Consume the pending signals of receive queue ``qid``'s eventfd (after waking on it);
    a link that went down meanwhile (or a peer's violation, already reported) is not an error
    here: the next ``rx_burst`` says so."""
    with contextlib.suppress(MemifError):
        iface.ack_interrupt(qid)
