"""In-memory store for unit tests of sans-I/O cores: same semantics, no persistence."""

from __future__ import annotations

from epc.store import CommittingStore, Op, StoreUnavailable, Versioned
from epc.store.local import apply_ops


class MemoryStore(CommittingStore):
    def __init__(self) -> None:
        self._nodes: dict[str, Versioned] = {}
        self._closed = False

    async def get(self, path: str) -> Versioned | None:
        self._check_open()
        return self._nodes.get(path)

    async def children(self, path: str) -> list[str]:
        self._check_open()
        prefix = path + "/"
        return sorted(
            p[len(prefix) :]
            for p in self._nodes
            if p.startswith(prefix) and "/" not in p[len(prefix) :]
        )

    async def close(self) -> None:
        self._closed = True

    async def _commit(self, ops: list[Op], *, indexed: bool) -> list[int | None]:
        self._check_open()
        staged = _Staged(self._nodes)
        results = apply_ops(staged, ops, indexed=indexed)
        staged.merge()
        return results

    def _check_open(self) -> None:
        if self._closed:
            raise StoreUnavailable("memory store is closed")


class _Staged:
    """Changes on top of the committed nodes, merged only when every op succeeded."""

    def __init__(self, nodes: dict[str, Versioned]) -> None:
        self._nodes = nodes
        self._changes: dict[str, Versioned | None] = {}

    def read(self, path: str) -> Versioned | None:
        if path in self._changes:
            return self._changes[path]
        return self._nodes.get(path)

    def write(self, path: str, node: Versioned) -> None:
        self._changes[path] = node

    def remove(self, path: str) -> None:
        self._changes[path] = None

    def has_children(self, path: str) -> bool:
        prefix = path + "/"
        return any(
            p.startswith(prefix) and self.read(p) is not None
            for p in (*self._nodes, *self._changes)
        )

    def merge(self) -> None:
        for path, node in self._changes.items():
            if node is None:
                self._nodes.pop(path, None)
            else:
                self._nodes[path] = node
