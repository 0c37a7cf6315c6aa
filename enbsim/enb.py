"""The S1AP side of one simulated eNB (TS 36.413), sans-I/O: bytes and `now` in, commands out.

It owns the eNB's configuration, its S1 setup, its UEs (`enbsim.ue` cores, which speak NAS
and never see S1AP) and, per UE, the UE-associated logical S1 connection: the two
UE-S1AP-IDs, the SCTP stream, the UE context and its E-RABs with the eNB's S1-U tunnel
endpoints. The driver (an asyncio adapter) feeds it what the MME sent (`receive_s1ap`), what
the UEs asked for (`from_ue`) and the clock (`handle_timer`), and carries out what comes
back: `SendS1ap` goes to the S1 link; `Bearer*` events go to the user plane; the rest
(`ProcedureSucceeded`, `ProcedureFailed`, `S1Setup*`, `MessageLogged`, ...) go to whoever
asked for the procedure.

Terms: an eNB-UE-S1AP-ID (24 bits, chosen here) and an MME-UE-S1AP-ID (32 bits, chosen by
the MME) name one UE's S1 connection; an E-RAB is the radio side of one EPS bearer, its
user plane a GTP-U tunnel: the SGW's (address, TEID) for the uplink, the eNB's for the
downlink. KeNB is the key the MME hands the eNB for the access stratum (TS 33.401 A.3).

Strictness. Nothing wrong from the core passes unnoticed. A message that breaks a rule for
a UE fails that UE's procedure (`ProcedureFailed` with a `Violation` naming the S1AP message
and IE); one that concerns no known UE becomes `S1apViolationDetected`. Where TS 36.413
section 10 asks for it the eNB answers as a real one would: an Error Indication with the
cause (10.6 for UE-S1AP-IDs, the decoder's protocol cause for bad syntax), or the
procedure's failure message, and a local release of a connection whose IDs went wrong.

The timeline: every S1AP message sent or received comes out as a `MessageLogged` event in
the same list as the commands, in order, naming the UE and the NAS message carried when the
NAS header tells it without keys. `Enb(..., timeline=False)` leaves them out (load runs).
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass, field
from ipaddress import IPv4Address, ip_address
from typing import Any, Protocol

from enbsim.events import (
    BearerEstablished,
    BearerModified,
    BearerReleased,
    ConnectionsReset,
    MessageLogged,
    ProcedureFailed,
    ReleaseConnection,
    RrcEstablishmentCause,
    S1apViolationDetected,
    S1SetupCompleted,
    S1SetupFailed,
    SendS1ap,
    SendUplinkNas,
    Violation,
)
from epc.codec import s1ap, s1ap_constants
from epc.codec.nas_messages import SecurityHeaderType, Sublayer, message_class
from epc.codec.s1ap import S1apDecodeError
from epc.codec.s1ap_messages import (
    Cause,
    CauseGroup,
    Criticality,
    CriticalityDiagnostics,
    DownlinkNasTransport,
    Ecgi,
    EnbIdType,
    ERabCause,
    ERabModifyRequest,
    ERabModifyResponse,
    ERabReleaseCommand,
    ERabReleaseResponse,
    ERabSetupRequest,
    ERabSetupResponse,
    ERabToModify,
    ERabToSetup,
    ERabTunnel,
    ErrorIndication,
    GlobalEnbId,
    InitialContextSetupFailure,
    InitialContextSetupRequest,
    InitialContextSetupResponse,
    InitialUeMessage,
    Paging,
    PduType,
    PlmnIdentity,
    ProtocolCause,
    Reset,
    ResetAcknowledge,
    S1apMessage,
    S1SetupFailure,
    S1SetupRequest,
    S1SetupResponse,
    STmsi,
    SupportedTa,
    Tai,
    UeAssociatedConnection,
    UeContextModificationFailure,
    UeContextModificationRequest,
    UeContextModificationResponse,
    UeContextReleaseCommand,
    UeContextReleaseComplete,
    UeContextReleaseRequest,
    UplinkNasTransport,
)
from epc.codec.s1ap_table import MESSAGES

__all__ = ["DEFAULT_OUTBOUND_STREAMS", "Enb", "EnbConfig", "EnbError", "Ue", "nas_message_name"]

ENB_UE_S1AP_ID_RANGE = 1 << 24
"""TS 36.413 9.2.3.4: eNB-UE-S1AP-ID is INTEGER (0..2^24-1)."""
TEID_RANGE = 1 << 32
"""TS 29.281 5.1: a TEID is 32 bits; 0 is never handed out (it names no tunnel)."""
DEFAULT_OUTBOUND_STREAMS = 30
"""Outbound SCTP streams assumed until the driver says what the association agreed (the
number `epc.sctp` asks for)."""
RELEASED_IDS_REMEMBERED = 4096
"""How many released eNB-UE-S1AP-IDs keep pointing at their UE, so that a late message for a
released connection fails that UE's procedure instead of being an anonymous error."""
PAGING_DRX_VALUES = (32, 64, 128, 256)
"""TS 36.413 9.2.1.16, radio frames."""
ENB_ID_BITS = {
    EnbIdType.MACRO: 20,
    EnbIdType.HOME: 28,
    EnbIdType.SHORT_MACRO: 18,
    EnbIdType.LONG_MACRO: 21,
}
"""TS 36.413 9.2.1.37; the rest of the 28-bit E-UTRAN cell identity numbers the cell."""
FIRST_EPS_BEARER_ID = 5
"""TS 24.007 11.2.3.1.5: EPS bearer identities 0-4 are reserved; an E-RAB ID is one."""

_NOT_COMPATIBLE = Cause(
    CauseGroup.PROTOCOL, ProtocolCause.MESSAGE_NOT_COMPATIBLE_WITH_RECEIVER_STATE
)

Output = list[Any]
"""What every entry point returns: commands (`SendS1ap`, ...) and events, in order."""


class EnbError(Exception):
    """The driver asked for something this eNB cannot do (an unknown IMSI, a second UE with
    one IMSI, a release request for a UE with no S1 connection). Not a core error."""


class Ue(Protocol):
    """What the eNB needs of a UE core (`enbsim.ue.Ue`)."""

    imsi: str
    kenb: bytes | None
    s_tmsi: tuple[int, int] | None
    ue_security_capabilities: Any
    """What the UE advertised: an `epc.codec.s1ap_messages.UeSecurityCapabilities`, a NAS
    `UeNetworkCapability`, or its octets (EEA0-7, EIA0-7, ...); compared as algorithm sets."""
    connected: bool

    def receive_nas(self, pdu: bytes, now: float) -> list[Any]: ...
    def connection_released(self, now: float) -> list[Any]: ...
    def radio_bearers_established(self, now: float) -> list[Any]:
        """The eNB set the UE's context up (Initial Context Setup): for a Service Request,
        success (TS 24.301 5.6.1.4)."""
        ...

    def paged(self, now: float) -> list[Any]: ...
    def deadline(self) -> float | None: ...
    def handle_timer(self, now: float) -> list[Any]: ...


