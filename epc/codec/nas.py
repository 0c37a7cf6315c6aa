"""NAS EPS (TS 24.301) codec: `decode` bytes into the dataclasses of `nas_messages`, `encode`
them back.

Decoding takes the hand-written fast path (`nas_fast`) for the messages it reads and pycrate's
TS 24.301 message classes for all others, or whenever the fast path declines. Both give the same
dataclasses; `decode_with_pycrate` is public so tests and benchmarks can hold them to it.
Security protected messages are recognised and split (`ProtectedNas`, `ServiceRequest`), never
mistaken for plain ones; checking their MAC and deciphering is the security context's job.

Bad input always ends in one error, `NasDecodeError`, carrying the EMM or ESM cause of TS 24.301
clause 7 for the status message or reject that answers it:
- #111 protocol error, unspecified: too short to hold a header, reserved security header type;
- #97 message type non-existent: unknown protocol discriminator or message type;
- #96 invalid mandatory information: a mandatory IE missing, truncated or unreadable, or any IE
  whose length runs past the end of the message.
Optional IEs that are present but unreadable are dropped, as 7.6.1 asks; unknown IEs are
stepped over (9.9.1). A broken ESM message container raises the ESM error (see
`NasDecodeError.outer_message_type`).

Encoding is written here, walking the same IE tables; tshark checks it in the tests.
"""

from __future__ import annotations

import contextlib
import io
import ipaddress
import logging
from collections.abc import Callable

from epc.codec import nas_fast
from epc.codec.nas_messages import (
    OPTIONAL_FORMS,
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
    EmmMessage,
    EmmStatus,
    EpsIdentityType,
    EpsMobileIdentity,
    EpsQos,
    EsmCause,
    EsmInformationRequest,
    EsmInformationResponse,
    EsmMessage,
    EsmStatus,
    Form,
    GprsTimer,
    Guti,
    GutiReallocationCommand,
    GutiReallocationComplete,
    IdentityRequest,
    IdentityResponse,
    IdentityType,
    Ie,
    Imei,
    Imeisv,
    Imsi,
    Kind,
    MobileIdentity,
    ModifyEpsBearerContextAccept,
    ModifyEpsBearerContextRequest,
    NasDecodeError,
    NasKeySetIdentifier,
    NasMessage,
    NasSecurityAlgorithms,
    NetworkDetachRequest,
    PdnAddress,
    PdnConnectivityReject,
    PdnConnectivityRequest,
    PdnType,
    ProtectedNas,
    ProtocolConfigurationOptions,
    SecurityHeaderType,
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
    esm_message_class,
    invalid_message,
    message_class,
)


@contextlib.contextmanager
def _quiet_import():
    """pycrate_mobile logs a warning at import when CryptoMobile is missing (our NAS security
    is our own) and warns while decoding malformed IEs, which peers control: keep both out of
    daemons' output, whatever their logging setup."""
    logging.getLogger("pycrate_mobile").setLevel(logging.ERROR)
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        yield


with _quiet_import():
    from pycrate_mobile import TS24301_EMM, TS24301_ESM


MAXIMUM_PYCRATE_OCTETS = 2048
"""Longer messages the fast path declines are refused (#111) rather than given to pycrate,
which spends up to ~75 us per octet (a message of many tiny unknown IEs): a guard for the
event loop. Legitimate messages outside the fast path are a few hundred octets."""


def decode(data: bytes, *, uplink: bool = True) -> NasMessage | ServiceRequest | ProtectedNas:
    """Decode a NAS PDU. `uplink` (UE to network, the MME's view) only matters for the Detach
    Request, whose two directions share a message type. Raises NasDecodeError only."""
    try:
        return nas_fast.decode(data, uplink=uplink)
    except nas_fast.FastPathUnavailable:
        if len(data) > MAXIMUM_PYCRATE_OCTETS:
            raise invalid_message(
                data, EmmCause.PROTOCOL_ERROR_UNSPECIFIED, f"{len(data)} octets, too long"
            ) from None
        return decode_with_pycrate(data, uplink=uplink)


def encode(message: NasMessage | ServiceRequest | ProtectedNas) -> bytes:
    """The octets of a message; ValueError if a field cannot be encoded."""
    match message:
        case ServiceRequest():
            first = SecurityHeaderType.SERVICE_REQUEST << 4 | Sublayer.EMM
            key_set_identifier = _half(message.key_set_identifier, 3)
            sequence_number = _half(message.sequence_number, 5)
            second = key_set_identifier << 5 | sequence_number
            return bytes([first, second]) + _exact(message.short_mac, 2)
        case ProtectedNas():
            first = bytes([_half(message.header_type, 4) << 4 | Sublayer.EMM])
            return first + _exact(message.mac, 4) + bytes([message.sequence_number]) + message.inner
        case EsmMessage():
            header = bytes(
                [
                    _half(message.bearer_identity, 4) << 4 | Sublayer.ESM,
                    message.procedure_transaction_identity,
                    message.MESSAGE_TYPE,
                ]
            )
            return header + _encode_body(message)
        case EmmMessage():
            return bytes([Sublayer.EMM, message.MESSAGE_TYPE]) + _encode_body(message)
    raise TypeError(f"not a NAS message: {message!r}")


