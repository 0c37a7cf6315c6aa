"""The ECHO wire format between an agent and the MME instances (DESIGN.md section 2).

This module owns the frame contract, its byte encoding (`encode`), its incremental decoding from
a TCP byte stream (`FrameReader`) and the error rule for bad bytes. It does no I/O.

CONTRACT: every frame is one `Frame`; which fields mean something depends on its kind, the
others are 0 / empty (sent as 0 / empty, ignored on receipt).

| kind | direction | fields used |
|---|---|---|
| HELLO | both | payload: agent -> MME the eNB's identity, MME -> agent the instance name |
| REQUEST | agent -> MME | ue_id, request_id, stream, payload (one uplink S1AP PDU) |
| REPLY | MME -> agent | ue_id, request_id, sequence (0, 1, ... in the request), stream, payload |
| ACK | MME -> agent | ue_id, request_id, sequence (how many replies the request produced) |
| SET_TIMER | MME -> agent | ue_id, request_id (that set it), timer_id, timer_ms |
| CANCEL_TIMER | MME -> agent | ue_id, request_id, timer_id |
| TIMER_FIRED | agent -> MME | ue_id, request_id (a new request ID of that UE), timer_id |
| CORE_INITIATED | MME -> agent | ue_id (0: none), request_id + sequence (dedup), stream, payload |
| PING / PONG | both | request_id (echoed), liveness of the connection |
| ERROR | both | sequence (error code, `ErrorCode`), payload (UTF-8 reason) |

`ue_id` 0 is the eNB itself: non-UE-associated S1AP (S1 Setup, Reset, eNB Configuration
Update, Error Indication without UE IDs) is queued and numbered like any UE's requests. A
core-initiated Reset goes with `ue_id` 0 too: the agent reads it on its way to the eNB and
releases the connections it names on its side as well.

Two REQUESTs on `ue_id` 0 are the agent's own, not the eNB's, and their replies never reach the
eNB: the eNB's S1 Setup Request replayed to a new MME instance, and a Reset ("reset all", cause
transport "unspecified") once the eNB's SCTP association has dropped, since that releases
every UE-associated S1 connection of the eNB (TS 36.413 8.7.1.1). The MME takes both as it
would from the eNB. Neither is a frame kind of its own, so the format keeps version 1.

Request IDs are hybrid logical clock values, max(previous + 1, wall clock in microseconds), so
they grow for a UE across S1 connections, across agent restarts and, with clocks in sync to
well under the time a UE takes to move, across eNBs.

BYTE LAYOUT (version 1). A frame is a fixed 38-byte header, then the payload. Integers are
unsigned, big-endian (network byte order); no padding (struct format `!2sBBIQQIIIH`).

| offset | size | field | notes |
|---|---|---|---|
| 0 | 2 | magic | `b"EC"` (0x45 0x43): readable in a hex dump; tells a non-ECHO peer |
| 2 | 1 | version | 1; a receiver takes only the versions it knows |
| 3 | 1 | kind | `FrameKind` value |
| 4 | 4 | payload_length | octets after the header, at most `MAX_PAYLOAD` |
| 8 | 8 | ue_id | |
| 16 | 8 | request_id | |
| 24 | 4 | sequence | |
| 28 | 4 | timer_id | |
| 32 | 4 | timer_ms | |
| 36 | 2 | stream | |
| 38 | payload_length | payload | |

The length sits in the first 8 octets, with magic and version, so a receiver judges a frame
before its fixed fields have all arrived. `encode` refuses (ValueError) a field out of its
range, a kind that is not a `FrameKind`, or a payload above `MAX_PAYLOAD`.

ERROR RULE. `FrameReader.feed(data)` takes the bytes of a stream as they come and returns the
outcomes of the frames they complete, in order: a `Frame`, or `UnknownKind`.

| what arrives | outcome | what the receiver does |
|---|---|---|
| part of a frame | nothing yet; the bytes wait for the rest | keeps reading (a stream) |
| magic other than `b"EC"` | `FrameError(BAD_MAGIC)` raised | answers ERROR with the code, closes |
| a version it does not know | `FrameError(UNSUPPORTED_VERSION)` raised | answers ERROR, closes |
| payload_length > MAX_PAYLOAD | `FrameError(OVERSIZED)` raised | answers ERROR, closes |
| an unknown kind, whole frame | `UnknownKind` returned | answers ERROR(UNKNOWN_KIND), goes on |
| end of stream inside a frame | `FrameError(TRUNCATED)` from `end_of_stream()` | logs it |

The three raised errors are judged from the first 8 octets, as soon as they arrive. After one
the stream has lost its framing: the reader is spent (every later `feed` raises the same error)
and frames that the same `feed` call completed before the bad header are dropped with it; ECHO's
retransmission recovers them (the agent resends until ACKed, the MME resends recorded replies).
An unknown kind keeps the stream in sync (its length is known), so a newer peer's new kinds
cost one ERROR each, not the connection. `FrameError.answer()` and `UnknownKind.answer()` give
the ERROR frame to send. A receiver never answers an ERROR frame with an ERROR (no loops);
it logs it. Codes the owner of a connection uses for frames that decode but do not fit
(`UNEXPECTED_KIND`, `BAD_HELLO`) are listed in `ErrorCode` too, so both ends share one table.

MAX_PAYLOAD is 256 KiB. A payload is one S1AP PDU, an identity or a reason. The largest S1AP
PDUs (a Handover Request carrying the source-to-target transparent container, an Initial
Context Setup Request with many E-RABs and NAS PDUs) are a few to some tens of KiB; 256 KiB is
far above any of them and keeps what one peer, or one corrupted length, can make a reader
buffer small: a reader holds at most one incomplete frame plus the bytes of one `feed`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum


class FrameKind(IntEnum):
    HELLO = 1
    REQUEST = 2
    REPLY = 3
    ACK = 4
    SET_TIMER = 5
    CANCEL_TIMER = 6
    TIMER_FIRED = 7
    CORE_INITIATED = 8
    PING = 9
    PONG = 10
    ERROR = 11


ENB_UE_ID = 0
"""The `ue_id` of non-UE-associated signalling: the eNB's own queue."""


