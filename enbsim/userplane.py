"""The user plane of one simulated eNB: its GTP-U endpoint on S1-U (TS 29.281) and, per UE,
the place the UE's IP packets come from and go to.

It owns the eNB's UDP socket (port 2152 unless told otherwise), the forwarding table built
from the eNB core's `BearerEstablished` / `BearerModified` / `BearerReleased` events
(`apply`), and the UEs' kernel devices:

- uplink: an IPv4 packet from a UE goes, as a G-PDU, in the tunnel of the UE's default
  bearer (the first of its E-RABs still up; dedicated bearers carry no uplink here, there
  are no TFTs) to that bearer's SGW (`sgw_port`, 2152 unless told otherwise);
- downlink: a G-PDU to one of the eNB's TEIDs goes, decapsulated, to the UE of that tunnel;
- GTP-U signalling: an Echo Request is answered with an Echo Response (7.2); a G-PDU for a
  TEID with no tunnel is answered with an Error Indication (7.3.1: TEID Data I and this
  endpoint's address, sent to the sender's address at `sgw_port`, with a UDP Port extension
  header naming the G-PDU's source port when it was another); an Error Indication received
  becomes a `TunnelErrorReported` event for `on_event`. Malformed packets are dropped and
  counted, never answered (GTP-U has no error response to them).

Per UE, two ways for traffic to enter and leave (choose per UE in `add_ue`):

- a network namespace of its own (`namespace_prefix` + IMSI, needs root) holding a TUN
  device `tun0` with the UE's IPv4 address and a default route through it, so anything run
  inside (`ip netns exec <namespace> ...`, or a socket from `open_socket`) is the UE's
  traffic. The TUN is created in the root namespace and moved in; the eNB keeps its fd, which
  goes on working, and closing it removes the device. Packets other than IPv4 (the kernel's
  IPv6 router solicitations) are not sent uplink.
- none (`namespace=False`): no device at all, nothing that needs root. `send_udp` works for
  both kinds: it builds the IPv4/UDP packet itself with the UE's address, sends it uplink,
  and takes the answer off the downlink before any device sees it. That is how the Python
  API's `send_udp` and the load generator reach thousands of UEs without thousands of
  namespaces.

`close` (also after errors: every step of `add_ue` is undone if a later one fails) removes
every namespace and device this object made, and never one it did not make.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from ipaddress import IPv4Address

import structlog
from pyroute2 import AsyncIPRoute, netns

from enbsim.events import BearerEstablished, BearerModified, BearerReleased, TunnelErrorReported
from epc.codec import gtpu
from epc.codec.gtpu import (
    GTPU_PORT,
    ExtensionHeaderType,
    GtpuDecodeError,
    MessageType,
    decode_header,
    encode_gpdu,
)

__all__ = ["Counters", "UserPlane", "UserPlaneError", "build_udp_packet", "read_udp_packet"]

TUNSETIFF = 0x400454CA
"""ioctl(2) of /dev/net/tun that attaches the fd to a new device (linux/if_tun.h)."""
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
"""Raw IP packets, no 4-octet packet information header in front."""
TUN_NAME = "tun0"
"""The TUN's name inside a UE's namespace."""
UE_MTU = 1400
"""Leaves room for the GTP-U, UDP and IP headers (36 octets) on a 1500-octet S1-U path."""
READ_SIZE = 65535
UPLINK_BURST = 64
"""Packets read from one TUN per wake-up before other UEs get their turn."""
EPHEMERAL_PORTS = range(49152, 65536)
"""RFC 6335 6: where `send_udp` takes its source ports from."""
IPPROTO_UDP = 17
_G_PDU = int(MessageType.G_PDU)  # a plain int: compared once per packet

_log = structlog.get_logger(__name__)


class UserPlaneError(Exception):
    """What the user plane cannot do: a UE it does not know or knows already, a UE with no
    bearer to send on, a namespace or device it could not make (the message says which)."""


@dataclass(slots=True)
class _Tunnel:
    imsi: str
    e_rab_id: int
    sgw_address: str
    sgw_teid: int
    enb_teid: int


@dataclass(slots=True)
class _Ue:
    imsi: str
    address: IPv4Address
    namespace: str | None = None
    tun_fd: int | None = None
    tunnels: dict[int, _Tunnel] = field(default_factory=dict)
    """By E-RAB ID, in the order they were set up: the first is the default bearer."""


@dataclass(slots=True)
class Counters:
    """Packets the endpoint handled, for the CLI's summary and for tests."""

    uplink: int = 0
    downlink: int = 0
    no_tunnel: int = 0
    """Uplink packets of a UE with no bearer, and G-PDUs for a TEID with no tunnel."""
    not_ipv4: int = 0
    malformed: int = 0
    undelivered: int = 0
    """Downlink packets for a UE with no device and no `send_udp` waiting."""


