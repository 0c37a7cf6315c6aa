"""The SGW and PGW session procedures end to end in one process: a test MME drives S11, the SGW
drives S5, and each test reads back the contexts, the index nodes and the forwarding records
the commits wrote."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from ipaddress import IPv4Address, IPv4Network

import pytest
from harness.gateway_process import (
    IMSI,
    create_session_request,
    delete_session_request,
    modify_bearer_request,
    next_request_number,
    release_access_bearers_request,
    stamp,
)

from epc.codec.gtpv2c import (
    Cause,
    CauseValue,
    CreateSessionResponse,
    DeleteSessionResponse,
    DownlinkDataNotification,
    DownlinkDataNotificationFailureIndication,
    FteidInterface,
    ModifyBearerResponse,
    ReleaseAccessBearersResponse,
)
from epc.codec.nas_messages import ProtocolConfigurationOptions
from epc.forwarding import Endpoint, Installed
from epc.gtpc import RequestTimeout
from epc.gtpc.claims import teid_index_path

pytestmark = pytest.mark.gateway


def unsequenced(message):
    """The message as any instance would record it: answers differ only in their number."""
    return replace(message, sequence_number=0)


async def attach(core, *, imsi: str = IMSI, sgw: int = 0, n: int | None = None, **changes):
    """Create Session then Modify Bearer (the eNB's F-TEID), as an attach does."""
    n = n or next_request_number()
    created = await core.mme.request(
        core.sgw_peer(sgw), create_session_request(imsi=imsi, stamp=stamp(n, 0), **changes)
    )
    assert isinstance(created, CreateSessionResponse), created
    assert created.cause.value == CauseValue.REQUEST_ACCEPTED, created.cause
    modified = await core.mme.request(
        core.sgw_peer(sgw),
        modify_bearer_request(created.sender_fteid.teid, stamp=stamp(n + 1, 0)),
    )
    assert modified.cause.value == CauseValue.REQUEST_ACCEPTED
    return created, modified, n + 1


async def test_create_session_gives_the_sgw_f_teids_and_the_pgw_address_ambr_and_dns(core):
    response = await core.mme.request(
        core.sgw_peer(), create_session_request(stamp=stamp(next_request_number()))
    )
    assert response.cause.value == CauseValue.REQUEST_ACCEPTED
    assert response.teid == 0x100  # the MME's S11 TEID
    assert response.sender_fteid.interface_type == FteidInterface.S11_S4_SGW_GTPC
    assert response.pgw_s5s8_fteid.interface_type == FteidInterface.S5S8_PGW_GTPC
    assert response.paa.ipv4 in IPv4Network("10.45.0.0/24")
    assert response.paa.ipv4 != IPv4Address("10.45.0.1")  # reserved
    assert (response.apn_ambr.uplink, response.apn_ambr.downlink) == (50_000, 100_000)
    pco = ProtocolConfigurationOptions.from_octets(response.pco)
    assert IPv4Address("8.8.8.8") in pco.dns_servers()
    (bearer,) = response.bearer_contexts_created
    assert bearer.ebi == 5 and bearer.cause.value == CauseValue.REQUEST_ACCEPTED
    assert bearer.s1u_sgw_fteid.interface_type == FteidInterface.S1U_SGW_GTPU
    assert bearer.charging_id is not None


async def test_create_session_writes_contexts_indexes_and_cross_linked_forwarding(core):
    response = await core.mme.request(
        core.sgw_peer(), create_session_request(stamp=stamp(next_request_number()))
    )
    sgw_ue, pgw_ue = await core.sgw_ue(IMSI), await core.pgw_ue(IMSI)
    sgw_session, pgw_session = sgw_ue.sessions[5], pgw_ue.sessions[5]
    sgw_bearer, pgw_bearer = sgw_session.bearers[5], pgw_session.bearers[5]
    assert sgw_ue.s11_sgw_teid == response.sender_fteid.teid
    assert sgw_session.pgw_control.teid == pgw_session.s5c_pgw_teid
    assert pgw_session.sgw_control.teid == sgw_session.s5c_sgw_teid
    assert pgw_session.ue_ipv4 == str(response.paa.ipv4)
    assert await core.index("ip") == [pgw_session.ue_ipv4]
    teids = {
        sgw_ue.s11_sgw_teid,
        sgw_session.s5c_sgw_teid,
        sgw_bearer.s1u_sgw_teid,
        sgw_bearer.s5u_sgw_teid,
        pgw_session.s5c_pgw_teid,
        pgw_bearer.s5u_pgw_teid,
    }
    assert {int(name, 16) for name in await core.index("teid")} == teids
    sgw_rule = (await core.rules("sgw"))[f"{IMSI}-5"]
    pgw_rule = (await core.rules("pgw"))[f"{IMSI}-5"]
    assert sgw_rule.uplink_teid == sgw_bearer.s1u_sgw_teid
    assert sgw_rule.uplink_peer == Endpoint(pgw_bearer.s5u_pgw_teid, "127.0.0.1")
    assert sgw_rule.downlink_teid == sgw_bearer.s5u_sgw_teid
    assert sgw_rule.downlink_peer is None  # no eNB yet
    assert pgw_rule.uplink_teid == pgw_bearer.s5u_pgw_teid
    assert pgw_rule.downlink_peer == Endpoint(sgw_bearer.s5u_sgw_teid, "127.0.0.1")
    assert pgw_rule.ue_ipv4 == pgw_session.ue_ipv4
    assert (pgw_rule.apn_ambr_uplink, pgw_rule.apn_ambr_downlink) == (50_000, 100_000)
    installed = {(c.rule.gateway, c.rule.key) for c in core.forwarding.changes}
    assert installed == {("sgw", f"{IMSI}-5"), ("pgw", f"{IMSI}-5")}


async def test_modify_bearer_installs_the_enb_f_teid_for_downlink(core):
    created, modified, _ = await attach(core)
    (bearer,) = modified.bearer_contexts_modified
    assert bearer.s1u_sgw_fteid == created.bearer_contexts_created[0].s1u_sgw_fteid
    rule = (await core.rules("sgw"))[f"{IMSI}-5"]
    assert rule.downlink_peer == Endpoint(0xE0B, "127.0.0.9")
    assert isinstance(core.forwarding.changes[-1], Installed)


async def test_release_access_bearers_makes_downlink_wait_for_paging(core):
    created, _, n = await attach(core)
    s11 = created.sender_fteid.teid
    released = await core.mme.request(
        core.sgw_peer(), release_access_bearers_request(s11, stamp=stamp(n + 1))
    )
    assert isinstance(released, ReleaseAccessBearersResponse)
    assert released.cause.value == CauseValue.REQUEST_ACCEPTED
    rule = (await core.rules("sgw"))[f"{IMSI}-5"]
    assert rule.downlink_peer is None


async def test_downlink_data_for_an_idle_ue_notifies_the_mme_once_until_it_returns(core):
    created, _, n = await attach(core)
    s11 = created.sender_fteid.teid
    await core.mme.request(core.sgw_peer(), release_access_bearers_request(s11, stamp=stamp(n + 1)))
    s5u = (await core.sgw_ue(IMSI)).sessions[5].bearers[5].s5u_sgw_teid
    first = await core.sgw.service.downlink_data(s5u)
    assert (first.notified, first.cause) == (True, CauseValue.REQUEST_ACCEPTED)
    notification = (await core.mme.next_request()).message
    assert isinstance(notification, DownlinkDataNotification)
    assert notification.ebi == 5 and notification.teid == 0x100
    assert notification.stamp is not None and notification.stamp.ue_id == IMSI.encode()
    again = await core.sgw.service.downlink_data(s5u)  # another instance would say the same
    assert again.notified is False
    assert (await core.sgws[1].service.downlink_data(s5u)).notified is False
    await core.mme.request(core.sgw_peer(), modify_bearer_request(s11, stamp=stamp(n + 2)))
    assert (await core.sgw.service.downlink_data(s5u)).notified is False  # connected again
    assert (await core.sgw_ue(IMSI)).paging_since_us is None


async def test_failure_indication_ends_paging_and_tells_the_user_plane(core):
    created, _, n = await attach(core)
    s11 = created.sender_fteid.teid
    await core.mme.request(core.sgw_peer(), release_access_bearers_request(s11, stamp=stamp(n + 1)))
    s5u = (await core.sgw_ue(IMSI)).sessions[5].bearers[5].s5u_sgw_teid
    assert (await core.sgw.service.downlink_data(s5u)).notified
    await core.mme.next_request()
    failure = DownlinkDataNotificationFailureIndication(
        teid=s11, cause=Cause(CauseValue.UE_NOT_RESPONDING), stamp=stamp(n + 2)
    )
    assert core.mme.node is not None
    core.mme.node.notify(core.sgw_peer(), failure)
    async with asyncio.timeout(10):  # the indication has no response to wait on
        await core.paging_failed.wait()
    assert (await core.sgw_ue(IMSI)).paging_since_us is None
    assert core.paging_failures == [IMSI]
    assert (await core.sgw.service.downlink_data(s5u)).notified  # may page again


async def test_delete_session_frees_address_teids_and_forwarding(core):
    created, _, n = await attach(core)
    deleted = await core.mme.request(
        core.sgw_peer(), delete_session_request(created.sender_fteid.teid, stamp=stamp(n + 1))
    )
    assert isinstance(deleted, DeleteSessionResponse)
    assert deleted.cause.value == CauseValue.REQUEST_ACCEPTED
    assert (await core.sgw_ue(IMSI)).sessions == {}
    assert (await core.pgw_ue(IMSI)).sessions == {}
    assert await core.index("ip") == []
    assert await core.rules("sgw") == {} and await core.rules("pgw") == {}
    # Only the control TEIDs stay held, so a retried Delete Session finds its reply.
    retired = set((await core.sgw_ue(IMSI)).retired_teids + (await core.pgw_ue(IMSI)).retired_teids)
    assert {int(name, 16) for name in await core.index("teid")} == retired
    assert len(retired) == 3  # S11 and S5-C at the SGW, S5-C at the PGW


async def test_retried_delete_session_at_another_instance_gets_the_recorded_reply(core):
    created, _, n = await attach(core)
    request = delete_session_request(created.sender_fteid.teid, stamp=stamp(n + 1))
    first = await core.mme.request(core.sgw_peer(0), request)
    second = await core.mme.request(core.sgw_peer(1), request)
    assert unsequenced(first) == unsequenced(second)


async def test_next_create_session_frees_the_retired_teids(core):
    created, _, n = await attach(core)
    await core.mme.request(
        core.sgw_peer(), delete_session_request(created.sender_fteid.teid, stamp=stamp(n + 1))
    )
    retired = set((await core.sgw_ue(IMSI)).retired_teids)
    await attach(core, n=n + 2)
    held = {int(name, 16) for name in await core.index("teid")}
    assert not retired & held
    assert len(held) == 6  # a live session's six TEIDs, nothing retired (freed at both)
    assert len(await core.index("ip")) == 1


async def test_retried_create_session_gets_the_same_teids_and_address(core):
    n = next_request_number()
    request = create_session_request(stamp=stamp(n))
    first = await core.mme.request(core.sgw_peer(0), request)
    second = await core.mme.request(core.sgw_peer(1), request)
    assert unsequenced(first) == unsequenced(second)
    assert len(await core.index("ip")) == 1
    assert len(await core.index("teid")) == 6


async def test_obsolete_request_is_dropped_unanswered(core):
    created, _, n = await attach(core)
    stale = modify_bearer_request(created.sender_fteid.teid, enb_teid=0xBAD, stamp=stamp(n - 5))
    with pytest.raises(RequestTimeout):
        await core.mme.request(core.sgw_peer(), stale)
    rule = (await core.rules("sgw"))[f"{IMSI}-5"]
    assert rule.downlink_peer.teid == 0xE0B


async def test_unstamped_requests_of_a_third_party_mme_are_applied(core):
    created = await core.mme.request(core.sgw_peer(), create_session_request())
    assert created.cause.value == CauseValue.REQUEST_ACCEPTED
    modified = await core.mme.request(
        core.sgw_peer(), modify_bearer_request(created.sender_fteid.teid)
    )
    assert modified.cause.value == CauseValue.REQUEST_ACCEPTED
    deleted = await core.mme.request(
        core.sgw_peer(), delete_session_request(created.sender_fteid.teid)
    )
    assert deleted.cause.value == CauseValue.REQUEST_ACCEPTED


async def test_unknown_teid_gets_context_not_found(core):
    response = await core.mme.request(
        core.sgw_peer(), modify_bearer_request(0xDEAD, stamp=stamp(1))
    )
    assert isinstance(response, ModifyBearerResponse)
    assert response.cause.value == CauseValue.CONTEXT_NOT_FOUND
    assert response.teid == 0


async def test_unknown_apn_is_rejected_by_the_pgw_and_the_sgw_keeps_nothing(core):
    response = await core.mme.request(
        core.sgw_peer(), create_session_request(apn="nowhere", stamp=stamp(next_request_number()))
    )
    assert response.cause.value == CauseValue.MISSING_OR_UNKNOWN_APN
    assert response.cause.from_remote_node
    assert await core.index("teid") == [] and await core.index("ip") == []


async def test_create_session_without_imsi_is_a_conditional_ie_missing(core):
    response = await core.mme.request(
        core.sgw_peer(), create_session_request(imsi=None, stamp=stamp(next_request_number()))
    )
    assert response.cause.value == CauseValue.CONDITIONAL_IE_MISSING
    assert response.cause.offending_ie == (1, 0)


async def test_a_full_pool_answers_all_dynamic_addresses_are_occupied(core):
    # "ims" is a /30: two usable addresses.
    causes = []
    for index in range(3):
        response = await core.mme.request(
            core.sgw_peer(),
            create_session_request(
                imsi=f"00101000000000{index}", apn="ims", stamp=stamp(next_request_number())
            ),
        )
        causes.append(response.cause.value)
    accepted, full = CauseValue.REQUEST_ACCEPTED, CauseValue.ALL_DYNAMIC_ADDRESSES_ARE_OCCUPIED
    assert causes == [accepted, accepted, full]
    assert sorted(await core.index("ip")) == ["10.46.0.1", "10.46.0.2"]


async def test_addresses_are_unique_across_many_ues_and_instances(core):
    async def one(index: int):
        imsi = f"0010100000001{index:02d}"
        response = await core.mme.request(
            core.sgw_peer(index % 2),
            create_session_request(imsi=imsi, stamp=stamp(next_request_number())),
        )
        assert response.cause.value == CauseValue.REQUEST_ACCEPTED, response.cause
        return response.paa.ipv4

    addresses = await asyncio.gather(*(one(index) for index in range(40)))
    assert len(set(addresses)) == 40
    assert len(await core.index("ip")) == 40


async def test_teid_index_names_the_holding_context(core):
    response = await core.mme.request(
        core.sgw_peer(), create_session_request(stamp=stamp(next_request_number()))
    )
    node = await core.store.get(teid_index_path(core.deployment, response.sender_fteid.teid))
    assert node.value.decode() == f"/{core.deployment}/sgw/ue/{IMSI}"
