"""The hand-written NAS fast path (epc.codec.nas_fast) gives exactly what the pycrate path gives:
the same dataclass or the same NasDecodeError, on golden, generated, mutated and random input,
or it declines (FastPathUnavailable) and leaves the message to pycrate."""

from __future__ import annotations

import random
import string
from datetime import timedelta

import pytest
from codec.test_nas import GOLDEN, uplink
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from epc.codec import nas, nas_fast
from epc.codec.nas_messages import (
    ActivateDefaultEpsBearerContextAccept,
    AttachComplete,
    AttachRequest,
    AuthenticationResponse,
    DetachRequest,
    DetachType,
    Guti,
    Imei,
    Imeisv,
    Imsi,
    NasDecodeError,
    NasKeySetIdentifier,
    PcoOption,
    PdnConnectivityRequest,
    ProtocolConfigurationOptions,
    SecurityModeComplete,
    ServiceRequest,
    Tai,
    TrackingAreaUpdateRequest,
    UeNetworkCapability,
    UpdateType,
)

pytestmark = pytest.mark.codec

HOT = (
    AttachRequest,
    AuthenticationResponse,
    SecurityModeComplete,
    AttachComplete,
    ServiceRequest,
    TrackingAreaUpdateRequest,
    DetachRequest,
    PdnConnectivityRequest,
    ActivateDefaultEpsBearerContextAccept,
)
HOT_GOLDEN = {name: message for name, message in GOLDEN.items() if isinstance(message, HOT)}
UNAVAILABLE = ("pycrate must decode it",)


def outcome(decoder, data: bytes, *, uplink: bool = True) -> tuple:
    """What a decoder makes of `data`: the message, the error's signature, or UNAVAILABLE."""
    try:
        return ("message", decoder(data, uplink=uplink))
    except nas_fast.FastPathUnavailable:
        return UNAVAILABLE
    except NasDecodeError as error:
        return (
            "error",
            error.cause,
            error.sublayer,
            error.message_type,
            error.bearer_identity,
            error.procedure_transaction_identity,
            error.outer_message_type,
        )


def assert_fast_path_agrees(data: bytes, *, uplink: bool = True) -> tuple:
    fast = outcome(nas_fast.decode, data, uplink=uplink)
    if fast != UNAVAILABLE:
        assert fast == outcome(nas.decode_with_pycrate, data, uplink=uplink)
    return fast


@pytest.mark.parametrize("name", HOT_GOLDEN)
def test_hot_golden_message_takes_the_fast_path(name):
    message = HOT_GOLDEN[name]
    assert nas_fast.decode(nas.encode(message)) == message


@pytest.mark.parametrize("name", GOLDEN)
def test_fast_path_agrees_with_pycrate_or_declines_on_every_golden_message(name):
    message = GOLDEN[name]
    assert_fast_path_agrees(nas.encode(message), uplink=uplink(message))


# --- Generated hot messages -----------------------------------------------------------------

DIGITS = string.digits
plmns = st.text(DIGITS, min_size=5, max_size=6)
gutis = st.builds(
    Guti,
    plmns,
    st.integers(0, 0xFFFF),
    st.integers(0, 0xFF),
    st.integers(0, 0xFFFF_FFFF),
)
eps_identities = st.one_of(
    st.text(DIGITS, min_size=1, max_size=15).map(Imsi),
    st.text(DIGITS, min_size=14, max_size=15).map(Imei),
    gutis,
)
key_set_identifiers = st.builds(NasKeySetIdentifier, st.integers(0, 7), st.booleans())
ue_network_capabilities = st.binary(min_size=2, max_size=13).map(UeNetworkCapability)
tais = st.builds(Tai, plmns, st.integers(0, 0xFFFF))
apns = st.lists(
    st.text(string.ascii_letters + string.digits + "-", min_size=1, max_size=20),
    min_size=1,
    max_size=4,
).map(".".join)
pcos = st.lists(
    st.builds(PcoOption, st.integers(0, 0xFFFF), st.binary(max_size=24)), max_size=5
).map(lambda options: ProtocolConfigurationOptions(tuple(options)))
bearer_identities = st.integers(0, 15)
ptis = st.integers(0, 255)
pdn_connectivity_requests = st.builds(
    PdnConnectivityRequest,
    bearer_identity=bearer_identities,
    procedure_transaction_identity=ptis,
    request_type=st.integers(0, 7),
    pdn_type=st.integers(0, 7),
    esm_information_transfer=st.booleans(),
    apn=st.none() | apns,
    protocol_configuration_options=st.none() | pcos,
)
default_bearer_accepts = st.builds(
    ActivateDefaultEpsBearerContextAccept,
    bearer_identity=bearer_identities,
    procedure_transaction_identity=ptis,
    protocol_configuration_options=st.none() | pcos,
)
imeisvs = st.text(DIGITS, min_size=16, max_size=16).map(Imeisv)
short_macs = st.binary(min_size=2, max_size=2)
optional_octets = st.none() | st.binary(min_size=0, max_size=10)
hot_messages = st.one_of(
    st.builds(
        AttachRequest,
        attach_type=st.integers(0, 7),
        key_set_identifier=key_set_identifiers,
        identity=eps_identities,
        ue_network_capability=ue_network_capabilities,
        esm_message=pdn_connectivity_requests,
        additional_guti=st.none() | gutis,
        last_visited_tai=st.none() | tais,
        drx_parameter=st.none() | st.binary(min_size=2, max_size=2),
        ms_network_capability=optional_octets,
    ),
    st.builds(AuthenticationResponse, res=st.binary(max_size=16)),
    st.builds(
        SecurityModeComplete,
        imeisv=st.none() | st.text(DIGITS, min_size=16, max_size=16).map(Imeisv),
    ),
    st.builds(AttachComplete, esm_message=default_bearer_accepts),
    st.builds(
        ServiceRequest, st.integers(0, 7), st.integers(0, 31), st.binary(min_size=2, max_size=2)
    ),
    st.builds(
        TrackingAreaUpdateRequest,
        update_type=st.builds(UpdateType, st.integers(0, 7), st.booleans()),
        key_set_identifier=key_set_identifiers,
        old_guti=gutis,
        additional_guti=st.none() | gutis,
        ue_network_capability=st.none() | ue_network_capabilities,
        last_visited_tai=st.none() | tais,
        drx_parameter=st.none() | st.binary(min_size=2, max_size=2),
        eps_bearer_context_status=st.none() | st.frozensets(st.integers(0, 15)),
        ms_network_capability=optional_octets,
    ),
    st.builds(
        DetachRequest,
        detach_type=st.builds(DetachType, st.integers(0, 7), st.booleans()),
        key_set_identifier=key_set_identifiers,
        identity=eps_identities,
    ),
    pdn_connectivity_requests,
)

