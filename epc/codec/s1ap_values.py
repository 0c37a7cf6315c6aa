"""Conversions between the values pycrate gives and takes for S1AP IEs (dicts, tuples,
bytes, ASN.1 names) and the dataclasses of `epc.codec.s1ap_messages`, one `Converter` per
ASN.1 type. `epc.codec.s1ap_table` says which IE of which message uses which converter.

Decoding fails with `InvalidValue` and the protocol cause it maps to (TS 36.413 section 10):
a value this core cannot represent or act on is a semantic error. Encoding a value that does
not fit raises ValueError (or pycrate's own error, which `epc.codec.s1ap` turns into one).
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Callable
from typing import Any, NamedTuple

from pycrate_asn1dir import S1AP as _ASN

from epc.codec.s1ap_constants import (
    IE_BEARERS_SUBJECT_TO_STATUS_TRANSFER_ITEM,
    IE_E_RAB_ITEM,
    IE_TAI_ITEM,
    IE_TRANSPORT_INFORMATION,
    IE_UE_ASSOCIATED_LOGICAL_S1_CONNECTION_ITEM,
)
from epc.codec.s1ap_messages import (
    AggregateMaximumBitrate,
    BearerStatus,
    Cause,
    CauseGroup,
    CountValue,
    Criticality,
    CriticalityDiagnostics,
    CriticalityDiagnosticsIe,
    Ecgi,
    EnbIdType,
    ERabAdmitted,
    ERabCause,
    ERabForwarding,
    ERabQos,
    ERabToModify,
    ERabToSetup,
    ERabTunnel,
    GbrQos,
    GlobalEnbId,
    GtpTunnel,
    Gummei,
    PduType,
    PlmnIdentity,
    ProtocolCause,
    SecurityContext,
    ServedGummei,
    STmsi,
    SupportedTa,
    Tai,
    UeAssociatedConnection,
    UeSecurityCapabilities,
)


class InvalidValue(Exception):
    """A decoded IE value that cannot become a dataclass field."""

    def __init__(
        self,
        reason: str,
        cause: ProtocolCause = ProtocolCause.SEMANTIC_ERROR,
        ies: tuple[CriticalityDiagnosticsIe, ...] = (),
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.cause = cause
        self.ies = ies
        """The IEs at fault, for the Criticality Diagnostics."""


class Converter(NamedTuple):
    """`to_asn` turns a field's value into pycrate's; `from_asn` turns it back, raising
    InvalidValue for what the dataclasses cannot hold."""

    to_asn: Callable[[Any], Any]
    from_asn: Callable[[Any], Any]


def _same(value: Any) -> Any:
    return value


AS_IS = Converter(_same, _same)


_PRINTABLE_CHARACTERS = frozenset(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 '()+,-./:=?"
)
"""The alphabet of an ASN.1 PrintableString (X.680 41.4)."""


def _printable_from_asn(text: str) -> str:
    """pycrate decodes any octet as a character; a PrintableString allows only these."""
    if not _PRINTABLE_CHARACTERS.issuperset(text):
        raise InvalidValue(
            f"{text!r} is not a PrintableString", ProtocolCause.TRANSFER_SYNTAX_ERROR
        )
    return text


PRINTABLE = Converter(_same, _printable_from_asn)


def _unsigned(size: int) -> Converter:
    """An integer carried in a fixed-size OCTET STRING, like a TEID."""
    return Converter(
        lambda value: value.to_bytes(size, "big"),
        lambda octets: int.from_bytes(octets, "big"),
    )


def bits(length: int) -> Converter:
    """An integer carried in a BIT STRING of fixed length."""

    def from_asn(value: tuple[int, int]) -> int:
        if value[1] != length:
            raise InvalidValue(f"a bit string of {value[1]} bits, expected {length}")
        return value[0]

    return Converter(lambda value: (value, length), from_asn)


def _key(value: bytes) -> tuple[int, int]:
    if len(value) != 32:
        raise ValueError(f"a 256-bit key is 32 octets, got {len(value)}")
    return int.from_bytes(value, "big"), 256


KEY = Converter(_key, lambda value: value[0].to_bytes(32, "big"))


def _named_numbers(names: dict[int, str]) -> Converter:
    """An ENUMERATED of numbers ("v32" for 32)."""
    numbers = {name: number for number, name in names.items()}

    def from_asn(name: str) -> int:
        if name not in numbers:
            raise InvalidValue(f"unknown value {name}")
        return numbers[name]

    return Converter(names.__getitem__, from_asn)


PAGING_DRX = _named_numbers({32: "v32", 64: "v64", 128: "v128", 256: "v256"})
TIME_TO_WAIT = _named_numbers({s: f"v{s}s" for s in (1, 2, 5, 10, 20, 60)})
_TEID = _unsigned(4)


@functools.lru_cache(maxsize=256)
def _plmn_from_asn(octets: bytes) -> PlmnIdentity:
    """Cached: a core sees few PLMNs, and the TBCD checks cost more than the lookup."""
    try:
        return PlmnIdentity.from_bytes(octets)
    except ValueError as error:
        raise InvalidValue(str(error)) from None


def _list(item: Converter) -> Converter:
    """A SEQUENCE OF without IE containers."""
    return Converter(
        lambda values: [item.to_asn(value) for value in values],
        lambda values: tuple(item.from_asn(value) for value in values),
    )


def _asn_type(name: str) -> Any:
    for module in (_ASN.S1AP_PDU_Contents, _ASN.S1AP_IEs):
        found = getattr(module, name.replace("-", "_"), None)
        if found is not None:
            return found
    raise LookupError(f"no ASN.1 type {name} in pycrate's S1AP")


def containers(list_type: str, item_ie_id: int, item: Converter) -> Converter:
    """A SEQUENCE OF ProtocolIE-SingleContainer: each item is an IE of its own, whose
    criticality and type name come from pycrate's table for `list_type`."""
    (row,) = _asn_type(list_type)._cont._cont["value"]._const_tab._val.root
    if row["id"] != item_ie_id:
        raise LookupError(f"{list_type} holds IE {row['id']}, not {item_ie_id}")
    criticality, type_name = row["criticality"], row["Value"]._tr._name

    def to_asn(values: tuple) -> list:
        return [
            {"id": item_ie_id, "criticality": criticality, "value": (type_name, item.to_asn(value))}
            for value in values
        ]

    def from_asn(items: list) -> tuple:
        values = []
        for container in items:
            name, value = container["value"]
            if name != type_name:
                raise InvalidValue(
                    f"{list_type} holds IE {container['id']}",
                    ProtocolCause.ABSTRACT_SYNTAX_ERROR_FALSELY_CONSTRUCTED_MESSAGE,
                )
            values.append(item.from_asn(value))
        return tuple(values)

    return Converter(to_asn, from_asn)


