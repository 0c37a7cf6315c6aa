"""The MME's EMM procedures (TS 24.301 clause 5, TS 23.401 5.3), sans-I/O.

Each entry point takes the UE context as read (None: no context yet), the decoded S1AP
message, and the `Env`, and returns an `Outcome` (`epc.mme.outcome`): the new context, the
downlink S1AP PDUs in order, the agent timer commands, the index ops, the log events, and,
when the procedure needs the store or the SGW before it can go on, an effect and the function
to resume with. Nothing here awaits, reads a clock or touches a socket.

The procedures, each a short sequence of the functions below, with its clause and timer:

    identification (5.4.4)      Identity Request / Response: the IMSI in an attach, T3470
                                the IMEISV on its own (`mme.request_imeisv`)
    GUTI reallocation (5.4.1)   GUTI Reallocation Command / Complete, after         T3450
                                `mme.guti_reallocation_after_service_requests`
    authentication (5.4.2)      Authentication Request / Response, Failure, Reject  T3460
    security mode (5.4.3)       Security Mode Command / Complete, Reject            T3460
    attach (5.5.1.2)            Attach Request; S11 Create Session; Attach Accept   T3450
                                in the Initial Context Setup; Attach Complete;
                                S11 Modify Bearer; EMM Information
    detach (5.5.2.2)            Detach Request; S11 Delete Session; Detach Accept
    TAU (5.5.3.2)               TAU Request, Accept, Complete, Reject               T3450 (new GUTI)
    service request (5.6.1)     Service Request / Reject; ICS; S11 Modify Bearer
    S1 release (23.401 5.3.5)   UE Context Release Request / Command / Complete;    mobile reachable
                                S11 Release Access Bearers
    implicit detach (5.3.7)     S11 Delete Session                                  implicit detach

The network's own common procedures (identification for the IMEISV, GUTI reallocation) start
when an EMM specific procedure has ended with the UE connected and registered, one at a time
(`network_procedures`). A UE that comes on a new S1 connection while the MME still holds
another one has that one released (`open_connection`): a UE Context Release Command to the
old eNB-UE-S1AP-ID, core-initiated through the old eNB's agent (TS 36.413 8.3.3).

Security (TS 24.301 4.4.4.3): once a connection has secure exchange of NAS messages, an
uplink message that fails its integrity check is discarded with a log line, and plain
messages are taken only if 4.4.4.3 lists them. Downlink NAS is protected (integrity and
ciphering) once the connection is secure; the Security Mode Command goes integrity protected
with the new context (header type 3).

Reject causes (TS 24.301 9.9.3.9, 9.9.4.4):
- unknown IMSI: Attach Reject #8 "EPS services and non-EPS services not allowed", the cause
  TS 29.272 Annex A (Table A.1) maps DIAMETER_ERROR_USER_UNKNOWN to, as Open5GS sends it;
- a subscriber of a PLMN not in `mme.home_plmns`: #11 "PLMN not allowed";
- authentication: RES mismatch or Authentication Failure #20 (MAC failure) / #26: Authentication
  Reject; #21 (synch failure) resynchronises once with AUTS, a second one is rejected;
- no common integrity algorithm: Attach Reject #23; Security Mode Reject from the UE: the
  attach is aborted and the connection released, the UE's cause logged;
- an APN that is neither the subscribed one nor configured: PDN Connectivity Reject ESM #27
  "missing or unknown APN" inside Attach Reject #19 "ESM failure"; a gateway refusal likewise
  (#27 for cause 78, else #26 or #30);
- TAU: #9 for a TAU Request that cannot be verified, #10 for a UE not registered, #12 for a
  TAC not served; Service Request: #9 / #10 likewise (Service Reject, built here since the
  NAS codec has no class for it).
"""

from __future__ import annotations

import hmac
from ipaddress import IPv4Address

import msgspec

from epc.codec import nas
from epc.codec.gtpv2c import (
    FIRST_REJECTION_CAUSE,
    CauseValue,
    CreateSessionResponse,
    GtpcMessage,
)
from epc.codec.nas_messages import (
    ActivateDefaultEpsBearerContextRequest,
    ApnAmbr,
    AttachAccept,
    AttachComplete,
    AttachReject,
    AttachRequest,
    AttachResult,
    AuthenticationFailure,
    AuthenticationReject,
    AuthenticationRequest,
    AuthenticationResponse,
    DetachAccept,
    DetachRequest,
    EmmCause,
    EmmInformation,
    EmmMessage,
    EmmStatus,
    EpsQos,
    EpsUpdateType,
    EsmCause,
    GprsTimer,
    Guti,
    GutiReallocationCommand,
    GutiReallocationComplete,
    IdentityRequest,
    IdentityResponse,
    IdentityType,
    Imei,
    Imeisv,
    Imsi,
    NasDecodeError,
    NasKeySetIdentifier,
    NasMessage,
    NasSecurityAlgorithms,
    PdnAddress,
    PdnConnectivityReject,
    PdnConnectivityRequest,
    PdnType,
    ProtectedNas,
    ProtocolConfigurationOptions,
    SecurityModeCommand,
    SecurityModeComplete,
    SecurityModeReject,
    ServiceRequest,
    TrackingAreaUpdateAccept,
    TrackingAreaUpdateComplete,
    TrackingAreaUpdateReject,
    TrackingAreaUpdateRequest,
    UeNetworkCapability,
)
from epc.codec.s1ap_messages import (
    Cause,
    ErrorIndication,
    InitialContextSetupFailure,
    InitialContextSetupResponse,
    InitialUeMessage,
    UeAssociatedConnection,
    UeContextReleaseComplete,
    UeContextReleaseRequest,
    UplinkNasTransport,
)
from epc.gtpc.claims import Claim
from epc.mme import messages
from epc.mme.context import (
    EcmState,
    EmmState,
    Fteid,
    NasRetransmission,
    PdnConnection,
    PdnRequest,
    PendingAttach,
    PendingAuthentication,
    Procedure,
    S1Connection,
    Step,
    Tai,
    TimerName,
    UeContext,
    is_provisional,
)
from epc.mme.outcome import (
    ClaimS11Teid,
    Env,
    Event,
    IssueVector,
    Outcome,
    ReadContext,
    ResynchronisationFailed,
    S11Request,
    SubscriberUnknown,
    Turn,
    VectorIssued,
)
from epc.security.algorithms import Direction
from epc.security.context import NasSecurityContext, SecurityHeaderType, security_header_type
from epc.security.errors import SecurityError
from epc.security.kdf import derive_kenb

NO_KEY = 7
"""TS 24.301 9.9.3.21: KSI "no key is available"."""
SERVICE_REJECT = 0x4E
"""TS 24.301 9.8: message type of SERVICE REJECT (8.2.24)."""
TA_UPDATED = 0
"""TS 24.301 9.9.3.13: EPS update result "TA updated"."""

CAUSE_NORMAL_RELEASE = Cause("nas", "normal-release")
CAUSE_DETACH = Cause("nas", "detach")
CAUSE_AUTHENTICATION_FAILURE = Cause("nas", "authentication-failure")
CAUSE_NAS_UNSPECIFIED = Cause("nas", "unspecified")

PLAIN_ALLOWED = (
    IdentityResponse,
    AuthenticationResponse,
    AuthenticationFailure,
    SecurityModeReject,
    DetachRequest,
    AttachRequest,
    TrackingAreaUpdateRequest,
)
"""TS 24.301 4.4.4.3: plain messages the MME still processes on a secure connection."""

NAS_TIMERS = (TimerName.T3450, TimerName.T3460, TimerName.T3470)


# --- entry points: one per S1AP message (and timer) the frontend hands over -----------------