@dataclass(frozen=True, slots=True)
class Frame:
    kind: FrameKind
    ue_id: int = 0
    """u64: the agent's identifier for a UE (unique within the agent's eNB)."""
    request_id: int = 0
    """u64."""
    sequence: int = 0
    """u32: reply number within a request, reply count in an ACK, error code in an ERROR."""
    timer_id: int = 0
    """u32."""
    timer_ms: int = 0
    """u32: a timer's duration."""
    stream: int = 0
    """u16: the SCTP stream the S1AP message travels on between eNB and agent."""
    payload: bytes = b""


MAGIC = b"EC"
VERSION = 1
HEADER = struct.Struct("!2sBBIQQIIIH")
HEADER_SIZE = HEADER.size
MAX_PAYLOAD = 256 * 1024
"""The largest payload_length a receiver accepts; see the module docstring for why."""

_PREFIX_SIZE = 8
"""Magic, version, kind and payload_length: what a receiver judges a frame by."""

_KINDS = {kind.value: kind for kind in FrameKind}

_FIELD_LIMITS = (
    ("ue_id", 2**64 - 1),
    ("request_id", 2**64 - 1),
    ("sequence", 2**32 - 1),
    ("timer_id", 2**32 - 1),
    ("timer_ms", 2**32 - 1),
    ("stream", 2**16 - 1),
)


class ErrorCode(IntEnum):
    """The code an ERROR frame carries in its `sequence` field."""

    BAD_MAGIC = 1
    """The first two octets of a frame are not b"EC": the peer does not speak ECHO. Close."""
    UNSUPPORTED_VERSION = 2
    """A frame version the receiver does not know. Close."""
    OVERSIZED = 3
    """payload_length above MAX_PAYLOAD. Close."""
    UNKNOWN_KIND = 4
    """A kind the receiver does not know; the frame is skipped, the connection stays."""
    TRUNCATED = 5
    """The stream ended inside a frame."""
    UNEXPECTED_KIND = 6
    """A known kind the receiver does not take here (wrong direction, or not HELLO first)."""
    BAD_HELLO = 7
    """A HELLO whose identity the receiver cannot use. Close."""


class FrameError(Exception):
    """Bytes that are not an ECHO stream: answer `answer()` and close the connection."""

    def __init__(self, code: ErrorCode, reason: str) -> None:
        super().__init__(f"{code.name}: {reason}")
        self.code = code
        self.reason = reason

    def answer(self) -> Frame:
        return error_frame(self.code, self.reason)


@dataclass(frozen=True, slots=True)
class UnknownKind:
    """A whole frame of a kind this version does not know; skipped, answered with `answer()`."""

    kind: int
    payload_length: int

    def answer(self) -> Frame:
        return error_frame(ErrorCode.UNKNOWN_KIND, f"unknown frame kind {self.kind}")