# --- Encoding -------------------------------------------------------------------------------


def _encode_body(message: NasMessage) -> bytes:
    out = bytearray()
    low_half: int | None = None
    for ie in message.LAYOUT:
        value = getattr(message, ie.field) if ie.field else None
        if ie.form is Form.HALF:
            half = _ENCODERS[ie.kind](value) if ie.field else 0
            if low_half is None:
                low_half = half
            else:
                out.append(half << 4 | low_half)
                low_half = None
        elif ie.form in OPTIONAL_FORMS:
            if value is not None and value is not False:
                out += _encode_optional(ie, value)
        else:
            out += _frame(ie.form, _ENCODERS[ie.kind](value), ie.length)
    return bytes(out)


def _encode_optional(ie: Ie, value: object) -> bytes:
    if ie.form is Form.TV_HALF:
        return bytes([ie.iei << 4 | _ENCODERS[ie.kind](value)])
    return bytes([ie.iei]) + _frame(ie.form, _ENCODERS[ie.kind](value), ie.length)


def _frame(form: Form, value: bytes, length: int) -> bytes:
    if form in (Form.V, Form.TV):
        return _exact(value, length)
    if form in (Form.LV, Form.TLV):
        if len(value) > 255:
            raise ValueError(f"{len(value)} octets do not fit a one-octet length")
        return bytes([len(value)]) + value
    if len(value) > 0xFFFF:
        raise ValueError(f"{len(value)} octets do not fit a two-octet length")
    return len(value).to_bytes(2, "big") + value


def _exact(value: bytes, length: int) -> bytes:
    if len(value) != length:
        raise ValueError(f"expected {length} octets, got {len(value)}")
    return bytes(value)


def _half(value: int, bits: int) -> int:
    if not 0 <= value < 1 << bits:
        raise ValueError(f"{value} does not fit {bits} bits")
    return value


def _encode_plmn(plmn: str) -> bytes:
    """TS 24.008 10.5.1.3 digit order: MCC2 MCC1, MNC3 MCC3, MNC2 MNC1 (MNC3 = F if absent)."""
    if len(plmn) not in (5, 6) or not plmn.isdigit() or not plmn.isascii():
        raise ValueError(f"PLMN must be 5 or 6 digits: {plmn!r}")
    digits = [int(digit) for digit in plmn]
    mnc3 = digits[5] if len(digits) == 6 else 0xF
    return bytes([digits[1] << 4 | digits[0], mnc3 << 4 | digits[2], digits[4] << 4 | digits[3]])


def _encode_digits(identity_type: int, digits: str) -> bytes:
    """TS 24.008 10.5.1.4 BCD: digit 1 beside the odd/even flag, then pairs, F-filled."""
    if not digits or not digits.isdigit() or not digits.isascii():
        raise ValueError(f"identity must be decimal digits: {digits!r}")
    values = [int(digit) for digit in digits]
    odd = len(values) % 2
    out = bytearray([values[0] << 4 | odd << 3 | identity_type])
    rest = values[1:] + ([] if odd else [0xF])
    for index in range(0, len(rest), 2):
        out.append(rest[index + 1] << 4 | rest[index])
    return bytes(out)


def _encode_guti(guti: Guti) -> bytes:
    return (
        bytes([0xF0 | EpsIdentityType.GUTI])
        + _encode_plmn(guti.plmn)
        + guti.mme_group_id.to_bytes(2, "big")
        + guti.mme_code.to_bytes(1, "big")
        + guti.m_tmsi.to_bytes(4, "big")
    )


def _encode_eps_identity(identity: EpsMobileIdentity) -> bytes:
    match identity:
        case Imsi(digits):
            return _encode_digits(EpsIdentityType.IMSI, digits)
        case Imei(digits):
            return _encode_digits(EpsIdentityType.IMEI, digits)
        case Guti():
            return _encode_guti(identity)
    raise ValueError(f"not an EPS mobile identity: {identity!r}")


def _encode_mobile_identity(identity: MobileIdentity) -> bytes:
    match identity:
        case Imsi(digits):
            return _encode_digits(IdentityType.IMSI, digits)
        case Imei(digits):
            return _encode_digits(IdentityType.IMEI, digits)
        case Imeisv(digits):
            return _encode_digits(IdentityType.IMEISV, digits)
        case Tmsi(value):
            return bytes([0xF0 | IdentityType.TMSI]) + value.to_bytes(4, "big")
    raise ValueError(f"not a mobile identity: {identity!r}")


