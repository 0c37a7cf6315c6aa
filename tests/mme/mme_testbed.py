"""An in-memory core for MME unit tests: MME frontends on one store, a scripted SGW behind the
real S11 adapter, and a fake agent + eNB that carries enbsim's strict UE core over S1AP.

No sockets and no sleeps: `Testbed.request` hands one frame to an MME's `process`, the answer
frames are checked (REPLYs in sequence, then timer commands, then the ACK) and the downlink
S1AP goes to the UE's radio driver, which answers as an eNB would (ICS Response with its S1-U
tunnel, UE Context Release Complete). Timers the MME arms are kept per agent UE and fired on
demand (`fire`). Every S1AP message either way is logged by name in `Testbed.log`.
"""

from __future__ import annotations

import asyncio
import ipaddress
import random
from collections import deque
from dataclasses import dataclass, field

import msgspec

from echo_agent.wire import ENB_UE_ID, Frame, FrameKind
from enbsim.events import ProcedureFailed, ProcedureSucceeded, ReleaseConnection, SendUplinkNas
from enbsim.ue import Ue, UeConfig
from enbsim.usim import Usim
from epc.algorithm1 import Record
from epc.codec import s1ap
from epc.codec.gtpv2c import (
    BearerContextCreated,
    Cause,
    CauseValue,
    CreateSessionRequest,
    CreateSessionResponse,
    DeleteSessionRequest,
    DeleteSessionResponse,
    Fteid,
    FteidInterface,
    GtpcMessage,
    ModifyBearerRequest,
    ModifyBearerResponse,
    Paa,
    PdnType,
    ReleaseAccessBearersRequest,
    ReleaseAccessBearersResponse,
)
from epc.codec.s1ap_messages import Cause as S1apCause
from epc.codec.s1ap_messages import (
    DownlinkNasTransport,
    Ecgi,
    ERabTunnel,
    GlobalEnbId,
    InitialContextSetupRequest,
    InitialContextSetupResponse,
    InitialUeMessage,
    PlmnIdentity,
    S1SetupRequest,
    STmsi,
    SupportedTa,
    Tai,
    UeContextReleaseCommand,
    UeContextReleaseComplete,
    UeContextReleaseRequest,
    UplinkNasTransport,
)
from epc.gtpc import RequestTimeout
from epc.gtpc.node import IncomingRequest
from epc.mme.config import MmeConfig
from epc.mme.context import TIMER_WIRE_IDS, TimerName, UeContext, ue_path
from epc.mme.frontend import MmeFrontend
from epc.mme.identifiers import IdentifierAllocator
from epc.mme.s11 import S11Client
from epc.store.memory import MemoryStore
from epc.subscriber import Subscriber, encode_subscriber, subscriber_path

DEPLOYMENT = "test"
K = bytes.fromhex("465b5ce8b199b49faa5f0a2ee238a6bc")
OPC = bytes.fromhex("cd63cb71954a9f4e48a5994e37a02baf")
SGW_ADDRESS = "127.0.0.10"
ENB_ADDRESS = "127.0.0.20"
PLMN = PlmnIdentity("001", "01")
ENB = "enb-test"
_RECORD = msgspec.msgpack.Decoder(Record[UeContext])


# --- the SGW double -----------------------------------------------------------------------------


@dataclass
class Session:
    imsi: str
    sgw_teid: int
    ue_ipv4: str
    mme_teid: int
    enb_s1u: Fteid | None = None


