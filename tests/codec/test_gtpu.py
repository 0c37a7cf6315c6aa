"""GTP-U codec: golden packets of every message type round-trip and tshark reads them as we
meant; the hot-path header functions agree with the typed codec; bad input raises
GtpuDecodeError; generated values round-trip; fuzzed bytes raise nothing else, quickly, in
bounded memory."""

from __future__ import annotations

import random
import struct
from contextlib import suppress
from ipaddress import IPv4Address, IPv6Address

import pytest
from harness.fuzz import mutations, peak_memory_bytes, random_mutation
from harness.tshark import Dissection, dissect, udp
from hypothesis import given, settings
from hypothesis import strategies as st

from epc.codec import DecodeError
from epc.codec.gtpu import (
    GTPU_PORT,
    EchoRequest,
    EchoResponse,
    EndMarker,
    ErrorIndication,
    ExtensionHeaderType,
    GPdu,
    GtpuDecodeError,
    GtpuMessage,
    MessageType,
    SupportedExtensionHeadersNotification,
    decode,
    decode_header,
    encode,
    encode_gpdu,
)

pytestmark = pytest.mark.codec


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071)."""
    data += b"\x00" * (len(data) % 2)
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def icmp_echo_request(source: str, destination: str, size: int = 64) -> bytes:
    """A valid IPv4 ICMP echo request of `size` octets: the UE's packet in a G-PDU."""
    icmp = struct.pack("!BBHHH", 8, 0, 0, 0x0101, 1) + bytes(range(size - 28))
    icmp = icmp[:2] + struct.pack("!H", checksum(icmp)) + icmp[4:]
    header = struct.pack(
        "!BBHHHBBH4s4s",
        0x45,
        0,
        20 + len(icmp),
        0,
        0,
        64,
        1,
        0,
        IPv4Address(source).packed,
        IPv4Address(destination).packed,
    )
    header = header[:10] + struct.pack("!H", checksum(header)) + header[12:]
    return header + icmp


PACKET = icmp_echo_request("10.45.0.2", "8.8.8.8")
UDP_PORT = (ExtensionHeaderType.UDP_PORT, (2152).to_bytes(2, "big"))
PDCP_PDU_NUMBER = (ExtensionHeaderType.PDCP_PDU_NUMBER, (291).to_bytes(2, "big"))
# 18-bit PDCP PDU number 0x12345 after six spare bits, then three spare octets (5.2.2.3).
LONG_PDCP_PDU_NUMBER = (ExtensionHeaderType.LONG_PDCP_PDU_NUMBER, bytes.fromhex("012345000000"))
SERVICE_CLASS_INDICATOR = (ExtensionHeaderType.SERVICE_CLASS_INDICATOR, b"\x05\x00")

GOLDEN: dict[str, GtpuMessage] = {
    "g_pdu": GPdu(teid=0x0100_0001, payload=PACKET),
    "g_pdu_with_sequence_and_n_pdu_numbers": GPdu(
        teid=0x0100_0002, payload=PACKET, sequence_number=0x1234, n_pdu_number=7
    ),
    "g_pdu_udp_port": GPdu(teid=0x0100_0003, payload=PACKET, extension_headers=(UDP_PORT,)),
    "g_pdu_pdcp_pdu_number": GPdu(
        teid=0x0100_0004, payload=PACKET, extension_headers=(PDCP_PDU_NUMBER,)
    ),
    "g_pdu_long_pdcp_pdu_number": GPdu(
        teid=0x0100_0005, payload=PACKET, extension_headers=(LONG_PDCP_PDU_NUMBER,)
    ),
    "g_pdu_service_class_indicator": GPdu(
        teid=0x0100_0006, payload=PACKET, extension_headers=(SERVICE_CLASS_INDICATOR,)
    ),
    "echo_request": EchoRequest(sequence_number=0x0101),
    "echo_response": EchoResponse(sequence_number=0x0101),
    "error_indication": ErrorIndication(
        teid_data=0x0100_0009,
        peer_address=IPv4Address("192.0.2.21"),
        sequence_number=0x0001,
        extension_headers=(UDP_PORT,),
    ),
    "error_indication_ipv6": ErrorIndication(
        teid_data=0x0100_000A, peer_address=IPv6Address("2001:db8::21")
    ),
    "end_marker": EndMarker(teid=0x0100_0001),
    "supported_extension_headers_notification": SupportedExtensionHeadersNotification(
        extension_types=(ExtensionHeaderType.UDP_PORT, ExtensionHeaderType.PDCP_PDU_NUMBER)
    ),
}

