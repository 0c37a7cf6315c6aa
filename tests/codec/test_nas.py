"""NAS EPS codec (epc.codec.nas): golden messages of every type round-trip through both decoders
and are read by tshark as we meant them; bad input ends in NasDecodeError with the TS 24.301
clause 7 cause, and nothing else, under fuzzing."""

from __future__ import annotations

import ipaddress
import random
import string
import subprocess
import sys
from datetime import timedelta

import pytest
from harness.fuzz import mutations, peak_memory_bytes
from harness.tshark import Dissection, dissect, exported_pdu
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from epc.codec import nas, nas_fast
from epc.codec.nas_messages import (
    EMM_MESSAGES,
    ESM_MESSAGES,
    ActivateDedicatedEpsBearerContextAccept,
    ActivateDedicatedEpsBearerContextReject,
    ActivateDedicatedEpsBearerContextRequest,
    ActivateDefaultEpsBearerContextAccept,
    ActivateDefaultEpsBearerContextReject,
    ActivateDefaultEpsBearerContextRequest,
    ApnAmbr,
    AttachAccept,
    AttachComplete,
    AttachReject,
    AttachRequest,
    AuthenticationFailure,
    AuthenticationReject,
    AuthenticationRequest,
    AuthenticationResponse,
    BearerBitrates,
    DeactivateEpsBearerContextAccept,
    DeactivateEpsBearerContextRequest,
    DetachAccept,
    DetachRequest,
    DetachType,
    EmmCause,
    EmmInformation,
    EmmMessageType,
    EmmStatus,
    EpsQos,
    EsmCause,
    EsmInformationRequest,
    EsmInformationResponse,
    EsmMessage,
    EsmStatus,
    GprsTimer,
    Guti,
    GutiReallocationCommand,
    GutiReallocationComplete,
    IdentityRequest,
    IdentityResponse,
    Imei,
    Imeisv,
    Imsi,
    ModifyEpsBearerContextAccept,
    ModifyEpsBearerContextRequest,
    NasDecodeError,
    NasKeySetIdentifier,
    NasSecurityAlgorithms,
    NetworkDetachRequest,
    PcoOption,
    PdnAddress,
    PdnConnectivityReject,
    PdnConnectivityRequest,
    ProtectedNas,
    ProtocolConfigurationOptions,
    SecurityModeCommand,
    SecurityModeComplete,
    SecurityModeReject,
    ServiceRequest,
    Sublayer,
    Tai,
    Tmsi,
    TrackingAreaUpdateAccept,
    TrackingAreaUpdateComplete,
    TrackingAreaUpdateReject,
    TrackingAreaUpdateRequest,
    UeNetworkCapability,
    UpdateType,
)

pytestmark = pytest.mark.codec

IMSI = Imsi("001010000000001")
PLMN = "00101"
GUTI = Guti(PLMN, mme_group_id=0x8001, mme_code=0x01, m_tmsi=0xC0000123)
TAI = Tai(PLMN, 0x0001)
DNS = ipaddress.IPv4Address("8.8.8.8")
DNS_IPV6 = ipaddress.IPv6Address("2001:4860:4860::8888")
UE_NETWORK_CAPABILITY = UeNetworkCapability(bytes.fromhex("f0f0c0c0"))
IPCP_DNS_REQUEST = bytes.fromhex("01000010810600000000830600000000")  # RFC 1877 primary+secondary
UE_PCO = ProtocolConfigurationOptions(
    (
        PcoOption(0x8021, IPCP_DNS_REQUEST),
        PcoOption(0x0003),
        PcoOption(0x000A),
        PcoOption(0x000D),
    )
)
DNS_ANSWER = ProtocolConfigurationOptions((PcoOption(0x000D, DNS.packed),))
IPCP_DNS_ANSWER = ProtocolConfigurationOptions((PcoOption(0x8021, IPCP_DNS_REQUEST),)).answer_dns(
    (DNS,)
)
PDN_CONNECTIVITY_REQUEST = PdnConnectivityRequest(
    procedure_transaction_identity=1,
    request_type=1,
    pdn_type=1,
    esm_information_transfer=True,
    apn="internet",
    protocol_configuration_options=UE_PCO,
)
DEFAULT_BEARER_REQUEST = ActivateDefaultEpsBearerContextRequest(
    bearer_identity=5,
    procedure_transaction_identity=1,
    eps_qos=EpsQos(9),
    apn="internet",
    pdn_address=PdnAddress(1, ipaddress.IPv4Address("10.45.0.2")),
    apn_ambr=ApnAmbr(downlink=100_000, uplink=50_000),
    protocol_configuration_options=DNS_ANSWER,
)
DEFAULT_BEARER_ACCEPT = ActivateDefaultEpsBearerContextAccept(bearer_identity=5)
GBR_QOS = EpsQos(1, BearerBitrates(128, 128, 64, 64))
TFT = bytes.fromhex("213110091008080808ffffffff")  # new TFT, one filter: 8.8.8.8/32

