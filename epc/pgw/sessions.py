"""The PGW's S5 session procedures (TS 29.274 clauses 7.2.1-7.2.10, TS 23.401 5.3.2, 5.4, 5.10),
each an Algorithm 1 step: Create Session (UE address from the APN's pool, S5 TEIDs, APN-AMBR,
DNS in the PCO), Modify Bearer, Delete Session, and the release of sessions of a restarted SGW.

Every step takes what the UE's context holds, claims new values through `Request.claims`
(deterministic per request, so a retried request gets the same address and TEIDs), and returns
the new context, the recorded response and the ops committing with it: index claims and
releases, forwarding records.
"""

from __future__ import annotations

from collections.abc import Iterable
from ipaddress import IPv4Address

import msgspec

from epc.algorithm1 import Reply, SideEffects, StepResult
from epc.codec.gtpv2c import (
    Ambr,
    BearerContextCreated,
    BearerContextModified,
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
    Paa,
    PdnType,
)
from epc.forwarding import remove_rule, write_session_rules
from epc.gtpc import Peer
from epc.gtpc.claims import ClaimError
from epc.gtpc.procedure import Request, reply_with
from epc.gtpc.stored import bearer_qos_of, endpoint_of, local_fteid, qos_of
from epc.pgw.config import PgwConfig
from epc.pgw.context import PgwBearer, PgwSession, PgwUe, forwarding_rule
from epc.pgw.pco import dns_answer
from epc.store import Op

ACCEPTED = Cause(CauseValue.REQUEST_ACCEPTED)
PREFERRED_PDN_TYPE_NOT_SUPPORTED = 83
"""TS 29.274 Table 8.4-1."""


def reject(response_class: type, teid: int, cause: int, offending_ie=None) -> Reply:
    """A recorded rejection that changes nothing (the state is passed back by the caller)."""
    return reply_with(response_class(teid=teid, cause=Cause(cause, offending_ie=offending_ie)))


async def create_session(
    config: PgwConfig, request: Request, state: PgwUe | None, effects: SideEffects
) -> StepResult[PgwUe]:
    message = request.message
    assert isinstance(message, CreateSessionRequest)
    sgw_control = endpoint_of(message.sender_fteid)
    ue = state or PgwUe(imsi=request.imsi)
    if sgw_control is None:
        offending = (IeType.FTEID, 0)
        reply = reject(CreateSessionResponse, 0, CauseValue.MANDATORY_IE_INCORRECT, offending)
        return StepResult(state, reply)
    apn = config.apn_named(message.apn)
    if apn is None:
        reply = reject(CreateSessionResponse, sgw_control.teid, CauseValue.MISSING_OR_UNKNOWN_APN)
        return StepResult(state, reply)
    if message.pdn_type not in (None, PdnType.IPV4, PdnType.IPV4V6):
        reply = reject(CreateSessionResponse, sgw_control.teid, PREFERRED_PDN_TYPE_NOT_SUPPORTED)
        return StepResult(state, reply)
    ops: list[Op] = [request.claims.release_teid(teid) for teid in ue.retired_teids]
    default = message.bearer_contexts[0]
    replaced = ue.sessions.get(default.ebi)
    if replaced is not None:
        ops += release_session(request, ue, replaced)
    try:
        session, claim_ops = await _claim_session(config, request, message, apn.name)
    except ClaimError as error:
        cause = CauseValue.ALL_DYNAMIC_ADDRESSES_ARE_OCCUPIED
        if "TEID" in str(error):
            cause = CauseValue.NO_RESOURCES_AVAILABLE
        return StepResult(state, reject(CreateSessionResponse, sgw_control.teid, cause))
    ops += claim_ops
    sessions = {ebi: s for ebi, s in ue.sessions.items() if ebi != default.ebi}
    ue = msgspec.structs.replace(
        ue,
        ue_id=request.ue_id or ue.ue_id,
        sessions=sessions,
        retired_teids=(),
    )
    session, forwarding_ops = install_bearers(config, request.claims.deployment, ue, session)
    ops += forwarding_ops
    ue = msgspec.structs.replace(ue, sessions={**ue.sessions, session.linked_ebi: session})
    dns = tuple(IPv4Address(server) for server in apn.dns)
    response = CreateSessionResponse(
        teid=sgw_control.teid,
        cause=ACCEPTED,
        sender_fteid=local_fteid(
            FteidInterface.S5S8_PGW_GTPC, session.s5c_pgw_teid, config.gtpc.address
        ),
        paa=Paa(PdnType.IPV4, ipv4=IPv4Address(session.ue_ipv4)),
        apn_ambr=Ambr(*session.apn_ambr),
        pco=dns_answer(message.pco, dns),
        bearer_contexts_created=tuple(
            _created(config, bearer) for bearer in session.bearers.values()
        ),
    )
    return StepResult(ue, reply_with(response), tuple(ops))


