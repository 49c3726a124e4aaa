"""Scenarios as data: what the raw peer does, step by step, and what the reference expects.

A :class:`Scenario` names its catalogue id, a title, where the expected behaviour comes from
(``truth``), the role the *implementation under test* plays, how its interface is configured,
the raw peer's :data:`Step` list and the reference :data:`Expectation`. The engine
(:mod:`.engine`) interprets them; the registry (:mod:`.registry`) lists them; nothing here
does I/O.

Steps, for a peer that is master (the raw peer is the slave; HELLO has been read):

* :class:`Handshake` sends the good slave handshake up to a stage (each message ACKed);
* :class:`Send` sends one datagram (:class:`Repeat`, many): a message with any field values,
  or raw bytes of any size,
  with fds of the kinds named (``memfd``, ``memfd-unsealable``, ``eventfd``, ``pipe``) or the
  raw slave's own (``region``, ``ring``);

and, once connected, the shared-memory steps :class:`Post` (descriptors at the S2M head, with
any field values, then the interrupt), :class:`SetRing` (a ring's cookie, flags, head or
tail set to any value), :class:`Refill` (M2S buffers of any capacity or region) and
:class:`Kick`, the traffic step :class:`Ping` (ARP, then echo requests through the rings,
the replies checked byte for byte) and :class:`Rival` (a second slave on the same socket);
for a peer that is slave (the raw peer listens and has accepted it): :class:`Send`
(typically a HELLO) and :class:`Serve` (the raw master's side of the peer's handshake).

Each traffic or rival step adds a clause to the observation; the last clause is the peer's
final answer on the control channel.

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
    "Exactly",
    "Expectation",
    "Handshake",
    "Keep",
    "Kick",
    "PeerConfig",
    "Ping",
    "Post",
    "Records",
    "Refill",
    "Refuse",
    "Repeat",
    "Rival",
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
    """The good handshake up to (not including) ``until``: ``"connected"`` does it all, and
    then (``refill``) posts every M2S slot as an empty buffer, as a good slave does.
    ``pipelined``: every message sent at once, the ACKs read afterwards (H3)."""

    until: Stage = "connected"
    refill: bool = True
    pipelined: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class Send:
    """One datagram: ``message`` packed, or ``raw`` bytes as they are; ``fds`` by kind;
    ``answer``: the reply it must get before the next step (e.g. ``"ACK"``); any other
    reply ends the scenario there, as its observation."""

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
class Repeat:
    """``message`` sent up to ``count`` times, one per ACK, its ``field`` counting up from
    ``start`` (each copy with ``fds``); observed: how many were ACKed before the peer
    answered otherwise."""

    message: wire.Message
    count: int
    field: str = "index"
    start: int = 0
    fds: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True, slots=True)
class Refill:
    """``count`` empty M2S buffers posted at the head (None: as many as are free), with
    ``capacity`` bytes each (None: the slot's whole buffer) and, if given, a ``region``."""

    count: int | None = None
    capacity: int | None = None
    region: int | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class Kick:
    """The S2M ring's interrupt signalled with nothing new on it (a spurious interrupt)."""


@dataclasses.dataclass(frozen=True, slots=True)
class Ping:
    """An ARP request for the peer's address (up to 3, half a second apart, until one is
    answered), then ``count`` ICMP echo requests of ``size``
    bytes, each frame split over descriptors of at most ``desc_bytes``, posted at once on
    S2M (then the interrupt, if ``kick``); the echo replies are read from M2S for
    ``timeout`` seconds (every read buffer posted again unless ``recycle`` is off) and
    checked byte for byte. ``interrupts``: say whether the peer signalled M2S (Q1/Q2)."""

    count: int = 4
    size: int = 98
    desc_bytes: int = 2048
    kick: bool = True
    timeout: float = 2.0
    recycle: bool = True
    interrupts: bool = False


@dataclasses.dataclass(frozen=True, slots=True)
class Rival:
    """A second raw slave connects to the same socket, reads HELLO and sends ``message``;
    its answer is observed, and whether the first connection stayed open."""

    message: wire.Message


@dataclasses.dataclass(frozen=True, slots=True)
class Serve:
    """The raw master serves the peer slave's handshake as a good master of its version
    would: ACK for INIT (of that version), ADD_REGION and ADD_RING, then on CONNECT map the
    regions, check every ring's cookie and answer CONNECTED (or DISCONNECT with VPP's
    reason: ``unsupported version``, ``wrong cookie on tx ring N``); observed: the rings the
    slave announced (their counts and size, and whether each fits its region)."""


Step = Handshake | Send | Repeat | Post | SetRing | Refill | Kick | Ping | Rival | Serve


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


@dataclasses.dataclass(frozen=True, slots=True)
class Exactly:
    """The reference observation, word for word (traffic and negotiation outcomes)."""

    observed: str


@dataclasses.dataclass(frozen=True, slots=True)
class Records:
    """The reference: once the raw peer is gone, the peer reports the link down and, if
    ``reason`` is given, that reason as the one it received ('': none, L3; L4)."""

    reason: str | None = None


Expectation = Refuse | Accept | Keep | Exactly | Records


@dataclasses.dataclass(frozen=True, slots=True)
class PeerConfig:
    """How the implementation under test configures its interface."""

    id: int = 0
    secret: str | None = None
    mode: Mode = Mode.ETHERNET
    #: ``A.B.C.D/len``: the peer answers ARP and ICMP echo there (traffic scenarios).
    ip: str | None = None
    #: Queues per direction and log2 of the ring size (None: the peer's defaults).
    queues: int | None = None
    log2_ring_size: int | None = None


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
