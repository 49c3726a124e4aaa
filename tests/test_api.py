"""The libmemif-equivalent API surface of Memif/Interface, over real sockets."""

from __future__ import annotations

import os
import select
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator

import numpy as np
import pytest

from memif_harness.memif.protocol.config import InterfaceConfig
from memif_harness.memif.protocol.constants import (
    DESC_FLAG_NEXT,
    RING_FLAG_MASK_INT,
    Mode,
    Role,
    RxMode,
)
from memif_harness.memif.protocol.errors import ErrorCode, LocalProtocolError, MemifError, strerror
from memif_harness.memif.runtime.interface import Interface
from memif_harness.memif.runtime.memif import Memif, wait_until

# memif_err_t of libmemif 4.0 (extras/libmemif/src/libmemif.h), in enum order.
LIBMEMIF_ERRORS = [
    "SUCCESS",
    "SYSCALL",
    "CONNREFUSED",
    "ACCES",
    "NO_FILE",
    "FILE_LIMIT",
    "PROC_FILE_LIMIT",
    "ALREADY",
    "AGAIN",
    "BAD_FD",
    "NOMEM",
    "INVAL_ARG",
    "NOCONN",
    "CONN",
    "CB_FDUPDATE",
    "FILE_NOT_SOCK",
    "NO_SHMFD",
    "COOKIE",
    "NOBUF_RING",
    "NOBUF",
    "NOBUF_DET",
    "INT_WRITE",
    "MFMSG",
    "QID",
    "PROTO",
    "ID",
    "ACCSLAVE",
    "ALRCONN",
    "MODE",
    "SECRET",
    "NOSECRET",
    "MAXREG",
    "MAXRING",
    "NO_INTFD",
    "DISCONNECT",
    "DISCONNECTED",
    "UNKNOWN_MSG",
    "POLL_CANCEL",
    "MAX_RING",
    "PRIVHDR",
]


@pytest.fixture
def sock_path() -> Iterator[str]:
    path = tempfile.mkdtemp(prefix="mh-", dir="/tmp")
    yield os.path.join(path, "api.sock")
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def memif() -> Iterator[Memif]:
    with Memif(app_name="api-test", reconnect_period=0.1) as m:
        yield m


def make_pair(
    memif: Memif, path: str, *, connect: bool = True, **slave_kw: object
) -> tuple[Interface, Interface]:
    master = memif.create(
        InterfaceConfig(role=Role.MASTER, socket=path, interface_name="mst", id=3, secret="pw")
    )
    fields: dict[str, object] = {
        "role": Role.SLAVE,
        "socket": path,
        "interface_name": "slv",
        "id": 3,
        "secret": "pw",
    } | slave_kw
    slave = memif.create(InterfaceConfig(**fields))  # type: ignore[arg-type]
    if connect:
        assert wait_until(lambda: master.link_up and slave.link_up, memif, 5)
    return master, slave


# -- error codes ------------------------------------------------------------------------------


def test_error_codes_mirror_libmemif() -> None:
    assert [code.name for code in ErrorCode] == LIBMEMIF_ERRORS
    assert [int(code) for code in ErrorCode] == list(range(len(LIBMEMIF_ERRORS)))
    assert ErrorCode.NOCONN == 12
    assert ErrorCode.QID == 23
    assert ErrorCode.PRIVHDR == 39


def test_strerror_texts() -> None:
    for code in ErrorCode:
        assert strerror(code)
        assert strerror(code) != "undefined error"
    assert strerror(ErrorCode.SUCCESS) == "Success."
    assert strerror(ErrorCode.NOBUF_RING) == "Ring buffer full."
    assert strerror(ErrorCode.QID) == "Invalid queue id"
    assert strerror(ErrorCode.MAX_RING) == "Maximum log2 ring size is 15"  # libmemif's text
    assert strerror(-1) == "undefined error"  # libmemif would index before its table
    assert strerror(40) == "undefined error"


# -- create / delete --------------------------------------------------------------------------