def initial_ue_message(context: UeContext | None, message: InitialUeMessage, env: Env) -> Outcome:
    """A new S1 connection (TS 36.413 8.6.2.1) carrying the UE's first NAS message."""
    turn = Turn.of(context or new_context(env.key), env)
    open_connection(turn, message)
    try:
        decoded = nas.decode(message.nas_pdu)
    except NasDecodeError as error:
        turn.log("initial NAS undecodable, connection released", "warning", error=str(error))
        return release(turn, CAUSE_NAS_UNSPECIFIED).done()
    if isinstance(decoded, ServiceRequest):
        return service_request(turn, message.nas_pdu)
    plain, verified = open_initial(turn, decoded, message.nas_pdu)
    match plain:
        case AttachRequest():
            return attach_request(turn, plain)
        case TrackingAreaUpdateRequest():
            return tracking_area_update(turn, plain, verified=verified, from_idle=True)
        case DetachRequest():
            return detach_request(turn, plain)
    turn.log("initial NAS message not handled, connection released", "warning", nas=_name(plain))
    return release(turn, CAUSE_NAS_UNSPECIFIED).done()


def uplink_nas(context: UeContext | None, message: UplinkNasTransport, env: Env) -> Outcome:
    """A NAS message on the UE's S1 connection (TS 36.413 8.6.2.3)."""
    turn = connected_turn(context, message.mme_ue_s1ap_id, env)
    if turn is None:
        return Outcome(context, events=_stale(message))
    turn.context.tai = Tai(message.tai.plmn.mcc + message.tai.plmn.mnc, message.tai.tac)
    plain = open_uplink(turn, message.nas_pdu)
    match plain:
        case None:
            return turn.done()
        case IdentityResponse():
            return identity_response(turn, plain)
        case AuthenticationResponse():
            return authentication_response(turn, plain)
        case AuthenticationFailure():
            return authentication_failure(turn, plain)
        case SecurityModeComplete():
            return security_mode_complete(turn)
        case SecurityModeReject():
            return security_mode_reject(turn, plain)
        case AttachComplete():
            return attach_complete(turn)
        case DetachRequest():
            return detach_request(turn, plain)
        case DetachAccept():
            return detach_accepted(turn)
        case TrackingAreaUpdateRequest():
            return tracking_area_update(turn, plain, verified=True, from_idle=False)
        case TrackingAreaUpdateComplete() | GutiReallocationComplete():
            return guti_confirmed(turn)
        case AttachRequest():
            return attach_request(turn, plain)
        case EmmStatus():
            turn.log("EMM Status from the UE", "warning", emm_cause=plain.emm_cause)
            return turn.done()
    turn.log("uplink NAS message not handled", "warning", nas=_name(plain))
    return turn.done()


def initial_context_setup_response(
    context: UeContext | None, message: InitialContextSetupResponse, env: Env
) -> Outcome:
    """The eNB holds the UE context (TS 36.413 8.3.1.2); its S1-U tunnel goes to the SGW."""
    turn = connected_turn(context, message.mme_ue_s1ap_id, env)
    if turn is None:
        return Outcome(context, events=_stale(message))
    ctx = turn.context
    ctx.connection = _replace(ctx.connection, context_setup=True)
    ebi = ctx.pdn.ebi if ctx.pdn else None
    tunnel = next((e_rab for e_rab in message.e_rabs if e_rab.e_rab_id == ebi), None)
    if ctx.pdn is None or tunnel is None:
        turn.log("Initial Context Setup Response without the default bearer", "warning")
        return turn.done()
    ctx.pdn = _replace(ctx.pdn, enb_s1u=Fteid(tunnel.transport_address, tunnel.gtp_teid))
    if ctx.procedure is Procedure.ATTACH and not (ctx.attach and ctx.attach.complete):
        return turn.done()  # Modify Bearer once Attach Complete is in too (TS 23.401 5.3.2.1)
    return modify_bearer(turn)


def initial_context_setup_failure(
    context: UeContext | None, message: InitialContextSetupFailure, env: Env
) -> Outcome:
    """The eNB could not set the UE up (TS 36.413 8.3.1.3): abort what needed it."""
    turn = connected_turn(context, message.mme_ue_s1ap_id, env)
    if turn is None:
        return Outcome(context, events=_stale(message))
    turn.log("Initial Context Setup failed", "warning", cause=_cause_text(message.cause))
    if turn.context.procedure is Procedure.ATTACH:
        return abort_attach(turn, CAUSE_NAS_UNSPECIFIED)
    end_procedure(turn)
    return release(turn, CAUSE_NAS_UNSPECIFIED).done()


def ue_context_release_request(
    context: UeContext | None, message: UeContextReleaseRequest, env: Env
) -> Outcome:
    """eNB-initiated release (TS 23.401 5.3.5): Release Access Bearers, then the command."""
    turn = connected_turn(context, message.mme_ue_s1ap_id, env)
    if turn is None:
        return Outcome(context, events=_stale(message))
    turn.log("eNB asks for UE context release", cause=_cause_text(message.cause))
    return release_with_bearers(turn, message.cause)


def ue_context_release_complete(
    context: UeContext | None, message: UeContextReleaseComplete, env: Env
) -> Outcome:
    """The S1 connection is gone (TS 36.413 8.3.3.2): ECM-IDLE, mobile reachable timer."""
    turn = connected_turn(context, message.mme_ue_s1ap_id, env)
    if turn is None:
        return Outcome(context, events=_stale(message))
    return go_idle(turn).done()


def error_indication(context: UeContext | None, message: ErrorIndication, env: Env) -> Outcome:
    """The eNB reports an error about this UE's connection (TS 36.413 8.7.4): logged, and the
    connection it names is taken as lost, as after a Reset of it."""
    turn = connected_turn(context, message.mme_ue_s1ap_id, env)
    if turn is None:
        return Outcome(context, events=_stale(message))
    turn.log(
        "Error Indication for the UE; its S1 connection is released",
        "warning",
        cause=_cause_text(message.cause),
    )
    return local_release(turn)


def reset(
    context: UeContext | None,
    enb: str,
    connections: tuple[UeAssociatedConnection, ...],
    env: Env,
) -> Outcome:
    """A Reset of the eNB released this UE's S1 connection (TS 36.413 8.7.1): all of the
    eNB's connections when `connections` is empty, else those it names."""
    connection = None if context is None else context.connection
    if connection is None or connection.agent.enb != enb:
        return Outcome(context)
    if connections and not any(_names(named, connection) for named in connections):
        return Outcome(context)
    turn = Turn.of(context, env)
    turn.log("S1 connection released by a Reset")
    # A Reset arrives on the eNB's own queue, where no per-UE timer can run: the UE's
    # mobile reachable timer starts with its next S1 release instead.
    return local_release(turn, arm_reachable=False)


def _names(named: UeAssociatedConnection, connection: S1Connection) -> bool:
    if named.mme_ue_s1ap_id is not None:
        return named.mme_ue_s1ap_id == connection.mme_ue_s1ap_id
    return named.enb_ue_s1ap_id == connection.enb_ue_s1ap_id


def timer_fired(context: UeContext | None, name: TimerName, env: Env) -> Outcome:
    """A timer the agent ran for this UE expired. One that was stopped or re-armed on another
    connection since (the agent only cancels timers of the request in flight) is stale."""
    if context is None or context.timers.get(name) != env.agent:
        return Outcome(context, events=(_event("stale timer expiry ignored", timer=name),))
    turn = Turn.of(context, env)
    del turn.context.timers[name]
    match name:
        case TimerName.MOBILE_REACHABLE:
            return mobile_reachable_expired(turn)
        case TimerName.IMPLICIT_DETACH:
            turn.log("implicit detach timer expired")
            return implicit_detach(turn)
    return nas_timer_expired(turn, name)


# --- connections and NAS security --------------------------------------------------------------


def new_context(key: str) -> UeContext:
    return UeContext(imsi=None if is_provisional(key) else key)


