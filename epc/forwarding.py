"""The forwarding state: what the control frontends (SGW, PGW) tell the user plane, through the
store, so it can install every bearer's rules and rebuild them after a restart.

One record per bearer and gateway, MessagePack (msgspec), at

    /<deployment>/forwarding/sgw/<imsi>-<ebi>
    /<deployment>/forwarding/pgw/<imsi>-<ebi>

written (Create, Put, Delete) only by the multi-op that writes the UE's context, so a record
exists exactly while the committed context has the bearer, and says what the context says.
Its version is the number of Puts since the Create; the context keeps it so the next write can
be conditional.

What a record means for the user plane (direction "uplink" is UE -> internet):

    SGW  uplink_teid    S1-U SGW TEID: G-PDUs from the eNB arriving here ...
         uplink_peer    ... go out to the PGW's S5-U F-TEID
         downlink_teid  S5-U SGW TEID: G-PDUs from the PGW arriving here ...
         downlink_peer  ... go out to the eNB's S1-U F-TEID; None while the UE is idle (S1-U
                        released): buffer them and ask the control plane to page the UE
                        (`epc.sgw.service.SgwService.downlink_data`)
    PGW  uplink_teid    S5-U PGW TEID: G-PDUs from the SGW arriving here are decapsulated to
                        SGi (the TUN device); uplink_peer is None
         downlink_teid  None: downlink comes from SGi, matched by `ue_ipv4` and, for a
                        dedicated bearer, its `packet_filters` (default bearer: everything else)
         downlink_peer  the SGW's S5-U F-TEID to encapsulate towards

`user_plane` is the local GTP-U address the local TEIDs were handed out on: the instance whose
`[gtpu] address` it is serves the record. QoS and the APN-AMBR are there for policing.

Readers: `list_rules` (everything of one gateway, e.g. at start), `snapshot` plus `changes`
(what changed between two snapshots, for a user plane that polls), and the frontends call a
`ForwardingListener` in the same process after each commit with the changes it made
(`changes_of_ops`). A store watch (ZooKeeper) can replace polling later without changing what is
written.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal, Protocol, TypeVar

import msgspec

from epc.store import Create, Delete, Op, Put, Store

GatewayRole = Literal["sgw", "pgw"]


class Endpoint(msgspec.Struct, frozen=True):
    """The far end of a tunnel: its TEID and IPv4 address (an F-TEID without its type)."""

    teid: int
    address: str


class Qos(msgspec.Struct, frozen=True, kw_only=True):
    """A bearer's QoS (TS 29.274 clause 8.15): QCI, ARP, bit rates in kbit/s."""

    qci: int
    arp_priority: int
    preemption_capability: bool = False
    preemption_vulnerability: bool = True
    mbr_uplink: int = 0
    mbr_downlink: int = 0
    gbr_uplink: int = 0
    gbr_downlink: int = 0


