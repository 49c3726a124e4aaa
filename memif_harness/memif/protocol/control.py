"""Sans-I/O memif control channel for one connection, either role.

Feed it what the socket delivered with :meth:`ControlChannel.receive` (one datagram and the fds
that came with it); it returns events and queues datagrams for :meth:`data_to_send`. It never
touches a socket. A peer that breaks the protocol makes ``receive`` raise
:class:`RemoteProtocolError` after a DISCONNECT carrying the reason has been queued and the
channel has closed; the owner flushes that DISCONNECT and closes the socket.

The channel speaks the protocol versions its config allows (:mod:`.versions`): a master
advertises ``hello_versions`` and adopts the version of the INIT it accepts, a slave picks one
from HELLO. :attr:`ControlChannel.version` is the one in use (2.0 until settled).

The channel owns the fds it is given until it hands them over (``ConnectRequested`` for the
master) and closes any it did not need or still holds when it closes.
"""

from __future__ import annotations

import contextlib
import os
from collections import deque
from collections.abc import Callable, Sequence
from typing import NoReturn

from .config import InterfaceConfig, RunParams
from .constants import (
    MAX_HANDSHAKE_FDS,
    MAX_LOG2_RING_SIZE,
    MAX_REGIONS,
    MAX_RINGS,
    MSG_SIZE,
    VERSION,
    MsgType,
    Role,
)
from .errors import ErrorCode, LocalProtocolError, RemoteProtocolError
from .events import ConnectRequested, Disconnected, Event, HelloReceived, InitAccepted, LinkUp
from .state import INITIAL, TRANSITIONS, Local, State, local_transition, next_state
from .versions import ProtocolVersion
from .wire import (
    Ack,
    AddRegion,
    AddRing,
    Connect,
    Connected,
    Disconnect,
    Hello,
    Init,
    Message,
    pack,
    parse,
)

#: Master side: find the interface an INIT asks for, or raise RemoteProtocolError with the
#: reason to send ("unmatched interface id", "already connected").
Resolver = Callable[[int], InterfaceConfig]

#: Messages that must carry exactly one fd; all others must carry none.
_NEEDS_FD = {
    MsgType.ADD_REGION: "missing memory region fd",
    MsgType.ADD_RING: "missing ring interrupt fd",
}

Outgoing = tuple[bytes, int | None]

#: Raw message types a master may receive before INIT; any other (known or not) is
#: "unexpected message received": VPP checks "first message is INIT" before the type (H12, A.8).
_BEFORE_INIT = {int(t) for (r, s, t) in TRANSITIONS if r is Role.MASTER and s is State.AWAIT_INIT}


def _close_all(fds: Sequence[int]) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)


