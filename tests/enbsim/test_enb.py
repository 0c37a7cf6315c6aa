"""The eNB's S1AP core on a scripted clock, with a small fake UE: what it sends (decoded back
with the S1AP codec), what it tells the UE, and every strict check firing on a wrong
downlink message."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest

from enbsim.enb import Enb, EnbConfig, EnbError, algorithm_sets, nas_message_name
from enbsim.events import (
    BearerEstablished,
    BearerModified,
    BearerReleased,
    ConnectionsReset,
    MessageLogged,
    ProcedureFailed,
    ProcedureSucceeded,
    ReleaseConnection,
    RrcEstablishmentCause,
    S1apViolationDetected,
    S1SetupCompleted,
    S1SetupFailed,
    SendS1ap,
    SendUplinkNas,
    Violation,
)
from epc.codec import s1ap
from epc.codec.nas_messages import UeNetworkCapability
from epc.codec.s1ap_constants import IE_SECURITY_KEY
from epc.codec.s1ap_frame import read_frame, write_frame
from epc.codec.s1ap_messages import (
    AggregateMaximumBitrate,
    Cause,
    CauseGroup,
    DownlinkNasTransport,
    Ecgi,
    ERabCause,
    ERabModifyRequest,
    ERabModifyResponse,
    ERabQos,
    ERabReleaseCommand,
    ERabReleaseResponse,
    ERabSetupRequest,
    ERabSetupResponse,
    ERabToModify,
    ERabToSetup,
    ERabTunnel,
    ErrorIndication,
    GlobalEnbId,
    GtpTunnel,
    InitialContextSetupFailure,
    InitialContextSetupRequest,
    InitialContextSetupResponse,
    InitialUeMessage,
    Paging,
    PlmnIdentity,
    Reset,
    ResetAcknowledge,
    S1SetupFailure,
    S1SetupRequest,
    S1SetupResponse,
    ServedGummei,
    STmsi,
    SupportedTa,
    Tai,
    UeAssociatedConnection,
    UeContextModificationFailure,
    UeContextModificationRequest,
    UeContextModificationResponse,
    UeContextReleaseCommand,
    UeContextReleaseComplete,
    UeContextReleaseRequest,
    UeSecurityCapabilities,
    UplinkNasTransport,
)

PLMN = PlmnIdentity("001", "01")
CONFIG = EnbConfig("enb-test", PLMN, 0x19B, tacs=(1, 2), cell=1, s1u_address="10.1.0.1")
IMSI = "001010000000001"
KENB = bytes(range(32))
ATTACH_REQUEST = b"\x07\x41\x71"
ATTACH_ACCEPT = b"\x27\x01\x02\x03\x04\x05\x07\x42"
ATTACH_COMPLETE = b"\x27\x0a\x0b\x0c\x0d\x01\x07\x43"
SERVICE_REQUEST = b"\xc7\x01\x02\x03"
SGW = "10.2.0.1"
# EEA0-3 and EIA1-3, as the NAS UE network capability says and as S1AP says it.
UE_CAPABILITY = UeNetworkCapability(bytes([0xF0, 0x70]))
S1AP_CAPABILITY = UeSecurityCapabilities(0xE000, 0xE000)
QOS = ERabQos(9, 15)
GUMMEIS = (ServedGummei((PLMN,), (2,), (1,)),)
AMBR = AggregateMaximumBitrate(100_000_000, 50_000_000)


@dataclass
class FakeUe:
    """Records what the eNB tells it; answers NAS PDUs from `answers`, paging with a
    Service Request, a timer with a failure."""

    imsi: str = IMSI
    kenb: bytes | None = KENB
    s_tmsi: tuple[int, int] | None = (1, 0xC0FFEE)
    ue_security_capabilities: Any = UE_CAPABILITY
    connected: bool = False
    procedure: str | None = "attach"
    answers: dict[bytes, list] = field(default_factory=dict)
    received: list = field(default_factory=list)
    timer_at: float | None = None

    def receive_nas(self, pdu: bytes, now: float) -> list:
        self.received.append(("nas", pdu))
        return self.answers.get(pdu, [])

    def connection_released(self, now: float) -> list:
        self.connected = False
        self.received.append(("released",))
        return []

    def radio_bearers_established(self, now: float) -> list:
        self.received.append(("bearers up",))
        return []

    def paged(self, now: float) -> list:
        self.received.append(("paged",))
        cause = RrcEstablishmentCause.MT_ACCESS
        return [SendUplinkNas(self.imsi, SERVICE_REQUEST, cause, self.s_tmsi)]

    def deadline(self) -> float | None:
        return self.timer_at

    def handle_timer(self, now: float) -> list:
        self.timer_at = None
        return [ProcedureFailed(self.imsi, "attach", now, "T3410 expired")]


# --- helpers ------------------------------------------------------------------------------


def sent(output: list) -> list[tuple[Any, int]]:
    """The S1AP messages the eNB sent, decoded, with their streams."""
    return [(s1ap.decode(item.pdu), item.stream) for item in output if isinstance(item, SendS1ap)]


def only_sent(output: list) -> Any:
    messages = sent(output)
    assert len(messages) == 1, messages
    return messages[0][0]


def of_type(output: list, kind: type) -> list:
    return [item for item in output if isinstance(item, kind)]


def failure(output: list) -> ProcedureFailed:
    failures = of_type(output, ProcedureFailed)
    assert len(failures) == 1, output
    return failures[0]


def set_up_enb(**options: Any) -> Enb:
    enb = Enb(CONFIG, **options)
    enb.start(0.0)
    enb.receive_s1ap(s1ap.encode(S1SetupResponse(GUMMEIS, 255, "mme")), 0, 0.0)
    return enb


def connect(enb: Enb, ue: FakeUe, mme_id: int = 500, now: float = 1.0) -> tuple[int, int]:
    """Initial UE Message, then a Downlink NAS Transport: (eNB-UE-S1AP-ID, stream)."""
    enb.add_ue(ue)
    command = SendUplinkNas(ue.imsi, ATTACH_REQUEST, RrcEstablishmentCause.MO_SIGNALLING)
    [(initial, stream)] = sent(enb.from_ue([command], now))
    downlink = DownlinkNasTransport(mme_id, initial.enb_ue_s1ap_id, b"\x07\x52")
    enb.receive_s1ap(s1ap.encode(downlink), stream, now)
    return initial.enb_ue_s1ap_id, stream


def context_setup(
    enb_id: int, mme_id: int = 500, *, key: bytes = KENB, **changes: Any
) -> InitialContextSetupRequest:
    values = {
        "e_rabs": (ERabToSetup(5, QOS, SGW, 0x1234, ATTACH_ACCEPT),),
        "ue_security_capabilities": S1AP_CAPABILITY,
        **changes,
    }
    return InitialContextSetupRequest(mme_id, enb_id, AMBR, security_key=key, **values)


def attached(enb: Enb, ue: FakeUe, mme_id: int = 500) -> tuple[int, int, int]:
    """Connected with the default bearer up: (eNB-UE-S1AP-ID, stream, eNB TEID)."""
    enb_id, stream = connect(enb, ue, mme_id)
    output = enb.receive_s1ap(s1ap.encode(context_setup(enb_id, mme_id)), stream, 2.0)
    [bearer] = of_type(output, BearerEstablished)
    return enb_id, stream, bearer.enb_teid


# --- configuration and S1 setup ------------------------------------------------------------


def test_start_sends_the_s1_setup_request_on_stream_0_and_the_response_completes_it():
    enb = Enb(CONFIG)
    [(request, stream)] = sent(enb.start(0.0))
    assert stream == 0
    assert request == S1SetupRequest(
        GlobalEnbId(PLMN, 0x19B),
        (SupportedTa(1, (PLMN,)), SupportedTa(2, (PLMN,))),
        128,
        "enb-test",
    )
    gummeis = (ServedGummei((PLMN,), (2,), (1,)),)
    output = enb.receive_s1ap(s1ap.encode(S1SetupResponse(gummeis, 255, "mme-a")), 0, 0.5)
    assert of_type(output, S1SetupCompleted) == [S1SetupCompleted("mme-a", gummeis, 255, 0.5)]
    assert enb.s1_setup == S1SetupCompleted("mme-a", gummeis, 255, 0.5)


def test_an_s1_setup_failure_with_time_to_wait_retries_exactly_after_it():
    enb = Enb(CONFIG)
    enb.start(0.0)
    refusal = S1SetupFailure(Cause(CauseGroup.MISC, "control-processing-overload"), 5)
    output = enb.receive_s1ap(s1ap.encode(refusal), 0, 1.0)
    assert of_type(output, S1SetupFailed) == [S1SetupFailed(refusal.cause, 5, 6.0, 1.0)]
    assert enb.deadline() == 6.0
    assert enb.handle_timer(5.9) == []
    [(again, stream)] = sent(enb.handle_timer(6.0))
    assert isinstance(again, S1SetupRequest) and stream == 0
    assert enb.deadline() is None


def test_an_s1_setup_failure_without_time_to_wait_is_final():
    enb = Enb(CONFIG)
    enb.start(0.0)
    refusal = S1SetupFailure(Cause(CauseGroup.MISC, "unknown-PLMN"))
    output = enb.receive_s1ap(s1ap.encode(refusal), 0, 1.0)
    assert of_type(output, S1SetupFailed)[0].retry_at is None
    assert enb.deadline() is None


def test_an_s1_setup_response_nobody_asked_for_is_an_enb_level_violation():
    enb = set_up_enb()
    output = enb.receive_s1ap(s1ap.encode(S1SetupResponse(GUMMEIS, 255, "again")), 0, 3.0)
    [detected] = of_type(output, S1apViolationDetected)
    assert detected.violation.message == "S1 Setup Response"


@pytest.mark.parametrize(
    ("changes", "key"),
    [
        ({"enb_id": 1 << 20}, "enb_id"),
        ({"tacs": ()}, "tacs"),
        ({"tacs": (1, 1)}, "tacs"),
        ({"tacs": (0x10000,)}, "tacs"),
        ({"cell": 255, "tacs": (1, 2)}, "cell"),
        ({"default_paging_drx": 100}, "default_paging_drx"),
        ({"s1u_address": "::1"}, "s1u_address"),
        ({"name": ""}, "name"),
    ],
)
def test_a_bad_configuration_names_the_field(changes, key):
    values = {"name": "enb", "plmn": PLMN, "enb_id": 1, **changes}
    with pytest.raises(ValueError, match=f"^{key}:"):
        EnbConfig(**values)


def test_the_ecgi_puts_the_enb_id_above_the_cell_number():
    assert CONFIG.ecgi(1) == Ecgi(PLMN, 0x19B << 8 | 1)
    assert CONFIG.ecgi(2) == Ecgi(PLMN, 0x19B << 8 | 2)


# --- NAS transport -------------------------------------------------------------------------


def test_an_initial_ue_message_carries_the_tai_ecgi_cause_and_s_tmsi_on_a_ue_stream():
    enb = set_up_enb()
    ue = FakeUe()
    enb.add_ue(ue)
    command = SendUplinkNas(IMSI, ATTACH_REQUEST, RrcEstablishmentCause.MO_SIGNALLING, (1, 7))
    [(message, stream)] = sent(enb.from_ue([command], 1.0))
    assert message == InitialUeMessage(
        message.enb_ue_s1ap_id,
        ATTACH_REQUEST,
        Tai(PLMN, 1),
        Ecgi(PLMN, 0x19B01),
        "mo-Signalling",
        STmsi(1, 7),
    )
    assert 0 < stream < 30


def test_the_first_downlink_sets_the_mme_id_and_uplinks_carry_both_ids_on_the_same_stream():
    enb = set_up_enb()
    reply = SendUplinkNas(IMSI, b"\x07\x53")
    ue = FakeUe(answers={b"\x07\x52": [reply]})
    enb.add_ue(ue)
    command = SendUplinkNas(IMSI, ATTACH_REQUEST, RrcEstablishmentCause.MO_SIGNALLING)
    [(initial, stream)] = sent(enb.from_ue([command], 1.0))
    downlink = DownlinkNasTransport(777, initial.enb_ue_s1ap_id, b"\x07\x52")
    output = enb.receive_s1ap(s1ap.encode(downlink), stream, 1.5)
    assert ue.received == [("nas", b"\x07\x52")]
    assert sent(output) == [
        (
            UplinkNasTransport(
                777, initial.enb_ue_s1ap_id, b"\x07\x53", Ecgi(PLMN, 0x19B01), Tai(PLMN, 1)
            ),
            stream,
        )
    ]


def test_ue_connections_spread_over_the_streams_of_the_association_never_on_stream_0():
    enb = Enb(CONFIG)
    enb.start(0.0, outbound_streams=4)
    streams = []
    for index in range(6):
        imsi = f"00101000000001{index}"
        enb.add_ue(FakeUe(imsi=imsi))
        command = SendUplinkNas(imsi, ATTACH_REQUEST, RrcEstablishmentCause.MO_SIGNALLING)
        streams += [stream for _, stream in sent(enb.from_ue([command], 1.0))]
    assert set(streams) == {1, 2, 3}

    single = Enb(CONFIG)
    single.start(0.0, outbound_streams=1)
    single.add_ue(FakeUe())
    command = SendUplinkNas(IMSI, ATTACH_REQUEST, RrcEstablishmentCause.MO_SIGNALLING)
    assert [stream for _, stream in sent(single.from_ue([command], 1.0))] == [0]


def test_a_ue_moved_to_another_cell_reports_that_cells_tai():
    enb = set_up_enb()
    enb.add_ue(FakeUe())
    enb.camp(IMSI, 2)
    command = SendUplinkNas(IMSI, b"\x07\x48", RrcEstablishmentCause.MO_SIGNALLING)
    message = only_sent(enb.from_ue([command], 1.0))
    assert (message.tai, message.ecgi) == (Tai(PLMN, 2), Ecgi(PLMN, 0x19B02))
    with pytest.raises(EnbError, match="no cell in TA 9"):
        enb.camp(IMSI, 9)


def test_uplink_nas_without_a_connection_fails_the_ues_procedure():
    enb = set_up_enb()
    enb.add_ue(FakeUe())
    output = enb.from_ue([SendUplinkNas(IMSI, b"\x07\x43")], 1.0)
    assert sent(output) == []
    assert "no S1 connection" in failure(output).reason


def test_other_ue_commands_pass_through_in_order():
    enb = set_up_enb()
    enb.add_ue(FakeUe())
    done = ProcedureSucceeded(IMSI, "detach", 1.0)
    assert enb.from_ue([done], 1.0) == [done]


def test_a_second_ue_with_the_same_imsi_is_refused():
    enb = set_up_enb()
    enb.add_ue(FakeUe())
    with pytest.raises(EnbError, match=IMSI):
        enb.add_ue(FakeUe())
    with pytest.raises(EnbError, match="no UE 001019"):
        enb.ue("001019999999999")


# --- Initial Context Setup ------------------------------------------------------------------


def test_initial_context_setup_answers_with_fresh_teids_then_hands_the_ue_the_nas_inside():
    enb = set_up_enb()
    ue = FakeUe(answers={ATTACH_ACCEPT: [SendUplinkNas(IMSI, ATTACH_COMPLETE)]})
    enb_id, stream = connect(enb, ue)
    two_bearers = (
        ERabToSetup(5, QOS, SGW, 0x1234, ATTACH_ACCEPT),
        ERabToSetup(6, QOS, SGW, 0x1235),
    )
    output = enb.receive_s1ap(s1ap.encode(context_setup(enb_id, e_rabs=two_bearers)), stream, 2.0)
    established = of_type(output, BearerEstablished)
    teids = [bearer.enb_teid for bearer in established]
    assert established == [
        BearerEstablished(IMSI, 5, SGW, 0x1234, teids[0]),
        BearerEstablished(IMSI, 6, SGW, 0x1235, teids[1]),
    ]
    assert len(set(teids)) == 2 and 0 not in teids
    response, complete = sent(output)
    assert response == (
        InitialContextSetupResponse(
            500,
            enb_id,
            (ERabTunnel(5, "10.1.0.1", teids[0]), ERabTunnel(6, "10.1.0.1", teids[1])),
        ),
        stream,
    )
    assert isinstance(complete[0], UplinkNasTransport) and complete[0].nas_pdu == ATTACH_COMPLETE
    assert ue.received[-2:] == [("nas", ATTACH_ACCEPT), ("bearers up",)]


def test_initial_context_setup_with_a_key_that_is_not_the_ues_kenb_fails_naming_security_key():
    enb = set_up_enb()
    ue = FakeUe()
    enb_id, stream = connect(enb, ue)
    request = context_setup(enb_id, key=bytes(32))
    output = enb.receive_s1ap(s1ap.encode(request), stream, 2.0)
    failed = failure(output)
    assert failed.procedure == "attach"
    assert failed.violation is not None
    assert failed.violation.message == "Initial Context Setup Request"
    assert failed.violation.ie == "Security Key"
    assert isinstance(only_sent(output), InitialContextSetupFailure)
    assert ("nas", ATTACH_ACCEPT) not in ue.received
    assert of_type(output, BearerEstablished) == []


def test_initial_context_setup_before_nas_security_fails_naming_security_key():
    enb = set_up_enb()
    ue = FakeUe(kenb=None)
    enb_id, stream = connect(enb, ue)
    output = enb.receive_s1ap(s1ap.encode(context_setup(enb_id)), stream, 2.0)
    assert failure(output).violation.ie == "Security Key"


def test_initial_context_setup_with_other_capabilities_than_the_ue_advertised_fails():
    enb = set_up_enb()
    ue = FakeUe()
    enb_id, stream = connect(enb, ue)
    request = context_setup(enb_id, ue_security_capabilities=UeSecurityCapabilities(0xC000, 0xE000))
    output = enb.receive_s1ap(s1ap.encode(request), stream, 2.0)
    violation = failure(output).violation
    assert violation.ie == "UE Security Capabilities"
    assert "EEA [1, 2]" in violation.reason and "EEA [1, 2, 3]" in violation.reason
    failed = only_sent(output)
    assert failed.cause == Cause(
        CauseGroup.RADIO_NETWORK, "encryption-and-or-integrity-protection-algorithms-not-supported"
    )


@pytest.mark.parametrize(
    ("e_rab", "ie"),
    [
        (ERabToSetup(5, QOS, SGW, 0, ATTACH_ACCEPT), "GTP-TEID"),
        (ERabToSetup(3, QOS, SGW, 0x1234, ATTACH_ACCEPT), "E-RAB ID"),
    ],
)
def test_initial_context_setup_with_a_bad_e_rab_fails_naming_the_ie(e_rab, ie):
    enb = set_up_enb()
    enb_id, stream = connect(enb, FakeUe())
    output = enb.receive_s1ap(s1ap.encode(context_setup(enb_id, e_rabs=(e_rab,))), stream, 2.0)
    assert failure(output).violation.ie == ie
    assert isinstance(only_sent(output), InitialContextSetupFailure)


def test_initial_context_setup_with_one_e_rab_id_twice_fails():
    enb = set_up_enb()
    enb_id, stream = connect(enb, FakeUe())
    twice = (ERabToSetup(5, QOS, SGW, 1), ERabToSetup(5, QOS, SGW, 2))
    output = enb.receive_s1ap(s1ap.encode(context_setup(enb_id, e_rabs=twice)), stream, 2.0)
    assert failure(output).violation == Violation(
        "Initial Context Setup Request", "E-RAB ID", "5 is in use already"
    )


def test_a_missing_mandatory_ie_fails_the_procedure_naming_it_and_answers_with_the_failure():
    enb = set_up_enb()
    ue = FakeUe()
    enb_id, stream = connect(enb, ue)
    frame = read_frame(s1ap.encode(context_setup(enb_id)))
    ies = [ie for ie in frame.ies() if ie.ie_id != IE_SECURITY_KEY]
    broken = write_frame(frame.pdu_type, frame.procedure_code, frame.criticality, ies)
    output = enb.receive_s1ap(broken, stream, 2.0)
    violation = failure(output).violation
    assert (violation.message, violation.ie) == ("Initial Context Setup Request", "Security Key")
    answer = only_sent(output)
    assert answer == InitialContextSetupFailure(
        500, enb_id, Cause(CauseGroup.PROTOCOL, "abstract-syntax-error-reject")
    )
    [line] = [line for line in of_type(output, MessageLogged) if line.direction == "downlink"]
    assert (line.message, line.imsi) == ("Initial Context Setup Request (undecodable)", IMSI)


def test_bytes_that_are_no_s1ap_are_an_enb_level_violation_answered_by_error_indication():
    enb = set_up_enb()
    output = enb.receive_s1ap(b"\xff\x00", 0, 2.0)
    [detected] = of_type(output, S1apViolationDetected)
    assert detected.violation.message == "S1AP message"
    indication = only_sent(output)
    assert indication.cause == Cause(CauseGroup.PROTOCOL, "transfer-syntax-error")


# --- UE-S1AP-IDs (TS 36.413 10.6) -----------------------------------------------------------


def test_a_changed_mme_ue_s1ap_id_fails_the_procedure_answers_error_indication_and_releases():
    enb = set_up_enb()
    ue = FakeUe()
    enb_id, stream, teid = attached(enb, ue, mme_id=500)
    downlink = DownlinkNasTransport(501, enb_id, b"\x07\x52")
    output = enb.receive_s1ap(s1ap.encode(downlink), stream, 3.0)
    violation = failure(output).violation
    assert violation == Violation(
        "Downlink NAS Transport",
        "MME-UE-S1AP-ID",
        "501, but this connection's first downlink message set 500",
    )
    assert sent(output) == [
        (
            ErrorIndication(
                501, enb_id, Cause(CauseGroup.RADIO_NETWORK, "unknown-pair-ue-s1ap-id")
            ),
            stream,
        )
    ]
    assert of_type(output, BearerReleased) == [BearerReleased(IMSI, 5, teid)]
    assert ue.received[-1] == ("released",)
    assert ue.received.count(("nas", b"\x07\x52")) == 1  # the first one only


def test_an_unknown_enb_ue_s1ap_id_is_an_enb_level_violation_answered_by_error_indication():
    enb = set_up_enb()
    output = enb.receive_s1ap(s1ap.encode(DownlinkNasTransport(9, 4242, b"\x07\x52")), 3, 1.0)
    [detected] = of_type(output, S1apViolationDetected)
    assert detected.violation.ie == "eNB-UE-S1AP-ID"
    assert detected.enb_ue_s1ap_id == 4242
    assert only_sent(output) == ErrorIndication(
        9, 4242, Cause(CauseGroup.RADIO_NETWORK, "unknown-enb-ue-s1ap-id")
    )


def test_a_message_for_a_released_connection_fails_that_ues_procedure():
    enb = set_up_enb()
    ue = FakeUe()
    enb_id, stream = connect(enb, ue)
    release = UeContextReleaseCommand(500, enb_id, Cause(CauseGroup.NAS, "normal-release"))
    enb.receive_s1ap(s1ap.encode(release), stream, 2.0)
    output = enb.receive_s1ap(
        s1ap.encode(DownlinkNasTransport(500, enb_id, b"\x07\x52")), stream, 3.0
    )
    failed = failure(output)
    assert failed.imsi == IMSI
    assert failed.violation.ie == "eNB-UE-S1AP-ID"
    assert "no S1 connection" in failed.violation.reason
    assert isinstance(only_sent(output), ErrorIndication)


def test_an_mme_ue_s1ap_id_of_another_ues_connection_fails_the_new_one():
    enb = set_up_enb()
    connect(enb, FakeUe(), mme_id=500)
    second = FakeUe(imsi="001010000000002")
    enb.add_ue(second)
    command = SendUplinkNas(second.imsi, ATTACH_REQUEST, RrcEstablishmentCause.MO_SIGNALLING)
    [(initial, stream)] = sent(enb.from_ue([command], 1.0))
    downlink = DownlinkNasTransport(500, initial.enb_ue_s1ap_id, b"\x07\x52")
    output = enb.receive_s1ap(s1ap.encode(downlink), stream, 1.5)
    failed = failure(output)
    assert failed.imsi == second.imsi and failed.violation.ie == "MME-UE-S1AP-ID"
    assert second.received == [("released",)]
    indication = only_sent(output)
    assert (indication.mme_ue_s1ap_id, indication.enb_ue_s1ap_id) == (500, None)


# --- UE context release and modification ----------------------------------------------------


def test_ue_context_release_command_is_completed_the_bearers_go_and_the_ue_goes_idle():
    enb = set_up_enb()
    ue = FakeUe()
    enb_id, stream, teid = attached(enb, ue)
    release = UeContextReleaseCommand(500, enb_id, Cause(CauseGroup.NAS, "normal-release"))
    output = enb.receive_s1ap(s1ap.encode(release), stream, 3.0)
    assert sent(output) == [(UeContextReleaseComplete(500, enb_id), stream)]
    assert of_type(output, BearerReleased) == [BearerReleased(IMSI, 5, teid)]
    assert ue.received[-1] == ("released",)


def test_a_release_command_naming_only_the_mme_id_is_completed():
    enb = set_up_enb()
    ue = FakeUe()
    enb_id, stream = connect(enb, ue)
    release = UeContextReleaseCommand(500, None, Cause(CauseGroup.NAS, "detach"))
    output = enb.receive_s1ap(s1ap.encode(release), stream, 3.0)
    assert only_sent(output) == UeContextReleaseComplete(500, enb_id)


def test_the_enb_asks_for_a_release_for_user_inactivity():
    enb = set_up_enb()
    ue = FakeUe()
    enb_id, stream = connect(enb, ue)
    output = enb.ue_context_release_request(IMSI, 5.0)
    assert sent(output) == [
        (
            UeContextReleaseRequest(
                500, enb_id, Cause(CauseGroup.RADIO_NETWORK, "user-inactivity")
            ),
            stream,
        )
    ]
    enb.receive_s1ap(
        s1ap.encode(UeContextReleaseCommand(500, enb_id, Cause(CauseGroup.NAS, "normal-release"))),
        stream,
        5.1,
    )
    with pytest.raises(EnbError, match="no S1 connection"):
        enb.ue_context_release_request(IMSI, 6.0)


def test_a_ue_that_left_after_switch_off_keeps_its_s1_connection_until_the_mme_releases_it():
    enb = set_up_enb()
    ue = FakeUe()
    enb_id, stream, teid = attached(enb, ue)
    output = enb.from_ue([ReleaseConnection(IMSI)], 3.0)
    assert output == [BearerReleased(IMSI, 5, teid)]
    release = UeContextReleaseCommand(500, enb_id, Cause(CauseGroup.NAS, "detach"))
    output = enb.receive_s1ap(s1ap.encode(release), stream, 3.5)
    assert only_sent(output) == UeContextReleaseComplete(500, enb_id)
    assert ("released",) not in ue.received  # the UE knows already


def test_ue_context_modification_is_answered_and_a_wrong_key_fails_it():
    enb = set_up_enb()
    ue = FakeUe()
    enb_id, stream, _ = attached(enb, ue)
    good = UeContextModificationRequest(500, enb_id, security_key=KENB)
    output = enb.receive_s1ap(s1ap.encode(good), stream, 3.0)
    assert only_sent(output) == UeContextModificationResponse(500, enb_id)
    bad = UeContextModificationRequest(500, enb_id, security_key=bytes(32))
    output = enb.receive_s1ap(s1ap.encode(bad), stream, 3.1)
    assert failure(output).violation.ie == "Security Key"
    assert isinstance(only_sent(output), UeContextModificationFailure)


# --- E-RAB management -----------------------------------------------------------------------


def test_dedicated_bearers_are_set_up_modified_and_released():
    enb = set_up_enb()
    ue = FakeUe()
    enb_id, stream, _ = attached(enb, ue)
    activate = b"\x62\x00\xc5"
    setup = ERabSetupRequest(500, enb_id, (ERabToSetup(6, QOS, SGW, 0x99, activate),))
    output = enb.receive_s1ap(s1ap.encode(setup), stream, 3.0)
    [bearer] = of_type(output, BearerEstablished)
    assert only_sent(output) == ERabSetupResponse(
        500, enb_id, (ERabTunnel(6, "10.1.0.1", bearer.enb_teid),)
    )
    assert ue.received[-1] == ("nas", activate)

    modify = ERabModifyRequest(
        500, enb_id, (ERabToModify(6, QOS, b"\x62\x00\xc9", GtpTunnel("10.9.0.1", 0x77)),)
    )
    output = enb.receive_s1ap(s1ap.encode(modify), stream, 3.5)
    assert only_sent(output) == ERabModifyResponse(500, enb_id, (6,))
    assert of_type(output, BearerModified) == [
        BearerModified(IMSI, 6, "10.9.0.1", 0x77, bearer.enb_teid)
    ]

    release = ERabReleaseCommand(
        500, enb_id, (ERabCause(6, Cause(CauseGroup.NAS, "normal-release")),), b"\x62\x00\xcd"
    )
    output = enb.receive_s1ap(s1ap.encode(release), stream, 4.0)
    assert only_sent(output) == ERabReleaseResponse(500, enb_id, (6,))
    assert of_type(output, BearerReleased) == [BearerReleased(IMSI, 6, bearer.enb_teid)]
    assert ue.received[-1] == ("nas", b"\x62\x00\xcd")


def test_an_e_rab_setup_for_an_id_in_use_and_a_release_of_an_unknown_one_are_violations():
    enb = set_up_enb()
    enb_id, stream, _ = attached(enb, FakeUe())
    setup = ERabSetupRequest(500, enb_id, (ERabToSetup(5, QOS, SGW, 0x99, b"\x62"),))
    output = enb.receive_s1ap(s1ap.encode(setup), stream, 3.0)
    assert failure(output).violation.ie == "E-RAB ID"
    assert only_sent(output).e_rabs_failed == (
        ERabCause(5, Cause(CauseGroup.RADIO_NETWORK, "multiple-E-RAB-ID-instances")),
    )
    release = ERabReleaseCommand(500, enb_id, (ERabCause(9, Cause(CauseGroup.NAS, "detach")),))
    output = enb.receive_s1ap(s1ap.encode(release), stream, 3.5)
    assert failure(output).violation == Violation(
        "E-RAB Release Command", "E-RAB ID", "9 names no E-RAB of the UE"
    )
    assert only_sent(output).e_rabs_failed == (
        ERabCause(9, Cause(CauseGroup.RADIO_NETWORK, "unknown-E-RAB-ID")),
    )


def test_an_e_rab_setup_before_the_context_is_set_up_fails_every_e_rab():
    enb = set_up_enb()
    enb_id, stream = connect(enb, FakeUe())
    setup = ERabSetupRequest(500, enb_id, (ERabToSetup(6, QOS, SGW, 0x99, b"\x62"),))
    output = enb.receive_s1ap(s1ap.encode(setup), stream, 3.0)
    assert "no context" in failure(output).violation.reason
    assert [item.e_rab_id for item in only_sent(output).e_rabs_failed] == [6]


# --- paging, reset, error indication --------------------------------------------------------


def paging(identity: STmsi | str, *tacs: int) -> bytes:
    tais = tuple(Tai(PLMN, tac) for tac in tacs)
    return s1ap.encode(Paging(0xC0FFEE % 1024, identity, "ps", tais))


def test_paging_reaches_the_ue_with_that_s_tmsi_in_a_listed_ta_and_it_answers():
    enb = set_up_enb()
    ue = FakeUe()
    other = FakeUe(imsi="001010000000002", s_tmsi=(1, 0xBEEF))
    enb.add_ue(ue)
    enb.add_ue(other)
    output = enb.receive_s1ap(paging(STmsi(1, 0xC0FFEE), 1, 3), 0, 1.0)
    assert ue.received == [("paged",)] and other.received == []
    [(initial, stream)] = sent(output)
    assert (initial.rrc_establishment_cause, initial.nas_pdu) == ("mt-Access", SERVICE_REQUEST)
    assert stream != 0


def test_paging_for_a_ta_the_ue_is_not_in_or_another_identity_reaches_nobody():
    enb = set_up_enb()
    ue = FakeUe()
    enb.add_ue(ue)
    assert sent(enb.receive_s1ap(paging(STmsi(1, 0xC0FFEE), 2), 0, 1.0)) == []
    assert sent(enb.receive_s1ap(paging(STmsi(2, 0xC0FFEE), 1), 0, 1.0)) == []
    assert ue.received == []
    enb.receive_s1ap(paging(IMSI, 1), 0, 1.0)
    assert ue.received == [("paged",)]


def test_a_reset_from_the_mme_releases_every_connection_and_is_acknowledged():
    enb = set_up_enb()
    first, second = FakeUe(), FakeUe(imsi="001010000000002")
    attached(enb, first, mme_id=500)
    connect(enb, second, mme_id=501)
    reset = Reset(Cause(CauseGroup.MISC, "om-intervention"))
    output = enb.receive_s1ap(s1ap.encode(reset), 0, 3.0)
    assert sent(output) == [(ResetAcknowledge(), 0)]
    assert of_type(output, ConnectionsReset) == [
        ConnectionsReset(reset.cause, (IMSI, second.imsi), 3.0)
    ]
    assert len(of_type(output, BearerReleased)) == 1
    assert first.received[-1] == second.received[-1] == ("released",)


def test_a_partial_reset_releases_only_the_connections_named():
    enb = set_up_enb()
    first, second = FakeUe(), FakeUe(imsi="001010000000002")
    connect(enb, first, mme_id=500)
    connect(enb, second, mme_id=501)
    named = (UeAssociatedConnection(mme_ue_s1ap_id=501),)
    output = enb.receive_s1ap(
        s1ap.encode(Reset(Cause(CauseGroup.MISC, "om-intervention"), named)), 0, 3.0
    )
    assert only_sent(output) == ResetAcknowledge(named)
    assert second.received[-1] == ("released",)
    assert ("released",) not in first.received


def test_an_error_indication_about_a_ue_fails_its_procedure():
    enb = set_up_enb()
    enb_id, stream = connect(enb, FakeUe())
    indication = ErrorIndication(500, enb_id, Cause(CauseGroup.PROTOCOL, "semantic-error"))
    output = enb.receive_s1ap(s1ap.encode(indication), stream, 2.0)
    assert failure(output).violation == Violation(
        "Error Indication", "Cause", "the MME reports protocol cause semantic-error"
    )
    assert sent(output) == []  # never answer an Error Indication with one


def test_an_error_indication_about_no_ue_is_an_enb_level_event():
    enb = set_up_enb()
    output = enb.receive_s1ap(
        s1ap.encode(ErrorIndication(cause=Cause(CauseGroup.MISC, "unspecified"))), 0, 2.0
    )
    assert len(of_type(output, S1apViolationDetected)) == 1
    assert sent(output) == []


# --- timers and the timeline ----------------------------------------------------------------


def test_the_deadline_is_the_earliest_ue_timer_and_handle_timer_runs_the_due_ones():
    enb = set_up_enb()
    early, late = FakeUe(timer_at=10.0), FakeUe(imsi="001010000000002", timer_at=20.0)
    enb.add_ue(early)
    enb.add_ue(late)
    assert enb.deadline() == 10.0
    assert enb.handle_timer(9.0) == []
    output = enb.handle_timer(10.0)
    assert output == [ProcedureFailed(IMSI, "attach", 10.0, "T3410 expired")]
    assert enb.deadline() == 20.0


def test_the_timeline_names_each_s1ap_message_its_ue_and_the_nas_message_inside():
    enb = Enb(CONFIG)
    setup = enb.start(0.0)
    assert of_type(setup, MessageLogged) == [MessageLogged(0.0, "uplink", "S1 Setup Request", 0)]
    enb.add_ue(FakeUe())
    command = SendUplinkNas(IMSI, ATTACH_REQUEST, RrcEstablishmentCause.MO_SIGNALLING)
    output = enb.from_ue([command], 1.0)
    [line] = of_type(output, MessageLogged)
    initial = only_sent(output)
    assert line == MessageLogged(
        1.0,
        "uplink",
        "Initial UE Message",
        sent(output)[0][1],
        IMSI,
        initial.enb_ue_s1ap_id,
        None,
        "Attach Request",
    )
    downlink = DownlinkNasTransport(500, initial.enb_ue_s1ap_id, ATTACH_ACCEPT)
    [line] = of_type(enb.receive_s1ap(s1ap.encode(downlink), 1, 2.0), MessageLogged)
    assert (line.direction, line.message, line.imsi, line.mme_ue_s1ap_id, line.nas) == (
        "downlink",
        "Downlink NAS Transport",
        IMSI,
        500,
        "protected",
    )


def test_the_timeline_can_be_left_out():
    enb = Enb(CONFIG, timeline=False)
    assert of_type(enb.start(0.0), MessageLogged) == []


@pytest.mark.parametrize(
    ("pdu", "uplink", "name"),
    [
        (b"\x07\x41\x71", True, "Attach Request"),
        (b"\x07\x45\x09", True, "Detach Request"),
        (b"\x07\x45\x01", False, "Detach Request"),
        (
            b"\x37\x01\x02\x03\x04\x00\x07\x5d\x00",
            False,
            "Security Mode Command (integrity protected)",
        ),
        (b"\x27\x01\x02\x03\x04\x01\x07\x42", False, "protected"),
        (b"\xc7\x01\x02\x03", True, "Service Request"),
        (b"\x52\x01\xc1\x01", False, "Activate Default EPS Bearer Context Request"),
        (b"\x07", True, "unreadable"),
        (b"\x07\xff", True, "unknown message type 0xff"),
    ],
)
def test_nas_message_names_come_from_the_header_alone(pdu, uplink, name):
    assert nas_message_name(pdu, uplink=uplink) == name


def test_capabilities_compare_as_algorithm_sets_in_either_form():
    assert algorithm_sets(UE_CAPABILITY) == algorithm_sets(S1AP_CAPABILITY)
    assert algorithm_sets(bytes([0xF0, 0x70, 0x00])) == ({1, 2, 3}, {1, 2, 3})
    assert algorithm_sets(UeSecurityCapabilities(0x4000, 0x8000)) == ({2}, {1})
    ue_core_form = SimpleNamespace(eea=frozenset({0, 1, 2, 3}), eia=frozenset({1, 2, 3}))
    assert algorithm_sets(ue_core_form) == algorithm_sets(S1AP_CAPABILITY)
    with pytest.raises(TypeError):
        algorithm_sets(None)