def open_connection(turn: Turn, message: InitialUeMessage) -> None:
    """The UE's new S1 connection, with an MME-UE-S1AP-ID of its own. A connection it held
    before (on another eNB or an earlier RRC connection) is released (its index entry goes
    with the commit)."""
    ctx, env = turn.context, turn.env
    release_previous(turn, ctx.connection)
    allocation = env.allocator.mme_ue_s1ap_id(env.key, None)
    turn.ops.extend(allocation.ops)
    ctx.connection = S1Connection(
        agent=env.agent,
        enb_ue_s1ap_id=message.enb_ue_s1ap_id,
        mme_ue_s1ap_id=allocation.value,
        tai=Tai(message.tai.plmn.mcc + message.tai.plmn.mnc, message.tai.tac),
        cell_id=message.ecgi.cell_id,
        stream=env.stream,
    )
    ctx.ecm = EcmState.CONNECTED
    ctx.tai = ctx.connection.tai
    ctx.paging = None  # the UE answered paging, or came back by itself (TS 23.401 5.3.4.3)
    for name in (TimerName.MOBILE_REACHABLE, TimerName.IMPLICIT_DETACH):
        turn.stop_timer(name)  # the UE is reachable again


def release_previous(turn: Turn, previous: S1Connection | None) -> None:
    """The UE shows up on a new S1 connection while the context holds `previous`: the UE
    left it (a new RRC connection, another eNB, a phone restart), so the eNB holding it is
    told with a UE Context Release Command to its eNB-UE-S1AP-ID (TS 36.413 8.3.3), sent
    core-initiated through that eNB's agent. Its Release Complete then names an
    MME-UE-S1AP-ID no context holds, and is only acknowledged."""
    if previous is None or previous.agent == turn.env.agent:
        return
    turn.send_core_initiated(previous, messages.release_command(previous, CAUSE_NORMAL_RELEASE))
    turn.log(
        "UE on a new S1 connection: the old one released",
        old_enb=previous.agent.enb,
        old_enb_ue_s1ap_id=previous.enb_ue_s1ap_id,
    )


def connected_turn(context: UeContext | None, mme_ue_s1ap_id: int, env: Env) -> Turn | None:
    """A turn for a message of the UE's current S1 connection; None for a connection the
    context no longer holds (a late message of a released one)."""
    if context is None or context.connection is None:
        return None
    if context.connection.mme_ue_s1ap_id != mme_ue_s1ap_id:
        return None
    return Turn.of(context, env)


def open_initial(
    turn: Turn, decoded: NasMessage | ProtectedNas, pdu: bytes
) -> tuple[NasMessage | None, bool]:
    """The plain message of an initial NAS message, and whether it verified with the current
    security context (Attach, TAU and Detach Requests come integrity protected, never
    ciphered, when the UE has a context: TS 24.301 4.4.5)."""
    if not isinstance(decoded, ProtectedNas):
        return decoded, False
    try:
        plain = nas.decode(decoded.inner)
    except NasDecodeError as error:
        turn.log("initial NAS message undecodable", "warning", error=str(error))
        return None, False
    security = turn.context.security
    if security is None:
        return plain, False
    try:
        verified = security.unprotect(pdu, Direction.UPLINK)
    except SecurityError as error:
        turn.log("initial NAS message failed its integrity check", "warning", error=str(error))
        return plain, False
    turn.context.security = verified.context
    turn.context.connection = _replace(turn.context.connection, secure=True)
    return plain, True


def open_uplink(turn: Turn, pdu: bytes) -> NasMessage | None:
    """The plain NAS message, verified and deciphered; None when it is to be discarded
    (TS 24.301 4.4.4.3: integrity check failed, replay, or a plain message the connection
    no longer takes), with a log line."""
    ctx = turn.context
    try:
        header_type = security_header_type(pdu)
    except SecurityError:
        turn.log("empty NAS message discarded", "warning")
        return None
    if header_type == SecurityHeaderType.PLAIN or pdu[0] & 0x0F != 0x7:
        return _plain_uplink(turn, pdu)
    if header_type == SecurityHeaderType.SERVICE_REQUEST:
        turn.log("Service Request on an established connection discarded", "warning")
        return None
    new = header_type in (
        SecurityHeaderType.INTEGRITY_PROTECTED_WITH_NEW_CONTEXT,
        SecurityHeaderType.INTEGRITY_PROTECTED_AND_CIPHERED_WITH_NEW_CONTEXT,
    )
    security = ctx.new_security if new and ctx.new_security else ctx.security
    if security is None:
        turn.log("protected NAS message without a security context discarded", "warning")
        return None
    try:
        verified = security.unprotect(pdu, Direction.UPLINK)
    except SecurityError as error:
        turn.log(
            "NAS message discarded: integrity check failed (TS 24.301 4.4.4.3)",
            "warning",
            error=str(error),
        )
        return None
    if security is ctx.new_security:
        ctx.new_security = verified.context
    else:
        ctx.security = verified.context
    return _decode_uplink(turn, verified.message)


def _plain_uplink(turn: Turn, pdu: bytes) -> NasMessage | None:
    message = _decode_uplink(turn, pdu)
    if message is None:
        return None
    connection = turn.context.connection
    if connection is not None and connection.secure and not isinstance(message, PLAIN_ALLOWED):
        turn.log(
            "plain NAS message on a secure connection discarded (TS 24.301 4.4.4.3)",
            "warning",
            nas=_name(message),
        )
        return None
    return message


def _decode_uplink(turn: Turn, pdu: bytes) -> NasMessage | None:
    try:
        message = nas.decode(pdu)
    except NasDecodeError as error:
        turn.log("uplink NAS message undecodable, discarded", "warning", error=str(error))
        return None
    if not isinstance(message, NasMessage):
        turn.log("nested security header discarded", "warning")
        return None
    return message


def protect(turn: Turn, message: NasMessage, *, new_context: bool = False) -> bytes:
    """The octets of a downlink NAS message: protected (integrity, and ciphering but for a
    Security Mode Command) on a secure connection or with `new_context`, plain otherwise."""
    ctx = turn.context
    plain = nas.encode(message)
    if new_context:
        assert ctx.new_security is not None
        protected = ctx.new_security.protect(
            plain, Direction.DOWNLINK, SecurityHeaderType.INTEGRITY_PROTECTED_WITH_NEW_CONTEXT
        )
        ctx.new_security = protected.context
        return protected.pdu
    secure = ctx.connection is not None and ctx.connection.secure
    if not secure or ctx.security is None:
        return plain
    protected = ctx.security.protect(plain, Direction.DOWNLINK)
    ctx.security = protected.context
    return protected.pdu


def send_nas(turn: Turn, message: NasMessage, *, new_context: bool = False) -> None:
    """Send in a Downlink NAS Transport."""
    connection = turn.context.connection
    assert connection is not None
    turn.send(messages.downlink_nas(connection, protect(turn, message, new_context=new_context)))


def send_guarded(turn: Turn, message: NasMessage, timer: TimerName, *, new_context: bool = False):
    """Send a message that waits for an answer under a retransmission timer."""
    send_nas(turn, message, new_context=new_context)
    _guard(turn, message, timer, new_context=new_context)


def _guard(turn: Turn, message: NasMessage, timer: TimerName, *, new_context: bool = False):
    turn.context.retransmission = NasRetransmission(
        timer=timer, nas=nas.encode(message), new_context=new_context
    )
    turn.start_timer(timer, _timer_seconds(turn, timer))


def stop_guard(turn: Turn) -> None:
    retransmission = turn.context.retransmission
    if retransmission is not None:
        turn.stop_timer(retransmission.timer)
        turn.context.retransmission = None


def _timer_seconds(turn: Turn, timer: TimerName) -> float:
    timers = turn.env.config.timers
    return {
        TimerName.T3450: timers.t3450_s,
        TimerName.T3460: timers.t3460_s,
        TimerName.T3470: timers.t3470_s,
    }[timer]


