"""The network's common procedures outside an attach, and the release of an S1 connection the
UE left, in memory against enbsim's strict UE core (tests/mme/mme_testbed.py):

- standalone GUTI reallocation (TS 24.301 5.4.1) after `guti_reallocation_after_service_requests`
  Service Requests: GUTI Reallocation Command under T3450 (6 s, four retransmissions), the
  Complete frees the old GUTI's index node;
- identification for the IMEISV (5.4.4) once the attach is done, under T3470;
- a UE on a new S1 connection while the MME holds another: a UE Context Release Command to
  the old one, core-initiated through the agent and recorded with the reply (TS 36.413 8.3.3).
"""

import pytest
from mme_testbed import ENB, Testbed, mme_config, subscriber

from echo_agent.wire import Frame, FrameKind
from enbsim.ue import UeConfig
from epc.codec import s1ap
from epc.codec.s1ap_messages import (
    DownlinkNasTransport,
    InitialContextSetupRequest,
    UeContextReleaseCommand,
    UeContextReleaseComplete,
)
from epc.mme.context import EcmState, EmmState, Procedure, TimerName

pytestmark = pytest.mark.mme

IMSI = "001010000000001"


async def attached(*, instances: int = 1, **mme):
    bed = await Testbed.create(instances=instances, config=mme_config(mme=mme))
    record = subscriber(IMSI)
    await bed.provision(record)
    await bed.s1_setup()
    radio = bed.radio(record)
    await bed.attach(radio)
    assert radio.succeeded("attach"), radio.failures()
    radio.events.clear()
    bed.log.clear()
    return bed, radio


async def service_request(bed: Testbed, radio) -> None:
    await bed.release(radio)
    await bed.run(radio, radio.ue.service_request(bed.now))
    assert radio.succeeded("service_request"), radio.failures()


async def guti_index(bed: Testbed, m_tmsi: int) -> str | None:
    node = await bed.store.get(f"/test/index/guti/{m_tmsi:08x}")
    return None if node is None else node.value.decode()


# --- GUTI reallocation ----------------------------------------------------------------------


async def test_the_second_service_request_is_followed_by_a_guti_reallocation():
    bed, radio = await attached(guti_reallocation_after_service_requests=2)
    old = radio.ue.guti.m_tmsi

    await service_request(bed, radio)
    assert radio.ue.guti.m_tmsi == old
    assert (await bed.context(IMSI)).service_requests_since_guti == 1

    bed.log.clear()
    await service_request(bed, radio)
    assert bed.log[3:] == [
        "> InitialUeMessage(ServiceRequest)",
        "< InitialContextSetupRequest",
        "> InitialContextSetupResponse",
        "< DownlinkNasTransport(protected)",  # GUTI Reallocation Command, after Modify Bearer
        "> UplinkNasTransport(protected)",  # GUTI Reallocation Complete
    ]
    assert radio.failures() == []
    new = radio.ue.guti.m_tmsi
    assert new != old
    context = await bed.context(IMSI)
    assert context.m_tmsi == new and context.old_m_tmsi is None
    assert context.procedure is None and context.service_requests_since_guti == 0
    assert await guti_index(bed, old) is None  # freed by the Complete
    assert await guti_index(bed, new) == IMSI
    assert bed.armed(radio, TimerName.T3450) is None


async def test_the_ue_is_found_by_its_new_guti_after_the_reallocation():
    bed, radio = await attached(guti_reallocation_after_service_requests=1)
    await service_request(bed, radio)
    await bed.release(radio)

    await bed.run(radio, radio.ue.tracking_area_update(bed.now, tai=radio.ue.tai))

    assert radio.succeeded("tau"), radio.failures()
    assert (await bed.context(IMSI)).emm is EmmState.REGISTERED


async def test_t3450_resends_the_guti_reallocation_command_four_times_then_releases():
    bed, radio = await attached(guti_reallocation_after_service_requests=1)
    old = radio.ue.guti.m_tmsi
    await bed.release(radio)
    bed.queue(radio, radio.ue.service_request(bed.now))
    _, replies = await bed.exchange()  # Service Request -> Initial Context Setup
    bed.deliver(radio, replies)
    _, replies = await bed.exchange()  # ICS Response -> Modify Bearer, GUTI Reallocation
    (command,) = replies
    assert isinstance(s1ap.decode(command), DownlinkNasTransport)
    assert bed.armed(radio, TimerName.T3450) == 6000
    new = (await bed.context(IMSI)).m_tmsi

    for _ in range(4):
        (again,) = await bed.send_timer(radio, TimerName.T3450)
        assert isinstance(s1ap.decode(again), DownlinkNasTransport)
        assert bed.armed(radio, TimerName.T3450) == 6000
    (release,) = await bed.send_timer(radio, TimerName.T3450)

    assert isinstance(s1ap.decode(release), UeContextReleaseCommand)
    context = await bed.context(IMSI)
    assert context.procedure is None and context.emm is EmmState.REGISTERED
    # 5.4.1.6 b: the UE may hold either GUTI, so both still find it.
    assert {context.m_tmsi, context.old_m_tmsi} == {old, new}
    assert await guti_index(bed, old) == IMSI and await guti_index(bed, new) == IMSI


