"""The bulk-path kernels, compiled by Numba (imported by :func:`.kernel.load` only).

See :mod:`.kernel` for what they guarantee. Arguments are numpy arrays and ints: the ring's
descriptors as ``desc``, a (ring size, 4) uint32 view of them (little-endian words: flags
and region, length, offset, metadata; one array to pass, not five), the regions as a
tuple of byte arrays with their ``sizes``, and an int64 ``snap`` of shape (5, ring size)
for the snapshot (rows :data:`.kernel.FLAGS` ...).
"""

# ruff: noqa: PLR0917  (a kernel takes its arrays positionally: the cheapest Numba call)

from collections.abc import Callable
from typing import Any, cast

import numba
from numba.core import types
from numba.extending import intrinsic

from .kernel import (
    BAD_COUNTER,
    BAD_DESCRIPTOR,
    EMPTY_FRAME,
    FLAGS,
    LENGTH,
    LONG_CHAIN,
    METADATA,
    NEXT_EVERYWHERE,
    NO_ROOM,
    OFFSET,
    OK,
    REGION,
    RX_BUFFER_SIZE,
    RX_CONSUMER,
    RX_ETH_MAX,
    RX_MASK,
    RX_MAX_CHAIN,
    RX_PRODUCER,
    SHORT_DATA,
    TX_ETH_MAX,
    TX_MASK,
    TX_OURS,
    TX_PEER,
    TX_SLOT_CAPACITY,
)

_NEXT = 1  # DESC_FLAG_NEXT
_jit = numba.njit(cache=True, nogil=True)
VERSION: str = numba.__version__


@intrinsic
def _fence_intrinsic(typingctx: Any) -> Any:
    """An LLVM ``fence acq_rel``: no load or store moves across it (on x86 it only stops
    the compiler, as the C peers' barriers do). It orders a kernel's shared-memory access
    as memif requires: the peer's counter before its descriptors, our reads of the buffers
    before our counter tells the peer it may reuse them."""

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        builder.fence("acq_rel")
        return context.get_dummy_value()

    return types.void(), codegen


_fence = cast(Callable[[], None], _fence_intrinsic)  # how kernels call it


@_jit
def _copy(dst: Any, src: Any) -> None:
    """``dst[:] = src`` as Numba compiles it fastest: a loop from 0 over two slices runs
    at memcpy speed; a slice assignment, or a loop over offsets into whole regions, several
    times slower. Numba does not check bounds: the loop stops at the shorter slice (a slice
    past its array's end is cut short), whatever the callers validated."""
    for k in range(min(dst.size, src.size)):
        dst[k] = src[k]


@_jit
def _snapshot(desc: Any, slot: int, snap: Any, i: int) -> int:
    """Copy descriptor ``slot`` into column ``i`` of ``snap``, once; return its flags."""
    word = desc[slot, 0]
    snap[FLAGS, i] = word & 0xFFFF
    snap[REGION, i] = word >> 16
    snap[LENGTH, i] = desc[slot, 1]
    snap[OFFSET, i] = desc[slot, 2]
    snap[METADATA, i] = desc[slot, 3]
    return int(word & 0xFFFF)


@_jit
def rx_gather(
    desc: Any,
    mask: int,
    read: int,
    count: int,
    available: int,
    max_frames: int,
    max_chain: int,
    bufs: Any,
    sizes: Any,
    eth_max: int,
    posted: Any,
    snap: Any,
    out: Any,
    lengths: Any,
) -> tuple[int, int, int, int]:
    """What :func:`rx_burst` takes: ``count`` descriptors from ``read`` on (``available`` ready).

    Snapshots ``count`` descriptors (``available`` if any of those chains), checks the
    chains, validates the descriptors of the first ``max_frames`` complete frames and copies
    the frames that fit ``out`` back to back, their sizes into ``lengths``. ``posted`` holds
    each slot's posted capacity on the slave (empty on the master); ``eth_max`` is the
    ethernet-mode descriptor limit (0: none). Returns ``(result, frames, descriptors,
    bytes)``; BAD_DESCRIPTOR gives the descriptors to validate, NO_ROOM the first frame's
    size as ``bytes``.
    """
    n = count
    nexts = i = 0
    while i < n:
        nexts |= _snapshot(desc, (read + i) & mask, snap, i)
        i += 1
        if i == count and nexts & _NEXT:  # a chain may run past count: take all there is
            n = available
    run = longest = ends = frames = used = 0
    for i in range(n):
        run += 1
        if not snap[FLAGS, i] & _NEXT:
            longest = max(longest, run)
            run = 0
            ends += 1
            if frames < max_frames:
                frames += 1
                used = i + 1
    if ends != n:
        if max(longest, run) > max_chain:
            return LONG_CHAIN, 0, 0, 0
        if run == mask + 1:
            return NEXT_EVERYWHERE, 0, 0, 0
    if frames == 0:
        return OK, 0, 0, 0
    n_regions = len(bufs)
    for i in range(used):
        r, size = snap[REGION, i], snap[LENGTH, i]
        if (
            r >= n_regions
            or snap[OFFSET, i] + size > sizes[r]
            or size == 0
            or (eth_max > 0 and size > eth_max)
            or (posted.size > 0 and size > posted[(read + i) & mask])
        ):
            return BAD_DESCRIPTOR, 0, used, 0
    total = frame = fits = last = 0
    for i in range(used):
        frame += snap[LENGTH, i]
        if not snap[FLAGS, i] & _NEXT:
            if total + frame > out.size:
                break
            total += frame
            lengths[fits] = frame
            fits += 1
            last = i + 1
            frame = 0
    if fits == 0:
        return NO_ROOM, 0, 0, frame
    pos = 0
    for i in range(last):
        o, size = snap[OFFSET, i], snap[LENGTH, i]
        _copy(out[pos : pos + size], bufs[snap[REGION, i]][o : o + size])
        pos += size
    return OK, fits, last, pos


