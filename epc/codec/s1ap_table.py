"""Which IE fills which dataclass field, for every S1AP message this core exchanges (TS 36.413
section 9.1): one `Message` per dataclass, naming its procedure code, PDU type and, per IE,
the id, the converter from `epc.codec.s1ap_values` and the field(s).

The criticality, presence, type and order of each IE are not repeated here: `epc.codec.s1ap`
takes them from pycrate's copy of the ASN.1 tables, and refuses at import an IE id the
message does not have.
"""

from __future__ import annotations

from typing import NamedTuple

from epc.codec.s1ap_constants import (
    IE_CAUSE,
    IE_CN_DOMAIN,
    IE_CRITICALITY_DIAGNOSTICS,
    IE_DEFAULT_PAGING_DRX,
    IE_E_RAB_ADMITTED_ITEM,
    IE_E_RAB_ADMITTED_LIST,
    IE_E_RAB_DATA_FORWARDING_ITEM,
    IE_E_RAB_FAILED_TO_MODIFY_LIST,
    IE_E_RAB_FAILED_TO_RELEASE_LIST,
    IE_E_RAB_FAILED_TO_SETUP_ITEM_HANDOVER_REQUEST_ACKNOWLEDGE,
    IE_E_RAB_FAILED_TO_SETUP_LIST_BEARER_SETUP_RESPONSE,
    IE_E_RAB_FAILED_TO_SETUP_LIST_CONTEXT_SETUP_RESPONSE,
    IE_E_RAB_FAILED_TO_SETUP_LIST_HANDOVER_REQUEST_ACKNOWLEDGE,
    IE_E_RAB_MODIFY_ITEM_BEARER_MODIFY_RESPONSE,
    IE_E_RAB_MODIFY_LIST_BEARER_MODIFY_RESPONSE,
    IE_E_RAB_RELEASE_ITEM_BEARER_RELEASE_COMPLETE,
    IE_E_RAB_RELEASE_LIST_BEARER_RELEASE_COMPLETE,
    IE_E_RAB_SETUP_ITEM_BEARER_SETUP_RESPONSE,
    IE_E_RAB_SETUP_ITEM_CONTEXT_SETUP_RESPONSE,
    IE_E_RAB_SETUP_LIST_BEARER_SETUP_RESPONSE,
    IE_E_RAB_SETUP_LIST_CONTEXT_SETUP_RESPONSE,
    IE_E_RAB_SUBJECT_TO_DATA_FORWARDING_LIST,
    IE_E_RAB_TO_BE_MODIFIED_ITEM_BEARER_MODIFY_REQUEST,
    IE_E_RAB_TO_BE_MODIFIED_LIST_BEARER_MODIFY_REQUEST,
    IE_E_RAB_TO_BE_RELEASED_LIST,
    IE_E_RAB_TO_BE_SETUP_ITEM_BEARER_SETUP_REQUEST,
    IE_E_RAB_TO_BE_SETUP_ITEM_CONTEXT_SETUP_REQUEST,
    IE_E_RAB_TO_BE_SETUP_ITEM_HANDOVER_REQUEST,
    IE_E_RAB_TO_BE_SETUP_LIST_BEARER_SETUP_REQUEST,
    IE_E_RAB_TO_BE_SETUP_LIST_CONTEXT_SETUP_REQUEST,
    IE_E_RAB_TO_BE_SETUP_LIST_HANDOVER_REQUEST,
    IE_E_RAB_TO_BE_SWITCHED_DOWNLINK_ITEM,
    IE_E_RAB_TO_BE_SWITCHED_DOWNLINK_LIST,
    IE_E_RAB_TO_BE_SWITCHED_UPLINK_ITEM,
    IE_E_RAB_TO_BE_SWITCHED_UPLINK_LIST,
    IE_E_RAB_TO_RELEASE_LIST_HANDOVER_COMMAND,
    IE_ENB_NAME,
    IE_ENB_STATUS_TRANSFER_TRANSPARENT_CONTAINER,
    IE_ENB_UE_S1AP_ID,
    IE_EUTRAN_CGI,
    IE_GLOBAL_ENB_ID,
    IE_GUMMEI,
    IE_GUMMEI_TYPE,
    IE_HANDOVER_TYPE,
    IE_MME_NAME,
    IE_MME_UE_S1AP_ID,
    IE_NAS_PDU,
    IE_PAGING_DRX,
    IE_RELATIVE_MME_CAPACITY,
    IE_RESET_TYPE,
    IE_RRC_ESTABLISHMENT_CAUSE,
    IE_S_TMSI,
    IE_SECURITY_CONTEXT,
    IE_SECURITY_KEY,
    IE_SERVED_GUMMEIS,
    IE_SOURCE_MME_UE_S1AP_ID,
    IE_SOURCE_TO_TARGET_TRANSPARENT_CONTAINER,
    IE_SUPPORTED_TAS,
    IE_TAI,
    IE_TAI_LIST,
    IE_TARGET_ID,
    IE_TARGET_TO_SOURCE_TRANSPARENT_CONTAINER,
    IE_TIME_TO_WAIT,
    IE_UE_AGGREGATE_MAXIMUM_BITRATE,
    IE_UE_ASSOCIATED_LOGICAL_S1_CONNECTION_ITEM,
    IE_UE_ASSOCIATED_LOGICAL_S1_CONNECTION_LIST_RESET_ACKNOWLEDGE,
    IE_UE_IDENTITY_INDEX_VALUE,
    IE_UE_PAGING_ID,
    IE_UE_RADIO_CAPABILITY,
    IE_UE_S1AP_IDS,
    IE_UE_SECURITY_CAPABILITIES,
    PROCEDURE_DOWNLINK_NAS_TRANSPORT,
    PROCEDURE_E_RAB_MODIFY,
    PROCEDURE_E_RAB_RELEASE,
    PROCEDURE_E_RAB_SETUP,
    PROCEDURE_ENB_CONFIGURATION_UPDATE,
    PROCEDURE_ENB_STATUS_TRANSFER,
    PROCEDURE_ERROR_INDICATION,
    PROCEDURE_HANDOVER_NOTIFICATION,
    PROCEDURE_HANDOVER_PREPARATION,
    PROCEDURE_HANDOVER_RESOURCE_ALLOCATION,
    PROCEDURE_INITIAL_CONTEXT_SETUP,
    PROCEDURE_INITIAL_UE_MESSAGE,
    PROCEDURE_MME_STATUS_TRANSFER,
    PROCEDURE_PAGING,
    PROCEDURE_PATH_SWITCH_REQUEST,
    PROCEDURE_RESET,
    PROCEDURE_S1_SETUP,
    PROCEDURE_UE_CONTEXT_MODIFICATION,
    PROCEDURE_UE_CONTEXT_RELEASE,
    PROCEDURE_UE_CONTEXT_RELEASE_REQUEST,
    PROCEDURE_UPLINK_NAS_TRANSPORT,
)
from epc.codec.s1ap_messages import (
    DownlinkNasTransport,
    EnbConfigurationUpdate,
    EnbConfigurationUpdateAcknowledge,
    EnbConfigurationUpdateFailure,
    EnbStatusTransfer,
    ERabModifyRequest,
    ERabModifyResponse,
    ERabReleaseCommand,
    ERabReleaseResponse,
    ERabSetupRequest,
    ERabSetupResponse,
    ErrorIndication,
    HandoverCommand,
    HandoverFailure,
    HandoverNotify,
    HandoverPreparationFailure,
    HandoverRequest,
    HandoverRequestAcknowledge,
    HandoverRequired,
    InitialContextSetupFailure,
    InitialContextSetupRequest,
    InitialContextSetupResponse,
    InitialUeMessage,
    MmeStatusTransfer,
    Paging,
    PathSwitchRequest,
    PathSwitchRequestAcknowledge,
    PathSwitchRequestFailure,
    PduType,
    Reset,
    ResetAcknowledge,
    S1SetupFailure,
    S1SetupRequest,
    S1SetupResponse,
    UeContextModificationFailure,
    UeContextModificationRequest,
    UeContextModificationResponse,
    UeContextReleaseCommand,
    UeContextReleaseComplete,
    UeContextReleaseRequest,
    UplinkNasTransport,
)
from epc.codec.s1ap_values import (
    AGGREGATE_MAXIMUM_BITRATE,
    AS_IS,
    CAUSE,
    CONNECTION,
    CRITICALITY_DIAGNOSTICS,
    E_RAB_ADMITTED,
    E_RAB_CAUSE,
    E_RAB_FORWARDING,
    E_RAB_ID,
    E_RAB_LIST,
    E_RAB_TO_MODIFY,
    E_RAB_TUNNEL,
    ECGI,
    GLOBAL_ENB_ID,
    GUMMEI,
    KEY,
    PAGING_DRX,
    PAGING_IDENTITY,
    PRINTABLE,
    RESET_TYPE,
    S_TMSI,
    SECURITY_CONTEXT,
    SERVED_GUMMEIS,
    STATUS_TRANSFER_CONTAINER,
    SUPPORTED_TAS,
    TAI,
    TAI_LIST,
    TARGET_ID,
    TIME_TO_WAIT,
    UE_S1AP_IDS,
    UE_SECURITY_CAPABILITIES,
    Converter,
    bits,
    containers,
    e_rab_to_setup,
)


