"""Every strict check of the simulated UE and eNB fires on a deliberately wrong downlink
message from the core, through the real echo-agent: the test MME (harness/nas_mme.py) gets
one thing wrong, and the procedure fails with the exact `Violation` (message and IE) and,
where the standard has the UE or eNB answer, that answer reaches the MME.

Classes of checks: NAS-MAC, a missing mandatory IE, NAS COUNT (replay, a wrong start),
message order, security header type, S1AP IDs, the KeNB and UE security capabilities of an
Initial Context Setup, and the network's authenticity (AUTN). The same checks, one message
at a time without S1AP or I/O, are unit-tested in test_ue.py and test_enb.py.
"""

from __future__ import annotations

import asyncio

import pytest
from conftest import IMSI
from harness.nas_mme import Fault
from harness.nas_network import Tamper, without_esm_ie, without_ie

from enbsim.events import Violation
from epc.codec.nas_messages import AuthenticationFailure, EmmCause, SecurityModeReject
from epc.codec.s1ap_messages import Cause, CauseGroup, UeSecurityCapabilities

pytestmark = pytest.mark.e2e

PROCEDURE_TIMEOUT_S = 10.0


def flip_last_octet(octets: bytes) -> bytes:
    """Spoils the AUTN, the last IE of an Authentication Request: its MAC-A no longer fits."""
    return octets[:-1] + bytes((octets[-1] ^ 0x01,))


ATTACH_CASES = {
    "a bad NAS-MAC in the Security Mode Command": (
        Fault("Security Mode Command", tamper=Tamper(bad_mac=True)),
        Violation(
            "Security Mode Command",
            "NAS-MAC",
            "does not verify (NAS-MAC mismatch on downlink message, NAS COUNT 0x0)",
        ),
    ),
    "a bad NAS-MAC in the ciphered Attach Accept": (
        Fault("Attach Accept", tamper=Tamper(bad_mac=True)),
        Violation(
            "Attach Accept",
            "NAS-MAC",
            "does not verify (NAS-MAC mismatch on downlink message, NAS COUNT 0x1)",
        ),
    ),
    "a replayed NAS COUNT in the Attach Accept": (
        Fault("Attach Accept", tamper=Tamper(count=0)),
        Violation(
            "Attach Accept",
            "Sequence number",
            "replayed: downlink NAS COUNT 0x0 already accepted (next expected 0x1)",
        ),
    ),
    "the Security Mode Command sent again in place of the Attach Accept": (
        Fault("Attach Accept", replay=True),
        Violation(
            "Security Mode Command",
            "Sequence number",
            "replayed: downlink NAS COUNT 0x0 already accepted (next expected 0x1)",
        ),
    ),
    "a Security Mode Command with a new KASME not starting at COUNT 0": (
        Fault("Security Mode Command", tamper=Tamper(count=5)),
        Violation(
            "Security Mode Command",
            "Sequence number",
            "NAS COUNT 5: a command taking a new KASME into use starts the downlink NAS COUNT "
            "at 0 (TS 24.301 5.4.3.2)",
        ),
    ),
    "a Security Mode Command replaying other UE security capabilities": (
        Fault("Security Mode Command", options={"replayed_capabilities": b"\x80\x80"}),
        Violation(
            "Security Mode Command",
            "Replayed UE security capabilities",
            "8080 differs from the f0f0 the UE sent",
        ),
    ),
    "a Security Mode Command selecting EIA0": (
        Fault("Security Mode Command", options={"integrity": 0}),
        Violation(
            "Security Mode Command",
            "Selected NAS security algorithms",
            "EIA0 without an emergency bearer (TS 24.301 5.4.3.3)",
        ),
    ),
    "a Security Mode Command before authentication": (
        Fault("Authentication Request", instead="Security Mode Command"),
        Violation(
            "Security Mode Command", "NAS key set identifier", "KSI 0: no authentication has run"
        ),
    ),
    "an Attach Accept before security mode control": (
        Fault("Security Mode Command", instead="Attach Accept"),
        Violation(
            "Attach Accept",
            "Security header type",
            "plain, and TS 24.301 4.4.4.2 lets the UE process only Identity Request (IMSI), "
            "Authentication Request/Reject, Attach/Tracking Area Update/Service Reject (not #25) "
            "and Detach Accept without integrity protection",
        ),
    ),
    "a plain Attach Accept after security was established": (
        Fault("Attach Accept", tamper=Tamper(plain=True)),
        Violation(
            "Attach Accept",
            "Security header type",
            "plain, after secure exchange of NAS messages was established: discarded "
            "(TS 24.301 4.4.4.2)",
        ),
    ),
    "an Attach Accept integrity protected but not ciphered": (
        Fault("Attach Accept", tamper=Tamper(header_type=1)),
        Violation(
            "Attach Accept",
            "Security header type",
            "integrity protected but not ciphered; once NAS ciphering has started the "
            "receiver discards unciphered messages (TS 24.301 4.4.5)",
        ),
    ),
    "a wrong MME-UE-S1AP-ID in a Downlink NAS Transport": (
        Fault("Security Mode Command", mme_ue_s1ap_id=999),
        Violation(
            "Downlink NAS Transport",
            "MME-UE-S1AP-ID",
            "999, but this connection's first downlink message set 1000",
        ),
    ),
    "a KeNB in the Initial Context Setup that is not the UE's": (
        Fault("Initial Context Setup Request", security_key=bytes(32)),
        Violation(
            "Initial Context Setup Request",
            "Security Key",
            "is not the KeNB the UE derived (TS 33.401 A.3)",
        ),
    ),
    "UE security capabilities in the Initial Context Setup that are not the UE's": (
        Fault(
            "Initial Context Setup Request",
            ue_security_capabilities=UeSecurityCapabilities(0x8000, 0x8000),
        ),
        Violation(
            "Initial Context Setup Request",
            "UE Security Capabilities",
            "EEA [1] EIA [1], but the UE advertised EEA [1, 2, 3] EIA [1, 2, 3]",
        ),
    ),
    "an AUTN whose MAC-A does not verify": (
        Fault("Authentication Request", tamper=Tamper(edit=flip_last_octet)),
        Violation(
            "Authentication Request",
            "Authentication parameter AUTN",
            "MAC-A does not verify: the network is not authentic (EMM cause #20)",
        ),
    ),
}


