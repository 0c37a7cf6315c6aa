"""The pycrate-free part of the S1AP codec (TS 36.413): `peek` at a message's procedure, kind,
criticality, UE-S1AP-IDs and, for a Reset, the connections it releases, without decoding it;
and `S1apDecodeError`, the one error bad S1AP input ends in.

The ECHO agent routes with `peek` alone, so importing this module must never load pycrate
(its S1AP tables cost the agent some 19 MB). `epc.codec.s1ap` builds `decode` and `encode` on
pycrate and re-exports what is here.

Which IEs carry a UE-S1AP-ID in which message is a table here, by the IE ids of
`epc.codec.s1ap_constants`, not read from pycrate's tables; the codec tests check the table
against the message table `decode` uses, and the ids against pycrate's S1AP-Constants.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from epc.codec import DecodeError
from epc.codec.s1ap_constants import (
    IE_ENB_UE_S1AP_ID,
    IE_MME_UE_S1AP_ID,
    IE_RESET_TYPE,
    IE_SOURCE_MME_UE_S1AP_ID,
    IE_UE_ASSOCIATED_LOGICAL_S1_CONNECTION_ITEM,
    IE_UE_S1AP_IDS,
    PROCEDURE_ENB_CONFIGURATION_UPDATE,
    PROCEDURE_HANDOVER_RESOURCE_ALLOCATION,
    PROCEDURE_INITIAL_UE_MESSAGE,
    PROCEDURE_PAGING,
    PROCEDURE_PATH_SWITCH_REQUEST,
    PROCEDURE_RESET,
    PROCEDURE_S1_SETUP,
    PROCEDURE_UE_CONTEXT_RELEASE,
)
from epc.codec.s1ap_frame import (
    Frame,
    Ie,
    Malformed,
    read_frame,
    read_header,
    read_open_type,
    read_ue_s1ap_id,
    read_ue_s1ap_ids,
    read_unsigned,
)
from epc.codec.s1ap_messages import (
    Cause,
    CauseGroup,
    Criticality,
    CriticalityDiagnostics,
    CriticalityDiagnosticsIe,
    PduType,
    ProtocolCause,
)

__all__ = [
    "ResetScope",
    "S1apDecodeError",
    "S1apPeek",
    "UeS1apIds",
    "decode_error",
    "peek",
    "read_message",
]


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


class UeS1apIds(NamedTuple):
    """One UE-associated logical S1 connection, by the IDs each side gave it (TS 36.413
    9.2.3.3-4); a Reset may name it by either or both."""

    enb_ue_s1ap_id: int | None
    mme_ue_s1ap_id: int | None


@dataclass(frozen=True, slots=True)
class ResetScope:
    """What a Reset releases (TS 36.413 8.7.1, ResetType 9.1.8.1): every UE-associated
    logical S1 connection (`reset_all`), or the `connections` listed."""

    reset_all: bool
    connections: tuple[UeS1apIds, ...] = ()


RESET_ALL = ResetScope(reset_all=True)


@dataclass(frozen=True, slots=True)
class S1apPeek:
    """What the agent needs to route a message. `mme_ue_s1ap_id` is the SourceMME-UE-S1AP-ID
    in a Path Switch Request; both IDs are None in non-UE-associated messages. `reset` is
    set for a Reset whose ResetType could be read (None for any other message, for a Reset
    without one, or with an alternative added after this release)."""

    procedure_code: int
    pdu_type: PduType
    criticality: Criticality
    enb_ue_s1ap_id: int | None
    mme_ue_s1ap_id: int | None
    reset: ResetScope | None = None


def peek(data: bytes) -> S1apPeek:
    """The procedure code, PDU type, criticality and UE-S1AP-IDs of a message, from its frame
    alone. Raises S1apDecodeError (transfer syntax error) when the frame does not parse."""
    frame = read_message(data)
    try:
        ies = frame.ies()
        enb_ue_s1ap_id, mme_ue_s1ap_id = _ue_ids(frame, ies)
        reset = None
        if frame.procedure_code == PROCEDURE_RESET:
            reset = _reset_scope(frame.pdu_type, ies)
    except Malformed as error:
        raise decode_error(frame, str(error), ProtocolCause.TRANSFER_SYNTAX_ERROR) from None
    return S1apPeek(
        frame.procedure_code,
        frame.pdu_type,
        frame.criticality,
        enb_ue_s1ap_id,
        mme_ue_s1ap_id,
        reset,
    )


def read_message(data: bytes) -> Frame:
    """The frame of a message; S1apDecodeError (transfer syntax error, naming the procedure
    when the header could be read) when it does not parse."""
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


def decode_error(
    frame: Frame,
    reason: str,
    cause: ProtocolCause,
    ies: tuple[CriticalityDiagnosticsIe, ...] = (),
) -> S1apDecodeError:
    """The error for a message whose frame parsed: it carries what the frame tells, the
    UE-S1AP-IDs too when they can be read."""
    try:
        enb_ue_s1ap_id, mme_ue_s1ap_id = _ue_ids(frame, frame.ies())
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


# --- UE-S1AP-IDs ------------------------------------------------------------------------------

_MME, _ENB, _PAIR = "mme", "enb", "pair"
_INITIATING, _SUCCESSFUL, _UNSUCCESSFUL = (
    PduType.INITIATING_MESSAGE,
    PduType.SUCCESSFUL_OUTCOME,
    PduType.UNSUCCESSFUL_OUTCOME,
)
_MOST_UE_MESSAGES = {IE_MME_UE_S1AP_ID: _MME, IE_ENB_UE_S1AP_ID: _ENB}
"""The IEs carrying UE-S1AP-IDs in most UE-associated messages, and in any message this core
does not model."""
_NON_UE_ASSOCIATED = (
    (_INITIATING, PROCEDURE_S1_SETUP),
    (_SUCCESSFUL, PROCEDURE_S1_SETUP),
    (_UNSUCCESSFUL, PROCEDURE_S1_SETUP),
    (_INITIATING, PROCEDURE_RESET),
    (_SUCCESSFUL, PROCEDURE_RESET),
    (_INITIATING, PROCEDURE_ENB_CONFIGURATION_UPDATE),
    (_SUCCESSFUL, PROCEDURE_ENB_CONFIGURATION_UPDATE),
    (_UNSUCCESSFUL, PROCEDURE_ENB_CONFIGURATION_UPDATE),
    (_INITIATING, PROCEDURE_PAGING),
)
_UE_ID_IES = {
    **{message: {} for message in _NON_UE_ASSOCIATED},
    (_INITIATING, PROCEDURE_INITIAL_UE_MESSAGE): {IE_ENB_UE_S1AP_ID: _ENB},
    (_INITIATING, PROCEDURE_UE_CONTEXT_RELEASE): {IE_UE_S1AP_IDS: _PAIR},
    (_INITIATING, PROCEDURE_HANDOVER_RESOURCE_ALLOCATION): {IE_MME_UE_S1AP_ID: _MME},
    (_UNSUCCESSFUL, PROCEDURE_HANDOVER_RESOURCE_ALLOCATION): {IE_MME_UE_S1AP_ID: _MME},
    (_INITIATING, PROCEDURE_PATH_SWITCH_REQUEST): {
        IE_ENB_UE_S1AP_ID: _ENB,
        IE_SOURCE_MME_UE_S1AP_ID: _MME,
    },
}
"""Per message, (PDU type, procedure code), the IEs that carry a UE-S1AP-ID and which, where
they differ from `_MOST_UE_MESSAGES`: exactly the UE-S1AP-ID IEs `decode` reads for the
message, so `peek` routes by the IDs the core sees (a stray eNB-UE-S1AP-ID IE of
criticality "ignore" in an S1 Setup Request routes nothing). The codec tests check this
against the message table."""


def _ue_ids(frame: Frame, ies: list[Ie]) -> tuple[int | None, int | None]:
    """(eNB-UE-S1AP-ID, MME-UE-S1AP-ID) from the first IEs that carry them."""
    roles = _UE_ID_IES.get((frame.pdu_type, frame.procedure_code), _MOST_UE_MESSAGES)
    enb_ue_s1ap_id = mme_ue_s1ap_id = None
    for ie_id, _, content in ies:
        role = roles.get(ie_id)
        if role == _MME and mme_ue_s1ap_id is None:
            mme_ue_s1ap_id = read_ue_s1ap_id(content)
        elif role == _ENB and enb_ue_s1ap_id is None:
            enb_ue_s1ap_id = read_ue_s1ap_id(content)
        elif role == _PAIR and mme_ue_s1ap_id is None:
            mme_ue_s1ap_id, enb_ue_s1ap_id = read_ue_s1ap_ids(content)
    return enb_ue_s1ap_id, mme_ue_s1ap_id


# --- Reset ------------------------------------------------------------------------------------


def _reset_scope(pdu_type: PduType, ies: list[Ie]) -> ResetScope | None:
    if pdu_type is not PduType.INITIATING_MESSAGE:
        return None
    for ie_id, _, content in ies:
        if ie_id == IE_RESET_TYPE:
            return _read_reset_type(content)
    return None


def _read_reset_type(content: bytes) -> ResetScope | None:
    """ResetType: a choice with an extension bit, then its alternative in one bit.
    s1-Interface (0) is ResetAll, an enumeration of one value (no bits). partOfS1-Interface (1)
    is UE-associatedLogicalS1-ConnectionListRes: the count minus one in the next octet
    (SIZE 1..256), then each item a ProtocolIE-Field (16-bit id, criticality, open type), as
    in an IE list. None for an alternative added after this release."""
    if not content:
        raise Malformed("ResetType missing")
    first = content[0]
    if first & 0x80:
        return None
    if not first & 0x40:
        return RESET_ALL
    if len(content) < 2:
        raise Malformed("connection list of a partial Reset missing")
    connections = []
    offset = 2
    for _ in range(content[1] + 1):
        if offset + 3 > len(content):
            raise Malformed("connection list of a partial Reset cut short")
        ie_id = content[offset] << 8 | content[offset + 1]
        item, offset = read_open_type(content, offset + 3)
        if ie_id == IE_UE_ASSOCIATED_LOGICAL_S1_CONNECTION_ITEM:
            connections.append(_read_connection_item(item))
    if offset != len(content):
        raise Malformed("octets after the connection list of a partial Reset")
    return ResetScope(reset_all=False, connections=tuple(connections))


def _read_connection_item(content: bytes) -> UeS1apIds:
    """UE-associatedLogicalS1-ConnectionItem: an extension bit and the presence bits of
    MME-UE-S1AP-ID, eNB-UE-S1AP-ID and iE-Extensions, then the IDs present in that order.
    The first ID's octet count minus one is in bits 4-3 of the first octet; an eNB-UE-S1AP-ID
    after an MME-UE-S1AP-ID is laid out as in its own IE. Extensions that follow are skipped."""
    if not content:
        raise Malformed("UE-associatedLogicalS1-ConnectionItem missing")
    first = content[0]
    first_size = (first >> 2 & 0x03) + 1
    has_mme, has_enb = first & 0x40, first & 0x20
    if not has_mme:
        return UeS1apIds(read_unsigned(content, 1, first_size) if has_enb else None, None)
    mme_ue_s1ap_id = read_unsigned(content, 1, first_size)
    enb_ue_s1ap_id = read_ue_s1ap_id(content[1 + first_size :]) if has_enb else None
    return UeS1apIds(enb_ue_s1ap_id, mme_ue_s1ap_id)
