"""The scenarios the raw peer replays, by catalogue id: one registry for the tests, the CLI
(``memif-harness conformance``) and docs/catalogue.md.

Each scenario's ``truth`` names where its reference expectation comes from (the catalogue row
and protocol.md A.8). Only behaviour the raw peer can provoke over a socket and observe on it
is here; the rest of the catalogue runs in the suites (:data:`ELSEWHERE`) or is out of reach
(:data:`NOT_RUNNABLE`, with why).
"""

from __future__ import annotations

from ..memif.datapath.layout import CopyLayout
from ..memif.protocol import wire
from ..memif.protocol.constants import COOKIE, VERSION, Mode, RingType, Role
from ..memif.protocol.versions import COOKIE_V1, VERSION_V1
from .scenario import (
    Accept,
    Exactly,
    Handshake,
    Keep,
    Kick,
    PeerConfig,
    Ping,
    Post,
    Records,
    Refill,
    Refuse,
    Repeat,
    Rival,
    Scenario,
    Send,
    Serve,
    SetRing,
)

__all__ = ["ELSEWHERE", "NOT_RUNNABLE", "SCENARIOS", "by_id", "select"]

M, S = Role.MASTER, Role.SLAVE
_INIT = wire.Init(id=0, name="raw-slave")
#: The HELLO check of a 1.0 slave, and a 1.0 master's HELLO (64ebb5ff133 socket.c:111-112).
_V1_HELLO_CHECK = "64ebb5ff133 socket.c:230-232"
_HELLO_V1 = wire.Hello(name="raw-master", min_version=VERSION_V1, max_version=VERSION_V1)
_GOOD = (Handshake("connect"), Send(wire.Connect(if_name="raw0")))
#: The raw slave's region (SlaveMemory's default layout).
_REGION_SIZE = CopyLayout(n_s2m=1, n_m2s=1, log2_ring_size=10, buffer_size=2048).size


def _padded(msg: wire.Message, size: int, fill: bytes = b"\xff") -> bytes:
    return wire.pack(msg)[:size].ljust(size, fill)


def _nonzero_padding(msg: wire.Message) -> bytes:
    """``msg`` with every byte past its fields set to 0xA5 (H5)."""
    data = wire.pack(msg)
    used = 2 + msg.FORMAT.size
    return data[:used] + b"\xa5" * (len(data) - used)


def _type(value: int) -> bytes:
    return value.to_bytes(2, "little") + bytes(126)


def _ring(**fields: int) -> wire.AddRing:
    values = {"flags": 1, "index": 0, "region": 0, "offset": 0, "log2_ring_size": 10} | fields
    return wire.AddRing(**values)


#: Traffic scenarios: the peer answers ARP and ICMP echo on this address.
_IP = PeerConfig(ip="192.168.1.1/24")
#: The end of a traffic scenario that went well: the connection kept.
_QUIET = " | silence"


def _echoed(*clauses: str) -> Exactly:
    """The reference observation of traffic steps followed by a kept connection."""
    return Exactly(" | ".join(clauses) + _QUIET)


_GOOD_ECHO = "ARP answered, 4/4 echo replies"


