"""Golden vectors for CurveZMQ (spec/curve.md): X25519, NaCl box/secretbox, Poly1305, Z85, and
complete ZMTP CURVE conversations with every key and nonce fixed, then invalid commands.

Published test vectors (RFC 7748, NaCl's box/secretbox test, RFC 8439's Poly1305 example, RFC 32,
zmq_curve(7)'s test keys) are written literally and the generator stops if zre_ref disagrees.
`tox -e interop` opens every box here with libsodium (tests/interop/test_interop_curve.py).
"""

from __future__ import annotations

from typing import Any

from zre_ref.curve import nacl
from zre_ref.curve.fixtures import (
    CLIENT_PUBLIC,
    CLIENT_PUBLIC_Z85,
    CLIENT_SECRET,
    CLIENT_SECRET_Z85,
    DRAWS,
    SERVER_PUBLIC,
    SERVER_PUBLIC_Z85,
    SERVER_SECRET,
    SERVER_SECRET_Z85,
    FixedRandom,
)
from zre_ref.curve.poly1305 import poly1305
from zre_ref.curve.x25519 import x25519, x25519_base
from zre_ref.curve.z85 import z85_decode, z85_encode
from zre_ref.errors import DecodeError
from zre_ref.vectorgen import SCHEMA
from zre_ref.zmtp import curve as zc
from zre_ref.zmtp.commands import encode_metadata
from zre_ref.zmtp.frames import COMMAND, frame_header
from zre_ref.zmtp.greeting import Greeting, encode_greeting

SPEC = "spec/curve.md"
OURS = ["zre-ref"]