class Field(NamedTuple):
    """One IE of a message: its id, its converter, and the dataclass field(s) it fills
    (UE-S1AP-IDs and Target ID fill two)."""

    ie_id: int
    converter: Converter
    names: tuple[str, ...]


def _field(ie_id: int, converter: Converter, *names: str) -> Field:
    return Field(ie_id, converter, names)


class Message(NamedTuple):
    message_class: type
    procedure_code: int
    pdu_type: PduType
    fields: tuple[Field, ...]


_INITIATING = PduType.INITIATING_MESSAGE
_SUCCESSFUL = PduType.SUCCESSFUL_OUTCOME
_UNSUCCESSFUL = PduType.UNSUCCESSFUL_OUTCOME
_MME_ID = _field(IE_MME_UE_S1AP_ID, AS_IS, "mme_ue_s1ap_id")
_ENB_ID = _field(IE_ENB_UE_S1AP_ID, AS_IS, "enb_ue_s1ap_id")
_UE_IDS = (_MME_ID, _ENB_ID)
_CAUSE_FIELD = _field(IE_CAUSE, CAUSE, "cause")
_NAS_PDU = _field(IE_NAS_PDU, AS_IS, "nas_pdu")
_TAI_FIELD = _field(IE_TAI, TAI, "tai")
_ECGI_FIELD = _field(IE_EUTRAN_CGI, ECGI, "ecgi")
_BITRATE_FIELD = _field(
    IE_UE_AGGREGATE_MAXIMUM_BITRATE, AGGREGATE_MAXIMUM_BITRATE, "ue_aggregate_maximum_bitrate"
)
_SECURITY_CAPABILITIES_FIELD = _field(
    IE_UE_SECURITY_CAPABILITIES, UE_SECURITY_CAPABILITIES, "ue_security_capabilities"
)
_TIME_TO_WAIT_FIELD = _field(IE_TIME_TO_WAIT, TIME_TO_WAIT, "time_to_wait")
_SUPPORTED_TAS_FIELD = _field(IE_SUPPORTED_TAS, SUPPORTED_TAS, "supported_tas")
_ENB_NAME = _field(IE_ENB_NAME, PRINTABLE, "enb_name")
_STATUS_TRANSFER = _field(
    IE_ENB_STATUS_TRANSFER_TRANSPARENT_CONTAINER, STATUS_TRANSFER_CONTAINER, "bearers"
)

