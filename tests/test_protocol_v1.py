"""Protocol 1.0: golden layouts written from protocol.md A.13 (FDio/vpp 64ebb5ff133 memif.h),
version selection in the sans-I/O channel, and the 1.0 data path in one process."""

from __future__ import annotations

import dataclasses
import os
import pathlib
import struct
from collections.abc import Iterator

import numpy as np
import pytest

from memif_harness.memif.datapath.layout import CopyLayout, ring_bytes
from memif_harness.memif.datapath.layout_v1 import DESC_V1_DTYPE, DESC_V1_SIZE, CopyLayoutV1
from memif_harness.memif.datapath.queue_v1 import RxQueueV1, TxQueueV1
from memif_harness.memif.datapath.ring import Ring
from memif_harness.memif.datapath.shm import Region
from memif_harness.memif.protocol import wire
from memif_harness.memif.protocol.config import InterfaceConfig
from memif_harness.memif.protocol.constants import DESC_FLAG_NEXT, VERSION, Mode, RingType, Role
from memif_harness.memif.protocol.control import ControlChannel
from memif_harness.memif.protocol.errors import LocalProtocolError, MemifError, RemoteProtocolError
from memif_harness.memif.protocol.events import ConnectRequested, HelloReceived
from memif_harness.memif.protocol.versions import (
    COOKIE_V1,
    VERSION_V1,
    ProtocolVersion,
    hello_range,
)
from memif_harness.memif.runtime.endpoint import Endpoint, EventLoop

# -- golden layout (A.13; 64ebb5ff133 memif.h:25-28, 98-106, 146-175) --------------------------


def test_v1_constants() -> None:
    assert COOKIE_V1 == 0x3E31F10
    assert VERSION_V1 == (1 << 8) | 0 == 0x0100


def test_v1_descriptor_is_32_bytes_at_the_header_offsets() -> None:
    assert DESC_V1_SIZE == DESC_V1_DTYPE.itemsize == 32
    offsets = {name: DESC_V1_DTYPE.fields[name][1] for name in DESC_V1_DTYPE.names}
    assert offsets == {
        "flags": 0,
        "region": 2,
        "buffer_length": 4,
        "length": 8,
        "reserved": 12,
        "offset": 16,
        "metadata": 24,
    }


def test_v1_descriptor_packs_as_the_c_struct() -> None:
    desc = np.zeros(1, dtype=DESC_V1_DTYPE)
    desc["flags"], desc["region"], desc["buffer_length"] = DESC_FLAG_NEXT, 3, 2048
    desc["length"], desc["offset"], desc["metadata"] = 1500, 0x1_2345_6789, 0xAABB
    expected = struct.pack("<HHII4xQQ", 1, 3, 2048, 1500, 0x1_2345_6789, 0xAABB)
    assert desc.tobytes() == expected


@pytest.mark.parametrize("cacheline", [64, 128])
def test_v1_ring_header_and_cookie(cacheline: int) -> None:
    log2 = 4
    size = ring_bytes(log2, cacheline, DESC_V1_SIZE)
    assert size == 2 * cacheline + 32 * 16
    with Region.create(size) as region:
        ring = Ring(region, 0, log2, cacheline, version=VERSION_V1)
        ring.init()
        ring.head, ring.tail, ring.flags = 5, 9, 1
        raw = bytes(region.buf[:size])
        assert raw[0:4] == bytes.fromhex("101fe303")  # 0x3E31F10 little-endian
        assert raw[4:6] == b"\x01\x00"
        assert raw[6:8] == b"\x05\x00"
        assert raw[cacheline : cacheline + 2] == b"\x09\x00"
        ring.desc["length"][1] = 0x77
        assert region.buf[2 * cacheline + 32 + 8] == 0x77
        ring.check_cookie("tx ring 0")
        ring.cookie = 0x3E31F20  # a 2.0 cookie on a 1.0 ring
        with pytest.raises(RemoteProtocolError, match="wrong cookie"):
            ring.check_cookie("tx ring 0")


