"""GTPv2-C transactions and path management, sans-I/O: TS 29.274 clause 7.6 (reliable delivery)
and clause 7.7 (bad input), TS 23.007 clauses 18 (restart detection) and 20 (path failure).

Owns, for one UDP endpoint:
- the sequence numbers of the initial messages it sends (24 bits, one counter per endpoint;
  a triggered message copies its request's number);
- the requests it originates: transmitted, retransmitted every T3-RESPONSE until a response
  with the same (peer, sequence number) arrives, given up after N3-REQUESTS retransmissions;
- the requests it receives: each (peer, sequence number, message type) is handed to the owner
  once; a duplicate that arrives while the owner works on it is dropped, one that arrives
  after the answer is answered again from a bounded cache, without running the request again,
  for as long as the peer may retransmit (T3-RESPONSE x (N3-REQUESTS + 1));
- bad input: a version other than 2 gets a Version Not Supported Indication; a request the
  codec rejects with a cause gets the response of its type carrying that cause (and the
  offending IE); anything else is discarded. Each is reported as one event to log;
- paths: every peer it exchanges messages with is probed with an Echo Request every
  `echo_interval_s`; N3 unanswered retransmissions mean a path failure. Echo Requests are
  answered here with the node's own Recovery value, and every Recovery value a peer sends
  (Echo, or the IE in another message) is compared with the one stored for it. A path is
  first probed as soon as it is used, so a restart is seen even if it comes soon after.

Time is a parameter (`now`, monotonic seconds). Every input returns the events it caused, in
order: `Transmit` to carry out, and what happened for the owner (`RequestArrived`,
`ResponseArrived`, `RequestTimedOut`, `PeerRestarted`, `PathFailed`) or for the log
(`PeerFound`, `MessageDiscarded`, `RequestRejected`). `next_deadline()` is the one timer; call
`handle_timer(now)` when it passes.
"""

from __future__ import annotations

import heapq
from collections import OrderedDict
from dataclasses import dataclass, replace

from epc.codec import gtpv2c
from epc.codec.gtpv2c import (
    Cause,
    EchoRequest,
    EchoResponse,
    GtpcDecodeError,
    GtpcMessage,
    GtpcVersionNotSupported,
    MessageType,
    VersionNotSupportedIndication,
)
from epc.gtpc import Peer

T3_RESPONSE_S = 3.0
"""TS 29.274 clause 7.6 "T3-RESPONSE": how long to wait for a response before retransmitting.
The spec leaves the value to the operator; 3 s is Open5GS's default (GTP_T3_RESPONSE_DURATION)."""
N3_REQUESTS = 3
"""TS 29.274 clause 7.6 "N3-REQUESTS": retransmissions of a request before giving up (so 1 + N3
transmissions in all). 3 is Open5GS's default (GTP_N3_REQUESTS)."""
ECHO_INTERVAL_S = 60.0
"""TS 29.274 clause 7.1.1 (and TS 23.007 clause 20): Echo Requests on a path are not sent more
often than every 60 s."""
RESPONSE_CACHE_SIZE = 10_000
"""Answered requests kept for duplicate detection; the oldest go first past this bound."""
SEQUENCE_MODULUS = 1 << 24
"""Clause 5.5.1: the sequence number is 24 bits."""
RECOVERY_MODULUS = 1 << 8
"""Clause 8.5: the restart counter is one octet and rolls over."""

RESPONSE_CLASS: dict[int, type] = {
    MessageType.ECHO_REQUEST: gtpv2c.EchoResponse,
    MessageType.CREATE_SESSION_REQUEST: gtpv2c.CreateSessionResponse,
    MessageType.MODIFY_BEARER_REQUEST: gtpv2c.ModifyBearerResponse,
    MessageType.DELETE_SESSION_REQUEST: gtpv2c.DeleteSessionResponse,
    MessageType.CREATE_BEARER_REQUEST: gtpv2c.CreateBearerResponse,
    MessageType.UPDATE_BEARER_REQUEST: gtpv2c.UpdateBearerResponse,
    MessageType.DELETE_BEARER_REQUEST: gtpv2c.DeleteBearerResponse,
    MessageType.RELEASE_ACCESS_BEARERS_REQUEST: gtpv2c.ReleaseAccessBearersResponse,
    MessageType.DOWNLINK_DATA_NOTIFICATION: gtpv2c.DownlinkDataNotificationAcknowledge,
}
"""Table 6.1-1: each request (initial message) and the class of its response (triggered)."""
RESPONSE_TYPES = frozenset(cls.MESSAGE_TYPE for cls in RESPONSE_CLASS.values())
NOTIFICATION_TYPES = frozenset({MessageType.DOWNLINK_DATA_NOTIFICATION_FAILURE_INDICATION})
"""Initial messages that have no response: delivered once, never retransmitted."""


