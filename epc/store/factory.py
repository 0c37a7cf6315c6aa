"""Opens the store backend a daemon's `[store]` config names.

Backends are imported only when chosen, so a board running the SQLite store never loads kazoo.
"""

from __future__ import annotations

from epc.daemon.config import StoreConfig
from epc.store import Store
from epc.store.retry import RetryPolicy


async def open_store(config: StoreConfig, retry: RetryPolicy) -> Store:
    match config.backend:
        case "sqlite":
            from epc.store.sqlite import SqliteStore

            return await SqliteStore.open(config.sqlite.path, synchronous=config.sqlite.synchronous)
        case "zookeeper":
            from epc.store.zookeeper import ZooKeeperStore

            return await ZooKeeperStore.connect(
                ",".join(config.zookeeper.hosts),
                session_timeout_s=config.zookeeper.session_timeout_s,
                retry=retry,
            )
    raise ValueError(f"unknown store backend {config.backend!r}")
