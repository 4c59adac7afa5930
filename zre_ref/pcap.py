"""Write classic libpcap files with synthesized Ethernet/IP/UDP/TCP headers (stdlib only).

The payloads are the bytes a process really sent and received; the headers around them are made
up here so that Wireshark and tshark can show them: Ethernet (locally administered MACs derived
from the IP address), IPv4 or IPv6, UDP, and TCP with a three-way handshake, sequence and
acknowledgement numbers that follow the bytes of each direction, and FINs on close — enough for
Wireshark to reassemble each TCP stream in order. File format: the classic pcap header (magic
0xA1B2C3D4, version 2.4, microsecond timestamps, LINKTYPE_ETHERNET)::

    with open("case.pcap", "wb") as fh:
        pcap = PcapWriter(fh)
        pcap.udp(("127.0.0.1", 40000), ("127.255.255.255", 5670), beacon)
        stream = pcap.tcp_open(("127.0.0.1", 50000), ("127.0.0.1", 40001))
        stream.send(True, b"\\xff...")   # client -> server
        stream.close()
"""

from __future__ import annotations

import ipaddress
import itertools
import struct
import time
from collections.abc import Callable
from typing import BinaryIO

#: pcap global header: magic, version 2.4, thiszone, sigfigs, snaplen, LINKTYPE_ETHERNET (1)
PCAP_MAGIC = 0xA1B2C3D4
LINKTYPE_ETHERNET = 1
SNAPLEN = 262144
#: Largest TCP payload put in one synthesized segment (fits IPv4's 16-bit total length)
SEGMENT = 65000

TCP_FIN, TCP_SYN, TCP_PSH, TCP_ACK = 0x01, 0x02, 0x08, 0x10
ETH_IPV4, ETH_IPV6 = 0x0800, 0x86DD
IPPROTO_TCP, IPPROTO_UDP = 6, 17

Address = tuple[str, int]