def release(turn: Turn, cause: Cause) -> Turn:
    """MME-initiated release of the S1 connection (TS 36.413 8.3.3): UE Context Release
    Command; the context goes ECM-IDLE with the eNB's Release Complete."""
    connection = turn.context.connection
    if connection is not None:
        turn.send(messages.release_command(connection, cause))
    return turn


def release_with_bearers(turn: Turn, cause: Cause) -> Outcome:
    """Release Access Bearers at the SGW (TS 23.401 5.3.5 step 2), then the command."""
    pdn = turn.context.pdn
    if pdn is None or pdn.enb_s1u is None:
        return release(turn, cause).done()

    def released(ctx: UeContext, answer: GtpcMessage) -> Outcome:
        after = Turn.of(ctx, turn.env)
        _log_gtp_rejection(after, answer, "Release Access Bearers")
        after.context.pdn = _replace(after.context.pdn, enb_s1u=None)
        return release(after, cause).done()

    return turn.call(S11Request(messages.release_access_bearers(turn.context, pdn)), released)


def go_idle(turn: Turn, *, arm_reachable: bool = True) -> Turn:
    """The S1 connection is gone: ECM-IDLE; a registered UE's mobile reachable timer starts
    on the released connection's agent UE (the agent keeps timers past the connection)."""
    ctx = turn.context
    for timer in NAS_TIMERS:
        turn.stop_timer(timer)
    end_procedure(turn)
    ctx.connection = None
    ctx.ecm = EcmState.IDLE
    ctx.new_security = None
    ctx.authentication = None
    if ctx.pdn is not None:
        ctx.pdn = _replace(ctx.pdn, enb_s1u=None)
    if ctx.emm is EmmState.REGISTERED and arm_reachable:
        turn.start_timer(TimerName.MOBILE_REACHABLE, turn.env.config.timers.mobile_reachable)
    turn.log("UE is ECM-IDLE", emm=ctx.emm.value)
    return turn


def local_release(turn: Turn, *, arm_reachable: bool = True) -> Outcome:
    """The connection is lost without a Release Complete (Reset, Error Indication)."""
    pdn = turn.context.pdn
    if pdn is None or pdn.enb_s1u is None:
        return go_idle(turn, arm_reachable=arm_reachable).done()

    def released(ctx: UeContext, answer: GtpcMessage) -> Outcome:
        after = Turn.of(ctx, turn.env)
        _log_gtp_rejection(after, answer, "Release Access Bearers")
        return go_idle(after, arm_reachable=arm_reachable).done()

    return turn.call(S11Request(messages.release_access_bearers(turn.context, pdn)), released)


def end_procedure(turn: Turn) -> None:
    ctx = turn.context
    stop_guard(turn)
    ctx.procedure = None
    ctx.step = None
    if ctx.emm is not EmmState.REGISTERED:
        ctx.attach = None


# --- attach (TS 24.301 5.5.1.2, TS 23.401 5.3.2.1) ---------------------------------------------


def attach_request(turn: Turn, request: AttachRequest) -> Outcome:
    """Step 1: note what the UE asks for; a registration it had ends (its PDN connection is
    deleted at the SGW first); then identification or authentication."""
    ctx = turn.context
    esm = request.esm_message
    end_procedure(turn)
    if not isinstance(esm, PdnConnectivityRequest):
        turn.log("Attach Request without a PDN Connectivity Request", "warning")
        return reject_attach(turn, EmmCause.ESM_FAILURE)
    pco = esm.protocol_configuration_options
    ctx.attach = PendingAttach(
        ue_network_capability=request.ue_network_capability.octets,
        pdn=PdnRequest(
            procedure_transaction_identity=esm.procedure_transaction_identity,
            pdn_type=esm.pdn_type,
            apn=esm.apn,
            pco=messages.pco_octets(pco) if pco else None,
        ),
        by_guti=isinstance(request.identity, Guti),
    )
    ctx.ue_network_capability = request.ue_network_capability.octets
    ctx.imeisv = None  # the USIM may be in another phone now
    ctx.procedure = Procedure.ATTACH
    ctx.emm = EmmState.DEREGISTERED
    turn.log("Attach Request", identity=type(request.identity).__name__)
    if ctx.pdn is None:
        return identify_or_authenticate(turn)

    def deleted(ctx: UeContext, answer: GtpcMessage) -> Outcome:
        after = Turn.of(ctx, turn.env)
        _log_gtp_rejection(after, answer, "Delete Session")
        after.context.pdn = None
        return identify_or_authenticate(after)

    return turn.call(S11Request(messages.delete_session(ctx, ctx.pdn)), deleted)


def identify_or_authenticate(turn: Turn) -> Outcome:
    ctx = turn.context
    if ctx.imsi is None:
        ctx.step = Step.IDENTITY
        ctx.emm = EmmState.COMMON_PROCEDURE_INITIATED
        send_guarded(turn, IdentityRequest(identity_type=IdentityType.IMSI), TimerName.T3470)
        return turn.done()
    if not any(ctx.imsi.startswith(plmn) for plmn in turn.env.config.mme.allowed_home_plmns):
        turn.log("subscriber of a PLMN not allowed", "warning", home=ctx.imsi[:6])
        return reject_attach(turn, EmmCause.PLMN_NOT_ALLOWED)
    return authenticate(turn)


def identity_response(turn: Turn, response: IdentityResponse) -> Outcome:
    """Identification (5.4.4.4): the IMSI; a provisional context moves to it."""
    ctx = turn.context
    if ctx.step is not Step.IDENTITY:
        turn.log("unexpected Identity Response ignored", "warning")
        return turn.done()
    if ctx.procedure is Procedure.IDENTIFICATION:
        return equipment_identified(turn, response)
    if not isinstance(response.identity, Imsi):
        turn.log("Identity Response without the IMSI asked for", "warning")
        return turn.done()
    stop_guard(turn)
    imsi = response.identity.digits
    if ctx.imsi is not None:
        if ctx.imsi != imsi:
            turn.log("Identity Response names another IMSI", "warning", imsi=imsi)
        return identify_or_authenticate(turn)

    def move(_: UeContext, existing: UeContext | None) -> Outcome:
        merged = _moved(turn.context, existing, imsi, turn.env.key)
        after = Turn(merged, turn.env, moved_to=imsi)
        release_previous(after, existing.connection if existing is not None else None)
        after.log("provisional context moved to its IMSI", imsi=imsi)
        return identify_or_authenticate(after)

    return turn.call(ReadContext(imsi), move)


def _moved(provisional: UeContext, existing: UeContext | None, imsi: str, key: str) -> UeContext:
    """The IMSI's context taking over the connection and attach of the provisional one."""
    base = existing or UeContext(imsi=imsi)
    base.imsi = imsi
    for field in (
        "connection",
        "ecm",
        "tai",
        "attach",
        "procedure",
        "step",
        "ue_network_capability",
        "retransmission",
    ):
        setattr(base, field, getattr(provisional, field))
    base.emm = EmmState.DEREGISTERED
    reachability = (TimerName.MOBILE_REACHABLE, TimerName.IMPLICIT_DETACH)
    kept = {name: agent for name, agent in base.timers.items() if name not in reachability}
    base.timers = {**kept, **provisional.timers}  # the UE is reachable: those are now stale
    base.agent_index = tuple(dict.fromkeys(base.agent_index + provisional.agent_index))
    base.provisional_key = key
    return base


def authenticate(turn: Turn) -> Outcome:
    """EPS AKA (5.4.2.2): a vector from the subscriber record, SQN advanced by CAS."""
    ctx = turn.context
    assert ctx.imsi is not None
    ksi = ctx.next_key_set_identifier
    return turn.call(IssueVector(ctx.imsi, ksi), _challenge(turn))


