"""Per-queue data path over shared memory, both roles and both directions (protocol.md A.6).

Protocol 2.0: the slave writes ``head`` of both rings and the master writes ``tail``.

* S2M, slave :class:`TxQueue`: fills its own slot buffers, advances ``head``.
* S2M, master :class:`RxQueue`: reads ``tail..head``, releases by advancing ``tail``.
* M2S, slave :class:`RxQueue`: posts empty buffers by advancing ``head`` (:meth:`RxQueue.refill`),
  reads what the master filled up to ``tail``, re-posts on release.
* M2S, master :class:`TxQueue`: fills the buffers posted in ``tail..head`` (capacity = the
  posted ``length``), advances ``tail``.

A queue starts every counter at 0 and writes 0 to the one its role owns, as libmemif and
DPDK reset head and tail at connect (A.6): nothing is taken from memory the peer could have
written before the link came up. Everything the peer controls (its counter, the descriptors
it wrote) is read once into local copies and validated before use; a violation raises
:class:`RemoteProtocolError` whose ``reason`` is meant for DISCONNECT. Our own counters are
kept as Python ints and only written to the ring, never read back. Descriptor work and
validation are vectorised with numpy; payload bytes move by one memcpy per descriptor (one
strided copy for a burst of equal chunks), which measured faster than a per-byte index
scatter.

Stores are ordered by program order (descriptors and data before the counter), which is
what x86's memory model needs; weakly ordered CPUs would need barriers Python lacks.
"""

from __future__ import annotations

import dataclasses
import itertools
import os
from collections.abc import Sequence
from typing import TypeAlias

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import as_strided

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
from . import kernel
from .interrupts import read_eventfd, set_mask, signal_eventfd
from .layout import DESC_DTYPE, CopyLayout
from .ring import Ring
from .shm import Region

__all__ = ["BytesLike", "QueueStats", "RxQueue", "TxBuffer", "TxQueue"]

BytesLike: TypeAlias = bytes | bytearray | memoryview
_I64: TypeAlias = npt.NDArray[np.int64]
_Desc: TypeAlias = npt.NDArray[np.void]


@dataclasses.dataclass
class QueueStats:
    """Counters of one queue."""

    packets: int = 0
    bytes: int = 0
    #: TX: calls that could not place every frame they were given.
    ring_full: int = 0
    #: Descriptors found invalid (each one makes the call raise).
    bad_descriptors: int = 0
    #: TX: frames dropped because they can never fit the ring (VPP's "no free tx slots").
    oversize: int = 0
    #: TX: eventfd writes; RX: eventfd reads that found an interrupt pending.
    interrupts: int = 0


@dataclasses.dataclass(eq=False, slots=True)
class TxBuffer:
    """One descriptor's buffer from :meth:`TxQueue.alloc`.

    Write the payload into ``data`` (writable shared memory, ``capacity`` bytes) and set
    ``length``. ``next`` is the NEXT flag: set on every buffer of a packet but the last.
    """

    data: memoryview
    length: int
    next: bool

    @property
    def capacity(self) -> int:
        """Bytes the buffer can hold."""
        return len(self.data)


def _excl_cumsum(values: _I64) -> _I64:
    """``[0, v0, v0+v1, ...]`` without the grand total."""
    out: _I64 = np.cumsum(values) - values
    return out


