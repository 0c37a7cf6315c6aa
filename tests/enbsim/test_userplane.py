"""The eNB's user plane with real packets: a UE's namespace pings and sends UDP through its
TUN and the eNB's GTP-U endpoint to a tiny in-test SGW, which decapsulates, answers as the
far end would and tunnels the answer back, so both directions are proven; `send_udp` does the
same without a namespace. GTP-U signalling: Echo Request answered, Error Indication for an
unknown TEID sent, one received reported. Cleanup leaves no namespace or device behind, also
when setting a UE up fails halfway. (Needs root for TUN devices and namespaces.)"""

from __future__ import annotations

import asyncio
import os
import socket
import struct
from ipaddress import IPv4Address

import pytest
from pyroute2 import netns

from enbsim import userplane
from enbsim.events import BearerEstablished, BearerReleased, TunnelErrorReported
from enbsim.userplane import UserPlane, UserPlaneError, build_udp_packet, read_udp_packet
from epc.codec import gtpu
from epc.codec.gtpu import MessageType, decode_header, encode_gpdu

pytestmark = [
    pytest.mark.userplane,
    pytest.mark.skipif(os.geteuid() != 0, reason="TUN devices and namespaces need root"),
]

IMSI = "001010000000001"
UE_ADDRESS = "10.45.0.2"
FAR_END = "10.99.0.1"
"""An address behind the SGW: every packet the UE sends goes up the tunnel regardless."""
SGW_TEID = 0x5001
TIMEOUT_S = 10.0


def checksum(data: bytes) -> int:
    """RFC 1071, written again here so the test does not trust the module's own."""
    if len(data) % 2:
        data += b"\x00"
    total = sum(int.from_bytes(data[index : index + 2], "big") for index in range(0, len(data), 2))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def answer_of(packet: bytes) -> bytes | None:
    """What the far end answers: an ICMP Echo Reply to an Echo Request, the same datagram
    back to a UDP one; addresses (and ports) swapped, checksums recomputed."""
    header_length = (packet[0] & 0x0F) * 4
    header, body = bytearray(packet[:header_length]), bytearray(packet[header_length:])
    header[12:16], header[16:20] = packet[16:20], packet[12:16]
    header[10:12] = b"\x00\x00"
    header[10:12] = checksum(bytes(header)).to_bytes(2, "big")
    if packet[9] == socket.IPPROTO_ICMP and body[0] == 8:
        body[0], body[2:4] = 0, b"\x00\x00"
        body[2:4] = checksum(bytes(body)).to_bytes(2, "big")
    elif packet[9] == socket.IPPROTO_UDP:
        body[0:4] = body[2:4] + body[0:2]  # destination port first: the ports swap
        body[6:8] = b"\x00\x00"
        pseudo = bytes(header[12:20]) + struct.pack("!BBH", 0, 17, len(body))
        body[6:8] = (checksum(pseudo + bytes(body)) or 0xFFFF).to_bytes(2, "big")
    else:
        return None
    return bytes(header + body)


