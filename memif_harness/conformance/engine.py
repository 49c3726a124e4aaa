"""The engine: replay one :class:`~.scenario.Scenario` against a :class:`Target` and judge it.

For a peer that is master the raw peer connects (retrying until the peer says HELLO: a
testpmd server answers nothing useful before its port started), for a peer that is slave it
listens and accepts; then the steps run and the peer's last answer is observed: a DISCONNECT
(with its reason) and close, a close, another message, or silence. The observation is judged
against the implementation's profile entry (:mod:`.profiles`) if it has one, else against the
scenario's reference expectation. Afterwards the peer must still be alive and must still
accept a good connection from our own implementation; a peer that died or stopped serving
fails the scenario whatever it answered (a known deviation if its profile says it breaks).

A target speaks protocol 2.0 or 1.0 (``Target.protocol_version``); the raw peer speaks the
scenario's ``raw_version``. A 1.0 target is judged by ``expect_v1`` and skips scenarios without
one. What the raw peer itself decided (a raw slave refusing HELLO, a raw master refusing a
ring) is recorded in ``Result.raw_said``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import os
import socket
import time
from collections.abc import Callable, Mapping
from typing import Protocol

from ..memif.datapath.ring import Ring
from ..memif.datapath.shm import Region
from ..memif.protocol import wire
from ..memif.protocol.constants import VERSION, RingType, Role
from ..memif.protocol.errors import MemifError
from ..memif.protocol.versions import ProtocolVersion, version_name
from ..memif.runtime.endpoint import Endpoint
from .profiles import BROKEN, ProfileEntry, lookup
from .raw import (
    Answer,
    Closed,
    RawConnection,
    Received,
    Silence,
    SlaveMemory,
    fd_of_kind,
    listener,
)
from .scenario import (
    STAGES,
    Expectation,
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

__all__ = ["Outcome", "Result", "Target", "TargetInterface", "observe", "run"]


class Outcome(enum.Enum):
    PASS = "pass"
    FAIL = "fail"
    DEVIATION = "known deviation"
    NOT_APPLICABLE = "not applicable"
    SKIP = "skip"


@dataclasses.dataclass(frozen=True, slots=True)
class Result:
    """What one scenario did against one implementation in one role."""

    scenario: str
    implementation: str
    outcome: Outcome
    observed: str
    detail: str = ""
    logs: Mapping[str, str] = dataclasses.field(default_factory=dict)
    #: The peer died or stopped serving good connections after the scenario.
    broken: bool = False
    #: What the raw peer itself told the peer (its own refusal), if anything.
    raw_said: str = ""

    def __str__(self) -> str:
        said = f"raw peer: {self.raw_said}; " if self.raw_said else ""
        text = (f"{self.scenario} vs {self.implementation}: {self.outcome.value} "
                f"({said}{self.observed})")
        return f"{text}: {self.detail}" if self.detail else text


class TargetInterface(Protocol):
    """One interface the implementation under test created for a scenario."""

    def close(self) -> None:
        """Remove it."""


class Target(Protocol):
    """The implementation under test, as the engine needs it."""

    #: The profile name: ``vpp``, ``testpmd``, ``python``, ``libmemif``, ``app:NAME``.
    implementation: str
    #: The wire version its interfaces speak: 0x0200, or 0x0100 for a 1.0 peer.
    protocol_version: int

    def open(self, role: Role, socket: str, config: PeerConfig) -> TargetInterface:
        """Create an interface in ``role`` on ``socket``."""

    def alive(self) -> bool:
        """Whether the process or container still runs."""

    def logs(self) -> dict[str, str]:
        """What is worth showing when it misbehaved."""


class SetupError(Exception):
    """The scenario could not reach the point it tests (the good handshake broke)."""


def describe(answer: Received | Closed | Silence) -> str:
    """An observation in one line: ``DISCONNECT 'reason'``, ``ACK``, ``closed``, ``silence``."""
    if isinstance(answer, Closed):
        return "closed" if answer.how == "EOF" else f"closed ({answer.how})"
    if isinstance(answer, Silence):
        return f"silence ({answer.seconds:g} s)"
    msg = answer.message
    if msg is None:
        return f"unparsable {len(answer.data)}-byte datagram ({answer.error})"
    if isinstance(msg, wire.Disconnect):
        return f"DISCONNECT {msg.reason!r}"
    return msg.TYPE.name


def observe(raw: RawConnection, timeout: float = 2.0) -> str:
    """The peer's reaction: after a DISCONNECT, whether it also closed."""
    return observe_after(raw, raw.receive(timeout), timeout)


