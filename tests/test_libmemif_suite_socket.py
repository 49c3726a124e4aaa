"""libmemif's unit tests of its socket and control channel replayed against our implementation.

Source: FDio/vpp v26.06 extras/libmemif/test/suite_socket/memif_socket_test.c (each test
cites its original by line). libmemif checks each message as it sits in its send queue; we
check the same fields as our implementation puts them on the wire, captured by the raw peer
(:mod:`memif_harness.conformance.capture`) on the other end of the socket.

All ten cases: MemifSocket CreateSocket, DeleteSocket; MemifControlChannel EnqAck, EnqHello,
EnqInit, EnqAddRegion, EnqAddRing, EnqConnect, EnqConnected, EnqDisconnect.
"""

from __future__ import annotations

import fcntl
import os
import uuid
from collections.abc import Iterator

import pytest

from memif_harness.conformance.capture import (
    Transcript,
    accept_slave,
    connect_to_master,
    play_master,
    play_slave,
)
from memif_harness.conformance.raw import Closed, RawConnection, SlaveMemory, listener
from memif_harness.memif import EventLoop, Interface, InterfaceConfig, Mode, Role
from memif_harness.memif.datapath.layout import CopyLayout
from memif_harness.memif.protocol import wire
from memif_harness.memif.protocol.constants import (
    ADD_RING_FLAG_S2M,
    DEFAULT_LOG2_RING_SIZE,
    MSG_SIZE,
    VERSION,
    RingType,
)
from memif_harness.memif.protocol.control import ControlChannel

#: memif_socket_test.c:9-12
TEST_APP_NAME = "unit_test_app"
MEMIF_TEST_IF_NAME = "unit_test_if"
MEMIF_TEST_SECRET = "psst"
#: libmemif's limits in HELLO (memif_private.h:48-51): ours are the same.
LIBMEMIF_HELLO_LIMITS = {"max_region": 255, "max_m2s_ring": 255, "max_s2m_ring": 255,
                         "max_log2_ring_size": 14}


@pytest.fixture
def sock() -> str:
    """A fresh abstract socket name (libmemif's tests use ``@memif.sock``)."""
    return f"@mh-lmsuite-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def loop() -> Iterator[EventLoop]:
    """Our runtime as memif_create_socket(app_name = TEST_APP_NAME) makes it, in a thread."""
    with EventLoop(app_name=TEST_APP_NAME, reconnect_period=0.05) as running:
        yield running


def ours(role: Role, sock: str, **fields: object) -> InterfaceConfig:
    """The interface the libmemif test fills in: id 11, mode 1 (IP), secret, if_name."""
    values: dict[str, object] = {"id": 11, "mode": Mode.IP, "secret": MEMIF_TEST_SECRET,
                                 "interface_name": MEMIF_TEST_IF_NAME} | fields
    return InterfaceConfig(role=role, socket=sock, **values)  # type: ignore[arg-type]


def from_our_slave(loop: EventLoop, sock: str, **fields: object) -> Transcript:
    """Everything our slave sends a raw master through CONNECT."""
    with listener(sock) as server:
        loop.memif.create(ours(Role.SLAVE, sock, **fields))
        with accept_slave(server, 5.0) as raw:
            return play_master(raw, wire.Hello(name="raw-master"),
                               wire.Connected(if_name="raw-master0"))


def from_our_master(loop: EventLoop, sock: str) -> tuple[Interface, RawConnection, Transcript]:
    """Our master, and its HELLO, ACKs and CONNECTED to a raw slave (connection left open)."""
    master = loop.memif.create(ours(Role.MASTER, sock))
    raw, transcript = connect_to_master(sock, 5.0)
    init = wire.Init(id=11, mode=int(Mode.IP), secret=MEMIF_TEST_SECRET, name="raw-slave")
    memory = SlaveMemory()
    try:
        play_slave(raw, transcript, init, memory, wire.Connect(if_name="raw-slave0"))
    except BaseException:
        raw.close()
        raise
    finally:
        memory.close()
    return master, raw, transcript


def assert_zero_after(data: bytes, used: int) -> None:
    """A 128-byte datagram whose bytes from ``used`` on are zero (ours are; libmemif's are
    whatever its malloc gave: it sets only the fields it fills, socket.c:91-103)."""
    assert len(data) == MSG_SIZE
    assert data[used:] == bytes(MSG_SIZE - used), data.hex()


def assert_c_string(data: bytes, offset: int, size: int, text: str) -> None:
    """The field at ``offset`` holds ``text``, then NUL bytes to its end (strlcpy)."""
    field = data[offset:offset + size]
    assert field == text.encode().ljust(size, b"\0"), field


# -- MemifSocket -------------------------------------------------------------------------------


