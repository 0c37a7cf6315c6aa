"""MME-UE-S1AP-IDs and M-TMSIs: unique across instances, idempotent under retries, no leak on
a lost write, a collision drawn again; allocation runs inside Algorithm 1 on every backend."""

import asyncio
import random

import msgspec
import pytest

from epc.algorithm1 import Algorithm1, Applied, Replayed, Reply, StepResult
from epc.clock import LoopClock
from epc.mme.identifiers import (
    M_TMSI_RESERVED,
    Allocation,
    IdentifierAllocator,
    IdentifierError,
    guti_index_path,
    is_collision,
    owner_of_m_tmsi,
    owner_of_mme_ue_s1ap_id,
    s1ap_index_path,
)
from epc.store import Conflict, Create, Delete, NodeExists, VersionConflict
from epc.store.retry import RetryPolicy

pytestmark = pytest.mark.mme

IMSI = "001010000000001"
# Collisions are forced by drawing from a tiny space, so an attempt may lose many times.
PATIENT = RetryPolicy(tries=500, initial_delay_s=0.0005, max_delay_s=0.005, deadline_s=120)


class Scripted(random.Random):
    """Draws the given values in order."""

    def __init__(self, *values: int) -> None:
        super().__init__(0)
        self.values = list(values)

    def getrandbits(self, k: int) -> int:
        return self.values.pop(0)


class TinySpace(random.Random):
    """Draws from 0..size-1, so instances collide all the time."""

    def __init__(self, size: int, seed: int) -> None:
        super().__init__(seed)
        self.size = size

    def getrandbits(self, k: int) -> int:
        return int(self.random() * self.size)


class UeIds(msgspec.Struct, frozen=True):
    mme_ue_s1ap_id: int | None = None
    m_tmsi: int | None = None


def ue_path(deployment: str, imsi: str) -> str:
    return f"/{deployment}/ue/{imsi}"


async def _no_side_effects(target, effect_id, message):
    raise AssertionError("these steps send no side effects")


def engine(store) -> Algorithm1:
    return Algorithm1(store, UeIds, LoopClock(), _no_side_effects, retry=PATIENT)


def attach_step(allocator: IdentifierAllocator, imsi: str, runs: list | None = None):
    """Takes both identifiers (reusing what the context holds) and replies with them."""

    async def step(state, effects):
        if runs is not None:
            runs.append(imsi)
        state = state or UeIds()
        s1ap = allocator.mme_ue_s1ap_id(imsi, state.mme_ue_s1ap_id)
        tmsi = allocator.m_tmsi(imsi, state.m_tmsi)
        reply = Reply((f"{s1ap.value} {tmsi.value}".encode(),))
        return StepResult(UeIds(s1ap.value, tmsi.value), reply, ops=s1ap.ops + tmsi.ops)

    return step


def detach_step(allocator: IdentifierAllocator):
    async def step(state, effects):
        ops = (
            allocator.release_mme_ue_s1ap_id(state.mme_ue_s1ap_id),
            allocator.release_m_tmsi(state.m_tmsi),
        )
        return StepResult(None, Reply((b"detach accept",)), ops=ops)

    return step


async def context_ids(store, deployment, imsi) -> UeIds:
    return (await engine(store).read(ue_path(deployment, imsi))).state


# --- pure ----------------------------------------------------------------------------------


def test_index_paths_name_the_identifier_as_wireshark_shows_it():
    assert s1ap_index_path("epc", 4294967295) == "/epc/index/s1ap/4294967295"
    assert guti_index_path("epc", 0xC0000123) == "/epc/index/guti/c0000123"


def test_an_identifier_outside_32_bits_is_refused():
    with pytest.raises(IdentifierError, match="M-TMSI 4294967296 outside"):
        guti_index_path("epc", 1 << 32)
    with pytest.raises(IdentifierError, match="MME-UE-S1AP-ID -1 outside"):
        s1ap_index_path("epc", -1)