async def _claim_session(
    config: PgwConfig, request: Request, message: CreateSessionRequest, apn_name: str
) -> tuple[PgwSession, list[Op]]:
    apn = config.apn_named(apn_name)
    assert apn is not None
    claims = request.claims
    default = message.bearer_contexts[0]
    s5c = await claims.teid(f"s5c.{default.ebi}")
    address = await claims.ipv4(f"ue.{default.ebi}", apn.network, apn.reserved_addresses)
    ops = [*s5c.ops, *address.ops]
    charging = claims.draws.sequence(f"charging.{default.ebi}")
    bearers = {}
    for context in message.bearer_contexts:
        s5u = await claims.teid(f"s5u.{context.ebi}")
        ops += s5u.ops
        bearers[context.ebi] = PgwBearer(
            ebi=context.ebi,
            qos=qos_of(context.bearer_qos),
            s5u_pgw_teid=s5u.value,
            sgw=endpoint_of(context.s5s8u_sgw_fteid),
            charging_id=next(charging),
        )
    ambr = message.apn_ambr or Ambr(apn.ambr_uplink_kbps, apn.ambr_downlink_kbps)
    session = PgwSession(
        linked_ebi=default.ebi,
        apn=apn.name,
        s5c_pgw_teid=s5c.value,
        sgw_control=endpoint_of(message.sender_fteid),
        ue_ipv4=str(IPv4Address(address.value)),
        apn_ambr=(ambr.uplink, ambr.downlink),
        bearers=bearers,
    )
    return session, ops


def _created(config: PgwConfig, bearer: PgwBearer) -> BearerContextCreated:
    return BearerContextCreated(
        ebi=bearer.ebi,
        cause=ACCEPTED,
        s5s8u_pgw_fteid=local_fteid(
            FteidInterface.S5S8_PGW_GTPU, bearer.s5u_pgw_teid, config.gtpu.address
        ),
        bearer_qos=bearer_qos_of(bearer.qos),
        charging_id=bearer.charging_id,
    )


def install_bearers(
    config: PgwConfig,
    deployment: str,
    ue: PgwUe,
    session: PgwSession,
    only: Iterable[int] | None = None,
) -> tuple[PgwSession, list[Op]]:
    """Write the forwarding records of the session's bearers (all, or the EBIs in `only`)."""
    return write_session_rules(
        deployment,
        session,
        lambda bearer: forwarding_rule(ue, session, bearer, config.gtpu.address),
        only,
    )


def release_bearer(request: Request, imsi: str, bearer: PgwBearer) -> list[Op]:
    """Free the bearer's S5-U TEID and remove its forwarding record."""
    ops: list[Op] = [request.claims.release_teid(bearer.s5u_pgw_teid)]
    if bearer.forwarding_version is not None:
        ops.append(
            remove_rule(
                request.claims.deployment, "pgw", imsi, bearer.ebi, bearer.forwarding_version
            )
        )
    return ops


def release_session(
    request: Request, ue: PgwUe, session: PgwSession, *, free_control: bool = True
) -> list[Op]:
    """Free what the session holds (UE address, S5-U TEIDs, forwarding records) and, unless
    the caller retires it, its S5-C TEID."""
    ops: list[Op] = [request.claims.release_ipv4(session.ue_ipv4)]
    if free_control:
        ops.append(request.claims.release_teid(session.s5c_pgw_teid))
    for bearer in session.bearers.values():
        ops += release_bearer(request, ue.imsi, bearer)
    return ops


