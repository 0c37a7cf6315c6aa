"""S1AP (TS 36.413) in aligned PER: `encode` a message dataclass of `epc.codec.s1ap_messages`
to bytes, `decode` bytes back to one, and `peek` at a message's procedure and UE-S1AP-IDs
without decoding it, for the agent that only routes (about ten microseconds, no pycrate).

It owns the binding of the message table (`epc.codec.s1ap_table`) to pycrate's ASN.1
tables, which give each IE's type, criticality and presence, and the error every bad input
ends in. The pieces:

- `epc.codec.s1ap_frame` reads and writes the frame (PDU header and IE list) by hand, so
  `peek` never touches pycrate;
- pycrate encodes and decodes each IE's value on its own, here, and
  `epc.codec.s1ap_values` converts those values to and from the dataclasses;
- `epc.codec.s1ap_constants` names the procedure codes and IE ids.

Bad input: `decode` and `peek` raise only `S1apDecodeError`, carrying the protocol cause for
the Error Indication (TS 36.413 section 10) and what could be read of the procedure and the
UE-S1AP-IDs. IEs that pycrate knows but no dataclass field uses are decoded (so they are
checked) and dropped; unknown IEs are skipped unless their criticality is "reject". An IE
of criticality "notify" that is not comprehended is skipped without the notification.

pycrate keeps codec state in class attributes and its type objects are shared singletons, so
every call here runs to completion synchronously and returns no pycrate object; the
functions are not for concurrent use from several threads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

from pycrate_asn1dir import S1AP as _ASN
from pycrate_asn1rt.codecs import ASN1CodecPER
from pycrate_core.charpy import Charpy

from epc.codec import DecodeError
from epc.codec.s1ap_constants import (
    IE_ENB_UE_S1AP_ID,
    IE_MME_UE_S1AP_ID,
    IE_SOURCE_MME_UE_S1AP_ID,
    IE_UE_S1AP_IDS,
)
from epc.codec.s1ap_frame import (
    Frame,
    Ie,
    Malformed,
    read_frame,
    read_header,
    read_ue_s1ap_id,
    read_ue_s1ap_ids,
    write_frame,
)
from epc.codec.s1ap_messages import (
    Cause,
    CauseGroup,
    Criticality,
    CriticalityDiagnostics,
    CriticalityDiagnosticsIe,
    PduType,
    ProtocolCause,
    S1apMessage,
)
from epc.codec.s1ap_table import MESSAGES, Field, Message
from epc.codec.s1ap_values import InvalidValue

__all__ = ["S1apDecodeError", "S1apPeek", "decode", "encode", "peek"]


class S1apDecodeError(DecodeError):
    """Bytes that are not an S1AP message this core understands.

    `cause` is the Cause for the Error Indication (TS 36.413 section 10): transfer syntax
    error when the bytes do not decode (10.2); abstract syntax error "reject" or "ignore and
    notify", after the criticality, for a procedure or IE not comprehended (10.3.4.1) or a
    missing mandatory IE (10.3.4.2); falsely constructed message for a repeated IE (10.3.6);
    semantic error for a value this core cannot act on. `criticality` is the procedure's: a
    message of criticality "ignore" that is not comprehended is dropped without an Error
    Indication. `ies` names the IEs not comprehended or missing, for the Criticality
    Diagnostics. Fields that could not be read are None."""

    def __init__(
        self,
        reason: str,
        cause: ProtocolCause,
        *,
        procedure_code: int | None = None,
        pdu_type: PduType | None = None,
        criticality: Criticality | None = None,
        enb_ue_s1ap_id: int | None = None,
        mme_ue_s1ap_id: int | None = None,
        ies: tuple[CriticalityDiagnosticsIe, ...] = (),
    ) -> None:
        super().__init__(reason)
        self.cause = Cause(CauseGroup.PROTOCOL, cause)
        self.procedure_code = procedure_code
        self.pdu_type = pdu_type
        self.criticality = criticality
        self.enb_ue_s1ap_id = enb_ue_s1ap_id
        self.mme_ue_s1ap_id = mme_ue_s1ap_id
        self.ies = ies

    def criticality_diagnostics(self) -> CriticalityDiagnostics:
        """The Criticality Diagnostics IE for the Error Indication answering this error."""
        return CriticalityDiagnostics(
            self.procedure_code, self.pdu_type, self.criticality, self.ies
        )


@dataclass(frozen=True, slots=True)
class S1apPeek:
    """What the agent needs to route a message. `mme_ue_s1ap_id` is the SourceMME-UE-S1AP-ID
    in a Path Switch Request; both IDs are None in non-UE-associated messages."""

    procedure_code: int
    pdu_type: PduType
    criticality: Criticality
    enb_ue_s1ap_id: int | None
    mme_ue_s1ap_id: int | None


def peek(data: bytes) -> S1apPeek:
    """The procedure code, PDU type, criticality and UE-S1AP-IDs of a message, from its frame
    alone. Raises S1apDecodeError (transfer syntax error) when the frame does not parse."""
    frame = _read(data)
    try:
        enb_ue_s1ap_id, mme_ue_s1ap_id = _ue_ids(frame)
    except Malformed as error:
        raise _error(frame, str(error), ProtocolCause.TRANSFER_SYNTAX_ERROR) from None
    return S1apPeek(
        frame.procedure_code, frame.pdu_type, frame.criticality, enb_ue_s1ap_id, mme_ue_s1ap_id
    )


def decode(data: bytes) -> S1apMessage:
    """The message the bytes hold. Raises S1apDecodeError, and nothing else, on bad input."""
    frame = _read(data)
    try:
        ies = frame.ies()
        binding = _BY_KIND.get((frame.pdu_type, frame.procedure_code))
        if binding is None:
            raise InvalidValue("procedure not comprehended", _not_comprehended(frame.criticality))
        return _decode_message(binding, ies)
    except Malformed as error:
        raise _error(frame, str(error), ProtocolCause.TRANSFER_SYNTAX_ERROR) from None
    except InvalidValue as error:
        raise _error(frame, error.reason, error.cause, error.ies) from None


def encode(message: S1apMessage) -> bytes:
    """The APER bytes of a message. Raises ValueError when a field does not fit S1AP (a
    TEID over 32 bits, a key that is not 32 octets, a mandatory list left empty...)."""
    binding = _BY_CLASS.get(type(message))
    if binding is None:
        raise TypeError(f"not an S1AP message: {type(message).__name__}")
    try:
        ies = [_encode_ie(binding, field, message) for field in binding.fields]
    except Exception as error:  # pycrate's range checks raise assorted exception types
        raise ValueError(f"{type(message).__name__}: {error}") from error
    present = [ie for ie in ies if ie is not None]
    return write_frame(
        binding.message.pdu_type, binding.message.procedure_code, binding.criticality, present
    )


# --- the binding to pycrate's tables ---------------------------------------------------------


class _IeType(NamedTuple):
    """An IE as pycrate's table for one message has it."""

    asn_type: Any
    criticality: Criticality
    mandatory: bool