def test_v1_region_layout_is_the_1_0_slaves() -> None:
    """64ebb5ff133 memif.c:276-282, 294-321: rings, then one buffer per slot; every
    descriptor given region 0, its buffer's offset and buffer_length = buffer size."""
    layout = CopyLayoutV1(n_s2m=2, n_m2s=1, log2_ring_size=3, buffer_size=512)
    ring_b = 128 + 32 * 8
    assert layout.ring_bytes == ring_b
    assert layout.buffer_offset == 3 * ring_b
    assert layout.size == 3 * ring_b + 512 * 8 * 3
    assert layout.ring_offset(RingType.M2S, 0) == 2 * ring_b
    with Region.create(layout.size) as region:
        ring = Ring(region, layout.ring_offset(RingType.M2S, 0), 3, version=VERSION_V1)
        ring.desc["length"] = 99
        layout.assign_buffers(ring.desc, RingType.M2S, 0)
        slot = 2 * 8 + np.arange(8)
        assert ring.desc["offset"].tolist() == (3 * ring_b + slot * 512).tolist()
        assert set(ring.desc["buffer_length"].tolist()) == {512}
        assert set(ring.desc["length"].tolist()) == {0}
        assert set(ring.desc["region"].tolist()) == {0}
    # a 2.0 layout of the same shape is smaller: 16-byte descriptors
    assert CopyLayout(n_s2m=2, n_m2s=1, log2_ring_size=3, buffer_size=512).ring_bytes == 256


def test_v1_add_ring_layout() -> None:
    """ADD_RING in 1.0: flags @2, index @4, region @6, offset u64 @8, log2 @16."""
    msg = wire.AddRing(flags=1, index=2, region=3, offset=0x1_0000_0040, log2_ring_size=10)
    data = wire.pack(msg, VERSION_V1)
    assert len(data) == 128
    assert data[:17] == struct.pack("<HHHHQB", 5, 1, 2, 3, 0x1_0000_0040, 10)
    assert data[17:] == bytes(111)
    assert wire.parse(data, VERSION_V1) == msg
    # the same bytes read as 2.0 put log2 where the u64's upper half is
    assert wire.parse(data, VERSION) != msg


def test_v1_other_messages_are_unchanged() -> None:
    init = wire.Init(version=VERSION_V1, id=7, name="old")
    assert wire.pack(init, VERSION_V1) == wire.pack(init, VERSION)
    assert wire.pack(init)[2:4] == b"\x00\x01"


# -- version selection in the channel ----------------------------------------------------------


def _slave(protocol: ProtocolVersion) -> ControlChannel:
    cfg = InterfaceConfig(role=Role.SLAVE, socket="/x", protocol=protocol)
    return ControlChannel(Role.SLAVE, config=cfg, name="s")


def _hello(low: int, high: int) -> bytes:
    return wire.pack(wire.Hello(name="m", min_version=low, max_version=high))


@pytest.mark.parametrize(
    ("protocol", "low", "high", "picked"),
    [
        (ProtocolVersion.V1, VERSION_V1, VERSION_V1, VERSION_V1),
        (ProtocolVersion.V1, VERSION_V1, VERSION, VERSION_V1),
        (ProtocolVersion.V2, VERSION_V1, VERSION, VERSION),
        (ProtocolVersion.AUTO, VERSION_V1, VERSION, VERSION),
        (ProtocolVersion.AUTO, VERSION_V1, VERSION_V1, VERSION_V1),
        (ProtocolVersion.AUTO, VERSION, VERSION, VERSION),
    ],
)
def test_slave_picks_a_version_from_hello(
    protocol: ProtocolVersion, low: int, high: int, picked: int
) -> None:
    slave = _slave(protocol)
    (event,) = slave.receive(_hello(low, high))
    assert isinstance(event, HelloReceived)
    assert event.run.version == slave.version == picked
    slave.start_handshake([], [])
    (data, _), *_ = slave.data_to_send()
    init = wire.parse(data)
    assert isinstance(init, wire.Init)
    assert init.version == picked


