"""What every peer puts on the wire, field by field: libmemif's message checks
(FDio/vpp v26.06 extras/libmemif/test/suite_socket/memif_socket_test.c, EnqHello ... EnqDisconnect)
asked of each real peer's own messages, captured by the raw peer
(:mod:`memif_harness.conformance.capture`): its HELLO, ACKs and CONNECTED as master, its INIT,
ADD_REGION, ADD_RING and CONNECT as slave, and its DISCONNECT where the raw peer can provoke
one. Each test first checks what reference/protocol.md A.2 and A.5 require of any peer, then
the values peers legitimately differ in against :data:`RECORDED`, the peer's own values from a
real run; a peer without a row there skips that part saying so.
"""

from __future__ import annotations

import contextlib
import fcntl
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from memif_harness.conformance.capture import (
    Captured,
    Transcript,
    accept_slave,
    connect_to_master,
    play_master,
    play_slave,
)
from memif_harness.conformance.raw import Closed, RawConnection, SlaveMemory, listener
from memif_harness.memif.protocol import wire
from memif_harness.memif.protocol.constants import (
    ADD_RING_FLAG_S2M,
    DEFAULT_CACHELINE,
    MSG_SIZE,
    VERSION,
    Role,
)
from memif_harness_fixtures.peers.base import (
    InterfaceSpec,
    Peer,
    PeerInterface,
    PeerUnsupported,
)
from memif_harness_fixtures.plugin import PeerFactory

#: Each named peer's own wire values, recorded from real runs of this suite (see the module
#: docstring): python = our implementation, testpmd = DPDK 22.11.11 net_memif, libmemif =
#: v26.06's icmp_responder example, vpp = a v26.06 build (zero-copy slave). Names are
#: regexes matched in full; ``hello_limits`` = (min_version, max_version, max_region,
#: max_m2s_ring, max_s2m_ring, max_log2_ring_size); ``unmatched_id`` = what the master sends
#: for an INIT with an id it does not have, before it closes; ``sealed`` = F_SEAL_SHRINK on
#: every region; ``deleted_as_ROLE`` = what it sends when its connected interface in ROLE
#: is deleted, before the close; ``zero_padding`` = every byte the layout leaves unused is
#: zero (None: not zeroed by construction, so whatever we saw once is not a value to assert).
RECORDED: dict[str, dict[str, object]] = {
    "python": {
        "name": "memif-harness",
        "hello_limits": (0x0200, 0x0200, 255, 255, 255, 14),
        "master_if_name": "python-master0",
        "slave_if_name": "python-slave0",
        "unmatched_id": ["DISCONNECT code 0 'unmatched interface id'"],
        "deleted_as_master": ["DISCONNECT code 0 'interface deleted'"],
        "deleted_as_slave": ["DISCONNECT code 0 'interface deleted'"],
        "regions": 1,
        "sealed": True,
        "zero_padding": True,
    },
    "testpmd": {
        "name": r"DPDK 22\.11\.\d+",
        "hello_limits": (0x0200, 0x0200, 255, 255, 255, 14),
        "master_if_name": r"net_memif\d+",
        "slave_if_name": r"net_memif\d+",
        "unmatched_id": ["DISCONNECT code 0 'ID not found'"],
        # its interface is its process: deleting it is `quit`, the socket closes unannounced
        "deleted_as_master": [],
        "deleted_as_slave": [],
        "regions": 1,
        "sealed": True,
        "zero_padding": True,
    },
    "vpp": {
        "name": r"VPP \d+\.\d+\S*",  # "VPP 26.06-release"
        # max_region 256, one more than the others say (memif.h's MEMIF_MAX_REGION is 255)
        "hello_limits": (0x0200, 0x0200, 256, 256, 256, 14),
        "master_if_name": r"memif\d+/\d+",
        "slave_if_name": r"memif\d+/\d+",
        "unmatched_id": ["DISCONNECT code 0 'unmatched interface id'"],
        "deleted_as_master": ["DISCONNECT code 0 'interface deleted'"],
        "deleted_as_slave": ["DISCONNECT code 0 'interface deleted'"],
        "regions": 2,  # zero-copy: rings, then its buffer pool
        "sealed": True,
        "zero_padding": True,
    },
    # libmemif 4.0 (v26.06) icmp_responder_example
    "libmemif": {
        "name": "icmp_responder_example",
        "hello_limits": (0x0200, 0x0200, 255, 255, 255, 14),
        "master_if_name": "libmemif0",
        "slave_if_name": "libmemif0",
        # an unmatched id is ACKed, then the connection closed: memif_msg_parse_init finds
        # no interface and still succeeds, so the ACK queued for it goes out before the
        # channel is deleted (socket.c:310-358, 746-754); A.8's "silent close" is not silent
        "unmatched_id": ["ACK"],
        # the example dies on SIGINT (no handler): the socket closes unannounced
        "deleted_as_master": [],
        "deleted_as_slave": [],
        "regions": 2,  # rings, then buffers (A.4)
        "sealed": True,
        # memif_msg_enq takes its queue element from malloc and sets only the fields it
        # fills (socket.c:91-103): a run here showed each ACK and the CONNECTED carrying
        # the HELLO's stale bytes and a heap address after the type (A.2 says libmemif
        # zeroes messages: it does not)
        "zero_padding": None,
    },
}

