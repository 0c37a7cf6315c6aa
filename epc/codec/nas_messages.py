"""NAS EPS (TS 24.301) messages and information elements as frozen dataclasses, and their encoding.

This module owns the vocabulary every NAS user shares: message type and cause constants, the
typed information elements (mobile identities, TAI list, PCO, EPS QoS...), one dataclass per
message, and `NasDecodeError`. Each message class carries its IE table (`LAYOUT`), transcribed
from its TS 24.301 clause 8.2.x / 8.3.x table: the encoder here and the fast decoder in
`nas_fast` both walk it, and the pycrate-backed decoder in `nas` maps it onto pycrate's names.

Abbreviations used throughout: EMM/ESM (EPS mobility / session management), IE (information
element), IEI (IE identifier), KSI (NAS key set identifier), GUTI (globally unique temporary
identity: PLMN, MME group ID, MME code, M-TMSI), TAI/TAC (tracking area identity / code), EBI
(EPS bearer identity), PTI (procedure transaction identity), PCO (protocol configuration options,
TS 24.008 10.5.6.3), APN (access point name), AMBR (aggregate maximum bit rate), QCI (QoS class
identifier), MBR/GBR (maximum / guaranteed bit rate). Bit rates are in kbit/s.

Only the IEs an EPC uses are fields; a message's other optional IEs are still listed in its
`LAYOUT` (field None) so decoders can step over them, and are dropped.
"""

from __future__ import annotations

import enum
import ipaddress
from dataclasses import dataclass
from typing import ClassVar, NamedTuple

from epc.codec import DecodeError


class Sublayer(enum.IntEnum):
    """The NAS sublayer, valued as its protocol discriminator (TS 24.007 11.2.3.1.1)."""

    ESM = 0x2
    EMM = 0x7


class SecurityHeaderType(enum.IntEnum):
    """TS 24.301 9.3.1: upper half of an EMM message's first octet."""

    PLAIN = 0
    INTEGRITY_PROTECTED = 1
    INTEGRITY_PROTECTED_CIPHERED = 2
    INTEGRITY_PROTECTED_NEW_CONTEXT = 3
    INTEGRITY_PROTECTED_CIPHERED_NEW_CONTEXT = 4
    SERVICE_REQUEST = 12
    """Values 13-15 are read as 12 (TS 24.301 9.3.1, note 1)."""


class EmmMessageType(enum.IntEnum):
    """TS 24.301 9.8, table 9.8.1; the comment names the message's clause."""

    ATTACH_REQUEST = 0x41  # 8.2.4
    ATTACH_ACCEPT = 0x42  # 8.2.1
    ATTACH_COMPLETE = 0x43  # 8.2.2
    ATTACH_REJECT = 0x44  # 8.2.3
    DETACH_REQUEST = 0x45  # 8.2.11 (8.2.11.1 UE originating, 8.2.11.2 UE terminated)
    DETACH_ACCEPT = 0x46  # 8.2.10
    TRACKING_AREA_UPDATE_REQUEST = 0x48  # 8.2.29
    TRACKING_AREA_UPDATE_ACCEPT = 0x49  # 8.2.26
    TRACKING_AREA_UPDATE_COMPLETE = 0x4A  # 8.2.27
    TRACKING_AREA_UPDATE_REJECT = 0x4B  # 8.2.28
    GUTI_REALLOCATION_COMMAND = 0x50  # 8.2.16
    GUTI_REALLOCATION_COMPLETE = 0x51  # 8.2.17
    AUTHENTICATION_REQUEST = 0x52  # 8.2.7
    AUTHENTICATION_RESPONSE = 0x53  # 8.2.8
    AUTHENTICATION_REJECT = 0x54  # 8.2.6
    IDENTITY_REQUEST = 0x55  # 8.2.18
    IDENTITY_RESPONSE = 0x56  # 8.2.19
    AUTHENTICATION_FAILURE = 0x5C  # 8.2.5
    SECURITY_MODE_COMMAND = 0x5D  # 8.2.20
    SECURITY_MODE_COMPLETE = 0x5E  # 8.2.21
    SECURITY_MODE_REJECT = 0x5F  # 8.2.22
    EMM_STATUS = 0x60  # 8.2.14
    EMM_INFORMATION = 0x61  # 8.2.13


class EsmMessageType(enum.IntEnum):
    """TS 24.301 9.8, table 9.8.2; the comment names the message's clause."""

    ACTIVATE_DEFAULT_EPS_BEARER_CONTEXT_REQUEST = 0xC1  # 8.3.6
    ACTIVATE_DEFAULT_EPS_BEARER_CONTEXT_ACCEPT = 0xC2  # 8.3.4
    ACTIVATE_DEFAULT_EPS_BEARER_CONTEXT_REJECT = 0xC3  # 8.3.5
    ACTIVATE_DEDICATED_EPS_BEARER_CONTEXT_REQUEST = 0xC5  # 8.3.3
    ACTIVATE_DEDICATED_EPS_BEARER_CONTEXT_ACCEPT = 0xC6  # 8.3.1
    ACTIVATE_DEDICATED_EPS_BEARER_CONTEXT_REJECT = 0xC7  # 8.3.2
    MODIFY_EPS_BEARER_CONTEXT_REQUEST = 0xC9  # 8.3.18
    MODIFY_EPS_BEARER_CONTEXT_ACCEPT = 0xCA  # 8.3.16
    DEACTIVATE_EPS_BEARER_CONTEXT_REQUEST = 0xCD  # 8.3.12
    DEACTIVATE_EPS_BEARER_CONTEXT_ACCEPT = 0xCE  # 8.3.11
    PDN_CONNECTIVITY_REQUEST = 0xD0  # 8.3.20
    PDN_CONNECTIVITY_REJECT = 0xD1  # 8.3.19
    ESM_INFORMATION_REQUEST = 0xD9  # 8.3.13
    ESM_INFORMATION_RESPONSE = 0xDA  # 8.3.14
    ESM_STATUS = 0xE8  # 8.3.15


class EmmCause(enum.IntEnum):
    """TS 24.301 9.9.3.9 (the values this core sends or must recognise)."""

    IMSI_UNKNOWN_IN_HSS = 2
    ILLEGAL_UE = 3
    IMEI_NOT_ACCEPTED = 5
    ILLEGAL_ME = 6
    EPS_SERVICES_NOT_ALLOWED = 7
    EPS_AND_NON_EPS_SERVICES_NOT_ALLOWED = 8
    UE_IDENTITY_CANNOT_BE_DERIVED = 9
    IMPLICITLY_DETACHED = 10
    PLMN_NOT_ALLOWED = 11
    TRACKING_AREA_NOT_ALLOWED = 12
    ROAMING_NOT_ALLOWED_IN_TRACKING_AREA = 13
    NO_SUITABLE_CELLS_IN_TRACKING_AREA = 15
    NETWORK_FAILURE = 17
    ESM_FAILURE = 19
    MAC_FAILURE = 20
    SYNCH_FAILURE = 21
    CONGESTION = 22
    UE_SECURITY_CAPABILITIES_MISMATCH = 23
    SECURITY_MODE_REJECTED_UNSPECIFIED = 24
    NON_EPS_AUTHENTICATION_UNACCEPTABLE = 26
    SEMANTICALLY_INCORRECT_MESSAGE = 95
    INVALID_MANDATORY_INFORMATION = 96
    MESSAGE_TYPE_NON_EXISTENT = 97
    MESSAGE_TYPE_NOT_COMPATIBLE_WITH_STATE = 98
    INFORMATION_ELEMENT_NON_EXISTENT = 99
    CONDITIONAL_IE_ERROR = 100
    MESSAGE_NOT_COMPATIBLE_WITH_STATE = 101
    PROTOCOL_ERROR_UNSPECIFIED = 111


