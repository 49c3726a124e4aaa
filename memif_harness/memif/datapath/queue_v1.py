"""Per-queue data path of protocol 1.0, both roles and both directions (protocol.md A.13).

Written from FDio/vpp 64ebb5ff133 (VPP's plugin and extras/libmemif of the same commit):

* The sender of each direction is the producer: it fills the buffer of ``desc[head]``,
  sets ``length`` and ``flags`` and advances ``head`` (VPP device.c:104-155, 249-250;
  libmemif main.c:1560-1749). The receiver reads ``last_head..head`` and releases by
  writing ``tail`` (VPP node.c:268-275, 457; libmemif main.c:1540). So the slave writes
  ``head`` of S2M and ``tail`` of M2S, the master ``head`` of M2S and ``tail`` of S2M.
* Every descriptor owns a fixed buffer the slave assigned at region creation: region 0,
  ``offset``, ``buffer_length`` = buffer size (VPP memif.c:294-322; libmemif main.c:1254-1285,
  :meth:`CopyLayoutV1.assign_buffers`). Nothing is posted or refilled.
* ``head`` and ``tail`` are ring indices, masked to ``size - 1`` (``(*head + 1) & mask``,
  VPP device.c:126). ``head == tail`` means empty, so at most ``size - 1`` slots are in
  flight (libmemif ``ns -= 1``, main.c:1374-1375; VPP device.c:199-202 does not keep the
  slot free and can make a full ring look empty; we never do).

Everything the peer controls (its index, the descriptors it wrote, and on the master the
buffers the slave assigned) is read once and validated before use; a violation raises
:class:`RemoteProtocolError`. The public methods are those of :mod:`.queue`, so the runtime
drives either version the same way. A 1.0 peer resets both indices to 0 when its own link
comes up (libmemif main.c:1184, 1202), after ours: a frame we sent in that instant stays in
its slot and is seen once our next one moves ``head`` past it again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np
import numpy.typing as npt

from ..protocol.constants import (
    DESC_FLAG_NEXT,
    ETHERNET_MAX_DESC_LEN,
    MAX_CHAIN,
    Mode,
    RingType,
    Role,
    RxMode,
)
from ..protocol.errors import LocalProtocolError, RemoteProtocolError
from ..protocol.versions import VERSION_V1
from .interrupts import read_eventfd, set_mask, signal_eventfd
from .layout_v1 import CopyLayoutV1
from .queue import BytesLike, QueueStats, TxBuffer
from .ring import Ring
from .shm import Region

__all__ = ["RxQueueV1", "TxQueueV1"]

_I64 = npt.NDArray[np.int64]


class _QueueV1:
    """What both directions share: the ring, regions, index checks, buffer lookup.

    Built like :class:`~memif_harness.memif.datapath.queue.TxQueue`: our ``role``, the
    :class:`Ring`, every region by number, the ring ``index``, the slave's
    :class:`CopyLayoutV1` (``None`` on the master), the interface ``mode`` and the ring's
    ``eventfd``.
    """

    #: Our transmit side (we write ``head``) or our receive side (we write ``tail``).
    TRANSMIT: ClassVar[bool]

    def __init__(
        self,
        role: Role,
        ring: Ring,
        regions: Sequence[Region],
        *,
        index: int = 0,
        layout: CopyLayoutV1 | None = None,
        mode: Mode = Mode.ETHERNET,
        eventfd: int | None = None,
    ) -> None:
        ring_type = RingType.S2M if (role is Role.SLAVE) == self.TRANSMIT else RingType.M2S
        if not regions:
            raise LocalProtocolError("a queue needs at least one region")
        if ring.version != VERSION_V1:
            raise LocalProtocolError("a protocol 1.0 queue needs a 1.0 ring")
        self.role = role
        self.ring = ring
        self.ring_type = ring_type
        self.index = index
        self.mode = mode
        self.eventfd = eventfd
        self.name = f"{ring_type.name} {index}"
        self.stats = QueueStats()
        self._views = [region.buf.data for region in regions]
        self._sizes = np.array([region.size for region in regions], dtype=np.int64)
        self._slot_offsets: _I64 = np.zeros(0, dtype=np.int64)
        self.buffer_size = 0
        if role is Role.SLAVE:
            if layout is None:
                raise LocalProtocolError("a slave queue needs its CopyLayoutV1")
            if ring.region is not regions[0] or ring.offset != layout.ring_offset(
                ring_type, index
            ):
                raise LocalProtocolError(f"ring {self.name} is not where {layout} puts it")
            self._slot_offsets = layout.slot_offsets(ring_type, index)
            self.buffer_size = layout.buffer_size
        elif layout is not None:
            raise LocalProtocolError("only a slave queue has a CopyLayoutV1")
        self._start()

    def _start(self) -> None:
        """Zero the index we own (nothing is taken from memory written before the link)."""

    def _slots(self, start: int, count: int) -> _I64:
        return (start + np.arange(count, dtype=np.int64)) & self.ring.mask

    def _index(self, value: int, what: str) -> int:
        """The peer's ``head`` or ``tail``; a masked index, so anything >= size is invalid."""
        if value >= self.ring.size:
            raise RemoteProtocolError(
                f"ring {self.name}: {what} {value} is not an index of {self.ring.size} slots"
            )
        return value

    def _buffers(self, slots: _I64) -> tuple[_I64, _I64, _I64]:
        """Region, offset and capacity of the buffer each slot owns, validated.

        The slave uses its own layout; the master reads what the slave assigned.
        """
        if self.role is Role.SLAVE:
            count = slots.size
            capacity = np.full(count, self.buffer_size, dtype=np.int64)
            return np.zeros(count, dtype=np.int64), self._slot_offsets[slots], capacity
        rec = self.ring.desc[slots]
        region = rec["region"].astype(np.int64)
        offset = rec["offset"].astype(np.uint64)
        capacity = rec["buffer_length"].astype(np.int64)
        n_regions = len(self._views)
        size = self._sizes[np.minimum(region, n_regions - 1)].astype(np.uint64)
        bad = (region >= n_regions) | (capacity == 0) | (offset > size)
        bad |= ~bad & (offset + capacity.astype(np.uint64) > size)
        if bad.any():
            self.stats.bad_descriptors += int(np.count_nonzero(bad))
            i = int(np.argmax(bad))
            raise RemoteProtocolError(
                f"bad descriptor on ring {self.name} slot {slots[i]}: buffer of "
                f"{capacity[i]} bytes at region {region[i]} offset {offset[i]} "
                f"({n_regions} regions)"
            )
        return region, offset.astype(np.int64), capacity