SCENARIOS: tuple[Scenario, ...] = (
    # -- B.1 handshake and framing, against a peer master ----------------------------------
    Scenario("H2", "good-order", "slave order INIT, ADD_REGION, ADD_RING S2M, M2S, CONNECT, "
             "one per ACK: the master answers CONNECT with CONNECTED", "socket.c:429-442", M,
             (Handshake("connect"), Send(wire.Connect(if_name="raw0"))),
             Accept("connected")),
    Scenario("H4", "127-first", "a 127-byte first datagram", "vppinfra/socket.c:220-226; A.8",
             M, (Send(raw=wire.pack(_INIT)[:127]),), Refuse()),
    Scenario("H4", "129-first", "a 129-byte first datagram", "vppinfra/socket.c:220-226; A.8",
             M, (Send(raw=wire.pack(_INIT) + b"\0"),), Refuse()),
    Scenario("H4", "127-after-init", "a 127-byte datagram after INIT", "A.8", M,
             (Handshake("region"), Send(raw=_padded(wire.Ack(), 127))), Refuse()),
    Scenario("H5", "padding", "non-zero padding bytes in every slave message: accepted",
             "A.2 (fields at fixed offsets)", M,
             (Send(raw=_nonzero_padding(_INIT)),), Accept("ack")),
    Scenario("H8", "version-1.0", "INIT.version 0x0100", "socket.c:230-234; A.8", M,
             (Send(wire.Init(version=0x0100, name="raw-slave")),), Refuse(),
             expect_v1=Accept("ack")),
    Scenario("H8", "version-2.1", "INIT.version 0x0201", "socket.c:230-234; A.8", M,
             (Send(wire.Init(version=VERSION + 1, name="raw-slave")),), Refuse(),
             expect_v1=Refuse()),
    # -- protocol 1.0 meets 2.0 (A.13), against a peer master: the raw slave speaks one ----
    Scenario("H9", "v1-slave", "a 1.0 slave: checks HELLO for 1.0, then the 1.0 handshake "
             "(u64 ADD_RING offsets, cookie 0x3E31F10, 32-byte descriptors)",
             f"{_V1_HELLO_CHECK}; A.13", M, _GOOD, Refuse(), raw_version=VERSION_V1,
             obey_hello=True, expect_v1=Accept("connected")),
    Scenario("H9", "v2-slave", "a 2.0 slave that checks HELLO for 2.0, then the 2.0 "
             "handshake", "socket.c:201-203; A.13", M, _GOOD, Accept("connected"),
             obey_hello=True, expect_v1=Refuse()),
    Scenario("H9", "v1-cookie", "a 2.0 handshake over rings carrying the 1.0 cookie 0x3E31F10",
             "memif.c:286-289; A.13", M,
             (Handshake("connect"), SetRing("cookie", COOKIE_V1),
              Send(wire.Connect(if_name="raw0"))), Refuse("wrong cookie"), obey_hello=True,
             expect_v1=Refuse()),
    Scenario("H9", "v2-cookie", "a 1.0 handshake over rings carrying the 2.0 cookie 0x3E31F20",
             "64ebb5ff133 memif.c:204-216; A.13", M,
             (Handshake("connect"), SetRing("cookie", COOKIE),
              Send(wire.Connect(if_name="raw0"))), Refuse(), raw_version=VERSION_V1,
             obey_hello=True, expect_v1=Refuse("wrong cookie")),
    Scenario("H12", "ack-first", "first message ACK instead of INIT", "socket.c:415-419; A.8",
             M, (Send(wire.Ack()),), Refuse()),
    Scenario("H12", "connect-first", "first message CONNECT instead of INIT",
             "socket.c:415-419; A.8", M, (Send(wire.Connect(if_name="x")),), Refuse()),
    Scenario("H12", "unknown-first", "first message of unknown type 0x77",
             "socket.c:415-419; A.8", M, (Send(raw=_type(0x77)),), Refuse()),
    Scenario("H13", "type-0", "message type 0 after INIT", "socket.c:482-484; A.8", M,
             (Handshake("region"), Send(raw=_type(0))), Refuse()),
    Scenario("H13", "type-ffff", "message type 0xffff after INIT", "socket.c:482-484; A.8", M,
             (Handshake("region"), Send(raw=_type(0xFFFF))), Refuse()),
    # -- B.2 identity, authentication, mode --------------------------------------------------
    Scenario("I1", "id-matches", "INIT for the interface's id: ACK", "socket.c:236-267", M,
             (Send(_INIT),), Accept("ack")),
    Scenario("I2", "unknown-id", "INIT for an id not on the socket", "socket.c:236-242; A.8",
             M, (Send(wire.Init(id=99, name="raw-slave")),), Refuse("unmatched interface id")),
    Scenario("I5", "init-twice", "the same connection sends INIT twice", "A.8", M,
             (Handshake("region"), Send(_INIT)), Refuse()),
    Scenario("I6", "mode-mismatch", "ethernet master, IP-mode INIT", "socket.c:258-262; A.8",
             M, (Send(wire.Init(mode=int(Mode.IP), name="raw-slave")),),
             Refuse("mode mismatch")),
    Scenario("I7", "secret-matches", "the master's secret: accepted", "socket.c:269-282", M,
             (Send(wire.Init(secret="s3cret", name="raw-slave")),), Accept("ack"),
             PeerConfig(secret="s3cret")),
    Scenario("I8", "secret-missing", "master has a secret, INIT none", "socket.c:269-275; A.8",
             M, (Send(_INIT),), Refuse("secret required"), PeerConfig(secret="s3cret")),
    Scenario("I9", "secret-wrong", "a wrong secret", "socket.c:277-281; A.8", M,
             (Send(wire.Init(secret="wrong", name="raw-slave")),), Refuse("incorrect secret"),
             PeerConfig(secret="s3cret")),
    Scenario("I11", "secret-23-chars", "the longest secret the field holds (23 characters and "
             "its NUL): accepted", "A.2; memif.api:124", M,
             (Send(wire.Init(secret="s" * 23, name="raw-slave")),), Accept("ack"),
             PeerConfig(secret="s" * 23)),
    Scenario("I10", "secret-unasked", "master without secret, INIT with one: accepted", "A.8",
             M, (Send(wire.Init(secret="s3cret", name="raw-slave")),), Accept("ack")),
    # -- B.3 regions and rings ---------------------------------------------------------------
    Scenario("R1", "region-no-fd", "ADD_REGION without an fd", "socket.c:298-299; A.8", M,
             (Handshake("region"), Send(wire.AddRegion(index=0, size=1 << 20))),
             Refuse("missing memory region fd")),
    Scenario("R2", "region-index-skips", "ADD_REGION index 2 first", "socket.c:301-302; A.8", M,
             (Handshake("region"), Send(wire.AddRegion(index=2, size=4096), fds=("memfd",))),
             Refuse("unexpected region index")),
    Scenario("R5", "ring-no-fd", "ADD_RING without an eventfd", "socket.c:321-322; A.8", M,
             (Handshake("rings"), Send(_ring())), Refuse("missing ring interrupt fd")),
    Scenario("R6", "private-header", "ADD_RING private_hdr_size 1", "socket.c:324-325; A.8", M,
             (Handshake("rings"), Send(_ring(private_hdr_size=1), fds=("eventfd",))),
             Refuse("private headers not supported")),
    Scenario("R7", "ring-index-skips", "ADD_RING S2M index 3 first", "socket.c:327-350; A.8", M,
             (Handshake("rings"), Send(_ring(index=3), fds=("eventfd",))),
             Refuse("unexpected ring index")),
    Scenario("R11", "connect-twice", "a second CONNECT after CONNECTED", "socket.c:466-470 (CR)",
             M, (Handshake(), Send(wire.Connect(if_name="raw0"))), Refuse()),
    Scenario("R9", "s2m-cookie", "the S2M ring's cookie corrupted before CONNECT",
             "memif.c:286-289; A.8", M,
             (Handshake("connect"), SetRing("cookie", 0xDEADBEEF),
              Send(wire.Connect(if_name="raw0"))), Refuse()),
    Scenario("R10", "no-m2s-ring", "CONNECT with an S2M ring and no M2S ring",
             "memif.c:280-422 (CR: accepted)", M,
             (Handshake("rings"), Send(_ring(), fds=("ring",), answer="ACK"),
              Send(wire.Connect(if_name="raw0"))), Accept("connected")),
    # -- B.4 data path, a raw slave's descriptors into a connected peer master -------------
    Scenario("D6", "zero-length", "an S2M descriptor of length 0", "node.c:177-221", M,
             (Handshake(), Post(({"length": 0},))), Keep()),
    Scenario("D6", "region-out-of-range", "an S2M descriptor in region 5 (only 0 exists)",
             "node.c:177-221", M, (Handshake(), Post(({"region": 5},))), Keep()),
    Scenario("D6", "past-region-end", "offset + length past the end of the region",
             "node.c:177-221", M,
             (Handshake(), Post(({"offset": 4227328 - 32, "length": 64},))), Keep()),
    Scenario("D6", "u32-overflow", "offset + length overflowing u32 (e36567760d6)",
             "node.c:177-221; e36567760d6", M,
             (Handshake(), Post(({"offset": 0xFFFFFFF0, "length": 0x20},))), Keep()),
    Scenario("D6", "over-9216", "a 10000-byte descriptor in ethernet mode", "node.c:202", M,
             (Handshake(), Post(({"length": 10000},))), Keep()),
    Scenario("D7", "head-past-ring", "the S2M head advanced by 2000 on a 1024-slot ring",
             "node.c:529-534 (clamped)", M,
             (Handshake(), SetRing("head", 2000, kick=True)), Keep()),
    Scenario("D8", "next-on-last", "NEXT set on the last slot produced", "node.c:147-166", M,
             (Handshake(), Post(({"flags": 1},))), Keep()),
    Scenario("D14", "metadata", "a good descriptor with non-zero metadata", "A.3", M,
             (Handshake(), Post(({"metadata": 0xDEADBEEF},))), Keep()),
    # -- B.1 more framing: pipelining, extra fds ---------------------------------------------
    Scenario("H3", "pipelined", "the whole slave handshake sent at once, the ACKs read after",
             "socket.c:402-495 (CR: each datagram processed)", M,
             (Handshake(pipelined=True), Ping()),
             _echoed("pipelined: ACK, ACK, ACK, ACK, CONNECTED", _GOOD_ECHO), _IP),
    Scenario("H6", "fd-on-init", "an eventfd on INIT, which takes none: accepted",
             "socket.c:411 (one fd read)", M, (Send(_INIT, fds=("eventfd",)),), Accept("ack")),
    Scenario("H6", "two-fds-region", "ADD_REGION with its memfd and a second one: the first is "
             "the region", "socket.c:411; vppinfra/socket.c:243-247", M,
             (Handshake("region"),
              Send(wire.AddRegion(index=0, size=_REGION_SIZE), fds=("region", "memfd"))),
             Accept("ack")),
    # -- B.3 more regions and rings ------------------------------------------------------------
    Scenario("R3", "too-many-regions", "300 ADD_REGIONs: refused past the HELLO's max_region",
             "socket.c:304-305; A.8", M,
             (Handshake("region"),
              Repeat(wire.AddRegion(size=4096), 300, fds=("memfd",))),
             Refuse("too many regions")),
    Scenario("R4", "region-beyond-memfd", "ADD_REGION of 16 MiB with a 4 KiB memfd, rings in "
             "it, then CONNECT",
             "memif.c:262-263 (CR: not checked)", M,
             (Handshake("region"),
              Send(wire.AddRegion(index=0, size=1 << 24), fds=("memfd",), answer="ACK"),
              Send(_ring(), fds=("eventfd",), answer="ACK"),
              Send(_ring(flags=0, offset=1 << 20), fds=("eventfd",), answer="ACK"),
              Send(wire.Connect(if_name="raw0"))), Refuse()),
    Scenario("R8", "ring-region-unknown", "ADD_RING in region 5 (only 0 exists), then CONNECT",
             "memif.c:285, 346 (CR: not validated)", M,
             (Handshake("rings"), Send(_ring(region=5), fds=("eventfd",), answer="ACK"),
              Send(_ring(flags=0), fds=("eventfd",), answer="ACK"),
              Send(wire.Connect(if_name="raw0"))), Refuse()),
    Scenario("R8", "ring-offset-beyond", "ADD_RING at offset 64 MiB of a 4 MiB region, then "
             "CONNECT", "memif.c:285, 346 (CR: not validated)", M,
             (Handshake("rings"), Send(_ring(offset=1 << 26), fds=("eventfd",), answer="ACK"),
              Send(_ring(flags=0), fds=("eventfd",), answer="ACK"),
              Send(wire.Connect(if_name="raw0"))), Refuse()),
    Scenario("R8", "ring-log2-15", "ADD_RING log2_ring_size 15 (above 14), then CONNECT",
             "memif.c:285, 346 (CR: not validated); A.10", M,
             (Handshake("rings"), Send(_ring(log2_ring_size=15), fds=("eventfd",),
                                       answer="ACK"),
              Send(_ring(flags=0), fds=("eventfd",), answer="ACK"),
              Send(wire.Connect(if_name="raw0"))), Refuse()),
    # -- B.2 a second slave ------------------------------------------------------------------
    Scenario("I4", "second-slave", "a second slave INITs the connected id: refused, the first "
             "link kept", "socket.c:252-256; A.8", M,
             (Handshake(), Rival(wire.Init(id=0, name="rival-slave"))),
             Exactly("rival: DISCONNECT 'already connected', then closed; first kept"
                     + _QUIET)),
    # -- B.4 traffic through the raw slave's rings ---------------------------------------------
    Scenario("D1", "raw-echo", "ARP and 4 echo requests: every reply byte-exact",
             "node.c, device.c", M, (Handshake(), Ping()), _echoed(_GOOD_ECHO), _IP),
    Scenario("D1", "burst-300", "300 echo requests posted at once (a TX burst > 255)",
             "D.2 (TX burst > 255)", M, (Handshake(), Ping(count=300)),
             _echoed("ARP answered, 300/300 echo replies"), _IP),
    Scenario("D2", "raw-chained", "6000-byte echo requests in 2048-byte descriptors: replies "
             "chained the same way", "device.c:196-216; node.c:224-303", M,
             (Handshake(), Ping(count=2, size=6000)),
             _echoed("ARP answered, 2/2 echo replies, 3 descriptors each"), _IP),
    Scenario("D3", "exact-fit", "4 M2S buffers of 100 bytes: the ARP reply, then a 300-byte "
             "reply that fills exactly the rest, twice; no duplicate", "76d102d1ad2", M,
             (Handshake(refill=False), Refill(count=4, capacity=100),
              Ping(count=1, size=300, recycle=False), Refill(count=4, capacity=100),
              Ping(count=1, size=300, recycle=False)),
             _echoed(*["ARP answered, 1/1 echo replies, 3 descriptors each"] * 2), _IP),
    Scenario("D3", "no-fit", "3 M2S buffers of 100 bytes: the 300-byte reply does not fit "
             "after the ARP reply and is dropped whole; the next one is intact",
             "device.c:217-228", M,
             (Handshake(refill=False), Refill(count=3, capacity=100),
              Ping(count=1, size=300, recycle=False, timeout=1.0),
              Refill(count=4, capacity=100), Ping(count=1, size=300, recycle=False)),
             _echoed("ARP answered, 0/1 echo replies",
                     "ARP answered, 1/1 echo replies, 3 descriptors each"), _IP),
    Scenario("D6", "bad-then-good", "a descriptor in region 5, then good traffic: the bad one "
             "dropped, the rest delivered", "node.c:177-221", M,
             (Handshake(), Post(({"region": 5},)), Ping()), _echoed(_GOOD_ECHO), _IP),
    Scenario("D9", "chain-over-9216", "a 10000-byte echo request in 2000-byte descriptors "
             "(each under 9216)", "node.c:202 (CR: per-descriptor check)", M,
             (Handshake(), Ping(count=1, size=10000, desc_bytes=2000)),
             _echoed("ARP answered, 1/1 echo replies, 5 descriptors each"), _IP),
    Scenario("D10", "no-refill", "M2S never refilled: nothing comes back; refilled: traffic "
             "flows", "device.c:142-148", M,
             (Handshake(refill=False), Ping(count=2, recycle=False, timeout=1.0), Refill(),
              Ping(count=2)),
             _echoed("ARP unanswered, 0/2 echo replies", "ARP answered, 2/2 echo replies"),
             _IP),
    Scenario("D11", "odd-capacity", "M2S buffers of 100 bytes: a 300-byte reply chained over 3",
             "device.c:182, 206-208", M,
             (Handshake(refill=False), Refill(capacity=100), Ping(count=2, size=300)),
             _echoed("ARP answered, 2/2 echo replies, 3 descriptors each"), _IP),
    Scenario("R12", "m2s-region-unknown", "M2S buffers posted in region 5, never added: the "
             "master must not write there", "device.c:172-177 (CR: unchecked)", M,
             (Handshake(refill=False), Refill(region=5),
              Ping(count=1, recycle=False, timeout=1.0)),
             _echoed("ARP unanswered, 0/1 echo replies"), _IP),
    # -- B.5 interrupts ------------------------------------------------------------------------
    Scenario("Q1", "signalled", "M2S MASK_INT clear: the master signals the M2S eventfd",
             "device.c:723-728", M, (Handshake(), Ping(interrupts=True)),
             _echoed(_GOOD_ECHO + ", M2S signalled"), _IP),
    Scenario("Q2", "masked", "M2S MASK_INT set: no eventfd writes, frames still delivered",
             "device.c:723-728", M,
             (Handshake(), SetRing("flags", 1, ring=RingType.M2S), Ping(interrupts=True)),
             _echoed(_GOOD_ECHO + ", M2S not signalled"), _IP),
    Scenario("Q4", "spurious", "two interrupts with nothing new: harmless",
             "memif.c:207-229", M, (Handshake(), Kick(), Kick(), Ping()),
             _echoed(_GOOD_ECHO), _IP),
    Scenario("Q4", "no-kick", "descriptors without an interrupt: a polling master sees them",
             "memif.c:207-229 (CR)", M, (Handshake(), Ping(kick=False)),
             _echoed(_GOOD_ECHO), _IP),
    # -- B.6 lifecycle seen by the peer -----------------------------------------------------------
    Scenario("L3", "eof", "the raw slave closes its socket: the peer's link goes down",
             "vppinfra/socket.c:223", M, (Handshake(),), Records("")),
    Scenario("L3", "after-hello", "the raw slave closes its socket right after HELLO, before "
             "INIT: nothing to tear down, the peer goes on serving", "vppinfra/socket.c:223",
             M, (), Exactly("silence")),
    Scenario("L4", "reason-xyz", "the raw slave sends DISCONNECT 'xyz': the peer records it",
             "socket.c:393-400; cli.c:429-434", M,
             (Handshake(), Send(wire.Disconnect(reason="xyz"))), Records("xyz")),
    Scenario("H12", "disconnect-first", "the raw slave answers HELLO with a DISCONNECT",
             "socket.c:393-400, 415-419", M, (Send(wire.Disconnect(reason="no thanks")),),
             Refuse()),
    # -- against a peer slave ------------------------------------------------------------
    Scenario("H10", "rings-capped", "HELLO max_s2m_ring = max_m2s_ring = 0 to a 2-queue "
             "slave: one ring each way", "socket.c:205-210", S,
             (Send(wire.Hello(name="raw-master", max_s2m_ring=0, max_m2s_ring=0)), Serve()),
             Exactly("1 S2M and 1 M2S rings of 2**10, each in its region" + _QUIET),
             PeerConfig(queues=2, log2_ring_size=10)),
    Scenario("H10", "rings-uncapped", "HELLO with the default limits to a 2-queue slave: two "
             "rings each way", "socket.c:205-210", S,
             (Send(wire.Hello(name="raw-master")), Serve()),
             Exactly("2 S2M and 2 M2S rings of 2**10, each in its region" + _QUIET),
             PeerConfig(queues=2, log2_ring_size=10)),
    Scenario("H11", "ring-size-capped", "HELLO max_log2_ring_size 8 to a slave configured "
             "with 1024-slot rings: rings of 256, inside their region",
             "socket.c:205-210; A.10 (CR: mis-sized)", S,
             (Send(wire.Hello(name="raw-master", max_log2_ring_size=8)), Serve()),
             Exactly("1 S2M and 1 M2S rings of 2**8, each in its region" + _QUIET),
             PeerConfig(log2_ring_size=10)),
    Scenario("L7", "master-aborts", "the raw master reads the slave's INIT and closes without "
             "an answer: the slave survives", "socket.c:601-639; a67d90d0975", S,
             (Send(wire.Hello(name="raw-master"), answer="INIT"),), Keep()),
    Scenario("L4", "reason-xyz-to-slave", "the raw master sends DISCONNECT 'xyz' once "
             "connected: the peer slave records it", "socket.c:393-400; cli.c:429-434", S,
             (Send(wire.Hello(name="raw-master")), Serve(),
              Send(wire.Disconnect(reason="xyz"))), Records("xyz")),
    Scenario("H7", "hello-min-2.1", "HELLO min_version 0x0201 (excludes 2.0)",
             "socket.c:201-203; A.8", S,
             (Send(wire.Hello(name="raw-master", min_version=VERSION + 1,
                              max_version=VERSION + 1)),),
             Refuse("incompatible protocol version"),
             expect_v1=Refuse("incompatible protocol version")),
    Scenario("H7", "hello-max-1.0", "HELLO max_version 0x0100 (excludes 2.0)",
             "socket.c:201-203; A.8", S,
             (Send(wire.Hello(name="raw-master", min_version=0x0100, max_version=0x0100)),),
             Refuse("incompatible protocol version"), expect_v1=Accept("init")),
    # -- protocol 1.0 meets 2.0, against a peer slave: the raw master speaks one -----------
    Scenario("H9", "v1-master", "a 1.0 master: HELLO 1.0..1.0, then it serves the 1.0 "
             "handshake and checks the rings' 1.0 cookie", f"{_V1_HELLO_CHECK}; A.13", S,
             (Send(_HELLO_V1), Serve()), Refuse("incompatible protocol version"),
             raw_version=VERSION_V1, expect_v1=Keep()),
    Scenario("H9", "v2-master", "a 2.0 master: HELLO 2.0..2.0, then it serves the 2.0 "
             "handshake and checks the rings' cookie", "socket.c:201-203; A.13", S,
             (Send(wire.Hello(name="raw-master")), Serve()), Keep(),
             expect_v1=Refuse("incompatible protocol version")),
    Scenario("I3", "init-to-slave", "the raw master sends INIT to the peer slave",
             "socket.c:246-250; A.8", S,
             (Send(wire.Init(name="raw-master")),), Refuse()),
    Scenario("H1", "slave-answers-hello", "a good HELLO: the slave answers with INIT",
             "socket.c:85-99", S, (Send(wire.Hello(name="raw-master")),), Accept("init")),
)


