"""One UE's side of the entry point: its FIFO of requests, the exactly-once, in-order release
of the in-flight request's replies, the timers the core armed for it; and the directory that
finds a UE by its S1AP IDs. Pure bookkeeping: no clock, no commands; `echo_agent.entry_point`
drives it.

A request is numbered when it is first sent, not when it is queued: the FIFO still gives
increasing IDs in arrival order, and the agent can put a request of its own (the S1 Setup it
replays to a new MME instance) ahead of queued ones without handing out IDs out of order.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

from echo_agent.wire import ENB_UE_ID, Frame, FrameKind

MAX_HELD_REPLIES = 64
"""Replies of the in-flight request held while an earlier sequence is missing. An S1AP
procedure answers with a handful of messages; past this a core is misbehaving, and any reply
dropped here comes again with the next retransmission (the MME replays what it recorded)."""


class RequestKind(Enum):
    UPLINK = "uplink"
    """An S1AP message from the eNB."""
    TIMER_FIRED = "timer_fired"
    """A timer the core armed has expired."""
    S1_SETUP_RESTORE = "s1_setup_restore"
    """The eNB's S1 Setup Request replayed by the agent to a new MME instance; its replies
    are the agent's, never the eNB's."""
    ENB_LOST = "enb_lost"
    """A Reset (reset all) the agent sends for an eNB whose SCTP association dropped, so the
    core releases the UE-associated S1 state the eNB lost with it; its replies go nowhere."""


class UeState(Enum):
    CONNECTED = "connected"
    """Its S1 connection is up (or it is the eNB's own queue, which never goes)."""
    RELEASING = "releasing"
    """UE Context Release Complete is queued; released once the core acknowledges it."""
    RELEASED = "released"
    """The eNB has no S1 connection for it; the record lives on only for pending work."""


@dataclass(slots=True)
class PendingRequest:
    kind: RequestKind
    payload: bytes = b""
    stream: int = 0
    timer_id: int = 0
    is_s1_setup: bool = False
    """An S1 Setup Request (the eNB's or the agent's replay)."""
    releases_connection: bool = False
    """A UE Context Release Complete: once acknowledged, the UE's S1 connection is gone."""
    is_reset: bool = False
    """A Reset, the eNB's or the agent's: it goes to the core only after the requests in
    flight for the connections it releases."""
    orphaned: bool = False
    """The eNB no longer has the S1 connection or association this request was sent for: it
    is still completed with the core, but its replies are dropped."""
    request_id: int = 0
    """0 until first sent."""
    sent_to: str | None = None
    """The endpoint of the current transmission; None while waiting to be (re)sent."""
    attempt: int = 0
    """Transmissions on the current connection; picks the backoff step."""
    timeouts: int = 0
    """Consecutive retransmission timeouts with no word from the core about this request."""
    forwarded: int = 0
    """Replies released in order so far: the next sequence expected."""
    held: dict[int, Frame] = field(default_factory=dict)
    reply_count: int | None = None
    """How many replies the request produced, from its ACK."""
    timer_commands: set[tuple[FrameKind, int]] = field(default_factory=set)
    """(SET_TIMER or CANCEL_TIMER, timer ID) applied for this request: replays are ignored."""

    @property
    def numbered(self) -> bool:
        return self.request_id != 0

    @property
    def complete(self) -> bool:
        return self.reply_count is not None and self.forwarded >= self.reply_count

    def frame(self, ue_id: int) -> Frame:
        if self.kind is RequestKind.TIMER_FIRED:
            return Frame(FrameKind.TIMER_FIRED, ue_id, self.request_id, timer_id=self.timer_id)
        return Frame(
            FrameKind.REQUEST, ue_id, self.request_id, stream=self.stream, payload=self.payload
        )

    def accept_reply(self, reply: Frame) -> list[Frame]:
        """The replies now releasable in order (possibly none): a duplicate of a released
        sequence is dropped, one past a gap is held until the gap fills."""
        sequence = reply.sequence
        if sequence < self.forwarded or sequence in self.held:
            return []
        if self.reply_count is not None and sequence >= self.reply_count:
            return []
        if sequence > self.forwarded:
            if len(self.held) < MAX_HELD_REPLIES:
                self.held[sequence] = reply
            return []
        released = [reply]
        self.forwarded += 1
        while (following := self.held.pop(self.forwarded, None)) is not None:
            released.append(following)
            self.forwarded += 1
        return released

    def acknowledge(self, reply_count: int) -> None:
        self.reply_count = reply_count
        for sequence in [sequence for sequence in self.held if sequence >= reply_count]:
            del self.held[sequence]


@dataclass(frozen=True, slots=True)
class ArmedTimer:
    deadline: float
    set_by_request_id: int


@dataclass(slots=True)
class UeRecord:
    """A UE as the agent knows it. `ue_id` is the agent's name for it on the ECHO wire;
    eNB-UE-S1AP-ID and MME-UE-S1AP-ID (TS 36.413 9.2.3.3-4: the IDs each side allocates for
    the UE's S1 connection) are learnt from the messages relayed."""

    ue_id: int
    state: UeState = UeState.CONNECTED
    enb_ue_s1ap_id: int | None = None
    mme_ue_s1ap_id: int | None = None
    queue: deque[PendingRequest] = field(default_factory=deque)
    timers: dict[int, ArmedTimer] = field(default_factory=dict)
    last_request_id: int = 0

    @property
    def head(self) -> PendingRequest | None:
        return self.queue[0] if self.queue else None

    @property
    def in_flight(self) -> PendingRequest | None:
        """The request the core may be answering: the head, once it has been numbered."""
        head = self.head
        return head if head is not None and head.numbered else None

    @property
    def idle(self) -> bool:
        return not self.queue and not self.timers

    def drop_unsent_fires(self, timer_id: int) -> None:
        """Forget expiries of `timer_id` queued but not yet sent: the core has re-armed or
        cancelled the timer in an earlier request, so the expiry is no longer its view."""
        self.drop_unsent(
            lambda request: request.kind is RequestKind.TIMER_FIRED and request.timer_id == timer_id
        )

    def drop_unsent(self, which: Callable[[PendingRequest], bool]) -> int:
        """Forget the queued requests `which` picks that were never sent; returns how many.
        A request once numbered stays: the core may be applying it."""
        keep = [request for request in self.queue if request.numbered or not which(request)]
        dropped = len(self.queue) - len(keep)
        if dropped:
            self.queue = deque(keep)
        return dropped


class UeDirectory:
    """UE records by the agent's UE ID, with the S1AP-ID indexes uplinks are routed by. Only
    UEs whose S1 connection is up are indexed; the eNB's own queue is always there."""

    def __init__(self) -> None:
        self.enb = UeRecord(ENB_UE_ID)
        self._ues: dict[int, UeRecord] = {ENB_UE_ID: self.enb}
        self._by_enb_id: dict[int, UeRecord] = {}
        self._by_mme_id: dict[int, UeRecord] = {}

    def get(self, ue_id: int) -> UeRecord | None:
        return self._ues.get(ue_id)

    def records(self) -> list[UeRecord]:
        """A snapshot, the eNB's queue first."""
        return list(self._ues.values())

    def ids(self) -> frozenset[int]:
        return frozenset(self._ues)

    def add(self, ue: UeRecord) -> None:
        self._ues[ue.ue_id] = ue

    def remove(self, ue: UeRecord) -> bool:
        self.unmap(ue)
        return self._ues.pop(ue.ue_id, None) is not None

    def find(self, enb_id: int | None, mme_id: int | None) -> UeRecord | None:
        """By eNB-UE-S1AP-ID (the eNB's own key) first, else by MME-UE-S1AP-ID."""
        ue = self._by_enb_id.get(enb_id) if enb_id is not None else None
        if ue is None and mme_id is not None:
            ue = self._by_mme_id.get(mme_id)
        return ue

    def by_enb_id(self, enb_id: int) -> UeRecord | None:
        return self._by_enb_id.get(enb_id)

    def learn(self, ue: UeRecord, enb_id: int | None, mme_id: int | None) -> UeRecord | None:
        """Index `ue` under the IDs given. Returns the UE that held `enb_id` before, if any:
        the eNB hands an eNB-UE-S1AP-ID out again only once that connection is gone."""
        superseded = None
        if enb_id is not None and ue.enb_ue_s1ap_id != enb_id:
            _unindex(self._by_enb_id, ue.enb_ue_s1ap_id, ue)
            superseded = self._by_enb_id.get(enb_id)
            if superseded is not None:
                superseded.enb_ue_s1ap_id = None
            self._by_enb_id[enb_id] = ue
            ue.enb_ue_s1ap_id = enb_id
        if mme_id is not None and ue.mme_ue_s1ap_id != mme_id:
            _unindex(self._by_mme_id, ue.mme_ue_s1ap_id, ue)
            previous = self._by_mme_id.get(mme_id)
            if previous is not None:
                previous.mme_ue_s1ap_id = None
            self._by_mme_id[mme_id] = ue
            ue.mme_ue_s1ap_id = mme_id
        return superseded

    def unmap(self, ue: UeRecord) -> None:
        """Take `ue` out of the S1AP-ID indexes: the eNB may reuse its IDs from now on."""
        _unindex(self._by_enb_id, ue.enb_ue_s1ap_id, ue)
        _unindex(self._by_mme_id, ue.mme_ue_s1ap_id, ue)


def _unindex(index: dict[int, UeRecord], s1ap_id: int | None, ue: UeRecord) -> None:
    if s1ap_id is not None and index.get(s1ap_id) is ue:
        del index[s1ap_id]
