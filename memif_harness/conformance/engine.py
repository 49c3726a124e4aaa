"""The engine: replay one :class:`~.scenario.Scenario` against a :class:`Target` and judge it.

For a peer that is master the raw peer connects (retrying until the peer says HELLO: a
testpmd server answers nothing useful before its port started), for a peer that is slave it
listens and accepts; then the steps run and the peer's last answer is observed: a DISCONNECT
(with its reason) and close, a close, another message, or silence. Traffic, rival and serve
steps each add a clause before it (``ARP answered, 4/4 echo replies | silence``). The
observation is judged
against the implementation's profile entry (:mod:`.profiles`) if it has one, else against the
scenario's reference expectation. Afterwards the peer must still be alive and must still
accept a good connection from our own implementation and echo pings over it; a peer that
died or stopped serving fails the scenario whatever it answered (a known deviation if its
profile says it breaks), and so does one whose process (where it is visible) kept more fds or
memory mappings than it had before the scenario.

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

from ..memif.datapath.layout import ring_bytes
from ..memif.datapath.ring import Ring
from ..memif.datapath.shm import Region
from ..memif.protocol import wire
from ..memif.protocol.constants import VERSION, RingType, Role
from ..memif.protocol.errors import LocalProtocolError, MemifError
from ..memif.protocol.versions import ProtocolVersion, version_name
from ..memif.runtime.endpoint import Endpoint
from .capture import CaptureError, accept_slave, connect_to_master
from .echo import Addresses, EchoTally, echo_requests, ping_through
from .profiles import BROKEN, ProfileEntry, lookup
from .raw import (
    Answer,
    Closed,
    RawConnection,
    Received,
    RingFull,
    Silence,
    SlaveMemory,
    fd_of_kind,
    listener,
)
from .scenario import (
    STAGES,
    Exactly,
    Expectation,
    Handshake,
    Keep,
    Kick,
    PeerConfig,
    Ping,
    Post,
    Records,
    Refill,
    Refuse,
    Repeat,
    Rival,
    Scenario,
    Send,
    Serve,
    SetRing,
)

__all__ = ["CLAUSE", "Outcome", "Result", "Target", "TargetInterface", "observe", "run"]

#: Between the clauses of an observation.
CLAUSE = " | "
#: ARP requests a Ping step sends, half a second apart, before it says "ARP unanswered".
_ARP_TRIES = 3
#: How the observation ends when the peer's process kept resources after a scenario.
_KEPT = "peer process kept more "


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

    def details(self) -> Mapping[str, object]:
        """What the peer reports: ``link_up`` and ``remote_reason`` (None: not reported)."""

    def close(self) -> None:
        """Remove it."""


class Target(Protocol):
    """The implementation under test, as the engine needs it."""

    #: The profile name: ``vpp``, ``testpmd``, ``python``, ``libmemif``, ``app:NAME``.
    implementation: str
    #: Seconds without an answer that count as the peer keeping quiet.
    quiet: float
    #: The wire version its interfaces speak: 0x0200, or 0x0100 for a 1.0 peer.
    protocol_version: int

    def open(self, role: Role, socket: str, config: PeerConfig) -> TargetInterface:
        """Create an interface in ``role`` on ``socket``; with ``config.ip``, one that
        answers ARP and ICMP echo on that address."""

    def alive(self) -> bool:
        """Whether the process or container still runs."""

    def answers_icmp(self) -> bool:
        """Whether an interface opened with an address answers ARP and ICMP echo there."""

    def resources(self) -> tuple[int, int] | None:
        """Open fds and memory mappings of the peer's process, None where not visible."""

    def logs(self) -> dict[str, str]:
        """What is worth showing when it misbehaved."""


class SetupError(Exception):
    """The scenario could not reach the point it tests (the good handshake broke)."""


class _Ended(Exception):
    """The peer answered a step otherwise than it wanted: the scenario ends with ``answer``."""

    def __init__(self, answer: Answer) -> None:
        super().__init__(describe(answer))
        self.answer = answer