#: Catalogue ids covered by suite tests rather than the raw peer (where they run).
ELSEWHERE: dict[str, str] = {
    "H1": "suites/test_conformance.py (the handshake with every peer; its HELLO name), "
    "suites/test_wire_facts.py (every HELLO field)",
    "H2": "suites/test_wire_facts.py (each message's fields, both peer roles)",
    "H10": "suites/test_wire_facts.py (the layout a peer slave builds within the HELLO)",
    "I2": "suites/test_wire_facts.py (the DISCONNECT's fields)",
    "H14": "suites/test_vpp_dut.py",
    "I7": "suites/test_vpp_dut.py (test_memif's secret abc)",
    "I12": "suites/test_vpp_dut.py",
    "I13": "suites/test_vpp_dut.py",
    "L1": "suites/test_lifecycle.py (a peer slave before our master, our slave before a peer "
    "master)",
    "L2": "suites/test_lifecycle.py (our master deleted or killed, the peer master restarted)",
    "L5": "suites/test_conformance.py, suites/test_wire_facts.py (the DISCONNECT's fields)",
    "L6": "suites/test_vpp_dut.py",
    "L7": "suites/test_vpp_dut.py",
    "L8": "suites/test_vpp_dut.py",
    "L9": "suites/test_lifecycle.py (reconnect cycles: fresh rings, byte-exact traffic, flat "
    "fd and mapping counts)",
    "D1": "suites/test_interop.py", "D2": "suites/test_interop.py",
    "D3": "suites/test_vpp_dut.py", "D4": "suites/test_vpp_dut.py",
    "D5": "suites/test_interop.py", "D12": "suites/test_vpp_dut.py",
    "D13": "suites/test_interop.py",
    **{f"Z{n}": "suites/test_vpp_dut.py" for n in range(1, 6)},
    "Q3": "suites/test_vpp_dut.py (a raw slave against VPP's rx modes)",
    **{f"S{n}": "suites/test_vpp_dut.py" for n in range(1, 13)},
}

#: Catalogue ids no test runs against a real peer yet, and why.
NOT_RUNNABLE: dict[str, str] = {
    "D15": "VPP's DMA path needs DMA hardware",
}


def by_id() -> dict[str, list[Scenario]]:
    """Scenario id -> its scenarios, in registry order."""
    out: dict[str, list[Scenario]] = {}
    for scenario in SCENARIOS:
        out.setdefault(scenario.id, []).append(scenario)
    return out


def select(keyword: str | None = None, role: Role | None = None) -> list[Scenario]:
    """Scenarios whose name contains ``keyword`` (case-insensitive) and whose peer role is
    ``role`` (None: any)."""
    return [s for s in SCENARIOS
            if (keyword is None or keyword.lower() in s.name.lower())
            and (role is None or s.peer_role is role)]