def _h(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", "").replace("\n", ""))


def _fn(cid: str, anchor: str, description: str, inp: dict[str, Any], out: dict[str, Any], *,
        source: list[str] | None = None, level: str = "MUST") -> dict[str, Any]:
    return {"id": cid, "spec": f"{SPEC}#{anchor}", "level": level, "result": "valid",
            "source": source or OURS, "description": description, "kind": "function",
            "input": inp, "output": out}


def _bad(cid: str, anchor: str, description: str, inp: dict[str, Any], exc: DecodeError,
         **extra: Any) -> dict[str, Any]:
    case = {"id": cid, "spec": f"{SPEC}#{anchor}", "level": "MUST", "result": "invalid",
            "source": OURS, "description": description, "kind": "function", "input": inp,
            "error": {"error": exc.code, "field": exc.field, "offset": exc.offset}}
    case.update(extra)
    return case


def _expect(cid: str, got: bytes, want: bytes) -> None:
    if got != want:
        raise SystemExit(f"{cid}: zre_ref gives {got.hex()}, published value is {want.hex()}")


def _raises(cid: str, fn: Any, *args: Any) -> DecodeError:
    try:
        fn(*args)
    except DecodeError as exc:
        return exc
    raise SystemExit(f"{cid}: expected a DecodeError")


# -- X25519 (RFC 7748) --------------------------------------------------------------------------
RFC7748 = ["RFC 7748 section 5.2 / 6.1 (published)", "zre-ref"]


def x25519_cases() -> list[dict[str, Any]]:
    cases = []
    pairs = [
        ("curve.x25519.rfc7748-1",
         "a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4",
         "e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c",
         "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552"),
        ("curve.x25519.rfc7748-2",
         "4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d",
         "e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493",
         "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957"),
    ]
    for cid, k, u, out in pairs:
        _expect(cid, x25519(_h(k), _h(u)), _h(out))
        cases.append(_fn(cid, "x25519", "X25519(scalar, u): RFC 7748 section 5.2 test vector (the second u has its top bit set, which X25519 masks)",
                         {"scalar": k, "u": u}, {"u": out}, source=RFC7748))
    k = u = (9).to_bytes(32, "little")
    done = 0
    for n, want in ((1, "422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079"),
                    (1000, "684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51")):
        for _ in range(n - done):
            k, u = x25519(k, u), k
        done = n
        cid = f"curve.x25519.rfc7748-iterated-{n}"
        _expect(cid, k, _h(want))
        cases.append(_fn(cid, "x25519", f"RFC 7748 section 5.2: k = u = 9, then {n} times "
                         "(k, u) = (X25519(k, u), k); the output is k",
                         {"scalar": "09" + "00" * 31, "u": "09" + "00" * 31, "iterations": n},
                         {"u": want}, source=RFC7748))
    a_sk = _h("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
    b_sk = _h("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb")
    a_pk = _h("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
    b_pk = _h("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f")
    shared = _h("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742")
    _expect("dh", x25519_base(a_sk) + x25519_base(b_sk) + x25519(a_sk, b_pk) + x25519(b_sk, a_pk),
            a_pk + b_pk + shared + shared)
    cases.append(_fn("curve.x25519.rfc7748-dh", "x25519",
                     "RFC 7748 section 6.1: both public keys from the secrets, and the same shared "
                     "secret both ways (these are also NaCl's alice/bob test keys)",
                     {"alice_secret": a_sk.hex(), "bob_secret": b_sk.hex()},
                     {"alice_public": a_pk.hex(), "bob_public": b_pk.hex(), "shared": shared.hex()},
                     source=RFC7748))
    return cases


# -- NaCl box / secretbox / Poly1305 ------------------------------------------------------------
NACL = ["NaCl tests/box.c and secretbox.c, libsodium test/default/box.exp (published)", "zre-ref"]
NACL_NONCE = _h("69696ee955b62b73cd62bda875fc73d68219e0036b7a0b37")
NACL_MESSAGE = _h("""
be075fc53c81f2d5cf141316ebeb0c7b5228c52a4c62cbd44b66849b64244ffce5ecbaaf33bd751a1ac728d45e6c6129
6cdc3c01233561f41db66cce314adb310e3be8250c46f06dceea3a7fa1348057e2f6556ad6b1318a024a838f21af1fde
048977eb48f59ffd4924ca1c60902e52f0a089bc76897040e082f93776384864 5e0705""")
NACL_BOX = _h("""
f3ffc7703f9400e52a7dfb4b3d3305d98e993b9f48681273c29650ba32fc76ce48332ea7164d96a4476fb8c531a1186a
c0dfc17c98dce87b4da7f011ec48c97271d2c20f9b928fe2270d6fb863d51738b48eeee314a7cc8ab932164548e526ae
90224368517acfeabd6bb3732bc0e9da99832b61ca01b6de56244a9e88d5f9b37973f622a43d14a6599b1f654cb45a74
e355a5""")
FIRSTKEY = _h("1b27556473e985d462cd51197a9a46c76009549eac6474f206c4ee0844f68389")
SMALL_ORDER = _h("e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800")


def box_cases() -> list[dict[str, Any]]:
    a_sk = _h("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
    b_pk = x25519_base(_h("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"))
    b_sk = _h("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb")
    a_pk = x25519_base(a_sk)
    _expect("box", nacl.box(NACL_MESSAGE, NACL_NONCE, b_pk, a_sk), NACL_BOX)
    _expect("beforenm", nacl.box_beforenm(b_pk, a_sk), FIRSTKEY)
    _expect("secretbox", nacl.secretbox(NACL_MESSAGE, NACL_NONCE, FIRSTKEY), NACL_BOX)
    _expect("open", nacl.box_open(NACL_BOX, NACL_NONCE, a_pk, b_sk), NACL_MESSAGE)
    cases = [
        _fn("curve.box.nacl", "box", "crypto_box(m, n, bobpk, alicesk) of NaCl's test: the box is "
            "the 16-byte Poly1305 tag then the ciphertext (libsodium's _easy layout)",
            {"message": NACL_MESSAGE.hex(), "nonce": NACL_NONCE.hex(), "public_key": b_pk.hex(),
             "secret_key": a_sk.hex()}, {"box": NACL_BOX.hex()}, source=NACL),
        _fn("curve.box.nacl-beforenm", "box", "crypto_box_beforenm(bobpk, alicesk) = "
            "HSalsa20(X25519(alicesk, bobpk), 16 zero bytes): NaCl's firstkey",
            {"public_key": b_pk.hex(), "secret_key": a_sk.hex()}, {"key": FIRSTKEY.hex()},
            source=NACL),
        _fn("curve.secretbox.nacl", "box", "crypto_secretbox(m, n, firstkey) of NaCl's test: the "
            "same bytes as the box (a box is a secretbox under the beforenm key)",
            {"message": NACL_MESSAGE.hex(), "nonce": NACL_NONCE.hex(), "key": FIRSTKEY.hex()},
            {"box": NACL_BOX.hex()}, source=NACL),
        _fn("curve.box.nacl-open", "box", "crypto_box_open by bob (bobsk, alicepk) gives the message",
            {"box": NACL_BOX.hex(), "nonce": NACL_NONCE.hex(), "public_key": a_pk.hex(),
             "secret_key": b_sk.hex()}, {"message": NACL_MESSAGE.hex()}, source=NACL),
    ]
    key = _h("85d6be7857556d337f4452fe42d506a80103808afb0db2fd4abff6af4149f51b")
    msg = b"Cryptographic Forum Research Group"
    tag = _h("a8061dc1305136c6c22b8baf0c0127a9")
    _expect("poly1305", poly1305(key, msg), tag)
    cases.append(_fn("curve.poly1305.rfc8439", "box", "Poly1305 (RFC 8439 section 2.5.2 example)",
                     {"key": key.hex(), "message": msg.hex()}, {"tag": tag.hex()},
                     source=["RFC 8439 section 2.5.2 (published)", "zre-ref"]))
    for offset in (0, 15, 16, len(NACL_BOX) - 1):
        bad = bytearray(NACL_BOX)
        bad[offset] ^= 0x01
        cid = f"curve.box.tampered-{offset}"
        exc = _raises(cid, nacl.secretbox_open, bytes(bad), NACL_NONCE, FIRSTKEY)
        cases.append(_bad(cid, "box", f"NaCl's box with bit 0 of byte {offset} flipped "
                          f"({'tag' if offset < 16 else 'ciphertext'}): does not open",
                          {"box": bad.hex(), "nonce": NACL_NONCE.hex(), "key": FIRSTKEY.hex()},
                          exc))
    exc = _raises("curve.box.wrong-nonce", nacl.secretbox_open, NACL_BOX, bytes(24), FIRSTKEY)
    cases.append(_bad("curve.box.wrong-nonce", "box", "NaCl's box opened with a zero nonce",
                      {"box": NACL_BOX.hex(), "nonce": "00" * 24, "key": FIRSTKEY.hex()}, exc))
    exc = _raises("curve.box.small-order", nacl.box_beforenm, SMALL_ORDER, a_sk)
    cases.append(_bad("curve.box.small-order", "box", "beforenm with a small-order public key "
                      "(the all-zero shared secret): refused, as libsodium's box.c test expects",
                      {"public_key": SMALL_ORDER.hex(), "secret_key": a_sk.hex()}, exc))
    return cases


# -- Z85 (RFC 32) --------------------------------------------------------------------------------
def z85_cases() -> list[dict[str, Any]]:
    cases = []
    hello = _h("864fd26fb559f75b")
    _expect("z85", z85_encode(hello), b"HelloWorld")
    cases.append(_fn("curve.z85.helloworld", "z85", "RFC 32's example: 8 bytes <-> \"HelloWorld\"",
                     {"binary": hello.hex()}, {"z85": "HelloWorld"},
                     source=["RFC 32 (published)", "zre-ref"]))
    for name, raw, text in (("client-public", CLIENT_PUBLIC, CLIENT_PUBLIC_Z85),
                            ("client-secret", CLIENT_SECRET, CLIENT_SECRET_Z85),
                            ("server-public", SERVER_PUBLIC, SERVER_PUBLIC_Z85),
                            ("server-secret", SERVER_SECRET, SERVER_SECRET_Z85)):
        _expect(name, z85_encode(raw), text.encode())
        cases.append(_fn(f"curve.z85.test-{name}", "z85", f"zmq_curve(7)'s {name} test key: 32 "
                         "bytes <-> 40 characters", {"binary": raw.hex()}, {"z85": text},
                         source=["libzmq zmq_curve(7) test keys (published)", "zre-ref"]))
    for cid, src, what in (("curve.z85.bad-length", "HelloWorl", "9 characters, not a multiple of 5"),
                           ("curve.z85.bad-character", "Hello Worl", "a space is not in the alphabet"),
                           ("curve.z85.overflow", "%nSc1", "the group \"%nSc1\" is 2^32, one more "
                                                         "than 4 bytes hold")):
        exc = _raises(cid, z85_decode, src)
        cases.append(_bad(cid, "z85", f"Z85 decode refuses: {what}", {"z85": src}, exc))
    return cases


# -- the ZMTP CURVE conversation -----------------------------------------------------------------
def _frame(body: bytes) -> bytes:
    """A handshake command travels in a command frame (flags 0x04/0x06) ..."""
    return frame_header(COMMAND, len(body)) + body


def _data_frame(body: bytes) -> bytes:
    """... but libzmq sends and takes MESSAGE in a data frame (flags 0x00/0x02), spec/curve.md#message."""
    return frame_header(0, len(body)) + body


def _box(name: str, key_desc: str, nonce: bytes, shared: bytes, plaintext: bytes,
         sealed: bytes | memoryview) -> dict[str, Any]:
    # every box is opened again with the readable path on the way out
    if nacl.secretbox_open(sealed, nonce, shared) != plaintext:
        raise SystemExit(f"{name}: box does not open to its plaintext")
    return {"name": name, "key": key_desc, "nonce": nonce.hex(), "shared_key": shared.hex(),
            "plaintext": plaintext.hex(), "box": bytes(sealed).hex()}


class Conversation:
    """One fixed-key CURVE handshake, replayable step by step (used by the invalid cases too)."""

    def __init__(self, client_type: str, server_type: str, identity: bytes = b"",
                 authenticator: zc.CurveAuthenticator | None = None) -> None:
        rnd = FixedRandom()
        self.client_settings = zc.CurveClient.from_keys(SERVER_PUBLIC, CLIENT_PUBLIC, CLIENT_SECRET, rnd)
        self.server_settings = zc.CurveServer.from_keys(SERVER_PUBLIC, SERVER_SECRET, authenticator, rnd)
        self.client_md = {"Socket-Type": client_type.encode()}
        if client_type in ("DEALER", "ROUTER", "REQ"):
            self.client_md["Identity"] = identity
        self.server_md = {"Socket-Type": server_type.encode()}
        if server_type in ("DEALER", "ROUTER", "REQ"):
            self.server_md["Identity"] = b""
        self.client = zc.CurveClientHandshake(self.client_settings, encode_metadata(self.client_md))
        self.server = zc.CurveServerHandshake(self.server_settings)

    def run(self) -> tuple[bytes, bytes, bytes, bytes]:
        hello = self.client.hello()
        welcome = self.server.on_hello(hello)
        initiate = self.client.on_command(welcome)
        self.server.on_initiate(initiate)
        ready = self.server.ready(encode_metadata(self.server_md))
        self.client.on_ready(ready)
        return hello, welcome, initiate, ready


def _shared(pk: bytes, sk: bytes) -> bytes:
    return nacl.box_beforenm(pk, sk)


def _transcript(cid: str, description: str, client_type: str, server_type: str,
                messages: list[tuple[str, int, bytes]], identity: bytes = b"") -> dict[str, Any]:
    conv = Conversation(client_type, server_type, identity)
    hello, welcome, initiate, ready = conv.run()
    c_eph_sk, s_eph_sk = DRAWS["client-ephemeral-secret"], DRAWS["server-ephemeral-secret"]
    c_eph, s_eph = x25519_base(c_eph_sk), x25519_base(s_eph_sk)
    hello_key = _shared(SERVER_PUBLIC, c_eph_sk)
    session = _shared(s_eph, c_eph_sk)
    cookie_plain = c_eph + s_eph_sk
    welcome_plain = nacl.secretbox_open(welcome[24:], zc.WELCOME_NONCE_PREFIX + welcome[8:24], hello_key)
    cookie = welcome_plain[32:]
    initiate_plain = nacl.secretbox_open(initiate[113:], zc.INITIATE_NONCE_PREFIX + initiate[105:113],
                                         session)
    vouch_nonce = zc.VOUCH_NONCE_PREFIX + initiate_plain[32:48]
    steps: list[dict[str, Any]] = [
        {"from": "client", "hex": encode_greeting(Greeting(mechanism="CURVE", as_server=False)).hex(),
         "note": "greeting: mechanism CURVE, as-server 0 (sent staged like any greeting)"},
        {"from": "server", "hex": encode_greeting(Greeting(mechanism="CURVE", as_server=True)).hex(),
         "note": "greeting: mechanism CURVE, as-server 1"},
        {"from": "client", "command": "HELLO", "hex": _frame(hello).hex(), "body": hello.hex(),
         "fields": {"version": "0100", "padding": hello[8:80].hex(), "client_ephemeral": c_eph.hex(),
                    "short_nonce": hello[112:120].hex()},
         "boxes": [_box("hello-box", "C' -> S (client ephemeral secret, server long-term public)",
                        zc.HELLO_NONCE_PREFIX + hello[112:120], hello_key, bytes(64), hello[120:])]},
        {"from": "server", "command": "WELCOME", "hex": _frame(welcome).hex(), "body": welcome.hex(),
         "fields": {"long_nonce": welcome[8:24].hex(), "server_ephemeral": s_eph.hex(),
                    "cookie": cookie.hex()},
         "boxes": [_box("welcome-box", "S -> C' (server long-term secret, client ephemeral public)",
                        zc.WELCOME_NONCE_PREFIX + welcome[8:24], hello_key, welcome_plain,
                        welcome[24:]),
                   _box("cookie", "secretbox under the cookie key",
                        zc.COOKIE_NONCE_PREFIX + cookie[:16], DRAWS["cookie-key"], cookie_plain,
                        cookie[16:])]},
        {"from": "client", "command": "INITIATE", "hex": _frame(initiate).hex(),
         "body": initiate.hex(),
         "fields": {"cookie": initiate[9:105].hex(), "short_nonce": initiate[105:113].hex(),
                    "client_key": CLIENT_PUBLIC.hex(), "vouch_nonce": initiate_plain[32:48].hex(),
                    "metadata": [[k, v.hex()] for k, v in conv.client_md.items()]},
         "boxes": [_box("initiate-box", "C' -> S' (both ephemeral)",
                        zc.INITIATE_NONCE_PREFIX + initiate[105:113], session, initiate_plain,
                        initiate[113:]),
                   _box("vouch", "C -> S' (client long-term secret, server ephemeral public)",
                        vouch_nonce, _shared(s_eph, CLIENT_SECRET), c_eph + SERVER_PUBLIC,
                        initiate_plain[48:128])]},
        {"from": "server", "command": "READY", "hex": _frame(ready).hex(), "body": ready.hex(),
         "fields": {"short_nonce": ready[6:14].hex(),
                    "metadata": [[k, v.hex()] for k, v in conv.server_md.items()]},
         "boxes": [_box("ready-box", "S' -> C' (both ephemeral)",
                        zc.READY_NONCE_PREFIX + ready[6:14], session,
                        encode_metadata(conv.server_md), ready[14:])]},
    ]
    ciphers = {"client": conv.client.cipher(), "server": conv.server.cipher()}
    prefixes = {"client": zc.MESSAGE_CLIENT_NONCE_PREFIX, "server": zc.MESSAGE_SERVER_NONCE_PREFIX}
    for sender, flags, body in messages:
        msg = ciphers[sender].seal(flags, body)
        receiver = "server" if sender == "client" else "client"
        if ciphers[receiver].open(msg) != (flags, body):
            raise SystemExit(f"{cid}: MESSAGE does not round-trip")
        steps.append({
            "from": sender, "command": "MESSAGE", "hex": _data_frame(msg).hex(), "body": msg.hex(),
            "fields": {"short_nonce": msg[8:16].hex(), "flags": flags, "frame": body.hex()},
            "boxes": [_box("message-box", f"{'C' if sender == 'client' else 'S'}' -> "
                           f"{'S' if sender == 'client' else 'C'}' (both ephemeral)",
                           prefixes[sender] + msg[8:16], session, bytes((flags,)) + body,
                           msg[16:])]})
    draws = {k: v.hex() for k, v in DRAWS.items()}
    return {"id": cid, "spec": f"{SPEC}#state-machine", "level": "MUST", "result": "valid",
            "source": OURS, "description": description, "kind": "transcript", "steps": steps,
            "input": {"client": {"socket_type": client_type, "identity": identity.hex(),
                                 "public_key": CLIENT_PUBLIC.hex(), "secret_key": CLIENT_SECRET.hex(),
                                 "server_key": SERVER_PUBLIC.hex(),
                                 "ephemeral_secret": draws["client-ephemeral-secret"],
                                 "vouch_nonce": draws["vouch-nonce"]},
                      "server": {"socket_type": server_type, "public_key": SERVER_PUBLIC.hex(),
                                 "secret_key": SERVER_SECRET.hex(),
                                 "ephemeral_secret": draws["server-ephemeral-secret"],
                                 "cookie_key": draws["cookie-key"],
                                 "cookie_nonce": draws["cookie-nonce"],
                                 "welcome_nonce": draws["welcome-nonce"]}},
            "output": {"client": "open", "server": "open"}}


def transcript_cases() -> list[dict[str, Any]]:
    return [
        _transcript("curve.handshake.dealer-router",
                    "CURVE: DEALER (client, identity 'abc') to ROUTER (server); HELLO, WELCOME, "
                    "INITIATE, READY, then MESSAGE frames: single, MORE + last, 300 bytes "
                    "(a long command frame), empty, and server to client",
                    "DEALER", "ROUTER",
                    [("client", 0, b"hello"), ("client", zc.FLAG_MORE, b"part-1"),
                     ("client", 0, b"part-2"), ("client", 0, bytes(range(256)) + b"x" * 44),
                     ("client", 0, b""), ("server", 0, b"world"),
                     ("server", zc.FLAG_MORE, b"a"), ("server", 0, b"b")], identity=b"abc"),
        _transcript("curve.handshake.sub-pub",
                    "CURVE: SUB (client) to PUB (server); the SUB's SUBSCRIBE travels as a MESSAGE "
                    "with the COMMAND flag (0x02) and the command body inside, then a "
                    "publication", "SUB", "PUB",
                    [("client", zc.FLAG_COMMAND, b"\x09SUBSCRIBEnews"),
                     ("server", 0, b"news: hi")]),
    ]


# -- invalid commands ----------------------------------------------------------------------------
def _flip(data: bytes, offset: int) -> bytes:
    out = bytearray(data)
    out[offset] ^= 0x01
    return bytes(out)


def invalid_cases() -> list[dict[str, Any]]:
    """Each case: the command body one side receives in a named state of the dealer-router
    transcript (fresh handshake objects replayed up to that state), and the error it must give."""
    cases = []
    base = "curve.handshake.dealer-router"

    def at(state: str) -> Conversation:
        conv = Conversation("DEALER", "ROUTER", b"abc")
        if state == "server-expect-hello":
            return conv
        hello = conv.client.hello()
        if state == "client-expect-welcome":
            return conv
        welcome = conv.server.on_hello(hello)
        if state == "server-expect-initiate":
            return conv
        initiate = conv.client.on_command(welcome)
        if state == "client-expect-ready":
            conv.server.on_initiate(initiate)
            conv.ready = conv.server.ready(encode_metadata(conv.server_md))  # type: ignore[attr-defined]
            return conv
        raise AssertionError(state)

    def add(cid: str, anchor: str, description: str, state: str, body: bytes,
            feed: Any) -> None:
        exc = _raises(cid, feed, body)
        cases.append(_bad(cid, anchor, description,
                          {"transcript": base, "state": state, "body": body.hex()}, exc))

    # HELLO, seen by the server
    good = Conversation("DEALER", "ROUTER", b"abc").client.hello()
    st = "server-expect-hello"
    for off in (120, 150, 199):
        add(f"curve.invalid.hello-box-{off}", "hello", f"HELLO with byte {off} changed "
            f"({'tag' if off < 136 else 'ciphertext'} of the hello box): does not open", st,
            _flip(good, off), at(st).server.on_hello)
    add("curve.invalid.hello-client-key", "hello", "HELLO with C' changed: the box was made for "
        "another key and does not open", st, _flip(good, 80), at(st).server.on_hello)
    add("curve.invalid.hello-nonce", "hello", "HELLO with its short nonce changed", st,
        _flip(good, 119), at(st).server.on_hello)
    other = zc.CurveClient.from_keys(CLIENT_PUBLIC, CLIENT_PUBLIC, CLIENT_SECRET, FixedRandom())
    wrong = zc.CurveClientHandshake(other, b"").hello()
    add("curve.invalid.hello-wrong-server-key", "hello", "HELLO boxed for another server key "
        "(the client was given the wrong curve_serverkey): the server cannot open it", st, wrong,
        at(st).server.on_hello)
    add("curve.invalid.hello-padding", "hello", "HELLO with a non-zero byte in the 72-byte "
        "anti-amplification padding (libzmq does not check; RFC 26 requires zeros)", st,
        good[:40] + b"\x01" + good[41:], at(st).server.on_hello)
    add("curve.invalid.hello-version", "hello", "HELLO with CurveZMQ version 2.0", st,
        good[:6] + b"\x02\x00" + good[8:], at(st).server.on_hello)
    add("curve.invalid.hello-truncated", "hello", "HELLO one byte short (199 bytes)", st,
        good[:-1], at(st).server.on_hello)
    add("curve.invalid.hello-long", "hello", "HELLO one byte long (201 bytes)", st,
        good + b"\x00", at(st).server.on_hello)
    # WELCOME, seen by the client (the fixed draws make every Conversation's bytes the same)
    st = "client-expect-welcome"
    good_w = Conversation("DEALER", "ROUTER", b"abc").server.on_hello(good)
    for off in (24, 100, 167):
        add(f"curve.invalid.welcome-box-{off}", "welcome", f"WELCOME with byte {off} changed",
            st, _flip(good_w, off), at(st).client.on_command)
    add("curve.invalid.welcome-truncated", "welcome", "WELCOME one byte short (167 bytes)", st,
        good_w[:-1], at(st).client.on_command)
    # INITIATE, seen by the server
    st = "server-expect-initiate"
    good_i = at("client-expect-welcome").client.on_command(good_w)
    for off, what in ((30, "cookie"), (106, "short nonce"), (113, "initiate box tag"),
                      (len(good_i) - 1, "initiate box")):
        add(f"curve.invalid.initiate-{off}", "initiate", f"INITIATE with byte {off} ({what}) "
            "changed", st, _flip(good_i, off), at(st).server.on_initiate)
    add("curve.invalid.initiate-truncated", "initiate", "INITIATE of 256 bytes (minimum 257)", st,
        good_i[:256], at(st).server.on_initiate)
    # the same INITIATE box, but sealed under the HELLO's short nonce (1): a replayed nonce
    sess = nacl.SharedKey(_shared(x25519_base(DRAWS["client-ephemeral-secret"]),
                                  DRAWS["server-ephemeral-secret"]))
    plain = sess.open(good_i[113:], zc.INITIATE_NONCE_PREFIX + good_i[105:113])
    replay = (good_i[:105] + (1).to_bytes(8, "big")
              + sess.seal(plain, zc.INITIATE_NONCE_PREFIX + (1).to_bytes(8, "big")))
    add("curve.invalid.initiate-replayed-nonce", "nonces", "INITIATE correctly boxed but with "
        "short nonce 1, the HELLO's: nonces from one side must rise", st, replay,
        at(st).server.on_initiate)
    # READY, seen by the client
    st = "client-expect-ready"
    c = at(st)
    good_r: bytes = c.ready  # type: ignore[attr-defined]
    add("curve.invalid.ready-box", "ready", "READY with its last byte changed", st,
        _flip(good_r, len(good_r) - 1), at(st).client.on_ready)
    add("curve.invalid.ready-truncated", "ready", "READY of 29 bytes (minimum 30)", st,
        good_r[:29], at(st).client.on_ready)
    # MESSAGE, seen by the server after the handshake
    conv = Conversation("DEALER", "ROUTER", b"abc")
    conv.run()
    sender = conv.client.cipher()
    first = sender.seal(0, b"hello")
    second = sender.seal(0, b"again")

    def server_cipher() -> zc.MessageCipher:
        c = Conversation("DEALER", "ROUTER", b"abc")
        c.run()
        return c.server.cipher()

    st = "server-open"
    for off in (16, 31, 32, len(first) - 1):
        add(f"curve.invalid.message-box-{off}", "message", f"first client MESSAGE with byte {off} "
            "changed: does not open", st, _flip(first, off), server_cipher().open)
    add("curve.invalid.message-truncated", "message", "MESSAGE of 32 bytes (no room for the "
        "flags byte; minimum 33)", st, first[:32], server_cipher().open)

    def replayed(body: bytes) -> object:
        c = server_cipher()
        c.open(first)
        return c.open(body)

    add("curve.invalid.message-replayed", "nonces", "the first client MESSAGE again, after it "
        "was accepted (state: server-open after the first MESSAGE)", "server-open-after-first",
        first, replayed)

    def out_of_order(body: bytes) -> object:
        c = server_cipher()
        c.open(second)
        return c.open(body)

    add("curve.invalid.message-out-of-order", "nonces", "the first client MESSAGE after the "
        "second (state: server-open after the second MESSAGE)", "server-open-after-second",
        first, out_of_order)
    return cases


def files() -> dict[str, dict[str, Any]]:
    def doc(protocol: str, description: str, cases: list[dict[str, Any]]) -> dict[str, Any]:
        return {"schema": SCHEMA, "protocol": protocol, "description": description,
                "spec": SPEC, "cases": cases}

    return {
        "curve/x25519.json": doc("x25519", "X25519 (RFC 7748)", x25519_cases()),
        "curve/box.json": doc("nacl-box", "NaCl crypto_box / crypto_secretbox "
                              "(XSalsa20-Poly1305) and Poly1305", box_cases()),
        "curve/z85.json": doc("z85", "Z85 (RFC 32)", z85_cases()),
        "curve/handshake.json": doc("zmtp-curve", "ZMTP CURVE conversations with every key and "
                                    "nonce fixed (RFC 25, RFC 26)", transcript_cases()),
        "curve/invalid.json": doc("zmtp-curve", "CURVE commands a side must refuse, each in a "
                                  "named state of curve.handshake.dealer-router",
                                  invalid_cases()),
    }