class _Queue:
    """What both directions share: the ring, regions, bounds checks and the slave's buffers."""

    def __init__(
        self,
        ring_type: RingType,
        role: Role,
        ring: Ring,
        regions: Sequence[Region],
        *,
        index: int,
        layout: CopyLayout | None,
        mode: Mode,
        eventfd: int | None,
    ) -> None:
        if not regions:
            raise LocalProtocolError("a queue needs at least one region")
        self.role = role
        self.ring = ring
        self.ring_type = ring_type
        self.index = index
        self.mode = mode
        self.eventfd = eventfd
        self.name = f"{ring_type.name} {index}"
        self.stats = QueueStats()
        self._bufs = [region.buf for region in regions]
        self._views = [buf.data for buf in self._bufs]
        self._sizes = np.array([region.size for region in regions], dtype=np.int64)
        self._desc = ring.desc
        self._slot_offsets: _I64 = np.zeros(0, dtype=np.int64)
        self.buffer_size = 0
        if role is Role.SLAVE:
            if layout is None:
                raise LocalProtocolError("a slave queue needs its CopyLayout")
            if (
                ring.region is not regions[0]
                or ring.offset != layout.ring_offset(ring_type, index)
                or ring.log2_size != layout.log2_ring_size
            ):
                raise LocalProtocolError(f"ring {self.name} is not where {layout} puts it")
            self._slot_offsets = layout.slot_offsets(ring_type, index)
            self.buffer_size = layout.buffer_size
        elif layout is not None:
            raise LocalProtocolError("only a slave queue has a CopyLayout")
        #: What one of the slave's own buffers holds per descriptor we send: receivers
        #: drop longer ones in ethernet mode (A.6), so we chain instead.
        self._slot_capacity = (
            min(self.buffer_size, ETHERNET_MAX_DESC_LEN)
            if mode is Mode.ETHERNET
            else self.buffer_size
        )
        #: Slave: every slot's buffer as one row of a strided view, and the descriptors
        #: (region 0, the slot's offset, flags 0) that point at them.
        self._slot_rows: npt.NDArray[np.uint8] = np.zeros((0, 0), dtype=np.uint8)
        self._own_desc: _Desc = np.zeros(0, dtype=DESC_DTYPE)
        if role is Role.SLAVE and ring.size:
            start = int(self._slot_offsets[0])
            extent = self._bufs[0][start : start + ring.size * self.buffer_size]
            self._slot_rows = as_strided(
                extent, shape=(ring.size, self.buffer_size), strides=(self.buffer_size, 1)
            )
            self._own_desc = np.zeros(ring.size, dtype=DESC_DTYPE)
            self._own_desc["offset"] = self._slot_offsets
        self._desc_length: npt.NDArray[np.uint32] = self._desc["length"]
        self._desc_flags: npt.NDArray[np.uint16] = self._desc["flags"]
        #: The compiled bulk paths (:mod:`.kernel`); None: the numpy path.
        self.kernels = kernel.load() if len(regions) <= kernel.MAX_REGIONS else None
        if self.kernels is not None:
            kernel.warm(len(regions))
        self._words = self._desc.view(np.uint32).reshape(ring.size, 4)  # see kernel_numba
        #: Our counter's and the peer's u16 word in the ring header, for the kernels: on
        #: every ring the slave moves head and the master tail.
        self._our_word, self._peer_word = (
            (ring.head_word, ring.tail_word) if role is Role.SLAVE
            else (ring.tail_word, ring.head_word)
        )  # fmt: skip
        self._region_bufs = tuple(self._bufs)
        self._snap = np.zeros((len(DESC_DTYPE.names or ()), ring.size), dtype=np.int64)
        self._eth_max = ETHERNET_MAX_DESC_LEN if mode is Mode.ETHERNET else 0
        if eventfd is not None:
            os.set_blocking(eventfd, False)  # the peer can saturate or drain it: never block

    def _slots(self, start: int, count: int) -> _I64:
        return (start + np.arange(count, dtype=np.int64)) & self.ring.mask

    def _check(self, slots: _I64, rec: _Desc, *, rx: bool, posted: _I64 | None = None) -> None:
        """Count the invalid descriptors and raise RemoteProtocolError naming the first."""
        region = rec["region"].astype(np.int64)
        offset = rec["offset"].astype(np.int64)
        length = rec["length"].astype(np.int64)
        n_regions = len(self._bufs)
        size = self._sizes[np.minimum(region, n_regions - 1)]
        bad = (region >= n_regions) | (offset + length > size) | (length == 0)
        if rx and self.mode is Mode.ETHERNET:
            bad |= length > ETHERNET_MAX_DESC_LEN
        if posted is not None:
            bad |= length > posted
        if not bad.any():
            return
        self.stats.bad_descriptors += int(np.count_nonzero(bad))
        i = int(np.argmax(bad))
        r, o, n = int(region[i]), int(offset[i]), int(length[i])
        if r >= n_regions:
            why = f"region {r} out of range ({n_regions} regions)"
        elif o + n > size[i]:
            why = f"offset {o} + length {n} overruns region {r} ({size[i]} bytes)"
        elif n == 0:
            why = "length 0"
        elif posted is not None and n > posted[i]:
            why = f"length {n} > {posted[i]} bytes posted"
        else:
            why = f"length {n} > {ETHERNET_MAX_DESC_LEN} in ethernet mode"
        raise RemoteProtocolError(f"bad descriptor on ring {self.name} slot {slots[i]}: {why}")

    def _check_snapshot(
        self, start: int, first: int, end: int, *, rx: bool, posted: _I64 | None = None
    ) -> None:
        """Raise what :meth:`_check` raises for the kernel's snapshot columns ``first..end``
        (the descriptors of slots ``start + first`` on), which the kernel found bad;
        ``posted``: every slot's posted capacity (slave receive)."""
        rec = np.zeros(end - first, dtype=DESC_DTYPE)
        for row, name in enumerate(DESC_DTYPE.names or ()):
            rec[name] = self._snap[row, first:end]
        slots = self._slots(start + first, end - first)
        self._check(slots, rec, rx=rx, posted=None if posted is None else posted[slots])
        raise AssertionError(f"the kernel and the numpy checks disagree on ring {self.name}")