def _challenge(turn: Turn):
    def challenge(ctx: UeContext, answer: object) -> Outcome:
        after = Turn.of(ctx, turn.env)
        match answer:
            case SubscriberUnknown():
                after.log("unknown IMSI: no subscriber record", "warning")
                return reject_attach(after, EmmCause.EPS_AND_NON_EPS_SERVICES_NOT_ALLOWED)
            case ResynchronisationFailed(reason=reason):
                after.log("AUTS did not verify", "warning", reason=reason)
                return reject_authentication(after)
            case VectorIssued():
                return _send_challenge(after, answer)
        raise TypeError(f"unexpected answer {answer!r}")

    return challenge


def _send_challenge(turn: Turn, vector: VectorIssued) -> Outcome:
    ctx = turn.context
    previous = ctx.authentication
    ctx.subscription = vector.subscription
    ctx.authentication = PendingAuthentication(
        rand=vector.rand,
        autn=vector.autn,
        xres=vector.xres,
        kasme=vector.kasme,
        key_set_identifier=ctx.next_key_set_identifier,
        resynchronised=previous is not None and previous.resynchronised,
    )
    ctx.step = Step.AUTHENTICATION
    ctx.emm = _common_or_registered(ctx)
    request = AuthenticationRequest(
        key_set_identifier=NasKeySetIdentifier(ctx.next_key_set_identifier),
        rand=vector.rand,
        autn=vector.autn,
    )
    send_guarded(turn, request, TimerName.T3460)
    return turn.done()


def authentication_response(turn: Turn, response: AuthenticationResponse) -> Outcome:
    """5.4.2.4: RES against XRES, then security mode control with the new KASME."""
    ctx = turn.context
    pending = ctx.authentication
    if ctx.step is not Step.AUTHENTICATION or pending is None:
        turn.log("unexpected Authentication Response ignored", "warning")
        return turn.done()
    stop_guard(turn)
    if not hmac.compare_digest(response.res, pending.xres):
        turn.log("authentication failed: RES does not match XRES", "warning")
        return reject_authentication(turn)
    ctx.next_key_set_identifier = (pending.key_set_identifier + 1) % NO_KEY
    return security_mode_command(turn, pending)


def authentication_failure(turn: Turn, failure: AuthenticationFailure) -> Outcome:
    """5.4.2.6: #21 synch failure resynchronises once with AUTS; #20 MAC failure and #26
    mean the UE does not accept this network's vector: Authentication Reject."""
    ctx = turn.context
    pending = ctx.authentication
    if ctx.step is not Step.AUTHENTICATION or pending is None:
        turn.log("unexpected Authentication Failure ignored", "warning")
        return turn.done()
    stop_guard(turn)
    if failure.emm_cause == EmmCause.SYNCH_FAILURE and failure.auts and not pending.resynchronised:
        turn.log("authentication: synch failure, resynchronising with AUTS")
        ctx.authentication = _replace(pending, resynchronised=True)
        assert ctx.imsi is not None
        effect = IssueVector(ctx.imsi, pending.key_set_identifier, (pending.rand, failure.auts))
        return turn.call(effect, _challenge(turn))
    reason = {
        EmmCause.MAC_FAILURE: "MAC failure: the UE rejected the network's AUTN",
        EmmCause.SYNCH_FAILURE: "synch failure again after resynchronisation",
        EmmCause.NON_EPS_AUTHENTICATION_UNACCEPTABLE: "non-EPS authentication unacceptable",
    }.get(failure.emm_cause, "unspecified")
    turn.log("authentication failed", "warning", emm_cause=failure.emm_cause, reason=reason)
    return reject_authentication(turn)


def reject_authentication(turn: Turn) -> Outcome:
    """5.4.2.5: Authentication Reject, the UE is deregistered, the connection released."""
    ctx = turn.context
    send_nas(turn, AuthenticationReject())
    ctx.authentication = None
    ctx.emm = EmmState.DEREGISTERED
    end_procedure(turn)
    ctx.attach = None
    return release(turn, CAUSE_AUTHENTICATION_FAILURE).done()


def security_mode_command(turn: Turn, pending: PendingAuthentication) -> Outcome:
    """5.4.3.2: algorithms from the priority lists, integrity protected with the new
    context (header type 3), the UE's capabilities replayed."""
    ctx = turn.context
    capability = UeNetworkCapability(ctx.ue_network_capability)
    security = turn.env.config.security
    integrity = _first_supported(security.integrity_order, capability.eia)
    ciphering = _first_supported(security.ciphering_order, capability.eea)
    if integrity is None or ciphering is None:
        turn.log("no common NAS algorithm", "warning", eea=capability.eea, eia=capability.eia)
        return reject_attach(turn, EmmCause.UE_SECURITY_CAPABILITIES_MISMATCH)
    ctx.new_security = NasSecurityContext.create(
        kasme=pending.kasme,
        key_set_identifier=pending.key_set_identifier,
        ciphering_algorithm=ciphering,
        integrity_algorithm=integrity,
    )
    ctx.step = Step.SECURITY_MODE
    command = SecurityModeCommand(
        selected_algorithms=NasSecurityAlgorithms(ciphering=ciphering, integrity=integrity),
        key_set_identifier=NasKeySetIdentifier(pending.key_set_identifier),
        replayed_security_capabilities=capability.security_capabilities(),
    )
    send_guarded(turn, command, TimerName.T3460, new_context=True)
    turn.log("Security Mode Command", eea=ciphering, eia=integrity)
    return turn.done()


def _first_supported(order: tuple[int, ...], octet: int) -> int | None:
    return next((algorithm for algorithm in order if messages.supports(octet, algorithm)), None)


def security_mode_complete(turn: Turn) -> Outcome:
    """5.4.3.4: the new context is current; the connection is secure; the attach goes on."""
    ctx = turn.context
    if ctx.step is not Step.SECURITY_MODE or ctx.new_security is None:
        turn.log("unexpected Security Mode Complete ignored", "warning")
        return turn.done()
    stop_guard(turn)
    ctx.security = ctx.new_security
    ctx.new_security = None
    ctx.authentication = None
    ctx.connection = _replace(ctx.connection, secure=True)
    if ctx.procedure is Procedure.ATTACH:
        return create_session(turn)
    end_procedure(turn)
    return turn.done()


def security_mode_reject(turn: Turn, reject: SecurityModeReject) -> Outcome:
    """5.4.3.5: the UE refused the command; the procedure that needed it is aborted."""
    ctx = turn.context
    if ctx.step is not Step.SECURITY_MODE:
        turn.log("unexpected Security Mode Reject ignored", "warning")
        return turn.done()
    turn.log("Security Mode Reject from the UE", "warning", emm_cause=reject.emm_cause)
    ctx.new_security = None
    ctx.emm = EmmState.DEREGISTERED
    end_procedure(turn)
    ctx.attach = None
    return release(turn, CAUSE_NAS_UNSPECIFIED).done()


def create_session(turn: Turn) -> Outcome:
    """ESM default bearer (TS 24.301 6.4.1, TS 23.401 5.3.2.1 steps 12-16): the APN, then
    Create Session at the SGW."""
    ctx, env = turn.context, turn.env
    assert ctx.attach is not None and ctx.subscription is not None
    requested = ctx.attach.pdn.apn
    apn = requested or ctx.subscription.apn
    subscribed = apn.lower() == ctx.subscription.apn.lower()
    if not subscribed or env.config.apn(apn) is None:
        turn.log("APN missing or unknown", "warning", apn=apn, subscribed=ctx.subscription.apn)
        return reject_pdn(turn, EsmCause.MISSING_OR_UNKNOWN_APN)
    if ctx.mme_s11_teid is None:
        # Claimed by the Create of its index node, so instances never hand one TEID to two
        # UEs (an SGW's requests find the UE by it); deterministic per request, since the SGW
        # records it before this step commits.
        def claimed(ctx: UeContext, claim: Claim) -> Outcome:
            after = Turn.of(ctx, env)
            after.context.mme_s11_teid = claim.value
            after.ops.extend(claim.ops)
            return _send_create_session(after, apn)

        return turn.call(ClaimS11Teid(turn.moved_to or env.key), claimed)
    return _send_create_session(turn, apn)


