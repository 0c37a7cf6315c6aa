"""Algorithm 1 of ECHO (../shared/seeds/001_16ebd30b084a4a17.txt, section 4.4): how every
stateless frontend (MME, SGW, PGW) applies one request to a UE context in the store.

Request IDs are tuples of ints. The entry point numbers a UE's requests `(1,)`, `(2,)`, ...;
the k-th side effect a step sends carries its request's ID with `k` appended, so a target
component sees increasing IDs and the paper's rules hold at every hop:

1. read (record, version) of the context; none -> a new context;
2. an ID older than the last one applied, with no reply recorded for it -> obsolete, drop;
3. a reply recorded for this ID -> resend it and its timers, stop;
4. otherwise run the caller's step, which may send side effects stamped with derived IDs;
5. record the reply and timers in the context; conditional write at the version read,
   together with the step's index ops in one multi-op;
6. written -> the caller sends reply and timers; lost the race -> back off and start again
   (usually finding the winner's recorded reply in step 3).

Replies are kept for every ID of the latest request number, so a retried step whose side
effects were already applied downstream gets each of them replayed, in order.

The decision and the record update are pure functions (`classify`, `advance`); `Algorithm1`
drives them against the store with an injected clock, and knows nothing of sockets.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

import msgspec

from epc.store import Conflict, Create, Op, Put, Store
from epc.store.retry import RetryPolicy

RequestId = tuple[int, ...]

S = TypeVar("S")


class TimerCommand(msgspec.Struct, frozen=True):
    """Set (`duration_s` given) or cancel (`duration_s` None) a timer the entry point runs."""

    timer_id: str
    duration_s: float | None


class Reply(msgspec.Struct, frozen=True):
    """What a request produced for its sender: messages, in order, and timer commands."""

    messages: tuple[bytes, ...] = ()
    timers: tuple[TimerCommand, ...] = ()


class Record(msgspec.Struct, Generic[S]):
    """What the store holds at a context path. `state` None means "no context" (e.g. after
    detach); the record stays, so requests older than the detach are still recognised."""

    last: RequestId
    replies: dict[str, Reply]
    """Recorded replies of the latest request number, keyed by `id_key`."""
    state: S | None


def id_key(request_id: RequestId) -> str:
    return ".".join(map(str, request_id))


# --- the pure decision ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Fresh:
    """Not seen before: run the step."""


@dataclass(frozen=True, slots=True)
class Obsolete:
    """Older than what the context has applied: drop without answering."""


@dataclass(frozen=True, slots=True)
class Recorded:
    """Applied already: answer with the recorded reply."""

    reply: Reply


Decision = Fresh | Obsolete | Recorded


def classify(record: Record | None, request_id: RequestId) -> Decision:
    if record is None:
        return Fresh()
    recorded = record.replies.get(id_key(request_id))
    if recorded is not None:
        return Recorded(recorded)
    if request_id <= record.last:
        return Obsolete()
    return Fresh()


@dataclass(frozen=True)
class StepResult(Generic[S]):
    """What a procedure step decided: the new state, its reply and timers, and extra ops
    (index entries) that must commit atomically with the context."""

    state: S | None
    reply: Reply = Reply()
    ops: tuple[Op, ...] = ()


def advance(record: Record[S] | None, request_id: RequestId, result: StepResult[S]) -> Record[S]:
    """The record after applying `request_id` with `result`."""
    same_request = record is not None and record.last[0] == request_id[0]
    replies = dict(record.replies) if same_request else {}
    replies[id_key(request_id)] = result.reply
    return Record(last=request_id, replies=replies, state=result.state)


# --- the driver ----------------------------------------------------------------------------


class Clock(Protocol):
    def now(self) -> float: ...

    def sleep(self, seconds: float) -> Awaitable[None]: ...


class SideEffectDropped(Exception):
    """The target of a side effect dropped it as obsolete; this attempt cannot complete."""


SendEffect = Callable[[str, RequestId, bytes], Awaitable[bytes]]
"""(target, side-effect ID, message) -> the target's reply. Raises SideEffectDropped."""


class SideEffects:
    """Handed to a step: sends side effects stamped with IDs derived from the request's."""

    def __init__(self, request_id: RequestId, send: SendEffect) -> None:
        self._request_id = request_id
        self._send = send
        self._sent = 0

    async def send(self, target: str, message: bytes) -> bytes:
        effect_id = (*self._request_id, self._sent)
        self._sent += 1
        return await self._send(target, effect_id, message)


Step = Callable[[S | None, SideEffects], Awaitable[StepResult[S]]]


@dataclass(frozen=True, slots=True)
class Applied:
    reply: Reply


@dataclass(frozen=True, slots=True)
class Replayed:
    reply: Reply


