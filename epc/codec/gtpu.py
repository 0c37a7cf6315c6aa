"""GTP-U (TS 29.281): the user plane tunnel header, fast, and the few GTP-U signalling messages.

Owns: the G-PDU header on the forwarding hot path (`decode_header`, `encode_gpdu`: preallocated
`struct.Struct`s, no pycrate), the optional fields (sequence number, N-PDU number) and the
extension header chain (clause 5.2), and the typed messages Echo Request/Response, Error
Indication, End Marker, Supported Extension Headers Notification and G-PDU (clause 7) for
everything off the hot path.

Extension headers come out as (type, content) pairs in chain order, content without the length
and next-type octets; `ExtensionHeaderType` names the types (Figure 5.2.1-3). Whether one whose
type says "comprehension required" is understood is the caller's decision (clause 5.2.1): it
answers with a Supported Extension Headers Notification when not.

Bad input raises `GtpuDecodeError`, and the receiver discards the packet: GTP-U has no error
response to a malformed packet. An unknown TEID is not a decoding matter; the forwarder answers
it with an Error Indication (clause 7.3.1).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum
from ipaddress import IPv4Address, IPv6Address, ip_address

from epc.codec import DecodeError


class MessageType(IntEnum):
    """TS 29.281 clause 6.1, Table 6.1-1."""

    ECHO_REQUEST = 1
    ECHO_RESPONSE = 2
    ERROR_INDICATION = 26
    SUPPORTED_EXTENSION_HEADERS_NOTIFICATION = 31
    END_MARKER = 254
    G_PDU = 255


class ExtensionHeaderType(IntEnum):
    """TS 29.281 clause 5.2.1, Figure 5.2.1-3. The two high bits say whether a receiver must
    comprehend it (5.2.1): 0b00/0b01 no, 0b10 the endpoint, 0b11 every node."""

    NO_MORE_EXTENSION_HEADERS = 0x00
    SERVICE_CLASS_INDICATOR = 0x20
    UDP_PORT = 0x40
    RAN_CONTAINER = 0x81
    LONG_PDCP_PDU_NUMBER = 0x82
    XW_RAN_CONTAINER = 0x83
    NR_RAN_CONTAINER = 0x84
    PDU_SESSION_CONTAINER = 0x85
    PDCP_PDU_NUMBER = 0xC0


class IeType(IntEnum):
    """TS 29.281 clause 8.1, Table 8.1-1 (the IEs read here; others, such as the Private
    Extension, are skipped). Types below 128 are TV with a fixed length."""

    RECOVERY = 14
    TEID_DATA_I = 16
    GTPU_PEER_ADDRESS = 133
    EXTENSION_HEADER_TYPE_LIST = 141


GTPU_PORT = 2152
"""TS 29.281 clause 4.4.2: the UDP port of every GTP-U endpoint."""

_TV_LENGTHS = {IeType.RECOVERY: 1, IeType.TEID_DATA_I: 4}
"""Value lengths of the TV IEs (8.2, 8.3); an unknown TV IE cannot be skipped."""

# Clause 5.1, Figure 5.1-1: version 1 (bits 8-6), PT 1 = GTP (bit 5), spare, E, S, PN.
_VERSION_AND_PT = 0x30
_VERSION_AND_PT_MASK = 0xF0
_FLAG_EXTENSION = 0x04
_FLAG_SEQUENCE = 0x02
_FLAG_N_PDU = 0x01
_OPTIONAL_FLAGS = _FLAG_EXTENSION | _FLAG_SEQUENCE | _FLAG_N_PDU

_G_PDU = int(MessageType.G_PDU)  # a plain int: an enum member costs a lookup per packet
_HEADER = struct.Struct("!BBHI")  # flags, message type, length, TEID
_OPTIONAL = struct.Struct("!HBB")  # sequence number, N-PDU number, next extension header type
_MANDATORY_LENGTH = _HEADER.size
"""Clause 5.1: the length field counts every octet after these eight."""
_EXTENSION_UNIT = 4
"""Clause 5.2.1: extension header lengths are in units of four octets."""


class GtpuDecodeError(DecodeError):
    """Bytes that are not a valid GTP-U packet: the receiver discards them."""


# --- the hot path -------------------------------------------------------------------------


def decode_header(data: bytes) -> tuple[int, int, int]:
    """(message type, TEID, offset of what follows the header): for a G-PDU the T-PDU, the
    user's IP packet. Validates flags, length and the extension header chain."""
    if len(data) < _MANDATORY_LENGTH:
        raise GtpuDecodeError("shorter than a GTP-U header")
    flags, message_type, length, teid = _HEADER.unpack_from(data)
    if flags & _VERSION_AND_PT_MASK != _VERSION_AND_PT:
        raise GtpuDecodeError(f"flags {flags:#04x}: not GTP version 1 with PT 1")
    if length + _MANDATORY_LENGTH != len(data):
        raise GtpuDecodeError(f"length {length} for {len(data) - _MANDATORY_LENGTH} octets")
    if not flags & _OPTIONAL_FLAGS:
        return message_type, teid, _MANDATORY_LENGTH
    return message_type, teid, _optional_fields(data, flags)[3]