@dataclass(frozen=True, slots=True)
class _Binding:
    message: Message
    criticality: Criticality
    """The procedure's criticality, from the elementary procedure table."""
    ie_types: dict[int, _IeType]
    """Every IE the message may hold, by id."""
    fields: tuple[Field, ...]
    """The IEs the dataclass uses, in the ASN.1 order."""
    field_of: dict[int, Field]


_ASN_MESSAGE_KIND = {
    PduType.INITIATING_MESSAGE: "InitiatingMessage",
    PduType.SUCCESSFUL_OUTCOME: "SuccessfulOutcome",
    PduType.UNSUCCESSFUL_OUTCOME: "UnsuccessfulOutcome",
}


def _procedures() -> dict[int, dict]:
    table = _ASN.S1AP_PDU_Descriptions.S1AP_ELEMENTARY_PROCEDURES._val
    return {row["procedureCode"]: row for row in (*table.root, *table.ext)}


def _bind(message: Message, procedures: dict[int, dict]) -> _Binding:
    procedure = procedures[message.procedure_code]
    asn_message = procedure[_ASN_MESSAGE_KIND[message.pdu_type]]
    rows = asn_message._cont["protocolIEs"]._cont._cont["value"]._const_tab._val.root
    ie_types = {
        row["id"]: _IeType(
            row["Value"], Criticality(row["criticality"]), row["presence"] == "mandatory"
        )
        for row in rows
    }
    order = list(ie_types)
    for field in message.fields:
        if field.ie_id not in ie_types:
            raise LookupError(f"{message.message_class.__name__} has no IE {field.ie_id}")
    return _Binding(
        message,
        Criticality(procedure["criticality"]),
        ie_types,
        tuple(sorted(message.fields, key=lambda field: order.index(field.ie_id))),
        {field.ie_id: field for field in message.fields},
    )


