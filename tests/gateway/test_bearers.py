"""Dedicated bearers: the PGW's local policy asks (Create / Delete Bearer), the SGW relays to the
MME and back; Update Bearer and a PDN connection's Delete Bearer relayed; retries of a policy
request apply once."""

from __future__ import annotations

import asyncio
from ipaddress import IPv4Address

import pytest
from gateway_testbed import start_core
from harness.gateway_process import (
    IMSI,
    create_session_request,
    modify_bearer_request,
    next_request_number,
    stamp,
)

from epc.codec.gtpv2c import (
    Ambr,
    Arp,
    BearerQos,
    CauseValue,
    CreateBearerRequest,
    CreateBearerResponse,
    DeleteBearerRequest,
    DeleteBearerResponse,
    EchoStamp,
    UpdateBearerRequest,
    UpdateBearerRequestContext,
    UpdateBearerResponse,
)
from epc.forwarding import Endpoint, PacketFilter
from epc.store.memory import MemoryStore

pytestmark = pytest.mark.gateway

VOICE_FILTER = PacketFilter(remote_network="10.200.0.0/16", protocol=17, remote_ports=(5060, 5061))


async def attached(core):
    n = next_request_number()
    created = await core.mme.request(core.sgw_peer(), create_session_request(stamp=stamp(n)))
    await core.mme.request(
        core.sgw_peer(), modify_bearer_request(created.sender_fteid.teid, stamp=stamp(n + 1))
    )
    return created


async def test_policy_bearer_goes_through_the_sgw_to_the_mme_and_back(core):
    await attached(core)
    outcome = await core.pgw.service.create_dedicated_bearer(IMSI, "voice")
    asked = (await core.mme.next_request()).message
    assert isinstance(asked, CreateBearerRequest)
    assert asked.linked_ebi == 5 and asked.teid == 0x100
    (context,) = asked.bearer_contexts
    assert context.ebi == 0 and context.bearer_qos.qci == 1
    assert context.bearer_qos.gbr_downlink == 128
    assert context.tft[0] == 0x21  # create new TFT, one packet filter
    assert asked.stamp is not None and asked.stamp.ue_id == IMSI.encode()
    assert len(asked.stamp.request_id) == 3  # the PGW's ID, its side effect, the SGW's
    assert outcome.applied
    assert isinstance(outcome.response, CreateBearerResponse)
    assert outcome.response.cause.value == CauseValue.REQUEST_ACCEPTED
    assert outcome.response.bearer_contexts[0].ebi == 6
    pgw_bearer = (await core.pgw_ue(IMSI)).sessions[5].bearers[6]
    sgw_bearer = (await core.sgw_ue(IMSI)).sessions[5].bearers[6]
    assert pgw_bearer.policy == "voice" and pgw_bearer.packet_filters == (VOICE_FILTER,)
    assert pgw_bearer.sgw == Endpoint(sgw_bearer.s5u_sgw_teid, "127.0.0.1")
    assert sgw_bearer.pgw == Endpoint(pgw_bearer.s5u_pgw_teid, "127.0.0.1")
    assert sgw_bearer.enb == Endpoint(0xE0B6, "127.0.0.9")
    assert sgw_bearer.s1u_sgw_teid == context.s1u_sgw_fteid.teid
    pgw_rule = (await core.rules("pgw"))[f"{IMSI}-6"]
    assert pgw_rule.packet_filters == (VOICE_FILTER,) and pgw_rule.linked_ebi == 5
    assert pgw_rule.qos.qci == 1
    sgw_rule = (await core.rules("sgw"))[f"{IMSI}-6"]
    assert sgw_rule.downlink_peer == sgw_bearer.enb
    assert len(await core.index("teid")) == 6 + 3


async def test_policy_request_retried_with_its_id_applies_once(core):
    await attached(core)
    request_id = (next_request_number(),)
    first = await core.pgw.service.create_dedicated_bearer(IMSI, "voice", request_id)
    again = await core.pgw.service.create_dedicated_bearer(IMSI, "voice", request_id)
    assert first == again
    await core.mme.next_request()
    assert core.mme.requests.empty()
    later = await core.pgw.service.create_dedicated_bearer(IMSI, "voice")
    assert later.applied and later.response is None  # the bearer is there already
    assert set((await core.pgw_ue(IMSI)).sessions[5].bearers) == {5, 6}


