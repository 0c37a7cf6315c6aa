"""The PCO the PGW returns (TS 24.008 clause 10.5.6.3): DNS server addresses for a UE that
asked for them. What the UE asked and how each answer is encoded is the NAS layer's
(`epc.codec.nas_messages.ProtocolConfigurationOptions`); this module only frames the answer
as the octets the GTPv2-C PCO IE carries."""

from __future__ import annotations

from ipaddress import IPv4Address

from epc.codec.nas_messages import ProtocolConfigurationOptions

CONFIGURATION_PROTOCOL_PPP = 0x80
"""Octet 3: extension bit set, configuration protocol 0 (PPP with IP PDP type)."""


def dns_answer(request: bytes | None, servers: tuple[IPv4Address, ...]) -> bytes | None:
    """The network's PCO for the UE's `request`, or None when the UE sent none, asked
    nothing this PGW answers, or sent octets that do not parse."""
    if not request:
        return None
    try:
        asked = ProtocolConfigurationOptions.from_octets(request)
    except ValueError:
        return None
    answer = asked.answer_dns(servers)
    if not answer.options:
        return None
    return bytes([CONFIGURATION_PROTOCOL_PPP]) + b"".join(
        option.identifier.to_bytes(2, "big") + bytes([len(option.contents)]) + option.contents
        for option in answer.options
    )
