"""The ZooKeeper backend under failure: leader crash, session expiry, unreachable servers,
and writes whose reply was lost. Every test runs against real ZooKeeper processes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from harness.zookeeper import running_standalone
from kazoo.client import KazooClient
from kazoo.exceptions import ConnectionLoss

from epc.store import Create, Delete, Put, StoreUnavailable, VersionConflict, Versioned
from epc.store.retry import RetryPolicy
from epc.store.zookeeper import ZooKeeperStore

pytestmark = pytest.mark.store

INCREMENTS_BEFORE_KILL = 30
INCREMENTS_AFTER_KILL = 30
# Bounds a whole failover scenario (a hang is a failure); never a performance assertion.
SCENARIO_TIMEOUT_S = 120
# Short enough that a test sees the store give up while its server is down.
IMPATIENT = RetryPolicy(tries=3, initial_delay_s=0.05, max_delay_s=0.2, deadline_s=1.0)


class Progress:
    """Counts acknowledged increments; lets the test wait for a count instead of sleeping."""

    def __init__(self) -> None:
        self.acknowledged = 0
        self._changed = asyncio.Condition()

    async def acknowledge(self) -> None:
        async with self._changed:
            self.acknowledged += 1
            self._changed.notify_all()

    async def reach(self, count: int) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: self.acknowledged >= count)


async def keep_incrementing(
    store: ZooKeeperStore, root: str, progress: Progress, stop: asyncio.Event
) -> None:
    """Algorithm 1 in miniature: read, conditional write, then record the acknowledged
    increment as a node of its own. Any error escapes and fails the test."""
    while not stop.is_set():
        current = await store.get(f"{root}/counter")
        count = int(current.value) + 1
        await store.put(f"{root}/counter", b"%d" % count, current.version)
        await store.create(f"{root}/acknowledged/{count}", b"")
        await progress.acknowledge()


@contextlib.asynccontextmanager
async def connected(hosts: str, **options) -> AsyncIterator[ZooKeeperStore]:
    store = await ZooKeeperStore.connect(hosts, **options)
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
async def zookeeper_store(zookeeper) -> AsyncIterator[ZooKeeperStore]:
    async with connected(zookeeper.hosts) as store:
        yield store


async def test_leader_crash_loses_no_acknowledged_write_and_writes_continue(
    zookeeper_ensemble, root
):
    progress, stop = Progress(), asyncio.Event()
    async with connected(zookeeper_ensemble.hosts) as store:
        await store.create(f"{root}/counter", b"0")
        async with asyncio.timeout(SCENARIO_TIMEOUT_S), asyncio.TaskGroup() as tasks:
            tasks.create_task(keep_incrementing(store, root, progress, stop))
            await progress.reach(INCREMENTS_BEFORE_KILL)
            old_leader = await asyncio.to_thread(zookeeper_ensemble.leader)
            zookeeper_ensemble.kill(old_leader)
            acknowledged_at_kill = progress.acknowledged
            await progress.reach(acknowledged_at_kill + INCREMENTS_AFTER_KILL)
            stop.set()

    await asyncio.to_thread(zookeeper_ensemble.wait_for_quorum)
    assert await asyncio.to_thread(zookeeper_ensemble.leader) is not old_leader
    async with connected(zookeeper_ensemble.hosts) as verifier:
        counter = await verifier.get(f"{root}/counter")
        recorded = await verifier.children(f"{root}/acknowledged")
    assert int(counter.value) == counter.version == progress.acknowledged
    assert sorted(map(int, recorded)) == list(range(1, progress.acknowledged + 1))


def close_session_elsewhere(hosts: str, session: tuple[int, bytes]) -> None:
    """ZooKeeper's own way to expire a session on purpose: attach a second client to it
    (the server drops the first connection) and close it there. The first client then
    learns on reconnecting that its session is gone."""
    intruder = KazooClient(hosts=hosts, client_id=session)
    intruder.start()
    intruder.stop()
    intruder.close()


async def test_write_after_session_expiry_succeeds_on_a_new_session(zookeeper, root):
    # The store must not win its session back before the intruder closes it: its first
    # reconnect waits at least 0.6 x the initial delay.
    patient_reconnect = RetryPolicy(initial_delay_s=0.5)
    async with connected(zookeeper.hosts, retry=patient_reconnect) as store:
        await store.create(f"{root}/ue/1", b"before")
        expired = store.client_id
        await asyncio.to_thread(close_session_elsewhere, zookeeper.hosts, expired)

        assert await store.put(f"{root}/ue/1", b"after", 0) == 1
        assert store.client_id[0] != expired[0]
        assert await store.get(f"{root}/ue/1") == Versioned(b"after", 1)


async def once_reconnected(operation, *args):
    """The operation's result once the same store has found its server again; until then an
    impatient policy gives up, each try waiting for the reconnection up to its deadline."""
    async with asyncio.timeout(SCENARIO_TIMEOUT_S):
        while True:
            with contextlib.suppress(StoreUnavailable):
                return await operation(*args)


async def test_operations_raise_store_unavailable_while_server_is_down_then_resume(tmp_path, root):
    with running_standalone(tmp_path / "zookeeper") as server:
        # A client that connects while the server is still starting may get no answer, and
        # kazoo then waits out the session timeout: keep it short here.
        async with connected(server.hosts, retry=IMPATIENT, session_timeout_s=2.0) as store:
            await store.create(f"{root}/n", b"v0")
            server.kill()
            with pytest.raises(StoreUnavailable):
                await store.get(f"{root}/n")
            with pytest.raises(StoreUnavailable):
                await store.put(f"{root}/n", b"never sent", 0)

            server.start()
            await asyncio.to_thread(server.wait_until_serving)
            assert await once_reconnected(store.get, f"{root}/n") == Versioned(b"v0", 0)
            assert await store.put(f"{root}/n", b"v1", 0) == 1


async def test_every_operation_raises_store_unavailable_after_close(zookeeper_store, root):
    await zookeeper_store.close()
    with pytest.raises(StoreUnavailable):
        await zookeeper_store.get(f"{root}/n")
    with pytest.raises(StoreUnavailable):
        await zookeeper_store.create(f"{root}/n", b"")


async def test_create_remakes_a_parent_another_client_deleted(zookeeper, zookeeper_store, root):
    await zookeeper_store.create(f"{root}/ferret/1/a", b"")
    async with connected(zookeeper.hosts) as other:
        for path in (f"{root}/ferret/1/a", f"{root}/ferret/1", f"{root}/ferret"):
            await other.delete(path, 0)

    assert await zookeeper_store.create(f"{root}/ferret/1/b", b"") == 0
    assert await zookeeper_store.children(f"{root}/ferret/1") == ["b"]


def lose_first_reply(monkeypatch, store: ZooKeeperStore, *, applied: bool, meanwhile=None):
    """Make the store's first write request end in ConnectionLoss, after ZooKeeper applied it
    (`applied`) or before it was sent: the two states a lost reply can hide. `meanwhile`
    runs between the loss and the store's recovery, as a competing writer would."""
    send = store._send
    lost = False

    async def send_and_lose(ops, indexed):
        nonlocal lost
        if lost:
            return await send(ops, indexed)
        lost = True
        if applied:
            await send(ops, indexed)
        if meanwhile is not None:
            await meanwhile()
        raise ConnectionLoss()

    monkeypatch.setattr(store, "_send", send_and_lose)