class FakeSgw:
    """An SGW on S11 as the MME sees it: sessions, replies recorded per ECHO request ID (a
    repeat gets the same response), requests older than the UE's last applied one dropped
    (no response: RequestTimeout), and rejections on demand."""

    def __init__(self) -> None:
        self.sessions: dict[int, Session] = {}
        self.requests: list[GtpcMessage] = []
        self.recorded: dict[tuple[int, ...], GtpcMessage] = {}
        self.last: dict[bytes, tuple[int, ...]] = {}
        self.reject_create: int | None = None
        self.silent = False
        self._teids = iter(range(0x1000, 0x10000000))
        self._addresses = (str(ipaddress.IPv4Address("10.45.0.2") + n) for n in range(100000))
        self.gate: asyncio.Event | None = None
        """When set, requests wait on it (to hold an instance in the middle of a step)."""
        self.notifications: list[GtpcMessage] = []
        """Messages without a response the MME sent (Failure Indications)."""

    def notify(self, peer, message: GtpcMessage) -> None:
        self.notifications.append(message)

    async def request(self, peer, message: GtpcMessage) -> GtpcMessage:
        if self.gate is not None:
            await self.gate.wait()
        if self.silent:
            raise RequestTimeout(peer, message.MESSAGE_TYPE, 3)
        stamp = message.stamp
        assert stamp is not None and stamp.request_id, "every S11 request carries the ECHO stamp"
        if stamp.request_id in self.recorded:
            return self.recorded[stamp.request_id]
        if stamp.request_id <= self.last.get(stamp.ue_id, ()):
            raise RequestTimeout(peer, message.MESSAGE_TYPE, 3)  # obsolete: dropped
        self.requests.append(message)
        response = self._apply(message)
        self.recorded[stamp.request_id] = response
        self.last[stamp.ue_id] = stamp.request_id
        return response

    def sessions_of(self, imsi: str) -> list[Session]:
        return [session for session in self.sessions.values() if session.imsi == imsi]

    def _apply(self, message: GtpcMessage) -> GtpcMessage:
        accepted = Cause(CauseValue.REQUEST_ACCEPTED)
        match message:
            case CreateSessionRequest():
                if self.reject_create is not None:
                    return CreateSessionResponse(cause=Cause(self.reject_create))
                teid = next(self._teids)
                session = Session(
                    message.imsi, teid, next(self._addresses), message.sender_fteid.teid
                )
                self.sessions[teid] = session
                address = ipaddress.IPv4Address(SGW_ADDRESS)
                return CreateSessionResponse(
                    teid=session.mme_teid,
                    cause=accepted,
                    sender_fteid=Fteid(FteidInterface.S11_S4_SGW_GTPC, teid, address),
                    paa=Paa(PdnType.IPV4, ipaddress.IPv4Address(session.ue_ipv4)),
                    bearer_contexts_created=(
                        BearerContextCreated(
                            ebi=message.bearer_contexts[0].ebi,
                            cause=accepted,
                            s1u_sgw_fteid=Fteid(FteidInterface.S1U_SGW_GTPU, teid + 1, address),
                        ),
                    ),
                )
            case ModifyBearerRequest():
                session = self.sessions.get(message.teid)
                if session is None:
                    return ModifyBearerResponse(cause=Cause(CauseValue.CONTEXT_NOT_FOUND))
                session.enb_s1u = message.bearer_contexts_to_be_modified[0].s1u_enodeb_fteid
                return ModifyBearerResponse(teid=session.mme_teid, cause=accepted)
            case ReleaseAccessBearersRequest():
                session = self.sessions.get(message.teid)
                if session is None:
                    return ReleaseAccessBearersResponse(cause=Cause(CauseValue.CONTEXT_NOT_FOUND))
                session.enb_s1u = None
                return ReleaseAccessBearersResponse(teid=session.mme_teid, cause=accepted)
            case DeleteSessionRequest():
                session = self.sessions.pop(message.teid, None)
                if session is None:
                    return DeleteSessionResponse(cause=Cause(CauseValue.CONTEXT_NOT_FOUND))
                return DeleteSessionResponse(teid=session.mme_teid, cause=accepted)
        raise AssertionError(f"unexpected S11 request {message!r}")


class FakeAgents:
    """Core-initiated frames the MME sends through the agents, by eNB identity."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, Frame]] = []

    async def send_to_enb(self, enb: str, *frames: Frame) -> bool:
        self.sent.extend((enb, frame) for frame in frames)
        return True

    def take(self) -> list[tuple[str, Frame]]:
        sent, self.sent = self.sent, []
        return sent


class FakePagingTimers:
    """T3413 runs the MME started; the test fires them (`Testbed.expire_paging`)."""

    def __init__(self) -> None:
        self.started: list[tuple[str, object]] = []

    def start(self, imsi: str, run) -> None:
        self.started.append((imsi, run))


# --- the agent and eNB side --------------------------------------------------------------------


class FakeClock:
    def now(self) -> float:
        return 0.0

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(0)


def subscriber(imsi: str, **fields) -> Subscriber:
    values = {"k": K, "opc": OPC, "sqn": 32, **fields}
    return Subscriber(imsi=imsi, **values)


def mme_config(**tables) -> MmeConfig:
    return msgspec.convert({"deployment": DEPLOYMENT, **tables}, MmeConfig)


@dataclass
class Radio:
    """One UE behind the eNB: enbsim's UE core and its current S1 connection."""

    ue: Ue
    events: list = field(default_factory=list)
    agent_ue_id: int | None = None
    enb_ue_s1ap_id: int | None = None
    mme_ue_s1ap_id: int | None = None
    enb_teid: int | None = None

    @property
    def imsi(self) -> str:
        return self.ue.imsi

    def succeeded(self, procedure: str) -> bool:
        return any(
            isinstance(event, ProcedureSucceeded) and event.procedure == procedure
            for event in self.events
        )

    def failures(self) -> list[ProcedureFailed]:
        return [event for event in self.events if isinstance(event, ProcedureFailed)]


