"""One conformance suite, run unchanged against every store backend (fixture `store`)."""

import asyncio

import pytest

from epc.store import (
    Check,
    Create,
    Delete,
    NodeExists,
    NoNode,
    NotEmpty,
    Put,
    VersionConflict,
    Versioned,
)

pytestmark = pytest.mark.store


async def test_get_of_missing_node_returns_none(store, root):
    assert await store.get(f"{root}/absent") is None


async def test_create_then_get_returns_value_at_version_zero(store, root):
    assert await store.create(f"{root}/ue/001010000000001", b"ctx") == 0
    assert await store.get(f"{root}/ue/001010000000001") == Versioned(b"ctx", 0)


async def test_create_makes_missing_parents_with_empty_values(store, root):
    await store.create(f"{root}/a/b/c", b"x")
    assert await store.get(f"{root}/a") == Versioned(b"", 0)
    assert await store.get(f"{root}/a/b") == Versioned(b"", 0)


async def test_create_of_existing_node_raises_node_exists(store, root):
    await store.create(f"{root}/n", b"1")
    with pytest.raises(NodeExists):
        await store.create(f"{root}/n", b"2")
    assert await store.get(f"{root}/n") == Versioned(b"1", 0)


async def test_put_at_expected_version_bumps_version(store, root):
    await store.create(f"{root}/n", b"v0")
    assert await store.put(f"{root}/n", b"v1", 0) == 1
    assert await store.put(f"{root}/n", b"v2", 1) == 2
    assert await store.get(f"{root}/n") == Versioned(b"v2", 2)


async def test_put_at_stale_version_raises_version_conflict_and_changes_nothing(store, root):
    await store.create(f"{root}/n", b"v0")
    await store.put(f"{root}/n", b"v1", 0)
    with pytest.raises(VersionConflict):
        await store.put(f"{root}/n", b"lost", 0)
    assert await store.get(f"{root}/n") == Versioned(b"v1", 1)


async def test_put_of_missing_node_raises_no_node(store, root):
    with pytest.raises(NoNode):
        await store.put(f"{root}/n", b"x", 0)


async def test_delete_at_expected_version_removes_node(store, root):
    await store.create(f"{root}/n", b"x")
    await store.delete(f"{root}/n", 0)
    assert await store.get(f"{root}/n") is None


async def test_delete_at_stale_version_raises_version_conflict(store, root):
    await store.create(f"{root}/n", b"x")
    await store.put(f"{root}/n", b"y", 0)
    with pytest.raises(VersionConflict):
        await store.delete(f"{root}/n", 0)
    assert await store.get(f"{root}/n") == Versioned(b"y", 1)


async def test_delete_of_missing_node_raises_no_node(store, root):
    with pytest.raises(NoNode):
        await store.delete(f"{root}/n", 0)


async def test_delete_of_node_with_children_raises_not_empty(store, root):
    await store.create(f"{root}/p/c", b"x")
    with pytest.raises(NotEmpty):
        await store.delete(f"{root}/p", 0)
    assert await store.get(f"{root}/p/c") == Versioned(b"x", 0)


async def test_children_lists_direct_children_sorted(store, root):
    for name in ("b", "a", "c/deeper"):
        await store.create(f"{root}/ue/{name}", b"")
    assert await store.children(f"{root}/ue") == ["a", "b", "c"]
    assert await store.children(f"{root}/nothing") == []


async def test_large_context_round_trips_byte_exact(store, root):
    value = bytes(range(256)) * 40  # 10 KB, every byte value
    await store.create(f"{root}/big", value)
    assert (await store.get(f"{root}/big")).value == value


async def test_multi_applies_all_ops_and_returns_versions(store, root):
    await store.create(f"{root}/ue/1", b"old")
    await store.create(f"{root}/index/guti/g-old", b"1")
    await store.create(f"{root}/check", b"")
    results = await store.multi(
        [
            Check(f"{root}/check", 0),
            Put(f"{root}/ue/1", b"new", 0),
            Create(f"{root}/index/guti/g-new", b"1"),
            Delete(f"{root}/index/guti/g-old", 0),
        ]
    )
    assert results == [None, 1, 0, None]
    assert await store.get(f"{root}/ue/1") == Versioned(b"new", 1)
    assert await store.get(f"{root}/index/guti/g-new") == Versioned(b"1", 0)
    assert await store.get(f"{root}/index/guti/g-old") is None


async def test_multi_creates_missing_parents(store, root):
    await store.multi([Create(f"{root}/x/y/z", b"1")])
    assert await store.children(f"{root}/x/y") == ["z"]


@pytest.mark.parametrize(
    "failing",
    [
        pytest.param(lambda r: Check(f"{r}/check", 5), id="check-version"),
        pytest.param(lambda r: Put(f"{r}/ue/1", b"z", 7), id="put-version"),
        pytest.param(lambda r: Create(f"{r}/check", b""), id="create-exists"),
        pytest.param(lambda r: Delete(f"{r}/missing", 0), id="delete-missing"),
    ],
)
async def test_multi_with_one_failing_op_applies_nothing(store, root, failing):
    await store.create(f"{root}/ue/1", b"old")
    await store.create(f"{root}/check", b"")
    ops = [Put(f"{root}/ue/1", b"new", 0), Create(f"{root}/index/a", b""), failing(root)]
    with pytest.raises((VersionConflict, NodeExists, NoNode)) as raised:
        await store.multi(ops)
    assert raised.value.op_index == 2
    assert await store.get(f"{root}/ue/1") == Versioned(b"old", 0)
    assert await store.get(f"{root}/index/a") is None


async def test_concurrent_conditional_writes_have_exactly_one_winner(store, root):
    await store.create(f"{root}/ue/1", b"v0")

    async def contender(name: bytes):
        try:
            return await store.put(f"{root}/ue/1", name, 0)
        except VersionConflict:
            return None

    results = await asyncio.gather(*(contender(b"w%d" % i) for i in range(8)))
    winners = [i for i, r in enumerate(results) if r is not None]
    assert len(winners) == 1
    assert await store.get(f"{root}/ue/1") == Versioned(b"w%d" % winners[0], 1)


async def test_concurrent_increments_lose_no_update(store, root):
    """Read-modify-CAS loops from many tasks: the final count equals the number of increments."""
    await store.create(f"{root}/counter", b"0")

    async def increment():
        while True:
            current = await store.get(f"{root}/counter")
            try:
                await store.put(
                    f"{root}/counter", b"%d" % (int(current.value) + 1), current.version
                )
                return
            except VersionConflict:
                await asyncio.sleep(0)

    await asyncio.gather(*(increment() for _ in range(20)))
    assert await store.get(f"{root}/counter") == Versioned(b"20", 20)
