"""Dedicated bearers the PGW asks for, relayed by the SGW to the MME (TS 23.401 5.4.1 Create,
5.4.2 Update, 5.4.4.1 Delete; TS 29.274 clauses 7.2.3, 7.2.4, 7.2.9.2, 7.2.10.2, 7.2.15,
7.2.16).

Each is an Algorithm 1 step in the UE's "s5" lane (requests the PGW starts, ordered by the
PGW's stamps; see `epc.gtpc.frontend`), whose side effect is the same request toward the MME,
stamped with the PGW's request ID and an index. The SGW claims the new bearer's S1-U and S5-U
TEIDs, gives the MME its S1-U F-TEID, and gives the PGW its S5-U F-TEID with the EBI the MME
assigned.
"""

from __future__ import annotations

from dataclasses import replace

import msgspec

from epc.algorithm1 import SideEffects, StepResult
from epc.codec.gtpv2c import (
    BearerContextResult,
    Cause,
    CauseValue,
    CreateBearerRequest,
    CreateBearerRequestContext,
    CreateBearerResponse,
    CreateBearerResponseContext,
    DeleteBearerRequest,
    DeleteBearerResponse,
    FteidInterface,
    UpdateBearerRequest,
    UpdateBearerRequestContext,
    UpdateBearerResponse,
)
from epc.gtpc.claims import ClaimError
from epc.gtpc.procedure import Request, exchange, reply_with
from epc.gtpc.stored import endpoint_of, local_fteid, qos_of
from epc.sgw.config import SgwConfig
from epc.sgw.context import SgwBearer, SgwSession, SgwUe
from epc.sgw.sessions import (
    ACCEPTED,
    drop_session,
    install_bearers,
    reject,
    rejected,
    release_bearer,
)
from epc.store import Op

S5_LANE = "s5"


def _session(state: SgwUe | None, teid: int) -> SgwSession | None:
    return None if state is None else state.session_of_s5_teid(teid)


def _mme(config: SgwConfig, ue: SgwUe):
    assert ue.mme_control is not None
    return ue.mme_control.address, config.s11.mme_port


async def create_bearer(
    config: SgwConfig, request: Request, state: SgwUe | None, effects: SideEffects
) -> StepResult[SgwUe]:
    message = request.message
    assert isinstance(message, CreateBearerRequest)
    session = _session(state, message.teid)
    if state is None or session is None or state.mme_control is None:
        return StepResult(state, reject(CreateBearerResponse, 0, CauseValue.CONTEXT_NOT_FOUND))
    pgw_teid = session.pgw_control.teid
    try:
        offered = [await _claim(request, context) for context in message.bearer_contexts]
    except ClaimError:
        cause = CauseValue.NO_RESOURCES_AVAILABLE
        return StepResult(state, reject(CreateBearerResponse, pgw_teid, cause))
    to_mme = CreateBearerRequest(
        teid=state.mme_control.teid,
        linked_ebi=message.linked_ebi,
        pti=message.pti,
        pco=message.pco,
        bearer_contexts=tuple(
            replace(
                context,
                s1u_sgw_fteid=local_fteid(
                    FteidInterface.S1U_SGW_GTPU, s1u.value, config.gtpu.address
                ),
                s5s8u_pgw_fteid=None,
            )
            for context, (s1u, _) in zip(message.bearer_contexts, offered, strict=True)
        ),
    )
    response = await exchange(effects, _mme(config, state), to_mme, state.ue_id)
    assert isinstance(response, CreateBearerResponse)
    ue, results, ops = _take_created(config, request, state, session, message, offered, response)
    answer = CreateBearerResponse(teid=pgw_teid, cause=response.cause, bearer_contexts=results)
    return StepResult(ue, reply_with(answer), tuple(ops))


async def _claim(request: Request, context: CreateBearerRequestContext):
    """S1-U and S5-U TEIDs for one requested bearer, named after the PGW's S5-U TEID (the
    bearer has no EBI until the MME gives it one)."""
    key = 0 if context.s5s8u_pgw_fteid is None else context.s5s8u_pgw_fteid.teid
    s1u = await request.claims.teid(f"cb.{key}.s1u")
    s5u = await request.claims.teid(f"cb.{key}.s5u")
    return s1u, s5u


def _take_created(config, request, ue, session, message, offered, response):
    """The bearers the MME accepted, matched to what was offered by the S1-U SGW F-TEID it
    echoes (or by position), installed; and the PGW's view of each."""
    by_s1u = {s1u.value: index for index, (s1u, _) in enumerate(offered)}
    results: list[CreateBearerResponseContext] = []
    ops: list[Op] = []
    bearers = dict(session.bearers)
    for position, context in enumerate(response.bearer_contexts):
        echoed = context.s1u_sgw_fteid
        index = by_s1u.get(echoed.teid, position) if echoed is not None else position
        if index >= len(offered):
            continue
        s1u, s5u = offered[index]
        asked = message.bearer_contexts[index]
        if rejected(context.cause) or rejected(response.cause) or not context.ebi:
            results.append(CreateBearerResponseContext(ebi=context.ebi, cause=context.cause))
            continue
        if ue.bearer(context.ebi) is not None or context.ebi in bearers:
            # An EBI the UE already uses: taking it would orphan the bearer holding it.
            refused = Cause(CauseValue.REQUEST_REJECTED)
            results.append(CreateBearerResponseContext(ebi=context.ebi, cause=refused))
            continue
        bearers[context.ebi] = SgwBearer(
            ebi=context.ebi,
            qos=qos_of(asked.bearer_qos),
            s1u_sgw_teid=s1u.value,
            s5u_sgw_teid=s5u.value,
            enb=endpoint_of(context.s1u_enodeb_fteid),
            pgw=endpoint_of(asked.s5s8u_pgw_fteid),
            charging_id=asked.charging_id,
        )
        ops += [*s1u.ops, *s5u.ops]
        results.append(
            CreateBearerResponseContext(
                ebi=context.ebi,
                cause=context.cause,
                s5s8u_sgw_fteid=local_fteid(
                    FteidInterface.S5S8_SGW_GTPU, s5u.value, config.gtpu.address
                ),
                s5s8u_pgw_fteid=asked.s5s8u_pgw_fteid,
            )
        )
    new = set(bearers) - set(session.bearers)
    session = msgspec.structs.replace(session, bearers=bearers)
    session, written = install_bearers(config, request.claims.deployment, ue, session, new)
    return ue.with_session(session), tuple(results), ops + written


