"""libmemif's unit tests of its main API replayed against our libmemif-equivalent API.

Source: FDio/vpp v26.06 extras/libmemif/test/suite_main/memif_main_test.c (each test cites
its original by line). All eleven cases: MemifMain MemifGetVersion, MemifGetVersionStr,
MemifStrError, MemifGetDetails, MemifControl_fd_update_add_del_epoll_fd,
MemifSetConnectionRequestTimer, MemifSetConnectionRequestTimerNoTimer, MemifPollEvent;
MemifInterface MemifCreateMaster, MemifCreateSlave, MemifDelete. The originals poke at
libmemif's private structs (the master/slave lists, ``timer_fd``); we check the behaviour
those fields stand for.
"""

from __future__ import annotations

import socket
import time
import uuid
from collections.abc import Iterator

import pytest

from memif_harness.conformance.raw import RawConnection, Received, listener
from memif_harness.memif import (
    ErrorCode,
    InterfaceConfig,
    LocalProtocolError,
    Memif,
    MemifError,
    Role,
    strerror,
)
from memif_harness.memif.protocol import wire
from memif_harness.memif.protocol.constants import VERSION
from memif_harness.memif.runtime.memif import FD_EVENT_DEL, FD_EVENT_READ

#: memif_main_test.c:6-10
MEMIF_VERSION_STR = "2.0"
MEMIF_INTERFACE_NAME = "memif0/0"
MEMIF_SECRET = "psst"

#: libmemif v26.06 main.c:70-150 ``memif_errlist``, verbatim, indexed by MEMIF_ERR_*.
MEMIF_ERRLIST = (
    "Success.",
    "Unspecified syscall error (build with -DMEMIF_DBG or make debug).",
    "Connection refused",
    "Permission to resource denied.",
    "Socket file does not exist",
    "System limit on total numer of open files reached.",
    "Per-process limit on total number of open files reached.",
    "Connection already requested.",
    "File descriptor refers to file other than socket, or operation would block.",
    "Bad file descriptor.",
    "Out of memory.",
    "Invalid argument.",
    "Memif connection handle does not point to existing connection",
    "Memif connection handle points to existing connection",
    "Callback memif_control_fd_update_t returned error",
    "File specified by socket filename exists and is not socket.",
    "Missing shared memory file descriptor. (internal error)",
    "Invalid cookie on ring. (internal error)",
    "Ring buffer full.",
    "Not enough memif buffers. There are unreceived data in shared memory.",
    "Not enough space for memif details in supplied buffer. String data might be malformed.",
    "Send interrupt error.",
    "Malformed message received on control channel.",
    "Invalid queue id",
    "Incompatible memory interface protocol version.",
    "Unmatched interface id.",
    "Slave cannot accept connection request.",
    "Interface is already connected.",
    "Mode mismatch.",
    "Secret mismatch.",
    "Secret required.",
    "Limit on total number of regions reached.",
    "Limit on total number of ring reached.",
    "Missing interrupt file descriptor. (internal error)",
    "Interface received disconnect request.",
    "Interface is disconnected.",
    "Unknown message type received on control channel. (internal error)",
    "Memif event polling was canceled.",
    "Maximum log2 ring size is 15",
    "Private headers not supported.",
)
#: main.c:59, 152
ERRLIST_LEN = 40
MEMIF_ERR_UNDEFINED = "undefined error"


@pytest.fixture
def sock() -> str:
    return f"@mh-lmmain-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def memif() -> Iterator[Memif]:
    """Our runtime with internal polling, driven by the test (no thread)."""
    with Memif(app_name="TEST", reconnect_period=0) as runtime:
        yield runtime


