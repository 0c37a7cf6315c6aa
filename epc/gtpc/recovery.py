"""The node's own restart counter (TS 23.007 clause 18: the local Restart counter, kept in
non-volatile memory), in the store at `/<deployment>/gtpc/recovery/<node name>`.

Each start advances it by one (modulo 256, clause 8.5 of TS 29.274) with a conditional write,
so two processes started with the same node name by mistake still get different values. It is
what the node's Echo Requests and Responses carry.

A store that lost the counter (a new deployment) starts again at 0; peers that remember a value
from 129 to 255 then read 0 as newer, others as an old message. That is the best an 8-bit
counter with roll-over can say.
"""

from __future__ import annotations

from epc.gtpc.transactions import RECOVERY_MODULUS
from epc.store import Conflict, Store


def recovery_path(deployment: str, node_name: str) -> str:
    return f"/{deployment}/gtpc/recovery/{node_name}"


async def advance_recovery(store: Store, deployment: str, node_name: str) -> int:
    """The counter for this start: the stored value + 1, written back; 0 the first time."""
    path = recovery_path(deployment, node_name)
    while True:
        current = await store.get(path)
        try:
            if current is None:
                await store.create(path, b"0")
                return 0
            value = (int(current.value or b"0") + 1) % RECOVERY_MODULUS
            await store.put(path, str(value).encode(), current.version)
            return value
        except Conflict:
            continue  # another start with the same name won the write: read it again