def describe(answer: Received | Closed | Silence) -> str:
    """An observation in one line: ``DISCONNECT 'reason'``, ``ACK``, ``closed``, ``silence``
    (nothing within the target's :attr:`Target.quiet` seconds)."""
    if isinstance(answer, Closed):
        return "closed" if answer.how == "EOF" else f"closed ({answer.how})"
    if isinstance(answer, Silence):
        return "silence"
    msg = answer.message
    if msg is None:
        return f"unparsable {len(answer.data)}-byte datagram ({answer.error})"
    if isinstance(msg, wire.Disconnect):
        return f"DISCONNECT {msg.reason!r}"
    return msg.TYPE.name


def observe(raw: RawConnection, timeout: float, answer: Answer | None = None) -> str:
    """The peer's reaction (the next answer, or ``answer`` already read): after a
    DISCONNECT, whether it also closed."""
    answer = raw.receive(timeout) if answer is None else answer
    text = describe(answer)
    if isinstance(answer, Received) and isinstance(answer.message, wire.Disconnect):
        after = raw.receive(timeout)
        text += ", then closed" if isinstance(after, Closed) else f", then {describe(after)}"
    return text


def judge(observed: str, scenario: Scenario, entry: ProfileEntry | None,
          expect: Expectation | None = None) -> tuple[Outcome, str]:
    """Pass/fail/deviation of ``observed`` by the profile entry, else by the reference
    (``expect``, default the scenario's 2.0 one), which judges the last clause, the peer's
    final answer, unless it is :class:`Exactly`; a peer process that kept fds or mappings
    fails unless its profile says so."""
    if entry is not None:
        if entry.matches(observed):
            if entry.deviation:
                return Outcome.DEVIATION, f"{entry.note} ({entry.source})"
            return Outcome.PASS, entry.note
        return Outcome.FAIL, f"the profile expects {entry.observed!r} ({entry.source})"
    head, _, last = observed.rpartition(CLAUSE)
    if last.startswith(_KEPT):
        outcome, detail = judge(head, scenario, None, expect)
        if outcome is not Outcome.PASS:
            return outcome, detail
        return Outcome.FAIL, f"the {last} than before the scenario"
    expect = expect or scenario.expect
    if isinstance(expect, Exactly):
        if observed != expect.observed:
            return Outcome.FAIL, f"the reference expects {expect.observed!r}"
        return Outcome.PASS, ""
    final = observed.rsplit(CLAUSE, maxsplit=1)[-1]
    if isinstance(expect, Records):
        want = "peer: link down" + ("" if expect.reason is None
                                    else f", remote reason {expect.reason!r}")
        if expect.reason is not None and final.endswith(_UNREPORTED):
            return Outcome.NOT_APPLICABLE, "the peer does not report the reason it received"
        if final != want:
            return Outcome.FAIL, f"the reference expects {want!r}"
        return Outcome.PASS, ""
    refused = final.startswith(("DISCONNECT", "closed"))
    if isinstance(expect, Keep):
        if not final.startswith("silence"):
            return Outcome.FAIL, "the reference expects the connection kept"
        return Outcome.PASS, ""
    if isinstance(expect, Refuse):
        if not refused:
            return Outcome.FAIL, "the reference expects the connection refused"
        if expect.reason and expect.reason not in final:
            return Outcome.FAIL, f"refused, but without the reference reason {expect.reason!r}"
        return Outcome.PASS, ""
    if final.split(",", maxsplit=1)[0].lower() != expect.answer:
        return Outcome.FAIL, f"the reference expects {expect.answer.upper()}"
    return Outcome.PASS, ""


