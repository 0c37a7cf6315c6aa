"""A test MME that speaks S1AP and NAS, for driving enbsim end to end: behind the real agent
(`AgentMme`, an `epc.agent_server.AgentServer` handler) or straight on the eNB's TCP framing
(`DirectMme`, no agent, for fast tests and many eNBs).

`NasMme` is the MME itself, sans-I/O: `uplink(enb, pdu, stream)` takes one S1AP PDU from an
eNB and returns the S1AP PDUs to answer with, each with its stream. Its NAS side is one
`harness.nas_network.NasNetwork` per subscriber (real MILENAGE, KASME, NAS security, KeNB),
so whatever the UE sends is verified too: a bad uplink goes to `uplink_errors`, which a test
asserts is empty. What it answers, as a small MME would:

- S1 Setup Request -> S1 Setup Response (GUMMEI of the NasNetworks), or the Failure
  `refuse_s1_setup` times first; Reset -> Acknowledge;
- Attach Request (Initial UE Message) -> [Identity Request ->] Authentication Request ->
  Security Mode Command -> Initial Context Setup Request carrying the Attach Accept, with the
  KeNB of the connection, the UE's security capabilities and one E-RAB to `sgw_address`;
  Attach Complete -> whatever `after_attach` lists ("guti_reallocation", "emm_information",
  "identity_request"), one Downlink NAS Transport each;
- Authentication Failure #21 -> resynchronise with AUTS, a new Authentication Request;
- Service Request -> Initial Context Setup Request (no NAS);
- Tracking Area Update Request -> Accept (with a new GUTI if `tau_new_guti`; then the
  Complete is awaited), then UE Context Release Command; with the active flag the Accept goes
  inside an Initial Context Setup Request instead and the connection stays;
- Detach Request -> Detach Accept (unless switch-off) and UE Context Release Command;
- UE Context Release Request -> UE Context Release Command; Complete -> the connection is
  forgotten;
- `paging(imsi)` -> a Paging for the UE's S-TMSI, to the eNB it was last seen on.

Faults: `faults.append(Fault(...))` arms one deliberate mistake, used on the first downlink
message of that name: a NAS `Tamper` (bad MAC, COUNT, header type, no protection, a cut
IE), a replay of the previous downlink NAS PDU, another NAS message instead (wrong order), or
in the S1AP message carrying it a wrong MME-UE-S1AP-ID / eNB-UE-S1AP-ID or, in an Initial
Context Setup Request, a wrong Security Key or UE Security Capabilities. Names are the TS
names ("Security Mode Command", "Attach Accept", "Initial Context Setup Request", ...).

`EchoSgw` is the SGW end of the E-RABs the MME sets up: it answers a UE's ICMP Echo Request
or UDP datagram down the eNB's tunnel, so a user-plane test has a far end without a core.

Run as a process for a human trying `enbsim` (prints "listening PORT"):

    python tests/harness/nas_mme.py --subscribers subscribers.csv [--direct] [--port 0]
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import itertools
import signal
import socket
import struct
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

if __package__ in (None, ""):  # run as a script: the repository and tests/ on the path
    sys.path[:0] = [str(Path(__file__).resolve().parents[2]), str(Path(__file__).parents[1])]

from harness.nas_network import NO_TAMPERING, NasNetwork, Tamper, UplinkError

from echo_agent.wire import Frame, FrameKind
from epc.agent_server import AgentConnection, AgentServer
from epc.codec import s1ap
from epc.codec.gtpu import GtpuDecodeError, MessageType, decode_header, encode_gpdu
from epc.codec.nas import decode, encode
from epc.codec.nas_messages import (
    AttachComplete,
    AttachReject,
    AttachRequest,
    AuthenticationFailure,
    AuthenticationResponse,
    DetachRequest,
    EmmCause,
    EmmStatus,
    Guti,
    IdentityResponse,
    Imsi,
    NasDecodeError,
    SecurityModeComplete,
    SecurityModeReject,
    ServiceRequest,
    Sublayer,
    TrackingAreaUpdateComplete,
    TrackingAreaUpdateRequest,
)
from epc.codec.nas_messages import Tai as NasTai
from epc.codec.s1ap import S1apDecodeError
from epc.codec.s1ap_messages import (
    AggregateMaximumBitrate,
    Cause,
    CauseGroup,
    DownlinkNasTransport,
    ERabQos,
    ERabToSetup,
    ERabTunnel,
    ErrorIndication,
    InitialContextSetupFailure,
    InitialContextSetupRequest,
    InitialContextSetupResponse,
    InitialUeMessage,
    Paging,
    PlmnIdentity,
    Reset,
    ResetAcknowledge,
    S1SetupFailure,
    S1SetupRequest,
    S1SetupResponse,
    ServedGummei,
    STmsi,
    Tai,
    UeContextReleaseCommand,
    UeContextReleaseComplete,
    UeContextReleaseRequest,
    UeSecurityCapabilities,
    UplinkNasTransport,
)
from epc.security.context import SecurityHeaderType
from epc.subscriber import Subscriber, read_csv

TCP_HEADER = struct.Struct("!IH")
"""The eNB side's TCP framing (enbsim.s1_connection): length, stream."""
DEFAULT_BEARER = 5
FIRST_MME_UE_S1AP_ID = 1000
FIRST_M_TMSI = 0xC0000001
PDN_POOL = ipaddress.IPv4Network("10.45.0.0/16")
ARP_PRIORITY = 9
RELEASE_CAUSE = Cause(CauseGroup.NAS, "normal-release")
DETACH_CAUSE = Cause(CauseGroup.NAS, "detach")
TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Fault:
    """One deliberate mistake, in the first downlink message called `message` after it was
    armed (a NAS message name, or "Initial Context Setup Request" / "Downlink NAS Transport"
    for the S1AP message itself)."""

    message: str
    tamper: Tamper = NO_TAMPERING
    replay: bool = False
    """Send the previous downlink NAS PDU again instead of building this one."""
    instead: str | None = None
    """Send this other NAS message in its place (message order)."""
    mme_ue_s1ap_id: int | None = None
    enb_ue_s1ap_id: int | None = None
    security_key: bytes | None = None
    ue_security_capabilities: UeSecurityCapabilities | None = None
    options: dict[str, object] = field(default_factory=dict)
    """Keyword arguments for the NasNetwork builder of the message (e.g. a Security Mode
    Command's `replayed_capabilities`, an Attach Accept's `tai_list`)."""


