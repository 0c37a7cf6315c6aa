"""What the SGW does when a peer restarted and lost its contexts (TS 23.007 clause 16: config
`gtpc.on_peer_restart = "delete"`), one UE at a time, in the UE's "restart" lane:

- a PGW: its PDN connections are gone; the SGW tells the MME with a Delete Bearer Request for
  each (linked EBI, cause "reactivation requested", so the UE may connect again) and releases
  them;
- an MME: its UEs are gone; the SGW deletes their sessions at the PGW (Delete Session) and
  releases them.
"""

from __future__ import annotations

from epc.algorithm1 import SideEffects, StepResult
from epc.codec.gtpv2c import Cause, DeleteBearerRequest, DeleteSessionRequest
from epc.gtpc import Peer
from epc.gtpc.procedure import Request, exchange
from epc.sgw.config import SgwConfig
from epc.sgw.context import SgwUe
from epc.sgw.sessions import drop_session
from epc.store import Op

RESTART_LANE = "restart"
REACTIVATION_REQUESTED = 8
"""TS 29.274 Table 8.4-1."""


def is_mme(config: SgwConfig, ue: SgwUe, peer: Peer) -> bool:
    mme = ue.mme_control
    return mme is not None and (mme.address, config.s11.mme_port) == peer


def sessions_with_peer(config: SgwConfig, ue: SgwUe, peer: Peer) -> list[int]:
    """Linked EBIs of the UE's sessions that `peer` (its MME, or their PGW) shares."""
    if is_mme(config, ue, peer):
        return list(ue.sessions)
    return [ebi for ebi, s in ue.sessions.items() if config.s5.pgw(s.pgw_control.address) == peer]


async def drop_sessions_of_peer(
    config: SgwConfig, peer: Peer, request: Request, state: SgwUe | None, effects: SideEffects
) -> StepResult[SgwUe]:
    if state is None:
        return StepResult(state)
    mme_restarted = is_mme(config, state, peer)
    ue = state
    ops: list[Op] = []
    for linked_ebi in sessions_with_peer(config, state, peer):
        session = ue.sessions[linked_ebi]
        if mme_restarted:
            message = DeleteSessionRequest(teid=session.pgw_control.teid, linked_ebi=linked_ebi)
            peer = config.s5.pgw(session.pgw_control.address)
        else:
            assert ue.mme_control is not None
            message = DeleteBearerRequest(
                teid=ue.mme_control.teid,
                linked_ebi=linked_ebi,
                cause=Cause(REACTIVATION_REQUESTED),
            )
            peer = (ue.mme_control.address, config.s11.mme_port)
        await exchange(effects, peer, message, ue.ue_id)
        ue, released = drop_session(request, ue, session, retire=False)
        ops += released
    return StepResult(ue, ops=tuple(ops))
