"""What the SGW keeps per UE, at `/<deployment>/sgw/ue/<imsi>` (MessagePack), and the forwarding
record each of its bearers implies (`epc.forwarding`).

One S11 TEID per UE (the MME's tunnel to this SGW for the UE), one S5-C TEID per PDN connection
(session, keyed by its default bearer's EBI), and per bearer an S1-U and an S5-U TEID.
"""

from __future__ import annotations

import msgspec

from epc.forwarding import Endpoint, ForwardingRule, Qos


class SgwBearer(msgspec.Struct, frozen=True, kw_only=True):
    ebi: int
    qos: Qos
    s1u_sgw_teid: int
    s5u_sgw_teid: int
    enb: Endpoint | None = None
    """The eNB's S1-U F-TEID; None while the UE is idle (after Release Access Bearers)."""
    pgw: Endpoint | None = None
    """The PGW's S5-U F-TEID."""
    charging_id: int | None = None
    forwarding_version: int | None = None


class SgwSession(msgspec.Struct, frozen=True, kw_only=True):
    linked_ebi: int
    apn: str
    s5c_sgw_teid: int
    pgw_control: Endpoint
    """The PGW's S5-C F-TEID."""
    ue_ipv4: str | None = None
    apn_ambr: tuple[int, int] = (0, 0)
    bearers: dict[int, SgwBearer] = {}


class SgwUe(msgspec.Struct, frozen=True, kw_only=True):
    imsi: str
    ue_id: bytes = b""
    """The ECHO UE ID of the last stamped request, for the stamps of requests the SGW starts."""
    s11_sgw_teid: int | None = None
    mme_control: Endpoint | None = None
    """The MME's S11 F-TEID."""
    sessions: dict[int, SgwSession] = {}
    location: bytes | None = None
    """The last ULI and RAT type the MME reported (MessagePack), to tell the PGW of changes."""
    paging_since_us: int | None = None
    """Request-clock time of the Downlink Data Notification the MME acknowledged and has not
    yet answered with a Modify Bearer (paging in progress); None when not paging."""
    retired_teids: tuple[int, ...] = ()
    """Control TEIDs of deleted sessions (and the S11 TEID once none is left), still held so a
    retried Delete Session finds this context and its recorded reply; freed by the UE's next
    Create Session."""

    def session_of_s5_teid(self, s5c_sgw_teid: int) -> SgwSession | None:
        return next((s for s in self.sessions.values() if s.s5c_sgw_teid == s5c_sgw_teid), None)

    def bearer(self, ebi: int) -> tuple[SgwSession, SgwBearer] | None:
        for session in self.sessions.values():
            if ebi in session.bearers:
                return session, session.bearers[ebi]
        return None

    def bearer_of_teid(self, teid: int) -> tuple[SgwSession, SgwBearer] | None:
        """The bearer whose S1-U or S5-U SGW TEID is `teid`."""
        for session in self.sessions.values():
            for bearer in session.bearers.values():
                if teid in (bearer.s1u_sgw_teid, bearer.s5u_sgw_teid):
                    return session, bearer
        return None

    def with_session(self, session: SgwSession) -> SgwUe:
        return msgspec.structs.replace(
            self, sessions={**self.sessions, session.linked_ebi: session}
        )


def forwarding_rule(
    ue: SgwUe, session: SgwSession, bearer: SgwBearer, user_plane: str
) -> ForwardingRule:
    """SGW-U: uplink S1-U SGW TEID -> PGW S5-U F-TEID; downlink S5-U SGW TEID -> eNB S1-U
    F-TEID, or buffered (and a Downlink Data Notification) while `enb` is None."""
    return ForwardingRule(
        gateway="sgw",
        imsi=ue.imsi,
        ebi=bearer.ebi,
        linked_ebi=session.linked_ebi,
        user_plane=user_plane,
        ue_ipv4=session.ue_ipv4,
        uplink_teid=bearer.s1u_sgw_teid,
        uplink_peer=bearer.pgw,
        downlink_teid=bearer.s5u_sgw_teid,
        downlink_peer=bearer.enb,
        qos=bearer.qos,
        apn_ambr_uplink=session.apn_ambr[0],
        apn_ambr_downlink=session.apn_ambr[1],
    )
