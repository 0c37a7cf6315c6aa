"""What only the SQLite backend promises: several processes share one file safely."""

import asyncio
import sys

import pytest

from epc.store import Versioned
from epc.store.sqlite import SqliteStore

pytestmark = pytest.mark.store

INCREMENTER = """
import asyncio, sys
from epc.store import VersionConflict
from epc.store.sqlite import SqliteStore

async def main(path, count):
    store = await SqliteStore.open(path)
    done = 0
    while done < count:
        current = await store.get("/d/counter")
        try:
            await store.put("/d/counter", b"%d" % (int(current.value) + 1), current.version)
            done += 1
        except VersionConflict:
            pass
    await store.close()

asyncio.run(main(sys.argv[1], int(sys.argv[2])))
"""


async def test_processes_sharing_one_file_lose_no_conditional_write(tmp_path):
    path = tmp_path / "store.db"
    store = await SqliteStore.open(path)
    await store.create("/d/counter", b"0")
    processes = [
        await asyncio.create_subprocess_exec(sys.executable, "-c", INCREMENTER, str(path), "150")
        for _ in range(4)
    ]
    assert [await p.wait() for p in processes] == [0, 0, 0, 0]
    assert await store.get("/d/counter") == Versioned(b"600", 600)
    await store.close()


async def test_committed_data_survives_reopening(tmp_path):
    store = await SqliteStore.open(tmp_path / "store.db")
    await store.create("/d/ue/1", b"context")
    await store.close()
    reopened = await SqliteStore.open(tmp_path / "store.db")
    assert await reopened.get("/d/ue/1") == Versioned(b"context", 0)
    await reopened.close()
