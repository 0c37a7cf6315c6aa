"""Idle and connected: S1 release with Release Access Bearers, Service Request, TAU (periodic
and normal, with and without the active flag, with GUTI reallocation), detach, the mobile
reachable and implicit detach timers, and the NAS retransmission timers through the agent."""

import pytest
from mme_testbed import ENB_ADDRESS, Testbed, mme_config, subscriber

from epc.codec import s1ap
from epc.codec.nas_messages import Tai
from epc.codec.s1ap_messages import (
    DownlinkNasTransport,
    InitialContextSetupRequest,
    UeContextReleaseCommand,
)
from epc.mme.context import EcmState, EmmState, TimerName

pytestmark = pytest.mark.mme

IMSI = "001010000000001"


async def attached(**config):
    bed = await Testbed.create(config=mme_config(**config) if config else None)
    record = subscriber(IMSI)
    await bed.provision(record)
    await bed.s1_setup()
    radio = bed.radio(record)
    await bed.attach(radio)
    assert radio.succeeded("attach"), radio.failures()
    radio.events.clear()
    bed.log.clear()
    return bed, radio


async def test_enb_release_releases_access_bearers_and_arms_mobile_reachable():
    bed, radio = await attached()
    await bed.release(radio)
    assert bed.log == [
        "> UeContextReleaseRequest",
        "< UeContextReleaseCommand",
        "> UeContextReleaseComplete",
    ]
    (session,) = bed.sgw.sessions_of(IMSI)
    assert session.enb_s1u is None
    assert type(bed.sgw.requests[-1]).__name__ == "ReleaseAccessBearersRequest"
    context = await bed.context(IMSI)
    assert context.ecm is EcmState.IDLE and context.emm is EmmState.REGISTERED
    assert context.connection is None
    assert await bed.store.children("/test/index/s1ap") == []
    assert bed.armed(radio, TimerName.MOBILE_REACHABLE) == (3240 + 240) * 1000


async def test_service_request_sets_the_bearer_up_again_with_a_new_kenb():
    bed, radio = await attached()
    await bed.release(radio)
    idle_agent_ue = radio.agent_ue_id

    await bed.run(radio, radio.ue.service_request(0.0))

    assert radio.succeeded("service_request"), radio.failures()
    assert bed.log[3:] == [
        "> InitialUeMessage(ServiceRequest)",
        "< InitialContextSetupRequest",
        "> InitialContextSetupResponse",
    ]
    (session,) = bed.sgw.sessions_of(IMSI)
    assert session.enb_s1u.teid == radio.enb_teid
    assert str(session.enb_s1u.ipv4) == ENB_ADDRESS
    context = await bed.context(IMSI)
    assert context.ecm is EcmState.CONNECTED
    assert TimerName.MOBILE_REACHABLE not in context.timers

    # The mobile reachable timer of the idle period still runs at the agent: stale.
    before = await bed.record(IMSI)
    replies = await bed.fire(idle_agent_ue, TimerName.MOBILE_REACHABLE)
    assert replies == []
    assert (await bed.context(IMSI)).ecm is EcmState.CONNECTED
    assert (await bed.record(IMSI)).state.timers == before.state.timers


async def test_periodic_tau_from_idle_is_accepted_and_released():
    bed, radio = await attached()
    await bed.release(radio)
    await bed.run(radio, radio.ue.tracking_area_update(0.0, tai=radio.ue.tai))
    assert radio.succeeded("tau"), radio.failures()
    assert bed.log[3:] == [
        "> InitialUeMessage(TrackingAreaUpdateRequest)",
        "< DownlinkNasTransport(protected)",
        "< UeContextReleaseCommand",
        "> UeContextReleaseComplete",
    ]
    context = await bed.context(IMSI)
    assert context.ecm is EcmState.IDLE and context.emm is EmmState.REGISTERED


async def test_tau_with_the_active_flag_sets_the_bearers_up():
    bed, radio = await attached(mme={"tacs": [1, 2]})
    await bed.release(radio)
    await bed.run(radio, radio.ue.tracking_area_update(0.0, tai=Tai("00101", 2), active=True))
    assert radio.succeeded("tau"), radio.failures()
    assert "< InitialContextSetupRequest" in bed.log
    (session,) = bed.sgw.sessions_of(IMSI)
    assert session.enb_s1u.teid == radio.enb_teid
    context = await bed.context(IMSI)
    assert context.ecm is EcmState.CONNECTED and context.tai.tac == 2


