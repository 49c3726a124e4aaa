"""Frames at the byte level, without scapy: MACs, internet checksums, ARP and ICMP echo.

The responder answers with these (about 4.5 us per echo reply against about 1 ms for a scapy
dissect-swap-rebuild), :mod:`.expect` derives expected replies from them, and
:mod:`.streams` patches checksums with :func:`csum_adjust`. Nothing here imports scapy, so
the responder starts fast as a subprocess.
"""

from __future__ import annotations

ETH_P_IP = 0x0800
ETH_P_ARP = 0x0806
ETH_P_IPV6 = 0x86DD
VLAN_TPIDS = frozenset({0x8100, 0x88A8, 0x9100})
IPPROTO_ICMP = 1
IPPROTO_ICMPV6 = 58
ICMP_ECHO_REQUEST, ICMP_ECHO_REPLY = 8, 0
ICMPV6_ECHO_REQUEST, ICMPV6_ECHO_REPLY = 128, 129

def parse_mac(text: str) -> bytes:
    """``aa:bb:cc:dd:ee:ff`` (or ``-`` separated) as 6 bytes; ValueError otherwise."""
    parts = text.replace("-", ":").split(":")
    if len(parts) != 6:
        raise ValueError(f"not a MAC address: {text!r}")
    try:
        return bytes(int(p, 16) for p in parts)
    except ValueError:
        raise ValueError(f"not a MAC address: {text!r}") from None


def format_mac(mac: bytes) -> str:
    """6 bytes as ``aa:bb:cc:dd:ee:ff``."""
    return ":".join(f"{b:02x}" for b in mac)


def csum_adjust(checksum: int, old_word: int, new_word: int) -> int:
    """Update an internet checksum after a 16-bit word changed (RFC 1624, eqn. 3)."""
    total = (~checksum & 0xFFFF) + (~old_word & 0xFFFF) + new_word
    total = (total & 0xFFFF) + (total >> 16)
    total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def internet_checksum(data: bytes | bytearray | memoryview) -> int:
    """The 16-bit ones' complement checksum (RFC 1071) of ``data``."""
    raw = bytes(data)
    if len(raw) % 2:
        raw += b"\0"
    total = sum(memoryview(raw).cast("H"))  # native order: swap the result back below
    total = (total & 0xFFFF) + (total >> 16)
    total = (total & 0xFFFF) + (total >> 16)
    value = ~total & 0xFFFF
    return int.from_bytes(value.to_bytes(2, "little"), "big") if _LITTLE else value


_LITTLE = memoryview(b"\x01\x00").cast("H")[0] == 1


def l3_offset(frame: bytes | bytearray | memoryview) -> tuple[int, int]:
    """``(ethertype, offset of the L3 header)`` of an Ethernet frame, past any VLAN tags."""
    offset = 12
    ethertype = int.from_bytes(frame[12:14], "big")
    while ethertype in VLAN_TPIDS and len(frame) >= offset + 6:
        offset += 4
        ethertype = int.from_bytes(frame[offset : offset + 2], "big")
    return ethertype, offset + 2


def echo_reply(
    frame: bytes | bytearray | memoryview,
    *,
    l2: bool,
    src_mac: bytes | None = None,
    ttl: int | None = None,
) -> bytes | None:
    """The echo reply to an ICMP (IPv4) or ICMPv6 echo request, or None if it is not one.

    Ethernet (``l2``): destination MAC := request's source, source MAC := ``src_mac``
    (default: the request's destination), VLAN tags kept. IP addresses swapped, type set to
    reply, checksum updated incrementally; the TTL/hop limit is kept unless ``ttl`` is given
    (testpmd's icmpecho keeps it). Anything after the ICMP header is copied unchanged.
    """
    data = bytes(frame)
    if l2:
        if len(data) < 14:
            return None
        ethertype, off = l3_offset(data)
    else:
        if not data:
            return None
        version = data[0] >> 4
        ethertype = ETH_P_IP if version == 4 else ETH_P_IPV6 if version == 6 else 0
        off = 0
    return echo_reply_at(data, ethertype, off, l2=l2, src_mac=src_mac, ttl=ttl)