_BINDINGS = tuple(_bind(message, _procedures()) for message in MESSAGES)
_BY_CLASS = {binding.message.message_class: binding for binding in _BINDINGS}
_BY_KIND = {
    (binding.message.pdu_type, binding.message.procedure_code): binding for binding in _BINDINGS
}

# --- reading -------------------------------------------------------------------------------

_UE_ID_ROLES = {
    IE_MME_UE_S1AP_ID: "mme",
    IE_SOURCE_MME_UE_S1AP_ID: "mme",
    IE_ENB_UE_S1AP_ID: "enb",
    IE_UE_S1AP_IDS: "pair",
}
"""The IEs that carry a UE-S1AP-ID, and which."""


def _ue_id_roles(message: Message) -> dict[int, str]:
    return {
        field.ie_id: _UE_ID_ROLES[field.ie_id]
        for field in message.fields
        if field.ie_id in _UE_ID_ROLES
    }


_PEEKED_IES = {
    (binding.message.pdu_type, binding.message.procedure_code): _ue_id_roles(binding.message)
    for binding in _BINDINGS
}
"""Per message, the UE-S1AP-ID IEs `decode` reads, so `peek` reads the same ones."""
_PEEKED_IES_OF_OTHER_MESSAGES = {IE_MME_UE_S1AP_ID: "mme", IE_ENB_UE_S1AP_ID: "enb"}


def _read(data: bytes) -> Frame:
    data = bytes(data)
    try:
        return read_frame(data)
    except Malformed as error:
        reason = str(error)
    try:
        header = read_header(data)
    except Malformed:
        raise S1apDecodeError(reason, ProtocolCause.TRANSFER_SYNTAX_ERROR) from None
    raise S1apDecodeError(
        reason,
        ProtocolCause.TRANSFER_SYNTAX_ERROR,
        procedure_code=header.procedure_code,
        pdu_type=header.pdu_type,
        criticality=header.criticality,
    )


def _ue_ids(frame: Frame) -> tuple[int | None, int | None]:
    """(eNB-UE-S1AP-ID, MME-UE-S1AP-ID) from the first IEs that carry them."""
    roles = _PEEKED_IES.get((frame.pdu_type, frame.procedure_code), _PEEKED_IES_OF_OTHER_MESSAGES)
    enb_ue_s1ap_id = mme_ue_s1ap_id = None
    for ie_id, _, content in frame.ies():
        role = roles.get(ie_id)
        if role == "mme" and mme_ue_s1ap_id is None:
            mme_ue_s1ap_id = read_ue_s1ap_id(content)
        elif role == "enb" and enb_ue_s1ap_id is None:
            enb_ue_s1ap_id = read_ue_s1ap_id(content)
        elif role == "pair" and mme_ue_s1ap_id is None:
            mme_ue_s1ap_id, enb_ue_s1ap_id = read_ue_s1ap_ids(content)
    return enb_ue_s1ap_id, mme_ue_s1ap_id


def _decode_message(binding: _Binding, ies: list[Ie]) -> S1apMessage:
    values: dict[str, Any] = {}
    seen: set[int] = set()
    for ie_id, criticality, content in ies:
        ie_type = binding.ie_types.get(ie_id)
        if ie_type is None:
            _check_not_comprehended(ie_id, criticality)
            continue
        if ie_id in seen:
            raise InvalidValue(
                f"IE {ie_id} repeated",
                ProtocolCause.ABSTRACT_SYNTAX_ERROR_FALSELY_CONSTRUCTED_MESSAGE,
            )
        seen.add(ie_id)
        value = _decode_value(ie_type.asn_type, content)
        field = binding.field_of.get(ie_id)
        if field is not None:
            _assign(values, field, field.converter.from_asn(value))
    _check_mandatory(binding, seen)
    try:
        return binding.message.message_class(**values)
    except ValueError as error:
        raise InvalidValue(str(error)) from None