# tshark's JSON keeps one of several sibling extension headers, so a chain is checked here.
MORE_GOLDEN: dict[str, GtpuMessage] = {
    "g_pdu_extension_header_chain": GPdu(
        teid=0x0100_0007,
        payload=PACKET,
        sequence_number=0xFFFF,
        extension_headers=(
            UDP_PORT,
            PDCP_PDU_NUMBER,
            LONG_PDCP_PDU_NUMBER,
            SERVICE_CLASS_INDICATOR,
        ),
    ),
    "empty_g_pdu": GPdu(teid=0, payload=b""),
}

ALL_GOLDEN = GOLDEN | MORE_GOLDEN


def test_every_message_type_has_a_golden_packet() -> None:
    assert {type(message) for message in GOLDEN.values()} == set(GtpuMessage.__args__)


@pytest.mark.parametrize("name", ALL_GOLDEN)
def test_golden_packet_round_trips(name: str) -> None:
    message = ALL_GOLDEN[name]
    assert decode(encode(message)) == message


def test_golden_g_pdu_layout_is_the_figure_5_1_1_header() -> None:
    assert encode(GOLDEN["g_pdu"])[:8] == bytes.fromhex("30ff004001000001")
    chain = encode(MORE_GOLDEN["g_pdu_extension_header_chain"])
    assert chain[:12] == bytes.fromhex("36ff005801000007ffff0040")
    assert chain[12:16] == bytes.fromhex("010868c0")


# --- tshark ---------------------------------------------------------------------------------

EXPECTED_TSHARK_FIELDS: dict[str, dict[str, list[str]]] = {
    "g_pdu": {"gtp.message": ["0xff"], "gtp.teid": ["0x01000001"], "gtp.length": ["64"]},
    "g_pdu_with_sequence_and_n_pdu_numbers": {
        "gtp.teid": ["0x01000002"],
        "gtp.seq_number": ["0x1234"],
        "gtp.npdu_number": ["0x07"],
    },
    "g_pdu_udp_port": {"gtp.ext_hdr.next": ["0x40", "0x00"], "gtp.ext_hdr.udp_port": ["2152"]},
    "g_pdu_pdcp_pdu_number": {"gtp.ext_hdr.pdcp_sn": ["291"]},
    "g_pdu_long_pdcp_pdu_number": {"gtp.ext_hdr.long_pdcp_sn": ["74565"]},
    "g_pdu_service_class_indicator": {"gtp.ext_hdr.next": ["0x20", "0x00"]},
    "echo_request": {"gtp.message": ["0x01"], "gtp.seq_number": ["0x0101"]},
    "echo_response": {"gtp.message": ["0x02"], "gtp.recovery": ["0"]},
    "error_indication": {
        "gtp.message": ["0x1a"],
        "gtp.teid": ["0x00000000"],
        "gtp.teid_data": ["0x01000009"],
        "gtp.gsn_ipv4": ["192.0.2.21"],
        "gtp.ext_hdr.udp_port": ["2152"],
    },
    "error_indication_ipv6": {
        "gtp.teid_data": ["0x0100000a"],
        "gtp.gsn_ipv6": ["2001:db8::21"],
    },
    "end_marker": {"gtp.message": ["0xfe"], "gtp.teid": ["0x01000001"], "gtp.length": ["0"]},
    "supported_extension_headers_notification": {
        "gtp.message": ["0x1f"],
        "gtp.num_ext_hdr_types": ["2"],
    },
}


@pytest.fixture(scope="module")
def dissections() -> dict[str, Dissection]:
    frames = [udp(encode(message), GTPU_PORT) for message in GOLDEN.values()]
    return dict(zip(GOLDEN, dissect(frames), strict=True))


@pytest.mark.parametrize("name", GOLDEN)
def test_tshark_shows_the_encoded_fields_without_complaint(
    name: str, dissections: dict[str, Dissection]
) -> None:
    dissection = dissections[name]
    assert dissection.problems == []
    for field_name, values in EXPECTED_TSHARK_FIELDS[name].items():
        assert dissection.fields(field_name) == values, field_name


