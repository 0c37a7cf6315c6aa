"""The SGW's S11 session procedures (TS 29.274 clauses 7.2.1-7.2.10, 7.2.21; TS 23.401 5.3.2
attach, 5.3.4 service request, 5.3.5 S1 release, 5.3.8 detach, 5.10 PDN connections), each an
Algorithm 1 step in the UE's "ue" lane, ordered by the MME's stamps:

- Create Session: claim the S11, S5-C, S1-U and S5-U TEIDs, ask the PGW (S5 Create Session,
  the step's side effect), keep the session, answer with the SGW's F-TEIDs and what the PGW gave;
- Modify Bearer: take the eNB's S1-U F-TEIDs (UE connected), tell the PGW of a new location or
  RAT (S5 Modify Bearer) when the MME reports one;
- Delete Session: ask the PGW, then free the session's TEIDs and forwarding records;
- Release Access Bearers: forget the eNB's F-TEIDs (UE idle: downlink is buffered).

Shared with the bearer relay and paging (`epc.sgw.bearers`, `epc.sgw.paging`): how a bearer's
forwarding record is written and how a session's resources are released.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

import msgspec

from epc.algorithm1 import Reply, SideEffects, StepResult
from epc.codec.gtpv2c import (
    BearerContextCreated,
    BearerContextModified,
    BearerContextToBeCreated,
    Cause,
    CauseValue,
    CreateSessionRequest,
    CreateSessionResponse,
    DeleteSessionRequest,
    DeleteSessionResponse,
    FteidInterface,
    IeType,
    ModifyBearerRequest,
    ModifyBearerResponse,
    ReleaseAccessBearersRequest,
    ReleaseAccessBearersResponse,
)
from epc.forwarding import Endpoint, remove_rule, write_session_rules
from epc.gtpc.claims import ClaimError
from epc.gtpc.procedure import Request, exchange, reply_with
from epc.gtpc.stored import bearer_qos_of, endpoint_of, local_fteid, qos_of
from epc.sgw.config import SgwConfig
from epc.sgw.context import SgwBearer, SgwSession, SgwUe, forwarding_rule
from epc.store import Op

ACCEPTED = Cause(CauseValue.REQUEST_ACCEPTED)
FIRST_REJECTION = CauseValue.CONTEXT_NOT_FOUND


def rejected(cause: Cause | None) -> bool:
    return cause is None or cause.value >= FIRST_REJECTION


def reject(response_class: type, teid: int, cause: int, offending_ie=None) -> Reply:
    return reply_with(response_class(teid=teid, cause=Cause(cause, offending_ie=offending_ie)))


def mme_teid(ue: SgwUe | None) -> int:
    return 0 if ue is None or ue.mme_control is None else ue.mme_control.teid


# --- shared with the other SGW procedures ------------------------------------------------------


def install_bearers(
    config: SgwConfig,
    deployment: str,
    ue: SgwUe,
    session: SgwSession,
    only: Iterable[int] | None = None,
) -> tuple[SgwSession, list[Op]]:
    """Write the forwarding records of the session's bearers (all, or the EBIs in `only`)."""
    return write_session_rules(
        deployment,
        session,
        lambda bearer: forwarding_rule(ue, session, bearer, config.gtpu.address),
        only,
    )


def release_bearer(request: Request, imsi: str, bearer: SgwBearer) -> list[Op]:
    """Free the bearer's S1-U and S5-U TEIDs and remove its forwarding record."""
    claims = request.claims
    ops: list[Op] = [claims.release_teid(bearer.s1u_sgw_teid)]
    ops.append(claims.release_teid(bearer.s5u_sgw_teid))
    if bearer.forwarding_version is not None:
        version = bearer.forwarding_version
        ops.append(remove_rule(claims.deployment, "sgw", imsi, bearer.ebi, version))
    return ops


