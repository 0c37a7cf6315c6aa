"""Rejects carry the right cause, and a NAS message with a bad MAC after security is set up
is discarded (TS 24.301 4.4.4.3)."""

import pytest
from mme_testbed import Testbed, mme_config, subscriber

from epc.codec import nas, s1ap
from epc.codec.nas_messages import (
    AttachReject,
    DetachRequest,
    DetachType,
    EmmCause,
    EsmCause,
    NasKeySetIdentifier,
    ProtectedNas,
    SecurityModeReject,
    UeDetachType,
)
from epc.codec.s1ap_messages import DownlinkNasTransport, UeContextReleaseCommand
from epc.mme.context import EmmState
from epc.security.algorithms import Direction

pytestmark = pytest.mark.mme

IMSI = "001010000000001"


async def _bed(*records, **config):
    bed = await Testbed.create(config=mme_config(**config) if config else None)
    await bed.provision(*records)
    await bed.s1_setup()
    return bed


def _reject_cause(radio) -> int | None:
    failed = [event for event in radio.failures() if event.procedure == "attach"]
    return failed[-1].reject_cause if failed else None


def _last_nas(bed, message_type):
    for payload in reversed(bed.downlinks):
        message = s1ap.decode(payload)
        if isinstance(message, DownlinkNasTransport):
            decoded = nas.decode(message.nas_pdu, uplink=False)
            if isinstance(decoded, ProtectedNas):  # EEA0 by default: the inner is plain
                decoded = nas.decode(decoded.inner, uplink=False)
            if isinstance(decoded, message_type):
                return decoded
    raise AssertionError(f"no {message_type.__name__} sent")


async def test_unknown_imsi_is_rejected_with_cause_8():
    bed = await _bed()
    radio = bed.radio(subscriber(IMSI))
    await bed.attach(radio)
    assert _reject_cause(radio) == EmmCause.EPS_AND_NON_EPS_SERVICES_NOT_ALLOWED
    assert "< UeContextReleaseCommand" in bed.log
    assert (await bed.context(IMSI)).emm is EmmState.DEREGISTERED


async def test_subscriber_of_another_plmn_is_rejected_with_plmn_not_allowed():
    record = subscriber("001020000000001")
    bed = await _bed(record)
    radio = bed.radio(record)
    await bed.attach(radio)
    assert _reject_cause(radio) == EmmCause.PLMN_NOT_ALLOWED
    assert bed.sgw.requests == []


async def test_a_mac_failure_at_the_ue_gets_authentication_reject():
    record = subscriber(IMSI)
    wrong_key = subscriber(IMSI, k=bytes(16))
    bed = await _bed(wrong_key)
    radio = bed.radio(record)
    await bed.attach(radio)
    assert "> UplinkNasTransport(AuthenticationFailure)" in bed.log
    assert "< DownlinkNasTransport(AuthenticationReject)" in bed.log
    assert (await bed.context(IMSI)).emm is EmmState.DEREGISTERED


async def test_a_synch_failure_resynchronises_and_the_attach_completes():
    usim_ahead = subscriber(IMSI, sqn=32 * 1000)
    bed = await _bed(subscriber(IMSI, sqn=32))
    radio = bed.radio(usim_ahead)
    await bed.attach(radio)
    assert radio.succeeded("attach"), radio.failures()
    assert bed.log.count("< DownlinkNasTransport(AuthenticationRequest)") == 2
    assert "> UplinkNasTransport(AuthenticationFailure)" in bed.log


async def test_an_unknown_apn_gets_esm_cause_27_inside_attach_reject_19():
    record = subscriber(IMSI)
    bed = await _bed(record)
    radio = bed.radio(record, apn="ims")
    await bed.attach(radio)
    assert _reject_cause(radio) == EmmCause.ESM_FAILURE
    reject = _last_nas(bed, AttachReject)
    assert reject.esm_message.esm_cause == EsmCause.MISSING_OR_UNKNOWN_APN
    assert bed.sgw.requests == []


async def test_a_gateway_refusing_the_apn_gets_esm_cause_27():
    record = subscriber(IMSI)
    bed = await _bed(record)
    bed.sgw.reject_create = 78
    radio = bed.radio(record)
    await bed.attach(radio)
    assert _reject_cause(radio) == EmmCause.ESM_FAILURE
    reject = _last_nas(bed, AttachReject)
    assert reject.esm_message.esm_cause == EsmCause.MISSING_OR_UNKNOWN_APN
    assert bed.sgw.sessions_of(IMSI) == []


async def test_security_mode_reject_aborts_the_attach_and_releases():
    record = subscriber(IMSI)
    bed = await _bed(record)
    radio = bed.radio(record)
    bed.queue(radio, radio.ue.attach(0.0))
    _, replies = await bed.exchange()  # Attach Request -> Authentication Request
    bed.deliver(radio, replies)
    _, replies = await bed.exchange()  # Authentication Response -> Security Mode Command
    assert bed.log[-1] == "< DownlinkNasTransport(SecurityModeCommand)"
    reject = nas.encode(SecurityModeReject(emm_cause=EmmCause.UE_SECURITY_CAPABILITIES_MISMATCH))
    replies = await bed.request(radio.agent_ue_id, bed.uplink_nas(radio, reject))
    (command,) = [s1ap.decode(reply) for reply in replies]
    assert isinstance(command, UeContextReleaseCommand)
    context = await bed.context(IMSI)
    assert context.emm is EmmState.DEREGISTERED and context.security is None
    assert context.procedure is None


async def test_a_nas_message_with_a_bad_mac_is_discarded_and_changes_nothing():
    record = subscriber(IMSI)
    bed = await _bed(record)
    radio = bed.radio(record)
    await bed.attach(radio)
    before = await bed.context(IMSI)
    detach = DetachRequest(
        detach_type=DetachType(UeDetachType.EPS_DETACH, False),
        key_set_identifier=NasKeySetIdentifier(radio.ue.security_context.key_set_identifier),
        identity=radio.ue.guti,
    )
    protected = radio.ue.security_context.protect(nas.encode(detach), Direction.UPLINK)
    tampered = bytearray(protected.pdu)
    tampered[2] ^= 0xFF  # inside the NAS-MAC

    replies = await bed.request(radio.agent_ue_id, bed.uplink_nas(radio, bytes(tampered)))

    assert replies == []
    after = await bed.context(IMSI)
    assert after.emm is EmmState.REGISTERED
    assert after.security.uplink_count == before.security.uplink_count
    assert len(bed.sgw.sessions_of(IMSI)) == 1
