"""The config tables every GTP-C speaking daemon shares: `[gtpc]` (its endpoint, the TS 29.274
clause 7.6 timers, path management) and `[gtpu]` (the user-plane address its F-TEIDs name)."""

from __future__ import annotations

from ipaddress import IPv4Address
from typing import Annotated, Literal

import msgspec

from epc.daemon.config import PositiveSeconds, Section
from epc.gtpc import GTPC_PORT, Peer
from epc.gtpc.transactions import (
    ECHO_INTERVAL_S,
    N3_REQUESTS,
    RESPONSE_CACHE_SIZE,
    T3_RESPONSE_S,
    Timers,
)

Port = Annotated[int, msgspec.Meta(ge=0, le=65535)]
NodeName = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9._-]+$", max_length=100)]


def _check_ipv4(key: str, value: str) -> None:
    try:
        IPv4Address(value)
    except ValueError:
        raise ValueError(f"{key}: expected an IPv4 address, got {value!r}") from None


class GtpcConfig(Section, kw_only=True):
    address: str = "127.0.0.1"
    """IPv4 address of this node's GTP-C endpoint, and of the control F-TEIDs it hands out."""
    port: Port = GTPC_PORT
    """UDP port (2123 in any real deployment; 0 picks a free one, for tests)."""
    node_name: NodeName | None = None
    """Names the node's Recovery counter in the store; default "<daemon>-<address>-<port>".
    Every instance needs its own."""
    t3_response_s: PositiveSeconds = T3_RESPONSE_S
    n3_requests: Annotated[int, msgspec.Meta(ge=0, le=10)] = N3_REQUESTS
    echo_interval_s: PositiveSeconds = ECHO_INTERVAL_S
    response_cache_size: Annotated[int, msgspec.Meta(ge=1)] = RESPONSE_CACHE_SIZE
    on_peer_restart: Literal["keep", "delete"] = "keep"
    """What a newer Recovery value from a peer does to the sessions shared with it: "keep"
    for peers that keep their contexts in the store across restarts (this core's frontends);
    "delete" for peers that lose them (TS 23.007 clauses 16-17; see docs/decisions.md)."""

    def __post_init__(self) -> None:
        _check_ipv4("address", self.address)

    @property
    def local(self) -> Peer:
        return self.address, self.port

    def timers(self) -> Timers:
        return Timers(
            t3_response_s=self.t3_response_s,
            n3_requests=self.n3_requests,
            echo_interval_s=self.echo_interval_s,
            response_cache_size=self.response_cache_size,
        )

    def name_for(self, daemon: str) -> str:
        return self.node_name or f"{daemon}-{self.address}-{self.port}"


class GtpuConfig(Section, kw_only=True):
    address: str = "127.0.0.1"
    """IPv4 address of this instance's GTP-U endpoint (port 2152), put in the user-plane
    F-TEIDs it hands out; the user plane (issue 8) listens there."""

    def __post_init__(self) -> None:
        _check_ipv4("address", self.address)