@pytest.mark.parametrize(
    ("protocol", "low", "high"),
    [(ProtocolVersion.V1, VERSION, VERSION), (ProtocolVersion.V2, VERSION_V1, VERSION_V1)],
)
def test_slave_rejects_a_hello_without_its_version(
    protocol: ProtocolVersion, low: int, high: int
) -> None:
    slave = _slave(protocol)
    with pytest.raises(RemoteProtocolError, match=r"^incompatible protocol version$"):
        slave.receive(_hello(low, high))
    (data, _), = slave.data_to_send()
    msg = wire.parse(data)
    assert isinstance(msg, wire.Disconnect)
    assert msg.reason == "incompatible protocol version"


def _master(protocol: ProtocolVersion) -> ControlChannel:
    cfg = InterfaceConfig(role=Role.MASTER, socket="/x", protocol=protocol)
    return ControlChannel(
        Role.MASTER, resolver=lambda _id: cfg, name="m", hello_versions=hello_range((protocol,))
    )


@pytest.mark.parametrize(
    ("protocol", "hello"),
    [
        (ProtocolVersion.V1, (VERSION_V1, VERSION_V1)),
        (ProtocolVersion.V2, (VERSION, VERSION)),
        (ProtocolVersion.AUTO, (VERSION_V1, VERSION)),
    ],
)
def test_master_hello_advertises_its_versions(
    protocol: ProtocolVersion, hello: tuple[int, int]
) -> None:
    (data, _), = _master(protocol).data_to_send()
    msg = wire.parse(data)
    assert isinstance(msg, wire.Hello)
    assert (msg.min_version, msg.max_version) == hello


@pytest.mark.parametrize(
    ("protocol", "version", "accepted"),
    [
        (ProtocolVersion.V1, VERSION_V1, True),
        (ProtocolVersion.V1, VERSION, False),
        (ProtocolVersion.V2, VERSION_V1, False),
        (ProtocolVersion.AUTO, VERSION_V1, True),
        (ProtocolVersion.AUTO, VERSION, True),
        (ProtocolVersion.AUTO, 0x0201, False),
    ],
)
def test_master_follows_init_version(
    protocol: ProtocolVersion, version: int, accepted: bool
) -> None:
    master = _master(protocol)
    master.data_to_send()
    init = wire.pack(wire.Init(version=version, name="s"))
    if not accepted:
        with pytest.raises(RemoteProtocolError, match=r"^unsupported version$"):
            master.receive(init)
        return
    master.receive(init)
    assert master.version == version
    fd_region, fd_ring = os.memfd_create("r"), os.eventfd(0)
    master.receive(wire.pack(wire.AddRegion(index=0, size=4096), version), [fd_region])
    ring = wire.AddRing(flags=1, offset=0, log2_ring_size=4)
    master.receive(wire.pack(ring, version), [fd_ring])
    master.receive(wire.pack(wire.AddRing(flags=0, offset=640, log2_ring_size=4), version),
                   [os.eventfd(0)])
    (event,) = master.receive(wire.pack(wire.Connect(if_name="s0"), version))
    assert isinstance(event, ConnectRequested)
    assert event.version == version
    assert event.rings[1][0].offset == 640
    for _, fd in (*event.regions, *event.rings):
        os.close(fd)


def test_protocol_version_parsing() -> None:
    assert ProtocolVersion.of("1") is ProtocolVersion.V1
    assert ProtocolVersion.of(2) is ProtocolVersion.V2
    assert ProtocolVersion.of("auto") is ProtocolVersion.AUTO
    with pytest.raises(ValueError, match="1, 2 or 'auto'"):
        ProtocolVersion.of(3)


# -- the 1.0 data path, slave and master over one memfd ------------------------------------------


@dataclasses.dataclass
class PairV1:
    layout: CopyLayoutV1
    regions: tuple[Region, Region]
    slave_tx: TxQueueV1
    slave_rx: RxQueueV1
    master_tx: TxQueueV1
    master_rx: RxQueueV1
    rings: dict[tuple[RingType, Role], Ring]


@pytest.fixture
def pair() -> Iterator[PairV1]:
    yield from _pair(log2=3, bsize=256)


