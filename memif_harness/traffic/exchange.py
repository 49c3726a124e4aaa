"""Send-and-verify over endpoints: send tagged frames, receive, classify, one-line asserts.

>>> verdict = send_and_expect(slave, master, udp(1, count=100, size=64))   # doctest: +SKIP
>>> send_and_expect(ep, ep, icmp(2, 50), expect=icmp_echo_reply)           # doctest: +SKIP

:func:`send_and_expect` sends over :class:`~memif_harness.Endpoint` objects
(:func:`send_frames`, :func:`receive`), classifies what came back and raises an
AssertionError with :meth:`Verdict.report` on a mismatch, given a directory writing
``sent.pcap`` and ``received.pcap`` there (:func:`write_pcaps`).
"""

from __future__ import annotations

import contextlib
import itertools
import select
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from scapy.utils import wrpcap

from ..memif.protocol.errors import MemifError
from ..memif.runtime.endpoint import Endpoint, Frame
from ..memif.runtime.interface import ack_queue_interrupt, send_retrying
from .expect import Expect, identity, looks_l2, resolve_expect
from .streams import Stream
from .verdict import Verdict, classify

__all__ = ["receive", "send_and_expect", "send_frames", "write_pcaps"]

QueueSpec = int | Sequence[int] | Callable[[int, bytes], int]
#: ``progress(sent, received)``, called about once a second while frames go out.
Progress = Callable[[int, int], None]
#: Seconds between two ``progress`` calls.
PROGRESS_PERIOD = 1.0


def _frames(frames: Stream | Iterable[Stream] | Iterable[Frame]) -> list[bytes]:
    if isinstance(frames, Stream):
        return list(frames.frames())
    out: list[bytes] = []
    for item in frames:
        if isinstance(item, Stream):
            out.extend(item.frames())
        else:
            out.append(item if isinstance(item, bytes) else bytes(item))
    return out


def _rx_queues(endpoint: Endpoint, rx_queue: int | Sequence[int] | None) -> list[int]:
    if rx_queue is None:
        return list(range(len(endpoint.interface.rx_queues) or 1))
    return [rx_queue] if isinstance(rx_queue, int) else list(rx_queue)


def _poll(endpoint: Endpoint, queues: Sequence[int], out: list[bytes], limit: int = 256) -> int:
    """Move whatever waits on ``queues`` into ``out`` (copies); returns how many."""
    iface, got = endpoint.interface, 0
    for qid in queues:
        while True:
            views = iface.rx_burst(qid, limit)
            if not views:
                break
            out.extend(bytes(v) for v in views)
            got += len(views)
            del views
            iface.refill_queue(qid)
    return got


def _wait(endpoint: Endpoint, queues: Sequence[int], timeout: float) -> None:
    iface = endpoint.interface
    fds: dict[int, int] = {}
    for qid in queues:
        with contextlib.suppress(MemifError):
            fds[iface.get_queue_efd(qid)] = qid
    # A short cap covers peers that never signal (polling peers, MASK_INT races).
    ready, _, _ = select.select(list(fds), [], [], max(0.0, min(timeout, 0.002)))
    for fd in ready:
        ack_queue_interrupt(iface, fds[fd])


def receive(
    endpoint: Endpoint,
    count: int,
    *,
    queues: int | Sequence[int] | None = None,
    timeout: float = 1.0,
    quiet: float = 0.0,
) -> list[bytes]:
    """Frames from several receive queues (all by default) until ``count`` came or
    ``timeout``; then keep listening ``quiet`` seconds more for extras (duplicates)."""
    qids = _rx_queues(endpoint, queues)
    out: list[bytes] = []
    deadline = time.monotonic() + timeout
    while len(out) < count:
        if not _poll(endpoint, qids, out):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            _wait(endpoint, qids, left)
    end = time.monotonic() + quiet
    while (left := end - time.monotonic()) > 0:
        if not _poll(endpoint, qids, out):
            _wait(endpoint, qids, left)
    return out