def test_a_fresh_draw_comes_with_the_create_of_its_index_entry():
    allocator = IdentifierAllocator("epc", Scripted(7, 9))
    assert allocator.mme_ue_s1ap_id(IMSI, None) == Allocation(
        7, (Create("/epc/index/s1ap/7", IMSI.encode()),)
    )
    assert allocator.m_tmsi(IMSI, None) == Allocation(
        9, (Create("/epc/index/guti/00000009", IMSI.encode()),)
    )


def test_a_value_the_context_recorded_is_reused_without_ops():
    allocator = IdentifierAllocator("epc", Scripted())
    assert allocator.mme_ue_s1ap_id(IMSI, 7) == Allocation(7)
    assert allocator.m_tmsi(IMSI, 9) == Allocation(9)


def test_the_all_ones_m_tmsi_is_never_allocated():
    allocator = IdentifierAllocator("epc", Scripted(M_TMSI_RESERVED, 5))
    assert allocator.m_tmsi(IMSI, None).value == 5


def test_release_deletes_the_index_entry_at_its_only_version():
    allocator = IdentifierAllocator("epc")
    assert allocator.release_mme_ue_s1ap_id(7) == Delete("/epc/index/s1ap/7", 0)
    assert allocator.release_m_tmsi(9) == Delete("/epc/index/guti/00000009", 0)


def test_only_a_create_on_an_index_entry_counts_as_a_collision():
    assert is_collision(NodeExists("/epc/index/guti/00000009", "exists", 1))
    assert not is_collision(NodeExists("/epc/ue/001010000000001", "exists", 0))
    assert not is_collision(VersionConflict("/epc/index/s1ap/7", "moved", 0))


# --- against the store ---------------------------------------------------------------------


async def test_n_instances_allocating_concurrently_never_share_an_identifier(instances, deployment):
    """Three instances per store handle draw from 48 values for 30 UEs, so most first draws
    collide; every UE is also handled by two instances at once, as after a retransmission."""
    ue_count, instance_count = 30, 6
    engines = [engine(instances[n % len(instances)]) for n in range(instance_count)]
    allocators = [
        IdentifierAllocator(deployment, TinySpace(48, seed=n)) for n in range(instance_count)
    ]
    imsis = [f"00101{n:010d}" for n in range(ue_count)]

    async def handle(instance: int, imsi: str):
        step = attach_step(allocators[instance], imsi)
        return await engines[instance].handle(ue_path(deployment, imsi), (1,), step)

    async with asyncio.TaskGroup() as group:
        racing = {
            imsi: [
                group.create_task(handle(n % instance_count, imsi)),
                group.create_task(handle((n + 1) % instance_count, imsi)),
            ]
            for n, imsi in enumerate(imsis)
        }
    store = instances[0]
    ids = {imsi: await context_ids(store, deployment, imsi) for imsi in imsis}
    for imsi, (first, second) in racing.items():
        outcomes = {type(first.result()), type(second.result())}
        assert outcomes <= {Applied, Replayed} and Applied in outcomes
        expected = f"{ids[imsi].mme_ue_s1ap_id} {ids[imsi].m_tmsi}".encode()
        assert first.result().reply.messages == second.result().reply.messages == (expected,)
    assert len({i.mme_ue_s1ap_id for i in ids.values()}) == ue_count
    assert len({i.m_tmsi for i in ids.values()}) == ue_count
    await assert_index_matches_contexts(store, deployment, ids)


async def assert_index_matches_contexts(store, deployment, ids: dict[str, UeIds]) -> None:
    """Every index entry belongs to the context that holds its value: nothing leaked."""
    s1ap = await store.children(f"/{deployment}/index/s1ap")
    guti = await store.children(f"/{deployment}/index/guti")
    assert sorted(s1ap) == sorted(str(i.mme_ue_s1ap_id) for i in ids.values())
    assert sorted(guti) == sorted(f"{i.m_tmsi:08x}" for i in ids.values())
    for imsi, held in ids.items():
        assert await owner_of_mme_ue_s1ap_id(store, deployment, held.mme_ue_s1ap_id) == imsi
        assert await owner_of_m_tmsi(store, deployment, held.m_tmsi) == imsi


