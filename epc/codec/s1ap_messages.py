"""The typed face of S1AP (TS 36.413): every message the core and a simulated eNB exchange, and
the values they carry, as small frozen dataclasses. `epc.codec.s1ap` turns them into APER bytes
and back; nothing here knows about ASN.1 or pycrate.

Terms, explained once and then used as field names:

- eNB: the LTE base station; MME: the mobility management entity; S1AP: the application
  protocol between them; an IE is one information element of a message (TS 36.413 9.2).
- UE-S1AP-IDs: the two IDs of a UE's S1 connection, `enb_ue_s1ap_id` (24 bits, chosen by the
  eNB) and `mme_ue_s1ap_id` (32 bits, chosen by the MME).
- E-RAB: the E-UTRAN radio access bearer of one EPS bearer, `e_rab_id` (the EPS bearer ID,
  0..15). Its user plane is a GTP-U tunnel: a `transport_address` (IPv4 or IPv6 text) and a
  `gtp_teid` (tunnel endpoint identifier, 32 bits).
- PLMN: public land mobile network (MCC + MNC); TAI: tracking area identity (PLMN + 16-bit
  TAC, tracking area code); ECGI: E-UTRAN cell global identity (PLMN + 28-bit cell identity);
  S-TMSI: the UE's short temporary identity (MME code + M-TMSI); GUMMEI: globally unique MME
  identity (PLMN + MME group ID + MME code).
- QCI: QoS class identifier; ARP: allocation and retention priority; GBR: guaranteed bit rate.
- KeNB: the 256-bit key the eNB derives its access stratum keys from (`security_key`); NH and
  NCC: the next-hop key and its chaining count, handed over on path switch and handover.

Enumerated values (causes, handover type, RRC establishment cause, ...) are the ASN.1 names of
TS 36.413 section 9.3, as strings: `Cause("protocol", "transfer-syntax-error")`.
A list IE that may be absent is an empty tuple when absent.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

# --- enumerations shared by the messages and the error -------------------------------------


class PduType(StrEnum):
    """The three kinds of S1AP message (TS 36.413 9.3.3, S1AP-PDU)."""

    INITIATING_MESSAGE = "initiatingMessage"
    SUCCESSFUL_OUTCOME = "successfulOutcome"
    UNSUCCESSFUL_OUTCOME = "unsuccessfulOutcome"


class Criticality(StrEnum):
    """What a receiver that does not comprehend a procedure or IE does (TS 36.413 10.3.4)."""

    REJECT = "reject"
    IGNORE = "ignore"
    NOTIFY = "notify"


class CauseGroup(StrEnum):
    """The alternatives of the Cause IE (TS 36.413 9.2.1.3)."""

    RADIO_NETWORK = "radioNetwork"
    TRANSPORT = "transport"
    NAS = "nas"
    PROTOCOL = "protocol"
    MISC = "misc"


class ProtocolCause(StrEnum):
    """The cause values of group "protocol" (TS 36.413 9.2.1.3), the answer to bad input."""

    TRANSFER_SYNTAX_ERROR = "transfer-syntax-error"
    ABSTRACT_SYNTAX_ERROR_REJECT = "abstract-syntax-error-reject"
    ABSTRACT_SYNTAX_ERROR_IGNORE_AND_NOTIFY = "abstract-syntax-error-ignore-and-notify"
    MESSAGE_NOT_COMPATIBLE_WITH_RECEIVER_STATE = "message-not-compatible-with-receiver-state"
    SEMANTIC_ERROR = "semantic-error"
    ABSTRACT_SYNTAX_ERROR_FALSELY_CONSTRUCTED_MESSAGE = (
        "abstract-syntax-error-falsely-constructed-message"
    )
    UNSPECIFIED = "unspecified"


class EnbIdType(StrEnum):
    """The alternatives of the eNB ID (TS 36.413 9.2.1.37): macro 20 bits, home 28 bits,
    short macro 18 bits, long macro 21 bits."""

    MACRO = "macroENB-ID"
    HOME = "homeENB-ID"
    SHORT_MACRO = "short-macroENB-ID"
    LONG_MACRO = "long-macroENB-ID"


# --- identities ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PlmnIdentity:
    """MCC and MNC as digit strings ("001", "01"); three TBCD octets on the wire."""

    mcc: str
    mnc: str

    def __post_init__(self) -> None:
        if len(self.mcc) != 3 or not self.mcc.isdigit():
            raise ValueError(f"MCC must be 3 digits, got {self.mcc!r}")
        if len(self.mnc) not in (2, 3) or not self.mnc.isdigit():
            raise ValueError(f"MNC must be 2 or 3 digits, got {self.mnc!r}")

    def to_bytes(self) -> bytes:
        """TS 24.008 10.5.1.3: MCC2 MCC1 | MNC3 MCC3 | MNC2 MNC1, MNC3 = 0xF for 2 digits."""
        mcc = [int(digit) for digit in self.mcc]
        mnc = [int(digit) for digit in self.mnc]
        mnc_third = mnc[2] if len(mnc) == 3 else 0xF
        return bytes(
            (mcc[1] << 4 | mcc[0], mnc_third << 4 | mcc[2], mnc[1] << 4 | mnc[0]),
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> PlmnIdentity:
        if len(data) != 3:
            raise ValueError(f"a PLMN identity is 3 octets, got {len(data)}")
        nibbles = [(octet >> shift) & 0xF for octet in data for shift in (0, 4)]
        mcc1, mcc2, mcc3, mnc3, mnc1, mnc2 = nibbles
        digits = (mcc1, mcc2, mcc3, mnc1, mnc2) if mnc3 == 0xF else tuple(nibbles)
        if any(digit > 9 for digit in digits):
            raise ValueError(f"not a TBCD PLMN identity: {data.hex()}")
        mnc = f"{mnc1}{mnc2}" if mnc3 == 0xF else f"{mnc1}{mnc2}{mnc3}"
        return cls(f"{mcc1}{mcc2}{mcc3}", mnc)


@dataclass(frozen=True, slots=True)
class Tai:
    plmn: PlmnIdentity
    tac: int


@dataclass(frozen=True, slots=True)
class Ecgi:
    plmn: PlmnIdentity
    cell_id: int
    """28 bits: the eNB ID (20 bits for a macro eNB) followed by the cell within it."""


@dataclass(frozen=True, slots=True)
class GlobalEnbId:
    plmn: PlmnIdentity
    enb_id: int
    enb_id_type: EnbIdType = EnbIdType.MACRO


@dataclass(frozen=True, slots=True)
class STmsi:
    mme_code: int
    m_tmsi: int


@dataclass(frozen=True, slots=True)
class Gummei:
    plmn: PlmnIdentity
    mme_group_id: int
    mme_code: int


@dataclass(frozen=True, slots=True)
class Cause:
    """A cause IE: group (a `CauseGroup` value) and the ASN.1 name of the value in it."""

    group: str
    value: str


@dataclass(frozen=True, slots=True)
class CriticalityDiagnosticsIe:
    criticality: Criticality
    ie_id: int
    type_of_error: str
    """"not-understood" or "missing"."""


@dataclass(frozen=True, slots=True)
class CriticalityDiagnostics:
    """Which procedure and IEs an Error Indication or failure complains about (9.2.1.21)."""

    procedure_code: int | None = None
    triggering_message: PduType | None = None
    procedure_criticality: Criticality | None = None
    ies: tuple[CriticalityDiagnosticsIe, ...] = ()


# --- setup and configuration values --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SupportedTa:
    tac: int
    broadcast_plmns: tuple[PlmnIdentity, ...]


@dataclass(frozen=True, slots=True)
class ServedGummei:
    plmns: tuple[PlmnIdentity, ...]
    mme_group_ids: tuple[int, ...]
    mme_codes: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class UeAssociatedConnection:
    """One UE's S1 connection named in a partial Reset or its acknowledgement."""

    mme_ue_s1ap_id: int | None = None
    enb_ue_s1ap_id: int | None = None