class Sgw(asyncio.DatagramProtocol):
    """The SGW end of the tunnels: G-PDUs to SGW_TEID are decapsulated, queued on `uplink`
    and answered down the eNB's tunnel; everything else is decoded onto `signalling`."""

    def __init__(self) -> None:
        self.uplink: asyncio.Queue[tuple[int, bytes]] = asyncio.Queue()
        self.signalling: asyncio.Queue[tuple[object, tuple[str, int]]] = asyncio.Queue()
        self.enb: tuple[str, int] | None = None
        self.enb_teid: int | None = None
        self.transport: asyncio.DatagramTransport

    def connection_made(self, transport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        message_type, teid, offset = decode_header(data)
        if message_type != MessageType.G_PDU:
            self.signalling.put_nowait((gtpu.decode(data), addr))
            return
        packet = data[offset:]
        self.uplink.put_nowait((teid, packet))
        answer = answer_of(packet) if teid == SGW_TEID else None
        if answer is not None and self.enb is not None and self.enb_teid is not None:
            self.transport.sendto(encode_gpdu(self.enb_teid, answer), self.enb)

    @property
    def port(self) -> int:
        return self.transport.get_extra_info("sockname")[1]

    async def next_uplink(self) -> tuple[int, bytes]:
        async with asyncio.timeout(TIMEOUT_S):
            return await self.uplink.get()

    async def next_signalling(self) -> tuple[object, tuple[str, int]]:
        async with asyncio.timeout(TIMEOUT_S):
            return await self.signalling.get()


@pytest.fixture
async def sgw():
    loop = asyncio.get_running_loop()
    transport, protocol = await loop.create_datagram_endpoint(Sgw, local_addr=("127.0.0.1", 0))
    yield protocol
    transport.close()


@pytest.fixture
def prefix() -> str:
    """Namespace names of this test run only."""
    return f"enbsim-test{os.getpid()}-"


@pytest.fixture
async def user_plane(sgw, prefix):
    """The eNB's endpoint on a free loopback port, sending to the test SGW, with the UE's
    default bearer installed as the eNB core would."""
    events: asyncio.Queue[object] = asyncio.Queue()
    plane = await UserPlane.open(
        "127.0.0.1", 0, sgw_port=sgw.port, namespace_prefix=prefix, on_event=events.put_nowait
    )
    plane.events = events  # type: ignore[attr-defined]
    bearer = BearerEstablished(IMSI, 5, "127.0.0.1", SGW_TEID, 0x100)
    plane.apply(bearer)
    sgw.enb, sgw.enb_teid = ("127.0.0.1", plane.port), bearer.enb_teid
    try:
        yield plane
    finally:
        await plane.close()


def leftovers(prefix: str) -> tuple[list[str], list[str]]:
    """Namespaces with our prefix, and TUN devices of this process, in the root namespace."""
    devices = os.listdir("/sys/class/net")  # sysfs as mounted here: the root namespace
    ours = f"enbs{os.getpid() % 10000}x"
    return (
        [name for name in netns.listnetns() if name.startswith(prefix)],
        [name for name in devices if name.startswith(ours)],
    )


async def test_a_ue_namespace_pings_through_the_tunnel_and_the_reply_comes_back(sgw, user_plane):
    namespace = await user_plane.add_ue(IMSI, UE_ADDRESS)
    assert namespace == user_plane.namespace(IMSI)
    loop = asyncio.get_running_loop()
    ping = await user_plane.open_socket(IMSI, socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
    with ping:
        request = bytearray(struct.pack("!BBHHH", 8, 0, 0, 0x77, 1) + b"ping payload")
        request[2:4] = checksum(bytes(request)).to_bytes(2, "big")
        await loop.sock_sendto(ping, bytes(request), (FAR_END, 0))

        teid, packet = await sgw.next_uplink()
        assert teid == SGW_TEID
        assert (IPv4Address(packet[12:16]), IPv4Address(packet[16:20])) == (
            IPv4Address(UE_ADDRESS),
            IPv4Address(FAR_END),
        )
        async with asyncio.timeout(TIMEOUT_S):
            reply = await loop.sock_recv(ping, 2048)
    icmp = reply[(reply[0] & 0x0F) * 4 :]
    assert IPv4Address(reply[12:16]) == IPv4Address(FAR_END)
    assert (icmp[0], icmp[4:8], icmp[8:]) == (0, struct.pack("!HH", 0x77, 1), b"ping payload")
    assert user_plane.counters.uplink >= 1 and user_plane.counters.downlink == 1


async def test_udp_from_a_socket_in_the_ue_namespace_goes_up_and_its_echo_comes_back(
    sgw, user_plane
):
    await user_plane.add_ue(IMSI, UE_ADDRESS)
    loop = asyncio.get_running_loop()
    with await user_plane.open_socket(IMSI) as udp:
        udp.bind((UE_ADDRESS, 40000))
        await loop.sock_sendto(udp, b"hello core", (FAR_END, 7))
        teid, packet = await sgw.next_uplink()
        assert teid == SGW_TEID and read_udp_packet(packet) == (
            IPv4Address(UE_ADDRESS).packed,
            IPv4Address(FAR_END).packed,
            40000,
            7,
            b"hello core",
        )
        async with asyncio.timeout(TIMEOUT_S):
            data, address = await loop.sock_recvfrom(udp, 2048)
    assert (data, address) == (b"hello core", (FAR_END, 7))


async def test_send_udp_without_a_namespace_builds_a_valid_packet_and_returns_the_answer(
    sgw, user_plane
):
    assert await user_plane.add_ue(IMSI, UE_ADDRESS, namespace=False) is None
    answer = await user_plane.send_udp(
        IMSI, FAR_END, 5353, b"are you there", reply_timeout_s=TIMEOUT_S
    )
    assert answer == b"are you there"
    _, packet = await sgw.next_uplink()
    assert checksum(packet[:20]) == 0  # the IPv4 header checksum verifies
    pseudo = packet[12:20] + struct.pack("!BBH", 0, 17, len(packet) - 20)
    assert checksum(pseudo + packet[20:]) == 0  # and so does the UDP one
    _, destination, source_port, destination_port, _ = read_udp_packet(packet)
    assert (destination, destination_port) == (IPv4Address(FAR_END).packed, 5353)
    assert source_port in userplane.EPHEMERAL_PORTS


async def test_send_udp_with_no_answer_returns_none_and_without_a_bearer_refuses(sgw, user_plane):
    await user_plane.add_ue(IMSI, UE_ADDRESS, namespace=False)
    user_plane.apply(BearerReleased(IMSI, 5, 0x100))
    with pytest.raises(UserPlaneError, match="no bearer"):
        await user_plane.send_udp(IMSI, FAR_END, 9, b"x")
    user_plane.apply(BearerEstablished(IMSI, 5, "127.0.0.1", SGW_TEID + 1, 0x101))
    assert await user_plane.send_udp(IMSI, FAR_END, 9, b"x", reply_timeout_s=0.2) is None


async def test_a_g_pdu_for_an_unknown_teid_is_answered_with_an_error_indication(sgw, user_plane):
    sgw.transport.sendto(encode_gpdu(0xDEAD, b"\x45" + bytes(27)), ("127.0.0.1", user_plane.port))
    message, source = await sgw.next_signalling()
    assert message == gtpu.ErrorIndication(teid_data=0xDEAD, peer_address=IPv4Address("127.0.0.1"))
    assert source == ("127.0.0.1", user_plane.port)
    assert user_plane.counters.no_tunnel == 1


async def test_a_released_bearer_no_longer_forwards(sgw, user_plane):
    await user_plane.add_ue(IMSI, UE_ADDRESS, namespace=False)
    user_plane.apply(BearerReleased(IMSI, 5, 0x100))
    sgw.transport.sendto(encode_gpdu(0x100, b"\x45" + bytes(27)), ("127.0.0.1", user_plane.port))
    message, _ = await sgw.next_signalling()
    assert isinstance(message, gtpu.ErrorIndication) and message.teid_data == 0x100


async def test_an_echo_request_is_answered_with_the_same_sequence_number(sgw, user_plane):
    request = gtpu.encode(gtpu.EchoRequest(sequence_number=4242))
    sgw.transport.sendto(request, ("127.0.0.1", user_plane.port))
    message, _ = await sgw.next_signalling()
    assert message == gtpu.EchoResponse(sequence_number=4242, recovery=0)


async def test_an_error_indication_from_the_sgw_is_reported_naming_the_ue_and_bearer(
    sgw, user_plane
):
    indication = gtpu.ErrorIndication(teid_data=SGW_TEID, peer_address=IPv4Address("127.0.0.1"))
    sgw.transport.sendto(gtpu.encode(indication), ("127.0.0.1", user_plane.port))
    async with asyncio.timeout(TIMEOUT_S):
        event = await user_plane.events.get()
    assert isinstance(event, TunnelErrorReported)
    assert (event.teid, event.peer_address, event.imsi, event.e_rab_id) == (
        SGW_TEID,
        "127.0.0.1",
        IMSI,
        5,
    )


async def test_malformed_packets_are_counted_and_never_answered(sgw, user_plane):
    sgw.transport.sendto(b"\x00\x01\x02", ("127.0.0.1", user_plane.port))
    request = gtpu.encode(gtpu.EchoRequest(sequence_number=1))
    sgw.transport.sendto(request, ("127.0.0.1", user_plane.port))
    message, _ = await sgw.next_signalling()  # the echo: the malformed one got no answer
    assert isinstance(message, gtpu.EchoResponse)
    assert user_plane.counters.malformed == 1


async def test_close_leaves_no_namespace_or_device_behind(sgw, prefix):
    plane = await UserPlane.open("127.0.0.1", 0, sgw_port=sgw.port, namespace_prefix=prefix)
    try:
        await plane.add_ue(IMSI, UE_ADDRESS)
        await plane.add_ue("001010000000002", "10.45.0.3")
        namespaces, devices = leftovers(prefix)
        assert sorted(namespaces) == [prefix + IMSI, prefix + "001010000000002"]
        assert devices == []  # moved into the namespaces
    finally:
        await plane.close()
    assert leftovers(prefix) == ([], [])
    await plane.close()  # idempotent


async def test_a_ue_whose_setup_fails_halfway_leaves_nothing_behind(sgw, prefix, monkeypatch):
    async def broken(device: str, name: str, address: IPv4Address) -> None:
        raise OSError("netlink said no")

    monkeypatch.setattr(userplane, "_move_and_configure", broken)
    async with await UserPlane.open("127.0.0.1", 0, namespace_prefix=prefix) as plane:
        with pytest.raises(UserPlaneError, match="netlink said no"):
            await plane.add_ue(IMSI, UE_ADDRESS)
        assert leftovers(prefix) == ([], [])


async def test_an_existing_namespace_is_refused_and_left_alone(sgw, prefix):
    name = prefix + IMSI
    netns.create(name)
    try:
        async with await UserPlane.open("127.0.0.1", 0, namespace_prefix=prefix) as plane:
            with pytest.raises(UserPlaneError, match=f"{name} exists already"):
                await plane.add_ue(IMSI, UE_ADDRESS)
        assert name in netns.listnetns()
    finally:
        netns.remove(name)


def test_build_udp_packet_reads_back():
    packet = build_udp_packet(IPv4Address("10.0.0.1"), IPv4Address("10.0.0.2"), 1234, 53, b"query")
    assert len(packet) == 20 + 8 + 5 and checksum(packet[:20]) == 0
    assert read_udp_packet(packet) == (
        IPv4Address("10.0.0.1").packed,
        IPv4Address("10.0.0.2").packed,
        1234,
        53,
        b"query",
    )
    assert read_udp_packet(b"\x60" + bytes(40)) is None  # IPv6
