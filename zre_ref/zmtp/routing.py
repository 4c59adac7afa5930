"""Socket types and the routing rules the asyncio sockets apply (spec/zmtp.md#socket-types).

Sans-IO helpers: which socket types may talk, prefix subscriptions with reference counts (as
libzmq's trie), and the ROUTER's identity table with handover.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator
from typing import Generic, TypeVar

from ..errors import ZreRefError

#: socket types ZMTP 3.x names in READY's Socket-Type (RFC 23/37)
SOCKET_TYPES: frozenset[str] = frozenset(
    {"PAIR", "PUB", "SUB", "REQ", "REP", "DEALER", "ROUTER", "PULL", "PUSH", "XPUB", "XSUB"}
)

#: the types zre_ref's asyncio Socket implements (zre_ref.aio.zmtp)
ASYNCIO_SOCKET_TYPES: tuple[str, ...] = ("ROUTER", "DEALER", "PUB", "SUB")

#: valid peer types for each type (RFC 23/37 = libzmq's check_socket_type)
COMPATIBLE: dict[str, frozenset[str]] = {
    "REQ": frozenset({"REP", "ROUTER"}),
    "REP": frozenset({"REQ", "DEALER"}),
    "DEALER": frozenset({"REP", "DEALER", "ROUTER"}),
    "ROUTER": frozenset({"REQ", "DEALER", "ROUTER"}),
    "PUB": frozenset({"SUB", "XSUB"}),
    "XPUB": frozenset({"SUB", "XSUB"}),
    "SUB": frozenset({"PUB", "XPUB"}),
    "XSUB": frozenset({"PUB", "XPUB"}),
    "PUSH": frozenset({"PULL"}),
    "PULL": frozenset({"PUSH"}),
    "PAIR": frozenset({"PAIR"}),
}

#: types that send an Identity property in READY/INITIATE (libzmq: REQ, DEALER, ROUTER)
SENDS_IDENTITY: frozenset[str] = frozenset({"REQ", "DEALER", "ROUTER"})
#: types whose peers send subscriptions (spec/zmtp.md#subscriptions)
PUBLISHERS: frozenset[str] = frozenset({"PUB", "XPUB"})


def compatible(ours: str, peers: str) -> bool:
    """True if a ``ours`` socket may talk to a ``peers`` socket (case-sensitive, like libzmq)."""
    return peers in COMPATIBLE.get(ours, frozenset())


class Subscriptions:
    """Prefix subscriptions with counts: subscribing twice needs two cancels (libzmq's trie).

    Indexed by prefix length, so :meth:`matches` costs one dictionary lookup per distinct
    subscribed length up to the topic's length, however many prefixes there are: a subscriber
    with a million prefixes cannot make every publish scan them (spec/zmtp.md#limits).
    """

    __slots__ = ("_by_length", "_counts", "_lengths", "nbytes")

    def __init__(self) -> None:
        #: the distinct topics' lengths summed
        self.nbytes = 0
        self._counts: dict[bytes, int] = {}
        self._by_length: dict[int, set[bytes]] = {}
        self._lengths: list[int] = []  # the keys of _by_length, ascending

    def add(self, topic: bytes) -> bool:
        """Count one more subscription; True if the topic is new."""
        n = self._counts.get(topic, 0)
        self._counts[topic] = n + 1
        if n:
            return False
        self.nbytes += len(topic)
        bucket = self._by_length.get(len(topic))
        if bucket is None:
            bucket = self._by_length[len(topic)] = set()
            bisect.insort(self._lengths, len(topic))
        bucket.add(topic)
        return True

    def remove(self, topic: bytes) -> bool:
        """Drop one subscription; True if the topic is gone (False if it was not there)."""
        n = self._counts.get(topic, 0)
        if n <= 0:
            return False
        if n > 1:
            self._counts[topic] = n - 1
            return False
        del self._counts[topic]
        self.nbytes -= len(topic)
        bucket = self._by_length[len(topic)]
        bucket.discard(topic)
        if not bucket:
            del self._by_length[len(topic)]
            self._lengths.remove(len(topic))
        return True

    def matches(self, data: bytes | bytearray) -> bool:
        """True if some topic is a prefix of ``data`` (the empty topic matches everything)."""
        by_length = self._by_length
        size = len(data)
        for n in self._lengths:
            if n > size:
                return False
            if bytes(data[:n]) in by_length[n]:
                return True
        return False

    def topics(self) -> list[bytes]:
        return list(self._counts)

    def __len__(self) -> int:
        return len(self._counts)

    def __bool__(self) -> bool:
        return bool(self._counts)

    def __iter__(self) -> Iterator[bytes]:
        return iter(list(self._counts))


P = TypeVar("P")


class IdentityTable(Generic[P]):
    """ROUTER identities: peer identity (or a generated one) -> pipe, with handover.

    A peer that announces an empty Identity gets ``00`` + a 4-byte counter, as libzmq does.
    A new connection announcing an identity already in use takes it over (ZMQ_ROUTER_HANDOVER);
    :meth:`register` returns the pipe it displaced so the caller can close it.
    """

    __slots__ = ("_by_id", "_next")

    def __init__(self) -> None:
        self._by_id: dict[bytes, P] = {}
        self._next = 0x006B8B4567  # libzmq starts its counter at a random value; any works

    def generate(self) -> bytes:
        self._next = (self._next + 1) & 0xFFFF_FFFF
        return b"\x00" + self._next.to_bytes(4, "big")

    def register(self, identity: bytes, pipe: P) -> tuple[bytes, P | None]:
        """Bind ``pipe`` to ``identity`` (generated if empty): (identity used, displaced pipe)."""
        if not identity:
            identity = self.generate()
            while identity in self._by_id:
                identity = self.generate()
        old = self._by_id.get(identity)
        self._by_id[identity] = pipe
        return identity, (old if old is not pipe else None)

    def remove(self, identity: bytes, pipe: P) -> None:
        """Forget ``identity`` if it still points at ``pipe``."""
        if self._by_id.get(identity) is pipe:
            del self._by_id[identity]

    def get(self, identity: bytes) -> P | None:
        return self._by_id.get(identity)

    def __len__(self) -> int:
        return len(self._by_id)

    def __contains__(self, identity: object) -> bool:
        return identity in self._by_id


class WouldBlock(ZreRefError):
    """A non-blocking send found every eligible peer at its high-water mark (or no peer at all)."""


class SocketClosed(ZreRefError):
    """The socket was closed while (or before) the call ran."""
