"""Fixtures for the MME's store-facing pieces: store handles for several MME instances."""

import pytest

from epc.store.sqlite import SqliteStore


@pytest.fixture
def deployment(root) -> str:
    """A deployment name of the test's own (tests share one ZooKeeper)."""
    return root.lstrip("/")


@pytest.fixture
async def instances(store, request, tmp_path):
    """Two store handles on the same data, as two MME instances have: a second SQLite
    connection to the same file, a second ZooKeeper session; the one memory store twice."""
    match type(store).__name__:
        case "SqliteStore":
            other = await SqliteStore.open(tmp_path / "store.db")
        case "ZooKeeperStore":
            from epc.store.zookeeper import ZooKeeperStore

            other = await ZooKeeperStore.connect(request.getfixturevalue("zookeeper").hosts)
        case _:
            other = store
    yield [store, other]
    if other is not store:
        await other.close()
