"""What the MME keeps per UE and per eNB in the store, and where.

Store layout (all under `/<deployment>`; the SGW/PGW keep theirs under `sgw/` and `pgw/`):

    ue/<imsi>                         the UE context: an Algorithm 1 Record[UeContext]
    ue/pending-<enb>-<agent UE ID>    a provisional context, before the IMSI is known
    index/s1ap/<mme_ue_s1ap_id>       -> context key (epc.mme.identifiers)
    index/guti/<m_tmsi hex>           -> context key (epc.mme.identifiers)
    index/agent/<enb>/<agent UE ID>   -> context key: the agent's UE (one S1 connection of one
                                         eNB) a TIMER_FIRED names, and the connections a Reset
                                         of that eNB releases
    index/mme-s11/<teid hex>          -> context key: this UE's MME S11 TEID
    mme/lane/<lane>/<imsi>            Algorithm 1 record of the SGW's requests for the UE
                                         ("paging", "bearer"): they are numbered by the
                                         gateways' clocks (epc.mme.gateway_requests)
    s1/<enb>                          Algorithm 1 Record[EnbLink]: the eNB behind one agent
    enb/<global eNB ID>               EnbRecord (plain msgpack): its TAIs and agent, for paging

`<enb>` is the agent's eNB identity (its HELLO), percent-encoded so any printable identity is
one path segment. A context key is the IMSI, or the provisional key before it.

Every index entry commits in the multi-op that writes the context naming it, so a lookup
finds a context that records the identifier, or nothing (then the identifier is free).

Provisional contexts: an Attach Request with a GUTI this MME does not know (another MME's, or
one whose context is gone) names no IMSI until the Identity Response. Its context lives at a
key made of the agent's eNB identity and the agent's UE ID, which is unique per S1
connection (the agent's UE IDs come from its hybrid logical clock), so a retried request of
that connection finds it and another connection never does. When the Identity Response gives
the IMSI, one multi-op moves it: the provisional record is left with no state (it keeps the
recorded reply, so a retry of the Identity Response is still answered from it), the IMSI's
record is created or updated from it, and the S1AP and agent index entries are re-pointed
(Delete + Create) to the IMSI. The empty provisional record is deleted with the S1 connection.
"""

from __future__ import annotations

import enum
from urllib.parse import quote

import msgspec

from epc.security.context import NasSecurityContext

PROVISIONAL_PREFIX = "pending-"


class EmmState(enum.StrEnum):
    """TS 24.301 5.1.3.4, the MME's EMM main states."""

    DEREGISTERED = "EMM-DEREGISTERED"
    COMMON_PROCEDURE_INITIATED = "EMM-COMMON-PROCEDURE-INITIATED"
    REGISTERED = "EMM-REGISTERED"
    DEREGISTERED_INITIATED = "EMM-DEREGISTERED-INITIATED"


class EcmState(enum.StrEnum):
    """TS 23.401 4.6.3: whether the UE has an S1 connection."""

    IDLE = "ECM-IDLE"
    CONNECTED = "ECM-CONNECTED"


class Procedure(enum.StrEnum):
    """The EMM specific or common procedure the MME waits on (TS 24.301 5.4, 5.5)."""

    ATTACH = "attach"
    TRACKING_AREA_UPDATE = "tau"
    SERVICE_REQUEST = "service_request"
    DETACH = "detach"
    GUTI_REALLOCATION = "guti_reallocation"
    IDENTIFICATION = "identification"
    """The common procedure on its own, outside an attach (TS 24.301 5.4.4)."""


class Step(enum.StrEnum):
    """Where the procedure in progress stands: what the MME waits for."""

    IDENTITY = "identity"
    """Identity Request sent, T3470 running."""
    AUTHENTICATION = "authentication"
    """Authentication Request sent, T3460 running."""
    SECURITY_MODE = "security_mode"
    """Security Mode Command sent, T3460 running."""
    ACCEPTED = "accepted"
    """Attach/TAU Accept or GUTI Reallocation Command sent, T3450 running."""
    CONTEXT_SETUP = "context_setup"
    """Initial Context Setup Request sent (service request, TAU with the active flag)."""


class TimerName(enum.StrEnum):
    """The agent runs these for the MME (docs/decisions.md, MME); each has a number on the
    ECHO wire."""

    T3450 = "T3450"
    T3460 = "T3460"
    T3470 = "T3470"
    MOBILE_REACHABLE = "mobile_reachable"
    IMPLICIT_DETACH = "implicit_detach"


