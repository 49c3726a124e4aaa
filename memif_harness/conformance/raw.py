"""The raw peer: one memif control connection driven message by message, and its memory.

:class:`RawConnection` sends any datagram (a :class:`~memif_harness.memif.protocol.wire.Message`
with any field values, or raw bytes of any size) with any fds, and reads what the peer under
test answers: the next message, a close, or nothing within a time. :class:`SlaveMemory` is a
raw slave's copy-mode region, rings and eventfds, laid out like VPP's, with the
shared-memory steps scenarios need (write descriptors, move head and tail, set flags, post
frames on S2M, post empty buffers on M2S and read back what the master filled).
Nothing here validates what it is told to send; what the peer wrote is bounds-checked before
it is read. Either speaks protocol 2.0 or 1.0 (``version``: the ADD_RING layout, the ring
cookie, 32-byte descriptors; A.13); the traffic steps are 2.0's.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import select
import socket
import stat
from collections.abc import Iterator, Sequence

from ..memif.datapath.layout import CopyLayout
from ..memif.datapath.layout_v1 import CopyLayoutV1
from ..memif.datapath.ring import Ring
from ..memif.datapath.shm import Region
from ..memif.protocol import wire
from ..memif.protocol.constants import DESC_FLAG_NEXT, MSG_SIZE, VERSION, RingType
from ..memif.protocol.errors import RemoteProtocolError
from ..memif.protocol.versions import VERSION_V1

__all__ = [
    "Answer",
    "Chain",
    "Closed",
    "RawConnection",
    "Received",
    "RingFull",
    "Silence",
    "SlaveMemory",
    "fd_of_kind",
    "listener",
]


@dataclasses.dataclass(frozen=True, slots=True)
class Received:
    """A datagram from the peer: its bytes, the message (None if it does not parse) and how
    many fds came with it (they are closed on receipt)."""

    data: bytes
    message: wire.Message | None
    fds: int
    error: str = ""
    #: ``fstat`` size of each fd that came with it (-1: not a file).
    fd_sizes: tuple[int, ...] = ()


@dataclasses.dataclass(frozen=True, slots=True)
class Closed:
    """The peer closed the connection (EOF or reset)."""

    how: str = "EOF"


@dataclasses.dataclass(frozen=True, slots=True)
class Silence:
    """Nothing arrived within ``seconds``."""

    seconds: float


Answer = Received | Closed | Silence


class RawConnection:
    """One SOCK_SEQPACKET control connection, ours to misuse; messages are packed and parsed
    in protocol ``version``."""

    def __init__(self, sock: socket.socket, version: int = VERSION) -> None:
        self.sock = sock
        self.version = version

    @classmethod
    def connect(cls, path: str, timeout: float = 3.0) -> RawConnection:
        """Connect as a slave to ``path`` (``@name``: abstract)."""
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
        sock.settimeout(timeout)
        try:
            sock.connect("\0" + path[1:] if path.startswith("@") else path)
        except OSError:
            sock.close()
            raise
        return cls(sock)

    def send(self, msg: wire.Message | bytes, fds: Sequence[int] = ()) -> None:
        """One datagram: ``msg`` packed (or the bytes as they are), ``fds`` in SCM_RIGHTS."""
        data = msg if isinstance(msg, bytes) else wire.pack(msg, self.version)
        if fds:
            socket.send_fds(self.sock, [data], list(fds))
        else:
            self.sock.send(data)

    def receive(self, timeout: float = 3.0) -> Answer:
        """The next datagram, a close, or silence after ``timeout`` seconds (fds closed)."""
        answer, fds = self.receive_fds(timeout)
        for fd in fds:
            os.close(fd)
        return answer

    def receive_fds(self, timeout: float = 3.0) -> tuple[Answer, list[int]]:
        """:meth:`receive`, and the fds that came with the datagram, left open: the caller
        closes them."""
        ready, _, _ = select.select([self.sock], [], [], timeout)
        if not ready:
            return Silence(timeout), []
        try:
            data, fds, _flags, _addr = socket.recv_fds(self.sock, 4 * MSG_SIZE, 16)
        except ConnectionResetError:
            return Closed("reset"), []
        if not data:
            for fd in fds:
                os.close(fd)
            return Closed(), []
        try:
            message: wire.Message | None = wire.parse(data, self.version)
            error = ""
        except RemoteProtocolError as exc:
            message, error = None, exc.reason
        sizes = tuple(_fd_size(fd) for fd in fds)
        return Received(data, message, len(fds), error, sizes), fds

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> RawConnection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextlib.contextmanager
def listener(path: str) -> Iterator[socket.socket]:
    """A raw master's listening socket at ``path`` (removed again afterwards)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
    abstract = path.startswith("@")
    try:
        sock.bind("\0" + path[1:] if abstract else path)
        sock.listen(4)
        yield sock
    finally:
        sock.close()
        if not abstract:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)