FUZZ_SETTINGS = settings(
    max_examples=500, deadline=timedelta(seconds=2), suppress_health_check=list(HealthCheck)
)


@FUZZ_SETTINGS
@given(hot_messages)
def test_generated_hot_message_decodes_the_same_on_both_paths(message):
    data = nas.encode(message)
    assert nas_fast.decode(data) == message
    assert nas.decode_with_pycrate(data) == message


@st.composite
def mutated_hot_messages(draw):
    data = bytearray(nas.encode(draw(hot_messages)))
    for _ in range(draw(st.integers(1, 3))):
        position = draw(st.integers(0, len(data) - 1))
        match draw(st.sampled_from(["flip", "set", "insert", "delete", "truncate", "append"])):
            case "flip":
                data[position] ^= 1 << draw(st.integers(0, 7))
            case "set":
                data[position] = draw(st.integers(0, 255))
            case "insert":
                data.insert(position, draw(st.integers(0, 255)))
            case "delete":
                del data[position]
            case "truncate":
                del data[max(position, 1) :]
            case "append":
                data += draw(st.binary(min_size=1, max_size=6))
        if not data:
            data.append(0x07)
    return bytes(data)


@FUZZ_SETTINGS
@given(mutated_hot_messages(), st.booleans())
def test_mutated_hot_message_gets_the_same_result_or_error_on_both_paths(data, direction):
    assert_fast_path_agrees(data, uplink=direction)


HOT_HEADERS = [
    bytes.fromhex(header)
    for header in ("0741", "0743", "0745", "0748", "0753", "075e", "c7", "0201d0", "5200c2")
]


@FUZZ_SETTINGS
@given(st.binary(max_size=80))
def test_random_bytes_get_the_same_result_or_error_on_both_paths(data):
    assert_fast_path_agrees(data)


@FUZZ_SETTINGS
@given(st.sampled_from(HOT_HEADERS), st.binary(max_size=80))
def test_random_bodies_of_hot_messages_get_the_same_result_or_error_on_both_paths(header, body):
    assert_fast_path_agrees(header + body)


def test_fast_path_decides_most_mutated_hot_messages_itself():
    """The agreement above would be empty if the fast path declined everything odd."""
    generator = random.Random(3)
    messages = [nas.encode(message) for message in HOT_GOLDEN.values()]
    decided = 0
    for _ in range(2000):
        data = bytearray(generator.choice(messages))
        data[generator.randrange(len(data))] ^= 1 << generator.randrange(8)
        decided += assert_fast_path_agrees(bytes(data)) != UNAVAILABLE
    assert decided > 1000


REAL_UE_OPTIONAL_IES = bytes.fromhex(
    "1300f1100001"  # old location area identification
    "90"  # TMSI status
    "11035758a6"  # mobile station classmark 2
    "200660140404efe5"  # mobile station classmark 3
    "40080402600400021f02"  # supported codecs
    "5d0103"  # voice domain preference and UE's usage setting
    "c1"  # MS network feature support
    "f0"  # additional update type
    "6f04f000f000"  # UE additional security capability
)


def test_attach_request_with_the_optional_ies_a_real_ue_sends_takes_the_fast_path():
    data = nas.encode(GOLDEN["attach request"]) + REAL_UE_OPTIONAL_IES
    assert nas_fast.decode(data) == GOLDEN["attach request"] == nas.decode_with_pycrate(data)