def _pair(log2: int, bsize: int, mode: Mode = Mode.ETHERNET) -> Iterator[PairV1]:
    layout = CopyLayoutV1(n_s2m=1, n_m2s=1, log2_ring_size=log2, buffer_size=bsize)
    region = Region.create(layout.size)
    master_region = Region.attach(os.dup(region.fd), layout.size)
    rings: dict[tuple[RingType, Role], Ring] = {}
    for kind in RingType:
        offset = layout.ring_offset(kind, 0)
        ring = Ring(region, offset, log2, version=VERSION_V1)
        ring.init()
        layout.assign_buffers(ring.desc, kind, 0)
        rings[kind, Role.SLAVE] = ring
        rings[kind, Role.MASTER] = Ring.locate(master_region, offset, log2, version=VERSION_V1)
        rings[kind, Role.MASTER].check_cookie("tx ring 0")
    s2m, m2s = RingType.S2M, RingType.M2S
    yield PairV1(
        layout,
        (region, master_region),
        slave_tx=TxQueueV1(Role.SLAVE, rings[s2m, Role.SLAVE], [region], layout=layout, mode=mode),
        slave_rx=RxQueueV1(Role.SLAVE, rings[m2s, Role.SLAVE], [region], layout=layout, mode=mode),
        master_tx=TxQueueV1(Role.MASTER, rings[m2s, Role.MASTER], [master_region], mode=mode),
        master_rx=RxQueueV1(Role.MASTER, rings[s2m, Role.MASTER], [master_region], mode=mode),
        rings=rings,
    )
    region.close()
    master_region.close()


@pytest.mark.parametrize("direction", ["s2m", "m2s"])
def test_v1_frames_cross_with_masked_indices(pair: PairV1, direction: str) -> None:
    tx, rx = (
        (pair.slave_tx, pair.master_rx) if direction == "s2m" else (pair.master_tx, pair.slave_rx)
    )
    assert tx.free() == 7  # 8 slots, one stays empty (libmemif main.c:1374-1375)
    sent: list[bytes] = []
    got: list[bytes] = []
    for round_ in range(5):  # wraps the 8-slot ring several times
        frames = [bytes([round_, i]) * (10 + i) for i in range(4)] + [bytes([round_]) * 600]
        assert tx.send(frames) == 5  # 4 + the 600-byte frame in 3 chained 256-byte buffers
        assert tx.ring.head < 8  # a masked index, not a free-running counter
        sent += frames
        views = rx.recv(64)
        got += [bytes(v) for v in views]
        del views
        assert rx.release() == 0
        assert rx.ring.tail == tx.ring.head
    assert got == sent


def test_v1_the_producer_writes_head_in_both_directions(pair: PairV1) -> None:
    """The 1.0 ownership (5c37ce3e026 message): the master writes head of M2S."""
    pair.master_tx.send([b"m" * 20])
    pair.slave_tx.send([b"s" * 30, b"t" * 30])
    assert pair.rings[RingType.M2S, Role.SLAVE].head == 1
    assert pair.rings[RingType.S2M, Role.SLAVE].head == 2
    assert pair.rings[RingType.M2S, Role.SLAVE].tail == 0
    m2s = pair.rings[RingType.M2S, Role.SLAVE].desc[0]
    assert (m2s["length"], m2s["buffer_length"]) == (20, 256)  # buffer_length kept
    [frame] = pair.slave_rx.recv()
    assert bytes(frame) == b"m" * 20
    del frame
    pair.slave_rx.release()
    assert pair.rings[RingType.M2S, Role.SLAVE].tail == 1  # the slave releases M2S


def test_v1_full_ring_and_oversize(pair: PairV1) -> None:
    assert pair.slave_tx.send([b"x" * 100] * 10) == 7
    assert pair.slave_tx.stats.ring_full == 1
    assert pair.slave_tx.send([b"y"]) == 0
    assert pair.master_rx.available() == 7
    pair.master_rx.recv()
    pair.master_rx.release()
    assert pair.slave_tx.send([b"z" * (7 * 256 + 1)]) == 1  # never fits: dropped, counted
    assert pair.slave_tx.stats.oversize == 1


def test_v1_alloc_and_commit(pair: PairV1) -> None:
    bufs = pair.master_tx.alloc(2, 300)
    assert [(b.capacity, b.length, b.next) for b in bufs] == [
        (256, 256, True), (256, 44, False), (256, 256, True), (256, 44, False)
    ]
    for i, b in enumerate(bufs):
        b.data[: b.length] = bytes([i]) * b.length
    assert pair.master_tx.commit(bufs[:2]) == 2
    [frame] = pair.slave_rx.recv()
    assert bytes(frame) == b"\x00" * 256 + b"\x01" * 44
    with pytest.raises(LocalProtocolError, match="no headroom"):
        pair.slave_rx.release(headroom=10)