def encode_gpdu(teid: int, payload: bytes) -> bytes:
    """A G-PDU with no optional field: the common case of the forwarding path."""
    return _HEADER.pack(_VERSION_AND_PT, _G_PDU, len(payload), teid) + payload


# --- optional fields and extension headers (clauses 5.1, 5.2) -----------------------------

ExtensionHeaders = tuple[tuple[int, bytes], ...]


def _optional_fields(
    data: bytes, flags: int
) -> tuple[int | None, int | None, ExtensionHeaders, int]:
    """(sequence number, N-PDU number, extension headers, offset after them). A field whose
    flag is clear is present but meaningless (5.1), so it comes out as None."""
    if len(data) < _MANDATORY_LENGTH + _OPTIONAL.size:
        raise GtpuDecodeError("optional fields flagged but missing")
    sequence_number, n_pdu_number, next_type = _OPTIONAL.unpack_from(data, _MANDATORY_LENGTH)
    offset = _MANDATORY_LENGTH + _OPTIONAL.size
    extension_headers: ExtensionHeaders = ()
    if flags & _FLAG_EXTENSION:
        extension_headers, offset = _extension_headers(data, offset, next_type)
    return (
        sequence_number if flags & _FLAG_SEQUENCE else None,
        n_pdu_number if flags & _FLAG_N_PDU else None,
        extension_headers,
        offset,
    )


def _extension_headers(data: bytes, offset: int, next_type: int) -> tuple[ExtensionHeaders, int]:
    headers = []
    while next_type != ExtensionHeaderType.NO_MORE_EXTENSION_HEADERS:
        if offset >= len(data) or data[offset] == 0:
            raise GtpuDecodeError(f"extension header {next_type:#04x} missing or empty")
        end = offset + data[offset] * _EXTENSION_UNIT
        if end > len(data):
            raise GtpuDecodeError(f"extension header {next_type:#04x} overflows the packet")
        headers.append((next_type, data[offset + 1 : end - 1]))
        next_type = data[end - 1]
        offset = end
    return tuple(headers), offset


def _encode_extension_headers(headers: ExtensionHeaders) -> bytes:
    encoded = b""
    for index, (_, content) in enumerate(headers):
        next_type = headers[index + 1][0] if index + 1 < len(headers) else 0
        units, remainder = divmod(len(content) + 2, _EXTENSION_UNIT)
        if remainder or not 0 < units <= 0xFF:
            raise ValueError(f"extension header content of {len(content)} octets is not 4n-2")
        encoded += bytes([units]) + content + bytes([next_type])
    return encoded