class EsmCause(enum.IntEnum):
    """TS 24.301 9.9.4.4 (the values this core sends or must recognise)."""

    OPERATOR_DETERMINED_BARRING = 8
    INSUFFICIENT_RESOURCES = 26
    MISSING_OR_UNKNOWN_APN = 27
    UNKNOWN_PDN_TYPE = 28
    USER_AUTHENTICATION_FAILED = 29
    REQUEST_REJECTED_BY_GATEWAY = 30
    REQUEST_REJECTED_UNSPECIFIED = 31
    SERVICE_OPTION_NOT_SUPPORTED = 32
    REQUESTED_SERVICE_OPTION_NOT_SUBSCRIBED = 33
    PTI_ALREADY_IN_USE = 35
    REGULAR_DEACTIVATION = 36
    NETWORK_FAILURE = 38
    INVALID_EPS_BEARER_IDENTITY = 43
    PTI_MISMATCH = 47
    PDN_TYPE_IPV4_ONLY_ALLOWED = 50
    PDN_TYPE_IPV6_ONLY_ALLOWED = 51
    ESM_INFORMATION_NOT_RECEIVED = 53
    PDN_CONNECTION_DOES_NOT_EXIST = 54
    INVALID_PTI_VALUE = 81
    SEMANTICALLY_INCORRECT_MESSAGE = 95
    INVALID_MANDATORY_INFORMATION = 96
    MESSAGE_TYPE_NON_EXISTENT = 97
    MESSAGE_TYPE_NOT_COMPATIBLE_WITH_STATE = 98
    INFORMATION_ELEMENT_NON_EXISTENT = 99
    CONDITIONAL_IE_ERROR = 100
    MESSAGE_NOT_COMPATIBLE_WITH_STATE = 101
    PROTOCOL_ERROR_UNSPECIFIED = 111


class AttachType(enum.IntEnum):
    """TS 24.301 9.9.3.11; unused values are read as EPS_ATTACH by the network."""

    EPS_ATTACH = 1
    COMBINED_EPS_IMSI_ATTACH = 2
    EPS_EMERGENCY_ATTACH = 6


class AttachResult(enum.IntEnum):
    """TS 24.301 9.9.3.10."""

    EPS_ONLY = 1
    COMBINED_EPS_IMSI_ATTACH = 2


class IdentityType(enum.IntEnum):
    """TS 24.301 9.9.3.17 (identity type 2), asked for in an Identity Request; the same codes
    type a mobile identity (TS 24.008 10.5.1.4)."""

    IMSI = 1
    IMEI = 2
    IMEISV = 3
    TMSI = 4


class PdnType(enum.IntEnum):
    """TS 24.301 9.9.4.10 (PDN type) and 9.9.4.9 (PDN address)."""

    IPV4 = 1
    IPV6 = 2
    IPV4V6 = 3
    NON_IP = 5


class RequestType(enum.IntEnum):
    """TS 24.301 9.9.4.14."""

    INITIAL_REQUEST = 1
    HANDOVER = 2
    EMERGENCY = 4


class UeDetachType(enum.IntEnum):
    """TS 24.301 9.9.3.7, UE to network."""

    EPS_DETACH = 1
    IMSI_DETACH = 2
    COMBINED_EPS_IMSI_DETACH = 3


class NetworkDetachType(enum.IntEnum):
    """TS 24.301 9.9.3.7, network to UE."""

    REATTACH_REQUIRED = 1
    REATTACH_NOT_REQUIRED = 2
    IMSI_DETACH = 3


class EpsUpdateType(enum.IntEnum):
    """TS 24.301 9.9.3.14."""

    TA_UPDATING = 0
    COMBINED_TA_LA_UPDATING = 1
    COMBINED_TA_LA_UPDATING_WITH_IMSI_ATTACH = 2
    PERIODIC_UPDATING = 3


class ProtocolConfigurationIdentifier(enum.IntEnum):
    """TS 24.008 10.5.6.3: PCO container and protocol identifiers this core answers."""

    PCSCF_IPV6_ADDRESS = 0x0001
    DNS_SERVER_IPV6_ADDRESS = 0x0003
    IP_ADDRESS_ALLOCATION_VIA_NAS = 0x000A
    PCSCF_IPV4_ADDRESS = 0x000C
    DNS_SERVER_IPV4_ADDRESS = 0x000D
    IPV4_LINK_MTU = 0x0010
    IPCP = 0x8021
    """PPP IP Control Protocol (RFC 1332); carries the DNS options of RFC 1877."""


# RFC 1661 / RFC 1877: the IPCP packet codes and options used for DNS inside a PCO.
IPCP_CONFIGURE_ACK = 2
IPCP_CONFIGURE_NAK = 3
IPCP_PRIMARY_DNS = 129
IPCP_SECONDARY_DNS = 131

NO_KEY_AVAILABLE = 7
"""TS 24.301 9.9.3.21: the KSI value meaning "no key is available"."""


class NasDecodeError(DecodeError):
    """Bytes from the peer that are not a valid NAS message (TS 24.301 clause 7).

    `cause` is the EMM or ESM cause for the EMM Status / ESM Status or reject that answers it,
    `sublayer` says which. For an ESM error the header's EBI and PTI are given when they could be
    read, because the ESM Status must echo them. An ESM message container that fails inside an
    EMM message (the PDN Connectivity Request of an Attach Request) raises the ESM error with
    `outer_message_type` set, so the MME can reject the attach with EMM cause #19 (ESM failure).
    """

    def __init__(
        self,
        reason: str,
        *,
        cause: int,
        sublayer: Sublayer,
        message_type: int | None = None,
        bearer_identity: int | None = None,
        procedure_transaction_identity: int | None = None,
        outer_message_type: int | None = None,
    ) -> None:
        super().__init__(reason)
        self.cause = cause
        self.sublayer = sublayer
        self.message_type = message_type
        self.bearer_identity = bearer_identity
        self.procedure_transaction_identity = procedure_transaction_identity
        self.outer_message_type = outer_message_type

    @property
    def emm_cause(self) -> int | None:
        return self.cause if self.sublayer is Sublayer.EMM else None

    @property
    def esm_cause(self) -> int | None:
        return self.cause if self.sublayer is Sublayer.ESM else None

    def inside(self, outer_message_type: int) -> NasDecodeError:
        """The same error, found in the ESM message container of an EMM message."""
        return NasDecodeError(
            f"ESM message container: {self.reason}",
            cause=self.cause,
            sublayer=Sublayer.ESM,
            message_type=self.message_type,
            bearer_identity=self.bearer_identity,
            procedure_transaction_identity=self.procedure_transaction_identity,
            outer_message_type=outer_message_type,
        )


def invalid_message(
    data: bytes, cause: int, reason: str, *, sublayer: Sublayer | None = None
) -> NasDecodeError:
    """The error for `data`, carrying whatever its header tells: sublayer, type, EBI and PTI.

    Both decoders build their errors here, so they agree on everything but the wording."""
    discriminator = data[0] & 0x0F if data else None
    if sublayer is None:
        sublayer = Sublayer.ESM if discriminator == Sublayer.ESM else Sublayer.EMM
    cause = EsmCause(cause) if sublayer is Sublayer.ESM else EmmCause(cause)
    if sublayer is Sublayer.EMM:
        plain = len(data) >= 2 and data[0] == Sublayer.EMM
        message_type = data[1] if plain else None
        return NasDecodeError(reason, cause=cause, sublayer=sublayer, message_type=message_type)
    return NasDecodeError(
        reason,
        cause=cause,
        sublayer=sublayer,
        message_type=data[2] if len(data) >= 3 else None,
        bearer_identity=data[0] >> 4 if data else None,
        procedure_transaction_identity=data[1] if len(data) >= 2 else None,
    )


# --- Information elements -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NasKeySetIdentifier:
    """TS 24.301 9.9.3.21: which EPS security context is meant; 7 means no key."""

    value: int = NO_KEY_AVAILABLE
    mapped: bool = False
    """Type of security context flag: a mapped (from UTRAN/GERAN) rather than native context."""


