"""zre_ref.pcap (synthesized headers) and zre_ref.capture (a loop's real bytes), read back here
with a small independent pcap reader: checksums, sequence numbers, reassembled streams."""

from __future__ import annotations

import asyncio
import io
import socket
import struct
from dataclasses import dataclass
from pathlib import Path

import pytest

from zre_ref.capture import LoopCapture
from zre_ref.pcap import SEGMENT, PcapWriter


@dataclass
class Packet:
    src: str
    dst: str
    sport: int
    dport: int
    proto: str  # "tcp" or "udp"
    flags: int
    seq: int
    ack: int
    payload: bytes


def _csum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def read_pcap(data: bytes) -> list[Packet]:
    """Parse what PcapWriter writes, checking every length and checksum on the way."""
    magic, major, minor, _zone, _sig, _snap, link = struct.unpack_from("<IHHiIII", data)
    assert (magic, major, minor, link) == (0xA1B2C3D4, 2, 4, 1)
    off, out = 24, []
    while off < len(data):
        _sec, usec, incl, orig = struct.unpack_from("<IIII", data, off)
        assert incl == orig and usec < 1_000_000
        frame = data[off + 16:off + 16 + incl]
        off += 16 + incl
        ethertype = struct.unpack_from("!H", frame, 12)[0]
        ip = frame[14:]
        if ethertype == 0x0800:
            assert ip[0] == 0x45 and _csum(ip[:20]) == 0xFFFF  # header checksum holds
            total, proto = struct.unpack_from("!H", ip, 2)[0], ip[9]
            assert total == len(ip)
            src, dst = socket.inet_ntop(socket.AF_INET, ip[12:16]), socket.inet_ntop(socket.AF_INET, ip[16:20])
            seg = ip[20:]
            pseudo = ip[12:20] + struct.pack("!BBH", 0, proto, len(seg))
        else:
            assert ethertype == 0x86DD
            plen, proto = struct.unpack_from("!HB", ip, 4)
            assert plen == len(ip) - 40
            src, dst = socket.inet_ntop(socket.AF_INET6, ip[8:24]), socket.inet_ntop(socket.AF_INET6, ip[24:40])
            seg = ip[40:]
            pseudo = ip[8:40] + struct.pack("!I3xB", len(seg), proto)
        assert _csum(pseudo + seg) == 0xFFFF  # transport checksum over the pseudo header holds
        if proto == 17:
            sport, dport, length = struct.unpack_from("!HHH", seg)
            assert length == len(seg)
            out.append(Packet(src, dst, sport, dport, "udp", 0, 0, 0, seg[8:]))
        else:
            sport, dport, seq, ack, offset, flags = struct.unpack_from("!HHIIBB", seg)
            out.append(Packet(src, dst, sport, dport, "tcp", flags, seq, ack, seg[(offset >> 4) * 4:]))
    return out


def streams(packets: list[Packet]) -> dict[tuple[int, int], bytes]:
    """(source port, destination port) -> that direction's bytes, checking seq continuity."""
    data: dict[tuple[int, int], bytearray] = {}
    next_seq: dict[tuple[int, int], int] = {}
    for p in packets:
        if p.proto != "tcp":
            continue
        way = (p.sport, p.dport)
        if p.flags & 0x02:  # SYN
            next_seq[way] = p.seq + 1
            data.setdefault(way, bytearray())
            continue
        assert p.seq == next_seq[way], (way, p.seq, next_seq[way])
        back = (p.dport, p.sport)
        if back in next_seq:
            assert p.ack == next_seq[back]  # acknowledges everything the other side sent
        data[way] += p.payload
        next_seq[way] += len(p.payload) + (1 if p.flags & 0x01 else 0)
    return {k: bytes(v) for k, v in data.items()}


