"""ZMTP 3.1, sans-IO: greeting, frames, commands, mechanisms, the Connection state machine (spec/zmtp.md)."""

from .connection import (
    HANDSHAKE_TIMEOUT,
    MAX_MESSAGE_SIZE,
    Connection,
    ConnectionClosed,
    Event,
    HandshakeCompleted,
    Heartbeat,
    MessageReceived,
    PongReceived,
    State,
    Subscribed,
    Unsubscribed,
)
from .mechanisms import Null, PlainClient, PlainServer
from .routing import SocketClosed, WouldBlock

__all__ = [
    "HANDSHAKE_TIMEOUT",
    "MAX_MESSAGE_SIZE",
    "Connection",
    "ConnectionClosed",
    "Event",
    "HandshakeCompleted",
    "Heartbeat",
    "MessageReceived",
    "Null",
    "PlainClient",
    "PlainServer",
    "PongReceived",
    "SocketClosed",
    "State",
    "Subscribed",
    "Unsubscribed",
    "WouldBlock",
]
