"""A ZGOSSIP service as a sans-IO core: czmq zgossip's semantics, bounded (spec/zgossip.md#service).

Theory of operation. A service holds *tuples* ``key = value`` (with an optional time to live).
It may serve *clients* (peers that connected to its ROUTER, known by routing id) and be a client
of *remotes* (servers it connected to with a DEALER, known by endpoint); servers forward tuples
to one another, so the network may have cycles.

* A tuple enters by :meth:`GossipService.publish` (the application), a client's PUBLISH or a
  remote's PUBLISH. A tuple that is new (unknown key, or a different value) is stored, reported
  (:class:`Delivered`) and forwarded to every connected client and every remote except the one
  it came from. A known key/value is dropped, which ends cycles; it counts as a *refresh*
  (stored and forwarded) only when it at least doubles the tuple's remaining life
  (spec/zgossip.md#ttl-expiry).
* Server side, per client (spec/zgossip.md#server-states): START --HELLO--> CONNECTED, sending
  every stored tuple; PUBLISH is accepted in CONNECTED; PING is answered with PONG in any state;
  anything else, or a frame that does not decode, is answered with INVALID and the client is
  forgotten. A client silent for ``client_timeout`` is forgotten (czmq's expiry).
* Client side, per remote: once connected, HELLO and every stored tuple; PING every
  ``ping_interval``; on INVALID, HELLO and every tuple again; no traffic for ``remote_timeout``
  gives :class:`RemoteSilent` (the shell reconnects, then calls :meth:`remote_connected`).
* A tuple with ttl > 0 expires ttl ms after it was stored (:class:`Expired`); ttl 0 never does.

Memory is bounded by :class:`GossipLimits` (spec/zgossip.md#limits).
Input: ``publish``/``unpublish``, ``handle_client``/``client_gone``, ``remote_connected``/
``handle_remote``/``remote_gone``, ``tick``, each with ``now`` (seconds, monotonic).
Output: a list of effects, and :meth:`GossipService.next_deadline`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

from ..errors import DecodeError
from ..lograte import RateLimitedLog
from . import messages as m

log = logging.getLogger(__name__)

#: czmq's server forgets a silent client after this long: server/timeout 1000 ms in zgossip.c
#: (spec/zgossip.md#client-expiry)
DEFAULT_CLIENT_TIMEOUT = 1.0
#: A client PINGs each remote this often: well inside czmq's 1 s client timeout
DEFAULT_PING_INTERVAL = 0.3
#: No traffic from a remote for this long: it is silent, reconnect (spec/zgossip.md#client-side)
DEFAULT_REMOTE_TIMEOUT = 3.0

#: Tuples one service stores (spec/zgossip.md#limits)
MAX_TUPLES = 4096
#: A key is a zproto string: at most 255 UTF-8 bytes
MAX_KEY_BYTES = 255
#: Longest value stored (a ZRE endpoint is < 64 bytes)
MAX_VALUE_BYTES = 1024
#: Clients served at once; more are answered INVALID and not remembered
MAX_CLIENTS = 1024


@dataclass(frozen=True, slots=True)
class GossipLimits:
    """Bounds on what peers can make a service hold (spec/zgossip.md#limits)."""

    max_tuples: int = MAX_TUPLES
    max_key_bytes: int = MAX_KEY_BYTES
    max_value_bytes: int = MAX_VALUE_BYTES
    max_clients: int = MAX_CLIENTS


class ClientState(Enum):
    """A client's state on the server side (spec/zgossip.md#server-states)."""

    START = "start"
    CONNECTED = "connected"


# -- effects -----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SendToClient:
    """Send ``message`` through the ROUTER to the client with this routing id."""

    client: bytes
    message: m.ZgossipMessage


@dataclass(frozen=True, slots=True)
class SendToRemote:
    """Send ``message`` through the DEALER connected to ``remote``."""

    remote: str
    message: m.ZgossipMessage


@dataclass(frozen=True, slots=True)
class Delivered:
    """A new tuple (or a changed value) was stored: czmq's ``DELIVER key value``."""

    key: str
    value: str


@dataclass(frozen=True, slots=True)
class Expired:
    """A tuple's ttl ran out; it was removed."""

    key: str
    value: str


@dataclass(frozen=True, slots=True)
class RemoteSilent:
    """Nothing came from ``remote`` for ``remote_timeout``: drop the connection and reconnect."""

    remote: str


Effect = SendToClient | SendToRemote | Delivered | Expired | RemoteSilent


@dataclass(slots=True)
class _Tuple:
    value: str
    expires: float | None  # None: never
    from_client: bytes | None = None
    from_remote: str | None = None


@dataclass(slots=True)
class _Client:
    last_heard: float
    state: ClientState = ClientState.START


@dataclass(slots=True)
class _Remote:
    connected: bool = False
    last_heard: float = 0.0
    last_ping: float = 0.0


@dataclass
class GossipStats:
    """Counters for tests and logs."""

    refused_tuples: int = 0
    malformed: int = 0
    invalid_sent: int = 0
    clients_expired: int = 0


class GossipService:
    """One gossip service: tuple store, server side and client side (spec/zgossip.md#service)."""

    def __init__(self, *, limits: GossipLimits | None = None,
                 client_timeout: float = DEFAULT_CLIENT_TIMEOUT,
                 ping_interval: float = DEFAULT_PING_INTERVAL,
                 remote_timeout: float = DEFAULT_REMOTE_TIMEOUT) -> None:
        self.limits = limits or GossipLimits()
        self.client_timeout = client_timeout
        self.ping_interval = ping_interval
        self.remote_timeout = remote_timeout
        self._tuples: dict[str, _Tuple] = {}
        self._clients: dict[bytes, _Client] = {}
        self._remotes: dict[str, _Remote] = {}
        self.stats = GossipStats()
        self._log = RateLimitedLog(log)

    # -- queries ----------------------------------------------------------------------------------
    def tuples(self) -> dict[str, str]:
        """Every stored tuple, key -> value."""
        return {k: t.value for k, t in self._tuples.items()}

    def clients(self) -> dict[bytes, ClientState]:
        return {rid: c.state for rid, c in self._clients.items()}

    def remotes(self) -> list[str]:
        return list(self._remotes)

    # -- the application --------------------------------------------------------------------------
    def publish(self, key: str, value: str, now: float, *, ttl_ms: int = m.TTL_FOREVER) -> list[Effect]:
        """Publish a tuple from the application (czmq's ``PUBLISH key value``).

        Raises ValueError when it exceeds the limits (spec/zgossip.md#limits).
        """
        problem = self._refusal(key, value)
        if problem:
            raise ValueError(problem)
        m.ZGOSSIP.encode(m.Publish(key=key, value=value, ttl=ttl_ms))  # validates types and ranges
        return self._accept(key, value, ttl_ms, now)

    def unpublish(self, key: str) -> bool:
        """Forget a tuple locally; nothing goes on the wire (czmq's draft ``UNPUBLISH``)."""
        return self._tuples.pop(key, None) is not None

    # -- server side: clients on the ROUTER -------------------------------------------------------
    def handle_client(self, client: bytes, frames: Sequence[bytes], now: float) -> list[Effect]:
        """A message from a client (frames after the routing id)."""
        known = self._clients.get(client)
        try:
            msg = m.decode(list(frames))
        except DecodeError as exc:
            self.stats.malformed += 1
            self._log.report(now, logging.WARNING, ("malformed", client),
                             "zgossip: malformed message from client %s: %s", client.hex(), exc)
            return self._refuse(client)
        if known is None:
            if len(self._clients) >= self.limits.max_clients:
                self._log.report(now, logging.WARNING, "clients-full",
                                 "zgossip: %d clients, refusing another", len(self._clients))
                return self._refuse(client)
            known = self._clients[client] = _Client(now)
        known.last_heard = now
        if isinstance(msg, m.Ping):
            return [SendToClient(client, m.Pong())]
        if isinstance(msg, m.Hello) and known.state is ClientState.START:
            known.state = ClientState.CONNECTED
            return [SendToClient(client, p) for p in self._all_publishes(now)]
        if isinstance(msg, m.Publish) and known.state is ClientState.CONNECTED:
            return self._accept(msg.key, msg.value, msg.ttl, now, from_client=client)
        return self._refuse(client)

    def client_gone(self, client: bytes) -> None:
        """The client's connection closed."""
        self._clients.pop(client, None)

    def _refuse(self, client: bytes) -> list[Effect]:
        self._clients.pop(client, None)
        self.stats.invalid_sent += 1
        return [SendToClient(client, m.Invalid())]

    # -- client side: remotes on DEALERs ----------------------------------------------------------
    def remote_connected(self, remote: str, now: float) -> list[Effect]:
        """A DEALER to ``remote`` completed its handshake: say HELLO and publish every tuple."""
        r = self._remotes.setdefault(remote, _Remote())
        r.connected, r.last_heard, r.last_ping = True, now, now
        return self._hello(remote, now)

    def remote_gone(self, remote: str) -> None:
        """The connection to ``remote`` closed (the DEALER reconnects by itself)."""
        r = self._remotes.get(remote)
        if r is not None:
            r.connected = False

    def forget_remote(self, remote: str) -> None:
        """Stop talking to ``remote`` altogether."""
        self._remotes.pop(remote, None)

    def handle_remote(self, remote: str, frames: Sequence[bytes], now: float) -> list[Effect]:
        """A message from a server we are a client of."""
        r = self._remotes.setdefault(remote, _Remote(connected=True))
        r.last_heard = now
        try:
            msg = m.decode(list(frames))
        except DecodeError as exc:
            self.stats.malformed += 1
            self._log.report(now, logging.WARNING, ("malformed", remote),
                             "zgossip: malformed message from server %s: %s", remote, exc)
            return []
        if isinstance(msg, m.Publish):
            return self._accept(msg.key, msg.value, msg.ttl, now, from_remote=remote)
        if isinstance(msg, m.Invalid):  # the server forgot us: start again
            return self._hello(remote, now)
        if not isinstance(msg, m.Pong):
            self._log.report(now, logging.INFO, ("unexpected", remote),
                             "zgossip: server %s sent %s, ignored", remote, type(msg).__name__)
        return []

    def _hello(self, remote: str, now: float) -> list[Effect]:
        out: list[Effect] = [SendToRemote(remote, m.Hello())]
        out.extend(SendToRemote(remote, p) for p in self._all_publishes(now))
        return out

    # -- time -------------------------------------------------------------------------------------
    def tick(self, now: float) -> list[Effect]:
        """Expire tuples and silent clients, PING remotes, report silent remotes."""
        out: list[Effect] = []
        for key, t in list(self._tuples.items()):
            if t.expires is not None and t.expires <= now:
                del self._tuples[key]
                out.append(Expired(key, t.value))
        for rid, c in list(self._clients.items()):
            if now - c.last_heard >= self.client_timeout:
                del self._clients[rid]
                self.stats.clients_expired += 1
        for endpoint, r in self._remotes.items():
            if not r.connected:
                continue
            if now - r.last_heard >= self.remote_timeout:
                r.connected = False
                out.append(RemoteSilent(endpoint))
            elif now - r.last_ping >= self.ping_interval:
                r.last_ping = now
                out.append(SendToRemote(endpoint, m.Ping()))
        return out

    def next_deadline(self) -> float | None:
        """When :meth:`tick` next has work, or None."""
        times = [t.expires for t in self._tuples.values() if t.expires is not None]
        times += [c.last_heard + self.client_timeout for c in self._clients.values()]
        for r in self._remotes.values():
            if r.connected:
                times += [r.last_ping + self.ping_interval, r.last_heard + self.remote_timeout]
        return min(times, default=None)

    # -- the tuple store ----------------------------------------------------------------------------
    def _refusal(self, key: str, value: str) -> str:
        if len(key.encode("utf-8")) > self.limits.max_key_bytes:
            return f"key longer than {self.limits.max_key_bytes} bytes"
        if len(value.encode("utf-8")) > self.limits.max_value_bytes:
            return f"value longer than {self.limits.max_value_bytes} bytes"
        if key not in self._tuples and len(self._tuples) >= self.limits.max_tuples:
            return f"already {self.limits.max_tuples} tuples"
        return ""

    def _accept(self, key: str, value: str, ttl_ms: int, now: float, *,
                from_client: bytes | None = None, from_remote: str | None = None) -> list[Effect]:
        expires = None if ttl_ms == m.TTL_FOREVER else now + ttl_ms / 1000
        old = self._tuples.get(key)
        if old is not None and old.value == value and not _is_refresh(old.expires, expires, now):
            return []  # a duplicate: this is where cycles end
        problem = self._refusal(key, value)
        if problem:
            self.stats.refused_tuples += 1
            self._log.report(now, logging.WARNING, ("refused", from_client or from_remote),
                             "zgossip: tuple %.40r refused: %s", key, problem)
            return []
        self._tuples[key] = _Tuple(value, expires, from_client, from_remote)
        refresh = old is not None and old.value == value  # forwarded, not new to the application
        out: list[Effect] = [] if refresh else [Delivered(key, value)]
        publish = m.Publish(key=key, value=value, ttl=_remaining_ms(expires, now))
        out.extend(SendToClient(rid, publish) for rid, c in self._clients.items()
                   if c.state is ClientState.CONNECTED and rid != from_client)
        out.extend(SendToRemote(ep, publish) for ep, r in self._remotes.items()
                   if r.connected and ep != from_remote)
        return out

    def _all_publishes(self, now: float) -> list[m.Publish]:
        return [m.Publish(key=k, value=t.value, ttl=_remaining_ms(t.expires, now))
                for k, t in self._tuples.items() if t.expires is None or t.expires > now]


def _remaining_ms(expires: float | None, now: float) -> int:
    """The ttl to send: 0 for "never", else the remaining ms, at least 1 (0 would mean never)."""
    if expires is None:
        return m.TTL_FOREVER
    return max(1, min(0xFFFF_FFFF, int((expires - now) * 1000)))


def _is_refresh(old: float | None, new: float | None, now: float) -> bool:
    """A known key/value counts again only when it at least doubles the remaining life
    (spec/zgossip.md#ttl-expiry): copies coming round a cycle never do."""
    if old is None:
        return False
    if new is None:
        return True
    return new - now >= 2 * (old - now)
