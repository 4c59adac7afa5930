"""czmq's zgossip actor through ctypes on Debian's libczmq (libczmq4 4.2.1): a test helper.

Only the actor is exported (``zgossip``; czmq's ``zgossip_msg`` codec is private to the library),
so the interop tests talk to it through its API pipe (BIND, PORT, CONNECT, PUBLISH, STATUS, and
DELIVER coming back) and over TCP.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from collections.abc import Iterator
from contextlib import contextmanager

_LIB: ctypes.CDLL | None = None


def available() -> bool:
    return ctypes.util.find_library("czmq") is not None


def lib() -> ctypes.CDLL:
    global _LIB
    if _LIB is None:
        os.environ.setdefault("ZSYS_SIGHANDLER", "false")  # keep Python's SIGINT handling
        name = ctypes.util.find_library("czmq") or "libczmq.so.4"
        c = ctypes.CDLL(name)
        c.zactor_new.restype = ctypes.c_void_p
        c.zactor_new.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        c.zactor_destroy.argtypes = [ctypes.POINTER(ctypes.c_void_p)]
        c.zstr_recv.restype = ctypes.c_void_p
        c.zstr_recv.argtypes = [ctypes.c_void_p]
        c.zstr_free.argtypes = [ctypes.POINTER(ctypes.c_void_p)]
        c.zsock_set_rcvtimeo.argtypes = [ctypes.c_void_p, ctypes.c_int]
        _LIB = c
    return _LIB


class ZgossipActor:
    """One czmq zgossip service (a zactor running ``zgossip``)."""

    def __init__(self, name: str = "czmq", *, recv_timeout_ms: int = 2000) -> None:
        c = lib()
        fn = ctypes.cast(c.zgossip, ctypes.c_void_p)
        self._name = ctypes.c_char_p(name.encode())
        self.actor = ctypes.c_void_p(c.zactor_new(fn, self._name))
        if not self.actor:
            raise RuntimeError("zactor_new(zgossip) failed")
        c.zsock_set_rcvtimeo(self.actor, recv_timeout_ms)

    def send(self, *parts: str) -> None:
        args = [ctypes.c_char_p(p.encode()) for p in parts] + [ctypes.c_void_p(None)]
        lib().zstr_sendx(self.actor, *args)

    def recv(self) -> str | None:
        """One string from the actor, or None after the receive timeout."""
        c = lib()
        p = c.zstr_recv(self.actor)
        if not p:
            return None
        text = ctypes.string_at(p).decode()
        ptr = ctypes.c_void_p(p)
        c.zstr_free(ctypes.byref(ptr))
        return text

    def bind_tcp(self) -> str:
        """Bind to an ephemeral loopback port; return the endpoint."""
        self.send("BIND", "tcp://127.0.0.1:*")
        self.send("PORT")
        if self.recv() != "PORT":
            raise RuntimeError("zgossip did not answer PORT")
        return f"tcp://127.0.0.1:{self.recv()}"

    def deliveries(self, count: int) -> list[tuple[str, str]]:
        """The next ``count`` DELIVER key value messages (fewer if the actor goes quiet)."""
        out = []
        for _ in range(count):
            if self.recv() != "DELIVER":
                break
            key, value = self.recv(), self.recv()
            assert key is not None and value is not None
            out.append((key, value))
        return out

    def destroy(self) -> None:
        if self.actor:
            lib().zactor_destroy(ctypes.byref(self.actor))
            self.actor = ctypes.c_void_p(None)


@contextmanager
def zgossip_actor(name: str = "czmq") -> Iterator[ZgossipActor]:
    actor = ZgossipActor(name)
    try:
        yield actor
    finally:
        actor.destroy()