@dataclass(eq=False)
class Connection:
    """One UE-associated S1 connection, as the MME sees it."""

    enb: str
    enb_ue_s1ap_id: int
    mme_ue_s1ap_id: int
    stream: int
    network: NasNetwork | None = None
    procedure: str | None = None
    active: bool = False
    """A TAU with the active flag: the connection stays after the Accept."""
    sgw_teid: int | None = None
    """The uplink TEID of the E-RAB set up last."""
    authenticating: bool = False
    """An Authentication Request went out on this connection."""


class _Network(NasNetwork):
    """A NasNetwork whose GUTIs come from the MME's one M-TMSI counter (the base class counts
    per subscriber, and two UEs must never share an S-TMSI)."""

    def __init__(self, subscriber: Subscriber, next_m_tmsi: itertools.count, **options) -> None:
        super().__init__(subscriber, **options)
        self._m_tmsis = next_m_tmsi

    def allocate_guti(self) -> Guti:
        return Guti(self.plmn, self.mme_group_id, self.mme_code, next(self._m_tmsis))


@dataclass
class NasMme:
    """The MME, sans-I/O. Read by tests: `received` (decoded S1AP from the eNBs),
    `uplink_errors`, `error_indications`, `context_setup_failures`, `tunnels` (SGW TEID ->
    (eNB address, eNB TEID) from Initial Context Setup Responses), `networks` (by IMSI)."""

    subscribers: Iterable[Subscriber]
    plmn: str = "00101"
    mme_group_id: int = 0x8001
    mme_code: int = 1
    sgw_address: str = "127.0.0.1"
    ciphering: int = 2
    integrity: int = 2
    after_attach: tuple[str, ...] = ()
    ask_identity: bool = False
    tau_new_guti: bool = False
    name: str = "nas-mme"
    faults: list[Fault] = field(default_factory=list)
    refuse_s1_setup: int = 0
    """Answer this many S1 Setup Requests with an S1 Setup Failure first."""
    time_to_wait: int | None = None
    """In those failures: 1, 2, 5, 10, 20 or 60 s (TS 36.413 9.2.1.61), or none."""

    def __post_init__(self) -> None:
        self._m_tmsis = itertools.count(FIRST_M_TMSI)
        self.networks: dict[str, _Network] = {}
        for index, subscriber in enumerate(self.subscribers):
            self.networks[subscriber.imsi] = _Network(
                subscriber,
                self._m_tmsis,
                plmn=self.plmn,
                ciphering=self.ciphering,
                integrity=self.integrity,
                mme_group_id=self.mme_group_id,
                mme_code=self.mme_code,
                pdn_address=str(PDN_POOL[index + 2]),
                seed=index + 1,
            )
        self.tai_list: tuple[NasTai, ...] = ()
        self.received: list[object] = []
        self.uplink_errors: list[str] = []
        self.error_indications: list[ErrorIndication] = []
        self.context_setup_failures: list[InitialContextSetupFailure] = []
        self.tunnels: dict[int, tuple[str, int]] = {}
        self.tunnel_listeners: list[Callable[[int], None]] = []
        """Called with the SGW TEID each time the eNB's end of a tunnel becomes known."""
        self.last_enb: dict[str, str] = {}
        """IMSI -> the eNB (its agent's identity) the UE was last seen on, for paging."""
        self._connections: dict[int, Connection] = {}
        self._mme_ids = itertools.count(FIRST_MME_UE_S1AP_ID)
        self._sgw_teids = itertools.count(0x1000)
        self._plmn_identity = PlmnIdentity(self.plmn[:3], self.plmn[3:])

    # --- the one entry point -------------------------------------------------------------

    def uplink(self, enb: str, pdu: bytes, stream: int) -> list[tuple[bytes, int]]:
        """One S1AP PDU from the eNB `enb`: the S1AP PDUs to answer with, and their streams."""
        try:
            message = s1ap.decode(pdu)
        except S1apDecodeError as error:
            self.uplink_errors.append(f"undecodable S1AP: {error}")
            return []
        self.received.append(message)
        match message:
            case S1SetupRequest() if self.refuse_s1_setup > 0:
                self.refuse_s1_setup -= 1
                cause = Cause(CauseGroup.MISC, "om-intervention")
                failure = S1SetupFailure(cause, self.time_to_wait)
                return [(s1ap.encode(failure), 0)]
            case S1SetupRequest():
                return [(self._s1_setup_response(message), 0)]
            case Reset():
                self._drop(enb, None)
                return [(s1ap.encode(ResetAcknowledge(message.connections)), 0)]
            case InitialUeMessage():
                return self._initial_ue_message(enb, message, stream)
            case UplinkNasTransport():
                return self._uplink_nas(message)
            case InitialContextSetupResponse():
                for tunnel in message.e_rabs:
                    self._remember_tunnel(message.mme_ue_s1ap_id, tunnel)
                return []
            case InitialContextSetupFailure():
                self.context_setup_failures.append(message)
                return []
            case UeContextReleaseRequest():
                connection = self._connections.get(message.mme_ue_s1ap_id)
                if connection is None:
                    return []
                return [self._release(connection, message.cause)]
            case UeContextReleaseComplete():
                self._connections.pop(message.mme_ue_s1ap_id, None)
                return []
            case ErrorIndication():
                self.error_indications.append(message)
                return []
        return []

    def paging(self, imsi: str) -> tuple[str, bytes]:
        """(eNB, Paging PDU) for the UE's S-TMSI in the TAs known (TS 36.413 8.5)."""
        network = self.networks[imsi]
        assert network.guti is not None, f"UE {imsi} has no GUTI to page"
        tais = tuple(Tai(self._plmn_identity, tai.tac) for tai in self.tai_list)
        paging = Paging(
            int(imsi) % 1024,  # UE identity index value, TS 36.304 7.1
            STmsi(network.guti.mme_code, network.guti.m_tmsi),
            "ps",
            tais,
        )
        return self.last_enb[imsi], s1ap.encode(paging)

    def connection_of(self, imsi: str) -> Connection | None:
        for connection in self._connections.values():
            if connection.network is not None and connection.network.subscriber.imsi == imsi:
                return connection
        return None

    # --- S1 setup -------------------------------------------------------------------------

    def _s1_setup_response(self, request: S1SetupRequest) -> bytes:
        tais = [NasTai(self.plmn, supported.tac) for supported in request.supported_tas]
        self.tai_list = tuple(dict.fromkeys(self.tai_list + tuple(tais)))[:16]
        for network in self.networks.values():
            network.tai_list = self.tai_list
        gummei = ServedGummei((self._plmn_identity,), (self.mme_group_id,), (self.mme_code,))
        return s1ap.encode(S1SetupResponse((gummei,), 255, self.name))

    # --- initial NAS messages ----------------------------------------------------------

    def _initial_ue_message(
        self, enb: str, message: InitialUeMessage, stream: int
    ) -> list[tuple[bytes, int]]:
        connection = Connection(enb, message.enb_ue_s1ap_id, next(self._mme_ids), stream)
        self._connections[connection.mme_ue_s1ap_id] = connection
        network = self._identify(message)
        if network is None:
            return [self._reject_unknown(connection, message.nas_pdu)]
        connection.network = network
        self.last_enb[network.subscriber.imsi] = enb
        if message.nas_pdu[0] >> 4 == SecurityHeaderType.PLAIN:
            network.context = None  # a plain initial message: the UE has no context (any more)
            network.authenticated = None
        nas = self._receive(network, message.nas_pdu, initial=True)
        match nas:
            case AttachRequest():
                connection.procedure = "attach"
                if self.ask_identity:
                    return [self._downlink_nas(connection, "Identity Request")]
                connection.authenticating = True
                return [self._downlink_nas(connection, "Authentication Request")]
            case ServiceRequest():
                connection.procedure = "service_request"
                return [self._initial_context_setup(connection, None)]
            case TrackingAreaUpdateRequest():
                return self._tracking_area_update(connection, nas)
            case DetachRequest():
                return self._detach(connection, nas)
        return []

    def _identify(self, message: InitialUeMessage) -> _Network | None:
        """The UE's subscription: by the S-TMSI of its GUTI, else by the IMSI of a plain
        Attach Request."""
        if message.s_tmsi is not None:
            for network in self.networks.values():
                guti = network.guti
                if guti is not None and (guti.mme_code, guti.m_tmsi) == (
                    message.s_tmsi.mme_code,
                    message.s_tmsi.m_tmsi,
                ):
                    return network
        pdu = message.nas_pdu
        if pdu[0] & 0x0F != Sublayer.EMM or pdu[0] >> 4 != SecurityHeaderType.PLAIN:
            return None
        try:
            nas = decode(pdu, uplink=True)
        except NasDecodeError:
            return None
        if isinstance(nas, AttachRequest) and isinstance(nas.identity, Imsi):
            return self.networks.get(nas.identity.digits)
        return None

    def _reject_unknown(self, connection: Connection, pdu: bytes) -> tuple[bytes, int]:
        self.uplink_errors.append(f"unknown UE in Initial UE Message: {pdu.hex()}")
        reject = encode(AttachReject(emm_cause=EmmCause.UE_IDENTITY_CANNOT_BE_DERIVED))
        return self._s1ap_downlink(connection, reject, None)

    # --- NAS on an open connection ------------------------------------------------------

    def _uplink_nas(self, message: UplinkNasTransport) -> list[tuple[bytes, int]]:
        connection = self._connections.get(message.mme_ue_s1ap_id)
        if connection is None or connection.network is None:
            self.uplink_errors.append(f"Uplink NAS Transport for {message.mme_ue_s1ap_id}")
            return []
        if connection.enb_ue_s1ap_id != message.enb_ue_s1ap_id:
            self.uplink_errors.append("Uplink NAS Transport: eNB-UE-S1AP-ID changed")
        network = connection.network
        nas = self._receive(network, message.nas_pdu)
        match nas:
            case IdentityResponse() if connection.procedure == "attach" and not (
                connection.authenticating
            ):
                connection.authenticating = True
                return [self._downlink_nas(connection, "Authentication Request")]
            case AuthenticationResponse():
                return [self._downlink_nas(connection, "Security Mode Command")]
            case AuthenticationFailure(auts=auts) if auts is not None:
                network.resynchronise(auts)
                return [self._downlink_nas(connection, "Authentication Request")]
            case SecurityModeComplete() if connection.procedure == "attach":
                return [self._initial_context_setup(connection, "Attach Accept")]
            case AttachComplete():
                return [self._downlink_nas(connection, step) for step in self._after_attach()]
            case TrackingAreaUpdateComplete() if not connection.active:
                return [self._release(connection, RELEASE_CAUSE)]
            case DetachRequest():
                return self._detach(connection, nas)
            case SecurityModeReject() | AuthenticationFailure() | EmmStatus():
                self.uplink_errors.append(f"the UE answered {type(nas).__name__}: {nas}")
        return []

    def _after_attach(self) -> list[str]:
        names = {
            "guti_reallocation": "GUTI Reallocation Command",
            "emm_information": "EMM Information",
            "identity_request": "Identity Request",
        }
        return [names[step] for step in self.after_attach]

    def _tracking_area_update(
        self, connection: Connection, request: TrackingAreaUpdateRequest
    ) -> list[tuple[bytes, int]]:
        connection.procedure = "tau"
        connection.active = request.update_type.active
        if connection.active:
            return [self._initial_context_setup(connection, "Tracking Area Update Accept")]
        answers = [self._downlink_nas(connection, "Tracking Area Update Accept")]
        if not self.tau_new_guti:
            answers.append(self._release(connection, RELEASE_CAUSE))
        return answers

    def _detach(self, connection: Connection, request: DetachRequest) -> list[tuple[bytes, int]]:
        connection.procedure = "detach"
        answers = []
        if not request.detach_type.switch_off:
            answers.append(self._downlink_nas(connection, "Detach Accept"))
        return [*answers, self._release(connection, DETACH_CAUSE)]

    def _receive(self, network: NasNetwork, pdu: bytes, *, initial: bool = False) -> object:
        try:
            return network.receive(pdu, initial=initial)
        except (UplinkError, NasDecodeError) as error:
            self.uplink_errors.append(f"{network.subscriber.imsi}: {error}")
            return None

    # --- building the downlink -------------------------------------------------------------

    def _take_fault(self, name: str) -> Fault | None:
        for index, fault in enumerate(self.faults):
            if fault.message == name:
                return self.faults.pop(index)
        return None

    def _nas(self, connection: Connection, name: str) -> tuple[bytes, Fault | None]:
        """The NAS PDU called `name` for the connection's UE, faults applied."""
        fault = self._take_fault(name)
        network = connection.network
        assert network is not None
        if fault is not None and fault.replay:
            return network.replay(), fault
        if fault is not None and fault.instead is not None:
            name = fault.instead
        options: dict[str, object] = {"tamper": NO_TAMPERING}
        if fault is not None:
            options = {"tamper": fault.tamper, **fault.options}
        builders = {
            "Identity Request": network.identity_request,
            "Authentication Request": network.authentication_request,
            "Security Mode Command": network.security_mode_command,
            "Attach Accept": network.attach_accept,
            "GUTI Reallocation Command": network.guti_reallocation_command,
            "EMM Information": network.emm_information,
            "Tracking Area Update Accept": network.tracking_area_update_accept,
            "Detach Accept": network.detach_accept,
        }
        if name == "Tracking Area Update Accept":
            options.setdefault("new_guti", self.tau_new_guti)
        return builders[name](**options), fault

    def _downlink_nas(self, connection: Connection, name: str) -> tuple[bytes, int]:
        pdu, fault = self._nas(connection, name)
        return self._s1ap_downlink(connection, pdu, fault)

    def _s1ap_downlink(
        self, connection: Connection, pdu: bytes, fault: Fault | None
    ) -> tuple[bytes, int]:
        fault = fault or self._take_fault("Downlink NAS Transport")
        mme_id, enb_id = self._ids(connection, fault)
        return s1ap.encode(DownlinkNasTransport(mme_id, enb_id, pdu)), connection.stream

    def _initial_context_setup(
        self, connection: Connection, nas_name: str | None
    ) -> tuple[bytes, int]:
        """TS 36.413 8.3.1: the UE's KeNB, its capabilities, the default bearer's E-RAB."""
        network = connection.network
        assert network is not None and network.ue_network_capability is not None
        nas_pdu, nas_fault = (None, None) if nas_name is None else self._nas(connection, nas_name)
        fault = self._take_fault("Initial Context Setup Request") or nas_fault
        octets = network.ue_network_capability.octets
        capabilities = UeSecurityCapabilities((octets[0] & 0x7F) << 9, (octets[1] & 0x7F) << 9)
        key = network.kenb
        assert key is not None, "no KeNB: the UE's connection has no security"
        if fault is not None:
            key = fault.security_key or key
            capabilities = fault.ue_security_capabilities or capabilities
        subscriber = network.subscriber
        connection.sgw_teid = next(self._sgw_teids)
        e_rab = ERabToSetup(
            DEFAULT_BEARER,
            ERabQos(subscriber.qci, ARP_PRIORITY),
            self.sgw_address,
            connection.sgw_teid,
            nas_pdu,
        )
        mme_id, enb_id = self._ids(connection, fault)
        request = InitialContextSetupRequest(
            mme_id,
            enb_id,
            AggregateMaximumBitrate(subscriber.ambr_dl_kbps * 1000, subscriber.ambr_ul_kbps * 1000),
            (e_rab,),
            capabilities,
            key,
        )
        return s1ap.encode(request), connection.stream

    def _release(self, connection: Connection, cause: Cause) -> tuple[bytes, int]:
        fault = self._take_fault("UE Context Release Command")
        mme_id, enb_id = self._ids(connection, fault)
        return s1ap.encode(UeContextReleaseCommand(mme_id, enb_id, cause)), connection.stream

    def _ids(self, connection: Connection, fault: Fault | None) -> tuple[int, int]:
        mme_id, enb_id = connection.mme_ue_s1ap_id, connection.enb_ue_s1ap_id
        if fault is not None:
            mme_id = fault.mme_ue_s1ap_id if fault.mme_ue_s1ap_id is not None else mme_id
            enb_id = fault.enb_ue_s1ap_id if fault.enb_ue_s1ap_id is not None else enb_id
        return mme_id, enb_id

    def _remember_tunnel(self, mme_ue_s1ap_id: int, tunnel: ERabTunnel) -> None:
        connection = self._connections.get(mme_ue_s1ap_id)
        if connection is not None and connection.sgw_teid is not None:
            self.tunnels[connection.sgw_teid] = (tunnel.transport_address, tunnel.gtp_teid)
            for listener in self.tunnel_listeners:
                listener(connection.sgw_teid)

    def _drop(self, enb: str, mme_ue_s1ap_id: int | None) -> None:
        for key, connection in list(self._connections.items()):
            if connection.enb == enb and mme_ue_s1ap_id in (None, key):
                del self._connections[key]