def poll_for(memif: Memif, seconds: float) -> None:
    """Serve ``memif``'s events for ``seconds``."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        memif.poll_event(min(left, 0.02))


def accepts_within(server: socket.socket, memif: Memif, seconds: float) -> bool:
    """Whether a slave of ``memif`` connects to ``server`` within ``seconds``."""
    server.setblocking(False)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        memif.poll_event(0.02)
        try:
            conn, _ = server.accept()
        except BlockingIOError:
            continue
        conn.close()
        return True
    return False


# -- MemifMain ---------------------------------------------------------------------------------


def test_get_version() -> None:
    """memif_main_test.c:102 MemifGetVersion (MEMIF_VERSION) and :107 MemifGetVersionStr
    ("2.0"). Ours has no version getters: the version is ``VERSION``, which must be
    (major << 8) | minor of "2.0" and is what HELLO and INIT carry on the wire (little
    endian, at offsets 34/36 and 2; the socket suite checks the values we send)."""
    major, minor = (int(part) for part in MEMIF_VERSION_STR.split("."))
    assert VERSION == (major << 8) | minor == 0x0200
    hello = wire.pack(wire.Hello())
    assert hello[34:38] == b"\x00\x02\x00\x02"
    assert wire.pack(wire.Init())[2:4] == b"\x00\x02"


def test_strerror_table() -> None:
    """memif_main_test.c:112 MemifStrError: memif_strerror(i) is memif_errlist[i] for every
    code, and a code past the table is "undefined error". Ours: the same table, the same
    numbers (``ErrorCode``), the same text for an unknown code."""
    assert [int(code) for code in ErrorCode] == list(range(ERRLIST_LEN))
    assert [strerror(i) for i in range(ERRLIST_LEN)] == list(MEMIF_ERRLIST)
    assert strerror(ERRLIST_LEN + 1) == MEMIF_ERR_UNDEFINED
    assert strerror(ERRLIST_LEN) == MEMIF_ERR_UNDEFINED


def test_get_details(memif: Memif, sock: str) -> None:
    """memif_main_test.c:122 MemifGetDetails: a slave "memif0/0", id 0, secret "psst",
    mode 0 reports those, role 1 (slave), link down. libmemif reports the socket's app_name
    as inst_name (main.c:1924-1929), the name it sends in HELLO/INIT: so must we."""
    iface = memif.create(InterfaceConfig(role=Role.SLAVE, socket=sock,
                                         interface_name=MEMIF_INTERFACE_NAME,
                                         secret=MEMIF_SECRET))
    details = iface.get_details()
    assert details.if_name == MEMIF_INTERFACE_NAME
    assert details.id == 0
    assert details.secret == MEMIF_SECRET
    assert int(details.role) == 1
    assert details.mode == 0
    assert details.link_up is False
    assert details.inst_name == memif.app_name == "TEST"


def test_control_fd_update_add_del() -> None:
    """memif_main_test.c:139 MemifControl_fd_update_add_del_epoll_fd: adding an fd to the
    event set (MEMIF_FD_EVENT_READ) and deleting it (MEMIF_FD_EVENT_DEL) both succeed. Ours,
    with the application's fd-update callback: a master's listener is announced READ on
    create and DEL on delete, and is no longer one of the runtime's fds afterwards."""
    updates: list[tuple[int, int]] = []
    with Memif(on_fd_update=lambda fd, events: updates.append((fd, events)),
               reconnect_period=0) as memif:
        timers = list(updates)
        assert timers
        assert all(events == FD_EVENT_READ for _, events in timers)
        assert sorted(memif.watched_fds()) == sorted(fd for fd, _ in timers)
        iface = memif.create(InterfaceConfig(role=Role.MASTER,
                                             socket=f"@mh-lmmain-{uuid.uuid4().hex[:12]}"))
        ((listener_fd, events),) = updates[len(timers):]
        assert events == FD_EVENT_READ
        assert listener_fd in memif.watched_fds()
        memif.delete(iface)
        assert updates[-1] == (listener_fd, FD_EVENT_DEL)
        assert listener_fd not in memif.watched_fds()
        with pytest.raises(MemifError) as info:
            memif.control_fd_handler(listener_fd)
        assert info.value.code is ErrorCode.BAD_FD


def test_connection_request_timer(sock: str) -> None:
    """memif_main_test.c:161 MemifSetConnectionRequestTimer: a 2 s timer gives the socket a
    timer fd. Ours: ``reconnect_period`` is that timer; a slave created before its master
    exists connects by itself once a master listens (L1), within a few periods."""
    with Memif(reconnect_period=0.05) as memif:
        memif.create(InterfaceConfig(role=Role.SLAVE, socket=sock))
        poll_for(memif, 0.1)
        with listener(sock) as server:
            assert accepts_within(server, memif, 2.0)


