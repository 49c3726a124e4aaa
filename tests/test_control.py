"""The sans-I/O control channel: handshakes in memory and an exhaustive state x input sweep."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from memif_harness.memif.protocol import wire
from memif_harness.memif.protocol.config import InterfaceConfig
from memif_harness.memif.protocol.constants import Mode, MsgType, Role
from memif_harness.memif.protocol.control import ControlChannel
from memif_harness.memif.protocol.errors import ErrorCode, LocalProtocolError, RemoteProtocolError
from memif_harness.memif.protocol.events import (
    ConnectRequested,
    Disconnected,
    HelloReceived,
    InitAccepted,
    LinkUp,
)
from memif_harness.memif.protocol.state import TRANSITIONS, State

MASTER_CFG = InterfaceConfig(
    role=Role.MASTER, socket="/x", id=7, secret="abc", interface_name="m-if"
)
SLAVE_CFG = InterfaceConfig(
    role=Role.SLAVE,
    socket="/x",
    id=7,
    secret="abc",
    interface_name="s-if",
    num_s2m_rings=2,
    num_m2s_rings=3,
)


def resolver(config: InterfaceConfig = MASTER_CFG) -> ControlChannel:
    def resolve(id_: int) -> InterfaceConfig:
        if id_ != config.id:
            raise RemoteProtocolError("unmatched interface id")
        return config

    return ControlChannel(Role.MASTER, resolver=resolve, name="test-master")


def efd() -> int:
    return os.eventfd(0)


def shm_items(
    n_s2m: int, n_m2s: int
) -> tuple[list[tuple[wire.AddRegion, int]], list[tuple[wire.AddRing, int]]]:
    regions = [(wire.AddRegion(index=0, size=4096), efd())]
    rings = [
        (wire.AddRing(flags=1 if s2m else 0, index=i, region=0, offset=0, log2_ring_size=4), efd())
        for s2m, n in ((True, n_s2m), (False, n_m2s))
        for i in range(n)
    ]
    return regions, rings


def pump(src: ControlChannel, dst: ControlChannel) -> list[object]:
    """Deliver src's output to dst, duplicating fds as the kernel would."""
    events: list[object] = []
    for data, fd in src.data_to_send():
        events += dst.receive(data, [os.dup(fd)] if fd is not None else [])
    return events


def handshake(pipelined: bool = False) -> Iterator[tuple[str, list[object]]]:
    master = resolver()
    slave = ControlChannel(Role.SLAVE, config=SLAVE_CFG, name="test-slave", pipelined=pipelined)
    yield "hello", pump(master, slave)
    regions, rings = shm_items(2, 3)
    slave.start_handshake(regions, rings)
    for _ in range(20):
        m_events = pump(slave, master)
        if any(isinstance(e, ConnectRequested) for e in m_events):
            yield "connect", m_events
            for _, fd in regions + rings:
                os.close(fd)
            req = next(e for e in m_events if isinstance(e, ConnectRequested))
            for _, fd in (*req.regions, *req.rings):
                os.close(fd)
            yield "master-up", master.confirm_connected()
            yield "slave-up", pump(master, slave)
            assert master.state is State.CONNECTED
            assert slave.state is State.CONNECTED
            return
        yield "master", m_events
        pump(master, slave)
    raise AssertionError("handshake did not finish")


@pytest.mark.parametrize("pipelined", [False, True])
def test_handshake_in_memory(pipelined: bool) -> None:
    all_steps = list(handshake(pipelined))
    steps = dict(all_steps)
    (hello,) = steps["hello"]
    assert isinstance(hello, HelloReceived)
    assert hello.hello.name == "test-master"
    assert (hello.run.num_s2m_rings, hello.run.num_m2s_rings) == (2, 3)
    connect = steps["connect"][-1]
    assert isinstance(connect, ConnectRequested)
    inits = [e for _, events in all_steps for e in events if isinstance(e, InitAccepted)]
    assert [e.init.id for e in inits] == [7]
    assert connect.if_name == "s-if"
    assert [(r.is_s2m, r.index) for r, _ in connect.rings] == [
        (True, 0),
        (True, 1),
        (False, 0),
        (False, 1),
        (False, 2),
    ]
    assert steps["master-up"] == [LinkUp(peer_if_name="s-if")]
    assert steps["slave-up"] == [LinkUp(peer_if_name="m-if")]