def test_create_socket(loop: EventLoop, sock: str) -> None:
    """memif_socket_test.c:43 CreateSocket: the socket keeps its app_name and path and polls
    internally (epfd, poll_cancel_fd). Ours: the runtime keeps app_name and sends it as the
    HELLO name on the path an interface listens on; it polls internally (poll_event works)
    when no fd-update callback is given. Deviation: a path belongs to an interface config
    (``InterfaceConfig.socket``), not to the runtime, which serves any number of paths."""
    assert loop.memif.app_name == TEST_APP_NAME
    iface = loop.memif.create(ours(Role.MASTER, sock))
    assert iface.get_details().socket_path == sock
    raw, transcript = connect_to_master(sock, 5.0)
    raw.close()
    hello, _ = transcript.first(wire.Hello)
    assert hello.name == TEST_APP_NAME


def _open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


def test_delete_socket(sock: str) -> None:
    """memif_socket_test.c:71 DeleteSocket: memif_delete_socket succeeds and clears the
    handle. Ours: ``cleanup()`` releases every fd the runtime opened (epoll, eventfd,
    timerfds, listener) and the socket stops accepting."""
    before = _open_fds()
    event_loop = EventLoop(app_name=TEST_APP_NAME)
    event_loop.memif.create(ours(Role.MASTER, sock))
    assert _open_fds() - before, "the runtime opened no fd"
    event_loop.close()
    assert _open_fds() - before == set()
    with pytest.raises(ConnectionRefusedError):
        RawConnection.connect(sock)


# -- MemifControlChannel: what our master sends ----------------------------------------------


def test_enq_ack(loop: EventLoop, sock: str) -> None:
    """memif_socket_test.c:99 EnqAck: type ACK, no fd. Ours: each ACK our master sends (for
    INIT, ADD_REGION, two ADD_RING) is type 1, 128 bytes, all zero after the type, no fd."""
    _, raw, transcript = from_our_master(loop, sock)
    raw.close()
    acks = transcript.every(wire.Ack)
    assert len(acks) == 4
    for _, captured in acks:
        assert captured.data[:2] == b"\x01\x00"
        assert_zero_after(captured.data, 2)
        assert captured.fds == ()


def test_enq_hello(loop: EventLoop, sock: str) -> None:
    """memif_socket_test.c:116 EnqHello: type HELLO, no fd, max_log2_ring_size 14,
    min/max_version 0x0200, max_s2m_ring/max_m2s_ring/max_region 255; the name is the socket's
    app_name (socket.c:119)."""
    loop.memif.create(ours(Role.MASTER, sock))
    raw, transcript = connect_to_master(sock, 5.0)
    raw.close()
    hello, captured = transcript.first(wire.Hello)
    assert captured.fds == ()
    assert (hello.min_version, hello.max_version) == (VERSION, VERSION) == (0x0200, 0x0200)
    assert {k: getattr(hello, k) for k in LIBMEMIF_HELLO_LIMITS} == LIBMEMIF_HELLO_LIMITS
    assert_c_string(captured.data, 2, 32, TEST_APP_NAME)
    assert_zero_after(captured.data, 45)


def test_enq_connected(loop: EventLoop, sock: str) -> None:
    """memif_socket_test.c:298 EnqConnected: the original enqueues CONNECT again (it calls
    memif_msg_enq_connect and asserts MEMIF_MSG_TYPE_CONNECT, a slip in the test); we check
    what its name says: CONNECTED (type 7) carries the master's interface_name, no fd."""
    _, raw, transcript = from_our_master(loop, sock)
    raw.close()
    connected, captured = transcript.first(wire.Connected)
    assert captured.data[:2] == b"\x07\x00"
    assert connected.if_name == MEMIF_TEST_IF_NAME
    assert_c_string(captured.data, 2, 32, MEMIF_TEST_IF_NAME)
    assert_zero_after(captured.data, 34)
    assert captured.fds == ()


# -- MemifControlChannel: what our slave sends -----------------------------------------------


def test_enq_init(loop: EventLoop, sock: str) -> None:
    """memif_socket_test.c:140 EnqInit: type INIT, no fd, id 11, mode 1, name = the socket's
    app_name, secret "psst", version 0x0200."""
    init, captured = from_our_slave(loop, sock).first(wire.Init)
    assert captured.fds == ()
    assert (init.version, init.id, init.mode) == (VERSION, 11, 1)
    assert_c_string(captured.data, 9, 24, MEMIF_TEST_SECRET)
    assert_c_string(captured.data, 33, 32, TEST_APP_NAME)
    assert_zero_after(captured.data, 65)


