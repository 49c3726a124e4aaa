"""The scenarios the raw peer replays, by catalogue id: one registry for the tests, the CLI
(``memif-harness conformance``) and docs/catalogue.md.

Each scenario's ``truth`` names where its reference expectation comes from (the catalogue row
and protocol.md A.8). Only behaviour the raw peer can provoke over a socket and observe on it
is here; the rest of the catalogue runs in the suites (:data:`ELSEWHERE`) or is out of reach
(:data:`NOT_RUNNABLE`, with why).
"""

from __future__ import annotations

from ..memif.protocol import wire
from ..memif.protocol.constants import COOKIE, VERSION, Mode, Role
from ..memif.protocol.versions import COOKIE_V1, VERSION_V1
from .scenario import (
    Accept,
    Handshake,
    Keep,
    PeerConfig,
    Post,
    Refuse,
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
    # -- against a peer slave ------------------------------------------------------------
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
    "H1": "suites/test_conformance.py (the handshake with every peer; its HELLO name)",
    "H14": "suites/test_vpp_dut.py",
    "I7": "suites/test_vpp_dut.py (test_memif's secret abc)",
    "I12": "suites/test_vpp_dut.py",
    "I13": "suites/test_vpp_dut.py",
    "L5": "suites/test_conformance.py",
    "L6": "suites/test_vpp_dut.py",
    "L7": "suites/test_vpp_dut.py",
    "L8": "suites/test_vpp_dut.py",
    "D1": "suites/test_interop.py", "D2": "suites/test_interop.py",
    "D3": "suites/test_vpp_dut.py", "D4": "suites/test_vpp_dut.py",
    "D5": "suites/test_interop.py", "D12": "suites/test_vpp_dut.py",
    "D13": "suites/test_interop.py", "Z1": "suites/test_vpp_dut.py",
    "Q3": "suites/test_vpp_dut.py (a raw slave against VPP's rx modes)",
    **{f"S{n}": "suites/test_vpp_dut.py" for n in range(1, 13)},
}

#: Catalogue ids no test runs against a real peer yet, and why.
NOT_RUNNABLE: dict[str, str] = {
    "H3": "pipelining the whole handshake without ACKs: not yet a raw-peer scenario",
    "H6": "extra fds on a message: not yet a raw-peer scenario",
    "H10": "ring-count negotiation needs the peer's rings inspected: not yet a scenario",
    "H11": "ring size above the peer's maximum: not yet a scenario",
    "R3": "258 regions: not yet a raw-peer scenario",
    "R4": "a region larger than its memfd: not yet a raw-peer scenario",
    "R8": "ring region/offset out of range: not yet a raw-peer scenario",
    "R12": "descriptors into regions never added: needs traffic steps",
    "D9": "a chain over 9216 bytes: needs traffic steps",
    "D10": "M2S never refilled: needs traffic steps",
    "D11": "odd M2S capacities: needs traffic steps",
    "D15": "VPP's DMA path needs DMA hardware",
    "Q1": "interrupt counting on the peer's eventfd writes: not yet a scenario",
    "Q2": "MASK_INT honoured by the peer: not yet a scenario",
    "Q4": "spurious or missed interrupts: not yet a scenario",
    "I4": "a second slave for a connected id needs two raw connections: not yet a scenario "
    "(ours: tests/test_hostile_peer.py)",
    "L4": "an arbitrary DISCONNECT reason as the peer records it: not yet a scenario",
    "L1": "a peer started after us: covered for testpmd by the peer's own start order only",
    "L2": "peer restart: not yet a scenario",
    "L3": "our EOF: ours only (tests/test_hostile_peer.py)",
    "L9": "reconnect after regions freed: not yet a scenario",
    "Z2": "zero-copy jumbo chains under load: not yet a scenario",
    "Z3": "zero-copy refill batching: not yet a scenario",
    "Z4": "zero-copy slave disconnect with buffers in flight: not yet a scenario",
    "Z5": "IP-mode zero-copy headroom: not yet a scenario",
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

