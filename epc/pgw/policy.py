"""Dedicated bearers from the PGW's local policy (TS 23.401 5.4.1 and 5.4.4.1, the PCEF acting
without a PCRF): Create Bearer and Delete Bearer Requests the PGW starts toward the SGW.

Both are procedures the PGW originates, applied in the UE's "policy" lane (see
`epc.gtpc.frontend`): the request ID is the caller's (so `epcctl` retrying with the same ID gets
the recorded outcome) or a fresh one, and the Create Bearer Request goes to the SGW as the
lane step's side effect, stamped with it. The recorded reply is the SGW's response, so a
caller learns what happened whichever instance ran the request.
"""

from __future__ import annotations

import msgspec

from epc.algorithm1 import Reply, SideEffects, StepResult
from epc.codec import gtpv2c
from epc.codec.gtpv2c import (
    Arp,
    BearerQos,
    CauseValue,
    CreateBearerRequest,
    CreateBearerRequestContext,
    CreateBearerResponse,
    DeleteBearerRequest,
    FteidInterface,
    GtpcMessage,
)
from epc.gtpc.claims import ClaimError
from epc.gtpc.procedure import Request, exchange
from epc.gtpc.stored import endpoint_of, local_fteid, qos_of
from epc.pgw.config import PgwConfig, PolicyRule
from epc.pgw.context import PgwBearer, PgwSession, PgwUe
from epc.pgw.sessions import install_bearers, release_bearer
from epc.pgw.tft import encode_tft
from epc.store import Op

POLICY_LANE = "policy"


def rule_qos(rule: PolicyRule) -> BearerQos:
    return BearerQos(
        qci=rule.qci,
        arp=Arp(rule.arp_priority),
        mbr_uplink=rule.mbr_uplink_kbps,
        mbr_downlink=rule.mbr_downlink_kbps,
        gbr_uplink=rule.gbr_uplink_kbps,
        gbr_downlink=rule.gbr_downlink_kbps,
    )


def session_for(ue: PgwUe | None, apn: str) -> PgwSession | None:
    if ue is None:
        return None
    return next((s for s in ue.sessions.values() if s.apn.lower() == apn.lower()), None)


def _recorded(message: GtpcMessage | None) -> Reply:
    return Reply(()) if message is None else Reply((gtpv2c.encode(message),))


async def create_dedicated_bearer(
    config: PgwConfig,
    rule: PolicyRule,
    request: Request,
    state: PgwUe | None,
    effects: SideEffects,
) -> StepResult[PgwUe]:
    """Ask the SGW (and through it the MME and the UE) for the rule's bearer on the UE's
    session of the rule's APN. Nothing happens without such a session, or when the session
    has the rule's bearer already. The reply recorded is the SGW's Create Bearer Response."""
    session = session_for(state, rule.apn)
    if state is None or session is None:
        return StepResult(state)
    if any(bearer.policy == rule.name for bearer in session.bearers.values()):
        return StepResult(state)
    try:
        s5u = await request.claims.teid(f"policy.{rule.name}.s5u")
    except ClaimError:
        return StepResult(state)
    charging_id = next(request.claims.draws.sequence(f"policy.{rule.name}.charging"))
    qos = rule_qos(rule)
    pgw_fteid = local_fteid(FteidInterface.S5S8_PGW_GTPU, s5u.value, config.gtpu.address)
    message = CreateBearerRequest(
        teid=session.sgw_control.teid,
        linked_ebi=session.linked_ebi,
        bearer_contexts=(
            CreateBearerRequestContext(
                ebi=0,  # the MME allocates the EBI (TS 23.401 5.4.1 step 4)
                tft=encode_tft(rule.packet_filters),
                bearer_qos=qos,
                s5s8u_pgw_fteid=pgw_fteid,
                charging_id=charging_id,
            ),
        ),
    )
    peer = (session.sgw_control.address, config.s5.sgw_port)
    response = await exchange(effects, peer, message, state.ue_id)
    assert isinstance(response, CreateBearerResponse)
    created = [
        context
        for context in response.bearer_contexts
        if context.cause.value < CauseValue.CONTEXT_NOT_FOUND and context.ebi
    ]
    in_use = any(created[0].ebi in s.bearers for s in state.sessions.values()) if created else False
    if response.cause.value >= CauseValue.CONTEXT_NOT_FOUND or not created or in_use:
        return StepResult(state, _recorded(response))
    bearer = PgwBearer(
        ebi=created[0].ebi,
        qos=qos_of(qos),
        s5u_pgw_teid=s5u.value,
        sgw=endpoint_of(created[0].s5s8u_sgw_fteid),
        charging_id=charging_id,
        policy=rule.name,
        packet_filters=rule.packet_filters,
    )
    session = msgspec.structs.replace(session, bearers={**session.bearers, bearer.ebi: bearer})
    session, ops = install_bearers(
        config, request.claims.deployment, state, session, only={bearer.ebi}
    )
    ue = msgspec.structs.replace(state, sessions={**state.sessions, session.linked_ebi: session})
    return StepResult(ue, _recorded(response), (*s5u.ops, *ops))


async def delete_dedicated_bearer(
    config: PgwConfig,
    rule: PolicyRule,
    request: Request,
    state: PgwUe | None,
    effects: SideEffects,
) -> StepResult[PgwUe]:
    """Ask the SGW to delete the rule's bearer (TS 23.401 5.4.4.1), then release it here
    whatever the answer: the PGW's policy no longer wants it."""
    session = session_for(state, rule.apn)
    bearer = None
    if session is not None:
        bearer = next((b for b in session.bearers.values() if b.policy == rule.name), None)
    if state is None or session is None or bearer is None:
        return StepResult(state)
    message = DeleteBearerRequest(teid=session.sgw_control.teid, ebis=(bearer.ebi,))
    peer = (session.sgw_control.address, config.s5.sgw_port)
    response = await exchange(effects, peer, message, state.ue_id)
    ops: list[Op] = release_bearer(request, state.imsi, bearer)
    bearers = {ebi: b for ebi, b in session.bearers.items() if ebi != bearer.ebi}
    session = msgspec.structs.replace(session, bearers=bearers)
    ue = msgspec.structs.replace(state, sessions={**state.sessions, session.linked_ebi: session})
    return StepResult(ue, _recorded(response), tuple(ops))
