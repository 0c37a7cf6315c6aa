"""Faults with real daemons on a real ZooKeeper: an SGW killed (SIGKILL) in the middle of a
Create Session, and a PGW restarted under its peers."""

from __future__ import annotations

import asyncio
from ipaddress import IPv4Address

import pytest
from daemon_core import start_daemon_core
from harness.gateway_process import (
    IMSI,
    LOOPBACK,
    create_session_request,
    free_udp_port,
    modify_bearer_request,
    next_request_number,
    stamp,
)

from epc.codec import gtpv2c
from epc.codec.gtpv2c import CauseValue, CreateSessionResponse, DeleteBearerRequest
from epc.gtpc import RequestTimeout

pytestmark = [pytest.mark.gateway, pytest.mark.e2e, pytest.mark.fault]


def is_create_session_response(data: bytes) -> bool:
    return isinstance(gtpv2c.decode(data), CreateSessionResponse)


async def test_sgw_killed_mid_create_session_the_retry_at_another_instance_completes_once(
    zookeeper, deployment, tmp_path
):
    core = await start_daemon_core(zookeeper.hosts, deployment, tmp_path)
    try:
        # A second SGW instance that reaches the PGW directly; the first goes through a relay
        # that keeps the PGW's answer back, so the first SGW dies waiting for it.
        core.sgw_ports.append(free_udp_port())
        await core.start_sgw(1, pgw_port=core.pgw_port)
        core.relays["s5"].hold = is_create_session_response
        request = create_session_request(stamp=stamp(next_request_number()))
        first = asyncio.ensure_future(core.mme.request(core.s11, request))
        async with asyncio.timeout(30):
            await core.relays["s5"].held.wait()  # the PGW has committed its session
        await core.sgws[0].kill()
        retried = await core.mme.request(core.sgw_direct(1), request)
        with pytest.raises(RequestTimeout):
            await first
        await _check_one_session(core, retried)
    finally:
        await core.close()


async def _check_one_session(core, retried) -> None:
    assert retried.cause.value == CauseValue.REQUEST_ACCEPTED
    sgw, pgw = (await core.sgw_ue(IMSI)).state, (await core.pgw_ue(IMSI)).state
    assert list(sgw.sessions) == [5] and list(pgw.sessions) == [5]
    assert await core.index("ip") == [pgw.sessions[5].ue_ipv4]
    assert retried.paa.ipv4 == IPv4Address(pgw.sessions[5].ue_ipv4)
    sgw_bearer, pgw_bearer = sgw.sessions[5].bearers[5], pgw.sessions[5].bearers[5]
    # The retry offered the PGW the TEIDs the dead instance had offered: the PGW's recorded
    # downlink tunnel is the one the SGW committed.
    assert pgw_bearer.sgw.teid == sgw_bearer.s5u_sgw_teid
    assert sgw_bearer.pgw.teid == pgw_bearer.s5u_pgw_teid
    referenced = {
        sgw.s11_sgw_teid,
        sgw.sessions[5].s5c_sgw_teid,
        sgw_bearer.s1u_sgw_teid,
        sgw_bearer.s5u_sgw_teid,
        pgw.sessions[5].s5c_pgw_teid,
        pgw_bearer.s5u_pgw_teid,
    }
    assert {int(name, 16) for name in await core.index("teid")} == referenced
    assert len((await core.pgw_ue(IMSI)).replies) == 1  # run once at the PGW, replayed once


@pytest.mark.parametrize("policy", ["keep", "delete"])
async def test_restarted_pgw_is_seen_by_its_new_recovery_and_handled_per_policy(
    zookeeper, deployment, tmp_path, policy
):
    core = await start_daemon_core(zookeeper.hosts, deployment, tmp_path, sgw_count=0)
    try:
        sgw = await core.start_sgw(0, echo_interval_s=0.3, on_peer_restart=policy)
        n = next_request_number()
        created = await core.mme.request(core.s11, create_session_request(stamp=stamp(n)))
        s11 = created.sender_fteid.teid
        await core.mme.request(core.s11, modify_bearer_request(s11, stamp=stamp(n + 1)))
        before = await sgw.wait_for("gtpc peer found", peer=f"{LOOPBACK}:{core.relays['s5'].port}")
        first_recovery = (await core.pgw.listening())["recovery"]
        assert before["recovery"] == first_recovery
        await core.pgw.kill()
        await core.start_pgw()
        second_recovery = (await core.pgw.listening())["recovery"]
        assert second_recovery == (first_recovery + 1) % 256
        restarted = await sgw.wait_for("gtpc peer restarted")
        assert (restarted["previous"], restarted["recovery"]) == (first_recovery, second_recovery)
        if policy == "keep":
            await sgw.wait_for("peer restart: sessions kept")
            moved = modify_bearer_request(s11, cell=0x19B05, stamp=stamp(n + 2))
            response = await core.mme.request(core.s11, moved)  # goes on to the new PGW
            assert response.cause.value == CauseValue.REQUEST_ACCEPTED
            assert list((await core.sgw_ue(IMSI)).state.sessions) == [5]
        else:
            told = (await core.mme.next_request()).message
            assert isinstance(told, DeleteBearerRequest) and told.linked_ebi == 5
            assert told.cause.value == 8  # reactivation requested
            await sgw.wait_for("peer restart: sessions deleted", ues=1)
            assert (await core.sgw_ue(IMSI)).state.sessions == {}
    finally:
        await core.close()