# --- bearer values -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AggregateMaximumBitrate:
    """UE-AMBR in bit/s."""

    downlink: int
    uplink: int


@dataclass(frozen=True, slots=True)
class GbrQos:
    """Bit rates of a GBR bearer, bit/s."""

    maximum_bitrate_downlink: int
    maximum_bitrate_uplink: int
    guaranteed_bitrate_downlink: int
    guaranteed_bitrate_uplink: int


@dataclass(frozen=True, slots=True)
class ERabQos:
    """E-RAB level QoS parameters (9.2.1.15): QCI, ARP and, for GBR bearers, the bit rates."""

    qci: int
    priority_level: int
    may_trigger_pre_emption: bool = False
    pre_emptable: bool = False
    gbr: GbrQos | None = None


@dataclass(frozen=True, slots=True)
class UeSecurityCapabilities:
    """16-bit masks; the most significant bit is 128-EEA1 / 128-EIA1, then EEA2, EEA3."""

    encryption_algorithms: int
    integrity_algorithms: int


@dataclass(frozen=True, slots=True)
class SecurityContext:
    """NCC (0..7) and the 32-byte NH key (9.2.1.26)."""

    next_hop_chaining_count: int
    next_hop: bytes


@dataclass(frozen=True, slots=True)
class GtpTunnel:
    transport_address: str
    teid: int