@dataclass(frozen=True, slots=True)
class Imsi:
    digits: str


@dataclass(frozen=True, slots=True)
class Imei:
    digits: str


@dataclass(frozen=True, slots=True)
class Imeisv:
    digits: str


@dataclass(frozen=True, slots=True)
class Tmsi:
    value: int


@dataclass(frozen=True, slots=True)
class Guti:
    """TS 23.003 2.8: PLMN as MCC+MNC digits ("00101"), then the MME and the M-TMSI."""

    plmn: str
    mme_group_id: int
    mme_code: int
    m_tmsi: int


class EpsIdentityType(enum.IntEnum):
    """TS 24.301 9.9.3.12: type of identity in an EPS mobile identity."""

    IMSI = 1
    IMEI = 3
    GUTI = 6


EpsMobileIdentity = Imsi | Imei | Guti
"""TS 24.301 9.9.3.12."""
MobileIdentity = Imsi | Imei | Imeisv | Tmsi
"""TS 24.008 10.5.1.4."""


@dataclass(frozen=True, slots=True)
class Tai:
    """TS 24.301 9.9.3.32: tracking area identity."""

    plmn: str
    tac: int


@dataclass(frozen=True, slots=True)
class GprsTimer:
    """TS 24.008 10.5.7.3 (T3412, T3402, T3423, T3346...): a 3-bit unit and a 5-bit value."""

    unit: int
    value: int

    TWO_SECONDS: ClassVar[int] = 0
    ONE_MINUTE: ClassVar[int] = 1
    DECIHOURS: ClassVar[int] = 2
    DEACTIVATED: ClassVar[int] = 7

    @property
    def seconds(self) -> int | None:
        """None when the timer is deactivated; unknown units count in minutes (10.5.7.3)."""
        if self.unit == self.DEACTIVATED:
            return None
        return self.value * {self.TWO_SECONDS: 2, self.DECIHOURS: 360}.get(self.unit, 60)

    @classmethod
    def from_seconds(cls, seconds: int) -> GprsTimer:
        """The finest unit that holds `seconds` exactly, else the next longer duration."""
        for unit, step in ((cls.TWO_SECONDS, 2), (cls.ONE_MINUTE, 60), (cls.DECIHOURS, 360)):
            value = -(-seconds // step)
            if value <= 31:
                return cls(unit, value)
        raise ValueError(f"{seconds} s does not fit a GPRS timer")


@dataclass(frozen=True, slots=True)
class UeNetworkCapability:
    """TS 24.301 9.9.3.34, kept as received (2 to 13 octets): octet 1 is EEA0-7 (bit 8 is EEA0),
    octet 2 EIA0-7, then UEA0-7 and UIA0-7 when present. The MME replays the first four octets
    in the Security Mode Command's replayed UE security capabilities."""

    octets: bytes

    @property
    def eea(self) -> int:
        return self.octets[0]

    @property
    def eia(self) -> int:
        return self.octets[1]

    def security_capabilities(self) -> bytes:
        """The replayed UE security capabilities (TS 24.301 9.9.3.36): EEA, EIA, UEA, UIA."""
        capabilities = bytearray(self.octets[:4])
        if len(capabilities) > 3:
            capabilities[3] &= 0x7F  # bit 8 of the UIA octet is spare there
        return bytes(capabilities)


@dataclass(frozen=True, slots=True)
class NasSecurityAlgorithms:
    """TS 24.301 9.9.3.23: the selected EEA (ciphering) and EIA (integrity) algorithm numbers."""

    ciphering: int
    integrity: int


@dataclass(frozen=True, slots=True)
class DetachType:
    """TS 24.301 9.9.3.7 as sent by the UE: the type and the switch-off flag."""

    value: int
    switch_off: bool = False


@dataclass(frozen=True, slots=True)
class UpdateType:
    """TS 24.301 9.9.3.14: EPS update type and the "active" flag (bearers wanted at once)."""

    value: int
    active: bool = False


@dataclass(frozen=True, slots=True)
class PcoOption:
    """One protocol or container of a PCO: an identifier and its contents."""

    identifier: int
    contents: bytes = b""


CONFIGURATION_PROTOCOL_PPP = 0x80
"""PCO octet 3: extension bit set, configuration protocol 0 (PPP for IP PDP type)."""


@dataclass(frozen=True, slots=True)
class ProtocolConfigurationOptions:
    """TS 24.008 10.5.6.3, the options in order. Containers with a two-octet length (only
    defined for 5GS) are not distinguished: every option has a one-octet length."""

    options: tuple[PcoOption, ...] = ()

    @classmethod
    def from_octets(cls, value: bytes) -> ProtocolConfigurationOptions:
        """Read a PCO value part: a configuration protocol octet, then (ID, length, contents).
        Both decoders read PCOs here: pycrate's PCO parser silently misreads a PPP option
        whose own length disagrees with the option length. ValueError if malformed."""
        if not value:
            raise ValueError("empty protocol configuration options")
        options = []
        offset = 1
        while offset < len(value):
            if offset + 3 > len(value):
                raise ValueError("truncated PCO option header")
            length = value[offset + 2]
            contents = value[offset + 3 : offset + 3 + length]
            if len(contents) < length:
                raise ValueError("truncated PCO option contents")
            options.append(PcoOption(value[offset] << 8 | value[offset + 1], bytes(contents)))
            offset += 3 + length
        return cls(tuple(options))

    def to_octets(self) -> bytes:
        """The value part `from_octets` reads, with configuration protocol 0 (PPP). ValueError
        if an option's contents do not fit its one-octet length."""
        out = bytearray([CONFIGURATION_PROTOCOL_PPP])
        for option in self.options:
            if len(option.contents) > 255:
                raise ValueError(f"{len(option.contents)} octets do not fit a PCO option")
            out += option.identifier.to_bytes(2, "big")
            out += bytes([len(option.contents)]) + option.contents
        return bytes(out)

    def requests(self, identifier: int) -> bool:
        return any(option.identifier == identifier for option in self.options)

    def dns_servers(self) -> tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, ...]:
        """DNS servers in a network answer: containers 0x000D / 0x0003 and IPCP DNS options."""
        servers: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = []
        for option in self.options:
            match option.identifier:
                case ProtocolConfigurationIdentifier.DNS_SERVER_IPV4_ADDRESS:
                    if len(option.contents) == 4:
                        servers.append(ipaddress.IPv4Address(option.contents))
                case ProtocolConfigurationIdentifier.DNS_SERVER_IPV6_ADDRESS:
                    if len(option.contents) == 16:
                        servers.append(ipaddress.IPv6Address(option.contents))
                case ProtocolConfigurationIdentifier.IPCP:
                    servers.extend(_ipcp_dns_servers(option.contents))
        return tuple(servers)

    def answer_dns(
        self, servers: tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, ...]
    ) -> ProtocolConfigurationOptions:
        """The network's PCO answering this (UE) PCO's DNS requests with `servers`."""
        ipv4 = [server for server in servers if server.version == 4]
        ipv6 = [server for server in servers if server.version == 6]
        answer: list[PcoOption] = []
        for option in self.options:
            match option.identifier:
                case ProtocolConfigurationIdentifier.DNS_SERVER_IPV4_ADDRESS:
                    answer += [PcoOption(option.identifier, server.packed) for server in ipv4]
                case ProtocolConfigurationIdentifier.DNS_SERVER_IPV6_ADDRESS:
                    answer += [PcoOption(option.identifier, server.packed) for server in ipv6]
                case ProtocolConfigurationIdentifier.IPCP if ipv4:
                    answer.append(_ipcp_dns_answer(option.contents, ipv4))
        return ProtocolConfigurationOptions(tuple(answer))


