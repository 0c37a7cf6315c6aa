"""The NAS side of one simulated phone (TS 24.301, UE role), sans-I/O.

A `Ue` holds a `Usim` and the UE's EMM context: its EMM state, GUTI, TAI list, EPS security
context and default bearer. It runs the UE-initiated procedures (attach, detach, service
request, tracking area update) and answers the network's (identification, authentication,
security mode control, GUTI reallocation, EMM information, detach). Inputs are method calls
that take `now` (monotonic seconds) and return the commands of `enbsim.events` to carry out in
order; `deadline()` and `handle_timer(now)` run the NAS timers. Nothing here reads a clock or
touches a socket; the eNB core (`enbsim.enb`) carries the NAS PDUs over S1AP.

Strictness is the point of this UE. It verifies everything the core sends and fails the
procedure at hand, with a `Violation` naming the message (its TS name) and the IE, on:
- security: a NAS-MAC that does not verify, a replayed NAS COUNT, a security header type the
  message may not have in this state, a plain message the UE may not process (TS 24.301
  4.4.4.2), an unciphered message once ciphering has started (4.4.5);
- order: a message the UE's state does not expect (Security Mode Command before
  authentication, Attach Accept before security mode control, ...);
- content: a missing or unreadable mandatory IE, a value out of range, a Security Mode Command
  whose replayed UE security capabilities, algorithms or KSI are wrong, an Attach Accept whose
  TAI list, GUTI, PDN address, APN, PTI, EPS bearer identity or QCI are wrong.
Where the standard prescribes an answer (Authentication Failure, Security Mode Reject, EMM
Status) the UE sends it before failing; where it says "discard", the UE discards the message
and still fails loudly. A message belonging to a procedure that already failed (a late
retransmission, the network's reject after the UE's Authentication Failure) is recorded in the
timeline and not judged again, until the connection is released or another procedure starts.

The UE-initiated procedures are written as sequences of steps below (`_Attach`,
`_Detach`, `_ServiceRequest`, `_TrackingAreaUpdate`), each with its clause, messages and timer.

Abbreviations beyond the codec's (see `epc.codec.nas_messages`): KeNB is the eNB's key, derived
from KASME and an uplink NAS COUNT (TS 33.401 A.3); S-TMSI is (MME code, M-TMSI) from the GUTI;
EEA/EIA are the EPS ciphering and integrity algorithms; RRC is the radio resource control
connection whose establishment cause the eNB puts in the Initial UE Message.

Simplifications, each deliberate: no periodic TAU on T3412 (its value is recorded; the driver
calls `tracking_area_update`); after the 5th attempt of an attach or TAU the UE gives up rather
than wait T3402; an Authentication Failure with #20 or #26 fails the procedure at once (the
network's reaction is still recorded); IPv4 PDN connectivity only; EPS-only attach.
"""

from __future__ import annotations

import ipaddress
from collections import deque
from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar, Literal

import msgspec

from enbsim.events import (
    NetworkDetached,
    ProcedureFailed,
    ProcedureSucceeded,
    ReleaseConnection,
    RrcEstablishmentCause,
    SendUplinkNas,
    Violation,
)
from enbsim.usim import AkaAccepted, MacFailure, NonEpsAuthentication, SynchFailure, Usim
from epc.codec.nas import decode, encode
from epc.codec.nas_messages import (
    OPTIONAL_FORMS,
    ActivateDefaultEpsBearerContextAccept,
    ActivateDefaultEpsBearerContextRequest,
    ApnAmbr,
    AttachAccept,
    AttachComplete,
    AttachReject,
    AttachRequest,
    AttachResult,
    AttachType,
    AuthenticationFailure,
    AuthenticationReject,
    AuthenticationRequest,
    AuthenticationResponse,
    DetachAccept,
    DetachRequest,
    DetachType,
    EmmCause,
    EmmInformation,
    EmmStatus,
    EpsQos,
    EpsUpdateType,
    EsmInformationRequest,
    Form,
    GprsTimer,
    Guti,
    GutiReallocationCommand,
    GutiReallocationComplete,
    IdentityRequest,
    IdentityResponse,
    IdentityType,
    Ie,
    Imei,
    Imeisv,
    Imsi,
    Kind,
    NasDecodeError,
    NasKeySetIdentifier,
    NasMessage,
    NetworkDetachRequest,
    NetworkDetachType,
    PcoOption,
    PdnConnectivityRequest,
    PdnType,
    ProtectedNas,
    ProtocolConfigurationIdentifier,
    ProtocolConfigurationOptions,
    RequestType,
    SecurityModeCommand,
    SecurityModeComplete,
    SecurityModeReject,
    ServiceRequest,
    Sublayer,
    Tai,
    TrackingAreaUpdateAccept,
    TrackingAreaUpdateComplete,
    TrackingAreaUpdateReject,
    TrackingAreaUpdateRequest,
    UeDetachType,
    UeNetworkCapability,
    UpdateType,
    esm_message_class,
    message_class,
)
from epc.security.algorithms import Direction, cipher
from epc.security.context import NasSecurityContext, SecurityHeaderType, Unprotected
from epc.security.errors import (
    IntegrityCheckFailed,
    ReplayDetected,
    SecurityError,
)
from epc.security.kdf import derive_kenb, derive_nas_keys, encode_plmn_identity

Command = SendUplinkNas | ReleaseConnection | ProcedureSucceeded | ProcedureFailed | NetworkDetached

_CipheringKey = tuple[int, bytes, int]
"""(EEA, KNASenc, next downlink NAS COUNT): one way to decipher a message for naming it."""

# --- NAS timers of the UE (TS 24.301 10.2, Table 10.2.2) ------------------------------------

T3410 = 15.0
"""Attach: started on ATTACH REQUEST, stopped by ATTACH ACCEPT/REJECT (5.5.1.2)."""
T3411 = 10.0
"""Retry: started after a failed attach or TAU attempt; on expiry the UE tries again
(5.5.1.2.6, 5.5.3.2.6)."""
T3417 = 5.0
"""Service request: started on SERVICE REQUEST, stopped when the radio bearers are set up or
by SERVICE REJECT (5.6.1)."""
T3420 = 15.0
"""Started on AUTHENTICATION FAILURE #21 (synch failure), stopped by the next AUTHENTICATION
REQUEST (5.4.2.6)."""
T3421 = 15.0
"""Detach: started on DETACH REQUEST (not switch-off), stopped by DETACH ACCEPT; four
retransmissions, the fifth expiry aborts (5.5.2.2)."""
T3430 = 15.0
"""Tracking area update: started on TRACKING AREA UPDATE REQUEST, stopped by its ACCEPT or
REJECT (5.5.3.2)."""

MAXIMUM_ATTEMPTS = 5
"""The attach (5.5.1.2.6) and tracking area updating (5.5.3.2.6) attempt counters' limit."""
DETACH_TRANSMISSIONS = 5
"""One DETACH REQUEST and four retransmissions on T3421 (5.5.2.2.4 c)."""
AUTHENTICATION_FAILURES_TOLERATED = 2
"""TS 24.301 5.4.2.7 f: on the third AUTHENTICATION FAILURE in a row the UE deems the network
failed the authentication check."""


class Timer(StrEnum):
    T3410 = "T3410"
    T3411 = "T3411"
    T3417 = "T3417"
    T3420 = "T3420"
    T3421 = "T3421"
    T3430 = "T3430"


TIMER_SECONDS = {
    Timer.T3410: T3410,
    Timer.T3411: T3411,
    Timer.T3417: T3417,
    Timer.T3420: T3420,
    Timer.T3421: T3421,
    Timer.T3430: T3430,
}


class EmmState(StrEnum):
    """TS 24.301 5.1.3.2.2, the EMM main states of the UE (substates not modelled)."""

    DEREGISTERED = "EMM-DEREGISTERED"
    REGISTERED_INITIATED = "EMM-REGISTERED-INITIATED"
    REGISTERED = "EMM-REGISTERED"
    DEREGISTERED_INITIATED = "EMM-DEREGISTERED-INITIATED"
    TRACKING_AREA_UPDATING_INITIATED = "EMM-TRACKING-AREA-UPDATING-INITIATED"
    SERVICE_REQUEST_INITIATED = "EMM-SERVICE-REQUEST-INITIATED"


_REGISTERED_STATES = frozenset(
    {
        EmmState.REGISTERED,
        EmmState.DEREGISTERED_INITIATED,
        EmmState.TRACKING_AREA_UPDATING_INITIATED,
        EmmState.SERVICE_REQUEST_INITIATED,
    }
)

# TS 24.301 9.9.3.7 / 9.9.3.9 / 9.9.3.14 / 9.9.3.17 values this UE uses by name.
_CAUSE_SEVERE_NETWORK_FAILURE = 25  # not integrity protected rejects carrying it are discarded
_CAUSES_DELETING_REGISTRATION = frozenset({3, 6, 7, 8, 9})
"""Reject and detach causes after which the UE deletes its GUTI, TAI list and EPS security
context (illegal UE/ME, EPS services not allowed, UE identity cannot be derived)."""
_CAUSES_DEREGISTERING = _CAUSES_DELETING_REGISTRATION | {EmmCause.IMPLICITLY_DETACHED}
_TA_UPDATED = 0
_TA_UPDATED_AND_ISR_ACTIVATED = 4
_SERVICE_REJECT = 0x4E
"""TS 24.301 9.8, SERVICE REJECT, which the codec does not carry (see `ServiceReject`)."""

# TS 23.203 Table 6.1.7-A and TS 24.301 9.9.4.3: QCIs a default (always non-GBR) bearer may
# carry; 128-254 are operator specific.
_NON_GBR_QCIS = frozenset({5, 6, 7, 8, 9, 69, 70, 79, 80}) | frozenset(range(128, 255))
_FIRST_EPS_BEARER_IDENTITY = 5
_LAST_EPS_BEARER_IDENTITY = 15
_NO_KEY_AVAILABLE = 7
_LAST_PTI = 254