def test_enq_add_region(loop: EventLoop, sock: str) -> None:
    """memif_socket_test.c:171 EnqAddRegion: type ADD_REGION, the region's fd, index 0, size
    = region_size. Ours (one copy-mode region, 1 ring each way, log2 10, 2048-byte buffers):
    the fd is a memfd sealed against shrinking whose fstat size is the size in the message,
    which is the layout's size."""
    transcript = from_our_slave(loop, sock)
    regions = transcript.every(wire.AddRegion)
    assert len(regions) == 1
    region, captured = regions[0]
    assert region.index == 0
    layout = CopyLayout(n_s2m=1, n_m2s=1, log2_ring_size=DEFAULT_LOG2_RING_SIZE,
                        buffer_size=2048)
    assert region.size == layout.size
    (fd,) = captured.fds
    assert (fd.kind, fd.size) == ("memfd", region.size)
    assert fd.seals & fcntl.F_SEAL_SHRINK
    assert_zero_after(captured.data, 12)


def test_enq_add_ring(loop: EventLoop, sock: str) -> None:
    """memif_socket_test.c:212 EnqAddRing: for M2S ring 0: type ADD_RING, the queue's
    interrupt fd, flags 0, index 0, region/offset/log2_ring_size of the queue,
    private_hdr_size 0. Ours: the same for M2S, flags = S2M bit for the S2M ring (sent
    first), each with an eventfd, at the layout's ring offsets in region 0."""
    transcript = from_our_slave(loop, sock, num_s2m_rings=2, num_m2s_rings=1)
    layout = CopyLayout(n_s2m=2, n_m2s=1, log2_ring_size=DEFAULT_LOG2_RING_SIZE,
                        buffer_size=2048)
    rings = transcript.every(wire.AddRing)
    seen = [(r.flags, r.index, r.region, r.offset, r.log2_ring_size, r.private_hdr_size)
            for r, _ in rings]
    assert seen == [
        (ADD_RING_FLAG_S2M, 0, 0, layout.ring_offset(RingType.S2M, 0), 10, 0),
        (ADD_RING_FLAG_S2M, 1, 0, layout.ring_offset(RingType.S2M, 1), 10, 0),
        (0, 0, 0, layout.ring_offset(RingType.M2S, 0), 10, 0),
    ]
    for _, captured in rings:
        assert [fd.kind for fd in captured.fds] == ["eventfd"]
        assert_zero_after(captured.data, 15)


def test_enq_connect(loop: EventLoop, sock: str) -> None:
    """memif_socket_test.c:256 EnqConnect: type CONNECT, no fd, if_name = the interface's
    name; and it is the last message of the slave (H2 order: INIT, regions, rings)."""
    transcript = from_our_slave(loop, sock)
    assert transcript.types() == ["INIT", "ADD_REGION", "ADD_RING", "ADD_RING", "CONNECT"]
    connect, captured = transcript.first(wire.Connect)
    assert connect.if_name == MEMIF_TEST_IF_NAME
    assert_c_string(captured.data, 2, 32, MEMIF_TEST_IF_NAME)
    assert_zero_after(captured.data, 34)
    assert captured.fds == ()


# -- DISCONNECT --------------------------------------------------------------------------------


def test_enq_disconnect_fields() -> None:
    """memif_socket_test.c:340 EnqDisconnect: memif_msg_enq_disconnect(cc, "TEST", 5) queues
    type DISCONNECT, no fd, code 5, string "TEST". Ours, sans-I/O: the control channel's
    ``disconnect("TEST", code=5)`` queues exactly that datagram."""
    channel = ControlChannel(Role.MASTER, resolver=lambda _id: ours(Role.MASTER, "@x"))
    channel.data_to_send()  # the HELLO
    channel.disconnect("TEST", code=5)
    ((data, fd),) = channel.data_to_send()
    assert fd is None
    msg = wire.parse(data)
    assert isinstance(msg, wire.Disconnect)
    assert (msg.code, msg.reason) == (5, "TEST")
    assert data[:6] == b"\x08\x00\x05\x00\x00\x00"
    assert_c_string(data, 6, 96, "TEST")
    assert_zero_after(data, 102)


def test_enq_disconnect_on_the_wire(loop: EventLoop, sock: str) -> None:
    """memif_socket_test.c:340 EnqDisconnect through the public API: ``Memif.disconnect``
    sends DISCONNECT with the reason and code 0, then closes. Deviation: our API takes no
    code (libmemif's public calls always pass 0 too: only the internal enqueue takes one)."""
    master, raw, _ = from_our_master(loop, sock)
    with raw:
        loop.memif.disconnect(master, "TEST")
        transcript = Transcript()
        msg = transcript.expect(raw, wire.Disconnect)
        assert (msg.code, msg.reason) == (0, "TEST")
        assert_c_string(transcript.received[0].data, 6, 96, "TEST")
        assert transcript.received[0].fds == ()
        assert isinstance(raw.receive(2.0), Closed)