def test_v1_bad_indices_from_the_peer(pair: PairV1) -> None:
    pair.rings[RingType.S2M, Role.SLAVE].head = 8  # not an index of an 8-slot ring
    with pytest.raises(RemoteProtocolError, match="head 8 is not an index"):
        pair.master_rx.recv()
    pair.rings[RingType.S2M, Role.MASTER].tail = 100
    with pytest.raises(RemoteProtocolError, match="tail 100 is not an index"):
        pair.slave_tx.send([b"a"])


def test_v1_bad_descriptors_from_the_peer(pair: PairV1) -> None:
    # the slave lies about an M2S buffer: the master must not write outside the region
    pair.rings[RingType.M2S, Role.SLAVE].desc["offset"][0] = pair.layout.size - 10
    with pytest.raises(RemoteProtocolError, match="bad descriptor on ring M2S 0 slot 0"):
        pair.master_tx.send([b"a" * 20])
    assert pair.master_tx.stats.bad_descriptors == 1
    # the master claims more than the buffer holds
    pair.slave_tx.send([b"b" * 10])
    pair.rings[RingType.S2M, Role.SLAVE].desc["length"][0] = 257
    with pytest.raises(RemoteProtocolError, match="length 257"):
        pair.master_rx.recv()


def test_v1_chain_over_every_slot_is_rejected(pair: PairV1) -> None:
    ring = pair.rings[RingType.S2M, Role.SLAVE]
    ring.desc["flags"] = DESC_FLAG_NEXT
    ring.desc["length"] = 10
    ring.head = 7
    with pytest.raises(RemoteProtocolError, match="NEXT set on all 7 slots"):
        pair.master_rx.recv()


def test_v1_queue_needs_a_v1_ring() -> None:
    layout = CopyLayout(n_s2m=1, n_m2s=1, log2_ring_size=3, buffer_size=256)
    with Region.create(layout.size) as region:
        ring = Ring(region, 0, 3)
        with pytest.raises(LocalProtocolError, match=r"1\.0 ring"):
            TxQueueV1(Role.MASTER, ring, [region])


# -- our master and slave over a real socket, every protocol pairing ----------------------------

_PAIRS = [
    (1, 1, VERSION_V1),
    (1, "auto", VERSION_V1),
    ("auto", 1, VERSION_V1),
    ("auto", "auto", VERSION),
    (2, "auto", VERSION),
    ("auto", 2, VERSION),
]


@pytest.mark.parametrize(("master_p", "slave_p", "version"), _PAIRS)
def test_pair_speaks_the_settled_version(
    tmp_path: pathlib.Path, master_p: int | str, slave_p: int | str, version: int
) -> None:
    """The Pythonic layer and the libmemif-style calls work unchanged over either version."""
    sock = str(tmp_path / "v.sock")
    with EventLoop() as loop:
        master = Endpoint("master", sock, loop=loop, protocol=master_p, log2_ring_size=5)
        slave = Endpoint("slave", sock, loop=loop, protocol=slave_p, log2_ring_size=5,
                         buffer_size=1024)
        slave.wait_connected(5)
        assert master.interface.version == slave.interface.version == version
        frames = [bytes([i]) * (60 + 37 * i) for i in range(40)]  # some need 2-3 buffers
        for tx, rx in ((slave, master), (master, slave)):
            got: list[bytes] = []
            for start in range(0, len(frames), 10):
                tx.send(frames[start : start + 10], timeout=2)
                got += rx.recv(10, timeout=2)
            assert got == frames
        # libmemif-style: buffer_alloc / tx_burst / rx_burst / buffer_free
        bufs = slave.interface.buffer_alloc(0, 3, 1500)
        for b in bufs:
            b.data[: b.length] = b"\xab" * b.length
        assert slave.interface.tx_burst(0, bufs) == len(bufs)
        assert master.recv(3, timeout=2) == [b"\xab" * 1500] * 3
        details = slave.details()
        assert details.tx_queues[0].packets == 43
        if version == VERSION_V1:  # over 32 descriptors went by: a masked index wrapped
            assert details.tx_queues[0].head < 32
        else:
            assert details.tx_queues[0].head > 32