def _address_to_asn(text: str) -> tuple[int, int]:
    address = ipaddress.ip_address(text)
    return int(address), address.max_prefixlen


def _address_from_asn(value: tuple[int, int]) -> str:
    number, length = value
    if length == 32:
        return str(ipaddress.IPv4Address(number))
    if length == 128:
        return str(ipaddress.IPv6Address(number))
    raise InvalidValue(f"a transport layer address of {length} bits is not IPv4 or IPv6")


def _tai_to_asn(tai: Tai) -> dict:
    return {"pLMNidentity": tai.plmn.to_bytes(), "tAC": tai.tac.to_bytes(2, "big")}


def _tai_from_asn(value: dict) -> Tai:
    return Tai(_plmn_from_asn(value["pLMNidentity"]), int.from_bytes(value["tAC"], "big"))


TAI = Converter(_tai_to_asn, _tai_from_asn)

ECGI = Converter(
    lambda ecgi: {"pLMNidentity": ecgi.plmn.to_bytes(), "cell-ID": (ecgi.cell_id, 28)},
    lambda value: Ecgi(_plmn_from_asn(value["pLMNidentity"]), value["cell-ID"][0]),
)

_ENB_ID_BITS = {
    EnbIdType.MACRO: 20,
    EnbIdType.HOME: 28,
    EnbIdType.SHORT_MACRO: 18,
    EnbIdType.LONG_MACRO: 21,
}