@pytest.mark.parametrize("name", [name for name in GOLDEN if name.startswith("g_pdu")])
def test_tshark_reads_the_user_packet_inside_a_g_pdu(
    name: str, dissections: dict[str, Dissection]
) -> None:
    assert "icmp" in dissections[name].layers
    assert "8.8.8.8" in dissections[name].fields("ip.dst")


# --- the hot path ---------------------------------------------------------------------------


@pytest.mark.parametrize("name", ALL_GOLDEN)
def test_decode_header_agrees_with_decode(name: str) -> None:
    message = ALL_GOLDEN[name]
    data = encode(message)
    message_type, teid, offset = decode_header(data)
    assert teid == getattr(message, "teid", 0)
    if isinstance(message, GPdu):
        assert message_type == MessageType.G_PDU
        assert data[offset:] == message.payload
    else:
        assert message_type != MessageType.G_PDU


def test_encode_gpdu_is_the_plain_g_pdu() -> None:
    assert encode_gpdu(0x0100_0001, PACKET) == encode(GOLDEN["g_pdu"])
    assert decode_header(encode_gpdu(7, PACKET)) == (MessageType.G_PDU, 7, 8)


# --- bad input ------------------------------------------------------------------------------

G_PDU = encode(GOLDEN["g_pdu"])
CHAIN = encode(MORE_GOLDEN["g_pdu_extension_header_chain"])


def header(flags: int, message_type: int, body: bytes, teid: int = 0) -> bytes:
    return struct.pack("!BBHI", flags, message_type, len(body), teid) + body


BAD_PACKETS = {
    "empty": b"",
    "shorter_than_a_header": G_PDU[:7],
    "truncated_payload": G_PDU[:-1],
    "trailing_octets": G_PDU + b"\x00",
    "length_field_too_large": G_PDU[:2] + b"\xff\xff" + G_PDU[4:],
    "gtp_version_2": bytes([0x48]) + G_PDU[1:],
    "gtp_version_0": bytes([0x10]) + G_PDU[1:],
    "gtp_prime": bytes([0x20]) + G_PDU[1:],
    "optional_fields_flagged_but_missing": header(0x32, 255, b"\x00\x01"),
    "extension_header_of_length_zero": header(0x34, 255, b"\x00\x00\x00\x40" + b"\x00\x00\x00\x00"),
    "extension_header_overflowing": header(0x34, 255, b"\x00\x00\x00\xc0" + b"\x02\x00\x01\x00"),
    "extension_chain_without_end": header(0x34, 255, b"\x00\x00\x00\xc0" + b"\x01\x00\x01\x40"),
    "unknown_message_type": header(0x32, 3, b"\x00\x01\x00\x00"),
    "echo_response_without_recovery": header(0x32, 2, b"\x00\x01\x00\x00"),
    "echo_response_recovery_cut": header(0x32, 2, b"\x00\x01\x00\x00\x0e"),
    "error_indication_without_peer_address": header(0x30, 26, b"\x10\x00\x00\x00\x09"),
    "error_indication_without_teid_data": header(0x30, 26, b"\x85\x00\x04\xc0\x00\x02\x15"),
    "error_indication_peer_address_of_5_octets": header(
        0x30, 26, b"\x10\x00\x00\x00\x09\x85\x00\x05\xc0\x00\x02\x15\x00"
    ),
    "tlv_ie_overflowing": header(0x30, 26, b"\x10\x00\x00\x00\x09\x85\x00\x10\xc0\x00"),
    "tlv_ie_header_cut": header(0x30, 26, b"\x10\x00\x00\x00\x09\x85\x00"),
    "unknown_tv_ie": header(0x32, 2, b"\x00\x01\x00\x00\x14\x00"),
    "extension_type_list_cut": header(0x32, 31, b"\x00\x01\x00\x00\x8d\x03\x40"),
}


@pytest.mark.parametrize("name", BAD_PACKETS)
def test_bad_packet_raises_gtpu_decode_error_with_a_reason(name: str) -> None:
    with pytest.raises(GtpuDecodeError) as caught:
        decode(BAD_PACKETS[name])
    assert isinstance(caught.value, DecodeError) and caught.value.reason


@pytest.mark.parametrize(
    "name",
    [
        "empty",
        "shorter_than_a_header",
        "truncated_payload",
        "trailing_octets",
        "gtp_version_2",
        "gtp_prime",
        "extension_header_overflowing",
        "extension_chain_without_end",
    ],
)
def test_hot_path_rejects_a_bad_header(name: str) -> None:
    with pytest.raises(GtpuDecodeError):
        decode_header(BAD_PACKETS[name])


