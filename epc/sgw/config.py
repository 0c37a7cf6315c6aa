"""The SGW's config file: the daemon tables, `[gtpc]`, `[gtpu]`, `[s11]` (toward the MMEs),
`[s5]` (toward the PGWs), `[paging]` and `[userplane]` (the SGW-U, epc.userplane)."""

from __future__ import annotations

from ipaddress import IPv4Address

import msgspec

from epc.daemon.config import DaemonConfig, PositiveSeconds, Section
from epc.gtpc import GTPC_PORT, Peer
from epc.gtpc.config import GtpcConfig, GtpuConfig, Port
from epc.userplane.config import UserPlaneConfig


class S11Config(Section, kw_only=True):
    mme_port: Port = GTPC_PORT
    """UDP port of the MMEs' GTP-C endpoints, for the requests the SGW starts (Downlink Data
    Notification, Create/Update/Delete Bearer); responses go to where the request came from."""


class S5Config(Section, kw_only=True):
    pgw_address: str | None = None
    """The PGW to use when a Create Session Request names none (no PGW S5/S8 F-TEID)."""
    pgw_port: Port = GTPC_PORT
    """UDP port of the PGWs' GTP-C endpoints (an F-TEID names only an address)."""

    def __post_init__(self) -> None:
        if self.pgw_address is not None:
            try:
                IPv4Address(self.pgw_address)
            except ValueError:
                raise ValueError(
                    f"pgw_address: expected an IPv4 address, got {self.pgw_address!r}"
                ) from None

    def pgw(self, address: str) -> Peer:
        return address, self.pgw_port


class PagingConfig(Section, kw_only=True):
    notification_guard_s: PositiveSeconds = 10.0
    """After the MME acknowledged a Downlink Data Notification, no other is sent for the UE
    for this long unless the UE comes back (TS 23.401 5.3.4.3: the SGW waits for the paging
    to succeed or fail); then another downlink packet asks again."""


class SgwConfig(DaemonConfig, kw_only=True):
    gtpc: GtpcConfig = msgspec.field(default_factory=GtpcConfig)
    gtpu: GtpuConfig = msgspec.field(default_factory=GtpuConfig)
    s11: S11Config = msgspec.field(default_factory=S11Config)
    s5: S5Config = msgspec.field(default_factory=S5Config)
    paging: PagingConfig = msgspec.field(default_factory=PagingConfig)
    userplane: UserPlaneConfig = msgspec.field(default_factory=UserPlaneConfig)