def _global_enb_id_to_asn(enb: GlobalEnbId) -> dict:
    enb_id = (enb.enb_id_type.value, (enb.enb_id, _ENB_ID_BITS[enb.enb_id_type]))
    return {"pLMNidentity": enb.plmn.to_bytes(), "eNB-ID": enb_id}


def _global_enb_id_from_asn(value: dict) -> GlobalEnbId:
    name, (enb_id, _) = value["eNB-ID"]
    if name not in _ENB_ID_BITS:
        raise InvalidValue(f"unknown eNB ID type {name}")
    return GlobalEnbId(_plmn_from_asn(value["pLMNidentity"]), enb_id, EnbIdType(name))


GLOBAL_ENB_ID = Converter(_global_enb_id_to_asn, _global_enb_id_from_asn)

S_TMSI = Converter(
    lambda s_tmsi: {"mMEC": bytes((s_tmsi.mme_code,)), "m-TMSI": s_tmsi.m_tmsi.to_bytes(4, "big")},
    lambda value: STmsi(value["mMEC"][0], int.from_bytes(value["m-TMSI"], "big")),
)

GUMMEI = Converter(
    lambda gummei: {
        "pLMN-Identity": gummei.plmn.to_bytes(),
        "mME-Group-ID": gummei.mme_group_id.to_bytes(2, "big"),
        "mME-Code": bytes((gummei.mme_code,)),
    },
    lambda value: Gummei(
        _plmn_from_asn(value["pLMN-Identity"]),
        int.from_bytes(value["mME-Group-ID"], "big"),
        value["mME-Code"][0],
    ),
)


_CAUSE_GROUPS = frozenset(CauseGroup)


def _cause_from_asn(value: tuple[str, str]) -> Cause:
    group, name = value
    if group not in _CAUSE_GROUPS:
        raise InvalidValue(f"unknown cause group {group}")
    return Cause(group, name)


CAUSE = Converter(lambda cause: (cause.group, cause.value), _cause_from_asn)

_TRIGGERING_MESSAGES = {
    PduType.INITIATING_MESSAGE: "initiating-message",
    PduType.SUCCESSFUL_OUTCOME: "successful-outcome",
    PduType.UNSUCCESSFUL_OUTCOME: "unsuccessfull-outcome",  # sic, TS 36.413 9.3.4
}
_PDU_TYPE_OF_TRIGGER = {name: pdu_type for pdu_type, name in _TRIGGERING_MESSAGES.items()}


def _diagnostics_to_asn(diagnostics: CriticalityDiagnostics) -> dict:
    value: dict[str, Any] = {}
    if diagnostics.procedure_code is not None:
        value["procedureCode"] = diagnostics.procedure_code
    if diagnostics.triggering_message is not None:
        value["triggeringMessage"] = _TRIGGERING_MESSAGES[diagnostics.triggering_message]
    if diagnostics.procedure_criticality is not None:
        value["procedureCriticality"] = diagnostics.procedure_criticality.value
    if diagnostics.ies:
        value["iEsCriticalityDiagnostics"] = [
            {
                "iECriticality": ie.criticality.value,
                "iE-ID": ie.ie_id,
                "typeOfError": ie.type_of_error,
            }
            for ie in diagnostics.ies
        ]
    return value


def _diagnostics_from_asn(value: dict) -> CriticalityDiagnostics:
    trigger = value.get("triggeringMessage")
    criticality = value.get("procedureCriticality")
    return CriticalityDiagnostics(
        procedure_code=value.get("procedureCode"),
        triggering_message=None if trigger is None else _PDU_TYPE_OF_TRIGGER[trigger],
        procedure_criticality=None if criticality is None else Criticality(criticality),
        ies=tuple(
            CriticalityDiagnosticsIe(
                Criticality(ie["iECriticality"]), ie["iE-ID"], ie["typeOfError"]
            )
            for ie in value.get("iEsCriticalityDiagnostics", ())
        ),
    )


CRITICALITY_DIAGNOSTICS = Converter(_diagnostics_to_asn, _diagnostics_from_asn)