async def update_bearer(
    config: SgwConfig, request: Request, state: SgwUe | None, effects: SideEffects
) -> StepResult[SgwUe]:
    """Relay the PGW's new QoS / TFT for bearers of the session, keep the accepted QoS."""
    message = request.message
    assert isinstance(message, UpdateBearerRequest)
    session = _session(state, message.teid)
    if state is None or session is None or state.mme_control is None:
        return StepResult(state, reject(UpdateBearerResponse, 0, CauseValue.CONTEXT_NOT_FOUND))
    to_mme = UpdateBearerRequest(
        teid=state.mme_control.teid,
        bearer_contexts=message.bearer_contexts,
        apn_ambr=message.apn_ambr,
        pti=message.pti,
        pco=message.pco,
        indication=message.indication,
    )
    response = await exchange(effects, _mme(config, state), to_mme, state.ue_id)
    assert isinstance(response, UpdateBearerResponse)
    accepted = {r.ebi for r in response.bearer_contexts if not rejected(r.cause)}
    if rejected(response.cause):
        accepted = set()
    bearers = dict(session.bearers)
    for context in message.bearer_contexts:
        if context.ebi in accepted and context.ebi in bearers:
            bearers[context.ebi] = _updated(bearers[context.ebi], context)
    session = msgspec.structs.replace(
        session,
        bearers=bearers,
        apn_ambr=(message.apn_ambr.uplink, message.apn_ambr.downlink)
        if accepted
        else session.apn_ambr,
    )
    session, ops = install_bearers(config, request.claims.deployment, state, session, accepted)
    answer = UpdateBearerResponse(
        teid=session.pgw_control.teid,
        cause=response.cause,
        bearer_contexts=response.bearer_contexts,
    )
    return StepResult(state.with_session(session), reply_with(answer), tuple(ops))


def _updated(bearer: SgwBearer, context: UpdateBearerRequestContext) -> SgwBearer:
    if context.bearer_qos is None:
        return bearer
    return msgspec.structs.replace(bearer, qos=qos_of(context.bearer_qos))


async def delete_bearer(
    config: SgwConfig, request: Request, state: SgwUe | None, effects: SideEffects
) -> StepResult[SgwUe]:
    """Relay the deletion of dedicated bearers (`ebis`) or of the whole PDN connection
    (`linked_ebi`); the SGW releases them once the MME has answered, whatever it says (TS
    23.401 5.4.4.1 step 8: the PGW deletes them anyway)."""
    message = request.message
    assert isinstance(message, DeleteBearerRequest)
    session = _session(state, message.teid)
    if state is None or session is None or state.mme_control is None:
        return StepResult(state, reject(DeleteBearerResponse, 0, CauseValue.CONTEXT_NOT_FOUND))
    to_mme = DeleteBearerRequest(
        teid=state.mme_control.teid,
        linked_ebi=message.linked_ebi,
        ebis=message.ebis,
        pti=message.pti,
        pco=message.pco,
        cause=message.cause,
        indication=message.indication,
    )
    response = await exchange(effects, _mme(config, state), to_mme, state.ue_id)
    cause = getattr(response, "cause", Cause(CauseValue.REQUEST_ACCEPTED))
    if message.linked_ebi is not None and not message.ebis:
        ue, ops = drop_session(request, state, session, retire=False)
        answer = DeleteBearerResponse(
            teid=session.pgw_control.teid, cause=cause, linked_ebi=message.linked_ebi
        )
        return StepResult(ue, reply_with(answer), tuple(ops))
    ops: list[Op] = []
    results = []
    bearers = dict(session.bearers)
    for ebi in message.ebis:
        bearer = bearers.get(ebi)
        if bearer is None or ebi == session.linked_ebi:
            # The default bearer goes only with its PDN connection (linked EBI).
            refused = (
                CauseValue.CONTEXT_NOT_FOUND if bearer is None else CauseValue.REQUEST_REJECTED
            )
            results.append(BearerContextResult(ebi=ebi, cause=Cause(refused)))
            continue
        del bearers[ebi]
        ops += release_bearer(request, state.imsi, bearer)
        results.append(BearerContextResult(ebi=ebi, cause=ACCEPTED))
    session = msgspec.structs.replace(session, bearers=bearers)
    answer = DeleteBearerResponse(
        teid=session.pgw_control.teid, cause=cause, bearer_contexts=tuple(results)
    )
    return StepResult(state.with_session(session), reply_with(answer), tuple(ops))