def test_create_and_delete(memif: Memif, sock_path: str) -> None:
    master = memif.create(InterfaceConfig(role=Role.MASTER, socket=sock_path, id=1))
    assert os.path.exists(sock_path)
    with pytest.raises(MemifError) as info:
        memif.create(InterfaceConfig(role=Role.MASTER, socket=sock_path, id=1))
    assert info.value.code is ErrorCode.CONN
    second = memif.create(InterfaceConfig(role=Role.MASTER, socket=sock_path, id=2))
    slave = memif.create(InterfaceConfig(role=Role.SLAVE, socket=sock_path, id=2))
    with pytest.raises(MemifError) as info:
        memif.create(InterfaceConfig(role=Role.SLAVE, socket=sock_path, id=2))
    assert info.value.code is ErrorCode.CONN
    assert wait_until(lambda: second.link_up and slave.link_up, memif, 5)
    assert not master.link_up
    memif.delete(master)
    assert os.path.exists(sock_path)  # id 2 still listens
    memif.delete(second)
    assert not os.path.exists(sock_path)
    assert wait_until(lambda: not slave.link_up, memif, 2)
    memif.delete(slave)
    memif.delete(slave)  # idempotent
    assert memif.watched_fds() == [memif._timer.fd, memif._housekeeping.fd]


def test_second_runtime_cannot_listen_on_an_active_socket(sock_path: str) -> None:
    with Memif() as one, Memif() as two:
        one.create(InterfaceConfig(role=Role.MASTER, socket=sock_path))
        with pytest.raises(MemifError) as info:
            two.create(InterfaceConfig(role=Role.MASTER, socket=sock_path))
        assert info.value.code is ErrorCode.ALREADY
        assert str(info.value) == f"Active listener on '{sock_path}'"


def test_stale_socket_file_is_replaced_and_regular_file_refused(sock_path: str) -> None:
    with Memif() as one:
        one.create(InterfaceConfig(role=Role.MASTER, socket=sock_path))
    # memif_cleanup unlinked it; leave a stale socket file behind on purpose
    import socket as socketlib

    stale = socketlib.socket(socketlib.AF_UNIX, socketlib.SOCK_SEQPACKET)
    stale.bind(sock_path)
    stale.close()
    with Memif() as two:
        two.create(InterfaceConfig(role=Role.MASTER, socket=sock_path))
    with open(sock_path, "w") as f:
        f.write("not a socket")
    with Memif() as three, pytest.raises(MemifError) as info:
        three.create(InterfaceConfig(role=Role.MASTER, socket=sock_path))
    assert info.value.code is ErrorCode.FILE_NOT_SOCK


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("log2_ring_size", 15),
        ("log2_ring_size", 0),
        ("buffer_size", 0),
        ("buffer_size", 65536),
        ("num_s2m_rings", 0),
        ("num_m2s_rings", 256),
        ("secret", "x" * 24),
        ("interface_name", "n" * 32),
        ("id", 2**32),
        ("socket", "/tmp/" + "x" * 110),
    ],
)
def test_create_rejects_bad_arguments(memif: Memif, field: str, value: object) -> None:
    with pytest.raises((LocalProtocolError, MemifError)) as info:
        memif.create(InterfaceConfig(role=Role.MASTER, **{field: value}))  # type: ignore[arg-type]
    assert info.value.code is ErrorCode.INVAL_ARG


def test_slave_without_master_reports_why(memif: Memif, sock_path: str) -> None:
    slave = memif.create(InterfaceConfig(role=Role.SLAVE, socket=sock_path))
    assert not slave.link_up
    assert not slave.connected
    assert "No such file" in slave.get_details().error
    slave2 = memif.create(InterfaceConfig(role=Role.SLAVE, socket="@mh-nobody-" + uuid.uuid4().hex))
    assert "Connection refused" in slave2.get_details().error


# -- get_details ------------------------------------------------------------------------------