@dataclass(frozen=True, slots=True)
class EnbConfig:
    """One eNB. `tacs` are the tracking areas of its cells, one cell per TAC: the first cell
    has identity `cell` within the eNB, the next `cell + 1`, and so on; UEs camp on the first
    until `Enb.camp` moves them. `s1u_address` is the IPv4 address of its GTP-U endpoint."""

    name: str
    plmn: PlmnIdentity
    enb_id: int
    tacs: tuple[int, ...] = (1,)
    cell: int = 1
    default_paging_drx: int = 128
    s1u_address: str = "127.0.0.1"
    enb_id_type: EnbIdType = EnbIdType.MACRO

    def __post_init__(self) -> None:
        bits = ENB_ID_BITS[self.enb_id_type]
        if not 1 <= len(self.name) <= 150:
            raise ValueError(f"name: 1 to 150 characters (TS 36.413 9.2.1.66), got {self.name!r}")
        if not 0 <= self.enb_id < 1 << bits:
            raise ValueError(f"enb_id: {self.enb_id} does not fit a {bits}-bit eNB ID")
        if not self.tacs or len(set(self.tacs)) != len(self.tacs):
            raise ValueError(f"tacs: one or more distinct TACs, got {self.tacs}")
        if any(not 0 <= tac <= 0xFFFF for tac in self.tacs):
            raise ValueError(f"tacs: a TAC is 16 bits, got {self.tacs}")
        if not 0 <= self.cell or self.cell + len(self.tacs) > 1 << (28 - bits):
            raise ValueError(f"cell: {self.cell} and up do not fit {28 - bits} bits")
        if self.default_paging_drx not in PAGING_DRX_VALUES:
            raise ValueError(f"default_paging_drx: one of {PAGING_DRX_VALUES}")
        try:
            IPv4Address(self.s1u_address)
        except ValueError:
            raise ValueError(f"s1u_address: not an IPv4 address: {self.s1u_address!r}") from None

    @property
    def global_enb_id(self) -> GlobalEnbId:
        return GlobalEnbId(self.plmn, self.enb_id, self.enb_id_type)

    def tai(self, tac: int) -> Tai:
        return Tai(self.plmn, tac)

    def ecgi(self, tac: int) -> Ecgi:
        """The cell of this TAC: eNB ID in the high bits, cell number in the low ones."""
        cell_bits = 28 - ENB_ID_BITS[self.enb_id_type]
        return Ecgi(self.plmn, self.enb_id << cell_bits | self.cell + self.tacs.index(tac))


# --- the state of one UE's S1 connection --------------------------------------------------------


@dataclass(slots=True)
class _Bearer:
    e_rab_id: int
    sgw_address: str
    sgw_teid: int
    enb_teid: int


@dataclass(slots=True)
class _Connection:
    """One UE-associated logical S1 connection (TS 36.401 6.1.1)."""

    imsi: str
    enb_ue_s1ap_id: int
    stream: int
    mme_ue_s1ap_id: int | None = None
    """Learnt from the first downlink message; every later one must carry the same."""
    context_set_up: bool = False
    ue_left: bool = False
    """The UE dropped the radio connection (switch-off); the S1 side waits for the MME."""
    bearers: dict[int, _Bearer] = field(default_factory=dict)


@dataclass(slots=True)
class _UeEntry:
    ue: Ue
    tac: int
    connection: _Connection | None = None


# --- the eNB ------------------------------------------------------------------------------


