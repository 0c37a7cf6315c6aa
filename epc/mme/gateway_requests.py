"""Requests the SGW starts on S11 (TS 29.274 7.2.9-7.2.11; TS 23.401 5.3.4.3, 5.4), sans-I/O.

These are numbered by the gateways' clocks, not the agent's (docs/decisions.md, Gateways:
"Lanes"), so each kind runs in a lane of its own (`context.lane_path`): the lane's Algorithm 1
record keeps its last request ID and recorded replies, and the step writes the UE context back
conditionally in the same multi-op (`epc.algorithm1.lane_step`). The lanes:

    paging   Downlink Data Notification (stamped by the SGW's clock) and the T3413 expiries
             of the paging it starts (the notification's ID with the attempt appended)
    bearer   Delete Bearer Request (from the PGW through the SGW, or the SGW's clean-up after
             a PGW restart)

What a step decides is recorded as one `LaneReply` (MessagePack) and carried out by the
frontend after the commit, and again when a retry is answered from the record: the GTPv2-C
response, notifications without a response (the Failure Indication), S1AP the agents send to
eNBs (Paging, to UE connections: NAS), and the T3413 run to start.

Behaviour:
- Downlink Data Notification (TS 23.401 5.3.4.3 step 2-4): an ECM-IDLE registered UE is paged
  (S1AP Paging with its S-TMSI, TS 36.413 8.5) through the agents of the eNBs whose TAIs meet
  its TAI list, and the SGW gets an Acknowledge "Request accepted"; T3413 then runs, paging
  `paging_attempts` times in all, after which the SGW gets a Downlink Data Notification Failure
  Indication "UE not responding" (TS 29.274 7.2.11.3). Paging ends when the UE connects (any
  Initial UE Message; its Service Request brings the Modify Bearer the SGW waits for). A UE
  already ECM-CONNECTED: Acknowledge "UE already re-attached" (115, as Open5GS answers); no
  eNB serving its tracking areas: "Unable to page UE" (90); no registered UE with a PDN
  connection: "Context not found" (64). Paging under way: accepted, not paged again.
- Delete Bearer Request for the default bearer (linked EBI; TS 23.401 5.4.4.1, 5.3.8.3):
  the UE's only PDN connection goes, so the UE is detached "re-attach required" (TS 24.301
  5.5.2.3): ECM-CONNECTED, a Detach Request (NAS) goes to it and its Detach Accept releases the
  connection; ECM-IDLE, it is detached locally (its next TAU or Service Request is rejected
  with #10 and it attaches again). Dedicated bearers: the MME holds none (Create Bearer is
  refused), so each EBI gets "Context not found".
- Create Bearer and Update Bearer Requests: refused with "Service not supported" (68) and one
  log line; dedicated bearers are not built yet.

T3413 and T3422 cannot run at the agent: the agent takes timer commands only for a request of
its own in flight, and these requests come from the SGW. T3413 runs in the instance that paged
(`epc.mme.frontend.PagingTimers`); if that instance dies the SGW's notification guard
(`paging.notification_guard_s`) lets the next downlink packet ask again. The network Detach
Request goes once without T3422: if it is lost, the UE's next request meets its deregistered
context and is rejected with #10.
"""

from __future__ import annotations

import msgspec

from epc.algorithm1 import RequestId
from epc.codec import gtpv2c, s1ap
from epc.codec.gtpv2c import (
    BearerContextResult,
    Cause,
    CauseValue,
    CreateBearerRequest,
    CreateBearerResponse,
    CreateBearerResponseContext,
    DeleteBearerRequest,
    DeleteBearerResponse,
    DownlinkDataNotification,
    DownlinkDataNotificationAcknowledge,
    DownlinkDataNotificationFailureIndication,
    GtpcMessage,
    UpdateBearerRequest,
    UpdateBearerResponse,
)
from epc.codec.nas_messages import NetworkDetachRequest, NetworkDetachType
from epc.codec.s1ap_messages import Paging as S1apPaging
from epc.codec.s1ap_messages import PlmnIdentity, STmsi
from epc.codec.s1ap_messages import Tai as S1apTai
from epc.mme import messages, procedures
from epc.mme.context import (
    AgentUe,
    EcmState,
    EmmState,
    EnbRecord,
    Paging,
    Procedure,
    UeContext,
)
from epc.mme.outcome import CoreInitiatedPdu, Env, Event, Outcome, Turn

PAGING_LANE = "paging"
BEARER_LANE = "bearer"

UE_ALREADY_RE_ATTACHED = 115
"""TS 29.274 Table 8.4-1; the codec's CauseValue does not list it."""
UE_IDENTITY_INDEX_MODULUS = 1024
"""TS 36.304 7.1: UE_ID = IMSI mod 1024."""
LANE_AGENT = AgentUe("", 0)
"""The agent UE of a lane step's Env: no agent request is in flight, so no timer can be armed
(`Turn.stop_timer` then only forgets one)."""