def drop_session(
    request: Request, ue: SgwUe, session: SgwSession, *, retire: bool
) -> tuple[SgwUe, list[Op]]:
    """The UE without the session, and the ops freeing its bearers. Its S5-C TEID (and the S11
    TEID when no session is left) is retired when `retire` (see `SgwUe.retired_teids`), else
    freed at once."""
    ops: list[Op] = []
    for bearer in session.bearers.values():
        ops += release_bearer(request, ue.imsi, bearer)
    sessions = {ebi: s for ebi, s in ue.sessions.items() if ebi != session.linked_ebi}
    control = [session.s5c_sgw_teid]
    s11 = ue.s11_sgw_teid
    if not sessions and s11 is not None:
        control.append(s11)
        s11 = None
    retired = ue.retired_teids
    if retire:
        retired = (*retired, *control)
    else:
        ops += [request.claims.release_teid(teid) for teid in control]
    ue = msgspec.structs.replace(ue, sessions=sessions, s11_sgw_teid=s11, retired_teids=retired)
    return ue, ops


# --- Create Session ----------------------------------------------------------------------------


async def create_session(
    config: SgwConfig, request: Request, state: SgwUe | None, effects: SideEffects
) -> StepResult[SgwUe]:
    message = request.message
    assert isinstance(message, CreateSessionRequest)
    mme = endpoint_of(message.sender_fteid)
    if mme is None:
        offending = (IeType.FTEID, 0)
        reply = reject(CreateSessionResponse, 0, CauseValue.MANDATORY_IE_INCORRECT, offending)
        return StepResult(state, reply)
    pgw_fteid = endpoint_of(message.pgw_s5s8_fteid)
    pgw_address = pgw_fteid.address if pgw_fteid is not None else config.s5.pgw_address
    if pgw_address is None:
        cause = CauseValue.CONDITIONAL_IE_MISSING
        offending = (IeType.FTEID, 1)  # PGW S5/S8 Address for Control Plane
        return StepResult(state, reject(CreateSessionResponse, mme.teid, cause, offending))
    ue = state or SgwUe(imsi=request.imsi)
    ops: list[Op] = [request.claims.release_teid(teid) for teid in ue.retired_teids]
    ue = msgspec.structs.replace(
        ue,
        ue_id=request.ue_id or ue.ue_id,
        mme_control=mme,
        location=location_of(message) or ue.location,
        retired_teids=(),
    )
    replaced = ue.sessions.get(message.bearer_contexts[0].ebi)
    if replaced is not None:
        # A new PDN connection with the EBI of an existing one (TS 23.401 5.3.2.1: a UE that
        # attaches again): the old one goes first, at the PGW too.
        await _delete_at_pgw(config, replaced, ue, effects)
        ue, released = drop_session(request, ue, replaced, retire=False)
        ops += released
    try:
        claimed, session, claim_ops = await _claim(request, ue, message, pgw_address)
    except ClaimError:
        cause = CauseValue.NO_RESOURCES_AVAILABLE
        return StepResult(ue, reject(CreateSessionResponse, mme.teid, cause), tuple(ops))
    response = await exchange(
        effects, config.s5.pgw(pgw_address), _s5_request(config, message, session), ue.ue_id
    )
    if not isinstance(response, CreateSessionResponse) or rejected(response.cause):
        # Nothing claimed is kept: the PGW holds nothing of this session either.
        cause = getattr(response, "cause", Cause(CauseValue.SYSTEM_FAILURE))
        remote = Cause(cause.value, from_remote_node=True, offending_ie=cause.offending_ie)
        reply = reply_with(CreateSessionResponse(teid=mme.teid, cause=remote))
        return StepResult(ue, reply, tuple(ops))
    ue = claimed
    ops += claim_ops
    session = _with_pgw_answer(session, response)
    session, forwarding_ops = install_bearers(config, request.claims.deployment, ue, session)
    ops += forwarding_ops
    ue = ue.with_session(session)
    return StepResult(ue, reply_with(_s11_response(config, ue, session, response)), tuple(ops))


