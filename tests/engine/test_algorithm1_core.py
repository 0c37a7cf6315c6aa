"""The pure decision of Algorithm 1, and the driver against a real in-memory store."""

import pytest

from epc.algorithm1 import (
    Abandoned,
    Algorithm1,
    Applied,
    Dropped,
    Fresh,
    Obsolete,
    Record,
    Recorded,
    Replayed,
    Reply,
    SideEffectDropped,
    StepResult,
    advance,
    classify,
)
from epc.clock import LoopClock
from epc.store import Create, Versioned
from epc.store.memory import MemoryStore
from epc.store.retry import RetryPolicy

REPLY_3 = Reply((b"reply to 3",))


def record_after(request_id, reply=REPLY_3, previous=None):
    return advance(previous, request_id, StepResult(state=b"s", reply=reply))


def test_first_request_for_a_ue_is_fresh():
    assert classify(None, (7,)) == Fresh()


def test_request_after_the_last_applied_is_fresh():
    assert classify(record_after((3,)), (4,)) == Fresh()


def test_retry_of_the_last_applied_request_gets_its_recorded_reply():
    assert classify(record_after((3,)), (3,)) == Recorded(REPLY_3)


def test_request_older_than_the_last_applied_is_obsolete():
    assert classify(record_after((3,)), (2,)) == Obsolete()


def test_side_effects_of_one_request_all_stay_replayable():
    first = record_after((5, 0), Reply((b"first",)))
    second = record_after((5, 1), Reply((b"second",)), previous=first)
    assert classify(second, (5, 0)) == Recorded(Reply((b"first",)))
    assert classify(second, (5, 1)) == Recorded(Reply((b"second",)))
    assert classify(second, (5, 2)) == Fresh()


def test_a_new_request_number_forgets_the_previous_replies():
    old = record_after((5, 0))
    new = record_after((6, 0), previous=old)
    assert set(new.replies) == {"6.0"}
    assert classify(new, (5, 0)) == Obsolete()


def test_detached_context_keeps_its_last_request_id():
    detached = advance(record_after((3,)), (4,), StepResult(state=None))
    assert detached == Record(last=(4,), replies={"4": Reply()}, state=None)
    assert classify(detached, (2,)) == Obsolete()


async def _no_effects(target, effect_id, message):
    raise AssertionError("no side effects expected")


def engine(store, send_effect=_no_effects, tries=3):
    policy = RetryPolicy(tries=tries, initial_delay_s=0.001, max_delay_s=0.002)
    return Algorithm1(store, bytes, clock=LoopClock(), send_effect=send_effect, retry=policy)


def step_setting(value: bytes, reply=Reply((b"ok",))):
    async def step(state, effects):
        return StepResult(state=value, reply=reply)

    return step


async def test_handle_applies_then_replays_then_drops_obsolete():
    store = MemoryStore()
    algorithm = engine(store)
    assert await algorithm.handle("/d/ue/1", (1,), step_setting(b"one")) == Applied(Reply((b"ok",)))
    assert await algorithm.handle("/d/ue/1", (2,), step_setting(b"two")) == Applied(Reply((b"ok",)))
    assert await algorithm.handle("/d/ue/1", (2,), step_setting(b"never")) == Replayed(
        Reply((b"ok",))
    )
    assert await algorithm.handle("/d/ue/1", (1,), step_setting(b"never")) == Dropped()
    assert (await algorithm.read("/d/ue/1")).state == b"two"


async def test_index_ops_commit_in_the_same_multi_op_as_the_context():
    store = MemoryStore()

    async def step(state, effects):
        return StepResult(state=b"ctx", ops=(Create("/d/index/guti/g1", b"1"),))

    await engine(store).handle("/d/ue/1", (1,), step)
    assert await store.get("/d/index/guti/g1") == Versioned(b"1", 0)