#: Peers known to break A.5's "the slave lays out at most what HELLO allows", and why.
HELLO_LIMIT_DEVIATIONS: dict[str, str] = {
    "vpp": "VPP 26.06 lays its rings out for the ring size HELLO allows but announces its own "
    "ring size in ADD_RING (catalogue H11; conformance profile H11)",
}


@pytest.fixture(autouse=True)
def _fresh_peer_after_a_death(peer_name: str, peer_factory: PeerFactory) -> Iterator[None]:
    """A peer a test killed (VPP 26.06 dies when the raw slave closes after HELLO: L3
    after-hello) is replaced before the next test, which would otherwise meet its corpse."""
    yield
    peer = peer_factory.peers.get(peer_name)
    deadline = time.monotonic() + 0.3  # VPP dies a few ms after the close, not at once
    while peer is not None and time.monotonic() < deadline:
        if not peer.alive():
            peer_factory.discard(peer_name)
            return
        time.sleep(0.02)


def recorded(peer_name: str, key: str) -> object:
    """The peer's recorded value for ``key``; skips when none was ever recorded."""
    row = RECORDED.get(peer_name)
    if row is None or key not in row:
        pytest.skip(f"{peer_name}: its wire values ({key}) were never recorded against it; "
                    f"run this suite with --peer {peer_name} and add them to RECORDED")
    return row[key]


@contextlib.contextmanager
def peer_interface(peer: Peer, spec: InterfaceSpec) -> Iterator[PeerInterface]:
    """An interface on ``peer``, removed afterwards (a peer that died is reported by the
    test that needs it, not by this cleanup)."""
    iface = peer.create_interface(spec)
    try:
        yield iface
    finally:
        with contextlib.suppress(Exception):
            delete(peer, iface)


@contextlib.contextmanager
def peer_master(peer: Peer, path: str, **spec: object) -> Iterator[tuple[RawConnection,
                                                                          Transcript]]:
    """A master on ``peer`` and a raw slave connected to it, HELLO captured."""
    with peer_master_interface(peer, path, **spec) as (raw, transcript, _):
        yield raw, transcript


@contextlib.contextmanager
def peer_master_interface(peer: Peer, path: str, **spec: object) -> Iterator[
        tuple[RawConnection, Transcript, PeerInterface]]:
    """:func:`peer_master`, and the peer's interface."""
    with peer_interface(peer, InterfaceSpec(role=Role.MASTER, socket=path,
                                            **spec)) as iface:  # type: ignore[arg-type]
        raw, transcript = connect_to_master(path)
        with raw:
            yield raw, transcript, iface


@contextlib.contextmanager
def peer_slave(peer: Peer, path: str, hello: wire.Hello,
               **spec: object) -> Iterator[tuple[Transcript, PeerInterface, RawConnection]]:
    """Everything a slave on ``peer`` sends a raw master through CONNECT (answered with
    CONNECTED), its interface and the connection, open until the block ends."""
    wanted = InterfaceSpec(role=Role.SLAVE, socket=path, **spec)  # type: ignore[arg-type]
    with (listener(path) as server, peer_interface(peer, wanted) as iface,
          accept_slave(server) as raw):
        yield play_master(raw, hello, wire.Connected(if_name="raw-master0")), iface, raw


def delete(peer: Peer, iface: PeerInterface) -> None:
    """Delete ``iface`` on ``peer`` now."""
    remove = getattr(peer, "remove_interface", None)
    if remove is not None:
        remove(iface)
    else:
        iface.delete()