class Enb:
    """One eNB's S1AP core. Every method taking `now` returns the `Output` to carry out."""

    def __init__(self, config: EnbConfig, *, timeline: bool = True) -> None:
        self.config = config
        self.timeline = timeline
        self.outbound_streams = DEFAULT_OUTBOUND_STREAMS
        self.s1_setup: S1SetupCompleted | None = None
        """The MME's S1 Setup Response, once it came."""
        self._s1_setup_pending = False
        self._s1_setup_retry_at: float | None = None
        self._ues: dict[str, _UeEntry] = {}
        self._by_enb_id: dict[int, _Connection] = {}
        self._by_mme_id: dict[int, _Connection] = {}
        self._released: OrderedDict[int, str] = OrderedDict()
        self._teids: set[int] = set()
        self._next_enb_ue_s1ap_id = 1
        self._next_teid = 1

    # --- S1 setup (TS 36.413 8.7.3) -----------------------------------------------------

    def start(self, now: float, *, outbound_streams: int | None = None) -> Output:
        """Send the S1 Setup Request. `outbound_streams`: what the SCTP association agreed."""
        if outbound_streams is not None:
            if outbound_streams < 1:
                raise ValueError(f"outbound_streams: at least 1, got {outbound_streams}")
            self.outbound_streams = outbound_streams
        self._s1_setup_pending = True
        self._s1_setup_retry_at = None
        request = S1SetupRequest(
            self.config.global_enb_id,
            tuple(SupportedTa(tac, (self.config.plmn,)) for tac in self.config.tacs),
            self.config.default_paging_drx,
            self.config.name,
        )
        return self._send(request, 0, now)

    def _s1_setup_response(self, message: S1SetupResponse, now: float) -> Output:
        if not self._s1_setup_pending:
            return self._enb_violation(message, None, "no S1 Setup Request is pending", now)
        self._s1_setup_pending = False
        self.s1_setup = S1SetupCompleted(
            message.mme_name, message.served_gummeis, message.relative_mme_capacity, now
        )
        return [self.s1_setup]

    def _s1_setup_failure(self, message: S1SetupFailure, now: float) -> Output:
        if not self._s1_setup_pending:
            return self._enb_violation(message, None, "no S1 Setup Request is pending", now)
        self._s1_setup_pending = False
        if message.time_to_wait is not None:
            # 8.7.3.3: wait at least Time to wait before initiating S1 Setup again.
            self._s1_setup_retry_at = now + message.time_to_wait
        return [S1SetupFailed(message.cause, message.time_to_wait, self._s1_setup_retry_at, now)]

    # --- UEs --------------------------------------------------------------------------

    def add_ue(self, ue: Ue) -> None:
        """A UE camps on the eNB's first cell, idle."""
        if ue.imsi in self._ues:
            raise EnbError(f"UE {ue.imsi} is on this eNB already")
        self._ues[ue.imsi] = _UeEntry(ue, self.config.tacs[0])

    def ue(self, imsi: str) -> Ue:
        return self._entry(imsi).ue

    @property
    def ues(self) -> list[Ue]:
        return [entry.ue for entry in self._ues.values()]

    def camp(self, imsi: str, tac: int) -> None:
        """Move the UE to the cell of `tac` (for a TAU with a new TAI): its next messages
        carry that TAI and ECGI, and only paging for that TA reaches it."""
        if tac not in self.config.tacs:
            raise EnbError(f"this eNB has no cell in TA {tac} (its TACs: {self.config.tacs})")
        self._entry(imsi).tac = tac

    def _entry(self, imsi: str) -> _UeEntry:
        try:
            return self._ues[imsi]
        except KeyError:
            raise EnbError(f"no UE {imsi} on this eNB") from None

    def from_ue(self, commands: list[Any], now: float) -> Output:
        """Carry out what UEs asked for; pass the rest through in order."""
        output: Output = []
        for command in commands:
            match command:
                case SendUplinkNas(establishment_cause=None):
                    output += self._uplink_nas(command, now)
                case SendUplinkNas():
                    output += self._initial_ue_message(command, now)
                case ReleaseConnection():
                    output += self._ue_left(command.imsi, now)
                case _:
                    output.append(command)
        return output

    def _initial_ue_message(self, command: SendUplinkNas, now: float) -> Output:
        entry = self._entry(command.imsi)
        output: Output = []
        if entry.connection is not None:
            # The UE starts over while its last connection lingers here (it left it without
            # telling the eNB): drop that one locally, the MME will time it out.
            output += self._forget(entry.connection)
        enb_ue_s1ap_id = self._allocate_enb_ue_s1ap_id()
        connection = _Connection(command.imsi, enb_ue_s1ap_id, self._stream_for(enb_ue_s1ap_id))
        entry.connection = connection
        self._by_enb_id[enb_ue_s1ap_id] = connection
        assert command.establishment_cause is not None
        message = InitialUeMessage(
            enb_ue_s1ap_id,
            command.nas_pdu,
            self.config.tai(entry.tac),
            self.config.ecgi(entry.tac),
            RrcEstablishmentCause(command.establishment_cause).value,
            STmsi(*command.s_tmsi) if command.s_tmsi is not None else None,
        )
        return output + self._send(message, connection.stream, now, connection)

    def _uplink_nas(self, command: SendUplinkNas, now: float) -> Output:
        entry = self._entry(command.imsi)
        connection = entry.connection
        if connection is None or connection.mme_ue_s1ap_id is None:
            # A UE core bug, not the core's: report it where the driver looks.
            state = "no S1 connection" if connection is None else "no MME-UE-S1AP-ID yet"
            reason = f"uplink NAS without an RRC establishment cause, but the UE has {state}"
            return [self._failed(command.imsi, now, reason)]
        message = UplinkNasTransport(
            connection.mme_ue_s1ap_id,
            connection.enb_ue_s1ap_id,
            command.nas_pdu,
            self.config.ecgi(entry.tac),
            self.config.tai(entry.tac),
        )
        return self._send(message, connection.stream, now, connection)

    def _ue_left(self, imsi: str, now: float) -> Output:
        """The UE went idle on its own (switch-off Detach). Its bearers go now; the S1
        connection stays until the MME's UE Context Release Command, answered as usual."""
        entry = self._entry(imsi)
        connection, entry.connection = entry.connection, None
        if connection is None:
            return []
        connection.ue_left = True
        return self._release_bearers(connection, tuple(connection.bearers))

    def ue_context_release_request(
        self, imsi: str, now: float, cause: str = "user-inactivity"
    ) -> Output:
        """The eNB asks the MME to release the UE's connection (TS 36.413 8.3.2), by default
        for user inactivity; the MME answers with a UE Context Release Command."""
        connection = self._entry(imsi).connection
        if connection is None or connection.mme_ue_s1ap_id is None:
            raise EnbError(f"UE {imsi} has no S1 connection to release")
        message = UeContextReleaseRequest(
            connection.mme_ue_s1ap_id,
            connection.enb_ue_s1ap_id,
            Cause(CauseGroup.RADIO_NETWORK, cause),
        )
        return self._send(message, connection.stream, now, connection)

    # --- timers -------------------------------------------------------------------------

    def deadline(self) -> float | None:
        """The earliest time `handle_timer` has something to do, or None."""
        deadlines = [entry.ue.deadline() for entry in self._ues.values()]
        deadlines.append(self._s1_setup_retry_at)
        return min((deadline for deadline in deadlines if deadline is not None), default=None)

    def handle_timer(self, now: float) -> Output:
        output: Output = []
        if self._s1_setup_retry_at is not None and self._s1_setup_retry_at <= now:
            output += self.start(now)
        for entry in list(self._ues.values()):
            deadline = entry.ue.deadline()
            if deadline is not None and deadline <= now:
                output += self.from_ue(entry.ue.handle_timer(now), now)
        return output

    # --- what the MME sends -------------------------------------------------------------

    def receive_s1ap(self, data: bytes, stream: int, now: float) -> Output:
        """One S1AP PDU from the MME, on SCTP stream `stream`."""
        try:
            message = s1ap.decode(data)
        except S1apDecodeError as error:
            return self._undecodable(error, stream, now)
        output = self._logged("downlink", message, stream, now)
        match message:
            case S1SetupResponse():
                output += self._s1_setup_response(message, now)
            case S1SetupFailure():
                output += self._s1_setup_failure(message, now)
            case Paging():
                output += self._paging(message, now)
            case Reset():
                output += self._reset(message, now)
            case ErrorIndication():
                output += self._error_indication(message, now)
            case (
                DownlinkNasTransport()
                | InitialContextSetupRequest()
                | UeContextReleaseCommand()
                | UeContextModificationRequest()
                | ERabSetupRequest()
                | ERabModifyRequest()
                | ERabReleaseCommand()
            ):
                output += self._ue_associated(message, now)
            case _:
                output += self._enb_violation(
                    message, None, "not a message an MME sends this eNB unasked", now
                )
                output += self._send(_error_indication_for(message), 0, now)
        return output

    def _ue_associated(self, message: Any, now: float) -> Output:
        connection, output = self._connection_for(message, now)
        if connection is None:
            return output
        match message:
            case DownlinkNasTransport():
                return output + self._downlink_nas(connection, message, now)
            case InitialContextSetupRequest():
                return output + self._initial_context_setup(connection, message, now)
            case UeContextReleaseCommand():
                return output + self._ue_context_release(connection, now)
            case UeContextModificationRequest():
                return output + self._ue_context_modification(connection, message, now)
            case ERabSetupRequest():
                return output + self._e_rab_setup(connection, message, now)
            case ERabModifyRequest():
                return output + self._e_rab_modify(connection, message, now)
            case ERabReleaseCommand():
                return output + self._e_rab_release(connection, message, now)
        raise AssertionError(message)  # receive_s1ap routes only the messages above here

    # --- UE-S1AP-IDs (TS 36.413 10.6) ----------------------------------------------------

    def _connection_for(self, message: Any, now: float) -> tuple[_Connection | None, Output]:
        """The connection the message's UE-S1AP-IDs name, or None and what to do instead."""
        name = message_name(message)
        last = isinstance(message, UeContextReleaseCommand)
        mme_id = message.mme_ue_s1ap_id
        enb_id = message.enb_ue_s1ap_id
        if enb_id is None:  # a UE Context Release Command naming the MME-UE-S1AP-ID alone
            connection = self._by_mme_id.get(mme_id)
            if connection is None:
                reason = f"{mme_id} names no S1 connection of this eNB"
                return None, self._enb_violation(message, "MME-UE-S1AP-ID", reason, now)
            return connection, []
        connection = self._by_enb_id.get(enb_id)
        if connection is None:
            return None, self._unknown_enb_ue_s1ap_id(message, name, last, now)
        if connection.mme_ue_s1ap_id is None:
            return self._learn_mme_ue_s1ap_id(connection, message, name, now)
        if mme_id != connection.mme_ue_s1ap_id:
            violation = Violation(
                name,
                "MME-UE-S1AP-ID",
                f"{mme_id}, but this connection's first downlink message set "
                f"{connection.mme_ue_s1ap_id}",
            )
            output = self._ue_violation(connection.imsi, violation, now)
            if not last:
                output += self._send_error_indication(
                    "unknown-pair-ue-s1ap-id", mme_id, enb_id, connection.stream, now
                )
            return None, output + self._release_locally(connection, now)
        if connection.ue_left and not last:
            reason = "the UE left (switch-off Detach); only a UE Context Release is expected"
            return None, self._enb_violation(message, None, reason, now)
        return connection, []

    def _unknown_enb_ue_s1ap_id(self, message: Any, name: str, last: bool, now: float) -> Output:
        enb_id, mme_id = message.enb_ue_s1ap_id, message.mme_ue_s1ap_id
        imsi = self._released.get(enb_id)
        if imsi is not None:
            reason = f"{enb_id} names a connection released already: the UE has no S1 connection"
            output = self._ue_violation(imsi, Violation(name, "eNB-UE-S1AP-ID", reason), now)
        else:
            reason = f"{enb_id} names no S1 connection of this eNB"
            output = self._enb_violation(message, "eNB-UE-S1AP-ID", reason, now)
        if not last:  # 10.6: the last message of a connection is answered by nothing
            output += self._send_error_indication("unknown-enb-ue-s1ap-id", mme_id, enb_id, 0, now)
        return output

    def _learn_mme_ue_s1ap_id(
        self, connection: _Connection, message: Any, name: str, now: float
    ) -> tuple[_Connection | None, Output]:
        mme_id = message.mme_ue_s1ap_id
        holder = self._by_mme_id.get(mme_id)
        if holder is not None:
            # 10.6: an AP ID stored for another connection; both sides release this one.
            reason = f"{mme_id} names the S1 connection of UE {holder.imsi} already"
            output = self._ue_violation(
                connection.imsi, Violation(name, "MME-UE-S1AP-ID", reason), now
            )
            output += self._send_error_indication(
                "unknown-mme-ue-s1ap-id", mme_id, None, connection.stream, now
            )
            return None, output + self._release_locally(connection, now)
        connection.mme_ue_s1ap_id = mme_id
        self._by_mme_id[mme_id] = connection
        return connection, []

    # --- NAS transport and context management -------------------------------------------

    def _downlink_nas(
        self, connection: _Connection, message: DownlinkNasTransport, now: float
    ) -> Output:
        return self.from_ue(self._ues[connection.imsi].ue.receive_nas(message.nas_pdu, now), now)

    def _initial_context_setup(
        self, connection: _Connection, message: InitialContextSetupRequest, now: float
    ) -> Output:
        """TS 36.413 8.3.1: check the key, the capabilities and the E-RABs, answer, then hand
        the UE the NAS PDUs inside (the Attach Accept), as the RRC reconfiguration would, and
        tell it its radio bearers are up."""
        ue = self._ues[connection.imsi].ue
        name = message_name(message)
        problem = self._security_problem(
            ue, name, message.security_key, message.ue_security_capabilities
        )
        if connection.context_set_up:
            problem = (
                Violation(name, None, "the UE context is set up already"),
                _NOT_COMPATIBLE,
            )
        problem = problem or _e_rab_list_problem(name, message.e_rabs, connection)
        if problem is not None:
            violation, cause = problem
            failure = InitialContextSetupFailure(
                message.mme_ue_s1ap_id, connection.enb_ue_s1ap_id, cause
            )
            output = self._ue_violation(connection.imsi, violation, now)
            return output + self._send(failure, connection.stream, now, connection)
        connection.context_set_up = True
        tunnels, established = self._establish(connection, message.e_rabs)
        response = InitialContextSetupResponse(
            message.mme_ue_s1ap_id, connection.enb_ue_s1ap_id, tunnels
        )
        output = self._send(response, connection.stream, now, connection) + established
        output += self._nas_to_ue(connection, message.e_rabs, now)
        return output + self.from_ue(ue.radio_bearers_established(now), now)

    def _ue_context_release(self, connection: _Connection, now: float) -> Output:
        """TS 36.413 8.3.3: answer, then tell the UE its RRC connection is gone."""
        assert connection.mme_ue_s1ap_id is not None
        complete = UeContextReleaseComplete(connection.mme_ue_s1ap_id, connection.enb_ue_s1ap_id)
        output = self._send(complete, connection.stream, now, connection)
        return output + self._release_locally(connection, now)

    def _ue_context_modification(
        self, connection: _Connection, message: UeContextModificationRequest, now: float
    ) -> Output:
        ue = self._ues[connection.imsi].ue
        name = message_name(message)
        problem = self._security_problem(
            ue, name, message.security_key, message.ue_security_capabilities
        )
        if problem is None and not connection.context_set_up:
            problem = (
                Violation(name, None, "the UE has no context to modify"),
                _NOT_COMPATIBLE,
            )
        ids = (message.mme_ue_s1ap_id, connection.enb_ue_s1ap_id)
        if problem is not None:
            violation, cause = problem
            output = self._ue_violation(connection.imsi, violation, now)
            failure = UeContextModificationFailure(*ids, cause)
            return output + self._send(failure, connection.stream, now, connection)
        return self._send(UeContextModificationResponse(*ids), connection.stream, now, connection)

    def _security_problem(
        self, ue: Ue, name: str, key: bytes | None, capabilities: Any
    ) -> tuple[Violation, Cause] | None:
        """A Security Key or UE Security Capabilities that are not the UE's. None: absent or
        right. (In Initial Context Setup both are mandatory; the decoder checked that.)"""
        if key is not None:
            if ue.kenb is None:
                reason = "the UE has no KeNB: NAS security was never activated"
                return _radio(Violation(name, "Security Key", reason), "unspecified")
            if key != ue.kenb:
                reason = "is not the KeNB the UE derived (TS 33.401 A.3)"
                return _radio(Violation(name, "Security Key", reason), "unspecified")
        if capabilities is not None:
            sent = algorithm_sets(capabilities)
            advertised = algorithm_sets(ue.ue_security_capabilities)
            if sent != advertised:
                reason = (
                    f"EEA {sorted(sent[0])} EIA {sorted(sent[1])}, but the UE advertised "
                    f"EEA {sorted(advertised[0])} EIA {sorted(advertised[1])}"
                )
                return _radio(
                    Violation(name, "UE Security Capabilities", reason),
                    "encryption-and-or-integrity-protection-algorithms-not-supported",
                )
        return None

    # --- E-RAB management (TS 36.413 8.2) -----------------------------------------------

    def _e_rab_setup(
        self, connection: _Connection, message: ERabSetupRequest, now: float
    ) -> Output:
        name = message_name(message)
        ids = (message.mme_ue_s1ap_id, connection.enb_ue_s1ap_id)
        output: Output = []
        if not connection.context_set_up:
            violation = Violation(name, None, "the UE has no context (no Initial Context Setup)")
            failed = tuple(
                ERabCause(e_rab.e_rab_id, Cause(CauseGroup.RADIO_NETWORK, "unspecified"))
                for e_rab in message.e_rabs
            )
            output += self._ue_violation(connection.imsi, violation, now)
            response = ERabSetupResponse(*ids, e_rabs_failed=failed)
            return output + self._send(response, connection.stream, now, connection)
        accepted, failed = [], []
        seen: set[int] = set()
        for e_rab in message.e_rabs:
            problem = _e_rab_problem(name, e_rab, connection, seen)
            seen.add(e_rab.e_rab_id)
            if problem is None:
                accepted.append(e_rab)
                continue
            violation, cause = problem
            output += self._ue_violation(connection.imsi, violation, now)
            failed.append(ERabCause(e_rab.e_rab_id, cause))
        tunnels, established = self._establish(connection, tuple(accepted))
        response = ERabSetupResponse(*ids, tunnels, tuple(failed))
        output += self._send(response, connection.stream, now, connection) + established
        return output + self._nas_to_ue(connection, tuple(accepted), now)

    def _e_rab_modify(
        self, connection: _Connection, message: ERabModifyRequest, now: float
    ) -> Output:
        name = message_name(message)
        output: Output = []
        modified: list[int] = []
        failed: list[ERabCause] = []
        accepted: list[ERabToModify] = []
        events: Output = []
        for item in message.e_rabs:
            bearer = connection.bearers.get(item.e_rab_id)
            if bearer is None or item.e_rab_id in modified:
                reason = f"{item.e_rab_id} names no E-RAB of the UE"
                output += self._ue_violation(
                    connection.imsi, Violation(name, "E-RAB ID", reason), now
                )
                failed.append(ERabCause(item.e_rab_id, _radio_cause("unknown-E-RAB-ID")))
                continue
            modified.append(item.e_rab_id)
            accepted.append(item)
            if item.uplink_tunnel is not None:
                bearer.sgw_address = item.uplink_tunnel.transport_address
                bearer.sgw_teid = item.uplink_tunnel.teid
                events.append(
                    BearerModified(
                        connection.imsi,
                        bearer.e_rab_id,
                        bearer.sgw_address,
                        bearer.sgw_teid,
                        bearer.enb_teid,
                    )
                )
        ids = (message.mme_ue_s1ap_id, connection.enb_ue_s1ap_id)
        response = ERabModifyResponse(*ids, tuple(modified), tuple(failed))
        output += self._send(response, connection.stream, now, connection) + events
        ue = self._ues[connection.imsi].ue
        for item in accepted:
            output += self.from_ue(ue.receive_nas(item.nas_pdu, now), now)
        return output

    def _e_rab_release(
        self, connection: _Connection, message: ERabReleaseCommand, now: float
    ) -> Output:
        name = message_name(message)
        output: Output = []
        released: list[int] = []
        failed: list[ERabCause] = []
        for item in message.e_rabs:
            if item.e_rab_id not in connection.bearers or item.e_rab_id in released:
                reason = f"{item.e_rab_id} names no E-RAB of the UE"
                output += self._ue_violation(
                    connection.imsi, Violation(name, "E-RAB ID", reason), now
                )
                failed.append(ERabCause(item.e_rab_id, _radio_cause("unknown-E-RAB-ID")))
            else:
                released.append(item.e_rab_id)
        ids = (message.mme_ue_s1ap_id, connection.enb_ue_s1ap_id)
        response = ERabReleaseResponse(*ids, tuple(released), tuple(failed))
        output += self._send(response, connection.stream, now, connection)
        output += self._release_bearers(connection, tuple(released))
        if message.nas_pdu is not None:
            ue = self._ues[connection.imsi].ue
            output += self.from_ue(ue.receive_nas(message.nas_pdu, now), now)
        return output

    def _establish(
        self, connection: _Connection, e_rabs: tuple[ERabToSetup, ...]
    ) -> tuple[tuple[ERabTunnel, ...], Output]:
        """Allocate the eNB's tunnel end of each E-RAB: (what to answer, Bearer events)."""
        tunnels, events = [], []
        for e_rab in e_rabs:
            teid = self._allocate_teid()
            connection.bearers[e_rab.e_rab_id] = _Bearer(
                e_rab.e_rab_id, e_rab.transport_address, e_rab.gtp_teid, teid
            )
            tunnels.append(ERabTunnel(e_rab.e_rab_id, self.config.s1u_address, teid))
            events.append(
                BearerEstablished(
                    connection.imsi, e_rab.e_rab_id, e_rab.transport_address, e_rab.gtp_teid, teid
                )
            )
        return tuple(tunnels), events

    def _nas_to_ue(
        self, connection: _Connection, e_rabs: tuple[ERabToSetup, ...], now: float
    ) -> Output:
        ue = self._ues[connection.imsi].ue
        output: Output = []
        for e_rab in e_rabs:
            if e_rab.nas_pdu is not None:
                output += self.from_ue(ue.receive_nas(e_rab.nas_pdu, now), now)
        return output

    def _release_bearers(self, connection: _Connection, e_rab_ids: tuple[int, ...]) -> Output:
        events: Output = []
        for e_rab_id in e_rab_ids:
            bearer = connection.bearers.pop(e_rab_id)
            self._teids.discard(bearer.enb_teid)
            events.append(BearerReleased(connection.imsi, e_rab_id, bearer.enb_teid))
        return events

    # --- paging, reset, error indication (TS 36.413 8.5, 8.7.1, 8.7.4) --------------------

    def _paging(self, message: Paging, now: float) -> Output:
        """Page the UEs the identity names that camp in one of the listed TAs."""
        if message.cn_domain != "ps":
            return []  # CS fallback is not simulated: no UE here has a CS registration
        output: Output = []
        for entry in list(self._ues.values()):
            if self.config.tai(entry.tac) not in message.tai_list:
                continue
            identity = message.paging_identity
            if isinstance(identity, STmsi):
                s_tmsi = entry.ue.s_tmsi
                if s_tmsi is None or (identity.mme_code, identity.m_tmsi) != tuple(s_tmsi):
                    continue
            elif identity != entry.ue.imsi:
                continue
            output += self.from_ue(entry.ue.paged(now), now)
        return output

    def _reset(self, message: Reset, now: float) -> Output:
        """8.7.1.2.1: release the connections named (all when none is), then acknowledge."""
        if message.connections:
            connections = [
                found
                for item in message.connections
                if (found := self._connection_named(item)) is not None
            ]
        else:
            connections = list(self._by_enb_id.values())
        output: Output = []
        imsis = []
        for connection in connections:
            imsis.append(connection.imsi)
            output += self._release_locally(connection, now)
        output.append(ConnectionsReset(message.cause, tuple(imsis), now))
        return output + self._send(ResetAcknowledge(message.connections), 0, now)

    def _connection_named(self, item: UeAssociatedConnection) -> _Connection | None:
        if item.enb_ue_s1ap_id is not None and item.enb_ue_s1ap_id in self._by_enb_id:
            return self._by_enb_id[item.enb_ue_s1ap_id]
        if item.mme_ue_s1ap_id is not None:
            return self._by_mme_id.get(item.mme_ue_s1ap_id)
        return None

    def _error_indication(self, message: ErrorIndication, now: float) -> Output:
        """The MME says this eNB did something wrong: fail the UE's procedure, if a UE's."""
        cause = message.cause
        reason = "the MME reports an error"
        if cause is not None:
            reason = f"the MME reports {cause.group} cause {cause.value}"
        connection = self._by_enb_id.get(message.enb_ue_s1ap_id)  # type: ignore[arg-type]
        if connection is None and message.mme_ue_s1ap_id is not None:
            connection = self._by_mme_id.get(message.mme_ue_s1ap_id)
        if connection is None:
            return self._enb_violation(message, "Cause", reason, now)
        return self._ue_violation(
            connection.imsi, Violation("Error Indication", "Cause", reason), now
        )

    # --- bad input ----------------------------------------------------------------------

    def _undecodable(self, error: S1apDecodeError, stream: int, now: float) -> Output:
        """TS 36.413 10: report it, and answer as the cause says (nothing for a procedure of
        criticality ignore, the procedure's failure where it has one, else Error Indication)."""
        name = _decode_error_message_name(error)
        connection = self._by_enb_id.get(error.enb_ue_s1ap_id)  # type: ignore[arg-type]
        imsi = connection.imsi if connection is not None else None
        output: Output = []
        if self.timeline:
            output.append(
                MessageLogged(
                    now,
                    "downlink",
                    f"{name} (undecodable)",
                    stream,
                    imsi,
                    error.enb_ue_s1ap_id,
                    error.mme_ue_s1ap_id,
                )
            )
        ie = _ie_name(error.ies[0].ie_id) if error.ies else None
        violation = Violation(name, ie, error.reason)
        if connection is not None:
            output += self._ue_violation(connection.imsi, violation, now)
        else:
            output.append(
                S1apViolationDetected(violation, now, error.enb_ue_s1ap_id, error.mme_ue_s1ap_id)
            )
        return output + self._answer_undecodable(error, connection, now)

    def _answer_undecodable(
        self, error: S1apDecodeError, connection: _Connection | None, now: float
    ) -> Output:
        ignore_and_notify = (
            error.cause.value == ProtocolCause.ABSTRACT_SYNTAX_ERROR_IGNORE_AND_NOTIFY
        )
        if error.criticality is Criticality.IGNORE and ignore_and_notify:
            return []  # 10.3.4.1: a procedure of criticality ignore is dropped silently
        stream = connection.stream if connection is not None else 0
        ids = (error.mme_ue_s1ap_id, error.enb_ue_s1ap_id)
        initiating = error.pdu_type == PduType.INITIATING_MESSAGE
        if initiating and connection is not None and ids[0] is not None:
            failure_class = {
                s1ap_constants.PROCEDURE_INITIAL_CONTEXT_SETUP: InitialContextSetupFailure,
                s1ap_constants.PROCEDURE_UE_CONTEXT_MODIFICATION: UeContextModificationFailure,
            }.get(error.procedure_code)  # type: ignore[arg-type]
            if failure_class is not None:
                failure = failure_class(ids[0], connection.enb_ue_s1ap_id, error.cause)
                return self._send(failure, stream, now, connection)
        indication = ErrorIndication(
            *ids, cause=error.cause, criticality_diagnostics=error.criticality_diagnostics()
        )
        return self._send(indication, stream, now, connection)

    def _enb_violation(self, message: Any, ie: str | None, reason: str, now: float) -> Output:
        violation = Violation(message_name(message), ie, reason)
        return [
            S1apViolationDetected(
                violation,
                now,
                getattr(message, "enb_ue_s1ap_id", None),
                getattr(message, "mme_ue_s1ap_id", None),
            )
        ]

    def _ue_violation(self, imsi: str, violation: Violation, now: float) -> Output:
        return [self._failed(imsi, now, str(violation), violation)]

    def _failed(
        self, imsi: str, now: float, reason: str, violation: Violation | None = None
    ) -> ProcedureFailed:
        entry = self._ues.get(imsi)
        # The UE core may name the procedure under way; the eNB itself cannot know it.
        procedure = getattr(entry.ue, "procedure", None) if entry is not None else None
        return ProcedureFailed(imsi, procedure or "s1", now, reason, violation)

    def _send_error_indication(
        self, cause: str, mme_id: int | None, enb_id: int | None, stream: int, now: float
    ) -> Output:
        indication = ErrorIndication(mme_id, enb_id, _radio_cause(cause))
        return self._send(indication, stream, now)

    # --- releasing connections ----------------------------------------------------------

    def _release_locally(self, connection: _Connection, now: float) -> Output:
        """The connection is gone: its bearers, its IDs, and the UE's RRC connection."""
        entry = self._ues.get(connection.imsi)
        ue_told = entry is not None and entry.connection is connection
        output = self._forget(connection)
        if ue_told:
            assert entry is not None
            output += self.from_ue(entry.ue.connection_released(now), now)
        return output

    def _forget(self, connection: _Connection) -> Output:
        output = self._release_bearers(connection, tuple(connection.bearers))
        self._by_enb_id.pop(connection.enb_ue_s1ap_id, None)
        if connection.mme_ue_s1ap_id is not None:
            if self._by_mme_id.get(connection.mme_ue_s1ap_id) is connection:
                del self._by_mme_id[connection.mme_ue_s1ap_id]
        self._released[connection.enb_ue_s1ap_id] = connection.imsi
        while len(self._released) > RELEASED_IDS_REMEMBERED:
            self._released.popitem(last=False)
        entry = self._ues.get(connection.imsi)
        if entry is not None and entry.connection is connection:
            entry.connection = None
        return output

    # --- allocation ---------------------------------------------------------------------

    def _allocate_enb_ue_s1ap_id(self) -> int:
        for _ in range(ENB_UE_S1AP_ID_RANGE):
            candidate = self._next_enb_ue_s1ap_id
            self._next_enb_ue_s1ap_id = (candidate + 1) % ENB_UE_S1AP_ID_RANGE
            if candidate not in self._by_enb_id:
                self._released.pop(candidate, None)
                return candidate
        raise EnbError("every eNB-UE-S1AP-ID is in use")

    def _allocate_teid(self) -> int:
        while True:  # 2^32 TEIDs: far more than bearers a simulator holds
            candidate = self._next_teid
            self._next_teid = candidate % (TEID_RANGE - 1) + 1
            if candidate not in self._teids:
                self._teids.add(candidate)
                return candidate

    def _stream_for(self, enb_ue_s1ap_id: int) -> int:
        """A stream other than 0 for the UE's connection (TS 36.412 7), spread over the
        association's streams by the eNB-UE-S1AP-ID, as OpenAirInterface's eNB does."""
        if self.outbound_streams <= 1:
            return 0
        return 1 + enb_ue_s1ap_id % (self.outbound_streams - 1)

    # --- sending and the timeline -------------------------------------------------------

    def _send(
        self,
        message: S1apMessage,
        stream: int,
        now: float,
        connection: _Connection | None = None,
    ) -> Output:
        output = self._logged("uplink", message, stream, now, connection)
        output.append(SendS1ap(s1ap.encode(message), stream))
        return output

    def _logged(
        self,
        direction: str,
        message: Any,
        stream: int,
        now: float,
        connection: _Connection | None = None,
    ) -> Output:
        if not self.timeline:
            return []
        enb_id = getattr(message, "enb_ue_s1ap_id", None)
        if connection is None and enb_id is not None:
            connection = self._by_enb_id.get(enb_id)
        nas_pdu = _nas_pdu_of(message)
        nas = None if nas_pdu is None else nas_message_name(nas_pdu, uplink=direction == "uplink")
        return [
            MessageLogged(
                now,
                direction,
                message_name(message),
                stream,
                connection.imsi if connection is not None else None,
                enb_id,
                getattr(message, "mme_ue_s1ap_id", None),
                nas,
            )
        ]