@pytest.mark.parametrize("applied", [True, False], ids=["reply-lost", "request-lost"])
async def test_put_with_lost_reply_is_applied_exactly_once(
    monkeypatch, zookeeper_store, root, applied
):
    await zookeeper_store.create(f"{root}/n", b"v0")
    lose_first_reply(monkeypatch, zookeeper_store, applied=applied)
    assert await zookeeper_store.put(f"{root}/n", b"v1", 0) == 1
    assert await zookeeper_store.get(f"{root}/n") == Versioned(b"v1", 1)


async def test_multi_with_lost_reply_is_recognised_by_all_its_writes(
    monkeypatch, zookeeper_store, root
):
    await zookeeper_store.create(f"{root}/a", b"a0")
    lose_first_reply(monkeypatch, zookeeper_store, applied=True)
    ops = [Put(f"{root}/a", b"a1", 0), Create(f"{root}/b", b"b0"), Delete(f"{root}/a", 1)]
    assert await zookeeper_store.multi(ops) == [1, 0, None]
    assert await zookeeper_store.children(root) == ["b"]


async def test_lost_request_overtaken_by_another_writer_raises_version_conflict(
    monkeypatch, zookeeper, zookeeper_store, root
):
    await zookeeper_store.create(f"{root}/n", b"v0")
    async with connected(zookeeper.hosts) as other:

        async def other_writer_wins():
            await other.put(f"{root}/n", b"theirs", 0)

        lose_first_reply(monkeypatch, zookeeper_store, applied=False, meanwhile=other_writer_wins)
        with pytest.raises(VersionConflict):
            await zookeeper_store.put(f"{root}/n", b"ours", 0)
    assert await zookeeper_store.get(f"{root}/n") == Versioned(b"theirs", 1)


async def test_writes_batched_together_keep_their_own_outcomes(zookeeper_store, root):
    """Writes issued in one loop turn share one ZooKeeper multi; a conflict in one of them
    fails that write alone, and every other write (multi-ops included) still applies."""
    for index in range(7):
        await zookeeper_store.create(f"{root}/ue/{index}", b"v0")
    await zookeeper_store.create(f"{root}/index/0", b"0")
    expected_versions = [0, 0, 0, 7, 0, 0]  # the write to ue/3 is stale
    writes = [
        zookeeper_store.put(f"{root}/ue/{index}", b"v1", version)
        for index, version in enumerate(expected_versions)
    ]
    writes.append(
        zookeeper_store.multi([Put(f"{root}/ue/6", b"v1", 0), Create(f"{root}/index/6", b"6")])
    )
    outcomes = await asyncio.gather(*writes, return_exceptions=True)
    assert outcomes[:3] == [1, 1, 1] and outcomes[4:] == [1, 1, [1, 0]]
    assert isinstance(outcomes[3], VersionConflict) and outcomes[3].op_index is None
    assert await zookeeper_store.get(f"{root}/ue/3") == Versioned(b"v0", 0)
    assert await zookeeper_store.get(f"{root}/ue/6") == Versioned(b"v1", 1)
    assert await zookeeper_store.get(f"{root}/index/6") == Versioned(b"6", 0)
