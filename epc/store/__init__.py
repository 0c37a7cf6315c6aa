"""The versioned session store every frontend keeps its per-UE contexts in.

One async interface, three backends: ZooKeeper (replicated, through kazoo), SQLite (the
embedded single-host default) and memory (unit tests only). Paths look like ZooKeeper paths
(`/<deployment>/ue/<imsi>`); every node has a value and a version that starts at 0 on create
and grows by one on each put, so a read followed by a put conditional on the version read is
an atomic compare-and-set (Algorithm 1, step 5 of ../shared/DESIGN.md section 3).

Creating a node creates its missing parents with empty values, as ZooKeeper's `makepath`
does, so the three backends agree on what `get` and `children` see.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


class StoreError(Exception):
    """Base of every error the store raises."""


class StoreUnavailable(StoreError):
    """The store could not be reached within the retry policy; the operation did not happen
    or its outcome could not be established, and the caller must treat it as failed."""


class Conflict(StoreError):
    """A condition on the store's state did not hold; nothing was changed."""

    def __init__(self, path: str, detail: str, op_index: int | None = None) -> None:
        where = f" (operation {op_index} of a multi-op)" if op_index is not None else ""
        super().__init__(f"{path}: {detail}{where}")
        self.path = path
        self.op_index = op_index


class VersionConflict(Conflict):
    """The node's version moved away from the expected one: another writer won."""


class NodeExists(Conflict):
    """Create of a node that is already there."""


class NoNode(Conflict):
    """A conditional operation on a node that is not there."""


class NotEmpty(Conflict):
    """Delete of a node that still has children."""


@dataclass(frozen=True, slots=True)
class Versioned:
    value: bytes
    version: int


@dataclass(frozen=True, slots=True)
class Check:
    """Multi-op condition: the node exists at exactly this version."""

    path: str
    version: int


@dataclass(frozen=True, slots=True)
class Create:
    path: str
    value: bytes


@dataclass(frozen=True, slots=True)
class Put:
    """Overwrite conditional on the version; the node's version becomes `version + 1`."""

    path: str
    value: bytes
    version: int


@dataclass(frozen=True, slots=True)
class Delete:
    path: str
    version: int


Op = Check | Create | Put | Delete


class Store(Protocol):
    async def get(self, path: str) -> Versioned | None:
        """The node's value and version, or None when it does not exist."""

    async def create(self, path: str, value: bytes) -> int:
        """Create the node (and missing parents); returns its version (0). NodeExists if there."""

    async def put(self, path: str, value: bytes, version: int) -> int:
        """Conditional overwrite; returns the new version. VersionConflict or NoNode."""

    async def delete(self, path: str, version: int) -> None:
        """Conditional delete. VersionConflict, NoNode or NotEmpty."""

    async def children(self, path: str) -> list[str]:
        """Names (not paths) of the node's children, sorted; [] when it has none or is absent."""

    async def multi(self, ops: list[Op]) -> list[int | None]:
        """Apply every op or none. Returns, per op, the resulting version (None for Check
        and Delete). The first op whose condition fails raises its Conflict with op_index."""

    async def close(self) -> None:
        """Release the connection or file; further operations fail."""


class CommittingStore:
    """The write half of the Store protocol on top of one `_commit(ops, indexed=...)` that
    every backend implements: single writes are one-op commits whose Conflict carries no op
    index, `multi` is an indexed commit."""

    async def _commit(self, ops: list[Op], *, indexed: bool) -> list[int | None]:
        raise NotImplementedError

    async def create(self, path: str, value: bytes) -> int:
        (version,) = await self._commit([Create(path, value)], indexed=False)
        return version

    async def put(self, path: str, value: bytes, version: int) -> int:
        (new_version,) = await self._commit([Put(path, value, version)], indexed=False)
        return new_version

    async def delete(self, path: str, version: int) -> None:
        await self._commit([Delete(path, version)], indexed=False)

    async def multi(self, ops: list[Op]) -> list[int | None]:
        return await self._commit(list(ops), indexed=True)


def parent_paths(path: str) -> list[str]:
    """The proper ancestors of `path`, outermost first: `/a/b/c` -> `/a`, `/a/b`."""
    parts = path.strip("/").split("/")
    return ["/" + "/".join(parts[:i]) for i in range(1, len(parts))]


def validate_path(path: str) -> None:
    if not path.startswith("/") or path.endswith("/") or "//" in path or path == "/":
        raise ValueError(f"store path must be absolute with no empty segment: {path!r}")
