"""Record what one process's event loop sends and receives as a pcap (see zre_ref/pcap.py).

:class:`LoopCapture` wraps an asyncio loop's ``create_connection``, ``create_server`` and
``create_datagram_endpoint`` while installed: every TCP connection opened or accepted from then
on, and every datagram a datagram endpoint hears, goes into the pcap with the bytes exactly as
they crossed the socket. Nothing else changes: the protocols see the same calls, the transports
are the real ones behind a recording shim. What is not captured: connections made before
:meth:`LoopCapture.install`, datagrams sent with plain sockets (a beacon is still recorded when
its sender hears it back, as ZRE beacon sockets do), and traffic between other hosts. While
installed, sockets that would use the raw stream transport (aio/rawstream.py, ZRE links) open
their new connections with asyncio's, so that they are recorded too.

    with open("run.pcap", "wb") as fh, LoopCapture(PcapWriter(fh)).installed():
        await run_something()
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator
from typing import Any

from .aio.loopshared import LoopShared
from .pcap import Address, PcapWriter, TcpStream

#: Destination shown for a datagram heard on a wildcard-bound socket (the receiver cannot know
#: whether it was sent to a broadcast or multicast address)
UNKNOWN_DESTINATION = "255.255.255.255"


def _addr(value: Any) -> Address | None:
    if isinstance(value, tuple) and len(value) >= 2 and isinstance(value[0], str):
        return (value[0].split("%", 1)[0], int(value[1]))
    return None


class _RecordingTransport(asyncio.Transport):
    """The real transport; what is written is recorded first."""

    def __init__(self, inner: asyncio.Transport, record: Callable[[bytes], None]) -> None:
        super().__init__()
        self._inner = inner
        self._record_out = record

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self._record_out(bytes(data))
        self._inner.write(data)

    def writelines(self, list_of_data: Any) -> None:
        chunks = list(list_of_data)
        self._record_out(b"".join(bytes(c) for c in chunks))
        self._inner.writelines(chunks)

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self._inner.get_extra_info(name, default)

    def is_closing(self) -> bool:
        return self._inner.is_closing()

    def close(self) -> None:
        self._inner.close()

    def abort(self) -> None:
        self._inner.abort()

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._inner.set_protocol(protocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._inner.get_protocol()

    def is_reading(self) -> bool:
        return self._inner.is_reading()

    def pause_reading(self) -> None:
        self._inner.pause_reading()

    def resume_reading(self) -> None:
        self._inner.resume_reading()

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._inner.set_write_buffer_limits(high, low)

    def get_write_buffer_size(self) -> int:
        return self._inner.get_write_buffer_size()

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._inner.get_write_buffer_limits()

    def can_write_eof(self) -> bool:
        return self._inner.can_write_eof()

    def write_eof(self) -> None:
        self._inner.write_eof()


class _StreamTap:
    """Shared part of the two stream shims: one TCP connection's stream in the pcap."""

    def __init__(self, capture: LoopCapture, inner: Any, accepted: bool) -> None:
        self._capture = capture
        self._inner = inner
        self._accepted = accepted
        self._stream: TcpStream | None = None
        self._local_is_client = True

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        local = _addr(transport.get_extra_info("sockname"))
        remote = _addr(transport.get_extra_info("peername"))
        if local is not None and remote is not None and isinstance(transport, asyncio.Transport):
            self._local_is_client = not self._accepted
            client, server = (local, remote) if self._local_is_client else (remote, local)
            self._stream = self._capture._open_stream(client, server)
            transport = _RecordingTransport(transport, self._sent)
        self._inner.connection_made(transport)

    def _sent(self, data: bytes) -> None:
        if self._stream is not None:
            self._stream.send(self._local_is_client, data)

    def _received(self, data: bytes) -> None:
        if self._stream is not None:
            self._stream.send(not self._local_is_client, data)

    def eof_received(self) -> bool | None:
        result: bool | None = self._inner.eof_received()
        return result

    def connection_lost(self, exc: Exception | None) -> None:
        if self._stream is not None:
            self._capture._close_stream(self._stream)
        self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()


class _PlainTap(_StreamTap, asyncio.Protocol):
    def data_received(self, data: bytes) -> None:
        self._received(bytes(data))
        self._inner.data_received(data)


class _BufferedTap(_StreamTap, asyncio.BufferedProtocol):
    _buffer: memoryview | None = None

    def get_buffer(self, sizehint: int) -> memoryview:
        buf = memoryview(self._inner.get_buffer(sizehint))
        self._buffer = buf
        return buf

    def buffer_updated(self, nbytes: int) -> None:
        if self._buffer is not None:
            self._received(bytes(self._buffer[:nbytes]))
        self._inner.buffer_updated(nbytes)


