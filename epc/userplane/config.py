"""The user plane's config tables: `[userplane]` (SGW and PGW) and `[sgi]` (PGW only)."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network
from typing import Annotated

import msgspec

from epc.daemon.config import PositiveSeconds, Section
from epc.gtpc.config import Port

Count = Annotated[int, msgspec.Meta(ge=1)]
InterfaceName = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9_.-]{1,15}$")]


class UserPlaneConfig(Section, kw_only=True):
    enabled: bool = False
    """Run the GTP-U user plane in this daemon, on `[gtpu] address`. Off by default so a
    control-only test daemon needs no port 2152 and no TUN; the shipped configs turn it on."""
    port: Port = 2152
    """Local GTP-U port (TS 29.281 4.4.2: 2152; another value for tests only)."""
    peer_port: Port = 2152
    """Where peers' GTP-U endpoints listen (F-TEIDs carry no port)."""
    poll_interval_s: PositiveSeconds = 1.0
    """How often the forwarding records are re-read from the store, for changes committed by
    other instances of this gateway (this process's own commits arrive at once)."""
    error_indications_per_s: Annotated[float, msgspec.Meta(gt=0)] = 100.0
    """At most this many Error Indications sent a second (a flood of G-PDUs for unknown TEIDs
    must not become a flood of answers)."""
    buffer_packets: Count = 256
    """SGW: downlink packets kept per bearer of an idle UE while it is paged."""
    buffer_bytes: Count = 16 << 20
    """SGW: octets kept for all idle UEs together."""
    counters_path: str | None = None
    """Write the counters here as JSON every `counters_interval_s` (for `epcctl` and the
    metrics endpoint); relative to the working directory. None: not written."""
    counters_interval_s: PositiveSeconds = 1.0
    workers: Count = 1
    """Forwarding processes: this daemon's own and `workers - 1` more, on one SO_REUSEPORT
    group of GTP-U sockets (each G-PDU to worker TEID mod `workers`) and, at the PGW, one queue
    each of a multi-queue SGi device (epc.userplane.workers). About one per core."""


class SgiConfig(Section, kw_only=True):
    """The PGW's SGi interface: a TUN device it creates and removes."""

    device: InterfaceName = "sgi0"
    address: str = "10.45.0.1"
    """The device's own address (/32); keep it `reserved` in its APN's pool."""
    mtu: Annotated[int, msgspec.Meta(ge=576, le=65535)] = 1500
    routes: tuple[str, ...] | None = None
    """Networks routed into the device; None: every APN's pool."""
    netns: str | None = None
    """Move the device into this (existing) network namespace after creating it; its fds go
    on working. For tests that put the "internet" behind a namespace of their own; None: the
    daemon's namespace."""

    def __post_init__(self) -> None:
        try:
            IPv4Address(self.address)
        except ValueError:
            raise ValueError(f"address: expected an IPv4 address, got {self.address!r}") from None
        for route in self.routes or ():
            try:
                IPv4Network(route)
            except ValueError:
                raise ValueError(f"routes: not an IPv4 network: {route!r}") from None