_SECURITY_MODE_REJECTED = SecurityModeReject(emm_cause=EmmCause.SECURITY_MODE_REJECTED_UNSPECIFIED)
"""TS 24.301 5.4.3.5: the answer to a Security Mode Command that cannot be accepted (#24)."""

_PCO_REQUEST = ProtocolConfigurationOptions(
    (
        PcoOption(ProtocolConfigurationIdentifier.DNS_SERVER_IPV4_ADDRESS),
        PcoOption(ProtocolConfigurationIdentifier.IP_ADDRESS_ALLOCATION_VIA_NAS),
    )
)
"""TS 24.008 10.5.6.3: ask for IPv4 DNS servers, and for the address in NAS signalling."""


# --- Configuration and what the UE exposes -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class UeConfig:
    """What a phone is, besides its USIM. Validated once, here."""

    plmn: str = "00101"
    """The serving network (MCC+MNC digits): SN id for KASME, the PLMN a GUTI must carry."""
    tac: int = 1
    """Tracking area code of the cell the UE starts in."""
    eea: frozenset[int] = frozenset({0, 1, 2, 3})
    """Supported ciphering algorithms, EEA0-3 (TS 33.401 5.1.3.2)."""
    eia: frozenset[int] = frozenset({0, 1, 2, 3})
    """Supported integrity algorithms, EIA0-3 (TS 33.401 5.1.4.2). EIA0 is advertised, as phones
    do, but refused in a Security Mode Command: it is for emergency bearers only (5.4.3.3)."""
    apn: str | None = "internet"
    """Requested in the PDN Connectivity Request; None leaves the choice to the network."""
    imeisv: str = "3534900698733001"
    """16 digits: the 14-digit IMEI body and a 2-digit software version (TS 23.003 6.2.2)."""
    pdn_type: int = PdnType.IPV4
    timeline_length: int = 256
    """Timeline entries kept, oldest dropped first."""

    def __post_init__(self) -> None:
        if len(self.plmn) not in (5, 6) or not self.plmn.isdigit() or not self.plmn.isascii():
            raise ValueError(f"plmn must be 5 or 6 digits: {self.plmn!r}")
        if not 0 <= self.tac <= 0xFFFF:
            raise ValueError(f"tac {self.tac} outside 0..65535")
        if not self.eea or not self.eea <= {0, 1, 2, 3}:
            raise ValueError(f"eea must be a non-empty subset of 0..3: {sorted(self.eea)}")
        if not self.eia & {1, 2, 3} or not self.eia <= {0, 1, 2, 3}:
            raise ValueError(f"eia must be a subset of 0..3 with one of EIA1-3: {sorted(self.eia)}")
        if len(self.imeisv) != 16 or not self.imeisv.isdigit() or not self.imeisv.isascii():
            raise ValueError(f"imeisv must be 16 digits: {self.imeisv!r}")
        if self.pdn_type != PdnType.IPV4:
            raise ValueError("only PDN type IPv4 is supported")
        if self.timeline_length < 1:
            raise ValueError("timeline_length must be positive")

    @property
    def imei(self) -> str:
        """The 15-digit IMEI: the IMEISV's 14-digit body and its Luhn check digit (TS 23.003
        6.2.1 and Annex B)."""
        return self.imeisv[:14] + str(_luhn_check_digit(self.imeisv[:14]))

    @property
    def serving_network_id(self) -> bytes:
        return encode_plmn_identity(self.plmn[:3], self.plmn[3:])


def _luhn_check_digit(digits: str) -> int:
    total = 0
    for position, digit in enumerate(reversed(digits)):
        value = int(digit) * (2 if position % 2 == 0 else 1)
        total += value // 10 + value % 10
    return (10 - total % 10) % 10


@dataclass(frozen=True, slots=True)
class UeSecurityCapabilities:
    """The EEA and EIA algorithms the UE announced in its UE network capability, for the eNB to
    hold the core's S1AP UE Security Capabilities to (TS 36.413 9.2.1.40)."""

    eea: frozenset[int]
    eia: frozenset[int]

    @property
    def encryption_mask(self) -> int:
        """The S1AP 16-bit mask: the most significant bit is 128-EEA1, then EEA2, EEA3."""
        return sum(0x8000 >> (algorithm - 1) for algorithm in self.eea if algorithm)

    @property
    def integrity_mask(self) -> int:
        return sum(0x8000 >> (algorithm - 1) for algorithm in self.eia if algorithm)


@dataclass(frozen=True, slots=True)
class DefaultBearer:
    """The default EPS bearer context of the UE's PDN connection (TS 24.301 6.4.1)."""

    bearer_identity: int
    apn: str
    ipv4: ipaddress.IPv4Address
    qos: EpsQos
    apn_ambr: ApnAmbr | None
    dns_servers: tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, ...]


TimelineKind = Literal["sent", "received", "ignored", "state", "timer"]


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """One line of the UE's per-message timeline: a NAS message sent or received, a state
    change, a timer expiry, or a message ignored."""

    at: float
    kind: TimelineKind
    text: str


@dataclass(frozen=True, slots=True)
class ServiceReject:
    """TS 24.301 8.2.24, SERVICE REJECT: only its EMM cause is read (the optional T3442 and T3346
    values are stepped over). The codec does not carry this message; the UE reads it here."""

    emm_cause: int


# --- UE-initiated procedures --------------------------------------------------------------------


@dataclass(eq=False)
class _Procedure:
    """A UE-initiated EMM procedure in progress: its clause, the message that starts it, its
    timer, and how far it got."""

    NAME: ClassVar[str]
    CLAUSE: ClassVar[str]
    REQUEST: ClassVar[str]
    TIMER: ClassVar[Timer]
    FALLBACK: ClassVar[EmmState]
    """The state a failure leaves the UE in."""
    DOWNLINK: ClassVar[frozenset[type]]
    """Downlink messages that belong to it (late copies after a failure are only recorded)."""

    started_at: float
    attempts: int = 1


_COMMON = frozenset(
    {AuthenticationRequest, AuthenticationReject, SecurityModeCommand, IdentityRequest}
)
"""The common procedures the network may run inside any UE-initiated one (TS 24.301 5.4)."""


@dataclass(eq=False)
class _Attach(_Procedure):
    """Attach for EPS services, TS 24.301 5.5.1.2, with default bearer activation (6.4.1):

    1. ATTACH REQUEST carrying PDN CONNECTIVITY REQUEST, on a new NAS signalling connection with
       RRC cause mo-Signalling; integrity protected when a current EPS security context exists
       (5.5.1.2.2); T3410 starts.
    2. The network runs identification, authentication and security mode control (5.4).
    3. ATTACH ACCEPT carrying ACTIVATE DEFAULT EPS BEARER CONTEXT REQUEST (5.5.1.2.4): T3410
       stops, the UE answers ATTACH COMPLETE carrying ACTIVATE DEFAULT EPS BEARER CONTEXT
       ACCEPT and is EMM-REGISTERED. ATTACH REJECT (5.5.1.2.5) ends it.
    4. T3410 expiry (5.5.1.2.6 c): local release, T3411, a new attempt; five at most.
    """

    NAME: ClassVar[str] = "attach"
    CLAUSE: ClassVar[str] = "TS 24.301 5.5.1.2"
    REQUEST: ClassVar[str] = "Attach Request"
    TIMER: ClassVar[Timer] = Timer.T3410
    FALLBACK: ClassVar[EmmState] = EmmState.DEREGISTERED
    DOWNLINK: ClassVar[frozenset[type]] = _COMMON | {
        AttachAccept,
        AttachReject,
        EsmInformationRequest,
    }

    identity: Literal["imsi", "guti"] = "imsi"
    procedure_transaction_identity: int = 0


@dataclass(eq=False)
class _Detach(_Procedure):
    """UE-initiated detach, TS 24.301 5.5.2.2:

    1. DETACH REQUEST (5.5.2.2.1); from EMM-IDLE on a new connection with RRC cause
       mo-Signalling. With switch-off the UE releases the connection at once and is done.
    2. Otherwise T3421 runs until DETACH ACCEPT (5.5.2.2.2); four retransmissions, the fifth
       expiry aborts with a local detach (5.5.2.2.4 c).
    """

    NAME: ClassVar[str] = "detach"
    CLAUSE: ClassVar[str] = "TS 24.301 5.5.2.2"
    REQUEST: ClassVar[str] = "Detach Request"
    TIMER: ClassVar[Timer] = Timer.T3421
    FALLBACK: ClassVar[EmmState] = EmmState.DEREGISTERED
    DOWNLINK: ClassVar[frozenset[type]] = frozenset({DetachAccept})


@dataclass(eq=False)
class _ServiceRequest(_Procedure):
    """Service request from EMM-IDLE, TS 24.301 5.6.1:

    1. SERVICE REQUEST (8.2.25: KSI, 5 bits of the uplink NAS COUNT, short MAC) on a new
       connection with the caller's RRC cause, mt-Access when answering paging (5.6.2.2.1);
       T3417 starts. Its NAS COUNT feeds KeNB (TS 33.401 A.3).
    2. The radio bearers are set up (the eNB got the Initial Context Setup): done (5.6.1.4).
       SERVICE REJECT (5.6.1.5) or T3417 expiry (5.6.1.6 c, local release) ends it.
    """

    NAME: ClassVar[str] = "service_request"
    CLAUSE: ClassVar[str] = "TS 24.301 5.6.1"
    REQUEST: ClassVar[str] = "Service Request"
    TIMER: ClassVar[Timer] = Timer.T3417
    FALLBACK: ClassVar[EmmState] = EmmState.REGISTERED
    DOWNLINK: ClassVar[frozenset[type]] = _COMMON | {ServiceReject}


