"""Socket types and the routing rules the asyncio sockets apply (spec/zmtp.md#socket-types).

Sans-IO: which socket types may talk, prefix subscriptions with reference counts (as libzmq's
trie), the ROUTER's identity table with handover, and one routing policy per socket type
(:func:`routing_for`): where a sent message goes, what happens to a received one, what a new
or lost peer changes (spec/zmtp.md#sockets). The asyncio ``Socket`` owns the pipes (a peer's
queue and connection) and does the I/O; the policy only decides.
"""

from __future__ import annotations

import bisect
import logging
from collections.abc import Callable, Iterator, Sequence, Sized
from typing import Any, Generic, Protocol, TypeVar

from ..errors import ZreRefError

log = logging.getLogger("zre_ref.zmtp.routing")

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


# -- routing policies, one per socket type (spec/zmtp.md#sockets) --------------------------------
class RoutedPipe(Protocol):
    """What a routing policy reads and writes of a socket's pipe (one peer)."""

    identity: bytes  # ROUTER: set when the handshake completes

    @property
    def ready(self) -> bool:
        """The handshake is complete."""

    @property
    def persistent(self) -> bool:
        """A connect() peer: may queue before its handshake."""

    @property
    def subs(self) -> Subscriptions:
        """PUB: the peer's subscriptions."""

    @property
    def queue(self) -> Sized:
        """Messages waiting to be sent to the peer."""


R = TypeVar("R", bound=RoutedPipe)
Frames = Sequence[bytes]
#: "queue ``frames`` for this pipe": the socket's side of a send
Enqueue = Callable[[R, Frames], None]


class Routing(Generic[R]):
    """The rules of one socket type. :meth:`send` returns None when the message is queued (or
    dropped by rule), else the pipes that had no room; ``waits`` says whether the sender then
    waits for room (DEALER) or gives those peers one more chance and drops the message for
    them (ROUTER, PUB: libzmq's rule)."""

    __slots__ = ()
    #: the sender waits (or gets WouldBlock) when no peer has room
    waits = False
    #: ROUTER: the table of peer identities (None for other types)
    identities: IdentityTable[R] | None = None
    #: SUB: what this socket asked for (None for other types)
    wanted: Subscriptions | None = None

    def send(self, frames: Frames, pipes: Sequence[R], hwm: int,
             enqueue: Enqueue[R]) -> Sequence[R] | None:
        raise TypeError(f"a {type(self).__name__[:-7].upper()} socket cannot send messages")

    def received(self, pipe: R, frames: list[bytes | bytearray]) -> bool:
        """A message from ``pipe``: True to deliver it (``frames`` may be changed in place)."""
        return True

    def opened(self, pipe: R, peer_identity: bytes) -> R | None:
        """``pipe`` completed its handshake; returns a pipe it displaced (ROUTER handover)."""
        return None

    def closed(self, pipe: R) -> bytes:
        """``pipe`` lost its connection; returns the identity no longer routable (ROUTER)."""
        return b""


class DealerRouting(Routing[R]):
    """DEALER: round-robin over peers with room (connected ones may queue before their
    handshake); the sender waits when none has room."""

    __slots__ = ("_next",)
    waits = True

    def __init__(self) -> None:
        self._next = 0

    def send(self, frames: Frames, pipes: Sequence[R], hwm: int,
             enqueue: Enqueue[R]) -> Sequence[R] | None:
        n = len(pipes)
        if n == 1:  # the common case (ZRE: one DEALER per peer), without the round-robin
            p = pipes[0]
            if len(p.queue) < hwm and (p.persistent or p.ready):
                enqueue(p, frames)
                return None
            return pipes
        for i in range(n):
            idx = (self._next + i) % n
            p = pipes[idx]
            if len(p.queue) < hwm and (p.persistent or p.ready):
                self._next = idx + 1
                enqueue(p, frames)
                return None
        return pipes


class RouterRouting(Routing[R]):
    """ROUTER: a received message gets its peer's identity in front; a sent one goes to the
    peer its first frame names (unknown peers: dropped). A new connection announcing an
    identity in use takes it over (ZMQ_ROUTER_HANDOVER)."""

    __slots__ = ("identities",)

    def __init__(self) -> None:
        self.identities: IdentityTable[R] = IdentityTable()

    def send(self, frames: Frames, pipes: Sequence[R], hwm: int,
             enqueue: Enqueue[R]) -> Sequence[R] | None:
        if len(frames) < 2:
            raise ValueError("a ROUTER message needs an identity frame and a body")
        target = self.identities.get(bytes(frames[0]))
        if target is None:
            log.debug("zmtp ROUTER: no peer %r, message dropped", frames[0])
            return None
        if len(target.queue) >= hwm:
            return (target,)
        enqueue(target, frames[1:])
        return None

    def received(self, pipe: R, frames: list[bytes | bytearray]) -> bool:
        frames.insert(0, pipe.identity)
        return True

    def opened(self, pipe: R, peer_identity: bytes) -> R | None:
        pipe.identity, displaced = self.identities.register(peer_identity, pipe)
        if displaced is not None:
            displaced.identity = b""
        return displaced

    def closed(self, pipe: R) -> bytes:
        identity = pipe.identity
        if not identity:
            return b""
        gone = identity if self.identities.get(identity) is pipe else b""
        self.identities.remove(identity, pipe)
        return gone


class PubRouting(Routing[R]):
    """PUB: a message goes to every ready subscriber with a matching prefix; a full one misses
    it. Subscriptions arrive as events and live on the pipes (``pipe.subs``)."""

    __slots__ = ()

    def send(self, frames: Frames, pipes: Sequence[R], hwm: int,
             enqueue: Enqueue[R]) -> Sequence[R] | None:
        topic = frames[0]
        full: list[R] = []
        for p in pipes:
            if p.ready and p.subs.matches(topic):
                if len(p.queue) < hwm:
                    enqueue(p, frames)
                else:
                    full.append(p)
        return full or None


class SubRouting(Routing[R]):
    """SUB: cannot send; delivers what matches its own subscriptions (the publisher filters
    too), and tells every new publisher what it wants."""

    __slots__ = ("wanted",)

    def __init__(self) -> None:
        self.wanted: Subscriptions = Subscriptions()

    def received(self, pipe: R, frames: list[bytes | bytearray]) -> bool:
        return self.wanted.matches(frames[0])


_ROUTINGS: dict[str, Callable[[], Routing[Any]]] = {
    "DEALER": DealerRouting, "ROUTER": RouterRouting, "PUB": PubRouting, "SUB": SubRouting,
}


def routing_for(socket_type: str) -> Routing[Any]:
    """A fresh policy for one of ASYNCIO_SOCKET_TYPES."""
    return _ROUTINGS[socket_type]()