def test_get_details_fields(memif: Memif, sock_path: str) -> None:
    master, slave = make_pair(
        memif, sock_path, num_s2m_rings=2, num_m2s_rings=3, log2_ring_size=5, buffer_size=1000
    )
    md, sd = master.get_details(), slave.get_details()
    assert (md.if_name, md.remote_if_name, sd.if_name, sd.remote_if_name) == (
        "mst",
        "slv",
        "slv",
        "mst",
    )
    # the runtime's app_name: what each side sends in HELLO/INIT and the other reports
    assert md.inst_name == sd.inst_name == md.remote_inst_name == sd.remote_inst_name == "api-test"
    assert (md.id, sd.id, md.secret, sd.secret) == (3, 3, "pw", "pw")
    assert (md.role, sd.role, md.mode, sd.mode) == (Role.MASTER, Role.SLAVE, 0, 0)
    assert md.socket_path == sd.socket_path == sock_path
    assert md.link_up
    assert sd.link_up
    assert md.error == sd.error == ""
    size = sd.regions[0][1]
    assert sd.regions == md.regions == ((0, size, True),)  # sealed memfd on both sides
    assert size == 5 * (128 + 16 * 32) + 5 * 32 * 1000
    assert [(q.qid, q.ring) for q in sd.tx_queues] == [(0, "S2M"), (1, "S2M")]
    assert [(q.qid, q.ring) for q in sd.rx_queues] == [(0, "M2S"), (1, "M2S"), (2, "M2S")]
    assert [(q.qid, q.ring) for q in md.rx_queues] == [(0, "S2M"), (1, "S2M")]
    assert [(q.qid, q.ring) for q in md.tx_queues] == [(0, "M2S"), (1, "M2S"), (2, "M2S")]
    assert {q.ring_size for q in (*md.rx_queues, *sd.rx_queues)} == {32}
    assert {q.buffer_size for q in (*sd.tx_queues, *sd.rx_queues)} == {1000}
    # The slave posted every M2S slot at connect: head = 32, tail = 0 on both views.
    assert [(q.head, q.tail) for q in md.tx_queues] == [(32, 0)] * 3
    assert [(q.head, q.tail) for q in sd.tx_queues] == [(0, 0)] * 2
    assert md.counters.connects == sd.counters.connects == 1
    slave.send(1, [b"a" * 10, b"b" * 2500])
    md = master.get_details()
    assert (md.rx_queues[1].packets, md.rx_queues[1].bytes) == (0, 0)  # not read yet
    assert md.rx_queues[1].head == 4  # 1 + 3 descriptors of 1000 bytes
    assert slave.get_details().tx_queues[1].packets == 2
    assert slave.get_details().tx_queues[1].bytes == 2510
    assert len(master.rx_burst(1)) == 2
    assert master.get_details().rx_queues[1].packets == 2


# -- data path --------------------------------------------------------------------------------


def test_buffer_alloc_and_tx_burst_with_chained_buffers(memif: Memif, sock_path: str) -> None:
    master, slave = make_pair(memif, sock_path, log2_ring_size=3)
    payload = np.random.default_rng(1).integers(0, 256, 5000, dtype=np.uint8).tobytes()
    bufs = slave.buffer_alloc(0, 1, size=5000)
    assert [(b.capacity, b.length, b.next) for b in bufs] == [
        (2048, 2048, True),
        (2048, 2048, True),
        (2048, 904, False),
    ]
    pos = 0
    for b in bufs:
        b.data[: b.length] = payload[pos : pos + b.length]
        pos += b.length
    assert slave.tx_burst(0, bufs) == 3
    frames = master.rx_burst(0)
    assert [bytes(f) for f in frames] == [payload]
    del frames
    master.buffer_free(0)
    # Only whole packets are reserved: 8 slots hold two 3-buffer packets, not three.
    bufs = slave.buffer_alloc(0, 3, size=5000)
    assert len(bufs) == 6
    assert slave.get_details().tx_queues[0].ring_full == 1
    # Committing a prefix publishes it; the rest goes back to the ring.
    for b in bufs[:3]:
        b.data[: b.length] = b"\x11" * b.length
    assert slave.tx_burst(0, bufs[:3]) == 3
    assert [len(f) for f in master.rx_burst(0)] == [5000]
    master.buffer_free(0)
    # size 0: lengths start at 0 and the caller sets them (libmemif style).
    bufs = slave.buffer_alloc(0, 2)
    assert [(b.length, b.next) for b in bufs] == [(0, False), (0, False)]
    bufs[0].data[:3] = b"abc"
    bufs[0].length = 3
    bufs[1].data[:2] = b"de"
    bufs[1].length = 2
    assert slave.tx_burst(0, bufs) == 2
    assert [bytes(f) for f in master.rx_burst(0)] == [b"abc", b"de"]
    master.buffer_free(0)
    with pytest.raises(LocalProtocolError):
        slave.tx_burst(0, bufs)  # already committed
    bufs = slave.buffer_alloc(0, 1)
    bufs[0].length = 4096
    with pytest.raises(LocalProtocolError):
        slave.tx_burst(0, bufs)  # longer than the buffer