@dataclass(eq=False)
class _TrackingAreaUpdate(_Procedure):
    """Normal and periodic tracking area updating, TS 24.301 5.5.3.2:

    1. TRACKING AREA UPDATE REQUEST, integrity protected and never ciphered (4.4.5), from
       EMM-IDLE on a new connection with RRC cause mo-Signalling; T3430 starts.
    2. TRACKING AREA UPDATE ACCEPT (5.5.3.2.4): T3430 stops; with a new GUTI the UE answers
       TRACKING AREA UPDATE COMPLETE. REJECT (5.5.3.2.5) ends it.
    3. T3430 expiry (5.5.3.2.6 c): local release, T3411, a new attempt; five at most.
    """

    NAME: ClassVar[str] = "tau"
    CLAUSE: ClassVar[str] = "TS 24.301 5.5.3.2"
    REQUEST: ClassVar[str] = "Tracking Area Update Request"
    TIMER: ClassVar[Timer] = Timer.T3430
    FALLBACK: ClassVar[EmmState] = EmmState.REGISTERED
    DOWNLINK: ClassVar[frozenset[type]] = _COMMON | {
        TrackingAreaUpdateAccept,
        TrackingAreaUpdateReject,
    }

    periodic: bool = False
    active: bool = False


_NETWORK_PROCEDURES = {
    "Authentication Request": "authentication",
    "Authentication Reject": "authentication",
    "Security Mode Command": "security_mode_control",
    "Identity Request": "identity",
    "GUTI Reallocation Command": "guti_reallocation",
    "EMM Information": "emm_information",
    "Detach Request": "network_detach",
    "EMM Status": "emm_status",
}
"""How a failure is named, by the message at fault, when no UE-initiated procedure runs."""


# --- How the UE signals a violation internally ------------------------------------------------


class _Violated(Exception):
    """A check failed: the violation, and what the standard has the UE send back, if anything."""

    def __init__(self, violation: Violation, answer: NasMessage | None = None) -> None:
        super().__init__(str(violation))
        self.violation = violation
        self.answer = answer


def _violated(
    message: str, ie: str | None, reason: str, answer: NasMessage | None = None
) -> _Violated:
    return _Violated(Violation(message, ie, reason), answer)


@dataclass(frozen=True, slots=True)
class _Received:
    """A downlink message past the security layer."""

    message: NasMessage | ServiceReject
    name: str
    header_type: int
    new_context: NasSecurityContext | None = None
    """For a Security Mode Command: the context it verified with, not yet taken into use."""


# --- The UE ---------------------------------------------------------------------------------------