def _send_create_session(turn: Turn, apn: str) -> Outcome:
    ctx, env = turn.context, turn.env
    assert ctx.attach is not None
    request = messages.create_session(ctx, env.config, apn, ctx.attach.pdn)

    def created(ctx: UeContext, answer: GtpcMessage) -> Outcome:
        return session_created(Turn.of(ctx, env), apn, answer)

    return turn.call(S11Request(request), created)


def session_created(turn: Turn, apn: str, answer: GtpcMessage) -> Outcome:
    """Create Session Response: the default bearer, a new GUTI, Attach Accept inside the
    Initial Context Setup Request with KeNB (T3450)."""
    ctx, env = turn.context, turn.env
    if not isinstance(answer, CreateSessionResponse) or answer.cause.value >= FIRST_REJECTION_CAUSE:
        cause = getattr(getattr(answer, "cause", None), "value", None)
        turn.log("Create Session rejected", "warning", gtp_cause=cause)
        return reject_pdn(turn, _esm_cause(cause))
    bearer = next(iter(answer.bearer_contexts_created), None)
    if bearer is None or bearer.s1u_sgw_fteid is None or answer.sender_fteid is None:
        turn.log("Create Session Response without the SGW's tunnels", "warning")
        return reject_pdn(turn, EsmCause.NETWORK_FAILURE)
    assert ctx.attach is not None and ctx.subscription is not None
    ue_ipv4 = answer.paa.ipv4 if answer.paa else None
    if ue_ipv4 is None:
        turn.log("Create Session Response without a UE address", "warning")
        return reject_pdn(turn, EsmCause.NETWORK_FAILURE)
    pco = answer.pco or messages.pco_answer(env.config, apn, ctx.attach.pdn.pco)
    ambr = answer.apn_ambr
    ctx.pdn = PdnConnection(
        apn=apn,
        ebi=bearer.ebi,
        qci=bearer.bearer_qos.qci if bearer.bearer_qos else ctx.subscription.qci,
        ue_ipv4=str(ue_ipv4),
        sgw_s11=Fteid(str(answer.sender_fteid.ipv4), answer.sender_fteid.teid),
        sgw_s1u=Fteid(str(bearer.s1u_sgw_fteid.ipv4), bearer.s1u_sgw_fteid.teid),
        apn_ambr_ul_kbps=ambr.uplink if ambr else ctx.subscription.ambr_ul_kbps,
        apn_ambr_dl_kbps=ambr.downlink if ambr else ctx.subscription.ambr_dl_kbps,
        pco=pco,
    )
    new_guti(turn)
    accept = _attach_accept(turn)
    nas_pdu = protect(turn, accept)
    _guard(turn, accept, TimerName.T3450)
    ctx.step = Step.ACCEPTED
    turn.send(messages.initial_context_setup(ctx, _kenb(ctx), nas_pdu))
    turn.log("Attach Accept", ue_ipv4=str(ue_ipv4), m_tmsi=f"{ctx.m_tmsi:08x}")
    return turn.done()


def _attach_accept(turn: Turn) -> AttachAccept:
    ctx, config = turn.context, turn.env.config
    assert ctx.pdn is not None and ctx.attach is not None and ctx.m_tmsi is not None
    pdn = ctx.pdn
    bearer = ActivateDefaultEpsBearerContextRequest(
        bearer_identity=pdn.ebi,
        procedure_transaction_identity=ctx.attach.pdn.procedure_transaction_identity,
        eps_qos=EpsQos(qci=pdn.qci),
        apn=pdn.apn,
        pdn_address=PdnAddress(PdnType.IPV4, ipv4=_ipv4(pdn.ue_ipv4)),
        apn_ambr=ApnAmbr(downlink=pdn.apn_ambr_dl_kbps, uplink=pdn.apn_ambr_ul_kbps),
        protocol_configuration_options=(
            ProtocolConfigurationOptions.from_octets(pdn.pco) if pdn.pco else None
        ),
    )
    return AttachAccept(
        attach_result=AttachResult.EPS_ONLY,
        t3412=GprsTimer.from_seconds(config.timers.t3412_s),
        tai_list=messages.tai_list(config),
        esm_message=bearer,
        guti=messages.guti(config, ctx.m_tmsi),
    )


def new_guti(turn: Turn) -> None:
    """A new M-TMSI; the old one stays indexed until the UE confirms (TS 24.301 5.4.1)."""
    ctx, env = turn.context, turn.env
    allocation = env.allocator.m_tmsi(turn.moved_to or env.key, None)
    turn.ops.extend(allocation.ops)
    if ctx.m_tmsi is not None:
        ctx.old_m_tmsi = ctx.m_tmsi
    ctx.m_tmsi = allocation.value
    ctx.service_requests_since_guti = 0


def _kenb(ctx: UeContext) -> bytes:
    """KeNB from KASME and the uplink NAS COUNT of the last message accepted (the Security
    Mode Complete, Service Request or TAU Request; TS 33.401 7.2.8.1, A.3)."""
    assert ctx.security is not None
    return derive_kenb(ctx.security.kasme, max(ctx.security.uplink_count - 1, 0))


def attach_complete(turn: Turn) -> Outcome:
    """5.5.1.2.4: EMM-REGISTERED; the old GUTI goes; Modify Bearer once the eNB's tunnel is
    known, then EMM Information."""
    ctx = turn.context
    if ctx.procedure is not Procedure.ATTACH or ctx.step is not Step.ACCEPTED:
        turn.log("unexpected Attach Complete ignored", "warning")
        return turn.done()
    stop_guard(turn)
    assert ctx.attach is not None
    ctx.attach = _replace(ctx.attach, complete=True)
    ctx.emm = EmmState.REGISTERED
    ctx.old_m_tmsi = None
    turn.log("attach complete")
    if ctx.pdn is None or ctx.pdn.enb_s1u is None:
        return turn.done()  # Modify Bearer with the Initial Context Setup Response
    return modify_bearer(turn)


def modify_bearer(turn: Turn) -> Outcome:
    """S11 Modify Bearer with the eNB's S1-U F-TEID (TS 23.401 5.3.2.1 step 23, 5.3.4.1
    step 8); an attach then ends with EMM Information (TS 24.301 5.4.5)."""
    ctx, env = turn.context, turn.env
    pdn = ctx.pdn
    assert pdn is not None and pdn.enb_s1u is not None

    def modified(ctx: UeContext, answer: GtpcMessage) -> Outcome:
        after = Turn.of(ctx, env)
        _log_gtp_rejection(after, answer, "Modify Bearer")
        attaching = after.context.procedure is Procedure.ATTACH
        if attaching:
            send_nas(after, _emm_information(env))
        if after.context.step is Step.CONTEXT_SETUP or attaching:
            end_procedure(after)
            network_procedures(after)
        return after.done()

    return turn.call(S11Request(messages.modify_bearer(ctx, pdn, pdn.enb_s1u)), modified)


def _emm_information(env: Env) -> EmmInformation:
    mme = env.config.mme
    return EmmInformation(
        full_network_name=mme.full_network_name or None,
        short_network_name=mme.short_network_name or None,
        universal_time_and_local_time_zone=messages.universal_time(env.wall_time),
    )


def reject_attach(turn: Turn, cause: int, esm: NasMessage | None = None) -> Outcome:
    """5.5.1.2.5: Attach Reject, EMM-DEREGISTERED, the connection released."""
    ctx = turn.context
    send_nas(turn, AttachReject(emm_cause=cause, esm_message=esm))
    turn.log("Attach Reject", "warning", emm_cause=cause)
    ctx.emm = EmmState.DEREGISTERED
    end_procedure(turn)
    ctx.attach = None
    return release(turn, CAUSE_NAS_UNSPECIFIED).done()