async def _claim(
    request: Request, ue: SgwUe, message: CreateSessionRequest, pgw_address: str
) -> tuple[SgwUe, SgwSession, list[Op]]:
    """The TEIDs of the new session: S11 (once per UE), S5-C, and S1-U and S5-U per bearer."""
    claims = request.claims
    ops: list[Op] = []
    if ue.s11_sgw_teid is None:
        s11 = await claims.teid("s11")
        ue = msgspec.structs.replace(ue, s11_sgw_teid=s11.value)
        ops += s11.ops
    default = message.bearer_contexts[0]
    s5c = await claims.teid(f"s5c.{default.ebi}")
    ops += s5c.ops
    bearers = {}
    for context in message.bearer_contexts:
        s1u = await claims.teid(f"s1u.{context.ebi}")
        s5u = await claims.teid(f"s5u.{context.ebi}")
        ops += [*s1u.ops, *s5u.ops]
        bearers[context.ebi] = SgwBearer(
            ebi=context.ebi,
            qos=qos_of(context.bearer_qos),
            s1u_sgw_teid=s1u.value,
            s5u_sgw_teid=s5u.value,
            enb=endpoint_of(context.s1u_enodeb_fteid),
        )
    session = SgwSession(
        linked_ebi=default.ebi,
        apn=message.apn,
        s5c_sgw_teid=s5c.value,
        pgw_control=Endpoint(0, pgw_address),  # the PGW's TEID comes with its answer
        bearers=bearers,
    )
    return ue, session, ops


def _s5_request(
    config: SgwConfig, message: CreateSessionRequest, session: SgwSession
) -> CreateSessionRequest:
    """The S5 Create Session Request: the MME's, with the SGW's S5 F-TEIDs in place of the
    MME's and of the eNB's."""
    contexts = tuple(
        BearerContextToBeCreated(
            ebi=context.ebi,
            bearer_qos=context.bearer_qos,
            tft=context.tft,
            s5s8u_sgw_fteid=local_fteid(
                FteidInterface.S5S8_SGW_GTPU,
                session.bearers[context.ebi].s5u_sgw_teid,
                config.gtpu.address,
            ),
        )
        for context in message.bearer_contexts
    )
    return replace(
        message,
        teid=0,
        sender_fteid=local_fteid(
            FteidInterface.S5S8_SGW_GTPC, session.s5c_sgw_teid, config.gtpc.address
        ),
        pgw_s5s8_fteid=None,
        bearer_contexts=contexts,
        bearer_contexts_to_be_removed=(),
        recovery=None,
    )


def _with_pgw_answer(session: SgwSession, response: CreateSessionResponse) -> SgwSession:
    bearers = dict(session.bearers)
    for context in response.bearer_contexts_created:
        bearer = bearers.get(context.ebi)
        if bearer is None:
            continue
        if rejected(context.cause):
            del bearers[context.ebi]
            continue
        bearers[context.ebi] = msgspec.structs.replace(
            bearer,
            pgw=endpoint_of(context.s5s8u_pgw_fteid),
            charging_id=context.charging_id,
            qos=qos_of(context.bearer_qos) if context.bearer_qos else bearer.qos,
        )
    paa = response.paa
    return msgspec.structs.replace(
        session,
        pgw_control=endpoint_of(response.sender_fteid) or session.pgw_control,
        ue_ipv4=None if paa is None or paa.ipv4 is None else str(paa.ipv4),
        apn_ambr=(0, 0)
        if response.apn_ambr is None
        else (response.apn_ambr.uplink, response.apn_ambr.downlink),
        bearers=bearers,
    )


