"""memif_harness.conformance.capture: fd facts, transcripts, and both handshakes played
against our own implementation (the labelled stand-in for a peer here)."""

from __future__ import annotations

import fcntl
import os
import socket
import uuid
from collections.abc import Iterator

import pytest

from memif_harness.conformance.capture import (
    CaptureError,
    Transcript,
    accept_slave,
    connect_to_master,
    fd_facts,
    play_master,
    play_slave,
)
from memif_harness.conformance.raw import (
    Closed,
    RawConnection,
    Silence,
    SlaveMemory,
    fd_of_kind,
    listener,
)
from memif_harness.memif import EventLoop, InterfaceConfig, Role
from memif_harness.memif.datapath.shm import Region
from memif_harness.memif.protocol import wire


@pytest.fixture
def sock() -> str:
    return f"@mh-capture-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def loop() -> Iterator[EventLoop]:
    with EventLoop(app_name="ours", reconnect_period=0.05) as running:
        yield running


@pytest.mark.parametrize(("kind", "facts"), [
    ("memfd", ("memfd", 4096, 0)),
    ("memfd-unsealable", ("memfd", 4096, fcntl.F_SEAL_SEAL)),
    ("eventfd", ("eventfd", 0, 0)),
])
def test_fd_facts(kind: str, facts: tuple[str, int, int]) -> None:
    fd = fd_of_kind(kind)
    try:
        found = fd_facts(fd)
    finally:
        os.close(fd)
    assert (found.kind, found.size, found.seals) == facts


def test_fd_facts_of_a_region_show_its_seals() -> None:
    region = Region.create(8192)
    try:
        assert fd_facts(region.fd).seals & fcntl.F_SEAL_SHRINK
    finally:
        region.close()


def test_fd_facts_of_a_pipe_names_it() -> None:
    fd = fd_of_kind("pipe")
    try:
        assert fd_facts(fd).kind.startswith("pipe:")
    finally:
        os.close(fd)


def test_play_slave_against_our_master(loop: EventLoop, sock: str) -> None:
    loop.memif.create(InterfaceConfig(role=Role.MASTER, socket=sock, interface_name="m0"))
    raw, transcript = connect_to_master(sock, 5.0)
    memory = SlaveMemory(n_s2m=2)
    with raw:
        play_slave(raw, transcript, wire.Init(name="raw"), memory, wire.Connect(if_name="s0"))
    memory.close()
    assert transcript.types() == ["HELLO", "ACK", "ACK", "ACK", "ACK", "ACK", "CONNECTED"]
    assert transcript.first(wire.Hello)[0].name == "ours"
    assert transcript.first(wire.Connected)[0].if_name == "m0"
    assert all(c.fds == () for c in transcript.received)


def test_play_master_against_our_slave(loop: EventLoop, sock: str) -> None:
    with listener(sock) as server:
        loop.memif.create(InterfaceConfig(role=Role.SLAVE, socket=sock, num_m2s_rings=2,
                                          interface_name="s0"))
        with accept_slave(server, 5.0) as raw:
            transcript = play_master(raw, wire.Hello(), wire.Connected(if_name="m0"))
    assert transcript.types() == ["INIT", "ADD_REGION", "ADD_RING", "ADD_RING", "ADD_RING",
                                  "CONNECT"]
    region, captured = transcript.first(wire.AddRegion)
    assert [(f.kind, f.size) for f in captured.fds] == [("memfd", region.size)]
    assert [f.kind for _, c in transcript.every(wire.AddRing) for f in c.fds] == ["eventfd"] * 3


def test_a_refusal_is_a_capture_error_naming_it(loop: EventLoop, sock: str) -> None:
    loop.memif.create(InterfaceConfig(role=Role.MASTER, socket=sock, id=1))
    raw, transcript = connect_to_master(sock, 5.0)
    memory = SlaveMemory()
    with raw, pytest.raises(CaptureError, match=r"expected ACK, got DISCONNECT "
                            r"'unmatched interface id' \(after \['HELLO'\]\)"):
        play_slave(raw, transcript, wire.Init(id=2), memory, wire.Connect())
    memory.close()
    disconnect, captured = transcript.first(wire.Disconnect)
    assert disconnect.reason == "unmatched interface id"
    assert captured.fds == ()
    with pytest.raises(CaptureError, match=r"the peer sent no CONNECTED; it sent"):
        transcript.first(wire.Connected)


def test_silence_and_close_are_capture_errors() -> None:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    raw = RawConnection(a)
    transcript = Transcript()
    with pytest.raises(CaptureError, match=r"expected HELLO, got nothing within 0\.05 s"):
        transcript.expect(raw, wire.Hello, 0.05)
    b.close()
    with pytest.raises(CaptureError, match=r"expected HELLO, got a close \(EOF\)"):
        transcript.expect(raw, wire.Hello, 1.0)
    raw.close()
    assert transcript.received == []


def test_no_master_is_a_capture_error(sock: str) -> None:
    with pytest.raises(CaptureError, match="no HELLO from the peer master"):
        connect_to_master(sock, 0.3)


def test_drain_keeps_everything_until_the_close(loop: EventLoop, sock: str) -> None:
    loop.memif.create(InterfaceConfig(role=Role.MASTER, socket=sock, id=1))
    raw, transcript = connect_to_master(sock, 5.0)
    with raw:
        raw.send(wire.Init(id=2))
        end = transcript.drain(raw, 2.0)
    assert isinstance(end, Closed)
    assert transcript.types() == ["HELLO", "DISCONNECT"]


def test_drain_ends_on_silence(loop: EventLoop, sock: str) -> None:
    loop.memif.create(InterfaceConfig(role=Role.MASTER, socket=sock))
    raw, transcript = connect_to_master(sock, 5.0)
    with raw:
        end = transcript.drain(raw, 0.2)
    assert end == Silence(0.2)
    assert transcript.types() == ["HELLO"]


def test_drain_refuses_an_unparsable_datagram() -> None:
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    b.send(b"\x01\x00" * 10)
    with RawConnection(a) as raw, pytest.raises(CaptureError, match=r"got an unparsable"):
        Transcript().drain(raw, 1.0)
    b.close()
