"""Conversions between the codec's IE values (frozen dataclasses with `ipaddress` objects) and
what contexts and forwarding records store (msgspec Structs of plain ints and strings)."""

from __future__ import annotations

from ipaddress import IPv4Address

from epc.codec.gtpv2c import Ambr, Arp, BearerQos, Fteid
from epc.forwarding import Endpoint, Qos


def endpoint_of(fteid: Fteid | None) -> Endpoint | None:
    """The stored form of an F-TEID; None if absent or without an IPv4 address."""
    if fteid is None or fteid.ipv4 is None:
        return None
    return Endpoint(fteid.teid, str(fteid.ipv4))


def fteid_of(interface_type: int, endpoint: Endpoint) -> Fteid:
    return Fteid(interface_type, endpoint.teid, IPv4Address(endpoint.address))


def local_fteid(interface_type: int, teid: int, address: str) -> Fteid:
    return Fteid(interface_type, teid, IPv4Address(address))


def qos_of(bearer_qos: BearerQos) -> Qos:
    return Qos(
        qci=bearer_qos.qci,
        arp_priority=bearer_qos.arp.priority_level,
        preemption_capability=bearer_qos.arp.preemption_capability,
        preemption_vulnerability=bearer_qos.arp.preemption_vulnerability,
        mbr_uplink=bearer_qos.mbr_uplink,
        mbr_downlink=bearer_qos.mbr_downlink,
        gbr_uplink=bearer_qos.gbr_uplink,
        gbr_downlink=bearer_qos.gbr_downlink,
    )


def bearer_qos_of(qos: Qos) -> BearerQos:
    return BearerQos(
        qci=qos.qci,
        arp=arp_of(qos),
        mbr_uplink=qos.mbr_uplink,
        mbr_downlink=qos.mbr_downlink,
        gbr_uplink=qos.gbr_uplink,
        gbr_downlink=qos.gbr_downlink,
    )


def arp_of(qos: Qos) -> Arp:
    return Arp(qos.arp_priority, qos.preemption_capability, qos.preemption_vulnerability)


def ambr_pair(ambr: Ambr | None) -> tuple[int, int]:
    return (0, 0) if ambr is None else (ambr.uplink, ambr.downlink)
