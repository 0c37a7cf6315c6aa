"""Requests the SGW starts on S11: Downlink Data Notification with paging, T3413 and the
Failure Indication; Delete Bearer (network detach, re-attach required); Create Bearer refused.
They run in the MME's own lanes, so the gateway's clock never makes the UE's requests
obsolete."""

import pytest
from mme_testbed import Testbed, subscriber

from epc.codec import s1ap
from epc.codec.gtpv2c import (
    Arp,
    BearerQos,
    Cause,
    CauseValue,
    CreateBearerRequest,
    CreateBearerRequestContext,
    DeleteBearerRequest,
    DeleteBearerResponse,
    DownlinkDataNotification,
    DownlinkDataNotificationAcknowledge,
    DownlinkDataNotificationFailureIndication,
    EchoStamp,
)
from epc.codec.s1ap_messages import Paging
from epc.mme.context import EcmState, EmmState

pytestmark = pytest.mark.mme

IMSI = "001010000000001"
SGW_CLOCK = 9_000_000_000_000_000
"""The SGW's request IDs: far above the agent's, as a gateway's clock may be."""


async def attached(*, idle: bool):
    bed = await Testbed.create()
    record = subscriber(IMSI)
    await bed.provision(record)
    await bed.s1_setup()
    radio = bed.radio(record)
    await bed.attach(radio)
    assert radio.succeeded("attach"), radio.failures()
    if idle:
        await bed.release(radio)
    radio.events.clear()
    bed.log.clear()
    return bed, radio


async def notification(bed: Testbed, n: int = 0) -> DownlinkDataNotification:
    context = await bed.context(IMSI)
    return DownlinkDataNotification(
        teid=context.mme_s11_teid,
        ebi=context.pdn.ebi,
        stamp=EchoStamp((SGW_CLOCK + n, 1), IMSI.encode()),
    )


async def test_downlink_data_for_an_idle_ue_pages_it_and_its_service_request_ends_paging():
    bed, radio = await attached(idle=True)
    ack = await bed.from_sgw(await notification(bed))

    assert isinstance(ack, DownlinkDataNotificationAcknowledge)
    assert ack.cause.value == CauseValue.REQUEST_ACCEPTED
    assert ack.teid == (await bed.context(IMSI)).pdn.sgw_s11.teid
    (paging_pdu,) = await bed.deliver_core_initiated()
    paging = s1ap.decode(paging_pdu)
    assert isinstance(paging, Paging)
    assert paging.paging_identity.m_tmsi == radio.ue.guti.m_tmsi
    assert paging.ue_identity_index == int(IMSI) % 1024
    assert [tai.tac for tai in paging.tai_list] == [1]
    (imsi, run), *_ = bed.paging_timers.started
    assert (imsi, run.seconds, run.request_id) == (IMSI, 2.0, (SGW_CLOCK, 1, 1))

    # The UE answers: its Service Request (agent IDs far below the SGW's) is not obsolete.
    await bed.run(radio, radio.ue.paged(0.0))
    assert radio.succeeded("service_request"), radio.failures()
    (session,) = bed.sgw.sessions_of(IMSI)
    assert session.enb_s1u.teid == radio.enb_teid
    context = await bed.context(IMSI)
    assert context.ecm is EcmState.CONNECTED and context.paging is None

    # T3413 expires after the UE came back: nothing to do.
    await bed.expire_paging(IMSI)
    assert bed.sgw.notifications == [] and bed.agents.sent == []


async def test_unanswered_paging_is_repeated_then_ends_in_a_failure_indication():
    bed, _ = await attached(idle=True)
    await bed.from_sgw(await notification(bed))
    assert len(await bed.deliver_core_initiated()) == 1

    await bed.expire_paging(IMSI)  # first T3413: paged again (paging_attempts = 2)
    assert len(await bed.deliver_core_initiated()) == 1
    assert bed.paging_timers.started[-1][1].request_id == (SGW_CLOCK, 1, 2)
    assert bed.sgw.notifications == []

    await bed.expire_paging(IMSI)  # second T3413: the SGW is told
    (failure,) = bed.sgw.notifications
    assert isinstance(failure, DownlinkDataNotificationFailureIndication)
    assert failure.cause.value == CauseValue.UE_NOT_RESPONDING
    assert failure.teid == (await bed.context(IMSI)).pdn.sgw_s11.teid
    assert (await bed.context(IMSI)).paging is None
    assert bed.agents.sent == []


