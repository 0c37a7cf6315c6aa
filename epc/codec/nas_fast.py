"""Hand-written decoder for the NAS messages on the MME's hot path, without pycrate.

pycrate's generic NAS parser costs milliseconds per Attach Request; this one slices bytes and
walks the IE tables of `nas_messages` (TS 24.301 8.2.x / 8.3.x) for the messages every UE sends
on attach, service and detach: Attach Request (with its PDN Connectivity Request), Attach
Complete (with its Activate Default EPS Bearer Context Accept), Authentication Response,
Security Mode Complete, Tracking Area Update Request, UE originating Detach Request, and the
Service Request and security protected headers.

It returns exactly the dataclasses the pycrate path returns (a test holds it to that on golden,
generated and mutated input) and never guesses: a message type it does not read, an IEI it does
not know, a repeated IE or a value it finds odd raises `FastPathUnavailable`, and the caller
decodes with pycrate instead. Framing errors (a length running past the end, a missing
mandatory IE) are certain and raise `NasDecodeError` here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from epc.codec.nas_messages import (
    ActivateDefaultEpsBearerContextAccept,
    AttachComplete,
    AttachRequest,
    AuthenticationResponse,
    DetachRequest,
    DetachType,
    EmmCause,
    EpsIdentityType,
    Form,
    Guti,
    IdentityType,
    Ie,
    Imei,
    Imeisv,
    Imsi,
    Kind,
    NasDecodeError,
    NasKeySetIdentifier,
    NasMessage,
    PdnConnectivityRequest,
    ProtectedNas,
    ProtocolConfigurationOptions,
    SecurityHeaderType,
    SecurityModeComplete,
    ServiceRequest,
    Sublayer,
    Tai,
    Tmsi,
    TrackingAreaUpdateRequest,
    UeNetworkCapability,
    UpdateType,
    esm_message_class,
    invalid_message,
    message_class,
)

FAST_MESSAGES: frozenset[type[NasMessage]] = frozenset(
    {
        AttachRequest,
        AttachComplete,
        AuthenticationResponse,
        SecurityModeComplete,
        TrackingAreaUpdateRequest,
        DetachRequest,
        PdnConnectivityRequest,
        ActivateDefaultEpsBearerContextAccept,
    }
)


class FastPathUnavailable(Exception):
    """The fast path does not read this message; decode it with pycrate."""


class _Unreadable(Exception):
    """A value part the fast path will not interpret."""


def decode(data: bytes, *, uplink: bool = True) -> NasMessage | ServiceRequest | ProtectedNas:
    """Decode NAS `data`; FastPathUnavailable when pycrate must do it instead."""
    if len(data) < 2:
        raise invalid_message(data, EmmCause.PROTOCOL_ERROR_UNSPECIFIED, "shorter than a header")
    discriminator, header_type = data[0] & 0x0F, data[0] >> 4
    if discriminator == Sublayer.ESM:
        return _decode_esm(data)
    if discriminator != Sublayer.EMM:
        raise invalid_message(
            data, EmmCause.MESSAGE_TYPE_NON_EXISTENT, "unknown protocol discriminator"
        )
    if header_type == SecurityHeaderType.PLAIN:
        return _decode_emm(data, uplink)
    if header_type <= SecurityHeaderType.INTEGRITY_PROTECTED_CIPHERED_NEW_CONTEXT:
        return _decode_protected(data)
    if header_type >= SecurityHeaderType.SERVICE_REQUEST:
        return _decode_service_request(data)
    raise invalid_message(data, EmmCause.PROTOCOL_ERROR_UNSPECIFIED, "reserved security header")


def _decode_esm(data: bytes) -> NasMessage:
    """Decode a plain ESM message (also the content of an ESM message container)."""
    cls = esm_message_class(data)
    if cls not in FAST_MESSAGES:
        raise FastPathUnavailable
    values = _read_body(cls, data, 3)
    return cls(bearer_identity=data[0] >> 4, procedure_transaction_identity=data[1], **values)


def _decode_emm(data: bytes, uplink: bool) -> NasMessage:
    cls = message_class(Sublayer.EMM, data[1], uplink=uplink)
    if cls not in FAST_MESSAGES:
        raise FastPathUnavailable
    try:
        return cls(**_read_body(cls, data, 2))
    except NasDecodeError as error:
        if error.sublayer is Sublayer.ESM:
            raise error.inside(cls.MESSAGE_TYPE) from None
        raise


def _decode_protected(data: bytes) -> ProtectedNas:
    if len(data) < 6:
        raise invalid_message(
            data, EmmCause.INVALID_MANDATORY_INFORMATION, "truncated security header"
        )
    return ProtectedNas(data[0] >> 4, data[1:5], data[5], data[6:])


def _decode_service_request(data: bytes) -> ServiceRequest:
    if len(data) < 4:
        raise invalid_message(
            data, EmmCause.INVALID_MANDATORY_INFORMATION, "truncated Service Request"
        )
    if len(data) > 4:
        raise FastPathUnavailable
    return ServiceRequest(data[1] >> 5, data[1] & 0x1F, data[2:4])


# --- The IE table walk ------------------------------------------------------------------------


class _Table(NamedTuple):
    mandatory: tuple[tuple[Ie, Ie | None], ...]
    """Mandatory IEs in order; half octets paired as (bits 4-1, bits 8-5)."""
    optional: dict[int, Ie]
    """Optional IEs by their first octet (a type 1 IEI fills 16 entries)."""


def _compile(cls: type[NasMessage]) -> _Table:
    mandatory: list[tuple[Ie, Ie | None]] = []
    optional: dict[int, Ie] = {}
    halves = [ie for ie in cls.LAYOUT if ie.form is Form.HALF]
    pairs = dict(zip(halves[::2], halves[1::2], strict=True))
    for ie in cls.LAYOUT:
        if ie.form is Form.HALF:
            if ie in pairs:
                mandatory.append((ie, pairs[ie]))
        elif ie.form is Form.TV_HALF:
            optional.update(dict.fromkeys(range(ie.iei << 4, (ie.iei << 4) + 16), ie))
        elif ie.iei is None:
            mandatory.append((ie, None))
        else:
            optional[ie.iei] = ie
    return _Table(tuple(mandatory), optional)


_TABLES = {cls: _compile(cls) for cls in FAST_MESSAGES}


def _read_body(cls: type[NasMessage], data: bytes, offset: int) -> dict[str, object]:
    """Frame every IE first, then read the values: as in pycrate, a framing error anywhere
    wins over a bad value part (such as a broken ESM message container)."""
    table = _TABLES[cls]
    found: list[tuple[Ie, bytes | int]] = []
    end = len(data)
    for ie, high in table.mandatory:
        if high is None:
            value, offset = _read_value(data, offset, ie)
            found.append((ie, value))
            continue
        if offset >= end:
            raise _missing(data, ie)
        found += ((ie, data[offset] & 0x0F), (high, data[offset] >> 4))
        offset += 1
    seen: set[int] = set()
    while offset < end:
        ie = table.optional.get(data[offset])
        if ie is None or ie.iei in seen:
            raise FastPathUnavailable
        seen.add(ie.iei)
        if ie.form is Form.TV_HALF:
            value, offset = data[offset] & 0x0F, offset + 1
        else:
            value, offset = _read_value(data, offset + 1, ie)
        found.append((ie, value))
    return {ie.field: _value(ie, value) for ie, value in found if ie.field is not None}


def _read_value(data: bytes, offset: int, ie: Ie) -> tuple[bytes, int]:
    """The value part at `offset` and the offset after it, per the IE's format."""
    form = ie.form
    if form is Form.V or form is Form.TV:
        length = ie.length
    elif form is Form.LV or form is Form.TLV:
        if offset >= len(data):
            raise _missing(data, ie)
        length = data[offset]
        offset += 1
    else:
        if offset + 2 > len(data):
            raise _missing(data, ie)
        length = data[offset] << 8 | data[offset + 1]
        offset += 2
    after = offset + length
    if after > len(data):
        raise _missing(data, ie)
    return data[offset:after], after


