"""The ECHO entry point, sans-I/O (DESIGN.md section 2; ECHO paper section 4.3): what the agent
on the eNB's board decides, with the sockets, the clock and the logger left to its adapter.

It owns, for one eNB:
- the UE mapping: S1AP messages to the agent's UE IDs, by eNB-UE-S1AP-ID and MME-UE-S1AP-ID
  read with `epc.codec.s1ap_peek.peek` (the agent decodes no more S1AP than that, and loads
  pycrate only to encode an Error Indication for bad input);
- the end of UE-associated S1 connections: a Reset from either side, or the eNB's
  association dropping, which the core learns of through a Reset the agent sends;
- per UE, a FIFO of requests numbered by one hybrid logical clock, one in flight, resent with
  backoff until acknowledged; N consecutive timeouts ask the adapter to switch MME endpoint;
- exactly-once, in-order release of replies to the eNB, and deduplication of core-initiated
  messages;
- the reliable timers the MME instances arm through it;
- the eNB's S1 Setup, replayed to a new MME instance so the eNB never sees the change.

Shape (aioquic): inputs are method calls with an explicit `now` (monotonic seconds); outputs
are commands collected with `pop_commands()`; `next_deadline()` / `handle_deadline(now)` run
the clock. The wall clock, used only to number requests, is injected as a callable.

Request IDs are a hybrid logical clock, max(previous + 1, wall clock in microseconds), shared
by every queue of the agent: IDs grow for a UE across its S1 connections, across agent
restarts (while the wall clock does not step back further than the restart takes) and, handed
over with `export_ue` / `import_ue`, across eNBs. UE IDs come from the same clock, so they too
stay unique across restarts.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable

from echo_agent.commands import (
    Command,
    ExportedTimer,
    LogEvent,
    LogLevel,
    SendErrorIndicationToEnb,
    SendToCore,
    SendToEnb,
    SwitchCoreEndpoint,
    UeContext,
    UnknownUe,
)
from echo_agent.s1_setup import S1SetupMemory, S1SetupState
from echo_agent.timers import DeadlineHeap, RetransmitPolicy, RetransmitTimer, UeTimer
from echo_agent.ue_queue import (
    ArmedTimer,
    PendingRequest,
    RequestKind,
    UeDirectory,
    UeRecord,
    UeState,
)
from echo_agent.wire import ENB_UE_ID, Frame, FrameKind
from epc.codec.s1ap_constants import (
    IE_CAUSE,
    IE_RESET_TYPE,
    PROCEDURE_ERROR_INDICATION,
    PROCEDURE_INITIAL_UE_MESSAGE,
    PROCEDURE_RESET,
    PROCEDURE_S1_SETUP,
    PROCEDURE_UE_CONTEXT_RELEASE,
)
from epc.codec.s1ap_frame import Ie, write_frame
from epc.codec.s1ap_messages import (
    Criticality,
    CriticalityDiagnostics,
    ErrorIndication,
    PduType,
)
from epc.codec.s1ap_peek import ResetScope, S1apDecodeError, S1apPeek, peek

__all__ = [
    "Command",
    "EntryPoint",
    "ExportedTimer",
    "LogEvent",
    "RetransmitPolicy",
    "S1SetupState",
    "SendErrorIndicationToEnb",
    "SendToCore",
    "SendToEnb",
    "SwitchCoreEndpoint",
    "UeContext",
    "UnknownUe",
]

DEFAULT_SWITCH_AFTER_TIMEOUTS = 3
"""Consecutive timeouts of one request before the adapter is told to move to another endpoint:
with the default policy that is 0.5 + 1 + 2 = 3.5 s of silence, a dead instance rather than
a slow store write, and early enough for the retry elsewhere to beat the UE's NAS timers."""

DEFAULT_MAX_QUEUED_PER_UE = 128
"""Uplinks waiting in one UE's queue. A procedure has a few messages outstanding; past this
the core has been unreachable for many rounds and further uplinks are dropped (the UE's NAS
retransmits on its own timers) rather than let one eNB grow the agent without bound."""