# --- front ends --------------------------------------------------------------------------------


class _Front:
    """What both front ends offer a test: wait until the MME has seen something."""

    def __init__(self, mme: NasMme) -> None:
        self.mme = mme
        self._changed = asyncio.Event()

    async def until(self, predicate: Callable[[], object], timeout_s: float = TIMEOUT_S) -> object:
        """Wait until `predicate()` is true, checked after every uplink the MME handles."""
        async with asyncio.timeout(timeout_s):
            while not (value := predicate()):
                self._changed.clear()
                await self._changed.wait()
        return value

    def _uplink(self, enb: str, pdu: bytes, stream: int) -> list[tuple[bytes, int]]:
        replies = self.mme.uplink(enb, pdu, stream)
        self._changed.set()
        return replies


class AgentMme(_Front):
    """`NasMme` as the MME side of the agent protocol: each REQUEST is answered with its
    REPLY frames and the ACK; `page` sends a CORE_INITIATED Paging to the UE's eNB."""

    def __init__(self, mme: NasMme, *, name: str | None = None) -> None:
        super().__init__(mme)
        self.server = AgentServer(self._handle, name=name or mme.name)
        self._core_requests = itertools.count(1)

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> AgentMme:
        await self.server.start(host, port)
        return self

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.server.port}"

    async def close(self) -> None:
        await self.server.close()

    async def page(self, imsi: str) -> bool:
        enb, pdu = self.mme.paging(imsi)
        frame = Frame(FrameKind.CORE_INITIATED, 0, next(self._core_requests), 0, payload=pdu)
        return await self.server.send_to_enb(enb, frame)

    async def _handle(self, connection: AgentConnection, frame: Frame) -> None:
        replies = []
        if frame.kind == FrameKind.REQUEST:
            replies = self._uplink(connection.enb, frame.payload, frame.stream)
        frames = [
            Frame(
                FrameKind.REPLY,
                frame.ue_id,
                frame.request_id,
                sequence,
                stream=stream,
                payload=payload,
            )
            for sequence, (payload, stream) in enumerate(replies)
        ]
        ack = Frame(FrameKind.ACK, frame.ue_id, frame.request_id, sequence=len(frames))
        await connection.send(*frames, ack)