async def test_tau_with_guti_reallocation_frees_the_old_guti_on_tau_complete():
    bed, radio = await attached(mme={"reallocate_guti_on_tau": True})
    old = radio.ue.guti.m_tmsi
    await bed.release(radio)
    await bed.run(radio, radio.ue.tracking_area_update(0.0, tai=radio.ue.tai))
    assert radio.succeeded("tau"), radio.failures()
    assert radio.ue.guti.m_tmsi != old
    assert "> UplinkNasTransport(protected)" in bed.log  # TAU Complete
    assert await bed.store.get(f"/test/index/guti/{old:08x}") is None
    new = await bed.store.get(f"/test/index/guti/{radio.ue.guti.m_tmsi:08x}")
    assert new.value.decode() == IMSI


async def test_tau_in_a_tracking_area_not_served_is_rejected_with_cause_12():
    bed, radio = await attached()
    await bed.release(radio)
    await bed.run(radio, radio.ue.tracking_area_update(0.0, tai=Tai("00101", 7)))
    (failure,) = radio.failures()
    assert failure.reject_cause == 12


async def test_detach_deletes_the_session_and_accepts():
    bed, radio = await attached()
    await bed.run(radio, radio.ue.detach(0.0))
    assert radio.succeeded("detach"), radio.failures()
    assert bed.sgw.sessions_of(IMSI) == []
    context = await bed.context(IMSI)
    assert context.emm is EmmState.DEREGISTERED and context.pdn is None
    assert context.ecm is EcmState.IDLE
    assert bed.armed(radio, TimerName.MOBILE_REACHABLE) is None


async def test_switch_off_detach_deletes_the_session_without_detach_accept():
    bed, radio = await attached()
    await bed.run(radio, radio.ue.detach(0.0, switch_off=True))
    assert bed.sgw.sessions_of(IMSI) == []
    assert not any("DownlinkNasTransport" in line for line in bed.log)
    assert (await bed.context(IMSI)).emm is EmmState.DEREGISTERED


async def test_an_unreachable_ue_is_implicitly_detached():
    bed, radio = await attached()
    await bed.release(radio)
    assert await bed.fire(radio.agent_ue_id, TimerName.MOBILE_REACHABLE) == []
    assert bed.armed(radio, TimerName.IMPLICIT_DETACH) == 240_000
    assert (await bed.context(IMSI)).emm is EmmState.REGISTERED
    await bed.fire(radio.agent_ue_id, TimerName.IMPLICIT_DETACH)
    context = await bed.context(IMSI)
    assert context.emm is EmmState.DEREGISTERED and context.pdn is None
    assert bed.sgw.sessions_of(IMSI) == []
    assert await bed.store.children("/test/index/agent/enb-test") == []


async def test_t3460_resends_the_authentication_request_four_times_then_releases():
    bed = await Testbed.create()
    record = subscriber(IMSI)
    await bed.provision(record)
    await bed.s1_setup()
    radio = bed.radio(record)
    bed.queue(radio, radio.ue.attach(0.0))
    _, replies = await bed.exchange()
    (first,) = replies
    assert bed.armed(radio, TimerName.T3460) == 6000
    for _ in range(4):
        (again,) = await bed.send_timer(radio, TimerName.T3460)
        assert s1ap.decode(again).nas_pdu == s1ap.decode(first).nas_pdu
        assert bed.armed(radio, TimerName.T3460) == 6000
    (release,) = await bed.send_timer(radio, TimerName.T3460)
    assert isinstance(s1ap.decode(release), UeContextReleaseCommand)
    context = await bed.context(IMSI)
    assert context.procedure is None and context.emm is EmmState.DEREGISTERED


async def test_t3450_resends_attach_accept_then_aborts_the_attach():
    bed = await Testbed.create()
    record = subscriber(IMSI)
    await bed.provision(record)
    await bed.s1_setup()
    radio = bed.radio(record)
    bed.queue(radio, radio.ue.attach(0.0))
    for _ in range(2):  # Attach Request, Authentication Response
        _, replies = await bed.exchange()
        bed.deliver(radio, replies)
    _, replies = await bed.exchange()  # Security Mode Complete -> ICS with Attach Accept
    (setup,) = replies
    assert isinstance(s1ap.decode(setup), InitialContextSetupRequest)
    assert len(bed.sgw.sessions_of(IMSI)) == 1
    for _ in range(4):
        (again,) = await bed.send_timer(radio, TimerName.T3450)
        assert isinstance(s1ap.decode(again), DownlinkNasTransport)
    (release,) = await bed.send_timer(radio, TimerName.T3450)
    assert isinstance(s1ap.decode(release), UeContextReleaseCommand)
    assert bed.sgw.sessions_of(IMSI) == []
    assert (await bed.context(IMSI)).emm is EmmState.DEREGISTERED