GOLDEN = {
    "attach request": AttachRequest(
        attach_type=1,
        key_set_identifier=NasKeySetIdentifier(),
        identity=IMSI,
        ue_network_capability=UE_NETWORK_CAPABILITY,
        esm_message=PDN_CONNECTIVITY_REQUEST,
        last_visited_tai=TAI,
        drx_parameter=bytes.fromhex("0a00"),
        ms_network_capability=bytes.fromhex("e5e034"),
    ),
    "attach request with GUTI": AttachRequest(
        attach_type=2,
        key_set_identifier=NasKeySetIdentifier(3),
        identity=GUTI,
        ue_network_capability=UE_NETWORK_CAPABILITY,
        esm_message=PDN_CONNECTIVITY_REQUEST,
        additional_guti=GUTI,
    ),
    "attach accept": AttachAccept(
        attach_result=1,
        t3412=GprsTimer.from_seconds(3240),
        tai_list=(TAI, Tai(PLMN, 2), Tai("310410", 7)),
        esm_message=DEFAULT_BEARER_REQUEST,
        guti=GUTI,
        t3402=GprsTimer.from_seconds(720),
        t3423=GprsTimer.from_seconds(3240),
        eps_network_feature_support=b"\x01",
    ),
    "attach complete": AttachComplete(esm_message=DEFAULT_BEARER_ACCEPT),
    "attach reject": AttachReject(
        emm_cause=19,
        esm_message=PdnConnectivityReject(procedure_transaction_identity=1, esm_cause=27),
        t3346=GprsTimer.from_seconds(60),
        t3402=GprsTimer.from_seconds(720),
    ),
    "authentication request": AuthenticationRequest(
        key_set_identifier=NasKeySetIdentifier(0),
        rand=bytes.fromhex("23553cbe9637a89d218ae64dae47bf35"),
        autn=bytes.fromhex("55f328b43577b9b94a9ffac354dfafb3"),
    ),
    "authentication response": AuthenticationResponse(res=bytes.fromhex("a54211d5e3ba50bf")),
    "authentication failure": AuthenticationFailure(
        emm_cause=21, auts=bytes.fromhex("0123456789abcdef0123456789ab")
    ),
    "authentication reject": AuthenticationReject(),
    "security mode command": SecurityModeCommand(
        selected_algorithms=NasSecurityAlgorithms(ciphering=0, integrity=2),
        key_set_identifier=NasKeySetIdentifier(0),
        replayed_security_capabilities=UE_NETWORK_CAPABILITY.security_capabilities(),
        imeisv_requested=True,
        replayed_nonce_ue=bytes.fromhex("01020304"),
        nonce_mme=bytes.fromhex("a1a2a3a4"),
    ),
    "security mode complete": SecurityModeComplete(imeisv=Imeisv("3534900698733201")),
    "security mode reject": SecurityModeReject(emm_cause=23),
    "identity request": IdentityRequest(identity_type=1),
    "identity response": IdentityResponse(identity=IMSI),
    "identity response with IMEI": IdentityResponse(identity=Imei("353490069873319")),
    "identity response with TMSI": IdentityResponse(identity=Tmsi(0xC0000123)),
    "detach request": DetachRequest(
        detach_type=DetachType(1, switch_off=True),
        key_set_identifier=NasKeySetIdentifier(0),
        identity=GUTI,
    ),
    "network detach request": NetworkDetachRequest(detach_type=1, emm_cause=10),
    "detach accept": DetachAccept(),
    "service request": ServiceRequest(
        key_set_identifier=0, sequence_number=5, short_mac=bytes.fromhex("1a2b")
    ),
    "tracking area update request": TrackingAreaUpdateRequest(
        update_type=UpdateType(0, active=True),
        key_set_identifier=NasKeySetIdentifier(0),
        old_guti=GUTI,
        ue_network_capability=UE_NETWORK_CAPABILITY,
        last_visited_tai=TAI,
        drx_parameter=bytes.fromhex("0a00"),
        eps_bearer_context_status=frozenset({5, 6}),
    ),
    "tracking area update accept": TrackingAreaUpdateAccept(
        update_result=0,
        t3412=GprsTimer.from_seconds(3240),
        guti=GUTI,
        tai_list=(TAI,),
        eps_bearer_context_status=frozenset({5}),
        t3402=GprsTimer.from_seconds(720),
        eps_network_feature_support=b"\x01",
    ),
    "tracking area update complete": TrackingAreaUpdateComplete(),
    "tracking area update reject": TrackingAreaUpdateReject(
        emm_cause=22, t3346=GprsTimer.from_seconds(120)
    ),
    "GUTI reallocation command": GutiReallocationCommand(guti=GUTI, tai_list=(TAI,)),
    "GUTI reallocation complete": GutiReallocationComplete(),
    "EMM information": EmmInformation(
        full_network_name="Echo EPC",
        short_network_name="Echo 4G",
        local_time_zone=0x40,
        universal_time_and_local_time_zone=bytes.fromhex("32114122310240"),
    ),
    "EMM status": EmmStatus(emm_cause=97),
    "PDN connectivity request": PDN_CONNECTIVITY_REQUEST,
    "PDN connectivity reject": PdnConnectivityReject(
        procedure_transaction_identity=1, esm_cause=27
    ),
    "activate default EPS bearer context request": DEFAULT_BEARER_REQUEST,
    "activate default EPS bearer context request for IPv4v6": (
        ActivateDefaultEpsBearerContextRequest(
            bearer_identity=5,
            procedure_transaction_identity=2,
            eps_qos=EpsQos(9),
            apn="ims.mnc001.mcc001.gprs",
            pdn_address=PdnAddress(
                3, ipaddress.IPv4Address("10.45.0.3"), bytes.fromhex("0000000000000003")
            ),
            esm_cause=52,
        )
    ),
    "activate default EPS bearer context accept": DEFAULT_BEARER_ACCEPT,
    "activate default EPS bearer context reject": ActivateDefaultEpsBearerContextReject(
        bearer_identity=5, esm_cause=31
    ),
    "activate dedicated EPS bearer context request": ActivateDedicatedEpsBearerContextRequest(
        bearer_identity=6,
        linked_bearer_identity=5,
        eps_qos=GBR_QOS,
        traffic_flow_template=TFT,
    ),
    "activate dedicated EPS bearer context accept": ActivateDedicatedEpsBearerContextAccept(
        bearer_identity=6
    ),
    "activate dedicated EPS bearer context reject": ActivateDedicatedEpsBearerContextReject(
        bearer_identity=6, esm_cause=26
    ),
    "modify EPS bearer context request": ModifyEpsBearerContextRequest(
        bearer_identity=5,
        eps_qos=EpsQos(8),
        traffic_flow_template=TFT,
        apn_ambr=ApnAmbr(downlink=8640, uplink=64),
        protocol_configuration_options=IPCP_DNS_ANSWER,
    ),
    "modify EPS bearer context accept": ModifyEpsBearerContextAccept(bearer_identity=5),
    "deactivate EPS bearer context request": DeactivateEpsBearerContextRequest(
        bearer_identity=6, esm_cause=36
    ),
    "deactivate EPS bearer context accept": DeactivateEpsBearerContextAccept(bearer_identity=6),
    "ESM information request": EsmInformationRequest(procedure_transaction_identity=1),
    "ESM information response": EsmInformationResponse(
        procedure_transaction_identity=1, apn="internet", protocol_configuration_options=UE_PCO
    ),
    "ESM status": EsmStatus(bearer_identity=5, procedure_transaction_identity=1, esm_cause=81),
}
DOWNLINK = {
    AttachAccept, AttachReject, AuthenticationRequest, AuthenticationReject,
    SecurityModeCommand, IdentityRequest, NetworkDetachRequest, TrackingAreaUpdateAccept,
    TrackingAreaUpdateReject, GutiReallocationCommand, EmmInformation,
}  # fmt: skip
PLAIN_GOLDEN = {name: message for name, message in GOLDEN.items() if name != "service request"}


