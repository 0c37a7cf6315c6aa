"""Builders of the messages the MME sends, from a UE context and the config: S1AP (TS 36.413),
GTPv2-C on S11 (TS 29.274) and the NAS values they carry (TAI list, GUTI, PCO, EMM
Information's time). Pure functions; the procedures decide when each goes.
"""

from __future__ import annotations

import ipaddress
import time
from ipaddress import IPv4Address

from epc.codec import s1ap
from epc.codec.gtpv2c import (
    Ambr,
    Arp,
    BearerContextToBeCreated,
    BearerContextToBeModified,
    BearerQos,
    CreateSessionRequest,
    DeleteSessionRequest,
    Ecgi,
    EchoStamp,
    FteidInterface,
    Indication,
    ModifyBearerRequest,
    Paa,
    PdnType,
    RatType,
    ReleaseAccessBearersRequest,
    UserLocation,
)
from epc.codec.gtpv2c import Fteid as GtpFteid
from epc.codec.gtpv2c import Tai as GtpTai
from epc.codec.nas_messages import (
    Guti,
    ProtocolConfigurationOptions,
)
from epc.codec.nas_messages import Tai as NasTai
from epc.codec.s1ap_messages import (
    AggregateMaximumBitrate,
    Cause,
    DownlinkNasTransport,
    ERabQos,
    ERabToSetup,
    InitialContextSetupRequest,
    UeContextReleaseCommand,
    UeSecurityCapabilities,
)
from epc.mme.config import MmeConfig
from epc.mme.context import Fteid, PdnConnection, PdnRequest, S1Connection, UeContext

DEFAULT_EBI = 5
"""TS 24.301 9.3.2: EPS bearer identities 5-15; the default bearer takes the first."""
DEFAULT_ARP_PRIORITY = 9
"""TS 23.401 / 29.212: ARP priority 1 (highest) .. 15; operators commonly give defaults 9."""
PGW_ADDRESS_TEID = 0
"""TS 29.274 8.22: the PGW S5/S8 control F-TEID of a Create Session Request has TEID 0."""


# --- NAS values ----------------------------------------------------------------------------


def tai_list(config: MmeConfig) -> tuple[NasTai, ...]:
    plmn = config.mme.plmn.digits
    return tuple(NasTai(plmn, tac) for tac in config.mme.tacs)


def guti(config: MmeConfig, m_tmsi: int) -> Guti:
    mme = config.mme
    return Guti(mme.plmn.digits, mme.mme_group_id, mme.mme_code, m_tmsi)


def pco_answer(config: MmeConfig, apn: str, request: bytes | None) -> bytes | None:
    """The PCO answering the UE's DNS requests with the APN's configured servers
    (TS 24.008 10.5.6.3); None when the UE asked for nothing we answer."""
    entry = config.apn(apn)
    if request is None or entry is None:
        return None
    try:
        asked = ProtocolConfigurationOptions.from_octets(request)
    except ValueError:
        return None
    servers = tuple(ipaddress.ip_address(server) for server in entry.dns)
    answer = asked.answer_dns(servers)
    if not answer.options:
        return None
    return pco_octets(answer)


def pco_octets(pco: ProtocolConfigurationOptions) -> bytes:
    """A PCO value part: configuration protocol octet (PPP, with the extension bit) then each
    option as ID, length, contents."""
    parts = [b"\x80"]
    for option in pco.options:
        parts.append(option.identifier.to_bytes(2) + bytes([len(option.contents)]))
        parts.append(option.contents)
    return b"".join(parts)