@dataclass(frozen=True, slots=True)
class Dropped:
    """Obsolete request, nothing to send."""


@dataclass(frozen=True, slots=True)
class Abandoned:
    """Lost every attempt (conflicts or dropped side effects); the sender will retry."""

    reason: str
    lost_write: bool = False
    """The last attempt lost its conditional write: another request committed first."""


Outcome = Applied | Replayed | Dropped | Abandoned


@dataclass
class Algorithm1(Generic[S]):
    """Applies requests to contexts of one state type (a msgspec-encodable type)."""

    store: Store
    state_type: type[S]
    clock: Clock
    send_effect: SendEffect
    retry: RetryPolicy = RetryPolicy()
    rng: random.Random = field(default_factory=random.Random)

    def __post_init__(self) -> None:
        self._encoder = msgspec.msgpack.Encoder()
        self._decoder = msgspec.msgpack.Decoder(Record[self.state_type])

    async def handle(self, path: str, request_id: RequestId, step: Step[S]) -> Outcome:
        """Apply one request to the context at `path`. The caller sends the reply of Applied
        and Replayed outcomes. StoreUnavailable propagates: nothing was committed or sent, and
        the entry point's retransmission will bring the request again."""
        started = self.clock.now()
        attempt = 1
        while True:
            outcome = await self._attempt(path, request_id, step)
            if not isinstance(outcome, Abandoned):
                return outcome
            if not self.retry.allows(attempt, self.clock.now() - started):
                return outcome
            await self.clock.sleep(self._delay_s(outcome, attempt))
            attempt += 1

    def _delay_s(self, outcome: Abandoned, attempt: int) -> float:
        """A first lost write is tried again at once: the winner has committed, so the next
        read sees it (two requests of one UE on different S1 connections, e.g. a UE Context
        Release Complete and the Service Request right after it, race like this). Later
        losses, and dropped side effects, back off as the policy says."""
        if outcome.lost_write:
            return 0.0 if attempt == 1 else self.retry.delay_s(attempt - 1, self.rng)
        return self.retry.delay_s(attempt, self.rng)

    async def read(self, path: str) -> Record[S] | None:
        """The committed record at `path`, for lookups outside a request."""
        current = await self.store.get(path)
        return None if current is None else self._decoder.decode(current.value)

    async def _attempt(self, path: str, request_id: RequestId, step: Step[S]) -> Outcome:
        current = await self.store.get(path)
        record = None if current is None else self._decoder.decode(current.value)
        match classify(record, request_id):
            case Obsolete():
                return Dropped()
            case Recorded(reply):
                return Replayed(reply)
        try:
            result = await step(
                None if record is None else record.state, SideEffects(request_id, self.send_effect)
            )
        except SideEffectDropped as dropped:
            return Abandoned(f"side effect dropped: {dropped}")
        value = self._encoder.encode(advance(record, request_id, result))
        write: Op = Create(path, value) if current is None else Put(path, value, current.version)
        try:
            await self.store.multi([write, *result.ops])
        except Conflict as conflict:
            return Abandoned(f"conditional write lost: {conflict}", lost_write=True)
        return Applied(result.reply)


# --- lanes -------------------------------------------------------------------------------------


class LaneError(Exception):
    """A lane step produced a context where none was stored: lanes never create contexts."""


_LANE_ENCODER = msgspec.msgpack.Encoder()


def lane_step(
    store: Store, context_path: str, decoder: msgspec.msgpack.Decoder, step: Step[S]
) -> Step[int]:
    """A step for a lane record (docs/decisions.md, Gateways: "Lanes"): requests numbered by
    another clock than the UE's (a gateway's own requests, a peer's notifications) keep
    their last ID and recorded replies in a record of their own, while `step` reads the
    context at `context_path` (`decoder` reads a `Record[S]`) and writes it back with a Put
    conditional on the version it read, in the lane's multi-op. The context's own last ID
    and replies are untouched, so neither numbering makes the other's requests obsolete; the
    two serialise on the context's version. The lane record's state is a placeholder 0."""

    async def run(_lane: int | None, effects: SideEffects) -> StepResult[int]:
        current = await store.get(context_path)
        record = None if current is None else decoder.decode(current.value)
        result = await step(None if record is None else record.state, effects)
        ops: tuple[Op, ...] = result.ops
        if record is not None and current is not None:
            value = _LANE_ENCODER.encode(
                Record(last=record.last, replies=record.replies, state=result.state)
            )
            ops = (Put(context_path, value, current.version), *ops)
        elif result.state is not None:
            raise LaneError(f"{context_path}: a lane cannot create a context")
        return StepResult(state=0, reply=result.reply, ops=ops)

    return run
