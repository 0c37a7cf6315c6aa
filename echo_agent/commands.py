"""What the entry-point core (`echo_agent.entry_point`) hands its adapter, and the plain-data
context it hands another agent on handover. Commands are imperative: the adapter carries
them out in the order given."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from echo_agent.wire import Frame
from epc.codec.s1ap_peek import S1apDecodeError

LogLevel = Literal["debug", "info", "warning"]


# --- commands --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SendToCore:
    """Send `frame` on the connection to `endpoint` (the current one when it was made)."""

    frame: Frame
    endpoint: str


@dataclass(frozen=True, slots=True)
class SendToEnb:
    payload: bytes
    stream: int


@dataclass(frozen=True, slots=True)
class SendErrorIndicationToEnb:
    """Answer an undecodable uplink: `payload` is the encoded Error Indication."""

    payload: bytes
    stream: int
    error: S1apDecodeError


@dataclass(frozen=True, slots=True)
class SwitchCoreEndpoint:
    """`endpoint` has left a request unanswered `timeouts` times in a row: move to the next
    one (or group). Requests keep being resent to the current endpoint until the adapter
    reports the change with `core_connected`."""

    endpoint: str
    timeouts: int
    ue_id: int
    request_id: int


@dataclass(frozen=True, slots=True)
class LogEvent:
    event: str
    level: LogLevel
    fields: Mapping[str, object]


Command = SendToCore | SendToEnb | SendErrorIndicationToEnb | SwitchCoreEndpoint | LogEvent


# --- handover context ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ExportedTimer:
    timer_id: int
    remaining_ms: int
    set_by_request_id: int


@dataclass(frozen=True, slots=True)
class UeContext:
    """A UE's entry-point context, handed from the source eNB's agent to the target's.

    `last_request_id` is the source agent's clock when it exported, at or above every ID it
    issued for the UE, so the target numbers the UE's next request above all of them.
    `mme_ue_s1ap_id` lets the target recognise the UE in a Path Switch Request or Handover
    Request Acknowledge; the source's eNB-UE-S1AP-ID means nothing at the target."""

    last_request_id: int
    mme_ue_s1ap_id: int | None
    timers: tuple[ExportedTimer, ...]


class EntryPointError(Exception):
    """Base of the entry point's errors."""


class UnknownUe(EntryPointError):
    pass