def _ipcp_dns_servers(packet: bytes) -> list[ipaddress.IPv4Address]:
    """The DNS addresses of an IPCP Configure-Nak/Ack (RFC 1877 options 129 and 131)."""
    if not packet or packet[0] not in (IPCP_CONFIGURE_ACK, IPCP_CONFIGURE_NAK):
        return []
    servers = []
    offset = 4
    while offset + 2 <= len(packet):
        option, length = packet[offset], packet[offset + 1]
        if option in (IPCP_PRIMARY_DNS, IPCP_SECONDARY_DNS) and length == 6:
            servers.append(ipaddress.IPv4Address(packet[offset + 2 : offset + 6]))
        offset += max(length, 2)
    return servers


def _ipcp_dns_answer(request: bytes, servers: list[ipaddress.IPv4Address]) -> PcoOption:
    """A Configure-Nak giving the primary (and secondary) DNS, echoing the request's ID."""
    identifier = request[1] if len(request) > 1 else 0
    body = b"".join(
        bytes([option, 6]) + server.packed
        for option, server in zip((IPCP_PRIMARY_DNS, IPCP_SECONDARY_DNS), servers, strict=False)
    )
    packet = bytes([IPCP_CONFIGURE_NAK, identifier]) + (4 + len(body)).to_bytes(2, "big") + body
    return PcoOption(ProtocolConfigurationIdentifier.IPCP, packet)


@dataclass(frozen=True, slots=True)
class PdnAddress:
    """TS 24.301 9.9.4.9: the UE's IPv4 address and/or IPv6 interface identifier."""

    pdn_type: int
    ipv4: ipaddress.IPv4Address | None = None
    ipv6_interface_identifier: bytes | None = None


@dataclass(frozen=True, slots=True)
class BearerBitrates:
    """MBR and GBR of a bearer (TS 24.301 9.9.4.3 octets 4-15), kbit/s."""

    maximum_uplink: int
    maximum_downlink: int
    guaranteed_uplink: int
    guaranteed_downlink: int


@dataclass(frozen=True, slots=True)
class EpsQos:
    """TS 24.301 9.9.4.3: QCI and, for GBR bearers, the bit rates."""

    qci: int
    bitrates: BearerBitrates | None = None


@dataclass(frozen=True, slots=True)
class ApnAmbr:
    """TS 24.301 9.9.4.2, kbit/s."""

    downlink: int
    uplink: int


# --- Message layouts ------------------------------------------------------------------------


class Form(enum.Enum):
    """TS 24.007 11.2.1.1 formats. HALF IEs are mandatory half octets; two in a row share one
    octet, the first listed (as in the TS 24.301 table) in bits 4-1."""

    HALF = "V 1/2"
    V = "V"
    LV = "LV"
    LV_E = "LV-E"
    TV_HALF = "TV 1"
    TV = "TV"
    TLV = "TLV"
    TLV_E = "TLV-E"


OPTIONAL_FORMS = frozenset({Form.TV_HALF, Form.TV, Form.TLV, Form.TLV_E})


class Kind(enum.Enum):
    """What an IE's value part holds, i.e. which codec reads and writes it."""

    VALUE3 = "3-bit value in a half octet"
    VALUE4 = "4-bit value in a half octet"
    FLAG = "bit 1 of a half octet"
    KEY_SET_IDENTIFIER = "NAS key set identifier"
    DETACH_TYPE = "detach type with switch-off"
    UPDATE_TYPE = "EPS update type with active flag"
    UINT8 = "one octet"
    BYTES = "octets, uninterpreted"
    GPRS_TIMER = "GPRS timer"
    NAS_SECURITY_ALGORITHMS = "NAS security algorithms"
    EPS_MOBILE_IDENTITY = "EPS mobile identity"
    GUTI = "EPS mobile identity holding a GUTI"
    MOBILE_IDENTITY = "mobile identity"
    IMEISV = "mobile identity holding an IMEISV"
    TAI = "tracking area identity"
    TAI_LIST = "tracking area identity list"
    UE_NETWORK_CAPABILITY = "UE network capability"
    BEARER_CONTEXT_STATUS = "EPS bearer context status"
    NETWORK_NAME = "network name"
    ESM_MESSAGE = "ESM message container"
    APN = "access point name"
    PCO = "protocol configuration options"
    PDN_ADDRESS = "PDN address"
    EPS_QOS = "EPS quality of service"
    APN_AMBR = "APN aggregate maximum bit rate"


class Ie(NamedTuple):
    """One row of a TS 24.301 message table."""

    field: str | None
    """The dataclass field; None for spare half octets and optional IEs we step over."""
    form: Form
    kind: Kind = Kind.BYTES
    iei: int | None = None
    """Type 1 IEIs are the upper half octet (0x8-0xF), the others the whole octet."""
    length: int = 0
    """Value length of V and TV IEs."""
    pycrate: str = ""
    """The IE's name in pycrate's message class."""


SPARE_HALF = Ie(None, Form.HALF, Kind.VALUE4)


def _skip(form: Form, iei: int, length: int = 0) -> Ie:
    """An optional IE that decoders must know how to step over but no one reads."""
    return Ie(None, form, Kind.BYTES, iei, length)


@dataclass(frozen=True, slots=True, kw_only=True)
class NasMessage:
    """A plain NAS message; subclasses give `MESSAGE_TYPE` and their IE table `LAYOUT`."""

    MESSAGE_TYPE: ClassVar[int]
    LAYOUT: ClassVar[tuple[Ie, ...]] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class EmmMessage(NasMessage):
    """EMM header (TS 24.301 8.2): security header type 0 and the message type."""


@dataclass(frozen=True, slots=True, kw_only=True)
class EsmMessage(NasMessage):
    """ESM header (TS 24.301 8.3): EBI 0 and PTI 0 are the "unassigned" values."""

    bearer_identity: int = 0
    procedure_transaction_identity: int = 0


_PCO = Ie("protocol_configuration_options", Form.TLV, Kind.PCO, 0x27, pycrate="ProtConfig")
_EXTENDED_PCO = _skip(Form.TLV_E, 0x7B)
_T3346 = Ie("t3346", Form.TLV, Kind.GPRS_TIMER, 0x5F, pycrate="T3346")


