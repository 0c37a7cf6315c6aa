"""The shape of a procedure step, sans-I/O: what goes in (`Env`, the context, the message),
what comes out (`Outcome`), and what a step may ask its driver to do before it can finish
(`Effect`s: an authentication vector, an S11 exchange, the record of another context).

A step is a plain function `(context, message, env) -> Outcome`. When it needs something
only I/O can give, its outcome carries the `effect` and a `resume(context, answer) ->
Outcome` to continue with; the driver (`epc.mme.step`) performs the effect and calls it, and
the outputs of the chain are concatenated. A procedure thus reads as the sequence of its
messages and never awaits, and a test drives it with scripted answers.

`Turn` is the working copy a step fills in: it mutates a copy of the context and collects
downlink S1AP PDUs, timer commands, store ops and log events, then `done()` or
`call(effect, resume)` freezes them into an Outcome.

Downlink S1AP goes two ways. `Turn.send` answers the request in flight (REPLY frames on its
agent UE). `Turn.send_core_initiated` addresses another S1 connection or eNB (a UE Context
Release Command for a connection the UE left, Paging): it is recorded with the step's reply
as `CoreInitiatedPdu`s and carried out by the frontend after the commit and on every replay,
for UE requests and gateway lanes alike.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import msgspec

from epc.algorithm1 import RequestId, TimerCommand
from epc.codec.gtpv2c import GtpcMessage
from epc.mme.config import MmeConfig
from epc.mme.context import AgentUe, S1Connection, Subscription, TimerName, UeContext
from epc.mme.identifiers import IdentifierAllocator
from epc.store import Op


@dataclass(frozen=True, slots=True)
class Env:
    """Everything a step may read besides the context and the message."""

    config: MmeConfig
    key: str
    """The context key: the IMSI, or a provisional key."""
    agent: AgentUe
    """The agent UE (S1 connection) the request came on: timers run there."""
    stream: int
    request_id: RequestId
    wall_time: float
    """Seconds since the epoch, for EMM Information's time."""
    allocator: IdentifierAllocator

    @property
    def deployment(self) -> str:
        return self.config.deployment


@dataclass(frozen=True, slots=True)
class Event:
    """A log line the frontend writes with the request's bound context."""

    name: str
    level: str = "info"
    fields: tuple[tuple[str, object], ...] = ()


class CoreInitiatedPdu(msgspec.Struct, frozen=True):
    """S1AP for the agent of `enb` to send on its own initiative, outside the request in
    flight: `ue_id` 0 is the eNB itself (Paging), else the agent UE of an S1 connection."""

    enb: str
    ue_id: int
    stream: int
    payload: bytes

    @classmethod
    def to_connection(cls, connection: S1Connection, payload: bytes) -> CoreInitiatedPdu:
        agent = connection.agent
        return cls(agent.enb, agent.ue_id, connection.stream, payload)


class UeReply(msgspec.Struct, frozen=True):
    """What a UE request's Algorithm 1 record keeps as its reply message (with the timer
    commands beside it in `Reply.timers`): the S1AP answering the request in flight, and
    the core-initiated S1AP it sends elsewhere. Replayed whole on a retry."""

    replies: tuple[bytes, ...] = ()
    s1ap: tuple[CoreInitiatedPdu, ...] = ()


UE_REPLY_DECODER = msgspec.msgpack.Decoder(UeReply)


def encode_ue_reply(reply: UeReply) -> bytes:
    return msgspec.msgpack.encode(reply)


def decode_ue_reply(messages: tuple[bytes, ...]) -> UeReply:
    """The UeReply a UE record's reply holds (none for a request that sent nothing)."""
    return UE_REPLY_DECODER.decode(messages[0]) if messages else UeReply()


# --- effects and their answers -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class IssueVector:
    """Read the subscriber, take a fresh SQN by conditional write and make an EPS vector;
    with `resynchronisation` (RAND, AUTS) take the SQN after the USIM's (TS 33.102 6.3.5)."""

    imsi: str
    key_set_identifier: int
    resynchronisation: tuple[bytes, bytes] | None = None


@dataclass(frozen=True, slots=True)
class VectorIssued:
    rand: bytes
    autn: bytes
    xres: bytes
    kasme: bytes
    subscription: Subscription


@dataclass(frozen=True, slots=True)
class SubscriberUnknown:
    """No subscriber record for the IMSI."""


@dataclass(frozen=True, slots=True)
class ResynchronisationFailed:
    """AUTS whose MAC-S does not verify (TS 33.102 6.3.5)."""

    reason: str


