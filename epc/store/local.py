"""Op semantics for the stores that apply operations themselves (memory and SQLite).

ZooKeeper checks versions on the server; the local stores check them here, against a small
node-table interface each backend implements, so both agree with ZooKeeper by construction.
"""

from __future__ import annotations

from typing import Protocol

from epc.store import (
    Check,
    Create,
    Delete,
    NodeExists,
    NoNode,
    NotEmpty,
    Op,
    Put,
    VersionConflict,
    Versioned,
    parent_paths,
    validate_path,
)


class NodeTable(Protocol):
    def read(self, path: str) -> Versioned | None: ...

    def write(self, path: str, node: Versioned) -> None: ...

    def remove(self, path: str) -> None: ...

    def has_children(self, path: str) -> bool: ...


def apply_ops(table: NodeTable, ops: list[Op], *, indexed: bool) -> list[int | None]:
    """Apply `ops` in order; the caller discards the table's changes if this raises."""
    return [_apply(table, op, index if indexed else None) for index, op in enumerate(ops)]


def _apply(table: NodeTable, op: Op, index: int | None) -> int | None:
    validate_path(op.path)
    current = table.read(op.path)
    if isinstance(op, Create):
        if current is not None:
            raise NodeExists(op.path, "node already exists", index)
        for parent in parent_paths(op.path):
            if table.read(parent) is None:
                table.write(parent, Versioned(b"", 0))
        table.write(op.path, Versioned(op.value, 0))
        return 0
    if current is None:
        raise NoNode(op.path, "node does not exist", index)
    if current.version != op.version:
        raise VersionConflict(
            op.path, f"version is {current.version}, expected {op.version}", index
        )
    match op:
        case Put(path, value, version):
            table.write(path, Versioned(value, version + 1))
            return version + 1
        case Delete(path, _):
            if table.has_children(path):
                raise NotEmpty(path, "node has children", index)
            table.remove(path)
        case Check():
            pass
    return None