# --- EMM messages (TS 24.301 8.2) -----------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class AttachRequest(EmmMessage):
    """8.2.4. `last_visited_tai` is the "last visited registered TAI" IE."""

    MESSAGE_TYPE: ClassVar[int] = EmmMessageType.ATTACH_REQUEST

    attach_type: int
    key_set_identifier: NasKeySetIdentifier
    identity: EpsMobileIdentity
    ue_network_capability: UeNetworkCapability
    esm_message: EsmMessage
    additional_guti: Guti | None = None
    last_visited_tai: Tai | None = None
    drx_parameter: bytes | None = None
    ms_network_capability: bytes | None = None

    LAYOUT: ClassVar[tuple[Ie, ...]] = (
        Ie("attach_type", Form.HALF, Kind.VALUE3, pycrate="EPSAttachType"),
        Ie("key_set_identifier", Form.HALF, Kind.KEY_SET_IDENTIFIER, pycrate="NAS_KSI"),
        Ie("identity", Form.LV, Kind.EPS_MOBILE_IDENTITY, pycrate="EPSID"),
        Ie("ue_network_capability", Form.LV, Kind.UE_NETWORK_CAPABILITY, pycrate="UENetCap"),
        Ie("esm_message", Form.LV_E, Kind.ESM_MESSAGE, pycrate="ESMContainer"),
        _skip(Form.TV, 0x19, 3),  # old P-TMSI signature
        Ie("additional_guti", Form.TLV, Kind.GUTI, 0x50, pycrate="AddGUTI"),
        Ie("last_visited_tai", Form.TV, Kind.TAI, 0x52, 5, "OldTAI"),
        Ie("drx_parameter", Form.TV, Kind.BYTES, 0x5C, 2, "DRXParam"),
        Ie("ms_network_capability", Form.TLV, Kind.BYTES, 0x31, pycrate="MSNetCap"),
        _skip(Form.TV, 0x13, 5),  # old location area identification
        _skip(Form.TV_HALF, 0x9),  # TMSI status
        _skip(Form.TLV, 0x11),  # mobile station classmark 2
        _skip(Form.TLV, 0x20),  # mobile station classmark 3
        _skip(Form.TLV, 0x40),  # supported codecs
        _skip(Form.TV_HALF, 0xF),  # additional update type
        _skip(Form.TLV, 0x5D),  # voice domain preference and UE's usage setting
        _skip(Form.TV_HALF, 0xD),  # device properties
        _skip(Form.TV_HALF, 0xE),  # old GUTI type
        _skip(Form.TV_HALF, 0xC),  # MS network feature support
        _skip(Form.TLV, 0x10),  # TMSI based NRI container
        _skip(Form.TLV, 0x6A),  # T3324 value
        _skip(Form.TLV, 0x5E),  # T3412 extended value
        _skip(Form.TLV, 0x6E),  # extended DRX parameters
        _skip(Form.TLV, 0x6F),  # UE additional security capability
        _skip(Form.TLV, 0x6D),  # UE status
        _skip(Form.TLV, 0x32),  # N1 UE network capability
        _skip(Form.TV_HALF, 0xB),  # UE radio capability ID availability
        # 0x17 (additional information requested) is left out on purpose: pycrate reads it
        # with no length and swallows the rest, so the fast path hands such messages over.
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class AttachAccept(EmmMessage):
    """8.2.1."""

    MESSAGE_TYPE: ClassVar[int] = EmmMessageType.ATTACH_ACCEPT

    attach_result: int
    t3412: GprsTimer
    tai_list: tuple[Tai, ...]
    esm_message: EsmMessage
    guti: Guti | None = None
    emm_cause: int | None = None
    t3402: GprsTimer | None = None
    t3423: GprsTimer | None = None
    eps_network_feature_support: bytes | None = None

    LAYOUT: ClassVar[tuple[Ie, ...]] = (
        Ie("attach_result", Form.HALF, Kind.VALUE3, pycrate="EPSAttachResult"),
        SPARE_HALF,
        Ie("t3412", Form.V, Kind.GPRS_TIMER, length=1, pycrate="T3412"),
        Ie("tai_list", Form.LV, Kind.TAI_LIST, pycrate="TAIList"),
        Ie("esm_message", Form.LV_E, Kind.ESM_MESSAGE, pycrate="ESMContainer"),
        Ie("guti", Form.TLV, Kind.GUTI, 0x50, pycrate="GUTI"),
        Ie("emm_cause", Form.TV, Kind.UINT8, 0x53, 1, "EMMCause"),
        Ie("t3402", Form.TV, Kind.GPRS_TIMER, 0x17, 1, "T3402"),
        Ie("t3423", Form.TV, Kind.GPRS_TIMER, 0x59, 1, "T3423"),
        Ie("eps_network_feature_support", Form.TLV, Kind.BYTES, 0x64, pycrate="EPSNetFeat"),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class AttachComplete(EmmMessage):
    """8.2.2."""

    MESSAGE_TYPE: ClassVar[int] = EmmMessageType.ATTACH_COMPLETE

    esm_message: EsmMessage

    LAYOUT: ClassVar[tuple[Ie, ...]] = (
        Ie("esm_message", Form.LV_E, Kind.ESM_MESSAGE, pycrate="ESMContainer"),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class AttachReject(EmmMessage):
    """8.2.3."""

    MESSAGE_TYPE: ClassVar[int] = EmmMessageType.ATTACH_REJECT

    emm_cause: int
    esm_message: EsmMessage | None = None
    t3346: GprsTimer | None = None
    t3402: GprsTimer | None = None

    LAYOUT: ClassVar[tuple[Ie, ...]] = (
        Ie("emm_cause", Form.V, Kind.UINT8, length=1, pycrate="EMMCause"),
        Ie("esm_message", Form.TLV_E, Kind.ESM_MESSAGE, 0x78, pycrate="ESMContainer"),
        _T3346,
        Ie("t3402", Form.TLV, Kind.GPRS_TIMER, 0x16, pycrate="T3402"),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthenticationRequest(EmmMessage):
    """8.2.7."""

    MESSAGE_TYPE: ClassVar[int] = EmmMessageType.AUTHENTICATION_REQUEST

    key_set_identifier: NasKeySetIdentifier
    rand: bytes
    autn: bytes

    LAYOUT: ClassVar[tuple[Ie, ...]] = (
        Ie("key_set_identifier", Form.HALF, Kind.KEY_SET_IDENTIFIER, pycrate="NAS_KSI"),
        SPARE_HALF,
        Ie("rand", Form.V, Kind.BYTES, length=16, pycrate="RAND"),
        Ie("autn", Form.LV, Kind.BYTES, pycrate="AUTN"),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthenticationResponse(EmmMessage):
    """8.2.8."""

    MESSAGE_TYPE: ClassVar[int] = EmmMessageType.AUTHENTICATION_RESPONSE

    res: bytes

    LAYOUT: ClassVar[tuple[Ie, ...]] = (Ie("res", Form.LV, Kind.BYTES, pycrate="RES"),)


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthenticationFailure(EmmMessage):
    """8.2.5. `auts` comes with cause #21 (synch failure)."""

    MESSAGE_TYPE: ClassVar[int] = EmmMessageType.AUTHENTICATION_FAILURE

    emm_cause: int
    auts: bytes | None = None

    LAYOUT: ClassVar[tuple[Ie, ...]] = (
        Ie("emm_cause", Form.V, Kind.UINT8, length=1, pycrate="EMMCause"),
        Ie("auts", Form.TLV, Kind.BYTES, 0x30, pycrate="AUTS"),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthenticationReject(EmmMessage):
    """8.2.6."""

    MESSAGE_TYPE: ClassVar[int] = EmmMessageType.AUTHENTICATION_REJECT


@dataclass(frozen=True, slots=True, kw_only=True)
class SecurityModeCommand(EmmMessage):
    """8.2.20."""

    MESSAGE_TYPE: ClassVar[int] = EmmMessageType.SECURITY_MODE_COMMAND

    selected_algorithms: NasSecurityAlgorithms
    key_set_identifier: NasKeySetIdentifier
    replayed_security_capabilities: bytes
    imeisv_requested: bool = False
    replayed_nonce_ue: bytes | None = None
    nonce_mme: bytes | None = None

    LAYOUT: ClassVar[tuple[Ie, ...]] = (
        Ie(
            "selected_algorithms",
            Form.V,
            Kind.NAS_SECURITY_ALGORITHMS,
            length=1,
            pycrate="NASSecAlgo",
        ),
        Ie("key_set_identifier", Form.HALF, Kind.KEY_SET_IDENTIFIER, pycrate="NAS_KSI"),
        SPARE_HALF,
        Ie("replayed_security_capabilities", Form.LV, Kind.BYTES, pycrate="UESecCap"),
        Ie("imeisv_requested", Form.TV_HALF, Kind.FLAG, 0xC, pycrate="IMEISVReq"),
        Ie("replayed_nonce_ue", Form.TV, Kind.BYTES, 0x55, 4, "NonceUE"),
        Ie("nonce_mme", Form.TV, Kind.BYTES, 0x56, 4, "NonceMME"),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class SecurityModeComplete(EmmMessage):
    """8.2.21."""

    MESSAGE_TYPE: ClassVar[int] = EmmMessageType.SECURITY_MODE_COMPLETE

    imeisv: Imeisv | None = None

    LAYOUT: ClassVar[tuple[Ie, ...]] = (
        Ie("imeisv", Form.TLV, Kind.IMEISV, 0x23, pycrate="IMEISV"),
        _skip(Form.TLV_E, 0x79),  # replayed NAS message container
        _skip(Form.TLV, 0x66),  # UE radio capability ID
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class SecurityModeReject(EmmMessage):
    """8.2.22."""

    MESSAGE_TYPE: ClassVar[int] = EmmMessageType.SECURITY_MODE_REJECT

    emm_cause: int

    LAYOUT: ClassVar[tuple[Ie, ...]] = (
        Ie("emm_cause", Form.V, Kind.UINT8, length=1, pycrate="EMMCause"),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class IdentityRequest(EmmMessage):
    """8.2.18."""

    MESSAGE_TYPE: ClassVar[int] = EmmMessageType.IDENTITY_REQUEST

    identity_type: int

    LAYOUT: ClassVar[tuple[Ie, ...]] = (
        Ie("identity_type", Form.HALF, Kind.VALUE3, pycrate="IDType"),
        SPARE_HALF,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class IdentityResponse(EmmMessage):
    """8.2.19."""

    MESSAGE_TYPE: ClassVar[int] = EmmMessageType.IDENTITY_RESPONSE

    identity: MobileIdentity

    LAYOUT: ClassVar[tuple[Ie, ...]] = (
        Ie("identity", Form.LV, Kind.MOBILE_IDENTITY, pycrate="ID"),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class DetachRequest(EmmMessage):
    """8.2.11.1, UE originating detach."""

    MESSAGE_TYPE: ClassVar[int] = EmmMessageType.DETACH_REQUEST

    detach_type: DetachType
    key_set_identifier: NasKeySetIdentifier
    identity: EpsMobileIdentity

    LAYOUT: ClassVar[tuple[Ie, ...]] = (
        Ie("detach_type", Form.HALF, Kind.DETACH_TYPE, pycrate="EPSDetachType"),
        Ie("key_set_identifier", Form.HALF, Kind.KEY_SET_IDENTIFIER, pycrate="NAS_KSI"),
        Ie("identity", Form.LV, Kind.EPS_MOBILE_IDENTITY, pycrate="EPSID"),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class NetworkDetachRequest(EmmMessage):
    """8.2.11.2, UE terminated (network originated) detach."""

    MESSAGE_TYPE: ClassVar[int] = EmmMessageType.DETACH_REQUEST

    detach_type: int
    emm_cause: int | None = None

    LAYOUT: ClassVar[tuple[Ie, ...]] = (
        Ie("detach_type", Form.HALF, Kind.VALUE3, pycrate="EPSDetachType"),
        SPARE_HALF,
        Ie("emm_cause", Form.TV, Kind.UINT8, 0x53, 1, "EMMCause"),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class DetachAccept(EmmMessage):
    """8.2.10 (8.2.10.1 and 8.2.10.2 have the same content)."""

    MESSAGE_TYPE: ClassVar[int] = EmmMessageType.DETACH_ACCEPT


@dataclass(frozen=True, slots=True, kw_only=True)
class TrackingAreaUpdateRequest(EmmMessage):
    """8.2.29."""

    MESSAGE_TYPE: ClassVar[int] = EmmMessageType.TRACKING_AREA_UPDATE_REQUEST

    update_type: UpdateType
    key_set_identifier: NasKeySetIdentifier
    old_guti: Guti
    additional_guti: Guti | None = None
    ue_network_capability: UeNetworkCapability | None = None
    last_visited_tai: Tai | None = None
    drx_parameter: bytes | None = None
    eps_bearer_context_status: frozenset[int] | None = None
    ms_network_capability: bytes | None = None

    LAYOUT: ClassVar[tuple[Ie, ...]] = (
        Ie("update_type", Form.HALF, Kind.UPDATE_TYPE, pycrate="EPSUpdateType"),
        Ie("key_set_identifier", Form.HALF, Kind.KEY_SET_IDENTIFIER, pycrate="NAS_KSI"),
        Ie("old_guti", Form.LV, Kind.GUTI, pycrate="OldGUTI"),
        _skip(Form.TV_HALF, 0xB),  # non-current native NAS key set identifier
        _skip(Form.TV_HALF, 0x8),  # GPRS ciphering key sequence number
        _skip(Form.TV, 0x19, 3),  # old P-TMSI signature
        Ie("additional_guti", Form.TLV, Kind.GUTI, 0x50, pycrate="AddGUTI"),
        _skip(Form.TV, 0x55, 4),  # NonceUE
        Ie("ue_network_capability", Form.TLV, Kind.UE_NETWORK_CAPABILITY, 0x58, pycrate="UENetCap"),
        Ie("last_visited_tai", Form.TV, Kind.TAI, 0x52, 5, "OldTAI"),
        Ie("drx_parameter", Form.TV, Kind.BYTES, 0x5C, 2, "DRXParam"),
        _skip(Form.TV_HALF, 0xA),  # UE radio capability information update needed
        Ie(
            "eps_bearer_context_status",
            Form.TLV,
            Kind.BEARER_CONTEXT_STATUS,
            0x57,
            pycrate="EPSBearerCtxtStat",
        ),
        Ie("ms_network_capability", Form.TLV, Kind.BYTES, 0x31, pycrate="MSNetCap"),
        _skip(Form.TV, 0x13, 5),  # old location area identification
        _skip(Form.TV_HALF, 0x9),  # TMSI status
        _skip(Form.TLV, 0x11),  # mobile station classmark 2
        _skip(Form.TLV, 0x20),  # mobile station classmark 3
        _skip(Form.TLV, 0x40),  # supported codecs
        _skip(Form.TV_HALF, 0xF),  # additional update type
        _skip(Form.TLV, 0x5D),  # voice domain preference and UE's usage setting
        _skip(Form.TV_HALF, 0xE),  # old GUTI type
        _skip(Form.TV_HALF, 0xD),  # device properties
        _skip(Form.TV_HALF, 0xC),  # MS network feature support
        _skip(Form.TLV, 0x10),  # TMSI based NRI container
        _skip(Form.TLV, 0x6A),  # T3324 value
        _skip(Form.TLV, 0x5E),  # T3412 extended value
        _skip(Form.TLV, 0x6E),  # extended DRX parameters
        _skip(Form.TLV, 0x6F),  # UE additional security capability
        _skip(Form.TLV, 0x6D),  # UE status
        _skip(Form.TLV, 0x32),  # N1 UE network capability
        # 0x17 left out, as in AttachRequest.
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class TrackingAreaUpdateAccept(EmmMessage):
    """8.2.26."""

    MESSAGE_TYPE: ClassVar[int] = EmmMessageType.TRACKING_AREA_UPDATE_ACCEPT

    update_result: int
    t3412: GprsTimer | None = None
    guti: Guti | None = None
    tai_list: tuple[Tai, ...] | None = None
    eps_bearer_context_status: frozenset[int] | None = None
    emm_cause: int | None = None
    t3402: GprsTimer | None = None
    t3423: GprsTimer | None = None
    eps_network_feature_support: bytes | None = None

    LAYOUT: ClassVar[tuple[Ie, ...]] = (
        Ie("update_result", Form.HALF, Kind.VALUE3, pycrate="EPSUpdateResult"),
        SPARE_HALF,
        Ie("t3412", Form.TV, Kind.GPRS_TIMER, 0x5A, 1, "T3412"),
        Ie("guti", Form.TLV, Kind.GUTI, 0x50, pycrate="GUTI"),
        Ie("tai_list", Form.TLV, Kind.TAI_LIST, 0x54, pycrate="TAIList"),
        Ie(
            "eps_bearer_context_status",
            Form.TLV,
            Kind.BEARER_CONTEXT_STATUS,
            0x57,
            pycrate="EPSBearerCtxtStat",
        ),
        Ie("emm_cause", Form.TV, Kind.UINT8, 0x53, 1, "EMMCause"),
        Ie("t3402", Form.TV, Kind.GPRS_TIMER, 0x17, 1, "T3402"),
        Ie("t3423", Form.TV, Kind.GPRS_TIMER, 0x59, 1, "T3423"),
        Ie("eps_network_feature_support", Form.TLV, Kind.BYTES, 0x64, pycrate="EPSNetFeat"),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class TrackingAreaUpdateComplete(EmmMessage):
    """8.2.27."""

    MESSAGE_TYPE: ClassVar[int] = EmmMessageType.TRACKING_AREA_UPDATE_COMPLETE


@dataclass(frozen=True, slots=True, kw_only=True)
class TrackingAreaUpdateReject(EmmMessage):
    """8.2.28."""

    MESSAGE_TYPE: ClassVar[int] = EmmMessageType.TRACKING_AREA_UPDATE_REJECT

    emm_cause: int
    t3346: GprsTimer | None = None

    LAYOUT: ClassVar[tuple[Ie, ...]] = (
        Ie("emm_cause", Form.V, Kind.UINT8, length=1, pycrate="EMMCause"),
        _T3346,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class GutiReallocationCommand(EmmMessage):
    """8.2.16."""

    MESSAGE_TYPE: ClassVar[int] = EmmMessageType.GUTI_REALLOCATION_COMMAND

    guti: Guti
    tai_list: tuple[Tai, ...] | None = None

    LAYOUT: ClassVar[tuple[Ie, ...]] = (
        Ie("guti", Form.LV, Kind.GUTI, pycrate="GUTI"),
        Ie("tai_list", Form.TLV, Kind.TAI_LIST, 0x54, pycrate="TAIList"),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class GutiReallocationComplete(EmmMessage):
    """8.2.17."""

    MESSAGE_TYPE: ClassVar[int] = EmmMessageType.GUTI_REALLOCATION_COMPLETE


@dataclass(frozen=True, slots=True, kw_only=True)
class EmmInformation(EmmMessage):
    """8.2.13. Names are sent in the GSM 7-bit default alphabet; `local_time_zone` and
    `universal_time_and_local_time_zone` are the raw TS 24.008 10.5.3.8 / 10.5.3.9 octets."""

    MESSAGE_TYPE: ClassVar[int] = EmmMessageType.EMM_INFORMATION

    full_network_name: str | None = None
    short_network_name: str | None = None
    local_time_zone: int | None = None
    universal_time_and_local_time_zone: bytes | None = None

    LAYOUT: ClassVar[tuple[Ie, ...]] = (
        Ie("full_network_name", Form.TLV, Kind.NETWORK_NAME, 0x43, pycrate="NetFullName"),
        Ie("short_network_name", Form.TLV, Kind.NETWORK_NAME, 0x45, pycrate="NetShortName"),
        Ie("local_time_zone", Form.TV, Kind.UINT8, 0x46, 1, "LocalTimeZone"),
        Ie(
            "universal_time_and_local_time_zone",
            Form.TV,
            Kind.BYTES,
            0x47,
            7,
            "UnivTimeAndTimeZone",
        ),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class EmmStatus(EmmMessage):
    """8.2.14."""

    MESSAGE_TYPE: ClassVar[int] = EmmMessageType.EMM_STATUS

    emm_cause: int

    LAYOUT: ClassVar[tuple[Ie, ...]] = (
        Ie("emm_cause", Form.V, Kind.UINT8, length=1, pycrate="EMMCause"),
    )


# --- ESM messages (TS 24.301 8.3) -----------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class PdnConnectivityRequest(EsmMessage):
    """8.3.20."""

    MESSAGE_TYPE: ClassVar[int] = EsmMessageType.PDN_CONNECTIVITY_REQUEST

    request_type: int
    pdn_type: int
    esm_information_transfer: bool = False
    apn: str | None = None
    protocol_configuration_options: ProtocolConfigurationOptions | None = None

    LAYOUT: ClassVar[tuple[Ie, ...]] = (
        Ie("request_type", Form.HALF, Kind.VALUE3, pycrate="RequestType"),
        Ie("pdn_type", Form.HALF, Kind.VALUE3, pycrate="PDNType"),
        Ie("esm_information_transfer", Form.TV_HALF, Kind.FLAG, 0xD, pycrate="ESMInfoTransferFlag"),
        Ie("apn", Form.TLV, Kind.APN, 0x28, pycrate="APN"),
        _PCO,
        _skip(Form.TV_HALF, 0xC),  # device properties
        _skip(Form.TLV, 0x33),  # NBIFOM container
        _skip(Form.TLV, 0x66),  # header compression configuration
        _EXTENDED_PCO,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class PdnConnectivityReject(EsmMessage):
    """8.3.19."""

    MESSAGE_TYPE: ClassVar[int] = EsmMessageType.PDN_CONNECTIVITY_REJECT

    esm_cause: int
    protocol_configuration_options: ProtocolConfigurationOptions | None = None

    LAYOUT: ClassVar[tuple[Ie, ...]] = (
        Ie("esm_cause", Form.V, Kind.UINT8, length=1, pycrate="ESMCause"),
        _PCO,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class ActivateDefaultEpsBearerContextRequest(EsmMessage):
    """8.3.6."""

    MESSAGE_TYPE: ClassVar[int] = EsmMessageType.ACTIVATE_DEFAULT_EPS_BEARER_CONTEXT_REQUEST

    eps_qos: EpsQos
    apn: str
    pdn_address: PdnAddress
    apn_ambr: ApnAmbr | None = None
    esm_cause: int | None = None
    protocol_configuration_options: ProtocolConfigurationOptions | None = None

    LAYOUT: ClassVar[tuple[Ie, ...]] = (
        Ie("eps_qos", Form.LV, Kind.EPS_QOS, pycrate="EPSQoS"),
        Ie("apn", Form.LV, Kind.APN, pycrate="APN"),
        Ie("pdn_address", Form.LV, Kind.PDN_ADDRESS, pycrate="PDNAddr"),
        Ie("apn_ambr", Form.TLV, Kind.APN_AMBR, 0x5E, pycrate="APN_AMBR"),
        Ie("esm_cause", Form.TV, Kind.UINT8, 0x58, 1, "ESMCause"),
        _PCO,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class ActivateDefaultEpsBearerContextAccept(EsmMessage):
    """8.3.4."""

    MESSAGE_TYPE: ClassVar[int] = EsmMessageType.ACTIVATE_DEFAULT_EPS_BEARER_CONTEXT_ACCEPT

    protocol_configuration_options: ProtocolConfigurationOptions | None = None

    LAYOUT: ClassVar[tuple[Ie, ...]] = (_PCO, _EXTENDED_PCO)


@dataclass(frozen=True, slots=True, kw_only=True)
class ActivateDefaultEpsBearerContextReject(EsmMessage):
    """8.3.5."""

    MESSAGE_TYPE: ClassVar[int] = EsmMessageType.ACTIVATE_DEFAULT_EPS_BEARER_CONTEXT_REJECT

    esm_cause: int
    protocol_configuration_options: ProtocolConfigurationOptions | None = None

    LAYOUT: ClassVar[tuple[Ie, ...]] = (
        Ie("esm_cause", Form.V, Kind.UINT8, length=1, pycrate="ESMCause"),
        _PCO,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class ActivateDedicatedEpsBearerContextRequest(EsmMessage):
    """8.3.3. The traffic flow template (TS 24.008 10.5.6.12) is kept as octets."""

    MESSAGE_TYPE: ClassVar[int] = EsmMessageType.ACTIVATE_DEDICATED_EPS_BEARER_CONTEXT_REQUEST

    linked_bearer_identity: int
    eps_qos: EpsQos
    traffic_flow_template: bytes
    protocol_configuration_options: ProtocolConfigurationOptions | None = None

    LAYOUT: ClassVar[tuple[Ie, ...]] = (
        Ie("linked_bearer_identity", Form.HALF, Kind.VALUE4, pycrate="LinkedEPSBearerId"),
        SPARE_HALF,
        Ie("eps_qos", Form.LV, Kind.EPS_QOS, pycrate="EPSQoS"),
        Ie("traffic_flow_template", Form.LV, Kind.BYTES, pycrate="TFT"),
        _PCO,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class ActivateDedicatedEpsBearerContextAccept(EsmMessage):
    """8.3.1."""

    MESSAGE_TYPE: ClassVar[int] = EsmMessageType.ACTIVATE_DEDICATED_EPS_BEARER_CONTEXT_ACCEPT

    protocol_configuration_options: ProtocolConfigurationOptions | None = None

    LAYOUT: ClassVar[tuple[Ie, ...]] = (_PCO,)


@dataclass(frozen=True, slots=True, kw_only=True)
class ActivateDedicatedEpsBearerContextReject(EsmMessage):
    """8.3.2."""

    MESSAGE_TYPE: ClassVar[int] = EsmMessageType.ACTIVATE_DEDICATED_EPS_BEARER_CONTEXT_REJECT

    esm_cause: int
    protocol_configuration_options: ProtocolConfigurationOptions | None = None

    LAYOUT: ClassVar[tuple[Ie, ...]] = (
        Ie("esm_cause", Form.V, Kind.UINT8, length=1, pycrate="ESMCause"),
        _PCO,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class ModifyEpsBearerContextRequest(EsmMessage):
    """8.3.18."""

    MESSAGE_TYPE: ClassVar[int] = EsmMessageType.MODIFY_EPS_BEARER_CONTEXT_REQUEST

    eps_qos: EpsQos | None = None
    traffic_flow_template: bytes | None = None
    apn_ambr: ApnAmbr | None = None
    protocol_configuration_options: ProtocolConfigurationOptions | None = None

    LAYOUT: ClassVar[tuple[Ie, ...]] = (
        Ie("eps_qos", Form.TLV, Kind.EPS_QOS, 0x5B, pycrate="EPSQoS"),
        Ie("traffic_flow_template", Form.TLV, Kind.BYTES, 0x36, pycrate="TFT"),
        Ie("apn_ambr", Form.TLV, Kind.APN_AMBR, 0x5E, pycrate="APN_AMBR"),
        _PCO,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class ModifyEpsBearerContextAccept(EsmMessage):
    """8.3.16."""

    MESSAGE_TYPE: ClassVar[int] = EsmMessageType.MODIFY_EPS_BEARER_CONTEXT_ACCEPT

    protocol_configuration_options: ProtocolConfigurationOptions | None = None

    LAYOUT: ClassVar[tuple[Ie, ...]] = (_PCO,)


@dataclass(frozen=True, slots=True, kw_only=True)
class DeactivateEpsBearerContextRequest(EsmMessage):
    """8.3.12."""

    MESSAGE_TYPE: ClassVar[int] = EsmMessageType.DEACTIVATE_EPS_BEARER_CONTEXT_REQUEST

    esm_cause: int
    protocol_configuration_options: ProtocolConfigurationOptions | None = None

    LAYOUT: ClassVar[tuple[Ie, ...]] = (
        Ie("esm_cause", Form.V, Kind.UINT8, length=1, pycrate="ESMCause"),
        _PCO,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class DeactivateEpsBearerContextAccept(EsmMessage):
    """8.3.11."""

    MESSAGE_TYPE: ClassVar[int] = EsmMessageType.DEACTIVATE_EPS_BEARER_CONTEXT_ACCEPT

    protocol_configuration_options: ProtocolConfigurationOptions | None = None

    LAYOUT: ClassVar[tuple[Ie, ...]] = (_PCO,)


@dataclass(frozen=True, slots=True, kw_only=True)
class EsmInformationRequest(EsmMessage):
    """8.3.13."""

    MESSAGE_TYPE: ClassVar[int] = EsmMessageType.ESM_INFORMATION_REQUEST


@dataclass(frozen=True, slots=True, kw_only=True)
class EsmInformationResponse(EsmMessage):
    """8.3.14."""

    MESSAGE_TYPE: ClassVar[int] = EsmMessageType.ESM_INFORMATION_RESPONSE

    apn: str | None = None
    protocol_configuration_options: ProtocolConfigurationOptions | None = None

    LAYOUT: ClassVar[tuple[Ie, ...]] = (Ie("apn", Form.TLV, Kind.APN, 0x28, pycrate="APN"), _PCO)


@dataclass(frozen=True, slots=True, kw_only=True)
class EsmStatus(EsmMessage):
    """8.3.15."""

    MESSAGE_TYPE: ClassVar[int] = EsmMessageType.ESM_STATUS

    esm_cause: int

    LAYOUT: ClassVar[tuple[Ie, ...]] = (
        Ie("esm_cause", Form.V, Kind.UINT8, length=1, pycrate="ESMCause"),
    )


# --- Messages outside the plain header --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ServiceRequest:
    """TS 24.301 8.2.25 (security header type 12): KSI, the 5 low bits of the uplink NAS COUNT
    and the 2 low octets of its MAC. Checking the short MAC is the security context's job."""

    key_set_identifier: int
    sequence_number: int
    short_mac: bytes


@dataclass(frozen=True, slots=True)
class ProtectedNas:
    """TS 24.301 9.1: a security protected NAS message, split but neither checked nor deciphered.
    `inner` is the (possibly ciphered) plain NAS message the security context unprotects."""

    header_type: int
    mac: bytes
    sequence_number: int
    inner: bytes


EMM_MESSAGES: tuple[type[EmmMessage], ...] = (
    AttachRequest, AttachAccept, AttachComplete, AttachReject, AuthenticationRequest,
    AuthenticationResponse, AuthenticationFailure, AuthenticationReject, SecurityModeCommand,
    SecurityModeComplete, SecurityModeReject, IdentityRequest, IdentityResponse, DetachRequest,
    NetworkDetachRequest, DetachAccept, TrackingAreaUpdateRequest, TrackingAreaUpdateAccept,
    TrackingAreaUpdateComplete, TrackingAreaUpdateReject, GutiReallocationCommand,
    GutiReallocationComplete, EmmInformation, EmmStatus,
)  # fmt: skip
ESM_MESSAGES: tuple[type[EsmMessage], ...] = (
    PdnConnectivityRequest, PdnConnectivityReject, ActivateDefaultEpsBearerContextRequest,
    ActivateDefaultEpsBearerContextAccept, ActivateDefaultEpsBearerContextReject,
    ActivateDedicatedEpsBearerContextRequest, ActivateDedicatedEpsBearerContextAccept,
    ActivateDedicatedEpsBearerContextReject, ModifyEpsBearerContextRequest,
    ModifyEpsBearerContextAccept, DeactivateEpsBearerContextRequest,
    DeactivateEpsBearerContextAccept, EsmInformationRequest, EsmInformationResponse, EsmStatus,
)  # fmt: skip

_UPLINK_EMM = {cls.MESSAGE_TYPE: cls for cls in EMM_MESSAGES if cls is not NetworkDetachRequest}
_DOWNLINK_EMM = {cls.MESSAGE_TYPE: cls for cls in EMM_MESSAGES if cls is not DetachRequest}
_ESM = {cls.MESSAGE_TYPE: cls for cls in ESM_MESSAGES}


def message_class(sublayer: int, message_type: int, *, uplink: bool) -> type[NasMessage] | None:
    """The dataclass for a plain message, or None when the type is unknown. Only the Detach
    Request differs by direction (TS 24.301 8.2.11.1 vs 8.2.11.2)."""
    if sublayer == Sublayer.ESM:
        return _ESM.get(message_type)
    return (_UPLINK_EMM if uplink else _DOWNLINK_EMM).get(message_type)


def esm_message_class(data: bytes) -> type[NasMessage] | None:
    """The class a plain ESM message's header (TS 24.301 9.3.1) names, None for an unknown
    message type; NasDecodeError when the bytes are no ESM header at all."""
    if len(data) < 3:
        raise invalid_message(
            data,
            EsmCause.PROTOCOL_ERROR_UNSPECIFIED,
            "shorter than an ESM header",
            sublayer=Sublayer.ESM,
        )
    if data[0] & 0x0F != Sublayer.ESM:
        raise invalid_message(
            data, EsmCause.MESSAGE_TYPE_NON_EXISTENT, "not an ESM message", sublayer=Sublayer.ESM
        )
    return message_class(Sublayer.ESM, data[2], uplink=True)