def _missing(data: bytes, ie: Ie) -> NasDecodeError:
    return invalid_message(
        data, EmmCause.INVALID_MANDATORY_INFORMATION, f"{ie.field or hex(ie.iei or 0)} truncated"
    )


def _value(ie: Ie, value: bytes | int) -> object:
    try:
        return _DECODERS[ie.kind](value)
    except _Unreadable:
        raise FastPathUnavailable from None


# --- Value parts --------------------------------------------------------------------------


def _bcd_pair(octet: int) -> str | None:
    low, high = octet & 0x0F, octet >> 4
    return f"{low}{high}" if low <= 9 and high <= 9 else None


_BCD_PAIRS = [_bcd_pair(octet) for octet in range(256)]
"""TS 24.008 10.5.1.4: octet -> its two digits, lower half first; None if not two digits."""


def _digits(value: bytes) -> str:
    """The digits of an IMSI/IMEI/IMEISV identity; an even count ends with an F filler."""
    first_digit = value[0] >> 4
    if first_digit > 9:
        raise _Unreadable
    pairs = [_BCD_PAIRS[octet] for octet in value[1:]]
    odd = value[0] & 0x08
    if not odd:
        if len(value) < 2 or value[-1] >> 4 != 0x0F or value[-1] & 0x0F > 9:
            raise _Unreadable
        pairs[-1] = str(value[-1] & 0x0F)
    if None in pairs:
        raise _Unreadable
    return str(first_digit) + "".join(pairs)


