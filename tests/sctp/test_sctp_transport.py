"""epc.sctp over a real kernel SCTP association on loopback (runs in the VM tier).

The PPID checks do not trust pysctp: a plain stdlib socket reads and writes the kernel's
struct sctp_sndrcvinfo itself, whose sinfo_ppid holds the DATA chunk's PPID field exactly as
it travels on the wire (network byte order, the kernel copies it unchanged both ways).
"""

import asyncio
import random
import socket
import struct
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, closing

import pytest

from epc.sctp import (
    DEFAULT_STREAMS,
    S1AP_PPID,
    ConnectionClosed,
    SctpAssociation,
    SctpMessage,
    connect,
    listen,
)

pytestmark = pytest.mark.sctp

LOOPBACK = "127.0.0.1"
UE_STREAM = 3  # S1AP keeps stream 0 for non-UE-associated signalling; use another on purpose
DEADLINE_S = 10  # generous for software emulation; only reached if something hangs

# linux/sctp.h: cmsg type of struct sctp_sndrcvinfo, and the option that subscribes to it.
SCTP_SNDRCV = 1
SCTP_EVENTS = 11
# struct sctp_sndrcvinfo: stream, ssn, flags (u16), 2 bytes padding, ppid (4 raw bytes),
# context, timetolive, tsn, cumtsn (u32), assoc_id (s32): 32 bytes.
SNDRCVINFO = struct.Struct("=HHH2x4sIIIIi")


def s1ap_sized_payload(seed: int) -> bytes:
    return random.Random(seed).randbytes(200)


@asynccontextmanager
async def associated(handler) -> AsyncIterator[SctpAssociation]:
    """A listener serving `handler` and a client association connected to it."""
    listener = await listen(LOOPBACK, 0, handler)
    client = await connect(LOOPBACK, listener.address[1])
    try:
        yield client
    finally:
        client.close()
        listener.close()
        await listener.wait_closed()


async def test_s1ap_message_crosses_an_association_both_ways_keeping_ppid_and_stream():
    payload = s1ap_sized_payload(seed=1)
    server_saw: asyncio.Future[tuple[int, SctpMessage]] = asyncio.get_running_loop().create_future()

    async def echo_reversed(association: SctpAssociation) -> None:
        message = await association.recv()
        server_saw.set_result((association.outbound_streams, message))
        await association.send(message.payload[::-1], ppid=message.ppid, stream=message.stream)

    async with associated(echo_reversed) as client, asyncio.timeout(DEADLINE_S):
        assert client.outbound_streams == DEFAULT_STREAMS  # initmsg asked; kernel default is 10
        await client.send(payload, ppid=S1AP_PPID, stream=UE_STREAM)
        reply = await client.recv()

    assert await server_saw == (DEFAULT_STREAMS, SctpMessage(payload, ppid=18, stream=UE_STREAM))
    assert reply == SctpMessage(payload[::-1], ppid=18, stream=UE_STREAM)


async def test_ppid_on_the_wire_is_18_both_ways_as_a_plain_kernel_socket_sees_it():
    loop = asyncio.get_running_loop()
    with plain_sctp_listener() as plain:
        async with asyncio.timeout(DEADLINE_S):
            association = await connect(LOOPBACK, plain.getsockname()[1])
            peer, _ = await loop.sock_accept(plain)
        with peer, closing(association):
            subscribe_to_sndrcvinfo(peer)
            peer.settimeout(DEADLINE_S)

            await association.send(s1ap_sized_payload(seed=2), ppid=S1AP_PPID, stream=UE_STREAM)
            received, wire_ppid, stream = await asyncio.to_thread(recv_with_sndrcvinfo, peer)
            assert (received, wire_ppid, stream) == (s1ap_sized_payload(seed=2), 18, UE_STREAM)

            await asyncio.to_thread(send_with_wire_ppid, peer, s1ap_sized_payload(seed=3), 18)
            async with asyncio.timeout(DEADLINE_S):
                message = await association.recv()
            assert message == SctpMessage(s1ap_sized_payload(seed=3), ppid=18, stream=UE_STREAM)


async def test_message_larger_than_one_read_arrives_whole_and_peer_close_ends_recv():
    big = random.Random(4).randbytes(150_000)  # the adapter reads 64 KiB at a time
    seen: asyncio.Queue[SctpMessage | ConnectionClosed] = asyncio.Queue()

    async def record(association: SctpAssociation) -> None:
        try:
            while True:
                seen.put_nowait(await association.recv())
        except ConnectionClosed as closed:
            seen.put_nowait(closed)

    async with associated(record) as client, asyncio.timeout(DEADLINE_S):
        await client.send(big, ppid=S1AP_PPID, stream=UE_STREAM)
        assert await seen.get() == SctpMessage(big, ppid=18, stream=UE_STREAM)
        client.close()
        assert isinstance(await seen.get(), ConnectionClosed)
        with pytest.raises(ConnectionClosed):
            await client.recv()


# A stdlib-only SCTP peer: no pysctp, no epc.sctp.


def plain_sctp_listener() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_SCTP)
    sock.bind((LOOPBACK, 0))
    sock.listen()
    sock.setblocking(False)
    return sock


def subscribe_to_sndrcvinfo(sock: socket.socket) -> None:
    # struct sctp_event_subscribe's first byte is sctp_data_io_event; the rest stay off.
    sock.setsockopt(socket.IPPROTO_SCTP, SCTP_EVENTS, b"\x01")


def recv_with_sndrcvinfo(sock: socket.socket) -> tuple[bytes, int, int]:
    """One message with the PPID read big-endian straight from the kernel's sndrcvinfo."""
    data, ancillary, _, _ = sock.recvmsg(65536, socket.CMSG_SPACE(SNDRCVINFO.size))
    for level, kind, info in ancillary:
        if (level, kind) == (socket.IPPROTO_SCTP, SCTP_SNDRCV):
            stream, _, _, raw_ppid, *_ = SNDRCVINFO.unpack(info[: SNDRCVINFO.size])
            return data, int.from_bytes(raw_ppid, "big"), stream
    raise AssertionError(f"no SCTP_SNDRCV ancillary data in {ancillary!r}")


def send_with_wire_ppid(sock: socket.socket, payload: bytes, ppid: int) -> None:
    raw_ppid = ppid.to_bytes(4, "big")  # what the wire carries, byte for byte
    info = SNDRCVINFO.pack(UE_STREAM, 0, 0, raw_ppid, 0, 0, 0, 0, 0)
    sock.sendmsg([payload], [(socket.IPPROTO_SCTP, SCTP_SNDRCV, info)])
