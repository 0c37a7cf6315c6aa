"""Shared fixtures, and where the SCTP tier runs.

Tests marked `sctp` need kernel SCTP, which the build hosts lack. They run inside a virtme-ng
VM booted by tests/run_in_vm.sh (`make test-sctp`). On a host without kernel SCTP a plain
`pytest` deselects them and says so in one line, rather than failing on a missing kernel
feature or skipping them quietly.
"""

import uuid

import pytest

from epc.sctp import kernel_has_sctp
from epc.store.memory import MemoryStore

pytest_plugins = ["harness.zookeeper"]

_DESELECTED_KEY = pytest.StashKey[int]()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if kernel_has_sctp():
        return
    sctp_items = [item for item in items if item.get_closest_marker("sctp")]
    if not sctp_items:
        return
    items[:] = [item for item in items if not item.get_closest_marker("sctp")]
    config.hook.pytest_deselected(items=sctp_items)
    config.stash[_DESELECTED_KEY] = len(sctp_items)


def pytest_terminal_summary(terminalreporter, config: pytest.Config) -> None:
    count = config.stash.get(_DESELECTED_KEY, 0)
    if count:
        terminalreporter.write_line(
            f"{count} sctp tests deselected on this host: no kernel SCTP; "
            "they run in the VM tier (make test-sctp)",
            yellow=True,
        )


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