TIMER_WIRE_IDS: dict[TimerName, int] = {
    TimerName.T3450: 3450,
    TimerName.T3460: 3460,
    TimerName.T3470: 3470,
    TimerName.MOBILE_REACHABLE: 1,
    TimerName.IMPLICIT_DETACH: 2,
}
TIMER_BY_WIRE_ID = {number: name for name, number in TIMER_WIRE_IDS.items()}


class Tai(msgspec.Struct, frozen=True):
    plmn: str
    """MCC+MNC digits."""
    tac: int


class AgentUe(msgspec.Struct, frozen=True):
    """One S1 connection as the agent names it: its eNB identity and UE ID."""

    enb: str
    ue_id: int


class S1Connection(msgspec.Struct, frozen=True, kw_only=True):
    """The UE's S1 connection (ECM-CONNECTED), TS 36.413 UE-associated logical connection."""

    agent: AgentUe
    enb_ue_s1ap_id: int
    mme_ue_s1ap_id: int
    tai: Tai
    cell_id: int
    stream: int = 1
    secure: bool = False
    """Secure exchange of NAS messages is established on this connection (TS 24.301
    4.4.4.2): downlink NAS goes protected, plain uplink is accepted only as 4.4.4.3 lists."""
    context_setup: bool = False
    """The eNB holds a UE context (Initial Context Setup Response received)."""


class Subscription(msgspec.Struct, frozen=True, kw_only=True):
    """What the MME took from the subscriber record when it authenticated the UE."""

    apn: str
    qci: int
    ambr_ul_kbps: int
    ambr_dl_kbps: int


class PendingAuthentication(msgspec.Struct, frozen=True, kw_only=True):
    """An EPS AKA run in progress (TS 33.401 6.1): the vector, the KASME it yields."""

    rand: bytes
    autn: bytes
    xres: bytes
    kasme: bytes
    key_set_identifier: int
    resynchronised: bool = False
    """An AUTS was used already in this run; a second synch failure ends it."""


class PdnRequest(msgspec.Struct, frozen=True, kw_only=True):
    """The PDN Connectivity Request of an attach (TS 24.301 6.5.1), kept until the bearer."""

    procedure_transaction_identity: int
    pdn_type: int
    apn: str | None = None
    pco: bytes | None = None
    """The UE's PCO value part, as received."""


class Fteid(msgspec.Struct, frozen=True):
    """A GTP tunnel endpoint: IPv4 address and TEID."""

    address: str
    teid: int


class PdnConnection(msgspec.Struct, frozen=True, kw_only=True):
    """The UE's PDN connection and its default bearer (one per UE here)."""

    apn: str
    ebi: int
    qci: int
    ue_ipv4: str
    sgw_s11: Fteid
    """The SGW's S11 F-TEID: the TEID S11 requests about this UE go to."""
    sgw_s1u: Fteid
    enb_s1u: Fteid | None = None
    """The eNB's S1-U F-TEID; None while the UE is idle (access bearers released)."""
    apn_ambr_ul_kbps: int = 0
    apn_ambr_dl_kbps: int = 0
    pco: bytes | None = None
    """The PCO given to the UE (DNS)."""


class NasRetransmission(msgspec.Struct, frozen=True, kw_only=True):
    """A downlink NAS message sent under a retransmission timer: the plain message (protected
    afresh, with a new NAS COUNT, each time) and how often it went again."""

    timer: TimerName
    nas: bytes
    sent: int = 1
    new_context: bool = False
    """A Security Mode Command: protected with the new context, header type 3."""


class Paging(msgspec.Struct, frozen=True, kw_only=True):
    """Paging under way for a Downlink Data Notification (TS 23.401 5.3.4.3)."""

    request_id: tuple[int, ...]
    """The notification's request ID in the "paging" lane; each T3413 expiry runs as this ID
    with the attempt appended, so a retried expiry is answered from its record."""
    ebi: int
    attempts: int = 1
    """Paging messages sent so far."""


class PendingAttach(msgspec.Struct, frozen=True, kw_only=True):
    """What an Attach Request asked for, kept through identification and authentication."""

    ue_network_capability: bytes
    pdn: PdnRequest
    by_guti: bool = False
    complete: bool = False
    """Attach Complete received."""