class TxQueue(_Queue):
    """Our transmit side: the S2M ring if we are slave, the M2S ring if we are master.

    Build with our ``role``, the :class:`Ring`, every region by number, the ring ``index``
    (for messages and, on the slave, the slot buffers), the slave's :class:`CopyLayout`
    (``None`` on the master), the interface ``mode`` and the ring's ``eventfd`` (set
    non-blocking). The slave writes into the buffer its layout gives each slot; the master
    writes into the buffers the slave posted, whose capacity is their ``length``.
    """

    def __init__(
        self,
        role: Role,
        ring: Ring,
        regions: Sequence[Region],
        *,
        index: int = 0,
        layout: CopyLayout | None = None,
        mode: Mode = Mode.ETHERNET,
        eventfd: int | None = None,
    ) -> None:
        ring_type = RingType.S2M if role is Role.SLAVE else RingType.M2S
        super().__init__(
            ring_type, role, ring, regions, index=index, layout=layout, mode=mode, eventfd=eventfd
        )
        #: Our counter: head on the slave, tail on the master; starts at 0 (see the module).
        self._next = 0
        if role is Role.SLAVE:
            ring.head = 0
        else:
            ring.tail = 0
        self._pending: list[TxBuffer] = []
        self._pending_rec: list[_Desc] = []
        self._tx_config = kernel.tx_config(
            mask=ring.mask, slot_capacity=self._slot_capacity, eth_max=self._eth_max,
            peer=self._peer_word, ours=self._our_word,
        )  # fmt: skip

    def free(self) -> int:
        """Slots we may fill now, after validating the peer's counter."""
        return self._free(self.ring.tail if self.role is Role.SLAVE else self.ring.head)

    def _free(self, peer: int) -> int:
        """:meth:`free` for the peer's counter read as ``peer``."""
        size = self.ring.size
        if self.role is Role.SLAVE:
            used = (self._next - peer) & 0xFFFF
            if used > size:
                raise RemoteProtocolError(
                    f"ring {self.name}: tail {peer} is not within {size} slots behind "
                    f"head {self._next & 0xFFFF}"
                )
            return size - used
        posted = (peer - self._next) & 0xFFFF
        if posted > size:
            raise RemoteProtocolError(
                f"ring {self.name}: slave posted {posted} slots, ring has {size}"
            )
        return posted

    def _posted(self, start: int, count: int) -> tuple[_I64, _Desc]:
        """Slots ``start..start+count`` and their buffers (region, offset, capacity)."""
        slots = self._slots(start, count)
        if self.role is Role.SLAVE:
            rec = np.zeros(count, dtype=DESC_DTYPE)
            rec["offset"] = self._slot_offsets[slots]
            rec["length"] = self._slot_capacity
            return slots, rec
        rec = self._desc[slots]
        self._check(slots, rec, rx=False)
        if self.mode is Mode.ETHERNET:  # receivers drop longer descriptors (A.6): chain instead
            rec["length"] = np.minimum(rec["length"], ETHERNET_MAX_DESC_LEN)
        return slots, rec

    def _reserve(self, lengths: _I64) -> tuple[_I64, _Desc, _I64, bool]:
        """Plan whole frames of ``lengths`` after the pending buffers.

        Returns the slots and posted records of the descriptors to use, the number of
        descriptors of each frame that fits, and whether the first frame can never fit
        (see :meth:`_never_fits`).
        """
        start = self._next + len(self._pending)
        free = max(0, self.free() - len(self._pending))
        slots, rec = self._posted(start, min(free, lengths.size))
        per_frame = _plan(lengths, rec["length"].astype(np.int64))
        if per_frame.size < lengths.size and slots.size < free:
            more_slots, more_rec = self._posted(start + slots.size, free - slots.size)
            slots = np.concatenate((slots, more_slots))
            rec = np.concatenate((rec, more_rec))
            per_frame = _plan(lengths, rec["length"].astype(np.int64))
        if per_frame.size == 0 and self._never_fits(int(lengths[0]), free):
            return slots[:0], rec[:0], per_frame, True
        if per_frame.size < lengths.size:
            self.stats.ring_full += 1
        used = int(per_frame.sum())
        return slots[:used], rec[:used], per_frame, False

    def _never_fits(self, length: int, free: int) -> bool:
        """Whether a frame of ``length`` bytes that did not fit now never will: it needs more
        of our buffers than the ring has slots (slave), or not even a whole ring of the
        buffers the slave posted holds it (master)."""
        if free == self.ring.size:  # the whole ring is ours and it still did not fit
            return True
        if self.role is Role.SLAVE:
            return length > self.ring.size * self._slot_capacity
        return self.mode is Mode.ETHERNET and length > self.ring.size * ETHERNET_MAX_DESC_LEN

    def send(self, frames: Sequence[BytesLike]) -> int:
        """Copy as many whole frames as fit into the ring and publish them; return how many
        frames were consumed: placed, or dropped because they can never fit.

        A frame larger than one buffer is chained with NEXT. A frame that does not fit
        entirely is not placed, nor is any after it. A leading frame that can never fit
        (larger than the whole ring, or than every buffer the slave posted) is dropped and
        counted in ``stats.oversize``, as VPP drops and counts "no free tx slots".
        """
        if not frames:
            return self.send_packed(np.zeros(0, dtype=np.uint8), np.zeros(0, dtype=np.int64))
        consumed = 0
        placed_before = self.stats.packets
        while True:  # a window at a time: only what may be placed is joined
            window = frames[consumed : consumed + self.ring.size + 1]
            lengths = np.fromiter(map(len, window), dtype=np.int64, count=len(window))
            data = np.frombuffer(b"".join(window), dtype=np.uint8)
            if data.size != lengths.sum():
                raise LocalProtocolError("frames must be byte strings (bytes-like of bytes)")
            # once a frame is placed, one that never fits is no longer leading: it stops us
            done = self._send_packed(data, lengths, drop=self.stats.packets == placed_before)
            consumed += done
            if done < len(window) or consumed == len(frames):
                return consumed

    def send_packed(self, data: npt.NDArray[np.uint8], lengths: _I64) -> int:
        """:meth:`send` for frames packed back to back in ``data``, frame ``i`` being
        ``lengths[i]`` bytes: the bulk path, with no Python object per frame.

        On the slave, a burst of equal frames takes one copy and one descriptor write per
        buffer a frame needs (:meth:`_send_equal`), not per frame.
        """
        return self._send_packed(data, lengths, drop=True)

    def _send_packed(self, data: npt.NDArray[np.uint8], lengths: _I64, *, drop: bool) -> int:
        """:meth:`send_packed`; ``drop`` False: a leading frame that can never fit is not
        dropped but stops the call, as any frame after one placed does."""
        if self._pending:
            raise LocalProtocolError("send() while alloc()ed buffers are not committed")
        if lengths.size == 0:
            return 0
        if self.kernels is None:  # the kernel makes these checks itself
            size = int(lengths[0])
            equal = bool((lengths == size).all())  # then two reductions less
            if (size if equal else lengths.min()) <= 0:
                raise _empty_frame()
            total = size * lengths.size if equal else int(lengths.sum())
            if data.size < total:
                raise _short_data(total, data.size)
            if equal and self.role is Role.SLAVE and not self._never_fits(size, 0):
                return self._send_equal(data, size, lengths.size)
        place = self._place_numpy if self.kernels is None else self._place_compiled
        dropped = skip = 0
        while (placed := place(data[skip:], lengths[dropped:])) is None:  # never fits
            if not drop:
                self.stats.ring_full += 1
                return 0
            self.stats.oversize += 1
            skip += int(lengths[dropped])
            dropped += 1
            if dropped == lengths.size:
                return dropped
        return dropped + placed

    def _place_numpy(self, data: npt.NDArray[np.uint8], lengths: _I64) -> int | None:
        """Place the leading whole frames that fit and publish them; return how many, or
        None when the first can never fit (see :meth:`_never_fits`)."""
        slots, rec, per_frame, never = self._reserve(lengths)
        if never:
            return None
        placed = per_frame.size
        if placed == 0:
            return 0
        payload = data[: int(lengths[:placed].sum())]
        chunk, flags = _chunks(lengths[:placed], per_frame, rec["length"].astype(np.int64))
        rec["length"] = chunk
        rec["flags"] = flags
        self._scatter(
            rec["region"].astype(np.int64), rec["offset"].astype(np.int64), chunk, payload
        )
        self._publish(slots, rec)
        self.stats.packets += placed
        self.stats.bytes += payload.size
        return placed

    def _place_compiled(self, data: npt.NDArray[np.uint8], lengths: _I64) -> int | None:
        """:meth:`_place_numpy` in one call of the compiled :func:`kernel.tx_burst`."""
        assert self.kernels is not None
        start = self._next
        result, placed, used, nbytes, first, free = self.kernels.tx_burst(
            self._words, self.ring.words, self._tx_config, start, self._slot_offsets,
            self._region_bufs, self._sizes, self._snap, data, lengths,
        )  # fmt: skip
        if result == kernel.EMPTY_FRAME:
            raise _empty_frame()
        if result == kernel.SHORT_DATA:
            raise _short_data(nbytes, data.size)
        if result == kernel.BAD_COUNTER:
            self._free(nbytes)
            raise AssertionError(f"the kernel and free() disagree on ring {self.name}")
        if result == kernel.BAD_DESCRIPTOR:
            self._check_snapshot(start, first, used, rx=False)
        if placed == 0 and self._never_fits(int(lengths[0]), free):
            return None
        if placed < lengths.size:
            self.stats.ring_full += 1
        self._next += used  # the kernel moved the ring's counter
        self.stats.packets += placed
        self.stats.bytes += nbytes
        return placed

    def _send_equal(self, data: npt.NDArray[np.uint8], size: int, count: int) -> int:
        """Slave: ``count`` frames of ``size`` bytes into our own slots, each frame chained
        over the same number of buffers; one copy per buffer of a frame, whatever the burst."""
        cap = self._slot_capacity
        per_frame = -(-size // cap)
        placed = min(count, self.free() // per_frame)
        if placed < count:
            self.stats.ring_full += 1
        if placed == 0:
            return 0
        frames = data[: placed * size].reshape(placed, size)
        slots = self._slots(self._next, placed * per_frame)
        self._desc[slots] = self._own_desc[slots]
        by_frame = slots.reshape(placed, per_frame)
        for i in range(per_frame):
            column = by_frame[:, i]
            chunk = min(cap, size - i * cap)
            self._slot_rows[column, :chunk] = frames[:, i * cap : i * cap + chunk]
            self._desc_length[column] = chunk
            if i < per_frame - 1:
                self._desc_flags[column] = DESC_FLAG_NEXT
        self._advance(slots.size)
        self.stats.packets += placed
        self.stats.bytes += placed * size
        return placed

    def alloc(self, count: int, size: int = 0) -> list[TxBuffer]:
        """Reserve buffers for up to ``count`` packets of ``size`` bytes (libmemif style).

        Returns one :class:`TxBuffer` per descriptor, in ring order; a packet larger than
        one buffer gets several, chained with ``next``. Only whole packets are reserved.
        ``length`` starts at the part of ``size`` each buffer holds (0 when ``size`` is 0).
        Publish with :meth:`commit`.
        """
        if count <= 0 or size < 0:
            raise LocalProtocolError(f"bad alloc({count}, {size})")
        lengths = np.full(count, max(size, 1), dtype=np.int64)
        _, rec, per_frame, never = self._reserve(lengths)
        if never:
            raise LocalProtocolError(f"a {size}-byte packet can never fit ring {self.name}")
        capacity = rec["length"].astype(np.int64)
        chunk, flags = _chunks(lengths[: per_frame.size], per_frame, capacity)
        if size == 0:
            chunk[:] = 0
        buffers = [
            TxBuffer(self._views[r][o : o + c], n, f != 0)
            for r, o, c, n, f in zip(
                rec["region"].tolist(),
                rec["offset"].tolist(),
                capacity.tolist(),
                chunk.tolist(),
                flags.tolist(),
                strict=True,
            )
        ]
        self._pending.extend(buffers)
        self._pending_rec.append(rec)
        return buffers

    def commit(self, buffers: Sequence[TxBuffer]) -> int:
        """Publish the first ``len(buffers)`` allocated buffers (libmemif ``tx_burst``).

        ``buffers`` must be those :meth:`alloc` returned, in order, and end with a packet's
        last buffer (``next`` false): a list that stops inside a NEXT chain raises
        LocalProtocolError, publishes nothing and keeps the allocation, rather than leave the
        peer a chain that would run into the next packet. Allocated buffers not committed go
        back to the ring. Returns the number of buffers published.
        """
        count = len(buffers)
        pending = self._pending
        if count > len(pending) or any(b is not p for b, p in zip(buffers, pending, strict=False)):
            raise LocalProtocolError("commit() takes buffers in the order alloc() returned them")
        if count and buffers[-1].next:
            raise LocalProtocolError(
                "commit() would end inside a packet: its last buffer has next set"
            )
        rec = np.concatenate(self._pending_rec)[:count] if count else np.zeros(0, DESC_DTYPE)
        self._pending = []
        self._pending_rec = []
        lengths = np.fromiter((b.length for b in buffers), dtype=np.int64, count=count)
        if ((lengths < 0) | (lengths > rec["length"])).any():
            raise LocalProtocolError("a TxBuffer length is negative or exceeds its capacity")
        rec["length"] = lengths
        rec["flags"] = [DESC_FLAG_NEXT if b.next else 0 for b in buffers]
        self._publish(self._slots(self._next, count), rec)
        self.stats.packets += sum(not b.next for b in buffers)
        self.stats.bytes += int(lengths.sum())
        return count

    def notify(self) -> bool:
        """Signal the peer through the eventfd unless it set MASK_INT; return whether written."""
        written = signal_eventfd(self.eventfd, self.ring, self.name)
        self.stats.interrupts += written
        return written

    def _scatter(
        self, regions: _I64, offsets: _I64, lengths: _I64, data: npt.NDArray[np.uint8]
    ) -> None:
        """Copy ``data`` in order into the buffers (region, offset, length) describe.

        Equal chunks into evenly spaced buffers of one region take one strided numpy copy
        per side of the ring's wrap (see :func:`_strided_runs`); anything else one memcpy
        per descriptor, which measured faster than a per-byte index scatter at every size.
        """
        runs = _strided_runs(self._bufs, regions, offsets, lengths)
        if runs is not None:
            rows = data.reshape(lengths.size, int(lengths[0]))
            for begin, end, view in runs:
                view[...] = rows[begin:end]
            return
        source = data.data
        start = 0
        for r, o, n in zip(regions.tolist(), offsets.tolist(), lengths.tolist(), strict=True):
            self._views[r][o : o + n] = source[start : start + n]
            start += n

    def _publish(self, slots: _I64, rec: _Desc) -> None:
        """Write the descriptors, then move our counter past them."""
        self._desc[slots] = rec
        self._advance(slots.size)

    def _advance(self, count: int) -> None:
        """Move our counter (head on the slave, tail on the master) past ``count`` written
        descriptors."""
        self._next += count
        if self.role is Role.SLAVE:
            self.ring.head = self._next
        else:
            self.ring.tail = self._next


def _empty_frame() -> LocalProtocolError:
    return LocalProtocolError("cannot send an empty frame")


def _short_data(total: int, packed: int) -> LocalProtocolError:
    return LocalProtocolError(f"{total} bytes of frames, {packed} packed")


def _no_room(frame: int, room: int) -> LocalProtocolError:
    return LocalProtocolError(f"a {frame}-byte frame does not fit {room} bytes")


def _strided_runs(
    bufs: Sequence[npt.NDArray[np.uint8]], regions: _I64, offsets: _I64, lengths: _I64
) -> list[tuple[int, int, npt.NDArray[np.uint8]]] | None:
    """Equal-length buffers of one region at one positive stride, that stride broken at
    most once (where a ring of consecutive buffers wraps), as ``(begin, end, rows)`` runs:
    ``rows`` views the buffers ``begin..end`` of the burst as a 2-D array. None otherwise.

    Every buffer was bounds-checked, so each run's extent (its first offset to its last
    buffer's end) is inside the region.
    """
    count, length = lengths.size, int(lengths[0])
    if count < 2 or (regions != regions[0]).any() or (lengths != length).any():
        return None
    steps = np.diff(offsets)
    step = int(steps[0])
    breaks = np.flatnonzero(steps != step) + 1
    if step <= 0 or breaks.size > 1:
        return None
    data = bufs[int(regions[0])]
    bounds = [0, *breaks.tolist(), count]
    runs = []
    for begin, end in itertools.pairwise(bounds):
        start = int(offsets[begin])
        extent = data[start : start + (end - begin - 1) * step + length]
        # numpy checks that the rows fit the extent; cheaper than as_strided
        rows = np.ndarray((end - begin, length), np.uint8, buffer=extent, strides=(step, 1))
        runs.append((begin, end, rows))
    return runs


def _plan(lengths: _I64, capacity: _I64) -> _I64:
    """Descriptors each frame takes, for the leading frames that fit in ``capacity``."""
    if capacity.size == 0:
        return np.zeros(0, dtype=np.int64)
    if (capacity == capacity[0]).all():
        per_frame = np.maximum(1, -(-lengths // capacity[0]))
        fits = int(np.searchsorted(np.cumsum(per_frame), capacity.size, side="right"))
        out: _I64 = per_frame[:fits]
        return out
    bounds = np.concatenate(([0], np.cumsum(capacity)))
    counts: list[int] = []
    used = 0
    for length in lengths.tolist():
        end = int(np.searchsorted(bounds, bounds[used] + length, side="left"))
        if end > capacity.size:
            break
        counts.append(end - used)
        used = end
    return np.array(counts, dtype=np.int64)


def _chunks(lengths: _I64, per_frame: _I64, capacity: _I64) -> tuple[_I64, _I64]:
    """Byte count and flags of every descriptor when frames fill ``capacity`` in order."""
    used = int(per_frame.sum())
    capacity = capacity[:used]
    frame = np.repeat(np.arange(per_frame.size), per_frame)
    first = _excl_cumsum(per_frame)
    filled = _excl_cumsum(capacity)
    chunk: _I64 = np.minimum(capacity, lengths[frame] - (filled - filled[first][frame]))
    flags = np.full(used, DESC_FLAG_NEXT, dtype=np.int64)
    flags[first + per_frame - 1] = 0
    return chunk, flags


class RxQueue(_Queue):
    """Our receive side: the S2M ring if we are master, the M2S ring if we are slave.

    Built like :class:`TxQueue`. :meth:`recv` hands out frames that stay valid until
    :meth:`release`. The master releases by advancing ``tail``; the slave by re-posting its
    buffers (:meth:`refill`, also to be called once right after connecting).
    """

    def __init__(
        self,
        role: Role,
        ring: Ring,
        regions: Sequence[Region],
        *,
        index: int = 0,
        layout: CopyLayout | None = None,
        mode: Mode = Mode.ETHERNET,
        eventfd: int | None = None,
    ) -> None:
        ring_type = RingType.M2S if role is Role.SLAVE else RingType.S2M
        super().__init__(
            ring_type, role, ring, regions, index=index, layout=layout, mode=mode, eventfd=eventfd
        )
        self.rx_mode = RxMode.INTERRUPT
        #: Positions on the producer's counter: read up to, released up to (from 0, see the
        #: module docstring).
        self._read = self._released = 0
        #: Slave only: our head (end of the buffers we posted) and what each slot holds.
        self._head = 0
        if role is Role.SLAVE:
            ring.head = 0
        else:
            ring.tail = 0
        self._capacity: _I64 = np.zeros(ring.size, dtype=np.int64)
        self._rx_config = kernel.rx_config(
            mask=ring.mask, max_chain=MAX_CHAIN, eth_max=self._eth_max,
            producer=self._peer_word, consumer=self._our_word, buffer_size=self.buffer_size,
        )  # fmt: skip
        #: Producer counter just past each frame handed out and not yet released.
        self._held: list[int] = []

    def available(self) -> int:
        """Descriptors ready to read, after validating the producer's counter."""
        return self._ready(self.ring.head if self.role is Role.MASTER else self.ring.tail)

    def _ready(self, producer: int) -> int:
        """:meth:`available` for the producer's counter read as ``producer``."""
        if self.role is Role.MASTER:
            limit, what = self.ring.size, f"ring has {self.ring.size}"
        else:
            limit = self._head - self._released
            what = f"{limit} posted"
        filled = (producer - self._released) & 0xFFFF
        if filled > limit:
            raise RemoteProtocolError(f"ring {self.name}: producer claims {filled} slots, {what}")
        held = self._read - self._released
        if filled < held:
            raise RemoteProtocolError(
                f"ring {self.name}: producer counter {producer} went back before "
                f"{self._read & 0xFFFF}"
            )
        return filled - held

    def recv(self, max_frames: int = 256) -> list[memoryview]:
        """Up to ``max_frames`` complete frames, valid until :meth:`release`.

        Single-descriptor frames are zero-copy views of shared memory; chained frames are
        gathered into new bytes. A trailing incomplete chain is left for a later call.
        """
        rec, ends = self._take(max_frames)
        if ends.size == 0:
            return []
        views = self._views
        segments = [
            views[r][o : o + n]
            for r, o, n in zip(
                rec["region"].tolist(), rec["offset"].tolist(), rec["length"].tolist(), strict=True
            )
        ]
        if ends.size == rec.size:
            frames = segments
        else:
            starts = np.concatenate(([0], ends[:-1] + 1)).tolist()
            frames = [
                segments[s] if s == e else memoryview(b"".join(segments[s : e + 1]))
                for s, e in zip(starts, ends.tolist(), strict=True)
            ]
        self._consume(rec, ends)
        self._held.extend((ends + (self._read - rec.size + 1)).tolist())
        return frames

    def recv_into(self, buf: npt.NDArray[np.uint8], lengths: _I64) -> int:
        """The bulk path: copy up to ``lengths.size`` complete frames back to back into
        ``buf``, set ``lengths[i]`` to frame ``i``'s size, give the slots back at once, and
        return the number of frames; as many as ``buf`` holds, with no Python object per
        frame. Frames from :meth:`recv` must be released first.

        Validation is :meth:`recv`'s. Equal frames in evenly spaced buffers (a peer's burst
        into consecutive slots) take one strided copy per side of the ring's wrap.
        """
        if self._held:
            raise LocalProtocolError("recv_into() while frames from recv() are held")
        if self.kernels is not None:
            return self._recv_compiled(buf, lengths)
        rec, ends = self._take(lengths.size)
        if ends.size == 0:
            return 0
        desc_len = rec["length"].astype(np.int64)
        if ends.size == rec.size:  # one descriptor a frame
            frame_len = desc_len
        else:
            frame_len = np.add.reduceat(desc_len, np.concatenate(([0], ends[:-1] + 1)))
        fits = int(np.searchsorted(np.cumsum(frame_len), buf.size, side="right"))
        if fits == 0:
            raise _no_room(int(frame_len[0]), buf.size)
        ends = ends[:fits]
        used = int(ends[-1]) + 1
        rec, desc_len = rec[:used], desc_len[:used]
        self._gather(rec, desc_len, buf)
        lengths[:fits] = frame_len[:fits]
        self._consume(rec, ends)
        self._give_back()
        return fits

    def _recv_compiled(self, buf: npt.NDArray[np.uint8], lengths: _I64) -> int:
        """:meth:`recv_into` in one call of the compiled :func:`kernel.rx_burst`."""
        assert self.kernels is not None
        result, fits, used, value = self.kernels.rx_burst(
            self._words, self.ring.words, self._rx_config, self._read, self._head,
            self._region_bufs, self._sizes, self._capacity, self._slot_offsets, self._snap,
            buf, lengths,
        )  # fmt: skip
        if result != kernel.OK:
            self._refuse(result, used, value, buf.size)
        if fits:
            self._read += used
            self._released = self._read
            if self.role is Role.SLAVE:  # the kernel re-posted every free buffer
                self._head = self._released + self.ring.size
            self.stats.packets += fits
            self.stats.bytes += value
        return fits

    def _refuse(self, result: int, used: int, value: int, room: int) -> None:
        """Raise for what :func:`kernel.rx_burst` found, in the numpy path's words."""
        if result == kernel.BAD_COUNTER:
            self._ready(value)
        elif result == kernel.LONG_CHAIN:
            raise self._long_chain()
        elif result == kernel.NEXT_EVERYWHERE:
            raise self._next_everywhere()
        elif result == kernel.BAD_DESCRIPTOR:
            posted = self._capacity if self.role is Role.SLAVE else None
            self._check_snapshot(self._read, 0, used, rx=True, posted=posted)
        elif result == kernel.NO_ROOM:
            raise _no_room(value, room)
        raise AssertionError(f"kernel result {result} on ring {self.name} was not refused")

    def _give_back(self) -> None:
        """Release everything read: the master moves tail, the slave re-posts."""
        self._released = self._read
        if self.role is Role.MASTER:
            self.ring.tail = self._released
        else:
            self.refill()

    def _take(self, max_frames: int) -> tuple[_Desc, _I64]:
        """Validated copies of the descriptors of up to ``max_frames`` complete frames from
        ``_read`` on, and the index of each frame's last descriptor."""
        available = self.available()
        count = min(available, max(max_frames, 0))
        if count == 0:
            return np.zeros(0, dtype=DESC_DTYPE), np.zeros(0, dtype=np.int64)
        slots = self._slots(self._read, count)
        rec = self._desc[slots]
        more = (rec["flags"] & DESC_FLAG_NEXT) != 0
        if more.any() and count < available:
            count = available
            slots = self._slots(self._read, count)
            rec = self._desc[slots]
            more = (rec["flags"] & DESC_FLAG_NEXT) != 0
        ends = np.flatnonzero(~more)
        self._check_chains(ends, count)
        ends = ends[:max_frames]
        if ends.size == 0:
            return rec[:0], ends
        used = int(ends[-1]) + 1
        slots, rec = slots[:used], rec[:used]
        posted = self._capacity[slots] if self.role is Role.SLAVE else None
        self._check(slots, rec, rx=True, posted=posted)
        return rec, ends

    def _consume(self, rec: _Desc, ends: _I64) -> None:
        """Move ``_read`` past ``rec`` (validated by :meth:`_take`) and count its frames."""
        self._read += rec.size
        self.stats.packets += ends.size
        self.stats.bytes += int(rec["length"].sum())

    def _gather(self, rec: _Desc, lengths: _I64, buf: npt.NDArray[np.uint8]) -> None:
        """Copy the bytes ``rec`` describes, in order, to the start of ``buf``."""
        regions = rec["region"].astype(np.int64)
        offsets = rec["offset"].astype(np.int64)
        runs = _strided_runs(self._bufs, regions, offsets, lengths)
        if runs is not None:
            rows = buf[: lengths.sum()].reshape(lengths.size, int(lengths[0]))
            for begin, end, view in runs:
                rows[begin:end] = view
            return
        pos = 0
        for r, o, n in zip(regions.tolist(), offsets.tolist(), lengths.tolist(), strict=True):
            buf[pos : pos + n] = self._bufs[r][o : o + n]
            pos += n

    def _check_chains(self, ends: _I64, count: int) -> None:
        """Reject NEXT chains longer than MAX_CHAIN or that can never complete."""
        if ends.size == count:  # no NEXT anywhere
            return
        longest = int(np.diff(ends, prepend=-1).max()) if ends.size else 0
        trailing = count - (int(ends[-1]) + 1 if ends.size else 0)
        if max(longest, trailing) > MAX_CHAIN:
            raise self._long_chain()
        if trailing == self.ring.size:
            raise self._next_everywhere()

    def _long_chain(self) -> RemoteProtocolError:
        return RemoteProtocolError(f"ring {self.name}: NEXT chain of over {MAX_CHAIN} descriptors")

    def _next_everywhere(self) -> RemoteProtocolError:
        return RemoteProtocolError(f"ring {self.name}: NEXT set on all {self.ring.size} slots")

    def release(self, count: int | None = None, headroom: int = 0) -> int:
        """Give back the oldest ``count`` frames handed out (default: all of them).

        Their views become invalid. The master advances ``tail``; the slave re-posts its
        free buffers with ``headroom`` (see :meth:`refill`) and returns how many it posted.
        """
        held = len(self._held)
        count = held if count is None else count
        if not 0 <= count <= held:
            raise LocalProtocolError(f"cannot release {count} frames, {held} held")
        if self.role is Role.SLAVE and not 0 <= headroom < self.buffer_size:
            raise LocalProtocolError(f"headroom {headroom} not below buffer size")
        if count:
            self._released = self._held[count - 1]
            del self._held[:count]
        if self.role is Role.MASTER:
            self.ring.tail = self._released
            return 0
        return self.refill(None, headroom)

    def refill(self, count: int | None = None, headroom: int = 0) -> int:
        """Slave: post up to ``count`` empty buffers (default: all free slots); return how many.

        Each gets ``offset`` = its layout buffer + ``headroom`` and ``length`` = capacity.
        Not signalled through the eventfd (A.7).
        """
        if self.role is not Role.SLAVE:
            raise LocalProtocolError("only the slave posts buffers on M2S")
        if not 0 <= headroom < self.buffer_size:
            raise LocalProtocolError(f"headroom {headroom} not below buffer size")
        room = self._released + self.ring.size - self._head
        count = room if count is None else max(0, min(count, room))
        if self.kernels is not None:
            self.kernels.post_buffers(
                self._words, self.ring.mask, self._head, count, self._slot_offsets,
                headroom, self.buffer_size, self._capacity,
            )  # fmt: skip
        else:
            slots = self._slots(self._head, count)
            rec = np.zeros(count, dtype=DESC_DTYPE)
            rec["offset"] = self._slot_offsets[slots] + headroom
            rec["length"] = self.buffer_size - headroom
            self._desc[slots] = rec
            self._capacity[slots] = self.buffer_size - headroom
        self._head += count
        self.ring.head = self._head
        return count

    def set_rx_mode(self, mode: RxMode) -> None:
        """Set (polling) or clear (interrupt) MASK_INT on the ring we consume."""
        set_mask(self.ring, mode)
        self.rx_mode = mode

    def ack_interrupt(self) -> int:
        """Read the eventfd without blocking; the count of signals pending (0 if none)."""
        value = read_eventfd(self.eventfd, self.name)
        self.stats.interrupts += value > 0
        return value
