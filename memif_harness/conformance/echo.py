"""The raw slave's traffic: ARP and ICMP echo requests built with scapy, and the replies the
peer put on M2S checked byte for byte.

Every implementation under test answers ARP and ICMP echo on an address (testpmd and our
reflector in ``icmpecho`` mode, VPP on its interface address, libmemif's ``icmp_responder``),
so one kind of traffic runs against all of them. A reply is right when it is addressed to the
raw slave from the peer's address, and from the ICMP header to the end of the IP packet it is
exactly the reply to its request (type, id, sequence and every payload byte); the rest of the
IP header (TTL, IP id) is the peer's to choose. A wrong ICMP checksum is the responding
application's error, not the transport's: it is counted on its own (libmemif's example
checksums the 8-byte header only, examples/common/icmp_proto.c:394).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import time
from collections.abc import Iterable, Sequence

from scapy.layers.inet import ICMP, IP
from scapy.layers.l2 import Ether
from scapy.packet import Raw

from ..memif.runtime.endpoint import Endpoint
from ..traffic.exchange import receive
from ..traffic.frames import arp_request, echo_reply, format_mac, parse_arp_reply
from .raw import Chain

__all__ = ["ECHO_ID", "RAW_MAC", "Addresses", "EchoTally", "echo_requests", "ping_through"]

#: The raw slave's MAC and the ICMP echo identifier it uses ("MH").
RAW_MAC = bytes.fromhex("02004d480002")
ECHO_ID = 0x4D48
_ETH_IP = 14


@dataclasses.dataclass(frozen=True, slots=True)
class Addresses:
    """The peer's address (``A.B.C.D/len``) and the raw slave's, another host of its net."""

    peer: bytes
    raw: bytes

    @classmethod
    def of(cls, peer_ip: str) -> Addresses:
        iface = ipaddress.IPv4Interface(peer_ip)
        raw = next(h for h in iface.network.hosts() if h != iface.ip)
        return cls(iface.ip.packed, raw.packed)

    def arp_request(self) -> bytes:
        """Who has the peer's address, padded to the 60-byte Ethernet minimum."""
        return arp_request(RAW_MAC, self.raw, self.peer).ljust(60, b"\0")


def echo_requests(addresses: Addresses, count: int, size: int, dst_mac: bytes) -> list[bytes]:
    """``count`` echo requests of ``size`` bytes (sequence 1..count, a payload per
    sequence) from the raw slave to the peer."""
    base = (Ether(src=format_mac(RAW_MAC), dst=format_mac(dst_mac))
            / IP(src=str(ipaddress.IPv4Address(addresses.raw)),
                 dst=str(ipaddress.IPv4Address(addresses.peer))))
    room = max(size - len(base / ICMP()), 0)
    return [bytes(base / ICMP(type=8, id=ECHO_ID, seq=seq)
                  / Raw(bytes((seq + i) & 0xFF for i in range(room))))
            for seq in range(1, count + 1)]


def _sans_checksum(icmp: bytes) -> bytes:
    return icmp[:2] + icmp[4:]


def _icmp_part(frame: bytes) -> bytes:
    """From the ICMP header to the end of the IP packet (Ethernet padding excluded)."""
    ihl = (frame[_ETH_IP] & 0x0F) * 4
    total = int.from_bytes(frame[_ETH_IP + 2:_ETH_IP + 4], "big")
    return frame[_ETH_IP + ihl:_ETH_IP + total]


