"""The ZRE UDP discovery beacon (spec/zre.md#beacon): encode, decode and its JSON form.

    'Z' 'R' 'E' | version (1) | UUID (16) | port (2, BE) | [CURVE public key (32), version 3 only]

Version 0x01 beacons are 22 bytes; zyre sends 54-byte version 0x03 beacons when CURVE is on.
Port 0 announces that the sender is leaving. A node that does not do CURVE ignores 0x03 beacons.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import DecodeError, EncodeError, register_decode_error
from ..wire import U16_MAX, Reader, Writer

PROTOCOL = "beacon"

#: The three bytes every ZRE beacon starts with (spec/zre.md#beacon)
BEACON_PREFIX = b"ZRE"
#: Beacon format versions: 0x01 plain, 0x03 with a CURVE public key (spec/zre.md#beacon)
BEACON_VERSION = 0x01
BEACON_VERSION_CURVE = 0x03
#: Size of a beacon of each version, in bytes (spec/zre.md#beacon)
BEACON_SIZES: dict[int, int] = {BEACON_VERSION: 22, BEACON_VERSION_CURVE: 54}
BEACON_SIZE = BEACON_SIZES[BEACON_VERSION]
BEACON_SIZE_CURVE = BEACON_SIZES[BEACON_VERSION_CURVE]
#: The UDP port ZRE beacons go to by default (IANA "ZRE-DISC") (spec/zre.md#beacon)
DISCOVERY_PORT = 5670
#: Port value meaning "I am leaving" (spec/zre.md#beacon)
LEAVING_PORT = 0
UUID_SIZE = 16
PUBLIC_KEY_SIZE = 32

_ANCHOR = "spec/zre.md#beacon"


@register_decode_error
class BadBeaconSize(DecodeError):
    """The datagram is not 22 bytes (version 1) or 54 bytes (version 3) long."""

    code = "bad-beacon-size"


@register_decode_error
class BadBeaconPrefix(DecodeError):
    """The datagram does not start with the bytes 'ZRE'."""

    code = "bad-beacon-prefix"


@register_decode_error
class BadBeaconVersion(DecodeError):
    """The beacon version byte is neither 0x01 nor 0x03."""

    code = "bad-beacon-version"


@dataclass(frozen=True, slots=True, kw_only=True)
class Beacon:
    """One decoded beacon (spec/zre.md#beacon). ``public_key`` is set only for version 3."""

    version: int = BEACON_VERSION
    uuid: bytes
    port: int
    public_key: bytes | None = None

    @property
    def leaving(self) -> bool:
        """True for a port-0 beacon: the sender is leaving (spec/zre.md#beacon)."""
        return self.port == LEAVING_PORT


def _error(cls: type[DecodeError], reason: str, field: str, offset: int) -> DecodeError:
    return cls(reason, protocol=PROTOCOL, field=field, offset=offset, spec_anchor=_ANCHOR)


#: (field, start, size) of a beacon, for the field and offset of a size error and for the
#: fast path's offsets (spec/zre.md#beacon)
LAYOUT = (("prefix", 0, 3), ("version", 3, 1), ("uuid", 4, UUID_SIZE), ("port", 20, 2),
          ("public_key", 22, PUBLIC_KEY_SIZE))


def field_span(name: str) -> slice:
    """Where field ``name`` lies in a beacon datagram (from :data:`LAYOUT`)."""
    start, size = next((at, n) for f, at, n in LAYOUT if f == name)
    return slice(start, start + size)


def _size_error(data: bytes, expected: str) -> DecodeError:
    """bad-beacon-size at the first field ``data`` cuts short (spec/zre.md#beacon)."""
    field, start = next((f, at) for f, at, n in LAYOUT if len(data) < at + n)
    return _error(BadBeaconSize, f"{len(data)} bytes, {expected}", field, start)


def decode_beacon(data: bytes) -> Beacon:
    """Decode one beacon datagram; raise a DecodeError subclass (spec/zre.md#beacon).

    Checks, in order: prefix 'ZRE' (of what is there), version 1 or 3, exact size for that version.
    A size error names the first field the datagram cuts (at that field's start), or ``end`` at
    the expected size when the datagram is too long.
    """
    data = bytes(data)
    head = data[: len(BEACON_PREFIX)]
    if head != BEACON_PREFIX[: len(head)]:
        raise _error(BadBeaconPrefix, f"expected 5a5245 ('ZRE'), got {head.hex()}", "prefix", 0)
    if len(data) <= len(BEACON_PREFIX):
        raise _size_error(data, "a beacon is 22 or 54")
    version = data[len(BEACON_PREFIX)]
    size = BEACON_SIZES.get(version)
    if size is None:
        raise _error(BadBeaconVersion, f"version {version:#04x}, expected 0x01 or 0x03",
                     "version", len(BEACON_PREFIX))
    if len(data) < size:
        raise _size_error(data, f"a version {version} beacon is {size}")
    if len(data) > size:
        raise _error(BadBeaconSize, f"{len(data)} bytes, a version {version} beacon is {size}",
                     "end", size)
    r = Reader(data, protocol=PROTOCOL, spec_anchor=_ANCHOR, offset=len(BEACON_PREFIX) + 1)
    uuid = r.pull_bytes(UUID_SIZE, "uuid")
    port = r.pull_u16("port")
    key = r.pull_bytes(PUBLIC_KEY_SIZE, "public_key") if version == BEACON_VERSION_CURVE else None
    return Beacon(version=version, uuid=uuid, port=port, public_key=key)


def encode_beacon(beacon: Beacon) -> bytes:
    """The datagram for ``beacon``; raise EncodeError on a bad value (spec/zre.md#beacon)."""
    size = BEACON_SIZES.get(beacon.version)
    if size is None:
        raise EncodeError(f"version: {beacon.version!r} is not 1 or 3")
    if not isinstance(beacon.uuid, (bytes, bytearray)) or len(beacon.uuid) != UUID_SIZE:
        raise EncodeError(f"uuid: expected {UUID_SIZE} bytes")
    key = beacon.public_key
    if beacon.version == BEACON_VERSION_CURVE:
        if not isinstance(key, (bytes, bytearray)) or len(key) != PUBLIC_KEY_SIZE:
            raise EncodeError(f"public_key: a version 3 beacon needs {PUBLIC_KEY_SIZE} bytes")
    elif key is not None:
        raise EncodeError("public_key: only a version 3 beacon carries one")
    w = Writer()
    w.push_bytes(BEACON_PREFIX)
    w.push_u8(beacon.version, "version")
    w.push_bytes(bytes(beacon.uuid))
    w.push_u16(beacon.port, "port")
    if key is not None:
        w.push_bytes(bytes(key))
    return w.getvalue()


def beacon_to_json(beacon: Beacon) -> dict[str, Any]:
    """JSON form: version, uuid (32 upper-case hex), port, and public_key (hex) when present."""
    out: dict[str, Any] = {"version": beacon.version, "uuid": beacon.uuid.hex().upper(),
                           "port": beacon.port}
    if beacon.public_key is not None:
        out["public_key"] = beacon.public_key.hex()
    return out


def _hex_field(obj: Mapping[str, Any], name: str, size: int) -> bytes:
    value = obj.get(name)
    if not isinstance(value, str):
        raise EncodeError(f"{name}: expected a hex string of {size} bytes")
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raise EncodeError(f"{name}: {value!r} is not hex") from None
    if len(raw) != size:
        raise EncodeError(f"{name}: expected {size} bytes, got {len(raw)}")
    return raw


def beacon_from_json(obj: Mapping[str, Any]) -> Beacon:
    """Build a Beacon from its JSON form; unknown keys and bad values raise EncodeError."""
    if not isinstance(obj, Mapping):
        raise EncodeError("expected a JSON object")
    extra = set(obj) - {"version", "uuid", "port", "public_key"}
    if extra:
        raise EncodeError(f"beacon has no field(s) {sorted(extra)}")
    version = obj.get("version", BEACON_VERSION)
    if not isinstance(version, int) or isinstance(version, bool) or version not in BEACON_SIZES:
        raise EncodeError(f"version: {version!r} is not 1 or 3")
    port = obj.get("port")
    if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= U16_MAX:
        raise EncodeError(f"port: {port!r} is not an integer in 0..{U16_MAX}")
    key = None
    if version == BEACON_VERSION_CURVE or "public_key" in obj:
        key = _hex_field(obj, "public_key", PUBLIC_KEY_SIZE)
    return Beacon(version=version, uuid=_hex_field(obj, "uuid", UUID_SIZE), port=port,
                  public_key=key)