def test_connection_request_timer_unset(memif: Memif, sock: str) -> None:
    """memif_main_test.c:210 MemifSetConnectionRequestTimerNoTimer: a zero timer creates no
    timer fd. Ours: ``reconnect_period=0`` never retries: a slave whose first attempt failed
    stays unconnected after a master appears, until ``request_connection``. Deviation: we
    hold a timer fd from the start (disarmed), libmemif creates it only for a non-zero timer."""
    slave = memif.create(InterfaceConfig(role=Role.SLAVE, socket=sock))
    with listener(sock) as server:
        assert not accepts_within(server, memif, 0.3)
        assert memif.request_connection(slave)
        assert accepts_within(server, memif, 1.0)


def test_poll_event_cancel(memif: Memif) -> None:
    """memif_main_test.c:348 MemifPollEvent: after a write to the poll-cancel eventfd,
    memif_poll_event(-1) returns MEMIF_ERR_POLL_CANCEL. Ours: ``cancel_poll_event()`` makes
    ``poll_event(-1)`` raise MemifError(POLL_CANCEL) at once, and only once."""
    memif.cancel_poll_event()
    with pytest.raises(MemifError) as info:
        memif.poll_event(-1)
    assert info.value.code is ErrorCode.POLL_CANCEL
    assert memif.poll_event(0) == 0


# -- MemifInterface ----------------------------------------------------------------------------


def _created(memif: Memif, role: Role, sock: str) -> InterfaceConfig:
    """memif_create with only socket, id 0 and interface_name set (memif_main_test.c:265)."""
    iface = memif.create(InterfaceConfig(role=role, socket=sock,
                                         interface_name=MEMIF_INTERFACE_NAME))
    return iface.config


def _assert_libmemif_defaults(config: InterfaceConfig) -> None:
    """MEMIF_DEFAULT_BUFFER_SIZE 2048, MEMIF_DEFAULT_LOG2_RING_SIZE 10, one ring each way."""
    assert (config.buffer_size, config.log2_ring_size) == (2048, 10)
    assert (config.num_m2s_rings, config.num_s2m_rings) == (1, 1)


def test_create_master(memif: Memif, sock: str) -> None:
    """memif_main_test.c:294 MemifCreateMaster: succeeds, the interface is on the socket's
    master list (it listens), with libmemif's defaults. Ours: the master answers a slave's
    connect with HELLO. Deviation: libmemif's 0 means "default" for ring size, buffer size
    and ring counts; our config has the defaults as its defaults and refuses 0."""
    _assert_libmemif_defaults(_created(memif, Role.MASTER, sock))
    with RawConnection.connect(sock) as raw:
        poll_for(memif, 0.1)
        answer = raw.receive(1.0)
    assert isinstance(answer, Received), answer
    assert isinstance(answer.message, wire.Hello), answer
    with pytest.raises(LocalProtocolError):
        InterfaceConfig(role=Role.MASTER, socket=sock, log2_ring_size=0)


def test_create_slave(memif: Memif, sock: str) -> None:
    """memif_main_test.c:314 MemifCreateSlave: succeeds, the interface is on the slave list
    (memif_create requests the connection at once), with libmemif's defaults. Ours: the
    slave connects to a listening master on create, before any poll."""
    with listener(sock) as server:
        server.settimeout(1.0)
        _assert_libmemif_defaults(_created(memif, Role.SLAVE, sock))
        conn, _ = server.accept()
        conn.close()


def test_delete(sock: str) -> None:
    """memif_main_test.c:335 MemifDelete: memif_delete succeeds and clears the handle (a
    second memif_delete, as the test's teardown does, answers NOCONN). Ours: after
    ``delete`` the slave has no connection and never retries; deleting it again is a no-op
    (deviation: there is no handle to clear, so nothing to answer NOCONN)."""
    with Memif(reconnect_period=0.05) as memif:
        slave = memif.create(InterfaceConfig(role=Role.SLAVE, socket=sock))
        memif.delete(slave)
        assert not slave.connected
        with listener(sock) as server:
            assert not accepts_within(server, memif, 0.3)
        memif.delete(slave)