SUPPORTED_TAS = _list(
    Converter(
        lambda ta: {
            "tAC": ta.tac.to_bytes(2, "big"),
            "broadcastPLMNs": [plmn.to_bytes() for plmn in ta.broadcast_plmns],
        },
        lambda value: SupportedTa(
            int.from_bytes(value["tAC"], "big"),
            tuple(_plmn_from_asn(plmn) for plmn in value["broadcastPLMNs"]),
        ),
    )
)

SERVED_GUMMEIS = _list(
    Converter(
        lambda served: {
            "servedPLMNs": [plmn.to_bytes() for plmn in served.plmns],
            "servedGroupIDs": [group.to_bytes(2, "big") for group in served.mme_group_ids],
            "servedMMECs": [bytes((code,)) for code in served.mme_codes],
        },
        lambda value: ServedGummei(
            tuple(_plmn_from_asn(plmn) for plmn in value["servedPLMNs"]),
            tuple(int.from_bytes(group, "big") for group in value["servedGroupIDs"]),
            tuple(code[0] for code in value["servedMMECs"]),
        ),
    )
)


def _connection_to_asn(connection: UeAssociatedConnection) -> dict:
    value = {}
    if connection.mme_ue_s1ap_id is not None:
        value["mME-UE-S1AP-ID"] = connection.mme_ue_s1ap_id
    if connection.enb_ue_s1ap_id is not None:
        value["eNB-UE-S1AP-ID"] = connection.enb_ue_s1ap_id
    return value


CONNECTION = Converter(
    _connection_to_asn,
    lambda value: UeAssociatedConnection(value.get("mME-UE-S1AP-ID"), value.get("eNB-UE-S1AP-ID")),
)
_CONNECTIONS_TO_RESET = containers(
    "UE-associatedLogicalS1-ConnectionListRes",
    IE_UE_ASSOCIATED_LOGICAL_S1_CONNECTION_ITEM,
    CONNECTION,
)


def _reset_type_from_asn(value: tuple[str, Any]) -> tuple[UeAssociatedConnection, ...]:
    name, choice = value
    if name == "s1-Interface":
        return ()
    if name == "partOfS1-Interface":
        return _CONNECTIONS_TO_RESET.from_asn(choice)
    raise InvalidValue(f"unknown reset type {name}")


RESET_TYPE = Converter(
    lambda connections: (
        ("partOfS1-Interface", _CONNECTIONS_TO_RESET.to_asn(connections))
        if connections
        else ("s1-Interface", "reset-all")
    ),
    _reset_type_from_asn,
)

AGGREGATE_MAXIMUM_BITRATE = Converter(
    lambda bitrate: {
        "uEaggregateMaximumBitRateDL": bitrate.downlink,
        "uEaggregateMaximumBitRateUL": bitrate.uplink,
    },
    lambda value: AggregateMaximumBitrate(
        value["uEaggregateMaximumBitRateDL"], value["uEaggregateMaximumBitRateUL"]
    ),
)


def _qos_to_asn(qos: ERabQos) -> dict:
    value: dict[str, Any] = {
        "qCI": qos.qci,
        "allocationRetentionPriority": {
            "priorityLevel": qos.priority_level,
            "pre-emptionCapability": (
                "may-trigger-pre-emption"
                if qos.may_trigger_pre_emption
                else "shall-not-trigger-pre-emption"
            ),
            "pre-emptionVulnerability": "pre-emptable" if qos.pre_emptable else "not-pre-emptable",
        },
    }
    if qos.gbr is not None:
        value["gbrQosInformation"] = {
            "e-RAB-MaximumBitrateDL": qos.gbr.maximum_bitrate_downlink,
            "e-RAB-MaximumBitrateUL": qos.gbr.maximum_bitrate_uplink,
            "e-RAB-GuaranteedBitrateDL": qos.gbr.guaranteed_bitrate_downlink,
            "e-RAB-GuaranteedBitrateUL": qos.gbr.guaranteed_bitrate_uplink,
        }
    return value


