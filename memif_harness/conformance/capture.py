"""Capture what a peer puts on the wire during a good handshake, field by field.

The raw peer (:mod:`.raw`) plays the other role the good way: as slave it sends INIT, the
region, the rings and CONNECT, one per ACK (:func:`play_slave`); as master it sends HELLO,
ACKs every message and answers CONNECT with CONNECTED (:func:`play_master`). Every datagram
the peer sends is kept in a :class:`Transcript` as a :class:`Captured`: its bytes, the parsed
message and, for each fd that came with it, what the fd is (:class:`FdFacts`), read before
the fd is closed. Nothing here judges the fields: the tests do.
"""

from __future__ import annotations

import dataclasses
import fcntl
import os
import socket
import time
from typing import TypeVar

from ..memif.protocol import wire
from .raw import Closed, RawConnection, Received, Silence, SlaveMemory

__all__ = [
    "CaptureError",
    "Captured",
    "FdFacts",
    "Transcript",
    "accept_slave",
    "connect_to_master",
    "fd_facts",
    "play_master",
    "play_slave",
]

M = TypeVar("M", bound=wire.Message)


@dataclasses.dataclass(frozen=True, slots=True)
class FdFacts:
    """What an fd the peer passed is: ``memfd``, ``eventfd`` or the ``/proc`` link of
    anything else; its ``fstat`` size; its ``F_GET_SEALS`` bits (0 if it cannot have any)."""

    kind: str
    size: int
    seals: int


def fd_facts(fd: int) -> FdFacts:
    """:class:`FdFacts` of an open ``fd``."""
    target = os.readlink(f"/proc/self/fd/{fd}")
    if target == "anon_inode:[eventfd]":
        kind = "eventfd"
    elif target.startswith("/memfd:"):
        kind = "memfd"
    else:
        kind = target
    try:
        seals = fcntl.fcntl(fd, fcntl.F_GET_SEALS)
    except OSError:  # not shared memory
        seals = 0
    return FdFacts(kind, os.fstat(fd).st_size, seals)


@dataclasses.dataclass(frozen=True, slots=True)
class Captured:
    """One datagram the peer sent: its bytes, the message, its fds' facts."""

    data: bytes
    message: wire.Message
    fds: tuple[FdFacts, ...]


class CaptureError(Exception):
    """The peer left the good handshake: what came instead, after what it sent before."""


@dataclasses.dataclass
class Transcript:
    """Every datagram the peer sent on one connection, in order."""

    received: list[Captured] = dataclasses.field(default_factory=list)

    def every(self, cls: type[M]) -> list[tuple[M, Captured]]:
        """Each message of type ``cls`` with its capture, in order."""
        return [(c.message, c) for c in self.received if isinstance(c.message, cls)]

    def first(self, cls: type[M]) -> tuple[M, Captured]:
        """The first message of type ``cls``; :class:`CaptureError` if there is none."""
        found = self.every(cls)
        if not found:
            raise CaptureError(f"the peer sent no {cls.TYPE.name}; it sent {self.types()}")
        return found[0]

    def types(self) -> list[str]:
        """The type names of what was received, in order."""
        return [c.message.TYPE.name for c in self.received]

    def expect(self, raw: RawConnection, cls: type[M], timeout: float = 5.0) -> M:
        """Receive the next datagram, keep it, and return it if it is a ``cls``."""
        before = self.types()
        answer = self._take(raw, timeout)
        if isinstance(answer, Received) and isinstance(answer.message, cls):
            return answer.message
        wanted = "a message" if cls is wire.Message else cls.TYPE.name
        raise CaptureError(f"expected {wanted}, got {_describe(answer)} (after {before})")

    def drain(self, raw: RawConnection, timeout: float = 3.0) -> Closed | Silence:
        """Keep everything the peer sends until it closes or is silent for ``timeout``
        seconds (which of the two is returned); an unparsable datagram is a
        :class:`CaptureError`."""
        while True:
            before = self.types()
            answer = self._take(raw, timeout)
            if isinstance(answer, Closed | Silence):
                return answer
            if answer.message is None:
                raise CaptureError(f"got {_describe(answer)} (after {before})")

    def _take(self, raw: RawConnection, timeout: float) -> Received | Closed | Silence:
        """The next answer; a message is kept with its fds' facts, the fds are closed."""
        answer, fds = raw.receive_fds(timeout)
        try:
            facts = tuple(fd_facts(fd) for fd in fds)
        finally:
            for fd in fds:
                os.close(fd)
        if isinstance(answer, Received) and answer.message is not None:
            self.received.append(Captured(answer.data, answer.message, facts))
        return answer


