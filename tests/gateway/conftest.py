"""Fixtures of the gateway tests: the in-process core of gateway_testbed.py on a memory store,
or on each store backend."""

from __future__ import annotations

import pytest
from gateway_testbed import start_core

from epc.store.memory import MemoryStore


@pytest.fixture
def deployment(root) -> str:
    return root.lstrip("/")


@pytest.fixture
async def core(deployment):
    store = MemoryStore()
    testbed = await start_core(store, deployment)
    yield testbed
    await testbed.close()
    await store.close()


@pytest.fixture
async def core_on_every_store(store, deployment):
    """The same core on each store backend (memory, SQLite, a real ZooKeeper)."""
    testbed = await start_core(store, deployment)
    yield testbed
    await testbed.close()
