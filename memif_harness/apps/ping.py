"""``memif-harness ping``: ARP-resolve a peer and ping it, checking every reply byte for byte."""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import statistics
import time
from typing import Any

from scapy.layers.inet import ICMP, IP
from scapy.layers.l2 import Ether

from ..memif.protocol.constants import Mode
from ..memif.runtime.endpoint import Endpoint
from ..traffic.frames import (
    arp_request,
    format_mac,
    internet_checksum,
    parse_arp_reply,
    parse_mac,
)
from .link import LinkConfig
from .output import say
from .responder import ResponderCore


@dataclasses.dataclass(frozen=True, kw_only=True)
class PingConfig:
    """What to ping and how: addresses, count, ICMP data size and timing (seconds)."""

    target: str
    ip: str = "192.168.1.2"
    mac: str = "02:fe:00:00:00:02"
    count: int = 4
    size: int = 56
    timeout: float = 1.0
    interval: float = 0.2


def run(link: LinkConfig, config: PingConfig) -> int:
    """Connect over ``link`` and ping; the exit status."""
    return link.serve("ping", lambda endpoint: ping(endpoint, link.mode, config))


def ping(endpoint: Endpoint, mode: str, config: PingConfig) -> int:
    """Ping over a connected endpoint; 0 only if every reply came intact, 130 (after the
    summary) when interrupted by Ctrl-C/SIGINT. A bad reply ends the wait for its seq."""
    l2 = mode == "ethernet"
    me = ResponderCore(config.ip, config.mac, mode=Mode[mode.upper()])  # answers ARP for us
    target = ipaddress.IPv4Address(config.target).packed

    def handle(frames: list[bytes]) -> list[bytes]:
        """Answer what the peer asks of us (ARP), return the rest."""
        rest = []
        for frame in frames:
            answer = me.reply(frame) if l2 else None
            if answer is not None and answer[12:14] != b"\x08\x00":
                endpoint.send([answer])
            else:
                rest.append(frame)
        return rest

    target_mac = b""
    if l2:
        for _attempt in range(3):
            endpoint.send([arp_request(me.mac, me.ip, target)])
            deadline = time.monotonic() + config.timeout
            while not target_mac and (left := deadline - time.monotonic()) > 0:
                for frame in handle(_recv_some(endpoint, left)):
                    target_mac = parse_arp_reply(frame, target) or target_mac
            if target_mac:
                break
        if not target_mac:
            say(f"ping: no ARP reply from {config.target} (tried 3 times)", err=True)
            return 1
        say(f"ARP: {config.target} is at {format_mac(target_mac)}")
    ident = os.getpid() & 0xFFFF
    say(f"PING {config.target} ({config.target}) {config.size} data bytes")
    rtts: list[float] = []
    start = time.monotonic()
    transmitted = 0
    interrupted = False
    try:
        for seq in range(1, config.count + 1):
            payload = bytes((i + seq) & 0xFF for i in range(config.size))
            ip = IP(src=config.ip, dst=config.target) / ICMP(type=8, id=ident, seq=seq) / payload
            request = bytes(Ether(src=config.mac, dst=target_mac) / ip) if l2 else bytes(ip)
            sent_at = time.monotonic()
            endpoint.send([request])
            transmitted += 1
            deadline = sent_at + config.timeout
            answered = False  # a reply to this seq came, good or bad: stop waiting
            while not answered and (left := deadline - time.monotonic()) > 0:
                frames = _recv_some(endpoint, left)
                arrived = time.monotonic()  # the round trip ends here, before our parsing
                for frame in handle(frames):
                    packet = Ether(frame) if l2 else IP(frame)
                    if not packet.haslayer(ICMP) or packet[IP].src != config.target:
                        continue
                    reply = packet[ICMP]
                    if reply.type != 0 or reply.id != ident or reply.seq != seq:
                        continue
                    answered = True
                    problem = _check_echo(
                        reply, payload=payload, frame=frame, l2=l2, our_mac=config.mac
                    )
                    if problem:
                        say(f"bad reply icmp_seq={seq}: {problem}")
                        break
                    rtt = (arrived - sent_at) * 1000
                    rtts.append(rtt)
                    say(
                        f"{len(bytes(reply))} bytes from {config.target}: icmp_seq={seq} "
                        f"ttl={packet[IP].ttl} time={rtt:.3f} ms"
                    )
                    break
            if seq < config.count:
                time.sleep(max(0.0, config.interval - (time.monotonic() - sent_at)))
    except KeyboardInterrupt:  # like ping: Ctrl-C ends the run with its summary
        interrupted = True
    elapsed = (time.monotonic() - start) * 1000
    received = len(rtts)
    loss = 100 * (transmitted - received) // transmitted if transmitted else 0
    say(f"\n--- {config.target} ping statistics ---")
    say(
        f"{transmitted} packets transmitted, {received} received, {loss}% packet loss, "
        f"time {elapsed:.0f}ms"
    )
    if rtts:
        mdev = statistics.pstdev(rtts)
        say(
            f"rtt min/avg/max/mdev = {min(rtts):.3f}/{statistics.fmean(rtts):.3f}/"
            f"{max(rtts):.3f}/{mdev:.3f} ms"
        )
    if interrupted:
        return 130
    return 0 if received == config.count else 1


def _recv_some(endpoint: Endpoint, timeout: float) -> list[bytes]:
    """The first frame within ``timeout`` and whatever else is already waiting."""
    frames = endpoint.recv(1, timeout=timeout)
    return frames + endpoint.recv(64, timeout=0) if frames else frames


def _check_echo(reply: Any, *, payload: bytes, frame: bytes, l2: bool, our_mac: str) -> str:
    """Why an echo reply with our id and seq is wrong ('' if it is right)."""
    data = bytes(reply.payload)
    if data[: len(payload)] != payload or len(data) != len(payload):
        return f"payload differs ({len(data)} bytes, expected {len(payload)})"
    if internet_checksum(bytes(reply[ICMP])) != 0:
        return f"bad ICMP checksum {reply.chksum:#06x}"
    if l2 and frame[0:6] != parse_mac(our_mac):
        return "not addressed to our MAC"
    return ""