# --- helpers ------------------------------------------------------------------------------


def algorithm_sets(capabilities: Any) -> tuple[frozenset[int], frozenset[int]]:
    """(EEA numbers, EIA numbers) from 1 to 7 that the capabilities declare, from either the
    S1AP form (16-bit masks, most significant bit 128-EEA1, TS 36.413 9.2.1.40), sets of
    algorithm numbers (`eea`, `eia`: the UE core's form), or the NAS form (octets EEA0-7 and
    EIA0-7, bit 8 EEA0, TS 24.301 9.9.3.34) as an object with `eea` and `eia` or as its
    octets. EEA0 and EIA0 are left out: S1AP cannot express them."""
    if hasattr(capabilities, "encryption_algorithms"):
        masks = (capabilities.encryption_algorithms, capabilities.integrity_algorithms)
        return _from_mask(masks[0], _S1AP_TOP), _from_mask(masks[1], _S1AP_TOP)
    if isinstance(capabilities, bytes | bytearray) and len(capabilities) >= 2:
        return _from_mask(capabilities[0], _NAS_TOP), _from_mask(capabilities[1], _NAS_TOP)
    eea, eia = getattr(capabilities, "eea", None), getattr(capabilities, "eia", None)
    if isinstance(eea, int) and isinstance(eia, int):
        return _from_mask(eea, _NAS_TOP), _from_mask(eia, _NAS_TOP)
    if isinstance(eea, set | frozenset) and isinstance(eia, set | frozenset):
        return frozenset(eea & _ALGORITHMS), frozenset(eia & _ALGORITHMS)
    raise TypeError(f"not UE security capabilities: {capabilities!r}")