@dataclass(frozen=True, slots=True)
class ERabToSetup:
    """An E-RAB the MME asks the eNB to set up, ending at the SGW's tunnel. `nas_pdu` is
    mandatory in E-RAB Setup, optional in Initial Context Setup, absent in Handover Request."""

    e_rab_id: int
    qos: ERabQos
    transport_address: str
    gtp_teid: int
    nas_pdu: bytes | None = None


@dataclass(frozen=True, slots=True)
class ERabTunnel:
    """An E-RAB's tunnel endpoint: the eNB's (setup results, path switch) or the SGW's."""

    e_rab_id: int
    transport_address: str
    gtp_teid: int


@dataclass(frozen=True, slots=True)
class ERabCause:
    """An E-RAB with a cause: failed to set up, to modify, to release, or to be released."""

    e_rab_id: int
    cause: Cause


@dataclass(frozen=True, slots=True)
class ERabToModify:
    """`uplink_tunnel` moves the bearer's uplink to another SGW endpoint (the
    TransportInformation extension, used to move a bearer to the edge)."""

    e_rab_id: int
    qos: ERabQos
    nas_pdu: bytes
    uplink_tunnel: GtpTunnel | None = None


@dataclass(frozen=True, slots=True)
class ERabAdmitted:
    """An E-RAB the handover target admitted, with its tunnels for data forwarding."""

    e_rab_id: int
    transport_address: str
    gtp_teid: int
    downlink_forwarding: GtpTunnel | None = None
    uplink_forwarding: GtpTunnel | None = None


@dataclass(frozen=True, slots=True)
class ERabForwarding:
    """An E-RAB whose data the handover source forwards to the target."""

    e_rab_id: int
    downlink: GtpTunnel | None = None
    uplink: GtpTunnel | None = None


@dataclass(frozen=True, slots=True)
class CountValue:
    """PDCP COUNT: sequence number (12 bits) and hyper frame number (20 bits)."""

    pdcp_sn: int
    hfn: int


@dataclass(frozen=True, slots=True)
class BearerStatus:
    """One bearer of the eNB Status Transfer transparent container (9.2.1.31)."""

    e_rab_id: int
    uplink_count: CountValue
    downlink_count: CountValue
    uplink_receive_status: bytes | None = None
    """512 octets, one bit per PDCP SDU after the first missing one."""


# --- non-UE-associated messages (TS 36.413 9.1.8) ------------------------------------------