def test_slave_sends_one_message_per_ack() -> None:
    master = resolver()
    slave = ControlChannel(Role.SLAVE, config=SLAVE_CFG)
    pump(master, slave)
    regions, rings = shm_items(2, 3)
    slave.start_handshake(regions, rings)
    sent_types = []
    for _ in range(8):
        out = slave.data_to_send()
        assert len(out) == 1, "a real slave sends exactly one message per ACK"
        sent_types.append(wire.parse(out[0][0]).TYPE)
        for data, fd in out:
            master.receive(data, [os.dup(fd)] if fd is not None else [])
        for data, _ in master.data_to_send():
            slave.receive(data)
    assert sent_types == [MsgType.INIT, MsgType.ADD_REGION] + [MsgType.ADD_RING] * 5 + [
        MsgType.CONNECT
    ]
    for _, fd in regions + rings:
        os.close(fd)


def test_ring_counts_negotiated_as_min_of_config_and_peer_max_plus_one() -> None:
    slave = ControlChannel(Role.SLAVE, config=SLAVE_CFG)
    hello = wire.Hello(max_s2m_ring=0, max_m2s_ring=1, max_log2_ring_size=6)
    (event,) = slave.receive(wire.pack(hello))
    assert isinstance(event, HelloReceived)
    assert (event.run.num_s2m_rings, event.run.num_m2s_rings, event.run.log2_ring_size) == (1, 2, 6)


def _init(**kw: object) -> bytes:
    fields: dict[str, object] = {"id": 7, "secret": "abc"} | kw
    return wire.pack(wire.Init(**fields))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("init", "reason"),
    [
        (_init(version=0x0100), "unsupported version"),
        (_init(version=0x0201), "unsupported version"),
        (_init(id=8), "unmatched interface id"),
        (_init(mode=Mode.IP), "mode mismatch"),
        (_init(secret=""), "secret required"),
        (_init(secret="abd"), "incorrect secret"),
        (wire.pack(wire.Ack()), "unexpected message received"),
        (wire.pack(wire.Connect()), "unexpected message received"),
    ],
)
def test_master_rejects_init_with_vpp_reasons(init: bytes, reason: str) -> None:
    master = resolver()
    master.data_to_send()
    with pytest.raises(RemoteProtocolError) as info:
        master.receive(init)
    assert info.value.reason == reason
    assert master.state is State.CLOSED
    [(data, fd)] = master.data_to_send()
    assert fd is None
    assert wire.parse(data) == wire.Disconnect(reason=reason)


def _after_init() -> ControlChannel:
    master = resolver()
    (event,) = master.receive(_init())
    assert isinstance(event, InitAccepted)
    master.data_to_send()
    return master


def _fd_open(fd: int) -> bool:
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