class _Session:
    """The raw peer's side of a scenario: a raw slave's memory, good handshake and steps, or
    a raw master's good answers (:meth:`serve`)."""

    def __init__(self, raw: RawConnection, config: PeerConfig, path: str, quiet: float) -> None:
        self.raw = raw
        self.config = config
        self.path = path
        self.quiet = quiet
        self.memory = SlaveMemory(version=raw.version)
        self.stage = 0
        #: How M2S buffers are posted again after they were read (the last :class:`Refill`).
        self.refill_shape = Refill()
        self.clauses: list[str] = []
        #: What the raw peer refused on its own.
        self.said = ""
        self._extra_fds: list[int] = []

    def obey_hello(self, hello: wire.Hello) -> None:
        """Refuse a HELLO whose range excludes our version, as a real slave does (VPP 1.0
        and 2.0 socket.c:230-232 / 201-203: DISCONNECT, then close)."""
        if hello.min_version <= self.raw.version <= hello.max_version:
            return
        reason = "incompatible protocol version"
        self.raw.send(wire.Disconnect(reason=reason))
        self.said = (f"DISCONNECT {reason!r} (it speaks {version_name(self.raw.version)}, "
                     f"HELLO offered {version_name(hello.min_version)}.."
                     f"{version_name(hello.max_version)})")
        raise _Ended(self.raw.receive(self.quiet))

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

    def handshake(self, step: Handshake) -> None:
        stages = []
        while self.stage < len(STAGES) and STAGES[self.stage] != step.until:
            stages.append(STAGES[self.stage])
            self.stage += 1
        sent = [(stage, msg, fds, answer) for stage in stages
                for msgs, answer in [self.good(stage)] for msg, fds in msgs]
        if step.pipelined:
            for _stage, msg, fds, _answer in sent:
                self.raw.send(msg, fds)
            answers = []
            for _stage, _msg, _fds, answer in sent:
                answers.append(describe(self.raw.receive(5.0)))
                if answers[-1] != answer:
                    break
            self.clauses.append("pipelined: " + ", ".join(answers))
        else:
            for stage, msg, fds, answer in sent:
                self.raw.send(msg, fds)
                got = describe(self.raw.receive(5.0))
                if got != answer:
                    raise SetupError(f"the good handshake broke at {stage}: sent "
                                     f"{msg.TYPE.name}, got {got} instead of {answer}")
        if step.refill and self.stage == len(STAGES):
            self.memory.refill()

    def send(self, step: Send) -> None:
        fds = [self._fd(kind) for kind in step.fds]
        self.raw.send(step.data(), fds)
        if step.answer is not None:
            answer = self.raw.receive(5.0)
            if describe(answer) != step.answer:
                raise _Ended(answer)

    def repeat(self, step: Repeat) -> None:
        acked = 0
        try:
            for n in range(step.count):
                message = dataclasses.replace(step.message, **{step.field: step.start + n})
                self.send(Send(message, fds=step.fds, answer="ACK"))
                acked += 1
        finally:
            self.clauses.append(f"{acked} of {step.count} {step.message.TYPE.name} ACKed")

    def post(self, step: Post) -> None:
        self.memory.post(RingType.S2M, step.descs)
        if step.kick:
            self.memory.kick(RingType.S2M)

    def set_ring(self, step: SetRing) -> None:
        setattr(self.memory.rings[step.ring, step.index], step.field, step.value)
        if step.kick:
            self.memory.kick(step.ring, step.index)

    def refill(self, step: Refill) -> None:
        self.refill_shape = dataclasses.replace(step, count=None)
        self.memory.refill(step.count, step.capacity, step.region or 0)

    def ping(self, step: Ping) -> None:
        if self.config.ip is None:
            raise SetupError("a Ping step needs the peer's address (PeerConfig.ip)")
        addresses = Addresses.of(self.config.ip)
        self.memory.interrupts(RingType.M2S)
        arp = EchoTally.of([], addresses)
        clause = ""
        for _ in range(_ARP_TRIES):  # as a host does: a peer still starting may miss one
            clause = self._exchange([addresses.arp_request()], arp, step,
                                    lambda: arp.peer_mac is not None, min(step.timeout, 0.5))
            if clause or arp.peer_mac is not None:
                break
        clause = clause or ("ARP answered" if arp.peer_mac else "ARP unanswered")
        requests = echo_requests(addresses, step.count, step.size, arp.peer_mac or b"\xff" * 6)
        echo = EchoTally.of(requests, addresses)
        clause += ", " + (self._exchange(requests, echo, step, lambda: echo.complete,
                                         step.timeout) or echo.summary())
        if step.interrupts:
            signalled = self.memory.interrupts(RingType.M2S)
            clause += ", M2S signalled" if signalled else ", M2S not signalled"
        self.clauses.append(clause)

    def _exchange(self, frames: list[bytes], tally: EchoTally, step: Ping,
                  done: Callable[[], bool], timeout: float) -> str:
        """Post ``frames``, then read M2S into ``tally`` until ``done`` or ``timeout``; ''
        or why the frames could not be posted."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.memory.post_frames(frames, step.desc_bytes)
                break
            except RingFull as exc:
                if time.monotonic() > deadline:
                    return f"S2M never freed ({exc})"
                time.sleep(0.005)
        if step.kick:
            self.memory.kick(RingType.S2M)
        while not done() and time.monotonic() < deadline:
            tally.add(self.memory.collect())
            if step.recycle:
                shape = self.refill_shape
                self.memory.refill(None, shape.capacity, shape.region or 0)
            time.sleep(0.002)
        return ""

    def kick(self, _step: Kick) -> None:
        self.memory.kick(RingType.S2M)

    def rival(self, step: Rival) -> None:
        other, _ = _connect_for_hello(self.path, 5.0)
        try:
            other.send(step.message)
            answer = observe(other, self.quiet)
        finally:
            other.close()
        first = self.raw.receive(0.5)
        kept = "kept" if isinstance(first, Silence) else describe(first)
        self.clauses.append(f"rival: {answer}; first {kept}")

    def serve(self, _step: Serve) -> None:
        """:class:`Serve`: a good master of ``raw.version`` answers the peer slave, and on
        CONNECT maps its regions and checks every ring's cookie; the clause says what the
        slave built."""
        regions: list[Region] = []
        rings: list[tuple[wire.AddRing, int]] = []
        try:
            self._serve(regions, rings)
        finally:
            for region in regions:
                region.close()
            for _, fd in rings:
                os.close(fd)

    def _serve(self, regions: list[Region], rings: list[tuple[wire.AddRing, int]]) -> None:
        sizes: dict[int, int] = {}
        while True:
            answer, fds = self.raw.receive_fds(5.0)
            msg = answer.message if isinstance(answer, Received) else None
            if isinstance(msg, wire.Init) and msg.version != self.raw.version:
                for fd in fds:
                    os.close(fd)
                self.said = "closed at INIT 'unsupported version' (VPP sends nothing)"
                self.clauses.append(f"{describe(answer)} {version_name(msg.version)}")
                raise _Ended(self.raw.receive(self.quiet))
            if isinstance(msg, wire.AddRegion) and len(fds) == 1:
                assert isinstance(answer, Received)
                sizes[msg.index] = min((msg.size, *answer.fd_sizes))
                try:
                    regions.append(Region.attach(fds.pop(), msg.size, index=msg.index))
                except MemifError as exc:
                    self._refuse(str(exc), "mapping the region failed")
            elif isinstance(msg, wire.AddRing) and len(fds) == 1:
                rings.append((msg, fds.pop()))
            elif isinstance(msg, wire.Connect):
                self.clauses.append(_rings_built([ring for ring, _ in rings], sizes))
                self._connected(regions, rings)
                return
            elif not isinstance(msg, wire.Init) or fds:
                for fd in fds:
                    os.close(fd)
                raise _Ended(answer)
            self.raw.send(wire.Ack())

    def _connected(self, regions: list[Region], rings: list[tuple[wire.AddRing, int]]) -> None:
        """CONNECT: check every ring's cookie where ADD_RING put it, then CONNECTED."""
        for msg, _ in rings:
            try:
                ring = Ring.locate(regions[msg.region], msg.offset, msg.log2_ring_size,
                                   version=self.raw.version)
                ring.check_cookie(f"tx ring {msg.index}")
            except (IndexError, MemifError) as exc:
                reason = str(exc) if isinstance(exc, MemifError) else "no such region"
                self._refuse(reason, "memif.c:204-216")
        self.raw.send(wire.Connected(if_name="raw-master0"))

    def _refuse(self, reason: str, why: str) -> None:
        self.raw.send(wire.Disconnect(reason=reason))
        self.said = f"DISCONNECT {reason!r} ({why})"
        raise _Ended(self.raw.receive(self.quiet))

    def _fd(self, kind: str) -> int:
        if kind == "region":
            return self.memory.region.fd
        if kind == "ring":
            return next(iter(self.memory.efds.values()))
        fd = fd_of_kind(kind)
        self._extra_fds.append(fd)
        return fd

    def close(self) -> None:
        self.raw.close()
        self.memory.close()
        for fd in self._extra_fds:
            with contextlib.suppress(OSError):
                os.close(fd)