def universal_time(wall_time: float) -> bytes:
    """TS 24.008 10.5.3.9: year, month, day, hour, minute, second in swapped BCD, then the
    time zone (UTC: 0)."""
    fields = time.gmtime(wall_time)
    values = (
        fields.tm_year % 100,
        fields.tm_mon,
        fields.tm_mday,
        fields.tm_hour,
        fields.tm_min,
        fields.tm_sec,
        0,
    )
    return bytes((value % 10) << 4 | value // 10 for value in values)


def security_capabilities(ue_network_capability: bytes) -> UeSecurityCapabilities:
    """S1AP UE Security Capabilities (TS 36.413 9.2.1.40) from the NAS UE network capability:
    NAS bit 7 of octet 1 (EEA1) becomes the mask's most significant bit, then EEA2, EEA3."""
    eea, eia = ue_network_capability[0], ue_network_capability[1]
    return UeSecurityCapabilities(
        encryption_algorithms=((eea >> 4) & 0x7) << 13,
        integrity_algorithms=((eia >> 4) & 0x7) << 13,
    )


def supports(capability_octet: int, algorithm: int) -> bool:
    """Whether EEA/EIA `algorithm` is set in its UE network capability octet (bit 8 = 0)."""
    return bool(capability_octet & (0x80 >> algorithm))


# --- S1AP ----------------------------------------------------------------------------------


def downlink_nas(connection: S1Connection, nas_pdu: bytes) -> bytes:
    return s1ap.encode(
        DownlinkNasTransport(connection.mme_ue_s1ap_id, connection.enb_ue_s1ap_id, nas_pdu)
    )


def release_command(connection: S1Connection, cause: Cause) -> bytes:
    return s1ap.encode(
        UeContextReleaseCommand(connection.mme_ue_s1ap_id, connection.enb_ue_s1ap_id, cause)
    )


def initial_context_setup(context: UeContext, kenb: bytes, nas_pdu: bytes | None = None) -> bytes:
    """Initial Context Setup Request with the default bearer's E-RAB to the SGW's S1-U
    tunnel, KeNB and the UE's security capabilities (TS 36.413 8.3.1, TS 23.401 5.3.2.1)."""
    connection, pdn, subscription = context.connection, context.pdn, context.subscription
    assert connection is not None and pdn is not None and subscription is not None
    e_rab = ERabToSetup(
        e_rab_id=pdn.ebi,
        qos=ERabQos(qci=pdn.qci, priority_level=DEFAULT_ARP_PRIORITY, pre_emptable=True),
        transport_address=pdn.sgw_s1u.address,
        gtp_teid=pdn.sgw_s1u.teid,
        nas_pdu=nas_pdu,
    )
    return s1ap.encode(
        InitialContextSetupRequest(
            mme_ue_s1ap_id=connection.mme_ue_s1ap_id,
            enb_ue_s1ap_id=connection.enb_ue_s1ap_id,
            ue_aggregate_maximum_bitrate=AggregateMaximumBitrate(
                downlink=subscription.ambr_dl_kbps * 1000, uplink=subscription.ambr_ul_kbps * 1000
            ),
            e_rabs=(e_rab,),
            ue_security_capabilities=security_capabilities(context.ue_network_capability),
            security_key=kenb,
        )
    )


# --- S11 (GTPv2-C) -------------------------------------------------------------------------


def stamp(context: UeContext) -> EchoStamp:
    """The ECHO stamp's UE ID; the S11 adapter fills in the side effect's request ID."""
    assert context.imsi is not None
    return EchoStamp((), context.imsi.encode())


def user_location(context: UeContext) -> UserLocation | None:
    connection = context.connection
    if connection is None:
        return None
    return UserLocation(
        tai=GtpTai(connection.tai.plmn, connection.tai.tac),
        ecgi=Ecgi(connection.tai.plmn, connection.cell_id),
    )


def create_session(
    context: UeContext, config: MmeConfig, apn: str, request: PdnRequest
) -> CreateSessionRequest:
    """TS 29.274 7.2.1, for the default bearer of an attach (TS 23.401 5.3.2.1 step 12)."""
    subscription = context.subscription
    assert subscription is not None and context.mme_s11_teid is not None
    pgw_host = config.s11.pgw
    return CreateSessionRequest(
        stamp=stamp(context),
        teid=0,
        imsi=context.imsi,
        user_location=user_location(context),
        serving_network=config.mme.plmn.digits,
        rat_type=RatType.EUTRAN,
        sender_fteid=GtpFteid(
            FteidInterface.S11_MME_GTPC, context.mme_s11_teid, IPv4Address(config.s11.address)
        ),
        pgw_s5s8_fteid=GtpFteid(
            FteidInterface.S5S8_PGW_GTPC, PGW_ADDRESS_TEID, IPv4Address(pgw_host)
        ),
        apn=apn,
        selection_mode=0,
        pdn_type=PdnType.IPV4,
        paa=Paa(PdnType.IPV4, IPv4Address(0)),
        apn_ambr=Ambr(uplink=subscription.ambr_ul_kbps, downlink=subscription.ambr_dl_kbps),
        pco=request.pco,
        bearer_contexts=(
            BearerContextToBeCreated(
                ebi=DEFAULT_EBI,
                bearer_qos=BearerQos(
                    qci=subscription.qci,
                    arp=Arp(priority_level=DEFAULT_ARP_PRIORITY),
                ),
            ),
        ),
    )


def modify_bearer(context: UeContext, pdn: PdnConnection, enb: Fteid) -> ModifyBearerRequest:
    """TS 29.274 7.2.7: the downlink of the default bearer now goes to the eNB's tunnel."""
    return ModifyBearerRequest(
        stamp=stamp(context),
        teid=pdn.sgw_s11.teid,
        user_location=user_location(context),
        bearer_contexts_to_be_modified=(
            BearerContextToBeModified(
                ebi=pdn.ebi,
                s1u_enodeb_fteid=GtpFteid(
                    FteidInterface.S1U_ENODEB_GTPU, enb.teid, IPv4Address(enb.address)
                ),
            ),
        ),
    )


def release_access_bearers(context: UeContext, pdn: PdnConnection) -> ReleaseAccessBearersRequest:
    """TS 29.274 7.2.21: the UE goes idle; the SGW drops the eNB's tunnel and buffers."""
    return ReleaseAccessBearersRequest(stamp=stamp(context), teid=pdn.sgw_s11.teid)


def delete_session(context: UeContext, pdn: PdnConnection) -> DeleteSessionRequest:
    """TS 29.274 7.2.9.1, detach: OI (operation indication) asks the SGW to go on to the PGW."""
    return DeleteSessionRequest(
        stamp=stamp(context),
        teid=pdn.sgw_s11.teid,
        linked_ebi=pdn.ebi,
        user_location=user_location(context),
        indication=Indication.of("OI"),
    )
