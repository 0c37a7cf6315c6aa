"""The frame of every S1AP message, read and written by hand in aligned PER, without pycrate:
the S1AP-PDU choice, procedure code, criticality, and the list of IEs, each an id, a
criticality and an open type holding the IE's value (TS 36.413 9.3.3-9.3.4, X.691).

`epc.codec.s1ap` builds `peek` on this alone, and frames the IE values pycrate encodes and
decodes one at a time. Reading is strict: an open type must hold exactly what its length
says, nothing may follow the PDU or the last IE, and extensions of the PDU choice or of the
message sequence (none are defined) are refused. Every failure is a `Malformed`.

The two UE-S1AP-ID readers decode just those IEs' values, for peeking.

Terms: APER is the aligned variant of the ASN.1 packed encoding rules (X.691); an open type
is a length-prefixed octet string holding a complete encoding of another type.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from epc.codec.s1ap_messages import Criticality, PduType

_PDU_TYPES = (PduType.INITIATING_MESSAGE, PduType.SUCCESSFUL_OUTCOME, PduType.UNSUCCESSFUL_OUTCOME)
"""The S1AP-PDU alternatives in choice-index order."""
_CRITICALITIES = (Criticality.REJECT, Criticality.IGNORE, Criticality.NOTIFY)
"""Criticality values in enumeration-index order."""
_FRAGMENT = 16384
"""X.691 11.9.3.8: longer open types go in fragments of 1 to 4 times this many octets."""


class Malformed(Exception):
    """The frame does not parse: a transfer syntax error."""


class Ie(NamedTuple):
    ie_id: int
    criticality: Criticality
    content: bytes
    """The open type's content: the APER encoding of the IE's value."""


class Header(NamedTuple):
    pdu_type: PduType
    procedure_code: int
    criticality: Criticality


@dataclass(frozen=True, slots=True)
class Frame:
    pdu_type: PduType
    procedure_code: int
    criticality: Criticality
    body: bytes

    def ies(self) -> list[Ie]:
        """The IE list (ProtocolIE-Container): a preamble octet holding the message's
        extension bit, a 16-bit count, then each IE's 16-bit id, criticality and open type."""
        body = self.body
        if len(body) < 3 or body[0] & 0x80:
            raise Malformed("no IE list, or a message extension")
        count = int.from_bytes(body[1:3], "big")
        offset, size, ies = 3, len(body), []
        for _ in range(count):
            if offset + 4 > size:
                raise Malformed(f"the IE list ends after {len(ies)} of {count} IEs")
            criticality = _criticality(body[offset + 2])
            length = body[offset + 3]
            if length < 0x80:  # the usual short length, read here for speed
                end = offset + 4 + length
                if end > size:
                    raise Malformed(f"an open type of {length} octets runs past the end")
                content = body[offset + 4 : end]
            else:
                content, end = read_open_type(body, offset + 3)
            ies.append(Ie(body[offset] << 8 | body[offset + 1], criticality, content))
            offset = end
        if offset != len(body):
            raise Malformed("octets after the last IE")
        return ies


def read_header(data: bytes) -> Header:
    """The first three octets: an extension bit and the choice index of the S1AP-PDU, the
    procedure code, and the criticality."""
    if len(data) < 3:
        raise Malformed(f"{len(data)} octets are too short for an S1AP PDU")
    index = data[0] >> 5
    if index >= len(_PDU_TYPES):
        raise Malformed("not an initiating message, successful or unsuccessful outcome")
    return Header(_PDU_TYPES[index], data[1], _criticality(data[2]))


def read_frame(data: bytes) -> Frame:
    """The header, then the message as an open type filling the rest."""
    header = read_header(data)
    body, end = read_open_type(data, 3)
    if end != len(data):
        raise Malformed("octets after the S1AP PDU")
    return Frame(*header, body)


