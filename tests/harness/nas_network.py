"""An in-memory network side for NAS tests: the MME's NAS role for one subscriber, with real
crypto and no S1AP or I/O.

`NasNetwork` holds what an MME and HSS would for one UE: the subscriber's K/OPc and next SQN
(MILENAGE vectors, AUTS resynchronisation), the KASME of the last authentication, the NAS
security context (`epc.security.context.NasSecurityContext`), the UE's capabilities and PTI as
its uplink told them, and the GUTI it allocated. It builds every downlink message a UE
procedure needs (Authentication Request, Security Mode Command, Attach Accept with Activate
Default EPS Bearer Context Request, Identity Request, GUTI Reallocation Command, EMM
Information, Tracking Area Update Accept/Reject, Service Reject, Detach Accept, a network
Detach Request, EMM Status...) and returns its octets, protected as an MME would protect it.
`receive(pdu, initial=...)` verifies and decodes the UE's uplink (NAS-MAC, short MAC, RES,
header types) and raises `UplinkError` on anything wrong, so a test that drives a UE against
it checks both sides. `kenb` is the network's KeNB for the connection, for comparing with the
UE's.

Every builder takes `tamper=Tamper(...)` to get one thing wrong on purpose: a bad NAS-MAC, a
chosen NAS COUNT, another security header type, no protection at all, or an edit of the plain
octets (`without_ie` / `without_esm_ie` cut a mandatory IE). `replay()` gives back a message
already sent, and message order is the test's to choose. Another harness can script a test
MME over S1AP with this: nothing here knows S1AP, sockets or the clock.

SQN: the HSS steps SQN by 32 (SEQ + 1 with IND 0, TS 33.102 C.3.2), and on resynchronisation
continues after the SEQ the USIM reported (C.3.4).
"""

from __future__ import annotations

import dataclasses
import ipaddress
import random
from collections.abc import Callable
from dataclasses import dataclass

import msgspec

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
    AuthenticationReject,
    AuthenticationRequest,
    AuthenticationResponse,
    DetachAccept,
    EmmCause,
    EmmInformation,
    EmmStatus,
    EpsQos,
    EsmMessage,
    Form,
    GprsTimer,
    Guti,
    GutiReallocationCommand,
    GutiReallocationComplete,
    IdentityRequest,
    IdentityType,
    NasKeySetIdentifier,
    NasMessage,
    NasSecurityAlgorithms,
    NetworkDetachRequest,
    NetworkDetachType,
    PdnAddress,
    PdnConnectivityRequest,
    PdnType,
    ProtocolConfigurationOptions,
    SecurityModeCommand,
    SecurityModeComplete,
    ServiceRequest,
    Sublayer,
    Tai,
    TrackingAreaUpdateAccept,
    TrackingAreaUpdateComplete,
    TrackingAreaUpdateReject,
    TrackingAreaUpdateRequest,
    UeNetworkCapability,
    esm_message_class,
    message_class,
)
from epc.security.algorithms import Direction
from epc.security.context import NasSecurityContext, SecurityHeaderType
from epc.security.errors import SecurityError
from epc.security.kdf import derive_kasme, derive_kenb, encode_plmn_identity
from epc.security.milenage import AuthenticationVector, Milenage
from epc.subscriber import Subscriber

SQN_STEP = 32
"""TS 33.102 C.3.2: each new vector takes the next SEQ (IND kept at 0)."""
INDEX_BITS = 5
SERVICE_REJECT = 0x4E
"""TS 24.301 9.8: SERVICE REJECT (8.2.24), which the codec does not carry."""
DEFAULT_T3412 = GprsTimer(GprsTimer.DECIHOURS, 9)
"""TS 24.301 10.2: the default periodic TAU timer, 54 minutes."""


_PROTECTED_ONLY = (
    AttachComplete,
    SecurityModeComplete,
    DetachAccept,
    GutiReallocationComplete,
    TrackingAreaUpdateComplete,
)
"""Uplink messages that only ever follow security mode control (TS 24.301 4.4.4.2)."""


