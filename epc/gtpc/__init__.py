"""The GTPv2-C node layer (TS 29.274) every GTP-C speaker of the core shares: the MME's S11
client, the SGW on S11 and S5, the PGW on S5.

- `transactions`: the sans-I/O core of clause 7.6 (sequence numbers, T3-RESPONSE / N3-REQUESTS
  retransmission, responses matched to requests, duplicate requests answered from a bounded
  cache) and path management (Echo, restart detection by the Recovery IE, TS 23.007 clause 18);
- `node`: the asyncio UDP adapter around it (`GtpcNode.request`, the incoming-request handler);
- `recovery`: the node's own restart counter, kept in the store and advanced at each start;
- `claims`: TEIDs and UE addresses unique across every instance, drawn deterministically per
  request and claimed by index nodes in the context's multi-op;
- `frontend`: how a stateless GTP-C frontend (SGW, PGW) applies requests to per-UE contexts
  with Algorithm 1, stamps its side effects, and originates requests of its own;
- `config`: the `[gtpc]` and `[gtpu]` config tables.

A peer is a `(host, port)` pair: the F-TEID of TS 29.274 carries only an address and GTP-C
requests go to port 2123 (clause 4.2), but tests and single-host cores run several nodes on one
address, so every node and every peer port is configurable.
"""

from __future__ import annotations

Peer = tuple[str, int]
"""A GTP-C endpoint: IPv4 address (dotted) and UDP port."""

GTPC_PORT = 2123
"""TS 29.274 clause 4.2: the UDP port of GTPv2-C requests."""


class GtpcError(Exception):
    """Base of the errors of this package."""


class RequestTimeout(GtpcError):
    """No response to a request after the first transmission and N3-REQUESTS retransmissions,
    each T3-RESPONSE apart (clause 7.6)."""

    def __init__(self, peer: Peer, message_type: int, attempts: int) -> None:
        super().__init__(
            f"no response from {peer[0]}:{peer[1]} to message type {message_type} "
            f"after {attempts} transmissions"
        )
        self.peer = peer
        self.message_type = message_type
        self.attempts = attempts


class NodeClosed(GtpcError):
    """The node was closed while the request waited for its response."""


def format_peer(peer: Peer) -> str:
    return f"{peer[0]}:{peer[1]}"


def parse_peer(text: str) -> Peer:
    """ "host:port" -> (host, port). ValueError when malformed."""
    host, separator, port = text.rpartition(":")
    if not separator or not host or not port.isdigit():
        raise ValueError(f"expected host:port, got {text!r}")
    return host, int(port)