# --- typed messages (clause 7) ------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class GPdu:
    """A user packet (T-PDU) in the tunnel `teid` (clause 6.1, message type 255)."""

    teid: int
    payload: bytes
    sequence_number: int | None = None
    n_pdu_number: int | None = None
    extension_headers: ExtensionHeaders = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class EchoRequest:
    """Clause 7.2.1: TEID 0, sequence number always present."""

    sequence_number: int | None = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class EchoResponse:
    """Clause 7.2.2: the Recovery IE's restart counter is 0 in GTP-U (8.2)."""

    sequence_number: int | None = 0
    recovery: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class ErrorIndication:
    """Clause 7.3.1: a G-PDU arrived for `teid_data`, unknown at `peer_address` (this node's
    address the G-PDU was sent to). The UDP Port extension header (5.2.2.1) carries the G-PDU's
    source port when the Error Indication does not go back to port 2152."""

    teid_data: int
    peer_address: IPv4Address | IPv6Address
    sequence_number: int | None = None
    extension_headers: ExtensionHeaders = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class EndMarker:
    """Clause 7.3.2: the last packet on the old path of `teid` after a path switch."""

    teid: int
    sequence_number: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SupportedExtensionHeadersNotification:
    """Clause 7.3.3: the extension header types this node comprehends."""

    extension_types: tuple[int, ...]
    sequence_number: int | None = 0


GtpuMessage = (
    GPdu
    | EchoRequest
    | EchoResponse
    | ErrorIndication
    | EndMarker
    | SupportedExtensionHeadersNotification
)


def decode(data: bytes) -> GtpuMessage:
    """Any GTP-U message, typed. Raises GtpuDecodeError."""
    data = bytes(data)
    message_type, teid, _ = decode_header(data)
    if message_type not in _MESSAGE_TYPES:
        raise GtpuDecodeError(f"unknown message type {message_type}")
    sequence_number, n_pdu_number, extension_headers, offset = (None, None, (), _MANDATORY_LENGTH)
    if data[0] & _OPTIONAL_FLAGS:
        sequence_number, n_pdu_number, extension_headers, offset = _optional_fields(data, data[0])
    if message_type == MessageType.G_PDU:
        return GPdu(
            teid=teid,
            payload=data[offset:],
            sequence_number=sequence_number,
            n_pdu_number=n_pdu_number,
            extension_headers=extension_headers,
        )
    ies = _split_ies(data, offset)
    match message_type:
        case MessageType.ECHO_REQUEST:
            return EchoRequest(sequence_number=sequence_number)
        case MessageType.ECHO_RESPONSE:
            recovery = _mandatory(ies, IeType.RECOVERY)[0]
            return EchoResponse(sequence_number=sequence_number, recovery=recovery)
        case MessageType.ERROR_INDICATION:
            return _decode_error_indication(ies, sequence_number, extension_headers)
        case MessageType.END_MARKER:
            return EndMarker(teid=teid, sequence_number=sequence_number)
        case MessageType.SUPPORTED_EXTENSION_HEADERS_NOTIFICATION:
            types = tuple(_mandatory(ies, IeType.EXTENSION_HEADER_TYPE_LIST))
            return SupportedExtensionHeadersNotification(
                extension_types=types, sequence_number=sequence_number
            )
    raise AssertionError(message_type)  # every known type has a case above


_MESSAGE_TYPES = frozenset(MessageType)


def _decode_error_indication(
    ies: dict[int, bytes], sequence_number: int | None, extension_headers: ExtensionHeaders
) -> ErrorIndication:
    teid_data = int.from_bytes(_mandatory(ies, IeType.TEID_DATA_I), "big")
    address = _mandatory(ies, IeType.GTPU_PEER_ADDRESS)
    if len(address) not in (4, 16):
        raise GtpuDecodeError(f"GTP-U peer address of {len(address)} octets")
    return ErrorIndication(
        teid_data=teid_data,
        peer_address=ip_address(address),
        sequence_number=sequence_number,
        extension_headers=extension_headers,
    )


def _mandatory(ies: dict[int, bytes], ie_type: IeType) -> bytes:
    value = ies.get(ie_type)
    if value is None:
        raise GtpuDecodeError(f"mandatory IE {ie_type.name} missing")
    return value