# --- straight on the eNB's TCP framing --------------------------------------------------------


class DirectMme(_Front):
    """`NasMme` listening for eNBs on the TCP framing of `enbsim.s1_connection` (no agent).
    Each connection is an eNB named "direct-N"; `page` writes the Paging on its connection."""

    def __init__(self, mme: NasMme) -> None:
        super().__init__(mme)
        self._server: asyncio.Server | None = None
        self._writers: dict[str, asyncio.StreamWriter] = {}
        self._names = itertools.count(1)
        self._handlers: set[asyncio.Task[None]] = set()

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> DirectMme:
        self._server = await asyncio.start_server(self._serve, host, port)
        return self

    @property
    def port(self) -> int:
        assert self._server is not None
        return self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in self._writers.values():
            writer.close()
        for task in list(self._handlers):
            task.cancel()
        if self._server is not None:
            await self._server.wait_closed()

    async def page(self, imsi: str) -> bool:
        enb, pdu = self.mme.paging(imsi)
        writer = self._writers.get(enb)
        if writer is None:
            return False
        writer.write(TCP_HEADER.pack(len(pdu), 0) + pdu)
        await writer.drain()
        return True

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        enb = f"direct-{next(self._names)}"
        self._writers[enb] = writer
        try:
            while True:
                length, stream = TCP_HEADER.unpack(await reader.readexactly(TCP_HEADER.size))
                pdu = await reader.readexactly(length)
                for payload, reply_stream in self._uplink(enb, pdu, stream):
                    writer.write(TCP_HEADER.pack(len(payload), reply_stream) + payload)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._writers.pop(enb, None)
            self._handlers.discard(task)
            writer.close()


