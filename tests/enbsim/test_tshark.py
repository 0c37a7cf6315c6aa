"""Independence: enbsim uses the project's own codecs, so a bug shared by both sides of a test
could pass unnoticed. Here Wireshark judges: every S1AP PDU the simulator sends during an
attach (with identity request and GUTI reallocation), a release, a service request, a
periodic TAU and a detach is captured off the S1 link, written to a pcap as SCTP (PPID 18)
and dissected by tshark, which must read each one cleanly (no malformed packet, no warning
or error expert info) as the S1AP procedure expected, with the NAS message inside and its
key values: IMSI, RES, S-TMSI, update and detach types.

The MME picks EEA0 (null ciphering) for this run, so the NAS messages after security mode
control are "ciphered" in name only and tshark (nas-eps.null_decipher, on by default) reads
them as well. The 3GPP test vectors for the algorithms underneath (Milenage, the KDF, EEA/EIA)
are checked in tests/security.
"""

from __future__ import annotations

import shutil

import pytest
from conftest import IMSI
from harness.tshark import dissect, sctp

from epc.codec.nas_messages import GutiReallocationComplete
from epc.codec.s1ap_constants import (
    PROCEDURE_INITIAL_CONTEXT_SETUP,
    PROCEDURE_INITIAL_UE_MESSAGE,
    PROCEDURE_S1_SETUP,
    PROCEDURE_UE_CONTEXT_RELEASE,
    PROCEDURE_UE_CONTEXT_RELEASE_REQUEST,
    PROCEDURE_UPLINK_NAS_TRANSPORT,
)

pytestmark = pytest.mark.skipif(shutil.which("tshark") is None, reason="needs tshark")

S1AP_PPID = 18
INITIAL_UE, UPLINK_NAS = PROCEDURE_INITIAL_UE_MESSAGE, PROCEDURE_UPLINK_NAS_TRANSPORT
CONTEXT_SETUP, RELEASE = PROCEDURE_INITIAL_CONTEXT_SETUP, PROCEDURE_UE_CONTEXT_RELEASE
RELEASE_REQUEST = PROCEDURE_UE_CONTEXT_RELEASE_REQUEST
EXPECTED = [
    (PROCEDURE_S1_SETUP, "S1 Setup Request", None),
    (INITIAL_UE, "Attach Request", "0x41"),
    (UPLINK_NAS, "Identity Response", "0x56"),
    (UPLINK_NAS, "Authentication Response", "0x53"),
    (UPLINK_NAS, "Security Mode Complete", "0x5e"),
    (CONTEXT_SETUP, "Initial Context Setup Response", None),
    (UPLINK_NAS, "Attach Complete", "0x43"),
    (UPLINK_NAS, "GUTI Reallocation Complete", "0x51"),
    (RELEASE_REQUEST, "UE Context Release Request", None),
    (RELEASE, "UE Context Release Complete", None),
    (INITIAL_UE, "Service Request", None),
    (CONTEXT_SETUP, "Initial Context Setup Response", None),
    (RELEASE_REQUEST, "UE Context Release Request", None),
    (RELEASE, "UE Context Release Complete", None),
    (INITIAL_UE, "Tracking Area Update Request", "0x48"),
    (RELEASE, "UE Context Release Complete", None),
    (INITIAL_UE, "Detach Request", "0x45"),
    (RELEASE, "UE Context Release Complete", None),
]
"""(S1AP procedure code, what it carries, NAS EMM message type) of each PDU sent, in order."""
SENT_MORE_THAN_ONCE = {
    "Initial Context Setup Response",
    "UE Context Release Request",
    "UE Context Release Complete",
}


