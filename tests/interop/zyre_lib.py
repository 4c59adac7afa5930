"""zyre (C) nodes through ctypes: the prebuilt libzyre.so (zyre 2.0.1) that
tests/interop/setup-zyre.sh puts in .interop-zyre/lib, on Debian's libczmq. A test helper.

The library leaves an unused Python-2 module symbol undefined, so it is opened with lazy binding.
Events are read with a receive timeout on the node's socket, so no call blocks for ever.
"""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LIB = ROOT / ".interop-zyre" / "lib" / "libzyre.so"

_Z: ctypes.CDLL | None = None
_C: ctypes.CDLL | None = None


def available() -> bool:
    return LIB.exists()


def ensure_built() -> bool:
    """Run tests/interop/setup-zyre.sh (it installs libczmq too, as root) unless libzyre is
    there; True when it is. Under CI=true a failure raises instead of returning False."""
    if available():
        return True
    setup = subprocess.run(["bash", str(ROOT / "tests/interop/setup-zyre.sh"),
                            str(ROOT / ".interop-zyre")], capture_output=True, text=True,
                           timeout=300, cwd=ROOT, env={**os.environ, "PYTHON": sys.executable})
    if setup.returncode != 0 or not available():
        if os.environ.get("CI"):
            raise AssertionError("CI=true but libzyre could not be set up:\n" + setup.stderr)
        return False
    return True


def _libs() -> tuple[ctypes.CDLL, ctypes.CDLL]:
    global _Z, _C
    if _Z is None or _C is None:
        os.environ.setdefault("ZSYS_SIGHANDLER", "false")
        c = ctypes.CDLL("libczmq.so.4", mode=os.RTLD_LAZY | os.RTLD_GLOBAL)
        z = ctypes.CDLL(str(LIB), mode=os.RTLD_LAZY)
        vp, cp = ctypes.c_void_p, ctypes.c_char_p
        for name, res, args in [
            ("zyre_new", vp, [cp]), ("zyre_destroy", None, [ctypes.POINTER(vp)]),
            ("zyre_uuid", cp, [vp]), ("zyre_name", cp, [vp]), ("zyre_start", ctypes.c_int, [vp]),
            ("zyre_stop", None, [vp]), ("zyre_join", ctypes.c_int, [vp, cp]),
            ("zyre_leave", ctypes.c_int, [vp, cp]),
            ("zyre_set_contest_in_group", None, [vp, cp]),
            ("zyre_set_evasive_timeout", None, [vp, ctypes.c_int]),
            ("zyre_set_expired_timeout", None, [vp, ctypes.c_int]),
            ("zyre_socket", vp, [vp]), ("zyre_event_new", vp, [vp]),
            ("zyre_event_destroy", None, [ctypes.POINTER(vp)]),
            ("zyre_event_type", cp, [vp]), ("zyre_event_peer_uuid", cp, [vp]),
            ("zyre_event_peer_name", cp, [vp]), ("zyre_event_group", cp, [vp]),
            ("zyre_event_get_msg", vp, [vp]),
        ]:
            fn = getattr(z, name)
            fn.restype, fn.argtypes = res, args
        c.zsock_set_rcvtimeo.argtypes = [vp, ctypes.c_int]
        c.zmsg_popstr.restype, c.zmsg_popstr.argtypes = vp, [vp]
        c.zmsg_destroy.argtypes = [ctypes.POINTER(vp)]
        c.zstr_free.argtypes = [ctypes.POINTER(vp)]
        _Z, _C = z, c
    return _Z, _C


@dataclass(frozen=True)
class Event:
    type: str
    peer_uuid: str
    peer_name: str
    group: str
    text: str  # the first content frame (SHOUT/WHISPER) as text, else ""


def _s(value: bytes | None) -> str:
    return value.decode() if value else ""


class ZyreNode:
    """One zyre node (its own actor thread inside libzyre)."""

    def __init__(self, name: str, *, evasive_ms: int = 1000, expired_ms: int = 3000) -> None:
        z, _ = _libs()
        self.node = ctypes.c_void_p(z.zyre_new(name.encode()))
        z.zyre_set_evasive_timeout(self.node, evasive_ms)
        z.zyre_set_expired_timeout(self.node, expired_ms)

    def _fmt(self, fn: str, *args: bytes) -> int:
        """Call a printf-style zyre function with "%s" and its arguments."""
        z, _ = _libs()
        return int(getattr(z, fn)(self.node, *[ctypes.c_char_p(a) for a in args]) or 0)

    def set_endpoint(self, endpoint: str) -> None:
        self._fmt("zyre_set_endpoint", b"%s", endpoint.encode())

    def gossip_bind(self, endpoint: str) -> None:
        self._fmt("zyre_gossip_bind", b"%s", endpoint.encode())

    def gossip_connect(self, endpoint: str) -> None:
        self._fmt("zyre_gossip_connect", b"%s", endpoint.encode())

    def set_contest_in_group(self, group: str) -> None:
        _libs()[0].zyre_set_contest_in_group(self.node, group.encode())

    def start(self) -> None:
        z, c = _libs()
        if z.zyre_start(self.node) != 0:
            raise RuntimeError("zyre_start failed")
        c.zsock_set_rcvtimeo(ctypes.c_void_p(z.zyre_socket(self.node)), 200)

    @property
    def uuid(self) -> str:
        return _s(_libs()[0].zyre_uuid(self.node))

    def join(self, group: str) -> None:
        _libs()[0].zyre_join(self.node, group.encode())

    def leave(self, group: str) -> None:
        _libs()[0].zyre_leave(self.node, group.encode())

    def shout(self, group: str, text: str) -> None:
        self._fmt("zyre_shouts", group.encode(), b"%s", text.encode())

    def whisper(self, peer: str, text: str) -> None:
        self._fmt("zyre_whispers", peer.encode(), b"%s", text.encode())

    def event(self) -> Event | None:
        """The next event, or None after 200 ms without one."""
        z, c = _libs()
        ev = ctypes.c_void_p(z.zyre_event_new(self.node))
        if not ev:
            return None
        kind = _s(z.zyre_event_type(ev))
        text = ""
        if kind in ("SHOUT", "WHISPER"):
            msg = ctypes.c_void_p(z.zyre_event_get_msg(ev))
            if msg:
                p = c.zmsg_popstr(msg)
                if p:
                    text = ctypes.string_at(p).decode()
                    pp = ctypes.c_void_p(p)
                    c.zstr_free(ctypes.byref(pp))
                c.zmsg_destroy(ctypes.byref(msg))
        out = Event(kind, _s(z.zyre_event_peer_uuid(ev)), _s(z.zyre_event_peer_name(ev)),
                    _s(z.zyre_event_group(ev)), text)
        z.zyre_event_destroy(ctypes.byref(ev))
        return out

    def stop(self) -> None:
        if self.node:
            _libs()[0].zyre_stop(self.node)

    def destroy(self) -> None:
        if self.node:
            _libs()[0].zyre_destroy(ctypes.byref(self.node))
            self.node = ctypes.c_void_p(None)
