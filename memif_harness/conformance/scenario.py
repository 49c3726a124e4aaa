"""Scenarios as data: what the raw peer does, step by step, and what the reference expects.

A :class:`Scenario` names its catalogue id, a title, where the expected behaviour comes from
(``truth``), the role the *implementation under test* plays, how its interface is configured,
the raw peer's :data:`Step` list and the reference :data:`Expectation`. The engine
(:mod:`.engine`) interprets them; the registry (:mod:`.registry`) lists them; nothing here
does I/O.

Steps, for a peer that is master (the raw peer is the slave; HELLO has been read):

* :class:`Handshake` sends the good slave handshake up to a stage (each message ACKed);
* :class:`Send` sends one datagram: a message with any field values, or raw bytes of any size,
  with fds of the kinds named (``memfd``, ``memfd-unsealable``, ``eventfd``, ``pipe``) or the
  raw slave's own (``region``, ``ring``);

and, once connected, the shared-memory steps :class:`Post` (descriptors at the S2M head, with
any field values, then the interrupt) and :class:`SetRing` (a ring's cookie, flags, head or
tail set to any value); for a peer that is slave (the raw peer listens and has accepted it):
:class:`Send` (typically a HELLO), then :class:`Serve` (the good master's side of the rest).

A scenario's raw peer speaks ``raw_version`` (2.0 or 1.0, protocol.md A.13); a raw slave with
``obey_hello`` first checks the HELLO's version range, as real slaves do, and refuses it with
``incompatible protocol version`` when its version is outside. ``expect`` is the reference
for a peer that speaks 2.0, ``expect_v1`` for one that speaks only 1.0 (None: the scenario
needs a 2.0 peer).
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from ..memif.protocol import wire
from ..memif.protocol.constants import VERSION, Mode, RingType, Role

__all__ = [
    "Accept",
    "Expectation",
    "Handshake",
    "Keep",
    "PeerConfig",
    "Post",
    "Refuse",
    "Scenario",
    "Send",
    "Serve",
    "SetRing",
    "Stage",
    "Step",
]

#: The stages of the good slave handshake, in order.
Stage = Literal["init", "region", "rings", "connect", "connected"]
STAGES: tuple[Stage, ...] = ("init", "region", "rings", "connect", "connected")


@dataclasses.dataclass(frozen=True, slots=True)
class Handshake:
    """The good handshake up to (not including) ``until``: ``"connected"`` does it all."""

    until: Stage = "connected"


@dataclasses.dataclass(frozen=True, slots=True)
class Send:
    """One datagram: ``message`` packed, or ``raw`` bytes as they are; ``fds`` by kind;
    ``answer``: the reply it must get before the next step (e.g. ``"ACK"``)."""

    message: wire.Message | None = None
    raw: bytes | None = None
    fds: tuple[str, ...] = ()
    answer: str | None = None

    def data(self) -> bytes:
        if self.raw is not None:
            return self.raw
        assert self.message is not None, "Send needs a message or raw bytes"
        return wire.pack(self.message)


@dataclasses.dataclass(frozen=True, slots=True)
class Post:
    """Descriptors written at the raw slave's S2M head (fields not given: the slot's own buffer,
    64 bytes), the head advanced past them, then (``kick``) the ring's eventfd signalled."""

    descs: tuple[dict[str, int], ...]
    kick: bool = True


@dataclasses.dataclass(frozen=True, slots=True)
class SetRing:
    """One field of a raw-slave ring's header set to ``value`` (then ``kick``, if asked)."""

    field: Literal["cookie", "flags", "head", "tail"]
    value: int
    ring: RingType = RingType.S2M
    index: int = 0
    kick: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class Serve:
    """The raw master serves the peer slave's handshake as a good master of its version
    would: ACK for INIT (of that version), ADD_REGION and ADD_RING, then on CONNECT map the
    regions, check every ring's cookie and answer CONNECTED (or DISCONNECT with VPP's
    reason: ``unsupported version``, ``wrong cookie on tx ring N``)."""


Step = Handshake | Send | Post | SetRing | Serve


@dataclasses.dataclass(frozen=True, slots=True)
class Refuse:
    """The reference: the peer ends the connection (a DISCONNECT, then close, or a close)."""

    #: A reason the reference wants in the DISCONNECT (VPP's text, protocol.md A.8), if any;
    #: implementations word it their own way (profiles say how).
    reason: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Accept:
    """The reference: the peer accepts and the handshake goes on (``answer``: the message it
    sends next: ``ack``, ``connected`` or ``init`` from a slave)."""

    answer: Literal["ack", "connected", "init"] = "ack"


@dataclasses.dataclass(frozen=True, slots=True)
class Keep:
    """The reference: the peer keeps the connection (drops and counts what was bad, says
    nothing) for the observation time."""


Expectation = Refuse | Accept | Keep


@dataclasses.dataclass(frozen=True, slots=True)
class PeerConfig:
    """How the implementation under test configures its interface."""

    id: int = 0
    secret: str | None = None
    mode: Mode = Mode.ETHERNET


@dataclasses.dataclass(frozen=True, slots=True)
class Scenario:
    """One replayable case of a catalogue id."""

    id: str
    key: str
    title: str
    truth: str
    peer_role: Role
    steps: tuple[Step, ...]
    expect: Expectation
    peer: PeerConfig = PeerConfig()
    raw_version: int = VERSION
    obey_hello: bool = False
    expect_v1: Expectation | None = None

    @property
    def name(self) -> str:
        """``H4-127-first``: the id and what this case does."""
        return f"{self.id}-{self.key}"