@pytest.mark.parametrize(
    ("master_p", "slave_p", "slave_reason"),
    [(2, 1, "incompatible protocol version"), (1, 2, "incompatible protocol version")],
)
def test_pair_across_the_boundary_is_refused_at_hello(
    tmp_path: pathlib.Path, master_p: int, slave_p: int, slave_reason: str
) -> None:
    """H7/H9: a slave that does not speak the master's version refuses HELLO; the master
    survives and still serves a slave that speaks its version."""
    sock = str(tmp_path / "b.sock")
    with EventLoop(reconnect_period=0.1) as loop:
        master = Endpoint("master", sock, loop=loop, protocol=master_p, id=1)
        slave = Endpoint("slave", sock, loop=loop, protocol=slave_p, id=1)
        with pytest.raises(TimeoutError, match=slave_reason):
            slave.wait_connected(0.5)
        assert slave.details().error == slave_reason
        slave.close()
        good = Endpoint("slave", sock, loop=loop, protocol=master_p, id=1)
        good.wait_connected(5)
        good.send([b"alive" * 20])
        assert master.recv(1, timeout=2) == [b"alive" * 20]


def test_a_1_0_ring_the_peer_places_outside_its_region_is_refused() -> None:
    """ADD_RING offsets are u64 in 1.0: one past the region is the peer's error."""
    with Region.create(4096) as region:
        with pytest.raises(RemoteProtocolError, match="beyond region"):
            Ring.locate(region, 2**40, 4, version=VERSION_V1)
        with pytest.raises(RemoteProtocolError, match="beyond region"):
            Ring.locate(region, 4096 - 400, 4, version=VERSION_V1)  # 2.0's 384 bytes would fit


def test_config_takes_only_a_protocol_version() -> None:
    with pytest.raises(LocalProtocolError, match="ProtocolVersion"):
        InterfaceConfig(role=Role.SLAVE, socket="/x", protocol=1)  # type: ignore[arg-type]


def test_a_socket_whose_interfaces_disagree(tmp_path: pathlib.Path) -> None:
    """HELLO advertises the union (1.0..2.0); INIT is checked against the interface it names,
    so each slave reaches the master of its own version and a mismatch is refused."""
    sock = str(tmp_path / "mixed.sock")
    with EventLoop(reconnect_period=0.1) as loop:
        old = Endpoint("master", sock, loop=loop, id=0, protocol=1)
        new = Endpoint("master", sock, loop=loop, id=1, protocol=2)
        wrong = Endpoint("slave", sock, loop=loop, id=0, protocol=2)
        with pytest.raises(TimeoutError, match="unsupported version"):
            wrong.wait_connected(0.5)
        wrong.close()
        for master, version in ((old, 1), (new, 2)):
            slave = Endpoint("slave", sock, loop=loop, id=master.config.id, protocol=version)
            slave.wait_connected(5)
            assert slave.interface.version == version << 8
            slave.send([b"v%d" % version * 30])
            assert master.recv(1, timeout=2) == [b"v%d" % version * 30]


def test_the_bulk_path_is_2_0_only(tmp_path: pathlib.Path) -> None:
    """send_packed/recv_into say so on a 1.0 link instead of misusing its rings."""
    sock = str(tmp_path / "b.sock")
    with EventLoop() as loop:
        Endpoint("master", sock, loop=loop, protocol=1, log2_ring_size=5)
        slave = Endpoint("slave", sock, loop=loop, protocol=1, log2_ring_size=5)
        slave.wait_connected(5)
        data, lengths = np.zeros(64, dtype=np.uint8), np.array([64], dtype=np.int64)
        with pytest.raises(MemifError, match=r"protocol 2\.0's"):
            slave.interface.send_packed(0, data, lengths)
        with pytest.raises(MemifError, match=r"protocol 2\.0's"):
            slave.interface.recv_into(0, data, lengths)