def _split_ies(data: bytes, offset: int) -> dict[int, bytes]:
    """IE values by type (first occurrence), TV (8.1: type below 128) and TLV alike."""
    ies: dict[int, bytes] = {}
    while offset < len(data):
        ie_type = data[offset]
        start, length = _ie_extent(data, offset, ie_type)
        if start + length > len(data):
            raise GtpuDecodeError(f"IE {ie_type} overflows the packet")
        ies.setdefault(ie_type, data[start : start + length])
        offset = start + length
    return ies


def _ie_extent(data: bytes, offset: int, ie_type: int) -> tuple[int, int]:
    """(offset of the IE's value, its length)."""
    if ie_type < 0x80:
        if ie_type not in _TV_LENGTHS:
            raise GtpuDecodeError(f"unknown TV IE {ie_type}: its length is not known")
        return offset + 1, _TV_LENGTHS[ie_type]
    if ie_type == IeType.EXTENSION_HEADER_TYPE_LIST:  # 8.5: a one-octet length
        if offset + 2 > len(data):
            raise GtpuDecodeError("IE header overflows the packet")
        return offset + 2, data[offset + 1]
    if offset + 3 > len(data):
        raise GtpuDecodeError("IE header overflows the packet")
    return offset + 3, int.from_bytes(data[offset + 1 : offset + 3], "big")


def encode(message: GtpuMessage) -> bytes:
    """The message's bytes. Raises ValueError for a field out of its range."""
    try:
        return _encode(message)
    except (struct.error, OverflowError) as error:
        raise ValueError(f"{type(message).__name__}: {error}") from error


def _encode(message: GtpuMessage) -> bytes:
    match message:
        case GPdu():
            return _packet(
                MessageType.G_PDU,
                message.teid,
                message.payload,
                message.sequence_number,
                message.n_pdu_number,
                message.extension_headers,
            )
        case EchoRequest():
            return _packet(MessageType.ECHO_REQUEST, 0, b"", message.sequence_number)
        case EchoResponse():
            body = struct.pack("!BB", IeType.RECOVERY, message.recovery)
            return _packet(MessageType.ECHO_RESPONSE, 0, body, message.sequence_number)
        case ErrorIndication():
            return _encode_error_indication(message)
        case EndMarker():
            return _packet(MessageType.END_MARKER, message.teid, b"", message.sequence_number)
        case SupportedExtensionHeadersNotification():
            types = bytes(message.extension_types)
            body = struct.pack("!BB", IeType.EXTENSION_HEADER_TYPE_LIST, len(types)) + types
            kind = MessageType.SUPPORTED_EXTENSION_HEADERS_NOTIFICATION
            return _packet(kind, 0, body, message.sequence_number)
    raise TypeError(f"not a GTP-U message: {message!r}")


def _encode_error_indication(message: ErrorIndication) -> bytes:
    address = message.peer_address.packed
    body = struct.pack("!BI", IeType.TEID_DATA_I, message.teid_data)
    body += struct.pack("!BH", IeType.GTPU_PEER_ADDRESS, len(address)) + address
    return _packet(
        MessageType.ERROR_INDICATION,
        0,
        body,
        message.sequence_number,
        extension_headers=message.extension_headers,
    )


def _packet(
    message_type: int,
    teid: int,
    body: bytes,
    sequence_number: int | None = None,
    n_pdu_number: int | None = None,
    extension_headers: ExtensionHeaders = (),
) -> bytes:
    flags = _VERSION_AND_PT
    flags |= _FLAG_SEQUENCE if sequence_number is not None else 0
    flags |= _FLAG_N_PDU if n_pdu_number is not None else 0
    flags |= _FLAG_EXTENSION if extension_headers else 0
    optional = b""
    if flags & _OPTIONAL_FLAGS:
        first_type = extension_headers[0][0] if extension_headers else 0
        optional = _OPTIONAL.pack(sequence_number or 0, n_pdu_number or 0, first_type)
        optional += _encode_extension_headers(extension_headers)
    length = len(optional) + len(body)
    return _HEADER.pack(flags, message_type, length, teid) + optional + body