class TxQueueV1(_QueueV1):
    """Our transmit side: S2M as slave, M2S as master; we write ``head``. The same ``send`` /
    ``alloc`` / ``commit`` / ``notify`` as :class:`~memif_harness.memif.datapath.queue.TxQueue`.
    """

    TRANSMIT = True

    def _start(self) -> None:
        self._head = 0
        self.ring.head = 0
        self._pending: list[TxBuffer] = []

    def free(self) -> int:
        """Slots we may fill now (one always stays empty), after validating ``tail``."""
        tail = self._index(self.ring.tail, "tail")
        return self.ring.mask - ((self._head - tail) & self.ring.mask)

    def _capacity(self, capacity: _I64) -> _I64:
        """Bytes we put in one descriptor: receivers drop longer ones in ethernet mode."""
        if self.mode is Mode.ETHERNET:
            return np.minimum(capacity, ETHERNET_MAX_DESC_LEN)
        return capacity

    def _next_buffers(self, free: int) -> tuple[_I64, _I64, _I64, _I64]:
        """Slots, regions, offsets and capacities of the next ``free`` slots after the
        pending ones, read and validated once."""
        slots = self._slots(self._head + len(self._pending), free)
        region, offset, capacity = self._buffers(slots)
        return slots, region, offset, self._capacity(capacity)

    def _plan(self, lengths: Sequence[int], capacities: _I64) -> tuple[list[int], int]:
        """Descriptors per frame for the leading frames that fit in buffers of
        ``capacities``, and how many leading frames can never fit (dropped)."""
        capacity = capacities.tolist()
        free = len(capacity)
        smallest = min(capacity, default=self.buffer_size)
        plan: list[int] = []
        dropped = used = 0
        for length in lengths:
            need, filled = 0, 0
            while filled < length and used + need < free:
                filled += capacity[used + need]
                need += 1
            if filled >= length:
                plan.append(need)
                used += need
                continue
            if not plan and (free == self.ring.mask or length > self.ring.mask * smallest):
                dropped += 1  # larger than a whole ring of buffers: it never fits
                continue
            break
        return plan, dropped

    def send(self, frames: Sequence[BytesLike]) -> int:
        """Copy as many whole frames as fit and publish them; return how many frames were
        consumed (placed, or dropped as never fitting: ``stats.oversize``)."""
        if self._pending:
            raise LocalProtocolError("send() while alloc()ed buffers are not committed")
        if not frames:
            return 0
        if any(len(f) == 0 for f in frames):
            raise LocalProtocolError("cannot send an empty frame")
        slots, region, offset, capacity = self._next_buffers(self.free())
        plan, dropped = self._plan([len(f) for f in frames], capacity)
        self.stats.oversize += dropped
        placed = frames[dropped : dropped + len(plan)]
        if len(plan) + dropped < len(frames):
            self.stats.ring_full += 1
        if not plan:
            return dropped
        slots = slots[: sum(plan)]
        lengths = np.zeros(slots.size, dtype=np.int64)
        flags = np.zeros(slots.size, dtype=np.int64)
        n = 0
        for frame, need in zip(placed, plan, strict=True):
            data = memoryview(frame).cast("B")
            start = 0
            for k in range(n, n + need):
                chunk = min(int(capacity[k]), len(data) - start)
                o = int(offset[k])
                self._views[int(region[k])][o : o + chunk] = data[start : start + chunk]
                lengths[k], flags[k] = chunk, DESC_FLAG_NEXT
                start += chunk
            flags[n + need - 1] = 0
            n += need
        self._publish(slots, lengths, flags)
        self.stats.packets += len(plan)
        self.stats.bytes += int(lengths.sum())
        return dropped + len(plan)

    def alloc(self, count: int, size: int = 0) -> list[TxBuffer]:
        """Reserve buffers for up to ``count`` packets of ``size`` bytes (libmemif 1.0
        ``memif_buffer_alloc``, main.c:1340-1462); publish with :meth:`commit`."""
        if count <= 0 or size < 0:
            raise LocalProtocolError(f"bad alloc({count}, {size})")
        _, region, offset, capacity = self._next_buffers(max(0, self.free() - len(self._pending)))
        plan, dropped = self._plan([max(size, 1)] * count, capacity)
        if dropped:
            raise LocalProtocolError(f"a {size}-byte packet can never fit ring {self.name}")
        buffers: list[TxBuffer] = []
        n = 0
        for need in plan:
            left = size
            for k in range(n, n + need):
                o, c = int(offset[k]), int(capacity[k])
                chunk = min(c, left)
                buffers.append(TxBuffer(self._views[int(region[k])][o : o + c], chunk, True))
                left -= chunk
            buffers[-1].next = False
            n += need
        self._pending.extend(buffers)
        return buffers

    def commit(self, buffers: Sequence[TxBuffer]) -> int:
        """Publish the first ``len(buffers)`` allocated buffers (libmemif ``tx_burst``);
        the rules of :meth:`TxQueue.commit <memif_harness.memif.datapath.queue.TxQueue.commit>`."""
        count = len(buffers)
        pending = self._pending
        if count > len(pending) or any(b is not p for b, p in zip(buffers, pending, strict=False)):
            raise LocalProtocolError("commit() takes buffers in the order alloc() returned them")
        if count and buffers[-1].next:
            raise LocalProtocolError(
                "commit() would end inside a packet: its last buffer has next set"
            )
        if any(not 0 <= b.length <= b.capacity for b in buffers):
            raise LocalProtocolError("a TxBuffer length is negative or exceeds its capacity")
        self._pending = []
        lengths = np.array([b.length for b in buffers], dtype=np.int64)
        flags = np.array([DESC_FLAG_NEXT if b.next else 0 for b in buffers], dtype=np.int64)
        self._publish(self._slots(self._head, count), lengths, flags)
        self.stats.packets += sum(not b.next for b in buffers)
        self.stats.bytes += int(lengths.sum())
        return count

    def notify(self) -> bool:
        """Signal the peer through the eventfd unless it set MASK_INT; return whether written."""
        written = signal_eventfd(self.eventfd, self.ring, self.name)
        self.stats.interrupts += written
        return written

    def _publish(self, slots: _I64, lengths: _I64, flags: _I64) -> None:
        """Write length and flags of the descriptors, then move ``head`` past them."""
        desc = self.ring.desc
        desc["length"][slots] = lengths
        desc["flags"][slots] = flags
        self._head = (self._head + slots.size) & self.ring.mask
        self.ring.head = self._head