def reject_pdn(turn: Turn, esm_cause: int) -> Outcome:
    """The default bearer cannot be had: PDN Connectivity Reject inside Attach Reject #19."""
    ctx = turn.context
    assert ctx.attach is not None
    reject = PdnConnectivityReject(
        procedure_transaction_identity=ctx.attach.pdn.procedure_transaction_identity,
        esm_cause=esm_cause,
    )
    turn.log("PDN Connectivity Reject", "warning", esm_cause=esm_cause)
    return reject_attach(turn, EmmCause.ESM_FAILURE, reject)


def abort_attach(turn: Turn, cause: Cause) -> Outcome:
    """An attach that cannot finish: its session goes, the UE is deregistered, released."""
    ctx = turn.context
    ctx.emm = EmmState.DEREGISTERED
    end_procedure(turn)
    ctx.attach = None
    if ctx.pdn is None:
        return release(turn, cause).done()

    def deleted(ctx: UeContext, answer: GtpcMessage) -> Outcome:
        after = Turn.of(ctx, turn.env)
        _log_gtp_rejection(after, answer, "Delete Session")
        after.context.pdn = None
        return release(after, cause).done()

    return turn.call(S11Request(messages.delete_session(ctx, ctx.pdn)), deleted)


def _esm_cause(gtp_cause: int | None) -> int:
    if gtp_cause == CauseValue.MISSING_OR_UNKNOWN_APN:
        return EsmCause.MISSING_OR_UNKNOWN_APN
    exhausted = (CauseValue.NO_RESOURCES_AVAILABLE, CauseValue.ALL_DYNAMIC_ADDRESSES_ARE_OCCUPIED)
    if gtp_cause in exhausted:
        return EsmCause.INSUFFICIENT_RESOURCES
    return EsmCause.REQUEST_REJECTED_BY_GATEWAY


# --- detach (TS 24.301 5.5.2.2, TS 23.401 5.3.8.2) ---------------------------------------------


def detach_request(turn: Turn, request: DetachRequest) -> Outcome:
    """UE-initiated detach: Delete Session, Detach Accept unless switched off, release."""
    ctx = turn.context
    switch_off = request.detach_type.switch_off
    turn.log("Detach Request", switch_off=switch_off)
    end_procedure(turn)
    for name in list(ctx.timers):
        turn.stop_timer(TimerName(name))
    ctx.emm = EmmState.DEREGISTERED
    ctx.attach = None

    def finish(after: Turn) -> Outcome:
        if not switch_off:
            send_nas(after, DetachAccept())
        return release(after, CAUSE_DETACH).done()

    if ctx.pdn is None:
        return finish(turn)

    def deleted(ctx: UeContext, answer: GtpcMessage) -> Outcome:
        after = Turn.of(ctx, turn.env)
        _log_gtp_rejection(after, answer, "Delete Session")
        after.context.pdn = None
        return finish(after)

    return turn.call(S11Request(messages.delete_session(ctx, ctx.pdn)), deleted)


def detach_accepted(turn: Turn) -> Outcome:
    """5.5.2.3.4: the UE accepted the network's Detach Request; the connection goes."""
    ctx = turn.context
    if ctx.procedure is not Procedure.DETACH or ctx.emm is not EmmState.DEREGISTERED_INITIATED:
        turn.log("unexpected Detach Accept ignored", "warning")
        return turn.done()
    ctx.emm = EmmState.DEREGISTERED
    end_procedure(turn)
    turn.log("network detach accepted")
    return release(turn, CAUSE_DETACH).done()


def implicit_detach(turn: Turn) -> Outcome:
    """TS 24.301 5.3.7: the UE was unreachable too long; deregistered without NAS."""
    ctx = turn.context
    ctx.emm = EmmState.DEREGISTERED
    end_procedure(turn)
    ctx.attach = None
    turn.log("UE implicitly detached")
    if ctx.pdn is None:
        return turn.done()

    def deleted(ctx: UeContext, answer: GtpcMessage) -> Outcome:
        after = Turn.of(ctx, turn.env)
        _log_gtp_rejection(after, answer, "Delete Session")
        after.context.pdn = None
        return after.done()

    return turn.call(S11Request(messages.delete_session(ctx, ctx.pdn)), deleted)


def mobile_reachable_expired(turn: Turn) -> Outcome:
    ctx = turn.context
    if ctx.ecm is not EcmState.IDLE or ctx.emm is not EmmState.REGISTERED:
        return turn.done()
    seconds = turn.env.config.timers.implicit_detach_s
    turn.log("mobile reachable timer expired", implicit_detach_s=seconds)
    if seconds == 0:
        return implicit_detach(turn)
    turn.start_timer(TimerName.IMPLICIT_DETACH, seconds)
    return turn.done()


# --- tracking area update (TS 24.301 5.5.3.2) ----------------------------------------------------


def tracking_area_update(
    turn: Turn, request: TrackingAreaUpdateRequest, *, verified: bool, from_idle: bool
) -> Outcome:
    """Normal or periodic TAU, from idle (a new connection) or connected; with the active flag
    the bearers are set up again (Initial Context Setup with KeNB from the request's COUNT)."""
    ctx, config = turn.context, turn.env.config
    periodic = request.update_type.value == EpsUpdateType.PERIODIC_UPDATING
    turn.log("Tracking Area Update Request", periodic=periodic, active=request.update_type.active)
    if not verified or ctx.security is None:
        turn.log("TAU Request could not be verified", "warning")
        return _reject_tau(turn, EmmCause.UE_IDENTITY_CANNOT_BE_DERIVED)
    if ctx.emm is not EmmState.REGISTERED or ctx.pdn is None:
        return _reject_tau(turn, EmmCause.IMPLICITLY_DETACHED)
    connection = ctx.connection
    assert connection is not None
    if connection.tai.tac not in config.mme.tacs or connection.tai.plmn != config.mme.plmn.digits:
        return _reject_tau(turn, EmmCause.TRACKING_AREA_NOT_ALLOWED)
    if request.ue_network_capability is not None:
        ctx.ue_network_capability = request.ue_network_capability.octets
    reallocate = config.mme.reallocate_guti_on_tau
    if reallocate:
        new_guti(turn)
    accept = TrackingAreaUpdateAccept(
        update_result=TA_UPDATED,
        t3412=GprsTimer.from_seconds(config.timers.t3412_s),
        guti=messages.guti(config, ctx.m_tmsi) if reallocate and ctx.m_tmsi is not None else None,
        tai_list=messages.tai_list(config),
        eps_bearer_context_status=frozenset({ctx.pdn.ebi}),
    )
    ctx.procedure = Procedure.TRACKING_AREA_UPDATE
    if reallocate:
        send_guarded(turn, accept, TimerName.T3450)
        ctx.step = Step.ACCEPTED
    else:
        send_nas(turn, accept)
    if request.update_type.active and from_idle:
        ctx.step = Step.CONTEXT_SETUP if not reallocate else ctx.step
        turn.send(messages.initial_context_setup(ctx, _kenb(ctx)))
        return turn.done()
    if not reallocate:
        end_procedure(turn)
        if from_idle:
            return release(turn, CAUSE_NORMAL_RELEASE).done()
    return turn.done()


def _reject_tau(turn: Turn, cause: int) -> Outcome:
    ctx = turn.context
    send_nas(turn, TrackingAreaUpdateReject(emm_cause=cause))
    turn.log("Tracking Area Update Reject", "warning", emm_cause=cause)
    if cause in (EmmCause.IMPLICITLY_DETACHED, EmmCause.UE_IDENTITY_CANNOT_BE_DERIVED):
        ctx.emm = EmmState.DEREGISTERED
    end_procedure(turn)
    return release(turn, CAUSE_NAS_UNSPECIFIED).done()


