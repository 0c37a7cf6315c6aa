"""The `epcctl subscriber` commands, each a coroutine on an open store that returns the text
to print. A failure the store's state decides (an IMSI already there or missing, a record
changed underneath) raises CommandError with one line naming the IMSI.

Import is built for provisioning thousands at once: one `children` call finds which IMSIs
exist already (so a clash is reported before anything is written), then the records go in
multi-ops of IMPORT_BATCH creates (or conditional puts, with --replace), a few round trips
per ten thousand subscribers rather than one each.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator, Sequence
from typing import TypeVar

import msgspec

from epc.store import Conflict, Create, NodeExists, NoNode, Op, Put, Store, VersionConflict
from epc.subscriber import (
    IND_BITS,
    IND_MASK,
    StoredSubscriber,
    Subscriber,
    encode_subscriber,
    read_subscriber,
    subscriber_path,
    subscribers_path,
)

IMPORT_BATCH = 200
"""Records per multi-op: ~30 KB, far below ZooKeeper's 1 MB request limit, and below the
ZooKeeper backend's own 256-op batches so each multi-op goes as one request."""
READ_BATCH = 500
"""Reads in flight at once when listing."""
REMOVE_TRIES = 10
"""A record's version moves when an MME issues an SQN; remove reads again this many times."""
MASK = "********"

T = TypeVar("T")


class CommandError(Exception):
    """The command could not be carried out against the store's current state."""


async def add(store: Store, deployment: str, subscriber: Subscriber) -> str:
    try:
        await store.create(
            subscriber_path(deployment, subscriber.imsi), encode_subscriber(subscriber)
        )
    except NodeExists:
        raise CommandError(_exists(subscriber.imsi, deployment) + "; remove it first") from None
    return f"added subscriber {subscriber.imsi}"


async def import_subscribers(
    store: Store, deployment: str, subscribers: Sequence[Subscriber], *, replace: bool
) -> str:
    """Create every record; with `replace`, overwrite those that exist, keeping the stored SQN
    when it is ahead of the file's (SQN never goes back, or every such UE would have to
    resynchronise)."""
    existing = set(await store.children(subscribers_path(deployment)))
    clashes = [s.imsi for s in subscribers if s.imsi in existing]
    if clashes and not replace:
        more = f" (and {len(clashes) - 1} more)" if len(clashes) > 1 else ""
        raise CommandError(
            f"{_exists(clashes[0], deployment)}{more}; nothing imported (--replace overwrites)"
        )
    stored = await _read_many(store, deployment, clashes)
    ops = [_write_op(deployment, s, stored.get(s.imsi)) for s in subscribers]
    written = 0
    for batch in _chunks(ops, IMPORT_BATCH):
        try:
            await store.multi(batch)
        except Conflict as conflict:
            imsi = conflict.path.rsplit("/", 1)[-1]
            raise CommandError(
                f"subscriber {imsi} changed while importing ({_describe(conflict)}); "
                f"{written} of {len(ops)} written, run the import again with --replace"
            ) from None
        written += len(batch)
    replaced = sum(isinstance(op, Put) for op in ops)
    return f"imported {len(ops)} subscribers ({len(ops) - replaced} new, {replaced} replaced)"


async def load_all(store: Store, deployment: str) -> list[Subscriber]:
    """Every record of the deployment, by IMSI."""
    imsis = await store.children(subscribers_path(deployment))
    stored = await _read_many(store, deployment, imsis)
    return [stored[imsi].subscriber for imsi in imsis if imsi in stored]


async def load_one(store: Store, deployment: str, imsi: str) -> Subscriber:
    stored = await read_subscriber(store, deployment, imsi)
    if stored is None:
        raise CommandError(f"no subscriber {imsi} in deployment {deployment!r}")
    return stored.subscriber


async def remove(store: Store, deployment: str, imsi: str) -> str:
    path = subscriber_path(deployment, imsi)
    for _ in range(REMOVE_TRIES):
        node = await store.get(path)
        if node is None:
            break
        try:
            await store.delete(path, node.version)
        except VersionConflict:
            continue  # an SQN was issued meanwhile; removal does not depend on it
        except NoNode:
            break
        return f"removed subscriber {imsi}"
    else:
        raise CommandError(f"subscriber {imsi} kept changing; not removed")
    raise CommandError(f"no subscriber {imsi} in deployment {deployment!r}")


# --- output --------------------------------------------------------------------------------


def table(subscribers: Sequence[Subscriber]) -> str:
    rows = [("IMSI", "APN", "QCI", "SQN")]
    rows += [(s.imsi, s.apn, str(s.qci), str(s.sqn)) for s in subscribers]
    widths = [max(len(row[column]) for row in rows) for column in range(4)]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


def as_dict(subscriber: Subscriber, *, secrets: bool) -> dict[str, object]:
    """The record with octet strings in hex; K and OPc only when `secrets`."""
    record = msgspec.structs.asdict(subscriber)
    for name in ("k", "opc", "amf"):
        record[name] = record[name].hex()
    if not secrets:
        del record["k"], record["opc"]
    return record


def as_json(value: object) -> str:
    return json.dumps(value, indent=2)


def details(subscriber: Subscriber, *, secrets: bool) -> str:
    """One `field  value` line per field, K and OPc masked unless `secrets`."""
    record = as_dict(subscriber, secrets=True)
    if not secrets:
        record["k"] = record["opc"] = f"{MASK} (--secrets shows it)"
    seq, ind = subscriber.sqn >> IND_BITS, subscriber.sqn & IND_MASK
    record["sqn"] = f"{subscriber.sqn} (SEQ {seq}, IND {ind}; the next one to issue)"
    width = max(map(len, record))
    return "\n".join(f"{name.ljust(width)}  {value}" for name, value in record.items())


# --- helpers -------------------------------------------------------------------------------


def _write_op(deployment: str, subscriber: Subscriber, stored: StoredSubscriber | None) -> Op:
    path = subscriber_path(deployment, subscriber.imsi)
    if stored is None:
        return Create(path, encode_subscriber(subscriber))
    sqn = max(subscriber.sqn, stored.subscriber.sqn)
    replacement = msgspec.structs.replace(subscriber, sqn=sqn)
    return Put(path, encode_subscriber(replacement), stored.version)


async def _read_many(
    store: Store, deployment: str, imsis: Sequence[str]
) -> dict[str, StoredSubscriber]:
    """The records of these IMSIs that exist, READ_BATCH reads in flight at a time."""
    found: dict[str, StoredSubscriber] = {}
    for chunk in _chunks(imsis, READ_BATCH):
        records = await asyncio.gather(*(read_subscriber(store, deployment, i) for i in chunk))
        found.update((i, r) for i, r in zip(chunk, records, strict=True) if r is not None)
    return found


def _chunks(items: Sequence[T], size: int) -> Iterator[list[T]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])


def _exists(imsi: str, deployment: str) -> str:
    return f"subscriber {imsi} already exists in deployment {deployment!r}"


def _describe(conflict: Conflict) -> str:
    match conflict:
        case NodeExists():
            return "created by someone else"
        case NoNode():
            return "removed by someone else"
    return "updated by someone else"