def _rings_built(rings: list[wire.AddRing], regions: dict[int, int]) -> str:
    """``1 S2M and 1 M2S rings of 2**10, each in its region`` (or how many are not)."""
    s2m = sum(ring.is_s2m for ring in rings)
    sizes = "/".join(str(n) for n in sorted({ring.log2_ring_size for ring in rings}))
    outside = 0
    for ring in rings:
        try:
            end = ring.offset + ring_bytes(ring.log2_ring_size)
        except LocalProtocolError:  # log2 above 14: no such ring
            end = None
        outside += end is None or ring.region not in regions or end > regions[ring.region]
    where = "each in its region" if not outside else f"{outside} not inside their region"
    return f"{s2m} S2M and {len(rings) - s2m} M2S rings of 2**{sizes}, {where}"


def _connect_for_hello(path: str, timeout: float,
                       version: int = VERSION) -> tuple[RawConnection, wire.Hello]:
    """Connect to a peer master and read its HELLO; retry while it is not serving yet. The
    connection then speaks ``version``."""
    try:
        raw, transcript = connect_to_master(path, timeout)
    except CaptureError as exc:
        raise SetupError(str(exc)) from None
    raw.version = version
    hello = transcript.received[0].message
    assert isinstance(hello, wire.Hello)
    return raw, hello


