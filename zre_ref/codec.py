"""Field types and the message-declaration machinery for the zproto family (spec/README.md#codec-core).

A protocol (ZRE, ZRE/LOG, ZPIPES) is a :class:`Protocol`; each of its messages is declared once,
as a frozen dataclass whose fields carry their wire type::

    ZRE = Protocol("zre", signature=0xAAA1, version=2, spec="spec/zre.md")

    @ZRE.message(4, "JOIN", anchor="spec/zre.md#join")
    @dataclass(frozen=True, slots=True, kw_only=True)
    class Join(ZreMessage):
        group: str = wire(STRING)
        status: int = wire(U8)

That one declaration drives :meth:`Protocol.encode`, :meth:`Protocol.decode`, the JSON form used by
the vectors and the CLI (:meth:`Protocol.to_json` / :meth:`Protocol.from_json`) and the table in
``spec/`` (:meth:`Protocol.table_markdown`). Wire layout of the first frame::

    signature (2, = 0xAAA0 | n) | id (1) | [version (1)] | fields in declaration order

A field of type :data:`FRAMES` (at most one, last) is carried as the frames after the first.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, ClassVar, Generic, TypeVar

from .errors import (
    BadSignature,
    BadValue,
    BadVersion,
    DecodeError,
    EncodeError,
    FrameCount,
    TrailingBytes,
    Truncated,
    UnknownId,
)
from .wire import Reader, Writer

T = TypeVar("T")


class FieldType(Generic[T]):
    """One wire type: how to pull it, push it, and show it as JSON."""

    #: name used in spec tables (zproto's names)
    wire_name: ClassVar[str] = ""
    #: smallest encoded size of one value, used to bound element counts before allocating
    min_size: ClassVar[int] = 0

    def pull(self, r: Reader, field: str) -> T:
        raise NotImplementedError

    def push(self, w: Writer, value: T, field: str) -> None:
        raise NotImplementedError

    def to_json(self, value: T) -> Any:
        return value

    def from_json(self, value: Any, field: str) -> T:
        return self.validate(value, field)

    def validate(self, value: Any, field: str) -> T:
        """Check (and normalise) a Python value before encoding; raise EncodeError."""
        return value  # type: ignore[no-any-return]

    def describe(self) -> str:
        return self.wire_name


class _Uint(FieldType[int]):
    def __init__(self, size: int) -> None:
        self.size = size
        self.max = (1 << (8 * size)) - 1
        self._pull: Callable[[Reader, str], int] = {
            1: Reader.pull_u8,
            2: Reader.pull_u16,
            4: Reader.pull_u32,
            8: Reader.pull_u64,
        }[size]
        self._push: Callable[[Writer, int, str], None] = {
            1: Writer.push_u8,
            2: Writer.push_u16,
            4: Writer.push_u32,
            8: Writer.push_u64,
        }[size]

    @property
    def min_size(self) -> int:  # type: ignore[override]
        return self.size

    def describe(self) -> str:
        return f"number-{self.size}"

    def pull(self, r: Reader, field: str) -> int:
        return self._pull(r, field)

    def push(self, w: Writer, value: int, field: str) -> None:
        self._push(w, value, field)

    def to_json(self, value: int) -> Any:
        # number-8 values are decimal strings: JSON parsers round integers beyond 2^53
        return str(value) if self.size == 8 else value

    def from_json(self, value: Any, field: str) -> int:
        if self.size == 8 and isinstance(value, str) and value.isascii() and value.isdigit():
            value = int(value)
        return self.validate(value, field)

    def validate(self, value: Any, field: str) -> int:
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= self.max:
            raise EncodeError(f"{field}: {value!r} is not an integer in 0..{self.max}")
        return value


U8 = _Uint(1)
U16 = _Uint(2)
U32 = _Uint(4)
U64 = _Uint(8)


def _check_str(value: Any, field: str, max_bytes: int) -> str:
    if not isinstance(value, str):
        raise EncodeError(f"{field}: expected str, got {type(value).__name__}")
    try:
        n = len(value.encode("utf-8"))
    except UnicodeEncodeError as exc:
        raise EncodeError(f"{field}: cannot encode as UTF-8: {exc.reason}") from None
    if n > max_bytes:
        raise EncodeError(f"{field}: {n} UTF-8 bytes, at most {max_bytes} fit")
    return value


class _String(FieldType[str]):
    """zproto ``string``: u8 length + UTF-8 bytes (length counts bytes)."""

    wire_name = "string"
    min_size = 1

    def pull(self, r: Reader, field: str) -> str:
        return r.pull_string(field)

    def push(self, w: Writer, value: str, field: str) -> None:
        w.push_string(value, field)

    def validate(self, value: Any, field: str) -> str:
        return _check_str(value, field, 0xFF)


class _LongStr(FieldType[str]):
    """zproto ``longstr``: u32 length + UTF-8 bytes."""

    wire_name = "longstr"
    min_size = 4

    def pull(self, r: Reader, field: str) -> str:
        return r.pull_longstr(field)

    def push(self, w: Writer, value: str, field: str) -> None:
        w.push_longstr(value, field)

    def validate(self, value: Any, field: str) -> str:
        return _check_str(value, field, 0xFFFF_FFFF)


class _Strings(FieldType[tuple[str, ...]]):
    """zproto ``strings``: u32 count, then count x ``longstr``."""

    wire_name = "strings"
    min_size = 4

    def pull(self, r: Reader, field: str) -> tuple[str, ...]:
        n = r.pull_count(field, LONGSTR.min_size)
        return tuple(r.pull_longstr(f"{field}[{i}]") for i in range(n))

    def push(self, w: Writer, value: tuple[str, ...], field: str) -> None:
        w.push_u32(len(value), field)
        for i, item in enumerate(value):
            w.push_longstr(item, f"{field}[{i}]")

    def to_json(self, value: tuple[str, ...]) -> Any:
        return list(value)

    def validate(self, value: Any, field: str) -> tuple[str, ...]:
        if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
            raise EncodeError(f"{field}: expected a list of str")
        return tuple(LONGSTR.validate(v, f"{field}[{i}]") for i, v in enumerate(value))


class _Hash(FieldType[dict[str, str]]):
    """zproto ``hash``: u32 count, then count x (key ``string``, value ``longstr``).

    Keys are unique; a repeated key on the wire keeps the last value (zyre's zhash_insert keeps
    the first: spec/zre.md#hash). JSON form: a list of ``[key, value]`` pairs in wire order
    (spec/README.md#json-form); ``from_json`` also takes an object, in its member order. Error
    fields name the pair by index: ``headers[0].key``, ``headers[0].value``.
    """

    wire_name = "hash"
    min_size = 4

    def pull(self, r: Reader, field: str) -> dict[str, str]:
        n = r.pull_count(field, STRING.min_size + LONGSTR.min_size)
        out: dict[str, str] = {}
        for i in range(n):
            key = r.pull_string(f"{field}[{i}].key")
            out[key] = r.pull_longstr(f"{field}[{i}].value")
        return out

    def push(self, w: Writer, value: dict[str, str], field: str) -> None:
        w.push_u32(len(value), field)
        for i, (key, val) in enumerate(value.items()):
            w.push_string(key, f"{field}[{i}].key")
            w.push_longstr(val, f"{field}[{i}].value")

    def to_json(self, value: dict[str, str]) -> Any:
        return [[k, v] for k, v in value.items()]

    def from_json(self, value: Any, field: str) -> dict[str, str]:
        return self.validate(pairs_from_json(value, field), field)

    def validate(self, value: Any, field: str) -> dict[str, str]:
        if not isinstance(value, Mapping):
            raise EncodeError(f"{field}: expected a mapping of str to str")
        return {
            STRING.validate(k, f"{field}[{i}].key"): LONGSTR.validate(v, f"{field}[{i}].value")
            for i, (k, v) in enumerate(value.items())
        }


def pairs_from_json(value: Any, field: str) -> dict[Any, Any]:
    """A hash's JSON form, ``[[key, value], ...]`` (schema 2) or an object (schema 1), as a dict."""
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, list) and all(isinstance(p, list) and len(p) == 2 for p in value):
        return {p[0]: p[1] for p in value}
    raise EncodeError(f"{field}: expected a list of [key, value] pairs")


class _Chunk(FieldType[bytes]):
    """zproto ``chunk``: u32 length + raw bytes (JSON: hex)."""

    wire_name = "chunk"
    min_size = 4

    def pull(self, r: Reader, field: str) -> bytes:
        return r.pull_longstr_bytes(field)

    def push(self, w: Writer, value: bytes, field: str) -> None:
        w.push_longstr_bytes(value, field)

    def to_json(self, value: bytes) -> Any:
        return value.hex()

    def from_json(self, value: Any, field: str) -> bytes:
        return _hex(value, field)

    def validate(self, value: Any, field: str) -> bytes:
        if not isinstance(value, (bytes, bytearray, memoryview)):
            raise EncodeError(f"{field}: expected bytes, got {type(value).__name__}")
        return bytes(value)


class Octets(FieldType[bytes]):
    """A fixed number of raw bytes (JSON: hex)."""

    def __init__(self, size: int) -> None:
        self.size = size

    @property
    def min_size(self) -> int:  # type: ignore[override]
        return self.size

    def describe(self) -> str:
        return f"octets[{self.size}]"

    def pull(self, r: Reader, field: str) -> bytes:
        return r.pull_bytes(self.size, field)

    def push(self, w: Writer, value: bytes, field: str) -> None:
        w.push_bytes(value)

    def to_json(self, value: bytes) -> Any:
        return value.hex()

    def from_json(self, value: Any, field: str) -> bytes:
        return self.validate(_hex(value, field), field)

    def validate(self, value: Any, field: str) -> bytes:
        if not isinstance(value, (bytes, bytearray, memoryview)) or len(value) != self.size:
            raise EncodeError(f"{field}: expected exactly {self.size} bytes")
        return bytes(value)


class _Frames(FieldType[tuple[bytes, ...]]):
    """Zero or more whole frames after the first one (zproto ``msg``). JSON: list of hex."""

    wire_name = "frames"

    def describe(self) -> str:
        return "frames (after the first frame)"

    def to_json(self, value: tuple[bytes, ...]) -> Any:
        return [f.hex() for f in value]

    def from_json(self, value: Any, field: str) -> tuple[bytes, ...]:
        if not isinstance(value, list):
            raise EncodeError(f"{field}: expected a list of hex strings")
        return tuple(_hex(v, f"{field}[{i}]") for i, v in enumerate(value))

    def validate(self, value: Any, field: str) -> tuple[bytes, ...]:
        if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
            raise EncodeError(f"{field}: expected a sequence of bytes")
        out = []
        for i, f in enumerate(value):
            if not isinstance(f, (bytes, bytearray, memoryview)):
                raise EncodeError(f"{field}[{i}]: expected bytes, got {type(f).__name__}")
            out.append(bytes(f))
        return tuple(out)


STRING = _String()
LONGSTR = _LongStr()
STRINGS = _Strings()
HASH = _Hash()
CHUNK = _Chunk()
FRAMES = _Frames()


def _hex(value: Any, field: str) -> bytes:
    if not isinstance(value, str):
        raise EncodeError(f"{field}: expected a hex string")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise EncodeError(f"{field}: {value!r} is not hex") from None


def wire(
    kind: FieldType[Any],
    *,
    default: Any = dataclasses.MISSING,
    default_factory: Any = dataclasses.MISSING,
    doc: str = "",
) -> Any:
    """Declare a message field with its wire type (a dataclasses.field with metadata)."""
    meta = {"wire": kind, "doc": doc}
    if default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=meta)
    if default is dataclasses.MISSING:
        # A sensible zero for every type, so messages can be built with few arguments.
        zero: dict[type, Callable[[], Any]] = {
            _Uint: int, _String: str, _LongStr: str, _Strings: tuple, _Hash: dict,
            _Chunk: bytes, _Frames: tuple,
        }
        factory = zero.get(type(kind))
        if factory is None:
            return dataclasses.field(metadata=meta)
        return dataclasses.field(default_factory=factory, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


@dataclasses.dataclass(frozen=True)
class FieldSpec:
    name: str
    kind: FieldType[Any]
    doc: str


@dataclasses.dataclass(frozen=True)
class MessageSpec:
    """What one declaration says: id, spec name, fields in wire order, anchor."""

    id: int
    name: str
    cls: type
    fields: tuple[FieldSpec, ...]
    frames_field: FieldSpec | None
    anchor: str
    extension: bool
    doc: str


M = TypeVar("M")


class Protocol:
    """A zproto-style protocol: signature, optional version byte, and its declared messages."""

    def __init__(
        self,
        name: str,
        *,
        signature: int,
        spec: str,
        version: int | None = None,
        strict_trailing: bool = True,
    ) -> None:
        self.name = name
        self.signature = signature
        self.signature_bytes = bytes((signature >> 8, signature & 0xFF))
        self.spec = spec
        self.version = version
        self.strict_trailing = strict_trailing
        self.by_id: dict[int, MessageSpec] = {}
        self.by_name: dict[str, MessageSpec] = {}
        self.by_class: dict[type, MessageSpec] = {}

    # -- declaration ----------------------------------------------------------------------
    def message(
        self, id: int, name: str, *, anchor: str, extension: bool = False
    ) -> Callable[[type[M]], type[M]]:
        """Class decorator registering a dataclass as message ``id`` named ``name``."""

        def register(cls: type[M]) -> type[M]:
            if not dataclasses.is_dataclass(cls):
                raise TypeError(f"{cls.__name__} must be a dataclass")
            if id in self.by_id or name in self.by_name:
                raise ValueError(f"{self.name}: message id {id} / {name} declared twice")
            fields: list[FieldSpec] = []
            frames: FieldSpec | None = None
            for f in dataclasses.fields(cls):
                kind = f.metadata.get("wire")
                if kind is None:
                    raise TypeError(f"{cls.__name__}.{f.name} has no wire type (use wire(...))")
                spec = FieldSpec(f.name, kind, f.metadata.get("doc", ""))
                if kind is FRAMES:
                    if frames is not None:
                        raise TypeError(f"{cls.__name__}: at most one FRAMES field")
                    frames = spec
                elif frames is not None:
                    raise TypeError(f"{cls.__name__}: the FRAMES field must be the last")
                else:
                    fields.append(spec)
            ms = MessageSpec(
                id, name, cls, tuple(fields), frames, anchor, extension,
                (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else "",
            )
            self.by_id[id] = ms
            self.by_name[name] = ms
            self.by_class[cls] = ms
            return cls

        return register

    def spec_of(self, msg: object) -> MessageSpec:
        try:
            return self.by_class[type(msg)]
        except KeyError:
            raise EncodeError(f"{type(msg).__name__} is not a {self.name} message") from None

    # -- encode ---------------------------------------------------------------------------
    def encode(self, msg: object) -> list[bytes]:
        """The frames of ``msg``: the data frame, then any content frames."""
        ms = self.spec_of(msg)
        w = Writer()
        w.push_bytes(self.signature_bytes)
        w.push_u8(ms.id, "id")
        if self.version is not None:
            w.push_u8(self.version, "version")
        for f in ms.fields:
            value = f.kind.validate(getattr(msg, f.name), f.name)
            f.kind.push(w, value, f.name)
        frames = [w.getvalue()]
        if ms.frames_field is not None:
            frames.extend(FRAMES.validate(getattr(msg, ms.frames_field.name), ms.frames_field.name))
        return frames

    # -- decode ---------------------------------------------------------------------------
    def _error(self, cls: type[DecodeError], reason: str, field: str, offset: int,
               anchor: str = "", frame: int = 0) -> DecodeError:
        return cls(reason, protocol=self.name, field=field, offset=offset,
                   spec_anchor=anchor or self.spec, frame=frame)

    def decode(self, frames: Sequence[bytes], *, strict: bool | None = None) -> Any:
        """Decode one message from its frames; raise a DecodeError subclass on bad input.

        ``strict`` (default: the protocol's ``strict_trailing``) refuses bytes after the last
        field and frames a message does not declare.
        """
        strict = self.strict_trailing if strict is None else strict
        if not frames:
            raise self._error(FrameCount, "no frames", "frames", 0)
        data = frames[0]
        r = Reader(data, protocol=self.name, spec_anchor=self.spec)
        if r.remaining() < 2:
            raise self._error(Truncated, f"needs 2 bytes, {r.remaining()} remain", "signature", 0)
        sig = r.pull_bytes(2, "signature")
        if sig != self.signature_bytes:
            raise self._error(
                BadSignature, f"expected {self.signature_bytes.hex()}, got {sig.hex()}",
                "signature", 0)
        msg_id = r.pull_u8("id")
        ms = self.by_id.get(msg_id)
        if ms is None:
            raise self._error(UnknownId, f"no message with id {msg_id}", "id", 2)
        r.spec_anchor = ms.anchor
        if self.version is not None:
            version = r.pull_u8("version")
            if version != self.version:
                raise self._error(BadVersion, f"expected {self.version}, got {version}",
                                  "version", 3, ms.anchor)
        values: dict[str, Any] = {}
        for f in ms.fields:
            values[f.name] = f.kind.pull(r, f.name)
        if strict and not r.at_end():
            raise self._error(TrailingBytes, f"{r.remaining()} bytes after the last field",
                              "end", r.tell(), ms.anchor)
        if ms.frames_field is not None:
            values[ms.frames_field.name] = tuple(bytes(f) for f in frames[1:])
        elif strict and len(frames) > 1:
            raise self._error(FrameCount, f"{ms.name} has no content, got {len(frames) - 1} "
                              "more frames", "frames", 0, ms.anchor, frame=1)
        try:
            return ms.cls(**values)
        except (TypeError, ValueError) as exc:  # a dataclass __post_init__ refusing a value
            raise self._error(BadValue, str(exc), ms.name, 0, ms.anchor) from None

    # -- JSON form (vectors, CLI) ---------------------------------------------------------
    def to_json(self, msg: object) -> dict[str, Any]:
        ms = self.spec_of(msg)
        out: dict[str, Any] = {"type": ms.name}
        if self.version is not None:
            out["version"] = self.version
        for f in ms.fields + ((ms.frames_field,) if ms.frames_field else ()):
            out[f.name] = f.kind.to_json(getattr(msg, f.name))
        return out

    def from_json(self, obj: Mapping[str, Any]) -> Any:
        """Build a message from its JSON form; unknown or missing keys raise EncodeError."""
        if not isinstance(obj, Mapping):
            raise EncodeError("expected a JSON object")
        name = obj.get("type")
        ms = self.by_name.get(name) if isinstance(name, str) else None
        if ms is None:
            raise EncodeError(f"type: {name!r} is not one of {sorted(self.by_name)}")
        if "version" in obj and obj["version"] != self.version:
            raise EncodeError(f"version: this encoder writes {self.version}")
        all_fields = ms.fields + ((ms.frames_field,) if ms.frames_field else ())
        known = {f.name for f in all_fields} | {"type", "version"}
        extra = set(obj) - known
        if extra:
            raise EncodeError(f"{ms.name} has no field(s) {sorted(extra)}")
        values = {f.name: f.kind.from_json(obj[f.name], f.name) for f in all_fields if f.name in obj}
        try:
            return ms.cls(**values)
        except (TypeError, ValueError) as exc:
            raise EncodeError(f"{ms.name}: {exc}") from None

    # -- spec table -----------------------------------------------------------------------
    def table_markdown(self) -> str:
        """The message table for spec/: one row per field, generated from the declarations."""
        lines = ["| id | message | field | wire type | notes |", "|---|---|---|---|---|"]
        for ms in sorted(self.by_id.values(), key=lambda m: m.id):
            label = ms.name + (" (extension)" if ms.extension else "")
            rows = list(ms.fields) + ([ms.frames_field] if ms.frames_field else [])
            if not rows:
                lines.append(f"| {ms.id} | {label} | — | — | {ms.doc} |")
            for i, f in enumerate(rows):
                lines.append(
                    f"| {ms.id if i == 0 else ''} | {label if i == 0 else ''} | {f.name} | "
                    f"{f.kind.describe()} | {f.doc} |")
        return "\n".join(lines)