class RxQueueV1(_QueueV1):
    """Our receive side: M2S as slave, S2M as master; we write ``tail``.

    The same ``available`` / ``recv`` / ``release`` as
    :class:`~memif_harness.memif.datapath.queue.RxQueue`; ``refill`` posts nothing (1.0
    buffers are fixed) and ``release`` takes no headroom.
    """

    TRANSMIT = False

    def _start(self) -> None:
        self.rx_mode = RxMode.INTERRUPT
        #: Indices (masked): read up to, released up to (= our tail).
        self._read = self._released = 0
        self.ring.tail = 0
        #: Descriptors of each frame handed out and not yet released.
        self._held: list[int] = []

    def available(self) -> int:
        """Descriptors ready to read, after validating ``head``."""
        mask = self.ring.mask
        head = self._index(self.ring.head, "head")
        filled = (head - self._released) & mask
        held = (self._read - self._released) & mask
        if filled < held:
            raise RemoteProtocolError(
                f"ring {self.name}: head {head} went back before {self._read}"
            )
        return filled - held

    def recv(self, max_frames: int = 256) -> list[memoryview]:
        """Up to ``max_frames`` complete frames, valid until :meth:`release`; a trailing
        incomplete chain is left for a later call."""
        count = self.available()
        if count == 0 or max_frames <= 0:
            return []
        slots = self._slots(self._read, count)
        rec = self.ring.desc[slots]
        more = (rec["flags"] & DESC_FLAG_NEXT) != 0
        ends = np.flatnonzero(~more)
        longest = int(np.diff(ends, prepend=-1).max()) if ends.size else 0
        trailing = count - (int(ends[-1]) + 1 if ends.size else 0)
        if max(longest, trailing) > MAX_CHAIN:
            raise RemoteProtocolError(
                f"ring {self.name}: NEXT chain of over {MAX_CHAIN} descriptors"
            )
        if trailing == self.ring.mask:  # a full ring that never ends a frame
            raise RemoteProtocolError(f"ring {self.name}: NEXT set on all {trailing} slots")
        ends = ends[:max_frames]
        if ends.size == 0:
            return []
        used = int(ends[-1]) + 1
        slots, rec = slots[:used], rec[:used]
        length = rec["length"].astype(np.int64)
        region, offset, capacity = self._buffers(slots)
        bad = (length == 0) | (length > capacity)
        if self.mode is Mode.ETHERNET:
            bad |= length > ETHERNET_MAX_DESC_LEN
        if bad.any():
            self.stats.bad_descriptors += int(np.count_nonzero(bad))
            i = int(np.argmax(bad))
            raise RemoteProtocolError(
                f"bad descriptor on ring {self.name} slot {slots[i]}: length {length[i]} "
                f"(buffer {capacity[i]} bytes)"
            )
        segments = [
            self._views[r][o : o + n]
            for r, o, n in zip(region.tolist(), offset.tolist(), length.tolist(), strict=True)
        ]
        starts = np.concatenate(([0], ends[:-1] + 1)).tolist()
        frames = [
            segments[s] if s == e else memoryview(b"".join(segments[s : e + 1]))
            for s, e in zip(starts, ends.tolist(), strict=True)
        ]
        self._held.extend(np.diff(ends, prepend=-1).tolist())
        self._read = (self._read + used) & self.ring.mask
        self.stats.packets += len(frames)
        self.stats.bytes += int(length.sum())
        return frames

    def release(self, count: int | None = None, headroom: int = 0) -> int:
        """Give back the oldest ``count`` frames handed out (default: all) by advancing
        ``tail``; their views become invalid. Returns 0: nothing is re-posted in 1.0."""
        held = len(self._held)
        count = held if count is None else count
        if not 0 <= count <= held:
            raise LocalProtocolError(f"cannot release {count} frames, {held} held")
        if headroom:
            raise LocalProtocolError("protocol 1.0 has no headroom: buffers are fixed")
        self._released = (self._released + sum(self._held[:count])) & self.ring.mask
        del self._held[:count]
        self.ring.tail = self._released
        return 0

    def refill(self, count: int | None = None, headroom: int = 0) -> int:
        """Slave: nothing to post, every slot owns its buffer from the start; returns 0."""
        if self.role is not Role.SLAVE:
            raise LocalProtocolError("only the slave owns the buffers")
        if headroom:
            raise LocalProtocolError("protocol 1.0 has no headroom: buffers are fixed")
        return 0

    def set_rx_mode(self, mode: RxMode) -> None:
        """Set (polling) or clear (interrupt) MASK_INT on the ring we consume."""
        set_mask(self.ring, mode)
        self.rx_mode = mode

    def ack_interrupt(self) -> int:
        """Read the eventfd without blocking; the count of signals pending (0 if none)."""
        value = read_eventfd(self.eventfd, self.name)
        self.stats.interrupts += value > 0
        return value