@dataclass(frozen=True, slots=True)
class Timers:
    """The transaction and path timers of one node (config `[gtpc]`)."""

    t3_response_s: float = T3_RESPONSE_S
    n3_requests: int = N3_REQUESTS
    echo_interval_s: float = ECHO_INTERVAL_S
    response_cache_size: int = RESPONSE_CACHE_SIZE

    @property
    def response_lifetime_s(self) -> float:
        """How long a peer may retransmit a request: the window a response stays cached."""
        return self.t3_response_s * (self.n3_requests + 1)


DEFAULT_TIMERS = Timers()

IncomingKey = tuple[Peer, int, int]
"""A received request: (peer, sequence number, message type)."""

# --- events ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Transmit:
    peer: Peer
    data: bytes


@dataclass(frozen=True, slots=True)
class RequestArrived:
    """A request (or a notification without response) for the owner; answer it with
    `send_response(key, ...)` or give it up with `forget_request(key)`."""

    key: IncomingKey
    peer: Peer
    message: GtpcMessage


@dataclass(frozen=True, slots=True)
class ResponseArrived:
    peer: Peer
    sequence_number: int
    message: GtpcMessage


@dataclass(frozen=True, slots=True)
class RequestTimedOut:
    peer: Peer
    sequence_number: int
    message_type: int
    transmissions: int


@dataclass(frozen=True, slots=True)
class PeerRestarted:
    """The peer sent a Recovery value newer than the one stored for it (TS 23.007 clause 18)."""

    peer: Peer
    previous: int
    current: int


@dataclass(frozen=True, slots=True)
class PeerFound:
    """The first Recovery value heard from a peer (the path is up)."""

    peer: Peer
    recovery: int


@dataclass(frozen=True, slots=True)
class PathFailed:
    """An Echo Request to the peer went unanswered N3 times (TS 23.007 clause 20)."""

    peer: Peer


@dataclass(frozen=True, slots=True)
class MessageDiscarded:
    """Input dropped without an answer; `reason` is for the one log line."""

    peer: Peer
    reason: str


@dataclass(frozen=True, slots=True)
class RequestRejected:
    """A request the codec could not accept, answered with `cause` (clause 7.7)."""

    peer: Peer
    message_type: int
    cause: int
    offending_ie: tuple[int, int] | None
    reason: str


Event = (
    Transmit
    | RequestArrived
    | ResponseArrived
    | RequestTimedOut
    | PeerRestarted
    | PeerFound
    | PathFailed
    | MessageDiscarded
    | RequestRejected
)

# --- state -------------------------------------------------------------------------------


@dataclass(slots=True)
class _Outstanding:
    """A request this node sent and still waits on."""

    data: bytes
    message_type: int
    deadline: float
    transmissions: int = 1


@dataclass(slots=True)
class _Answer:
    """A request received: `data` is None while the owner works on it."""

    expires: float
    data: bytes | None = None


@dataclass(slots=True)
class _Path:
    next_echo: float
    echo_sequence: int | None = None