def write_frame(
    pdu_type: PduType,
    procedure_code: int,
    criticality: Criticality,
    ies: list[Ie],
) -> bytes:
    body = [b"\x00", len(ies).to_bytes(2, "big")]
    for ie_id, ie_criticality, content in ies:
        body.append(ie_id.to_bytes(2, "big"))
        body.append(bytes((_CRITICALITIES.index(ie_criticality) << 6,)))
        body.append(_open_type(content))
    header = (
        _PDU_TYPES.index(pdu_type) << 5,
        procedure_code,
        _CRITICALITIES.index(criticality) << 6,
    )
    return bytes(header) + _open_type(b"".join(body))


_CRITICALITY_OF_OCTET = tuple(
    _CRITICALITIES[octet >> 6] if octet >> 6 < len(_CRITICALITIES) else None for octet in range(256)
)
"""The criticality in the top two bits of an octet, looked up (the rest is padding)."""


def _criticality(octet: int) -> Criticality:
    criticality = _CRITICALITY_OF_OCTET[octet]
    if criticality is None:
        raise Malformed("criticality out of range")
    return criticality


def read_open_type(data: bytes, offset: int) -> tuple[bytes, int]:
    """An open type at `offset`: its content and where it ends (X.691 11.9.3.6-11.9.3.8)."""
    parts = []
    while True:
        if offset >= len(data):
            raise Malformed("length determinant missing")
        first = data[offset]
        if first & 0x80 == 0:
            length, offset, last = first, offset + 1, True
        elif first & 0x40 == 0:
            if offset + 2 > len(data):
                raise Malformed("length determinant cut short")
            length, offset, last = (first & 0x3F) << 8 | data[offset + 1], offset + 2, True
        elif 1 <= first & 0x3F <= 4:
            length, offset, last = (first & 0x3F) * _FRAGMENT, offset + 1, False
        else:
            raise Malformed("invalid fragment size")
        end = offset + length
        if end > len(data):
            raise Malformed(f"an open type of {length} octets runs past the end")
        parts.append(data[offset:end])
        offset = end
        if last:
            return (parts[0] if len(parts) == 1 else b"".join(parts)), offset


def _open_type(content: bytes) -> bytes:
    length = len(content)
    if length < 0x80:
        return bytes((length,)) + content
    if length < _FRAGMENT:
        return (0x8000 | length).to_bytes(2, "big") + content
    multiplier = min(4, length // _FRAGMENT)
    size = multiplier * _FRAGMENT
    return bytes((0xC0 | multiplier,)) + content[:size] + _open_type(content[size:])


def read_ue_s1ap_id(content: bytes) -> int:
    """An ENB- or MME-UE-S1AP-ID IE's value: its octet count minus one in 2 bits, padding,
    then the octets (X.691 11.5.7.4)."""
    if not content:
        raise Malformed("UE-S1AP-ID missing")
    return read_unsigned(content, 1, (content[0] >> 6) + 1)


def read_ue_s1ap_ids(content: bytes) -> tuple[int | None, int | None]:
    """A UE-S1AP-IDs IE's value (9.2.3.18) as (MME-UE-S1AP-ID, eNB-UE-S1AP-ID), both None for
    an unknown extension. A choice: bit 8 extension, bit 7 which alternative. The
    MME-UE-S1AP-ID alone has its octet count in bits 6-5; the pair (a sequence with an
    extension bit and an optional-IE bit) has it in bits 4-3, and the eNB-UE-S1AP-ID follows
    as in its own IE."""
    if not content:
        raise Malformed("UE-S1AP-IDs missing")
    first = content[0]
    if first & 0x80:
        return None, None
    if first & 0x40:
        return read_unsigned(content, 1, (first >> 4 & 0x03) + 1), None
    mme_size = (first >> 2 & 0x03) + 1
    mme_ue_s1ap_id = read_unsigned(content, 1, mme_size)
    return mme_ue_s1ap_id, read_ue_s1ap_id(content[1 + mme_size :])


def read_unsigned(content: bytes, offset: int, size: int) -> int:
    if offset + size > len(content):
        raise Malformed("UE-S1AP-ID cut short")
    return int.from_bytes(content[offset : offset + size], "big")