@dataclass(frozen=True, slots=True)
class S11Request:
    """Send this GTPv2-C request to the SGW, stamped with the side-effect's request ID and
    the IMSI; the answer is the response message."""

    message: GtpcMessage


@dataclass(frozen=True, slots=True)
class ClaimS11Teid:
    """Take the MME's S11 TEID for the context at `owner`: the first candidate of the
    request's deterministic sequence (`epc.gtpc.claims.Draws` of the context path and request
    ID) whose index node is absent. The TEID goes to the SGW before the step commits, so a
    retry of the request at another instance must offer the same one, or the SGW's recorded
    MME F-TEID would name a TEID nobody holds. The answer is an `epc.gtpc.claims.Claim`."""

    owner: str


@dataclass(frozen=True, slots=True)
class ReadContext:
    """Read the UE context at another key (the IMSI an Identity Response revealed); the answer
    is the UeContext there, or None."""

    key: str


Effect = IssueVector | S11Request | ReadContext | ClaimS11Teid
Resume = Callable[[UeContext, Any], "Outcome"]


@dataclass(frozen=True, slots=True)
class Outcome:
    context: UeContext | None
    """None: the record keeps no context (the provisional one after a move)."""
    downlink: tuple[bytes, ...] = ()
    timers: tuple[TimerCommand, ...] = ()
    ops: tuple[Op, ...] = ()
    events: tuple[Event, ...] = ()
    effect: Effect | None = None
    resume: Resume | None = None
    moved_to: str | None = None
    """The context now lives at this key (a provisional context's IMSI)."""
    core_initiated: tuple[CoreInitiatedPdu, ...] = ()
    """S1AP for connections other than the request's, recorded with its reply."""


# --- the working copy ------------------------------------------------------------------------


def copy_context(context: UeContext) -> UeContext:
    return msgspec.structs.replace(context, timers=dict(context.timers))


@dataclass
class Turn:
    """A step's working copy of the context and the outputs collected so far."""

    context: UeContext
    env: Env
    downlink: list[bytes] = field(default_factory=list)
    timers: list[TimerCommand] = field(default_factory=list)
    ops: list[Op] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    moved_to: str | None = None
    core_initiated: list[CoreInitiatedPdu] = field(default_factory=list)

    @classmethod
    def of(cls, context: UeContext, env: Env) -> Turn:
        return cls(copy_context(context), env)

    def log(self, name: str, level: str = "info", **fields: object) -> None:
        self.events.append(Event(name, level, tuple(fields.items())))

    def send(self, pdu: bytes) -> None:
        """Answer the request in flight (on its agent UE)."""
        self.downlink.append(pdu)

    def send_core_initiated(self, connection: S1Connection, pdu: bytes) -> None:
        """Send on another S1 connection than the request's, through its eNB's agent."""
        self.core_initiated.append(CoreInitiatedPdu.to_connection(connection, pdu))

    def start_timer(self, name: TimerName, seconds: float) -> None:
        """Arm on the request's agent UE; a copy running elsewhere becomes stale."""
        self.context.timers[name] = self.env.agent
        self.timers.append(TimerCommand(name, seconds))

    def stop_timer(self, name: TimerName) -> None:
        """Cancel it if it runs on this request's agent UE (the agent takes timer commands for
        the request in flight only); elsewhere it is forgotten, and ignored when it fires."""
        running_on = self.context.timers.pop(name, None)
        if running_on == self.env.agent:
            self.timers.append(TimerCommand(name, None))

    def stop_all_timers(self) -> None:
        for name in list(self.context.timers):
            self.stop_timer(TimerName(name))

    def done(self) -> Outcome:
        return Outcome(
            self.context,
            tuple(self.downlink),
            tuple(self.timers),
            tuple(self.ops),
            tuple(self.events),
            moved_to=self.moved_to,
            core_initiated=tuple(self.core_initiated),
        )

    def call(self, effect: Effect, resume: Resume) -> Outcome:
        """Stop here: the driver performs `effect` and continues with `resume`."""
        outcome = self.done()
        return Outcome(
            outcome.context,
            outcome.downlink,
            outcome.timers,
            outcome.ops,
            outcome.events,
            effect,
            resume,
            outcome.moved_to,
            outcome.core_initiated,
        )


def chain(first: Outcome, then: Outcome) -> Outcome:
    """The outputs of two consecutive parts of one step; `then`'s context and effect win."""
    return Outcome(
        then.context,
        first.downlink + then.downlink,
        first.timers + then.timers,
        first.ops + then.ops,
        first.events + then.events,
        then.effect,
        then.resume,
        then.moved_to or first.moved_to,
        first.core_initiated + then.core_initiated,
    )