@dataclass(frozen=True, slots=True)
class S1SetupRequest:
    global_enb_id: GlobalEnbId
    supported_tas: tuple[SupportedTa, ...]
    default_paging_drx: int
    """32, 64, 128 or 256 radio frames."""
    enb_name: str | None = None


@dataclass(frozen=True, slots=True)
class S1SetupResponse:
    served_gummeis: tuple[ServedGummei, ...]
    relative_mme_capacity: int
    mme_name: str | None = None


@dataclass(frozen=True, slots=True)
class S1SetupFailure:
    cause: Cause
    time_to_wait: int | None = None
    """Seconds: 1, 2, 5, 10, 20 or 60."""


@dataclass(frozen=True, slots=True)
class Reset:
    """`connections` empty resets the whole S1 interface, else only those UEs' connections."""

    cause: Cause
    connections: tuple[UeAssociatedConnection, ...] = ()


@dataclass(frozen=True, slots=True)
class ResetAcknowledge:
    connections: tuple[UeAssociatedConnection, ...] = ()


@dataclass(frozen=True, slots=True)
class ErrorIndication:
    mme_ue_s1ap_id: int | None = None
    enb_ue_s1ap_id: int | None = None
    cause: Cause | None = None
    criticality_diagnostics: CriticalityDiagnostics | None = None
    s_tmsi: STmsi | None = None


@dataclass(frozen=True, slots=True)
class EnbConfigurationUpdate:
    enb_name: str | None = None
    supported_tas: tuple[SupportedTa, ...] = ()
    default_paging_drx: int | None = None


@dataclass(frozen=True, slots=True)
class EnbConfigurationUpdateAcknowledge:
    pass


@dataclass(frozen=True, slots=True)
class EnbConfigurationUpdateFailure:
    cause: Cause
    time_to_wait: int | None = None


@dataclass(frozen=True, slots=True)
class Paging:
    """`paging_identity` is the UE's S-TMSI, or its IMSI as a digit string."""

    ue_identity_index: int
    paging_identity: STmsi | str
    cn_domain: str
    """"ps" or "cs"."""
    tai_list: tuple[Tai, ...]
    paging_drx: int | None = None


# --- NAS transport (9.1.7) -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InitialUeMessage:
    enb_ue_s1ap_id: int
    nas_pdu: bytes
    tai: Tai
    ecgi: Ecgi
    rrc_establishment_cause: str
    s_tmsi: STmsi | None = None
    gummei: Gummei | None = None
    gummei_type: str | None = None


@dataclass(frozen=True, slots=True)
class UplinkNasTransport:
    mme_ue_s1ap_id: int
    enb_ue_s1ap_id: int
    nas_pdu: bytes
    ecgi: Ecgi
    tai: Tai


@dataclass(frozen=True, slots=True)
class DownlinkNasTransport:
    mme_ue_s1ap_id: int
    enb_ue_s1ap_id: int
    nas_pdu: bytes


# --- context management (9.1.4) ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InitialContextSetupRequest:
    mme_ue_s1ap_id: int
    enb_ue_s1ap_id: int
    ue_aggregate_maximum_bitrate: AggregateMaximumBitrate
    e_rabs: tuple[ERabToSetup, ...]
    ue_security_capabilities: UeSecurityCapabilities
    security_key: bytes
    ue_radio_capability: bytes | None = None


@dataclass(frozen=True, slots=True)
class InitialContextSetupResponse:
    mme_ue_s1ap_id: int
    enb_ue_s1ap_id: int
    e_rabs: tuple[ERabTunnel, ...]
    e_rabs_failed: tuple[ERabCause, ...] = ()


@dataclass(frozen=True, slots=True)
class InitialContextSetupFailure:
    mme_ue_s1ap_id: int
    enb_ue_s1ap_id: int
    cause: Cause


@dataclass(frozen=True, slots=True)
class UeContextReleaseRequest:
    mme_ue_s1ap_id: int
    enb_ue_s1ap_id: int
    cause: Cause