_ALGORITHMS = frozenset(range(1, 8))
_S1AP_TOP = 16
"""In an S1AP mask algorithm n is bit 16 - n (bit 15, the most significant, is EEA1)."""
_NAS_TOP = 7
"""In a NAS octet algorithm n is bit 7 - n (bit 7, the most significant, is EEA0)."""


def _from_mask(mask: int, top: int) -> frozenset[int]:
    return frozenset(n for n in _ALGORITHMS if mask >> (top - n) & 1)


def _e_rab_list_problem(
    name: str, e_rabs: tuple[ERabToSetup, ...], connection: _Connection
) -> tuple[Violation, Cause] | None:
    seen: set[int] = set()
    for e_rab in e_rabs:
        problem = _e_rab_problem(name, e_rab, connection, seen)
        if problem is not None:
            return problem
        seen.add(e_rab.e_rab_id)
    return None


def _e_rab_problem(
    name: str, e_rab: ERabToSetup, connection: _Connection, seen: set[int]
) -> tuple[Violation, Cause] | None:
    """What is wrong with one E-RAB to set up: its ID, its SGW tunnel (8.2.1.2, 8.3.1.2)."""
    if e_rab.e_rab_id in seen or e_rab.e_rab_id in connection.bearers:
        reason = f"{e_rab.e_rab_id} is in use already"
        return _radio(Violation(name, "E-RAB ID", reason), "multiple-E-RAB-ID-instances")
    if e_rab.e_rab_id < FIRST_EPS_BEARER_ID:
        reason = f"{e_rab.e_rab_id} is a reserved EPS bearer identity (TS 24.007 11.2.3.1.5)"
        return _radio(Violation(name, "E-RAB ID", reason), "unknown-E-RAB-ID")
    try:
        ip_address(e_rab.transport_address)
    except ValueError:
        reason = f"{e_rab.transport_address!r} is no IP address of an SGW"
        return _radio(Violation(name, "Transport Layer Address", reason), "unspecified")
    if e_rab.gtp_teid == 0:
        reason = "0 names no tunnel endpoint"
        return _radio(Violation(name, "GTP-TEID", reason), "unspecified")
    return None


