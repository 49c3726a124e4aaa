"""Traffic across memif links: scapy-built tagged streams, expectations, verdicts, send-and-verify.

* :mod:`.frames`: frames at the byte level without scapy (MACs, checksums, ARP, ICMP echo);
* :mod:`.streams`: tagged scapy streams (ARP, IPv4/IPv6, UDP/TCP/ICMP, VLAN, IP mode);
* :mod:`.expect`: what a peer should send back for each frame (identity, MAC swap, echo reply);
* :mod:`.verdict`: what came back, classified (delivered, lost, duplicated, reordered, ...);
* :mod:`.exchange`: :func:`send_and_expect` and the send/receive loops under it.

May import :mod:`memif_harness.memif`; never the apps, the harness or the reports.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .exchange import receive, send_and_expect, send_frames, write_pcaps
    from .expect import (
        Expect,
        IcmpEchoReply,
        icmp_echo_reply,
        identity,
        ip_routed,
        mac_swap,
        resolve_expect,
    )
    from .streams import (
        MAGIC,
        STREAM_KINDS,
        TAG,
        Stream,
        Tag,
        arp,
        check_tag,
        find_tag,
        find_tags,
        icmp,
        make_stream,
        tcp,
        udp,
    )
    from .verdict import Problem, Verdict, classify, dissect, hexdiff_text

#: Name -> the submodule defining it: imported on first use, so that a process needing only
#: :mod:`.frames` or :mod:`.expect` (our peer's worker) never pays for importing scapy.
_HOME: dict[str, str] = {
    "receive": "exchange",
    "send_and_expect": "exchange",
    "send_frames": "exchange",
    "write_pcaps": "exchange",
    "Expect": "expect",
    "IcmpEchoReply": "expect",
    "icmp_echo_reply": "expect",
    "identity": "expect",
    "ip_routed": "expect",
    "mac_swap": "expect",
    "resolve_expect": "expect",
    "MAGIC": "streams",
    "STREAM_KINDS": "streams",
    "TAG": "streams",
    "Stream": "streams",
    "Tag": "streams",
    "arp": "streams",
    "check_tag": "streams",
    "find_tag": "streams",
    "find_tags": "streams",
    "icmp": "streams",
    "make_stream": "streams",
    "tcp": "streams",
    "udp": "streams",
    "Problem": "verdict",
    "Verdict": "verdict",
    "classify": "verdict",
    "dissect": "verdict",
    "hexdiff_text": "verdict",
}


def __getattr__(name: str) -> object:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{home}", __name__), name)
    globals()[name] = value
    return value


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
    "ip_routed",
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
