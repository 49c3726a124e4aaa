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
    #: The peer gives ``observed`` and then, in some runs only (a race), dies: both are this
    #: known deviation.
    may_break: bool = False


_VPP = "VPP 26.06 (release build, memif + ping plugins) as a local binary and in a container"
_DPDK = "DPDK 22.11.11 testpmd (Debian), net_memif, socket-abstract=no"
_OURS = "memif-harness (this implementation), README 'where we differ from VPP on purpose'"
_LIBMEMIF = "libmemif 4.0 (FDio/vpp v26.06 extras/libmemif), its icmp_responder example"
_LIBMEMIF1 = ("libmemif 1.0 (FDio/vpp 64ebb5ff133 extras/libmemif, debug build), its icmpr and "
              "icmpr-epoll examples")


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
    "python": {
        **{f"D6-{key}": ProfileEntry(  # the reason field holds 95 characters and a NUL
            f"DISCONNECT {reason[:95]!r}, then closed", _OURS,
            "a bad descriptor ends the connection with the reason, where VPP drops and counts",
            deviation=True)
           for key, reason in (
               ("zero-length", "bad descriptor on ring S2M 0 slot 0: length 0"),
               ("region-out-of-range",
                "bad descriptor on ring S2M 0 slot 0: region 5 out of range (1 regions)"),
               ("past-region-end", "bad descriptor on ring S2M 0 slot 0: offset 4227296 + "
                "length 64 overruns region 0 (4227328 bytes)"),
               ("u32-overflow", "bad descriptor on ring S2M 0 slot 0: offset 4294967280 + "
                "length 32 overruns region 0 (4227328 bytes)"),
               ("over-9216", "bad descriptor on ring S2M 0 slot 0: length 10000 > 9216 in "
                "ethernet mode"),
           )},
        "D7": ProfileEntry(
            "DISCONNECT 'ring S2M 0: producer claims 2000 slots, ring has 1024', then closed",
            _OURS, "a producer claiming more than the ring ends the connection, where VPP "
            "clamps", deviation=True),
        "R10": ProfileEntry(
            "DISCONNECT 'CONNECT with 1 S2M and 0 M2S rings; need at least one each', then "
            "closed", _OURS, "CONNECT with no ring in one direction is rejected",
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
           for key in ("R1", "R5", "R6", "R7", "H7", "H9-v1-cookie", "H9-v1-master")},
        **{key: ProfileEntry(
            BROKEN, _LIBMEMIF, "the master segfaults (SIGSEGV at address 0xc8 in libmemif.so) "
            "when a slave refuses its HELLO with a DISCONNECT: before INIT the connection has "
            "no interface to record it in (protocol.md A.8 predicted it from the code)",
            deviation=True)
           for key in ("H9-v1-slave", "H9-v2-cookie")},
        **{key: ProfileEntry(
            BROKEN, _LIBMEMIF, f"{what} crashes the app (SIGSEGV in icmp_responder or libc's "
            "memcpy, per dmesg): libmemif hands the descriptors out unchecked and the app "
            "reads through them (VPP drops and counts, or clamps)", deviation=True)
           for key, what in (("D6-region-out-of-range", "a descriptor in a region never given"),
                             ("D6-u32-overflow", "a descriptor whose offset + length overflows"),
                             ("D7", "a head advanced past the ring"))},
    },
    "libmemif1": {
        **{key: ProfileEntry(
            BROKEN, _LIBMEMIF1, "the master segfaults (SIGSEGV at address 0x108) when a slave "
            "refuses its HELLO with a DISCONNECT: before INIT the connection has no interface "
            "and memif_msg_receive_disconnect writes through NULL (socket.c:617-624)",
            deviation=True)
           for key in ("H9-v2-slave", "H9-v1-cookie")},
        **{key: ProfileEntry(
            BROKEN, _LIBMEMIF1, f"{what}, then the master segfaults (SIGSEGV at address 0x88 "
            "in libmemif.so) as the connection ends before CONNECT", deviation=True)
           for key, what in (("H8-version-1.0", "a 1.0 INIT is ACKed"),
                             ("H9-v2-cookie", "a ring without the 1.0 cookie is refused "
                              "('interface deleted')"))},
        **{key: ProfileEntry(
            "DISCONNECT 'interface deleted', then closed", _LIBMEMIF1,
            f"{what} is refused, but every error ends the connection through "
            "memif_disconnect_internal, which says 'interface deleted' (main.c:965-982)",
            deviation=True)
        for key, what in (("H7-hello-min-2.1", "a HELLO without 1.0"),
                          ("H9-v2-master", "a 2.0 master's HELLO"))},
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
        "H9-v1-master": _dpdk("Incompatible memif version"),
        "H9-v1-cookie": ProfileEntry(
            "closed", f"{_DPDK}; protocol.md A.8", "a ring with a wrong cookie is refused "
            "without a DISCONNECT (it logs 'Wrong ring', rte_eth_memif.c:1345-1347)"),
        **{f"D6-{key}": ProfileEntry(
            "closed", _DPDK, f"a descriptor {what} closes the connection without a "
            "DISCONNECT (VPP drops and counts it), and in most runs the port's worker then "
            "segfaults in librte_net_memif (dmesg)", deviation=True, may_break=True)
           for key, what in (("region-out-of-range", "in a region it was never given"),
                             ("u32-overflow", "whose offset + length overflows u32"))},
    },
}


def lookup(implementation: str, scenario: Scenario) -> ProfileEntry | None:
    """The entry for ``scenario`` (by name, then by id) in ``implementation``'s profile."""
    profile = PROFILES.get(implementation.split(":", maxsplit=1)[0], {})
    return profile.get(scenario.name) or profile.get(scenario.id)