def _radio(violation: Violation, cause: str) -> tuple[Violation, Cause]:
    return violation, _radio_cause(cause)


def _radio_cause(value: str) -> Cause:
    return Cause(CauseGroup.RADIO_NETWORK, value)


def _error_indication_for(message: Any) -> ErrorIndication:
    """TS 36.413 10.4: a message that does not fit the receiver's state."""
    binding = _MESSAGE_OF_CLASS.get(type(message))
    diagnostics = None
    if binding is not None:
        diagnostics = CriticalityDiagnostics(binding.procedure_code, binding.pdu_type)
    return ErrorIndication(
        getattr(message, "mme_ue_s1ap_id", None),
        getattr(message, "enb_ue_s1ap_id", None),
        _NOT_COMPATIBLE,
        diagnostics,
    )


def _nas_pdu_of(message: Any) -> bytes | None:
    """The NAS PDU a message carries: its own, or the first one of its E-RABs."""
    nas_pdu = getattr(message, "nas_pdu", None)
    if nas_pdu is not None:
        return nas_pdu
    for e_rab in getattr(message, "e_rabs", ()):
        if getattr(e_rab, "nas_pdu", None) is not None:
            return e_rab.nas_pdu
    return None


_INTEGRITY_ONLY = (
    SecurityHeaderType.INTEGRITY_PROTECTED,
    SecurityHeaderType.INTEGRITY_PROTECTED_NEW_CONTEXT,
)
_PROTECTED_HEADER_LENGTH = 6
"""TS 24.301 9.1: security header, 4-octet MAC, sequence number, then the plain message."""


