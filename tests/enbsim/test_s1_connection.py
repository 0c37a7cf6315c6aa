"""The eNB's S1 link over the agent's TCP framing, against the real echo-agent process with a
scripted test MME behind it: S1 Setup and a UE's first exchange go through and back, driven
by the eNB core. An unreachable core is one clear error naming the address. (The same over
kernel SCTP is in tests/sctp/test_enbsim_s1.py, run in the VM.)"""

from __future__ import annotations

import asyncio

import pytest
from harness.agent_process import (
    PLMN,
    TIMEOUT_S,
    AgentProcess,
    MmeProcess,
    agent_config,
    downlink_nas,
    free_port,
    s1_setup_response,
)
from harness.recording_ue import RecordingUe

from enbsim.enb import Enb, EnbConfig
from enbsim.events import (
    RrcEstablishmentCause,
    S1SetupCompleted,
    SendS1ap,
    SendUplinkNas,
)
from enbsim.s1_connection import TCP_HEADER, S1Link, S1LinkClosed, S1Unreachable, connect
from epc.codec.s1ap_constants import PROCEDURE_INITIAL_UE_MESSAGE, PROCEDURE_S1_SETUP
from epc.sctp import kernel_has_sctp

pytestmark = [pytest.mark.e2e]

IMSI = "001010000000001"
CONFIG = EnbConfig("enb-019b", PLMN, 0x19B)
FIRST_ENB_UE_S1AP_ID = 1
"""What a fresh `Enb` gives its first UE connection, so the script can answer it."""


async def carry_out(link: S1Link, output: list) -> list:
    """Send what the core asks to send; return the rest."""
    rest = []
    for item in output:
        if isinstance(item, SendS1ap):
            await link.send(item.pdu, item.stream)
        else:
            rest.append(item)
    return rest


async def receive(link: S1Link) -> tuple[bytes, int]:
    async with asyncio.timeout(TIMEOUT_S):
        return await link.receive()


@pytest.fixture
async def core(tmp_path):
    """A scripted MME and an agent (TCP toward the eNB) in front of it: the agent's S1 port."""
    script = {
        PROCEDURE_S1_SETUP: [s1_setup_response("mme-a")],
        PROCEDURE_INITIAL_UE_MESSAGE: [
            downlink_nas(FIRST_ENB_UE_S1AP_ID, 100 + FIRST_ENB_UE_S1AP_ID, b"\x07\x52\x01")
        ],
    }
    mme = await MmeProcess.start("mme-a", script, tmp_path)
    agent = await AgentProcess.start(agent_config([("dc1", [mme.endpoint])]), tmp_path)
    try:
        yield await agent.s1_port()
    finally:
        await agent.kill()
        await mme.kill()


async def test_s1_setup_and_a_ues_first_exchange_go_through_the_agent_over_tcp(core):
    link = await connect("tcp", "127.0.0.1", core)
    loop = asyncio.get_running_loop()
    try:
        enb = Enb(CONFIG)
        await carry_out(link, enb.start(loop.time(), outbound_streams=link.outbound_streams))
        pdu, stream = await receive(link)
        events = enb.receive_s1ap(pdu, stream, loop.time())
        [completed] = [event for event in events if isinstance(event, S1SetupCompleted)]
        assert completed.mme_name == "mme-a" and stream == 0

        ue = RecordingUe(IMSI)
        enb.add_ue(ue)
        attach = SendUplinkNas(IMSI, b"\x07\x41\x71", RrcEstablishmentCause.MO_SIGNALLING)
        output = enb.from_ue([attach], loop.time())
        [uplink_stream] = [item.stream for item in output if isinstance(item, SendS1ap)]
        await carry_out(link, output)
        pdu, stream = await receive(link)
        assert stream == uplink_stream != 0
        enb.receive_s1ap(pdu, stream, loop.time())
        assert ue.received == [b"\x07\x52\x01"]
    finally:
        await link.close()
    with pytest.raises(S1LinkClosed):
        await link.receive()


async def test_tcp_framing_is_length_stream_payload():
    """What goes on the wire, read by a plain TCP server."""
    received: asyncio.Queue[bytes] = asyncio.Queue()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        received.put_nowait(await reader.readexactly(TCP_HEADER.size + 3))
        writer.write(TCP_HEADER.pack(2, 7) + b"\x01\x02")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        link = await connect("tcp", "127.0.0.1", port)
        await link.send(b"\xaa\xbb\xcc", 5)
        assert await received.get() == b"\x00\x00\x00\x03\x00\x05\xaa\xbb\xcc"
        assert await receive(link) == (b"\x01\x02", 7)
        with pytest.raises(S1LinkClosed, match="closed the S1 link"):
            await receive(link)
        await link.close()


async def test_an_unreachable_core_is_one_error_naming_the_address():
    port = free_port()
    with pytest.raises(
        S1Unreachable, match=rf"^cannot reach the core at 127\.0\.0\.1:{port} over TCP"
    ):
        await connect("tcp", "127.0.0.1", port)


@pytest.mark.skipif(kernel_has_sctp(), reason="this kernel has SCTP")
async def test_sctp_without_kernel_sctp_is_one_error_naming_the_address_and_saying_why():
    with pytest.raises(S1Unreachable, match=r"127\.0\.0\.1:36412 over SCTP: .*modprobe sctp"):
        await connect("sctp", "127.0.0.1", 36412)


async def test_an_unknown_transport_is_refused():
    with pytest.raises(ValueError, match="transport"):
        await connect("udp", "127.0.0.1", 1)