def observe_after(raw: RawConnection, answer: Answer, timeout: float = 2.0) -> str:
    """:func:`observe` for an answer already read."""
    text = describe(answer)
    if isinstance(answer, Received) and isinstance(answer.message, wire.Disconnect):
        after = raw.receive(timeout)
        text += ", then closed" if isinstance(after, Closed) else f", then {describe(after)}"
    return text


def judge(observed: str, scenario: Scenario, entry: ProfileEntry | None,
          expect: Expectation | None = None) -> tuple[Outcome, str]:
    """Pass/fail/deviation of ``observed`` by the profile entry, else by the reference
    (``expect``, default the scenario's 2.0 one)."""
    if entry is not None:
        if observed == entry.observed:
            if entry.deviation:
                return Outcome.DEVIATION, f"{entry.note} ({entry.source})"
            return Outcome.PASS, entry.note
        return Outcome.FAIL, f"the profile expects {entry.observed!r} ({entry.source})"
    expect = expect or scenario.expect
    refused = observed.startswith(("DISCONNECT", "closed"))
    if isinstance(expect, Keep):
        if not observed.startswith("silence"):
            return Outcome.FAIL, "the reference expects the connection kept"
        return Outcome.PASS, ""
    if isinstance(expect, Refuse):
        if not refused:
            return Outcome.FAIL, "the reference expects the connection refused"
        if expect.reason and expect.reason not in observed:
            return Outcome.FAIL, f"refused, but without the reference reason {expect.reason!r}"
        return Outcome.PASS, ""
    if observed.split(",", maxsplit=1)[0].lower() != expect.answer:
        return Outcome.FAIL, f"the reference expects {expect.answer.upper()}"
    return Outcome.PASS, ""


