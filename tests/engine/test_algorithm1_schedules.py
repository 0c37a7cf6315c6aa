"""Algorithm 1 under generated schedules: N competing instances of a component A, each
request of which may send a side effect to N instances of a component B.

Every await inside the engine lands on a gate this test controls (store reads and writes,
side-effect hops, back-off sleeps), and coroutines are driven by hand with `send`, so a
hypothesis-drawn list of actions fixes the whole interleaving: which gate opens next, which
instance crashes where (before or after its write), which request the entry point
retransmits and to whom, which stale copy or duplicated side effect arrives late.

Allocation in both components is deliberately non-deterministic (a global counter, like a
random RAND or TEID), so executing a request twice would show up as a different reply.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from dataclasses import dataclass, field

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from epc.algorithm1 import (
    Algorithm1,
    Applied,
    Replayed,
    Reply,
    RequestId,
    SideEffectDropped,
    StepResult,
    TimerCommand,
)
from epc.store.memory import MemoryStore
from epc.store.retry import RetryPolicy

A_PATH = "/test/ue/001010000000001"
B_PATH = "/test/sgw/001010000000001"


class Gate:
    """One await point whose release the schedule decides."""

    def __init__(self, label: str) -> None:
        self.label = label

    def __await__(self):
        yield self


class GatedStore:
    """The real in-memory store behind gates; a crash at "written" is a crash after the
    conditional write and before the reply."""

    def __init__(self, inner: MemoryStore, component: str) -> None:
        self.inner = inner
        self.component = component

    async def get(self, path):
        await Gate(f"{self.component}:read")
        return await self.inner.get(path)

    async def multi(self, ops):
        await Gate(f"{self.component}:write")
        result = await self.inner.multi(ops)
        await Gate(f"{self.component}:written")
        return result


class AState(msgspec.Struct):
    applied: list[int] = []
    nonces: list[int] = []
    teids: dict[int, list[int]] = {}


class BState(msgspec.Struct):
    applied: list[RequestId] = []
    teids: list[int] = []


@dataclass
class Task:
    coroutine: object
    pending: Gate | None = None


@dataclass
class World:
    instances: int
    effects: tuple[int, ...]
    """How many side effects request n + 1 sends to B."""
    time: float = 0.0
    acked: int = 0
    tasks: list[Task] = field(default_factory=list)
    replies_seen: dict[int, set[bytes]] = field(default_factory=lambda: defaultdict(set))
    effect_replies: dict[RequestId, set[bytes]] = field(default_factory=lambda: defaultdict(set))
    effects_sent: list[tuple[RequestId, bytes]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.requests = len(self.effects)
        self.a_store = MemoryStore()
        self.b_store = MemoryStore()
        self.nonces = itertools.count(1)
        self.teids = itertools.count(1000)
        self.retry = RetryPolicy(tries=3, initial_delay_s=0.01, deadline_s=1e9)
        self.a_engines = [
            self._engine(GatedStore(self.a_store, "a"), AState) for _ in range(self.instances)
        ]
        self.b_engines = [
            self._engine(GatedStore(self.b_store, "b"), BState) for _ in range(self.instances)
        ]

    def _engine(self, store, state_type):
        return Algorithm1(
            store, state_type, clock=self, send_effect=self._send_effect, retry=self.retry
        )

    # the injected clock
    def now(self) -> float:
        return self.time

    async def sleep(self, seconds: float) -> None:
        await Gate("backoff")

    # component A: the request handler, as a frontend would run it
    async def deliver(self, instance: int, number: int) -> None:
        outcome = await self.a_engines[instance].handle(A_PATH, (number,), self._a_step(number))
        if isinstance(outcome, Applied | Replayed):
            await Gate("reply in flight")
            self.replies_seen[number].add(msgspec.msgpack.encode(outcome.reply))
            if number == self.acked + 1:
                self.acked = number

    def _a_step(self, number: int):
        async def step(state: AState | None, effects) -> StepResult[AState]:
            state = state or AState()
            nonce = next(self.nonces)
            state.applied.append(number)
            state.nonces.append(nonce)
            for _ in range(self.effects[number - 1]):
                teid = int(await effects.send("b", b"%d" % number))
                state.teids.setdefault(number, []).append(teid)
            message = msgspec.msgpack.encode([number, nonce, state.teids])
            return StepResult(state, Reply((message,), (TimerCommand("T3450", 6.0),)))

        return step

    # component B: the side-effect target
    async def _send_effect(self, target: str, effect_id: RequestId, message: bytes) -> bytes:
        self.effects_sent.append((effect_id, message))
        await Gate("effect out")
        reply = await self.deliver_effect(effect_id[0] % self.instances, effect_id, message)
        if reply is None:
            raise SideEffectDropped(str(effect_id))
        await Gate("effect back")
        return reply

    async def deliver_effect(
        self, instance: int, effect_id: RequestId, message: bytes
    ) -> bytes | None:
        outcome = await self.b_engines[instance].handle(B_PATH, effect_id, self._b_step(effect_id))
        if not isinstance(outcome, Applied | Replayed):
            return None
        (reply,) = outcome.reply.messages
        self.effect_replies[effect_id].add(reply)
        return reply

    def _b_step(self, effect_id: RequestId):
        async def step(state: BState | None, effects) -> StepResult[BState]:
            state = state or BState()
            teid = next(self.teids)
            state.applied.append(effect_id)
            state.teids.append(teid)
            return StepResult(state, Reply((b"%d" % teid,)))

        return step

    # the scheduler
    def start(self, coroutine) -> None:
        task = Task(coroutine)
        self.tasks.append(task)
        self.advance(task)

    def advance(self, task: Task) -> None:
        self.time += 0.001
        try:
            task.pending = task.coroutine.send(None)
        except StopIteration:
            self.tasks.remove(task)

    def act(self, kind: int, pick: int) -> None:
        if kind <= 4 and self.tasks:
            self.advance(self.tasks[pick % len(self.tasks)])
        elif kind == 5 and self.tasks:
            self.run_to_write(self.tasks[pick % len(self.tasks)])
        elif kind <= 7 and self.acked < self.requests:
            self.start(self.deliver(pick % self.instances, self.acked + 1))
        elif kind == 8:
            self.crash_one(at="write", pick=pick)
        elif kind == 9:
            self.crash_one(at="written", pick=pick)
        elif kind == 10 and self.acked > 0:
            self.start(self.deliver(pick % self.instances, 1 + pick % self.acked))
        elif kind == 11 and self.effects_sent:
            effect_id, message = self.effects_sent[pick % len(self.effects_sent)]
            self.start(self.deliver_effect(pick % self.instances, effect_id, message))

    def run_to_write(self, task: Task) -> None:
        """Let one instance run alone up to its next write or past it (A's or B's)."""
        self.advance(task)
        while task in self.tasks and not task.pending.label.endswith(("write", "written")):
            self.advance(task)

    def crash_one(self, at: str, pick: int) -> None:
        """Crash an instance waiting at gate `at` (before or after a write), else any."""
        candidates = [task for task in self.tasks if task.pending.label.endswith(at)] or self.tasks
        if candidates:
            task = candidates[pick % len(candidates)]
            task.coroutine.close()
            self.tasks.remove(task)

    def drain(self) -> None:
        """Fault-free progress: the entry point keeps retransmitting until all are acked."""
        for _ in range(10_000):
            if self.tasks:
                self.advance(self.tasks[0])
            elif self.acked < self.requests:
                self.start(self.deliver(0, self.acked + 1))
            else:
                return

    def committed(self) -> tuple[AState, BState]:
        a = _run(self.a_engines[0].read(A_PATH))
        b = _run(self.b_engines[0].read(B_PATH))
        return a.state, (b.state if b else BState())


def _run(coroutine):
    """Drive a coroutine that passes gates only to completion."""
    while True:
        try:
            coroutine.send(None)
        except StopIteration as stop:
            return stop.value


def sequential(effects: tuple[int, ...]) -> tuple[AState, BState]:
    world = World(instances=1, effects=effects)
    world.drain()
    return world.committed()


actions = st.lists(st.tuples(st.integers(0, 11), st.integers(0, 1_000)), max_size=120)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    instances=st.integers(2, 3),
    effects=st.lists(st.integers(0, 2), min_size=1, max_size=5).map(tuple),
    schedule=actions,
)
def test_competing_instances_apply_every_request_exactly_once_in_order(
    instances, effects, schedule
):
    requests = len(effects)
    world = World(instances=instances, effects=effects)
    for kind, pick in schedule:
        world.act(kind, pick)
    world.drain()

    assert world.acked == requests, "the entry point got every request acknowledged"
    a, b = world.committed()
    # exactly once, in request-ID order, at both components
    assert a.applied == list(range(1, requests + 1))
    effect_ids = [(n, k) for n in range(1, requests + 1) for k in range(effects[n - 1])]
    assert b.applied == effect_ids
    # the final contexts equal a sequential run (allocated values aside, which differ by design)
    reference_a, reference_b = sequential(effects)
    assert (a.applied, sorted(a.teids)) == (reference_a.applied, sorted(reference_a.teids))
    assert b.applied == reference_b.applied
    # every copy of a reply the entry point received is byte-identical, and it is the one
    # recorded with the committed state (the UE and the store agree on the nonce)
    for number in range(1, requests + 1):
        assert len(world.replies_seen[number]) == 1, f"request {number} answered differently"
        (reply,) = world.replies_seen[number]
        (message,) = msgspec.msgpack.decode(reply, type=Reply).messages
        assert msgspec.msgpack.decode(message)[:2] == [number, a.nonces[number - 1]]
    # a side effect never ran twice with different results, and A holds what B allocated
    for effect_id, replies in world.effect_replies.items():
        assert len(replies) == 1, f"side effect {effect_id} answered differently"
    held_by_a = [(n, teid) for n, teids in sorted(a.teids.items()) for teid in teids]
    assert held_by_a == [(n, teid) for (n, _), teid in zip(effect_ids, b.teids, strict=True)]