def _encode_tai(tai: Tai) -> bytes:
    return _encode_plmn(tai.plmn) + tai.tac.to_bytes(2, "big")


def _encode_tai_list(tais: tuple[Tai, ...]) -> bytes:
    """TS 24.301 9.9.3.33: one type-0 partial list (up to 16 TACs of one PLMN) per run of TAIs
    that share a PLMN, so decoding gives back the same TAIs in the same order."""
    if not tais:
        raise ValueError("a TAI list holds at least one TAI")
    out = bytearray()
    run: list[Tai] = []
    for tai in (*tais, None):
        if run and (tai is None or tai.plmn != run[0].plmn or len(run) == 16):
            out.append(len(run) - 1)
            out += _encode_plmn(run[0].plmn)
            out += b"".join(each.tac.to_bytes(2, "big") for each in run)
            run = []
        if tai is not None:
            run.append(tai)
    return bytes(out)


def _encode_apn(apn: str) -> bytes:
    """TS 23.003 9.1: dot-separated labels, each behind its length."""
    out = bytearray()
    for label in apn.split("."):
        encoded = label.encode("ascii")
        if not 1 <= len(encoded) <= 63:
            raise ValueError(f"APN label must be 1 to 63 octets: {apn!r}")
        out += bytes([len(encoded)]) + encoded
    return bytes(out)


def _encode_pdn_address(address: PdnAddress) -> bytes:
    out = bytearray([_half(address.pdn_type, 3)])
    if address.pdn_type in (PdnType.IPV6, PdnType.IPV4V6):
        out += _exact(address.ipv6_interface_identifier or b"", 8)
    if address.pdn_type in (PdnType.IPV4, PdnType.IPV4V6):
        if address.ipv4 is None:
            raise ValueError("PDN type IPv4 needs an IPv4 address")
        out += address.ipv4.packed
    return bytes(out)