@_jit
def rx_burst(
    desc: Any,
    words: Any,
    config: Any,
    read: int,
    head: int,
    bufs: Any,
    sizes: Any,
    posted: Any,
    slot_offsets: Any,
    snap: Any,
    out: Any,
    lengths: Any,
) -> tuple[int, int, int, int]:
    """A whole :meth:`RxQueue.recv_into` from ``read`` on (everything before it released):
    read and check the producer's counter in the ring header ``words``, :func:`rx_gather`,
    then give the slots back: the master moves its counter, the slave re-posts every free
    buffer (``head``: the end of those it posted) with no headroom and moves its counter.

    ``config`` holds the queue's numbers (:data:`.kernel.RX_MASK` ...); ``posted`` is each
    slot's posted capacity and ``slot_offsets`` each slot's buffer (both unused on the
    master). Returns :func:`rx_gather`'s tuple; BAD_COUNTER gives the counter as ``bytes``.
    """
    mask, buffer_size = config[RX_MASK], config[RX_BUFFER_SIZE]
    producer = int(words[config[RX_PRODUCER]])
    _fence()
    limit = head - read if buffer_size else mask + 1
    filled = (producer - read) & 0xFFFF
    if filled > limit:
        return BAD_COUNTER, 0, 0, producer
    count = min(filled, lengths.size)
    if count == 0:
        return OK, 0, 0, 0
    result, fits, used, nbytes = rx_gather(
        desc, mask, read, count, filled, lengths.size, config[RX_MAX_CHAIN], bufs, sizes,
        config[RX_ETH_MAX], posted if buffer_size else posted[:0], snap, out, lengths,
    )  # fmt: skip
    if result != OK or fits == 0:
        return result, fits, used, nbytes
    ours = read = read + used  # the master's counter: what it has read
    if buffer_size:  # the slave's: the end of the buffers it posts now
        ours = read + mask + 1
        post_buffers(desc, mask, head, ours - head, slot_offsets, 0, buffer_size, posted)
    _fence()
    words[config[RX_CONSUMER]] = ours & 0xFFFF
    return OK, fits, used, nbytes