def uplink(message) -> bool:
    return type(message) not in DOWNLINK


@pytest.mark.parametrize("name", GOLDEN)
def test_golden_message_round_trips_through_both_decoders(name):
    message = GOLDEN[name]
    data = nas.encode(message)
    assert nas.decode(data, uplink=uplink(message)) == message
    assert nas.decode_with_pycrate(data, uplink=uplink(message)) == message


@pytest.mark.parametrize("cls", EMM_MESSAGES + ESM_MESSAGES, ids=lambda cls: cls.__name__)
def test_ie_tables_name_the_same_ieis_as_pycrate(cls):
    """Our TS 24.301 tables against pycrate's: every IEI we know is pycrate's for that IE, and
    the fast path's messages know all of pycrate's IEIs but 0x17 (see AttachRequest.LAYOUT)."""
    pycrate_message = nas._PYCRATE_CLASSES[cls]()
    pycrate_ieis = {element._name: element[0].get_val() for element in pycrate_message.get_opts()}
    ours = {ie.iei for ie in cls.LAYOUT if ie.iei is not None}
    for ie in cls.LAYOUT:
        if ie.field:
            assert ie.pycrate in pycrate_message._by_name
        if ie.field and ie.iei is not None:
            assert pycrate_ieis[ie.pycrate] == ie.iei
    assert ours <= set(pycrate_ieis.values())
    if cls in nas_fast.FAST_MESSAGES:
        assert set(pycrate_ieis.values()) - ours <= {0x17}


