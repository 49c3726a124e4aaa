"""Send-and-verify: tagged scapy streams, classification of what came back, one-line asserts.

>>> verdict = send_and_expect(slave, master, udp(1, count=100, size=64))   # doctest: +SKIP
>>> send_and_expect(ep, ep, icmp(2, 50), expect=icmp_echo_reply)           # doctest: +SKIP

Every frame of a :class:`Stream` carries a 16-byte :data:`TAG` at the start of its L4 payload
(the IP payload when there is no L4 header, after the ARP header for ARP): magic, stream id,
sequence number, length and CRC32 of the rest of the payload. :func:`classify` finds the tag
in each received frame, compares the frame byte for byte with what was expected of the sent
one (after an expected transformation: :func:`identity`, :func:`mac_swap`,
:data:`icmp_echo_reply` or any callable) and reports each frame as delivered, lost,
duplicated, reordered, corrupted or truncated (and foreign frames as unexpected).
:func:`send_and_expect` sends over :class:`~memif_harness.endpoint.Endpoint` objects and
raises an AssertionError naming the first differences (a scapy ``show()`` dump or a hexdiff)
and, given a directory, writing ``sent.pcap`` and ``received.pcap`` there.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import itertools
import select
import struct
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import ICMPv6EchoReply, ICMPv6EchoRequest, IPv6
from scapy.layers.l2 import ARP, Dot1AD, Dot1Q, Ether
from scapy.packet import NoPayload, Packet, Raw
from scapy.utils import hexdiff, wrpcap

from .endpoint import Endpoint, Frame
from .errors import MemifError
from .responder import echo_reply

__all__ = [
    "MAGIC",
    "STREAM_KINDS",
    "TAG",
    "Expect",
    "IcmpEchoReply",
    "Problem",
    "Stream",
    "Tag",
    "Verdict",
    "arp",
    "check_tag",
    "classify",
    "dissect",
    "find_tag",
    "find_tags",
    "hexdiff_text",
    "icmp",
    "icmp_echo_reply",
    "identity",
    "mac_swap",
    "make_stream",
    "receive",
    "resolve_expect",
    "send_and_expect",
    "send_frames",
    "tcp",
    "udp",
    "write_pcaps",
]

#: The tag: magic, stream id (u16), sequence number (u32), length (u16) of the rest of the
#: payload and CRC32 of it, network byte order. 16 bytes.
TAG = struct.Struct("!4sHIHI")
MAGIC = b"\xc0\xdeMH"
MIN_FRAME = 60
JUMBO = 9000

#: An expected transformation: what the peer should send back for a frame (None: nothing).
Expect = Callable[[bytes], bytes | None]

#: Layers the fast path knows; ``_CHECKSUM`` ones cover the payload (offset of the field).
_PLAIN = (Ether, Dot1Q, Dot1AD, IP, IPv6, ARP)
_CHECKSUM: dict[type[Packet], int] = {
    UDP: 6,
    TCP: 16,
    ICMP: 2,
    ICMPv6EchoRequest: 2,
    ICMPv6EchoReply: 2,
}


class Tag(NamedTuple):
    """A tag found in a frame; ``offset`` is where it starts."""

    stream: int
    seq: int
    length: int
    crc: int
    offset: int

    @property
    def key(self) -> tuple[int, int]:
        """``(stream, seq)``."""
        return self.stream, self.seq


def make_tag(stream: int, seq: int, rest: bytes) -> bytes:
    """The tag for payload ``rest`` following it."""
    return TAG.pack(MAGIC, stream, seq & 0xFFFFFFFF, len(rest), zlib.crc32(rest))


def find_tags(frame: bytes | bytearray | memoryview) -> Iterator[Tag]:
    """Every complete tag in ``frame`` (found by its magic), in order."""
    data = bytes(frame)
    start = data.find(MAGIC)
    while start >= 0 and start + TAG.size <= len(data):
        _, stream, seq, length, crc = TAG.unpack_from(data, start)
        yield Tag(stream, seq, length, crc, start)
        start = data.find(MAGIC, start + 1)


def find_tag(frame: bytes | bytearray | memoryview) -> Tag | None:
    """The first tag in ``frame``, or None."""
    return next(find_tags(frame), None)


def check_tag(frame: bytes | bytearray | memoryview) -> str:
    """Receiver-side check without the sent frames: ``ok``, ``untagged``, ``truncated``
    (less payload than the tag's length) or ``corrupted`` (CRC mismatch)."""
    data = bytes(frame)
    tag = find_tag(data)
    if tag is None:
        return "untagged"
    rest = data[tag.offset + TAG.size : tag.offset + TAG.size + tag.length]
    if len(rest) < tag.length:
        return "truncated"
    return "ok" if zlib.crc32(rest) == tag.crc else "corrupted"


def fill(size: int, stream: int) -> bytes:
    """The deterministic payload after the tag (bytes counting up from the stream id)."""
    return bytes((i + stream) & 0xFF for i in range(256)) * (size // 256) + bytes(
        (i + stream) & 0xFF for i in range(size % 256)
    )


def _fold_words(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    return sum(struct.unpack(f"!{len(data) // 2}H", data))


# -- streams ---------------------------------------------------------------------------------


@dataclasses.dataclass
class Stream:
    """``count`` frames of ``headers`` + tagged payload, frame ``i`` of size ``sizes[i % n]``.

    ``headers`` is a scapy packet without payload (starting at ``Ether`` in ethernet mode, at
    ``IP``/``IPv6`` in IP mode). Sizes are whole frames (L2 header included, no FCS); None
    means the smallest possible (at least 60 bytes with an Ethernet header). In an
    ICMP echo stream the echo sequence number follows the frame's sequence number.
    """

    id: int
    headers: Packet
    count: int = 1
    sizes: int | Sequence[int] | None = None
    name: str = ""
    first_seq: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.id <= 0xFFFF:
            raise ValueError(f"stream id {self.id} is not a u16")
        self._cache: list[bytes] | None = None

    @property
    def header_length(self) -> int:
        """Bytes before the tag."""
        return len(bytes(self.headers))

    @property
    def min_size(self) -> int:
        """The smallest frame this stream can build (headers + tag)."""
        return self.header_length + TAG.size

    @property
    def l2(self) -> bool:
        """Whether frames start with an Ethernet header."""
        return isinstance(self.headers, Ether)

    def size_of(self, seq: int) -> int:
        """The size of frame ``seq``."""
        sizes = self.sizes
        if sizes is None:
            return max(MIN_FRAME, self.min_size) if self.l2 else self.min_size
        if isinstance(sizes, int):
            return sizes
        return sizes[(seq - self.first_seq) % len(sizes)]

    def frames(self) -> list[bytes]:
        """Build (once) and return every frame."""
        if self._cache is None:
            self._cache = self._build()
        return self._cache

    def __iter__(self) -> Any:
        return iter(self.frames())

    def __len__(self) -> int:
        return self.count

    def _build(self) -> list[bytes]:
        hlen = self.header_length
        for size in {self.size_of(s) for s in range(self.first_seq, self.first_seq + self.count)}:
            if size < hlen + TAG.size:
                raise ValueError(
                    f"stream {self.id}: size {size} below the minimum {hlen + TAG.size} "
                    f"({hlen} bytes of headers + {TAG.size}-byte tag)"
                )
        layers = _layers(self.headers)
        csum_layers = [(off, cls) for off, cls in layers if cls in _CHECKSUM]
        fast = all(cls in _PLAIN or cls in _CHECKSUM for _, cls in layers) and (
            len(csum_layers) <= 1 and all((hlen - off) % 2 == 0 for off, _ in csum_layers)
        )
        icmp_echo = any(cls in (ICMP, ICMPv6EchoRequest) for _, cls in layers)
        if icmp_echo and self.headers.haslayer(ICMP) and self.headers[ICMP].type not in (0, 8):
            icmp_echo = False
        templates: dict[int, tuple[bytes, bytes]] = {}
        out: list[bytes] = []
        for seq in range(self.first_seq, self.first_seq + self.count):
            size = self.size_of(seq)
            if not fast:
                out.append(self._slow(seq, size, hlen, icmp_echo))
                continue
            if size not in templates:
                rest = fill(size - hlen - TAG.size, self.id)
                templates[size] = (
                    bytes(self._with_seq(0, icmp_echo) / Raw(bytes(TAG.size) + rest)),
                    rest,
                )
            template, rest = templates[size]
            frame = bytearray(template)
            tag = make_tag(self.id, seq, rest)
            frame[hlen : hlen + TAG.size] = tag
            added = _fold_words(tag)
            if csum_layers:
                off, cls = csum_layers[0]
                if icmp_echo:
                    frame[off + 6 : off + 8] = (seq & 0xFFFF).to_bytes(2, "big")
                    added += seq & 0xFFFF
                field = off + _CHECKSUM[cls]
                old = int.from_bytes(frame[field : field + 2], "big")
                total = (~old & 0xFFFF) + added
                while total >> 16:
                    total = (total & 0xFFFF) + (total >> 16)
                new = ~total & 0xFFFF
                if cls is UDP and new == 0:
                    new = 0xFFFF
                frame[field : field + 2] = new.to_bytes(2, "big")
            out.append(bytes(frame))
        return out

    def _with_seq(self, seq: int, icmp_echo: bool) -> Packet:
        pkt = self.headers.copy()
        if icmp_echo:
            layer = pkt[ICMP] if pkt.haslayer(ICMP) else pkt[ICMPv6EchoRequest]
            layer.seq = seq & 0xFFFF
        return pkt

    def _slow(self, seq: int, size: int, hlen: int, icmp_echo: bool) -> bytes:
        rest = fill(size - hlen - TAG.size, self.id)
        return bytes(self._with_seq(seq, icmp_echo) / Raw(make_tag(self.id, seq, rest) + rest))


def _layers(pkt: Packet) -> list[tuple[int, type[Packet]]]:
    """``(offset, class)`` of each layer of a payload-less header stack."""
    total = len(bytes(pkt))
    out: list[tuple[int, type[Packet]]] = []
    layer: Any = pkt
    while isinstance(layer, Packet) and not isinstance(layer, Raw | NoPayload):
        out.append((total - len(bytes(layer)), type(layer)))
        layer = layer.payload
    return out


def _l2_l3(
    *,
    l2: bool,
    ipv6: bool,
    vlan: int | Sequence[int],
    src_mac: str,
    dst_mac: str,
    src_ip: str | None,
    dst_ip: str | None,
) -> Packet:
    if ipv6:
        l3: Packet = IPv6(src=src_ip or "fd00::2", dst=dst_ip or "fd00::1")
    else:
        l3 = IP(src=src_ip or "192.168.1.2", dst=dst_ip or "192.168.1.1")
    if not l2:
        return l3
    pkt: Packet = Ether(src=src_mac, dst=dst_mac)
    for tag in [vlan] if isinstance(vlan, int) else vlan:
        pkt = pkt / Dot1Q(vlan=tag)
    return pkt / l3


SRC_MAC = "02:fe:00:00:00:02"
DST_MAC = "02:fe:00:00:00:01"


def udp(
    id: int,
    count: int = 1,
    size: int | Sequence[int] | None = None,
    *,
    ipv6: bool = False,
    vlan: int | Sequence[int] = (),
    l2: bool = True,
    src_mac: str = SRC_MAC,
    dst_mac: str = DST_MAC,
    src_ip: str | None = None,
    dst_ip: str | None = None,
    sport: int = 1024,
    dport: int = 1024,
) -> Stream:
    """A UDP stream (``l2=False``: IP mode, no Ethernet header; ``vlan``: Dot1Q tags)."""
    base = _l2_l3(
        l2=l2, ipv6=ipv6, vlan=vlan, src_mac=src_mac, dst_mac=dst_mac, src_ip=src_ip, dst_ip=dst_ip
    )
    return Stream(id, base / UDP(sport=sport, dport=dport + id), count, size, name="udp")


def tcp(
    id: int,
    count: int = 1,
    size: int | Sequence[int] | None = None,
    *,
    ipv6: bool = False,
    vlan: int | Sequence[int] = (),
    l2: bool = True,
    src_mac: str = SRC_MAC,
    dst_mac: str = DST_MAC,
    src_ip: str | None = None,
    dst_ip: str | None = None,
    sport: int = 1024,
    dport: int = 80,
) -> Stream:
    """A TCP stream (PSH/ACK segments)."""
    base = _l2_l3(
        l2=l2, ipv6=ipv6, vlan=vlan, src_mac=src_mac, dst_mac=dst_mac, src_ip=src_ip, dst_ip=dst_ip
    )
    return Stream(id, base / TCP(sport=sport, dport=dport, flags="PA"), count, size, name="tcp")


def icmp(
    id: int,
    count: int = 1,
    size: int | Sequence[int] | None = None,
    *,
    ipv6: bool = False,
    vlan: int | Sequence[int] = (),
    l2: bool = True,
    src_mac: str = SRC_MAC,
    dst_mac: str = DST_MAC,
    src_ip: str | None = None,
    dst_ip: str | None = None,
    echo_id: int | None = None,
) -> Stream:
    """An ICMP (ICMPv6) echo request stream; echo id = ``echo_id`` (default: stream id)."""
    base = _l2_l3(
        l2=l2, ipv6=ipv6, vlan=vlan, src_mac=src_mac, dst_mac=dst_mac, src_ip=src_ip, dst_ip=dst_ip
    )
    ident = id if echo_id is None else echo_id
    l4: Packet = ICMPv6EchoRequest(id=ident) if ipv6 else ICMP(type=8, id=ident)
    return Stream(id, base / l4, count, size, name="icmp6" if ipv6 else "icmp")


def arp(
    id: int,
    count: int = 1,
    size: int | Sequence[int] | None = None,
    *,
    vlan: int | Sequence[int] = (),
    src_mac: str = SRC_MAC,
    src_ip: str = "192.168.1.2",
    target_ip: str = "192.168.1.1",
) -> Stream:
    """Broadcast ARP requests for ``target_ip`` (the tag sits in the Ethernet padding)."""
    pkt: Packet = Ether(src=src_mac, dst="ff:ff:ff:ff:ff:ff")
    for tag in [vlan] if isinstance(vlan, int) else vlan:
        pkt = pkt / Dot1Q(vlan=tag)
    pkt = pkt / ARP(op=1, hwsrc=src_mac, psrc=src_ip, pdst=target_ip)
    return Stream(id, pkt, count, size, name="arp")


STREAM_KINDS = ("udp", "tcp", "icmp", "udp6", "tcp6", "icmp6", "arp")


def make_stream(
    kind: str, id: int, count: int, size: int | Sequence[int] | None = None, **kw: Any
) -> Stream:
    """One of :data:`STREAM_KINDS` by name (``udp6`` = UDP over IPv6...); ``kw`` as the builder."""
    if kind == "arp":
        return arp(id, count, size, **kw)
    builders: dict[str, Callable[..., Stream]] = {"udp": udp, "tcp": tcp, "icmp": icmp}
    base, ipv6 = (kind[:-1], True) if kind.endswith("6") else (kind, False)
    if base not in builders:
        raise ValueError(f"unknown stream kind {kind!r} (one of {', '.join(STREAM_KINDS)})")
    return builders[base](id, count, size, ipv6=ipv6, **kw)


# -- expected transformations ---------------------------------------------------------------


def identity(frame: bytes) -> bytes:
    """The peer forwards the frame unchanged (testpmd ``io``)."""
    return frame


def mac_swap(frame: bytes) -> bytes:
    """The peer swaps source and destination MAC (testpmd ``macswap``)."""
    return frame[6:12] + frame[0:6] + frame[12:]


def _looks_l2(frame: bytes) -> bool:
    return len(frame) >= 14 and int.from_bytes(frame[12:14], "big") in (
        0x0800,
        0x86DD,
        0x0806,
        0x8100,
        0x88A8,
        0x9100,
    )


@dataclasses.dataclass(frozen=True)
class IcmpEchoReply:
    """The peer answers echo requests (testpmd ``icmpecho``, VPP, icmp_responder).

    MACs and IP addresses swapped (source MAC := ``src_mac`` if given), type echo reply,
    checksum fixed; TTL kept unless ``ttl`` is given. ``l2=None`` guesses from the ethertype.
    Frames that are not echo requests expect no reply.
    """

    src_mac: str | None = None
    ttl: int | None = None
    l2: bool | None = None

    def __call__(self, frame: bytes) -> bytes | None:
        l2 = _looks_l2(frame) if self.l2 is None else self.l2
        mac = None if self.src_mac is None else bytes.fromhex(self.src_mac.replace(":", ""))
        return echo_reply(frame, l2=l2, src_mac=mac, ttl=self.ttl)


icmp_echo_reply = IcmpEchoReply()

_NAMED: dict[str, Expect] = {
    "identity": identity,
    "io": identity,
    "macswap": mac_swap,
    "mac-swap": mac_swap,
    "icmp-echo": icmp_echo_reply,
    "icmpecho": icmp_echo_reply,
    "icmp-echo-reply": icmp_echo_reply,
}


def resolve_expect(expect: str | Expect | None) -> Expect:
    """A transformation by name (identity/io, macswap, icmp-echo) or the callable itself."""
    if expect is None:
        return identity
    if callable(expect):
        return expect
    try:
        return _NAMED[expect.lower()]
    except KeyError:
        raise ValueError(f"unknown expectation {expect!r} (one of {', '.join(_NAMED)})") from None


# -- classification ---------------------------------------------------------------------------

KINDS = ("lost", "corrupted", "truncated", "duplicated", "reordered", "unexpected")


@dataclasses.dataclass(frozen=True)
class Problem:
    """One bad frame: what was expected (None for unexpected) and what came (None for lost)."""

    kind: str
    stream: int | None
    seq: int | None
    expected: bytes | None
    received: bytes | None
    #: Position in the received list (None for lost).
    index: int | None
    detail: str = ""

    def where(self) -> str:
        """``stream 1 seq 5`` or ``received frame #3``."""
        if self.stream is not None:
            text = f"stream {self.stream} seq {self.seq}"
        else:
            text = "untagged frame"
        if self.index is not None:
            text += f" (received #{self.index})"
        return text


@dataclasses.dataclass
class Verdict:
    """Counts of each outcome, with the first few examples of each problem."""

    sent: int
    expected: int
    received: int
    delivered: int = 0
    lost: int = 0
    duplicated: int = 0
    reordered: int = 0
    corrupted: int = 0
    truncated: int = 0
    unexpected: int = 0
    #: Frames the transmit ring never took (the peer did not drain it).
    unsent: int = 0
    examples: dict[str, list[Problem]] = dataclasses.field(default_factory=dict)
    elapsed: float = 0.0
    #: The pcaps :func:`send_and_expect` wrote on failure.
    pcaps: list[Path] = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Exactly the expected frames came, once each, intact and in order."""
        return self.delivered == self.expected and not any(
            getattr(self, kind) for kind in (*KINDS, "unsent")
        )

    def __bool__(self) -> bool:
        return self.ok

    def counts(self) -> dict[str, int]:
        """Every counter by name."""
        names = ("sent", "expected", "received", "delivered", *KINDS, "unsent")
        return {name: getattr(self, name) for name in names}

    def summary(self) -> str:
        """One line: ``sent 10, expected 10, received 9: 9 delivered, 1 lost``."""
        parts = [f"{self.delivered} delivered"]
        parts += [f"{getattr(self, k)} {k}" for k in (*KINDS, "unsent") if getattr(self, k)]
        rate = ""
        if self.elapsed > 0 and self.received:
            rate = f" in {self.elapsed:.3f}s ({self.received / self.elapsed:,.0f} pps)"
        return (
            f"sent {self.sent}, expected {self.expected}, received {self.received}{rate}: "
            + ", ".join(parts)
        )

    def report(self, max_examples: int = 3) -> str:
        """The summary and the first differences: a hexdiff of the first corrupted or
        truncated frame, a ``show()`` dump of the first lost and unexpected frame."""
        lines = [self.summary()]
        for kind in KINDS:
            problems = self.examples.get(kind, [])
            if not problems:
                continue
            total = getattr(self, kind)
            lines.append(f"{kind} ({total}), first {min(total, max_examples)}:")
            for n, problem in enumerate(problems[:max_examples]):
                lines.append(
                    f"  {problem.where()}{': ' + problem.detail if problem.detail else ''}"
                )
                if n:
                    continue
                if kind in ("corrupted", "truncated") and problem.expected and problem.received:
                    lines.append("  hexdiff (expected above, received below):")
                    lines.append(_indent(hexdiff_text(problem.expected, problem.received)))
                elif kind == "lost" and problem.expected is not None:
                    lines.append("  expected frame:")
                    lines.append(_indent(dissect(problem.expected)))
                elif kind == "unexpected" and problem.received is not None:
                    lines.append("  received frame:")
                    lines.append(_indent(dissect(problem.received)))
        if self.unsent:
            lines.append(f"{self.unsent} frames never left: the transmit ring stayed full")
        if self.pcaps:
            lines.append("pcaps: " + ", ".join(str(p) for p in self.pcaps))
        return "\n".join(lines)


def _indent(text: str, prefix: str = "    ") -> str:
    return "\n".join(prefix + line for line in text.rstrip("\n").splitlines())


def hexdiff_text(expected: bytes, received: bytes) -> str:
    """scapy's :func:`hexdiff` output as a string."""
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        hexdiff(expected, received)
    return buf.getvalue()


def dissect(frame: bytes) -> str:
    """A scapy ``show()`` dump of an Ethernet frame or (IP mode) an IP packet."""
    pkt: Packet
    if _looks_l2(frame):
        pkt = Ether(frame)
    elif frame and frame[0] >> 4 == 6:
        pkt = IPv6(frame)
    elif frame and frame[0] >> 4 == 4:
        pkt = IP(frame)
    else:
        pkt = Ether(frame)
    return str(pkt.show(dump=True))


def _first_difference(expected: bytes, received: bytes) -> str:
    n = min(len(expected), len(received))
    diffs = [i for i in range(n) if expected[i] != received[i]]
    length = f"{len(received)} bytes, expected {len(expected)}"
    if not diffs:
        return length
    return f"{length}; {len(diffs)} bytes differ, first at offset {diffs[0]:#x}"


def _nearest(frame: bytes, candidates: Sequence[tuple[object, bytes]]) -> object | None:
    """The key of the same-length candidate differing from ``frame`` in fewest bytes, if
    under a tenth of them differ (a frame whose tag was corrupted)."""
    got = np.frombuffer(frame, dtype=np.uint8)
    best, best_diff = None, len(frame) // 10 + 1
    for key, exp in itertools.islice((c for c in candidates if len(c[1]) == len(frame)), 4096):
        diff = int(np.count_nonzero(np.frombuffer(exp, dtype=np.uint8) != got))
        if diff < best_diff:
            best, best_diff = key, diff
    return best


def classify(
    sent: Iterable[Frame],
    received: Iterable[Frame],
    expect: str | Expect | None = identity,
    *,
    ordered: bool = True,
    max_examples: int = 3,
) -> Verdict:
    """Compare what came back with what ``expect`` says each sent frame should become.

    Frames are matched by their tag (untagged ones by content). Each expected frame is
    delivered (first intact copy), corrupted (same length or longer, bytes differ), truncated
    (shorter) or lost; further intact copies are duplicated; an intact frame arriving after a
    later one of its stream is reordered (only if ``ordered``); anything else is unexpected.
    """
    transform = resolve_expect(expect)
    sent_b = [f if isinstance(f, bytes) else bytes(f) for f in sent]
    recv_b = [f if isinstance(f, bytes) else bytes(f) for f in received]
    expected: dict[object, tuple[int, int | None, int | None, bytes]] = {}
    for position, frame in enumerate(sent_b):
        out = transform(frame)
        if out is None:
            continue
        tag = find_tag(frame)
        key: object = tag.key if tag is not None else out
        expected.setdefault(key, (position, *(tag.key if tag else (None, None)), out))
    verdict = Verdict(sent=len(sent_b), expected=len(expected), received=len(recv_b))
    examples: dict[str, list[Problem]] = {kind: [] for kind in KINDS}

    def note(kind: str, problem: Problem) -> None:
        setattr(verdict, kind, getattr(verdict, kind) + 1)
        if len(examples[kind]) < max_examples:
            examples[kind].append(problem)

    seen: set[object] = set()  # keys with any copy received (intact or not)
    intact: set[object] = set()
    newest: dict[int | None, int] = {}  # stream -> highest sent position delivered
    pending_prefix: list[tuple[object, bytes]] | None = None
    for index, frame in enumerate(recv_b):
        key = next((t.key for t in find_tags(frame) if t.key in expected), frame)
        entry = expected.get(key)
        if entry is None:
            # No usable tag: maybe a truncated copy that lost it.
            if pending_prefix is None:
                pending_prefix = [(k, v[3]) for k, v in expected.items()]
            match = next(
                (
                    k
                    for k, exp in pending_prefix
                    if len(frame) < len(exp) and k not in seen and exp.startswith(frame)
                ),
                None,
            )
            if match is None:  # maybe its tag was hit: the nearest frame of the same length
                match = _nearest(frame, [(k, e) for k, e in pending_prefix if k not in seen])
            if match is None:
                note("unexpected", Problem("unexpected", None, None, None, frame, index))
                continue
            key, entry = match, expected[match]
        position, stream, seq, exp = entry
        seen.add(key)
        if frame == exp:
            if key in intact:
                note("duplicated", Problem("duplicated", stream, seq, exp, frame, index))
                continue
            intact.add(key)
            verdict.delivered += 1
            if ordered and position < newest.get(stream, -1):
                note(
                    "reordered",
                    Problem(
                        "reordered", stream, seq, exp, frame, index, "arrived after a later one"
                    ),
                )
            newest[stream] = max(newest.get(stream, -1), position)
        else:
            kind = "truncated" if len(frame) < len(exp) else "corrupted"
            note(kind, Problem(kind, stream, seq, exp, frame, index, _first_difference(exp, frame)))
    for key, (_, stream, seq, exp) in expected.items():
        if key not in seen:
            note("lost", Problem("lost", stream, seq, exp, None, None))
    verdict.examples = {k: v for k, v in examples.items() if v}
    return verdict


# -- over endpoints -------------------------------------------------------------------------

QueueSpec = int | Sequence[int] | Callable[[int, bytes], int]


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
    fds = []
    for qid in queues:
        with contextlib.suppress(MemifError):
            fds.append(endpoint.interface.get_queue_efd(qid))
    # A short cap covers peers that never signal (polling peers, MASK_INT races).
    select.select(fds, [], [], max(0.0, min(timeout, 0.002)))


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
) -> int:
    """Send ``frames`` in bursts of ``burst`` (``rate`` pps and/or ``gap`` s between bursts).

    ``queue`` is one queue, one per frame, or ``f(index, frame) -> queue``. While waiting
    (for ring space or the next burst) frames on ``rx``'s ``rx_queues`` go into ``received``
    so an echoing peer never stalls. ``window`` caps the frames in flight (sent, not yet
    received) for a reflecting peer that drops what finds our receive ring full, as testpmd
    does. Returns how many were sent (fewer if a ring stayed full for ``timeout``).
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
    sent = 0
    for n, first in enumerate(range(0, len(frames), max(1, burst))):
        if n and (interval or gap):
            due = start + n * interval + n * gap
            while (left := due - time.monotonic()) > 0:
                pump()
                if left > 0.0005:
                    time.sleep(min(left, 0.001))
        chunk = range(first, min(first + burst, len(frames)))
        if window is not None:
            deadline = time.monotonic() + timeout
            while sent + len(chunk) - len(sink) > window and time.monotonic() < deadline:
                pump()
                time.sleep(0.00005)
        # consecutive frames of one queue go in one call
        for qid, group in itertools.groupby(chunk, key=lambda i: steer[i]):
            batch = [frames[i] for i in group]
            done, deadline = 0, time.monotonic() + timeout
            while done < len(batch):
                done += tx.interface.send(qid, batch[done:])
                if done < len(batch):
                    pump()
                    if time.monotonic() > deadline:
                        return sent + done
                    time.sleep(0.00005)
            sent += done
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
) -> Verdict:
    """Send ``frames`` on ``tx`` and assert that exactly ``expect(frame)`` of each came out
    of ``rx`` (``None``: ``tx`` itself, for a peer that echoes).

    Receives on ``rx_queue`` (default: every receive queue) until every expected frame came or
    ``timeout``, then ``quiet`` seconds more (to catch duplicates); ``window`` as in
    :func:`send_frames`. On a mismatch writes
    ``sent.pcap`` and ``received.pcap`` into ``pcap_dir`` (if given) and, with ``check``,
    raises AssertionError with :meth:`Verdict.report`; returns the :class:`Verdict`.
    """
    rx = tx if rx is None else rx
    sent_frames = _frames(frames)
    transform = resolve_expect(expect)
    want = sum(transform(f) is not None for f in sent_frames)
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
    )
    received += receive(rx, want - len(received), queues=qids, timeout=timeout, quiet=quiet)
    elapsed = time.monotonic() - start
    verdict = classify(sent_frames[:sent], received, transform, ordered=ordered)
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
    linktype = 1 if not sample or _looks_l2(sample) else 101  # DLT_EN10MB or DLT_RAW
    paths = []
    for name, frames in (("sent.pcap", sent), ("received.pcap", received)):
        path = folder / name
        wrpcap(str(path), list(frames), linktype=linktype)  # type: ignore[arg-type]
        paths.append(path)
    return paths