async def test_a_repeated_notification_at_another_instance_gets_the_recorded_answer():
    bed = await Testbed.create(instances=2)
    record = subscriber(IMSI)
    await bed.provision(record)
    await bed.s1_setup()
    radio = bed.radio(record)
    await bed.attach(radio)
    await bed.release(radio)
    before = await bed.record(IMSI)
    message = await notification(bed)

    first = await bed.from_sgw(message, mme=0)
    again = await bed.from_sgw(message, mme=1)

    assert first == again and first.cause.value == CauseValue.REQUEST_ACCEPTED
    after = await bed.record(IMSI)
    assert after.last == before.last, "the gateway's ID stays out of the UE's own record"
    assert after.state.paging.request_id == (SGW_CLOCK, 1)
    lane = await bed.store.get(f"/test/mme/lane/paging/{IMSI}")
    assert lane is not None


async def test_downlink_data_for_a_connected_ue_is_acknowledged_ue_already_re_attached():
    bed, _ = await attached(idle=False)
    ack = await bed.from_sgw(await notification(bed))
    assert ack.cause.value == 115
    assert bed.agents.sent == [] and bed.paging_timers.started == []


async def test_downlink_data_for_an_unknown_teid_is_context_not_found():
    bed, _ = await attached(idle=True)
    message = DownlinkDataNotification(teid=0xDEAD, ebi=5, stamp=EchoStamp((SGW_CLOCK, 1), b""))
    ack = await bed.from_sgw(message)
    assert ack.cause.value == CauseValue.CONTEXT_NOT_FOUND and ack.teid == 0


async def delete_bearer(bed: Testbed) -> DeleteBearerResponse:
    context = await bed.context(IMSI)
    message = DeleteBearerRequest(
        teid=context.mme_s11_teid,
        linked_ebi=context.pdn.ebi,
        cause=Cause(8),  # reactivation requested: the SGW's clean-up after a PGW restart
        stamp=EchoStamp((SGW_CLOCK, 1), IMSI.encode()),
    )
    response = await bed.from_sgw(message)
    assert isinstance(response, DeleteBearerResponse)
    assert response.cause.value == CauseValue.REQUEST_ACCEPTED
    assert response.linked_ebi == context.pdn.ebi
    return response


async def test_delete_bearer_of_a_connected_ue_detaches_it_reattach_required():
    bed, radio = await attached(idle=False)
    await delete_bearer(bed)
    assert (await bed.context(IMSI)).emm is EmmState.DEREGISTERED_INITIATED

    assert await bed.deliver_core_initiated() == []
    assert bed.log == [
        "< core DownlinkNasTransport(protected)",  # Detach Request, re-attach required
        "> UplinkNasTransport(protected)",  # Detach Accept
        "< UeContextReleaseCommand",
        "> UeContextReleaseComplete",
    ]
    assert not radio.ue.registered
    context = await bed.context(IMSI)
    assert context.emm is EmmState.DEREGISTERED and context.pdn is None
    assert context.ecm is EcmState.IDLE


async def test_delete_bearer_of_an_idle_ue_detaches_it_locally_and_its_next_request_gets_10():
    bed, radio = await attached(idle=True)
    await delete_bearer(bed)
    context = await bed.context(IMSI)
    assert context.emm is EmmState.DEREGISTERED and context.pdn is None
    assert bed.agents.sent == []

    await bed.run(radio, radio.ue.service_request(0.0))
    (failure,) = radio.failures()
    assert failure.reject_cause == 10  # implicitly detached: the UE attaches again


async def test_create_bearer_is_refused_as_not_supported():
    bed, _ = await attached(idle=False)
    context = await bed.context(IMSI)
    message = CreateBearerRequest(
        teid=context.mme_s11_teid,
        linked_ebi=context.pdn.ebi,
        bearer_contexts=(
            CreateBearerRequestContext(
                ebi=0, tft=b"", bearer_qos=BearerQos(1, Arp(9, False, True))
            ),
        ),
    )
    response = await bed.from_sgw(message)
    assert response.cause.value == CauseValue.SERVICE_NOT_SUPPORTED
    assert response.teid == context.pdn.sgw_s11.teid