async def test_a_retried_request_gets_the_identifiers_it_was_given(store, deployment):
    allocator = IdentifierAllocator(deployment, Scripted(11, 22))
    runs: list[str] = []
    step = attach_step(allocator, IMSI, runs)
    path = ue_path(deployment, IMSI)

    first = await engine(store).handle(path, (1,), step)
    retried = await engine(store).handle(path, (1,), step)

    assert first == Applied(Reply((b"11 22",)))
    assert retried == Replayed(Reply((b"11 22",)))
    assert runs == [IMSI]


async def test_a_later_step_reuses_the_identifiers_in_the_context(store, deployment):
    allocator = IdentifierAllocator(deployment, Scripted(11, 22))
    path = ue_path(deployment, IMSI)
    await engine(store).handle(path, (1,), attach_step(allocator, IMSI))

    later = await engine(store).handle(path, (2,), attach_step(allocator, IMSI))

    assert later == Applied(Reply((b"11 22",)))  # Scripted has nothing left to draw
    await assert_index_matches_contexts(store, deployment, {IMSI: UeIds(11, 22)})


async def test_an_attempt_that_lost_its_write_leaves_no_index_entry(store, deployment):
    allocator = IdentifierAllocator(deployment, Scripted(11, 22, 33, 44, 55, 66))
    path = ue_path(deployment, IMSI)
    await engine(store).handle(path, (1,), attach_step(allocator, IMSI))  # 11, 22
    await engine(store).handle(path, (2,), detach_step(allocator))
    racing = attach_step(allocator, IMSI)
    raced = False

    async def step_overtaken_by_another_instance(state, effects):
        nonlocal raced
        result = await racing(state, effects)
        if not raced:  # the context moves between our read and our write
            raced = True
            node = await store.get(path)
            await store.put(path, node.value, node.version)
        return result

    outcome = await engine(store).handle(path, (3,), step_overtaken_by_another_instance)

    assert outcome == Applied(Reply((b"55 66",)))
    assert await owner_of_mme_ue_s1ap_id(store, deployment, 33) is None  # drawn, never taken
    await assert_index_matches_contexts(store, deployment, {IMSI: UeIds(55, 66)})


async def test_a_collision_fails_on_the_index_op_and_the_step_draws_again(store, deployment):
    await store.create(s1ap_index_path(deployment, 11), b"001010000000999")
    path = ue_path(deployment, IMSI)

    colliding = await attach_step(IdentifierAllocator(deployment, Scripted(11, 22)), IMSI)(
        None, None
    )
    with pytest.raises(Conflict) as failed:
        await store.multi([Create(path, b"context"), *colliding.ops])
    assert isinstance(failed.value, NodeExists) and failed.value.op_index == 1
    assert is_collision(failed.value)

    allocator = IdentifierAllocator(deployment, Scripted(11, 22, 33, 44))
    outcome = await engine(store).handle(path, (1,), attach_step(allocator, IMSI))
    assert outcome == Applied(Reply((b"33 44",)))
    assert await owner_of_mme_ue_s1ap_id(store, deployment, 11) == "001010000000999"
    assert await owner_of_m_tmsi(store, deployment, 22) is None


async def test_detach_frees_the_identifiers_for_the_next_ue(store, deployment):
    allocator = IdentifierAllocator(deployment, Scripted(11, 22, 11, 22))
    first_ue, next_ue = IMSI, "001010000000002"
    await engine(store).handle(
        ue_path(deployment, first_ue), (1,), attach_step(allocator, first_ue)
    )

    await engine(store).handle(ue_path(deployment, first_ue), (2,), detach_step(allocator))
    assert await owner_of_m_tmsi(store, deployment, 22) is None
    await engine(store).handle(ue_path(deployment, next_ue), (1,), attach_step(allocator, next_ue))

    await assert_index_matches_contexts(store, deployment, {next_ue: UeIds(11, 22)})
    assert await context_ids(store, deployment, first_ue) is None