def nas_message_name(pdu: bytes, *, uplink: bool) -> str:
    """The TS 24.301 name of a NAS message from its header alone (no keys, no decoding):
    "Attach Request", "Security Mode Command (integrity protected)", "Service Request", or
    "protected" when it is ciphered."""
    if len(pdu) < 2:
        return "unreadable"
    sublayer, header_type = pdu[0] & 0x0F, pdu[0] >> 4
    if sublayer == Sublayer.EMM and header_type:
        if header_type >= SecurityHeaderType.SERVICE_REQUEST:
            return "Service Request"
        if header_type in _INTEGRITY_ONLY and len(pdu) > _PROTECTED_HEADER_LENGTH + 1:
            inner = nas_message_name(pdu[_PROTECTED_HEADER_LENGTH:], uplink=uplink)
            return f"{inner} (integrity protected)"
        return "protected"
    if sublayer == Sublayer.EMM:
        message_type = pdu[1]
    elif sublayer == Sublayer.ESM and len(pdu) >= 3:
        message_type = pdu[2]
    else:
        return "unreadable"
    cls = message_class(sublayer, message_type, uplink=uplink)
    if cls is None:
        return f"unknown message type {message_type:#04x}"
    return _NAS_NAMES.get(cls.__name__) or _words(cls.__name__)


