"""READY and INITIATE metadata as a connection sees it: what we send, what we accept, and the
caps checked before decoding (spec/zmtp.md#metadata, spec/zmtp.md#limits).

The codec is in :mod:`~zre_ref.zmtp.commands`; :class:`~zre_ref.zmtp.connection.Connection`
calls these at the READY/INITIATE rows of its state table.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

from ..errors import LengthOverflow, ProtocolError
from .commands import decode_metadata
from .routing import SENDS_IDENTITY, SOCKET_TYPES

__all__ = [
    "MAX_HANDSHAKE_COMMAND",
    "MAX_IDENTITY",
    "MAX_METADATA_BYTES",
    "MAX_METADATA_PROPERTIES",
    "check_metadata_bounds",
    "decode_bounded_metadata",
    "our_metadata",
    "peer_type_and_identity",
]

#: largest READY/INITIATE metadata (bytes after the command name) (spec/zmtp.md#limits)
MAX_METADATA_BYTES = 64 * 1024
#: most properties in one READY/INITIATE (libzmq sends 2 or 3, plus ZMQ_METADATA ones)
MAX_METADATA_PROPERTIES = 1024
#: largest command frame before the handshake is complete (metadata + command name)
MAX_HANDSHAKE_COMMAND = MAX_METADATA_BYTES + 256
#: largest Identity libzmq accepts (spec/zmtp.md#metadata)
MAX_IDENTITY = 255


def check_socket_settings(socket_type: str, identity: bytes,
                          types: Collection[str] = SOCKET_TYPES) -> None:
    """Refuse, with ValueError (libzmq: EINVAL), a socket type outside ``types`` and an identity
    over MAX_IDENTITY bytes: what our READY would announce (spec/zmtp.md#socket-types,
    spec/zmtp.md#metadata)."""
    if socket_type not in types:
        raise ValueError(f"socket type must be one of {sorted(types)}, not {socket_type!r}")
    if len(identity) > MAX_IDENTITY:
        raise ValueError(f"an identity is at most {MAX_IDENTITY} bytes, not {len(identity)}")


def our_metadata(socket_type: str, identity: bytes, extra: Mapping[str, bytes]) -> dict[str, bytes]:
    """The properties our READY/INITIATE carries: Socket-Type, Identity (for the types that
    send one), then ``extra`` (spec/zmtp.md#metadata)."""
    props = {"Socket-Type": socket_type.encode("ascii")}
    if socket_type in SENDS_IDENTITY:
        props["Identity"] = identity
    props.update(extra)
    return props


def peer_type_and_identity(props: Mapping[str, bytes]) -> tuple[str, bytes]:
    """The peer's Socket-Type and Identity; names are case-sensitive, like libzmq's. Raises
    ProtocolError if the type is missing or unknown, or the identity is too long."""
    raw_type = props.get("Socket-Type")
    if raw_type is None:
        raise ProtocolError("the peer's metadata has no Socket-Type")
    peer_type = raw_type.decode("ascii", "replace")
    if peer_type not in SOCKET_TYPES:
        raise ProtocolError(f"unknown peer Socket-Type {peer_type!r}")
    identity = props.get("Identity", b"")
    if len(identity) > MAX_IDENTITY:
        raise ProtocolError(f"peer Identity of {len(identity)} bytes (at most {MAX_IDENTITY})")
    return peer_type, identity


def check_metadata_bounds(body: bytes, pos: int, base: int) -> None:
    """Refuse READY/INITIATE metadata over MAX_METADATA_BYTES or MAX_METADATA_PROPERTIES
    before it is decoded; walks at most MAX_METADATA_PROPERTIES + 1 property headers
    (spec/zmtp.md#limits). Malformed properties are left for the decoder to report."""
    end = len(body)
    if end - pos > MAX_METADATA_BYTES:
        raise LengthOverflow(f"metadata of {end - pos} bytes is over the limit of "
                             f"{MAX_METADATA_BYTES}", protocol="zmtp-frame", field="body",
                             offset=base, spec_anchor="spec/zmtp.md#limits")
    count = 0
    while pos < end:
        if count == MAX_METADATA_PROPERTIES:
            raise LengthOverflow(f"metadata has more than {MAX_METADATA_PROPERTIES} properties",
                                 protocol="zmtp-frame", field=f"properties[{count}].key",
                                 offset=base + pos, spec_anchor="spec/zmtp.md#limits")
        count += 1
        pos += 1 + body[pos]
        if pos + 4 > end:
            return
        pos += 4 + int.from_bytes(body[pos : pos + 4], "big")


def decode_bounded_metadata(data: bytes) -> dict[str, bytes]:
    """CURVE's decrypted READY/INITIATE metadata, within the same caps as in clear."""
    check_metadata_bounds(data, 0, 0)
    return decode_metadata(data, 0, 0)