class PacketFilter(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One packet filter of a dedicated bearer (TS 24.008 clause 10.5.6.12 components), from
    the UE's point of view: `remote` is the far host, `local` the UE. None matches anything."""

    direction: Literal["uplink", "downlink", "bidirectional"] = "bidirectional"
    precedence: int = 0
    remote_network: str | None = None
    """IPv4 network, e.g. "10.1.0.0/16"."""
    protocol: int | None = None
    """IP protocol number (6 TCP, 17 UDP)."""
    remote_ports: tuple[int, int] | None = None
    """Inclusive range; (5060, 5060) is one port."""
    local_ports: tuple[int, int] | None = None


class ForwardingRule(msgspec.Struct, frozen=True, kw_only=True):
    """One bearer at one gateway; see the module docstring for each field's meaning."""

    gateway: GatewayRole
    imsi: str
    ebi: int
    linked_ebi: int
    """The PDN connection's default bearer (equal to `ebi` for a default bearer)."""
    user_plane: str
    ue_ipv4: str | None = None
    uplink_teid: int | None = None
    uplink_peer: Endpoint | None = None
    downlink_teid: int | None = None
    downlink_peer: Endpoint | None = None
    qos: Qos | None = None
    apn_ambr_uplink: int = 0
    apn_ambr_downlink: int = 0
    packet_filters: tuple[PacketFilter, ...] = ()

    @property
    def key(self) -> str:
        return rule_key(self.imsi, self.ebi)

    def local_teids(self) -> tuple[int, ...]:
        return tuple(teid for teid in (self.uplink_teid, self.downlink_teid) if teid)


_ENCODER = msgspec.msgpack.Encoder()
_DECODER = msgspec.msgpack.Decoder(ForwardingRule)


def rule_key(imsi: str, ebi: int) -> str:
    return f"{imsi}-{ebi}"


def table_path(deployment: str, gateway: GatewayRole) -> str:
    return f"/{deployment}/forwarding/{gateway}"


def rule_path(deployment: str, gateway: GatewayRole, imsi: str, ebi: int) -> str:
    return f"{table_path(deployment, gateway)}/{rule_key(imsi, ebi)}"


def encode_rule(rule: ForwardingRule) -> bytes:
    return _ENCODER.encode(rule)


def decode_rule(value: bytes) -> ForwardingRule:
    return _DECODER.decode(value)


# --- writing (the control frontends, inside their steps) -----------------------------------


def write_rule(deployment: str, rule: ForwardingRule, version: int | None) -> tuple[Op, int]:
    """The op installing `rule` and the record's version after it: a Create when the context
    has no record for the bearer yet (`version` None), else a Put at `version`."""
    path = rule_path(deployment, rule.gateway, rule.imsi, rule.ebi)
    if version is None:
        return Create(path, encode_rule(rule)), 0
    return Put(path, encode_rule(rule), version), version + 1


S = TypeVar("S", bound=msgspec.Struct)


def write_session_rules(
    deployment: str,
    session: S,
    rule_of: Callable[[Any], ForwardingRule],
    only: Iterable[int] | None = None,
) -> tuple[S, list[Op]]:
    """Write the records of the session's bearers (`session.bearers`, EBI -> bearer; all, or
    the EBIs in `only`): the session with each written bearer's new record version
    (`forwarding_version`), and the ops to commit with the context."""
    bearers = session.bearers
    wanted = set(bearers if only is None else only)
    updated = dict(bearers)
    ops: list[Op] = []
    for ebi, bearer in bearers.items():
        if ebi in wanted:
            op, version = write_rule(deployment, rule_of(bearer), bearer.forwarding_version)
            ops.append(op)
            updated[ebi] = msgspec.structs.replace(bearer, forwarding_version=version)
    return msgspec.structs.replace(session, bearers=updated), ops


def remove_rule(deployment: str, gateway: GatewayRole, imsi: str, ebi: int, version: int) -> Delete:
    return Delete(rule_path(deployment, gateway, imsi, ebi), version)


# --- reading (the user plane) --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Installed:
    """A rule created or changed."""

    rule: ForwardingRule


@dataclass(frozen=True, slots=True)
class Removed:
    gateway: GatewayRole
    key: str


Change = Installed | Removed


class ForwardingListener(Protocol):
    """Told, in the process that committed them, of the rules a commit changed."""

    def forwarding_changed(self, changes: list[Change]) -> None: ...


def changes_of_ops(deployment: str, ops: Iterable[Op]) -> list[Change]:
    """The forwarding changes among a committed multi-op's ops."""
    changes: list[Change] = []
    prefix = f"/{deployment}/forwarding/"
    for op in ops:
        if not op.path.startswith(prefix):
            continue
        match op:
            case Create(value=value) | Put(value=value):
                changes.append(Installed(decode_rule(value)))
            case Delete(path=path):
                gateway, _, key = path[len(prefix) :].partition("/")
                changes.append(Removed(gateway, key))  # type: ignore[arg-type]
    return changes


async def list_rules(store: Store, deployment: str, gateway: GatewayRole) -> list[ForwardingRule]:
    """Every rule of one gateway role, e.g. to fill a forwarding table at start."""
    return [rule for rule, _ in (await snapshot(store, deployment, gateway)).values()]


Snapshot = dict[str, tuple[ForwardingRule, int]]
"""Rules by key, with their record versions."""


async def snapshot(store: Store, deployment: str, gateway: GatewayRole) -> Snapshot:
    table = table_path(deployment, gateway)
    rules: Snapshot = {}
    for key in await store.children(table):
        node = await store.get(f"{table}/{key}")
        if node is not None:  # deleted since the listing
            rules[key] = (decode_rule(node.value), node.version)
    return rules


def changes(gateway: GatewayRole, before: Snapshot, after: Snapshot) -> list[Change]:
    """What happened between two snapshots: new or newer records, and removed ones."""
    found: list[Change] = [
        Installed(rule)
        for key, (rule, version) in after.items()
        if before.get(key) != (rule, version)
    ]
    found += [Removed(gateway, key) for key in before if key not in after]
    return found