# --- the SGW end of the bearers ------------------------------------------------------------------


class EchoSgw(asyncio.DatagramProtocol):
    """The SGW the MME's E-RABs point at (`NasMme.sgw_address`), as the far end would answer:
    a G-PDU carrying an ICMP Echo Request comes back down the UE's tunnel as the Echo Reply,
    a UDP datagram comes back with addresses and ports swapped. The downlink tunnel is the
    one the eNB named in its Initial Context Setup Response (`NasMme.tunnels`); answers to
    a tunnel whose eNB end the MME has not heard of yet wait for it (a UE may send before
    the Response reached the MME). Every uplink IP packet is kept in `uplink`."""

    def __init__(self, mme: NasMme | None = None) -> None:
        self.uplink: list[tuple[int, bytes]] = []
        self.transport: asyncio.DatagramTransport | None = None
        self._waiting: dict[int, list[tuple[bytes, int]]] = {}
        self._mme: NasMme | None = None
        self.mme = mme

    @property
    def mme(self) -> NasMme | None:
        """Whose tunnels to answer down; settable after the start (the eNB's user plane
        needs the SGW's port before the MME exists)."""
        return self._mme

    @mme.setter
    def mme(self, mme: NasMme | None) -> None:
        self._mme = mme
        if mme is not None:
            mme.tunnel_listeners.append(self._tunnel_known)

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> EchoSgw:
        loop = asyncio.get_running_loop()
        await loop.create_datagram_endpoint(lambda: self, local_addr=(host, port))
        return self

    @property
    def port(self) -> int:
        assert self.transport is not None
        return self.transport.get_extra_info("sockname")[1]

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    def connection_made(self, transport) -> None:  # type: ignore[override]
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            message_type, teid, offset = decode_header(data)
        except GtpuDecodeError:
            return
        if message_type != MessageType.G_PDU:
            return
        packet = data[offset:]
        self.uplink.append((teid, packet))
        answer = _echo_answer(packet)
        if answer is not None:
            self._waiting.setdefault(teid, []).append((answer, addr[1]))
            self._answer(teid)

    def _tunnel_known(self, teid: int) -> None:
        self._answer(teid)

    def _answer(self, teid: int) -> None:
        downlink = self._mme.tunnels.get(teid) if self._mme is not None else None
        if downlink is None or self.transport is None:
            return
        for answer, port in self._waiting.pop(teid, []):
            self.transport.sendto(encode_gpdu(downlink[1], answer), (downlink[0], port))


