"""Session store figures: compare-and-set latency on ZooKeeper and SQLite, and ZooKeeper's
conditional-write throughput with 64 concurrent UEs in one process.

The ZooKeeper is the tests' own harness: a real 1-node server from the Debian jars, with fsync
on, in a temporary directory.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from epc.store import Store
from epc.store.sqlite import SqliteStore
from epc.store.zookeeper import ZooKeeperStore

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from harness.zookeeper import running_standalone

CONTEXT = os.urandom(2048)
CAS_ROUNDS = 500
CONCURRENT_UES = 64
THROUGHPUT_SECONDS = 3.0
THROUGHPUT_RUNS = 3


async def run() -> dict[str, dict]:
    figures = {}
    with tempfile.TemporaryDirectory(prefix="bench-store-") as directory:
        sqlite = await SqliteStore.open(Path(directory) / "store.db")
        figures["store_cas_ms_p50_sqlite"] = _figure(
            await _cas_p50_ms(sqlite),
            "ms",
            f"get + conditional put of 2 KB, fsync on, {CAS_ROUNDS} rounds",
        )
        await sqlite.close()
        with running_standalone(Path(directory) / "zookeeper") as server:
            zookeeper = await ZooKeeperStore.connect(server.hosts)
            figures["store_cas_ms_p50_zookeeper"] = _figure(
                await _cas_p50_ms(zookeeper),
                "ms",
                f"get + conditional put of 2 KB, 1-node ZooKeeper, {CAS_ROUNDS} rounds",
            )
            # The first run warms the JVM's JIT up and is not counted.
            runs = [
                await _conditional_writes_per_s(zookeeper, run)
                for run in range(THROUGHPUT_RUNS + 1)
            ][1:]
            figures["store_ops_per_s_zookeeper"] = _figure(
                statistics.median(runs),
                "1/s",
                f"conditional puts of 2 KB, {CONCURRENT_UES} concurrent UEs, one process, "
                f"median of {THROUGHPUT_RUNS} x {THROUGHPUT_SECONDS:.0f} s",
            )
            await zookeeper.close()
    return figures


async def _cas_p50_ms(store: Store) -> float:
    path = "/bench/cas/ue"
    await store.create(path, CONTEXT)
    samples = []
    for _ in range(CAS_ROUNDS):
        started = time.perf_counter()
        current = await store.get(path)
        await store.put(path, CONTEXT, current.version)
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


async def _conditional_writes_per_s(store: Store, run: int) -> float:
    deadline = time.perf_counter() + THROUGHPUT_SECONDS
    counts = []

    async def ue(index: int) -> None:
        path = f"/bench/throughput{run}/ue{index}"
        version = await store.create(path, CONTEXT)
        writes = 0
        while time.perf_counter() < deadline:
            version = await store.put(path, CONTEXT, version)
            writes += 1
        counts.append(writes)

    started = time.perf_counter()
    await asyncio.gather(*(ue(index) for index in range(CONCURRENT_UES)))
    return sum(counts) / (time.perf_counter() - started)


def _figure(value: float, unit: str, detail: str) -> dict:
    return {"value": round(value, 3), "unit": unit, "detail": detail}
