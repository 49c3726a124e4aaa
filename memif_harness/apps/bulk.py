"""``memif-harness gen --bulk``: load a peer with one frame, repeated, for a duration.

No per-frame Python object: the frame is packed a burst's worth of times into one numpy
buffer (:func:`burst_frames`) and sent with ``Interface.send_packed`` on every queue in
turn; whatever comes back is copied out and counted with ``Interface.recv_into``. At a
``rate``, the frames due by now are offered once: those the ring has no room for are
dropped and counted (ring full), as a hardware generator at a fixed rate drops them.
Unlimited, each call offers a burst and the ring's back-pressure sets the pace: nothing is
due, so nothing is dropped, and ``ring_full`` counts the calls that found the ring full.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

from ..memif.protocol.constants import RxMode
from ..memif.runtime.endpoint import Endpoint
from ..memif.runtime.interface import Interface
from .link import LinkConfig
from .output import print_table, say

#: Seconds to keep receiving after the last frame went out, for an echoing peer's answers.
DRAIN = 0.2
#: Most bytes a bulk call moves: its frames then stay in a core's L2 cache, as testpmd's
#: bursts of 32 recycled mbufs stay in its caches (measured: 1500-byte frames went from
#: 0.60x to 0.9x of testpmd's rate with 256-frame calls instead of whole rings).
BURST_BYTES = 384 * 1024


def burst_frames(size: int, log2_ring_size: int) -> int:
    """Frames per bulk call: a whole ring, or a power of two of them within
    :data:`BURST_BYTES` (at least 32, testpmd's burst)."""
    return min(1 << log2_ring_size, max(32, 1 << (BURST_BYTES // size).bit_length() - 1))


@dataclasses.dataclass
class QueueLoad:
    """What one queue sent and received."""

    sent: int = 0
    dropped: int = 0
    ring_full: int = 0
    received: int = 0
    received_bytes: int = 0


@dataclasses.dataclass
class BulkResult:
    """Per-queue counts of a bulk run and its length in seconds (link up to last send)."""

    frame_size: int
    elapsed: float
    queues: list[QueueLoad]

    @property
    def sent(self) -> int:
        return sum(q.sent for q in self.queues)

    @property
    def dropped(self) -> int:
        return sum(q.dropped for q in self.queues)

    @property
    def received(self) -> int:
        return sum(q.received for q in self.queues)

    @property
    def pps(self) -> float:
        """Frames placed on the rings per second."""
        return self.sent / self.elapsed if self.elapsed > 0 else 0.0


class _Receiver:
    """Copies out and counts what comes back on every receive queue."""

    def __init__(self, iface: Interface, loads: list[QueueLoad], burst: int, size: int) -> None:
        self.iface = iface
        self.loads = loads
        self.lengths = np.empty(burst, dtype=np.int64)
        self.buf = np.empty(burst * max(size, iface.config.buffer_size), dtype=np.uint8)

    def poll(self) -> None:
        for qid in range(len(self.iface.rx_queues)):
            got = self.iface.recv_into(qid, self.buf, self.lengths)
            if got:
                load = self.loads[qid % len(self.loads)]
                load.received += got
                load.received_bytes += int(self.lengths[:got].sum())


def load(
    endpoint: Endpoint,
    frame: bytes,
    duration: float,
    rate: float | None = None,
    *,
    drain: float = DRAIN,
) -> BulkResult:
    """Send ``frame`` for ``duration`` seconds on every transmit queue (``rate`` frames per
    second in all, or as fast as the rings drain), receiving what comes back, and for
    ``drain`` seconds more."""
    iface = endpoint.interface
    for qid in range(len(iface.rx_queues)):  # we poll: the peer need not signal each burst
        iface.set_rx_mode(RxMode.POLLING, qid)
    burst = burst_frames(len(frame), iface.config.log2_ring_size)
    data = np.frombuffer(frame * burst, dtype=np.uint8)
    lengths = np.full(burst, len(frame), dtype=np.int64)
    queues = len(iface.tx_queues)
    loads = [QueueLoad() for _ in range(queues)]
    receiver = _Receiver(iface, loads, burst, len(frame))
    start = time.monotonic()
    end = start + duration
    offered = 0
    qid = 0
    while (now := time.monotonic()) < end:
        want = burst if rate is None else min(burst, int(rate * (now - start)) - offered)
        if want > 0:
            placed = iface.send_packed(qid, data, lengths[:want])
            loads[qid].sent += placed
            loads[qid].ring_full += placed < want  # as the queue counts ``ring_full``
            if rate is not None:
                loads[qid].dropped += want - placed
                offered += want
            qid = (qid + 1) % queues
        receiver.poll()
    elapsed = time.monotonic() - start
    quiet = time.monotonic() + drain
    while time.monotonic() < quiet:
        receiver.poll()
    return BulkResult(frame_size=len(frame), elapsed=elapsed, queues=loads)


BULK_COLUMNS = ("queue", "sent", "dropped", "ring full", "received", "pps", "Mbit/s")


def print_result(title: str, result: BulkResult) -> None:
    """One row per queue and a total: frames placed, dropped at the rate, ring-full calls,
    frames received, and the achieved send rate."""

    def row(name: str, q: QueueLoad) -> list[object]:
        pps = q.sent / result.elapsed if result.elapsed > 0 else 0.0
        mbit = pps * result.frame_size * 8 / 1e6
        return [name, q.sent, q.dropped, q.ring_full, q.received, f"{pps:,.0f}", f"{mbit:,.1f}"]

    rows = [row(str(i), q) for i, q in enumerate(result.queues)]
    if len(rows) > 1:
        total = QueueLoad(
            sent=result.sent,
            dropped=result.dropped,
            ring_full=sum(q.ring_full for q in result.queues),
            received=result.received,
        )
        rows.append(row("all", total))
    print_table(title, BULK_COLUMNS, rows)


def run(link: LinkConfig, frame: bytes, duration: float, rate: float | None) -> int:
    """Connect, load the peer, print the counts; 1 if the link failed or went down."""

    def work(endpoint: Endpoint) -> int:
        result = load(endpoint, frame, duration, rate)
        pace = "unlimited" if rate is None else f"{rate:,.0f} pps"
        print_result(
            f"gen --bulk: {len(frame)}-byte frames for {duration:g} s, rate {pace}, "
            f"{len(result.queues)} queue(s)",
            result,
        )
        say(
            f"gen: bulk: sent {result.sent} ({result.pps:,.0f} pps, {result.sent * len(frame)} "
            f"bytes), dropped {result.dropped}, received {result.received}"
        )
        return 0

    return link.serve("gen", work)