class Ue:
    """One phone's NAS. Inputs: `attach`, `detach`, `service_request`, `tracking_area_update`,
    `receive_nas`, `connection_released`, `radio_bearers_established`, `paged`,
    `handle_timer`. Each returns the commands to carry out, in order."""

    def __init__(self, usim: Usim, config: UeConfig | None = None) -> None:
        self._usim = usim
        self._config = config or UeConfig()
        self._capability = UeNetworkCapability(
            bytes((_algorithm_bits(self._config.eea), _algorithm_bits(self._config.eia)))
        )
        self._state = EmmState.DEREGISTERED
        self._connected = False
        self._procedure: _Procedure | None = None
        self._failed: _Procedure | None = None
        self._timers: dict[Timer, float] = {}
        self._commands: list[Command] = []
        self._timeline: deque[TimelineEntry] = deque(maxlen=self._config.timeline_length)
        # EMM parameters, what a USIM keeps in EF EPSLOCI (TS 31.102 4.2.91) and beside it.
        self._guti: Guti | None = None
        self._tai = Tai(self._config.plmn, self._config.tac)
        self._registered_tai: Tai | None = None
        self._tai_list: tuple[Tai, ...] = ()
        self._t3412: GprsTimer | None = None
        # EPS security (TS 24.301 4.4).
        self._current: NasSecurityContext | None = None
        self._authenticated: tuple[int, bytes] | None = None
        """(KSI, KASME) of the last successful AKA, until a Security Mode Command uses it."""
        self._secure_exchange = False
        """Secure exchange of NAS messages established on this connection (4.4.4.2)."""
        self._kenb: bytes | None = None
        self._authentication_failures = 0
        # ESM.
        self._bearer: DefaultBearer | None = None
        self._last_pti = 0
        # Records.
        self._network_names: tuple[str | None, str | None] = (None, None)
        self.answers_paging = True
        """False: a Paging for this UE is recorded in the timeline and not answered (a phone
        out of coverage), so the core's paging runs out; set it back to answer again."""

    # --- what the eNB core and the driver read ---------------------------------------------

    @property
    def imsi(self) -> str:
        return self._usim.imsi

    @property
    def state(self) -> EmmState:
        return self._state

    @property
    def registered(self) -> bool:
        return self._state in _REGISTERED_STATES

    @property
    def connected(self) -> bool:
        """EMM-CONNECTED: the UE has a NAS signalling connection (an S1 connection)."""
        return self._connected

    @property
    def procedure(self) -> str | None:
        """The UE-initiated procedure in progress, by name."""
        return self._procedure.NAME if self._procedure else None

    @property
    def kenb(self) -> bytes | None:
        """KeNB for this connection (TS 33.401 7.2.8.1, A.3): from KASME and the uplink NAS
        COUNT of the message that established the connection, or of the Security Mode Complete
        when one followed; None before security."""
        return self._kenb

    @property
    def guti(self) -> Guti | None:
        return self._guti

    @property
    def s_tmsi(self) -> tuple[int, int] | None:
        """(MME code, M-TMSI) of the GUTI (TS 23.003 2.9)."""
        return (self._guti.mme_code, self._guti.m_tmsi) if self._guti else None

    @property
    def tai(self) -> Tai:
        """The TAI of the cell the UE is in."""
        return self._tai

    @property
    def tai_list(self) -> tuple[Tai, ...]:
        return self._tai_list

    @property
    def t3412_seconds(self) -> int | None:
        """The periodic TAU timer the network gave (None: none given or deactivated)."""
        return self._t3412.seconds if self._t3412 else None

    @property
    def default_bearer(self) -> DefaultBearer | None:
        return self._bearer

    @property
    def default_bearer_id(self) -> int | None:
        return self._bearer.bearer_identity if self._bearer else None

    @property
    def pdn_address(self) -> ipaddress.IPv4Address | None:
        return self._bearer.ipv4 if self._bearer else None

    @property
    def ue_security_capabilities(self) -> UeSecurityCapabilities:
        return UeSecurityCapabilities(self._config.eea, self._config.eia)

    @property
    def security_context(self) -> NasSecurityContext | None:
        """The current EPS security context (TS 24.301 4.4.2), None before the first SMC."""
        return self._current

    @property
    def network_names(self) -> tuple[str | None, str | None]:
        """(full, short) network name from the last EMM Information."""
        return self._network_names

    @property
    def timeline(self) -> tuple[TimelineEntry, ...]:
        return tuple(self._timeline)

    def deadline(self) -> float | None:
        """When `handle_timer` must next be called."""
        return min(self._timers.values(), default=None)

    # --- inputs from the driver -------------------------------------------------------------

    def attach(self, now: float, *, identity: Literal["imsi", "guti"] = "imsi") -> list[Command]:
        """Start an attach (TS 24.301 5.5.1.2). `imsi` attaches as a fresh phone: any GUTI
        and EPS security context are forgotten. `guti` presents the stored GUTI, and the
        Attach Request is integrity protected if a current security context exists."""
        if (refusal := self._refusal(allowed=(EmmState.DEREGISTERED,))) is not None:
            return self._refuse(_Attach, now, refusal)
        if identity == "guti" and self._guti is None:
            return self._refuse(_Attach, now, "identity 'guti', but the UE holds no GUTI")
        if identity == "imsi":
            self._forget_registration()
        self._begin(_Attach(started_at=now, identity=identity))
        self._send_attach_request(now)
        return self._drain()

    def detach(self, now: float, *, switch_off: bool = False) -> list[Command]:
        """Start a UE-initiated detach (TS 24.301 5.5.2.2). Switch-off aborts whatever runs,
        sends the Detach Request and releases the connection without waiting."""
        attached = self.registered or self._state == EmmState.REGISTERED_INITIATED
        if switch_off and self._procedure is not None:
            self._fail(now, f"aborted by a switch-off detach ({self._procedure.CLAUSE})")
        elif (refusal := self._refusal(allowed=(EmmState.REGISTERED,))) is not None:
            return self._refuse(_Detach, now, refusal)
        if not attached:
            return self._refuse(_Detach, now, f"nothing to detach in {self._state}")
        request = self._detach_request(switch_off)
        if switch_off:
            return self._switch_off(request, now)
        self._begin(_Detach(started_at=now))
        self._enter(EmmState.DEREGISTERED_INITIATED, now, "Detach Request")
        self._send_detach_request(request, now)
        return self._drain()

    def service_request(
        self, now: float, *, cause: RrcEstablishmentCause = RrcEstablishmentCause.MO_DATA
    ) -> list[Command]:
        """Leave EMM-IDLE with a SERVICE REQUEST (TS 24.301 5.6.1)."""
        if (refusal := self._refusal(allowed=(EmmState.REGISTERED,))) is not None:
            return self._refuse(_ServiceRequest, now, refusal)
        if self._connected:
            return self._refuse(_ServiceRequest, now, "the UE is already EMM-CONNECTED")
        if self._current is None:
            return self._refuse(_ServiceRequest, now, "no EPS security context for a short MAC")
        self._begin(_ServiceRequest(started_at=now))
        protected = self._current.protect_service_request()
        self._current = protected.context
        self._enter(EmmState.SERVICE_REQUEST_INITIATED, now, "Service Request")
        self._transmit(protected.pdu, "Service Request", now, cause=cause, count=protected.count)
        self._start_timer(Timer.T3417, now)
        return self._drain()

    def tracking_area_update(self, now: float, *, tai: Tai, active: bool = False) -> list[Command]:
        """Start a tracking area update (TS 24.301 5.5.3.2): periodic when `tai` is the
        current one, normal otherwise. From EMM-IDLE it opens a connection."""
        if (refusal := self._refusal(allowed=(EmmState.REGISTERED,))) is not None:
            return self._refuse(_TrackingAreaUpdate, now, refusal)
        if self._guti is None:
            return self._refuse(_TrackingAreaUpdate, now, "no GUTI to present as old GUTI")
        periodic = tai == self._tai
        self._tai = tai
        self._begin(_TrackingAreaUpdate(started_at=now, periodic=periodic, active=active))
        self._send_tracking_area_update_request(now)
        return self._drain()

    def paged(self, now: float) -> list[Command]:
        """The eNB saw this UE's S-TMSI in a Paging: answer with a SERVICE REQUEST, RRC cause
        mt-Access (TS 24.301 5.6.2.2.1). Paging reaches a connected UE only by mistake of the
        core's and is ignored, as the radio would; so is any while `answers_paging` is False."""
        self._record(now, "received", "Paging")
        if not self.answers_paging or self._connected or self._procedure is not None:
            return self._drain()
        if not self.registered:
            violation = Violation("Paging", "UE paging identity", f"paged in {self._state}")
            self._emit(
                ProcedureFailed(self.imsi, "service_request", now, str(violation), violation)
            )
            return self._drain()
        return self.service_request(now, cause=RrcEstablishmentCause.MT_ACCESS)

    # --- inputs from the eNB -----------------------------------------------------------------

    def connection_released(self, now: float) -> list[Command]:
        """The NAS signalling connection is gone (UE Context Release): EMM-IDLE. A procedure
        still waiting for the network fails."""
        if not self._connected:
            return self._drain()
        self._release(now, "released by the network")
        if self._procedure is not None:
            # 5.5.1.2.6 a, 5.5.2.2.4 b, 5.5.3.2.6 a, 5.6.1.6 a: the procedure is aborted.
            waiting = self._procedure.REQUEST
            self._fail(now, f"NAS signalling connection released while waiting after {waiting}")
        return self._drain()

    def radio_bearers_established(self, now: float) -> list[Command]:
        """The eNB set up the radio bearers (it got an Initial Context Setup): a pending
        service request has succeeded (TS 24.301 5.6.1.4)."""
        if isinstance(self._procedure, _ServiceRequest):
            self._succeed(now)
        return self._drain()

    def receive_nas(self, pdu: bytes, now: float) -> list[Command]:
        """One downlink NAS PDU, from a Downlink NAS Transport or an Initial Context Setup."""
        straggler = self._straggler(pdu)
        if straggler is not None:
            self._record(now, "ignored", f"{straggler} (after the failed {self._failed.NAME})")
            return self._drain()
        try:
            received = self._unwrap(pdu)
            self._record(now, "received", received.name)
            self._dispatch(received, now)
        except _Violated as violated:
            self._record(now, "received", f"{violated.violation.message} (violation)")
            if violated.answer is not None and self._connected:
                self._send(violated.answer, now)
            network_procedure = _NETWORK_PROCEDURES.get(violated.violation.message, "nas")
            self._fail(now, str(violated.violation), violated.violation, name=network_procedure)
        return self._drain()

    def handle_timer(self, now: float) -> list[Command]:
        """Run every NAS timer due at `now`."""
        while (due := self._next_due(now)) is not None:
            del self._timers[due]
            self._record(now, "timer", f"{due} expired")
            self._on_timer(due, now)
        return self._drain()

    # --- the UE-initiated procedures, step by step -------------------------------------------

    def _send_attach_request(self, now: float) -> None:
        """_Attach step 1."""
        procedure = self._procedure
        assert isinstance(procedure, _Attach)
        procedure.procedure_transaction_identity = self._allocate_pti()
        by_guti = procedure.identity == "guti" and self._guti is not None
        request = AttachRequest(
            attach_type=AttachType.EPS_ATTACH,
            key_set_identifier=self._key_set_identifier(),
            identity=self._guti if by_guti else Imsi(self.imsi),
            ue_network_capability=self._capability,
            esm_message=PdnConnectivityRequest(
                procedure_transaction_identity=procedure.procedure_transaction_identity,
                request_type=RequestType.INITIAL_REQUEST,
                pdn_type=self._config.pdn_type,
                apn=self._config.apn,
                protocol_configuration_options=_PCO_REQUEST,
            ),
            last_visited_tai=self._registered_tai if by_guti else None,
        )
        self._enter(EmmState.REGISTERED_INITIATED, now, "Attach Request")
        self._send_initial(request, RrcEstablishmentCause.MO_SIGNALLING, now)
        self._start_timer(Timer.T3410, now)

    def _on_attach_accept(self, received: _Received, now: float) -> None:
        """_Attach step 3."""
        accept = received.message
        assert isinstance(accept, AttachAccept)
        procedure = self._expect_procedure(_Attach, received)
        self._check_attach_accept(accept)
        bearer = self._check_default_bearer_request(accept.esm_message, procedure, received.name)
        self._stop_timer(Timer.T3410)
        self._guti = accept.guti or self._guti
        self._tai_list = accept.tai_list
        self._registered_tai = self._tai
        self._t3412 = accept.t3412
        self._bearer = bearer
        complete = AttachComplete(
            esm_message=ActivateDefaultEpsBearerContextAccept(
                bearer_identity=bearer.bearer_identity,
                procedure_transaction_identity=procedure.procedure_transaction_identity,
            )
        )
        self._send(complete, now)
        self._succeed(now)

    def _on_attach_reject(self, received: _Received, now: float) -> None:
        """_Attach end by ATTACH REJECT (5.5.1.2.5)."""
        reject = received.message
        assert isinstance(reject, AttachReject)
        self._expect_procedure(_Attach, received)
        self._apply_reject_cause(reject.emm_cause, now)
        self._fail(
            now, f"Attach Reject, EMM cause #{reject.emm_cause}", reject_cause=reject.emm_cause
        )

    def _retry(self, now: float) -> None:
        """_Attach step 4 / _TrackingAreaUpdate step 3, on T3411 expiry: the next attempt."""
        match self._procedure:
            case _Attach():
                self._send_attach_request(now)
            case _TrackingAreaUpdate():
                self._send_tracking_area_update_request(now)

    def _attempt_failed(self, now: float, why: str) -> None:
        """A failed attach or TAU attempt (5.5.1.2.6, 5.5.3.2.6): local release, then T3411 and
        a new attempt, or the end after MAXIMUM_ATTEMPTS."""
        procedure = self._procedure
        assert procedure is not None
        if self._connected:
            self._release(now, f"{why}: local release")
            self._emit(ReleaseConnection(self.imsi))
        if procedure.attempts >= MAXIMUM_ATTEMPTS:
            self._fail(now, f"{why} on each of {MAXIMUM_ATTEMPTS} attempts")
            return
        procedure.attempts += 1
        self._enter(procedure.FALLBACK, now, f"{why}, attempt {procedure.attempts} after T3411")
        self._start_timer(Timer.T3411, now)

    def _switch_off(self, request: DetachRequest, now: float) -> list[Command]:
        """_Detach step 1 with switch-off."""
        self._send_detach_request(request, now)
        self._timers.clear()
        self._release(now, "switch-off")
        self._emit(ReleaseConnection(self.imsi))
        self._enter(EmmState.DEREGISTERED, now, "switch-off detach")
        self._drop_bearer()
        self._emit(ProcedureSucceeded(self.imsi, _Detach.NAME, now))
        return self._drain()

    def _detach_request(self, switch_off: bool) -> DetachRequest:
        """TS 24.301 8.2.11.1: EPS detach, with the GUTI if the UE has one (5.5.2.2.1)."""
        return DetachRequest(
            detach_type=DetachType(UeDetachType.EPS_DETACH, switch_off),
            key_set_identifier=self._key_set_identifier(),
            identity=self._guti or Imsi(self.imsi),
        )

    def _send_detach_request(self, request: DetachRequest, now: float) -> None:
        """_Detach step 1, and each retransmission on T3421 (with a new NAS COUNT)."""
        if self._connected and self._secure_exchange:
            self._send(request, now)
        else:
            self._send_initial(request, RrcEstablishmentCause.MO_SIGNALLING, now)
        if not request.detach_type.switch_off:
            self._start_timer(Timer.T3421, now)

    def _on_detach_accept(self, received: _Received, now: float) -> None:
        """_Detach step 2."""
        self._expect_procedure(_Detach, received)
        self._stop_timer(Timer.T3421)
        self._drop_bearer()
        self._succeed(now)

    def _detach_timer_expired(self, now: float) -> None:
        """_Detach step 2, T3421 expiry."""
        procedure = self._procedure
        assert isinstance(procedure, _Detach)
        if procedure.attempts >= DETACH_TRANSMISSIONS:
            self._drop_bearer()
            if self._connected:
                self._release(now, "T3421: local release")
                self._emit(ReleaseConnection(self.imsi))
            self._fail(now, f"T3421 expired {DETACH_TRANSMISSIONS} times: no Detach Accept")
            return
        procedure.attempts += 1
        self._send_detach_request(self._detach_request(switch_off=False), now)

    def _on_service_reject(self, received: _Received, now: float) -> None:
        """_ServiceRequest end by SERVICE REJECT (5.6.1.5)."""
        reject = received.message
        assert isinstance(reject, ServiceReject)
        self._expect_procedure(_ServiceRequest, received)
        self._apply_reject_cause(reject.emm_cause, now)
        self._fail(
            now, f"Service Reject, EMM cause #{reject.emm_cause}", reject_cause=reject.emm_cause
        )

    def _send_tracking_area_update_request(self, now: float) -> None:
        """_TrackingAreaUpdate step 1."""
        procedure = self._procedure
        assert isinstance(procedure, _TrackingAreaUpdate) and self._guti is not None
        value = EpsUpdateType.PERIODIC_UPDATING if procedure.periodic else EpsUpdateType.TA_UPDATING
        request = TrackingAreaUpdateRequest(
            update_type=UpdateType(value, procedure.active),
            key_set_identifier=self._key_set_identifier(),
            old_guti=self._guti,
            ue_network_capability=self._capability,
            last_visited_tai=self._registered_tai,
            eps_bearer_context_status=self._bearer_context_status(),
        )
        self._enter(EmmState.TRACKING_AREA_UPDATING_INITIATED, now, "Tracking Area Update Request")
        self._send_initial(request, RrcEstablishmentCause.MO_SIGNALLING, now)
        self._start_timer(Timer.T3430, now)

    def _on_tracking_area_update_accept(self, received: _Received, now: float) -> None:
        """_TrackingAreaUpdate step 2."""
        accept = received.message
        assert isinstance(accept, TrackingAreaUpdateAccept)
        self._expect_procedure(_TrackingAreaUpdate, received)
        self._check_tracking_area_update_accept(accept, received.name)
        self._stop_timer(Timer.T3430)
        self._guti = accept.guti or self._guti
        self._tai_list = accept.tai_list or self._tai_list
        self._registered_tai = self._tai
        self._t3412 = accept.t3412 or self._t3412
        if accept.eps_bearer_context_status is not None and self._bearer is not None:
            if self._bearer.bearer_identity not in accept.eps_bearer_context_status:
                self._drop_bearer()  # 5.5.3.2.4: the network no longer has it
        if accept.guti is not None:
            self._send(TrackingAreaUpdateComplete(), now)
        self._succeed(now)

    def _on_tracking_area_update_reject(self, received: _Received, now: float) -> None:
        """_TrackingAreaUpdate end by REJECT (5.5.3.2.5)."""
        reject = received.message
        assert isinstance(reject, TrackingAreaUpdateReject)
        self._expect_procedure(_TrackingAreaUpdate, received)
        self._apply_reject_cause(reject.emm_cause, now)
        self._fail(
            now,
            f"Tracking Area Update Reject, EMM cause #{reject.emm_cause}",
            reject_cause=reject.emm_cause,
        )

    # --- the network's procedures --------------------------------------------------------------

    def _on_authentication_request(self, received: _Received, now: float) -> None:
        """Authentication, TS 24.301 5.4.2.3: the USIM checks AUTN; the UE answers with RES or
        with AUTHENTICATION FAILURE #20 / #21 (with AUTS, T3420) / #26 (5.4.2.6)."""
        request = received.message
        assert isinstance(request, AuthenticationRequest)
        self._expect_common_procedure_allowed(received)
        _check_key_set_identifier(request.key_set_identifier, received.name)
        if len(request.autn) != 16:
            raise _violated(
                received.name,
                "Authentication parameter AUTN",
                f"{len(request.autn)} octets, not 16",
            )
        self._stop_timer(Timer.T3420)
        outcome = self._usim.authenticate(
            request.rand, request.autn, self._config.serving_network_id
        )
        match outcome:
            case AkaAccepted(res=res, kasme=kasme):
                self._authentication_failures = 0
                self._authenticated = (request.key_set_identifier.value, kasme)
                self._send(AuthenticationResponse(res=res), now)
            case SynchFailure(auts=auts, sqn=sqn, sqn_ms=sqn_ms):
                self._authentication_failed(
                    AuthenticationFailure(emm_cause=EmmCause.SYNCH_FAILURE, auts=auts),
                    f"SQN {sqn} is not fresh (highest accepted {sqn_ms})",
                    now,
                )
            case MacFailure():
                raise _violated(
                    received.name,
                    "Authentication parameter AUTN",
                    "MAC-A does not verify: the network is not authentic (EMM cause #20)",
                    AuthenticationFailure(emm_cause=EmmCause.MAC_FAILURE),
                )
            case NonEpsAuthentication(amf=amf):
                raise _violated(
                    received.name,
                    "Authentication parameter AUTN",
                    f"AMF {amf.hex()} has the separation bit 0: not an EPS vector (EMM cause #26)",
                    AuthenticationFailure(emm_cause=EmmCause.NON_EPS_AUTHENTICATION_UNACCEPTABLE),
                )

    def _authentication_failed(self, failure: AuthenticationFailure, why: str, now: float) -> None:
        """5.4.2.6 c: synch failure; 5.4.2.7 f: the third failure in a row ends it."""
        self._authentication_failures += 1
        if self._authentication_failures > AUTHENTICATION_FAILURES_TOLERATED:
            raise _violated(
                "Authentication Request",
                "Authentication parameter AUTN",
                f"{why}; third authentication failure in a row: resynchronisation did not work",
                failure,
            )
        self._send(failure, now)
        self._start_timer(Timer.T3420, now)

    def _on_authentication_reject(self, received: _Received, now: float) -> None:
        """5.4.2.5: the USIM is no longer trusted; GUTI, TAI list and security context go."""
        self._forget_registration()
        self._stop_procedure_timers()
        self._enter(EmmState.DEREGISTERED, now, "Authentication Reject")
        self._fail(now, "Authentication Reject", name="authentication")

    def _on_security_mode_command(self, received: _Received, now: float) -> None:
        """Security mode control, TS 24.301 5.4.3.3: the context the command verified with
        becomes current; the UE answers SECURITY MODE COMPLETE, ciphered with header type 4,
        with its IMEISV if asked. Checks that need the keys ran in `_unwrap_security_mode`."""
        command = received.message
        assert isinstance(command, SecurityModeCommand) and received.new_context is not None
        self._expect_common_procedure_allowed(received)
        expected = self._capability.security_capabilities()
        if command.replayed_security_capabilities != expected:
            raise _violated(
                received.name,
                "Replayed UE security capabilities",
                f"{command.replayed_security_capabilities.hex()} differs from the "
                f"{expected.hex()} the UE sent",
                SecurityModeReject(emm_cause=EmmCause.UE_SECURITY_CAPABILITIES_MISMATCH),
            )
        if command.replayed_nonce_ue is not None or command.nonce_mme is not None:
            raise _violated(
                received.name,
                "Replayed nonceUE" if command.replayed_nonce_ue is not None else "NonceMME",
                "present, but the UE sent no nonceUE (nonces are for mapped contexts)",
                _SECURITY_MODE_REJECTED,
            )
        self._current = received.new_context
        self._authenticated = None
        self._secure_exchange = True
        imeisv = Imeisv(self._config.imeisv) if command.imeisv_requested else None
        protected = self._current.protect(
            encode(SecurityModeComplete(imeisv=imeisv)),
            Direction.UPLINK,
            SecurityHeaderType.INTEGRITY_PROTECTED_AND_CIPHERED_WITH_NEW_CONTEXT,
        )
        self._current = protected.context
        self._kenb = derive_kenb(self._current.kasme, protected.count)
        self._transmit(protected.pdu, "Security Mode Complete", now)

    def _on_identity_request(self, received: _Received, now: float) -> None:
        """Identification, TS 24.301 5.4.4.3."""
        request = received.message
        assert isinstance(request, IdentityRequest)
        self._expect_common_procedure_allowed(received)
        match request.identity_type:
            case IdentityType.IMSI:
                self._send(IdentityResponse(identity=Imsi(self.imsi)), now)
            case IdentityType.IMEI:
                self._send(IdentityResponse(identity=Imei(self._config.imei)), now)
            case IdentityType.IMEISV:
                self._send(IdentityResponse(identity=Imeisv(self._config.imeisv)), now)
            case IdentityType.TMSI:
                # An EPS-only UE has no TMSI: mobile identity "no identity" (TS 24.008 10.5.1.4).
                self._send_octets(bytes((Sublayer.EMM, 0x56, 1, 0xF0)), "Identity Response", now)
            case other:
                raise _violated(
                    received.name, "Identity type", f"{other} is reserved (TS 24.301 9.9.3.17)"
                )

    def _on_guti_reallocation_command(self, received: _Received, now: float) -> None:
        """GUTI reallocation, TS 24.301 5.4.1.3 (only while registered, 5.4.1.1)."""
        command = received.message
        assert isinstance(command, GutiReallocationCommand)
        self._expect_registered(received)
        self._check_guti(command.guti, received.name)
        if command.tai_list is not None:
            self._check_tai_list(command.tai_list, received.name)
            self._tai_list = command.tai_list
        self._guti = command.guti
        self._send(GutiReallocationComplete(), now)

    def _on_emm_information(self, received: _Received, now: float) -> None:
        """EMM information, TS 24.301 5.4.5.3: recorded."""
        information = received.message
        assert isinstance(information, EmmInformation)
        self._expect_registered(received)
        self._network_names = (information.full_network_name, information.short_network_name)

    def _on_network_detach_request(self, received: _Received, now: float) -> None:
        """Network-initiated detach, TS 24.301 5.5.2.3.2: DETACH ACCEPT, EMM-DEREGISTERED. A
        UE detach in progress counts as done (collision, 5.5.2.2.4 e); any other procedure
        fails."""
        request = received.message
        assert isinstance(request, NetworkDetachRequest)
        self._expect_registered(received)
        if request.detach_type == NetworkDetachType.IMSI_DETACH:
            raise _violated(
                received.name, "Detach type", "IMSI detach, but the UE made an EPS-only attach"
            )
        reattach = request.detach_type == NetworkDetachType.REATTACH_REQUIRED
        self._send(DetachAccept(), now)
        self._stop_procedure_timers()
        if request.emm_cause in _CAUSES_DELETING_REGISTRATION:
            self._forget_registration()
        self._drop_bearer()
        if isinstance(self._procedure, _Detach):
            self._succeed(now)
        elif self._procedure is not None:
            self._fail(now, "the network detached the UE")
        self._enter(EmmState.DEREGISTERED, now, "network Detach Request")
        self._emit(NetworkDetached(self.imsi, now, reattach, request.emm_cause))

    def _on_emm_status(self, received: _Received, now: float) -> None:
        """EMM STATUS (TS 24.301 5.7): the network says the UE erred; fail loudly."""
        status = received.message
        assert isinstance(status, EmmStatus)
        self._fail(
            now,
            f"EMM Status #{status.emm_cause} from the network",
            reject_cause=status.emm_cause,
            name="emm_status",
        )

    def _on_esm_information_request(self, received: _Received, now: float) -> None:
        raise _violated(
            received.name,
            None,
            "the UE did not set the ESM information transfer flag (TS 24.301 6.6.1.2.1)",
        )

    # --- checks of message contents --------------------------------------------------------------

    def _check_attach_accept(self, accept: AttachAccept) -> None:
        name = "Attach Accept"
        if accept.attach_result != AttachResult.EPS_ONLY:
            raise _violated(
                name,
                "EPS attach result",
                f"{accept.attach_result}, but the UE asked for an EPS-only attach",
            )
        self._check_tai_list(accept.tai_list, name)
        if accept.guti is not None:
            self._check_guti(accept.guti, name)
        elif self._guti is None:
            raise _violated(name, "GUTI", "missing, and the UE attached with its IMSI")

    def _check_default_bearer_request(
        self, esm: object, procedure: _Attach, outer: str
    ) -> DefaultBearer:
        """TS 24.301 6.4.1.3 and 8.3.6, for the request inside the Attach Accept."""
        name = "Activate Default EPS Bearer Context Request"
        if not isinstance(esm, ActivateDefaultEpsBearerContextRequest):
            raise _violated(outer, "ESM message container", f"holds a {_name(esm)}, not an {name}")
        if not _FIRST_EPS_BEARER_IDENTITY <= esm.bearer_identity <= _LAST_EPS_BEARER_IDENTITY:
            raise _violated(name, "EPS bearer identity", f"{esm.bearer_identity} outside 5..15")
        if esm.procedure_transaction_identity != procedure.procedure_transaction_identity:
            raise _violated(
                name,
                "Procedure transaction identity",
                f"{esm.procedure_transaction_identity}, but the PDN Connectivity Request had "
                f"{procedure.procedure_transaction_identity}",
            )
        if esm.pdn_address.pdn_type != self._config.pdn_type or esm.pdn_address.ipv4 is None:
            raise _violated(
                name, "PDN address", f"PDN type {esm.pdn_address.pdn_type}, the UE asked for IPv4"
            )
        if esm.pdn_address.ipv4.is_unspecified:
            raise _violated(name, "PDN address", "0.0.0.0, and the UE asked for it in NAS")
        if esm.eps_qos.qci not in _NON_GBR_QCIS:
            raise _violated(name, "EPS QoS", f"QCI {esm.eps_qos.qci} is not a non-GBR QCI")
        requested = self._config.apn
        if requested is not None and esm.apn.lower() != requested.lower():
            raise _violated(
                name, "Access point name", f"{esm.apn!r}, the UE asked for {requested!r}"
            )
        pco = esm.protocol_configuration_options
        return DefaultBearer(
            bearer_identity=esm.bearer_identity,
            apn=esm.apn,
            ipv4=esm.pdn_address.ipv4,
            qos=esm.eps_qos,
            apn_ambr=esm.apn_ambr,
            dns_servers=pco.dns_servers() if pco else (),
        )

    def _check_tracking_area_update_accept(
        self, accept: TrackingAreaUpdateAccept, name: str
    ) -> None:
        if accept.update_result not in (_TA_UPDATED, _TA_UPDATED_AND_ISR_ACTIVATED):
            raise _violated(
                name, "EPS update result", f"{accept.update_result}, the UE asked for TA updating"
            )
        if accept.tai_list is not None:
            self._check_tai_list(accept.tai_list, name)
        elif self._tai not in self._tai_list:
            raise _violated(
                name, "TAI list", f"missing, and the UE's list lacks its TAI {_tai(self._tai)}"
            )
        if accept.guti is not None:
            self._check_guti(accept.guti, name)

    def _check_tai_list(self, tai_list: tuple[Tai, ...], name: str) -> None:
        if self._tai not in tai_list:
            listed = ", ".join(_tai(tai) for tai in tai_list)
            raise _violated(name, "TAI list", f"lacks the current TAI {_tai(self._tai)} ({listed})")

    def _check_guti(self, guti: Guti, name: str) -> None:
        if guti.plmn != self._config.plmn:
            raise _violated(
                name, "GUTI", f"PLMN {guti.plmn}, the serving PLMN is {self._config.plmn}"
            )

    # --- state and order ------------------------------------------------------------------------

    def _expect_procedure(self, kind: type[_Procedure], received: _Received) -> _Procedure:
        if isinstance(self._procedure, kind):
            return self._procedure
        raise self._unexpected(received)

    def _expect_common_procedure_allowed(self, received: _Received) -> None:
        """Common procedures run inside a UE procedure or while registered (TS 24.301 5.4)."""
        if self._procedure is None and not self.registered:
            raise self._unexpected(received)

    def _expect_registered(self, received: _Received) -> None:
        if not self.registered:
            raise self._unexpected(received)

    def _unexpected(self, received: _Received) -> _Violated:
        """TS 24.301 7.4: answered with EMM STATUS #98."""
        doing = f" during {self._procedure.NAME}" if self._procedure else ""
        return _violated(
            received.name,
            None,
            f"not expected in {self._state}{doing}",
            EmmStatus(emm_cause=EmmCause.MESSAGE_TYPE_NOT_COMPATIBLE_WITH_STATE),
        )

    def _dispatch(self, received: _Received, now: float) -> None:
        handler = _HANDLERS.get(type(received.message))
        if handler is None:
            raise _violated(
                received.name,
                None,
                "not handled by the simulated UE in any state",
                EmmStatus(emm_cause=EmmCause.MESSAGE_TYPE_NON_EXISTENT),
            )
        handler(self, received, now)

    def _straggler(self, pdu: bytes) -> str | None:
        """The name of a late message of the procedure that failed last, if `pdu` is one."""
        if self._failed is None:
            return None
        cls = self._class_of(pdu)
        return _name_of_class(cls) if cls in self._failed.DOWNLINK else None

    def _class_of(self, pdu: bytes) -> type | None:
        """What `pdu` holds, for naming it: deciphered with the current context's key, or with
        the keys of the last authentication when no context is in use yet."""
        keys: list[_CipheringKey] = []
        if self._current is not None:
            current = self._current
            keys.append(
                (current.ciphering_algorithm, current.encryption_key, current.downlink_count)
            )
        elif self._authenticated is not None:
            for algorithm in sorted(self._config.eea):
                key = derive_nas_keys(self._authenticated[1], algorithm, 0).encryption
                keys.append((algorithm, key, 0))
        return _class_of(pdu, keys)

    # --- the security layer of the downlink (TS 24.301 4.4) ---------------------------------------

    def _unwrap(self, pdu: bytes) -> _Received:
        """Verify, decipher and decode one downlink PDU, and hold it to the rules on how each
        message may arrive (4.4.4.2, 4.4.5, 9.3.1)."""
        if not self._connected:
            raise _violated(
                _name_of_class(self._class_of(pdu)),
                None,
                "downlink NAS while the UE is EMM-IDLE",
            )
        if len(pdu) < 2:
            raise _violated("NAS message", None, f"{len(pdu)} octets")
        header_type = pdu[0] >> 4 if pdu[0] & 0x0F == Sublayer.EMM else 0
        match header_type:
            case SecurityHeaderType.PLAIN:
                return self._unwrap_plain(pdu)
            case SecurityHeaderType.INTEGRITY_PROTECTED_WITH_NEW_CONTEXT:
                return self._unwrap_security_mode(pdu)
            case (
                SecurityHeaderType.INTEGRITY_PROTECTED
                | SecurityHeaderType.INTEGRITY_PROTECTED_AND_CIPHERED
            ):
                return self._unwrap_protected(pdu, header_type)
        raise _violated(
            _name_of_class(self._class_of(pdu)),
            "Security header type",
            f"{header_type}: never sent by the network (TS 24.301 9.3.1)",
        )

    def _unwrap_plain(self, pdu: bytes) -> _Received:
        message = _decode(pdu)
        name = _name(message)
        if self._secure_exchange:
            raise _violated(
                name,
                "Security header type",
                "plain, after secure exchange of NAS messages was established: discarded "
                "(TS 24.301 4.4.4.2)",
            )
        if not _processed_unprotected(message):
            raise _violated(
                name,
                "Security header type",
                "plain, and TS 24.301 4.4.4.2 lets the UE process only Identity Request (IMSI), "
                "Authentication Request/Reject, Attach/Tracking Area Update/Service Reject "
                "(not #25) and Detach Accept without integrity protection",
            )
        return _Received(message, name, SecurityHeaderType.PLAIN)

    def _unwrap_protected(self, pdu: bytes, header_type: int) -> _Received:
        name = _name_of_class(self._class_of(pdu))
        if self._current is None:
            raise _violated(
                name,
                "Security header type",
                "integrity protected, but no EPS security context is in use "
                "(no Security Mode Command yet)",
            )
        unprotected = _verify(self._current, pdu, name)
        self._current = unprotected.context
        message = _decode(unprotected.message)
        name = _name(message)
        if isinstance(message, SecurityModeCommand):
            raise _violated(
                name,
                "Security header type",
                f"{header_type}; a Security Mode Command uses 3, integrity protected with new "
                "EPS security context (TS 24.301 9.3.1)",
                _SECURITY_MODE_REJECTED,
            )
        if header_type == SecurityHeaderType.INTEGRITY_PROTECTED:
            raise _violated(
                name,
                "Security header type",
                "integrity protected but not ciphered; once NAS ciphering has started the "
                "receiver discards unciphered messages (TS 24.301 4.4.5)",
            )
        self._secure_exchange = True
        return _Received(message, name, header_type)

    def _unwrap_security_mode(self, pdu: bytes) -> _Received:
        """Header type 3: a Security Mode Command, checked against the context it names and
        verified with keys derived for the algorithms it selects (TS 24.301 5.4.3.3)."""
        if len(pdu) < 8:
            raise _violated("Security Mode Command", "NAS-MAC", f"{len(pdu)} octets, no room")
        command = _decode(pdu[6:])
        name = _name(command)
        if not isinstance(command, SecurityModeCommand):
            raise _violated(
                name, "Security header type", "3 is for the Security Mode Command only (9.3.1)"
            )
        candidate, fresh = self._security_mode_candidate(command, name)
        unprotected = _verify(
            candidate,
            pdu,
            name,
            _SECURITY_MODE_REJECTED,
        )
        if fresh and unprotected.count != 0:
            raise _violated(
                name,
                "Sequence number",
                f"NAS COUNT {unprotected.count}: a command taking a new KASME into use starts "
                "the downlink NAS COUNT at 0 (TS 24.301 5.4.3.2)",
                _SECURITY_MODE_REJECTED,
            )
        return _Received(
            command,
            name,
            SecurityHeaderType.INTEGRITY_PROTECTED_WITH_NEW_CONTEXT,
            unprotected.context,
        )

    def _security_mode_candidate(
        self, command: SecurityModeCommand, name: str
    ) -> tuple[NasSecurityContext, bool]:
        """The context a Security Mode Command asks for, and whether it takes a new KASME into
        use: the one of the last AKA (counts from 0) or the current one (counts kept)."""
        reject = _SECURITY_MODE_REJECTED
        ksi = command.key_set_identifier
        _check_key_set_identifier(ksi, name, reject)
        algorithms = command.selected_algorithms
        if algorithms.ciphering not in self._config.eea:
            raise _violated(
                name,
                "Selected NAS security algorithms",
                f"EEA{algorithms.ciphering} was not offered",
                reject,
            )
        if algorithms.integrity not in self._config.eia:
            raise _violated(
                name,
                "Selected NAS security algorithms",
                f"EIA{algorithms.integrity} was not offered",
                reject,
            )
        if algorithms.integrity == 0:
            raise _violated(
                name,
                "Selected NAS security algorithms",
                "EIA0 without an emergency bearer (TS 24.301 5.4.3.3)",
                reject,
            )
        if self._authenticated is not None and ksi.value == self._authenticated[0]:
            kasme, fresh = self._authenticated[1], True
        elif self._current is not None and ksi.value == self._current.key_set_identifier:
            kasme, fresh = self._current.kasme, False
        else:
            known = (
                "no authentication has run"
                if self._current is None and self._authenticated is None
                else "no such context"
            )
            raise _violated(name, "NAS key set identifier", f"KSI {ksi.value}: {known}", reject)
        candidate = NasSecurityContext.create(
            kasme=kasme,
            key_set_identifier=ksi.value,
            ciphering_algorithm=algorithms.ciphering,
            integrity_algorithm=algorithms.integrity,
        )
        if not fresh and self._current is not None:
            candidate = msgspec.structs.replace(
                candidate,
                uplink_count=self._current.uplink_count,
                downlink_count=self._current.downlink_count,
            )
        return candidate, fresh

    # --- the uplink ---------------------------------------------------------------------------

    def _send_initial(self, message: NasMessage, cause: RrcEstablishmentCause, now: float) -> None:
        """An initial NAS message (Attach, Tracking Area Update, Detach Request from idle):
        integrity protected but not ciphered when a current context exists, plain otherwise
        (TS 24.301 4.4.4.2, 4.4.5); it opens a connection when the UE has none."""
        octets = encode(message)
        if self._current is None:
            self._transmit(octets, _name(message), now, cause=cause)
            return
        protected = self._current.protect(
            octets, Direction.UPLINK, SecurityHeaderType.INTEGRITY_PROTECTED
        )
        self._current = protected.context
        self._transmit(protected.pdu, _name(message), now, cause=cause, count=protected.count)

    def _send(self, message: NasMessage, now: float) -> None:
        """A message on the open connection: ciphered once secure exchange is established, plain
        before."""
        self._send_octets(encode(message), _name(message), now)

    def _send_octets(self, octets: bytes, name: str, now: float) -> None:
        if self._secure_exchange and self._current is not None:
            protected = self._current.protect(octets, Direction.UPLINK)
            self._current = protected.context
            octets = protected.pdu
        self._transmit(octets, name, now)

    def _transmit(
        self,
        pdu: bytes,
        name: str,
        now: float,
        *,
        cause: RrcEstablishmentCause | None = None,
        count: int | None = None,
    ) -> None:
        """Hand a PDU to the eNB. From EMM-IDLE it opens the NAS signalling connection, and its
        uplink NAS COUNT (if protected) is the one KeNB is derived from (TS 33.401 A.3)."""
        self._record(now, "sent", name)
        if self._connected or cause is None:
            self._emit(SendUplinkNas(self.imsi, pdu))
            return
        self._connected = True
        self._secure_exchange = False
        if count is not None and self._current is not None:
            self._kenb = derive_kenb(self._current.kasme, count)
        self._emit(SendUplinkNas(self.imsi, pdu, cause, self.s_tmsi))

    # --- timers --------------------------------------------------------------------------------

    def _start_timer(self, timer: Timer, now: float) -> None:
        self._timers[timer] = now + TIMER_SECONDS[timer]

    def _stop_timer(self, timer: Timer) -> None:
        self._timers.pop(timer, None)

    def _stop_procedure_timers(self) -> None:
        for timer in (Timer.T3410, Timer.T3411, Timer.T3417, Timer.T3421, Timer.T3430):
            self._stop_timer(timer)

    def _next_due(self, now: float) -> Timer | None:
        due = [(at, timer) for timer, at in self._timers.items() if at <= now]
        return min(due)[1] if due else None

    def _on_timer(self, timer: Timer, now: float) -> None:
        match timer:
            case Timer.T3410:
                self._attempt_failed(now, "T3410 expired without Attach Accept")
            case Timer.T3430:
                self._attempt_failed(now, "T3430 expired without Tracking Area Update Accept")
            case Timer.T3411:
                self._retry(now)
            case Timer.T3421:
                self._detach_timer_expired(now)
            case Timer.T3417:
                self._release(now, "T3417: local release")
                self._emit(ReleaseConnection(self.imsi))
                self._fail(now, "T3417 expired: no radio bearers and no Service Reject")
            case Timer.T3420:
                violation = Violation(
                    "Authentication Request",
                    None,
                    "none came within T3420 after the UE's synch failure (TS 24.301 5.4.2.7 e)",
                )
                if self._connected:
                    self._release(now, "T3420: local release")
                    self._emit(ReleaseConnection(self.imsi))
                self._fail(now, str(violation), violation, name="authentication")

    # --- state changes, beginnings and ends -----------------------------------------------------

    def _enter(self, state: EmmState, now: float, why: str) -> None:
        """Every EMM state change goes through here and into the timeline."""
        if state != self._state:
            self._record(now, "state", f"{self._state} -> {state} ({why})")
            self._state = state

    def _begin(self, procedure: _Procedure) -> None:
        self._procedure = procedure
        self._failed = None
        self._authentication_failures = 0

    def _succeed(self, now: float) -> None:
        procedure = self._procedure
        assert procedure is not None
        self._stop_timer(procedure.TIMER)
        self._procedure = None
        success = EmmState.DEREGISTERED if isinstance(procedure, _Detach) else EmmState.REGISTERED
        self._enter(success, now, f"{procedure.NAME} done")
        self._emit(ProcedureSucceeded(self.imsi, procedure.NAME, now))

    def _fail(
        self,
        now: float,
        reason: str,
        violation: Violation | None = None,
        *,
        reject_cause: int | None = None,
        name: str = "nas",
    ) -> None:
        """End the UE-initiated procedure in progress (or, with none, report under the
        network procedure's `name`) as failed."""
        procedure = self._procedure
        if procedure is not None:
            self._stop_timer(procedure.TIMER)
            self._stop_timer(Timer.T3411)
            self._procedure = None
            self._failed = procedure
            fallback = procedure.FALLBACK if self._state != EmmState.DEREGISTERED else self._state
            self._enter(fallback, now, f"{procedure.NAME} failed")
            name = procedure.NAME
        self._emit(ProcedureFailed(self.imsi, name, now, reason, violation, reject_cause))

    def _refusal(self, *, allowed: tuple[EmmState, ...]) -> str | None:
        """Why a UE procedure cannot start now, if it cannot."""
        if self._procedure is not None:
            return f"busy with {self._procedure.NAME}"
        if self._state not in allowed:
            return f"not possible in {self._state}"
        return None

    def _refuse(self, kind: type[_Procedure], now: float, reason: str) -> list[Command]:
        """A UE procedure the state does not allow ends at once in ProcedureFailed."""
        self._emit(ProcedureFailed(self.imsi, kind.NAME, now, reason))
        return self._drain()

    def _release(self, now: float, why: str) -> None:
        """EMM-IDLE: the connection and what belongs to it (secure exchange, KeNB) are gone."""
        self._record(now, "state", f"EMM-CONNECTED -> EMM-IDLE ({why})")
        self._connected = False
        self._secure_exchange = False
        self._kenb = None
        self._failed = None
        self._stop_timer(Timer.T3420)  # authentication runs on one connection

    def _apply_reject_cause(self, cause: int, now: float) -> None:
        """TS 24.301 5.5.1.2.5, 5.5.3.2.5, 5.6.1.5: what a reject cause does to the UE."""
        if cause in _CAUSES_DELETING_REGISTRATION:
            self._forget_registration()
        if cause in _CAUSES_DEREGISTERING or isinstance(self._procedure, _Attach):
            self._drop_bearer()
            self._enter(EmmState.DEREGISTERED, now, f"reject cause #{cause}")

    def _forget_registration(self) -> None:
        """GUTI, TAI lists and every EPS security context go (TS 24.301 5.5.1.2.5 and others)."""
        self._guti = None
        self._tai_list = ()
        self._registered_tai = None
        self._current = None
        self._authenticated = None
        self._secure_exchange = False
        self._drop_bearer()

    def _drop_bearer(self) -> None:
        self._bearer = None

    # --- small helpers ------------------------------------------------------------------------

    def _key_set_identifier(self) -> NasKeySetIdentifier:
        if self._current is None:
            return NasKeySetIdentifier(_NO_KEY_AVAILABLE)
        return NasKeySetIdentifier(self._current.key_set_identifier)

    def _bearer_context_status(self) -> frozenset[int]:
        return frozenset({self._bearer.bearer_identity}) if self._bearer else frozenset()

    def _allocate_pti(self) -> int:
        """TS 24.007 11.2.3.1a: PTI 1..254, a new one per UE-requested ESM procedure."""
        self._last_pti = self._last_pti % _LAST_PTI + 1
        return self._last_pti

    def _record(self, now: float, kind: TimelineKind, text: str) -> None:
        self._timeline.append(TimelineEntry(now, kind, text))

    def _emit(self, command: Command) -> None:
        self._commands.append(command)

    def _drain(self) -> list[Command]:
        commands, self._commands = self._commands, []
        return commands