def test_writer_udp_and_tcp_stream_ipv4() -> None:
    fh = io.BytesIO()
    pcap = PcapWriter(fh, clock=lambda: 1700000000.25)
    pcap.udp(("10.0.0.1", 40000), ("10.0.0.255", 5670), b"ZRE\x01" + bytes(18))
    tcp = pcap.tcp_open(("10.0.0.1", 50000), ("10.0.0.2", 6000))
    big = bytes(range(256)) * 600  # 153600 bytes: three segments
    tcp.send(True, b"hello")
    tcp.send(False, b"world!")
    tcp.send(True, big)
    tcp.close()
    packets = read_pcap(fh.getvalue())
    assert packets[0].proto == "udp" and packets[0].payload.startswith(b"ZRE")
    assert [p.flags for p in packets[1:4]] == [0x02, 0x12, 0x10]  # SYN, SYN-ACK, ACK
    assert [p.flags & 0x01 for p in packets[-3:]] == [1, 1, 0]  # FIN, FIN, ACK
    assert max(len(p.payload) for p in packets) == SEGMENT
    got = streams(packets)
    assert got[(50000, 6000)] == b"hello" + big and got[(6000, 50000)] == b"world!"


def test_writer_ipv6() -> None:
    fh = io.BytesIO()
    pcap = PcapWriter(fh)
    tcp = pcap.tcp_open(("::1", 50000), ("fe80::1", 6000))
    tcp.send(False, b"x" * 10)
    pcap.udp(("::1", 1), ("ff02::1", 5670), b"beacon")
    packets = read_pcap(fh.getvalue())
    assert packets[0].src == "::1" and packets[0].dst == "fe80::1"
    assert streams(packets)[(6000, 50000)] == b"x" * 10 and packets[-1].payload == b"beacon"


@pytest.mark.net
def test_loop_capture_records_real_streams_and_datagrams(tmp_path: Path) -> None:
    async def scenario() -> tuple[bytes, int, int]:
        async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            data = await reader.readexactly(5)
            writer.write(data.upper() + b"!")
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(echo, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        heard = asyncio.get_running_loop().create_future()

        class Listener(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: object) -> None:
                if not heard.done():
                    heard.set_result(data)

        transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
            Listener, local_addr=("127.0.0.1", 0))
        udp_port = transport.get_extra_info("sockname")[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"hello")
        assert await asyncio.wait_for(reader.read(100), 5) == b"HELLO!"
        writer.close()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(b"ZRE-ish", ("127.0.0.1", udp_port))
        assert await asyncio.wait_for(heard, 5) == b"ZRE-ish"
        transport.close()
        server.close()
        await server.wait_closed()
        return b"", port, udp_port

    path = tmp_path / "c.pcap"

    async def captured() -> tuple[bytes, int, int]:
        with path.open("wb") as fh, LoopCapture(PcapWriter(fh)).installed():
            return await scenario()

    _, port, udp_port = asyncio.run(captured())
    packets = read_pcap(path.read_bytes())
    # both ends are in this process: the connection is recorded once (one SYN)
    assert sum(1 for p in packets if p.flags == 0x02) == 1
    got = streams(packets)
    to_server = next(v for (s, d), v in got.items() if d == port)
    from_server = next(v for (s, d), v in got.items() if s == port)
    assert (to_server, from_server) == (b"hello", b"HELLO!")
    assert [p.payload for p in packets if p.proto == "udp" and p.dport == udp_port] == [b"ZRE-ish"]


@pytest.mark.net
def test_loop_capture_sees_zmtp_sockets(tmp_path: Path) -> None:
    """zre_ref's ZMTP sockets read through BufferedProtocol: the reads are recorded too."""
    from zre_ref.aio.zmtp import Socket

    async def scenario() -> None:
        router = Socket("ROUTER")
        endpoint = await router.bind("tcp://127.0.0.1:*")
        dealer = Socket("DEALER", identity=b"D")
        await dealer.connect(endpoint)
        await dealer.send_multipart([b"\xaa\xa1ping"])
        assert (await asyncio.wait_for(router.recv_multipart(), 5))[1:] == [b"\xaa\xa1ping"]
        await router.send_multipart([b"D", b"pong"])
        assert await asyncio.wait_for(dealer.recv_multipart(), 5) == [b"pong"]
        dealer.close()
        router.close()

    path = tmp_path / "z.pcap"

    async def captured() -> None:
        with path.open("wb") as fh, LoopCapture(PcapWriter(fh)).installed():
            await scenario()

    asyncio.run(captured())
    got = list(streams(read_pcap(path.read_bytes())).values())
    assert len(got) == 2 and all(v.startswith(b"\xff") for v in got)  # both greet
    assert any(b"\x00\x06\xaa\xa1ping" in v for v in got) and any(b"\x00\x04pong" in v for v in got)