def _qos_from_asn(value: dict) -> ERabQos:
    priority = value["allocationRetentionPriority"]
    gbr = value.get("gbrQosInformation")
    return ERabQos(
        qci=value["qCI"],
        priority_level=priority["priorityLevel"],
        may_trigger_pre_emption=priority["pre-emptionCapability"] == "may-trigger-pre-emption",
        pre_emptable=priority["pre-emptionVulnerability"] == "pre-emptable",
        gbr=None
        if gbr is None
        else GbrQos(
            gbr["e-RAB-MaximumBitrateDL"],
            gbr["e-RAB-MaximumBitrateUL"],
            gbr["e-RAB-GuaranteedBitrateDL"],
            gbr["e-RAB-GuaranteedBitrateUL"],
        ),
    )


_SIXTEEN_BITS = bits(16)
UE_SECURITY_CAPABILITIES = Converter(
    lambda capabilities: {
        "encryptionAlgorithms": (capabilities.encryption_algorithms, 16),
        "integrityProtectionAlgorithms": (capabilities.integrity_algorithms, 16),
    },
    lambda value: UeSecurityCapabilities(
        _SIXTEEN_BITS.from_asn(value["encryptionAlgorithms"]),
        _SIXTEEN_BITS.from_asn(value["integrityProtectionAlgorithms"]),
    ),
)

SECURITY_CONTEXT = Converter(
    lambda context: {
        "nextHopChainingCount": context.next_hop_chaining_count,
        "nextHopParameter": _key(context.next_hop),
    },
    lambda value: SecurityContext(
        value["nextHopChainingCount"], KEY.from_asn(value["nextHopParameter"])
    ),
)


def _tunnel_fields(tunnel: GtpTunnel | None, address_key: str, teid_key: str) -> dict:
    if tunnel is None:
        return {}
    return {
        address_key: _address_to_asn(tunnel.transport_address),
        teid_key: _TEID.to_asn(tunnel.teid),
    }


def _tunnel_from(value: dict, address_key: str, teid_key: str) -> GtpTunnel | None:
    address, teid = value.get(address_key), value.get(teid_key)
    if address is None and teid is None:
        return None
    if address is None or teid is None:
        raise InvalidValue(f"{address_key} and {teid_key} go together")
    return GtpTunnel(_address_from_asn(address), _TEID.from_asn(teid))


def e_rab_to_setup(qos_key: str, with_nas_pdu: bool) -> Converter:
    """E-RAB to be set up: Initial Context Setup and E-RAB Setup carry a NAS PDU, Handover
    Request does not (and spells the QoS component differently)."""

    def to_asn(e_rab: ERabToSetup) -> dict:
        value = {
            "e-RAB-ID": e_rab.e_rab_id,
            qos_key: _qos_to_asn(e_rab.qos),
            "transportLayerAddress": _address_to_asn(e_rab.transport_address),
            "gTP-TEID": _TEID.to_asn(e_rab.gtp_teid),
        }
        if e_rab.nas_pdu is not None:
            if not with_nas_pdu:
                raise ValueError("E-RABs of a Handover Request carry no NAS PDU")
            value["nAS-PDU"] = e_rab.nas_pdu
        return value

    def from_asn(value: dict) -> ERabToSetup:
        return ERabToSetup(
            value["e-RAB-ID"],
            _qos_from_asn(value[qos_key]),
            _address_from_asn(value["transportLayerAddress"]),
            _TEID.from_asn(value["gTP-TEID"]),
            value.get("nAS-PDU"),
        )

    return Converter(to_asn, from_asn)


E_RAB_TUNNEL = Converter(
    lambda e_rab: {
        "e-RAB-ID": e_rab.e_rab_id,
        "transportLayerAddress": _address_to_asn(e_rab.transport_address),
        "gTP-TEID": _TEID.to_asn(e_rab.gtp_teid),
    },
    lambda value: ERabTunnel(
        value["e-RAB-ID"],
        _address_from_asn(value["transportLayerAddress"]),
        _TEID.from_asn(value["gTP-TEID"]),
    ),
)

E_RAB_CAUSE = Converter(
    lambda e_rab: {"e-RAB-ID": e_rab.e_rab_id, "cause": CAUSE.to_asn(e_rab.cause)},
    lambda value: ERabCause(value["e-RAB-ID"], _cause_from_asn(value["cause"])),
)
E_RAB_ID = Converter(lambda e_rab_id: {"e-RAB-ID": e_rab_id}, lambda value: value["e-RAB-ID"])
E_RAB_LIST = containers("E-RABList", IE_E_RAB_ITEM, E_RAB_CAUSE)