def _checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071) of ``data``."""
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _mac(ip: bytes) -> bytes:
    """A locally administered unicast MAC derived from an address (stable per host)."""
    return bytes((0x02, 0x00)) + ip[-4:]


class PcapWriter:
    """Appends packets to an open binary file; ``clock`` gives the timestamp (seconds)."""

    def __init__(self, fh: BinaryIO, *, clock: Callable[[], float] = time.time) -> None:
        self.fh = fh
        self.clock = clock
        self._ip_id = itertools.count(1)
        self.packets = 0
        fh.write(struct.pack("<IHHiIII", PCAP_MAGIC, 2, 4, 0, 0, SNAPLEN, LINKTYPE_ETHERNET))

    # -- layers ---------------------------------------------------------------------------
    def _ip(self, src: str, dst: str, proto: int, segment_of: Callable[[bytes], bytes]) -> bytes:
        """IP header + transport segment; ``segment_of(pseudo_header)`` builds the segment."""
        s, d = ipaddress.ip_address(src), ipaddress.ip_address(dst)
        if s.version != d.version:  # an IPv4-mapped peer on a dual-stack socket
            s, d = _as_v6(s), _as_v6(d)
        if s.version == 4:
            probe = segment_of(b"")
            pseudo = s.packed + d.packed + struct.pack("!BBH", 0, proto, len(probe))
            seg = segment_of(pseudo)
            head = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(seg), next(self._ip_id) & 0xFFFF,
                               0x4000, 64, proto, 0, s.packed, d.packed)
            head = head[:10] + struct.pack("!H", _checksum(head)) + head[12:]
            return self._eth(s.packed, d.packed, ETH_IPV4) + head + seg
        probe = segment_of(b"")
        pseudo = s.packed + d.packed + struct.pack("!I3xB", len(probe), proto)
        seg = segment_of(pseudo)
        head = struct.pack("!IHBB16s16s", 6 << 28, len(seg), proto, 64, s.packed, d.packed)
        return self._eth(s.packed, d.packed, ETH_IPV6) + head + seg

    @staticmethod
    def _eth(src: bytes, dst: bytes, ethertype: int) -> bytes:
        return _mac(dst) + _mac(src) + struct.pack("!H", ethertype)

    def _record(self, frame: bytes, t: float | None) -> None:
        t = self.clock() if t is None else t
        sec = int(t)
        usec = min(int((t - sec) * 1_000_000), 999_999)
        n = min(len(frame), SNAPLEN)
        self.fh.write(struct.pack("<IIII", sec, usec, n, len(frame)) + frame[:n])
        self.packets += 1

    # -- packets --------------------------------------------------------------------------
    def udp(self, src: Address, dst: Address, payload: bytes, t: float | None = None) -> None:
        """One UDP datagram."""

        def segment(pseudo: bytes) -> bytes:
            head = struct.pack("!HHHH", src[1], dst[1], 8 + len(payload), 0)
            if not pseudo:
                return head + payload
            csum = _checksum(pseudo + head + payload) or 0xFFFF
            return head[:6] + struct.pack("!H", csum) + payload

        self._record(self._ip(src[0], dst[0], IPPROTO_UDP, segment), t)

    def tcp_segment(self, src: Address, dst: Address, seq: int, ack: int, flags: int,
                    payload: bytes = b"", t: float | None = None) -> None:
        """One TCP segment (window 65535, no options)."""

        def segment(pseudo: bytes) -> bytes:
            head = struct.pack("!HHIIBBHHH", src[1], dst[1], seq & 0xFFFFFFFF, ack & 0xFFFFFFFF,
                               5 << 4, flags, 65535, 0, 0)
            if not pseudo:
                return head + payload
            return head[:16] + struct.pack("!H", _checksum(pseudo + head + payload)) + head[18:] + payload

        self._record(self._ip(src[0], dst[0], IPPROTO_TCP, segment), t)

    def tcp_open(self, client: Address, server: Address, t: float | None = None) -> TcpStream:
        """A TCP connection: writes SYN, SYN-ACK, ACK and returns the stream to send on."""
        return TcpStream(self, client, server, t)


class TcpStream:
    """One synthesized TCP connection: each direction's sequence number follows its bytes."""

    #: initial sequence numbers (arbitrary, distinct per direction)
    ISN_CLIENT, ISN_SERVER = 1000, 5000

    def __init__(self, pcap: PcapWriter, client: Address, server: Address, t: float | None) -> None:
        self.pcap = pcap
        self.client, self.server = client, server
        self.seq = {True: self.ISN_CLIENT, False: self.ISN_SERVER}  # keyed by "from client"
        self.closed = False
        pcap.tcp_segment(client, server, self.seq[True], 0, TCP_SYN, t=t)
        pcap.tcp_segment(server, client, self.seq[False], self.seq[True] + 1, TCP_SYN | TCP_ACK, t=t)
        self.seq[True] += 1
        self.seq[False] += 1
        pcap.tcp_segment(client, server, self.seq[True], self.seq[False], TCP_ACK, t=t)

    def _ends(self, from_client: bool) -> tuple[Address, Address]:
        return (self.client, self.server) if from_client else (self.server, self.client)

    def send(self, from_client: bool, data: bytes, t: float | None = None) -> None:
        """Bytes in one direction, in segments of at most :data:`SEGMENT` bytes."""
        if self.closed or not data:
            return
        src, dst = self._ends(from_client)
        for i in range(0, len(data), SEGMENT):
            chunk = data[i:i + SEGMENT]
            self.pcap.tcp_segment(src, dst, self.seq[from_client], self.seq[not from_client],
                                  TCP_PSH | TCP_ACK, chunk, t)
            self.seq[from_client] += len(chunk)

    def close(self, t: float | None = None) -> None:
        """FIN from the client, FIN from the server, final ACK."""
        if self.closed:
            return
        self.closed = True
        for side in (True, False):
            src, dst = self._ends(side)
            self.pcap.tcp_segment(src, dst, self.seq[side], self.seq[not side], TCP_FIN | TCP_ACK, t=t)
            self.seq[side] += 1
        self.pcap.tcp_segment(self.client, self.server, self.seq[True], self.seq[False], TCP_ACK, t=t)


def _as_v6(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> ipaddress.IPv6Address:
    if isinstance(addr, ipaddress.IPv6Address):
        return addr
    return ipaddress.IPv6Address("::ffff:" + str(addr))