# --- tshark reads our bytes as we meant them -----------------------------------------------


def tshark_frame(message):
    """ESM messages travel integrity protected; Wireshark reads a bare one's EBI as a security
    header, so they are wrapped as they would be on the air (header type 1, plain inside)."""
    data = nas.encode(message)
    if isinstance(message, EsmMessage):
        data = nas.encode(ProtectedNas(1, bytes.fromhex("0badcafe"), 3, data))
    return exported_pdu("nas-eps", data)


def expected_fields(message) -> dict[str, str]:
    """The fields tshark must show for a golden message: its type, header and key values."""
    if isinstance(message, ServiceRequest):
        return {"nas_eps.security_header_type": "12", "nas_eps.seq_no_short": "5"}
    if isinstance(message, EsmMessage):
        fields = {
            "nas_eps.nas_msg_esm_type": f"0x{message.MESSAGE_TYPE:02x}",
            "nas_eps.bearer_id": str(message.bearer_identity),
            "nas_eps.esm.proc_trans_id": str(message.procedure_transaction_identity),
        }
    else:
        fields = {"nas_eps.nas_msg_emm_type": f"0x{message.MESSAGE_TYPE:02x}"}
    for name, value in vars_of(message).items():
        fields.update(FIELD_CHECKS.get(name, lambda _value: {})(value))
    return fields


def vars_of(message) -> dict:
    return {name: getattr(message, name) for name in message.__dataclass_fields__}


def identity_fields(identity) -> dict[str, str]:
    match identity:
        case Imsi(digits):
            return {"e212.imsi": digits}
        case Imei(digits):
            return {"gsm_a.imei": digits}
        case Imeisv(digits):
            return {"gsm_a.imeisv": digits}
        case Tmsi(value):
            return {"3gpp.tmsi": str(value)}
        case Guti():
            return {
                "nas_eps.emm.m_tmsi": str(identity.m_tmsi),
                "nas_eps.emm.mme_grp_id": str(identity.mme_group_id),
                "nas_eps.emm.mme_code": str(identity.mme_code),
            }
    return {}


def pco_fields(pco) -> dict[str, str]:
    if pco is None:
        return {}
    fields = {"gsm_a.gm.sm.pco_pid": f"0x{pco.options[-1].identifier:04x}"}
    for server in pco.dns_servers():
        if pco.requests(0x000D):
            fields["gsm_a.gm.sm.pco.dns.ipv4"] = str(server)
        else:
            fields["ipcp.opt.pri_dns_address"] = str(server)
    return fields


