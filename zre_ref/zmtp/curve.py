"""The ZMTP CURVE mechanism (RFC 25 ZMTP-CURVE over RFC 26 CurveZMQ), sans-IO (spec/curve.md).

Three pieces, each usable on its own (the golden vectors check them one box at a time):

* :class:`CurveClientHandshake` and :class:`CurveServerHandshake`: command *bodies* in, command
  bodies out (HELLO, WELCOME, INITIATE, READY, ERROR), raising only the project's errors.
* :class:`MessageCipher`: after the handshake, every frame travels as a MESSAGE command whose box
  holds a flags byte (MORE 0x01, COMMAND 0x02) and the frame body; nonces are checked to rise.
* :class:`CurveClient` / :class:`CurveServer`: the settings a Connection is given.

The Connection in connection.py owns the greeting, the metadata checks and the closing; this
module owns the bytes and the keys. Not constant-time (spec/curve.md#not-constant-time).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from hmac import compare_digest

from ..curve.errors import BadBox, BadNonce
from ..curve.keys import SecretKey, parse_key
from ..curve.nacl import SharedKey, box_beforenm, secretbox, secretbox_open
from ..curve.x25519 import x25519_base
from ..errors import BadValue, BadVersion, LengthOverflow, ProtocolError, Truncated
from ..wire import pack_u64, unpack_u64
from .frames import COMMAND, LONG, MORE, frame_header

PROTOCOL = "zmtp-curve"

# -- nonce prefixes (RFC 26): a 24-byte box nonce is one of these plus a short or long nonce ---
HELLO_NONCE_PREFIX = b"CurveZMQHELLO---"
"""HELLO box: this + the 8-byte short nonce (spec/curve.md#hello)."""
WELCOME_NONCE_PREFIX = b"WELCOME-"
"""WELCOME box: this + the 16-byte long nonce (spec/curve.md#welcome)."""
COOKIE_NONCE_PREFIX = b"COOKIE--"
"""Cookie secretbox: this + the 16-byte cookie nonce (spec/curve.md#cookie)."""
INITIATE_NONCE_PREFIX = b"CurveZMQINITIATE"
"""INITIATE box: this + the 8-byte short nonce (spec/curve.md#initiate)."""
VOUCH_NONCE_PREFIX = b"VOUCH---"
"""Vouch box inside INITIATE: this + the 16-byte vouch nonce (spec/curve.md#initiate)."""
READY_NONCE_PREFIX = b"CurveZMQREADY---"
"""READY box: this + the 8-byte short nonce (spec/curve.md#ready)."""
MESSAGE_CLIENT_NONCE_PREFIX = b"CurveZMQMESSAGEC"
"""MESSAGE box from the client: this + the 8-byte short nonce (spec/curve.md#message)."""
MESSAGE_SERVER_NONCE_PREFIX = b"CurveZMQMESSAGES"
"""MESSAGE box from the server: this + the 8-byte short nonce (spec/curve.md#message)."""

# -- command layout (body = name-length byte, name, data) ---------------------------------------
HELLO_NAME = b"\x05HELLO"
WELCOME_NAME = b"\x07WELCOME"
INITIATE_NAME = b"\x08INITIATE"
READY_NAME = b"\x05READY"
ERROR_NAME = b"\x05ERROR"
MESSAGE_NAME = b"\x07MESSAGE"
VERSION = b"\x01\x00"
"""CurveZMQ 1.0, bytes 6-7 of HELLO."""
HELLO_PADDING = 72
"""Zero bytes in HELLO so that it is larger than WELCOME (anti-amplification)."""
HELLO_SIZE = 200
WELCOME_SIZE = 168
COOKIE_SIZE = 96
INITIATE_MIN_SIZE = 257
READY_MIN_SIZE = 30
MESSAGE_MIN_SIZE = 33
"""name (8) + short nonce (8) + tag (16) + flags (1)."""
MAC = 16
FLAG_MORE = 0x01
FLAG_COMMAND = 0x02
MAX_NONCE = 2**64 - 1
"""Short nonces count up from 1; a side that would need a larger one must close instead."""
FIRST_NONCE = 1
"""The first short nonce each side sends (libzmq's cn_nonce starts at 1)."""
REFUSED_REASON = b"400"
"""The ERROR status a server sends to a client key it refuses (ZAP status 400, as libzmq)."""
ANCHOR = "spec/curve.md"

#: randomness: (what, size) -> bytes; ``what`` names the draw so vectors can fix each one
Random = Callable[[str, int], bytes]
#: client key allow-list: raw 32-byte long-term client public key -> accept?
CurveAuthenticator = Callable[[bytes], bool]


def system_random(what: str, size: int) -> bytes:
    """The default :data:`Random`: ``os.urandom``."""
    return os.urandom(size)


class CurveRefused(ProtocolError):
    """The server refused the client's long-term key; ``error_body`` is the ERROR to send."""

    def __init__(self, reason: str, error_body: bytes) -> None:
        super().__init__(reason)
        self.error_body = error_body


class PeerError(ProtocolError):
    """The peer sent ERROR during the handshake."""

    def __init__(self, reason: bytes) -> None:
        super().__init__(f"the peer sent ERROR {reason!r}")
        self.reason = reason


# -- settings -----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class CurveClient:
    """CURVE client settings (pyzmq: curve_serverkey, curve_publickey, curve_secretkey).
    Keys: raw 32 bytes, or 40 Z85 characters (str or bytes). The secret never shows in a repr."""

    server_key: bytes
    public_key: bytes
    secret_key: SecretKey
    random: Random = field(default=system_random, repr=False, compare=False)
    name = "CURVE"
    as_server = False

    @classmethod
    def from_keys(cls, server_key: bytes | str, public_key: bytes | str | None,
                  secret_key: bytes | str | SecretKey, random: Random = system_random) -> CurveClient:
        secret = secret_key if isinstance(secret_key, SecretKey) else SecretKey(secret_key)
        public = parse_key(public_key, "curve_publickey") if public_key is not None else secret.public()
        if public != secret.public():
            raise ValueError("curve_publickey is not the public key of curve_secretkey")
        return cls(parse_key(server_key, "curve_serverkey"), public, secret, random)


@dataclass(frozen=True, slots=True)
class CurveServer:
    """CURVE server settings (pyzmq: curve_server=True, curve_publickey, curve_secretkey) and
    an optional allow-list of client keys (default: every client that completes the handshake)."""

    public_key: bytes
    secret_key: SecretKey
    authenticator: CurveAuthenticator | None = field(default=None, compare=False)
    random: Random = field(default=system_random, repr=False, compare=False)
    name = "CURVE"
    as_server = True

    @classmethod
    def from_keys(cls, public_key: bytes | str | None, secret_key: bytes | str | SecretKey,
                  authenticator: CurveAuthenticator | None = None,
                  random: Random = system_random) -> CurveServer:
        secret = secret_key if isinstance(secret_key, SecretKey) else SecretKey(secret_key)
        public = parse_key(public_key, "curve_publickey") if public_key is not None else secret.public()
        if public != secret.public():
            raise ValueError("curve_publickey is not the public key of curve_secretkey")
        return cls(public, secret, authenticator, random)


# -- helpers ------------------------------------------------------------------------------------
def _expect_name(body: bytes, name: bytes, what: str) -> None:
    if body[: len(name)] != name:
        got = body[1 : 1 + body[0]] if body else b""
        raise ProtocolError(f"CURVE: expected {what}, got command {got!r}")


def _truncated(what: str, size: int, need: str, anchor: str) -> Truncated:
    return Truncated(f"{what} of {size} bytes (needs {need})", protocol=PROTOCOL, field="body",
                     offset=size, spec_anchor=f"{ANCHOR}#{anchor}")


def _open(key: SharedKey, box: bytes | memoryview, nonce: bytes, what: str, offset: int,
          anchor: str) -> bytes:
    try:
        return key.open(box, nonce)
    except BadBox:
        raise BadBox(f"the {what} does not open", protocol=PROTOCOL, field=what, offset=offset,
                     spec_anchor=f"{ANCHOR}#{anchor}") from None


def _shared(public: bytes, secret: bytes, what: str, offset: int, anchor: str) -> SharedKey:
    try:
        return SharedKey(box_beforenm(public, secret))
    except BadBox:
        raise BadBox(f"the {what} is a small-order point", protocol=PROTOCOL, field=what,
                     offset=offset, spec_anchor=f"{ANCHOR}#{anchor}") from None


def error_body(reason: bytes) -> bytes:
    """An ERROR command body (sent in clear, spec/curve.md#error)."""
    return ERROR_NAME + bytes((len(reason),)) + reason


def parse_error(body: bytes) -> bytes:
    """The reason of an ERROR command body."""
    if len(body) < 7 or len(body) != 7 + body[6]:
        raise LengthOverflow("ERROR reason length does not match the command", protocol=PROTOCOL,
                             field="reason", offset=min(6, len(body)),
                             spec_anchor=f"{ANCHOR}#error")
    return body[7:]


# -- the handshake ------------------------------------------------------------------------------
class CurveClientHandshake:
    """Client side: :meth:`hello`, then :meth:`on_welcome` -> INITIATE, then :meth:`on_ready`.
    ``metadata`` is our encoded metadata for INITIATE (spec/curve.md#state-machine)."""

    __slots__ = ("_c_secret", "_hello_key", "_metadata", "_next_nonce", "_session", "_settings",
                 "client_ephemeral", "peer_nonce", "server_ephemeral")

    def __init__(self, settings: CurveClient, metadata: bytes) -> None:
        self._settings = settings
        self._metadata = metadata
        self._c_secret = settings.random("client-ephemeral-secret", 32)
        self.client_ephemeral = x25519_base(self._c_secret)  # C'
        self.server_ephemeral = b""  # S', from WELCOME
        self._hello_key = _shared(settings.server_key, self._c_secret, "server_key", 0, "hello")
        self._session: SharedKey | None = None
        self._next_nonce = FIRST_NONCE
        self.peer_nonce = 0

    def __repr__(self) -> str:
        return f"CurveClientHandshake(C'={self.client_ephemeral.hex()})"

    def _take_nonce(self) -> bytes:
        n = self._next_nonce
        self._next_nonce = n + 1
        return pack_u64(n)

    def hello(self) -> bytes:
        """HELLO: version, 72 zero bytes, C', short nonce, Box[64 zero bytes](C'->S)."""
        nonce = self._take_nonce()
        sig = self._hello_key.seal(bytes(64), HELLO_NONCE_PREFIX + nonce)
        return (HELLO_NAME + VERSION + bytes(HELLO_PADDING) + self.client_ephemeral + nonce + sig)

    def on_welcome(self, body: bytes) -> bytes:
        """Open WELCOME (Box[S' + cookie](S->C')); returns the INITIATE body."""
        _expect_name(body, WELCOME_NAME, "WELCOME")
        if len(body) != WELCOME_SIZE:
            raise LengthOverflow(f"WELCOME of {len(body)} bytes (must be {WELCOME_SIZE})",
                                 protocol=PROTOCOL, field="body", offset=0,
                                 spec_anchor=f"{ANCHOR}#welcome")
        plain = _open(self._hello_key, memoryview(body)[24:], WELCOME_NONCE_PREFIX + body[8:24],
                      "welcome-box", 24, "welcome")
        self.server_ephemeral = plain[:32]
        cookie = plain[32:128]
        self._session = _shared(self.server_ephemeral, self._c_secret, "server_ephemeral", 24,
                                "welcome")
        s = self._settings
        vouch_nonce = s.random("vouch-nonce", 16)
        vouch = vouch_nonce + SharedKey(box_beforenm(self.server_ephemeral, s.secret_key.raw)).seal(
            self.client_ephemeral + s.server_key, VOUCH_NONCE_PREFIX + vouch_nonce)
        nonce = self._take_nonce()
        sealed = self._session.seal(s.public_key + vouch + self._metadata,
                                    INITIATE_NONCE_PREFIX + nonce)
        return INITIATE_NAME + cookie + nonce + sealed

    def on_ready(self, body: bytes) -> bytes:
        """Open READY (Box[metadata](S'->C')); returns the server's encoded metadata."""
        if body[:6] == ERROR_NAME:
            raise PeerError(parse_error(body))
        _expect_name(body, READY_NAME, "READY")
        if len(body) < READY_MIN_SIZE:
            raise _truncated("ready", len(body), f"at least {READY_MIN_SIZE}", "ready")
        assert self._session is not None
        nonce = body[6:14]
        self.peer_nonce = unpack_u64(nonce, 0)
        return _open(self._session, memoryview(body)[14:], READY_NONCE_PREFIX + nonce,
                     "ready-box", 14, "ready")

    def on_command(self, body: bytes) -> bytes:
        """WELCOME or ERROR while waiting for WELCOME: the INITIATE body, or PeerError."""
        if body[:6] == ERROR_NAME:
            raise PeerError(parse_error(body))
        return self.on_welcome(body)

    def cipher(self) -> MessageCipher:
        """The MESSAGE cipher once READY has been opened."""
        assert self._session is not None
        return MessageCipher(self._session, MESSAGE_CLIENT_NONCE_PREFIX,
                             MESSAGE_SERVER_NONCE_PREFIX, self._next_nonce, self.peer_nonce)


class CurveServerHandshake:
    """Server side: :meth:`on_hello` -> WELCOME, :meth:`on_initiate` -> (client key, metadata),
    then :meth:`ready` -> READY (spec/curve.md#state-machine)."""

    __slots__ = ("_cookie_key", "_hello_key", "_next_nonce", "_s_secret", "_session", "_settings",
                 "client_ephemeral", "client_key", "peer_nonce", "server_ephemeral")

    def __init__(self, settings: CurveServer) -> None:
        self._settings = settings
        self._s_secret = b""
        self.server_ephemeral = b""
        self.client_ephemeral = b""
        self.client_key = b""
        self._cookie_key: bytes | None = None
        self._hello_key: SharedKey | None = None
        self._session: SharedKey | None = None
        self._next_nonce = FIRST_NONCE
        self.peer_nonce = 0

    def __repr__(self) -> str:
        return f"CurveServerHandshake(C'={self.client_ephemeral.hex() or '?'})"

    def on_hello(self, body: bytes) -> bytes:
        """Check and open HELLO; returns the WELCOME body (with a fresh cookie key)."""
        _expect_name(body, HELLO_NAME, "HELLO")
        if len(body) != HELLO_SIZE:
            raise LengthOverflow(f"HELLO of {len(body)} bytes (must be {HELLO_SIZE})",
                                 protocol=PROTOCOL, field="body", offset=0,
                                 spec_anchor=f"{ANCHOR}#hello")
        if body[6:8] != VERSION:
            raise BadVersion(f"CurveZMQ version {body[6]}.{body[7]} (only 1.0)",
                             protocol=PROTOCOL, field="version", offset=6,
                             spec_anchor=f"{ANCHOR}#hello")
        padding = body[8:80]
        if any(padding):
            first = next(i for i, b in enumerate(padding) if b)
            raise BadValue("HELLO padding is not all zero", protocol=PROTOCOL, field="padding",
                           offset=8 + first, spec_anchor=f"{ANCHOR}#hello")
        s = self._settings
        self.client_ephemeral = body[80:112]
        nonce = body[112:120]
        self._hello_key = _shared(self.client_ephemeral, s.secret_key.raw, "client_ephemeral",
                                  80, "hello")
        plain = _open(self._hello_key, memoryview(body)[120:], HELLO_NONCE_PREFIX + nonce,
                      "hello-box", 120, "hello")
        if any(plain):
            raise BadValue("the HELLO box does not hold 64 zero bytes", protocol=PROTOCOL,
                           field="hello-box", offset=120, spec_anchor=f"{ANCHOR}#hello")
        self.peer_nonce = unpack_u64(nonce, 0)
        # WELCOME: our ephemeral key pair, a fresh cookie key, Box[S' + cookie](S->C')
        self._s_secret = s.random("server-ephemeral-secret", 32)
        self.server_ephemeral = x25519_base(self._s_secret)
        self._cookie_key = s.random("cookie-key", 32)
        cookie_nonce = s.random("cookie-nonce", 16)
        cookie = cookie_nonce + secretbox(self.client_ephemeral + self._s_secret,
                                          COOKIE_NONCE_PREFIX + cookie_nonce, self._cookie_key)
        welcome_nonce = s.random("welcome-nonce", 16)
        sealed = self._hello_key.seal(self.server_ephemeral + cookie,
                                      WELCOME_NONCE_PREFIX + welcome_nonce)
        return WELCOME_NAME + welcome_nonce + sealed

    def on_initiate(self, body: bytes) -> tuple[bytes, bytes]:
        """Check INITIATE (cookie, nonce, box, vouch, allow-list); returns (client long-term
        public key, encoded client metadata). Raises CurveRefused for a refused key."""
        _expect_name(body, INITIATE_NAME, "INITIATE")
        if len(body) < INITIATE_MIN_SIZE:
            raise _truncated("initiate", len(body), f"at least {INITIATE_MIN_SIZE}", "initiate")
        if self._cookie_key is None:
            raise ProtocolError("CURVE: INITIATE before HELLO, or a second INITIATE")
        cookie_nonce = body[9:25]
        try:
            cookie = secretbox_open(memoryview(body)[25:105], COOKIE_NONCE_PREFIX + cookie_nonce,
                                    self._cookie_key)
        except BadBox:
            raise BadBox("the cookie does not open", protocol=PROTOCOL, field="cookie",
                         offset=25, spec_anchor=f"{ANCHOR}#cookie") from None
        if not compare_digest(cookie, self.client_ephemeral + self._s_secret):
            raise BadValue("the cookie is not ours for this client", protocol=PROTOCOL,
                           field="cookie", offset=25, spec_anchor=f"{ANCHOR}#cookie")
        self._cookie_key = None  # one INITIATE per cookie; forget the key
        nonce = body[105:113]
        value = unpack_u64(nonce, 0)
        if value <= self.peer_nonce:
            raise BadNonce(f"INITIATE short nonce {value} is not above HELLO's {self.peer_nonce}",
                           protocol=PROTOCOL, field="short_nonce", offset=105,
                           spec_anchor=f"{ANCHOR}#nonces")
        self._session = _shared(self.client_ephemeral, self._s_secret, "client_ephemeral", 80,
                                "initiate")
        plain = _open(self._session, memoryview(body)[113:], INITIATE_NONCE_PREFIX + nonce,
                      "initiate-box", 113, "initiate")
        self.peer_nonce = value
        client_key = plain[:32]
        vouch_key = _shared(client_key, self._s_secret, "client_key", 113, "initiate")
        vouch = _open(vouch_key, plain[48:128], VOUCH_NONCE_PREFIX + plain[32:48], "vouch", 113,
                      "initiate")
        if not compare_digest(vouch, self.client_ephemeral + self._settings.public_key):
            raise BadValue("the vouch does not hold C' and S", protocol=PROTOCOL, field="vouch",
                           offset=113, spec_anchor=f"{ANCHOR}#initiate")
        self.client_key = client_key
        auth = self._settings.authenticator
        if auth is not None:
            try:
                ok = bool(auth(client_key))
            except Exception as exc:  # a broken allow-list refuses, it never crashes the link
                ok = False
                reason = f"curve_authenticator raised {type(exc).__name__}"
            else:
                reason = "curve_authenticator refused the client key"
            if not ok:
                raise CurveRefused(f"{reason} {client_key.hex()}", error_body(REFUSED_REASON))
        return client_key, plain[128:]

    def ready(self, metadata: bytes) -> bytes:
        """READY: short nonce, Box[metadata](S'->C')."""
        assert self._session is not None
        n = self._next_nonce
        self._next_nonce = n + 1
        nonce = pack_u64(n)
        return READY_NAME + nonce + self._session.seal(metadata, READY_NONCE_PREFIX + nonce)

    def cipher(self) -> MessageCipher:
        """The MESSAGE cipher once READY has been produced."""
        assert self._session is not None
        return MessageCipher(self._session, MESSAGE_SERVER_NONCE_PREFIX,
                             MESSAGE_CLIENT_NONCE_PREFIX, self._next_nonce, self.peer_nonce)


# -- after the handshake ------------------------------------------------------------------------
class MessageCipher:
    """MESSAGE boxes for one connection (spec/curve.md#message): ``seal_many`` turns frames into
    MESSAGE bodies, ``open_many`` turns MESSAGE bodies back into (flags, frame) pairs; both do one
    keystream pass for the whole batch. Our nonces count up and are never reused; the peer's must
    rise strictly."""

    __slots__ = ("_key", "_next_nonce", "_recv_prefix", "_send_prefix", "peer_nonce")

    def __init__(self, key: SharedKey, send_prefix: bytes, recv_prefix: bytes, next_nonce: int,
                 peer_nonce: int) -> None:
        self._key = key
        self._send_prefix = send_prefix
        self._recv_prefix = recv_prefix
        self._next_nonce = next_nonce
        self.peer_nonce = peer_nonce

    def __repr__(self) -> str:
        return f"MessageCipher(next={self._next_nonce}, peer={self.peer_nonce})"

    @property
    def next_nonce(self) -> int:
        return self._next_nonce

    def seal_many(self, frames: Sequence[tuple[int, bytes | bytearray | memoryview]]
                  ) -> list[tuple[bytes, bytes]]:
        """(flags, body) pairs -> (head, cipher) pairs: the MESSAGE body is head + cipher, head
        being name, short nonce and tag, so a large cipher is never copied again."""
        first = self._next_nonce
        last = first + len(frames) - 1
        if last > MAX_NONCE:
            raise ProtocolError("CURVE: the short nonce space is used up; the connection must close")
        self._next_nonce = last + 1
        nonces = [pack_u64(n) for n in range(first, last + 1)]
        sealed = self._key.seal_many([_with_flags(flags, body) for flags, body in frames],
                                     self._send_prefix, nonces)
        return [(MESSAGE_NAME + nonce + box[:MAC], box[MAC:])
                for nonce, box in zip(nonces, sealed, strict=True)]

    def seal(self, flags: int, body: bytes | bytearray | memoryview) -> bytes:
        """One MESSAGE body (readable path for tests and vectors)."""
        head, cipher = self.seal_many([(flags, body)])[0]
        return head + cipher

    def open_many(self, bodies: Sequence[bytes | bytearray]
                  ) -> tuple[list[tuple[int, bytes]], Exception | None]:
        """MESSAGE bodies -> (flags, frame) pairs for the longest good prefix, and the error that
        stopped it (None if all opened). Checks name, length and rising nonces before any box."""
        nonces: list[bytes] = []
        boxes: list[memoryview] = []
        error: Exception | None = None
        last = self.peer_nonce
        for body in bodies:
            if bytes(body[:8]) != MESSAGE_NAME:
                name = bytes(body[1 : 1 + body[0]]) if body else b""
                error = ProtocolError(f"CURVE: expected MESSAGE, got command {name!r}")
                break
            if len(body) < MESSAGE_MIN_SIZE:
                error = _truncated("message", len(body), f"at least {MESSAGE_MIN_SIZE}", "message")
                break
            nonce = bytes(body[8:16])
            value = unpack_u64(nonce, 0)
            if value <= last:
                error = BadNonce(f"MESSAGE short nonce {value} is not above {last} (replayed or "
                                 "out of order)", protocol=PROTOCOL, field="short_nonce",
                                 offset=8, spec_anchor=f"{ANCHOR}#nonces")
                break
            last = value
            nonces.append(nonce)
            boxes.append(memoryview(body)[16:])
        out: list[tuple[int, bytes]] = []
        if boxes:
            opened = self._key.open_many(boxes, self._recv_prefix, nonces)
            for nonce, plain in zip(nonces, opened, strict=True):
                if plain is None:
                    return out, BadBox("a MESSAGE box does not open", protocol=PROTOCOL,
                                       field="message-box", offset=16,
                                       spec_anchor=f"{ANCHOR}#message")
                self.peer_nonce = unpack_u64(nonce, 0)
                out.append((plain[0], plain[1:]))
        return out, error

    def open(self, body: bytes) -> tuple[int, bytes]:
        """One MESSAGE body -> (flags, frame), or the error (readable path)."""
        out, error = self.open_many([body])
        if error is not None:
            raise error
        return out[0]


def _with_flags(flags: int, body: bytes | bytearray | memoryview) -> bytes:
    return bytes((flags,)) + body


# -- the byte stream after READY ----------------------------------------------------------------
class CurveTransport:
    """The ZMTP byte stream once the handshake is done, both directions (spec/curve.md#message).

    Outgoing: :meth:`queue` plaintext frames (data or command), then :meth:`wire` seals all of
    them in one pass and returns the pieces to write: MESSAGE bodies in data frames, as libzmq
    sends them. Incoming: :meth:`feed` takes raw bytes, seals nothing, opens every complete MESSAGE
    in one pass and returns the *plaintext* as an ordinary ZMTP frame stream (MORE and COMMAND
    flags restored), which the connection parses exactly as it parses NULL traffic.

    Held bytes are bounded: one incomplete frame of at most ``max_frame`` + 32 bytes (its size is
    checked from the header, before anything is kept) plus the frames of one read.
    """

    __slots__ = ("_cipher", "_in", "_max_body", "_out")

    def __init__(self, cipher: MessageCipher, max_frame: int) -> None:
        self._cipher = cipher
        self._max_body = max_frame + MESSAGE_MIN_SIZE - 1
        self._in = bytearray()
        self._out: list[tuple[int, bytes | bytearray | memoryview]] = []

    def __repr__(self) -> str:
        return f"CurveTransport({self._cipher!r}, held={len(self._in)}, queued={len(self._out)})"

    # outgoing
    def queue(self, flags: int, body: bytes | bytearray | memoryview) -> None:
        """A plaintext frame to send: flags FLAG_MORE / FLAG_COMMAND."""
        self._out.append((flags, body))

    @property
    def queued(self) -> int:
        return len(self._out)

    def wire(self) -> list[bytes]:
        """Everything queued, sealed: frame header + MESSAGE head, then the ciphertext."""
        if not self._out:
            return []
        queued, self._out = self._out, []
        pieces: list[bytes] = []
        for frames in _batches(queued):
            self._wire(frames, pieces)
        return pieces

    def _wire(self, frames: list[tuple[int, bytes | bytearray | memoryview]],
              pieces: list[bytes]) -> None:
        for head, cipher in self._cipher.seal_many(frames):
            size = len(head) + len(cipher)  # a data frame: flags 0 (LONG when > 255 bytes)
            if size <= 255:
                pieces.append(frame_header(0, size) + head + cipher)
            else:
                pieces.append(frame_header(0, size) + head)
                pieces.append(cipher)

    # incoming
    @property
    def held(self) -> int:
        return len(self._in)

    def feed(self, data: bytes | bytearray | memoryview) -> tuple[bytes, Exception | None]:
        """Raw bytes in; (plaintext ZMTP frames, the error that stops the stream or None)."""
        buf = self._in
        buf += data
        bodies: list[bytearray] = []
        pos, end = 0, len(buf)
        error: Exception | None = None
        while end - pos >= 2:
            flags = buf[pos]
            if flags & LONG:
                if end - pos < 9:
                    break
                size = int.from_bytes(buf[pos + 1 : pos + 9], "big")
                start = pos + 9
            else:
                size = buf[pos + 1]
                start = pos + 2
            if flags & ~LONG:
                what = "a command frame" if flags & COMMAND else f"frame flags {flags:#04x}"
                error = ProtocolError(f"CURVE: {what} after the handshake (only MESSAGE data "
                                      "frames may follow READY)")
                break
            if size > self._max_body:
                error = LengthOverflow(f"MESSAGE of {size} bytes is over the message size limit",
                                       protocol=PROTOCOL, field="body", offset=pos + 1,
                                       spec_anchor=f"{ANCHOR}#message")
                break
            if start + size > end:
                break
            bodies.append(buf[start : start + size])
            pos = start + size
        del buf[:pos]
        if error is not None:
            buf.clear()
        if not bodies:
            return b"", error
        opened, open_error = self._cipher.open_many(bodies)
        plain = b"".join(_plain_frame(flags, body) for flags, body in opened)
        return plain, open_error if open_error is not None else error


SEAL_BATCH = 256 * 1024
"""Bytes of plaintext sealed in one pass at most: a deep send queue costs time, not memory."""


def _batches(frames: list[tuple[int, bytes | bytearray | memoryview]]
             ) -> list[list[tuple[int, bytes | bytearray | memoryview]]]:
    out: list[list[tuple[int, bytes | bytearray | memoryview]]] = []
    batch: list[tuple[int, bytes | bytearray | memoryview]] = []
    size = 0
    for frame in frames:
        if batch and size + len(frame[1]) > SEAL_BATCH:
            out.append(batch)
            batch, size = [], 0
        batch.append(frame)
        size += len(frame[1])
    if batch:
        out.append(batch)
    return out


def _plain_frame(flags: int, body: bytes) -> bytes:
    """A decrypted MESSAGE as the ZMTP frame it stands for: box flag MORE -> frame MORE,
    box flag COMMAND -> a command frame (never MORE)."""
    zflags = COMMAND if flags & FLAG_COMMAND else (MORE if flags & FLAG_MORE else 0)
    return frame_header(zflags, len(body)) + body


def curve_mechanism(
    *,
    curve_server: bool = False,
    curve_publickey: bytes | str | None = None,
    curve_secretkey: bytes | str | None = None,
    curve_serverkey: bytes | str | None = None,
    curve_authenticator: CurveAuthenticator | None = None,
) -> CurveClient | CurveServer | None:
    """The CURVE settings for pyzmq-named socket options, or None when none is given.

    Server: ``curve_server=True`` and ``curve_secretkey`` (``curve_publickey`` optional, checked
    against it), ``curve_authenticator`` optional. Client: ``curve_serverkey``,
    ``curve_publickey`` and ``curve_secretkey``. Keys: 32 raw bytes or 40 Z85 characters."""
    if curve_server:
        if curve_secretkey is None:
            raise ValueError("a CURVE server needs curve_secretkey")
        if curve_serverkey is not None:
            raise ValueError("curve_serverkey is for CURVE clients, not with curve_server=True")
        return CurveServer.from_keys(curve_publickey, curve_secretkey, curve_authenticator)
    if curve_authenticator is not None:
        raise ValueError("curve_authenticator needs curve_server=True")
    if curve_serverkey is None:
        if curve_publickey is not None or curve_secretkey is not None:
            raise ValueError("a CURVE client needs curve_serverkey (or set curve_server=True)")
        return None
    if curve_publickey is None or curve_secretkey is None:
        raise ValueError("a CURVE client needs curve_publickey and curve_secretkey")
    return CurveClient.from_keys(curve_serverkey, curve_publickey, curve_secretkey)