_HANDLERS = {
    AuthenticationRequest: Ue._on_authentication_request,
    AuthenticationReject: Ue._on_authentication_reject,
    SecurityModeCommand: Ue._on_security_mode_command,
    IdentityRequest: Ue._on_identity_request,
    AttachAccept: Ue._on_attach_accept,
    AttachReject: Ue._on_attach_reject,
    GutiReallocationCommand: Ue._on_guti_reallocation_command,
    EmmInformation: Ue._on_emm_information,
    NetworkDetachRequest: Ue._on_network_detach_request,
    DetachAccept: Ue._on_detach_accept,
    TrackingAreaUpdateAccept: Ue._on_tracking_area_update_accept,
    TrackingAreaUpdateReject: Ue._on_tracking_area_update_reject,
    ServiceReject: Ue._on_service_reject,
    EmmStatus: Ue._on_emm_status,
    EsmInformationRequest: Ue._on_esm_information_request,
}


# --- module helpers ------------------------------------------------------------------------------


def _algorithm_bits(algorithms: frozenset[int]) -> int:
    """TS 24.301 9.9.3.34 octets 3/4: bit 8 is algorithm 0, bit 7 algorithm 1, ..."""
    return sum(0x80 >> algorithm for algorithm in algorithms)


def _check_key_set_identifier(
    ksi: NasKeySetIdentifier, name: str, answer: NasMessage | None = None
) -> None:
    if ksi.value == _NO_KEY_AVAILABLE:
        raise _violated(name, "NAS key set identifier", '7, "no key is available"', answer)
    if ksi.mapped:
        raise _violated(name, "NAS key set identifier", "a mapped context, in E-UTRAN", answer)