class UserPlane:
    """The GTP-U endpoint of one eNB and its UEs' devices. Make one with `open`."""

    def __init__(
        self,
        address: IPv4Address,
        sgw_port: int,
        namespace_prefix: str,
        on_event: Callable[[object], None] | None,
    ) -> None:
        self.address = address
        self.counters = Counters()
        self._sgw_port = sgw_port
        self._namespace_prefix = namespace_prefix
        self._on_event = on_event
        self._transport: asyncio.DatagramTransport | None = None
        self._ues: dict[str, _Ue] = {}
        self._tunnels: dict[int, _Tunnel] = {}
        self._waiters: dict[tuple[str, int], tuple[bytes, int, asyncio.Future[bytes]]] = {}
        self._next_port = EPHEMERAL_PORTS.start
        self._device_number = 0

    @classmethod
    async def open(
        cls,
        address: str,
        port: int = GTPU_PORT,
        *,
        sgw_port: int = GTPU_PORT,
        namespace_prefix: str = "enbsim-",
        on_event: Callable[[object], None] | None = None,
    ) -> UserPlane:
        """Bind the GTP-U endpoint to (address, port); port 0 picks a free one."""
        user_plane = cls(IPv4Address(address), sgw_port, namespace_prefix, on_event)
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _GtpuProtocol(user_plane), local_addr=(address, port)
        )
        user_plane._transport = transport  # type: ignore[assignment]
        return user_plane

    @property
    def port(self) -> int:
        assert self._transport is not None
        return self._transport.get_extra_info("sockname")[1]

    async def close(self) -> None:
        """Remove every UE's device and namespace, then close the endpoint; idempotent."""
        for imsi in list(self._ues):
            await self.remove_ue(imsi)
        for _, _, waiter in self._waiters.values():
            waiter.cancel()
        self._waiters.clear()
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    async def __aenter__(self) -> UserPlane:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    # --- the forwarding table -------------------------------------------------------------

    def apply(self, event: object) -> None:
        """Follow the eNB core's bearer events; any other event is ignored."""
        match event:
            case BearerEstablished() | BearerModified():
                tunnel = _Tunnel(
                    event.imsi, event.e_rab_id, event.sgw_address, event.sgw_teid, event.enb_teid
                )
                self._tunnels[event.enb_teid] = tunnel
                ue = self._ues.get(event.imsi)
                if ue is not None:
                    ue.tunnels[event.e_rab_id] = tunnel
            case BearerReleased():
                self._tunnels.pop(event.enb_teid, None)
                ue = self._ues.get(event.imsi)
                if ue is not None:
                    ue.tunnels.pop(event.e_rab_id, None)

    def _uplink_tunnel(self, ue: _Ue) -> _Tunnel | None:
        return next(iter(ue.tunnels.values()), None)

    # --- UEs ------------------------------------------------------------------------------

    def namespace(self, imsi: str) -> str:
        """The name of the UE's network namespace (for `ip netns exec`)."""
        return self._namespace_prefix + imsi

    async def add_ue(self, imsi: str, address: str, *, namespace: bool = True) -> str | None:
        """Give the UE its IPv4 address (from its Attach Accept) and, with `namespace`, its
        namespace and TUN (root only). Returns the namespace's name, or None."""
        if imsi in self._ues:
            raise UserPlaneError(f"UE {imsi} has a user plane already")
        ue = _Ue(imsi, IPv4Address(address))
        ue.tunnels = {
            tunnel.e_rab_id: tunnel for tunnel in self._tunnels.values() if tunnel.imsi == imsi
        }
        self._ues[imsi] = ue  # before any await: bearer events meanwhile must find it
        if namespace:
            try:
                await self._make_namespace(ue)
            except BaseException:
                del self._ues[imsi]
                raise
        return ue.namespace

    async def remove_ue(self, imsi: str) -> None:
        """Remove the UE's device and namespace, if it has them; its tunnels stay in the
        table until the eNB core releases them."""
        ue = self._ues.pop(imsi, None)
        if ue is None:
            return
        for key in [key for key in self._waiters if key[0] == imsi]:
            self._waiters.pop(key)[2].cancel()
        await self._unmake_namespace(ue)

    async def _make_namespace(self, ue: _Ue) -> None:
        name = self.namespace(ue.imsi)
        if name in netns.listnetns():
            raise UserPlaneError(
                f"network namespace {name} exists already (left by an earlier run?): "
                f"remove it with `ip netns delete {name}`"
            )
        try:
            await asyncio.to_thread(netns.create, name)
            ue.namespace = name
            ue.tun_fd, device = self._open_tun()
            await _move_and_configure(device, name, ue.address)
        except BaseException as error:
            await self._unmake_namespace(ue)
            if isinstance(error, Exception):
                raise UserPlaneError(f"UE {ue.imsi}: no namespace {name}: {error}") from error
            raise
        asyncio.get_running_loop().add_reader(ue.tun_fd, self._uplink_from_tun, ue)

    def _open_tun(self) -> tuple[int, str]:
        """A new TUN in this (root) namespace, under a name unique here for the move."""
        self._device_number += 1
        device = f"enbs{os.getpid() % 10000}x{self._device_number}"[:15]
        fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", device.encode(), IFF_TUN | IFF_NO_PI))
        except BaseException:
            os.close(fd)
            raise
        return fd, device

    async def _unmake_namespace(self, ue: _Ue) -> None:
        if ue.tun_fd is not None:
            asyncio.get_running_loop().remove_reader(ue.tun_fd)
            os.close(ue.tun_fd)  # a TUN that is not persistent goes with its last fd
            ue.tun_fd = None
        if ue.namespace is not None:
            with contextlib.suppress(FileNotFoundError):
                await asyncio.to_thread(netns.remove, ue.namespace)
            ue.namespace = None

    async def open_socket(
        self,
        imsi: str,
        family: socket.AddressFamily = socket.AF_INET,
        kind: socket.SocketKind = socket.SOCK_DGRAM,
        protocol: int = 0,
    ) -> socket.socket:
        """A socket inside the UE's namespace (non-blocking, for `loop.sock_*`): what it
        sends is the UE's uplink traffic. The caller closes it."""
        ue = self._ue(imsi)
        if ue.namespace is None:
            raise UserPlaneError(f"UE {imsi} has no namespace (added with namespace=False)")
        opened = await asyncio.to_thread(netns.create_socket, ue.namespace, family, kind, protocol)
        opened.setblocking(False)
        return opened

    def _ue(self, imsi: str) -> _Ue:
        try:
            return self._ues[imsi]
        except KeyError:
            raise UserPlaneError(f"UE {imsi} has no user plane here (add_ue first)") from None

    # --- send_udp -------------------------------------------------------------------------

    async def send_udp(
        self,
        imsi: str,
        destination: str,
        port: int,
        payload: bytes,
        *,
        source_port: int | None = None,
        reply_timeout_s: float | None = None,
    ) -> bytes | None:
        """Send one UDP datagram from the UE to (destination, port). With `reply_timeout_s`,
        wait that long for the answer (a datagram from there to the same source port) and
        return its payload, or None if none came; without, return None at once."""
        ue = self._ue(imsi)
        tunnel = self._uplink_tunnel(ue)
        if tunnel is None:
            raise UserPlaneError(f"UE {imsi} has no bearer to send on")
        if source_port is None:
            source_port = self._ephemeral_port(imsi)
        remote = IPv4Address(destination)
        packet = build_udp_packet(ue.address, remote, source_port, port, payload)
        if reply_timeout_s is None:
            self._send_uplink(tunnel, packet)
            return None
        key = (imsi, source_port)
        if key in self._waiters:
            raise UserPlaneError(f"UE {imsi} waits for an answer on port {source_port} already")
        waiter: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self._waiters[key] = (remote.packed, port, waiter)
        try:
            self._send_uplink(tunnel, packet)
            async with asyncio.timeout(reply_timeout_s):
                return await waiter
        except TimeoutError:
            return None
        finally:
            if self._waiters.get(key, (None, None, None))[2] is waiter:
                del self._waiters[key]

    def _ephemeral_port(self, imsi: str) -> int:
        for _ in EPHEMERAL_PORTS:
            candidate = self._next_port
            self._next_port = candidate + 1 if candidate + 1 in EPHEMERAL_PORTS else 49152
            if (imsi, candidate) not in self._waiters:
                return candidate
        raise UserPlaneError(f"UE {imsi} waits on every ephemeral port")

    # --- uplink ---------------------------------------------------------------------------

    def _uplink_from_tun(self, ue: _Ue) -> None:
        assert ue.tun_fd is not None
        for _ in range(UPLINK_BURST):
            try:
                packet = os.read(ue.tun_fd, READ_SIZE)
            except BlockingIOError:
                return
            except OSError:
                return  # the device is going away; remove_ue follows
            if not packet or packet[0] >> 4 != 4:
                self.counters.not_ipv4 += 1
                continue
            tunnel = self._uplink_tunnel(ue)
            if tunnel is None:
                self.counters.no_tunnel += 1
                continue
            self._send_uplink(tunnel, packet)

    def _send_uplink(self, tunnel: _Tunnel, packet: bytes) -> None:
        if self._transport is None:
            return
        self.counters.uplink += 1
        gpdu = encode_gpdu(tunnel.sgw_teid, packet)
        self._transport.sendto(gpdu, (tunnel.sgw_address, self._sgw_port))

    # --- what arrives on S1-U -------------------------------------------------------------

    def datagram_received(self, data: bytes, source: tuple[str, int]) -> None:
        try:
            message_type, teid, offset = decode_header(data)
        except GtpuDecodeError:
            self.counters.malformed += 1
            return
        if message_type == _G_PDU:
            tunnel = self._tunnels.get(teid)
            if tunnel is None:
                self.counters.no_tunnel += 1
                self._send_error_indication(teid, source)
            else:
                self._deliver(tunnel.imsi, data[offset:])
            return
        self._signalling(data, source)

    def _deliver(self, imsi: str, packet: bytes) -> None:
        self.counters.downlink += 1
        ue = self._ues.get(imsi)
        if ue is None:
            self.counters.undelivered += 1
            return
        if self._waiters and self._answered(imsi, packet):
            return
        if ue.tun_fd is None:
            self.counters.undelivered += 1
            return
        with contextlib.suppress(BlockingIOError):  # a full TUN queue drops, as a radio would
            os.write(ue.tun_fd, packet)

    def _answered(self, imsi: str, packet: bytes) -> bool:
        """Whether the packet answers a `send_udp` waiting for it (then it is consumed)."""
        datagram = read_udp_packet(packet)
        if datagram is None:
            return False
        source, _, source_port, destination_port, payload = datagram
        entry = self._waiters.get((imsi, destination_port))
        if entry is None or entry[:2] != (source, source_port) or entry[2].done():
            return False
        entry[2].set_result(payload)
        return True

    def _signalling(self, data: bytes, source: tuple[str, int]) -> None:
        try:
            message = gtpu.decode(data)
        except GtpuDecodeError:
            self.counters.malformed += 1
            return
        match message:
            case gtpu.EchoRequest():
                answer = gtpu.EchoResponse(sequence_number=message.sequence_number)
                self._sendto(gtpu.encode(answer), source)
            case gtpu.ErrorIndication():
                self._tunnel_error(message)
            case _:
                pass  # Echo Response, End Marker, ...: nothing asked, nothing to do

    def _tunnel_error(self, message: gtpu.ErrorIndication) -> None:
        """The SGW knows no tunnel `teid_data`: one of ours, an uplink TEID of a bearer."""
        tunnel = next(
            (each for each in self._tunnels.values() if each.sgw_teid == message.teid_data),
            None,
        )
        event = TunnelErrorReported(
            message.teid_data,
            str(message.peer_address),
            tunnel.imsi if tunnel else None,
            tunnel.e_rab_id if tunnel else None,
            asyncio.get_running_loop().time(),
        )
        if self._on_event is not None:
            self._on_event(event)
        else:
            _log.warning("gtp-u error indication", teid=message.teid_data, imsi=event.imsi)

    def _send_error_indication(self, teid: int, source: tuple[str, int]) -> None:
        headers: gtpu.ExtensionHeaders = ()
        if source[1] != self._sgw_port:
            headers = ((ExtensionHeaderType.UDP_PORT, struct.pack("!H", source[1])),)
        indication = gtpu.ErrorIndication(
            teid_data=teid, peer_address=self.address, extension_headers=headers
        )
        self._sendto(gtpu.encode(indication), (source[0], self._sgw_port))

    def _sendto(self, data: bytes, destination: tuple[str, int]) -> None:
        if self._transport is not None:
            self._transport.sendto(data, destination)


