"""The MME frontend: the `epc.agent_server` handler that turns each agent frame into one
Algorithm 1 request on the right record, and the record's reply into frames.

For a frame it:
1. decodes the S1AP payload (an undecodable one is answered with an Error Indication
   carrying the protocol cause, TS 36.413 10);
2. resolves the record the request applies to (`docs/decisions.md`, MME):
   - non-UE-associated (the agent's UE ID 0): the eNB link `s1/<enb>`;
   - Initial UE Message: the UE by its NAS identity: IMSI; GUTI or S-TMSI of this MME through
     the GUTI index; else a provisional context for the connection;
   - other UE-associated messages: the UE by MME-UE-S1AP-ID through the S1AP index;
   - TIMER_FIRED: the UE through the agent UE index;
3. runs Algorithm 1 there with the procedure step (`epc.mme.step`), request ID
   `(frame.request_id,)`;
4. answers: REPLY frames in order on the request's stream, SET_TIMER / CANCEL_TIMER frames,
   then the ACK with the reply count, in one write. An obsolete request gets an ACK with no
   replies (the agent may still be waiting on it: a late request of a released connection);
   an abandoned one gets nothing, and the agent sends it again.

Log lines carry `imsi` (bound once the record is known) besides the `enb`, `ue_id` and
`request_id` the agent server binds.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

import msgspec

from echo_agent.wire import ENB_UE_ID, Frame, FrameKind
from epc.agent_server import AgentConnection
from epc.algorithm1 import (
    Abandoned,
    Algorithm1,
    Applied,
    Clock,
    Dropped,
    Record,
    Replayed,
    Reply,
    RequestId,
    SendEffect,
    StepResult,
    lane_step,
)
from epc.algorithm1 import Outcome as Algorithm1Outcome
from epc.clock import LoopClock
from epc.codec import gtpv2c, s1ap
from epc.codec.gtpv2c import (
    CreateBearerRequest,
    DeleteBearerRequest,
    DownlinkDataNotification,
    GtpcMessage,
    UpdateBearerRequest,
)
from epc.codec.nas import decode as decode_nas
from epc.codec.nas_messages import (
    AttachRequest,
    DetachRequest,
    Guti,
    Imsi,
    NasDecodeError,
    ProtectedNas,
    TrackingAreaUpdateRequest,
)
from epc.codec.s1ap_constants import PROCEDURE_ERROR_INDICATION
from epc.codec.s1ap_messages import (
    Cause,
    CriticalityDiagnostics,
    EnbConfigurationUpdate,
    ErrorIndication,
    InitialContextSetupFailure,
    InitialContextSetupResponse,
    InitialUeMessage,
    Reset,
    S1apMessage,
    S1SetupRequest,
    UeContextReleaseComplete,
    UeContextReleaseRequest,
    UplinkNasTransport,
)
from epc.codec.s1ap_peek import S1apDecodeError
from epc.daemon.logs import bound_context, get_logger
from epc.gtpc.node import IncomingRequest
from epc.gtpc.procedure import RequestClock, context_not_found
from epc.mme import gateway_requests, procedures, s1_management
from epc.mme.config import MmeConfig
from epc.mme.context import (
    ENB_RECORD_DECODER,
    TIMER_BY_WIRE_ID,
    TIMER_WIRE_IDS,
    AgentUe,
    EnbLink,
    EnbRecord,
    GlobalEnbId,
    TimerName,
    UeContext,
    agent_index_parent,
    agent_index_path,
    enb_path,
    is_provisional,
    lane_path,
    link_path,
    mme_s11_index_path,
    provisional_key,
    ue_path,
)
from epc.mme.gateway_requests import LANE_AGENT, LANE_REPLY_DECODER, LaneReply, PagingRun
from epc.mme.identifiers import (
    IdentifierAllocator,
    owner_of_m_tmsi,
    owner_of_mme_ue_s1ap_id,
)
from epc.mme.outcome import CoreInitiatedPdu, Env, Event, Outcome, decode_ue_reply
from epc.mme.s1_management import LinkOutcome
from epc.mme.step import StepRun, VectorSource, lane_ue_step, ue_step
from epc.store import Create, Op, Put, Store, StoreUnavailable
from epc.store.retry import RetryPolicy

log = get_logger()

UNKNOWN_MME_UE_S1AP_ID = Cause("radioNetwork", "unknown-mme-ue-s1ap-id")
NON_UE_STREAM = 0
"""TS 36.412 7: non-UE-associated signalling on stream 0."""
MAX_TIMER_MS = (1 << 32) - 1

UeEntry = Callable[[UeContext | None, Env], Outcome]
_UE_RECORD_DECODER = msgspec.msgpack.Decoder(Record[UeContext])


class AgentSender(Protocol):
    """Core-initiated sends by eNB identity: `epc.agent_server.AgentServer.send_to_enb`."""

    async def send_to_enb(self, enb: str, *frames: Frame) -> bool: ...


class PagingTimer(Protocol):
    def start(self, imsi: str, run: PagingRun) -> None: ...


class PagingTimers:
    """T3413 in this instance (the agent arms timers only for its own requests in flight, and
    paging follows the SGW's): one task per UE, owned here, cancelled at drain. On expiry
    `expire(imsi, request_id)` runs the paging lane, so whichever instance's expiry comes
    first decides and the others find it recorded."""

    def __init__(self, expire: Callable[[str, RequestId], Awaitable[object]]) -> None:
        self._expire = expire
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def start(self, imsi: str, run: PagingRun) -> None:
        previous = self._tasks.pop(imsi, None)
        if previous is not None:
            previous.cancel()
        task = asyncio.get_running_loop().create_task(self._run(imsi, run), name=f"T3413 {imsi}")
        self._tasks[imsi] = task
        task.add_done_callback(lambda done: self._forget(imsi, done))

    async def _run(self, imsi: str, run: PagingRun) -> None:
        await asyncio.sleep(run.seconds)
        try:
            await self._expire(imsi, run.request_id)
        except Exception:
            log.exception("T3413 expiry failed", imsi=imsi)

    def _forget(self, imsi: str, task: asyncio.Task[None]) -> None:
        if self._tasks.get(imsi) is task:
            del self._tasks[imsi]

    async def close(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        self._tasks.clear()


@dataclass
class MmeFrontend:
    """One MME instance's request handling; stateless between requests."""

    store: Store
    config: MmeConfig
    send_effect: SendEffect
    """S11 side effects: `epc.mme.s11.S11Client.send`, or a test double."""
    clock: Clock = field(default_factory=LoopClock)
    allocator: IdentifierAllocator | None = None
    vector_rng: random.Random = field(default_factory=random.SystemRandom)
    wall_clock: Callable[[], float] = time.time
    retry: RetryPolicy = RetryPolicy()
    agents: AgentSender | None = None
    """Where core-initiated S1AP goes (paging, NAS for a UE from a gateway's request)."""
    notify_sgw: Callable[[GtpcMessage], None] | None = None
    """Sends a GTPv2-C message without a response to the SGW: `S11Client.notify`."""
    paging_timers: PagingTimer | None = None
    request_clock: RequestClock = field(default_factory=RequestClock)
    """IDs for unstamped requests from the SGW (a GTPv2 peer outside this core)."""

    def __post_init__(self) -> None:
        deployment = self.config.deployment
        self.allocator = self.allocator or IdentifierAllocator(deployment)
        self.ues = Algorithm1(self.store, UeContext, self.clock, self.send_effect, self.retry)
        self.lanes = Algorithm1(self.store, int, self.clock, self.send_effect, self.retry)
        self.paging_timers = self.paging_timers or PagingTimers(self.paging_expired)
        self.links = Algorithm1(self.store, EnbLink, self.clock, self.send_effect, self.retry)
        plmn = self.config.mme.plmn
        self.vectors = VectorSource(self.store, deployment, (plmn.mcc, plmn.mnc), self.vector_rng)

    @property
    def deployment(self) -> str:
        return self.config.deployment

    # --- the agent server's handler ------------------------------------------------------

    async def handle(self, connection: AgentConnection, frame: Frame) -> None:
        try:
            frames = await self.process(connection.enb, frame)
        except StoreUnavailable as error:
            log.warning(
                "store unavailable; the agent will send the request again", error=str(error)
            )
            return
        if frames:
            await connection.send(*frames)

    async def process(self, enb: str, frame: Frame) -> list[Frame]:
        """The frames answering one REQUEST or TIMER_FIRED from the agent of `enb`."""
        if frame.kind is FrameKind.TIMER_FIRED:
            return await self._timer_fired(enb, frame)
        try:
            message = s1ap.decode(frame.payload)
        except S1apDecodeError as error:
            return _undecodable(frame, error)
        if frame.ue_id == ENB_UE_ID:
            return await self._non_ue(enb, frame, message)
        return await self._ue_associated(enb, frame, message)

    # --- UE-associated ---------------------------------------------------------------------

    async def _ue_associated(self, enb: str, frame: Frame, message: S1apMessage) -> list[Frame]:
        agent = AgentUe(enb, frame.ue_id)
        entry: UeEntry
        match message:
            case InitialUeMessage():
                key = await self._initial_key(agent, message)

                def entry(state, env):
                    return procedures.initial_ue_message(state, message, env)

                return await self._apply(agent, frame, key, entry)
            case UplinkNasTransport():
                entry = _bind(procedures.uplink_nas, message)
            case InitialContextSetupResponse():
                entry = _bind(procedures.initial_context_setup_response, message)
            case InitialContextSetupFailure():
                entry = _bind(procedures.initial_context_setup_failure, message)
            case UeContextReleaseRequest():
                entry = _bind(procedures.ue_context_release_request, message)
            case UeContextReleaseComplete():
                entry = _bind(procedures.ue_context_release_complete, message)
            case ErrorIndication() if message.mme_ue_s1ap_id is not None:
                entry = _bind(procedures.error_indication, message)
            case _:
                log.info("S1AP message not handled by this MME", s1ap=type(message).__name__)
                return _answer(frame, Reply())
        mme_id = message.mme_ue_s1ap_id
        key = await owner_of_mme_ue_s1ap_id(self.store, self.deployment, mme_id)
        if key is None:
            return self._unknown_connection(frame, message)
        return await self._apply(agent, frame, key, entry)

    async def _initial_key(self, agent: AgentUe, message: InitialUeMessage) -> str:
        """The context an Initial UE Message belongs to, from its NAS identity."""
        identity = _initial_identity(message)
        if isinstance(identity, Imsi):
            return identity.digits
        m_tmsi = None
        mme = self.config.mme
        if isinstance(identity, Guti):
            ours = (identity.plmn, identity.mme_group_id, identity.mme_code) == (
                mme.plmn.digits,
                mme.mme_group_id,
                mme.mme_code,
            )
            m_tmsi = identity.m_tmsi if ours else None
        elif message.s_tmsi is not None and message.s_tmsi.mme_code == mme.mme_code:
            m_tmsi = message.s_tmsi.m_tmsi
        if m_tmsi is not None:
            owner = await owner_of_m_tmsi(self.store, self.deployment, m_tmsi)
            if owner is not None:
                return owner
        return provisional_key(agent)

    def _unknown_connection(self, frame: Frame, message: S1apMessage) -> list[Frame]:
        if isinstance(message, UeContextReleaseComplete | ErrorIndication):
            return _answer(frame, Reply())  # nothing left to release or to tell
        log.warning(
            "S1AP message names an unknown MME-UE-S1AP-ID",
            s1ap=type(message).__name__,
            mme_ue_s1ap_id=message.mme_ue_s1ap_id,
        )
        indication = ErrorIndication(
            mme_ue_s1ap_id=message.mme_ue_s1ap_id,
            enb_ue_s1ap_id=message.enb_ue_s1ap_id,
            cause=UNKNOWN_MME_UE_S1AP_ID,
        )
        return _answer(frame, Reply((s1ap.encode(indication),)))

    async def _timer_fired(self, enb: str, frame: Frame) -> list[Frame]:
        name = TIMER_BY_WIRE_ID.get(frame.timer_id)
        agent = AgentUe(enb, frame.ue_id)
        node = await self.store.get(agent_index_path(self.deployment, agent))
        if name is None or node is None:
            log.info("timer expiry for no context ignored", timer_id=frame.timer_id)
            return _answer(frame, Reply())

        def entry(state, env):
            return procedures.timer_fired(state, name, env)

        return await self._apply(agent, frame, node.value.decode(), entry)

    async def _apply(self, agent: AgentUe, frame: Frame, key: str, entry: UeEntry) -> list[Frame]:
        request_id = (frame.request_id,)
        env = self._env(key, agent, frame.stream, request_id)
        run = StepRun()
        step = ue_step(lambda state: entry(state, env), env, self.store, self.vectors, run)
        with bound_context(**({} if is_provisional(key) else {"imsi": key})):
            outcome = await self.ues.handle(ue_path(self.deployment, key), request_id, step)
            outcome, elsewhere = _unpack(outcome)
            frames = self._answer_outcome(frame, outcome, run.events)
            await self._send_core_initiated(elsewhere)
            return frames

    def _env(self, key: str, agent: AgentUe, stream: int, request_id) -> Env:
        assert self.allocator is not None
        return Env(
            config=self.config,
            key=key,
            agent=agent,
            stream=stream,
            request_id=request_id,
            wall_time=self.wall_clock(),
            allocator=self.allocator,
        )

    def _answer_outcome(self, frame: Frame, outcome, events: list[Event]) -> list[Frame]:
        match outcome:
            case Applied(reply=reply):
                _log_events(events)
                return _answer(frame, reply)
            case Replayed(reply=reply):
                log.info("request already applied; recorded reply sent again")
                return _answer(frame, reply)
            case Dropped():
                log.info("obsolete request dropped")
                return _answer(frame, Reply())
            case Abandoned(reason=reason):
                log.warning("request abandoned; the agent will send it again", reason=reason)
        return []

    # --- requests the SGW starts (epc.mme.gateway_requests) ------------------------------------

    async def handle_s11(self, request: IncomingRequest) -> GtpcMessage | None:
        """The GTP-C node's handler: one request from the SGW; the response, or None."""
        message = request.message
        teid = getattr(message, "teid", 0)
        node = await self.store.get(mme_s11_index_path(self.deployment, teid))
        key = None if node is None else node.value.decode()
        name = type(message).__name__
        if isinstance(message, CreateBearerRequest | UpdateBearerRequest):
            log.warning("dedicated bearer request refused: not supported", message=name)
            return gateway_requests.refuse(message, await self._sgw_teid(key))
        if key is None:
            log.info("S11 request for an unknown MME TEID", message=name, teid=teid)
            return context_not_found(message)
        request_id, _ = self.request_clock.identify(message.stamp)
        match message:
            case DownlinkDataNotification():
                enbs = await self._enb_records()

                def entry(state, env):
                    return gateway_requests.downlink_data_notification(state, message, enbs, env)

                lane = gateway_requests.PAGING_LANE
            case DeleteBearerRequest():

                def entry(state, env):
                    return gateway_requests.delete_bearer_request(state, message, env)

                lane = gateway_requests.BEARER_LANE
            case _:
                log.info("S11 request not handled by this MME", message=name)
                return None
        reply = await self._run_lane(lane, key, request_id, entry)
        if reply is None or reply.response is None:
            return None
        return gtpv2c.decode(reply.response)

    async def paging_expired(self, imsi: str, request_id: RequestId) -> None:
        """T3413 of the paging started by the notification `request_id[:-1]` expired."""
        enbs = await self._enb_records()

        def entry(state, env):
            return gateway_requests.paging_expired(state, request_id[:-1], enbs, env)

        await self._run_lane(gateway_requests.PAGING_LANE, imsi, request_id, entry)

    async def _run_lane(self, lane: str, key: str, request_id: RequestId, entry):
        env = self._env(key, LANE_AGENT, NON_UE_STREAM, request_id)
        run = StepRun()
        step = lane_ue_step(lambda state: entry(state, env), env, run)
        context_path = ue_path(self.deployment, key)
        path = lane_path(self.deployment, lane, key)
        with bound_context(imsi=key, lane=lane, request_id=".".join(map(str, request_id))):
            try:
                outcome = await self.lanes.handle(
                    path, request_id, lane_step(self.store, context_path, _UE_RECORD_DECODER, step)
                )
            except StoreUnavailable as error:
                log.warning(
                    "store unavailable; the SGW will send the request again", error=str(error)
                )
                return None
            match outcome:
                case Applied(reply=reply) | Replayed(reply=reply):
                    if isinstance(outcome, Applied):
                        _log_events(run.events)
                    else:
                        log.info("gateway request already applied; recorded answer carried out")
                    lane_reply = LANE_REPLY_DECODER.decode(reply.messages[0])
                    await self._carry_out(key, lane_reply)
                    return lane_reply
                case Dropped():
                    log.info("obsolete gateway request dropped")
                case Abandoned(reason=reason):
                    log.warning("gateway request abandoned", reason=reason)
        return None

    async def _send_core_initiated(self, pdus: tuple[CoreInitiatedPdu, ...]) -> None:
        """Recorded core-initiated S1AP (of a UE request or a lane), after the commit and on
        every replay. Request ID 0: unnumbered, so the agent never drops one as a duplicate
        (a page, a release or a NAS message sent twice is harmless; the NAS COUNT tells the
        UE a replay, and a release of a connection already gone is answered as unknown)."""
        for pdu in pdus:
            frame = Frame(
                FrameKind.CORE_INITIATED, pdu.ue_id, 0, stream=pdu.stream, payload=pdu.payload
            )
            sent = self.agents is not None and await self.agents.send_to_enb(pdu.enb, frame)
            if not sent:
                log.info("no agent connection to the eNB for a core-initiated message", enb=pdu.enb)

    async def _carry_out(self, key: str, reply: LaneReply) -> None:
        await self._send_core_initiated(reply.s1ap)
        for notification in reply.notifications:
            if self.notify_sgw is not None:
                self.notify_sgw(gtpv2c.decode(notification))
        if reply.paging_timer is not None and self.paging_timers is not None:
            self.paging_timers.start(key, reply.paging_timer)

    async def _enb_records(self) -> tuple[EnbRecord, ...]:
        parent = f"/{self.deployment}/enb"
        records = []
        for name in await self.store.children(parent):
            node = await self.store.get(f"{parent}/{name}")
            if node is not None:
                records.append(ENB_RECORD_DECODER.decode(node.value))
        return tuple(records)

    async def _sgw_teid(self, key: str | None) -> int:
        record = None if key is None else await self.ues.read(ue_path(self.deployment, key))
        pdn = None if record is None or record.state is None else record.state.pdn
        return 0 if pdn is None else pdn.sgw_s11.teid

    # --- non-UE-associated ---------------------------------------------------------------------

    async def _non_ue(self, enb: str, frame: Frame, message: S1apMessage) -> list[Frame]:
        match message:
            case S1SetupRequest():
                return await self._link(
                    enb, frame, lambda link: s1_management.s1_setup(link, message, self.config, enb)
                )
            case EnbConfigurationUpdate():
                return await self._link(
                    enb,
                    frame,
                    lambda link: s1_management.enb_configuration_update(
                        link, message, self.config, enb
                    ),
                )
            case Reset():
                if not await self._reset_connections(enb, frame, message):
                    return []
                return await self._link(
                    enb, frame, lambda link: s1_management.reset_acknowledge(link, message, enb)
                )
            case ErrorIndication():
                return await self._link(
                    enb, frame, lambda link: s1_management.error_indication(link, message, enb)
                )
        log.info("non-UE-associated S1AP message not handled", s1ap=type(message).__name__)
        return _answer(frame, Reply())

    async def _link(
        self, enb: str, frame: Frame, decide: Callable[[EnbLink | None], LinkOutcome]
    ) -> list[Frame]:
        events: list[Event] = []

        async def step(link: EnbLink | None, effects) -> StepResult[EnbLink]:
            outcome = decide(link)
            events[:] = outcome.events
            ops = []
            if outcome.enb_record is not None:
                ops.append(await self._enb_record_op(*outcome.enb_record))
            return StepResult(outcome.link, Reply(outcome.reply), tuple(ops))

        request_id = (frame.request_id,)
        outcome = await self.links.handle(link_path(self.deployment, enb), request_id, step)
        return self._answer_outcome(frame, outcome, events)

    async def _enb_record_op(self, global_enb_id: GlobalEnbId, record: EnbRecord) -> Op:
        path = enb_path(self.deployment, global_enb_id)
        value = msgspec.msgpack.encode(record)
        node = await self.store.get(path)
        return Create(path, value) if node is None else Put(path, value, node.version)

    async def _reset_connections(self, enb: str, frame: Frame, message: Reset) -> bool:
        """Release the UE contexts the Reset names, each as an Algorithm 1 request with the
        Reset's ID (so a UE request the agent sent later still wins). False when one could
        not be applied: the Reset is then not acknowledged and comes again."""
        parent = agent_index_parent(self.deployment, enb)
        owners = []
        for name in await self.store.children(parent):
            node = await self.store.get(f"{parent}/{name}")
            if node is not None:
                owners.append(node.value.decode())
        for key in dict.fromkeys(owners):

            def entry(state, env):
                return procedures.reset(state, enb, message.connections, env)

            agent = AgentUe(enb, ENB_UE_ID)
            answer = await self._apply(agent, frame, key, entry)
            if not answer:
                return False
        return True


def _unpack(outcome: Algorithm1Outcome) -> tuple[Algorithm1Outcome, tuple[CoreInitiatedPdu, ...]]:
    """A UE request's outcome with its recorded `UeReply` opened: the Reply answering the
    request in flight, and the core-initiated S1AP to send elsewhere."""
    match outcome:
        case Applied(reply=reply) | Replayed(reply=reply):
            recorded = decode_ue_reply(reply.messages)
            answer = Reply(recorded.replies, reply.timers)
            opened = Applied(answer) if isinstance(outcome, Applied) else Replayed(answer)
            return opened, recorded.s1ap
    return outcome, ()


def _bind(function, message):
    def entry(state, env):
        return function(state, message, env)

    return entry


def _initial_identity(message: InitialUeMessage) -> Imsi | Guti | None:
    """The identity the UE's initial NAS message gives (read without keys: initial messages
    are integrity protected at most, never ciphered)."""
    try:
        decoded = decode_nas(message.nas_pdu)
        if isinstance(decoded, ProtectedNas):
            decoded = decode_nas(decoded.inner)
    except NasDecodeError:
        return None
    match decoded:
        case AttachRequest(identity=Imsi() | Guti() as identity):
            return identity
        case DetachRequest(identity=Imsi() | Guti() as identity):
            return identity
        case TrackingAreaUpdateRequest(old_guti=guti):
            return guti
    return None


def _answer(frame: Frame, reply: Reply) -> list[Frame]:
    """REPLY frames, timer commands, then the ACK: the agent takes timer commands only for
    the request in flight, so they go before the ACK that completes it."""
    stream = NON_UE_STREAM if frame.ue_id == ENB_UE_ID else frame.stream
    frames = [
        Frame(
            FrameKind.REPLY,
            frame.ue_id,
            frame.request_id,
            sequence,
            stream=stream,
            payload=payload,
        )
        for sequence, payload in enumerate(reply.messages)
    ]
    for command in reply.timers:
        timer_id = TIMER_WIRE_IDS[TimerName(command.timer_id)]
        if command.duration_s is None:
            frames.append(
                Frame(FrameKind.CANCEL_TIMER, frame.ue_id, frame.request_id, timer_id=timer_id)
            )
        else:
            milliseconds = min(MAX_TIMER_MS, max(1, round(command.duration_s * 1000)))
            frames.append(
                Frame(
                    FrameKind.SET_TIMER,
                    frame.ue_id,
                    frame.request_id,
                    timer_id=timer_id,
                    timer_ms=milliseconds,
                )
            )
    frames.append(Frame(FrameKind.ACK, frame.ue_id, frame.request_id, len(reply.messages)))
    return frames


def _undecodable(frame: Frame, error: S1apDecodeError) -> list[Frame]:
    """TS 36.413 10: an Error Indication with the protocol cause, never for an Error
    Indication (two such peers would loop)."""
    log.warning("undecodable S1AP from the agent", reason=str(error), cause=error.cause.value)
    if error.procedure_code == PROCEDURE_ERROR_INDICATION:
        return _answer(frame, Reply())
    diagnostics = error.criticality_diagnostics()
    indication = ErrorIndication(
        mme_ue_s1ap_id=error.mme_ue_s1ap_id,
        enb_ue_s1ap_id=error.enb_ue_s1ap_id,
        cause=error.cause,
        criticality_diagnostics=None if diagnostics == CriticalityDiagnostics() else diagnostics,
    )
    return _answer(frame, Reply((s1ap.encode(indication),)))


def _log_events(events: list[Event]) -> None:
    for event in events:
        getattr(log, event.level, log.info)(event.name, **dict(event.fields))