def _processed_unprotected(message: NasMessage | ServiceReject) -> bool:
    """TS 24.301 4.4.4.2: the messages a UE processes without integrity protection before
    secure exchange of NAS messages is established."""
    match message:
        case IdentityRequest(identity_type=IdentityType.IMSI):
            return True
        case AuthenticationRequest() | AuthenticationReject() | DetachAccept():
            return True
        case AttachReject() | TrackingAreaUpdateReject() | ServiceReject():
            return message.emm_cause != _CAUSE_SEVERE_NETWORK_FAILURE
    return False


def _verify(
    context: NasSecurityContext, pdu: bytes, name: str, answer: NasMessage | None = None
) -> Unprotected:
    """Unprotect with `context`; every failure is a violation (TS 24.301 4.4.3.2, 4.4.4.3)."""
    try:
        return context.unprotect(pdu, Direction.DOWNLINK)
    except ReplayDetected as error:
        raise _violated(name, "Sequence number", f"replayed: {error}", answer) from None
    except IntegrityCheckFailed as error:
        reason = f"does not verify ({error})"
        last = context.downlink_count - 1
        if context.downlink_count and len(pdu) > 5 and pdu[5] < last & 0xFF:
            reason += (
                f"; sequence number {pdu[5]} went down from {last & 0xFF}, so it was taken as "
                "a NAS COUNT wrap (TS 24.301 4.4.3.1): an old COUNT reused?"
            )
        raise _violated(name, "NAS-MAC", reason, answer) from None
    except SecurityError as error:
        raise _violated(name, "Security header", str(error), answer) from None


