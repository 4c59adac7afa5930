"""Hypothesis strategies for ZRE messages, beacons and identities, for other projects' tests.

Needs the ``hypothesis`` package (a test-only dependency: ``pip install zre-ref[test]``); it is
imported when a strategy is first built, so importing this module never fails. Example::

    from hypothesis import given
    from zre_ref import testing
    from zre_ref.zre.messages import encode, decode

    @given(testing.zre_messages())
    def test_round_trip(msg):
        assert decode(encode(msg)) == msg

Every value drawn fits the wire (strings at most 255 UTF-8 bytes, u8/u16 in range), so it always
encodes (spec/zre.md#message-table, spec/zre.md#beacon).
"""

from __future__ import annotations

import importlib
from typing import Any

from .zre.beacon import BEACON_VERSION, BEACON_VERSION_CURVE, PUBLIC_KEY_SIZE, Beacon
from .zre.messages import (
    IDENTITY_PREFIX,
    UUID_SIZE,
    ZRE,
    Elect,
    Goodbye,
    Hello,
    Join,
    Leader,
    Leave,
    Ping,
    PingOk,
    Shout,
    Whisper,
)

__all__ = [
    "beacons",
    "content_frames",
    "elects",
    "goodbyes",
    "group_names",
    "headers",
    "hellos",
    "identities",
    "joins",
    "leaders",
    "leaves",
    "ping_oks",
    "pings",
    "sequences",
    "shouts",
    "statuses",
    "uuid_strings",
    "uuids",
    "whispers",
    "wire_strings",
    "zre_frames",
    "zre_messages",
]

#: A strategy (hypothesis.strategies.SearchStrategy); typed loosely so this module needs no stubs.
Strategy = Any


def _st() -> Any:
    try:
        return importlib.import_module("hypothesis.strategies")
    except ModuleNotFoundError as exc:  # pragma: no cover - depends on the environment
        raise ModuleNotFoundError(
            "zre_ref.testing needs hypothesis: pip install hypothesis", name=exc.name
        ) from exc


def wire_strings(max_bytes: int = 255, *, max_chars: int = 40) -> Strategy:
    """Any text (non-ASCII included) whose UTF-8 form is at most ``max_bytes`` bytes."""
    st = _st()
    text = st.text(st.characters(codec="utf-8"), max_size=max_chars)
    return text.filter(lambda s: len(s.encode("utf-8")) <= max_bytes)


def sequences() -> Strategy:
    """u16 sequence numbers, with the edges 0, 1 and 65535 drawn often (spec/zre.md#sequence)."""
    st = _st()
    return st.one_of(st.sampled_from([0, 1, 65535]), st.integers(0, 0xFFFF))


def statuses() -> Strategy:
    """u8 group status values (spec/zre.md#status)."""
    st = _st()
    return st.one_of(st.sampled_from([0, 255]), st.integers(0, 0xFF))


def group_names() -> Strategy:
    """Group names as carried in a ``string`` field (at most 255 bytes)."""
    return wire_strings(255)


def headers() -> Strategy:
    """HELLO headers: string keys (at most 255 bytes), longstr values."""
    st = _st()
    return st.dictionaries(wire_strings(255, max_chars=20), wire_strings(1000, max_chars=40),
                           max_size=6)


def content_frames() -> Strategy:
    """0..n content frames for WHISPER/SHOUT, empty frames included."""
    st = _st()
    return st.lists(st.binary(max_size=64), max_size=4).map(tuple)


def uuids() -> Strategy:
    """Raw 16-byte UUIDs."""
    return _st().binary(min_size=UUID_SIZE, max_size=UUID_SIZE)


def uuid_strings() -> Strategy:
    """UUIDs as zyre prints them: 32 upper-case hex characters."""
    return uuids().map(lambda u: u.hex().upper())


def identities() -> Strategy:
    """DEALER identities: 0x01 + 16-byte UUID (spec/zre.md#identity)."""
    return uuids().map(lambda u: bytes((IDENTITY_PREFIX,)) + u)


def hellos() -> Strategy:
    """HELLO messages (spec/zre.md#hello)."""
    st = _st()
    return st.builds(Hello, sequence=sequences(), endpoint=wire_strings(255),
                     groups=st.lists(wire_strings(300), max_size=5).map(tuple),
                     status=statuses(), name=wire_strings(255), headers=headers())


def whispers() -> Strategy:
    """WHISPER messages (spec/zre.md#whisper)."""
    return _st().builds(Whisper, sequence=sequences(), content=content_frames())


def shouts() -> Strategy:
    """SHOUT messages (spec/zre.md#shout)."""
    return _st().builds(Shout, sequence=sequences(), group=group_names(), content=content_frames())


def joins() -> Strategy:
    """JOIN messages (spec/zre.md#join)."""
    return _st().builds(Join, sequence=sequences(), group=group_names(), status=statuses())


def leaves() -> Strategy:
    """LEAVE messages (spec/zre.md#leave)."""
    return _st().builds(Leave, sequence=sequences(), group=group_names(), status=statuses())


def pings() -> Strategy:
    """PING messages (spec/zre.md#ping)."""
    return _st().builds(Ping, sequence=sequences())


def ping_oks() -> Strategy:
    """PING-OK messages (spec/zre.md#ping-ok)."""
    return _st().builds(PingOk, sequence=sequences())


def elects() -> Strategy:
    """ELECT messages, a zyre extension (spec/zre.md#elect)."""
    return _st().builds(Elect, sequence=sequences(), group=group_names(),
                        challenger_id=uuid_strings())


def leaders() -> Strategy:
    """LEADER messages, a zyre extension (spec/zre.md#leader)."""
    return _st().builds(Leader, sequence=sequences(), group=group_names(),
                        leader_id=uuid_strings())


def goodbyes() -> Strategy:
    """GOODBYE messages, a zyre extension (spec/zre.md#goodbye)."""
    return _st().builds(Goodbye, sequence=sequences())


#: One strategy factory per declared message, by spec name.
BY_NAME = {
    "HELLO": hellos, "WHISPER": whispers, "SHOUT": shouts, "JOIN": joins, "LEAVE": leaves,
    "PING": pings, "PING-OK": ping_oks, "ELECT": elects, "LEADER": leaders, "GOODBYE": goodbyes,
}


def zre_messages() -> Strategy:
    """Any ZRE v2 message, every declared type (spec/zre.md#message-table)."""
    return _st().one_of(*(BY_NAME[ms.name]() for ms in ZRE.by_id.values()))


def zre_frames() -> Strategy:
    """The frames of any ZRE message, ready for a decoder under test."""
    return zre_messages().map(ZRE.encode)


def beacons(*, curve: bool | None = None) -> Strategy:
    """Beacons: version 1, or version 3 with a public key; ``curve`` forces one form."""
    st = _st()
    plain = st.builds(Beacon, version=st.just(BEACON_VERSION), uuid=uuids(),
                      port=st.one_of(st.just(0), st.integers(0, 0xFFFF)))
    secure = st.builds(Beacon, version=st.just(BEACON_VERSION_CURVE), uuid=uuids(),
                       port=st.integers(0, 0xFFFF),
                       public_key=st.binary(min_size=PUBLIC_KEY_SIZE, max_size=PUBLIC_KEY_SIZE))
    if curve is None:
        return st.one_of(plain, secure)
    return secure if curve else plain