MESSAGES = (
    Message(
        S1SetupRequest,
        PROCEDURE_S1_SETUP,
        _INITIATING,
        (
            _field(IE_GLOBAL_ENB_ID, GLOBAL_ENB_ID, "global_enb_id"),
            _ENB_NAME,
            _SUPPORTED_TAS_FIELD,
            _field(IE_DEFAULT_PAGING_DRX, PAGING_DRX, "default_paging_drx"),
        ),
    ),
    Message(
        S1SetupResponse,
        PROCEDURE_S1_SETUP,
        _SUCCESSFUL,
        (
            _field(IE_MME_NAME, PRINTABLE, "mme_name"),
            _field(IE_SERVED_GUMMEIS, SERVED_GUMMEIS, "served_gummeis"),
            _field(IE_RELATIVE_MME_CAPACITY, AS_IS, "relative_mme_capacity"),
        ),
    ),
    Message(S1SetupFailure, PROCEDURE_S1_SETUP, _UNSUCCESSFUL, (_CAUSE_FIELD, _TIME_TO_WAIT_FIELD)),
    Message(
        Reset,
        PROCEDURE_RESET,
        _INITIATING,
        (_CAUSE_FIELD, _field(IE_RESET_TYPE, RESET_TYPE, "connections")),
    ),
    Message(
        ResetAcknowledge,
        PROCEDURE_RESET,
        _SUCCESSFUL,
        (
            _field(
                IE_UE_ASSOCIATED_LOGICAL_S1_CONNECTION_LIST_RESET_ACKNOWLEDGE,
                containers(
                    "UE-associatedLogicalS1-ConnectionListResAck",
                    IE_UE_ASSOCIATED_LOGICAL_S1_CONNECTION_ITEM,
                    CONNECTION,
                ),
                "connections",
            ),
        ),
    ),
    Message(
        ErrorIndication,
        PROCEDURE_ERROR_INDICATION,
        _INITIATING,
        (
            *_UE_IDS,
            _CAUSE_FIELD,
            _field(IE_CRITICALITY_DIAGNOSTICS, CRITICALITY_DIAGNOSTICS, "criticality_diagnostics"),
            _field(IE_S_TMSI, S_TMSI, "s_tmsi"),
        ),
    ),
    Message(
        EnbConfigurationUpdate,
        PROCEDURE_ENB_CONFIGURATION_UPDATE,
        _INITIATING,
        (
            _ENB_NAME,
            _SUPPORTED_TAS_FIELD,
            _field(IE_DEFAULT_PAGING_DRX, PAGING_DRX, "default_paging_drx"),
        ),
    ),
    Message(EnbConfigurationUpdateAcknowledge, PROCEDURE_ENB_CONFIGURATION_UPDATE, _SUCCESSFUL, ()),
    Message(
        EnbConfigurationUpdateFailure,
        PROCEDURE_ENB_CONFIGURATION_UPDATE,
        _UNSUCCESSFUL,
        (_CAUSE_FIELD, _TIME_TO_WAIT_FIELD),
    ),
    Message(
        Paging,
        PROCEDURE_PAGING,
        _INITIATING,
        (
            _field(IE_UE_IDENTITY_INDEX_VALUE, bits(10), "ue_identity_index"),
            _field(IE_UE_PAGING_ID, PAGING_IDENTITY, "paging_identity"),
            _field(IE_PAGING_DRX, PAGING_DRX, "paging_drx"),
            _field(IE_CN_DOMAIN, AS_IS, "cn_domain"),
            _field(IE_TAI_LIST, TAI_LIST, "tai_list"),
        ),
    ),
    Message(
        InitialUeMessage,
        PROCEDURE_INITIAL_UE_MESSAGE,
        _INITIATING,
        (
            _ENB_ID,
            _NAS_PDU,
            _TAI_FIELD,
            _ECGI_FIELD,
            _field(IE_RRC_ESTABLISHMENT_CAUSE, AS_IS, "rrc_establishment_cause"),
            _field(IE_S_TMSI, S_TMSI, "s_tmsi"),
            _field(IE_GUMMEI, GUMMEI, "gummei"),
            _field(IE_GUMMEI_TYPE, AS_IS, "gummei_type"),
        ),
    ),
    Message(
        UplinkNasTransport,
        PROCEDURE_UPLINK_NAS_TRANSPORT,
        _INITIATING,
        (*_UE_IDS, _NAS_PDU, _ECGI_FIELD, _TAI_FIELD),
    ),
    Message(
        DownlinkNasTransport, PROCEDURE_DOWNLINK_NAS_TRANSPORT, _INITIATING, (*_UE_IDS, _NAS_PDU)
    ),
    Message(
        InitialContextSetupRequest,
        PROCEDURE_INITIAL_CONTEXT_SETUP,
        _INITIATING,
        (
            *_UE_IDS,
            _BITRATE_FIELD,
            _field(
                IE_E_RAB_TO_BE_SETUP_LIST_CONTEXT_SETUP_REQUEST,
                containers(
                    "E-RABToBeSetupListCtxtSUReq",
                    IE_E_RAB_TO_BE_SETUP_ITEM_CONTEXT_SETUP_REQUEST,
                    e_rab_to_setup("e-RABlevelQoSParameters", with_nas_pdu=True),
                ),
                "e_rabs",
            ),
            _SECURITY_CAPABILITIES_FIELD,
            _field(IE_SECURITY_KEY, KEY, "security_key"),
            _field(IE_UE_RADIO_CAPABILITY, AS_IS, "ue_radio_capability"),
        ),
    ),
    Message(
        InitialContextSetupResponse,
        PROCEDURE_INITIAL_CONTEXT_SETUP,
        _SUCCESSFUL,
        (
            *_UE_IDS,
            _field(
                IE_E_RAB_SETUP_LIST_CONTEXT_SETUP_RESPONSE,
                containers(
                    "E-RABSetupListCtxtSURes",
                    IE_E_RAB_SETUP_ITEM_CONTEXT_SETUP_RESPONSE,
                    E_RAB_TUNNEL,
                ),
                "e_rabs",
            ),
            _field(
                IE_E_RAB_FAILED_TO_SETUP_LIST_CONTEXT_SETUP_RESPONSE, E_RAB_LIST, "e_rabs_failed"
            ),
        ),
    ),
    Message(
        InitialContextSetupFailure,
        PROCEDURE_INITIAL_CONTEXT_SETUP,
        _UNSUCCESSFUL,
        (*_UE_IDS, _CAUSE_FIELD),
    ),
    Message(
        UeContextReleaseRequest,
        PROCEDURE_UE_CONTEXT_RELEASE_REQUEST,
        _INITIATING,
        (*_UE_IDS, _CAUSE_FIELD),
    ),
    Message(
        UeContextReleaseCommand,
        PROCEDURE_UE_CONTEXT_RELEASE,
        _INITIATING,
        (
            _field(IE_UE_S1AP_IDS, UE_S1AP_IDS, "mme_ue_s1ap_id", "enb_ue_s1ap_id"),
            _CAUSE_FIELD,
        ),
    ),
    Message(UeContextReleaseComplete, PROCEDURE_UE_CONTEXT_RELEASE, _SUCCESSFUL, _UE_IDS),
    Message(
        UeContextModificationRequest,
        PROCEDURE_UE_CONTEXT_MODIFICATION,
        _INITIATING,
        (
            *_UE_IDS,
            _field(IE_SECURITY_KEY, KEY, "security_key"),
            _BITRATE_FIELD,
            _SECURITY_CAPABILITIES_FIELD,
        ),
    ),
    Message(UeContextModificationResponse, PROCEDURE_UE_CONTEXT_MODIFICATION, _SUCCESSFUL, _UE_IDS),
    Message(
        UeContextModificationFailure,
        PROCEDURE_UE_CONTEXT_MODIFICATION,
        _UNSUCCESSFUL,
        (*_UE_IDS, _CAUSE_FIELD),
    ),
    Message(
        ERabSetupRequest,
        PROCEDURE_E_RAB_SETUP,
        _INITIATING,
        (
            *_UE_IDS,
            _BITRATE_FIELD,
            _field(
                IE_E_RAB_TO_BE_SETUP_LIST_BEARER_SETUP_REQUEST,
                containers(
                    "E-RABToBeSetupListBearerSUReq",
                    IE_E_RAB_TO_BE_SETUP_ITEM_BEARER_SETUP_REQUEST,
                    e_rab_to_setup("e-RABlevelQoSParameters", with_nas_pdu=True),
                ),
                "e_rabs",
            ),
        ),
    ),
    Message(
        ERabSetupResponse,
        PROCEDURE_E_RAB_SETUP,
        _SUCCESSFUL,
        (
            *_UE_IDS,
            _field(
                IE_E_RAB_SETUP_LIST_BEARER_SETUP_RESPONSE,
                containers(
                    "E-RABSetupListBearerSURes",
                    IE_E_RAB_SETUP_ITEM_BEARER_SETUP_RESPONSE,
                    E_RAB_TUNNEL,
                ),
                "e_rabs",
            ),
            _field(
                IE_E_RAB_FAILED_TO_SETUP_LIST_BEARER_SETUP_RESPONSE, E_RAB_LIST, "e_rabs_failed"
            ),
        ),
    ),
    Message(
        ERabModifyRequest,
        PROCEDURE_E_RAB_MODIFY,
        _INITIATING,
        (
            *_UE_IDS,
            _BITRATE_FIELD,
            _field(
                IE_E_RAB_TO_BE_MODIFIED_LIST_BEARER_MODIFY_REQUEST,
                containers(
                    "E-RABToBeModifiedListBearerModReq",
                    IE_E_RAB_TO_BE_MODIFIED_ITEM_BEARER_MODIFY_REQUEST,
                    E_RAB_TO_MODIFY,
                ),
                "e_rabs",
            ),
        ),
    ),
    Message(
        ERabModifyResponse,
        PROCEDURE_E_RAB_MODIFY,
        _SUCCESSFUL,
        (
            *_UE_IDS,
            _field(
                IE_E_RAB_MODIFY_LIST_BEARER_MODIFY_RESPONSE,
                containers(
                    "E-RABModifyListBearerModRes",
                    IE_E_RAB_MODIFY_ITEM_BEARER_MODIFY_RESPONSE,
                    E_RAB_ID,
                ),
                "e_rab_ids",
            ),
            _field(IE_E_RAB_FAILED_TO_MODIFY_LIST, E_RAB_LIST, "e_rabs_failed"),
        ),
    ),
    Message(
        ERabReleaseCommand,
        PROCEDURE_E_RAB_RELEASE,
        _INITIATING,
        (
            *_UE_IDS,
            _BITRATE_FIELD,
            _field(IE_E_RAB_TO_BE_RELEASED_LIST, E_RAB_LIST, "e_rabs"),
            _NAS_PDU,
        ),
    ),
    Message(
        ERabReleaseResponse,
        PROCEDURE_E_RAB_RELEASE,
        _SUCCESSFUL,
        (
            *_UE_IDS,
            _field(
                IE_E_RAB_RELEASE_LIST_BEARER_RELEASE_COMPLETE,
                containers(
                    "E-RABReleaseListBearerRelComp",
                    IE_E_RAB_RELEASE_ITEM_BEARER_RELEASE_COMPLETE,
                    E_RAB_ID,
                ),
                "e_rab_ids",
            ),
            _field(IE_E_RAB_FAILED_TO_RELEASE_LIST, E_RAB_LIST, "e_rabs_failed"),
        ),
    ),
    Message(
        HandoverRequired,
        PROCEDURE_HANDOVER_PREPARATION,
        _INITIATING,
        (
            *_UE_IDS,
            _field(IE_HANDOVER_TYPE, AS_IS, "handover_type"),
            _CAUSE_FIELD,
            _field(IE_TARGET_ID, TARGET_ID, "target_enb", "target_tai"),
            _field(IE_SOURCE_TO_TARGET_TRANSPARENT_CONTAINER, AS_IS, "source_to_target_container"),
        ),
    ),
    Message(
        HandoverRequest,
        PROCEDURE_HANDOVER_RESOURCE_ALLOCATION,
        _INITIATING,
        (
            _MME_ID,
            _field(IE_HANDOVER_TYPE, AS_IS, "handover_type"),
            _CAUSE_FIELD,
            _BITRATE_FIELD,
            _field(
                IE_E_RAB_TO_BE_SETUP_LIST_HANDOVER_REQUEST,
                containers(
                    "E-RABToBeSetupListHOReq",
                    IE_E_RAB_TO_BE_SETUP_ITEM_HANDOVER_REQUEST,
                    e_rab_to_setup("e-RABlevelQosParameters", with_nas_pdu=False),
                ),
                "e_rabs",
            ),
            _field(IE_SOURCE_TO_TARGET_TRANSPARENT_CONTAINER, AS_IS, "source_to_target_container"),
            _SECURITY_CAPABILITIES_FIELD,
            _field(IE_SECURITY_CONTEXT, SECURITY_CONTEXT, "security_context"),
        ),
    ),
    Message(
        HandoverRequestAcknowledge,
        PROCEDURE_HANDOVER_RESOURCE_ALLOCATION,
        _SUCCESSFUL,
        (
            *_UE_IDS,
            _field(
                IE_E_RAB_ADMITTED_LIST,
                containers("E-RABAdmittedList", IE_E_RAB_ADMITTED_ITEM, E_RAB_ADMITTED),
                "e_rabs",
            ),
            _field(
                IE_E_RAB_FAILED_TO_SETUP_LIST_HANDOVER_REQUEST_ACKNOWLEDGE,
                containers(
                    "E-RABFailedtoSetupListHOReqAck",
                    IE_E_RAB_FAILED_TO_SETUP_ITEM_HANDOVER_REQUEST_ACKNOWLEDGE,
                    E_RAB_CAUSE,
                ),
                "e_rabs_failed",
            ),
            _field(IE_TARGET_TO_SOURCE_TRANSPARENT_CONTAINER, AS_IS, "target_to_source_container"),
        ),
    ),
    Message(
        HandoverCommand,
        PROCEDURE_HANDOVER_PREPARATION,
        _SUCCESSFUL,
        (
            *_UE_IDS,
            _field(IE_HANDOVER_TYPE, AS_IS, "handover_type"),
            _field(
                IE_E_RAB_SUBJECT_TO_DATA_FORWARDING_LIST,
                containers(
                    "E-RABSubjecttoDataForwardingList",
                    IE_E_RAB_DATA_FORWARDING_ITEM,
                    E_RAB_FORWARDING,
                ),
                "e_rabs_forwarding",
            ),
            _field(IE_E_RAB_TO_RELEASE_LIST_HANDOVER_COMMAND, E_RAB_LIST, "e_rabs_to_release"),
            _field(IE_TARGET_TO_SOURCE_TRANSPARENT_CONTAINER, AS_IS, "target_to_source_container"),
        ),
    ),
    Message(
        HandoverNotify,
        PROCEDURE_HANDOVER_NOTIFICATION,
        _INITIATING,
        (*_UE_IDS, _ECGI_FIELD, _TAI_FIELD),
    ),
    Message(
        HandoverPreparationFailure,
        PROCEDURE_HANDOVER_PREPARATION,
        _UNSUCCESSFUL,
        (*_UE_IDS, _CAUSE_FIELD),
    ),
    Message(
        HandoverFailure,
        PROCEDURE_HANDOVER_RESOURCE_ALLOCATION,
        _UNSUCCESSFUL,
        (_MME_ID, _CAUSE_FIELD),
    ),
    Message(
        EnbStatusTransfer, PROCEDURE_ENB_STATUS_TRANSFER, _INITIATING, (*_UE_IDS, _STATUS_TRANSFER)
    ),
    Message(
        MmeStatusTransfer, PROCEDURE_MME_STATUS_TRANSFER, _INITIATING, (*_UE_IDS, _STATUS_TRANSFER)
    ),
    Message(
        PathSwitchRequest,
        PROCEDURE_PATH_SWITCH_REQUEST,
        _INITIATING,
        (
            _ENB_ID,
            _field(
                IE_E_RAB_TO_BE_SWITCHED_DOWNLINK_LIST,
                containers(
                    "E-RABToBeSwitchedDLList",
                    IE_E_RAB_TO_BE_SWITCHED_DOWNLINK_ITEM,
                    E_RAB_TUNNEL,
                ),
                "e_rabs",
            ),
            _field(IE_SOURCE_MME_UE_S1AP_ID, AS_IS, "source_mme_ue_s1ap_id"),
            _ECGI_FIELD,
            _TAI_FIELD,
            _SECURITY_CAPABILITIES_FIELD,
        ),
    ),
    Message(
        PathSwitchRequestAcknowledge,
        PROCEDURE_PATH_SWITCH_REQUEST,
        _SUCCESSFUL,
        (
            *_UE_IDS,
            _BITRATE_FIELD,
            _field(
                IE_E_RAB_TO_BE_SWITCHED_UPLINK_LIST,
                containers(
                    "E-RABToBeSwitchedULList",
                    IE_E_RAB_TO_BE_SWITCHED_UPLINK_ITEM,
                    E_RAB_TUNNEL,
                ),
                "e_rabs_uplink",
            ),
            _field(IE_E_RAB_TO_BE_RELEASED_LIST, E_RAB_LIST, "e_rabs_to_release"),
            _field(IE_SECURITY_CONTEXT, SECURITY_CONTEXT, "security_context"),
        ),
    ),
    Message(
        PathSwitchRequestFailure,
        PROCEDURE_PATH_SWITCH_REQUEST,
        _UNSUCCESSFUL,
        (*_UE_IDS, _CAUSE_FIELD),
    ),
)