class ControlChannel:
    """One control connection. Construct with ``Role.MASTER`` and a resolver on accept, or
    with ``Role.SLAVE`` and the interface's config on connect."""

    def __init__(
        self,
        role: Role,
        *,
        config: InterfaceConfig | None = None,
        resolver: Resolver | None = None,
        name: str = "memif-harness",
        pipelined: bool = False,
        max_fds: int = MAX_HANDSHAKE_FDS,
        hello_versions: tuple[int, int] = (VERSION, VERSION),
    ) -> None:
        if role is Role.SLAVE and config is None:
            raise LocalProtocolError("a slave channel needs its interface config")
        if role is Role.MASTER and resolver is None:
            raise LocalProtocolError("a master channel needs a resolver")
        self.role = role
        self.state = INITIAL[role]
        self.config = config
        self.name = name
        self.peer_name = ""
        self.peer_if_name = ""
        self.run: RunParams | None = None
        #: The wire version in use: settled by INIT (master) or HELLO (slave).
        self.version = VERSION
        self._hello_versions = hello_versions
        self.local_reason = ""
        self.remote_reason = ""
        self._resolver = resolver
        self._pipelined = pipelined
        self._max_fds = max_fds
        self._out: deque[Outgoing] = deque()
        self._queued: deque[Outgoing] = deque()
        self._acks_due = 0
        self._regions: list[tuple[AddRegion, int]] = []
        self._rings: dict[bool, list[tuple[AddRing, int]]] = {True: [], False: []}
        if role is Role.MASTER:
            low, high = hello_versions
            self._emit(Hello(name=name, min_version=low, max_version=high))

    # -- output ---------------------------------------------------------------------------

    def data_to_send(self) -> list[Outgoing]:
        """Datagrams (128 bytes each) with at most one fd to send, in order; drains the queue.

        The fds stay owned by whoever passed them to :meth:`start_handshake`.
        """
        out = list(self._out)
        self._out.clear()
        return out

    def _emit(self, msg: Message, fd: int | None = None) -> None:
        self._out.append((pack(msg, self.version), fd))

    # -- input ----------------------------------------------------------------------------

    def receive(self, data: bytes, fds: Sequence[int] = ()) -> list[Event]:
        """Process one received datagram; the channel takes ownership of ``fds``."""
        if self.state is State.CLOSED:
            _close_all(fds)
            return []
        try:
            if (
                self.state is State.AWAIT_INIT
                and len(data) == MSG_SIZE
                and int.from_bytes(data[:2], "little") not in _BEFORE_INIT
            ):
                raise RemoteProtocolError("unexpected message received", ErrorCode.MFMSG)
            msg = parse(data, self.version)
            after = next_state(self.role, self.state, msg.TYPE)
            fd = self._take_fd(msg.TYPE, fds)
        except RemoteProtocolError as exc:
            _close_all(fds)
            self._fail(exc)
        self.state = after
        try:
            return self._handle(msg, fd)
        except RemoteProtocolError as exc:
            if fd is not None:
                _close_all([fd])
            self._fail(exc)

    def receive_truncated(self) -> list[Event]:
        """The peer sent a datagram with more fds than fit (the kernel dropped the rest)."""
        if self.state is State.CLOSED:
            return []
        self._fail(RemoteProtocolError("control message truncated: too many fds", ErrorCode.MFMSG))

    def receive_eof(self) -> list[Event]:
        """The peer closed the socket."""
        if self.state is State.CLOSED:
            return []
        return [self._close("disconnected")]

    def _take_fd(self, msg_type: MsgType, fds: Sequence[int]) -> int | None:
        if len(fds) > 1:
            raise RemoteProtocolError(
                f"{msg_type.name} carried {len(fds)} fds, at most one is allowed", ErrorCode.MFMSG
            )
        if msg_type in _NEEDS_FD:
            if not fds:
                code = ErrorCode.NO_SHMFD if msg_type is MsgType.ADD_REGION else ErrorCode.NO_INTFD
                raise RemoteProtocolError(_NEEDS_FD[msg_type], code)
            return fds[0]
        if fds:
            raise RemoteProtocolError(f"unexpected fd with {msg_type.name}", ErrorCode.MFMSG)
        return None

    def _handle(self, msg: Message, fd: int | None) -> list[Event]:
        if isinstance(msg, Disconnect):
            self.remote_reason = msg.reason
            return [self._close("disconnect received", send=False)]
        if isinstance(msg, Init):
            return [self._on_init(msg)]
        if isinstance(msg, AddRegion):
            assert fd is not None
            self._on_add_region(msg, fd)
            return []
        if isinstance(msg, AddRing):
            assert fd is not None
            self._on_add_ring(msg, fd)
            return []
        if isinstance(msg, Connect):
            return [self._on_connect(msg)]
        if isinstance(msg, Hello):
            return [self._on_hello(msg)]
        if isinstance(msg, Ack):
            self._on_ack()
            return []
        assert isinstance(msg, Connected)
        self.peer_if_name = msg.if_name
        return [LinkUp(peer_if_name=msg.if_name)]

    # -- master ---------------------------------------------------------------------------

    def _on_init(self, msg: Init) -> Event:
        assert self._resolver is not None
        low, high = self._hello_versions
        if msg.version not in ProtocolVersion.AUTO.versions or not low <= msg.version <= high:
            raise RemoteProtocolError("unsupported version", ErrorCode.PROTO)
        config = self._resolver(msg.id)
        if msg.version not in config.protocol.versions:
            raise RemoteProtocolError("unsupported version", ErrorCode.PROTO)
        self.version = msg.version
        if msg.mode != config.mode:
            raise RemoteProtocolError("mode mismatch", ErrorCode.MODE)
        if config.secret:
            if not msg.secret:
                raise RemoteProtocolError("secret required", ErrorCode.NOSECRET)
            if msg.secret != config.secret:
                raise RemoteProtocolError("incorrect secret", ErrorCode.SECRET)
        self.config = config
        self.peer_name = msg.name
        self._emit(Ack())
        return InitAccepted(init=msg, config=config)

    def _on_add_region(self, msg: AddRegion, fd: int) -> None:
        if msg.index >= MAX_REGIONS:
            raise RemoteProtocolError("too many regions", ErrorCode.MAXREG)
        if msg.index != len(self._regions):
            raise RemoteProtocolError("unexpected region index", ErrorCode.MAXREG)
        if msg.size == 0:
            raise RemoteProtocolError(f"region {msg.index} has size 0", ErrorCode.MFMSG)
        self._check_fd_budget()
        self._regions.append((msg, fd))
        self._emit(Ack())

    def _on_add_ring(self, msg: AddRing, fd: int) -> None:
        rings = self._rings[msg.is_s2m]
        if msg.private_hdr_size != 0:
            raise RemoteProtocolError("private headers not supported", ErrorCode.PRIVHDR)
        if msg.index >= MAX_RINGS:
            raise RemoteProtocolError("too many rings", ErrorCode.MAXRING)
        if msg.index != len(rings):
            raise RemoteProtocolError("unexpected ring index", ErrorCode.MAXRING)
        if msg.region >= len(self._regions):
            raise RemoteProtocolError(
                f"ring {msg.index} refers to region {msg.region}, "
                f"only {len(self._regions)} regions were added",
                ErrorCode.MFMSG,
            )
        if not 1 <= msg.log2_ring_size <= MAX_LOG2_RING_SIZE:
            raise RemoteProtocolError(
                f"ring {msg.index} log2 size {msg.log2_ring_size} out of range 1..14",
                ErrorCode.MAX_RING,
            )
        self._check_fd_budget()
        rings.append((msg, fd))
        self._emit(Ack())

    def _check_fd_budget(self) -> None:
        """Bound the fds one unfinished handshake holds (regions + rings before CONNECT)."""
        held = len(self._regions) + len(self._rings[True]) + len(self._rings[False])
        if held >= self._max_fds:
            raise RemoteProtocolError(
                f"too many fds before CONNECT (limit {self._max_fds})", ErrorCode.MFMSG
            )

    def _on_connect(self, msg: Connect) -> Event:
        s2m, m2s = self._rings[True], self._rings[False]
        if not s2m or not m2s:
            raise RemoteProtocolError(
                f"CONNECT with {len(s2m)} S2M and {len(m2s)} M2S rings; need at least one each",
                ErrorCode.MAXRING,
            )
        self.peer_if_name = msg.if_name
        regions, rings = tuple(self._regions), (*s2m, *m2s)
        self._regions, self._rings = [], {True: [], False: []}
        return ConnectRequested(
            if_name=msg.if_name, regions=regions, rings=rings, version=self.version
        )

    def confirm_connected(self) -> list[Event]:
        """Master: memory is mapped and checked; send CONNECTED and bring the link up."""
        self.state = local_transition(self.role, self.state, Local.CONFIRM_CONNECT)
        assert self.config is not None
        self._emit(Connected(if_name=self.config.interface_name))
        return [LinkUp(peer_if_name=self.peer_if_name)]

    # -- slave ----------------------------------------------------------------------------

    def _on_hello(self, msg: Hello) -> Event:
        cfg = self.config
        assert cfg is not None
        version = cfg.protocol.pick(msg.min_version, msg.max_version)
        if version is None:
            raise RemoteProtocolError("incompatible protocol version", ErrorCode.PROTO)
        self.version = version
        self.peer_name = msg.name
        self.run = RunParams(
            num_s2m_rings=min(cfg.num_s2m_rings, msg.max_s2m_ring + 1),
            num_m2s_rings=min(cfg.num_m2s_rings, msg.max_m2s_ring + 1),
            log2_ring_size=min(cfg.log2_ring_size, msg.max_log2_ring_size),
            buffer_size=cfg.buffer_size,
            version=version,
        )
        if msg.max_log2_ring_size < 1:
            raise RemoteProtocolError("peer allows no ring size", ErrorCode.MAX_RING)
        return HelloReceived(hello=msg, run=self.run)

    def start_handshake(
        self, regions: Sequence[tuple[AddRegion, int]], rings: Sequence[tuple[AddRing, int]]
    ) -> None:
        """Slave: queue INIT, ADD_REGION x R, ADD_RING (S2M then M2S), CONNECT; send the first.

        One message goes out per ACK, as every real slave does, unless the channel was built
        ``pipelined`` (scenario H3), which sends them all at once.
        """
        self.state = local_transition(self.role, self.state, Local.START_HANDSHAKE)
        cfg = self.config
        assert cfg is not None
        msgs: list[tuple[Message, int | None]] = [
            (
                Init(
                    version=self.version,
                    id=cfg.id,
                    mode=int(cfg.mode),
                    secret=cfg.secret,
                    name=self.name,
                ),
                None,
            ),
            *regions,
            *sorted(rings, key=lambda r: not r[0].is_s2m),
            (Connect(if_name=cfg.interface_name), None),
        ]
        self._queued.extend((pack(m, self.version), fd) for m, fd in msgs)
        if self._pipelined:
            while self._queued:
                self._send_next()
        else:
            self._send_next()

    def _send_next(self) -> None:
        self._out.append(self._queued.popleft())
        if self._queued:
            self._acks_due += 1
        else:
            self.state = local_transition(self.role, self.state, Local.SENT_CONNECT)

    def _on_ack(self) -> None:
        if self._acks_due == 0:
            raise RemoteProtocolError("ACK with nothing left to acknowledge", ErrorCode.MFMSG)
        self._acks_due -= 1
        if self._queued and not self._pipelined:
            self._send_next()

    # -- both -----------------------------------------------------------------------------

    def disconnect(self, reason: str, code: int = 0) -> list[Event]:
        """Queue a DISCONNECT with ``reason`` and close; a no-op once closed."""
        if self.state is State.CLOSED:
            return []
        return [self._close(reason, send=True, code=code)]

    def _fail(self, exc: RemoteProtocolError) -> NoReturn:
        self._close(exc.reason, send=True)
        raise exc

    def _close(self, reason: str, *, send: bool = False, code: int = 0) -> Disconnected:
        if send:
            self._emit(Disconnect(code=code, reason=reason))
        self.state = local_transition(self.role, self.state, Local.CLOSE)
        self.local_reason = reason
        _close_all([fd for _, fd in self._regions])
        _close_all([fd for rings in self._rings.values() for _, fd in rings])
        self._regions, self._rings = [], {True: [], False: []}
        self._queued.clear()
        return Disconnected(local_reason=reason, remote_reason=self.remote_reason)
