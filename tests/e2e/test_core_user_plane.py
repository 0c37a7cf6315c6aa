"""The user plane through the whole core: enbsim's UE attaches through the agent, the MMEs,
the SGW and the PGW (harness/core.py with forwarding on), and its packets leave the PGW by a
real SGi TUN to an "internet" host in a network namespace of its own (tests/userplane/
topology.py), whose answers come back the same way. A UE made idle is paged by the core when
downlink arrives for it, answers with a Service Request on its own (enbsim answers paging),
and gets the packets the SGW-U buffered meanwhile, in order. (Root only: namespaces and TUN
devices.)"""

from __future__ import annotations

import asyncio
import os
from dataclasses import replace

import pytest
from core_checks import ENB, IMSI, Running, attached, bearer_towards_enb, idle, ok
from harness.core import UserPlaneOptions
from userplane.topology import ECHO_PORT, INTERNET, Topology, udp_echo_server

from enbsim.simulator import UserPlaneSettings
from epc.mme.context import EcmState

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.userplane,
    pytest.mark.skipif(os.geteuid() != 0, reason="namespaces and TUN devices need root"),
]

SGW_GTPU, PGW_GTPU, ENB_GTPU = "127.0.0.2", "127.0.0.3", "127.0.0.4"
"""Three GTP-U endpoints on port 2152 each: three loopback addresses."""
PAGED = "paging the UE for downlink data"
"""The MME's log event for a Downlink Data Notification it answered by paging."""
UE_PORT = 9000
DOWNLINK_PACKETS = 5
TIMEOUT_S = 10.0


@pytest.fixture
def topology():
    made = Topology.make()
    yield made
    made.close()


@pytest.fixture
async def internet(topology):
    """The internet host's UDP echo service (192.0.2.2:7), routed to the UE pool via SGi."""
    sock = topology.socket(topology.internet, (INTERNET, ECHO_PORT))
    echo = asyncio.create_task(udp_echo_server(sock))
    yield sock
    echo.cancel()
    await asyncio.gather(echo, return_exceptions=True)
    sock.close()


@pytest.fixture
async def core_with_user_plane(topology, internet, whole_core):
    return await whole_core(
        user_plane=UserPlaneOptions(
            sgw_address=SGW_GTPU,
            pgw_address=PGW_GTPU,
            sgi_device=f"sgi{topology.tag}",
            sgi_netns=topology.core,
        ),
        enb=replace(ENB, s1u_address=ENB_GTPU),
        enb_user_plane=UserPlaneSettings(),
    )


async def test_an_attached_ue_gets_udp_and_ping_answers_from_an_internet_host(
    core_with_user_plane,
):
    running = core_with_user_plane
    await attached(running, IMSI)

    udp = await running.enb.send_udp(
        IMSI, INTERNET, ECHO_PORT, b"hello through the core", reply_timeout_s=TIMEOUT_S
    )
    ok(udp)
    assert udp.reply == b"hello through the core", running.core.logs()
    ping = await running.enb.ping(IMSI, INTERNET, timeout_s=TIMEOUT_S)
    ok(ping)
    assert running.enb.violations == []


async def test_downlink_to_an_idle_ue_pages_it_and_the_buffered_packets_arrive_in_order(
    core_with_user_plane, topology
):
    running = core_with_user_plane
    enb, loop = running.enb, asyncio.get_running_loop()
    await attached(running, IMSI)
    ok(await enb.ping(IMSI, INTERNET, timeout_s=TIMEOUT_S))  # the UE's namespace, made once
    assert enb.user_plane is not None
    receiver = await enb.user_plane.open_socket(IMSI)
    receiver.bind(("0.0.0.0", UE_PORT))
    sender = topology.socket(topology.internet, (INTERNET, 0))
    try:
        await idle(running, IMSI)
        await running.core.until(
            lambda: _bearer_released(running), "the SGW's S1-U released (Release Access Bearers)"
        )
        address = str(enb.ue(IMSI).pdn_address)
        sent = [b"down-%d" % index for index in range(DOWNLINK_PACKETS)]
        for payload in sent:
            await loop.sock_sendto(sender, payload, (address, UE_PORT))

        answered = await enb.next_outcome(IMSI, "service_request", timeout_s=TIMEOUT_S)
        ok(answered)
        assert "Paging" in [entry.text for entry in answered.nas if entry.kind == "received"]
        async with asyncio.timeout(TIMEOUT_S):
            received = [await loop.sock_recv(receiver, 2048) for _ in sent]
        assert received == sent
    finally:
        receiver.close()
        sender.close()
    await running.core.mme_logged(PAGED, imsi=IMSI)
    assert sum(len(mme.matching(PAGED, imsi=IMSI)) for mme in running.core.mmes) == 1
    record = await running.core.mme_context(IMSI)
    assert record is not None and record.state is not None
    assert record.state.ecm is EcmState.CONNECTED
    assert enb.violations == []


async def _bearer_released(running: Running) -> bool:
    return not await bearer_towards_enb(running, IMSI)
