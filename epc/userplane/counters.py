"""Per-interface counters of a gateway's user plane, and the JSON snapshot `epcctl` and the
metrics endpoint read.

Interfaces: "s1u" and "s5u" at the SGW, "s5u" and "sgi" at the PGW. Each counts packets and
octets received and sent, and drops by reason (`DropReason`). The forwarder bumps plain
attributes (no dict lookups for the common counters, no allocation); `snapshot` turns them
into a dict, `write_snapshot` writes it atomically (temporary file + rename) so a reader never
sees half a file, and `read_snapshot` is what a reader calls.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


class DropReason:
    """Why a packet was not forwarded; the keys of `InterfaceCounters.drops`."""

    MALFORMED = "malformed"
    """Not a valid GTP-U packet (TS 29.281 5.1): discarded silently."""
    UNKNOWN_TEID = "unknown_teid"
    """A G-PDU for a TEID with no rule: answered with an Error Indication (rate-limited)."""
    NO_ROUTE = "no_route"
    """Downlink from SGi for an address with no bearer, or a bearer with no peer yet."""
    SPOOFED_SOURCE = "spoofed_source"
    """Uplink whose inner source address is not the bearer's UE address."""
    NOT_IPV4 = "not_ipv4"
    BUFFER_FULL = "buffer_full"
    """Downlink for an idle UE beyond the buffer's bounds."""
    BUFFER_DISCARDED = "buffer_discarded"
    """Buffered for an idle UE, then dropped: paging failed or the bearer went away."""
    SEND_FAILED = "send_failed"
    """The kernel refused the packet (full TUN queue, unreachable peer)."""


class InterfaceCounters:
    __slots__ = ("drops", "name", "rx_bytes", "rx_packets", "tx_bytes", "tx_packets")

    def __init__(self, name: str) -> None:
        self.name = name
        self.rx_packets = 0
        self.rx_bytes = 0
        self.tx_packets = 0
        self.tx_bytes = 0
        self.drops: dict[str, int] = {}

    def drop(self, reason: str, count: int = 1) -> None:
        self.drops[reason] = self.drops.get(reason, 0) + count

    def snapshot(self) -> dict[str, Any]:
        return {
            "rx_packets": self.rx_packets,
            "rx_bytes": self.rx_bytes,
            "tx_packets": self.tx_packets,
            "tx_bytes": self.tx_bytes,
            "drops": dict(self.drops),
        }


class Counters:
    """Every interface of one gateway's user plane, plus the path-message counters."""

    def __init__(self, interfaces: tuple[str, ...]) -> None:
        self.interfaces = {name: InterfaceCounters(name) for name in interfaces}
        self.path: dict[str, int] = {}
        """echo_requests_received, error_indications_sent / _suppressed / _received,
        end_markers_sent, downlink_data_notifications."""

    def __getitem__(self, name: str) -> InterfaceCounters:
        return self.interfaces[name]

    def count(self, event: str, count: int = 1) -> None:
        self.path[event] = self.path.get(event, 0) + count

    def snapshot(self) -> dict[str, Any]:
        return {
            "interfaces": {name: each.snapshot() for name, each in self.interfaces.items()},
            "path": dict(self.path),
        }


def add_snapshots(total: dict[str, Any], more: dict[str, Any]) -> dict[str, Any]:
    """The counters of two workers of one gateway, together."""
    interfaces = {
        name: dict(each, drops=dict(each["drops"])) for name, each in total["interfaces"].items()
    }
    for name, each in more["interfaces"].items():
        into = interfaces.setdefault(name, {"drops": {}})
        for key, value in each.items():
            if key == "drops":
                for reason, count in value.items():
                    into["drops"][reason] = into["drops"].get(reason, 0) + count
            else:
                into[key] = into.get(key, 0) + value
    path = dict(total["path"])
    for event, count in more["path"].items():
        path[event] = path.get(event, 0) + count
    return {"interfaces": interfaces, "path": path}


def write_snapshot(path: str | os.PathLike[str], snapshot: dict[str, Any]) -> None:
    """Replace the file at `path` with the snapshot, atomically."""
    target = Path(path)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(snapshot, sort_keys=True))
    os.replace(temporary, target)


def read_snapshot(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The counters a running user plane last wrote (for `epcctl`, the metrics endpoint)."""
    return json.loads(Path(path).read_text())