def _plmn(value: bytes) -> str:
    """TS 24.008 10.5.1.3: MCC2 MCC1, MNC3 MCC3, MNC2 MNC1; MNC3 is F for two-digit MNCs."""
    mcc = _BCD_PAIRS[value[0]]
    mnc = _BCD_PAIRS[value[2]]
    mcc3, mnc3 = value[1] & 0x0F, value[1] >> 4
    if mcc is None or mnc is None or mcc3 > 9 or 9 < mnc3 < 0x0F:
        raise _Unreadable
    return mcc + str(mcc3) + mnc + ("" if mnc3 == 0x0F else str(mnc3))


def _guti(value: bytes) -> Guti:
    if len(value) != 11 or value[0] & 0x07 != EpsIdentityType.GUTI:
        raise _Unreadable
    return Guti(
        _plmn(value[1:4]),
        int.from_bytes(value[4:6], "big"),
        value[6],
        int.from_bytes(value[7:11], "big"),
    )


def _eps_identity(value: bytes) -> Imsi | Imei | Guti:
    """TS 24.301 9.9.3.12."""
    identity_type = value[0] & 0x07 if value else None
    if identity_type == EpsIdentityType.IMSI:
        return Imsi(_digits(value))
    if identity_type == EpsIdentityType.IMEI:
        return Imei(_digits(value))
    return _guti(value)


def _mobile_identity(value: bytes) -> Imsi | Imei | Imeisv | Tmsi:
    """TS 24.008 10.5.1.4."""
    identity_type = value[0] & 0x07 if value else None
    if identity_type == IdentityType.IMSI:
        return Imsi(_digits(value))
    if identity_type == IdentityType.IMEI:
        return Imei(_digits(value))
    if identity_type == IdentityType.IMEISV:
        return Imeisv(_digits(value))
    if identity_type == IdentityType.TMSI and len(value) == 5:
        return Tmsi(int.from_bytes(value[1:], "big"))
    raise _Unreadable


def _imeisv(value: bytes) -> Imeisv:
    identity = _mobile_identity(value)
    if not isinstance(identity, Imeisv):
        raise _Unreadable
    return identity


def _tai(value: bytes) -> Tai:
    return Tai(_plmn(value[:3]), value[3] << 8 | value[4])


def _ue_network_capability(value: bytes) -> UeNetworkCapability:
    if len(value) < 2:
        raise _Unreadable
    return UeNetworkCapability(value)


def _bearer_context_status(value: bytes) -> frozenset[int]:
    """TS 24.301 9.9.2.1: bit n of the little-endian 16-bit field is EBI n."""
    if len(value) != 2:
        raise _Unreadable
    mask = value[0] | value[1] << 8
    return frozenset(bearer for bearer in range(16) if mask >> bearer & 1)


def _apn(value: bytes) -> str:
    """TS 23.003 9.1: length-prefixed labels, joined with dots."""
    labels = []
    offset = 0
    while offset < len(value):
        length = value[offset]
        label = value[offset + 1 : offset + 1 + length]
        if length == 0 or len(label) < length or not label.isascii() or b"." in label:
            raise _Unreadable
        labels.append(label.decode("ascii"))
        offset += 1 + length
    if not labels:
        raise _Unreadable
    return ".".join(labels)


def _pco(value: bytes) -> ProtocolConfigurationOptions:
    try:
        return ProtocolConfigurationOptions.from_octets(value)
    except ValueError:
        raise _Unreadable from None


def _esm_message(value: bytes) -> NasMessage:
    return _decode_esm(value)


_DECODERS: dict[Kind, Callable] = {
    Kind.VALUE3: lambda half: half & 0x07,
    Kind.VALUE4: lambda half: half,
    Kind.FLAG: lambda half: bool(half & 0x01),
    Kind.KEY_SET_IDENTIFIER: lambda half: NasKeySetIdentifier(half & 0x07, bool(half & 0x08)),
    Kind.DETACH_TYPE: lambda half: DetachType(half & 0x07, bool(half & 0x08)),
    Kind.UPDATE_TYPE: lambda half: UpdateType(half & 0x07, bool(half & 0x08)),
    Kind.BYTES: bytes,
    Kind.EPS_MOBILE_IDENTITY: _eps_identity,
    Kind.GUTI: _guti,
    Kind.IMEISV: _imeisv,
    Kind.TAI: _tai,
    Kind.UE_NETWORK_CAPABILITY: _ue_network_capability,
    Kind.BEARER_CONTEXT_STATUS: _bearer_context_status,
    Kind.APN: _apn,
    Kind.PCO: _pco,
    Kind.ESM_MESSAGE: _esm_message,
}
