"""What a node takes from its peers: the limits and the HELLO checks (spec/zre.md#limits).

Whatever breaks one of these only affects the peer that sent it: its HELLO is refused, or it is
dropped with EXIT. In CURVE mode a HELLO must also carry the sender's public key
(spec/zre.md#curve-mode-zyre).
"""

from __future__ import annotations

from collections.abc import Callable

from ..curve.z85 import z85_decode
from ..errors import DecodeError
from .messages import Hello

__all__ = [
    "MAX_DATA_FRAME",
    "MAX_GROUP_NAME",
    "MAX_HEADERS",
    "MAX_PEERS",
    "MAX_PEER_GROUPS",
    "MAX_UNREADY_PEERS",
    "NO_OP_BEACONS_MAX",
    "PUBLICKEY_HEADER",
    "NoOpBeacons",
    "endpoint_problem",
    "hello_key",
    "hello_problem",
]

#: Limits on what peers can make us hold (spec/zre.md#limits); far above what zyre sends
MAX_PEERS = 10_000
"""peers in the table at once, ready or not"""
MAX_UNREADY_PEERS = 256
"""peers created from a beacon whose HELLO has not arrived yet (each has a DEALER connecting)"""
MAX_DATA_FRAME = 64 * 1024
"""bytes in a ZRE data frame (a HELLO is the only big one); larger ones are dropped undecoded"""
MAX_PEER_GROUPS = 4096
"""groups one peer can be in (HELLO and JOIN)"""
MAX_HEADERS = 256
"""headers in one HELLO"""
MAX_GROUP_NAME = 255
"""bytes of a group name (JOIN's group is a u8-length string; HELLO's could be longer)"""
#: bound of NodeCore.no_op_beacons: emptied when it reaches this many datagrams
NO_OP_BEACONS_MAX = 4096


class NoOpBeacons(set[bytes]):
    """``NodeCore.no_op_beacons``: beacon datagrams that change nothing for the node (its own,
    and the plain beacons of UUIDs in its peer table). The node only adds to it and empties it
    (when a peer leaves the table, so that peer's beacon is heard again, or at
    NO_OP_BEACONS_MAX); ``on_clear``, if set, is called each time it is emptied, so whoever
    keeps something derived from it (a shared beacon socket's list of datagrams no node on it
    needs: aio/beacon.py) can drop that at once."""

    __slots__ = ("on_clear",)

    def __init__(self) -> None:
        super().__init__()
        self.on_clear: Callable[[], None] | None = None

    def clear(self) -> None:
        super().clear()
        if self.on_clear is not None:
            self.on_clear()

#: the HELLO header carrying a CURVE node's Z85 public key (zyre; spec/zre.md#curve-mode-zyre)
PUBLICKEY_HEADER = "X-PUBLICKEY"


#: characters no concrete host has (a path, brackets left over, a wildcard, a space)
_NOT_IN_HOST = frozenset("/[]* ")


def endpoint_problem(endpoint: str) -> str | None:
    """Why a peer's advertised endpoint cannot be connected to, or None if it can: it must be
    ``tcp://host:port`` with a concrete host and a port in 1..65535 (spec/zre.md#limits)."""
    if not endpoint.startswith("tcp://"):
        return "not a tcp:// endpoint"
    host, sep, port = endpoint[6:].rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) <= 0xFFFF:
        return "no port in 1..65535"
    if host.startswith("["):
        host = host[1:-1] if host.endswith("]") else ""
    if not host or host == "*" or not _NOT_IN_HOST.isdisjoint(host):
        return "no concrete host"
    return None


def hello_key(msg: Hello) -> bytes | None:
    """The raw 32-byte key in a HELLO's X-PUBLICKEY header, or None (absent or not Z85)."""
    text = msg.headers.get(PUBLICKEY_HEADER)
    if text is None or len(text) != 40:
        return None
    try:
        return z85_decode(text)
    except DecodeError:
        return None


def hello_problem(msg: Hello, own_endpoint: str, *, curve: bool) -> str | None:
    """Why a node at ``own_endpoint`` (in CURVE mode if ``curve``) cannot take this HELLO's
    peer, or None (spec/zre.md#limits)."""
    problem = endpoint_problem(msg.endpoint)
    if problem is not None:
        return f"endpoint {msg.endpoint!r}: {problem}"
    if msg.endpoint == own_endpoint:
        return "it names our own endpoint"
    if len(msg.groups) > MAX_PEER_GROUPS:
        return f"{len(msg.groups)} groups (limit {MAX_PEER_GROUPS})"
    if any(len(g.encode("utf-8")) > MAX_GROUP_NAME for g in msg.groups):
        return f"a group name over {MAX_GROUP_NAME} bytes"
    if len(msg.headers) > MAX_HEADERS:
        return f"{len(msg.headers)} headers (limit {MAX_HEADERS})"
    if curve and hello_key(msg) is None:
        # zyre: "ignoring HELLO to avoid security downgrade" (spec/zre.md#curve-mode-zyre)
        return f"no valid {PUBLICKEY_HEADER} header in CURVE mode"
    return None
