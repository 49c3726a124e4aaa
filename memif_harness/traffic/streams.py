"""Tagged scapy streams: the frame builders and the payload tag they carry.

Every frame of a :class:`Stream` carries a 16-byte :data:`TAG` at the start of its L4 payload
(the IP payload when there is no L4 header, after the ARP header for ARP): magic, stream id,
sequence number, length and CRC32 of the rest of the payload. :func:`udp`, :func:`tcp`,
:func:`icmp`, :func:`arp` (or :func:`make_stream` by name) build streams; :func:`find_tag`
and :func:`check_tag` read the tag back.
"""

from __future__ import annotations

import dataclasses
import struct
import zlib
from collections.abc import Callable, Iterator, Sequence
from typing import Any, NamedTuple

from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import ICMPv6EchoReply, ICMPv6EchoRequest, IPv6
from scapy.layers.l2 import ARP, Dot1AD, Dot1Q, Ether
from scapy.packet import NoPayload, Packet, Raw

from .frames import csum_adjust, internet_checksum

__all__ = [
    "MAGIC",
    "STREAM_KINDS",
    "TAG",
    "Stream",
    "Tag",
    "arp",
    "check_tag",
    "find_tag",
    "find_tags",
    "icmp",
    "make_stream",
    "tcp",
    "udp",
]

#: The tag: magic, stream id (u16), sequence number (u32), length (u16) of the rest of the
#: payload and CRC32 of it, network byte order. 16 bytes.
TAG = struct.Struct("!4sHIHI")
MAGIC = b"\xc0\xdeMH"
MIN_FRAME = 60

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
            if csum_layers:
                off, cls = csum_layers[0]
                # The template's tag (and echo sequence number) is zero: the words that
                # changed sum to 0 before, to the ones' complement sum of ``added`` now.
                added = tag
                if icmp_echo:
                    echo_seq = (seq & 0xFFFF).to_bytes(2, "big")
                    frame[off + 6 : off + 8] = echo_seq
                    added += echo_seq
                field = off + _CHECKSUM[cls]
                old = int.from_bytes(frame[field : field + 2], "big")
                new = csum_adjust(old, 0, ~internet_checksum(added) & 0xFFFF)
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
