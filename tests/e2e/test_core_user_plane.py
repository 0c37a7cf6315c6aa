"""The user plane through the whole core: enbsim's UE attaches through the agent, the MMEs,
the SGW and the PGW (harness/core.py with forwarding on), and its packets leave the PGW by a
real SGi TUN to an "internet" host in a network namespace of its own (tests/userplane/
topology.py), whose answers come back the same way. A UE made idle is paged by the core when
downlink arrives for it, answers with a Service Request on its own (enbsim answers paging),
and gets the packets the SGW-U buffered meanwhile, in order; one that does not answer is paged
`paging_attempts` times, T3413 apart, and the SGW-U drops what it buffered once the MME gives
up (Failure Indication). (Root only: namespaces and TUN devices.)"""

from __future__ import annotations

import asyncio
import os
from dataclasses import replace

import pytest
from core_checks import ENB, IMSI, Running, attached, bearer_towards_enb, idle, ok
from harness.core import Core, UserPlaneOptions
from userplane.topology import ECHO_PORT, INTERNET, Topology, udp_echo_server

from enbsim.simulator import UserPlaneSettings
from epc.mme.context import EcmState
from epc.userplane.counters import DropReason, read_snapshot

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.userplane,
    pytest.mark.skipif(os.geteuid() != 0, reason="namespaces and TUN devices need root"),
]

SGW_GTPU, PGW_GTPU, ENB_GTPU = "127.0.0.2", "127.0.0.3", "127.0.0.4"
"""Three GTP-U endpoints on port 2152 each: three loopback addresses."""
PAGED = "paging the UE for downlink data"
"""The MME's log event for a Downlink Data Notification it answered by paging."""
REPAGED = "T3413 expired, paging again"
GAVE_UP = "paging not answered: Downlink Data Notification Failure Indication"
"""The MME's log events for T3413's expiries: another Paging, then the Failure Indication."""
T3413_S = 0.3
PAGING_ATTEMPTS = 2
COUNTERS_FILE = "sgw-counters.json"
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
    return await _start(topology, whole_core)


@pytest.fixture
async def core_paging_briefly(topology, internet, whole_core, tmp_path):
    """The core with a short T3413 and the SGW writing its user-plane counters (`counters`)."""
    return await _start(
        topology,
        whole_core,
        sgw_counters=str(tmp_path / COUNTERS_FILE),
        mme_tables={"timers": {"t3413_s": T3413_S, "paging_attempts": PAGING_ATTEMPTS}},
    )


async def _start(topology, whole_core, *, sgw_counters=None, **options) -> Running:
    return await whole_core(
        user_plane=UserPlaneOptions(
            sgw_address=SGW_GTPU,
            pgw_address=PGW_GTPU,
            sgi_device=f"sgi{topology.tag}",
            sgi_netns=topology.core,
            sgw_counters=sgw_counters,
        ),
        enb=replace(ENB, s1u_address=ENB_GTPU),
        enb_user_plane=UserPlaneSettings(),
        **options,
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


async def test_downlink_to_an_idle_ue_that_does_not_answer_paging_is_discarded(
    core_paging_briefly, topology
):
    running = core_paging_briefly
    core, enb, loop = running.core, running.enb, asyncio.get_running_loop()
    await attached(running, IMSI)
    ok(await enb.ping(IMSI, INTERNET, timeout_s=TIMEOUT_S))  # the UE's namespace, made once
    assert enb.user_plane is not None
    receiver = await enb.user_plane.open_socket(IMSI)
    receiver.bind(("0.0.0.0", UE_PORT))
    sender = topology.socket(topology.internet, (INTERNET, 0))
    ue = enb.ue(IMSI)
    try:
        await idle(running, IMSI)
        await core.until(
            lambda: _bearer_released(running), "the SGW's S1-U released (Release Access Bearers)"
        )
        ue.answers_paging = False  # out of coverage: Paging reaches it, nothing answers
        address = str(ue.pdn_address)
        for index in range(DOWNLINK_PACKETS):
            await loop.sock_sendto(sender, b"lost-%d" % index, (address, UE_PORT))

        # The MME pages, pages again when T3413 expires, and gives up at the next expiry.
        await core.mme_logged(PAGED, imsi=IMSI)
        await core.mme_logged(REPAGED, imsi=IMSI, count=PAGING_ATTEMPTS - 1)
        await core.mme_logged(GAVE_UP, imsi=IMSI)
        # The SGW-U got the Failure Indication and dropped every buffered packet.
        await core.until(
            lambda: _sgw_counter_is(core, DOWNLINK_PACKETS),
            f"the SGW-U discarded the {DOWNLINK_PACKETS} packets it buffered",
        )
        counters = _sgw_counters(core)
        assert counters is not None
        assert counters["path"].get("downlink_data_notifications") == 1, counters
        sgw = await core.sgw_ue(IMSI)
        assert sgw is not None and sgw.state is not None
        assert sgw.state.paging_since_us is None  # paging over: the next packet may ask again
        assert not await bearer_towards_enb(running, IMSI)
        pages = [e for e in ue.timeline if e.kind == "received" and e.text == "Paging"]
        assert len(pages) == PAGING_ATTEMPTS
        record = await core.mme_context(IMSI)
        assert record is not None and record.state is not None
        assert record.state.ecm is EcmState.IDLE and record.state.paging is None
        assert sum(len(mme.matching(PAGED, imsi=IMSI)) for mme in core.mmes) == 1
        assert sum(len(mme.matching(REPAGED, imsi=IMSI)) for mme in core.mmes) == (
            PAGING_ATTEMPTS - 1
        )
        assert sum(len(mme.matching(GAVE_UP, imsi=IMSI)) for mme in core.mmes) == 1

        # Back in coverage, the UE asks for service itself; what reaches it now is new
        # downlink, none of the discarded packets (those would have been flushed first).
        ue.answers_paging = True
        ok(await enb.service_request(IMSI))
        await core.until(
            lambda: bearer_towards_enb(running, IMSI), "the SGW's S1-U towards the eNB again"
        )
        await loop.sock_sendto(sender, b"after", (address, UE_PORT))
        async with asyncio.timeout(TIMEOUT_S):
            assert await loop.sock_recv(receiver, 2048) == b"after"
    finally:
        receiver.close()
        sender.close()
    assert sum(len(mme.matching(PAGED, imsi=IMSI)) for mme in core.mmes) == 1
    assert enb.violations == []


def _sgw_counters(core: Core) -> dict | None:
    """The SGW-U's counters as last written (`core.directory` is the fixture's tmp_path)."""
    try:
        return read_snapshot(core.directory / COUNTERS_FILE)
    except FileNotFoundError:
        return None


async def _sgw_counter_is(core: Core, discarded: int) -> bool:
    counters = _sgw_counters(core)
    if counters is None:
        return False
    drops = counters["interfaces"]["s5u"]["drops"]
    return drops.get(DropReason.BUFFER_DISCARDED, 0) == discarded


async def _bearer_released(running: Running) -> bool:
    return not await bearer_towards_enb(running, IMSI)