def _check_not_comprehended(ie_id: int, criticality: Criticality) -> None:
    """An IE this message does not have is skipped, unless its criticality is reject."""
    if criticality is Criticality.REJECT:
        raise InvalidValue(
            f"IE {ie_id} not comprehended",
            ProtocolCause.ABSTRACT_SYNTAX_ERROR_REJECT,
            (CriticalityDiagnosticsIe(criticality, ie_id, "not-understood"),),
        )


def _assign(values: dict[str, Any], field: Field, value: Any) -> None:
    if len(field.names) == 1:
        values[field.names[0]] = value
    else:
        values.update(zip(field.names, value, strict=True))


def _check_mandatory(binding: _Binding, seen: set[int]) -> None:
    missing = tuple(
        CriticalityDiagnosticsIe(ie_type.criticality, ie_id, "missing")
        for ie_id, ie_type in binding.ie_types.items()
        if ie_type.mandatory and ie_id not in seen
    )
    if missing:
        rejects = any(ie.criticality is Criticality.REJECT for ie in missing)
        raise InvalidValue(
            f"mandatory IEs missing: {', '.join(str(ie.ie_id) for ie in missing)}",
            _not_comprehended(Criticality.REJECT if rejects else Criticality.IGNORE),
            missing,
        )


def _not_comprehended(criticality: Criticality) -> ProtocolCause:
    """TS 36.413 10.3.4: reject, or ignore and notify (also the cause given for "ignore",
    though then the caller sends nothing)."""
    if criticality is Criticality.REJECT:
        return ProtocolCause.ABSTRACT_SYNTAX_ERROR_REJECT
    return ProtocolCause.ABSTRACT_SYNTAX_ERROR_IGNORE_AND_NOTIFY


def _error(
    frame: Frame,
    reason: str,
    cause: ProtocolCause,
    ies: tuple[CriticalityDiagnosticsIe, ...] = (),
) -> S1apDecodeError:
    try:
        enb_ue_s1ap_id, mme_ue_s1ap_id = _ue_ids(frame)
    except Malformed:
        enb_ue_s1ap_id = mme_ue_s1ap_id = None
    return S1apDecodeError(
        reason,
        cause,
        procedure_code=frame.procedure_code,
        pdu_type=frame.pdu_type,
        criticality=frame.criticality,
        enb_ue_s1ap_id=enb_ue_s1ap_id,
        mme_ue_s1ap_id=mme_ue_s1ap_id,
        ies=ies,
    )


# --- pycrate, one IE value at a time ---------------------------------------------------------

_PER_OFFSETS = ASN1CodecPER._off
"""pycrate's stack of bit offsets, a class attribute. A call that fails leaves entries
behind, which would grow without bound under bad input, so every call truncates it."""


def _decode_value(asn_type: Any, content: bytes) -> Any:
    depth = len(_PER_OFFSETS)
    characters = Charpy(content)
    try:
        asn_type.from_aper(characters)
        value = asn_type.get_val()
    except Exception as error:  # pycrate raises many unrelated types on bad input
        del _PER_OFFSETS[depth:]
        raise InvalidValue(
            f"{asn_type._tr._name}: {error}", ProtocolCause.TRANSFER_SYNTAX_ERROR
        ) from None
    if characters.len_bit():
        raise InvalidValue(
            f"{asn_type._tr._name}: octets after the value", ProtocolCause.TRANSFER_SYNTAX_ERROR
        )
    return value


def _encode_ie(binding: _Binding, field: Field, message: S1apMessage) -> Ie | None:
    """The IE for a field, or None when the field is absent: None, or an empty tuple for an
    optional list (a mandatory one may be empty, like the connections of a full Reset)."""
    values = tuple(getattr(message, name) for name in field.names)
    value = values[0] if len(values) == 1 else values
    ie_type = binding.ie_types[field.ie_id]
    if value is None or (value == () and not ie_type.mandatory):
        if ie_type.mandatory:
            raise ValueError(f"{field.names[0]} is mandatory")
        return None
    value = field.converter.to_asn(value)
    depth = len(_PER_OFFSETS)
    try:
        content = ie_type.asn_type.to_aper(value)
    finally:
        del _PER_OFFSETS[depth:]
    return Ie(field.ie_id, ie_type.criticality, content)