FIELD_CHECKS = {
    "identity": identity_fields,
    "imeisv": identity_fields,
    "guti": identity_fields,
    "old_guti": identity_fields,
    "esm_message": lambda esm: expected_fields(esm) if esm else {},
    "emm_cause": lambda cause: {"nas_eps.emm.cause": str(cause)} if cause else {},
    "esm_cause": lambda cause: {"nas_eps.esm.cause": str(cause)} if cause else {},
    "apn": lambda apn: {"gsm_a.gm.sm.apn": apn} if apn else {},
    "protocol_configuration_options": pco_fields,
    "key_set_identifier": lambda ksi: {"nas_eps.emm.nas_key_set_id": str(ksi.value)},
    "attach_type": lambda value: {"nas_eps.emm.eps_att_type": str(value)},
    "attach_result": lambda value: {"nas_eps.emm.EPS_attach_result": str(value)},
    "pdn_address": lambda address: {"nas_eps.esm.pdn_ipv4": str(address.ipv4)},
    "eps_qos": lambda qos: {"nas_eps.esm.qci": str(qos.qci)} if qos else {},
    "apn_ambr": lambda ambr: (
        {"nas_eps.esm.apn_ambr_dl_total": str(ambr.downlink)}
        if ambr and ambr.downlink > 8640
        else {}
    ),
    "linked_bearer_identity": lambda value: {"nas_eps.esm.linked_bearer_id": str(value)},
    "res": lambda res: {"nas_eps.emm.res": res.hex(":")},
    "rand": lambda rand: {"gsm_a.dtap.rand": rand.hex(":")},
    "auts": lambda auts: {"gsm_a.dtap.auts": auts.hex(":")} if auts else {},
    "detach_type": lambda detach: (
        {"nas_eps.emm.detach_type_ul": str(detach.value)}
        if isinstance(detach, DetachType)
        else {"nas_eps.emm.detach_type_dl": str(detach)}
    ),
    "update_type": lambda update: {"nas_eps.emm.update_type_value": str(update.value)},
    "identity_type": lambda value: {"nas_eps.emm.id_type2": str(value)},
    "selected_algorithms": lambda algorithms: {"nas_eps.emm.toi": str(algorithms.integrity)},
    "imeisv_requested": lambda requested: {"nas_eps.emm.imeisv_req": "1"} if requested else {},
    "full_network_name": lambda name: {"gsm_a.dtap.text_string": name} if name else {},
    "tai_list": lambda tais: {"nas_eps.emm.tai_tac": str(tais[-1].tac)} if tais else {},
    "t3412": lambda timer: {"gsm_a.gm.gmm.gprs_timer_value": str(timer.value)} if timer else {},
}


@pytest.fixture(scope="module")
def tshark_dissections() -> dict[str, Dissection]:
    frames = [tshark_frame(message) for message in GOLDEN.values()]
    return dict(zip(GOLDEN, dissect(frames), strict=True))


@pytest.mark.parametrize("name", GOLDEN)
def test_tshark_reads_golden_message_fields_without_complaint(name, tshark_dissections):
    dissection = tshark_dissections[name]
    assert dissection.problems == []
    for field, value in expected_fields(GOLDEN[name]).items():
        assert value in dissection.fields(field), (field, dissection.fields(field))


# --- Bad input: one typed error with the TS 24.301 clause 7 cause ---------------------------

ATTACH_REQUEST = nas.encode(GOLDEN["attach request"])


def decode_error(data: bytes, *, uplink: bool = True) -> NasDecodeError:
    with pytest.raises(NasDecodeError) as caught:
        nas.decode(data, uplink=uplink)
    with pytest.raises(NasDecodeError) as by_pycrate:
        nas.decode_with_pycrate(data, uplink=uplink)
    assert error_signature(caught.value) == error_signature(by_pycrate.value)
    return caught.value


def error_signature(error: NasDecodeError) -> tuple:
    return (
        error.cause,
        error.sublayer,
        error.message_type,
        error.bearer_identity,
        error.procedure_transaction_identity,
        error.outer_message_type,
    )