@pytest.mark.parametrize("case", ATTACH_CASES)
async def test_a_wrong_downlink_message_fails_the_attach_naming_message_and_ie(through_agent, case):
    fault, expected = ATTACH_CASES[case]
    core = await through_agent(faults=[fault])
    result = await core.enb.attach(IMSI, timeout_s=PROCEDURE_TIMEOUT_S)
    assert not result.ok and result.procedure == "attach"
    assert result.violation == expected
    assert result.reason == str(expected)
    assert core.mme.faults == []  # the fault was used


@pytest.mark.parametrize(
    ("fault", "ie"),
    [
        (Fault("Attach Accept", tamper=Tamper(edit=without_ie("tai_list"))), "TAI list"),
        (
            Fault("Attach Accept", tamper=Tamper(edit=without_esm_ie("eps_qos"))),
            "EPS QoS",
        ),
    ],
    ids=["the TAI list cut from the Attach Accept", "the EPS QoS cut from the bearer request"],
)
async def test_a_missing_mandatory_ie_fails_the_attach_naming_it(through_agent, fault, ie):
    core = await through_agent(faults=[fault])
    result = await core.enb.attach(IMSI, timeout_s=PROCEDURE_TIMEOUT_S)
    assert not result.ok
    message = "Attach Accept" if ie == "TAI list" else "Activate Default EPS Bearer Context Request"
    assert (result.violation.message, result.violation.ie) == (message, ie)
    assert result.violation.reason.endswith("(cause #96)")  # invalid mandatory information


async def test_the_ue_answers_a_bad_autn_with_authentication_failure_mac_failure(through_agent):
    fault, expected = ATTACH_CASES["an AUTN whose MAC-A does not verify"]
    core = await through_agent(faults=[fault])
    result = await core.enb.attach(IMSI, timeout_s=PROCEDURE_TIMEOUT_S)
    assert result.violation == expected
    network = core.mme.networks[IMSI]
    failures = await core.front.until(
        lambda: [m for m in network.received if isinstance(m, AuthenticationFailure)]
    )
    assert [failure.emm_cause for failure in failures] == [EmmCause.MAC_FAILURE]