async def test_lost_write_backs_off_and_answers_with_the_winners_reply():
    store = MemoryStore()
    algorithm = engine(store)

    async def slow_step(state, effects):
        # another instance commits the same request while this one is still working
        await algorithm.handle("/d/ue/1", (1,), step_setting(b"winner", Reply((b"winner",))))
        return StepResult(state=b"loser", reply=Reply((b"loser",)))

    assert await algorithm.handle("/d/ue/1", (1,), slow_step) == Replayed(Reply((b"winner",)))
    assert (await algorithm.read("/d/ue/1")).state == b"winner"


async def test_side_effects_carry_derived_request_ids():
    sent = []

    async def send_effect(target, effect_id, message):
        sent.append((target, effect_id, message))
        return b"answer"

    async def step(state, effects):
        first = await effects.send("sgw", b"create session")
        second = await effects.send("sgw", b"modify bearer")
        return StepResult(state=first + second)

    await engine(MemoryStore(), send_effect).handle("/d/ue/1", (9,), step)
    assert sent == [("sgw", (9, 0), b"create session"), ("sgw", (9, 1), b"modify bearer")]


async def test_dropped_side_effect_abandons_without_writing():
    async def send_effect(target, effect_id, message):
        raise SideEffectDropped("obsolete at target")

    async def step(state, effects):
        await effects.send("sgw", b"x")
        return StepResult(state=b"never")

    store = MemoryStore()
    outcome = await engine(store, send_effect, tries=2).handle("/d/ue/1", (1,), step)
    assert isinstance(outcome, Abandoned)
    assert await store.get("/d/ue/1") is None


@pytest.mark.parametrize("tries", [1, 3])
async def test_persistent_conflict_gives_up_after_the_policy_tries(tries):
    store = MemoryStore()
    algorithm = engine(store, tries=tries)
    attempts = 0

    async def step(state, effects):
        nonlocal attempts
        attempts += 1
        # an unrelated writer moves the context every time
        current = await store.get("/d/ue/1")
        await store.put("/d/ue/1", current.value, current.version)
        return StepResult(state=b"x")

    await algorithm.handle("/d/ue/1", (1,), step_setting(b"seed"))
    outcome = await algorithm.handle("/d/ue/1", (2,), step)
    assert isinstance(outcome, Abandoned) and attempts == tries


class RecordingClock:
    """Sleeps nothing; records what the engine asked to wait."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def now(self) -> float:
        return 0.0

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)


async def test_first_lost_write_retries_at_once_and_later_ones_back_off():
    store = MemoryStore()
    clock = RecordingClock()
    policy = RetryPolicy(tries=4, initial_delay_s=0.05, multiplier=2.0, jitter=0.0)
    algorithm = Algorithm1(store, bytes, clock=clock, send_effect=_no_effects, retry=policy)

    async def step(state, effects):
        current = await store.get("/d/ue/1")
        await store.put("/d/ue/1", current.value, current.version)  # someone always wins
        return StepResult(state=b"x")

    await algorithm.handle("/d/ue/1", (1,), step_setting(b"seed"))
    outcome = await algorithm.handle("/d/ue/1", (2,), step)
    assert isinstance(outcome, Abandoned) and outcome.lost_write
    assert clock.waits == [0.0, 0.05, 0.1]


async def test_dropped_side_effects_back_off_from_the_first_retry():
    async def send_effect(target, effect_id, message):
        raise SideEffectDropped("obsolete at target")

    async def step(state, effects):
        await effects.send("sgw", b"x")
        return StepResult(state=b"never")

    clock = RecordingClock()
    policy = RetryPolicy(tries=3, initial_delay_s=0.05, multiplier=2.0, jitter=0.0)
    algorithm = Algorithm1(MemoryStore(), bytes, clock=clock, send_effect=send_effect, retry=policy)
    outcome = await algorithm.handle("/d/ue/1", (1,), step)
    assert isinstance(outcome, Abandoned) and not outcome.lost_write
    assert clock.waits == [0.05, 0.1]