def test_master_buffer_alloc_uses_slave_posted_capacity(memif: Memif, sock_path: str) -> None:
    master, slave = make_pair(memif, sock_path, log2_ring_size=2, buffer_size=300)
    bufs = master.buffer_alloc(0, 1, size=700)
    assert [(b.capacity, b.length, b.next) for b in bufs] == [
        (300, 300, True),
        (300, 300, True),
        (300, 100, False),
    ]
    for i, b in enumerate(bufs):
        b.data[: b.length] = bytes([i]) * b.length
    assert master.tx_burst(0, bufs) == 3
    assert [bytes(f) for f in slave.rx_burst(0)] == [b"\0" * 300 + b"\1" * 300 + b"\2" * 100]
    # One slot left posted: a 2-buffer packet does not fit until the slave refills.
    assert master.buffer_alloc(0, 1, size=400) == []
    slave.refill_queue(0)
    assert len(master.buffer_alloc(0, 1, size=400)) == 2


def test_rx_burst_returns_zero_copy_views_valid_until_buffer_free(
    memif: Memif, sock_path: str
) -> None:
    master, slave = make_pair(memif, sock_path, log2_ring_size=1)
    assert slave.send(0, [b"A" * 100, b"B" * 100]) == 2
    views = master.rx_burst(0)
    assert [bytes(v) for v in views] == [b"A" * 100, b"B" * 100]
    region = master.regions[0].buf
    for v in views:
        assert isinstance(v, memoryview)
        assert not v.readonly
        assert np.shares_memory(np.frombuffer(v, dtype=np.uint8), region)
    # Until buffer_free the slots stay ours: the slave cannot overwrite them.
    assert slave.send(0, [b"C" * 100]) == 0
    assert bytes(views[0]) == b"A" * 100
    master.buffer_free(0, 1)  # the oldest frame only
    assert slave.send(0, [b"C" * 100, b"D" * 100]) == 1
    # The view of the freed frame now shows what the slave wrote into that slot ...
    assert bytes(views[0]) == b"C" * 100
    # ... and the one still held is intact.
    assert bytes(views[1]) == b"B" * 100
    del views
    master.buffer_free(0)
    assert [bytes(v) for v in master.rx_burst(0)] == [b"C" * 100]
    with pytest.raises(LocalProtocolError):
        master.buffer_free(0, 5)


def test_refill_queue_with_headroom(memif: Memif, sock_path: str) -> None:
    master, slave = make_pair(memif, sock_path, log2_ring_size=2)
    ring = slave.rx_queues[0].ring
    layout_offsets = ring.desc["offset"].copy()
    assert ring.desc["length"].tolist() == [2048] * 4  # posted at connect, no headroom
    assert master.send(0, [b"x" * 60] * 4) == 4
    assert len(slave.rx_burst(0)) == 4
    assert slave.refill_queue(0, headroom=128) == 4
    assert ring.desc["length"].tolist() == [1920] * 4
    assert (ring.desc["offset"] - layout_offsets).tolist() == [128] * 4
    # The master now chains at 1920 bytes.
    frame = bytes(range(256)) * 8  # 2048 bytes: 1920 + 128
    assert master.send(0, [frame]) == 1
    assert master.tx_queues[0].ring.desc["flags"][0] == DESC_FLAG_NEXT
    assert [bytes(f) for f in slave.rx_burst(0)] == [frame]
    assert slave.refill_queue(0) == 2
    assert master.refill_queue(0) == 0  # the master only releases
    with pytest.raises(LocalProtocolError):
        slave.refill_queue(0, headroom=2048)
    del ring