def error_frame(code: ErrorCode, reason: str) -> Frame:
    """The ERROR frame carrying `code` and `reason`."""
    return Frame(FrameKind.ERROR, sequence=code, payload=reason.encode())


def encode(frame: Frame) -> bytes:
    """The frame's bytes. Raises ValueError if a field does not fit its size (see the layout)."""
    if len(frame.payload) > MAX_PAYLOAD:
        raise ValueError(f"payload of {len(frame.payload)} octets exceeds {MAX_PAYLOAD}")
    try:
        header = HEADER.pack(
            MAGIC,
            VERSION,
            _KINDS[frame.kind],
            len(frame.payload),
            frame.ue_id,
            frame.request_id,
            frame.sequence,
            frame.timer_id,
            frame.timer_ms,
            frame.stream,
        )
    except (KeyError, struct.error):
        raise ValueError(_out_of_range(frame)) from None
    return header + frame.payload


def _out_of_range(frame: Frame) -> str:
    if frame.kind not in _KINDS:
        return f"kind {frame.kind!r} is not a FrameKind"
    for name, limit in _FIELD_LIMITS:
        value = getattr(frame, name)
        if not isinstance(value, int) or not 0 <= value <= limit:
            return f"{name} {value!r} is not an integer in 0..{limit}"
    return f"cannot encode {frame!r}"


class FrameReader:
    """Frames out of a TCP byte stream, fed in chunks of any size (see the ERROR RULE)."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._error: FrameError | None = None

    def feed(self, data: bytes) -> list[Frame | UnknownKind]:
        """The outcomes of the frames `data` completes, in order. Raises FrameError."""
        if self._error is not None:
            raise self._error
        buffer = self._buffer
        buffer += data
        try:
            outcomes, consumed = _decode_frames(buffer)
        except FrameError as error:
            self._error = error
            self._buffer = bytearray()
            raise
        if consumed:
            # A fresh buffer for the rest, rather than deleting the front in place: a bytearray
            # that later grows would copy itself whole, holding two copies for a moment.
            self._buffer = buffer[consumed:]
        return outcomes

    def end_of_stream(self) -> None:
        """Call when the stream ends. Raises FrameError(TRUNCATED) if it ended inside a frame."""
        if self._buffer and self._error is None:
            raise FrameError(
                ErrorCode.TRUNCATED,
                f"stream ended {len(self._buffer)} octets into a frame",
            )


def _decode_frames(buffer: bytearray) -> tuple[list[Frame | UnknownKind], int]:
    """The outcomes of the whole frames at the start of `buffer`, and the octets they span."""
    outcomes: list[Frame | UnknownKind] = []
    start = 0
    while len(buffer) - start >= HEADER_SIZE:
        (magic, version, kind, length, ue_id, request_id, sequence, timer_id, timer_ms, stream) = (
            HEADER.unpack_from(buffer, start)
        )
        if magic != MAGIC or version != VERSION or length > MAX_PAYLOAD:
            _check_prefix(buffer[start : start + _PREFIX_SIZE])
        end = start + HEADER_SIZE + length
        if end > len(buffer):
            return outcomes, start
        known = _KINDS.get(kind)
        if known is None:
            outcomes.append(UnknownKind(kind, length))
        else:
            # One copy: slicing the bytearray itself would copy the payload twice.
            payload = bytes(memoryview(buffer)[start + HEADER_SIZE : end])
            outcomes.append(
                Frame(known, ue_id, request_id, sequence, timer_id, timer_ms, stream, payload)
            )
        start = end
    _check_prefix(buffer[start : start + _PREFIX_SIZE])
    return outcomes, start


def _check_prefix(prefix: bytearray) -> None:
    """Judge the first octets of a frame, as many of the first 8 as have arrived."""
    if prefix[:2] != MAGIC[: len(prefix)]:
        raise FrameError(ErrorCode.BAD_MAGIC, f"frame starts with {bytes(prefix[:2]).hex()}")
    if len(prefix) > 2 and prefix[2] != VERSION:
        raise FrameError(
            ErrorCode.UNSUPPORTED_VERSION,
            f"frame version {prefix[2]}, this end speaks {VERSION}",
        )
    if len(prefix) == _PREFIX_SIZE:
        length = int.from_bytes(prefix[4:8], "big")
        if length > MAX_PAYLOAD:
            raise FrameError(
                ErrorCode.OVERSIZED,
                f"payload length {length} exceeds {MAX_PAYLOAD}",
            )