@_jit
def tx_place(
    desc: Any,
    mask: int,
    start: int,
    free: int,
    slot_capacity: int,
    slot_offsets: Any,
    bufs: Any,
    sizes: Any,
    eth_max: int,
    snap: Any,
    data: Any,
    lengths: Any,
) -> tuple[int, int, int, int, int]:
    """What :func:`tx_burst` does with the slots: place whole frames of ``lengths`` (packed
    in ``data``, checked) from slot ``start`` on, into at most ``free`` slots, as
    :meth:`TxQueue.send_packed` does, and write their descriptors.

    The slave (``slot_capacity`` > 0) fills its own buffers at ``slot_offsets``. The master
    (``slot_capacity`` 0) fills the buffers the slave posted: it snapshots and validates as
    many as there are frames, and the rest of ``free`` only if the frames need them, and
    fills no more than ``eth_max`` bytes of each (0: no limit). Returns ``(result, frames,
    descriptors, bytes, first)``: BAD_DESCRIPTOR gives the snapshot columns
    ``first..descriptors`` to validate.
    """
    master = slot_capacity == 0
    n_regions = len(bufs)
    seen = placed = used = 0
    for f in range(lengths.size):
        need, d, got = lengths[f], used, 0
        while got < need and d < free:
            if master and d == seen:  # snapshot, then validate, the next window
                end = min(free, lengths.size) if seen == 0 else free
                for i in range(seen, end):
                    _snapshot(desc, (start + i) & mask, snap, i)
                for i in range(seen, end):
                    r, size = snap[REGION, i], snap[LENGTH, i]
                    if r >= n_regions or snap[OFFSET, i] + size > sizes[r] or size == 0:
                        return BAD_DESCRIPTOR, 0, end, 0, seen
                seen = end
            cap = slot_capacity
            if master:
                cap = snap[LENGTH, d] if eth_max == 0 else min(snap[LENGTH, d], eth_max)
            got += cap
            d += 1
        if got < need:
            break
        placed += 1
        used = d
    pos = d = 0
    for f in range(placed):  # the data first, into the buffers in order
        left = lengths[f]
        while left:
            if master:
                cap = snap[LENGTH, d] if eth_max == 0 else min(snap[LENGTH, d], eth_max)
            else:
                cap = slot_capacity
                snap[REGION, d] = snap[METADATA, d] = 0
                snap[OFFSET, d] = slot_offsets[(start + d) & mask]
            chunk = min(cap, left)
            o = snap[OFFSET, d]
            _copy(bufs[snap[REGION, d]][o : o + chunk], data[pos : pos + chunk])
            left -= chunk
            pos += chunk
            snap[LENGTH, d] = chunk
            snap[FLAGS, d] = _NEXT if left else 0
            d += 1
    for i in range(used):  # then the descriptors: a posted buffer may overlap the ring
        slot = (start + i) & mask
        desc[slot, 0] = snap[FLAGS, i] | snap[REGION, i] << 16
        desc[slot, 1] = snap[LENGTH, i]
        desc[slot, 2] = snap[OFFSET, i]
        desc[slot, 3] = snap[METADATA, i]
    return OK, placed, used, pos, 0


@_jit
def tx_burst(
    desc: Any,
    words: Any,
    config: Any,
    start: int,
    slot_offsets: Any,
    bufs: Any,
    sizes: Any,
    snap: Any,
    data: Any,
    lengths: Any,
) -> tuple[int, int, int, int, int, int]:
    """A whole placement of :meth:`TxQueue.send_packed` from slot ``start`` (our counter) on:
    check the frames, read and check the peer's counter in the ring header ``words``,
    :func:`tx_place` into the slots it leaves us, then move our counter past the
    descriptors written.

    ``config`` holds the queue's numbers (:data:`.kernel.TX_MASK` ...). Returns
    :func:`tx_place`'s tuple and the free slots: EMPTY_FRAME for a frame of length <= 0,
    SHORT_DATA when ``data`` holds fewer than ``bytes`` (both before anything is read or
    written), BAD_COUNTER with the counter as ``bytes``.
    """
    total = 0
    for f in range(lengths.size):
        if lengths[f] <= 0:
            return EMPTY_FRAME, 0, 0, 0, 0, 0
        total += lengths[f]
    if total > data.size:
        return SHORT_DATA, 0, 0, total, 0, 0
    mask, capacity = config[TX_MASK], config[TX_SLOT_CAPACITY]
    peer = int(words[config[TX_PEER]])
    _fence()
    # the slave: the master's tail trails our head by what it has not read; the master: the
    # slave's head leads our tail by what it posted
    free = mask + 1 - ((start - peer) & 0xFFFF) if capacity else (peer - start) & 0xFFFF
    if not 0 <= free <= mask + 1:
        return BAD_COUNTER, 0, 0, peer, 0, 0
    result, placed, used, nbytes, first = tx_place(
        desc, mask, start, free, capacity, slot_offsets, bufs, sizes, config[TX_ETH_MAX], snap,
        data, lengths,
    )  # fmt: skip
    if result == OK and used:
        _fence()
        words[config[TX_OURS]] = (start + used) & 0xFFFF
    return result, placed, used, nbytes, first, free


@_jit
def post_buffers(
    desc: Any,
    mask: int,
    head: int,
    count: int,
    slot_offsets: Any,
    headroom: int,
    buffer_size: int,
    capacity: Any,
) -> None:
    """Slave receive: post ``count`` empty buffers from ``head`` on (:meth:`RxQueue.refill`)."""
    for i in range(count):
        slot = (head + i) & mask
        desc[slot, 0] = 0  # flags and region
        desc[slot, 1] = buffer_size - headroom
        desc[slot, 2] = slot_offsets[slot] + headroom
        desc[slot, 3] = 0
        capacity[slot] = buffer_size - headroom