def _encode_network_name(name: str) -> bytes:
    """TS 24.008 10.5.3.5a in the GSM 7-bit default alphabet (TS 23.038 6.2.1), packed."""
    if not set(name) <= _GSM_ENCODABLE:
        raise ValueError(f"not in the GSM 7-bit default alphabet: {name!r}")
    septets = [_GSM_DEFAULT_ALPHABET.index(character) for character in name]
    packed = sum(septet << 7 * index for index, septet in enumerate(septets))
    length = -(-7 * len(septets) // 8)
    spare_bits = 8 * length - 7 * len(septets)
    return bytes([0x80 | spare_bits]) + packed.to_bytes(length, "little")


def _unpack_gsm_7_bit(octets: bytes, count: int) -> str:
    packed = int.from_bytes(octets, "little")
    septets = [packed >> 7 * index & 0x7F for index in range(count)]
    if _GSM_ESCAPE in septets:
        raise _Unreadable  # the extension table is not supported
    return "".join(_GSM_DEFAULT_ALPHABET[septet] for septet in septets)


_GSM_ESCAPE = 27
_GSM_DEFAULT_ALPHABET = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
"""TS 23.038 6.2.1, indexed by septet."""
_GSM_ENCODABLE = frozenset(_GSM_DEFAULT_ALPHABET) - {_GSM_DEFAULT_ALPHABET[_GSM_ESCAPE]}


# --- Bit rates (TS 24.301 9.9.4.2 and 9.9.4.3, after TS 24.008 10.5.6.5) -------------------------

_MAXIMUM_BASE_RATE = 8640
_MAXIMUM_EXTENDED_RATE = 256_000
_EXTENDED_2_STEP_AMBR = 256_000


def _decode_base_rate(octet: int) -> int:
    """Octets 3/4 (APN-AMBR) and 4-7 (EPS QoS); 0 ("reserved"/"subscribed") reads as 0."""
    if octet <= 63:
        return octet
    if octet <= 127:
        return 64 + (octet - 64) * 8
    if octet <= 254:
        return 576 + (octet - 128) * 64
    return 0


def _decode_extended_rate(octet: int) -> int:
    """The "(extended)" octets, which replace the base value when non-zero."""
    if octet <= 74:
        return 8600 + octet * 100
    if octet <= 186:
        return 16_000 + (octet - 74) * 1000
    return 128_000 + (min(octet, 250) - 186) * 2000


def _decode_qos_extended_2_rate(octet: int) -> int:
    """EPS QoS "(extended-2)" octets (as TS 24.008 10.5.6.5 octets 17-20), replacing the rest."""
    if octet <= 61:
        return 256_000 + octet * 4000
    if octet <= 161:
        return 500_000 + (octet - 61) * 10_000
    return 1_500_000 + (min(octet, 246) - 161) * 100_000


def _decode_rate(base: int, extended: int = 0) -> int:
    return _decode_extended_rate(extended) if extended else _decode_base_rate(base)


def _decode_ambr_rate(base: int, extended: int = 0, extended_2: int = 0) -> int:
    """APN-AMBR: the "(extended-2)" octet adds multiples of 256 Mbit/s (0 and 255: none)."""
    extra = extended_2 * _EXTENDED_2_STEP_AMBR if 0 < extended_2 < 255 else 0
    return _decode_rate(base, extended) + extra


def _encode_rate(kbps: int) -> tuple[int, int]:
    """(base, extended) octets for a rate up to 256 Mbit/s, rounded up to a coded value."""
    if not 0 <= kbps <= _MAXIMUM_EXTENDED_RATE:
        raise ValueError(f"{kbps} kbit/s is out of range")
    if kbps == 0:
        return 0xFF, 0
    if kbps <= 63:
        return kbps, 0
    if kbps <= 568:
        return 64 + -(-(kbps - 64) // 8), 0
    if kbps <= _MAXIMUM_BASE_RATE:
        return 128 + -(-(kbps - 576) // 64), 0
    if kbps <= 16_000:
        return 0xFE, -(-(kbps - 8600) // 100)
    if kbps <= 128_000:
        return 0xFE, 74 + -(-(kbps - 16_000) // 1000)
    return 0xFE, 186 + -(-(kbps - 128_000) // 2000)


def _encode_qos_extended_2_rate(kbps: int) -> int:
    if kbps <= 500_000:
        return -(-(kbps - 256_000) // 4000)
    if kbps <= 1_500_000:
        return 61 + -(-(kbps - 500_000) // 10_000)
    if kbps <= 10_000_000:
        return 161 + -(-(kbps - 1_500_000) // 100_000)
    raise ValueError(f"{kbps} kbit/s is out of range")


def _encode_ambr(ambr: ApnAmbr) -> bytes:
    """Two octets up to 8640 kbit/s, four up to 256 Mbit/s, six beyond."""
    high = max(ambr.downlink, ambr.uplink)
    if high <= _MAXIMUM_EXTENDED_RATE:
        (downlink, downlink_extended), (uplink, uplink_extended) = (
            _encode_rate(ambr.downlink),
            _encode_rate(ambr.uplink),
        )
        octets = bytes([downlink, uplink, downlink_extended, uplink_extended])
        return octets if high > _MAXIMUM_BASE_RATE else octets[:2]
    downlink_2, downlink_rest = divmod(ambr.downlink, _EXTENDED_2_STEP_AMBR)
    uplink_2, uplink_rest = divmod(ambr.uplink, _EXTENDED_2_STEP_AMBR)
    if high >= 255 * _EXTENDED_2_STEP_AMBR:
        raise ValueError(f"{high} kbit/s is out of range")
    (downlink, downlink_extended), (uplink, uplink_extended) = (
        _encode_rate(downlink_rest),
        _encode_rate(uplink_rest),
    )
    return bytes([downlink, uplink, downlink_extended, uplink_extended, downlink_2, uplink_2])


def _encode_qos_rate(kbps: int) -> tuple[int, int, int]:
    """(base, extended, extended-2) octets of one EPS QoS bit rate."""
    if kbps <= _MAXIMUM_EXTENDED_RATE:
        return (*_encode_rate(kbps), 0)
    return 0xFE, 0xFA, _encode_qos_extended_2_rate(kbps)


def _encode_eps_qos(qos: EpsQos) -> bytes:
    """One octet (QCI) for non-GBR bearers; 5, 9 or 13 with bit rates, as few as they need."""
    if qos.bitrates is None:
        return bytes([qos.qci])
    rates = (
        qos.bitrates.maximum_uplink,
        qos.bitrates.maximum_downlink,
        qos.bitrates.guaranteed_uplink,
        qos.bitrates.guaranteed_downlink,
    )
    coded = [_encode_qos_rate(rate) for rate in rates]
    octets = bytes([qos.qci]) + bytes(rate[0] for rate in coded)
    if max(rates) > _MAXIMUM_BASE_RATE:
        octets += bytes(rate[1] for rate in coded)
    if max(rates) > _MAXIMUM_EXTENDED_RATE:
        octets += bytes(rate[2] for rate in coded)
    return octets


def _decode_qos_rate(octets: bytes, index: int) -> int:
    """Bit rate `index` (MBR UL, MBR DL, GBR UL, GBR DL) of an EPS QoS value of 5, 9 or 13
    octets."""
    extended_2 = octets[9 + index] if len(octets) == 13 else 0
    if extended_2:
        return _decode_qos_extended_2_rate(extended_2)
    extended = octets[5 + index] if len(octets) >= 9 else 0
    return _decode_rate(octets[1 + index], extended)


def _encode_bearer_context_status(active: frozenset[int]) -> bytes:
    """TS 24.301 9.9.2.1: bit n of the little-endian 16-bit field is EBI n."""
    return sum(1 << _half(bearer, 4) for bearer in active).to_bytes(2, "little")


_ENCODERS: dict[Kind, Callable] = {
    Kind.VALUE3: lambda value: _half(value, 3),
    Kind.VALUE4: lambda value: _half(value, 4),
    Kind.FLAG: lambda value: int(bool(value)),
    Kind.KEY_SET_IDENTIFIER: lambda ksi: ksi.mapped << 3 | _half(ksi.value, 3),
    Kind.DETACH_TYPE: lambda detach: detach.switch_off << 3 | _half(detach.value, 3),
    Kind.UPDATE_TYPE: lambda update: update.active << 3 | _half(update.value, 3),
    Kind.UINT8: lambda value: bytes([value]),
    Kind.BYTES: bytes,
    Kind.GPRS_TIMER: lambda timer: bytes([_half(timer.unit, 3) << 5 | _half(timer.value, 5)]),
    Kind.NAS_SECURITY_ALGORITHMS: lambda algorithms: bytes(
        [_half(algorithms.ciphering, 3) << 4 | _half(algorithms.integrity, 3)]
    ),
    Kind.EPS_MOBILE_IDENTITY: _encode_eps_identity,
    Kind.GUTI: _encode_guti,
    Kind.MOBILE_IDENTITY: _encode_mobile_identity,
    Kind.IMEISV: _encode_mobile_identity,
    Kind.TAI: _encode_tai,
    Kind.TAI_LIST: _encode_tai_list,
    Kind.UE_NETWORK_CAPABILITY: lambda capability: capability.octets,
    Kind.BEARER_CONTEXT_STATUS: _encode_bearer_context_status,
    Kind.NETWORK_NAME: _encode_network_name,
    Kind.ESM_MESSAGE: encode,
    Kind.APN: _encode_apn,
    Kind.PCO: ProtocolConfigurationOptions.to_octets,
    Kind.PDN_ADDRESS: _encode_pdn_address,
    Kind.EPS_QOS: _encode_eps_qos,
    Kind.APN_AMBR: _encode_ambr,
}


# --- Decoding with pycrate ------------------------------------------------------------------

_PYCRATE_CLASSES: dict[type[NasMessage], type] = {
    AttachRequest: TS24301_EMM.EMMAttachRequest,
    AttachAccept: TS24301_EMM.EMMAttachAccept,
    AttachComplete: TS24301_EMM.EMMAttachComplete,
    AttachReject: TS24301_EMM.EMMAttachReject,
    AuthenticationRequest: TS24301_EMM.EMMAuthenticationRequest,
    AuthenticationResponse: TS24301_EMM.EMMAuthenticationResponse,
    AuthenticationFailure: TS24301_EMM.EMMAuthenticationFailure,
    AuthenticationReject: TS24301_EMM.EMMAuthenticationReject,
    SecurityModeCommand: TS24301_EMM.EMMSecurityModeCommand,
    SecurityModeComplete: TS24301_EMM.EMMSecurityModeComplete,
    SecurityModeReject: TS24301_EMM.EMMSecurityModeReject,
    IdentityRequest: TS24301_EMM.EMMIdentityRequest,
    IdentityResponse: TS24301_EMM.EMMIdentityResponse,
    DetachRequest: TS24301_EMM.EMMDetachRequestMO,
    NetworkDetachRequest: TS24301_EMM.EMMDetachRequestMT,
    DetachAccept: TS24301_EMM.EMMDetachAccept,
    TrackingAreaUpdateRequest: TS24301_EMM.EMMTrackingAreaUpdateRequest,
    TrackingAreaUpdateAccept: TS24301_EMM.EMMTrackingAreaUpdateAccept,
    TrackingAreaUpdateComplete: TS24301_EMM.EMMTrackingAreaUpdateComplete,
    TrackingAreaUpdateReject: TS24301_EMM.EMMTrackingAreaUpdateReject,
    GutiReallocationCommand: TS24301_EMM.EMMGUTIReallocCommand,
    GutiReallocationComplete: TS24301_EMM.EMMGUTIReallocComplete,
    EmmInformation: TS24301_EMM.EMMInformation,
    EmmStatus: TS24301_EMM.EMMStatus,
    PdnConnectivityRequest: TS24301_ESM.ESMPDNConnectivityRequest,
    PdnConnectivityReject: TS24301_ESM.ESMPDNConnectivityReject,
    ActivateDefaultEpsBearerContextRequest: TS24301_ESM.ESMActDefaultEPSBearerCtxtRequest,
    ActivateDefaultEpsBearerContextAccept: TS24301_ESM.ESMActDefaultEPSBearerCtxtAccept,
    ActivateDefaultEpsBearerContextReject: TS24301_ESM.ESMActDefaultEPSBearerCtxtReject,
    ActivateDedicatedEpsBearerContextRequest: TS24301_ESM.ESMActDediEPSBearerCtxtRequest,
    ActivateDedicatedEpsBearerContextAccept: TS24301_ESM.ESMActDediEPSBearerCtxtAccept,
    ActivateDedicatedEpsBearerContextReject: TS24301_ESM.ESMActDediEPSBearerCtxtReject,
    ModifyEpsBearerContextRequest: TS24301_ESM.ESMModifyEPSBearerCtxtRequest,
    ModifyEpsBearerContextAccept: TS24301_ESM.ESMModifyEPSBearerCtxtAccept,
    DeactivateEpsBearerContextRequest: TS24301_ESM.ESMDeactEPSBearerCtxtRequest,
    DeactivateEpsBearerContextAccept: TS24301_ESM.ESMDeactEPSBearerCtxtAccept,
    EsmInformationRequest: TS24301_ESM.ESMInformationRequest,
    EsmInformationResponse: TS24301_ESM.ESMInformationResponse,
    EsmStatus: TS24301_ESM.ESMStatus,
}

# Value parts pycrate must leave as octets: kept as received, or (PCO) read by our own parser.
_RAW_KINDS = frozenset(
    {Kind.BYTES, Kind.UINT8, Kind.UE_NETWORK_CAPABILITY, Kind.ESM_MESSAGE, Kind.PCO}
)


class _Unreadable(Exception):
    """pycrate left a value part unparsed, or parsed it into something the IE cannot be."""


def decode_with_pycrate(
    data: bytes, *, uplink: bool = True
) -> NasMessage | ServiceRequest | ProtectedNas:
    """`decode` through pycrate alone: the reference the fast path is tested against."""
    if len(data) < 2:
        raise invalid_message(data, EmmCause.PROTOCOL_ERROR_UNSPECIFIED, "shorter than a header")
    discriminator, header_type = data[0] & 0x0F, data[0] >> 4
    if discriminator == Sublayer.ESM:
        return _pycrate_esm(data)
    if discriminator != Sublayer.EMM:
        raise invalid_message(
            data, EmmCause.MESSAGE_TYPE_NON_EXISTENT, "unknown protocol discriminator"
        )
    if header_type == SecurityHeaderType.PLAIN:
        return _pycrate_emm(data, uplink)
    if header_type <= SecurityHeaderType.INTEGRITY_PROTECTED_CIPHERED_NEW_CONTEXT:
        protected = _pycrate_parse(TS24301_EMM.EMMSecProtNASMessage(), data)
        return ProtectedNas(
            header_type,
            protected["MAC"].get_val(),
            protected["Seqn"].get_val(),
            protected["NASMessage"].get_val(),
        )
    if header_type >= SecurityHeaderType.SERVICE_REQUEST:
        request = _pycrate_parse(TS24301_EMM.EMMServiceRequest(), data)
        return ServiceRequest(
            request["KSI"].get_val(), request["SeqnShort"].get_val(), request["MACShort"].get_val()
        )
    raise invalid_message(data, EmmCause.PROTOCOL_ERROR_UNSPECIFIED, "reserved security header")


def _pycrate_emm(data: bytes, uplink: bool) -> NasMessage:
    cls = message_class(Sublayer.EMM, data[1], uplink=uplink)
    if cls is None:
        raise invalid_message(data, EmmCause.MESSAGE_TYPE_NON_EXISTENT, "unknown EMM message type")
    message = _pycrate_message(cls, data)
    return cls(**_pycrate_values(cls, message, data))


def _pycrate_esm(data: bytes) -> NasMessage:
    cls = esm_message_class(data)
    if cls is None:
        raise invalid_message(data, EsmCause.MESSAGE_TYPE_NON_EXISTENT, "unknown ESM message type")
    message = _pycrate_message(cls, data)
    header = message["ESMHeader"]
    return cls(
        bearer_identity=header["EPSBearerId"].get_val(),
        procedure_transaction_identity=header["PTI"].get_val(),
        **_pycrate_values(cls, message, data),
    )


def _pycrate_message(cls: type[NasMessage], data: bytes):
    """A fresh pycrate message (never a shared instance) parsed from `data`."""
    message = _PYCRATE_CLASSES[cls]()
    for ie in cls.LAYOUT:
        if ie.field and ie.kind in _RAW_KINDS:
            message[ie.pycrate].DECODE_INNER = False
    return _pycrate_parse(message, data)


def _pycrate_parse(message, data: bytes):
    try:
        message.from_bytes(data)
    except Exception as error:  # pycrate raises many unrelated types on malformed input
        raise invalid_message(
            data, EmmCause.INVALID_MANDATORY_INFORMATION, f"malformed: {error}"
        ) from None
    return message


def _pycrate_values(cls: type[NasMessage], message, data: bytes) -> dict[str, object]:
    values: dict[str, object] = {}
    for ie in cls.LAYOUT:
        if ie.field is None:
            continue
        element = message[ie.pycrate]
        optional = ie.form in OPTIONAL_FORMS
        if optional and element.get_trans():
            continue
        try:
            values[ie.field] = _convert(ie.kind, element[-1])
        except NasDecodeError as error:  # from an ESM message container
            if not optional:
                raise error.inside(cls.MESSAGE_TYPE) from None
        except _Unreadable:
            if not optional:
                raise invalid_message(
                    data, EmmCause.INVALID_MANDATORY_INFORMATION, f"{ie.field} unreadable"
                ) from None
    return values


def _convert(kind: Kind, element) -> object:
    try:
        return _CONVERTERS[kind](element)
    except NasDecodeError:
        raise
    except Exception as error:  # a half-parsed pycrate element fails in many ways
        raise _Unreadable from error


def _pycrate_plmn(plmn) -> str:
    """pycrate's digits, if they are digits and say exactly what the octets say."""
    digits = plmn.decode()
    if not digits.isdecimal() or _encode_plmn(digits) != plmn.get_val():
        raise _Unreadable
    return digits


def _pycrate_digits(identity) -> str:
    """pycrate's BCD reading, checked against the odd/even flag and the F filler."""
    raw = identity["Digits"].get_val()
    odd = identity["Odd"].get_val()
    digits = identity.decode()[1]
    expected = 1 + 2 * len(raw) - (0 if odd else 1)
    filled = odd or (raw and raw[-1] >> 4 == 0x0F)
    if identity["Digit1"].get_val() > 9 or len(digits) != expected or not filled:
        raise _Unreadable
    return digits


def _pycrate_guti(identity) -> Guti:
    if identity["Type"].get_val() != EpsIdentityType.GUTI:
        raise _Unreadable
    return Guti(
        _pycrate_plmn(identity["PLMN"]),
        identity["MMEGroupID"].get_val(),
        identity["MMECode"].get_val(),
        identity["MTMSI"].get_val(),
    )


def _pycrate_eps_identity(identity) -> EpsMobileIdentity:
    match identity["Type"].get_val():
        case EpsIdentityType.IMSI:
            return Imsi(_pycrate_digits(identity))
        case EpsIdentityType.IMEI:
            return Imei(_pycrate_digits(identity))
    return _pycrate_guti(identity)


def _pycrate_mobile_identity(identity) -> MobileIdentity:
    match identity["Type"].get_val():
        case IdentityType.IMSI:
            return Imsi(_pycrate_digits(identity))
        case IdentityType.IMEI:
            return Imei(_pycrate_digits(identity))
        case IdentityType.IMEISV:
            return Imeisv(_pycrate_digits(identity))
        case IdentityType.TMSI:
            return Tmsi(identity["TMSI"].get_val())
    raise _Unreadable


def _pycrate_imeisv(identity) -> Imeisv:
    result = _pycrate_mobile_identity(identity)
    if not isinstance(result, Imeisv):
        raise _Unreadable
    return result


def _pycrate_tai(tai) -> Tai:
    return Tai(_pycrate_plmn(tai["PLMN"]), tai["TAC"].get_val())


def _pycrate_tai_list(partial_lists) -> tuple[Tai, ...]:
    """TS 24.301 9.9.3.33, partial lists in order; type 3 is reserved."""
    tais: list[Tai] = []
    for partial in partial_lists:
        content = partial["PTAI"].get_alt()
        match partial["Type"].get_val():
            case 0:
                plmn = _pycrate_plmn(content["PLMN"])
                tais += [Tai(plmn, tac) for tac in content["TACs"].get_val()]
            case 1:
                plmn = _pycrate_plmn(content["PLMN"])
                first, count = content["TAC1"].get_val(), content["Num"].get_val() + 1
                if first + count > 0x10000:
                    raise _Unreadable
                tais += [Tai(plmn, first + index) for index in range(count)]
            case 2:
                tais += [_pycrate_tai(tai) for tai in content["TAIs"]]
            case _:
                raise _Unreadable
    if not tais:
        raise _Unreadable
    return tuple(tais)


def _pycrate_ue_network_capability(value) -> UeNetworkCapability:
    octets = value.get_val()
    if len(octets) < 2:
        raise _Unreadable
    return UeNetworkCapability(octets)


def _pycrate_bearer_context_status(status) -> frozenset[int]:
    return frozenset(bearer for bearer in range(16) if status[f"EBI_{bearer}"].get_val())


def _pycrate_network_name(name) -> str:
    """pycrate frames the IE; the text is unpacked here, because pycrate's own reading drops
    a character when 7 bits are spare and a final '@' whatever the padding."""
    text = name["Name"].get_val()
    match name["Coding"].get_val():
        case 0:
            count, remainder = divmod(8 * len(text) - name["SpareBits"].get_val(), 7)
            if remainder or count < 0:
                raise _Unreadable
            return _unpack_gsm_7_bit(text, count)
        case 1:
            return text.decode("utf-16-be")
    raise _Unreadable


def _pycrate_apn(apn) -> str:
    labels = [item["Value"].get_val() for item in apn]
    if not labels or any(not label or b"." in label or not label.isascii() for label in labels):
        raise _Unreadable
    return apn.decode()


_PDN_ADDRESS_LENGTHS = {PdnType.IPV4: 4, PdnType.IPV6: 8, PdnType.IPV4V6: 12}


def _pycrate_pdn_address(address) -> PdnAddress:
    pdn_type, octets = address["Type"].get_val(), address["Addr"].get_val()
    if _PDN_ADDRESS_LENGTHS.get(pdn_type) != len(octets):
        raise _Unreadable
    ipv4 = ipaddress.IPv4Address(octets[-4:]) if pdn_type != PdnType.IPV6 else None
    interface_identifier = octets[:8] if pdn_type != PdnType.IPV4 else None
    return PdnAddress(pdn_type, ipv4, interface_identifier)


def _pycrate_eps_qos(qos) -> EpsQos:
    octets = qos.to_bytes()
    qos["QCI"].get_val()  # raises if pycrate left the value unparsed
    if len(octets) not in (1, 5, 9, 13):
        raise _Unreadable
    if len(octets) == 1:
        return EpsQos(octets[0])
    rates = [_decode_qos_rate(octets, index) for index in range(4)]
    return EpsQos(octets[0], BearerBitrates(*rates))


def _pycrate_apn_ambr(ambr) -> ApnAmbr:
    octets = ambr.to_bytes()
    ambr["DL"].get_val()  # raises if pycrate left the value unparsed
    if len(octets) not in (2, 4, 6):
        raise _Unreadable
    padded = octets + bytes(6 - len(octets))
    return ApnAmbr(
        _decode_ambr_rate(padded[0], padded[2], padded[4]),
        _decode_ambr_rate(padded[1], padded[3], padded[5]),
    )


def _pycrate_uint8(value) -> int:
    number = value.get_val()
    return number[0] if isinstance(number, bytes) else number


_CONVERTERS: dict[Kind, Callable] = {
    Kind.VALUE3: lambda value: value.to_uint() & 0x07,
    Kind.VALUE4: lambda value: value.to_uint() & 0x0F,
    Kind.FLAG: lambda value: bool(value.to_uint() & 0x01),
    Kind.KEY_SET_IDENTIFIER: lambda ksi: NasKeySetIdentifier(
        ksi["Value"].get_val(), bool(ksi["TSC"].get_val())
    ),
    Kind.DETACH_TYPE: lambda detach: DetachType(
        detach["Type"].get_val(), bool(detach["SwitchOff"].get_val())
    ),
    Kind.UPDATE_TYPE: lambda update: UpdateType(
        update["Value"].get_val(), bool(update["Active"].get_val())
    ),
    Kind.UINT8: _pycrate_uint8,
    Kind.BYTES: lambda value: value.get_val(),
    Kind.GPRS_TIMER: lambda timer: GprsTimer(timer["Unit"].get_val(), timer["Value"].get_val()),
    Kind.NAS_SECURITY_ALGORITHMS: lambda algorithms: NasSecurityAlgorithms(
        algorithms["CiphAlgo"].get_val(), algorithms["IntegAlgo"].get_val()
    ),
    Kind.EPS_MOBILE_IDENTITY: _pycrate_eps_identity,
    Kind.GUTI: _pycrate_guti,
    Kind.MOBILE_IDENTITY: _pycrate_mobile_identity,
    Kind.IMEISV: _pycrate_imeisv,
    Kind.TAI: _pycrate_tai,
    Kind.TAI_LIST: _pycrate_tai_list,
    Kind.UE_NETWORK_CAPABILITY: _pycrate_ue_network_capability,
    Kind.BEARER_CONTEXT_STATUS: _pycrate_bearer_context_status,
    Kind.NETWORK_NAME: _pycrate_network_name,
    Kind.ESM_MESSAGE: lambda container: _pycrate_esm(container.get_val()),
    Kind.APN: _pycrate_apn,
    Kind.PCO: lambda value: ProtocolConfigurationOptions.from_octets(value.get_val()),
    Kind.PDN_ADDRESS: _pycrate_pdn_address,
    Kind.EPS_QOS: _pycrate_eps_qos,
    Kind.APN_AMBR: _pycrate_apn_ambr,
}