# --- identification outside the attach --------------------------------------------------------


async def test_the_imeisv_is_asked_for_once_the_attach_is_done():
    bed, radio = await attached(request_imeisv=True)
    context = await bed.context(IMSI)
    assert context.imeisv == UeConfig().imeisv
    assert context.procedure is None and context.emm is EmmState.REGISTERED
    assert bed.armed(radio, TimerName.T3470) is None

    await service_request(bed, radio)  # known now: not asked again
    assert "< DownlinkNasTransport(protected)" not in bed.log


async def test_t3470_resends_the_identity_request_then_releases():
    bed = await Testbed.create(config=mme_config(mme={"request_imeisv": True}))
    record = subscriber(IMSI)
    await bed.provision(record)
    await bed.s1_setup()
    radio = bed.radio(record)
    bed.queue(radio, radio.ue.attach(bed.now))
    while not await identifying(bed):  # deliver everything up to the Identity Request
        _, replies = await bed.exchange()
        bed.deliver(radio, replies)
    assert radio.succeeded("attach")
    assert bed.armed(radio, TimerName.T3470) == 6000

    for _ in range(4):
        (again,) = await bed.send_timer(radio, TimerName.T3470)
        assert isinstance(s1ap.decode(again), DownlinkNasTransport)
    (release,) = await bed.send_timer(radio, TimerName.T3470)

    assert isinstance(s1ap.decode(release), UeContextReleaseCommand)
    context = await bed.context(IMSI)
    assert context.procedure is None and context.imeisv is None
    assert context.emm is EmmState.REGISTERED  # identification alone deregisters nobody


async def identifying(bed: Testbed) -> bool:
    context = await bed.context(IMSI)
    return context is not None and context.procedure is Procedure.IDENTIFICATION


# --- the S1 connection the UE left ------------------------------------------------------------


async def test_a_ue_on_a_new_connection_has_its_old_one_released_through_the_agent():
    bed, radio = await attached(instances=2)
    old_agent_ue, old_enb_id = radio.agent_ue_id, radio.enb_ue_s1ap_id
    old_mme_id = radio.mme_ue_s1ap_id
    # Radio link failure: the UE is idle, the eNB has not told the MME yet.
    radio.ue.connection_released(bed.now)
    bed.queue(radio, radio.ue.service_request(bed.now))
    _, payload = bed._uplink.popleft()
    frame = Frame(
        FrameKind.REQUEST, radio.agent_ue_id, bed.next_request_id(), stream=1, payload=payload
    )

    (setup,) = await bed.send(frame, mme=0)

    assert isinstance(s1ap.decode(setup), InitialContextSetupRequest)
    ((enb, sent),) = bed.agents.take()
    assert enb == ENB and sent.kind is FrameKind.CORE_INITIATED
    assert sent.ue_id == old_agent_ue and sent.request_id == 0
    command = s1ap.decode(sent.payload)
    assert isinstance(command, UeContextReleaseCommand)
    assert (command.mme_ue_s1ap_id, command.enb_ue_s1ap_id) == (old_mme_id, old_enb_id)

    # A retry at the other instance is answered from the record: the release goes again.
    assert await bed.send(frame, mme=1) == [setup]
    ((_, again),) = bed.agents.take()
    assert again.ue_id == old_agent_ue and again.payload == sent.payload

    bed.deliver(radio, [setup])
    await bed.pump()
    assert radio.succeeded("service_request"), radio.failures()
    # The old eNB's Release Complete names an MME-UE-S1AP-ID no context holds: acknowledged.
    complete = UeContextReleaseComplete(old_mme_id, old_enb_id)
    assert await bed.request(old_agent_ue, s1ap.encode(complete)) == []
    context = await bed.context(IMSI)
    assert context.ecm is EcmState.CONNECTED
    assert context.connection.agent.ue_id == radio.agent_ue_id
    assert await bed.store.children("/test/index/s1ap") == [str(radio.mme_ue_s1ap_id)]