@pytest.mark.parametrize("role", ["master", "slave"])
def test_set_rx_mode_before_and_after_connect(memif: Memif, sock_path: str, role: str) -> None:
    master, slave = make_pair(memif, sock_path, connect=False, num_s2m_rings=2, num_m2s_rings=2)
    rx, tx = (master, slave) if role == "master" else (slave, master)
    rx.set_rx_mode(RxMode.POLLING, 1)  # before connect: remembered
    assert wait_until(lambda: master.link_up and slave.link_up, memif, 5)
    flags = [q.flags & RING_FLAG_MASK_INT for q in rx.get_details().rx_queues]
    assert flags == [0, RING_FLAG_MASK_INT]
    assert [q.flags & RING_FLAG_MASK_INT for q in tx.get_details().tx_queues] == flags
    rx.set_rx_mode(RxMode.POLLING, 0)  # after connect: the shared ring changes now
    rx.set_rx_mode(RxMode.INTERRUPT, 1)
    flags = [q.flags & RING_FLAG_MASK_INT for q in tx.get_details().tx_queues]
    assert flags == [RING_FLAG_MASK_INT, 0]
    efd1 = rx.get_queue_efd(1)
    efd0 = rx.get_queue_efd(0)
    tx.send(0, [b"p"])
    tx.send(1, [b"i"])
    assert select.select([efd0, efd1], [], [], 0.5)[0] == [efd1]
    # Remembered across a reconnect.
    memif.disconnect(slave, "bounce")
    assert wait_until(lambda: master.link_up and slave.link_up, memif, 5)
    flags = [q.flags & RING_FLAG_MASK_INT for q in tx.get_details().tx_queues]
    assert flags == [RING_FLAG_MASK_INT, 0]
    with pytest.raises(MemifError) as info:
        rx.set_rx_mode(RxMode.POLLING, 9)
    assert info.value.code is ErrorCode.QID


def test_get_queue_efd(memif: Memif, sock_path: str) -> None:
    master, slave = make_pair(memif, sock_path, num_s2m_rings=2)
    efds = [master.get_queue_efd(q) for q in range(2)]
    assert len(set(efds)) == 2
    for fd in [*efds, slave.get_queue_efd(0)]:
        assert os.readlink(f"/proc/self/fd/{fd}") == "anon_inode:[eventfd]"
    # The slave's S2M ring 1 signals exactly the master's queue 1 efd.
    slave.send(1, [b"z"])
    assert select.select(efds, [], [], 0.5)[0] == [efds[1]]
    with pytest.raises(MemifError) as info:
        master.get_queue_efd(2)
    assert info.value.code is ErrorCode.QID


@pytest.mark.parametrize(
    "call",
    [
        lambda i: i.rx_burst(0),
        lambda i: i.buffer_free(0),
        lambda i: i.refill_queue(0),
        lambda i: i.buffer_alloc(0, 1),
        lambda i: i.tx_burst(0, []),
        lambda i: i.send(0, [b"x"]),
        lambda i: i.get_queue_efd(0),
    ],
    ids=["rx_burst", "buffer_free", "refill_queue", "buffer_alloc", "tx_burst", "send", "efd"],
)
def test_noconn_and_qid_errors(memif: Memif, sock_path: str, call: object) -> None:
    fn = call  # a lambda taking the interface
    master, slave = make_pair(memif, sock_path, connect=False)
    for iface in (master, slave):
        with pytest.raises(MemifError) as info:
            fn(iface)  # type: ignore[operator]
        assert info.value.code is ErrorCode.NOCONN
    assert wait_until(lambda: master.link_up and slave.link_up, memif, 5)
    fn(master)  # type: ignore[operator]
    fn(slave)  # type: ignore[operator]
    bad = {
        "rx_burst": lambda i: i.rx_burst(1),
        "tx": lambda i: i.send(1, [b"x"]),
        "alloc": lambda i: i.buffer_alloc(-1, 1),
        "free": lambda i: i.buffer_free(7),
    }
    for check in bad.values():
        with pytest.raises(MemifError) as info:
            check(master)
        assert info.value.code is ErrorCode.QID
    memif.delete(slave)
    assert wait_until(lambda: not master.link_up, memif, 2)
    with pytest.raises(MemifError) as info:
        fn(master)  # type: ignore[operator]
    assert info.value.code is ErrorCode.NOCONN