def assert_datagram(captured: Captured, msg_type: int, fds: int) -> None:
    """128 bytes, the type in the first u16, ``fds`` fds (A.1, A.2)."""
    assert len(captured.data) == MSG_SIZE
    assert int.from_bytes(captured.data[:2], "little") == msg_type
    assert len(captured.fds) == fds, captured.fds


def c_string(captured: Captured, offset: int, size: int) -> str:
    """The NUL-terminated string of the field (A.2: senders truncate to size - 1)."""
    field = captured.data[offset:offset + size]
    assert b"\0" in field, f"field at {offset} not NUL-terminated: {field!r}"
    return field.split(b"\0", 1)[0].decode()


def zero_padded(captured: Captured, used: int, strings: tuple[tuple[int, int], ...] = ()) -> bool:
    """Whether every byte the layout does not use is zero: past ``used`` and after each
    string's NUL (VPP, libmemif, DPDK zero the whole message, A.2)."""
    data = captured.data
    spans = [(used, MSG_SIZE)]
    for offset, size in strings:
        end = data.index(b"\0", offset, offset + size)
        spans.append((end, offset + size))
    return all(data[a:b] == bytes(b - a) for a, b in spans)


def assert_padding(peer_name: str, padded: bool) -> None:
    """``padded`` is the peer's recorded ``zero_padding``, unless that is None."""
    expected = recorded(peer_name, "zero_padding")
    if expected is not None:
        assert padded == expected


def matches(pattern: object, text: str) -> bool:
    assert isinstance(pattern, str)
    return re.fullmatch(pattern, text) is not None


# -- the peer as master ------------------------------------------------------------------------


@pytest.mark.scenario("H1")
def test_h1_peer_hello_fields(peer_name: str, peer_factory: PeerFactory,
                              memif_socket_dir: Path) -> None:
    """EnqHello (memif_socket_test.c:116) asked of the peer master: HELLO comes first, unasked,
    128 bytes, no fd; the version range holds 0x0200; the name is NUL-terminated within its 32
    bytes; the ring-size limit allows at least 2 slots."""
    with peer_master(peer_factory(peer_name), str(memif_socket_dir / "h.sock")) as (_, got):
        hello, captured = got.first(wire.Hello)
    assert_datagram(captured, 2, 0)
    assert hello.min_version <= VERSION <= hello.max_version
    name = c_string(captured, 2, 32)
    assert hello.max_log2_ring_size >= 1
    assert matches(recorded(peer_name, "name"), name), name
    limits = (hello.min_version, hello.max_version, hello.max_region, hello.max_m2s_ring,
              hello.max_s2m_ring, hello.max_log2_ring_size)
    assert limits == recorded(peer_name, "hello_limits")
    assert_padding(peer_name, zero_padded(captured, 45, ((2, 32),)))


@pytest.mark.scenario("H2")
def test_h2_peer_master_acks_each_message_and_answers_connect(
        peer_name: str, peer_factory: PeerFactory, memif_socket_dir: Path) -> None:
    """EnqAck (:99) and EnqConnected (:298) asked of the peer master: one ACK (128 bytes, no
    fd) for INIT, ADD_REGION and each ADD_RING, then CONNECTED (no fd) for CONNECT with the
    master's interface name, NUL-terminated within 32 bytes."""
    memory = SlaveMemory()
    path = str(memif_socket_dir / "a.sock")
    try:
        with peer_master(peer_factory(peer_name), path) as (raw, got):
            play_slave(raw, got, wire.Init(name="raw-slave"), memory,
                       wire.Connect(if_name="raw-slave0"))
    finally:
        memory.close()
    assert got.types() == ["HELLO", "ACK", "ACK", "ACK", "ACK", "CONNECTED"]
    for _, ack in got.every(wire.Ack):
        assert_datagram(ack, 1, 0)
    _, connected = got.first(wire.Connected)
    assert_datagram(connected, 7, 0)
    if_name = c_string(connected, 2, 32)
    assert if_name
    assert matches(recorded(peer_name, "master_if_name"), if_name), if_name
    padded = all(zero_padded(c, 2) for _, c in got.every(wire.Ack)) and zero_padded(
        connected, 34, ((2, 32),))
    assert_padding(peer_name, padded)