def _e_rab_to_modify_to_asn(e_rab: ERabToModify) -> dict:
    value: dict[str, Any] = {
        "e-RAB-ID": e_rab.e_rab_id,
        "e-RABLevelQoSParameters": _qos_to_asn(e_rab.qos),
        "nAS-PDU": e_rab.nas_pdu,
    }
    if e_rab.uplink_tunnel is not None:
        transport = _tunnel_fields(e_rab.uplink_tunnel, "transportLayerAddress", "uL-GTP-TEID")
        value["iE-Extensions"] = [
            {
                "id": IE_TRANSPORT_INFORMATION,
                "criticality": Criticality.REJECT.value,
                "extensionValue": ("TransportInformation", transport),
            }
        ]
    return value


def _e_rab_to_modify_from_asn(value: dict) -> ERabToModify:
    uplink_tunnel = None
    for extension in value.get("iE-Extensions", ()):
        if extension["id"] == IE_TRANSPORT_INFORMATION:
            transport = extension["extensionValue"][1]
            uplink_tunnel = _tunnel_from(transport, "transportLayerAddress", "uL-GTP-TEID")
    return ERabToModify(
        value["e-RAB-ID"],
        _qos_from_asn(value["e-RABLevelQoSParameters"]),
        value["nAS-PDU"],
        uplink_tunnel,
    )


E_RAB_TO_MODIFY = Converter(_e_rab_to_modify_to_asn, _e_rab_to_modify_from_asn)


def _e_rab_admitted_from_asn(value: dict) -> ERabAdmitted:
    return ERabAdmitted(
        value["e-RAB-ID"],
        _address_from_asn(value["transportLayerAddress"]),
        _TEID.from_asn(value["gTP-TEID"]),
        _tunnel_from(value, "dL-transportLayerAddress", "dL-gTP-TEID"),
        _tunnel_from(value, "uL-TransportLayerAddress", "uL-GTP-TEID"),
    )


E_RAB_ADMITTED = Converter(
    lambda e_rab: {
        **E_RAB_TUNNEL.to_asn(e_rab),
        **_tunnel_fields(e_rab.downlink_forwarding, "dL-transportLayerAddress", "dL-gTP-TEID"),
        **_tunnel_fields(e_rab.uplink_forwarding, "uL-TransportLayerAddress", "uL-GTP-TEID"),
    },
    _e_rab_admitted_from_asn,
)

E_RAB_FORWARDING = Converter(
    lambda e_rab: {
        "e-RAB-ID": e_rab.e_rab_id,
        **_tunnel_fields(e_rab.downlink, "dL-transportLayerAddress", "dL-gTP-TEID"),
        **_tunnel_fields(e_rab.uplink, "uL-TransportLayerAddress", "uL-GTP-TEID"),
    },
    lambda value: ERabForwarding(
        value["e-RAB-ID"],
        _tunnel_from(value, "dL-transportLayerAddress", "dL-gTP-TEID"),
        _tunnel_from(value, "uL-TransportLayerAddress", "uL-GTP-TEID"),
    ),
)


def _ue_s1ap_ids_to_asn(ids: tuple[int, int | None]) -> tuple[str, Any]:
    mme_ue_s1ap_id, enb_ue_s1ap_id = ids
    if enb_ue_s1ap_id is None:
        return "mME-UE-S1AP-ID", mme_ue_s1ap_id
    return "uE-S1AP-ID-pair", {"mME-UE-S1AP-ID": mme_ue_s1ap_id, "eNB-UE-S1AP-ID": enb_ue_s1ap_id}


def _ue_s1ap_ids_from_asn(value: tuple[str, Any]) -> tuple[int, int | None]:
    name, ids = value
    if name == "uE-S1AP-ID-pair":
        return ids["mME-UE-S1AP-ID"], ids["eNB-UE-S1AP-ID"]
    if name == "mME-UE-S1AP-ID":
        return ids, None
    raise InvalidValue(f"unknown UE-S1AP-IDs alternative {name}")