def _fd_size(fd: int) -> int:
    mode = os.fstat(fd)
    return mode.st_size if stat.S_ISREG(mode.st_mode) else -1


def fd_of_kind(kind: str) -> int:
    """A new fd of ``kind``: ``memfd`` (sealable, 4 KiB), ``memfd-unsealable``, ``eventfd`` or
    ``pipe`` (the read end; the write end is closed)."""
    if kind == "eventfd":
        return os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
    if kind == "pipe":
        r, w = os.pipe()
        os.close(w)
        return r
    if kind in ("memfd", "memfd-unsealable"):
        flags = os.MFD_CLOEXEC | (os.MFD_ALLOW_SEALING if kind == "memfd" else 0)
        fd = os.memfd_create("raw-peer", flags)
        os.ftruncate(fd, 4096)
        return fd
    raise ValueError(f"unknown fd kind {kind!r} (memfd, memfd-unsealable, eventfd, pipe)")


class RingFull(Exception):
    """The raw slave's ring has no room for what a step wants to post."""


@dataclasses.dataclass(frozen=True, slots=True)
class Chain:
    """One frame the master put on M2S: its bytes, how many descriptors it took, and whether
    one of them pointed outside the raw slave's region."""

    data: bytes
    descriptors: int
    bad: bool = False