@pytest.mark.scenario("I2")
def test_i2_peer_master_disconnect_fields(peer_name: str, peer_factory: PeerFactory,
                                          memif_socket_dir: Path) -> None:
    """EnqDisconnect (:340) asked of the peer master, provoked by an INIT for an id it does
    not have: the master closes the connection, after at most one datagram (128 bytes, no
    fd): a DISCONNECT with a code and the reason NUL-terminated within 96 bytes, or, from
    libmemif, an ACK."""
    with peer_master(peer_factory(peer_name), str(memif_socket_dir / "d.sock"), id=0) as (
            raw, got):
        raw.send(wire.Init(id=7, name="raw-slave"))
        end = got.drain(raw, 3.0)
    assert isinstance(end, Closed), f"the master kept the connection ({got.types()})"
    assert got.types()[1:] in ([], ["DISCONNECT"], ["ACK"]), got.types()
    assert answers(got, 1) == recorded(peer_name, "unmatched_id")
    assert_padding(peer_name, all(zero_padded(c, 102, ((6, 96),)) for _, c in
                                  got.every(wire.Disconnect)))


# -- the peer as slave -------------------------------------------------------------------------


def ring_bytes(log2: int, cacheline: int = DEFAULT_CACHELINE) -> int:
    """A ring's header and descriptors (A.3)."""
    return 2 * cacheline + 16 * (1 << log2)


@pytest.mark.scenario("H2")
def test_h2_peer_slave_handshake_fields(peer_name: str, peer_factory: PeerFactory,
                                        memif_socket_dir: Path) -> None:
    """EnqInit (:140), EnqAddRegion (:171), EnqAddRing (:212) and EnqConnect (:256) asked of
    the peer slave (id 0, ethernet, no secret, one queue each way, 1024 slots): INIT,
    ADD_REGION x R, ADD_RING S2M then M2S, CONNECT, one per ACK (A.5); INIT version 0x0200, id
    and mode as configured, no secret; each region index in order with one memfd whose fstat
    size is the size sent; each ring one eventfd, only the S2M flag, indexes in order per
    direction, an existing region, log2 10 (within our HELLO's 14), no private header, and
    inside its region; CONNECT without fd."""
    with peer_slave(peer_factory(peer_name), str(memif_socket_dir / "s.sock"),
                    wire.Hello(name="raw-master"), id=0, log2_ring_size=10) as (got, _, _):
        pass
    types = got.types()
    n_regions = types.count("ADD_REGION")
    rings = got.every(wire.AddRing)
    assert types == ["INIT", *["ADD_REGION"] * n_regions, *["ADD_RING"] * len(rings),
                     "CONNECT"], types
    assert n_regions >= 1

    init, init_captured = got.first(wire.Init)
    assert_datagram(init_captured, 3, 0)
    assert (init.version, init.id, init.mode) == (VERSION, 0, 0)
    assert c_string(init_captured, 9, 24) == ""
    name = c_string(init_captured, 33, 32)

    sizes = []
    for position, (region, captured) in enumerate(got.every(wire.AddRegion)):
        assert_datagram(captured, 4, 1)
        assert region.index == position
        (fd,) = captured.fds
        assert fd.kind == "memfd", fd
        assert fd.size == region.size > 0
        sizes.append(region.size)

    directions = [ring.is_s2m for ring, _ in rings]
    assert directions == sorted(directions, reverse=True), "S2M rings come first"
    assert True in directions
    assert False in directions
    for is_s2m in (True, False):
        indexes = [ring.index for ring, _ in rings if ring.is_s2m == is_s2m]
        assert indexes == list(range(len(indexes)))
    for ring, captured in rings:
        assert_datagram(captured, 5, 1)
        assert [fd.kind for fd in captured.fds] == ["eventfd"]
        assert ring.flags & ~ADD_RING_FLAG_S2M == 0
        assert ring.region < n_regions
        assert ring.log2_ring_size == 10
        assert ring.private_hdr_size == 0
        assert ring.offset + ring_bytes(ring.log2_ring_size) <= sizes[ring.region]

    _, connect = got.first(wire.Connect)
    assert_datagram(connect, 6, 0)
    if_name = c_string(connect, 2, 32)

    assert matches(recorded(peer_name, "name"), name), name
    assert matches(recorded(peer_name, "slave_if_name"), if_name), if_name
    assert n_regions == recorded(peer_name, "regions")
    seals = [fd.seals for _, c in got.every(wire.AddRegion) for fd in c.fds]
    assert all(bits & fcntl.F_SEAL_SHRINK for bits in seals) == recorded(peer_name, "sealed")
    padded = all(zero_padded(c, used, strings) for c, used, strings in (
        (init_captured, 65, ((9, 24), (33, 32))), (connect, 34, ((2, 32),)),
        *((c, 12, ()) for _, c in got.every(wire.AddRegion)),
        *((c, 15, ()) for _, c in rings)))
    assert_padding(peer_name, padded)