@pytest.mark.parametrize(
    ("msgs", "reason"),
    [
        ([(wire.AddRegion(index=0, size=10), False)], "missing memory region fd"),
        ([(wire.AddRegion(index=1, size=10), True)], "unexpected region index"),
        ([(wire.AddRegion(index=300, size=10), True)], "too many regions"),
        ([(wire.AddRegion(index=0, size=0), True)], "region 0 has size 0"),
        (
            [
                (wire.AddRegion(index=0, size=10), True),
                (wire.AddRing(flags=1, index=0, log2_ring_size=4), False),
            ],
            "missing ring interrupt fd",
        ),
        (
            [
                (wire.AddRegion(index=0, size=10), True),
                (wire.AddRing(flags=1, index=0, log2_ring_size=4, private_hdr_size=1), True),
            ],
            "private headers not supported",
        ),
        (
            [
                (wire.AddRegion(index=0, size=10), True),
                (wire.AddRing(flags=1, index=1, log2_ring_size=4), True),
            ],
            "unexpected ring index",
        ),
        (
            [
                (wire.AddRegion(index=0, size=10), True),
                (wire.AddRing(flags=0, index=256, log2_ring_size=4), True),
            ],
            "too many rings",
        ),
        (
            [
                (wire.AddRegion(index=0, size=10), True),
                (wire.AddRing(flags=0, index=0, region=1, log2_ring_size=4), True),
            ],
            "ring 0 refers to region 1, only 1 regions were added",
        ),
        (
            [
                (wire.AddRegion(index=0, size=10), True),
                (wire.AddRing(flags=0, index=0, log2_ring_size=15), True),
            ],
            "ring 0 log2 size 15 out of range 1..14",
        ),
        (
            [(wire.AddRegion(index=0, size=10), True), (wire.Connect(), False)],
            "CONNECT with 0 S2M and 0 M2S rings; need at least one each",
        ),
        ([(wire.Hello(), False)], "unexpected message HELLO in state await-connect as master"),
    ],
)
def test_master_validates_regions_and_rings(
    msgs: list[tuple[wire.Message, bool]], reason: str
) -> None:
    master = _after_init()
    fds = []
    with pytest.raises(RemoteProtocolError) as info:
        for msg, with_fd in msgs:
            fd = [efd()] if with_fd else []
            fds += fd
            master.receive(wire.pack(msg), fd)
    assert info.value.reason == reason
    assert master.state is State.CLOSED
    assert wire.parse(master.data_to_send()[-1][0]) == wire.Disconnect(reason=reason)
    assert not any(_fd_open(fd) for fd in fds), "every fd received must be closed on failure"


def test_two_fds_on_one_message_are_rejected_and_closed() -> None:
    master = _after_init()
    fds = [efd(), efd()]
    with pytest.raises(RemoteProtocolError, match="carried 2 fds"):
        master.receive(wire.pack(wire.AddRegion(index=0, size=10)), fds)
    assert not any(_fd_open(fd) for fd in fds)


@pytest.mark.parametrize("first", [True, False], ids=["before-init", "after-init"])
def test_truncated_control_message_names_the_real_cause(first: bool) -> None:
    master = resolver() if first else _after_init()
    master.data_to_send()
    with pytest.raises(RemoteProtocolError) as info:
        master.receive_truncated()
    reason = "control message truncated: too many fds"
    assert (info.value.reason, info.value.code) == (reason, ErrorCode.MFMSG)
    assert master.state is State.CLOSED
    assert [wire.parse(d) for d, _ in master.data_to_send()] == [wire.Disconnect(reason=reason)]
    assert master.receive_truncated() == []  # closed: nothing more


def test_disconnect_first_is_not_an_unexpected_message() -> None:
    master = resolver()
    (event,) = master.receive(wire.pack(wire.Disconnect(reason="bye")))
    assert event == Disconnected(local_reason="disconnect received", remote_reason="bye")


def test_disconnect_received_records_remote_reason() -> None:
    master = _after_init()
    (event,) = master.receive(wire.pack(wire.Disconnect(reason="bye")))
    assert event == Disconnected(local_reason="disconnect received", remote_reason="bye")
    assert master.data_to_send() == []


def test_slave_rejects_incompatible_hello() -> None:
    slave = ControlChannel(Role.SLAVE, config=SLAVE_CFG)
    with pytest.raises(RemoteProtocolError, match="incompatible protocol version"):
        slave.receive(wire.pack(wire.Hello(min_version=0x0100, max_version=0x0100)))


def test_local_misuse_is_a_local_error() -> None:
    master = resolver()
    with pytest.raises(LocalProtocolError, match="can't confirm-connect"):
        master.confirm_connected()
    slave = ControlChannel(Role.SLAVE, config=SLAVE_CFG)
    with pytest.raises(LocalProtocolError):
        slave.start_handshake([], [])


# -- exhaustive sweep (h2's test_state_machines, for memif) -------------------------------