def _accept(server: socket.socket, timeout: float, version: int = VERSION) -> RawConnection:
    try:
        raw = accept_slave(server, timeout)
    except CaptureError as exc:
        raise SetupError(str(exc)) from None
    raw.version = version
    return raw


def _play(scenario: Scenario, raw: RawConnection, path: str, quiet: float,
          hello: wire.Hello | None = None) -> tuple[str, str]:
    """Run the steps; the observation and what the raw peer said on its own."""
    session = _Session(raw, scenario.peer, path, quiet)
    try:
        try:
            if hello is not None and scenario.obey_hello:
                session.obey_hello(hello)
            _steps(scenario, session)
        except _Ended as end:
            return CLAUSE.join([*session.clauses, observe(raw, quiet, end.answer)]), session.said
        return CLAUSE.join([*session.clauses, observe(raw, quiet)]), session.said
    finally:
        session.close()


def _steps(scenario: Scenario, session: _Session) -> None:
    for step in scenario.steps:
        getattr(session, _STEPS[type(step)])(step)


#: Step type -> the :class:`_Session` method that plays it.
_STEPS: dict[type, str] = {
    Handshake: "handshake", Send: "send", Repeat: "repeat", Post: "post", SetRing: "set_ring",
    Refill: "refill", Kick: "kick", Ping: "ping", Rival: "rival", Serve: "serve",
}


_UNREPORTED = "its reason not reported"


def peer_view(iface: TargetInterface, timeout: float = 5.0) -> str:
    """``peer: link down, remote reason 'xyz'``: the link as the peer reports it, once it
    noticed the raw peer is gone (within ``timeout``)."""
    deadline = time.monotonic() + timeout
    details = iface.details()
    while details.get("link_up") and time.monotonic() < deadline:
        time.sleep(0.1)
        details = iface.details()
    reason = details.get("remote_reason")
    text = "peer: link still up" if details.get("link_up") else "peer: link down"
    return text + (f", {_UNREPORTED}" if reason is None else f", remote reason {reason!r}")


#: The address the good connection after a scenario pings (libmemif's icmp_responder's own).
GOOD_IP = "192.168.1.1/24"


