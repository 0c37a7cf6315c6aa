"""The PGW's config file: the daemon tables, `[gtpc]`, `[gtpu]`, `[s5]`, its APNs (`[[apn]]`,
each with its UE address pool, DNS servers and default APN-AMBR) and its local policy
(`[[policy]]`, dedicated bearers), and its user plane (`[userplane]`, `[sgi]`: epc.userplane)."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network
from typing import Annotated, Literal

import msgspec

from epc.daemon.config import DaemonConfig, NonEmptyString, PositiveSeconds, Section
from epc.forwarding import PacketFilter
from epc.gtpc import GTPC_PORT
from epc.gtpc.config import GtpcConfig, GtpuConfig, Port
from epc.userplane.config import SgiConfig, UserPlaneConfig

Kbps = Annotated[int, msgspec.Meta(ge=0, le=(1 << 32) - 1)]


class S5Config(Section, kw_only=True):
    sgw_port: Port = GTPC_PORT
    """UDP port of the SGWs' GTP-C endpoints (the SGW's S5-C F-TEID names only its address)."""


class ApnConfig(Section, kw_only=True):
    name: NonEmptyString
    pool: NonEmptyString
    """IPv4 network the UEs of this APN get their address from, e.g. "10.45.0.0/16". Pools of
    different APNs must not overlap: the user plane routes downlink by UE address."""
    reserved: tuple[str, ...] = ()
    """Addresses of the pool never given to a UE (the SGi interface's own, say)."""
    dns: tuple[str, ...] = ("8.8.8.8", "8.8.4.4")
    """Returned in the PCO to a UE that asks (IPv4 only)."""
    ambr_uplink_kbps: Kbps = 1_000_000
    ambr_downlink_kbps: Kbps = 1_000_000
    """APN-AMBR when the Create Session Request carries none (it normally carries the
    subscribed one, which is used as it is)."""

    def __post_init__(self) -> None:
        try:
            pool = IPv4Network(self.pool)
        except ValueError:
            raise ValueError(f"pool: expected an IPv4 network, got {self.pool!r}") from None
        if pool.num_addresses < 4:
            raise ValueError(f"pool: {self.pool} is too small for any UE")
        for key, addresses in (("reserved", self.reserved), ("dns", self.dns)):
            for address in addresses:
                try:
                    IPv4Address(address)
                except ValueError:
                    raise ValueError(f"{key}: not an IPv4 address: {address!r}") from None

    @property
    def network(self) -> IPv4Network:
        return IPv4Network(self.pool)

    @property
    def reserved_addresses(self) -> frozenset[IPv4Address]:
        return frozenset(IPv4Address(address) for address in self.reserved)


class PolicyRule(Section, kw_only=True):
    """A dedicated bearer the PGW sets up itself for sessions of `apn` (TS 23.401 5.4.1,
    PCEF-initiated without a PCRF)."""

    name: Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_-]+$", max_length=64)]
    apn: NonEmptyString
    activate: Literal["on-demand", "on-create"] = "on-demand"
    """"on-create": after each Create Session for the APN, `delay_s` later; "on-demand":
    only when asked (`PgwService.create_dedicated_bearer`, for `epcctl`)."""
    delay_s: PositiveSeconds = 0.5
    qci: Annotated[int, msgspec.Meta(ge=1, le=255)] = 1
    arp_priority: Annotated[int, msgspec.Meta(ge=1, le=15)] = 2
    mbr_uplink_kbps: Kbps = 0
    mbr_downlink_kbps: Kbps = 0
    gbr_uplink_kbps: Kbps = 0
    gbr_downlink_kbps: Kbps = 0
    packet_filters: Annotated[tuple[PacketFilter, ...], msgspec.Meta(min_length=1, max_length=15)]

    def __post_init__(self) -> None:
        for index, packet_filter in enumerate(self.packet_filters):
            if packet_filter.remote_network is not None:
                try:
                    IPv4Network(packet_filter.remote_network)
                except ValueError:
                    raise ValueError(
                        f"packet_filters[{index}].remote_network: expected an IPv4 network, "
                        f"got {packet_filter.remote_network!r}"
                    ) from None


class PgwConfig(DaemonConfig, kw_only=True):
    gtpc: GtpcConfig = msgspec.field(default_factory=GtpcConfig)
    gtpu: GtpuConfig = msgspec.field(default_factory=GtpuConfig)
    s5: S5Config = msgspec.field(default_factory=S5Config)
    apn: Annotated[tuple[ApnConfig, ...], msgspec.Meta(min_length=1)] = (
        ApnConfig(name="internet", pool="10.45.0.0/16", reserved=("10.45.0.1",)),
    )
    policy: tuple[PolicyRule, ...] = ()
    userplane: UserPlaneConfig = msgspec.field(default_factory=UserPlaneConfig)
    sgi: SgiConfig = msgspec.field(default_factory=SgiConfig)

    def __post_init__(self) -> None:
        names = [apn.name.lower() for apn in self.apn]
        if len(set(names)) != len(names):
            raise ValueError("apn: two APNs with the same name")
        pools = [apn.network for apn in self.apn]
        for index, pool in enumerate(pools):
            if any(pool.overlaps(other) for other in pools[index + 1 :]):
                raise ValueError(f"apn[{index}].pool: {pool} overlaps another APN's pool")
        for index, rule in enumerate(self.policy):
            if rule.apn.lower() not in names:
                raise ValueError(f"policy[{index}].apn: no [[apn]] named {rule.apn!r}")
        rule_names = [rule.name for rule in self.policy]
        if len(set(rule_names)) != len(rule_names):
            raise ValueError("policy: two rules with the same name")

    def sgi_routes(self) -> tuple[str, ...]:
        """What the SGi device routes: `[sgi] routes`, or every APN's pool."""
        return self.sgi.routes if self.sgi.routes is not None else tuple(a.pool for a in self.apn)

    def apn_named(self, name: str) -> ApnConfig | None:
        return next((apn for apn in self.apn if apn.name.lower() == name.lower()), None)

    def rule_named(self, name: str) -> PolicyRule | None:
        return next((rule for rule in self.policy if rule.name == name), None)
