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
import re
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
    #: ``observed`` is a regular expression (for a peer whose answer varies from run to run).
    pattern: bool = False
    #: The peer gives ``observed`` and then, in some runs only (a race), dies: both are this
    #: known deviation.
    may_break: bool = False

    def matches(self, observed: str) -> bool:
        """Whether ``observed`` is this entry's observation."""
        if self.pattern:
            return re.fullmatch(self.observed, observed) is not None
        return observed == self.observed


_VPP = "VPP 26.06 (release build, memif + ping plugins) as a local binary and in a container"
_DPDK = "DPDK 22.11.11 testpmd (Debian), net_memif, socket-abstract=no"
_OURS = "memif-harness (this implementation), README 'where we differ from VPP on purpose'"
_LIBMEMIF = "libmemif 4.0 (FDio/vpp v26.06 extras/libmemif), its icmp_responder example"
_LIBMEMIF1 = ("libmemif 1.0 (FDio/vpp 64ebb5ff133 extras/libmemif, debug build), its icmpr and "
              "icmpr-epoll examples")


_BAD_ICMP_CHECKSUM = ("every echo reply comes back with every byte right but a wrong ICMP "
                      "checksum: its icmp_responder sums the 8-byte header only "
                      "(examples/common/icmp_proto.c:394)")


#: The engine's last clause for a peer process that kept fds or memory mappings.
_KEPT_FDS = "peer process kept more fds"
_KEPT_MAPS = "peer process kept more mappings"


def _worded(observed: str, source: str) -> ProfileEntry:
    return ProfileEntry(observed, source, "the reference behaviour, worded its own way")


def _dpdk(reason: str) -> ProfileEntry:
    return _worded(f"DISCONNECT {reason!r}, then closed", f"{_DPDK}; protocol.md A.8")