class PagingRun(msgspec.Struct, frozen=True):
    """Start T3413: on expiry, the paging lane runs `request_id` for the UE."""

    seconds: float
    request_id: tuple[int, ...]


class LaneReply(msgspec.Struct, frozen=True):
    """What a lane step asks the frontend to do once committed (and on every replay)."""

    response: bytes | None = None
    """The GTPv2-C response, encoded."""
    notifications: tuple[bytes, ...] = ()
    """GTPv2-C messages without a response, to the SGW."""
    s1ap: tuple[CoreInitiatedPdu, ...] = ()
    paging_timer: PagingRun | None = None


LANE_REPLY_DECODER = msgspec.msgpack.Decoder(LaneReply)


def encode_reply(reply: LaneReply) -> bytes:
    return msgspec.msgpack.encode(reply)


# --- Downlink Data Notification (TS 23.401 5.3.4.3) -------------------------------------------


def downlink_data_notification(
    context: UeContext | None,
    message: DownlinkDataNotification,
    enbs: tuple[EnbRecord, ...],
    env: Env,
) -> tuple[Outcome, LaneReply]:
    """Page an idle UE, or say why not; the Acknowledge goes back either way."""
    if context is None or context.emm is not EmmState.REGISTERED or context.pdn is None:
        return _acknowledge(context, CauseValue.CONTEXT_NOT_FOUND, "no registered UE to page")
    teid = context.pdn.sgw_s11.teid
    if context.ecm is EcmState.CONNECTED:
        event = "Downlink Data Notification for a connected UE"
        return _acknowledge(context, UE_ALREADY_RE_ATTACHED, event, teid)
    if context.paging is not None:
        return Outcome(context), _ack_reply(teid, CauseValue.REQUEST_ACCEPTED)
    turn = Turn.of(context, env)
    pages = _paging(turn.context, enbs, env)
    if not pages:
        event = "no eNB serves the UE's tracking areas"
        return _acknowledge(context, CauseValue.UNABLE_TO_PAGE_UE, event, teid)
    ebi = message.ebi if message.ebi is not None else context.pdn.ebi
    turn.context.paging = Paging(request_id=env.request_id, ebi=ebi)
    turn.log("paging the UE for downlink data", enbs=len(pages), ebi=ebi)
    reply = LaneReply(
        response=_encoded_ack(teid, CauseValue.REQUEST_ACCEPTED),
        s1ap=pages,
        paging_timer=_t3413(env, env.request_id, 1),
    )
    return turn.done(), reply


def paging_expired(
    context: UeContext | None, paging: RequestId, enbs: tuple[EnbRecord, ...], env: Env
) -> tuple[Outcome, LaneReply]:
    """T3413 expired for the paging of notification `paging`: page again, or give up and send
    the SGW a Failure Indication (TS 29.274 7.2.11.3, cause "UE not responding")."""
    current = None if context is None else context.paging
    if context is None or current is None or current.request_id != paging:
        return Outcome(context), LaneReply()  # the UE came back, or a newer paging runs
    turn = Turn.of(context, env)
    if current.attempts < env.config.timers.paging_attempts:
        pages = _paging(turn.context, enbs, env)
        attempts = current.attempts + 1
        turn.context.paging = msgspec.structs.replace(current, attempts=attempts)
        turn.log("T3413 expired, paging again", attempt=attempts)
        return turn.done(), LaneReply(s1ap=pages, paging_timer=_t3413(env, paging, attempts))
    turn.context.paging = None
    turn.log("paging not answered: Downlink Data Notification Failure Indication", "warning")
    assert context.pdn is not None
    failure = DownlinkDataNotificationFailureIndication(
        teid=context.pdn.sgw_s11.teid,
        cause=Cause(CauseValue.UE_NOT_RESPONDING),
        imsi=context.imsi,
    )
    return turn.done(), LaneReply(notifications=(gtpv2c.encode(failure),))


def _t3413(env: Env, paging: RequestId, attempt: int) -> PagingRun:
    return PagingRun(env.config.timers.t3413_s, (*paging, attempt))


def _paging(context: UeContext, enbs: tuple[EnbRecord, ...], env: Env):
    """S1AP Paging (TS 36.413 8.5) by S-TMSI to each eNB serving a TAI of the UE's list."""
    config = env.config
    assert context.imsi is not None and context.m_tmsi is not None
    tais = {(tai.plmn, tai.tac) for tai in messages.tai_list(config)}
    plmn = PlmnIdentity(config.mme.plmn.mcc, config.mme.plmn.mnc)
    pages = []
    for enb in enbs:
        served = tuple(tai for tai in enb.tais if (tai.plmn, tai.tac) in tais)
        if not served:
            continue
        paging = S1apPaging(
            ue_identity_index=int(context.imsi) % UE_IDENTITY_INDEX_MODULUS,
            paging_identity=STmsi(config.mme.mme_code, context.m_tmsi),
            cn_domain="ps",
            tai_list=tuple(S1apTai(plmn, tai.tac) for tai in served),
        )
        pages.append(CoreInitiatedPdu(enb.agent, 0, 0, s1ap.encode(paging)))
    return tuple(pages)


