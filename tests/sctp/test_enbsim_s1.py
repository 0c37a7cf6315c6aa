"""The simulated eNB over real kernel SCTP (VM tier: make test-sctp): its S1 link
(`enbsim.s1_connection`, transport "sctp") to the real echo-agent process, a scripted test MME
behind it. S1 Setup goes on stream 0 with PPID 18 and back; a UE's Initial UE Message goes on
the stream the eNB chose for it among those the association agreed, and the answer comes back
on the same one."""

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
    s1_setup_response,
)
from harness.recording_ue import RecordingUe

from enbsim.enb import Enb, EnbConfig
from enbsim.events import RrcEstablishmentCause, S1SetupCompleted, SendS1ap, SendUplinkNas
from enbsim.s1_connection import S1Link, connect
from epc.codec.s1ap_constants import PROCEDURE_INITIAL_UE_MESSAGE, PROCEDURE_S1_SETUP

pytestmark = [pytest.mark.sctp, pytest.mark.e2e]

IMSI = "001010000000001"


async def send_all(link: S1Link, output: list) -> list[int]:
    streams = []
    for item in output:
        if isinstance(item, SendS1ap):
            await link.send(item.pdu, item.stream)
            streams.append(item.stream)
    return streams


async def test_the_enb_sets_up_s1_and_signals_a_ue_over_sctp_through_the_agent(tmp_path):
    script = {
        PROCEDURE_S1_SETUP: [s1_setup_response("mme-a")],
        PROCEDURE_INITIAL_UE_MESSAGE: [downlink_nas(1, 101, b"\x07\x52\x01")],
    }
    mme = await MmeProcess.start("mme-a", script, tmp_path)
    agent = await AgentProcess.start(
        agent_config([("dc1", [mme.endpoint])], transport="sctp"), tmp_path
    )
    try:
        link = await connect("sctp", "127.0.0.1", await agent.s1_port())
        loop = asyncio.get_running_loop()
        try:
            assert link.outbound_streams > 1
            enb = Enb(EnbConfig("enb-019b", PLMN, 0x19B))
            assert await send_all(
                link, enb.start(loop.time(), outbound_streams=link.outbound_streams)
            ) == [0]
            async with asyncio.timeout(TIMEOUT_S):
                pdu, stream = await link.receive()
            events = enb.receive_s1ap(pdu, stream, loop.time())
            assert stream == 0
            assert [event.mme_name for event in events if isinstance(event, S1SetupCompleted)] == [
                "mme-a"
            ]

            ue = RecordingUe(IMSI)
            enb.add_ue(ue)
            attach = SendUplinkNas(IMSI, b"\x07\x41\x71", RrcEstablishmentCause.MO_SIGNALLING)
            [ue_stream] = await send_all(link, enb.from_ue([attach], loop.time()))
            assert 0 < ue_stream < link.outbound_streams
            async with asyncio.timeout(TIMEOUT_S):
                pdu, stream = await link.receive()
            assert stream == ue_stream
            enb.receive_s1ap(pdu, stream, loop.time())
            assert ue.received == [b"\x07\x52\x01"]
        finally:
            await link.close()
    finally:
        await agent.kill()
        await mme.kill()