def _decode(data: bytes) -> NasMessage | ServiceReject:
    """Decode a plain downlink message; a decoding error is a violation answered with EMM
    STATUS carrying its cause (TS 24.301 7.5, 7.6)."""
    if len(data) >= 2 and data[0] == Sublayer.EMM and data[1] == _SERVICE_REJECT:
        if len(data) < 3:
            raise _violated(
                "Service Reject",
                "EMM cause",
                "missing",
                EmmStatus(emm_cause=EmmCause.INVALID_MANDATORY_INFORMATION),
            )
        return ServiceReject(data[2])
    try:
        message = decode(data, uplink=False)
    except NasDecodeError as error:
        message_name, ie = _locate_missing_ie(data) or (_name_of_class(_plain_class(data)), None)
        answer = EmmStatus(emm_cause=error.emm_cause) if error.emm_cause is not None else None
        raise _violated(message_name, ie, f"{error} (cause #{error.cause})", answer) from None
    if isinstance(message, ProtectedNas | ServiceRequest):
        raise _violated("NAS message", "Security header type", "security protected twice")
    return message


def _locate_missing_ie(data: bytes) -> tuple[str, str] | None:
    """The (message, IE) of the first mandatory IE that `data` lacks or cuts short, found by
    walking the message's TS 24.301 table (into an ESM message container): the codec's error
    names the message, not always the IE."""
    try:
        cls = _plain_class(data)
    except NasDecodeError:
        return None
    if cls is None:
        return None
    offset = 3 if data[0] & 0x0F == Sublayer.ESM else 2
    second_half = False
    for ie in cls.LAYOUT:
        if ie.form in OPTIONAL_FORMS:
            break
        if ie.form is Form.HALF:
            if not second_half and offset >= len(data):
                return _name_of_class(cls), _ie_name(ie)
            offset += 1 if second_half else 0
            second_half = not second_half
            continue
        value, offset = _mandatory_value(data, offset, ie)
        if value is None:
            return _name_of_class(cls), _ie_name(ie)
        if ie.kind is Kind.ESM_MESSAGE and (inner := _locate_missing_ie(value)) is not None:
            return inner
    return None