def _s11_response(
    config: SgwConfig, ue: SgwUe, session: SgwSession, pgw: CreateSessionResponse
) -> CreateSessionResponse:
    assert ue.mme_control is not None and ue.s11_sgw_teid is not None
    created = tuple(
        BearerContextCreated(
            ebi=bearer.ebi,
            cause=ACCEPTED,
            s1u_sgw_fteid=local_fteid(
                FteidInterface.S1U_SGW_GTPU, bearer.s1u_sgw_teid, config.gtpu.address
            ),
            bearer_qos=bearer_qos_of(bearer.qos),
            charging_id=bearer.charging_id,
        )
        for bearer in session.bearers.values()
    )
    return CreateSessionResponse(
        teid=ue.mme_control.teid,
        cause=pgw.cause,
        sender_fteid=local_fteid(
            FteidInterface.S11_S4_SGW_GTPC, ue.s11_sgw_teid, config.gtpc.address
        ),
        pgw_s5s8_fteid=pgw.sender_fteid,
        paa=pgw.paa,
        apn_ambr=pgw.apn_ambr,
        pco=pgw.pco,
        bearer_contexts_created=created,
        bearer_contexts_marked_for_removal=pgw.bearer_contexts_marked_for_removal,
    )


async def _delete_at_pgw(
    config: SgwConfig, session: SgwSession, ue: SgwUe, effects: SideEffects, **details
):
    """S5 Delete Session for `session`; the PGW's answer changes nothing here (a PGW that no
    longer knows the session has nothing to delete)."""
    message = DeleteSessionRequest(
        teid=session.pgw_control.teid, linked_ebi=session.linked_ebi, **details
    )
    return await exchange(effects, config.s5.pgw(session.pgw_control.address), message, ue.ue_id)


# --- Modify Bearer -----------------------------------------------------------------------------


def location_of(message: ModifyBearerRequest | CreateSessionRequest) -> bytes | None:
    """What the PGW must hear about when it changes (TS 23.401 5.3.4.1 step 8, 5.3.3): the
    ULI and RAT type as last reported, in a form that compares."""
    if message.user_location is None and message.rat_type is None:
        return None
    return msgspec.msgpack.encode((message.user_location, message.rat_type))


async def modify_bearer(
    config: SgwConfig, request: Request, state: SgwUe | None, effects: SideEffects
) -> StepResult[SgwUe]:
    message = request.message
    assert isinstance(message, ModifyBearerRequest)
    if state is None or not state.sessions:
        return StepResult(state, reject(ModifyBearerResponse, 0, CauseValue.CONTEXT_NOT_FOUND))
    ue = msgspec.structs.replace(
        state,
        ue_id=request.ue_id or state.ue_id,
        mme_control=endpoint_of(message.sender_fteid) or state.mme_control,
        paging_since_us=None,
    )
    results: list[BearerContextModified] = []
    changed: dict[int, set[int]] = {}
    for context in message.bearer_contexts_to_be_modified:
        found = ue.bearer(context.ebi)
        if found is None:
            cause = Cause(CauseValue.CONTEXT_NOT_FOUND)
            results.append(BearerContextModified(ebi=context.ebi, cause=cause))
            continue
        session, bearer = found
        enb = endpoint_of(context.s1u_enodeb_fteid) or bearer.enb
        bearer = msgspec.structs.replace(bearer, enb=enb)
        ue = ue.with_session(
            msgspec.structs.replace(session, bearers={**session.bearers, bearer.ebi: bearer})
        )
        changed.setdefault(session.linked_ebi, set()).add(bearer.ebi)
        results.append(_modified(config, bearer))
    location = location_of(message)
    handover = message.indication is not None and message.indication.has("HI")
    cause = ACCEPTED
    if (location is not None and location != state.location) or handover:
        ue = msgspec.structs.replace(ue, location=location or state.location)
        cause = await _tell_pgws(config, ue, message, effects) or cause
    ops: list[Op] = []
    for linked_ebi, ebis in changed.items():
        session, written = install_bearers(
            config, request.claims.deployment, ue, ue.sessions[linked_ebi], ebis
        )
        ue = ue.with_session(session)
        ops += written
    if cause.value == CauseValue.REQUEST_ACCEPTED and any(rejected(r.cause) for r in results):
        cause = Cause(CauseValue.REQUEST_ACCEPTED_PARTIALLY)
    response = ModifyBearerResponse(
        teid=mme_teid(ue), cause=cause, bearer_contexts_modified=tuple(results)
    )
    return StepResult(ue, reply_with(response), tuple(ops))