def _acknowledge(
    context: UeContext | None, cause: int, event: str, teid: int = 0
) -> tuple[Outcome, LaneReply]:
    logged = Event("Downlink Data Notification not paged", "info", (("why", event),))
    return Outcome(context, events=(logged,)), _ack_reply(teid, cause)


def _ack_reply(teid: int, cause: int) -> LaneReply:
    return LaneReply(response=_encoded_ack(teid, cause))


def _encoded_ack(teid: int, cause: int) -> bytes:
    return gtpv2c.encode(DownlinkDataNotificationAcknowledge(teid=teid, cause=Cause(cause)))


# --- Delete Bearer Request (TS 23.401 5.4.4.1; TS 29.274 7.2.9.2, 7.2.10.2) --------------------


def delete_bearer_request(
    context: UeContext | None, message: DeleteBearerRequest, env: Env
) -> tuple[Outcome, LaneReply]:
    pdn = None if context is None else context.pdn
    if context is None or pdn is None:
        response = DeleteBearerResponse(teid=0, cause=Cause(CauseValue.CONTEXT_NOT_FOUND))
        return Outcome(context), LaneReply(response=gtpv2c.encode(response))
    teid = pdn.sgw_s11.teid
    if message.linked_ebi != pdn.ebi and pdn.ebi not in message.ebis:
        not_found = Cause(CauseValue.CONTEXT_NOT_FOUND)
        results = tuple(BearerContextResult(ebi=ebi, cause=not_found) for ebi in message.ebis)
        response = DeleteBearerResponse(teid=teid, cause=not_found, bearer_contexts=results)
        event = Event("Delete Bearer Request for bearers the UE does not have", "warning")
        return Outcome(context, events=(event,)), LaneReply(response=gtpv2c.encode(response))
    turn = Turn.of(context, env)
    cause = None if message.cause is None else message.cause.value
    turn.log("PDN connection deleted by the gateway: UE detached", gtp_cause=cause)
    detach_reattach_required(turn)
    accepted = Cause(CauseValue.REQUEST_ACCEPTED)
    if message.linked_ebi is not None:
        response = DeleteBearerResponse(teid=teid, cause=accepted, linked_ebi=message.linked_ebi)
    else:
        results = tuple(BearerContextResult(ebi=ebi, cause=accepted) for ebi in message.ebis)
        response = DeleteBearerResponse(teid=teid, cause=accepted, bearer_contexts=results)
    return turn.done(), LaneReply(response=gtpv2c.encode(response))


def detach_reattach_required(turn: Turn) -> None:
    """TS 24.301 5.5.2.3: the default bearer of the UE's last PDN connection is gone. A
    connected UE gets a Detach Request "re-attach required" and its Detach Accept releases the
    connection (`procedures.detach_accepted`); an idle one is detached locally."""
    ctx = turn.context
    procedures.end_procedure(turn)
    turn.stop_all_timers()
    ctx.pdn = None
    ctx.paging = None
    ctx.attach = None
    if ctx.ecm is EcmState.CONNECTED and ctx.connection is not None:
        request = NetworkDetachRequest(detach_type=NetworkDetachType.REATTACH_REQUIRED)
        procedures.send_nas(turn, request)
        ctx.emm = EmmState.DEREGISTERED_INITIATED
        ctx.procedure = Procedure.DETACH
        return
    ctx.emm = EmmState.DEREGISTERED


# --- requests refused ---------------------------------------------------------------------------


def refuse(message: GtpcMessage, teid: int) -> GtpcMessage | None:
    """Create / Update Bearer: dedicated bearers are not supported (yet)."""
    refused = Cause(CauseValue.SERVICE_NOT_SUPPORTED)
    match message:
        case CreateBearerRequest(bearer_contexts=contexts):
            results = tuple(CreateBearerResponseContext(ebi=0, cause=refused) for _ in contexts)
            return CreateBearerResponse(teid=teid, cause=refused, bearer_contexts=results)
        case UpdateBearerRequest():
            return UpdateBearerResponse(teid=teid, cause=refused)
    return None


def lane_outputs(before: UeContext | None, outcome: Outcome) -> tuple[CoreInitiatedPdu, ...]:
    """The step's S1AP, all core-initiated in a lane (no agent request is in flight): what
    it sent "in reply" goes to the UE's connection as it was when the step began, then what
    it addressed itself."""
    connection = before.connection if before is not None else None
    if connection is None:
        return outcome.core_initiated
    to_ue = tuple(CoreInitiatedPdu.to_connection(connection, pdu) for pdu in outcome.downlink)
    return to_ue + outcome.core_initiated