@pytest.mark.parametrize(
    "message",
    [
        GPdu(teid=1, payload=b"", extension_headers=((0x40, b"\x08"),)),
        GPdu(teid=1, payload=b"", extension_headers=((0x40, bytes(1022)),)),
        GPdu(teid=1 << 32, payload=b""),
        GPdu(teid=1, payload=bytes(65536)),
        EchoResponse(recovery=256),
        SupportedExtensionHeadersNotification(extension_types=(256,)),
    ],
)
def test_encoding_a_value_out_of_range_raises_value_error(message: GtpuMessage) -> None:
    with pytest.raises(ValueError):
        encode(message)


# --- generated values round-trip -----------------------------------------------------------

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFF_FFFF)
extension_content = st.integers(1, 3).flatmap(
    lambda units: st.binary(min_size=4 * units - 2, max_size=4 * units - 2)
)
extension_headers = st.lists(st.tuples(st.integers(1, 0xFF), extension_content), max_size=4).map(
    tuple
)

any_message = st.one_of(
    st.builds(
        GPdu,
        teid=u32,
        payload=st.binary(max_size=100),
        sequence_number=st.none() | u16,
        n_pdu_number=st.none() | u8,
        extension_headers=extension_headers,
    ),
    st.builds(EchoRequest, sequence_number=st.none() | u16),
    st.builds(EchoResponse, sequence_number=st.none() | u16, recovery=u8),
    st.builds(
        ErrorIndication,
        teid_data=u32,
        peer_address=st.ip_addresses(),
        sequence_number=st.none() | u16,
        extension_headers=extension_headers,
    ),
    st.builds(EndMarker, teid=u32, sequence_number=st.none() | u16),
    st.builds(
        SupportedExtensionHeadersNotification,
        extension_types=st.lists(u8, max_size=10).map(tuple),
        sequence_number=st.none() | u16,
    ),
)


@settings(max_examples=500, deadline=500)
@given(any_message)
def test_generated_messages_round_trip(message: GtpuMessage) -> None:
    assert decode(encode(message)) == message


# --- fuzz -----------------------------------------------------------------------------------

GOLDEN_BYTES = [encode(message) for message in ALL_GOLDEN.values()]


def decodes_or_rejects(data: bytes) -> None:
    """Either both decoders reject the bytes with GtpuDecodeError, or the typed message
    re-encodes to itself and the hot path finds the same type, TEID and payload."""
    try:
        message = decode(data)
    except GtpuDecodeError as error:
        assert error.reason
        try:
            decode_header(data)
        except GtpuDecodeError:
            pass
        return
    assert decode(encode(message)) == message
    message_type, teid, offset = decode_header(data)
    assert teid == getattr(message, "teid", teid)
    if isinstance(message, GPdu):
        assert (message_type, data[offset:]) == (MessageType.G_PDU, message.payload)


@settings(max_examples=1000, deadline=500)
@given(mutations(GOLDEN_BYTES))
def test_mutated_golden_packets_decode_or_raise_gtpu_decode_error(data: bytes) -> None:
    decodes_or_rejects(data)


@settings(max_examples=1000, deadline=500)
@given(st.binary(max_size=120))
def test_random_bytes_decode_or_raise_gtpu_decode_error(data: bytes) -> None:
    decodes_or_rejects(data)


@settings(max_examples=500, deadline=500)
@given(st.integers(0, 0xFF), st.sampled_from(list(MessageType)), st.binary(max_size=120))
def test_random_bodies_under_a_valid_header_decode_or_raise(
    flags: int, message_type: int, body: bytes
) -> None:
    decodes_or_rejects(header(0x30 | flags & 0x0F, message_type, body))


def test_fuzz_batch_memory_stays_bounded() -> None:
    generator = random.Random(5)
    inputs = [random_mutation(generator, GOLDEN_BYTES) for _ in range(20_000)]
    longest_chain = b"\x01\x00\x00\x40" * 16_000 + b"\x01\x00\x00\x00"
    inputs.append(header(0x34, 255, b"\x00\x00\x00\x40" + longest_chain))  # a 64 KB packet

    def decode_quietly(data: bytes) -> None:
        with suppress(GtpuDecodeError):
            decode(data)

    assert peak_memory_bytes(decode_quietly, inputs) < 8 * 1024 * 1024
