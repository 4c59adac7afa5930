"""A raw ZMTP 3.1 peer on a blocking socket, for attack tests: it does only what the test says.

It completes the NULL handshake (greeting + READY), then sends pre-built bytes as fast as the
kernel takes them and parses what comes back (commands such as PING are skipped). Nothing here
queues on the attacker's side beyond what the test builds, so the victim sees exactly the
attack.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Sequence

from zre_ref.zmtp.commands import Ready, encode_command
from zre_ref.zmtp.frames import COMMAND, LONG, MORE, encode_message, frame_header
from zre_ref.zmtp.greeting import Greeting, encode_greeting


def tcp_address(endpoint: str) -> tuple[str, int]:
    """``tcp://host:port`` -> (host, port)."""
    host, _, port = endpoint.removeprefix("tcp://").rpartition(":")
    return host.strip("[]"), int(port)


class RawPeer:
    """One connection that has done the NULL handshake as ``socket_type``."""

    def __init__(self, endpoint: str, socket_type: str = "DEALER", *, timeout: float = 30.0,
                 identity: bytes = b"") -> None:
        self.sock = socket.create_connection(tcp_address(endpoint), timeout=timeout)
        self._buf = bytearray()
        props = {"Socket-Type": socket_type.encode()}
        if identity:
            props["Identity"] = identity
        ready = encode_command(Ready(props))
        self.sock.sendall(encode_greeting(Greeting()) + frame_header(COMMAND, len(ready)) + ready)
        self._need(64)
        del self._buf[:64]
        flags, body = self._frame()
        if not flags & COMMAND or not body.startswith(b"\x05READY"):
            raise ConnectionError(f"expected READY, got flags {flags} {bytes(body[:16])!r}")

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> RawPeer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @staticmethod
    def message(frames: Sequence[bytes]) -> bytes:
        """The wire bytes of one multipart message."""
        return encode_message(frames)

    def send(self, data: bytes) -> None:
        """Send pre-built wire bytes (one message or many)."""
        self.sock.sendall(data)

    def send_frames(self, frames: Sequence[bytes]) -> None:
        self.sock.sendall(encode_message(frames))

    def _need(self, n: int) -> None:
        while len(self._buf) < n:
            chunk = self.sock.recv(max(65536, n - len(self._buf)))
            if not chunk:
                raise ConnectionResetError("the victim closed the connection")
            self._buf += chunk

    def _frame(self) -> tuple[int, bytes]:
        self._need(2)
        flags = self._buf[0]
        if flags & LONG:
            self._need(9)
            size, head = int.from_bytes(self._buf[1:9], "big"), 9
        else:
            size, head = self._buf[1], 2
        self._need(head + size)
        body = bytes(self._buf[head:head + size])
        del self._buf[:head + size]
        return flags, body

    def recv_message(self) -> list[bytes]:
        """The next message (commands such as PING are skipped)."""
        frames: list[bytes] = []
        while True:
            flags, body = self._frame()
            if flags & COMMAND:
                continue
            frames.append(body)
            if not flags & MORE:
                return frames

    def closed_by_peer(self, timeout: float = 10.0) -> bool:
        """Whether the victim closes this connection within ``timeout`` (reading and dropping
        whatever it still sends)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                if not self.sock.recv(65536):
                    return True
            except TimeoutError:
                return False
            except OSError:
                return True
        return False
