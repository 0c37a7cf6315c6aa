"""The echo-agent with a simulated eNB over real kernel SCTP (runs in the VM tier: make
test-sctp). The eNB is an `epc.sctp` client association sending S1AP with PPID 18 on the
streams S1AP uses (0 for non-UE-associated signalling, another for the UE); the agent is the
real `python -m echo_agent` process; the MMEs are scripted test MME processes
(harness/scripted_mme.py), one of them killed with SIGKILL."""

from __future__ import annotations

import asyncio

import pytest
from harness.agent_process import (
    S1_SETUP_REQUEST,
    TIMEOUT_S,
    AgentProcess,
    MmeProcess,
    agent_config,
    downlink_nas,
    free_port,
    initial_ue,
    s1_setup_response,
    uplink_nas,
)

from epc.codec.s1ap_constants import (
    PROCEDURE_INITIAL_UE_MESSAGE,
    PROCEDURE_S1_SETUP,
    PROCEDURE_UPLINK_NAS_TRANSPORT,
)
from epc.sctp import S1AP_PPID, SctpAssociation, SctpMessage, connect

pytestmark = [pytest.mark.agent, pytest.mark.sctp, pytest.mark.e2e]

UE_STREAM = 3
IGNORE = "ignore"
"""In a scripted MME's script: take the request, never answer it."""


async def receive(association: SctpAssociation) -> SctpMessage:
    async with asyncio.timeout(TIMEOUT_S):
        return await association.recv()


@pytest.fixture
async def processes(tmp_path):
    """Started agents and MMEs, SIGKILLed after the test if still running."""
    started: list[AgentProcess | MmeProcess] = []

    async def agent(config_text: str) -> AgentProcess:
        process = await AgentProcess.start(config_text, tmp_path)
        started.append(process)
        return process

    async def mme(name: str, script: dict, **options) -> MmeProcess:
        process = await MmeProcess.start(name, script, tmp_path, **options)
        started.append(process)
        return process

    yield agent, mme
    for process in started:
        await process.kill()


def script(name: str, enb_ue_s1ap_id: int, *, hold_initial_ue: bool = False) -> dict:
    """S1 Setup answered naming the MME; Initial UE Message and Uplink NAS Transport answered
    with a Downlink NAS Transport each (or the Initial UE Message taken and never answered)."""
    mme_ue_s1ap_id = 100 + enb_ue_s1ap_id
    return {
        PROCEDURE_S1_SETUP: [s1_setup_response(name)],
        PROCEDURE_INITIAL_UE_MESSAGE: IGNORE
        if hold_initial_ue
        else [downlink_nas(enb_ue_s1ap_id, mme_ue_s1ap_id, b"\x07\x42")],
        PROCEDURE_UPLINK_NAS_TRANSPORT: [downlink_nas(enb_ue_s1ap_id, mme_ue_s1ap_id, b"\x07\x44")],
    }


async def test_an_enb_over_sctp_sets_up_and_signals_through_the_agent(processes):
    start_agent, start_mme = processes
    mme = await start_mme("mme-a", script("mme-a", 5))
    agent = await start_agent(agent_config([("dc1", [mme.endpoint])], transport="sctp"))
    enb = await connect("127.0.0.1", await agent.s1_port())
    try:
        await enb.send(S1_SETUP_REQUEST, stream=0)
        assert await receive(enb) == SctpMessage(s1_setup_response("mme-a"), S1AP_PPID, 0)

        await enb.send(initial_ue(5), stream=UE_STREAM)
        expected = downlink_nas(5, 105, b"\x07\x42")
        assert await receive(enb) == SctpMessage(expected, S1AP_PPID, UE_STREAM)

        await enb.send(uplink_nas(5, 105, b"\x07\x43"), stream=UE_STREAM)
        expected = downlink_nas(5, 105, b"\x07\x44")
        assert await receive(enb) == SctpMessage(expected, S1AP_PPID, UE_STREAM)
        association = await agent.wait_for("eNB association up")
        assert association["outbound_streams"] > UE_STREAM
    finally:
        enb.close()


async def test_the_enb_association_survives_the_mme_side_dying(processes):
    """The serving MME is SIGKILLed with a request in flight. The eNB's association stays up:
    the request is answered through the other MME (the agent restores the S1 Setup there
    itself), and the eNB goes on sending and getting answers."""
    start_agent, start_mme = processes
    serving = await start_mme("mme-serving", script("mme-serving", 8, hold_initial_ue=True))
    standby_port = free_port()
    agent = await start_agent(
        agent_config([("dc1", [serving.endpoint, f"127.0.0.1:{standby_port}"])], transport="sctp")
    )
    enb = await connect("127.0.0.1", await agent.s1_port())
    try:
        await agent.wait_for("core_endpoint", new=serving.endpoint)
        standby = await start_mme("mme-standby", script("mme-standby", 8), port=standby_port)
        await agent.wait_for("core connected", endpoint=standby.endpoint)
        await enb.send(S1_SETUP_REQUEST, stream=0)
        assert (await receive(enb)).payload == s1_setup_response("mme-serving")
        assert (await serving.next_request())[0] == 0

        await enb.send(initial_ue(8), stream=UE_STREAM)
        ue_id, request_id, ignored = await serving.next_request()
        assert ignored
        await serving.kill()

        expected = downlink_nas(8, 108, b"\x07\x42")
        assert await receive(enb) == SctpMessage(expected, S1AP_PPID, UE_STREAM)
        assert (await standby.next_request())[0] == 0  # the S1 Setup, restored by the agent
        assert (await standby.next_request())[:2] == (ue_id, request_id)

        for _ in range(2):
            await enb.send(uplink_nas(8, 108, b"\x07\x43"), stream=UE_STREAM)
            expected = downlink_nas(8, 108, b"\x07\x44")
            assert await receive(enb) == SctpMessage(expected, S1AP_PPID, UE_STREAM)
        assert not agent.matching("eNB association ended")
        assert not agent.matching("eNB detached")
    finally:
        enb.close()
