"""The ECHO wire format between an agent and the MME instances (DESIGN.md section 2).

CONTRACT (fixed; the encoder, decoder and their docs are being written): every frame is one
`Frame`; which fields mean something depends on its kind, the others are 0 / empty.

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
| ERROR | both | sequence (error code), payload (UTF-8 reason) |

`ue_id` 0 is the eNB itself: non-UE-associated S1AP (S1 Setup, Reset, eNB Configuration
Update, Error Indication without UE IDs) is queued and numbered like any UE's requests.

Request IDs are hybrid logical clock values, max(previous + 1, wall clock in microseconds), so
they grow for a UE across S1 connections, across agent restarts and, with clocks in sync to
well under the time a UE takes to move, across eNBs.
"""

from __future__ import annotations

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