@pytest.mark.parametrize("data", [b"", b"\x07"], ids=["empty", "one octet"])
def test_message_shorter_than_a_header_is_protocol_error_unspecified(data):
    error = decode_error(data)
    assert (error.sublayer, error.cause) == (Sublayer.EMM, EmmCause.PROTOCOL_ERROR_UNSPECIFIED)


def test_unknown_emm_message_type_is_cause_97_naming_the_type():
    error = decode_error(bytes([0x07, 0x47]))
    assert error.emm_cause == EmmCause.MESSAGE_TYPE_NON_EXISTENT
    assert error.message_type == 0x47


def test_unknown_esm_message_type_is_esm_cause_97_with_bearer_and_pti_for_the_status():
    error = decode_error(bytes([0x52, 0x07, 0xFF]))
    assert error.esm_cause == EsmCause.MESSAGE_TYPE_NON_EXISTENT
    assert (error.bearer_identity, error.procedure_transaction_identity) == (5, 7)


def test_unknown_protocol_discriminator_is_cause_97():
    assert decode_error(bytes([0x05, 0x41, 0x00])).cause == EmmCause.MESSAGE_TYPE_NON_EXISTENT


def test_reserved_security_header_type_is_not_read_as_a_plain_message():
    error = decode_error(bytes([0x57]) + ATTACH_REQUEST[1:])
    assert error.cause == EmmCause.PROTOCOL_ERROR_UNSPECIFIED


@pytest.mark.parametrize("length", [3, 6, 12, 20])
def test_truncated_attach_request_is_invalid_mandatory_information(length):
    error = decode_error(ATTACH_REQUEST[:length])
    assert error.emm_cause == EmmCause.INVALID_MANDATORY_INFORMATION
    assert error.message_type == EmmMessageType.ATTACH_REQUEST


def test_missing_mandatory_ie_is_invalid_mandatory_information():
    error = decode_error(bytes([0x07, EmmMessageType.AUTHENTICATION_RESPONSE]))
    assert error.emm_cause == EmmCause.INVALID_MANDATORY_INFORMATION


def test_ie_length_past_the_end_is_invalid_mandatory_information():
    res_too_long = bytes([0x07, EmmMessageType.AUTHENTICATION_RESPONSE, 0x20]) + bytes(8)
    assert decode_error(res_too_long).cause == EmmCause.INVALID_MANDATORY_INFORMATION
    optional_too_long = ATTACH_REQUEST + bytes([0x31, 0x09, 0xE0])
    assert decode_error(optional_too_long).cause == EmmCause.INVALID_MANDATORY_INFORMATION


def test_unreadable_mandatory_ie_is_invalid_mandatory_information():
    identity_of_unknown_type = bytes([0x07, 0x41, 0x71, 0x05, 0xF2]) + ATTACH_REQUEST[13:]
    assert decode_error(identity_of_unknown_type).cause == EmmCause.INVALID_MANDATORY_INFORMATION


def test_unreadable_optional_ie_is_dropped_and_unknown_ie_skipped():
    guti_too_short = bytes([0x50, 0x05, 0xF6, 0x00, 0xF1, 0x10, 0x80])
    unknown_ie = bytes([0x7F, 0x00, 0x01, 0x00])  # TLV-E with an IEI no EMM message uses
    message = nas.decode(ATTACH_REQUEST + guti_too_short + unknown_ie)
    assert message == GOLDEN["attach request"]
    assert nas.decode_with_pycrate(ATTACH_REQUEST + guti_too_short + unknown_ie) == message


def attach_request_with_esm_container(container: bytes) -> bytes:
    """The golden Attach Request's octets with another ESM message container."""
    esm = nas.encode(PDN_CONNECTIVITY_REQUEST)
    start = ATTACH_REQUEST.index(esm) - 2
    rest = ATTACH_REQUEST[start + 2 + len(esm) :]
    return ATTACH_REQUEST[:start] + len(container).to_bytes(2, "big") + container + rest