async def test_the_ue_answers_a_mismatched_security_mode_command_with_a_reject(through_agent):
    case = "a Security Mode Command replaying other UE security capabilities"
    fault, expected = ATTACH_CASES[case]
    core = await through_agent(faults=[fault])
    result = await core.enb.attach(IMSI, timeout_s=PROCEDURE_TIMEOUT_S)
    assert result.violation == expected
    network = core.mme.networks[IMSI]
    rejects = await core.front.until(
        lambda: [m for m in network.received if isinstance(m, SecurityModeReject)]
    )
    assert [reject.emm_cause for reject in rejects] == [EmmCause.UE_SECURITY_CAPABILITIES_MISMATCH]


async def test_a_wrong_kenb_is_answered_with_an_initial_context_setup_failure(through_agent):
    fault, expected = ATTACH_CASES["a KeNB in the Initial Context Setup that is not the UE's"]
    core = await through_agent(faults=[fault])
    result = await core.enb.attach(IMSI, timeout_s=PROCEDURE_TIMEOUT_S)
    assert result.violation == expected
    failures = await core.front.until(lambda: core.mme.context_setup_failures)
    assert failures[0].cause == Cause(CauseGroup.RADIO_NETWORK, "unspecified")
    assert failures[0].mme_ue_s1ap_id == 1000


async def test_a_wrong_mme_ue_s1ap_id_is_answered_with_an_error_indication(through_agent):
    fault, expected = ATTACH_CASES["a wrong MME-UE-S1AP-ID in a Downlink NAS Transport"]
    core = await through_agent(faults=[fault])
    result = await core.enb.attach(IMSI, timeout_s=PROCEDURE_TIMEOUT_S)
    assert result.violation == expected
    indications = await core.front.until(lambda: core.mme.error_indications)
    assert indications[0].mme_ue_s1ap_id == 999
    assert indications[0].cause == Cause(CauseGroup.RADIO_NETWORK, "unknown-pair-ue-s1ap-id")
    assert not core.enb.ue(IMSI).connected  # the eNB released the connection locally


async def test_a_wrong_enb_ue_s1ap_id_is_an_s1ap_violation_and_an_error_indication(
    through_agent,
):
    """No UE of the eNB has that eNB-UE-S1AP-ID: the violation concerns no UE, the eNB
    answers with an Error Indication (TS 36.413 10.6) and the UE waits on."""
    core = await through_agent(faults=[Fault("Security Mode Command", enb_ue_s1ap_id=4242)])
    async with asyncio.TaskGroup() as group:
        attach = group.create_task(core.enb.attach(IMSI, timeout_s=PROCEDURE_TIMEOUT_S))
        indications = await core.front.until(lambda: core.mme.error_indications)
        assert indications[0].enb_ue_s1ap_id == 4242
        assert indications[0].cause == Cause(CauseGroup.RADIO_NETWORK, "unknown-enb-ue-s1ap-id")
        assert [violation.violation for violation in core.enb.violations] == [
            Violation(
                "Downlink NAS Transport",
                "eNB-UE-S1AP-ID",
                "4242 names no S1 connection of this eNB",
            )
        ]
        attach.cancel()  # the UE would wait for T3410


async def test_a_bad_nas_mac_in_the_detach_accept_fails_the_detach(through_agent):
    core = await through_agent(faults=[Fault("Detach Accept", tamper=Tamper(bad_mac=True))])
    await core.attached()
    result = await core.enb.detach(IMSI, timeout_s=PROCEDURE_TIMEOUT_S)
    assert not result.ok and result.procedure == "detach"
    assert (result.violation.message, result.violation.ie) == ("Detach Accept", "NAS-MAC")


async def test_a_wrong_kenb_after_a_service_request_fails_it(through_agent):
    core = await through_agent()
    await core.attached()
    assert (await core.enb.release(IMSI)).ok
    core.mme.faults.append(Fault("Initial Context Setup Request", security_key=bytes(32)))
    result = await core.enb.service_request(IMSI, timeout_s=PROCEDURE_TIMEOUT_S)
    assert not result.ok and result.procedure == "service_request"
    assert result.violation == Violation(
        "Initial Context Setup Request",
        "Security Key",
        "is not the KeNB the UE derived (TS 33.401 A.3)",
    )
