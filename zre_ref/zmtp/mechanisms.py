"""Security mechanisms a Connection can run: NULL, PLAIN client, PLAIN server (spec/zmtp.md#mechanisms),
and the CURVE client and server settings, which live with the CURVE handshake in curve.py.

These are plain settings; the handshake steps they imply are rows of the transition table in
states.py (``GREETING_INPUT`` picks the first one).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from .curve import CurveClient, CurveServer

log = logging.getLogger("zre_ref.zmtp")

#: authenticator for a PLAIN server: (username, password) -> accept?
Authenticator = Callable[[bytes, bytes], bool]

#: the ERROR reason a PLAIN server sends when it refuses credentials (libzmq: ZAP status 400)
PLAIN_REFUSED_REASON = b"400"


@dataclass(frozen=True, slots=True)
class Null:
    """NULL: no security; both sides send READY right after the greeting (spec/zmtp.md#null)."""

    name = "NULL"
    as_server = False


#: the one NULL every socket and connection without security shares (it holds nothing)
NULL = Null()


@dataclass(frozen=True, slots=True)
class PlainClient:
    """PLAIN client: HELLO(username, password), WELCOME, INITIATE, READY (spec/zmtp.md#plain)."""

    username: bytes
    password: bytes
    name = "PLAIN"
    as_server = False

    def __post_init__(self) -> None:
        if len(self.username) > 255 or len(self.password) > 255:
            raise ValueError("PLAIN username and password are at most 255 bytes")


@dataclass(frozen=True, slots=True)
class PlainServer:
    """PLAIN server: checks HELLO with ``authenticator``; refuses with ERROR "400" (spec/zmtp.md#plain)."""

    authenticator: Authenticator
    name = "PLAIN"
    as_server = True

    def accepts(self, username: bytes, password: bytes) -> bool:
        """The authenticator's verdict; one that raises refuses the client."""
        try:
            return bool(self.authenticator(username, password))
        except Exception:
            log.exception("zmtp: PLAIN authenticator raised; refusing the client")
            return False


Mechanism = Null | PlainClient | PlainServer | CurveClient | CurveServer
