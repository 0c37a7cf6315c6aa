"""The echo-agent's config file: the eNB side (`[s1]`), the MME pool and how to reach it
(`[core]`), plus the sections every daemon shares (`[log]`, `[lifecycle]`).

The agent keeps no store: `DaemonConfig` carries a `[store]` table for every daemon, which the
agent accepts and ignores (see configs/echo-agent.toml).

Validation is all here, so a bad file stops the agent at start (exit 2) with one line naming
the key; the kernel's SCTP support is checked later, at start, by the daemon (it is a property
of the host, not of the file: a config may be checked on another machine).
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal

import msgspec

from echo_agent.timers import (
    DEFAULT_BACKOFF_FACTOR,
    DEFAULT_INITIAL_TIMEOUT_S,
    DEFAULT_MAX_TIMEOUT_S,
    RetransmitPolicy,
)
from epc.daemon.config import DaemonConfig, Section

__all__ = [
    "DEFAULT_CORE_PORT",
    "AgentConfig",
    "CoreConfig",
    "Endpoint",
    "GroupConfig",
    "ReconnectConfig",
    "RetransmitConfig",
    "S1Config",
    "TlsConfig",
    "parse_endpoint",
]

DEFAULT_CORE_PORT = 36420
"""TCP port of an MME instance's agent server when an endpoint names none. Not an IANA port;
chosen next to S1AP's 36412 and clear of X2AP's 36422."""

Port = Annotated[int, msgspec.Meta(ge=0, le=65535)]
PositiveSeconds = Annotated[float, msgspec.Meta(gt=0)]
NonNegativeSeconds = Annotated[float, msgspec.Meta(ge=0)]
Identity = Annotated[str, msgspec.Meta(max_length=255)]
EndpointText = Annotated[str, msgspec.Meta(min_length=1)]


class Endpoint(msgspec.Struct, frozen=True):
    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_endpoint(text: str) -> Endpoint:
    """ "host:port", "[v6]:port", or a bare host (port 36420). ValueError if it is none."""
    host, port = text, DEFAULT_CORE_PORT
    if text.startswith("["):
        closing = text.find("]")
        if closing < 0:
            raise ValueError(f"endpoint {text!r}: no closing ]")
        host, rest = text[1:closing], text[closing + 1 :]
        if rest:
            if not rest.startswith(":"):
                raise ValueError(f"endpoint {text!r}: expected :port after ]")
            port = _port(text, rest[1:])
        ipaddress.IPv6Address(host)  # raises ValueError, naming the text
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
        port = _port(text, port_text)
    elif ":" in text:
        raise ValueError(f"endpoint {text!r}: write an IPv6 address as [address]:port")
    if not host:
        raise ValueError(f"endpoint {text!r}: no host")
    return Endpoint(host, port)


def _port(text: str, port: str) -> int:
    if not port.isdigit() or not 0 < int(port) <= 65535:
        raise ValueError(f"endpoint {text!r}: port must be 1..65535")
    return int(port)


class S1Config(Section, kw_only=True):
    transport: Literal["sctp", "tcp"] = "sctp"
    """"sctp": S1AP over kernel SCTP (PPID 18), what a real eNB speaks. "tcp": each S1AP
    message as a 6-octet header (4-octet big-endian payload length, 2-octet big-endian SCTP
    stream number) and the payload, for simulators and hosts without kernel SCTP."""
    host: str = "0.0.0.0"
    port: Port = 36412
    """0 picks a free port (the log line "s1 listening" names it)."""
    streams: Annotated[int, msgspec.Meta(ge=1, le=65535)] = 30
    """Outbound SCTP streams asked for in the INIT (the eNB may grant fewer)."""


class TlsConfig(Section, kw_only=True):
    enabled: bool = False
    ca: str = ""
    """PEM file of the CA(s) that sign the MME instances' certificates; empty: the system's."""
    certificate: str = ""
    """PEM client certificate the agent presents; empty: none (the MMEs may require one)."""
    key: str = ""
    """PEM private key of `certificate`."""
    server_name: str = ""
    """Name checked in the MME's certificate; empty: the endpoint's host."""

    def __post_init__(self) -> None:
        if bool(self.certificate) != bool(self.key):
            raise ValueError("certificate and key are given together or not at all")


class GroupConfig(Section, kw_only=True):
    """One priority group of MME instances, typically one data centre."""

    name: Annotated[str, msgspec.Meta(min_length=1)]
    endpoints: Annotated[tuple[EndpointText, ...], msgspec.Meta(min_length=1)]
    """"host:port" (IPv6 as "[addr]:port"); the port defaults to 36420."""

    def __post_init__(self) -> None:
        for text in self.endpoints:
            parse_endpoint(text)
        if len(set(self.endpoints)) != len(self.endpoints):
            raise ValueError(f"group {self.name!r} lists an endpoint twice")


class ReconnectConfig(Section, kw_only=True):
    """Delay before connecting again to an endpoint that failed or dropped: initial, then
    times `multiplier` per failure up to `max_delay_s`, each scaled by a random factor in
    [1 - jitter, 1] so agents do not reconnect in lockstep."""

    initial_delay_s: NonNegativeSeconds = 0.1
    multiplier: Annotated[float, msgspec.Meta(ge=1)] = 2.0
    max_delay_s: NonNegativeSeconds = 5.0
    jitter: Annotated[float, msgspec.Meta(ge=0, le=1)] = 0.5

    def __post_init__(self) -> None:
        if self.max_delay_s < self.initial_delay_s:
            raise ValueError("max_delay_s must not be below initial_delay_s")


class RetransmitConfig(Section, kw_only=True):
    """How long a request waits for its ACK before it is sent again (echo_agent.timers)."""

    initial_timeout_s: PositiveSeconds = DEFAULT_INITIAL_TIMEOUT_S
    backoff_factor: Annotated[float, msgspec.Meta(ge=1)] = DEFAULT_BACKOFF_FACTOR
    max_timeout_s: PositiveSeconds = DEFAULT_MAX_TIMEOUT_S

    def __post_init__(self) -> None:
        if self.max_timeout_s < self.initial_timeout_s:
            raise ValueError("max_timeout_s must not be below initial_timeout_s")

    def policy(self) -> RetransmitPolicy:
        return RetransmitPolicy(self.initial_timeout_s, self.backoff_factor, self.max_timeout_s)


_DEFAULT_GROUPS = (GroupConfig(name="local", endpoints=(f"127.0.0.1:{DEFAULT_CORE_PORT}",)),)


class CoreConfig(Section, kw_only=True):
    groups: Annotated[tuple[GroupConfig, ...], msgspec.Meta(min_length=1)] = _DEFAULT_GROUPS
    """Priority order: the agent uses the first group and moves to the next one when all of
    a group's endpoints fail to connect, or after `switch_after_timeouts`."""
    switch_after_timeouts: Annotated[int, msgspec.Meta(ge=1)] = 3
    """Consecutive retransmission timeouts of one request before the agent leaves the group
    (a live connection that does not answer: the data centre, not one instance, is in
    trouble). With a single group it moves to another endpoint of the group instead."""
    connect_timeout_s: PositiveSeconds = 3.0
    """TCP connect plus TLS handshake plus the MME's HELLO answer."""
    ping_interval_s: PositiveSeconds = 1.0
    ping_timeout_s: PositiveSeconds = 3.0
    """A connection that has sent nothing (PONG included) for this long is dead and closed."""
    reconnect: ReconnectConfig = msgspec.field(default_factory=ReconnectConfig)
    retransmit: RetransmitConfig = msgspec.field(default_factory=RetransmitConfig)
    tls: TlsConfig = msgspec.field(default_factory=TlsConfig)

    def __post_init__(self) -> None:
        names = [group.name for group in self.groups]
        if len(set(names)) != len(names):
            raise ValueError("two groups share a name")
        if self.ping_timeout_s <= self.ping_interval_s:
            raise ValueError("ping_timeout_s must be above ping_interval_s")


class AgentConfig(DaemonConfig, kw_only=True):
    identity: Identity = ""
    """This agent's eNB identity, sent in HELLO; MME instances reach the eNB by it. Empty:
    the host name (one agent per eNB board)."""
    s1: S1Config = msgspec.field(default_factory=S1Config)
    core: CoreConfig = msgspec.field(default_factory=CoreConfig)
