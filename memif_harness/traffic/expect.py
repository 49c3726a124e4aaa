"""Expected transformations: what a peer should send back for each frame sent.

An expectation is a callable from a sent frame to the expected one (None: nothing comes
back): :func:`identity`, :func:`mac_swap`, :data:`icmp_echo_reply` (an :class:`IcmpEchoReply`),
:func:`ip_routed` or any other; :func:`resolve_expect` also takes them by name. No scapy here,
so a peer process can import its forward mode cheaply.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from .frames import ETH_P_ARP, ETH_P_IP, ETH_P_IPV6, VLAN_TPIDS, csum_adjust, echo_reply, parse_mac

__all__ = [
    "Expect",
    "IcmpEchoReply",
    "icmp_echo_reply",
    "identity",
    "ip_routed",
    "mac_swap",
    "resolve_expect",
]

#: An expected transformation: what the peer should send back for a frame (None: nothing).
Expect = Callable[[bytes], bytes | None]


def identity(frame: bytes) -> bytes:
    """The peer forwards the frame unchanged (testpmd ``io``)."""
    return frame


def mac_swap(frame: bytes) -> bytes:
    """The peer swaps source and destination MAC (testpmd ``macswap``)."""
    return frame[6:12] + frame[0:6] + frame[12:]


def ip_routed(frame: bytes) -> bytes | None:
    """An IP-mode frame (it starts at the IP header) after one router hop: IPv4 TTL less one
    with the header checksum updated (RFC 1624), IPv6 hop limit less one; None (dropped) for
    a hop count that runs out and for anything that is not IP (VPP: "not ip packet")."""
    version = frame[0] >> 4 if frame else 0
    if version == 4 and len(frame) >= 20:
        ttl = frame[8]
        if ttl <= 1:
            return None
        old_word = int.from_bytes(frame[8:10], "big")
        checksum = csum_adjust(int.from_bytes(frame[10:12], "big"), old_word, old_word - 0x100)
        return frame[:8] + bytes([ttl - 1]) + frame[9:10] + checksum.to_bytes(2, "big") + frame[12:]
    if version == 6 and len(frame) >= 40:
        return None if frame[7] <= 1 else frame[:7] + bytes([frame[7] - 1]) + frame[8:]
    return None


_L2_ETHERTYPES = frozenset({ETH_P_IP, ETH_P_IPV6, ETH_P_ARP}) | VLAN_TPIDS


def looks_l2(frame: bytes) -> bool:
    """Whether ``frame`` starts with an Ethernet header (guessed from the ethertype)."""
    return len(frame) >= 14 and int.from_bytes(frame[12:14], "big") in _L2_ETHERTYPES


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
    _mac: bytes | None = dataclasses.field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        mac = None if self.src_mac is None else parse_mac(self.src_mac)
        object.__setattr__(self, "_mac", mac)

    def __call__(self, frame: bytes) -> bytes | None:
        l2 = looks_l2(frame) if self.l2 is None else self.l2
        return echo_reply(frame, l2=l2, src_mac=self._mac, ttl=self.ttl)


icmp_echo_reply = IcmpEchoReply()

_NAMED: dict[str, Expect] = {
    "identity": identity,
    "io": identity,
    "macswap": mac_swap,
    "mac-swap": mac_swap,
    "icmp-echo": icmp_echo_reply,
    "icmpecho": icmp_echo_reply,
    "icmp-echo-reply": icmp_echo_reply,
    "routed": ip_routed,
    "ip-routed": ip_routed,
}


def resolve_expect(expect: str | Expect | None) -> Expect:
    """A transformation by name (identity/io, macswap, icmp-echo, routed) or the callable
    itself."""
    if expect is None:
        return identity
    if callable(expect):
        return expect
    try:
        return _NAMED[expect.lower()]
    except KeyError:
        raise ValueError(f"unknown expectation {expect!r} (one of {', '.join(_NAMED)})") from None
