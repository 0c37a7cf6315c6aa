"""MME-UE-S1AP-IDs and M-TMSIs: unique across every MME instance of a deployment, allocated
idempotently from inside an Algorithm 1 step.

The MME-UE-S1AP-ID names a UE's S1 connection on the MME side (TS 36.413 9.2.3.3, 32 bits);
the M-TMSI is the part of the GUTI the MME picks (TS 23.003 2.8, 32 bits, after the 8-bit MME
code). All instances of a deployment are one MME to the eNBs, so each value may be held by
one UE at a time across all of them.

Owns the index nodes that record who holds a value:

    /<deployment>/index/s1ap/<mme_ue_s1ap_id>   decimal, as Wireshark shows it
    /<deployment>/index/guti/<m_tmsi>           8 hex digits, as Wireshark shows it

each holding the owner's context key (the IMSI), so a message naming only the identifier
finds its UE context.

How a value is taken: a step draws a random candidate and returns a `Create` of its index
node among the ops that commit in the same multi-op as the UE context (Algorithm 1, step 5).

- Unique under concurrency: the `Create` fails with NodeExists if any instance holds the
  value, and then nothing of that attempt is written; Algorithm 1 backs off and runs the step
  again, which draws again (`is_collision` tells that case from a lost context race).
- Nothing leaks on a crash: the index node and the context that records the value commit
  together or not at all, so an instance that dies after drawing has taken nothing, and a
  committed value is in the context for whichever instance runs the next step.
- Idempotent: a retried request whose attempt committed gets its recorded reply back from
  Algorithm 1 with the same IDs; a later step finds the value in the context and passes it
  as `recorded`, which reuses it with no op. An attempt that did not commit sent nothing that
  carries its draw (replies go out only after the write), so drawing again is invisible.
- Released by `Delete` ops in the multi-op that drops the value from the context (S1 release,
  detach, GUTI reallocation once the UE has the new GUTI), so a value is free again exactly
  when no context holds it.

Candidates come from the OS's random source by default: an M-TMSI must not be guessable from
the IMSI or the time (it is what hides the IMSI on the air). With 2^32 values and a million
UEs a draw collides one time in four thousand, which costs one back-off.

    def step(state, effects):
        ids = allocator.mme_ue_s1ap_id(imsi, state.mme_ue_s1ap_id if state else None)
        ...
        return StepResult(replace(state, mme_ue_s1ap_id=ids.value), reply, ops=ids.ops)
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from epc.store import Conflict, Create, Delete, NodeExists, Op, Store

MME_UE_S1AP_ID_MAX = (1 << 32) - 1
"""TS 36.413 9.2.3.3: INTEGER (0..2^32-1); every value may be used."""
M_TMSI_MAX = (1 << 32) - 1
"""TS 23.003 2.8: 32 bits."""
M_TMSI_RESERVED = 0xFFFFFFFF
"""Never allocated: as for the TMSI (TS 23.003 2.4), all ones is what a SIM stores to mean
"no valid identity"."""

S1AP_INDEX = "s1ap"
GUTI_INDEX = "guti"


class IdentifierError(ValueError):
    """An identifier outside its range."""


def s1ap_index_path(deployment: str, mme_ue_s1ap_id: int) -> str:
    _check_range("MME-UE-S1AP-ID", mme_ue_s1ap_id, MME_UE_S1AP_ID_MAX)
    return f"/{deployment}/index/{S1AP_INDEX}/{mme_ue_s1ap_id}"


def guti_index_path(deployment: str, m_tmsi: int) -> str:
    _check_range("M-TMSI", m_tmsi, M_TMSI_MAX)
    return f"/{deployment}/index/{GUTI_INDEX}/{m_tmsi:08x}"


@dataclass(frozen=True, slots=True)
class Allocation:
    """An identifier for the context, and the ops that must commit with it: the `Create` of
    its index node for a new value, none when the context already recorded it."""

    value: int
    ops: tuple[Op, ...] = ()


@dataclass(frozen=True)
class IdentifierAllocator:
    """Draws identifiers for one deployment. Pure: it returns values and store ops and never
    touches the store, so a step stays a function of the context it read."""

    deployment: str
    rng: random.Random = field(default_factory=random.SystemRandom)

    def mme_ue_s1ap_id(self, owner: str, recorded: int | None) -> Allocation:
        """The MME-UE-S1AP-ID for `owner`'s S1 connection: `recorded` (the value the context
        holds) if there is one, else a fresh draw with the Create of its index node."""
        if recorded is not None:
            return Allocation(recorded)
        value = self.rng.getrandbits(32)
        return Allocation(value, (Create(s1ap_index_path(self.deployment, value), owner.encode()),))

    def m_tmsi(self, owner: str, recorded: int | None) -> Allocation:
        """The M-TMSI of `owner`'s GUTI, as `mme_ue_s1ap_id` does it. For GUTI reallocation
        pass `recorded=None` and keep the old value (and its index node) until the UE has
        acknowledged the new GUTI (TS 24.301 5.4.1), then release it."""
        if recorded is not None:
            return Allocation(recorded)
        value = self.rng.getrandbits(32)
        while value == M_TMSI_RESERVED:
            value = self.rng.getrandbits(32)
        return Allocation(value, (Create(guti_index_path(self.deployment, value), owner.encode()),))

    def release_mme_ue_s1ap_id(self, mme_ue_s1ap_id: int) -> Delete:
        """The op freeing the value; commit it in the multi-op that drops it from the context."""
        return Delete(s1ap_index_path(self.deployment, mme_ue_s1ap_id), version=0)

    def release_m_tmsi(self, m_tmsi: int) -> Delete:
        """The op freeing the value; commit it in the multi-op that drops it from the context."""
        return Delete(guti_index_path(self.deployment, m_tmsi), version=0)


def is_collision(conflict: Conflict) -> bool:
    """Whether a failed multi-op failed because a drawn identifier is held already (Algorithm 1
    abandons the attempt either way; this is for the log line and the collision counter)."""
    return isinstance(conflict, NodeExists) and any(
        f"/index/{kind}/" in conflict.path for kind in (S1AP_INDEX, GUTI_INDEX)
    )


async def owner_of_mme_ue_s1ap_id(store: Store, deployment: str, mme_ue_s1ap_id: int) -> str | None:
    """The context key (IMSI) holding this MME-UE-S1AP-ID, or None when nobody does."""
    return await _owner(store, s1ap_index_path(deployment, mme_ue_s1ap_id))


async def owner_of_m_tmsi(store: Store, deployment: str, m_tmsi: int) -> str | None:
    """The context key (IMSI) holding this M-TMSI (a GUTI of this MME), or None."""
    return await _owner(store, guti_index_path(deployment, m_tmsi))


async def _owner(store: Store, path: str) -> str | None:
    node = await store.get(path)
    return None if node is None else node.value.decode()


def _check_range(name: str, value: int, maximum: int) -> None:
    if not 0 <= value <= maximum:
        raise IdentifierError(f"{name} {value} outside 0..{maximum}")
