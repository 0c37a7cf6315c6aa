"""The eNB's S1 Setup as the entry point remembers it, so an MME instance change stays
invisible to the eNB (issue 4, item 5).

The eNB sets S1 up once per SCTP association and the agent keeps that association up through
any MME crash. When the agent's core connection lands on a new endpoint, it replays the eNB's
last S1 Setup Request there itself and keeps the answer from the eNB, which goes on holding
the S1 Setup Response it got first. UE-associated requests wait until the replay is
acknowledged, so the new instance sees the eNB's setup before any UE of it. When the
association itself goes, the setup goes with it (`enb_lost`).
"""

from __future__ import annotations

from enum import Enum
from typing import Protocol

from echo_agent.commands import LogLevel
from echo_agent.ue_queue import PendingRequest, RequestKind
from epc.codec.s1ap_constants import PROCEDURE_S1_SETUP
from epc.codec.s1ap_messages import PduType
from epc.codec.s1ap_peek import S1apDecodeError, peek


class Log(Protocol):
    def __call__(self, event: str, level: LogLevel, **fields: object) -> None: ...


class S1SetupState(Enum):
    NONE = "none"
    """The eNB is not set up (it has not asked, or the core refused)."""
    PENDING = "pending"
    """The eNB's own S1 Setup Request is queued or in flight."""
    ESTABLISHED = "established"
    """The eNB holds an S1 Setup Response."""
    RESTORING = "restoring"
    """The agent replays the request to a new endpoint; UE requests wait for it."""


class S1SetupMemory:
    def __init__(self, log: Log) -> None:
        self._log = log
        self.state = S1SetupState.NONE
        self.request: tuple[bytes, int] | None = None
        """The eNB's last S1 Setup Request and the SCTP stream it came on."""
        self.response: bytes | None = None
        """The S1 Setup Response the eNB holds."""
        self.endpoint: str | None = None
        """The core endpoint known to have the eNB's setup; None if none is."""

    @property
    def holds_ue_requests(self) -> bool:
        return self.state is S1SetupState.RESTORING

    def enb_requested(self, payload: bytes, stream: int) -> None:
        self.request = (payload, stream)
        if self.state is not S1SetupState.RESTORING:  # the replay, ahead of it, goes first
            self._set_state(S1SetupState.PENDING, "enb_s1_setup_request")

    def enb_answered(self, payload: bytes, endpoint: str | None) -> None:
        """A reply to the eNB's own S1 Setup Request, on its way to the eNB."""
        outcome = setup_outcome(payload)
        if outcome is True:
            self.response = payload
            self.endpoint = endpoint
            self._set_state(S1SetupState.ESTABLISHED, "s1_setup_response")
        elif outcome is False:
            self.endpoint = None
            self._set_state(S1SetupState.NONE, "s1_setup_failure")

    def needs_restore(self, endpoint: str) -> bool:
        return self.state is S1SetupState.ESTABLISHED and self.endpoint != endpoint

    def start_restore(self) -> PendingRequest:
        """The replay to queue; numbered when sent, like any request."""
        assert self.request is not None
        payload, stream = self.request
        self.endpoint = None
        self._set_state(S1SetupState.RESTORING, "new_endpoint")
        return PendingRequest(RequestKind.S1_SETUP_RESTORE, payload, stream, is_s1_setup=True)

    def restore_answered(self, payload: bytes, endpoint: str | None) -> None:
        outcome = setup_outcome(payload)
        if outcome is True:
            self.endpoint = endpoint
            same = payload == self.response
            self._log("s1_setup_restored", "info", endpoint=endpoint, same_response=same)
        else:
            # `endpoint` stays None, so the next endpoint connected gets the replay again.
            self._log(
                "s1_setup_restore_rejected", "warning", endpoint=endpoint, failure=outcome is False
            )

    def restore_acknowledged(self) -> None:
        if self.state is S1SetupState.RESTORING:  # not if the eNB went meanwhile
            self._set_state(S1SetupState.ESTABLISHED, "restore_acknowledged")

    def enb_lost(self) -> bool:
        """The eNB's SCTP association is gone, and its S1 setup with it: a new association
        starts with an S1 Setup (TS 36.413 8.7.3.1), so there is nothing to replay. Returns
        whether the eNB held an S1 Setup Response, i.e. the core may hold UE state of it."""
        was_set_up = self.response is not None
        self.request = self.response = self.endpoint = None
        if self.state is not S1SetupState.NONE:
            self._set_state(S1SetupState.NONE, "enb_lost")
        return was_set_up

    def _set_state(self, state: S1SetupState, reason: str) -> None:
        self._log(
            "s1_setup_state",
            "info",
            old=self.state.value,
            new=state.value,
            reason=reason,
            endpoint=self.endpoint,
        )
        self.state = state


def setup_outcome(payload: bytes) -> bool | None:
    """True for an S1 Setup Response, False for an S1 Setup Failure, None otherwise."""
    try:
        seen = peek(payload)
    except S1apDecodeError:
        return None
    if seen.procedure_code != PROCEDURE_S1_SETUP or seen.pdu_type is PduType.INITIATING_MESSAGE:
        return None
    return seen.pdu_type is PduType.SUCCESSFUL_OUTCOME