class UplinkError(AssertionError):
    """The UE sent something the network cannot accept (a test failure, not a NAS outcome)."""


@dataclass(frozen=True, slots=True)
class Tamper:
    """One thing to get wrong in a downlink message.

    - `bad_mac`: flip a bit of the NAS-MAC after protecting.
    - `count`: protect with this downlink NAS COUNT instead of the next one (a replayed or
      skipped COUNT; for a Security Mode Command, anything but 0 is wrong).
    - `header_type`: protect with this security header type instead (1: integrity only, not
      ciphered; 2: ciphered; 3: as a Security Mode Command).
    - `plain`: send the message without security protection.
    - `edit`: change the plain octets before they are protected (see `without_ie`).
    """

    bad_mac: bool = False
    count: int | None = None
    header_type: int | None = None
    plain: bool = False
    edit: Callable[[bytes], bytes] | None = None


NO_TAMPERING = Tamper()


class NasNetwork:
    """The MME's NAS side for one subscriber. Attributes tests read: `context` (the current
    NAS security context), `kenb`, `guti`, `sqn` (the HSS's next SQN), `sent` (downlink PDUs)
    and `received` (decoded uplink messages)."""

    def __init__(
        self,
        subscriber: Subscriber,
        *,
        plmn: str = "00101",
        tai_list: tuple[Tai, ...] | None = None,
        ciphering: int = 2,
        integrity: int = 2,
        mme_group_id: int = 0x8001,
        mme_code: int = 1,
        pdn_address: str = "10.45.0.2",
        dns_servers: tuple[str, ...] = ("8.8.8.8", "8.8.4.4"),
        seed: int = 1,
    ) -> None:
        self.subscriber = subscriber
        self.plmn = plmn
        self.tai_list = tai_list or (Tai(plmn, 1),)
        self.ciphering = ciphering
        self.integrity = integrity
        self.mme_group_id = mme_group_id
        self.mme_code = mme_code
        self.pdn_address = ipaddress.IPv4Address(pdn_address)
        self.dns_servers = tuple(ipaddress.ip_address(server) for server in dns_servers)
        self.serving_network_id = encode_plmn_identity(plmn[:3], plmn[3:])
        self.milenage = Milenage(subscriber.k, subscriber.opc)
        self.sqn = subscriber.sqn
        self.random = random.Random(seed)
        self.context: NasSecurityContext | None = None
        self.kenb: bytes | None = None
        self.guti: Guti | None = None
        self.vector: AuthenticationVector | None = None
        self.authenticated: tuple[int, bytes] | None = None
        """(KSI, KASME) of the last Authentication Request, until a Security Mode Command."""
        self.ue_network_capability: UeNetworkCapability | None = None
        self.pdn_request: PdnConnectivityRequest | None = None
        self.sent: list[bytes] = []
        self.received: list[NasMessage | ServiceRequest] = []
        self._next_ksi = 0
        self._next_m_tmsi = 0xC0000001

    # --- the uplink ------------------------------------------------------------------------

    def receive(self, pdu: bytes, *, initial: bool = False) -> NasMessage | ServiceRequest:
        """Verify and decode one uplink PDU. `initial` when it came in an Initial UE Message:
        its uplink NAS COUNT then gives KeNB (TS 33.401 A.3), as does a Security Mode
        Complete's."""
        header_type = pdu[0] >> 4 if pdu and pdu[0] & 0x0F == Sublayer.EMM else 0
        if header_type >= SecurityHeaderType.SERVICE_REQUEST:
            return self._receive_service_request(pdu)
        count = None
        octets = pdu
        if header_type != SecurityHeaderType.PLAIN:
            if self.context is None:
                raise UplinkError(f"protected uplink (type {header_type}) with no context")
            try:
                unprotected = self.context.unprotect(pdu, Direction.UPLINK)
            except SecurityError as error:
                raise UplinkError(f"uplink fails its security check: {error}") from None
            self.context = unprotected.context
            octets, count = unprotected.message, unprotected.count
        message = decode(octets, uplink=True)
        if header_type == SecurityHeaderType.PLAIN and isinstance(message, _PROTECTED_ONLY):
            raise UplinkError(f"{type(message).__name__} sent without security protection")
        self._learn(message, header_type)
        if count is not None and self.context is not None:
            if initial or isinstance(message, SecurityModeComplete):
                self.kenb = derive_kenb(self.context.kasme, count)
        self.received.append(message)
        return message

    def _receive_service_request(self, pdu: bytes) -> ServiceRequest:
        if self.context is None:
            raise UplinkError("Service Request with no context")
        try:
            verified = self.context.verify_service_request(pdu)
        except SecurityError as error:
            raise UplinkError(f"Service Request fails its short MAC: {error}") from None
        self.context = verified.context
        self.kenb = derive_kenb(self.context.kasme, verified.count)
        message = decode(pdu, uplink=True)
        assert isinstance(message, ServiceRequest)
        self.received.append(message)
        return message

    def _learn(self, message: NasMessage, header_type: int) -> None:
        match message:
            case AttachRequest():
                self.ue_network_capability = message.ue_network_capability
                assert isinstance(message.esm_message, PdnConnectivityRequest)
                self.pdn_request = message.esm_message
            case TrackingAreaUpdateRequest() if message.ue_network_capability is not None:
                self.ue_network_capability = message.ue_network_capability
            case AuthenticationResponse():
                if self.vector is None or message.res != self.vector.xres:
                    raise UplinkError("Authentication Response: RES differs from XRES")
            case SecurityModeComplete():
                if (
                    header_type
                    != SecurityHeaderType.INTEGRITY_PROTECTED_AND_CIPHERED_WITH_NEW_CONTEXT
                ):
                    raise UplinkError(f"Security Mode Complete with header type {header_type}")
            case AttachComplete():
                if not isinstance(message.esm_message, ActivateDefaultEpsBearerContextAccept):
                    raise UplinkError("Attach Complete without the default bearer accept")

    # --- authentication (TS 24.301 5.4.2, TS 33.401 6.1) ---------------------------------------

    def authentication_request(
        self,
        *,
        sqn: int | None = None,
        amf: bytes | None = None,
        ksi: int | None = None,
        autn: bytes | None = None,
        tamper: Tamper = NO_TAMPERING,
    ) -> bytes:
        """A fresh vector from the HSS's next SQN (or `sqn`), with the subscriber's AMF (or
        `amf`); `autn` replaces the AUTN as sent."""
        rand = self.random.randbytes(16)
        used_sqn = self.sqn if sqn is None else sqn
        if sqn is None:
            self.sqn += SQN_STEP
        vector = self.milenage.generate_vector(rand, used_sqn, amf or self.subscriber.amf)
        self.vector = vector
        kasme = derive_kasme(vector.ck, vector.ik, self.serving_network_id, vector.sqn_xor_ak)
        ksi = self._allocate_ksi() if ksi is None else ksi
        self.authenticated = (ksi, kasme)
        message = AuthenticationRequest(
            key_set_identifier=NasKeySetIdentifier(ksi),
            rand=rand,
            autn=vector.autn if autn is None else autn,
        )
        return self._downlink(message, tamper)

    def resynchronise(self, auts: bytes) -> int:
        """TS 33.102 6.3.5 / C.3.4: check MAC-S, take SQN_MS, continue after its SEQ."""
        assert self.vector is not None, "no Authentication Request to resynchronise"
        sqn_ms = self.milenage.resynchronise(self.vector.rand, auts)
        self.sqn = ((sqn_ms >> INDEX_BITS) + 1) << INDEX_BITS
        return sqn_ms

    def authentication_reject(self, *, tamper: Tamper = NO_TAMPERING) -> bytes:
        return self._downlink(AuthenticationReject(), tamper)

    # --- security mode control (TS 24.301 5.4.3) ----------------------------------------------

    def security_mode_command(
        self,
        *,
        ciphering: int | None = None,
        integrity: int | None = None,
        ksi: int | None = None,
        replayed_capabilities: bytes | None = None,
        imeisv_requested: bool = True,
        kasme: bytes | None = None,
        tamper: Tamper = NO_TAMPERING,
    ) -> bytes:
        """Take the last authentication's KASME into use (counts from 0), or re-key the current
        context (counts kept); with neither, a random KASME (an SMC before authentication).
        The command is protected with the new context, header type 3."""
        ciphering = self.ciphering if ciphering is None else ciphering
        integrity = self.integrity if integrity is None else integrity
        fresh = self.authenticated is not None or self.context is None
        if self.authenticated is not None:
            default_ksi, default_kasme = self.authenticated
        elif self.context is not None:
            default_ksi, default_kasme = self.context.key_set_identifier, self.context.kasme
        else:
            default_ksi, default_kasme = 0, self.random.randbytes(32)
        context = NasSecurityContext.create(
            kasme=kasme or default_kasme,
            key_set_identifier=default_ksi if ksi is None else ksi,
            ciphering_algorithm=ciphering,
            integrity_algorithm=integrity,
        )
        if not fresh and self.context is not None:
            context = msgspec.structs.replace(
                context,
                uplink_count=self.context.uplink_count,
                downlink_count=self.context.downlink_count,
            )
        if replayed_capabilities is None:
            assert self.ue_network_capability is not None, "no UE network capability seen"
            replayed_capabilities = self.ue_network_capability.security_capabilities()
        message = SecurityModeCommand(
            selected_algorithms=NasSecurityAlgorithms(ciphering, integrity),
            key_set_identifier=NasKeySetIdentifier(context.key_set_identifier),
            replayed_security_capabilities=replayed_capabilities,
            imeisv_requested=imeisv_requested,
        )
        self.context = context
        self.authenticated = None
        header = SecurityHeaderType.INTEGRITY_PROTECTED_WITH_NEW_CONTEXT
        return self._downlink(message, tamper, header_type=header)

    # --- attach (TS 24.301 5.5.1.2) and the default bearer (6.4.1) ---------------------------

    def attach_accept(
        self,
        *,
        guti: Guti | None = None,
        new_guti: bool = True,
        tai_list: tuple[Tai, ...] | None = None,
        attach_result: int = AttachResult.EPS_ONLY,
        t3412: GprsTimer = DEFAULT_T3412,
        esm_message: EsmMessage | None = None,
        tamper: Tamper = NO_TAMPERING,
        **bearer: object,
    ) -> bytes:
        """ATTACH ACCEPT with a new GUTI (unless `new_guti` is False) and the default bearer;
        `bearer` overrides `default_bearer_request` fields."""
        if new_guti:
            guti = guti or self.allocate_guti()
            self.guti = guti
        message = AttachAccept(
            attach_result=attach_result,
            t3412=t3412,
            tai_list=tai_list or self.tai_list,
            esm_message=esm_message or self.default_bearer_request(**bearer),
            guti=guti if new_guti else None,
        )
        return self._downlink(message, tamper)

    def default_bearer_request(
        self,
        *,
        bearer_identity: int = 5,
        procedure_transaction_identity: int | None = None,
        apn: str | None = None,
        qci: int = 9,
        pdn_type: int = PdnType.IPV4,
        ipv4: str | None = None,
    ) -> ActivateDefaultEpsBearerContextRequest:
        """ACTIVATE DEFAULT EPS BEARER CONTEXT REQUEST answering the UE's PDN Connectivity
        Request: its PTI and APN (or the subscriber's), DNS in the PCO."""
        request = self.pdn_request
        if procedure_transaction_identity is None:
            assert request is not None, "no PDN Connectivity Request seen"
            procedure_transaction_identity = request.procedure_transaction_identity
        requested_apn = request.apn if request is not None else None
        pco = request.protocol_configuration_options if request is not None else None
        address = ipaddress.IPv4Address(ipv4) if ipv4 is not None else self.pdn_address
        return ActivateDefaultEpsBearerContextRequest(
            bearer_identity=bearer_identity,
            procedure_transaction_identity=procedure_transaction_identity,
            eps_qos=EpsQos(qci),
            apn=apn or requested_apn or self.subscriber.apn,
            pdn_address=PdnAddress(pdn_type, address),
            apn_ambr=ApnAmbr(self.subscriber.ambr_dl_kbps, self.subscriber.ambr_ul_kbps),
            protocol_configuration_options=(
                pco.answer_dns(self.dns_servers) if pco else ProtocolConfigurationOptions()
            ),
        )

    def attach_reject(self, emm_cause: int, *, tamper: Tamper = NO_TAMPERING) -> bytes:
        return self._downlink(AttachReject(emm_cause=emm_cause), tamper)

    # --- identification, GUTI reallocation, EMM information (TS 24.301 5.4.1, 5.4.4, 5.4.5) ----

    def identity_request(
        self, identity_type: int = IdentityType.IMSI, *, tamper: Tamper = NO_TAMPERING
    ) -> bytes:
        return self._downlink(IdentityRequest(identity_type=identity_type), tamper)

    def guti_reallocation_command(
        self,
        *,
        guti: Guti | None = None,
        tai_list: tuple[Tai, ...] | None = None,
        tamper: Tamper = NO_TAMPERING,
    ) -> bytes:
        self.guti = guti or self.allocate_guti()
        message = GutiReallocationCommand(guti=self.guti, tai_list=tai_list)
        return self._downlink(message, tamper)

    def emm_information(
        self,
        *,
        full_network_name: str = "Simulated Network",
        short_network_name: str = "SimNet",
        tamper: Tamper = NO_TAMPERING,
    ) -> bytes:
        message = EmmInformation(
            full_network_name=full_network_name, short_network_name=short_network_name
        )
        return self._downlink(message, tamper)

    # --- tracking area update, service request, detach (5.5.3, 5.6.1, 5.5.2) ---------------

    def tracking_area_update_accept(
        self,
        *,
        new_guti: bool = False,
        tai_list: tuple[Tai, ...] | None = None,
        update_result: int = 0,
        t3412: GprsTimer | None = DEFAULT_T3412,
        eps_bearer_context_status: frozenset[int] | None = None,
        tamper: Tamper = NO_TAMPERING,
    ) -> bytes:
        guti = None
        if new_guti:
            guti = self.guti = self.allocate_guti()
        message = TrackingAreaUpdateAccept(
            update_result=update_result,
            t3412=t3412,
            guti=guti,
            tai_list=tai_list or self.tai_list,
            eps_bearer_context_status=eps_bearer_context_status,
        )
        return self._downlink(message, tamper)

    def tracking_area_update_reject(
        self, emm_cause: int, *, tamper: Tamper = NO_TAMPERING
    ) -> bytes:
        return self._downlink(TrackingAreaUpdateReject(emm_cause=emm_cause), tamper)

    def service_reject(self, emm_cause: int, *, tamper: Tamper = NO_TAMPERING) -> bytes:
        return self._protect(bytes((Sublayer.EMM, SERVICE_REJECT, emm_cause)), tamper)

    def detach_accept(self, *, tamper: Tamper = NO_TAMPERING) -> bytes:
        return self._downlink(DetachAccept(), tamper)

    def network_detach_request(
        self,
        detach_type: int = NetworkDetachType.REATTACH_NOT_REQUIRED,
        emm_cause: int | None = None,
        *,
        tamper: Tamper = NO_TAMPERING,
    ) -> bytes:
        message = NetworkDetachRequest(detach_type=detach_type, emm_cause=emm_cause)
        return self._downlink(message, tamper)

    def emm_status(
        self, emm_cause: int = EmmCause.PROTOCOL_ERROR_UNSPECIFIED, *, tamper: Tamper = NO_TAMPERING
    ) -> bytes:
        return self._downlink(EmmStatus(emm_cause=emm_cause), tamper)

    # --- protection and tampering -------------------------------------------------------------

    def protect(
        self, octets: bytes, *, header_type: int | None = None, tamper: Tamper = NO_TAMPERING
    ) -> bytes:
        """Any plain octets, protected with the current context as `header_type` (ciphered,
        type 2, by default), tampered with as asked."""
        if header_type is not None:
            tamper = dataclasses.replace(tamper, header_type=header_type)
        return self._protect(octets, tamper)

    def replay(self, index: int = -1) -> bytes:
        """A downlink PDU sent before, octet for octet."""
        return self.sent[index]

    def allocate_guti(self) -> Guti:
        m_tmsi = self._next_m_tmsi
        self._next_m_tmsi += 1
        return Guti(self.plmn, self.mme_group_id, self.mme_code, m_tmsi)

    def _downlink(
        self, message: NasMessage, tamper: Tamper, *, header_type: int | None = None
    ) -> bytes:
        if header_type is not None and tamper.header_type is None:
            tamper = dataclasses.replace(tamper, header_type=header_type)
        return self._protect(encode(message), tamper)

    def _protect(self, octets: bytes, tamper: Tamper) -> bytes:
        """Protected with the current context (ciphered) once there is one, plain before."""
        if tamper.edit is not None:
            octets = tamper.edit(octets)
        if tamper.plain or self.context is None:
            pdu = octets
        else:
            context = self.context
            if tamper.count is not None:
                context = msgspec.structs.replace(context, downlink_count=tamper.count)
            header = tamper.header_type or SecurityHeaderType.INTEGRITY_PROTECTED_AND_CIPHERED
            protected = context.protect(octets, Direction.DOWNLINK, SecurityHeaderType(header))
            next_count = max(self.context.downlink_count, protected.context.downlink_count)
            self.context = msgspec.structs.replace(protected.context, downlink_count=next_count)
            pdu = protected.pdu
            if tamper.bad_mac:
                pdu = pdu[:1] + bytes((pdu[1] ^ 0x01,)) + pdu[2:]
        self.sent.append(pdu)
        return pdu

    def _allocate_ksi(self) -> int:
        ksi = self._next_ksi
        self._next_ksi = (self._next_ksi + 1) % 7
        return ksi