_NAS_NAMES = {"NetworkDetachRequest": "Detach Request"}
"""Where the TS name differs from the class name (TS 24.301 8.2.11.2 is a Detach Request)."""
_MESSAGE_OF_CLASS = {message.message_class: message for message in MESSAGES}
_MESSAGE_OF_KIND = {(message.pdu_type, message.procedure_code): message for message in MESSAGES}
_ACRONYMS = {
    "Ue": "UE", "Nas": "NAS", "Enb": "eNB", "Mme": "MME", "Rab": "RAB", "S1ap": "S1AP",
    "Esm": "ESM", "Emm": "EMM", "Eps": "EPS", "Pdn": "PDN", "Guti": "GUTI", "Id": "ID",
}  # fmt: skip


def _words(class_name: str) -> str:
    """ "InitialContextSetupRequest" -> "Initial Context Setup Request", "ERabSetupRequest"
    -> "E-RAB Setup Request": the message's TS name."""
    words = [_ACRONYMS.get(word, word) for word in re.findall(r"[A-Z][a-z0-9]*", class_name)]
    return " ".join(words).replace("E RAB", "E-RAB")


def message_name(message: Any) -> str:
    return _words(type(message).__name__)


def _decode_error_message_name(error: S1apDecodeError) -> str:
    binding = _MESSAGE_OF_KIND.get((error.pdu_type, error.procedure_code))  # type: ignore[arg-type]
    if binding is not None:
        return _words(binding.message_class.__name__)
    if error.procedure_code is not None:
        return f"S1AP procedure {error.procedure_code} {error.pdu_type or ''}".rstrip()
    return "S1AP message"


_IE_ACRONYMS = {
    "ENB": "eNB", "UE": "UE", "MME": "MME", "S1AP": "S1AP", "ID": "ID", "IDS": "IDs",
    "NAS": "NAS", "PDU": "PDU", "TAI": "TAI", "TAS": "TAs", "DRX": "DRX", "CN": "CN",
    "GUMMEI": "GUMMEI", "GUMMEIS": "GUMMEIs", "EUTRAN": "E-UTRAN", "CGI": "CGI",
    "RRC": "RRC", "RAB": "RAB",
}  # fmt: skip
_IE_NAMES = {
    value: " ".join(
        _IE_ACRONYMS.get(word, word.title()) for word in name.removeprefix("IE_").split("_")
    )
    .replace("E RAB", "E-RAB")
    .replace("S Tmsi", "S-TMSI")
    for name, value in vars(s1ap_constants).items()
    if name.startswith("IE_")
}
_IE_NAMES |= {
    s1ap_constants.IE_MME_UE_S1AP_ID: "MME-UE-S1AP-ID",
    s1ap_constants.IE_ENB_UE_S1AP_ID: "eNB-UE-S1AP-ID",
}


def _ie_name(ie_id: int) -> str:
    """The TS 36.413 name of an IE ("Security Key", "UE Security Capabilities"), by id."""
    return _IE_NAMES.get(ie_id, f"IE {ie_id}")
