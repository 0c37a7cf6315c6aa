"""The traffic flow template of a dedicated bearer the PGW creates (TS 24.008 clause
10.5.6.12, "create new TFT"), from the policy's packet filters. The GTPv2-C codec carries TFTs
as opaque octets; this module writes the few components a local policy uses."""

from __future__ import annotations

import struct
from ipaddress import IPv4Network

from epc.forwarding import PacketFilter

CREATE_NEW_TFT = 0b001
"""Octet 3, bits 8-6: TFT operation code."""
DIRECTION = {"downlink": 0b01, "uplink": 0b10, "bidirectional": 0b11}
"""Packet filter direction (bits 6-5 of the first octet of each filter)."""
IPV4_REMOTE_ADDRESS = 0x10
PROTOCOL_IDENTIFIER = 0x30
SINGLE_LOCAL_PORT = 0x40
LOCAL_PORT_RANGE = 0x41
SINGLE_REMOTE_PORT = 0x50
REMOTE_PORT_RANGE = 0x51
"""Packet filter component type identifiers (Table 10.5.162)."""


def encode_tft(packet_filters: tuple[PacketFilter, ...]) -> bytes:
    """A "create new TFT" with the filters, identifiers 1.. in order (at most 15)."""
    if not 1 <= len(packet_filters) <= 15:
        raise ValueError(f"a TFT holds 1 to 15 packet filters, not {len(packet_filters)}")
    out = bytearray([CREATE_NEW_TFT << 5 | len(packet_filters)])
    for identifier, packet_filter in enumerate(packet_filters, start=1):
        contents = _components(packet_filter)
        out += bytes([DIRECTION[packet_filter.direction] << 4 | identifier & 0x0F])
        out += bytes([packet_filter.precedence & 0xFF, len(contents)]) + contents
    return bytes(out)


def _components(packet_filter: PacketFilter) -> bytes:
    network = IPv4Network(packet_filter.remote_network or "0.0.0.0/0")
    out = bytes([IPV4_REMOTE_ADDRESS]) + network.network_address.packed + network.netmask.packed
    if packet_filter.protocol is not None:
        out += bytes([PROTOCOL_IDENTIFIER, packet_filter.protocol])
    out += _ports(packet_filter.local_ports, SINGLE_LOCAL_PORT, LOCAL_PORT_RANGE)
    out += _ports(packet_filter.remote_ports, SINGLE_REMOTE_PORT, REMOTE_PORT_RANGE)
    return out


def _ports(ports: tuple[int, int] | None, single: int, port_range: int) -> bytes:
    if ports is None:
        return b""
    low, high = ports
    if low == high:
        return struct.pack("!BH", single, low)
    return struct.pack("!BHH", port_range, low, high)