class _DatagramTap(asyncio.DatagramProtocol):
    def __init__(self, capture: LoopCapture, inner: Any) -> None:
        self._capture = capture
        self._inner = inner
        self._local: Address | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._local = _addr(transport.get_extra_info("sockname"))
        self._inner.connection_made(transport)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        source = _addr(addr)
        if source is not None and self._local is not None:
            host = self._local[0]
            if host in ("0.0.0.0", "", "::"):
                host = UNKNOWN_DESTINATION if ":" not in source[0] else "ff02::1"
            self._capture.pcap.udp(source, (host, self._local[1]), bytes(data))
        self._inner.datagram_received(data, addr)

    def error_received(self, exc: Exception) -> None:
        self._inner.error_received(exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self._inner.connection_lost(exc)


def _tap_factory(capture: LoopCapture, factory: Callable[[], Any], accepted: bool) -> Callable[[], Any]:
    def make() -> Any:
        inner = factory()
        if isinstance(inner, asyncio.BufferedProtocol):
            return _BufferedTap(capture, inner, accepted)
        return _PlainTap(capture, inner, accepted)

    return make


class LoopCapture:
    """Records the loop's new TCP connections and heard datagrams into ``pcap`` while installed.

    A connection whose both ends are in this process is recorded once (by the first end seen).
    """

    _PATCHED = ("create_connection", "create_server", "connect_accepted_socket",
                "create_datagram_endpoint")

    def __init__(self, pcap: PcapWriter, *, datagrams: bool = True) -> None:
        self.pcap = pcap
        #: record what datagram endpoints hear (off when the caller listens on its own socket)
        self.datagrams = datagrams
        self._loop: asyncio.AbstractEventLoop | None = None
        self._open: dict[frozenset[Address], TcpStream] = {}

    def _open_stream(self, client: Address, server: Address) -> TcpStream | None:
        key = frozenset((client, server))
        if key in self._open:  # the other end of an in-process connection: already recorded
            return None
        stream = self.pcap.tcp_open(client, server)
        self._open[key] = stream
        return stream

    def _close_stream(self, stream: TcpStream) -> None:
        stream.close()
        self._open.pop(frozenset((stream.client, stream.server)), None)

    def install(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        """Start recording what ``loop`` (default: the running one) opens from now on."""
        loop = loop or asyncio.get_running_loop()
        if any(name in vars(loop) for name in self._PATCHED):
            raise RuntimeError("a capture is already installed on this loop")
        self._loop = loop
        LoopShared.of(loop).raw_streams = False  # new connections go through what is patched
        real_connect, real_serve = loop.create_connection, loop.create_server
        real_accepted = loop.connect_accepted_socket  # a ZMTP Socket's own accept loop
        real_datagram = loop.create_datagram_endpoint

        async def create_connection(protocol_factory: Any, *args: Any, **kw: Any) -> Any:
            return await real_connect(_tap_factory(self, protocol_factory, False), *args, **kw)

        async def create_server(protocol_factory: Any, *args: Any, **kw: Any) -> Any:
            return await real_serve(_tap_factory(self, protocol_factory, True), *args, **kw)

        async def connect_accepted_socket(protocol_factory: Any, *args: Any, **kw: Any) -> Any:
            return await real_accepted(_tap_factory(self, protocol_factory, True), *args, **kw)

        async def create_datagram_endpoint(protocol_factory: Any, *args: Any, **kw: Any) -> Any:
            return await real_datagram(lambda: _DatagramTap(self, protocol_factory()), *args, **kw)

        loop.create_connection = create_connection  # type: ignore[method-assign]
        loop.create_server = create_server  # type: ignore[method-assign]
        loop.connect_accepted_socket = connect_accepted_socket  # type: ignore[method-assign]
        if self.datagrams:
            loop.create_datagram_endpoint = create_datagram_endpoint  # type: ignore[method-assign]

    def uninstall(self) -> None:
        """Stop recording new sockets; close the streams still open in the pcap."""
        if self._loop is not None:
            LoopShared.of(self._loop).raw_streams = True
            for name in self._PATCHED:
                vars(self._loop).pop(name, None)
            self._loop = None
        for stream in list(self._open.values()):
            stream.close()
        self._open.clear()

    @contextlib.contextmanager
    def installed(self, loop: asyncio.AbstractEventLoop | None = None) -> Iterator[LoopCapture]:
        self.install(loop)
        try:
            yield self
        finally:
            self.uninstall()

