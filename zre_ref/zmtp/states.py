"""The ZMTP 3.1 connection state machine as a table (spec/zmtp.md#state-machine).

:data:`TRANSITIONS` maps state -> input -> next state; a pair missing from it is a protocol
error and closes the connection. :class:`~zre_ref.zmtp.connection.Connection` changes state
only through this table.
"""

from __future__ import annotations

import enum


class State(enum.Enum):
    """Where the connection is (spec/zmtp.md#state-machine)."""

    SIGNATURE = "signature"  # waiting for the peer's bytes 0..9
    MAJOR = "major"  # waiting for the peer's byte 10
    GREETING = "greeting"  # waiting for the peer's bytes 11..63
    EXPECT_READY = "expect-ready"  # NULL; PLAIN client after INITIATE
    EXPECT_WELCOME = "expect-welcome"  # PLAIN client after HELLO
    EXPECT_HELLO = "expect-hello"  # PLAIN server
    EXPECT_INITIATE = "expect-initiate"  # PLAIN server after WELCOME
    OPEN = "open"  # handshake done: messages, heartbeats, subscriptions
    CLOSED = "closed"

    #: members are singletons: hashed by identity, in C (Enum's own __hash__ is a Python
    #: call, and the table is looked up several times per handshake)
    __hash__ = object.__hash__


class Input(enum.Enum):
    """What can happen to a connection: peer input, timers, local calls."""

    __hash__ = object.__hash__  # as State's

    SIGNATURE = "signature"
    MAJOR = "major"
    GREETING_NULL = "greeting/NULL"
    GREETING_PLAIN_CLIENT = "greeting/PLAIN client"
    GREETING_PLAIN_SERVER = "greeting/PLAIN server"
    GREETING_CURVE_CLIENT = "greeting/CURVE client"
    GREETING_CURVE_SERVER = "greeting/CURVE server"
    READY = "READY"
    ERROR = "ERROR"
    HELLO_ACCEPTED = "HELLO accepted"
    HELLO_REFUSED = "HELLO refused"
    WELCOME = "WELCOME"
    INITIATE = "INITIATE"
    PING = "PING"
    PONG = "PONG"
    SUBSCRIBE = "SUBSCRIBE"
    CANCEL = "CANCEL"
    UNKNOWN_COMMAND = "unknown command"
    MESSAGE = "message"
    INVALID = "invalid input"  # a DecodeError, bad metadata, wrong socket type, over a limit ...
    EOF = "EOF"
    TIMEOUT = "timeout"
    CLOSE = "local close"


_S, _I = State, Input
#: state -> input -> next state. Missing pairs are protocol errors (-> CLOSED).
TRANSITIONS: dict[State, dict[Input, State]] = {
    _S.SIGNATURE: {_I.SIGNATURE: _S.MAJOR},
    _S.MAJOR: {_I.MAJOR: _S.GREETING},
    _S.GREETING: {
        _I.GREETING_NULL: _S.EXPECT_READY,
        _I.GREETING_PLAIN_CLIENT: _S.EXPECT_WELCOME,
        _I.GREETING_PLAIN_SERVER: _S.EXPECT_HELLO,
        _I.GREETING_CURVE_CLIENT: _S.EXPECT_WELCOME,
        _I.GREETING_CURVE_SERVER: _S.EXPECT_HELLO,
    },
    _S.EXPECT_READY: {_I.READY: _S.OPEN, _I.ERROR: _S.CLOSED},
    _S.EXPECT_WELCOME: {_I.WELCOME: _S.EXPECT_READY, _I.ERROR: _S.CLOSED},
    _S.EXPECT_HELLO: {_I.HELLO_ACCEPTED: _S.EXPECT_INITIATE, _I.HELLO_REFUSED: _S.CLOSED},
    _S.EXPECT_INITIATE: {_I.INITIATE: _S.OPEN, _I.ERROR: _S.CLOSED},
    _S.OPEN: {
        _I.MESSAGE: _S.OPEN,
        _I.PING: _S.OPEN,
        _I.PONG: _S.OPEN,
        _I.SUBSCRIBE: _S.OPEN,
        _I.CANCEL: _S.OPEN,
        _I.UNKNOWN_COMMAND: _S.OPEN,
        _I.ERROR: _S.CLOSED,
    },
    _S.CLOSED: {},
}
for _state, _row in TRANSITIONS.items():
    if _state is not _S.CLOSED:
        for _inp in (_I.INVALID, _I.EOF, _I.TIMEOUT, _I.CLOSE):
            _row[_inp] = _S.CLOSED
del _state, _row, _inp

#: states before the greeting is complete
GREETING_STATES = frozenset({_S.SIGNATURE, _S.MAJOR, _S.GREETING})

#: the input that ends the greeting, by (mechanism name, server role)
GREETING_INPUT: dict[tuple[str, bool], Input] = {
    ("NULL", False): _I.GREETING_NULL,
    ("NULL", True): _I.GREETING_NULL,
    ("PLAIN", False): _I.GREETING_PLAIN_CLIENT,
    ("PLAIN", True): _I.GREETING_PLAIN_SERVER,
    ("CURVE", False): _I.GREETING_CURVE_CLIENT,
    ("CURVE", True): _I.GREETING_CURVE_SERVER,
}

#: the inputs a command may be, by its wire name (spec/zmtp.md#commands); any other name is
#: UNKNOWN_COMMAND. HELLO becomes HELLO_ACCEPTED or HELLO_REFUSED once the credentials are checked.
COMMAND_INPUTS: dict[bytes, tuple[Input, ...]] = {
    b"READY": (_I.READY,),
    b"ERROR": (_I.ERROR,),
    b"HELLO": (_I.HELLO_ACCEPTED, _I.HELLO_REFUSED),
    b"WELCOME": (_I.WELCOME,),
    b"INITIATE": (_I.INITIATE,),
    b"PING": (_I.PING,),
    b"PONG": (_I.PONG,),
    b"SUBSCRIBE": (_I.SUBSCRIBE,),
    b"CANCEL": (_I.CANCEL,),
}
_UNKNOWN = (_I.UNKNOWN_COMMAND,)


def command_expected(state: State, name: bytes) -> bool:
    """True if a command called ``name`` has a row in ``state`` (checked before decoding it)."""
    row = TRANSITIONS[state]
    return any(inp in row for inp in COMMAND_INPUTS.get(name, _UNKNOWN))