def test_broken_esm_container_raises_the_esm_error_naming_the_attach_request():
    truncated_esm = nas.encode(PDN_CONNECTIVITY_REQUEST)[:4] + bytes([0x28, 0x09]) + b"inter"
    error = decode_error(attach_request_with_esm_container(truncated_esm))
    assert (error.sublayer, error.cause) == (Sublayer.ESM, EsmCause.INVALID_MANDATORY_INFORMATION)
    assert error.outer_message_type == EmmMessageType.ATTACH_REQUEST
    assert error.procedure_transaction_identity == 1


@pytest.mark.parametrize("header_type", [1, 2, 3, 4])
def test_security_protected_message_is_split_not_read_as_plain(header_type):
    data = bytes([header_type << 4 | 0x07]) + bytes.fromhex("0badcafe") + b"\x09" + ATTACH_REQUEST
    protected = nas.decode(data)
    assert protected == ProtectedNas(header_type, bytes.fromhex("0badcafe"), 9, ATTACH_REQUEST)
    assert nas.decode_with_pycrate(data) == protected
    assert nas.encode(protected) == data


def test_truncated_security_header_and_service_request_are_invalid_mandatory_information():
    assert decode_error(bytes.fromhex("270badca")).cause == EmmCause.INVALID_MANDATORY_INFORMATION
    assert decode_error(bytes.fromhex("c705")).cause == EmmCause.INVALID_MANDATORY_INFORMATION


def test_encoding_rejects_values_the_ies_cannot_hold():
    with pytest.raises(ValueError):
        nas.encode(IdentityResponse(identity=Imsi("00101x")))
    with pytest.raises(ValueError):
        nas.encode(EsmInformationResponse(apn="a" * 64))
    with pytest.raises(ValueError):
        nas.encode(EmmInformation(full_network_name="€uro"))


# --- Fuzzing: only NasDecodeError or a message, no hang, bounded memory ----------------------

FUZZ_SETTINGS = settings(
    max_examples=400, deadline=timedelta(seconds=2), suppress_health_check=list(HealthCheck)
)


def decodes_or_raises_typed_error(data: bytes) -> None:
    for direction in (True, False):
        try:
            nas.decode(data, uplink=direction)
        except NasDecodeError as error:
            assert isinstance(error.cause, int)


GSM_TEXT = string.ascii_letters + string.digits + " @$_!?-.:()"
GOLDEN_OCTETS = tuple(nas.encode(message) for message in GOLDEN.values())


@FUZZ_SETTINGS
@given(st.binary(max_size=300))
def test_random_bytes_decode_or_raise_nas_decode_error(data):
    decodes_or_raises_typed_error(data)


@FUZZ_SETTINGS
@given(
    st.sampled_from([0x02, 0x07, 0x17, 0x27, 0x52, 0xC7]).flatmap(
        lambda first: st.binary(max_size=120).map(lambda rest: bytes([first]) + rest)
    )
)
def test_random_bodies_behind_valid_headers_decode_or_raise_nas_decode_error(data):
    decodes_or_raises_typed_error(data)


@FUZZ_SETTINGS
@given(mutations(GOLDEN_OCTETS))
def test_mutated_golden_messages_decode_or_raise_nas_decode_error(data):
    decodes_or_raises_typed_error(data)


def test_decoding_a_big_batch_of_garbage_keeps_memory_bounded():
    generator = random.Random(24301)
    batch = [bytes(generator.randbytes(generator.randint(0, 200))) for _ in range(1000)]
    batch += [
        bytes(
            byte ^ generator.choice((0, 0, 0, 1, 0x80)) for byte in generator.choice(GOLDEN_OCTETS)
        )
        for _ in range(1000)
    ]
    assert peak_memory_bytes(decodes_or_raises_typed_error, batch) < 16 * 1024 * 1024


def test_long_message_outside_the_fast_path_is_refused_not_parsed_for_seconds():
    many_unknown_ies = bytes([0x07, EmmMessageType.EMM_INFORMATION]) + bytes([0x01, 0x00]) * 20000
    error = decode_error_of_decode(many_unknown_ies)
    assert error.emm_cause == EmmCause.PROTOCOL_ERROR_UNSPECIFIED


def test_long_hot_message_still_decodes_on_the_fast_path():
    extended_pco = bytes([0x7B]) + (5000).to_bytes(2, "big") + bytes(5000)  # stepped over
    data = attach_request_with_esm_container(nas.encode(PDN_CONNECTIVITY_REQUEST) + extended_pco)
    assert nas.decode(data) == GOLDEN["attach request"]


