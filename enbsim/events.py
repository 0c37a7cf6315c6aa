"""What the UE core (`enbsim.ue`) and the eNB core (`enbsim.enb`) say to each other and to
whoever drives them: frozen dataclasses, imperative names for what to do, past tense for what
happened (STYLE.md 5).

A UE never sees S1AP and the eNB never parses NAS beyond carrying it: the UE hands the eNB NAS
PDUs to send (`SendUplinkNas`), the eNB hands the UE the NAS PDUs it received and tells it about
the radio side (connection released, paged). Both report how each procedure ended.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class RrcEstablishmentCause(StrEnum):
    """TS 36.413 9.2.1.3a, the ASN.1 names of RRC-Establishment-Cause (as the S1AP codec
    takes them). TS 24.301 Annex D maps NAS procedures to these."""

    EMERGENCY = "emergency"
    HIGH_PRIORITY_ACCESS = "highPriorityAccess"
    MT_ACCESS = "mt-Access"
    MO_SIGNALLING = "mo-Signalling"
    MO_DATA = "mo-Data"


@dataclass(frozen=True, slots=True)
class SendUplinkNas:
    """Send this NAS PDU to the core. With an `establishment_cause` the UE has no NAS signalling
    connection yet: the eNB opens one (Initial UE Message carrying that cause and, when the UE
    holds a GUTI, its S-TMSI); without, it goes in an Uplink NAS Transport."""

    imsi: str
    nas_pdu: bytes
    establishment_cause: RrcEstablishmentCause | None = None
    s_tmsi: tuple[int, int] | None = None
    """(MME code, M-TMSI) of the UE's GUTI, for the Initial UE Message."""


@dataclass(frozen=True, slots=True)
class ReleaseConnection:
    """The UE left connected mode on its own (after a switch-off Detach): the eNB drops the
    UE's S1 connection without waiting for the core."""

    imsi: str


@dataclass(frozen=True, slots=True)
class Violation:
    """What the core did wrong: the message (its TS name), the IE (or None for the message as a
    whole) and why, e.g. ("Security Mode Command", "NAS-MAC", "does not verify")."""

    message: str
    ie: str | None
    reason: str

    def __str__(self) -> str:
        where = f"{self.message}: {self.ie}" if self.ie else self.message
        return f"{where}: {self.reason}"


@dataclass(frozen=True, slots=True)
class ProcedureSucceeded:
    """A UE procedure (e.g. "attach", "detach", "service_request", "tau") ended as the
    standard says it should."""

    imsi: str
    procedure: str
    at: float


@dataclass(frozen=True, slots=True)
class ProcedureFailed:
    """A UE procedure did not complete. `violation` is set when the core broke a rule;
    `reject_cause` when the core rejected it with a NAS cause (an EMM/ESM cause value);
    otherwise `reason` says what happened (e.g. a timer ran out)."""

    imsi: str
    procedure: str
    at: float
    reason: str
    violation: Violation | None = None
    reject_cause: int | None = None


# --- UE: what only the UE core reports (appended by whoever writes enbsim/ue.py) -------------


@dataclass(frozen=True, slots=True)
class NetworkDetached:
    """The core detached the UE (TS 24.301 5.5.2.3) and the UE answered with Detach Accept; it
    is EMM-DEREGISTERED. `reattach_required` when the detach type asks it to attach again (the
    driver decides whether to); `emm_cause` as the core gave it."""

    imsi: str
    at: float
    reattach_required: bool
    emm_cause: int | None = None


# --- eNB: what only the eNB core reports (appended by whoever writes enbsim/enb.py) ----------


@dataclass(frozen=True, slots=True)
class SendS1ap:
    """Send this S1AP PDU to the core on this SCTP stream (0: non-UE-associated signalling,
    TS 36.412 7; a UE's connection keeps one other stream)."""

    pdu: bytes
    stream: int


@dataclass(frozen=True, slots=True)
class S1SetupCompleted:
    """The MME accepted the eNB (S1 Setup Response, TS 36.413 8.7.3.2). `served_gummeis`
    holds `epc.codec.s1ap_messages.ServedGummei`s."""

    mme_name: str | None
    served_gummeis: tuple
    relative_mme_capacity: int
    at: float


@dataclass(frozen=True, slots=True)
class S1SetupFailed:
    """The MME refused the eNB (S1 Setup Failure, TS 36.413 8.7.3.3). `cause` is an
    `epc.codec.s1ap_messages.Cause`. With a Time to wait the eNB sends the request again at
    `retry_at` on its own (through `handle_timer`); without, it gives up."""

    cause: object
    time_to_wait: int | None
    retry_at: float | None
    at: float


@dataclass(frozen=True, slots=True)
class BearerEstablished:
    """An E-RAB is up (Initial Context Setup or E-RAB Setup): uplink G-PDUs of the UE go to
    the SGW's tunnel (`sgw_address`, `sgw_teid`), downlink ones arrive on `enb_teid`."""

    imsi: str
    e_rab_id: int
    sgw_address: str
    sgw_teid: int
    enb_teid: int


@dataclass(frozen=True, slots=True)
class BearerModified:
    """An E-RAB Modify moved the bearer's uplink to another SGW tunnel (FERRET's move to the
    edge); the eNB's own TEID is unchanged."""

    imsi: str
    e_rab_id: int
    sgw_address: str
    sgw_teid: int
    enb_teid: int


@dataclass(frozen=True, slots=True)
class BearerReleased:
    """An E-RAB is gone: E-RAB Release, UE context release (by the MME, a Reset or locally)."""

    imsi: str
    e_rab_id: int
    enb_teid: int


@dataclass(frozen=True, slots=True)
class S1apViolationDetected:
    """The core broke a rule in a message that concerns no UE of this eNB: a non-UE-associated
    message, an unknown eNB-UE-S1AP-ID, an answer to nothing asked. (A violation that concerns
    a UE fails that UE's procedure instead, as a `ProcedureFailed`.)"""

    violation: Violation
    at: float
    enb_ue_s1ap_id: int | None = None
    mme_ue_s1ap_id: int | None = None


@dataclass(frozen=True, slots=True)
class ConnectionsReset:
    """The MME reset the S1 interface (Reset, TS 36.413 8.7.1.2.1): these UEs lost their S1
    connection. `cause` is an `epc.codec.s1ap_messages.Cause`."""

    cause: object
    imsis: tuple[str, ...]
    at: float


@dataclass(frozen=True, slots=True)
class MessageLogged:
    """One line of the per-message timeline: an S1AP message the eNB sent ("uplink") or
    received ("downlink"), its TS 36.413 name, and the name of the NAS message inside when it
    can be read without keys ("protected" when it cannot)."""

    at: float
    direction: str
    message: str
    stream: int
    imsi: str | None = None
    enb_ue_s1ap_id: int | None = None
    mme_ue_s1ap_id: int | None = None
    nas: str | None = None


@dataclass(frozen=True, slots=True)
class TunnelErrorReported:
    """A GTP-U Error Indication (TS 29.281 7.3.1) arrived: the peer at `peer_address` knows no
    tunnel `teid`, one of this eNB's uplink tunnels (`imsi` and `e_rab_id` when still known)."""

    teid: int
    peer_address: str
    imsi: str | None
    e_rab_id: int | None
    at: float
