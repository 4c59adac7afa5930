"""Fixed keys and randomness for the CurveZMQ golden vectors and tests (vectors/curve/).

Long-term keys are the test keys of libzmq's zmq_curve(7) manual page, so a porter can check a
port against the same keys libzmq documents; ephemeral keys, the cookie key and every long nonce
are fixed byte patterns. Nothing here is secret: never use these keys for anything real.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..errors import ZreRefError
from .z85 import z85_decode

#: zmq_curve(7) test keys (Z85)
CLIENT_PUBLIC_Z85 = "Yne@$w-vo<fVvi]a<NY6T1ed:M$fCG*[IaLV{hID"
CLIENT_SECRET_Z85 = "D:)Q[IlAW!ahhC2ac:9*A}h:p?([4%wOTJ%JR%cs"
SERVER_PUBLIC_Z85 = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"
SERVER_SECRET_Z85 = "JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6"
CLIENT_PUBLIC = z85_decode(CLIENT_PUBLIC_Z85)
CLIENT_SECRET = z85_decode(CLIENT_SECRET_Z85)
SERVER_PUBLIC = z85_decode(SERVER_PUBLIC_Z85)
SERVER_SECRET = z85_decode(SERVER_SECRET_Z85)

#: every random draw of one handshake, by the name the mechanism asks for it
DRAWS: dict[str, bytes] = {
    "client-ephemeral-secret": bytes(range(0x10, 0x30)),
    "vouch-nonce": b"vouch-nonce-0001",
    "server-ephemeral-secret": bytes(range(0x80, 0xA0)),
    "cookie-key": bytes(range(0xC0, 0xE0)),
    "cookie-nonce": b"cookie-nonce-001",
    "welcome-nonce": b"welcome-nonce-01",
}


class FixedRandom:
    """A :data:`zre_ref.zmtp.curve.Random` that answers each named draw from a table."""

    def __init__(self, draws: Mapping[str, bytes] | None = None) -> None:
        self.draws = dict(DRAWS if draws is None else draws)

    def __call__(self, what: str, size: int) -> bytes:
        value = self.draws.get(what)
        if value is None or len(value) != size:
            raise ZreRefError(f"no fixed {size}-byte draw named {what!r}")
        return value