class SlaveMemory:
    """A raw slave's copy-mode region, rings and eventfds, laid out like VPP's (in protocol
    1.0 like VPP 1.0's, every descriptor given its buffer; 64ebb5ff133 memif.c:263-322)."""

    def __init__(self, n_s2m: int = 1, n_m2s: int = 1, log2: int = 10,
                 bsize: int = 2048, version: int = VERSION) -> None:
        cls = CopyLayoutV1 if version == VERSION_V1 else CopyLayout
        self.layout = cls(n_s2m=n_s2m, n_m2s=n_m2s, log2_ring_size=log2, buffer_size=bsize)
        self.region = Region.create(self.layout.size)
        self.rings: dict[tuple[RingType, int], Ring] = {}
        self.efds: dict[tuple[RingType, int], int] = {}
        for kind, count in ((RingType.S2M, n_s2m), (RingType.M2S, n_m2s)):
            for i in range(count):
                ring = Ring(self.region, self.layout.ring_offset(kind, i), log2, version=version)
                ring.init()
                if isinstance(self.layout, CopyLayoutV1):
                    self.layout.assign_buffers(ring.desc, kind, i)
                self.rings[kind, i] = ring
                self.efds[kind, i] = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
        #: Per M2S ring, how far the slave has read what the master filled.
        self.m2s_read = [0] * n_m2s

    def region_message(self) -> tuple[wire.AddRegion, list[int]]:
        return wire.AddRegion(index=0, size=self.layout.size), [self.region.fd]

    def ring_messages(self) -> list[tuple[wire.AddRing, list[int]]]:
        """ADD_RING for every S2M ring, then every M2S ring, with their eventfds."""
        return [
            (wire.AddRing(flags=1 if kind is RingType.S2M else 0, index=i, region=0,
                          offset=ring.offset, log2_ring_size=self.layout.log2_ring_size),
             [self.efds[kind, i]])
            for (kind, i), ring in self.rings.items()
        ]

    def post(self, kind: RingType, descs: Sequence[dict[str, int]], index: int = 0) -> None:
        """Write descriptors at the producer's counter (missing fields: the slot's own buffer,
        64 bytes) and advance it: head for S2M, head for the M2S buffers a slave posts."""
        ring = self.rings[kind, index]
        head = ring.head
        for n, fields in enumerate(descs):
            slot = (head + n) & ring.mask
            values = {"flags": 0, "region": 0, "length": 64, "metadata": 0,
                      "offset": self.layout.slot_offset(kind, index, slot)} | fields
            for key, value in values.items():
                ring.desc[key][slot] = value
        ring.head = (head + len(descs)) & 0xFFFF

    def free(self, kind: RingType, index: int = 0) -> int:
        """Slots the slave may produce into now: S2M, those the master has released (its
        tail); M2S, those neither posted nor still unread."""
        ring = self.rings[kind, index]
        consumer = ring.tail if kind is RingType.S2M else self.m2s_read[index]
        return ring.size - ((ring.head - consumer) & 0xFFFF)

    def post_frames(self, frames: Sequence[bytes], desc_bytes: int, index: int = 0) -> int:
        """Each frame in descriptors of at most ``desc_bytes`` (NEXT on all but a frame's
        last), written at the S2M head into the slots' own buffers; the head advanced once.
        Returns the descriptors used; :class:`RingFull` if the ring has not enough free."""
        if not 0 < desc_bytes <= self.layout.buffer_size:
            raise ValueError(f"descriptor size {desc_bytes} not in 1..{self.layout.buffer_size}")
        pieces = [(frame[at:at + desc_bytes], at + desc_bytes < len(frame))
                  for frame in frames for at in range(0, max(len(frame), 1), desc_bytes)]
        if len(pieces) > self.free(RingType.S2M, index):
            raise RingFull(f"{len(pieces)} descriptors, {self.free(RingType.S2M, index)} free")
        ring = self.rings[RingType.S2M, index]
        buf = self.region.buf
        head = ring.head
        for n, (piece, more) in enumerate(pieces):
            slot = (head + n) & ring.mask
            offset = self.layout.slot_offset(RingType.S2M, index, slot)
            buf[offset:offset + len(piece)] = memoryview(piece)
            ring.desc[slot] = (DESC_FLAG_NEXT if more else 0, 0, len(piece), offset, 0)
        ring.head = (head + len(pieces)) & 0xFFFF
        return len(pieces)

    def refill(self, count: int | None = None, capacity: int | None = None,
               region: int = 0, index: int = 0) -> int:
        """Post ``count`` empty M2S buffers (None: every free slot) of ``capacity`` bytes
        (None: the whole slot buffer) in ``region``; returns how many."""
        ring = self.rings[RingType.M2S, index]
        count = self.free(RingType.M2S, index) if count is None else count
        length = self.layout.buffer_size if capacity is None else capacity
        head = ring.head
        for n in range(count):
            slot = (head + n) & ring.mask
            ring.desc[slot] = (0, region, length,
                               self.layout.slot_offset(RingType.M2S, index, slot), 0)
        ring.head = (head + count) & 0xFFFF
        return count

    def collect(self, index: int = 0) -> list[Chain]:
        """What the master filled on M2S since the last call (up to its tail), as chains;
        a descriptor outside the region makes its chain ``bad`` (its bytes are not read)."""
        ring = self.rings[RingType.M2S, index]
        start, end = self.m2s_read[index], ring.tail
        count = (end - start) & 0xFFFF
        if count > ring.size:
            raise RemoteProtocolError(f"M2S tail {end} is {count} slots past {start}")
        chains: list[Chain] = []
        parts: list[bytes] = []
        used, bad = 0, False
        for n in range(count):
            flags, region, length, offset, _meta = ring.desc[(start + n) & ring.mask].item()
            used += 1
            if region != 0 or offset + length > self.region.size:
                bad = True
            else:
                parts.append(self.region.buf[offset:offset + length].tobytes())
            if not flags & DESC_FLAG_NEXT:
                chains.append(Chain(b"".join(parts), used, bad))
                parts, used, bad = [], 0, False
        self.m2s_read[index] = (start + count - used) & 0xFFFF  # an open chain: read later
        return chains

    def interrupts(self, kind: RingType, index: int = 0) -> int:
        """How often the peer signalled the ring's eventfd since the last call."""
        try:
            return os.eventfd_read(self.efds[kind, index])
        except BlockingIOError:
            return 0

    def kick(self, kind: RingType, index: int = 0) -> None:
        """Signal the ring's eventfd (an interrupt to the peer)."""
        os.eventfd_write(self.efds[kind, index], 1)

    def close(self) -> None:
        self.rings.clear()
        for fd in self.efds.values():
            os.close(fd)
        self.efds.clear()
        self.region.close()