def send_frames(
    tx: Endpoint,
    frames: Sequence[bytes],
    *,
    queue: QueueSpec = 0,
    burst: int = 32,
    gap: float = 0.0,
    rate: float | None = None,
    timeout: float = 2.0,
    rx: Endpoint | None = None,
    rx_queues: Sequence[int] = (),
    received: list[bytes] | None = None,
    window: int | None = None,
    deadline: float | None = None,
    progress: Progress | None = None,
) -> int:
    """Send ``frames`` in bursts of ``burst`` (``rate`` pps and/or ``gap`` s between bursts).

    ``queue`` is one queue, one per frame, or ``f(index, frame) -> queue``. While waiting
    (for ring space or the next burst) frames on ``rx``'s ``rx_queues`` go into ``received``
    so an echoing peer never stalls. ``window`` caps the frames in flight (sent, not yet
    received) for a reflecting peer that drops what finds our receive ring full, as testpmd
    does; a wait for the window that lasts ``timeout`` counts what is still out as lost, and
    if nothing at all came back meanwhile the peer is taken not to echo and the window is
    dropped (so a non-echoing peer costs one ``timeout``, not one per burst). Sending stops at
    ``deadline`` (a :func:`time.monotonic` value). Returns how many were sent (fewer if a
    ring stayed full for ``timeout`` or the deadline passed).
    """
    if callable(queue):
        steer = [queue(i, f) for i, f in enumerate(frames)]
    elif isinstance(queue, int):
        steer = [queue] * len(frames)
    else:
        steer = list(queue)
        if len(steer) != len(frames):
            raise ValueError(f"{len(steer)} queues for {len(frames)} frames")
    sink = received if received is not None else []

    def pump() -> None:
        if rx is not None and rx_queues:
            _poll(rx, rx_queues, sink)

    interval = burst / rate if rate else 0.0
    start = time.monotonic()
    next_progress = start + PROGRESS_PERIOD
    sent = 0
    written_off = 0  # frames counted lost after a window wait timed out
    for n, first in enumerate(range(0, len(frames), max(1, burst))):
        now = time.monotonic()
        if deadline is not None and now >= deadline:
            return sent
        if progress is not None and now >= next_progress:
            progress(sent, len(sink))
            next_progress = now + PROGRESS_PERIOD
        if n and (interval or gap):
            due = start + n * interval + n * gap
            while (left := due - time.monotonic()) > 0:
                pump()
                if left > 0.0005:
                    time.sleep(min(left, 0.001))
        chunk = range(first, min(first + burst, len(frames)))
        if window is not None:
            wait_until = time.monotonic() + timeout
            came = len(sink)
            while sent + len(chunk) - len(sink) - written_off > window:
                if time.monotonic() >= wait_until:
                    if len(sink) == came:
                        window = None  # nothing came back: the peer does not echo
                    written_off = sent - len(sink)
                    break
                pump()
                time.sleep(0.00005)
        # consecutive frames of one queue go in one call
        for qid, group in itertools.groupby(chunk, key=lambda i: steer[i]):
            batch = [frames[i] for i in group]
            done = send_retrying(tx.interface, qid, batch, timeout, pause=0.00005, idle=pump)
            sent += done
            if done < len(batch):
                return sent
        pump()
    return sent


def send_and_expect(
    tx: Endpoint,
    rx: Endpoint | None,
    frames: Stream | Iterable[Stream] | Iterable[Frame],
    expect: str | Expect | None = identity,
    *,
    queue: QueueSpec = 0,
    rx_queue: int | Sequence[int] | None = None,
    timeout: float = 2.0,
    burst: int = 32,
    gap: float = 0.0,
    rate: float | None = None,
    ordered: bool = True,
    quiet: float = 0.0,
    pcap_dir: str | Path | None = None,
    check: bool = True,
    window: int | None = None,
    deadline: float | None = None,
    progress: Progress | None = None,
) -> Verdict:
    """Send ``frames`` on ``tx`` and assert that exactly ``expect(frame)`` of each came out
    of ``rx`` (``None``: ``tx`` itself, for a peer that echoes).

    Receives on ``rx_queue`` (default: every receive queue) until every expected frame came or
    ``timeout``, then ``quiet`` seconds more (to catch duplicates); ``window``, ``deadline``
    (which also ends the receiving) and ``progress`` as in :func:`send_frames`. On a mismatch
    writes
    ``sent.pcap`` and ``received.pcap`` into ``pcap_dir`` (if given) and, with ``check``,
    raises AssertionError with :meth:`Verdict.report`; returns the :class:`Verdict`.
    """
    rx = tx if rx is None else rx
    sent_frames = _frames(frames)
    transform = resolve_expect(expect)
    outputs = [transform(f) for f in sent_frames]
    want = sum(out is not None for out in outputs)
    qids = _rx_queues(rx, rx_queue)
    received: list[bytes] = []
    start = time.monotonic()
    sent = send_frames(
        tx,
        sent_frames,
        queue=queue,
        burst=burst,
        gap=gap,
        rate=rate,
        timeout=timeout,
        rx=rx,
        rx_queues=qids,
        received=received,
        window=window,
        deadline=deadline,
        progress=progress,
    )
    if deadline is not None:
        timeout = max(0.0, min(timeout, deadline - time.monotonic()))
        quiet = min(quiet, timeout)
    received += receive(rx, want - len(received), queues=qids, timeout=timeout, quiet=quiet)
    elapsed = time.monotonic() - start
    verdict = classify(
        sent_frames[:sent], received, transform, ordered=ordered, expected_frames=outputs[:sent]
    )
    verdict.unsent = len(sent_frames) - sent
    verdict.sent = len(sent_frames)
    verdict.elapsed = elapsed
    if not verdict.ok and pcap_dir is not None:
        verdict.pcaps = write_pcaps(pcap_dir, sent_frames[:sent], received)
    if check and not verdict.ok:
        raise AssertionError(verdict.report())
    return verdict


def write_pcaps(
    directory: str | Path, sent: Sequence[bytes], received: Sequence[bytes]
) -> list[Path]:
    """``sent.pcap`` and ``received.pcap`` in ``directory`` (created); Ethernet or raw IP."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    sample = next(iter(sent), None) or next(iter(received), b"")
    linktype = 1 if not sample or looks_l2(sample) else 101  # DLT_EN10MB or DLT_RAW
    paths = []
    for name, frames in (("sent.pcap", sent), ("received.pcap", received)):
        path = folder / name
        wrpcap(str(path), list(frames), linktype=linktype)  # type: ignore[arg-type]
        paths.append(path)
    return paths