@dataclass
class Testbed:
    __test__ = False  # not a test class, whatever its name

    store: MemoryStore
    config: MmeConfig
    sgw: FakeSgw
    mmes: list[MmeFrontend]
    agents: FakeAgents = field(default_factory=FakeAgents)
    paging_timers: FakePagingTimers = field(default_factory=FakePagingTimers)
    log: list[str] = field(default_factory=list)
    downlinks: list[bytes] = field(default_factory=list)
    """Every downlink S1AP PDU, in order."""
    timers: dict[tuple[int, int], int] = field(default_factory=dict)
    """(agent UE ID, timer ID) -> duration in ms, as the agent holds them."""
    now: float = 0.0
    serving: int = 0
    """Index of the MME instance requests go to."""
    _request_id: int = 1000
    _agent_ue_id: int = 1
    _enb_ue_s1ap_id: int = 1
    _radios: dict[int, Radio] = field(default_factory=dict)
    _uplink: deque = field(default_factory=deque)

    @classmethod
    async def create(cls, *, instances: int = 1, config: MmeConfig | None = None, seed: int = 7):
        store = MemoryStore()
        config = config or mme_config()
        sgw = FakeSgw()
        s11 = S11Client(sgw, (SGW_ADDRESS, 2123))
        agents = FakeAgents()
        paging_timers = FakePagingTimers()
        mmes = [
            MmeFrontend(
                store,
                config,
                s11.send,
                clock=FakeClock(),
                allocator=IdentifierAllocator(DEPLOYMENT, random.Random(seed + n)),
                vector_rng=random.Random(seed + 100 + n),
                wall_clock=lambda: 1_700_000_000.0,
                agents=agents,
                notify_sgw=s11.notify,
                paging_timers=paging_timers,
            )
            for n in range(instances)
        ]
        return cls(store, config, sgw, mmes, agents=agents, paging_timers=paging_timers)

    # --- provisioning and state -----------------------------------------------------------

    async def provision(self, *subscribers: Subscriber) -> None:
        for record in subscribers:
            path = subscriber_path(DEPLOYMENT, record.imsi)
            await self.store.create(path, encode_subscriber(record))

    def radio(self, record: Subscriber, **config) -> Radio:
        return Radio(Ue(Usim.from_subscriber(record), UeConfig(**config)))

    async def context(self, imsi: str) -> UeContext | None:
        record = await self.record(imsi)
        return None if record is None else record.state

    async def record(self, key: str) -> Record[UeContext] | None:
        node = await self.store.get(ue_path(DEPLOYMENT, key))
        return None if node is None else _RECORD.decode(node.value)

    # --- frames -------------------------------------------------------------------------------

    def next_request_id(self) -> int:
        self._request_id += 1
        return self._request_id

    async def request(
        self, ue_id: int, payload: bytes, *, stream: int = 1, mme: int | None = None
    ) -> list[bytes]:
        """One REQUEST through an MME; the replies' payloads, after checking the answer."""
        frame = Frame(
            FrameKind.REQUEST, ue_id, self.next_request_id(), stream=stream, payload=payload
        )
        self.log.append(f"> {_name(payload)}")
        return await self.send(frame, mme=mme)

    async def send(self, frame: Frame, *, mme: int | None = None) -> list[bytes]:
        frames = await self.mmes[self.serving if mme is None else mme].process(ENB, frame)
        return self.take(frame, frames)

    def take(self, frame: Frame, frames: list[Frame]) -> list[bytes]:
        """Check and apply the answer frames; the reply payloads in order."""
        if not frames:
            return []
        *rest, ack = frames
        assert ack.kind is FrameKind.ACK and ack.request_id == frame.request_id
        replies = [f for f in rest if f.kind is FrameKind.REPLY]
        assert [f.sequence for f in replies] == list(range(len(replies)))
        assert ack.sequence == len(replies)
        for command in rest:
            key = (command.ue_id, command.timer_id)
            if command.kind is FrameKind.SET_TIMER:
                self.timers[key] = command.timer_ms
            elif command.kind is FrameKind.CANCEL_TIMER:
                self.timers.pop(key, None)
        for reply in replies:
            self.log.append(f"< {_name(reply.payload)}")
            self.downlinks.append(reply.payload)
        return [reply.payload for reply in replies]

    def armed(self, radio_or_ue_id, name: TimerName) -> int | None:
        ue_id = radio_or_ue_id if isinstance(radio_or_ue_id, int) else radio_or_ue_id.agent_ue_id
        return self.timers.get((ue_id, TIMER_WIRE_IDS[name]))

    async def send_timer(self, radio: Radio, name: TimerName) -> list[bytes]:
        """Fire a timer armed on the radio's connection; replies returned, not delivered."""
        assert self.armed(radio, name) is not None, f"{name} is not armed"
        timer_id = TIMER_WIRE_IDS[name]
        self.timers.pop((radio.agent_ue_id, timer_id), None)
        frame = Frame(
            FrameKind.TIMER_FIRED, radio.agent_ue_id, self.next_request_id(), timer_id=timer_id
        )
        self.log.append(f"> timer {name}")
        return await self.send(frame)

    async def fire(self, ue_id: int, name: TimerName, *, mme: int | None = None) -> list[bytes]:
        """The agent's timer expired: a TIMER_FIRED request; replies go to the UE there."""
        timer_id = TIMER_WIRE_IDS[name]
        self.timers.pop((ue_id, timer_id), None)
        frame = Frame(FrameKind.TIMER_FIRED, ue_id, self.next_request_id(), timer_id=timer_id)
        self.log.append(f"> timer {name}")
        replies = await self.send(frame, mme=mme)
        radio = self._radios.get(ue_id)
        if radio is not None:
            for payload in replies:
                self._downlink(radio, payload)
            await self.pump()
        return replies

    # --- requests from the SGW -------------------------------------------------------------

    async def from_sgw(self, message: GtpcMessage, *, mme: int | None = None):
        """One S11 request the SGW starts; the MME's response (None: no response)."""
        request = IncomingRequest((SGW_ADDRESS, 2123), message)
        return await self.mmes[self.serving if mme is None else mme].handle_s11(request)

    async def expire_paging(self, imsi: str, *, mme: int | None = None) -> None:
        """The latest T3413 the MME started for `imsi` expires."""
        _, run = next(item for item in reversed(self.paging_timers.started) if item[0] == imsi)
        await self.mmes[self.serving if mme is None else mme].paging_expired(imsi, run.request_id)

    async def deliver_core_initiated(self) -> list[bytes]:
        """Hand core-initiated S1AP for UE connections to their radios (and what follows);
        the eNB-level ones (Paging) are returned."""
        enb_level = []
        for _, frame in self.agents.take():
            radio = self._radios.get(frame.ue_id)
            self.log.append(f"< core {_name(frame.payload)}")
            if frame.ue_id == ENB_UE_ID or radio is None:
                enb_level.append(frame.payload)
            else:
                self._downlink(radio, frame.payload)
        await self.pump()
        return enb_level

    # --- the eNB ---------------------------------------------------------------------------

    async def s1_setup(self, *, tac: int = 1, plmn: PlmnIdentity = PLMN) -> bytes:
        request = S1SetupRequest(GlobalEnbId(plmn, 0x19B), (SupportedTa(tac, (plmn,)),), 128, "enb")
        (reply,) = await self.request(ENB_UE_ID, s1ap.encode(request), stream=0)
        return reply

    async def run(self, radio: Radio, commands: list) -> None:
        """Carry out what the UE core asked, then everything that follows from it."""
        self._commands(radio, commands)
        await self.pump()

    async def pump(self) -> None:
        while self._uplink:
            radio, payload = self._uplink.popleft()
            replies = await self.request(radio.agent_ue_id, payload)
            for reply in replies:
                self._downlink(radio, reply)

    async def exchange(self) -> tuple[Radio, list[bytes]]:
        """Send the next queued uplink only; its replies are returned, not delivered."""
        radio, payload = self._uplink.popleft()
        return radio, await self.request(radio.agent_ue_id, payload)

    def deliver(self, radio: Radio, replies: list[bytes]) -> None:
        for reply in replies:
            self._downlink(radio, reply)

    def queue(self, radio: Radio, commands: list) -> None:
        """Take the UE core's commands without sending anything yet."""
        self._commands(radio, commands)

    def uplink_nas(self, radio: Radio, nas_pdu: bytes) -> bytes:
        return s1ap.encode(
            UplinkNasTransport(
                radio.mme_ue_s1ap_id,
                radio.enb_ue_s1ap_id,
                nas_pdu,
                Ecgi(PLMN, 0x19B01),
                Tai(PLMN, radio.ue.tai.tac),
            )
        )

    async def attach(self, radio: Radio, *, identity: str = "imsi") -> None:
        await self.run(radio, radio.ue.attach(self.now, identity=identity))

    async def release(self, radio: Radio) -> None:
        """The eNB asks for the UE's release (user inactivity)."""
        request = UeContextReleaseRequest(
            radio.mme_ue_s1ap_id,
            radio.enb_ue_s1ap_id,
            S1apCause("radioNetwork", "user-inactivity"),
        )
        self._uplink.append((radio, s1ap.encode(request)))
        await self.pump()

    def _commands(self, radio: Radio, commands: list) -> None:
        for command in commands:
            radio.events.append(command)
            match command:
                case SendUplinkNas(establishment_cause=None):
                    message = UplinkNasTransport(
                        radio.mme_ue_s1ap_id,
                        radio.enb_ue_s1ap_id,
                        command.nas_pdu,
                        Ecgi(PLMN, 0x19B01),
                        Tai(PLMN, radio.ue.tai.tac),
                    )
                    self._uplink.append((radio, s1ap.encode(message)))
                case SendUplinkNas():
                    self._new_connection(radio)
                    s_tmsi = STmsi(*command.s_tmsi) if command.s_tmsi else None
                    message = InitialUeMessage(
                        radio.enb_ue_s1ap_id,
                        command.nas_pdu,
                        Tai(PLMN, radio.ue.tai.tac),
                        Ecgi(PLMN, 0x19B01),
                        command.establishment_cause.value,
                        s_tmsi=s_tmsi,
                    )
                    self._uplink.append((radio, s1ap.encode(message)))
                case ReleaseConnection():
                    if radio.mme_ue_s1ap_id is not None:
                        request = UeContextReleaseRequest(
                            radio.mme_ue_s1ap_id,
                            radio.enb_ue_s1ap_id,
                            S1apCause("radioNetwork", "user-inactivity"),
                        )
                        self._uplink.append((radio, s1ap.encode(request)))

    def _new_connection(self, radio: Radio) -> None:
        self._agent_ue_id += 1
        self._enb_ue_s1ap_id += 1
        radio.agent_ue_id = self._agent_ue_id
        radio.enb_ue_s1ap_id = self._enb_ue_s1ap_id
        radio.mme_ue_s1ap_id = None
        self._radios[radio.agent_ue_id] = radio

    def _downlink(self, radio: Radio, payload: bytes) -> None:
        message = s1ap.decode(payload)
        match message:
            case DownlinkNasTransport():
                radio.mme_ue_s1ap_id = message.mme_ue_s1ap_id
                self._commands(radio, radio.ue.receive_nas(message.nas_pdu, self.now))
            case InitialContextSetupRequest():
                radio.mme_ue_s1ap_id = message.mme_ue_s1ap_id
                (e_rab,) = message.e_rabs
                radio.enb_teid = 0x5000 + radio.agent_ue_id
                response = InitialContextSetupResponse(
                    message.mme_ue_s1ap_id,
                    message.enb_ue_s1ap_id,
                    (ERabTunnel(e_rab.e_rab_id, ENB_ADDRESS, radio.enb_teid),),
                )
                assert message.security_key == radio.ue.kenb, "KeNB differs from the UE's"
                self._uplink.append((radio, s1ap.encode(response)))
                commands = []
                if e_rab.nas_pdu is not None:
                    commands += radio.ue.receive_nas(e_rab.nas_pdu, self.now)
                commands += radio.ue.radio_bearers_established(self.now)
                self._commands(radio, commands)
            case UeContextReleaseCommand():
                complete = UeContextReleaseComplete(message.mme_ue_s1ap_id, radio.enb_ue_s1ap_id)
                self._commands(radio, radio.ue.connection_released(self.now))
                self._uplink.append((radio, s1ap.encode(complete)))
            case _:
                raise AssertionError(f"unexpected downlink {message!r}")


def _name(payload: bytes) -> str:
    try:
        message = s1ap.decode(payload)
    except Exception:  # the log is for reading, not judging
        return "undecodable"
    name = type(message).__name__
    nas_pdu = getattr(message, "nas_pdu", None)
    if isinstance(message, InitialContextSetupRequest) and message.e_rabs[0].nas_pdu:
        nas_pdu = message.e_rabs[0].nas_pdu
    if nas_pdu:
        return f"{name}({_nas_name(nas_pdu)})"
    return name


def _nas_name(pdu: bytes) -> str:
    from epc.codec import nas
    from epc.codec.nas_messages import ProtectedNas

    try:
        message = nas.decode(pdu, uplink=True)
        if isinstance(message, ProtectedNas):
            if message.header_type in (1, 3):
                return type(nas.decode(message.inner, uplink=False)).__name__
            return "protected"
        return type(message).__name__
    except Exception:
        return "nas?"