def _modified(config: SgwConfig, bearer: SgwBearer) -> BearerContextModified:
    return BearerContextModified(
        ebi=bearer.ebi,
        cause=ACCEPTED,
        s1u_sgw_fteid=local_fteid(
            FteidInterface.S1U_SGW_GTPU, bearer.s1u_sgw_teid, config.gtpu.address
        ),
        charging_id=bearer.charging_id,
    )


async def _tell_pgws(
    config: SgwConfig, ue: SgwUe, message: ModifyBearerRequest, effects: SideEffects
) -> Cause | None:
    """S5 Modify Bearer to the PGW of every session; the first rejection, if any, is the
    answer's cause (from the remote node)."""
    for session in ue.sessions.values():
        s5 = ModifyBearerRequest(
            teid=session.pgw_control.teid,
            user_location=message.user_location,
            serving_network=message.serving_network,
            rat_type=message.rat_type,
            indication=message.indication,
        )
        peer = config.s5.pgw(session.pgw_control.address)
        response = await exchange(effects, peer, s5, ue.ue_id)
        if rejected(getattr(response, "cause", None)):
            value = getattr(response, "cause", Cause(CauseValue.SYSTEM_FAILURE)).value
            return Cause(value, from_remote_node=True)
    return None


# --- Delete Session, Release Access Bearers ----------------------------------------------------


async def delete_session(
    config: SgwConfig, request: Request, state: SgwUe | None, effects: SideEffects
) -> StepResult[SgwUe]:
    message = request.message
    assert isinstance(message, DeleteSessionRequest)
    session = None
    if state is not None:
        if message.linked_ebi is not None:
            session = state.sessions.get(message.linked_ebi)
        elif len(state.sessions) == 1:
            session = next(iter(state.sessions.values()))
    if state is None or session is None:
        cause = CauseValue.CONTEXT_NOT_FOUND
        offending = None if message.linked_ebi is None else (IeType.EBI, 0)
        return StepResult(state, reject(DeleteSessionResponse, mme_teid(state), cause, offending))
    await _delete_at_pgw(
        config,
        session,
        state,
        effects,
        user_location=message.user_location,
        indication=message.indication,
    )
    ue, ops = drop_session(request, state, session, retire=True)
    response = DeleteSessionResponse(teid=mme_teid(state), cause=ACCEPTED)
    return StepResult(ue, reply_with(response), tuple(ops))


async def release_access_bearers(
    config: SgwConfig, request: Request, state: SgwUe | None, effects: SideEffects
) -> StepResult[SgwUe]:
    """S1 release (TS 23.401 5.3.5): the eNB's F-TEIDs are forgotten, so downlink data for the
    UE is buffered and triggers a Downlink Data Notification."""
    message = request.message
    assert isinstance(message, ReleaseAccessBearersRequest)
    if state is None or not state.sessions:
        reply = reject(ReleaseAccessBearersResponse, 0, CauseValue.CONTEXT_NOT_FOUND)
        return StepResult(state, reply)
    ue = state
    ops: list[Op] = []
    for session in state.sessions.values():
        released = {
            ebi: msgspec.structs.replace(bearer, enb=None)
            for ebi, bearer in session.bearers.items()
            if not message.rab_ebis or ebi in message.rab_ebis
        }
        session = msgspec.structs.replace(session, bearers={**session.bearers, **released})
        session, written = install_bearers(
            config, request.claims.deployment, ue, session, released.keys()
        )
        ue = ue.with_session(session)
        ops += written
    response = ReleaseAccessBearersResponse(teid=mme_teid(state), cause=ACCEPTED)
    return StepResult(ue, reply_with(response), tuple(ops))