@pytest.fixture
async def run(direct):
    """The procedures, on a recording link: (dissections of what was sent, the UE, the
    MME's network side of it)."""
    core = await direct(
        record=True, ciphering=0, ask_identity=True, after_attach=("guti_reallocation",)
    )
    enb, ue, network = core.enb, core.enb.ue(IMSI), core.mme.networks[IMSI]
    assert (await enb.attach(IMSI)).ok
    await core.front.until(
        lambda: any(isinstance(m, GutiReallocationComplete) for m in network.received)
    )
    assert (await enb.release(IMSI)).ok
    assert (await enb.service_request(IMSI)).ok
    assert (await enb.release(IMSI)).ok
    assert (await enb.tracking_area_update(IMSI)).ok
    await enb.until(lambda: not ue.connected)
    assert (await enb.detach(IMSI)).ok
    await enb.until(lambda: not ue.connected)
    await enb.flush()
    assert core.mme.uplink_errors == []
    frames = [sctp(pdu, S1AP_PPID, stream=stream) for pdu, stream in core.link.sent]
    return dissect(frames), ue, network


def test_every_s1ap_message_enbsim_sent_decodes_cleanly_in_tshark(run):
    dissections, _, _ = run
    assert len(dissections) == len(EXPECTED)
    for dissection, (procedure_code, what, emm_type) in zip(dissections, EXPECTED, strict=True):
        assert dissection.problems == [], (what, dissection.problems)
        assert dissection.fields("s1ap.procedureCode")[:1] == [str(procedure_code)], what
        if emm_type is not None:
            assert emm_type in dissection.fields("nas_eps.nas_msg_emm_type"), what


def test_tshark_reads_the_identities_keys_and_types_the_ue_sent(run):
    dissections, ue, network = run
    shown = {
        what: dissection
        for dissection, (_, what, _) in zip(dissections, EXPECTED, strict=True)
        if what not in SENT_MORE_THAN_ONCE
    }
    m_tmsi = str(ue.guti.m_tmsi)
    expected = {
        "S1 Setup Request": {"s1ap.tAC": ["1", "2"]},
        "Attach Request": {
            "e212.imsi": [IMSI],
            "nas_eps.security_header_type": ["0"],
            "nas_eps.emm.nas_key_set_id": ["7"],  # no key available
            "nas_eps.nas_msg_esm_type": ["0xd0"],  # PDN Connectivity Request inside
            "s1ap.RRC_Establishment_Cause": ["3"],  # mo-Signalling
        },
        "Identity Response": {"e212.imsi": [IMSI]},
        "Authentication Response": {"nas_eps.emm.res": [network.vector.xres.hex(":")]},
        "Security Mode Complete": {
            "nas_eps.security_header_type": ["4", "0"],
            "gsm_a.imeisv": ["3534900698733001"],
        },
        "Attach Complete": {"nas_eps.nas_msg_esm_type": ["0xc2"]},  # default bearer accepted
        "Service Request": {
            "nas_eps.security_header_type": ["12"],
            "s1ap.m_TMSI": [m_tmsi],
            "s1ap.RRC_Establishment_Cause": ["4"],  # mo-Data
        },
        "Tracking Area Update Request": {
            "nas_eps.security_header_type": ["1", "0"],
            "nas_eps.emm.update_type_value": ["3"],  # periodic updating
            "nas_eps.emm.m_tmsi": [m_tmsi],
        },
        "Detach Request": {
            "nas_eps.emm.detach_type_ul": ["1"],  # EPS detach
            "nas_eps.emm.switch_off": ["0"],
            "nas_eps.emm.m_tmsi": [m_tmsi],
        },
    }
    for what, fields in expected.items():
        for field, values in fields.items():
            assert shown[what].fields(field) == values, (what, field)
    responses = [
        d
        for d, (_, what, _) in zip(dissections, EXPECTED, strict=True)
        if what == "Initial Context Setup Response"
    ]
    for response in responses:
        assert response.fields("s1ap.transportLayerAddressIPv4") == ["127.0.0.1"]
        assert response.fields("s1ap.gTP_TEID") != ["00:00:00:00"]