def _describe(answer: Received | Closed | Silence) -> str:
    if isinstance(answer, Closed):
        return f"a close ({answer.how})"
    if isinstance(answer, Silence):
        return f"nothing within {answer.seconds:g} s"
    if answer.message is None:
        return f"an unparsable datagram ({answer.error})"
    return _describe_message(answer.message)


def _describe_message(msg: wire.Message) -> str:
    if isinstance(msg, wire.Disconnect):
        return f"DISCONNECT {msg.reason!r}"
    return msg.TYPE.name


def connect_to_master(path: str, timeout: float = 15.0) -> tuple[RawConnection, Transcript]:
    """Connect to the peer master at ``path`` and capture its HELLO; retry while the peer is
    not serving yet (a testpmd server accepts before its port started)."""
    deadline = time.monotonic() + timeout
    last = "nothing tried"
    while time.monotonic() < deadline:
        try:
            raw = RawConnection.connect(path)
        except OSError as exc:
            last = f"connect: {exc.strerror}"
            time.sleep(0.1)
            continue
        transcript = Transcript()
        try:
            transcript.expect(raw, wire.Hello, 2.0)
        except CaptureError as exc:
            last = str(exc)
            raw.close()
            time.sleep(0.2)
            continue
        return raw, transcript
    raise CaptureError(f"no HELLO from the peer master on {path} within {timeout:g} s ({last})")


def play_slave(raw: RawConnection, transcript: Transcript, init: wire.Init,
               memory: SlaveMemory, connect: wire.Connect, *, timeout: float = 5.0) -> None:
    """After the peer master's HELLO: INIT, ADD_REGION, every ADD_RING, each answered by an
    ACK, then CONNECT, answered by CONNECTED; everything the peer sends goes to ``transcript``."""
    region, region_fds = memory.region_message()
    for msg, fds in [(init, []), (region, region_fds), *memory.ring_messages()]:
        raw.send(msg, fds)
        transcript.expect(raw, wire.Ack, timeout)
    raw.send(connect)
    transcript.expect(raw, wire.Connected, timeout)


def accept_slave(server: socket.socket, timeout: float = 15.0) -> RawConnection:
    """The peer slave's connection on our listening ``server``."""
    server.settimeout(timeout)
    try:
        conn, _ = server.accept()
    except TimeoutError:
        raise CaptureError(f"the peer slave did not connect within {timeout:g} s") from None
    return RawConnection(conn)


def play_master(raw: RawConnection, hello: wire.Hello, connected: wire.Connected, *,
                timeout: float = 5.0) -> Transcript:
    """Send ``hello`` to the peer slave, ACK its INIT, every ADD_REGION and ADD_RING, answer
    its CONNECT with ``connected``; returns everything it sent."""
    transcript = Transcript()
    raw.send(hello)
    transcript.expect(raw, wire.Init, timeout)
    raw.send(wire.Ack())
    while True:
        msg = transcript.expect(raw, wire.Message, timeout)
        if isinstance(msg, wire.Connect):
            raw.send(connected)
            return transcript
        if not isinstance(msg, wire.AddRegion | wire.AddRing):
            raise CaptureError(f"expected ADD_REGION, ADD_RING or CONNECT, got "
                               f"{_describe_message(msg)} (after {transcript.types()[:-1]})")
        raw.send(wire.Ack())