def echo_reply_at(
    data: bytes, ethertype: int, off: int, *, l2: bool, src_mac: bytes | None, ttl: int | None
) -> bytes | None:
    """:func:`echo_reply` of ``data`` already parsed: L3 header of ``ethertype`` at ``off``."""
    head = b""
    if l2:
        head = data[6:12] + (data[0:6] if src_mac is None else src_mac) + data[12:off]
    if ethertype == ETH_P_IP:
        if len(data) < off + 20:
            return None
        ihl = (data[off] & 0x0F) * 4
        icmp = off + ihl
        if ihl < 20 or data[off + 9] != IPPROTO_ICMP or len(data) < icmp + 8:
            return None
        if data[icmp] != ICMP_ECHO_REQUEST:
            return None
        ip = data[off : off + 12] + data[off + 16 : off + 20] + data[off + 12 : off + 16]
        ip += data[off + 20 : icmp]
        if ttl is not None and ttl != data[off + 8]:
            old_word = int.from_bytes(data[off + 8 : off + 10], "big")
            new_word = (ttl << 8) | data[off + 9]
            ip_sum = csum_adjust(
                int.from_bytes(data[off + 10 : off + 12], "big"), old_word, new_word
            )
            ip = ip[:8] + bytes([ttl, data[off + 9]]) + ip_sum.to_bytes(2, "big") + ip[12:]
        request_type, reply_type = ICMP_ECHO_REQUEST, ICMP_ECHO_REPLY
    elif ethertype == ETH_P_IPV6:
        icmp = off + 40
        if len(data) < icmp + 8 or data[off + 6] != IPPROTO_ICMPV6:
            return None
        if data[icmp] != ICMPV6_ECHO_REQUEST:
            return None
        hop = data[off + 7] if ttl is None else ttl
        ip = (
            data[off : off + 7]
            + bytes([hop])
            + data[off + 24 : off + 40]
            + data[off + 8 : off + 24]
        )
        request_type, reply_type = ICMPV6_ECHO_REQUEST, ICMPV6_ECHO_REPLY
    else:
        return None
    code = data[icmp + 1]
    checksum = csum_adjust(
        int.from_bytes(data[icmp + 2 : icmp + 4], "big"),
        (request_type << 8) | code,
        (reply_type << 8) | code,
    )
    return b"".join(
        (head, ip, bytes([reply_type, code]), checksum.to_bytes(2, "big"), data[icmp + 4 :])
    )


def arp_request(src_mac: bytes, src_ip: bytes, target_ip: bytes) -> bytes:
    """A broadcast ARP request (42 bytes, not padded) asking who has ``target_ip``."""
    return b"".join(
        (
            b"\xff" * 6,
            src_mac,
            ETH_P_ARP.to_bytes(2, "big"),
            b"\x00\x01\x08\x00\x06\x04\x00\x01",
            src_mac,
            src_ip,
            b"\x00" * 6,
            target_ip,
        )
    )


def arp_reply(frame: bytes | bytearray | memoryview, mac: bytes, ip: bytes) -> bytes | None:
    """The ARP reply to ``frame`` if it is an ARP request for ``ip``, else None."""
    data = bytes(frame)
    if len(data) < 14:
        return None
    ethertype, off = l3_offset(data)
    if ethertype != ETH_P_ARP:
        return None
    return arp_reply_at(data, off, mac, ip)


def arp_reply_at(data: bytes, off: int, mac: bytes, ip: bytes) -> bytes | None:
    """:func:`arp_reply` of an ARP frame ``data`` already parsed: ARP header at ``off``."""
    arp = data[off : off + 28]
    if len(arp) < 28:
        return None
    if arp[0:8] != b"\x00\x01\x08\x00\x06\x04\x00\x01" or arp[24:28] != ip:
        return None
    return b"".join(
        (
            data[6:12],
            mac,
            data[12:off],
            b"\x00\x01\x08\x00\x06\x04\x00\x02",
            mac,
            ip,
            arp[8:14],
            arp[14:18],
        )
    )


def parse_arp_reply(frame: bytes, target_ip: bytes) -> bytes | None:
    """The sender MAC of ``frame`` if it is an ARP reply from ``target_ip``, else None."""
    if len(frame) < 14:
        return None
    ethertype, off = l3_offset(frame)
    arp = frame[off : off + 28]
    if ethertype != ETH_P_ARP or len(arp) < 28 or arp[6:8] != b"\x00\x02":
        return None
    return arp[8:14] if arp[14:18] == target_ip else None
