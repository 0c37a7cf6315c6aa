"""The simulated UE's NAS against an in-memory network (`harness.nas_network`) on a scripted
clock: every procedure end to end with real MILENAGE, KDF and NAS security on both sides, then
one test per strict check proving it fires with the right Violation, then the NAS timers at
their exact deadlines.

The subscriber uses the K and OPc of TS 35.208 test set 1.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

import msgspec
import pytest
from harness.nas_network import NasNetwork, Tamper, without_esm_ie, without_ie

from enbsim.events import (
    NetworkDetached,
    ProcedureFailed,
    ProcedureSucceeded,
    ReleaseConnection,
    RrcEstablishmentCause,
    SendUplinkNas,
)
from enbsim.ue import (
    T3410,
    T3411,
    T3417,
    T3420,
    T3421,
    T3430,
    EmmState,
    Ue,
    UeConfig,
    UeSecurityCapabilities,
)
from enbsim.usim import Usim
from epc.codec.nas import encode
from epc.codec.nas_messages import (
    ActivateDefaultEpsBearerContextAccept,
    AttachComplete,
    AttachRequest,
    AuthenticationFailure,
    AuthenticationResponse,
    DetachAccept,
    DetachRequest,
    DetachType,
    EmmCause,
    EmmStatus,
    EpsUpdateType,
    EsmInformationRequest,
    GprsTimer,
    Guti,
    GutiReallocationComplete,
    IdentityResponse,
    IdentityType,
    Imei,
    Imeisv,
    Imsi,
    NasKeySetIdentifier,
    NasSecurityAlgorithms,
    NetworkDetachType,
    PdnConnectivityReject,
    PdnConnectivityRequest,
    PdnType,
    RequestType,
    SecurityModeCommand,
    SecurityModeComplete,
    SecurityModeReject,
    ServiceRequest,
    Tai,
    TrackingAreaUpdateComplete,
    TrackingAreaUpdateRequest,
    UpdateType,
)
from epc.security.algorithms import Direction
from epc.security.kdf import derive_kenb
from epc.subscriber import Subscriber

IMSI = "001010000000001"
K = bytes.fromhex("465b5ce8b199b49faa5f0a2ee238a6bc")
OPC = bytes.fromhex("cd63cb71954a9f4e48a5994e37a02baf")
SUBSCRIBER = Subscriber(imsi=IMSI, k=K, opc=OPC)
HOME_TAI = Tai("00101", 1)
OTHER_TAI = Tai("00101", 2)
REJECTED_UNSPECIFIED = SecurityModeReject(emm_cause=EmmCause.SECURITY_MODE_REJECTED_UNSPECIFIED)
ALGORITHMS = "Selected NAS security algorithms"


class Link:
    """A UE wired to a NasNetwork: each UE command list goes through `run`, which hands every
    SendUplinkNas to the network (verifying it) and keeps the decoded uplink of that step."""

    def __init__(
        self,
        *,
        config: UeConfig | None = None,
        usim: Usim | None = None,
        network_subscriber: Subscriber | None = None,
        **network_options: object,
    ) -> None:
        self.ue = Ue(usim or Usim.from_subscriber(SUBSCRIBER), config)
        self.network = NasNetwork(network_subscriber or SUBSCRIBER, **network_options)
        self.uplink: list[object] = []

    def run(self, commands: Sequence[object]) -> list[object]:
        self.uplink = []
        for command in commands:
            if isinstance(command, SendUplinkNas):
                initial = command.establishment_cause is not None
                self.uplink.append(self.network.receive(command.nas_pdu, initial=initial))
        return list(commands)

    def down(self, pdu: bytes, now: float = 0.0) -> list[object]:
        return self.run(self.ue.receive_nas(pdu, now))


def of_type(commands: Sequence[object], kind: type) -> list:
    return [command for command in commands if isinstance(command, kind)]


def failure(commands: Sequence[object]) -> ProcedureFailed:
    (failed,) = of_type(commands, ProcedureFailed)
    return failed


def assert_violation(
    commands: Sequence[object],
    message: str,
    ie: str | None,
    *,
    procedure: str = "attach",
    says: str = "",
) -> ProcedureFailed:
    failed = failure(commands)
    assert failed.procedure == procedure
    assert failed.violation is not None, failed
    assert (failed.violation.message, failed.violation.ie) == (message, ie), failed.violation
    assert says in failed.violation.reason, failed.violation.reason
    assert failed.reason == str(failed.violation)
    return failed


def started() -> Link:
    link = Link()
    link.run(link.ue.attach(0.0))
    return link


def authenticated() -> Link:
    link = started()
    link.down(link.network.authentication_request())
    return link


def secured() -> Link:
    link = authenticated()
    link.down(link.network.security_mode_command())
    return link


def attached(**options: object) -> Link:
    link = Link(**options)
    link.run(link.ue.attach(0.0))
    link.down(link.network.authentication_request())
    link.down(link.network.security_mode_command())
    commands = link.down(link.network.attach_accept())
    assert commands[-1] == ProcedureSucceeded(IMSI, "attach", 0.0)
    return link


def idle() -> Link:
    link = attached()
    assert link.ue.connection_released(1.0) == []
    return link


# --- procedures end to end ------------------------------------------------------------------


def test_imsi_attach_sends_plain_attach_request_with_pdn_connectivity_on_mo_signalling() -> None:
    link = Link()
    (command,) = link.run(link.ue.attach(0.0))
    assert command.establishment_cause == RrcEstablishmentCause.MO_SIGNALLING
    assert command.s_tmsi is None
    assert command.nas_pdu[0] == 0x07  # security header type 0, EMM
    (request,) = link.uplink
    assert isinstance(request, AttachRequest)
    assert request.identity == Imsi(IMSI)
    assert request.key_set_identifier == NasKeySetIdentifier(7)
    assert request.ue_network_capability.octets == b"\xf0\xf0"  # EEA0-3, EIA0-3
    pdn = request.esm_message
    assert isinstance(pdn, PdnConnectivityRequest)
    assert (pdn.request_type, pdn.pdn_type) == (RequestType.INITIAL_REQUEST, PdnType.IPV4)
    assert pdn.apn == "internet" and not pdn.esm_information_transfer
    assert link.ue.state == EmmState.REGISTERED_INITIATED and link.ue.connected
    assert link.ue.kenb is None and link.ue.deadline() == T3410


def test_timeline_lists_the_attach_messages_and_state_changes_in_order() -> None:
    link = attached()
    assert [(entry.kind, entry.text) for entry in link.ue.timeline] == [
        ("state", "EMM-DEREGISTERED -> EMM-REGISTERED-INITIATED (Attach Request)"),
        ("sent", "Attach Request"),
        ("received", "Authentication Request"),
        ("sent", "Authentication Response"),
        ("received", "Security Mode Command"),
        ("sent", "Security Mode Complete"),
        ("received", "Attach Accept"),
        ("sent", "Attach Complete"),
        ("state", "EMM-REGISTERED-INITIATED -> EMM-REGISTERED (attach done)"),
    ]


def test_attach_without_an_apn_leaves_the_choice_to_the_network() -> None:
    link = Link(config=UeConfig(apn=None))
    link.run(link.ue.attach(0.0))
    assert link.uplink[0].esm_message.apn is None
    link.down(link.network.authentication_request())
    link.down(link.network.security_mode_command())
    link.down(link.network.attach_accept(apn="internet"))
    assert link.ue.default_bearer.apn == "internet"


def test_attach_completes_with_keys_bearer_and_guti_matching_the_network() -> None:
    link = started()
    link.down(link.network.authentication_request())
    assert isinstance(link.uplink[0], AuthenticationResponse)
    link.down(link.network.security_mode_command())
    (complete,) = link.uplink
    assert complete == SecurityModeComplete(imeisv=Imeisv("3534900698733001"))
    assert link.ue.kenb is not None and link.ue.kenb == link.network.kenb
    assert link.ue.kenb == derive_kenb(link.network.context.kasme, 0)
    commands = link.down(link.network.attach_accept(), 0.5)
    (attach_complete,) = link.uplink
    assert attach_complete == AttachComplete(
        esm_message=ActivateDefaultEpsBearerContextAccept(
            bearer_identity=5, procedure_transaction_identity=1
        )
    )
    assert commands[-1] == ProcedureSucceeded(IMSI, "attach", 0.5)
    ue = link.ue
    assert ue.state == EmmState.REGISTERED and ue.registered and ue.deadline() is None
    assert ue.guti == link.network.guti and ue.s_tmsi == (1, link.network.guti.m_tmsi)
    assert ue.pdn_address == ipaddress.IPv4Address("10.45.0.2") and ue.default_bearer_id == 5
    assert ue.default_bearer.dns_servers == tuple(link.network.dns_servers)
    assert ue.tai_list == (HOME_TAI,) and ue.t3412_seconds == 54 * 60
    assert ue.security_context.uplink_count == link.network.context.uplink_count == 2


@pytest.mark.parametrize(("ciphering", "integrity"), [(0, 1), (1, 1), (2, 2), (3, 3), (2, 3)])
def test_attach_information_and_detach_work_with_every_algorithm(
    ciphering: int, integrity: int
) -> None:
    link = attached(ciphering=ciphering, integrity=integrity)
    assert link.ue.security_context.ciphering_algorithm == ciphering
    assert link.ue.security_context.integrity_algorithm == integrity
    assert link.down(link.network.emm_information()) == []
    link.run(link.ue.detach(2.0))
    assert link.down(link.network.detach_accept(), 2.1) == [ProcedureSucceeded(IMSI, "detach", 2.1)]


def test_ue_security_capabilities_are_what_it_sent_as_sets_and_s1ap_masks() -> None:
    ue = Ue(
        Usim.from_subscriber(SUBSCRIBER), UeConfig(eea=frozenset({0, 2}), eia=frozenset({1, 2}))
    )
    capabilities = ue.ue_security_capabilities
    assert capabilities == UeSecurityCapabilities(frozenset({0, 2}), frozenset({1, 2}))
    assert (capabilities.encryption_mask, capabilities.integrity_mask) == (0x4000, 0xC000)


def test_normal_detach_is_ciphered_and_ends_with_detach_accept() -> None:
    link = attached()
    (command,) = link.run(link.ue.detach(1.0))
    assert command.establishment_cause is None and command.nas_pdu[0] >> 4 == 2
    (request,) = link.uplink
    assert request == DetachRequest(
        detach_type=DetachType(1, False),
        key_set_identifier=NasKeySetIdentifier(0),
        identity=link.network.guti,
    )
    assert link.ue.state == EmmState.DEREGISTERED_INITIATED and link.ue.deadline() == 1.0 + T3421
    assert link.down(link.network.detach_accept(), 1.2) == [ProcedureSucceeded(IMSI, "detach", 1.2)]
    assert link.ue.state == EmmState.DEREGISTERED and link.ue.pdn_address is None
    assert link.ue.guti == link.network.guti  # kept for the next attach


def test_switch_off_from_idle_opens_a_connection_and_releases_it_without_waiting() -> None:
    link = idle()
    commands = link.run(link.ue.detach(2.0, switch_off=True))
    assert [type(command) for command in commands] == [
        SendUplinkNas,
        ReleaseConnection,
        ProcedureSucceeded,
    ]
    assert commands[0].establishment_cause == RrcEstablishmentCause.MO_SIGNALLING
    assert commands[0].s_tmsi == link.ue.s_tmsi
    assert commands[0].nas_pdu[0] >> 4 == 1  # initial message: integrity protected only
    assert link.uplink[0].detach_type == DetachType(1, True)
    assert not link.ue.connected and link.ue.state == EmmState.DEREGISTERED
    assert link.ue.deadline() is None


def test_switch_off_during_attach_aborts_the_attach_then_detaches() -> None:
    link = secured()
    commands = link.run(link.ue.detach(3.0, switch_off=True))
    assert failure(commands).procedure == "attach"
    assert isinstance(link.uplink[0], DetachRequest)
    assert commands[-2:] == [ReleaseConnection(IMSI), ProcedureSucceeded(IMSI, "detach", 3.0)]


def test_guti_attach_with_stored_context_is_integrity_protected_and_keys_kenb_from_it() -> None:
    link = attached()
    link.run(link.ue.detach(1.0))
    link.down(link.network.detach_accept())
    link.ue.connection_released(1.5)
    (command,) = link.run(link.ue.attach(2.0, identity="guti"))
    assert command.nas_pdu[0] >> 4 == 1 and command.s_tmsi == link.ue.s_tmsi
    (request,) = link.uplink
    assert request.identity == link.network.guti and request.key_set_identifier.value == 0
    assert request.last_visited_tai == HOME_TAI
    assert link.ue.kenb == link.network.kenb is not None
    commands = link.down(link.network.attach_accept(new_guti=False), 2.5)
    assert commands[-1] == ProcedureSucceeded(IMSI, "attach", 2.5)
    assert link.uplink[0].esm_message.procedure_transaction_identity == 2


def test_guti_attach_without_a_guti_is_refused() -> None:
    link = Link()
    (failed,) = link.ue.attach(0.0, identity="guti")
    assert failed.procedure == "attach" and "no GUTI" in failed.reason
    assert link.ue.state == EmmState.DEREGISTERED and not link.ue.connected


def test_service_request_from_idle_carries_short_mac_and_succeeds_when_bearers_are_up() -> None:
    link = idle()
    (command,) = link.run(link.ue.service_request(2.0))
    assert command.establishment_cause == RrcEstablishmentCause.MO_DATA
    assert command.s_tmsi == link.ue.s_tmsi and len(command.nas_pdu) == 4
    assert isinstance(link.uplink[0], ServiceRequest)
    assert link.ue.kenb == link.network.kenb is not None
    assert link.ue.state == EmmState.SERVICE_REQUEST_INITIATED
    assert link.ue.deadline() == 2.0 + T3417
    done = link.ue.radio_bearers_established(2.1)
    assert done == [ProcedureSucceeded(IMSI, "service_request", 2.1)]
    assert link.ue.state == EmmState.REGISTERED and link.ue.deadline() is None
    assert link.down(link.network.emm_information(), 2.2) == []


def test_paging_is_answered_with_service_request_cause_mt_access() -> None:
    link = idle()
    (command,) = link.run(link.ue.paged(3.0))
    assert command.establishment_cause == RrcEstablishmentCause.MT_ACCESS
    assert isinstance(link.uplink[0], ServiceRequest)
    assert link.ue.paged(3.1) == []  # connected now: paging is not for it


def test_a_ue_out_of_coverage_records_paging_without_answering() -> None:
    link = idle()
    link.ue.answers_paging = False
    assert link.ue.paged(3.0) == []
    assert not link.ue.connected and link.ue.state == EmmState.REGISTERED
    link.ue.answers_paging = True
    (command,) = link.run(link.ue.paged(4.0))
    assert command.establishment_cause == RrcEstablishmentCause.MT_ACCESS


def test_paging_a_deregistered_ue_is_a_violation() -> None:
    ue = Ue(Usim.from_subscriber(SUBSCRIBER))
    assert_violation(ue.paged(1.0), "Paging", "UE paging identity", procedure="service_request")


def test_periodic_tau_from_idle_is_integrity_protected_only_and_records_t3412() -> None:
    link = idle()
    (command,) = link.run(link.ue.tracking_area_update(2.0, tai=HOME_TAI))
    assert command.establishment_cause == RrcEstablishmentCause.MO_SIGNALLING
    assert command.nas_pdu[0] >> 4 == 1
    (request,) = link.uplink
    assert isinstance(request, TrackingAreaUpdateRequest)
    assert request.update_type == UpdateType(EpsUpdateType.PERIODIC_UPDATING, False)
    assert request.old_guti == link.ue.guti and request.last_visited_tai == HOME_TAI
    assert request.eps_bearer_context_status == frozenset({5})
    assert link.ue.kenb == link.network.kenb is not None
    accept = link.network.tracking_area_update_accept(t3412=GprsTimer(GprsTimer.ONE_MINUTE, 30))
    assert link.down(accept, 2.3) == [ProcedureSucceeded(IMSI, "tau", 2.3)]
    assert link.uplink == [] and link.ue.t3412_seconds == 1800


def test_tau_to_a_new_tai_in_connected_mode_takes_the_new_guti_and_completes() -> None:
    link = attached()
    (command,) = link.run(link.ue.tracking_area_update(1.0, tai=OTHER_TAI, active=True))
    assert command.establishment_cause is None
    assert link.uplink[0].update_type == UpdateType(EpsUpdateType.TA_UPDATING, True)
    accept = link.network.tracking_area_update_accept(new_guti=True, tai_list=(OTHER_TAI,))
    commands = link.down(accept, 1.5)
    assert link.uplink == [TrackingAreaUpdateComplete()]
    assert commands[-1] == ProcedureSucceeded(IMSI, "tau", 1.5)
    assert link.ue.guti == link.network.guti and link.ue.tai_list == (OTHER_TAI,)


@pytest.mark.parametrize(
    ("identity_type", "expected"),
    [
        (IdentityType.IMSI, Imsi(IMSI)),
        (IdentityType.IMEI, Imei("353490069873301")),
        (IdentityType.IMEISV, Imeisv("3534900698733001")),
    ],
)
def test_identity_request_is_answered_with_the_asked_identity(
    identity_type: int, expected: object
) -> None:
    link = attached()
    (command,) = link.down(link.network.identity_request(identity_type))
    assert command.nas_pdu[0] >> 4 == 2  # ciphered
    assert link.uplink == [IdentityResponse(identity=expected)]


def test_imei_check_digit_follows_luhn() -> None:
    assert UeConfig(imeisv="4901542032375101").imei == "490154203237518"


def test_plain_identity_request_for_imsi_before_security_is_answered_in_plain() -> None:
    link = started()
    (command,) = link.down(link.network.identity_request(IdentityType.IMSI))
    assert command.nas_pdu[0] == 0x07
    assert link.uplink == [IdentityResponse(identity=Imsi(IMSI))]


def test_identity_request_for_tmsi_is_answered_with_no_identity() -> None:
    link = attached()
    (command,) = link.ue.receive_nas(link.network.identity_request(IdentityType.TMSI), 1.0)
    unprotected = link.network.context.unprotect(command.nas_pdu, Direction.UPLINK)
    assert unprotected.message == bytes.fromhex("075601f0")


def test_guti_reallocation_is_completed_and_changes_the_s_tmsi() -> None:
    link = attached()
    old = link.ue.s_tmsi
    (command,) = link.down(link.network.guti_reallocation_command())
    assert isinstance(command, SendUplinkNas)
    assert link.uplink == [GutiReallocationComplete()]
    assert link.ue.guti == link.network.guti and link.ue.s_tmsi != old


def test_emm_information_is_recorded_without_answer() -> None:
    link = attached()
    assert link.down(link.network.emm_information(short_network_name="Test")) == []
    assert link.ue.network_names == ("Simulated Network", "Test")


def test_network_detach_reattach_required_is_accepted_and_reported() -> None:
    link = attached()
    detach = link.network.network_detach_request(NetworkDetachType.REATTACH_REQUIRED)
    commands = link.down(detach, 4.0)
    assert link.uplink == [DetachAccept()]
    assert commands[-1] == NetworkDetached(IMSI, 4.0, reattach_required=True, emm_cause=None)
    assert link.ue.state == EmmState.DEREGISTERED and link.ue.pdn_address is None


def test_network_detach_with_cause_eps_services_not_allowed_forgets_the_guti() -> None:
    link = attached()
    detach = link.network.network_detach_request(
        NetworkDetachType.REATTACH_NOT_REQUIRED, EmmCause.EPS_SERVICES_NOT_ALLOWED
    )
    commands = link.down(detach, 4.0)
    assert commands[-1] == NetworkDetached(IMSI, 4.0, False, EmmCause.EPS_SERVICES_NOT_ALLOWED)
    assert link.ue.guti is None and link.ue.security_context is None


def test_network_detach_crossing_a_ue_detach_completes_it() -> None:
    link = attached()
    link.run(link.ue.detach(1.0))
    commands = link.down(link.network.network_detach_request(), 1.1)
    assert link.uplink == [DetachAccept()]
    assert ProcedureSucceeded(IMSI, "detach", 1.1) in commands
    assert link.ue.deadline() is None


def test_attach_reject_fails_the_attach_with_its_cause() -> None:
    link = started()
    failed = failure(link.down(link.network.attach_reject(EmmCause.PLMN_NOT_ALLOWED), 0.2))
    assert (failed.procedure, failed.reject_cause, failed.violation) == ("attach", 11, None)
    assert link.ue.state == EmmState.DEREGISTERED and link.ue.deadline() is None


def test_attach_reject_illegal_ue_deletes_guti_and_security_context() -> None:
    link = attached()
    link.run(link.ue.detach(1.0))
    link.down(link.network.detach_accept())
    link.ue.connection_released(1.5)
    link.run(link.ue.attach(2.0, identity="guti"))
    failed = failure(link.down(link.network.attach_reject(EmmCause.ILLEGAL_UE)))
    assert failed.reject_cause == EmmCause.ILLEGAL_UE
    assert link.ue.guti is None and link.ue.security_context is None


def test_tau_reject_identity_not_derivable_deregisters_and_deletes_the_guti() -> None:
    link = idle()
    link.run(link.ue.tracking_area_update(2.0, tai=OTHER_TAI))
    reject = link.network.tracking_area_update_reject(EmmCause.UE_IDENTITY_CANNOT_BE_DERIVED)
    failed = failure(link.down(reject))
    assert (failed.procedure, failed.reject_cause) == ("tau", 9)
    assert link.ue.state == EmmState.DEREGISTERED and link.ue.guti is None


def test_plain_service_reject_implicitly_detached_deregisters() -> None:
    link = idle()
    link.run(link.ue.service_request(2.0))
    reject = link.network.service_reject(EmmCause.IMPLICITLY_DETACHED, tamper=Tamper(plain=True))
    failed = failure(link.down(reject))
    assert (failed.procedure, failed.reject_cause) == ("service_request", 10)
    assert link.ue.state == EmmState.DEREGISTERED and link.ue.deadline() is None


def test_authentication_reject_fails_the_attach_and_forgets_the_registration() -> None:
    link = started()
    failed = failure(link.down(link.network.authentication_reject()))
    assert (failed.procedure, failed.reason) == ("attach", "Authentication Reject")
    assert link.ue.guti is None and link.ue.state == EmmState.DEREGISTERED


def test_emm_status_from_the_network_is_reported_with_its_cause() -> None:
    link = attached()
    failed = failure(link.down(link.network.emm_status(EmmCause.SEMANTICALLY_INCORRECT_MESSAGE)))
    assert (failed.procedure, failed.reject_cause) == ("emm_status", 95)


# --- authentication outcomes (TS 24.301 5.4.2, TS 33.102 6.3) ----------------------------------


def test_stale_network_sqn_is_resynchronised_with_auts_and_the_attach_succeeds() -> None:
    card = Usim.from_subscriber(msgspec.structs.replace(SUBSCRIBER, sqn=100 << 5))
    link = Link(usim=card)  # the network still starts at SQN 0
    link.run(link.ue.attach(0.0))
    commands = link.down(link.network.authentication_request(), 1.0)
    (failure_message,) = link.uplink
    assert isinstance(failure_message, AuthenticationFailure)
    assert failure_message.emm_cause == EmmCause.SYNCH_FAILURE and len(failure_message.auts) == 14
    assert of_type(commands, ProcedureFailed) == []
    assert link.network.resynchronise(failure_message.auts) == 99 << 5 | 31
    link.down(link.network.authentication_request(), 1.1)
    assert isinstance(link.uplink[0], AuthenticationResponse)
    link.down(link.network.security_mode_command(), 1.2)
    assert link.down(link.network.attach_accept(), 1.3)[-1] == ProcedureSucceeded(
        IMSI, "attach", 1.3
    )


def test_third_synch_failure_in_a_row_fails_the_attach() -> None:
    link = Link(usim=Usim.from_subscriber(msgspec.structs.replace(SUBSCRIBER, sqn=1 << 20)))
    link.run(link.ue.attach(0.0))
    for _ in range(2):
        assert of_type(link.down(link.network.authentication_request(sqn=0)), ProcedureFailed) == []
    commands = link.down(link.network.authentication_request(sqn=0))
    assert link.uplink[0].emm_cause == EmmCause.SYNCH_FAILURE
    assert_violation(
        commands,
        "Authentication Request",
        "Authentication parameter AUTN",
        says="third authentication failure",
    )


def test_mac_failure_answers_cause_20_and_fails_the_attach_then_ignores_the_reject() -> None:
    other_keys = msgspec.structs.replace(SUBSCRIBER, k=bytes(16))
    link = Link(network_subscriber=other_keys)
    link.run(link.ue.attach(0.0))
    commands = link.down(link.network.authentication_request())
    assert link.uplink == [AuthenticationFailure(emm_cause=EmmCause.MAC_FAILURE)]
    assert_violation(
        commands, "Authentication Request", "Authentication parameter AUTN", says="MAC-A"
    )
    assert link.down(link.network.authentication_reject(), 0.5) == []
    assert link.ue.timeline[-1].kind == "ignored"


def test_vector_without_separation_bit_answers_cause_26() -> None:
    link = started()
    commands = link.down(link.network.authentication_request(amf=b"\x00\x00"))
    assert link.uplink == [
        AuthenticationFailure(emm_cause=EmmCause.NON_EPS_AUTHENTICATION_UNACCEPTABLE)
    ]
    assert_violation(
        commands, "Authentication Request", "Authentication parameter AUTN", says="AMF"
    )


def test_reauthentication_while_registered_is_answered_under_the_current_context() -> None:
    link = attached()
    (command,) = link.down(link.network.authentication_request(), 2.0)
    assert command.nas_pdu[0] >> 4 == 2 and isinstance(link.uplink[0], AuthenticationResponse)
    link.down(link.network.security_mode_command(), 2.1)
    assert isinstance(link.uplink[0], SecurityModeComplete)
    assert link.ue.security_context.key_set_identifier == 1
    assert link.ue.kenb == link.network.kenb


# --- strict checks: security ---------------------------------------------------------------


def test_security_mode_command_with_bad_mac_is_rejected_and_fails_the_attach() -> None:
    link = authenticated()
    commands = link.down(link.network.security_mode_command(tamper=Tamper(bad_mac=True)))
    assert link.uplink == [REJECTED_UNSPECIFIED]
    assert_violation(commands, "Security Mode Command", "NAS-MAC", says="does not verify")
    assert link.ue.security_context is None and link.ue.kenb is None


def test_downlink_with_bad_mac_is_discarded_and_reported() -> None:
    link = attached()
    commands = link.down(link.network.emm_information(tamper=Tamper(bad_mac=True)))
    assert link.uplink == []
    assert_violation(commands, "EMM Information", "NAS-MAC", procedure="emm_information")
    assert link.ue.state == EmmState.REGISTERED and link.ue.network_names == (None, None)


def test_replayed_downlink_message_is_a_sequence_number_violation() -> None:
    link = attached()
    link.down(link.network.emm_information())
    commands = link.down(link.network.replay())
    assert_violation(
        commands, "EMM Information", "Sequence number", procedure="emm_information", says="replayed"
    )


def test_downlink_reusing_an_old_count_fails_its_mac_as_a_wrapped_count() -> None:
    link = attached()
    link.down(link.network.emm_information())
    commands = link.down(link.network.guti_reallocation_command(tamper=Tamper(count=0)))
    assert_violation(
        commands,
        "GUTI Reallocation Command",
        "NAS-MAC",
        procedure="guti_reallocation",
        says="went down from 2",
    )


def test_security_mode_command_for_a_new_kasme_not_at_count_zero_is_rejected() -> None:
    link = authenticated()
    commands = link.down(link.network.security_mode_command(tamper=Tamper(count=3)))
    assert link.uplink == [REJECTED_UNSPECIFIED]
    assert_violation(commands, "Security Mode Command", "Sequence number", says="NAS COUNT 3")


def test_plain_message_after_security_is_established_is_a_violation() -> None:
    link = attached()
    commands = link.down(link.network.emm_information(tamper=Tamper(plain=True)))
    assert_violation(
        commands,
        "EMM Information",
        "Security header type",
        procedure="emm_information",
        says="after secure exchange",
    )


def test_unciphered_message_after_security_mode_control_is_a_violation() -> None:
    link = attached()
    commands = link.down(link.network.emm_information(tamper=Tamper(header_type=1)))
    assert_violation(
        commands,
        "EMM Information",
        "Security header type",
        procedure="emm_information",
        says="not ciphered",
    )


def test_security_mode_command_with_another_header_type_is_a_violation() -> None:
    link = attached()
    command = SecurityModeCommand(
        selected_algorithms=NasSecurityAlgorithms(2, 2),
        key_set_identifier=NasKeySetIdentifier(0),
        replayed_security_capabilities=b"\xf0\xf0",
    )
    commands = link.down(link.network.protect(encode(command), header_type=2))
    assert_violation(
        commands,
        "Security Mode Command",
        "Security header type",
        procedure="security_mode_control",
        says="uses 3",
    )


def test_identity_request_for_imei_without_protection_is_a_violation() -> None:
    link = started()
    commands = link.down(link.network.identity_request(IdentityType.IMEI))
    assert link.uplink == []
    assert_violation(commands, "Identity Request", "Security header type", says="4.4.4.2")


def test_plain_service_reject_with_cause_25_is_a_violation() -> None:
    link = idle()
    link.run(link.ue.service_request(2.0))
    reject = link.network.service_reject(25, tamper=Tamper(plain=True))
    assert_violation(
        link.down(reject), "Service Reject", "Security header type", procedure="service_request"
    )


# --- strict checks: order -------------------------------------------------------------------


def test_security_mode_command_before_authentication_is_rejected() -> None:
    link = started()
    commands = link.down(link.network.security_mode_command())
    assert link.uplink == [REJECTED_UNSPECIFIED]
    assert_violation(
        commands, "Security Mode Command", "NAS key set identifier", says="no authentication"
    )


def test_attach_accept_before_security_mode_command_is_a_violation() -> None:
    link = authenticated()
    commands = link.down(link.network.attach_accept())
    assert link.uplink == []
    assert_violation(commands, "Attach Accept", "Security header type", says="plain")


def test_protected_attach_accept_before_the_ue_took_a_context_into_use_is_a_violation() -> None:
    link = authenticated()
    link.network.security_mode_command()  # the network moves on; the UE never sees it
    commands = link.down(link.network.attach_accept())
    assert_violation(
        commands, "Attach Accept", "Security header type", says="no EPS security context"
    )


def test_tau_accept_without_a_tau_is_unexpected_and_answered_with_emm_status_98() -> None:
    link = attached()
    commands = link.down(link.network.tracking_area_update_accept())
    assert link.uplink == [EmmStatus(emm_cause=EmmCause.MESSAGE_TYPE_NOT_COMPATIBLE_WITH_STATE)]
    assert_violation(
        commands, "Tracking Area Update Accept", None, procedure="nas", says="EMM-REGISTERED"
    )


def test_guti_reallocation_before_attach_complete_is_unexpected() -> None:
    link = secured()
    commands = link.down(link.network.guti_reallocation_command())
    assert_violation(commands, "GUTI Reallocation Command", None, says="EMM-REGISTERED-INITIATED")


def test_esm_information_request_without_the_transfer_flag_is_a_violation() -> None:
    link = secured()
    request = EsmInformationRequest(procedure_transaction_identity=1)
    commands = link.down(link.network.protect(encode(request)))
    assert_violation(commands, "ESM Information Request", None, says="transfer flag")


# --- strict checks: mandatory IEs and values ----------------------------------------------------


def test_authentication_request_missing_autn_is_answered_with_emm_status_96() -> None:
    link = started()
    request = link.network.authentication_request(tamper=Tamper(edit=without_ie("autn")))
    commands = link.down(request)
    assert link.uplink == [EmmStatus(emm_cause=EmmCause.INVALID_MANDATORY_INFORMATION)]
    assert_violation(commands, "Authentication Request", "Authentication parameter AUTN")


def test_service_reject_without_its_cause_is_a_violation() -> None:
    link = idle()
    link.run(link.ue.service_request(2.0))
    reject = link.network.service_reject(
        9, tamper=Tamper(plain=True, edit=lambda octets: octets[:2])
    )
    commands = link.down(reject)
    assert_violation(commands, "Service Reject", "EMM cause", procedure="service_request")


def test_attach_accept_missing_esm_container_is_a_violation() -> None:
    link = secured()
    accept = link.network.attach_accept(tamper=Tamper(edit=without_ie("esm_message")))
    commands = link.down(accept)
    assert link.uplink == [EmmStatus(emm_cause=EmmCause.INVALID_MANDATORY_INFORMATION)]
    assert_violation(commands, "Attach Accept", "ESM message container")


def test_default_bearer_request_missing_pdn_address_is_a_violation() -> None:
    link = secured()
    accept = link.network.attach_accept(tamper=Tamper(edit=without_esm_ie("pdn_address")))
    assert_violation(
        link.down(accept), "Activate Default EPS Bearer Context Request", "PDN address"
    )


@pytest.mark.parametrize(
    ("overrides", "message", "ie", "says"),
    [
        ({"tai_list": (OTHER_TAI,)}, "Attach Accept", "TAI list", "00101/1"),
        ({"new_guti": False}, "Attach Accept", "GUTI", "IMSI"),
        ({"guti": Guti("00102", 1, 1, 7)}, "Attach Accept", "GUTI", "PLMN 00102"),
        ({"attach_result": 2}, "Attach Accept", "EPS attach result", "EPS-only"),
        (
            {"esm_message": PdnConnectivityReject(esm_cause=27)},
            "Attach Accept",
            "ESM message container",
            "PDN Connectivity Reject",
        ),
        ({"qci": 1}, "Activate Default EPS Bearer Context Request", "EPS QoS", "QCI 1"),
        (
            {"procedure_transaction_identity": 9},
            "Activate Default EPS Bearer Context Request",
            "Procedure transaction identity",
            "9",
        ),
        (
            {"bearer_identity": 3},
            "Activate Default EPS Bearer Context Request",
            "EPS bearer identity",
            "3",
        ),
        (
            {"apn": "ims"},
            "Activate Default EPS Bearer Context Request",
            "Access point name",
            "'ims'",
        ),
        (
            {"ipv4": "0.0.0.0"},
            "Activate Default EPS Bearer Context Request",
            "PDN address",
            "0.0.0.0",
        ),
    ],
)
def test_wrong_attach_accept_content_names_message_and_ie(
    overrides: dict, message: str, ie: str, says: str
) -> None:
    link = secured()
    commands = link.down(link.network.attach_accept(**overrides))
    assert link.uplink == []
    assert_violation(commands, message, ie, says=says)
    assert link.ue.state == EmmState.DEREGISTERED and link.ue.pdn_address is None


def test_authentication_request_with_ksi_no_key_is_a_violation() -> None:
    link = started()
    commands = link.down(link.network.authentication_request(ksi=7))
    assert_violation(commands, "Authentication Request", "NAS key set identifier", says="7")


def test_authentication_request_with_short_autn_is_a_violation() -> None:
    link = started()
    commands = link.down(link.network.authentication_request(autn=bytes(15)))
    assert_violation(commands, "Authentication Request", "Authentication parameter AUTN")


def test_security_mode_command_with_wrong_replayed_capabilities_is_rejected_with_23() -> None:
    link = authenticated()
    commands = link.down(link.network.security_mode_command(replayed_capabilities=b"\xf0\x70"))
    assert link.uplink == [SecurityModeReject(emm_cause=EmmCause.UE_SECURITY_CAPABILITIES_MISMATCH)]
    assert_violation(commands, "Security Mode Command", "Replayed UE security capabilities")


def test_security_mode_command_selecting_an_unoffered_algorithm_is_rejected() -> None:
    link = Link(config=UeConfig(eea=frozenset({0, 2})))
    link.run(link.ue.attach(0.0))
    link.down(link.network.authentication_request())
    commands = link.down(link.network.security_mode_command(ciphering=1))
    assert_violation(commands, "Security Mode Command", ALGORITHMS, says="EEA1")


def test_security_mode_command_selecting_eia0_is_rejected() -> None:
    link = authenticated()
    commands = link.down(link.network.security_mode_command(integrity=0))
    assert_violation(commands, "Security Mode Command", ALGORITHMS, says="EIA0")


def test_security_mode_command_naming_another_ksi_is_rejected() -> None:
    link = authenticated()
    commands = link.down(link.network.security_mode_command(ksi=5))
    assert_violation(commands, "Security Mode Command", "NAS key set identifier", says="KSI 5")


def test_identity_request_with_reserved_type_is_a_violation() -> None:
    link = attached()
    commands = link.down(link.network.identity_request(5))
    assert_violation(commands, "Identity Request", "Identity type", procedure="identity")


def test_network_imsi_detach_of_an_eps_only_ue_is_a_violation() -> None:
    link = attached()
    commands = link.down(link.network.network_detach_request(NetworkDetachType.IMSI_DETACH))
    assert_violation(commands, "Detach Request", "Detach type", procedure="network_detach")


def test_tau_accept_with_combined_result_is_a_violation() -> None:
    link = attached()
    link.run(link.ue.tracking_area_update(1.0, tai=HOME_TAI))
    commands = link.down(link.network.tracking_area_update_accept(update_result=1))
    assert_violation(commands, "Tracking Area Update Accept", "EPS update result", procedure="tau")


def test_guti_reallocation_with_tai_list_lacking_the_current_tai_is_a_violation() -> None:
    link = attached()
    command = link.network.guti_reallocation_command(tai_list=(OTHER_TAI,))
    assert_violation(
        link.down(command), "GUTI Reallocation Command", "TAI list", procedure="guti_reallocation"
    )


def test_late_copies_of_a_failed_procedure_are_recorded_not_judged() -> None:
    link = secured()
    failure(link.down(link.network.attach_accept(tai_list=(OTHER_TAI,))))
    assert link.down(link.network.attach_accept(), 6.0) == []
    assert link.ue.timeline[-1].kind == "ignored"
    other = link.down(link.network.emm_information(), 6.1)
    assert_violation(other, "EMM Information", None, procedure="emm_information", says="DEREG")


# --- timers ---------------------------------------------------------------------------------


def test_t3410_expiry_releases_and_retries_after_t3411_five_attempts_in_all() -> None:
    link = Link()
    link.run(link.ue.attach(0.0))
    attempt_at = 0.0
    for attempt in range(1, 6):
        expiry = attempt_at + T3410
        assert link.ue.deadline() == expiry
        assert link.ue.handle_timer(expiry - 0.001) == []
        commands = link.run(link.ue.handle_timer(expiry))
        if attempt == 5:
            break
        assert commands == [ReleaseConnection(IMSI)] and not link.ue.connected
        attempt_at = expiry + T3411
        assert link.ue.deadline() == attempt_at and link.ue.procedure == "attach"
        (retry,) = link.run(link.ue.handle_timer(attempt_at))
        assert retry.establishment_cause == RrcEstablishmentCause.MO_SIGNALLING
        assert link.uplink[0].esm_message.procedure_transaction_identity == attempt + 1
    assert commands[0] == ReleaseConnection(IMSI)
    failed = failure(commands)
    assert (failed.procedure, failed.at) == ("attach", 4 * (T3410 + T3411) + T3410)
    assert "5 attempts" in failed.reason
    assert link.ue.deadline() is None and link.ue.state == EmmState.DEREGISTERED


def test_t3421_retransmits_detach_four_times_with_new_counts_then_aborts() -> None:
    link = attached()
    (first,) = link.run(link.ue.detach(10.0))
    pdus = {first.nas_pdu}
    for transmission in range(1, 5):
        at = 10.0 + transmission * T3421
        assert link.ue.deadline() == at
        (again,) = link.run(link.ue.handle_timer(at))
        assert isinstance(link.uplink[0], DetachRequest) and again.establishment_cause is None
        pdus.add(again.nas_pdu)
    assert len(pdus) == 5
    commands = link.ue.handle_timer(10.0 + 5 * T3421)
    assert commands[0] == ReleaseConnection(IMSI)
    assert "T3421 expired 5 times" in failure(commands).reason
    assert link.ue.state == EmmState.DEREGISTERED and link.ue.deadline() is None


def test_t3417_expiry_aborts_the_service_request_with_a_local_release() -> None:
    link = idle()
    link.run(link.ue.service_request(10.0))
    assert link.ue.deadline() == 10.0 + T3417
    commands = link.ue.handle_timer(10.0 + T3417)
    assert commands[0] == ReleaseConnection(IMSI)
    failed = failure(commands)
    assert (failed.procedure, failed.at) == ("service_request", 10.0 + T3417)
    assert link.ue.state == EmmState.REGISTERED and not link.ue.connected


def test_t3430_expiry_releases_and_retries_the_tau_after_t3411() -> None:
    link = idle()
    link.run(link.ue.tracking_area_update(10.0, tai=OTHER_TAI))
    assert link.ue.deadline() == 10.0 + T3430
    assert link.ue.handle_timer(10.0 + T3430) == [ReleaseConnection(IMSI)]
    assert link.ue.deadline() == 10.0 + T3430 + T3411
    (retry,) = link.run(link.ue.handle_timer(10.0 + T3430 + T3411))
    assert retry.establishment_cause == RrcEstablishmentCause.MO_SIGNALLING
    assert link.uplink[0].update_type.value == EpsUpdateType.TA_UPDATING
    assert link.ue.deadline() == 10.0 + 2 * T3430 + T3411


def test_t3420_expiry_after_a_synch_failure_fails_the_authentication() -> None:
    link = attached()
    link.down(link.network.authentication_request(sqn=0), 20.0)
    assert link.uplink[0].emm_cause == EmmCause.SYNCH_FAILURE
    assert link.ue.deadline() == 20.0 + T3420
    commands = link.ue.handle_timer(20.0 + T3420)
    assert commands[0] == ReleaseConnection(IMSI)
    assert_violation(commands, "Authentication Request", None, procedure="authentication")


def test_release_while_waiting_fails_the_procedure() -> None:
    link = idle()
    link.run(link.ue.service_request(2.0))
    failed = failure(link.ue.connection_released(2.5))
    assert failed.procedure == "service_request" and "released" in failed.reason
    assert link.ue.deadline() is None and link.ue.state == EmmState.REGISTERED


# --- inputs the state does not allow -----------------------------------------------------------


def test_procedures_the_state_does_not_allow_fail_at_once() -> None:
    ue = Ue(Usim.from_subscriber(SUBSCRIBER))
    assert "EMM-DEREGISTERED" in failure(ue.service_request(0.0)).reason
    assert "EMM-DEREGISTERED" in failure(ue.detach(0.0)).reason
    assert "EMM-DEREGISTERED" in failure(ue.tracking_area_update(0.0, tai=HOME_TAI)).reason
    ue.attach(0.0)
    assert "busy with attach" in failure(ue.attach(0.1)).reason


def test_bad_config_is_refused() -> None:
    for bad in (
        {"plmn": "0010"},
        {"eia": frozenset({0})},
        {"eea": frozenset({4})},
        {"imeisv": "123"},
        {"pdn_type": PdnType.IPV6},
    ):
        with pytest.raises(ValueError):
            UeConfig(**bad)