UE_S1AP_IDS = Converter(_ue_s1ap_ids_to_asn, _ue_s1ap_ids_from_asn)


def _target_from_asn(value: tuple[str, Any]) -> tuple[GlobalEnbId, Tai]:
    name, target = value
    if name != "targeteNB-ID":
        raise InvalidValue(f"handover to {name} is not supported, only to an eNB")
    return _global_enb_id_from_asn(target["global-ENB-ID"]), _tai_from_asn(target["selected-TAI"])


TARGET_ID = Converter(
    lambda target: (
        "targeteNB-ID",
        {"global-ENB-ID": _global_enb_id_to_asn(target[0]), "selected-TAI": _tai_to_asn(target[1])},
    ),
    _target_from_asn,
)


def _tbcd_digits_to_asn(digits: str) -> bytes:
    """TS 29.002 TBCD-STRING: two digits an octet, first in the low nibble, F as filler."""
    nibbles = [int(digit) for digit in digits] + [0xF] * (len(digits) % 2)
    return bytes(high << 4 | low for low, high in zip(nibbles[::2], nibbles[1::2], strict=True))


def _tbcd_digits_from_asn(octets: bytes) -> str:
    nibbles = [(octet >> shift) & 0xF for octet in octets for shift in (0, 4)]
    if nibbles[-1] == 0xF:
        nibbles.pop()
    if any(nibble > 9 for nibble in nibbles):
        raise InvalidValue(f"not a TBCD digit string: {octets.hex()}")
    return "".join(map(str, nibbles))


def _paging_identity_from_asn(value: tuple[str, Any]) -> STmsi | str:
    name, identity = value
    if name == "s-TMSI":
        return S_TMSI.from_asn(identity)
    if name == "iMSI":
        return _tbcd_digits_from_asn(identity)
    raise InvalidValue(f"unknown paging identity {name}")


PAGING_IDENTITY = Converter(
    lambda identity: (
        ("s-TMSI", S_TMSI.to_asn(identity))
        if isinstance(identity, STmsi)
        else ("iMSI", _tbcd_digits_to_asn(identity))
    ),
    _paging_identity_from_asn,
)

TAI_LIST = containers(
    "TAIList",
    IE_TAI_ITEM,
    Converter(lambda tai: {"tAI": _tai_to_asn(tai)}, lambda value: _tai_from_asn(value["tAI"])),
)


def _count_to_asn(count: CountValue) -> dict:
    return {"pDCP-SN": count.pdcp_sn, "hFN": count.hfn}


def _count_from_asn(value: dict) -> CountValue:
    return CountValue(value["pDCP-SN"], value["hFN"])


def _bearer_status_to_asn(bearer: BearerStatus) -> dict:
    value = {
        "e-RAB-ID": bearer.e_rab_id,
        "uL-COUNTvalue": _count_to_asn(bearer.uplink_count),
        "dL-COUNTvalue": _count_to_asn(bearer.downlink_count),
    }
    if bearer.uplink_receive_status is not None:
        status = bearer.uplink_receive_status
        value["receiveStatusofULPDCPSDUs"] = (int.from_bytes(status, "big"), 8 * len(status))
    return value


def _bearer_status_from_asn(value: dict) -> BearerStatus:
    status = value.get("receiveStatusofULPDCPSDUs")
    return BearerStatus(
        value["e-RAB-ID"],
        _count_from_asn(value["uL-COUNTvalue"]),
        _count_from_asn(value["dL-COUNTvalue"]),
        None if status is None else status[0].to_bytes(status[1] // 8, "big"),
    )


_BEARERS_STATUS = containers(
    "Bearers-SubjectToStatusTransferList",
    IE_BEARERS_SUBJECT_TO_STATUS_TRANSFER_ITEM,
    Converter(_bearer_status_to_asn, _bearer_status_from_asn),
)
STATUS_TRANSFER_CONTAINER = Converter(
    lambda bearers: {"bearers-SubjectToStatusTransferList": _BEARERS_STATUS.to_asn(bearers)},
    lambda value: _BEARERS_STATUS.from_asn(value["bearers-SubjectToStatusTransferList"]),
)