class UeContext(msgspec.Struct, kw_only=True):
    """One UE's MME context: a few hundred octets as MessagePack."""

    imsi: str | None = None
    """None in a provisional context, before the Identity Response."""
    emm: EmmState = EmmState.DEREGISTERED
    ecm: EcmState = EcmState.IDLE
    connection: S1Connection | None = None
    m_tmsi: int | None = None
    """The M-TMSI of the GUTI the UE holds (or is given)."""
    old_m_tmsi: int | None = None
    """A previous M-TMSI kept until the UE confirms the new GUTI (TS 24.301 5.4.1)."""
    mme_s11_teid: int | None = None
    ue_network_capability: bytes = b""
    tai: Tai | None = None
    """The last TAI the UE was seen in."""
    subscription: Subscription | None = None
    authentication: PendingAuthentication | None = None
    security: NasSecurityContext | None = None
    """The current EPS security context."""
    new_security: NasSecurityContext | None = None
    """The context a Security Mode Command in progress takes into use."""
    next_key_set_identifier: int = 0
    pdn: PdnConnection | None = None
    procedure: Procedure | None = None
    step: Step | None = None
    attach: PendingAttach | None = None
    retransmission: NasRetransmission | None = None
    timers: dict[str, AgentUe] = {}
    """Live timers by `TimerName`, and the agent UE each runs on. A TIMER_FIRED that does
    not match is stale (superseded) and ignored: the agent cancels timers only on the
    connection of the request in flight."""
    agent_index: tuple[AgentUe, ...] = ()
    """Agent UEs whose index entry names this context."""
    provisional_key: str | None = None
    """The provisional record this context came from, deleted with the connection."""
    paging: Paging | None = None
    """Paging for the SGW's Downlink Data Notification, until the UE connects or T3413 ends
    it."""
    imeisv: str | None = None
    """The equipment identity the UE gave in an Identity Response (`mme.request_imeisv`)."""
    service_requests_since_guti: int = 0
    """Service Requests accepted since the UE got its GUTI: the GUTI reallocation trigger."""


class GlobalEnbId(msgspec.Struct, frozen=True):
    plmn: str
    enb_id: int
    id_type: str

    @property
    def key(self) -> str:
        """The store key: PLMN digits and the eNB ID in hex, "00101-19b"."""
        return f"{self.plmn}-{self.enb_id:x}"


class EnbLink(msgspec.Struct, kw_only=True):
    """The eNB behind one agent, as its S1 Setup told it (TS 36.413 8.7.3)."""

    agent: str
    global_enb_id: GlobalEnbId | None = None
    name: str | None = None
    tais: tuple[Tai, ...] = ()
    paging_drx: int | None = None
    setup: bool = False


class EnbRecord(msgspec.Struct, frozen=True, kw_only=True):
    """What paging needs of an eNB: where to reach it and the TAIs it serves."""

    agent: str
    tais: tuple[Tai, ...]
    name: str | None = None


# --- paths ----------------------------------------------------------------------------------


def enb_segment(enb: str) -> str:
    """An agent's eNB identity as one path segment."""
    return quote(enb, safe="")


def ue_path(deployment: str, key: str) -> str:
    return f"/{deployment}/ue/{key}"


def provisional_key(agent: AgentUe) -> str:
    return f"{PROVISIONAL_PREFIX}{enb_segment(agent.enb)}-{agent.ue_id}"


def is_provisional(key: str) -> bool:
    return key.startswith(PROVISIONAL_PREFIX)


def agent_index_parent(deployment: str, enb: str) -> str:
    return f"/{deployment}/index/agent/{enb_segment(enb)}"


def agent_index_path(deployment: str, agent: AgentUe) -> str:
    return f"{agent_index_parent(deployment, agent.enb)}/{agent.ue_id}"


def mme_s11_index_path(deployment: str, teid: int) -> str:
    return f"/{deployment}/index/mme-s11/{teid:08x}"


def lane_path(deployment: str, lane: str, imsi: str) -> str:
    """The Algorithm 1 record of one lane of gateway-initiated requests for a UE."""
    return f"/{deployment}/mme/lane/{lane}/{imsi}"


def link_path(deployment: str, enb: str) -> str:
    return f"/{deployment}/s1/{enb_segment(enb)}"


def enb_path(deployment: str, global_enb_id: GlobalEnbId) -> str:
    return f"/{deployment}/enb/{global_enb_id.key}"


UE_CONTEXT_ENCODER = msgspec.msgpack.Encoder()
ENB_RECORD_DECODER = msgspec.msgpack.Decoder(EnbRecord)