class Transactions:
    """The transaction layer of one GTP-C endpoint; see the module docstring."""

    def __init__(
        self, recovery: int, timers: Timers = DEFAULT_TIMERS, first_sequence: int = 0
    ) -> None:
        self.recovery = recovery
        self.timers = timers
        self._next_sequence = first_sequence % SEQUENCE_MODULUS
        self._outstanding: dict[tuple[Peer, int], _Outstanding] = {}
        self._deadlines: list[tuple[float, Peer, int]] = []
        """Heap of retransmission deadlines; entries whose request is gone are skipped."""
        self._answers: OrderedDict[IncomingKey, _Answer] = OrderedDict()
        self._paths: dict[Peer, _Path] = {}
        self._peer_recovery: dict[Peer, int] = {}

    # --- what the owner sends ----------------------------------------------------------------

    def send_request(self, peer: Peer, message: GtpcMessage, now: float) -> tuple[int, list[Event]]:
        """Number and transmit an initial message that expects a response; returns its
        sequence number (the response is `ResponseArrived` with the same number and peer)."""
        sequence = self._allocate_sequence(peer)
        data = gtpv2c.encode(replace(message, sequence_number=sequence))
        self._outstanding[(peer, sequence)] = _Outstanding(
            data, message.MESSAGE_TYPE, now + self.timers.t3_response_s
        )
        heapq.heappush(self._deadlines, (now + self.timers.t3_response_s, peer, sequence))
        self.watch(peer, now)
        return sequence, [Transmit(peer, data)]

    def send_notification(self, peer: Peer, message: GtpcMessage) -> list[Event]:
        """Transmit an initial message that has no response (e.g. Downlink Data Notification
        Failure Indication) once."""
        sequence = self._allocate_sequence(peer)
        return [Transmit(peer, gtpv2c.encode(replace(message, sequence_number=sequence)))]

    def send_response(self, key: IncomingKey, message: GtpcMessage, now: float) -> list[Event]:
        """Answer a request that arrived: the response copies its sequence number and is kept
        to answer retransmissions of the request."""
        peer, sequence, _ = key
        data = gtpv2c.encode(replace(message, sequence_number=sequence))
        self._remember_answer(key, data, now)
        return [Transmit(peer, data)]

    def forget_request(self, key: IncomingKey) -> None:
        """The owner will not answer (an obsolete request, a lost race): a retransmission of
        it is handed over again rather than dropped as a duplicate."""
        answer = self._answers.get(key)
        if answer is not None and answer.data is None:
            del self._answers[key]

    def cancel_request(self, peer: Peer, sequence: int) -> None:
        """Stop retransmitting a request whose response nobody waits for any more."""
        self._outstanding.pop((peer, sequence), None)

    def watch(self, peer: Peer, now: float) -> None:
        """Probe the path to `peer` with Echo Requests from now on (idempotent): the first at
        once, so the peer's Recovery value is known before it could change, then one every
        `echo_interval_s`."""
        if peer not in self._paths:
            self._paths[peer] = _Path(now)

    # --- what arrives ------------------------------------------------------------------------

    def receive(self, peer: Peer, data: bytes, now: float) -> list[Event]:
        """One UDP datagram from `peer`."""
        try:
            message = gtpv2c.decode(data)
        except GtpcVersionNotSupported as error:
            answer = gtpv2c.encode(VersionNotSupportedIndication())
            return [Transmit(peer, answer), MessageDiscarded(peer, str(error))]
        except GtpcDecodeError as error:
            return self._bad_input(peer, error, now)
        if message.MESSAGE_TYPE in RESPONSE_TYPES:
            return self._response(peer, message)
        if message.MESSAGE_TYPE == MessageType.VERSION_NOT_SUPPORTED_INDICATION:
            return [MessageDiscarded(peer, "peer does not support GTPv2 (Version Not Supported)")]
        events = self._note_recovery(peer, getattr(message, "recovery", None))
        if isinstance(message, EchoRequest):
            answer = EchoResponse(sequence_number=message.sequence_number, recovery=self.recovery)
            return [*events, Transmit(peer, gtpv2c.encode(answer))]
        return events + self._request(peer, message, now)

    def _request(self, peer: Peer, message: GtpcMessage, now: float) -> list[Event]:
        key = (peer, message.sequence_number, message.MESSAGE_TYPE)
        answer = self._answers.get(key)
        if answer is not None and answer.expires > now:
            if answer.data is None:
                return [MessageDiscarded(peer, "retransmission of a request in progress")]
            return [Transmit(peer, answer.data)]
        self._answers[key] = _Answer(now + self.timers.response_lifetime_s)
        self._answers.move_to_end(key)
        self._trim_answers()
        self.watch(peer, now)
        return [RequestArrived(key, peer, message)]

    def _response(self, peer: Peer, message: GtpcMessage) -> list[Event]:
        outstanding = self._outstanding.get((peer, message.sequence_number))
        if outstanding is None:
            reason = f"response (type {message.MESSAGE_TYPE}) matches no request in progress"
            return [MessageDiscarded(peer, reason)]
        if RESPONSE_CLASS[outstanding.message_type] is not type(message):
            reason = f"response of type {message.MESSAGE_TYPE} to a request of type "
            return [MessageDiscarded(peer, reason + str(outstanding.message_type))]
        del self._outstanding[(peer, message.sequence_number)]
        events = self._note_recovery(peer, getattr(message, "recovery", None))
        path = self._paths.get(peer)
        if path is not None and path.echo_sequence == message.sequence_number:
            path.echo_sequence = None
            return events
        return [*events, ResponseArrived(peer, message.sequence_number, message)]

    def _bad_input(self, peer: Peer, error: GtpcDecodeError, now: float) -> list[Event]:
        header = error.header
        response_class = None if header is None else RESPONSE_CLASS.get(header.message_type)
        if error.cause is None or header is None or not header.is_request:
            return [MessageDiscarded(peer, str(error))]
        if response_class is None or response_class is EchoResponse:
            # An Echo Response has no Cause IE to carry the rejection.
            return [MessageDiscarded(peer, str(error))]
        key = (peer, header.sequence_number, header.message_type)
        answer = self._answers.get(key)
        if answer is not None and answer.data is not None and answer.expires > now:
            return [Transmit(peer, answer.data)]
        rejection = response_class(
            sequence_number=header.sequence_number,
            teid=0,  # the sender's F-TEID could not be read: clause 5.5.2 says use 0
            cause=Cause(error.cause, offending_ie=error.offending_ie),
        )
        data = gtpv2c.encode(rejection)
        self._remember_answer(key, data, now)
        rejected = RequestRejected(
            peer, header.message_type, error.cause, error.offending_ie, str(error)
        )
        return [Transmit(peer, data), rejected]

    def _note_recovery(self, peer: Peer, value: int | None) -> list[Event]:
        """TS 23.007 clause 18: a newer value (taking roll-over into account) means the peer
        restarted; an older one is a message overtaken by a newer one, and is ignored."""
        if value is None:
            return []
        previous = self._peer_recovery.get(peer)
        if previous is None:
            self._peer_recovery[peer] = value
            return [PeerFound(peer, value)]
        step = (value - previous) % RECOVERY_MODULUS
        if step == 0:
            return []
        if step < RECOVERY_MODULUS // 2:
            self._peer_recovery[peer] = value
            return [PeerRestarted(peer, previous, value)]
        return [MessageDiscarded(peer, f"Recovery {value} older than {previous}: ignored")]

    # --- time --------------------------------------------------------------------------------

    def next_deadline(self) -> float | None:
        """When `handle_timer` must next be called, or None when nothing waits."""
        self._drop_stale_deadlines()
        candidates = [path.next_echo for path in self._paths.values()]
        if self._deadlines:
            candidates.append(self._deadlines[0][0])
        if self._answers:
            candidates.append(next(iter(self._answers.values())).expires)
        return min(candidates, default=None)

    def handle_timer(self, now: float) -> list[Event]:
        events: list[Event] = []
        while self._deadlines and self._deadlines[0][0] <= now:
            _, peer, sequence = heapq.heappop(self._deadlines)
            events += self._retransmit(peer, sequence, now)
        for peer, path in list(self._paths.items()):
            if path.next_echo <= now:
                events += self._send_echo(peer, path, now)
        while self._answers and next(iter(self._answers.values())).expires <= now:
            self._answers.popitem(last=False)
        return events

    def _retransmit(self, peer: Peer, sequence: int, now: float) -> list[Event]:
        outstanding = self._outstanding.get((peer, sequence))
        if outstanding is None or outstanding.deadline > now:
            return []
        if outstanding.transmissions > self.timers.n3_requests:
            del self._outstanding[(peer, sequence)]
            path = self._paths.get(peer)
            if path is not None and path.echo_sequence == sequence:
                del self._paths[peer]
                return [PathFailed(peer)]
            return [
                RequestTimedOut(peer, sequence, outstanding.message_type, outstanding.transmissions)
            ]
        outstanding.transmissions += 1
        outstanding.deadline = now + self.timers.t3_response_s
        heapq.heappush(self._deadlines, (outstanding.deadline, peer, sequence))
        return [Transmit(peer, outstanding.data)]

    def _send_echo(self, peer: Peer, path: _Path, now: float) -> list[Event]:
        path.next_echo = now + self.timers.echo_interval_s
        if path.echo_sequence is not None:
            return []  # the previous probe is still being retransmitted
        sequence, events = self.send_request(peer, EchoRequest(recovery=self.recovery), now)
        path.echo_sequence = sequence
        return events

    # --- helpers -----------------------------------------------------------------------------

    def _allocate_sequence(self, peer: Peer) -> int:
        while True:
            sequence = self._next_sequence
            self._next_sequence = (sequence + 1) % SEQUENCE_MODULUS
            if (peer, sequence) not in self._outstanding:
                return sequence

    def _remember_answer(self, key: IncomingKey, data: bytes, now: float) -> None:
        self._answers[key] = _Answer(now + self.timers.response_lifetime_s, data)
        self._answers.move_to_end(key)
        self._trim_answers()

    def _trim_answers(self) -> None:
        while len(self._answers) > self.timers.response_cache_size:
            self._answers.popitem(last=False)

    def _drop_stale_deadlines(self) -> None:
        while self._deadlines:
            _, peer, sequence = self._deadlines[0]
            outstanding = self._outstanding.get((peer, sequence))
            if outstanding is not None and outstanding.deadline == self._deadlines[0][0]:
                return
            heapq.heappop(self._deadlines)

    @property
    def outstanding_count(self) -> int:
        return len(self._outstanding)

    def peer_recovery(self, peer: Peer) -> int | None:
        """The Recovery value last stored for `peer` (volatile, as TS 23.007 says)."""
        return self._peer_recovery.get(peer)
