"""A network for the user-plane tests: a "core" namespace (the gateways' GTP-U endpoints on
127.0.0.x, the PGW's SGi device, IP forwarding on) joined by a veth pair to an "internet"
namespace (192.0.2.2) that routes the UE pool back to the core; plus the packets a UE sends
(UDP, ICMP Echo) and a raw GTP-U peer socket playing an eNB or an SGW. Everything made is
removed at `close`."""

from __future__ import annotations

import asyncio
import os
import socket
import struct
import subprocess
import uuid
from dataclasses import dataclass
from ipaddress import IPv4Address

from pyroute2 import netns

from enbsim.userplane import build_udp_packet
from epc.codec.gtpu import decode_header

UE_POOL = "10.45.0.0/24"
UE = "10.45.0.2"
INTERNET = "192.0.2.2"
CORE_SIDE = "192.0.2.1"
ECHO_PORT = 7


def run(*command: str) -> None:
    subprocess.run(command, check=True, capture_output=True)


@dataclass
class Topology:
    core: str
    internet: str
    tag: str

    @classmethod
    def make(cls) -> Topology:
        tag = uuid.uuid4().hex[:6]
        topology = cls(f"upcore-{tag}", f"upinet-{tag}", tag)
        try:
            topology._build()
        except BaseException:
            topology.close()
            raise
        return topology

    def _build(self) -> None:
        core_end, internet_end = f"upc{self.tag}", f"upi{self.tag}"
        run("ip", "netns", "add", self.core)
        run("ip", "netns", "add", self.internet)
        run("ip", "link", "add", core_end, "type", "veth", "peer", "name", internet_end)
        run("ip", "link", "set", core_end, "netns", self.core)
        run("ip", "link", "set", internet_end, "netns", self.internet)
        core = ("ip", "netns", "exec", self.core)
        internet = ("ip", "netns", "exec", self.internet)
        run(*core, "ip", "link", "set", "lo", "up")
        run(*core, "ip", "addr", "add", f"{CORE_SIDE}/24", "dev", core_end)
        run(*core, "ip", "link", "set", core_end, "up")
        run(*core, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        run(*internet, "ip", "link", "set", "lo", "up")
        run(*internet, "ip", "addr", "add", f"{INTERNET}/24", "dev", internet_end)
        run(*internet, "ip", "link", "set", internet_end, "up")
        run(*internet, "ip", "route", "add", UE_POOL, "via", CORE_SIDE)

    def socket(self, namespace: str, address: tuple[str, int]) -> socket.socket:
        opened = netns.create_socket(namespace, socket.AF_INET, socket.SOCK_DGRAM)
        opened.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        opened.bind(address)
        opened.setblocking(False)
        return opened

    def close(self) -> None:
        for name in (self.core, self.internet):
            if name in netns.listnetns():
                netns.remove(name)


class Peer:
    """A raw GTP-U endpoint (an eNB toward the SGW, or an SGW toward the PGW)."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def send(self, data: bytes, address: tuple[str, int]) -> None:
        self.sock.sendto(data, address)

    async def receive(self, timeout_s: float = 5.0) -> bytes:
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(timeout_s):
            data, _ = await loop.sock_recvfrom(self.sock, 65535)
        return data

    async def receive_gpdu(self, timeout_s: float = 5.0) -> tuple[int, bytes]:
        """(TEID, inner packet) of the next G-PDU, skipping other messages."""
        async with asyncio.timeout(timeout_s):
            while True:
                data = await self.receive(timeout_s)
                message_type, teid, offset = decode_header(data)
                if message_type == 255:
                    return teid, data[offset:]

    def close(self) -> None:
        self.sock.close()


async def udp_echo_server(sock: socket.socket) -> None:
    """What the internet host runs: every datagram comes back to where it came from."""
    loop = asyncio.get_running_loop()
    while True:
        data, source = await loop.sock_recvfrom(sock, 65535)
        await loop.sock_sendto(sock, data, source)


def udp_packet(payload: bytes, source_port: int = 40000) -> bytes:
    return build_udp_packet(IPv4Address(UE), IPv4Address(INTERNET), source_port, ECHO_PORT, payload)


def udp_payload(packet: bytes) -> tuple[str, int, bytes]:
    """(source address, source port, payload) of an IPv4 UDP packet."""
    header_length = (packet[0] & 0x0F) * 4
    source_port = struct.unpack_from("!H", packet, header_length)[0]
    return socket.inet_ntoa(packet[12:16]), source_port, packet[header_length + 8 :]


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\x00"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def icmp_echo_request(identifier: int, sequence: int) -> bytes:
    body = struct.pack("!BBHHH", 8, 0, 0, identifier, sequence) + b"ping" * 8
    body = body[:2] + struct.pack("!H", _checksum(body)) + body[4:]
    header = struct.pack(
        "!BBHHHBBH4s4s",
        0x45,
        0,
        20 + len(body),
        os.getpid() & 0xFFFF,
        0,
        64,
        socket.IPPROTO_ICMP,
        0,
        IPv4Address(UE).packed,
        IPv4Address(INTERNET).packed,
    )
    header = header[:10] + struct.pack("!H", _checksum(header)) + header[12:]
    return header + body