def _mandatory_value(data: bytes, offset: int, ie: Ie) -> tuple[bytes | None, int]:
    """The value part of a V, LV or LV-E IE at `offset`, or None if the data runs out."""
    length_octets = {Form.V: 0, Form.LV: 1, Form.LV_E: 2}[ie.form]
    if offset + length_octets > len(data):
        return None, offset
    length = (
        ie.length if ie.form is Form.V else int.from_bytes(data[offset : offset + length_octets])
    )
    start = offset + length_octets
    if start + length > len(data) or (
        ie.form is not Form.V and length == 0 and ie.kind is not Kind.BYTES
    ):
        return None, offset
    return data[start : start + length], start + length


def _plain_class(data: bytes) -> type | None:
    if len(data) < 2:
        return None
    if data[0] & 0x0F == Sublayer.ESM:
        return esm_message_class(data)
    if data[0] != Sublayer.EMM:
        return None
    if data[1] == _SERVICE_REJECT:
        return ServiceReject
    return message_class(Sublayer.EMM, data[1], uplink=False)


def _class_of(pdu: bytes, keys: list[_CipheringKey]) -> type | None:
    """Best effort: the class of the plain message in `pdu`, deciphering it (without checking
    its MAC) with each key the UE could be meant to use, at the NAS COUNT it would estimate or,
    failing that, without a wrap (a reused COUNT). Used only to name messages in reports."""
    try:
        if not pdu or pdu[0] & 0x0F != Sublayer.EMM or pdu[0] >> 4 == 0:
            return _plain_class(pdu)
        if pdu[0] >> 4 not in (2, 4):
            return _plain_class(pdu[6:])
        for algorithm, key, next_count in keys:
            estimate = _estimated_count(next_count, pdu[5])
            for count in dict.fromkeys((estimate, estimate & ~0xFF, estimate - 0x100)):
                if count < 0:
                    continue
                inner = cipher(algorithm, key, count, 0, Direction.DOWNLINK, pdu[6:])
                if (cls := _plain_class(inner)) is not None:
                    return cls
    except (IndexError, ValueError, NasDecodeError, SecurityError):
        pass
    return None


def _estimated_count(next_count: int, sequence_number: int) -> int:
    """TS 24.301 4.4.3.1, as `NasSecurityContext.unprotect` estimates it."""
    if next_count == 0:
        return sequence_number
    last = next_count - 1
    estimate = (last & ~0xFF) | sequence_number
    return estimate + 0x100 if sequence_number < last & 0xFF else estimate


_MESSAGE_NAMES: dict[type, str] = {
    NetworkDetachRequest: "Detach Request",
    GutiReallocationCommand: "GUTI Reallocation Command",
    GutiReallocationComplete: "GUTI Reallocation Complete",
    EmmInformation: "EMM Information",
    EmmStatus: "EMM Status",
    ActivateDefaultEpsBearerContextRequest: "Activate Default EPS Bearer Context Request",
    ActivateDefaultEpsBearerContextAccept: "Activate Default EPS Bearer Context Accept",
    PdnConnectivityRequest: "PDN Connectivity Request",
    EsmInformationRequest: "ESM Information Request",
}


def _name_of_class(cls: type | None) -> str:
    """The TS 24.301 name of a message class ("Security Mode Command")."""
    if cls is None:
        return "NAS message"
    if cls in _MESSAGE_NAMES:
        return _MESSAGE_NAMES[cls]
    words: list[str] = []
    for character in cls.__name__:
        if character.isupper() and words:
            words.append(" ")
        words.append(character)
    return "".join(words).replace("Eps ", "EPS ").replace("Esm ", "ESM ").replace("Pdn ", "PDN ")


def _name(message: object) -> str:
    return _name_of_class(type(message))


_IE_NAMES = {
    "key_set_identifier": "NAS key set identifier",
    "rand": "Authentication parameter RAND",
    "autn": "Authentication parameter AUTN",
    "selected_algorithms": "Selected NAS security algorithms",
    "replayed_security_capabilities": "Replayed UE security capabilities",
    "attach_result": "EPS attach result",
    "t3412": "T3412 value",
    "tai_list": "TAI list",
    "esm_message": "ESM message container",
    "guti": "GUTI",
    "eps_qos": "EPS QoS",
    "apn": "Access point name",
    "pdn_address": "PDN address",
    "emm_cause": "EMM cause",
    "esm_cause": "ESM cause",
    "identity_type": "Identity type",
    "detach_type": "Detach type",
    "update_result": "EPS update result",
}


def _ie_name(ie: Ie) -> str:
    return _IE_NAMES.get(ie.field or "", ie.field or ie.pycrate or "spare")


def _tai(tai: Tai) -> str:
    return f"{tai.plmn}/{tai.tac}"