def _drive(role: Role, state: State) -> ControlChannel:
    """A channel brought to ``state`` through the real protocol."""
    if role is Role.MASTER:
        ch = resolver()
        ch.data_to_send()
        if state in (State.AWAIT_CONNECT, State.MAPPING, State.CONNECTED):
            ch.receive(_init())
        if state in (State.MAPPING, State.CONNECTED):
            ch.receive(wire.pack(wire.AddRegion(index=0, size=64)), [efd()])
            for flags in (1, 0):
                ch.receive(wire.pack(wire.AddRing(flags=flags, log2_ring_size=1)), [efd()])
            (req,) = ch.receive(wire.pack(wire.Connect()))
            assert isinstance(req, ConnectRequested)
            for _, fd in (*req.regions, *req.rings):
                os.close(fd)
        if state is State.CONNECTED:
            ch.confirm_connected()
    else:
        ch = ControlChannel(Role.SLAVE, config=SLAVE_CFG)
        if state is not State.AWAIT_HELLO:
            ch.receive(wire.pack(wire.Hello()))
        if state in (State.HANDSHAKE, State.AWAIT_CONNECTED, State.CONNECTED):
            ch.start_handshake(
                [], [(wire.AddRing(flags=1), efd())] if state is State.HANDSHAKE else []
            )
        if state in (State.AWAIT_CONNECTED, State.CONNECTED):
            ch.receive(wire.pack(wire.Ack()))
        if state is State.CONNECTED:
            ch.receive(wire.pack(wire.Connected()))
    if state is State.CLOSED:
        ch.disconnect("test")
    ch.data_to_send()
    assert ch.state is state
    return ch


_REACHABLE = {
    Role.MASTER: [
        State.AWAIT_INIT,
        State.AWAIT_CONNECT,
        State.MAPPING,
        State.CONNECTED,
        State.CLOSED,
    ],
    Role.SLAVE: [
        State.AWAIT_HELLO,
        State.PREPARING,
        State.HANDSHAKE,
        State.AWAIT_CONNECTED,
        State.CONNECTED,
        State.CLOSED,
    ],
}
_VALID = {
    MsgType.ACK: wire.Ack(),
    MsgType.HELLO: wire.Hello(),
    MsgType.INIT: wire.Init(id=7, secret="abc"),
    MsgType.ADD_REGION: wire.AddRegion(index=0, size=64),
    MsgType.ADD_RING: wire.AddRing(flags=1, index=0, log2_ring_size=1),
    MsgType.CONNECT: wire.Connect(),
    MsgType.CONNECTED: wire.Connected(),
    MsgType.DISCONNECT: wire.Disconnect(reason="x"),
}


@settings(max_examples=300, deadline=None)
@given(
    role=st.sampled_from(Role),
    data=st.data(),
    msg_type=st.sampled_from(MsgType),
    with_fd=st.booleans(),
)
def test_every_state_and_input_transitions_or_raises_typed_error(
    role: Role, data: st.DataObject, msg_type: MsgType, with_fd: bool
) -> None:
    state = data.draw(st.sampled_from(_REACHABLE[role]))
    ch = _drive(role, state)
    raw = (
        wire.pack(_VALID[msg_type])
        if msg_type in _VALID
        else msg_type.to_bytes(2, "little") + bytes(126)
    )
    fds = [efd()] if with_fd else []
    try:
        events = ch.receive(raw, fds)
    except RemoteProtocolError as exc:
        assert ch.state is State.CLOSED
        assert exc.reason
        assert wire.parse(ch.data_to_send()[-1][0]) == wire.Disconnect(reason=exc.reason)
        assert not any(_fd_open(fd) for fd in fds)
        return
    if state is State.CLOSED:
        assert events == []
        assert not any(_fd_open(fd) for fd in fds)
        return
    assert (role, state, msg_type) in TRANSITIONS
    expected = TRANSITIONS[(role, state, msg_type)]
    assert ch.state in {expected, State.AWAIT_CONNECTED, State.CLOSED}
    for event in events:
        if isinstance(event, ConnectRequested):
            for _, fd in (*event.regions, *event.rings):
                os.close(fd)