def still_serves(target: Target, role: Role, path: str, config: PeerConfig,
                 timeout: float = 15.0, *, version: int = VERSION) -> str:
    """'' if the peer accepts a good connection from our implementation and, where it answers
    ICMP, echoes pings over it; else why not (our master listens before a peer slave exists:
    a testpmd client never retries)."""
    ping = target.answers_icmp()
    if ping:
        config = dataclasses.replace(config, ip=GOOD_IP)

    def ours() -> Endpoint:
        return Endpoint(role.peer, path, id=config.id, secret=config.secret or "",
                        mode=config.mode.name.lower(), protocol=ProtocolVersion.of(version >> 8))

    endpoint = ours() if role is Role.SLAVE else None
    try:
        iface = target.open(role, path, config)
        try:
            endpoint = endpoint or ours()
            endpoint.wait_connected(timeout)
            answered = ping_through(endpoint, Addresses.of(GOOD_IP)) if ping else ""
            if answered:
                return f"a good connection afterwards, but no traffic: {answered}"
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
    version, quiet = scenario.raw_version, target.quiet
    before = target.resources()
    try:
        if scenario.peer_role is Role.MASTER:
            iface = target.open(Role.MASTER, path, scenario.peer)
            try:
                raw, hello = _connect_for_hello(path, 15.0, version)
                observed, said = _play(scenario, raw, path, quiet, hello)
                died = _died(target)
                if isinstance(scenario.expect, Records) and not died:
                    observed += CLAUSE + peer_view(iface)
            finally:
                iface.close()
        else:
            with listener(path) as server:
                iface = target.open(Role.SLAVE, path, scenario.peer)
                try:
                    observed, said = _play(scenario, _accept(server, 15.0, version), path,
                                           quiet)
                    died = _died(target)
                    if isinstance(scenario.expect, Records) and not died:
                        observed += CLAUSE + peer_view(iface)
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
        if entry is not None and (entry.matches(BROKEN) or
                                  (entry.may_break and entry.matches(observed))):
            return Result(scenario.name, target.implementation, Outcome.DEVIATION,
                          f"{observed}; {why}", f"{entry.note} ({entry.source})", target.logs(),
                          broken=True, raw_said=said)
        return Result(scenario.name, target.implementation, Outcome.FAIL, observed, why,
                      target.logs(), broken=True, raw_said=said)
    kept, counts = _growth(target, before)
    if kept:
        observed += CLAUSE + kept
    outcome, detail = judge(observed, scenario, entry, expect)
    return Result(scenario.name, target.implementation, outcome, observed,
                  f"{detail}; {counts}" if counts else detail, raw_said=said)


def _died(target: Target) -> bool:
    """Whether the peer died; asked before and after its interface is removed (a peer that
    runs a process per interface loses the evidence with it)."""
    time.sleep(0.1)  # a crash takes a moment to show
    return not target.alive()


def _growth(target: Target, before: tuple[int, int] | None,
            settle: float = 3.0) -> tuple[str, str]:
    """('', '') unless the peer's process kept more fds or memory mappings than ``before``
    the scenario (given ``settle`` seconds to let go of its connections); else the clause
    (``peer process kept more fds``) and the counts."""
    if before is None:
        return "", ""
    deadline = time.monotonic() + settle
    while (now := target.resources()) is not None:
        if now[0] <= before[0] and now[1] <= before[1]:
            return "", ""
        if time.monotonic() > deadline:
            what = " and ".join(name for name, was, grew in (("fds", before[0], now[0]),
                                                             ("mappings", before[1], now[1]))
                                if grew > was)
            return _KEPT + what, (f"fds {before[0]} -> {now[0]}, mappings {before[1]} -> "
                                  f"{now[1]} (/proc/PID/fd, /proc/PID/maps)")
        time.sleep(0.2)
    return "", ""


def _serves(target: Target, scenario: Scenario, path: str) -> str:
    """:func:`still_serves`, with any error of the peer's wrapper as the reason."""
    try:
        return still_serves(target, scenario.peer_role, path, scenario.peer,
                            version=target.protocol_version)
    except Exception as exc:
        return f"no good connection afterwards: {type(exc).__name__}: {exc}"