#: implementation -> scenario name (``H4-127-first``) or id (``I2``) -> entry
PROFILES: dict[str, dict[str, ProfileEntry]] = {
    "vpp": {
        **{key: ProfileEntry(
            observed, _VPP, f"{what} is kept open by VPP: its fd count grows by one each "
            "time", deviation=True)
           for key, observed, what in (
               ("R2", "DISCONNECT 'unexpected region index', then closed | " + _KEPT_FDS,
                "the memfd of the refused ADD_REGION"),
               ("R6", "DISCONNECT 'private headers not supported', then closed | " + _KEPT_FDS,
                "the eventfd of the refused ADD_RING"),
               ("R7", "DISCONNECT 'unexpected ring index', then closed | " + _KEPT_FDS,
                "the eventfd of the refused ADD_RING"),
               ("R3", "257 of 300 ADD_REGION ACKed | DISCONNECT 'too many regions', then "
                "closed | " + _KEPT_FDS, "refused past its 257 regions, as the reference; "
                "the refused one's memfd"),
               ("H6-fd-on-init", "ACK | " + _KEPT_FDS, "an fd on INIT, which takes none,"),
               ("H6-two-fds-region", "ACK | " + _KEPT_FDS,
                "the second fd of an ADD_REGION"),
           )},
        **{key: ProfileEntry(
            observed, _VPP, "the reference answer, but VPP as slave keeps one more memory "
            "mapping per connection (a PROT_NONE header page: memif.c:508 maps the region "
            "with clib_mem_vm_map_shared, memif_disconnect unmaps the region alone, "
            "memif.c:182; suites/test_lifecycle.py L9 diffs /proc/PID/maps)", deviation=True)
           for key, observed in (
               ("H10-rings-capped", "1 S2M and 1 M2S rings of 2**10, each in its region | "
                "silence | " + _KEPT_MAPS),
               ("H10-rings-uncapped", "2 S2M and 2 M2S rings of 2**10, each in its region | "
                "silence | " + _KEPT_MAPS),
               ("L7-master-aborts", "silence | " + _KEPT_MAPS),
               ("L4-reason-xyz-to-slave", "1 S2M and 1 M2S rings of 2**10, each in its region "
                "| DISCONNECT 'disconnect received', then closed | peer: link down, remote "
                "reason 'xyz' | " + _KEPT_MAPS),
               ("H7-hello-min-2.1", "DISCONNECT 'incompatible protocol version', then closed "
                "| " + _KEPT_MAPS),
               ("H7-hello-max-1.0", "DISCONNECT 'incompatible protocol version', then closed "
                "| " + _KEPT_MAPS),
               ("H1-slave-answers-hello", "INIT | " + _KEPT_MAPS),
               ("H9-v1-master", "DISCONNECT 'incompatible protocol version', then closed | "
                + _KEPT_MAPS),
               ("H9-v2-master", "1 S2M and 1 M2S rings of 2**10, each in its region | silence "
                "| " + _KEPT_MAPS),
           )},
        "R4": ProfileEntry(
            BROKEN, _VPP, "VPP dies once it is given rings inside a region larger than its "
            "4 KiB memfd (memif.c:262-263 maps the size ADD_REGION claims, unchecked, as the "
            "catalogue's (CR) said)", deviation=True),
        "L3-after-hello": ProfileEntry(
            BROKEN, _VPP, "VPP dies (SIGSEGV in memif_msg_receive, from "
            "memif_master_conn_fd_read_ready, after it logs 'default_socket_recvmsg: "
            "disconnected') when a slave closes its socket after HELLO, before INIT: found "
            "by this harness against a v26.06 build", deviation=True),
        "R8-ring-region-unknown": ProfileEntry(
            BROKEN, _VPP, "VPP dies at CONNECT with a ring in a region never added "
            "(memif.c:285, 346 unchecked, as the catalogue's (CR) said)", deviation=True),
        "R8-ring-log2-15": ProfileEntry(
            "CONNECTED", _VPP, "a ring of 2**15 slots (above the protocol's 14) is accepted",
            deviation=True),
        "R12": ProfileEntry(
            BROKEN, _VPP, "VPP dies transmitting into M2S buffers posted in a region never "
            "added (device.c:172-177 unchecked, as the catalogue's (CR) said)", deviation=True),
        "H11": ProfileEntry(
            "1 S2M and 1 M2S rings of 2**10, 2 not inside their region | DISCONNECT "
            "'disconnect received', then closed | " + _KEPT_MAPS, _VPP, "VPP as slave lays its "
            "region out for the HELLO's 2**8 slots but announces rings of 2**10 (ADD_RING log2 "
            "10, past the region): the mis-sized ring the catalogue's (CR) predicted (A.10); "
            "the raw master refuses it, as a master that checks does (a master that answers "
            "CONNECTED regardless sees VPP die), and VPP keeps a mapping as after every slave "
            "connection", deviation=True),
        "H3": ProfileEntry(
            r"pipelined: ACK, ACK, ACK(, ACK)?, silence \| ARP (un)?answered, 4/4 echo "
            r"replies \| silence", _VPP, "a pipelined handshake gets 3 or 4 ACKs and never a "
            "CONNECTED, yet the link comes up and passes traffic", deviation=True,
            pattern=True),
        "D9": ProfileEntry(
            r"ARP (un)?answered, 0/1 echo replies, 1 wrong, 2 descriptors each \| silence",
            _VPP, "the 10000-byte request (5 descriptors of 2000) is taken, but the reply "
            "comes back in 2 descriptors and does not match the request", deviation=True,
            pattern=True),
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
        "H6-fd-on-init": ProfileEntry(
            "DISCONNECT 'unexpected fd with INIT', then closed", _OURS,
            "an fd on a message that takes none ends the connection, where VPP ignores it",
            deviation=True),
        "H6-two-fds-region": ProfileEntry(
            "DISCONNECT 'ADD_REGION carried 2 fds, at most one is allowed', then closed", _OURS,
            "a second fd ends the connection, where VPP reads one and leaks the rest",
            deviation=True),
        "R3": _worded("128 of 300 ADD_REGION ACKed | DISCONNECT 'too many fds before CONNECT "
                      "(limit 128)', then closed", _OURS),
        "D6-bad-then-good": ProfileEntry(
            "ARP unanswered, 0/4 echo replies | DISCONNECT 'bad descriptor on ring S2M 0 slot "
            "0: region 5 out of range (1 regions)', then closed", _OURS,
            "a bad descriptor ends the connection, where VPP drops it and goes on",
            deviation=True),
        "D3-no-fit": ProfileEntry(
            r"ARP answered, 0/1 echo replies \| ARP answered, (0/1 echo replies|1/1 echo "
            r"replies, 3 descriptors each) \| silence", _OURS,
            "a reply that does not fit the posted M2S slots is held and sent once slots are "
            "posted, where VPP drops it: the next reply then fits or not depending on when "
            "the slots are posted", pattern=True),
        "R12": ProfileEntry(
            "ARP unanswered, 0/1 echo replies | DISCONNECT 'bad descriptor on ring M2S 0 slot "
            "0: region 5 out of range (1 regions)', then closed", _OURS,
            "a posted M2S buffer in an unknown region ends the connection, where the "
            "reference drops the frame", deviation=True),
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
        # its icmp_responder checksums the 8-byte ICMP header only (icmp_proto.c:394): every
        # payload byte comes back right, the checksum does not
        **{key: ProfileEntry(observed, _LIBMEMIF, _BAD_ICMP_CHECKSUM, deviation=True)
           for key, observed in (
               ("H3", "pipelined: ACK, ACK, ACK, ACK, CONNECTED | ARP answered, 4/4 echo "
                "replies, 4 with a wrong ICMP checksum | silence"),
               ("D1-raw-echo", "ARP answered, 4/4 echo replies, 4 with a wrong ICMP checksum "
                "| silence"),
               ("D1-burst-300", "ARP answered, 300/300 echo replies, 300 with a wrong ICMP "
                "checksum | silence"),
               ("D2-raw-chained", "ARP answered, 2/2 echo replies, 2 with a wrong ICMP "
                "checksum, 3 descriptors each | silence"),
               ("D9", "ARP answered, 1/1 echo replies, 1 with a wrong ICMP checksum, 5 "
                "descriptors each | silence"),
               ("D10", "ARP unanswered, 0/2 echo replies | ARP answered, 2/2 echo replies, 2 "
                "with a wrong ICMP checksum | silence"),
               ("Q1", "ARP answered, 4/4 echo replies, 4 with a wrong ICMP checksum, M2S "
                "signalled | silence"),
               ("Q2", "ARP answered, 4/4 echo replies, 4 with a wrong ICMP checksum, M2S not "
                "signalled | silence"),
               ("Q4-spurious", "ARP answered, 4/4 echo replies, 4 with a wrong ICMP checksum "
                "| silence"),
           )},
        "Q4-no-kick": ProfileEntry(
            "ARP unanswered, 0/4 echo replies | silence", _LIBMEMIF, "its example runs in "
            "interrupt mode: descriptors posted without an interrupt wait for the next one"),
        "R3": _worded("256 of 300 ADD_REGION ACKed | closed",
                      f"{_LIBMEMIF}: an error code, nothing sent (A.8)"),
        "R8-ring-log2-15": ProfileEntry(
            "CONNECTED", _LIBMEMIF, "a ring of 2**15 slots (above the protocol's 14) is "
            "accepted", deviation=True),
        "I4": _worded("rival: DISCONNECT 'Already connected', then closed; first kept | "
                      "silence", _LIBMEMIF),
        **{key: ProfileEntry(
            "ARP unanswered, 0/1 echo replies | ARP unanswered, 0/1 echo replies | silence",
            _LIBMEMIF, "with only a few posted M2S buffers of 100 bytes it sends nothing, not "
            "even the 60-byte ARP reply", deviation=True) for key in ("D3-exact-fit",
                                                                      "D3-no-fit")},
        **{key: ProfileEntry(
            observed, _LIBMEMIF, f"{what}: the connection closes without a DISCONNECT and "
            "the app dies (seen with the liveness check made before its interface goes)",
            deviation=True, may_break=True)
           for key, observed, what in (
               ("D11", "ARP answered, 0/2 echo replies | closed", "a 300-byte reply into "
                "100-byte M2S buffers (the ARP reply came)"),
               ("D6-bad-then-good", "ARP unanswered, 0/4 echo replies | closed",
                "a descriptor in a region never given"),
               ("R12", "ARP unanswered, 0/1 echo replies | closed",
                "an M2S buffer in a region never given"),
               ("R8-ring-region-unknown", "closed", "a ring in a region never given"),
               ("R8-ring-offset-beyond", "closed", "a ring past the end of its region"),
               ("H12-disconnect-first", "closed", "a slave answering HELLO with a "
                "DISCONNECT (the master's crash of the H9 rows)"),
           )},
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
            "CONNECTED", _DPDK, "a second CONNECT is answered with CONNECTED again, and in "
            "some runs the port's worker then dies", deviation=True, may_break=True),
        **{key: ProfileEntry(
            "CONNECTED", _DPDK, "the reference answer; in some runs on a loaded machine "
            "testpmd then dies as the raw slave closes the connection (seen in 1 of 3 CI runs; "
            "suites/test_lifecycle.py found it dying of SIGSEGV when a connection ends)",
            may_break=True)
           for key in ("H2-good-order", "H9-v2-slave")},
        "L4-reason-xyz-to-slave": ProfileEntry(
            r"1 S2M and 1 M2S rings of 2\*\*10, each in its region \| closed"
            r"( \| peer: link down, remote reason 'xyz')?", _DPDK,
            "the reference answer; once in CI (not in 31 runs here) testpmd then died as the "
            "connection ended, before its view could be read, as suites/test_lifecycle.py L5 "
            "sees it die of SIGSEGV when a link goes down", pattern=True, may_break=True),
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
        "D6-bad-then-good": ProfileEntry(
            "ARP unanswered, 0/4 echo replies | closed", _DPDK, "a descriptor in a region it "
            "was never given closes the connection without a DISCONNECT, and in some runs the "
            "port's worker then dies (SIGSEGV)", deviation=True, may_break=True),
        "R12": ProfileEntry(
            "ARP unanswered, 0/1 echo replies | closed", _DPDK, "an M2S buffer in a region it "
            "was never given closes the connection without a DISCONNECT, and in some runs the "
            "port's worker then dies (SIGSEGV)", deviation=True, may_break=True),
        "R3": _worded("256 of 300 ADD_REGION ACKed | DISCONNECT 'Invalid region index', then "
                      "closed", _DPDK),
        "R8-ring-log2-15": ProfileEntry(
            "CONNECTED", _DPDK, "a ring of 2**15 slots (above the protocol's 14) is accepted",
            deviation=True),
        "I4": _worded("rival: DISCONNECT 'Already connected', then closed; first kept | "
                      "silence", _DPDK),
    },
}


def lookup(implementation: str, scenario: Scenario) -> ProfileEntry | None:
    """The entry for ``scenario`` (by name, then by id) in ``implementation``'s profile."""
    profile = PROFILES.get(implementation.split(":", maxsplit=1)[0], {})
    return profile.get(scenario.name) or profile.get(scenario.id)