@dataclass(frozen=True, slots=True)
class UeContextReleaseCommand:
    """`enb_ue_s1ap_id` None names the UE by its MME-UE-S1AP-ID alone."""

    mme_ue_s1ap_id: int
    enb_ue_s1ap_id: int | None
    cause: Cause


@dataclass(frozen=True, slots=True)
class UeContextReleaseComplete:
    mme_ue_s1ap_id: int
    enb_ue_s1ap_id: int


@dataclass(frozen=True, slots=True)
class UeContextModificationRequest:
    mme_ue_s1ap_id: int
    enb_ue_s1ap_id: int
    security_key: bytes | None = None
    ue_aggregate_maximum_bitrate: AggregateMaximumBitrate | None = None
    ue_security_capabilities: UeSecurityCapabilities | None = None


@dataclass(frozen=True, slots=True)
class UeContextModificationResponse:
    mme_ue_s1ap_id: int
    enb_ue_s1ap_id: int


@dataclass(frozen=True, slots=True)
class UeContextModificationFailure:
    mme_ue_s1ap_id: int
    enb_ue_s1ap_id: int
    cause: Cause


# --- E-RAB management (9.1.3) --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ERabSetupRequest:
    mme_ue_s1ap_id: int
    enb_ue_s1ap_id: int
    e_rabs: tuple[ERabToSetup, ...]
    ue_aggregate_maximum_bitrate: AggregateMaximumBitrate | None = None


@dataclass(frozen=True, slots=True)
class ERabSetupResponse:
    mme_ue_s1ap_id: int
    enb_ue_s1ap_id: int
    e_rabs: tuple[ERabTunnel, ...] = ()
    e_rabs_failed: tuple[ERabCause, ...] = ()


@dataclass(frozen=True, slots=True)
class ERabModifyRequest:
    mme_ue_s1ap_id: int
    enb_ue_s1ap_id: int
    e_rabs: tuple[ERabToModify, ...]
    ue_aggregate_maximum_bitrate: AggregateMaximumBitrate | None = None


@dataclass(frozen=True, slots=True)
class ERabModifyResponse:
    mme_ue_s1ap_id: int
    enb_ue_s1ap_id: int
    e_rab_ids: tuple[int, ...] = ()
    e_rabs_failed: tuple[ERabCause, ...] = ()


@dataclass(frozen=True, slots=True)
class ERabReleaseCommand:
    mme_ue_s1ap_id: int
    enb_ue_s1ap_id: int
    e_rabs: tuple[ERabCause, ...]
    nas_pdu: bytes | None = None
    ue_aggregate_maximum_bitrate: AggregateMaximumBitrate | None = None


@dataclass(frozen=True, slots=True)
class ERabReleaseResponse:
    mme_ue_s1ap_id: int
    enb_ue_s1ap_id: int
    e_rab_ids: tuple[int, ...] = ()
    e_rabs_failed: tuple[ERabCause, ...] = ()


# --- mobility (9.1.5) ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HandoverRequired:
    """Only handovers to another eNB are modelled: the target is an eNB and its TAI."""

    mme_ue_s1ap_id: int
    enb_ue_s1ap_id: int
    handover_type: str
    cause: Cause
    target_enb: GlobalEnbId
    target_tai: Tai
    source_to_target_container: bytes


@dataclass(frozen=True, slots=True)
class HandoverRequest:
    """E-RABs to set up carry no NAS PDU here."""

    mme_ue_s1ap_id: int
    handover_type: str
    cause: Cause
    ue_aggregate_maximum_bitrate: AggregateMaximumBitrate
    e_rabs: tuple[ERabToSetup, ...]
    source_to_target_container: bytes
    ue_security_capabilities: UeSecurityCapabilities
    security_context: SecurityContext


