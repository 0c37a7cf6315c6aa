"""S1AP (TS 36.413) in aligned PER: `encode` a message dataclass of `epc.codec.s1ap_messages`
to bytes, `decode` bytes back to one, and `peek` at a message's procedure and UE-S1AP-IDs
without decoding it, for the agent that only routes (about ten microseconds, no pycrate).

It owns the binding of the message table (`epc.codec.s1ap_table`) to pycrate's ASN.1
tables, which give each IE's type, criticality and presence. The pieces:

- `epc.codec.s1ap_frame` reads and writes the frame (PDU header and IE list) by hand;
- `epc.codec.s1ap_peek` holds `peek` and `S1apDecodeError`, re-exported here, and never
  loads pycrate, so the agent can import it alone;
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

from epc.codec.s1ap_frame import Ie, Malformed, write_frame
from epc.codec.s1ap_messages import (
    Criticality,
    CriticalityDiagnosticsIe,
    PduType,
    ProtocolCause,
    S1apMessage,
)
from epc.codec.s1ap_peek import S1apDecodeError, S1apPeek, decode_error, peek, read_message
from epc.codec.s1ap_table import MESSAGES, Field, Message
from epc.codec.s1ap_values import InvalidValue

__all__ = ["S1apDecodeError", "S1apPeek", "decode", "encode", "peek"]


def decode(data: bytes) -> S1apMessage:
    """The message the bytes hold. Raises S1apDecodeError, and nothing else, on bad input."""
    frame = read_message(data)
    try:
        ies = frame.ies()
        binding = _BY_KIND.get((frame.pdu_type, frame.procedure_code))
        if binding is None:
            raise InvalidValue("procedure not comprehended", _not_comprehended(frame.criticality))
        return _decode_message(binding, ies)
    except Malformed as error:
        raise decode_error(frame, str(error), ProtocolCause.TRANSFER_SYNTAX_ERROR) from None
    except InvalidValue as error:
        raise decode_error(frame, error.reason, error.cause, error.ies) from None


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
