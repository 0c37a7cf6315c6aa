"""What the PGW keeps per UE, at `/<deployment>/pgw/ue/<imsi>` (MessagePack), and the forwarding
record each of its bearers implies (`epc.forwarding`).

A UE has one PDN connection (session) per APN, keyed by its default bearer's EBI; each session
has the UE's IPv4 address, its S5-C TEIDs and its bearers, each with its S5-U TEIDs.
"""

from __future__ import annotations

import msgspec

from epc.forwarding import Endpoint, ForwardingRule, PacketFilter, Qos


class PgwBearer(msgspec.Struct, frozen=True, kw_only=True):
    ebi: int
    qos: Qos
    s5u_pgw_teid: int
    sgw: Endpoint | None
    """The SGW's S5-U F-TEID (downlink goes there)."""
    charging_id: int
    policy: str | None = None
    """The local policy rule that created this dedicated bearer (None: the default bearer)."""
    packet_filters: tuple[PacketFilter, ...] = ()
    forwarding_version: int | None = None
    """Version of the bearer's forwarding record; None before it is written."""


class PgwSession(msgspec.Struct, frozen=True, kw_only=True):
    linked_ebi: int
    apn: str
    s5c_pgw_teid: int
    sgw_control: Endpoint
    """The SGW's S5-C F-TEID (requests to the SGW name its TEID)."""
    ue_ipv4: str
    apn_ambr: tuple[int, int]
    """(uplink, downlink) kbit/s."""
    bearers: dict[int, PgwBearer]


class PgwUe(msgspec.Struct, frozen=True, kw_only=True):
    imsi: str
    ue_id: bytes = b""
    """The ECHO UE ID of the last stamped request, for the stamps of requests the PGW starts."""
    sessions: dict[int, PgwSession] = {}
    retired_teids: tuple[int, ...] = ()
    """Control TEIDs of deleted sessions, still held so a retried Delete Session finds the
    context and gets its recorded reply; freed by the UE's next Create Session."""

    def session_of_teid(self, s5c_pgw_teid: int) -> PgwSession | None:
        return next((s for s in self.sessions.values() if s.s5c_pgw_teid == s5c_pgw_teid), None)


def forwarding_rule(
    ue: PgwUe, session: PgwSession, bearer: PgwBearer, user_plane: str
) -> ForwardingRule:
    """PGW-U: uplink on the S5-U PGW TEID out to SGi; downlink from SGi by UE address (and
    packet filters) to the SGW's S5-U F-TEID."""
    return ForwardingRule(
        gateway="pgw",
        imsi=ue.imsi,
        ebi=bearer.ebi,
        linked_ebi=session.linked_ebi,
        user_plane=user_plane,
        ue_ipv4=session.ue_ipv4,
        uplink_teid=bearer.s5u_pgw_teid,
        downlink_peer=bearer.sgw,
        qos=bearer.qos,
        apn_ambr_uplink=session.apn_ambr[0],
        apn_ambr_downlink=session.apn_ambr[1],
        packet_filters=bearer.packet_filters,
    )