class _Session:
    """The raw peer's side of a scenario: a raw slave's memory and good handshake, or a raw
    master's good answers (:meth:`serve`)."""

    def __init__(self, raw: RawConnection, config: PeerConfig) -> None:
        self.raw = raw
        self.config = config
        self.memory = SlaveMemory(version=raw.version)
        self.stage = 0
        self._extra_fds: list[int] = []
        #: What the raw peer refused on its own, and the peer's answer to that.
        self.said = ""
        self.observed: str | None = None

    def obey_hello(self, hello: wire.Hello) -> bool:
        """Refuse a HELLO whose range excludes our version, as a real slave does (VPP 1.0
        and 2.0 socket.c:230-232 / 201-203: DISCONNECT, then close); whether it was fine."""
        if hello.min_version <= self.raw.version <= hello.max_version:
            return True
        reason = "incompatible protocol version"
        self.raw.send(wire.Disconnect(reason=reason))
        self.said = (f"DISCONNECT {reason!r} (it speaks {version_name(self.raw.version)}, "
                     f"HELLO offered {version_name(hello.min_version)}.."
                     f"{version_name(hello.max_version)})")
        self.observed = observe(self.raw)
        return False

    def good(self, stage: str) -> tuple[list[tuple[wire.Message, list[int]]], str]:
        mem = self.memory
        if stage == "init":
            return [(wire.Init(version=self.raw.version, id=self.config.id,
                               secret=self.config.secret or "", mode=int(self.config.mode),
                               name="raw-slave"), [])], "ACK"
        if stage == "region":
            msg, fds = mem.region_message()
            return [(msg, fds)], "ACK"
        if stage == "rings":
            return list(mem.ring_messages()), "ACK"
        return [(wire.Connect(if_name="raw0"), [])], "CONNECTED"

    def handshake(self, until: str) -> None:
        while self.stage < len(STAGES) and STAGES[self.stage] != until:
            stage = STAGES[self.stage]
            messages, answer = self.good(stage)
            for msg, fds in messages:
                self.raw.send(msg, fds)
                got = describe(self.raw.receive(5.0))
                if got != answer:
                    raise SetupError(f"the good handshake broke at {stage}: sent "
                                     f"{msg.TYPE.name}, got {got} instead of {answer}")
            self.stage += 1

    def send(self, step: Send) -> None:
        fds = [self._fd(kind) for kind in step.fds]
        self.raw.send(step.data(), fds)
        if step.answer is not None:
            got = describe(self.raw.receive(5.0))
            if got != step.answer:
                raise SetupError(f"a step wanted {step.answer}, got {got}")

    def post(self, step: Post) -> None:
        self.memory.post(RingType.S2M, step.descs)
        if step.kick:
            self.memory.kick(RingType.S2M)

    def set_ring(self, step: SetRing) -> None:
        setattr(self.memory.rings[step.ring, step.index], step.field, step.value)
        if step.kick:
            self.memory.kick(step.ring, step.index)

    def _fd(self, kind: str) -> int:
        if kind == "region":
            return self.memory.region.fd
        if kind == "ring":
            return next(iter(self.memory.efds.values()))
        fd = fd_of_kind(kind)
        self._extra_fds.append(fd)
        return fd

    def serve(self) -> None:
        """:class:`Serve`: a good master of ``raw.version`` answers the peer slave."""
        regions: list[Region] = []
        rings: list[tuple[wire.AddRing, int]] = []
        try:
            self.observed = self._serve(regions, rings)
        finally:
            for region in regions:
                region.close()
            for _, fd in rings:
                os.close(fd)

    def _serve(self, regions: list[Region], rings: list[tuple[wire.AddRing, int]]) -> str:
        while True:
            answer = self.raw.receive(5.0, keep_fds=True)
            msg = answer.message if isinstance(answer, Received) else None
            fds = list(answer.kept) if isinstance(answer, Received) else []
            if isinstance(msg, wire.Init) and msg.version != self.raw.version:
                for fd in fds:
                    os.close(fd)
                self.said = "closed at INIT 'unsupported version' (VPP sends nothing)"
                return f"{describe(answer)} {version_name(msg.version)}"
            if isinstance(msg, wire.AddRegion) and len(fds) == 1:
                try:
                    regions.append(Region.attach(fds.pop(), msg.size, index=msg.index))
                except MemifError as exc:
                    return self._refuse(str(exc), "mapping the region failed")
            elif isinstance(msg, wire.AddRing) and len(fds) == 1:
                rings.append((msg, fds.pop()))
            elif isinstance(msg, wire.Connect):
                return self._connected(regions, rings)
            elif not isinstance(msg, wire.Init) or fds:
                for fd in fds:
                    os.close(fd)
                return describe(answer) if msg is None else observe_after(self.raw, answer)
            self.raw.send(wire.Ack())

    def _connected(self, regions: list[Region], rings: list[tuple[wire.AddRing, int]]) -> str:
        """CONNECT: check every ring's cookie where ADD_RING put it, then CONNECTED."""
        for msg, _ in rings:
            try:
                ring = Ring.locate(regions[msg.region], msg.offset, msg.log2_ring_size,
                                   version=self.raw.version)
                ring.check_cookie(f"tx ring {msg.index}")
            except (IndexError, MemifError) as exc:
                reason = str(exc) if isinstance(exc, MemifError) else "no such region"
                return self._refuse(reason, "memif.c:204-216")
        self.raw.send(wire.Connected(if_name="raw-master0"))
        self.said = (f"CONNECTED after checking {len(rings)} rings of protocol "
                     f"{version_name(self.raw.version)}")
        return observe(self.raw)

    def _refuse(self, reason: str, why: str) -> str:
        self.raw.send(wire.Disconnect(reason=reason))
        self.said = f"DISCONNECT {reason!r} ({why})"
        return observe(self.raw)

    def close(self) -> None:
        self.raw.close()
        self.memory.close()
        for fd in self._extra_fds:
            with contextlib.suppress(OSError):
                os.close(fd)


def _connect_for_hello(path: str, timeout: float,
                       version: int = VERSION) -> tuple[RawConnection, wire.Hello]:
    """Connect to a peer master and read its HELLO; retry while it is not serving yet."""
    deadline = time.monotonic() + timeout
    last = "nothing tried"
    while time.monotonic() < deadline:
        try:
            raw = RawConnection.connect(path)
            raw.version = version
        except OSError as exc:
            last = f"connect: {exc.strerror}"
            time.sleep(0.1)
            continue
        answer = raw.receive(2.0)
        if isinstance(answer, Received) and isinstance(answer.message, wire.Hello):
            return raw, answer.message
        last = describe(answer)
        raw.close()
        time.sleep(0.2)
    raise SetupError(f"no HELLO from the peer master on {path} within {timeout:g} s ({last})")


def _accept(server: socket.socket, timeout: float, version: int = VERSION) -> RawConnection:
    server.settimeout(timeout)
    try:
        conn, _ = server.accept()
    except TimeoutError:
        raise SetupError(f"the peer slave did not connect within {timeout:g} s") from None
    return RawConnection(conn, version)


