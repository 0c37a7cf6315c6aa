"""TEIDs and UE IPv4 addresses: unique across every gateway instance of a deployment, and the
same values for every run of the same request, wherever it runs.

Owns the index nodes that say who holds a value:

    /<deployment>/index/teid/<teid>     8 hex digits; value: the holder's context path
    /<deployment>/index/ip/<ipv4>       dotted quad;  value: the holder's context path

It follows the MME's identifiers (`epc.mme.identifiers`): a value is taken by a `Create` of its
index node in the multi-op that writes the context recording it (Algorithm 1, step 5), so a
collision fails that multi-op with NodeExists and nothing leaks when an instance dies before
its write; release is a `Delete` in the multi-op that drops it from the context.

One thing differs, because a gateway sends what it draws before it commits: the SGW puts its
S5-U TEIDs into the Create Session Request it sends the PGW, and the PGW records them in its
own context. If the SGW instance dies before its write, the retried request (same request ID,
perhaps at another instance) must offer the PGW the same TEIDs, or the PGW's recorded reply and
forwarding state would point at TEIDs nobody holds. So candidates are not random draws but a
deterministic sequence derived from (context path, request ID, purpose) (`Draws`), and a step
takes the first candidate whose index node is absent when it reads it. Every run of the request
then picks the same value, unless another context took that very value in between (one
chance in 2^32 per value held, in the time between the crash and the retry); that run then
picks the next candidate, and the commit fails with NodeExists if a race was lost.

The candidates do not reveal anything worth hiding: TEIDs and UE addresses are visible on the
wire anyway (unlike the M-TMSI).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network
from itertools import islice

from epc.store import Create, Delete, Op, Store

TEID_INDEX = "teid"
IP_INDEX = "ip"
TEID_MAX = (1 << 32) - 1
"""TS 29.274 clause 8.22: 32 bits. TEID 0 is never allocated: it means "no tunnel yet" in a
GTPv2-C header (clause 5.5.2) and is reserved in GTP-U (TS 29.281 clause 5.1)."""
PROBES = 32
"""Candidates read before a TEID claim gives up, or an address claim scans its pool."""


class ClaimError(Exception):
    """No value could be found: the pool (or, absurdly, the TEID space) is full."""


def teid_index_path(deployment: str, teid: int) -> str:
    if not 0 < teid <= TEID_MAX:
        raise ValueError(f"TEID {teid} outside 1..{TEID_MAX}")
    return f"/{deployment}/index/{TEID_INDEX}/{teid:08x}"


def ip_index_path(deployment: str, address: IPv4Address | str) -> str:
    return f"/{deployment}/index/{IP_INDEX}/{IPv4Address(address)}"


@dataclass(frozen=True, slots=True)
class Claim:
    """A value for the context, and the op that takes it (none when the context holds it)."""

    value: int
    ops: tuple[Op, ...] = ()


class Draws:
    """The candidate values of one request: the same (context path, request ID) gives the
    same sequences at every instance and in every run."""

    def __init__(self, context_path: str, request_id: tuple[int, ...]) -> None:
        self._seed = f"{context_path}|{'.'.join(map(str, request_id))}".encode()

    def sequence(self, purpose: str, bits: int = 32) -> Iterator[int]:
        """Endless candidates for `purpose` (e.g. "s5u.5": the S5-U TEID of bearer 5)."""
        counter = 0
        while True:
            digest = hashlib.blake2b(
                self._seed + f"|{purpose}|{counter}".encode(), digest_size=8
            ).digest()
            yield int.from_bytes(digest, "big") >> (64 - bits)
            counter += 1


class Claims:
    """Claims values of one deployment. It only reads the store: what a step gets are values
    and ops for its multi-op (`for_request`)."""

    def __init__(self, store: Store, deployment: str) -> None:
        self._store = store
        self._deployment = deployment

    def for_request(self, holder: str, draws: Draws) -> RequestClaims:
        """Claims for one run of a step on the context at `holder`."""
        return RequestClaims(self._store, self._deployment, holder, draws)

    async def holder_of_teid(self, teid: int) -> str | None:
        """The context path holding `teid`, or None."""
        if not 0 < teid <= TEID_MAX:
            return None
        node = await self._store.get(teid_index_path(self._deployment, teid))
        return None if node is None else node.value.decode()


class RequestClaims:
    """The values one run of a step claims; never the same value twice within the run."""

    def __init__(self, store: Store, deployment: str, holder: str, draws: Draws) -> None:
        self._store = store
        self.deployment = deployment
        self._holder = holder.encode()
        self._draws = draws
        self._taken: set[str] = set()

    @property
    def draws(self) -> Draws:
        """The request's candidate sequences, for other values that must not change between
        runs (charging IDs)."""
        return self._draws

    def release_teid(self, teid: int) -> Delete:
        """The op freeing a TEID; commit it in the multi-op that drops it from the context."""
        return Delete(teid_index_path(self.deployment, teid), version=0)

    def release_ipv4(self, address: int | str | IPv4Address) -> Delete:
        return Delete(ip_index_path(self.deployment, IPv4Address(address)), version=0)

    async def teid(self, purpose: str) -> Claim:
        """A TEID that no context holds right now."""
        candidates = (teid for teid in self._draws.sequence(purpose) if teid != 0)
        for teid in islice(candidates, PROBES):
            claim = await self._try(teid_index_path(self.deployment, teid), teid)
            if claim is not None:
                return claim
        raise ClaimError(f"{PROBES} TEID candidates in a row are taken")

    async def ipv4(self, purpose: str, pool: IPv4Network, reserved: frozenset) -> Claim:
        """An address of `pool` (not its network or broadcast address, nor `reserved`) that no
        context holds; ClaimError when the pool is full."""
        first, size = int(pool.network_address) + 1, max(pool.num_addresses - 2, 1)
        offsets = (offset % size for offset in self._draws.sequence(purpose, bits=64))
        for offset in islice(offsets, PROBES):
            address = IPv4Address(first + offset)
            if address not in reserved:
                claim = await self._try(ip_index_path(self.deployment, address), int(address))
                if claim is not None:
                    return claim
        return await self._scan_pool(pool, reserved)

    async def _try(self, path: str, value: int) -> Claim | None:
        if path in self._taken or await self._store.get(path) is not None:
            return None
        self._taken.add(path)
        return Claim(value, (Create(path, self._holder),))

    async def _scan_pool(self, pool: IPv4Network, reserved: frozenset) -> Claim:
        """The slow path for a nearly full pool: list what is held, take the lowest free one."""
        held = {
            IPv4Address(name)
            for name in await self._store.children(f"/{self.deployment}/index/{IP_INDEX}")
        }
        for address in pool.hosts():
            path = ip_index_path(self.deployment, address)
            if address not in held and address not in reserved and path not in self._taken:
                self._taken.add(path)
                return Claim(int(address), (Create(path, self._holder),))
        raise ClaimError(f"every address of {pool} is held")
