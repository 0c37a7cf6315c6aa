import uuid

import pytest

from epc.store.memory import MemoryStore

pytest_plugins = ["harness.zookeeper"]


@pytest.fixture
def root() -> str:
    """A path prefix of the test's own, so tests sharing one ZooKeeper never see each other."""
    return f"/test-{uuid.uuid4().hex[:12]}"


@pytest.fixture(params=["memory", "sqlite", "zookeeper"])
async def store(request, tmp_path):
    """Each store backend in turn; the conformance suite runs unchanged against all three."""
    match request.param:
        case "memory":
            backend = MemoryStore()
        case "sqlite":
            from epc.store.sqlite import SqliteStore

            backend = await SqliteStore.open(tmp_path / "store.db")
        case "zookeeper":
            from epc.store.zookeeper import ZooKeeperStore

            server = request.getfixturevalue("zookeeper")
            backend = await ZooKeeperStore.connect(server.hosts)
    yield backend
    await backend.close()