def decode_error_of_decode(data: bytes) -> NasDecodeError:
    with pytest.raises(NasDecodeError) as caught:
        nas.decode(data)
    return caught.value


# --- Information elements ---------------------------------------------------------------------


# The second message makes pycrate log a warning and unknown IEs, were it not kept quiet.
QUIET_SCRIPT = """
import logging
logging.basicConfig(level=logging.DEBUG)
from epc.codec import nas, nas_fast
for data in (bytes.fromhex("074171080910"), bytes.fromhex("07410105f2") + bytes(30)):
    try:
        nas.decode_with_pycrate(data)
    except nas.NasDecodeError:
        pass
"""


def test_importing_and_decoding_garbage_prints_nothing_even_with_logging_on():
    result = subprocess.run(
        [sys.executable, "-c", QUIET_SCRIPT], capture_output=True, text=True, check=True
    )
    assert (result.stdout, result.stderr) == ("", "")


def test_pco_answers_dns_requests_in_containers_and_ipcp():
    answer = UE_PCO.answer_dns((DNS, DNS_IPV6))
    assert answer.dns_servers() == (DNS, DNS_IPV6, DNS)
    assert [option.identifier for option in answer.options] == [0x8021, 0x0003, 0x000D]
    assert UE_PCO.requests(0x000D) and not answer.requests(0x000A)


@pytest.mark.parametrize(
    "kbps", [0, 1, 63, 64, 568, 576, 8640, 8700, 16_000, 17_000, 128_000, 130_000, 256_000]
)
def test_bit_rates_round_trip_through_both_decoders(kbps):
    qos = EpsQos(1, BearerBitrates(kbps, kbps, kbps, kbps))
    message = ModifyEpsBearerContextRequest(
        bearer_identity=5, eps_qos=qos, apn_ambr=ApnAmbr(downlink=kbps, uplink=kbps)
    )
    data = nas.encode(message)
    assert nas.decode(data) == message == nas.decode_with_pycrate(data)


@pytest.mark.parametrize(
    ("qos_kbps", "ambr_kbps"),
    [(260_000, 300_000), (500_000, 512_000), (1_000_000, 1_000_000), (10_000_000, 65_024_000)],
)
def test_bit_rates_beyond_256_mbps_use_the_extended_2_octets(qos_kbps, ambr_kbps):
    qos = EpsQos(1, BearerBitrates(qos_kbps, qos_kbps, 64, 64))
    ambr = ApnAmbr(downlink=ambr_kbps, uplink=64)
    message = ModifyEpsBearerContextRequest(bearer_identity=5, eps_qos=qos, apn_ambr=ambr)
    assert nas.decode_with_pycrate(nas.encode(message)) == message


@settings(max_examples=200, deadline=timedelta(seconds=2))
@given(st.text(alphabet=GSM_TEXT, min_size=1, max_size=40))
def test_network_names_of_any_length_round_trip(name):
    message = EmmInformation(full_network_name=name)
    assert nas.decode(nas.encode(message), uplink=False) == message


def test_gprs_timer_picks_the_finest_unit_and_reports_seconds():
    assert GprsTimer.from_seconds(54) == GprsTimer(GprsTimer.TWO_SECONDS, 27)
    assert GprsTimer.from_seconds(720).seconds == 720
    assert GprsTimer.from_seconds(3240) == GprsTimer(GprsTimer.DECIHOURS, 9)
    assert GprsTimer(GprsTimer.DEACTIVATED, 0).seconds is None


def test_replayed_security_capabilities_are_the_first_four_octets_without_ucs2():
    assert UE_NETWORK_CAPABILITY.security_capabilities() == bytes.fromhex("f0f0c040")


def test_pco_octets_round_trip_and_reject_an_oversized_option():
    for pco in (UE_PCO, DNS_ANSWER, IPCP_DNS_ANSWER):
        octets = pco.to_octets()
        assert octets[0] == 0x80
        assert ProtocolConfigurationOptions.from_octets(octets) == pco
    with pytest.raises(ValueError, match="do not fit"):
        ProtocolConfigurationOptions((PcoOption(0x000D, bytes(256)),)).to_octets()