class _GtpuProtocol(asyncio.DatagramProtocol):
    def __init__(self, user_plane: UserPlane) -> None:
        self._user_plane = user_plane

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self._user_plane.datagram_received(data, addr)

    def error_received(self, exc: Exception) -> None:
        # An ICMP unreachable for an earlier datagram (a peer not listening): not fatal.
        _log.debug("gtp-u send failed", error=str(exc))


async def _move_and_configure(device: str, name: str, address: IPv4Address) -> None:
    """Move the TUN into the namespace; there: name it, address it, route everything via it."""
    async with AsyncIPRoute() as root:
        index = (await root.link_lookup(ifname=device))[0]
        await root.link("set", index=index, net_ns_fd=name)
    async with AsyncIPRoute(netns=name) as inside:
        index = (await inside.link_lookup(ifname=device))[0]
        await inside.link("set", index=index, ifname=TUN_NAME, mtu=UE_MTU, state="up")
        await inside.addr("add", index=index, address=str(address), prefixlen=32)
        await inside.route("add", dst="0.0.0.0/0", oif=index)
        loopback = (await inside.link_lookup(ifname="lo"))[0]
        await inside.link("set", index=loopback, state="up")


# --- IPv4 and UDP, just enough for send_udp (RFC 791, RFC 768) --------------------------------