async def modify_bearer(
    config: PgwConfig, request: Request, state: PgwUe | None, effects: SideEffects
) -> StepResult[PgwUe]:
    """S5 Modify Bearer (TS 23.401 5.3.3 with SGW change, 5.3.4 location reporting): take the
    SGW's new S5-C / S5-U F-TEIDs when it sends them; answer for each bearer named."""
    message = request.message
    assert isinstance(message, ModifyBearerRequest)
    session = None if state is None else state.session_of_teid(message.teid)
    if state is None or session is None:
        return StepResult(state, reject(ModifyBearerResponse, 0, CauseValue.CONTEXT_NOT_FOUND))
    sgw_control = endpoint_of(message.sender_fteid) or session.sgw_control
    bearers = dict(session.bearers)
    results = []
    for context in message.bearer_contexts_to_be_modified:
        bearer = bearers.get(context.ebi)
        if bearer is None:
            cause = Cause(CauseValue.CONTEXT_NOT_FOUND)
            results.append(BearerContextModified(ebi=context.ebi, cause=cause))
            continue
        sgw = endpoint_of(context.s5s8u_sgw_fteid) or bearer.sgw
        bearers[context.ebi] = msgspec.structs.replace(bearer, sgw=sgw)
        results.append(
            BearerContextModified(ebi=context.ebi, cause=ACCEPTED, charging_id=bearer.charging_id)
        )
    changed = {context.ebi for context in message.bearer_contexts_to_be_modified}
    session = msgspec.structs.replace(session, sgw_control=sgw_control, bearers=bearers)
    session, ops = install_bearers(config, request.claims.deployment, state, session, only=changed)
    ue = msgspec.structs.replace(state, sessions={**state.sessions, session.linked_ebi: session})
    found = all(result.cause.value == CauseValue.REQUEST_ACCEPTED for result in results)
    cause = ACCEPTED if found else Cause(CauseValue.REQUEST_ACCEPTED_PARTIALLY)
    response = ModifyBearerResponse(
        teid=sgw_control.teid,
        cause=cause,
        linked_ebi=session.linked_ebi,
        bearer_contexts_modified=tuple(results),
    )
    return StepResult(ue, reply_with(response), tuple(ops))


async def delete_session(
    config: PgwConfig, request: Request, state: PgwUe | None, effects: SideEffects
) -> StepResult[PgwUe]:
    """S5 Delete Session (TS 23.401 5.3.8, 5.10.3): free the UE's address and the session's
    TEIDs and forwarding records; its S5-C TEID stays held until the UE's next Create Session,
    so a retried request still finds this context and its recorded reply."""
    message = request.message
    assert isinstance(message, DeleteSessionRequest)
    session = None if state is None else state.session_of_teid(message.teid)
    if state is None or session is None:
        return StepResult(state, reject(DeleteSessionResponse, 0, CauseValue.CONTEXT_NOT_FOUND))
    if message.linked_ebi is not None and message.linked_ebi != session.linked_ebi:
        offending = (IeType.EBI, 0)
        reply = reject(
            DeleteSessionResponse,
            session.sgw_control.teid,
            CauseValue.MANDATORY_IE_INCORRECT,
            offending,
        )
        return StepResult(state, reply)
    ops = release_session(request, state, session, free_control=False)
    ue = msgspec.structs.replace(
        state,
        sessions={ebi: s for ebi, s in state.sessions.items() if ebi != session.linked_ebi},
        retired_teids=(*state.retired_teids, session.s5c_pgw_teid),
    )
    response = DeleteSessionResponse(teid=session.sgw_control.teid, cause=ACCEPTED)
    return StepResult(ue, reply_with(response), tuple(ops))


def sessions_with_sgw(config: PgwConfig, ue: PgwUe, peer: Peer) -> list[PgwSession]:
    """The UE's sessions whose SGW is `peer`."""
    return [s for s in ue.sessions.values() if (s.sgw_control.address, config.s5.sgw_port) == peer]


async def drop_sessions_of_peer(
    config: PgwConfig, peer: Peer, request: Request, state: PgwUe | None, effects: SideEffects
) -> StepResult[PgwUe]:
    """TS 23.007 clause 16 (an SGW restarted and lost its contexts): release every session
    whose SGW is `peer`, without signalling (the SGW no longer knows them)."""
    if state is None:
        return StepResult(state)
    dropped = sessions_with_sgw(config, state, peer)
    if not dropped:
        return StepResult(state)
    ops: list[Op] = []
    for session in dropped:
        ops += release_session(request, state, session)
    kept = {ebi: s for ebi, s in state.sessions.items() if s not in dropped}
    return StepResult(msgspec.structs.replace(state, sessions=kept), ops=tuple(ops))