def _play(scenario: Scenario, raw: RawConnection,
          hello: wire.Hello | None = None) -> tuple[str, str]:
    """Run the steps; the peer's last answer and what the raw peer said on its own."""
    session = _Session(raw, scenario.peer)
    try:
        if hello is not None and scenario.obey_hello and not session.obey_hello(hello):
            assert session.observed is not None
            return session.observed, session.said
        for step in scenario.steps:
            if session.observed is not None:
                break
            if isinstance(step, Handshake):
                session.handshake(step.until)
            elif isinstance(step, Send):
                session.send(step)
            elif isinstance(step, Post):
                session.post(step)
            elif isinstance(step, Serve):
                session.serve()
            else:
                session.set_ring(step)
        observed = session.observed if session.observed is not None else observe(raw)
        return observed, session.said
    finally:
        session.close()


def still_serves(target: Target, role: Role, path: str, config: PeerConfig,
                 timeout: float = 15.0, *, version: int = VERSION) -> str:
    """'' if the peer accepts a good connection from our implementation, else why not (our
    master listens before a peer slave exists: a testpmd client never retries)."""

    def ours() -> Endpoint:
        return Endpoint(role.peer, path, id=config.id, secret=config.secret or "",
                        mode=config.mode.name.lower(), protocol=ProtocolVersion.of(version >> 8))

    endpoint = ours() if role is Role.SLAVE else None
    try:
        iface = target.open(role, path, config)
        try:
            endpoint = endpoint or ours()
            endpoint.wait_connected(timeout)
        except TimeoutError as exc:
            return f"no good connection afterwards: {exc}"
        finally:
            iface.close()
    finally:
        if endpoint is not None:
            endpoint.close()
    return ""


def run(scenario: Scenario, target: Target, workdir: str,
        profile: Callable[[str, Scenario], ProfileEntry | None] = lookup) -> Result:
    """Replay ``scenario`` against ``target`` (sockets under ``workdir``) and judge it."""
    path = os.path.join(workdir, f"{scenario.name}.sock")
    entry = profile(target.implementation, scenario)
    if entry is not None and entry.not_applicable:
        return Result(scenario.name, target.implementation, Outcome.NOT_APPLICABLE,
                      "not run", entry.note)
    expect = scenario.expect if target.protocol_version == VERSION else scenario.expect_v1
    if expect is None:
        return Result(scenario.name, target.implementation, Outcome.NOT_APPLICABLE, "not run",
                      f"a protocol 2.0 scenario; {target.implementation} speaks "
                      f"{version_name(target.protocol_version)}")
    version = scenario.raw_version
    try:
        if scenario.peer_role is Role.MASTER:
            iface = target.open(Role.MASTER, path, scenario.peer)
            try:
                raw, hello = _connect_for_hello(path, 15.0, version)
                observed, said = _play(scenario, raw, hello)
                died = _died(target)
            finally:
                iface.close()
        else:
            with listener(path) as server:
                iface = target.open(Role.SLAVE, path, scenario.peer)
                try:
                    observed, said = _play(scenario, _accept(server, 15.0, version))
                    died = _died(target)
                finally:
                    iface.close()
    except SetupError as exc:
        return Result(scenario.name, target.implementation, Outcome.FAIL, "setup failed",
                      str(exc), target.logs())
    died = died or _died(target)
    broken = "the peer died" if died else _serves(target, scenario, path + ".good")
    if broken:
        deadline = time.monotonic() + 5.0  # one on its way down (a core dump takes time)
        while target.alive() and time.monotonic() < deadline:
            time.sleep(0.1)
        why = broken if target.alive() else "the peer died"
        if entry is not None and (entry.observed == BROKEN or
                                  (entry.may_break and observed == entry.observed)):
            return Result(scenario.name, target.implementation, Outcome.DEVIATION,
                          f"{observed}; {why}", f"{entry.note} ({entry.source})", target.logs(),
                          broken=True, raw_said=said)
        return Result(scenario.name, target.implementation, Outcome.FAIL, observed, why,
                      target.logs(), broken=True, raw_said=said)
    outcome, detail = judge(observed, scenario, entry, expect)
    return Result(scenario.name, target.implementation, outcome, observed, detail,
                  raw_said=said)


def _died(target: Target) -> bool:
    """Whether the peer died; asked before and after its interface is removed (a peer that
    runs a process per interface loses the evidence with it)."""
    time.sleep(0.1)  # a crash takes a moment to show
    return not target.alive()


def _serves(target: Target, scenario: Scenario, path: str) -> str:
    """:func:`still_serves`, with any error of the peer's wrapper as the reason."""
    try:
        return still_serves(target, scenario.peer_role, path, scenario.peer,
                            version=target.protocol_version)
    except Exception as exc:
        return f"no good connection afterwards: {type(exc).__name__}: {exc}"
