"""The control-channel state machine: every transition lives in the one table below.

Rule 1: everything that moves a connection from one state to another is in this file.
Rule 2: this file does no I/O and knows nothing of sockets, memory or fds.

A received message whose (role, state, type) is not in :data:`TRANSITIONS` is a protocol
violation by the peer. Local calls (starting the handshake, confirming CONNECT, disconnecting)
move the state through :data:`LOCAL_TRANSITIONS`; calling one in the wrong state is our bug.
"""

from __future__ import annotations

import enum

from .constants import MsgType, Role
from .errors import ErrorCode, LocalProtocolError, RemoteProtocolError


class State(enum.Enum):
    """Where one control connection stands."""

    #: Master: HELLO sent, waiting for the slave's INIT.
    AWAIT_INIT = "await-init"
    #: Master: INIT accepted, taking ADD_REGION / ADD_RING until CONNECT.
    AWAIT_CONNECT = "await-connect"
    #: Master: CONNECT received, the caller maps memory and confirms or rejects.
    MAPPING = "mapping"
    #: Slave: connected to the socket, waiting for HELLO.
    AWAIT_HELLO = "await-hello"
    #: Slave: HELLO received, the caller creates memory and starts the handshake.
    PREPARING = "preparing"
    #: Slave: sending INIT .. CONNECT, one message per ACK.
    HANDSHAKE = "handshake"
    #: Slave: CONNECT sent, waiting for CONNECTED.
    AWAIT_CONNECTED = "await-connected"
    #: Both: link up, only DISCONNECT may arrive.
    CONNECTED = "connected"
    #: Both: finished; nothing more is read or sent.
    CLOSED = "closed"


class Local(enum.Enum):
    """Local inputs to the state machine."""

    START_HANDSHAKE = "start-handshake"
    SENT_CONNECT = "sent-connect"
    CONFIRM_CONNECT = "confirm-connect"
    CLOSE = "close"


M, S = Role.MASTER, Role.SLAVE

#: (our role, state, received message type) -> next state.
TRANSITIONS: dict[tuple[Role, State, MsgType], State] = {
    (M, State.AWAIT_INIT, MsgType.INIT): State.AWAIT_CONNECT,
    (M, State.AWAIT_CONNECT, MsgType.ADD_REGION): State.AWAIT_CONNECT,
    (M, State.AWAIT_CONNECT, MsgType.ADD_RING): State.AWAIT_CONNECT,
    (M, State.AWAIT_CONNECT, MsgType.CONNECT): State.MAPPING,
    (S, State.AWAIT_HELLO, MsgType.HELLO): State.PREPARING,
    (S, State.HANDSHAKE, MsgType.ACK): State.HANDSHAKE,
    (S, State.AWAIT_CONNECTED, MsgType.ACK): State.AWAIT_CONNECTED,
    (S, State.AWAIT_CONNECTED, MsgType.CONNECTED): State.CONNECTED,
}
for _role in Role:
    for _state in State:
        if _state is not State.CLOSED:
            TRANSITIONS[(_role, _state, MsgType.DISCONNECT)] = State.CLOSED
del _role, _state

#: (our role, state, local input) -> next state.
LOCAL_TRANSITIONS: dict[tuple[Role, State, Local], State] = {
    (S, State.PREPARING, Local.START_HANDSHAKE): State.HANDSHAKE,
    (S, State.HANDSHAKE, Local.SENT_CONNECT): State.AWAIT_CONNECTED,
    (M, State.MAPPING, Local.CONFIRM_CONNECT): State.CONNECTED,
}
for _role in Role:
    for _state in State:
        LOCAL_TRANSITIONS[(_role, _state, Local.CLOSE)] = State.CLOSED
del _role, _state

INITIAL: dict[Role, State] = {M: State.AWAIT_INIT, S: State.AWAIT_HELLO}


def next_state(role: Role, state: State, msg_type: MsgType) -> State:
    """The state after receiving ``msg_type``, or :class:`RemoteProtocolError` naming why not."""
    try:
        return TRANSITIONS[(role, state, msg_type)]
    except KeyError:
        pass
    reason = f"unexpected message {msg_type.name} in state {state.value} as {role.name.lower()}"
    raise RemoteProtocolError(reason, ErrorCode.MFMSG)


def local_transition(role: Role, state: State, event: Local) -> State:
    """The state after a local input, or :class:`LocalProtocolError` if it is not allowed now."""
    try:
        return LOCAL_TRANSITIONS[(role, state, event)]
    except KeyError:
        raise LocalProtocolError(
            f"can't {event.value} when role={role.name.lower()} and state={state.value}"
        ) from None