async def test_policy_bearer_deleted_at_both_gateways(core):
    await attached(core)
    await core.pgw.service.create_dedicated_bearer(IMSI, "voice")
    await core.mme.next_request()
    before = set(await core.index("teid"))
    outcome = await core.pgw.service.delete_dedicated_bearer(IMSI, "voice")
    asked = (await core.mme.next_request()).message
    assert isinstance(asked, DeleteBearerRequest) and asked.ebis == (6,)
    assert isinstance(outcome.response, DeleteBearerResponse)
    assert set((await core.pgw_ue(IMSI)).sessions[5].bearers) == {5}
    assert set((await core.sgw_ue(IMSI)).sessions[5].bearers) == {5}
    assert set(await core.rules("sgw")) == {f"{IMSI}-5"} == set(await core.rules("pgw"))
    assert len(before) - len(await core.index("teid")) == 3


async def test_policy_without_a_session_does_nothing(core):
    outcome = await core.pgw.service.create_dedicated_bearer(IMSI, "voice")
    assert outcome.applied and outcome.response is None
    with pytest.raises(KeyError):
        await core.pgw.service.create_dedicated_bearer(IMSI, "no-such-rule")


async def test_update_bearer_is_relayed_and_the_qos_kept(core):
    await attached(core)
    sgw_s5c = (await core.sgw_ue(IMSI)).sessions[5].s5c_sgw_teid
    update = UpdateBearerRequest(
        teid=sgw_s5c,
        bearer_contexts=(UpdateBearerRequestContext(ebi=5, bearer_qos=BearerQos(7, Arp(3))),),
        apn_ambr=Ambr(2_000, 4_000),
        stamp=EchoStamp((next_request_number(), 0), IMSI.encode()),
    )
    response = await core.mme.request(core.sgw_peer(), update)  # the test plays the PGW here
    assert isinstance(response, UpdateBearerResponse)
    assert response.cause.value == CauseValue.REQUEST_ACCEPTED
    relayed = (await core.mme.next_request()).message
    assert isinstance(relayed, UpdateBearerRequest) and relayed.teid == 0x100
    session = (await core.sgw_ue(IMSI)).sessions[5]
    assert session.bearers[5].qos.qci == 7 and session.apn_ambr == (2_000, 4_000)
    assert (await core.rules("sgw"))[f"{IMSI}-5"].qos.qci == 7


async def test_delete_bearer_of_the_pdn_connection_releases_the_session(core):
    await attached(core)
    sgw_s5c = (await core.sgw_ue(IMSI)).sessions[5].s5c_sgw_teid
    delete = DeleteBearerRequest(
        teid=sgw_s5c, linked_ebi=5, stamp=EchoStamp((next_request_number(), 0), b"")
    )
    response = await core.mme.request(core.sgw_peer(), delete)
    assert isinstance(response, DeleteBearerResponse) and response.linked_ebi == 5
    assert (await core.sgw_ue(IMSI)).sessions == {}
    assert await core.rules("sgw") == {}


async def test_on_create_rule_starts_the_bearer_after_create_session(deployment):
    rule = {
        "name": "video",
        "apn": "internet",
        "activate": "on-create",
        "delay_s": 0.01,
        "qci": 2,
        "packet_filters": [{"remote_network": "10.9.0.0/16"}],
    }
    store = MemoryStore()
    core = await start_core(store, deployment, pgw_sections={"policy": [rule]})
    try:
        n = next_request_number()
        request = create_session_request(stamp=stamp(n))
        await core.mme.request(core.sgw_peer(0), request)
        asked = (await core.mme.next_request()).message
        assert isinstance(asked, CreateBearerRequest)
        assert asked.bearer_contexts[0].bearer_qos.qci == 2
        await core.mme.request(core.sgw_peer(1), request)  # a retried Create Session
        with pytest.raises(TimeoutError):
            await core.mme.next_request(timeout_s=0.5)  # asks for no second bearer
        async with asyncio.timeout(10):
            await core.pgw.service.drain()
        assert set((await core.pgw_ue(IMSI)).sessions[5].bearers) == {5, 6}
        assert IPv4Address((await core.pgw_ue(IMSI)).sessions[5].ue_ipv4)
    finally:
        await core.close()