_IPV4_HEADER = struct.Struct("!BBHHHBBH4s4s")
_UDP_HEADER = struct.Struct("!HHHH")
_DONT_FRAGMENT = 0x4000
_DEFAULT_TTL = 64


def _checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071)."""
    if len(data) % 2:
        data += b"\x00"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def build_udp_packet(
    source: IPv4Address,
    destination: IPv4Address,
    source_port: int,
    destination_port: int,
    payload: bytes,
) -> bytes:
    """An IPv4 packet holding one UDP datagram, both checksums filled in."""
    length = _UDP_HEADER.size + len(payload)
    pseudo_header = source.packed + destination.packed + struct.pack("!BBH", 0, IPPROTO_UDP, length)
    datagram = _UDP_HEADER.pack(source_port, destination_port, length, 0) + payload
    # RFC 768: a computed checksum of zero is sent as all ones (zero means "none").
    udp_checksum = _checksum(pseudo_header + datagram) or 0xFFFF
    datagram = datagram[:6] + struct.pack("!H", udp_checksum) + datagram[8:]
    header = _IPV4_HEADER.pack(
        0x45,
        0,
        _IPV4_HEADER.size + length,
        0,
        _DONT_FRAGMENT,
        _DEFAULT_TTL,
        IPPROTO_UDP,
        0,
        source.packed,
        destination.packed,
    )
    header = header[:10] + struct.pack("!H", _checksum(header)) + header[12:]
    return header + datagram


def read_udp_packet(packet: bytes) -> tuple[bytes, bytes, int, int, bytes] | None:
    """(source address, destination address, source port, destination port, payload) of an
    unfragmented IPv4 UDP packet (addresses packed), or None for anything else."""
    if len(packet) < _IPV4_HEADER.size + _UDP_HEADER.size or packet[0] >> 4 != 4:
        return None
    header_length = (packet[0] & 0x0F) * 4
    fragment = struct.unpack_from("!H", packet, 6)[0] & 0x3FFF  # MF flag and offset
    if packet[9] != IPPROTO_UDP or fragment or len(packet) < header_length + _UDP_HEADER.size:
        return None
    source_port, destination_port, length, _ = _UDP_HEADER.unpack_from(packet, header_length)
    start = header_length + _UDP_HEADER.size
    payload = packet[start : header_length + length]
    return packet[12:16], packet[16:20], source_port, destination_port, payload
