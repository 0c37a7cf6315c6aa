"""The PCO the PGW returns (TS 24.008 clause 10.5.6.3): DNS server addresses for a UE that
asked for them. What the UE asked and how each answer is encoded is the NAS layer's
(`epc.codec.nas_messages.ProtocolConfigurationOptions`); this module decides when there is an
answer for the GTPv2-C PCO IE to carry."""

from __future__ import annotations

from ipaddress import IPv4Address

from epc.codec.nas_messages import ProtocolConfigurationOptions


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
    return answer.to_octets()