@pytest.mark.scenario("H10")
def test_h10_peer_slave_lays_out_what_hello_allows(peer_name: str, peer_factory: PeerFactory,
                                                   memif_socket_dir: Path) -> None:
    """A.5 / H10: a slave configured for 2 queues each way and 1024 slots, told by HELLO
    max_s2m_ring = max_m2s_ring = 0 (one ring) and max_log2_ring_size 8, sends one ring each
    way, each with log2 at most 8, fitting in its region."""
    hello = wire.Hello(name="raw-master", max_s2m_ring=0, max_m2s_ring=0, max_log2_ring_size=8)
    try:
        with peer_slave(peer_factory(peer_name), str(memif_socket_dir / "l.sock"), hello,
                        id=0, rx_queues=2, tx_queues=2, log2_ring_size=10) as (got, _, _):
            pass
    except PeerUnsupported as exc:
        pytest.skip(f"{peer_name} cannot be configured for 2 queues each way: {exc}")
    rings = [ring for ring, _ in got.every(wire.AddRing)]
    seen = [(ring.is_s2m, ring.index, ring.log2_ring_size) for ring in rings]
    if peer_name in HELLO_LIMIT_DEVIATIONS:
        pytest.xfail(f"known deviation of {peer_name}: {HELLO_LIMIT_DEVIATIONS[peer_name]} "
                     f"(sent {seen})")
    assert [(s2m, index) for s2m, index, _ in seen] == [(True, 0), (False, 0)], seen
    assert all(log2 <= 8 for _, _, log2 in seen), seen


# -- a deleted peer interface ------------------------------------------------------------------


def answers(transcript: Transcript, start: int) -> list[str]:
    """What the peer sent from message ``start`` on, each checked as a datagram without fd:
    ``DISCONNECT code N 'reason'`` (reason NUL-terminated within 96 bytes) or the type."""
    sent = []
    for captured in transcript.received[start:]:
        msg = captured.message
        assert_datagram(captured, msg.TYPE, 0)
        if isinstance(msg, wire.Disconnect):
            sent.append(f"DISCONNECT code {msg.code} {c_string(captured, 6, 96)!r}")
        else:
            sent.append(msg.TYPE.name)
    return sent


@pytest.mark.scenario("L5")
def test_l5_deleted_peer_interface_disconnect_fields(
        peer_name: str, peer_role: Role, peer_factory: PeerFactory,
        memif_socket_dir: Path) -> None:
    """EnqDisconnect (:340) asked of a peer whose connected interface is deleted (L5): it
    closes the connection, after at most a DISCONNECT (128 bytes, no fd, a code, the reason
    NUL-terminated within 96 bytes)."""
    peer = peer_factory(peer_name)
    path = str(memif_socket_dir / "x.sock")
    if peer_role is Role.MASTER:
        memory = SlaveMemory()
        try:
            with peer_master_interface(peer, path) as (raw, got, iface):
                play_slave(raw, got, wire.Init(name="raw-slave"), memory,
                           wire.Connect(if_name="raw-slave0"))
                start = len(got.received)
                delete(peer, iface)
                end = got.drain(raw, 5.0)
        finally:
            memory.close()
    else:
        with peer_slave(peer, path, wire.Hello(name="raw-master")) as (got, iface, raw):
            start = len(got.received)
            delete(peer, iface)
            end = got.drain(raw, 5.0)
    assert isinstance(end, Closed), f"still connected after the delete ({got.types()})"
    sent = answers(got, start)
    assert len(sent) <= 1, sent
    assert all(answer.startswith("DISCONNECT") for answer in sent), sent
    assert sent == recorded(peer_name, f"deleted_as_{peer_role.name.lower()}")


def test_peer_slave_init_carries_id_and_secret(peer_name: str, peer_factory: PeerFactory,
                                               memif_socket_dir: Path) -> None:
    """EnqInit (:140) with its values asked of the peer slave: configured for id 11 and
    secret "psst", its INIT carries id 11 and the secret, NUL-padded in its 24 bytes."""
    try:
        with peer_slave(peer_factory(peer_name), str(memif_socket_dir / "i.sock"),
                        wire.Hello(name="raw-master"), id=11, secret="psst") as (got, _, _):
            pass
    except PeerUnsupported as exc:
        pytest.skip(f"{peer_name} cannot be configured with a secret: {exc}")
    init, captured = got.first(wire.Init)
    assert init.id == 11
    assert captured.data[9:33] == b"psst".ljust(24, b"\0")
