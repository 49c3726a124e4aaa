"""Expectation profiles: what each implementation is known to do, where the reference is silent
or where it differs from the reference.

An entry pins the exact observation (:func:`~.engine.describe` text) an implementation gives
for a scenario, recorded from a real run of that implementation (the version and how it was
run are in ``source``), and says whether that is the reference behaviour worded its own way or
a known deviation. ``memif-harness`` is our own implementation: it must pass every scenario by
its profile.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .scenario import Scenario

__all__ = ["BROKEN", "PROFILES", "ProfileEntry", "lookup"]

#: The profile's word for a peer that does not survive the scenario (it dies, or stops
#: accepting good connections).
BROKEN = "the peer breaks"


@dataclasses.dataclass(frozen=True, slots=True)
class ProfileEntry:
    """The observation an implementation gives for a scenario, and what it means."""

    observed: str
    source: str
    note: str = ""
    deviation: bool = False
    not_applicable: bool = False


_VPP = "VPP 26.06 (release build, memif + ping plugins) as a local binary and in a container"
_DPDK = "DPDK 22.11.11 testpmd (Debian), net_memif, socket-abstract=no"
_LIBMEMIF = "libmemif 4.0 (FDio/vpp v26.06 extras/libmemif), its icmp_responder example"


def _worded(observed: str, source: str) -> ProfileEntry:
    return ProfileEntry(observed, source, "the reference behaviour, worded its own way")


def _dpdk(reason: str) -> ProfileEntry:
    return _worded(f"DISCONNECT {reason!r}, then closed", f"{_DPDK}; protocol.md A.8")


#: implementation -> scenario name (``H4-127-first``) or id (``I2``) -> entry
PROFILES: dict[str, dict[str, ProfileEntry]] = {
    "vpp": {
        "H4-127-first": ProfileEntry(
            BROKEN, _VPP, "VPP crashes: SIGSEGV in memif_msg_receive on a 127-byte first "
            "datagram", deviation=True),
        "H4-129-first": ProfileEntry(
            "ACK", _VPP, "a 129-byte datagram is read as its first 128 bytes (no MSG_TRUNC "
            "check in vppinfra/socket.c) and ACKed", deviation=True),
        "I5": ProfileEntry(
            BROKEN, _VPP, "VPP aborts (SIGABRT) on a second INIT on one connection",
            deviation=True),
        "R11": ProfileEntry(
            BROKEN, _VPP, "VPP aborts (SIGABRT) on a second CONNECT after CONNECTED "
            "(socket.c:466-470 has no state guard)", deviation=True),
        "I3": ProfileEntry(
            BROKEN, _VPP, "VPP crashes (SIGSEGV in mhash_get_pair) when a master sends INIT to "
            "its slave: the slave connection's private data is an interface index where "
            "memif_msg_receive_init expects a socket-file index (memif.c:703, socket.c:223)",
            deviation=True),
    },
    "libmemif": {
        "H4-129-first": ProfileEntry(
            "ACK", _LIBMEMIF, "a 129-byte datagram is read as its first 128 bytes and ACKed",
            deviation=True),
        "I2": ProfileEntry(
            "ACK", _LIBMEMIF, "INIT for an id the app never created is ACKed (protocol.md A.8 "
            "expected a silent close)", deviation=True),
        "I3": ProfileEntry(
            "ACK", _LIBMEMIF, "a slave ACKs an INIT from its master", deviation=True),
        "I6": ProfileEntry(
            "ACK", f"{_LIBMEMIF}; protocol.md A.8", "the mode is not checked", deviation=True),
        "R2": ProfileEntry(
            "ACK", f"{_LIBMEMIF}; protocol.md A.8", "the region index is not checked",
            deviation=True),
        "R11": ProfileEntry(
            "CONNECTED", _LIBMEMIF, "a second CONNECT is answered with CONNECTED again",
            deviation=True),
        **{key: _worded("closed", f"{_LIBMEMIF}: an error code, nothing sent (A.8)")
           for key in ("R1", "R5", "R6", "R7", "H7")},
    },
    "testpmd": {
        "H4-129-first": ProfileEntry(
            "ACK", _DPDK, "a 129-byte datagram is read as its first 128 bytes and ACKed",
            deviation=True),
        "I2": _dpdk("ID not found"),
        "I6": _dpdk("Only ethernet mode supported"),
        "I8": _dpdk("Secret required"),
        "I9": _dpdk("Incorrect secret"),
        "R1": _dpdk("Missing region fd"),
        "R2": _dpdk("Invalid region index"),
        "R5": _dpdk("Missing interrupt fd"),
        "R6": ProfileEntry(
            "ACK", f"{_DPDK}; protocol.md A.8", "private_hdr_size is ignored", deviation=True),
        "R7": _dpdk("Invalid ring index"),
        "R11": ProfileEntry(
            "CONNECTED", _DPDK, "a second CONNECT is answered with CONNECTED again",
            deviation=True),
        "H7": _dpdk("Incompatible memif version"),
    },
}


def lookup(implementation: str, scenario: Scenario) -> ProfileEntry | None:
    """The entry for ``scenario`` (by name, then by id) in ``implementation``'s profile."""
    profile = PROFILES.get(implementation.split(":", maxsplit=1)[0], {})
    return profile.get(scenario.name) or profile.get(scenario.id)
