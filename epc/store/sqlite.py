"""The embedded single-host store: one SQLite file shared safely by several processes.

WAL mode lets readers run beside a writer; every write runs in a `BEGIN IMMEDIATE`
transaction, so the version check and the update happen under SQLite's write lock and two
processes can never both win a conditional write. sqlite3 blocks, so each store owns one
thread that runs whole transactions; the event loop only awaits their results. (aiosqlite
wraps single statements, which would let concurrent tasks interleave inside one transaction.)
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Literal, TypeVar

from epc.store import CommittingStore, Op, StoreUnavailable, Versioned
from epc.store.local import apply_ops

_T = TypeVar("_T")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS nodes (
    path TEXT PRIMARY KEY,
    parent TEXT NOT NULL,
    value BLOB NOT NULL,
    version INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS nodes_by_parent ON nodes (parent, path);
"""

# How long a writer waits for another process's write lock before the store reports
# itself unavailable. Transactions here are a handful of rows, so a wait this long means
# a stuck process, not contention.
_BUSY_TIMEOUT_MS = 5000


class SqliteStore(CommittingStore):
    def __init__(self, connection: sqlite3.Connection, executor: ThreadPoolExecutor) -> None:
        self._connection = connection
        self._executor = executor
        self._closed = False

    @classmethod
    async def open(
        cls, path: str | Path, *, synchronous: Literal["full", "normal"] = "full"
    ) -> SqliteStore:
        """Open (creating if needed) the store file. `synchronous = "full"` fsyncs every
        commit, surviving power loss; "normal" survives process crashes only."""
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-store")

        def connect() -> sqlite3.Connection:
            connection = sqlite3.connect(
                str(path),
                isolation_level=None,
                check_same_thread=False,
                timeout=_BUSY_TIMEOUT_MS / 1000,
            )
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute(f"PRAGMA synchronous={synchronous.upper()}")
            connection.executescript(_SCHEMA)
            return connection

        loop = asyncio.get_running_loop()
        try:
            connection = await loop.run_in_executor(executor, connect)
        except sqlite3.Error as error:
            executor.shutdown(wait=False)
            raise StoreUnavailable(f"cannot open SQLite store {path}: {error}") from error
        return cls(connection, executor)

    async def get(self, path: str) -> Versioned | None:
        return await self._run(lambda: _SqlNodes(self._connection).read(path))

    async def children(self, path: str) -> list[str]:
        def query() -> list[str]:
            rows = self._connection.execute(
                "SELECT path FROM nodes WHERE parent = ? ORDER BY path", (path,)
            ).fetchall()
            return [row[0][len(path) + 1 :] for row in rows]

        return await self._run(query)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await asyncio.get_running_loop().run_in_executor(self._executor, self._connection.close)
        self._executor.shutdown(wait=True)

    async def _commit(self, ops: list[Op], *, indexed: bool) -> list[int | None]:
        def transaction() -> list[int | None]:
            self._connection.execute("BEGIN IMMEDIATE")
            try:
                results = apply_ops(_SqlNodes(self._connection), ops, indexed=indexed)
            except BaseException:
                self._connection.execute("ROLLBACK")
                raise
            self._connection.execute("COMMIT")
            return results

        return await self._run(transaction)

    async def _run(self, work: Callable[[], _T]) -> _T:
        if self._closed:
            raise StoreUnavailable("SQLite store is closed")
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, work)
        except sqlite3.Error as error:
            raise StoreUnavailable(f"SQLite store: {error}") from error


class _SqlNodes:
    """The node table as seen inside one transaction on the store's thread."""

    def __init__(self, connection: sqlite3.Connection) -> None:
        self._connection = connection

    def read(self, path: str) -> Versioned | None:
        row = self._connection.execute(
            "SELECT value, version FROM nodes WHERE path = ?", (path,)
        ).fetchone()
        return Versioned(bytes(row[0]), row[1]) if row else None

    def write(self, path: str, node: Versioned) -> None:
        self._connection.execute(
            "INSERT INTO nodes (path, parent, value, version) VALUES (?, ?, ?, ?)"
            " ON CONFLICT (path) DO UPDATE SET value = excluded.value, version = excluded.version",
            (path, path.rsplit("/", 1)[0], node.value, node.version),
        )

    def remove(self, path: str) -> None:
        self._connection.execute("DELETE FROM nodes WHERE path = ?", (path,))

    def has_children(self, path: str) -> bool:
        row = self._connection.execute("SELECT 1 FROM nodes WHERE parent = ? LIMIT 1", (path,))
        return row.fetchone() is not None