def guti_confirmed(turn: Turn) -> Outcome:
    """TAU Complete / GUTI Reallocation Complete (5.4.1.4, 5.5.3.2.4): the old GUTI goes
    (its index entry with the commit)."""
    ctx = turn.context
    if ctx.step is not Step.ACCEPTED or ctx.procedure is Procedure.ATTACH:
        turn.log("unexpected GUTI confirmation ignored", "warning")
        return turn.done()
    stop_guard(turn)
    ctx.old_m_tmsi = None
    turn.log("new GUTI confirmed", m_tmsi=f"{ctx.m_tmsi:08x}")
    setting_up = ctx.connection is not None and not ctx.connection.context_setup
    end_procedure(turn)
    if setting_up and ctx.pdn is not None and ctx.pdn.enb_s1u is None:
        return release(turn, CAUSE_NORMAL_RELEASE).done()
    return turn.done()


# --- the network's common procedures (TS 24.301 5.4.1, 5.4.4) ------------------------------------


def network_procedures(turn: Turn) -> None:
    """An EMM specific procedure has ended: start the common procedure the config asks for,
    if the UE is connected, registered and no procedure runs: identification for the IMEISV
    the context lacks, else GUTI reallocation once the UE made
    `guti_reallocation_after_service_requests` Service Requests with its GUTI."""
    ctx, mme = turn.context, turn.env.config.mme
    if ctx.procedure is not None or ctx.connection is None or ctx.emm is not EmmState.REGISTERED:
        return
    if mme.request_imeisv and ctx.imeisv is None:
        identify_equipment(turn)
        return
    threshold = mme.guti_reallocation_after_service_requests
    if threshold and ctx.service_requests_since_guti >= threshold:
        reallocate_guti(turn)


def identify_equipment(turn: Turn) -> None:
    """5.4.4.2: Identity Request for the IMEISV under T3470, on the secure connection."""
    ctx = turn.context
    ctx.procedure = Procedure.IDENTIFICATION
    ctx.step = Step.IDENTITY
    send_guarded(turn, IdentityRequest(identity_type=IdentityType.IMEISV), TimerName.T3470)
    turn.log("Identity Request", identity_type="IMEISV")


def equipment_identified(turn: Turn, response: IdentityResponse) -> Outcome:
    """5.4.4.4: the IMEISV kept; T3470 stops. Another identity type is not what was asked:
    logged, and T3470 sends the request again."""
    ctx = turn.context
    identity = response.identity
    if not isinstance(identity, Imeisv | Imei):
        turn.log("Identity Response without the IMEISV asked for", "warning", got=_name(identity))
        return turn.done()
    ctx.imeisv = identity.digits
    end_procedure(turn)
    turn.log("equipment identified", imeisv=identity.digits)
    network_procedures(turn)
    return turn.done()


def reallocate_guti(turn: Turn) -> None:
    """5.4.1.2: a new GUTI (with the TAI list) in a GUTI Reallocation Command under T3450.
    Both GUTIs stay indexed until the Complete (5.4.1.4); if T3450 runs out four times over
    the connection is released and both stay (5.4.1.6 b: the UE may hold either)."""
    ctx, config = turn.context, turn.env.config
    new_guti(turn)
    assert ctx.m_tmsi is not None
    ctx.procedure = Procedure.GUTI_REALLOCATION
    ctx.step = Step.ACCEPTED
    command = GutiReallocationCommand(
        guti=messages.guti(config, ctx.m_tmsi), tai_list=messages.tai_list(config)
    )
    send_guarded(turn, command, TimerName.T3450)
    turn.log("GUTI Reallocation Command", m_tmsi=f"{ctx.m_tmsi:08x}")


# --- service request (TS 24.301 5.6.1, TS 23.401 5.3.4.1) ----------------------------------------


def service_request(turn: Turn, pdu: bytes) -> Outcome:
    """Short MAC checked, KeNB from its COUNT, Initial Context Setup; Modify Bearer follows
    the eNB's response."""
    ctx = turn.context
    if ctx.emm is not EmmState.REGISTERED or ctx.pdn is None:
        return _service_reject(turn, EmmCause.IMPLICITLY_DETACHED)
    if ctx.security is None:
        return _service_reject(turn, EmmCause.UE_IDENTITY_CANNOT_BE_DERIVED)
    try:
        verified = ctx.security.verify_service_request(pdu)
    except SecurityError as error:
        turn.log("Service Request failed its integrity check", "warning", error=str(error))
        return _service_reject(turn, EmmCause.UE_IDENTITY_CANNOT_BE_DERIVED)
    ctx.security = verified.context
    ctx.connection = _replace(ctx.connection, secure=True)
    ctx.procedure = Procedure.SERVICE_REQUEST
    ctx.step = Step.CONTEXT_SETUP
    ctx.service_requests_since_guti += 1
    kenb = derive_kenb(ctx.security.kasme, verified.count)
    turn.send(messages.initial_context_setup(ctx, kenb))
    turn.log("Service Request accepted")
    return turn.done()


def _service_reject(turn: Turn, cause: int) -> Outcome:
    """SERVICE REJECT (8.2.24): EMM header, message type, cause; plain (the UE could not be
    verified, or has no context here)."""
    connection = turn.context.connection
    assert connection is not None
    turn.send(messages.downlink_nas(connection, bytes((0x07, SERVICE_REJECT, cause))))
    turn.log("Service Reject", "warning", emm_cause=cause)
    if cause == EmmCause.IMPLICITLY_DETACHED:
        turn.context.emm = EmmState.DEREGISTERED
    return release(turn, CAUSE_NAS_UNSPECIFIED).done()


# --- NAS retransmission timers (TS 24.301 5.4.x.7, 5.5.1.2.7) ----------------------------------


def nas_timer_expired(turn: Turn, name: TimerName) -> Outcome:
    """T3450/T3460/T3470: send the message again, up to the configured retransmissions; the
    expiry after the last aborts the procedure."""
    ctx, config = turn.context, turn.env.config
    retransmission = ctx.retransmission
    if retransmission is None or retransmission.timer != name or ctx.connection is None:
        return turn.done()
    if retransmission.sent <= config.timers.nas_retransmissions:
        message = nas.decode(retransmission.nas, uplink=False)
        assert isinstance(message, EmmMessage)
        send_nas(turn, message, new_context=retransmission.new_context)
        ctx.retransmission = _replace(retransmission, sent=retransmission.sent + 1)
        turn.start_timer(name, _timer_seconds(turn, name))
        turn.log("NAS message retransmitted", timer=name, sent=retransmission.sent + 1)
        return turn.done()
    turn.log("NAS procedure aborted", "warning", timer=name, procedure=ctx.procedure)
    ctx.retransmission = None
    if ctx.procedure is Procedure.ATTACH:
        return abort_attach(turn, CAUSE_NAS_UNSPECIFIED)
    end_procedure(turn)
    return release(turn, CAUSE_NAS_UNSPECIFIED).done()


# --- helpers ---------------------------------------------------------------------------------


def _common_or_registered(ctx: UeContext) -> EmmState:
    return ctx.emm if ctx.emm is EmmState.REGISTERED else EmmState.COMMON_PROCEDURE_INITIATED


def _log_gtp_rejection(turn: Turn, answer: GtpcMessage, name: str) -> None:
    cause = getattr(answer, "cause", None)
    if cause is None or cause.value >= FIRST_REJECTION_CAUSE:
        turn.log(f"{name} rejected by the SGW", "warning", gtp_cause=getattr(cause, "value", None))


def _replace(struct, **changes):
    return msgspec.structs.replace(struct, **changes)


def _ipv4(text: str) -> IPv4Address:
    return IPv4Address(text)


def _name(message: object) -> str:
    return type(message).__name__


def _cause_text(cause: Cause | None) -> str | None:
    return None if cause is None else f"{cause.group}/{cause.value}"


def _event(name: str, level: str = "info", **fields: object) -> Event:
    return Event(name, level, tuple(fields.items()))


def _stale(message: object) -> tuple[Event, ...]:
    return (
        _event(
            "message of a connection the UE no longer has, ignored",
            "warning",
            s1ap=_name(message),
        ),
    )