def _echo_answer(packet: bytes) -> bytes | None:
    """The far end's answer to an IPv4 packet: Echo Reply to Echo Request, the UDP datagram
    back; addresses (and ports) swapped, checksums computed here, independently of enbsim."""
    if len(packet) < 20 or packet[0] >> 4 != 4:
        return None
    header_length = (packet[0] & 0x0F) * 4
    header, body = bytearray(packet[:header_length]), bytearray(packet[header_length:])
    header[12:16], header[16:20] = packet[16:20], packet[12:16]
    header[10:12] = b"\x00\x00"
    header[10:12] = _internet_checksum(bytes(header)).to_bytes(2, "big")
    if packet[9] == socket.IPPROTO_ICMP and body[:1] == b"\x08":
        body[0], body[2:4] = 0, b"\x00\x00"
        body[2:4] = _internet_checksum(bytes(body)).to_bytes(2, "big")
    elif packet[9] == socket.IPPROTO_UDP and len(body) >= 8:
        body[0:4] = body[2:4] + body[0:2]
        body[6:8] = b"\x00\x00"
        pseudo = bytes(header[12:20]) + struct.pack("!BBH", 0, socket.IPPROTO_UDP, len(body))
        body[6:8] = (_internet_checksum(pseudo + bytes(body)) or 0xFFFF).to_bytes(2, "big")
    else:
        return None
    return bytes(header + body)


def _internet_checksum(data: bytes) -> int:
    """RFC 1071."""
    if len(data) % 2:
        data += b"\x00"
    total = sum(int.from_bytes(data[index : index + 2], "big") for index in range(0, len(data), 2))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


# --- as a process -------------------------------------------------------------------------------


async def _serve(arguments: argparse.Namespace) -> None:
    mme = NasMme(read_csv(arguments.subscribers), sgw_address=arguments.sgw_address)
    server: AgentMme | DirectMme = DirectMme(mme) if arguments.direct else AgentMme(mme)
    await server.start(arguments.host, arguments.port)
    port = server.port if isinstance(server, DirectMme) else server.server.port
    print(f"listening {port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(number, stop.set)
    try:
        await stop.wait()
    finally:
        await server.close()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="a test MME speaking S1AP and NAS")
    parser.add_argument("--subscribers", type=Path, required=True, help="subscriber CSV")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0: any free port")
    parser.add_argument("--direct", action="store_true", help="the eNB's TCP framing, no agent")
    parser.add_argument("--sgw-address", default="127.0.0.1")
    asyncio.run(_serve(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