@dataclass(frozen=True, slots=True)
class HandoverRequestAcknowledge:
    mme_ue_s1ap_id: int
    enb_ue_s1ap_id: int
    e_rabs: tuple[ERabAdmitted, ...]
    target_to_source_container: bytes
    e_rabs_failed: tuple[ERabCause, ...] = ()


@dataclass(frozen=True, slots=True)
class HandoverCommand:
    mme_ue_s1ap_id: int
    enb_ue_s1ap_id: int
    handover_type: str
    target_to_source_container: bytes
    e_rabs_forwarding: tuple[ERabForwarding, ...] = ()
    e_rabs_to_release: tuple[ERabCause, ...] = ()


@dataclass(frozen=True, slots=True)
class HandoverNotify:
    mme_ue_s1ap_id: int
    enb_ue_s1ap_id: int
    ecgi: Ecgi
    tai: Tai


@dataclass(frozen=True, slots=True)
class HandoverPreparationFailure:
    mme_ue_s1ap_id: int
    enb_ue_s1ap_id: int
    cause: Cause


@dataclass(frozen=True, slots=True)
class HandoverFailure:
    mme_ue_s1ap_id: int
    cause: Cause


@dataclass(frozen=True, slots=True)
class EnbStatusTransfer:
    mme_ue_s1ap_id: int
    enb_ue_s1ap_id: int
    bearers: tuple[BearerStatus, ...]


@dataclass(frozen=True, slots=True)
class MmeStatusTransfer:
    mme_ue_s1ap_id: int
    enb_ue_s1ap_id: int
    bearers: tuple[BearerStatus, ...]


@dataclass(frozen=True, slots=True)
class PathSwitchRequest:
    """`source_mme_ue_s1ap_id` is the MME-UE-S1AP-ID the UE had at the source eNB."""

    enb_ue_s1ap_id: int
    e_rabs: tuple[ERabTunnel, ...]
    source_mme_ue_s1ap_id: int
    ecgi: Ecgi
    tai: Tai
    ue_security_capabilities: UeSecurityCapabilities


@dataclass(frozen=True, slots=True)
class PathSwitchRequestAcknowledge:
    mme_ue_s1ap_id: int
    enb_ue_s1ap_id: int
    security_context: SecurityContext
    e_rabs_uplink: tuple[ERabTunnel, ...] = ()
    e_rabs_to_release: tuple[ERabCause, ...] = ()
    ue_aggregate_maximum_bitrate: AggregateMaximumBitrate | None = None


@dataclass(frozen=True, slots=True)
class PathSwitchRequestFailure:
    mme_ue_s1ap_id: int
    enb_ue_s1ap_id: int
    cause: Cause


S1apMessage = (
    S1SetupRequest
    | S1SetupResponse
    | S1SetupFailure
    | Reset
    | ResetAcknowledge
    | ErrorIndication
    | EnbConfigurationUpdate
    | EnbConfigurationUpdateAcknowledge
    | EnbConfigurationUpdateFailure
    | Paging
    | InitialUeMessage
    | UplinkNasTransport
    | DownlinkNasTransport
    | InitialContextSetupRequest
    | InitialContextSetupResponse
    | InitialContextSetupFailure
    | UeContextReleaseRequest
    | UeContextReleaseCommand
    | UeContextReleaseComplete
    | UeContextModificationRequest
    | UeContextModificationResponse
    | UeContextModificationFailure
    | ERabSetupRequest
    | ERabSetupResponse
    | ERabModifyRequest
    | ERabModifyResponse
    | ERabReleaseCommand
    | ERabReleaseResponse
    | HandoverRequired
    | HandoverRequest
    | HandoverRequestAcknowledge
    | HandoverCommand
    | HandoverNotify
    | HandoverPreparationFailure
    | HandoverFailure
    | EnbStatusTransfer
    | MmeStatusTransfer
    | PathSwitchRequest
    | PathSwitchRequestAcknowledge
    | PathSwitchRequestFailure
)
"""Every message `epc.codec.s1ap` encodes and decodes."""