DEFAULT_CORE_INITIATED_WINDOW = 1024
"""Core-initiated (UE ID, request ID, sequence) keys remembered for deduplication. Copies come
from the core retrying one procedure within seconds; a small cell pages far less than 1024
times in that span, and the window costs a few hundred KB at most."""

NON_UE_ASSOCIATED_STREAM = 0
"""SCTP stream for non-UE-associated S1AP signalling (TS 36.412 section 7)."""

ENB_LOST_RESET = write_frame(
    PduType.INITIATING_MESSAGE,
    PROCEDURE_RESET,
    Criticality.REJECT,
    [
        # Cause: choice 1 of 5 (transport) in 3 bits after the extension bit, then
        # TransportCause 1 (unspecified) after its own: 0 001 0 1 00.
        Ie(IE_CAUSE, Criticality.IGNORE, b"\x14"),
        # ResetType: choice 0 (s1-Interface) after the extension bit; ResetAll has one value.
        Ie(IE_RESET_TYPE, Criticality.REJECT, b"\x00"),
    ],
)
"""The Reset the agent sends the core when the eNB's association drops: "reset all", cause
transport "unspecified" (TS 36.413 9.2.1.3: the cause lies in the transport network layer).
Written by hand so the agent need not load pycrate for it; a test checks it against
`epc.codec.s1ap.encode`."""

_ERROR_REASON_CHARS = 200
"""An ERROR frame's reason is logged up to this length: enough to read, bounded for a peer."""

DEFAULT_RETRANSMIT_POLICY = RetransmitPolicy()