@dataclasses.dataclass
class EchoTally:
    """What came back for a set of requests."""

    requests: dict[int, bytes]
    addresses: Addresses
    peer_mac: bytes | None = None
    answered: set[int] = dataclasses.field(default_factory=set)
    wrong: int = 0
    bad_checksum: int = 0
    duplicated: int = 0
    outside: int = 0
    descriptors: list[int] = dataclasses.field(default_factory=list)

    @classmethod
    def of(cls, requests: Sequence[bytes], addresses: Addresses) -> EchoTally:
        return cls(dict(enumerate(requests, 1)), addresses)

    def add(self, chains: Iterable[Chain]) -> None:
        """Judge frames the peer sent; anything not an answer to us is ignored."""
        for chain in chains:
            if chain.bad:
                self.outside += 1
                continue
            mac = parse_arp_reply(chain.data, self.addresses.peer)
            if mac is not None:
                self.peer_mac = mac
                continue
            seq = self._echo_seq(chain.data)
            if seq is None:
                continue
            self.descriptors.append(chain.descriptors)
            expected = echo_reply(self.requests[seq], l2=True, src_mac=chain.data[6:12])
            assert expected is not None  # built from our own echo request
            got, want = _icmp_part(chain.data), _icmp_part(expected)
            if _sans_checksum(got) != _sans_checksum(want) or chain.data[:6] != RAW_MAC:
                self.wrong += 1
                continue
            self.bad_checksum += got[2:4] != want[2:4]
            if seq in self.answered:
                self.duplicated += 1
            else:
                self.answered.add(seq)

    def _echo_seq(self, frame: bytes) -> int | None:
        """The sequence number if ``frame`` is an IPv4 echo reply to one of our requests."""
        if len(frame) < _ETH_IP + 28 or frame[12:14] != b"\x08\x00" or frame[_ETH_IP + 9] != 1:
            return None
        if frame[_ETH_IP + 12:_ETH_IP + 20] != self.addresses.peer + self.addresses.raw:
            return None
        icmp = _ETH_IP + (frame[_ETH_IP] & 0x0F) * 4
        if frame[icmp] != 0 or int.from_bytes(frame[icmp + 4:icmp + 6], "big") != ECHO_ID:
            return None
        seq = int.from_bytes(frame[icmp + 6:icmp + 8], "big")
        return seq if seq in self.requests else None

    @property
    def complete(self) -> bool:
        return len(self.answered) == len(self.requests)

    def summary(self) -> str:
        """``4/4 echo replies`` and what was odd (wrong, duplicated, chained, outside)."""
        text = f"{len(self.answered)}/{len(self.requests)} echo replies"
        if self.wrong:
            text += f", {self.wrong} wrong"
        if self.bad_checksum:
            text += f", {self.bad_checksum} with a wrong ICMP checksum"
        if self.duplicated:
            text += f", {self.duplicated} duplicated"
        if self.outside:
            text += f", {self.outside} outside our region"
        if self.descriptors and max(self.descriptors) > 1:
            low, high = min(self.descriptors), max(self.descriptors)
            text += f", {low if low == high else f'{low}-{high}'} descriptors each"
        return text


def ping_through(endpoint: Endpoint, addresses: Addresses, count: int = 2,
                 timeout: float = 4.0, resend: float = 0.5) -> str:
    """ARP, then ``count`` echo requests through our own connected ``endpoint`` (replies read
    from every receive queue), each sent
    again every ``resend`` seconds while unanswered (as a host does; a 1.0 peer that resets
    its rings at link-up sees a frame only once the next one follows): '' when every reply
    came back right, else what came."""
    deadline = time.monotonic() + timeout

    def exchange(frames: list[bytes], tally: EchoTally) -> None:
        again = 0.0
        while time.monotonic() < deadline:
            if tally.complete if tally.requests else tally.peer_mac is not None:
                return
            if time.monotonic() >= again:
                endpoint.send(frames)
                again = time.monotonic() + resend
            tally.add(Chain(frame, 1) for frame in receive(endpoint, 64, timeout=0.05))

    arp = EchoTally.of([], addresses)
    exchange([addresses.arp_request()], arp)
    requests = echo_requests(addresses, count, 98, arp.peer_mac or b"\xff" * 6)
    echo = EchoTally.of(requests, addresses)
    exchange(requests, echo)
    if echo.complete and not echo.wrong:
        return ""
    return ("ARP answered, " if arp.peer_mac else "ARP unanswered, ") + echo.summary()