def test_local_misuse_of_the_data_path(memif: Memif, sock_path: str) -> None:
    master, slave = make_pair(memif, sock_path, log2_ring_size=2)
    with pytest.raises(LocalProtocolError):
        slave.send(0, [b""])  # empty frame
    with pytest.raises(LocalProtocolError):
        slave.buffer_alloc(0, 1, 2048 * 5)  # can never fit a 4-slot ring
    assert slave.send(0, [b"x" * 2048 * 5]) == 1  # send drops it and counts it
    assert slave.get_details().tx_queues[0].oversize == 1
    assert slave.send(0, []) == 0
    with pytest.raises(LocalProtocolError):
        slave.buffer_alloc(0, 0)
    assert master.link_up
    assert slave.link_up


def test_callbacks_and_private_ctx(memif: Memif, sock_path: str) -> None:
    events: list[tuple[str, str, object]] = []
    ctx = object()

    def cb(kind: str):  # type: ignore[no-untyped-def]
        return lambda iface, c: events.append((kind, iface.config.interface_name, c))

    master = memif.create(
        InterfaceConfig(role=Role.MASTER, socket=sock_path, interface_name="m"),
        on_connect=cb("up"),
        on_disconnect=cb("down"),
        private_ctx=ctx,
    )
    slave = memif.create(
        InterfaceConfig(role=Role.SLAVE, socket=sock_path, interface_name="s", mode=Mode.ETHERNET),
        on_connect=cb("up"),
        on_disconnect=cb("down"),
        private_ctx=ctx,
    )
    assert wait_until(lambda: len(events) == 2, memif, 5)
    assert sorted(events, key=str) == sorted([("up", "m", ctx), ("up", "s", ctx)], key=str)
    memif.disconnect(master, "go away")
    assert wait_until(lambda: len(events) >= 4, memif, 2)
    assert {e[:2] for e in events[2:4]} == {("down", "m"), ("down", "s")}
    assert slave.get_details().remote_error == "go away"
    assert wait_until(lambda: len(events) >= 6, memif, 3)  # the slave reconnected
    t0 = time.monotonic()
    memif.delete(slave)
    assert time.monotonic() - t0 < 1


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_dead_event_loop_is_named_in_the_timeout(
    sock_path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A bug that kills the event-loop thread must not look like a silent peer."""
    from memif_harness.memif.runtime.endpoint import Endpoint, EventLoop

    def broken(_self: Interface, _run: object) -> None:
        raise RuntimeError("boom in prepare_memory")

    monkeypatch.setattr(Interface, "prepare_memory", broken)
    with EventLoop() as loop:
        master = Endpoint("master", sock_path, loop=loop)
        slave = Endpoint("slave", sock_path, loop=loop)
        with pytest.raises(TimeoutError, match="event loop died: RuntimeError"):
            slave.wait_connected(1)
        assert isinstance(loop.error, RuntimeError)
        del master, slave


def test_rx_burst_leaves_the_eventfd_to_ack_interrupt(memif: Memif, sock_path: str) -> None:
    master, slave = make_pair(memif, sock_path)
    efd = master.get_queue_efd(0)
    slave.send(0, [b"one"])
    slave.send(0, [b"two"])
    assert select.select([efd], [], [], 0.5)[0] == [efd]
    assert [bytes(f) for f in master.rx_burst(0)] == [b"one", b"two"]
    master.buffer_free(0)
    assert select.select([efd], [], [], 0)[0] == [efd]  # rx_burst made no syscall on it
    assert master.ack_interrupt(0) == 2
    assert select.select([efd], [], [], 0)[0] == []
    assert master.ack_interrupt(0) == 0
    with pytest.raises(MemifError) as info:
        master.ack_interrupt(1)
    assert info.value.code is ErrorCode.QID


def test_default_rx_mode_covers_every_queue_the_link_brings(memif: Memif, sock_path: str) -> None:
    master = memif.create(
        InterfaceConfig(role=Role.MASTER, socket=sock_path), default_rx_mode=RxMode.POLLING
    )
    master.set_rx_mode(RxMode.INTERRUPT, 2)  # before connect: any qid, no error
    master.set_rx_mode(RxMode.POLLING, 40)
    slave = memif.create(InterfaceConfig(role=Role.SLAVE, socket=sock_path, num_s2m_rings=3))
    assert wait_until(lambda: master.link_up and slave.link_up, memif, 5)
    flags = [q.flags & RING_FLAG_MASK_INT for q in slave.get_details().tx_queues]
    assert flags == [RING_FLAG_MASK_INT, RING_FLAG_MASK_INT, 0]
    with pytest.raises(MemifError) as info:
        master.set_rx_mode(RxMode.POLLING, 3)  # up: a qid without a queue is an error
    assert info.value.code is ErrorCode.QID


def test_endpoint_sets_rx_mode_on_queues_it_did_not_count(sock_path: str) -> None:
    from memif_harness.memif.runtime.endpoint import Endpoint, EventLoop

    with EventLoop() as loop:
        # The master's rx_queues=1 is only a wish: the slave brings 3 S2M rings.
        master = Endpoint("master", sock_path, rx_mode=RxMode.POLLING, loop=loop)
        slave = Endpoint("slave", sock_path, tx_queues=3, loop=loop)
        master.wait_connected(5)
        slave.wait_connected(5)
        flags = [q.flags & RING_FLAG_MASK_INT for q in slave.details().tx_queues]
        assert flags == [RING_FLAG_MASK_INT] * 3
        assert master.interface.rx_modes == {}  # no per-qid loop in the constructor


def test_endpoint_recv_fetches_the_eventfd_for_every_wait(
    sock_path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reconnect closes the eventfd (its number may be reused): recv must not keep it."""
    from memif_harness.memif.runtime import endpoint
    from memif_harness.memif.runtime.endpoint import Endpoint, EventLoop

    with EventLoop() as loop:
        master = Endpoint("master", sock_path, loop=loop)
        slave = Endpoint("slave", sock_path, loop=loop)
        master.wait_connected(5)
        served: list[int] = []
        waited: list[int] = []
        real_efd, real_select = master.interface.get_queue_efd, select.select

        def get_queue_efd(qid: int) -> int:
            served.append(real_efd(qid))
            return served[-1]

        def fake_select(r: list[int], w: list[int], x: list[int], t: float) -> object:
            waited.extend(r)
            return real_select(r, w, x, t)

        monkeypatch.setattr(master.interface, "get_queue_efd", get_queue_efd)
        monkeypatch.setattr(endpoint.select, "select", fake_select)
        assert master.recv(1, timeout=0.05) == []
        assert len(waited) > 1
        assert waited == served
        del slave


@pytest.mark.parametrize("where", ["slave", "master"])
def test_os_error_while_creating_memory_disconnects_with_a_reason(
    memif: Memif, sock_path: str, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    """EMFILE from memfd_create/eventfd (slave) or mmap (master) must not kill the loop."""
    from memif_harness.memif.datapath.shm import Region
    from memif_harness.memif.runtime import interface as interface_module

    def emfile(*_args: object, **_kw: object) -> int:
        raise OSError(24, "Too many open files")

    if where == "slave":
        monkeypatch.setattr(interface_module.os, "eventfd", emfile)
    else:
        monkeypatch.setattr(Region, "attach", emfile)
    master, slave = make_pair(memif, sock_path, connect=False)
    iface, reason = (
        (slave, "cannot create memory: [Errno 24] Too many open files")
        if where == "slave"
        else (master, "cannot map memory: [Errno 24] Too many open files")
    )
    assert wait_until(lambda: iface.get_details().error == reason, memif, 5)
    if where == "master":  # (a slave fails before INIT: no interface on the master yet)
        assert wait_until(lambda: slave.get_details().remote_error == reason, memif, 5)
    assert not master.link_up
    assert not slave.link_up
    monkeypatch.undo()  # the loop survived: the slave's next attempt connects
    assert wait_until(lambda: master.link_up and slave.link_up, memif, 5)
