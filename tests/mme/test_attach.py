"""Attach end to end in memory: enbsim's strict UE against the MME core, the memory store and
the SGW double, every message and the stored context checked."""

import pytest
from mme_testbed import Testbed, subscriber

from epc.mme.context import EcmState, EmmState, TimerName

pytestmark = pytest.mark.mme

IMSI = "001010000000001"


async def test_attach_with_imsi_completes_with_every_message_in_order():
    bed = await Testbed.create()
    record = subscriber(IMSI)
    await bed.provision(record)
    await bed.s1_setup()
    radio = bed.radio(record)

    await bed.attach(radio)

    assert radio.succeeded("attach"), radio.failures()
    assert bed.log[2:] == [
        "> InitialUeMessage(AttachRequest)",
        "< DownlinkNasTransport(AuthenticationRequest)",
        "> UplinkNasTransport(AuthenticationResponse)",
        "< DownlinkNasTransport(SecurityModeCommand)",
        "> UplinkNasTransport(protected)",
        "< InitialContextSetupRequest(protected)",
        "> InitialContextSetupResponse",
        "> UplinkNasTransport(protected)",
        "< DownlinkNasTransport(protected)",
    ]
    context = await bed.context(IMSI)
    assert context.emm is EmmState.REGISTERED
    assert context.ecm is EcmState.CONNECTED
    assert context.pdn.enb_s1u.teid == radio.enb_teid
    (session,) = bed.sgw.sessions_of(IMSI)
    assert session.enb_s1u.teid == radio.enb_teid
    assert str(radio.ue.pdn_address) == session.ue_ipv4 == context.pdn.ue_ipv4
    assert radio.ue.guti.m_tmsi == context.m_tmsi
    assert radio.ue.network_names == ("echo-epc", "echo")
    assert context.timers == {}
    assert bed.armed(radio, TimerName.T3450) is None


async def test_attach_with_an_unknown_guti_identifies_the_ue_and_moves_its_context():
    elsewhere = await Testbed.create()
    record = subscriber(IMSI)
    await elsewhere.provision(record)
    await elsewhere.s1_setup()
    radio = elsewhere.radio(record)
    await elsewhere.attach(radio)
    await elsewhere.run(radio, radio.ue.detach(0.0, switch_off=True))
    assert radio.ue.guti is not None

    bed = await Testbed.create(seed=99)  # another MME: the UE's GUTI means nothing here
    await bed.provision(subscriber(IMSI, sqn=radio.ue._usim.highest_accepted_sqn + 32))
    await bed.s1_setup()
    radio.events.clear()
    await bed.attach(radio, identity="guti")

    assert radio.succeeded("attach"), radio.failures()
    assert bed.log[2:4] == [
        "> InitialUeMessage(AttachRequest)",
        "< DownlinkNasTransport(IdentityRequest)",
    ]
    context = await bed.context(IMSI)
    assert context.emm is EmmState.REGISTERED
    assert context.provisional_key is not None
    provisional = await bed.record(context.provisional_key)
    assert provisional.state is None and provisional.replies  # the recorded reply stays
    owner = await bed.store.get(f"/test/index/s1ap/{context.connection.mme_ue_s1ap_id}")
    assert owner.value.decode() == IMSI
    agent = await bed.store.get(f"/test/index/agent/enb-test/{radio.agent_ue_id}")
    assert agent.value.decode() == IMSI


async def test_attach_with_the_guti_this_mme_gave_needs_no_identification():
    bed = await Testbed.create()
    record = subscriber(IMSI)
    await bed.provision(record)
    await bed.s1_setup()
    radio = bed.radio(record)
    await bed.attach(radio)
    await bed.run(radio, radio.ue.detach(0.0))
    assert radio.succeeded("detach")
    first_guti = radio.ue.guti
    radio.events.clear()
    bed.log.clear()

    await bed.attach(radio, identity="guti")

    assert radio.succeeded("attach"), radio.failures()
    assert not any("IdentityRequest" in line for line in bed.log)
    context = await bed.context(IMSI)
    assert context.m_tmsi != first_guti.m_tmsi  # a new GUTI in every Attach Accept
    assert await bed.store.get(f"/test/index/guti/{first_guti.m_tmsi:08x}") is None
    assert len(bed.sgw.sessions_of(IMSI)) == 1


async def test_a_retried_request_gets_the_recorded_reply_and_the_same_identifiers():
    bed = await Testbed.create(instances=2)
    record = subscriber(IMSI)
    await bed.provision(record)
    await bed.s1_setup()
    radio = bed.radio(record)
    commands = radio.ue.attach(0.0)
    bed._commands(radio, commands)
    _, payload = bed._uplink.popleft()
    from echo_agent.wire import Frame, FrameKind

    frame = Frame(FrameKind.REQUEST, radio.agent_ue_id, 5000, stream=1, payload=payload)
    first = await bed.send(frame, mme=0)
    again = await bed.send(frame, mme=1)  # the agent's retransmission, to another instance

    assert first == again
    children = await bed.store.children("/test/index/s1ap")
    assert len(children) == 1