# --- cutting mandatory IEs out of plain messages -------------------------------------------------


def without_ie(field: str) -> Callable[[bytes], bytes]:
    """An edit that cuts a plain EMM or ESM message just before its mandatory IE `field`:
    that IE and every one after it are missing."""

    def edit(octets: bytes) -> bytes:
        start, _ = _mandatory_ie_spans(octets)[field]
        return octets[:start]

    return edit


def without_esm_ie(field: str) -> Callable[[bytes], bytes]:
    """An edit for an EMM message carrying an ESM message container (Attach Accept): the
    contained ESM message is cut before its mandatory IE `field`, the container's length fixed,
    the EMM message's other IEs kept."""

    def edit(octets: bytes) -> bytes:
        start, end = _mandatory_ie_spans(octets)["esm_message"]
        inner = octets[start + 2 : end]
        cut = without_ie(field)(inner)
        return octets[:start] + len(cut).to_bytes(2, "big") + cut + octets[end:]

    return edit


def _mandatory_ie_spans(octets: bytes) -> dict[str, tuple[int, int]]:
    """field -> (start, end) of each mandatory IE of a plain message, its length octets
    included; half-octet IEs span their shared octet."""
    if octets[0] & 0x0F == Sublayer.ESM:
        cls, offset = esm_message_class(octets), 3
    else:
        cls, offset = message_class(Sublayer.EMM, octets[1], uplink=False), 2
    assert cls is not None
    spans: dict[str, tuple[int, int]] = {}
    second_half = False
    for ie in cls.LAYOUT:
        if ie.form in OPTIONAL_FORMS:
            break
        if ie.form is Form.HALF:
            if ie.field:
                spans[ie.field] = (offset, offset + 1)
            offset += 1 if second_half else 0
            second_half = not second_half
            continue
        length_octets = {Form.V: 0, Form.LV: 1, Form.LV_E: 2}[ie.form]
        length = (
            ie.length
            if ie.form is Form.V
            else int.from_bytes(octets[offset : offset + length_octets], "big")
        )
        end = offset + length_octets + length
        if ie.field:
            spans[ie.field] = (offset, end)
        offset = end
    return spans