class EntryPoint:
    """The entry point of one eNB. Inputs: `uplink_s1ap`, `enb_disconnected`,
    `frame_from_core`, `core_connected`, `core_disconnected`, `handle_deadline` (when
    `next_deadline()` has come), and the handover pair `export_ue` / `import_ue`. Outputs:
    `pop_commands()` after each input."""

    def __init__(
        self,
        *,
        wall_clock_us: Callable[[], int],
        retransmit: RetransmitPolicy = DEFAULT_RETRANSMIT_POLICY,
        switch_after_timeouts: int = DEFAULT_SWITCH_AFTER_TIMEOUTS,
        max_queued_per_ue: int = DEFAULT_MAX_QUEUED_PER_UE,
        core_initiated_window: int = DEFAULT_CORE_INITIATED_WINDOW,
        last_request_id: int = 0,
        debug_events: bool = False,
    ) -> None:
        """`last_request_id` seeds the clock (an adapter that persisted it may pass it back);
        `debug_events` adds per-request log events, off by default for the relay's cost."""
        if min(switch_after_timeouts, max_queued_per_ue, core_initiated_window) < 1:
            raise ValueError("switch_after_timeouts, max_queued_per_ue, window must be >= 1")
        self._wall_clock_us = wall_clock_us
        self._policy = retransmit
        self._switch_after = switch_after_timeouts
        self._max_queued = max_queued_per_ue
        self._debug_events = debug_events
        self._clock = last_request_id
        self._ues = UeDirectory()
        self._deadlines: DeadlineHeap[RetransmitTimer | UeTimer] = DeadlineHeap()
        self._endpoint: str | None = None
        self._last_endpoint: str | None = None
        self._s1_setup = S1SetupMemory(self._log)
        self._core_initiated_seen: set[tuple[int, int, int]] = set()
        self._core_initiated_order: deque[tuple[int, int, int]] = deque()
        self._core_initiated_window = core_initiated_window
        self._before_reset: set[int] = set()
        """UEs whose request in flight must reach the core before the Reset queued next."""
        self._commands: list[Command] = []

    # --- outputs and inspection ------------------------------------------------------------

    def pop_commands(self) -> list[Command]:
        commands, self._commands = self._commands, []
        return commands

    def next_deadline(self) -> float | None:
        return self._deadlines.earliest()

    @property
    def current_endpoint(self) -> str | None:
        return self._endpoint

    @property
    def last_request_id(self) -> int:
        """The clock: the last request or UE ID handed out."""
        return self._clock

    @property
    def s1_setup_state(self) -> S1SetupState:
        return self._s1_setup.state

    @property
    def s1_setup_response(self) -> bytes | None:
        """The S1 Setup Response the eNB holds."""
        return self._s1_setup.response

    def ue_ids(self) -> frozenset[int]:
        """UE records held, the eNB's own queue (`ENB_UE_ID`) included."""
        return self._ues.ids()

    def ue_id_for(self, enb_ue_s1ap_id: int) -> int | None:
        ue = self._ues.by_enb_id(enb_ue_s1ap_id)
        return None if ue is None else ue.ue_id

    # --- inputs ----------------------------------------------------------------------------

    def uplink_s1ap(self, now: float, payload: bytes, stream: int) -> None:
        try:
            seen = peek(payload)
        except S1apDecodeError as error:
            self._reject_uplink(error, stream)
            return
        ue = self._route_uplink(seen)
        request = PendingRequest(
            RequestKind.UPLINK,
            payload,
            stream,
            is_s1_setup=_is(seen, PROCEDURE_S1_SETUP, PduType.INITIATING_MESSAGE),
            releases_connection=_is(seen, PROCEDURE_UE_CONTEXT_RELEASE, PduType.SUCCESSFUL_OUTCOME),
            is_reset=_is(seen, PROCEDURE_RESET, PduType.INITIATING_MESSAGE),
        )
        if request.is_reset:
            self._apply_reset(seen.reset, "enb_reset", reset_follows=True)
        if not self._enqueue(now, ue, request):
            return
        if request.is_s1_setup:
            self._s1_setup.enb_requested(payload, stream)
        if request.releases_connection:
            self._set_ue_state(ue, UeState.RELEASING, "ue_context_release_complete")

    def enb_disconnected(self, now: float) -> None:
        """The eNB's SCTP association (or TCP connection) is gone, and with it every
        UE-associated logical S1 connection of the eNB (TS 36.413 8.7.1.1) and its S1 setup.

        The core learns of it through a Reset ("reset all") the agent queues on the eNB's
        behalf, if the eNB was set up; it goes after the requests already in flight. Requests
        the eNB sent that have not gone out are dropped: nothing would take their answers.
        Requests in flight are completed with the core, answers dropped. What the agent
        keeps: the clock (request IDs stay monotonic), the timers the core armed (they are
        the core's, not the connection's) and the UE records holding them."""
        self._release_connections(self._all_ues(), "enb_disconnected", reset_follows=True)
        enb = self._ues.enb
        # Its own S1 Setup, updates and Resets go; a Reset for an earlier loss still must go.
        dropped = enb.drop_unsent(lambda request: request.kind is not RequestKind.ENB_LOST)
        if enb.in_flight is not None:
            enb.in_flight.orphaned = True
        was_set_up = self._s1_setup.enb_lost()
        if was_set_up:
            enb.queue.append(
                PendingRequest(
                    RequestKind.ENB_LOST,
                    ENB_LOST_RESET,
                    NON_UE_ASSOCIATED_STREAM,
                    is_reset=True,
                    orphaned=True,
                )
            )
        self._log("enb_lost", "info", requests_dropped=dropped, reset_queued=was_set_up)
        self._pump(now, enb)

    def frame_from_core(self, now: float, frame: Frame) -> None:
        match frame.kind:
            case FrameKind.REPLY:
                self._on_reply(now, frame)
            case FrameKind.ACK:
                self._on_ack(now, frame)
            case FrameKind.SET_TIMER | FrameKind.CANCEL_TIMER:
                self._on_timer_command(now, frame)
            case FrameKind.CORE_INITIATED:
                self._on_core_initiated(frame)
            case FrameKind.ERROR:
                reason = frame.payload.decode("utf-8", "replace")[:_ERROR_REASON_CHARS]
                self._log("core_error", "warning", code=frame.sequence, reason=reason)
            case FrameKind.HELLO | FrameKind.PING | FrameKind.PONG:
                pass  # identity and liveness of a connection: the adapter's business
            case _:
                self._log("core_frame_unexpected", "warning", kind=frame.kind.name)

    def core_connected(self, now: float, endpoint: str) -> None:
        """Requests now go to `endpoint`; whatever was in flight is sent there again."""
        self._suspend_transmissions()
        if endpoint != self._last_endpoint:
            self._reset_timeouts()
        self._set_endpoint(endpoint, "connected")
        self._last_endpoint = endpoint
        if self._s1_setup.needs_restore(endpoint):
            self._queue_s1_setup_restore()
        self._pump_all(now)

    def core_disconnected(self, now: float, endpoint: str) -> None:
        if endpoint != self._endpoint:
            self._debug("core_disconnect_ignored", endpoint=endpoint, current=self._endpoint)
            return
        self._set_endpoint(None, "disconnected")
        self._suspend_transmissions()

    def handle_deadline(self, now: float) -> None:
        while (key := self._deadlines.pop_due(now)) is not None:
            match key:
                case RetransmitTimer(ue_id):
                    self._retransmit_expired(now, ue_id)
                case UeTimer():
                    self._ue_timer_expired(now, key)

    # --- handover --------------------------------------------------------------------------

    def export_ue(self, now: float, ue_id: int) -> UeContext:
        """The UE's context for the target agent. Its timers move with it (they are disarmed
        here); requests already queued here still complete here."""
        ue = self._ues.get(ue_id)
        if ue is None or ue_id == ENB_UE_ID:
            raise UnknownUe(f"no UE {ue_id} to export")
        timers = tuple(
            ExportedTimer(timer_id, _remaining_ms(armed.deadline, now), armed.set_by_request_id)
            for timer_id, armed in ue.timers.items()
        )
        for timer_id in list(ue.timers):
            self._disarm(ue, timer_id)
        self._log("ue_exported", "info", ue_id=ue_id, timers=len(timers), clock=self._clock)
        self._drop_if_done(ue)
        return UeContext(self._clock, ue.mme_ue_s1ap_id, timers)

    def import_ue(self, now: float, context: UeContext) -> int:
        """Take over a UE handed over by another agent; returns its UE ID here."""
        self._clock = max(self._clock, context.last_request_id)
        ue = self._new_ue(None, context.mme_ue_s1ap_id, "imported")
        ue.last_request_id = context.last_request_id
        for timer in context.timers:
            self._arm(now, ue, timer.timer_id, timer.remaining_ms, timer.set_by_request_id)
        return ue.ue_id

    # --- uplink routing and the UE mapping ---------------------------------------------------

    def _route_uplink(self, seen: S1apPeek) -> UeRecord:
        enb_id, mme_id = seen.enb_ue_s1ap_id, seen.mme_ue_s1ap_id
        if enb_id is None and mme_id is None:
            return self._ues.enb
        if _is(seen, PROCEDURE_INITIAL_UE_MESSAGE, PduType.INITIATING_MESSAGE):
            return self._new_ue(enb_id, None, "initial_ue_message")
        ue = self._ues.find(enb_id, mme_id)
        if ue is None:
            # A connection the agent has not seen start (the target side of a handover, or
            # a record already dropped): a UE of its own, so its requests still go in order.
            return self._new_ue(enb_id, mme_id, "unknown_s1ap_ids")
        self._learn_ids(ue, enb_id, mme_id)
        return ue

    def _new_ue(self, enb_id: int | None, mme_id: int | None, reason: str) -> UeRecord:
        ue = UeRecord(self._next_id())
        self._ues.add(ue)
        self._log(
            "ue_created",
            "info",
            ue_id=ue.ue_id,
            enb_ue_s1ap_id=enb_id,
            mme_ue_s1ap_id=mme_id,
            reason=reason,
        )
        self._learn_ids(ue, enb_id, mme_id)
        return ue

    def _learn_ids(self, ue: UeRecord, enb_id: int | None, mme_id: int | None) -> None:
        superseded = self._ues.learn(ue, enb_id, mme_id)
        if superseded is not None:
            self._set_ue_state(superseded, UeState.RELEASED, "enb_ue_s1ap_id_reused")

    def _learn_from_downlink(self, ue: UeRecord, payload: bytes) -> None:
        """MME-UE-S1AP-ID from the first downlink message that carries it."""
        if ue is self._ues.enb or ue.mme_ue_s1ap_id is not None:
            return
        if ue.state is not UeState.CONNECTED:
            return
        try:
            mme_id = peek(payload).mme_ue_s1ap_id
        except S1apDecodeError as error:
            self._debug("downlink_not_peekable", ue_id=ue.ue_id, reason=str(error))
            return
        if mme_id is not None:
            self._learn_ids(ue, None, mme_id)
            self._log("mme_ue_s1ap_id_learnt", "info", ue_id=ue.ue_id, mme_ue_s1ap_id=mme_id)

    def _reject_uplink(self, error: S1apDecodeError, stream: int) -> None:
        self._log(
            "uplink_undecodable",
            "warning",
            reason=str(error),
            cause=error.cause.value,
            procedure_code=error.procedure_code,
        )
        if error.procedure_code == PROCEDURE_ERROR_INDICATION:
            return  # never answer an Error Indication with one: two such peers would loop
        ue_associated = error.enb_ue_s1ap_id is not None or error.mme_ue_s1ap_id is not None
        stream = stream if ue_associated else NON_UE_ASSOCIATED_STREAM
        self._emit(SendErrorIndicationToEnb(_error_indication(error), stream, error))

    # --- requests ------------------------------------------------------------------------

    def _next_id(self) -> int:
        self._clock = max(self._clock + 1, self._wall_clock_us())
        return self._clock

    def _enqueue(self, now: float, ue: UeRecord, request: PendingRequest) -> bool:
        if request.kind is RequestKind.UPLINK and len(ue.queue) >= self._max_queued:
            self._log("uplink_dropped_queue_full", "warning", ue_id=ue.ue_id, queued=len(ue.queue))
            return False
        ue.queue.append(request)
        self._pump(now, ue)
        return True

    def _pump(self, now: float, ue: UeRecord) -> None:
        """Send the head of the UE's queue unless it is on the wire already or must wait:
        no connection; a UE while the eNB's S1 Setup is being restored; a Reset not yet sent
        while requests for the connections it releases are still in flight."""
        request = ue.head
        if request is None or request.sent_to is not None or self._endpoint is None:
            return
        if ue is self._ues.enb:
            if request.is_reset and self._before_reset and not request.numbered:
                return
        elif self._s1_setup.holds_ue_requests:
            return
        self._transmit(now, ue, request)

    def _pump_all(self, now: float) -> None:
        for ue in self._ues.records():
            self._pump(now, ue)

    def _transmit(self, now: float, ue: UeRecord, request: PendingRequest) -> None:
        assert self._endpoint is not None
        if not request.numbered:
            request.request_id = ue.last_request_id = self._next_id()
        self._debug(
            "request_sent",
            ue_id=ue.ue_id,
            request_id=request.request_id,
            attempt=request.attempt,
            endpoint=self._endpoint,
        )
        request.sent_to = self._endpoint
        self._emit(SendToCore(request.frame(ue.ue_id), self._endpoint))
        timeout = self._policy.timeout(request.attempt)
        self._deadlines.set(RetransmitTimer(ue.ue_id), now + timeout)
        request.attempt += 1

    def _retransmit_expired(self, now: float, ue_id: int) -> None:
        ue = self._ues.get(ue_id)
        request = ue.in_flight if ue is not None else None
        if ue is None or request is None or request.sent_to is None:
            return
        request.timeouts += 1
        self._log(
            "request_timed_out",
            "info",
            ue_id=ue_id,
            request_id=request.request_id,
            timeouts=request.timeouts,
            endpoint=request.sent_to,
        )
        if request.timeouts >= self._switch_after:
            self._signal_switch(ue, request)
        self._transmit(now, ue, request)

    def _signal_switch(self, ue: UeRecord, request: PendingRequest) -> None:
        """Counted per request, so many UEs timing out at once on one stall of the core is
        not N timeouts; once signalled, every count starts again (one outage, one signal)."""
        assert request.sent_to is not None
        self._emit(
            SwitchCoreEndpoint(request.sent_to, request.timeouts, ue.ue_id, request.request_id)
        )
        self._log(
            "core_endpoint_unresponsive",
            "warning",
            endpoint=request.sent_to,
            timeouts=request.timeouts,
            ue_id=ue.ue_id,
        )
        self._reset_timeouts()

    def _suspend_transmissions(self) -> None:
        """The connection is gone: what was on it is resent on the next one, from the first
        backoff step."""
        for ue in self._ues.records():
            if ue.head is not None:
                ue.head.sent_to = None
                ue.head.attempt = 0
                self._deadlines.cancel(RetransmitTimer(ue.ue_id))

    def _reset_timeouts(self) -> None:
        for ue in self._ues.records():
            if ue.head is not None:
                ue.head.timeouts = 0

    def _complete_if_done(self, now: float, ue: UeRecord) -> None:
        request = ue.in_flight
        if request is None or not request.complete:
            return
        ue.queue.popleft()
        self._deadlines.cancel(RetransmitTimer(ue.ue_id))
        self._debug(
            "request_completed",
            ue_id=ue.ue_id,
            request_id=request.request_id,
            replies=request.forwarded,
        )
        if request.kind is RequestKind.S1_SETUP_RESTORE:
            self._s1_setup.restore_acknowledged()
            self._pump_all(now)
        if request.releases_connection:
            self._set_ue_state(ue, UeState.RELEASED, "release_complete_acknowledged")
        if ue.ue_id in self._before_reset:
            self._before_reset.discard(ue.ue_id)
            if not self._before_reset:
                self._pump(now, self._ues.enb)
        self._pump(now, ue)
        self._drop_if_done(ue)

    # --- frames from the core ------------------------------------------------------------

    def _request_for(self, frame: Frame) -> tuple[UeRecord, PendingRequest] | None:
        """The UE and in-flight request `frame` answers; None (the frame is dropped) for
        anything else: a replayed answer to a completed request, or an unknown UE."""
        ue = self._ues.get(frame.ue_id)
        request = ue.in_flight if ue is not None else None
        if ue is None or request is None or request.request_id != frame.request_id:
            in_flight = None if request is None else request.request_id
            self._debug(
                "core_frame_dropped",
                kind=frame.kind.name,
                ue_id=frame.ue_id,
                request_id=frame.request_id,
                in_flight=in_flight,
            )
            return None
        request.timeouts = 0  # the core is working on it
        return ue, request

    def _on_reply(self, now: float, frame: Frame) -> None:
        found = self._request_for(frame)
        if found is None:
            return
        ue, request = found
        for reply in request.accept_reply(frame):
            self._release_reply(ue, request, reply)
        self._complete_if_done(now, ue)

    def _release_reply(self, ue: UeRecord, request: PendingRequest, reply: Frame) -> None:
        if request.orphaned:
            self._debug(
                "reply_dropped_connection_gone",
                ue_id=ue.ue_id,
                request_id=request.request_id,
                sequence=reply.sequence,
            )
            return
        if request.kind is RequestKind.S1_SETUP_RESTORE:
            self._s1_setup.restore_answered(reply.payload, self._endpoint)
            return
        self._emit(SendToEnb(reply.payload, reply.stream))
        if request.is_s1_setup:
            self._s1_setup.enb_answered(reply.payload, self._endpoint)
        else:
            self._learn_from_downlink(ue, reply.payload)

    def _on_ack(self, now: float, frame: Frame) -> None:
        found = self._request_for(frame)
        if found is None:
            return
        ue, request = found
        if frame.sequence < request.forwarded:
            self._log(
                "ack_count_below_replies",
                "warning",
                ue_id=ue.ue_id,
                request_id=frame.request_id,
                count=frame.sequence,
                forwarded=request.forwarded,
            )
        request.acknowledge(frame.sequence)
        self._complete_if_done(now, ue)

    def _on_core_initiated(self, frame: Frame) -> None:
        # request_id 0 is an unnumbered message: better a duplicate than dropping every one.
        if frame.request_id != 0:
            key = (frame.ue_id, frame.request_id, frame.sequence)
            if key in self._core_initiated_seen:
                self._debug(
                    "core_initiated_duplicate",
                    ue_id=frame.ue_id,
                    request_id=frame.request_id,
                    sequence=frame.sequence,
                )
                return
            self._remember_core_initiated(key)
        self._emit(SendToEnb(frame.payload, frame.stream))
        ue = self._ues.get(frame.ue_id)
        if ue is self._ues.enb:
            self._on_core_initiated_for_enb(frame.payload)
        elif ue is not None:
            self._learn_from_downlink(ue, frame.payload)

    def _on_core_initiated_for_enb(self, payload: bytes) -> None:
        """Non-UE-associated signalling from the core: a Reset releases connections here too,
        now that it is on its way to the eNB."""
        try:
            seen = peek(payload)
        except S1apDecodeError as error:
            self._debug("core_initiated_not_peekable", reason=str(error))
            return
        if _is(seen, PROCEDURE_RESET, PduType.INITIATING_MESSAGE):
            self._apply_reset(seen.reset, "core_reset", reset_follows=False)

    def _remember_core_initiated(self, key: tuple[int, int, int]) -> None:
        self._core_initiated_seen.add(key)
        self._core_initiated_order.append(key)
        if len(self._core_initiated_order) > self._core_initiated_window:
            self._core_initiated_seen.discard(self._core_initiated_order.popleft())

    # --- reliable timers ---------------------------------------------------------------------

    def _on_timer_command(self, now: float, frame: Frame) -> None:
        """Only the in-flight request's timer commands apply, each (kind, timer ID) once.

        A retransmitted request makes an MME instance replay what it recorded (Algorithm 1,
        step 3), SET_TIMER included, later than the first copy. Arming again would restart
        the timer from the replay's arrival: the retry delay would stretch the core's timer (a
        steady trickle of replays could hold it off for good), and a timer that had already
        fired would fire a second time. So the first copy arms it and copies are ignored; a
        replay for a request already acknowledged is dropped with its other answers."""
        found = self._request_for(frame)
        if found is None:
            return
        ue, request = found
        command = (frame.kind, frame.timer_id)
        if command in request.timer_commands:
            self._debug(
                "timer_command_replayed",
                ue_id=ue.ue_id,
                kind=frame.kind.name,
                timer_id=frame.timer_id,
                request_id=frame.request_id,
            )
            return
        request.timer_commands.add(command)
        if frame.kind is FrameKind.SET_TIMER:
            self._arm(now, ue, frame.timer_id, frame.timer_ms, frame.request_id)
        else:
            self._disarm(ue, frame.timer_id)

    def _arm(self, now: float, ue: UeRecord, timer_id: int, ms: int, set_by: int) -> None:
        """(Re-)arm a timer; an expiry of it still waiting in the queue is superseded."""
        deadline = now + ms / 1000
        ue.timers[timer_id] = ArmedTimer(deadline, set_by)
        ue.drop_unsent_fires(timer_id)
        self._deadlines.set(UeTimer(ue.ue_id, timer_id), deadline)
        self._debug("timer_armed", ue_id=ue.ue_id, timer_id=timer_id, deadline=deadline)

    def _disarm(self, ue: UeRecord, timer_id: int) -> None:
        ue.timers.pop(timer_id, None)
        ue.drop_unsent_fires(timer_id)
        self._deadlines.cancel(UeTimer(ue.ue_id, timer_id))
        self._debug("timer_disarmed", ue_id=ue.ue_id, timer_id=timer_id)

    def _ue_timer_expired(self, now: float, key: UeTimer) -> None:
        ue = self._ues.get(key.ue_id)
        if ue is None or ue.timers.pop(key.timer_id, None) is None:
            return
        self._log("timer_fired", "info", ue_id=ue.ue_id, timer_id=key.timer_id)
        self._enqueue(now, ue, PendingRequest(RequestKind.TIMER_FIRED, timer_id=key.timer_id))

    # --- the end of UE-associated S1 connections ---------------------------------------------

    def _apply_reset(self, scope: ResetScope | None, reason: str, *, reset_follows: bool) -> None:
        """A Reset from the eNB or the core: the UE-associated logical S1 connections it names
        are released at both ends (TS 36.413 8.7.1.2). `reset_follows`: the Reset is queued
        for the core right after this, and must wait for what is in flight."""
        if scope is None:
            self._log("reset_scope_unreadable", "warning", reason=reason)
            return
        if scope.reset_all:
            ues = self._all_ues()
        else:
            named = (self._ues.find(*connection) for connection in scope.connections)
            ues = list({ue.ue_id: ue for ue in named if ue is not None}.values())
        self._release_connections(ues, reason, reset_follows=reset_follows)

    def _all_ues(self) -> list[UeRecord]:
        """Every UE record, the eNB's own queue aside."""
        return [ue for ue in self._ues.records() if ue is not self._ues.enb]

    def _release_connections(
        self, ues: list[UeRecord], reason: str, *, reset_follows: bool
    ) -> None:
        """These UEs' S1 connections are gone: uplinks not yet sent are dropped (nothing could
        answer them now), a request in flight is completed with the core but answers nowhere,
        and the S1AP IDs are free for new connections. Timers the core armed stay."""
        dropped = in_flight = 0
        for ue in ues:
            dropped += ue.drop_unsent(lambda request: request.kind is RequestKind.UPLINK)
            request = ue.in_flight
            if request is not None:
                request.orphaned = True
                in_flight += 1
                if reset_follows:
                    self._before_reset.add(ue.ue_id)
            self._set_ue_state(ue, UeState.RELEASED, reason)
        self._log(
            "s1_connections_released",
            "info",
            reason=reason,
            ues=len(ues),
            uplinks_dropped=dropped,
            in_flight=in_flight,
        )

    def _queue_s1_setup_restore(self) -> None:
        """The replay goes right after whatever the eNB queue has in flight (that request
        keeps its ID, so it must go first) and ahead of the rest."""
        enb = self._ues.enb
        position = 1 if enb.in_flight is not None else 0
        enb.queue.insert(position, self._s1_setup.start_restore())

    # --- state changes, cleanup and logging ------------------------------------------------

    def _set_ue_state(self, ue: UeRecord, state: UeState, reason: str) -> None:
        if ue.state is state:
            return
        self._log(
            "ue_state", "info", ue_id=ue.ue_id, old=ue.state.value, new=state.value, reason=reason
        )
        ue.state = state
        if state is not UeState.CONNECTED:
            self._ues.unmap(ue)  # the eNB may hand its IDs to a new connection from now on
        self._drop_if_done(ue)

    def _set_endpoint(self, endpoint: str | None, reason: str) -> None:
        self._log("core_endpoint", "info", old=self._endpoint, new=endpoint, reason=reason)
        self._endpoint = endpoint

    def _drop_if_done(self, ue: UeRecord) -> None:
        """Forget a UE whose S1 connection is released and that has nothing left to do."""
        if ue is self._ues.enb or ue.state is not UeState.RELEASED or not ue.idle:
            return
        if self._ues.remove(ue):
            self._deadlines.cancel(RetransmitTimer(ue.ue_id))
            self._log("ue_dropped", "info", ue_id=ue.ue_id, last_request_id=ue.last_request_id)

    def _emit(self, command: Command) -> None:
        self._commands.append(command)

    def _log(self, event: str, level: LogLevel, **fields: object) -> None:
        self._commands.append(LogEvent(event, level, fields))

    def _debug(self, event: str, **fields: object) -> None:
        if self._debug_events:
            self._commands.append(LogEvent(event, "debug", fields))


def _is(seen: S1apPeek, procedure_code: int, pdu_type: PduType) -> bool:
    return seen.procedure_code == procedure_code and seen.pdu_type is pdu_type


def _error_indication(error: S1apDecodeError) -> bytes:
    """The Error Indication answering an undecodable uplink (TS 36.413 section 10)."""
    # The one S1AP the agent encodes in full. pycrate's S1AP tables cost some 19 MB and
    # half a second to load, so only an agent that meets bad input pays for them.
    from epc.codec import s1ap

    diagnostics = error.criticality_diagnostics()
    message = ErrorIndication(
        mme_ue_s1ap_id=error.mme_ue_s1ap_id,
        enb_ue_s1ap_id=error.enb_ue_s1ap_id,
        cause=error.cause,
        criticality_diagnostics=None if diagnostics == CriticalityDiagnostics() else diagnostics,
    )
    return s1ap.encode(message)


def _remaining_ms(deadline: float, now: float) -> int:
    """Whole milliseconds left, rounded up so a handed-over timer never fires early (rounding
    to microseconds first keeps float noise from adding a millisecond)."""
    return max(0, math.ceil(round((deadline - now) * 1000, 3)))
