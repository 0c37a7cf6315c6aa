"""Downlink data for an idle UE (TS 23.401 5.3.4.3 network triggered service request; TS 29.274
clauses 7.2.11.1-7.2.11.3): the SGW asks the UE's MME to page it with a Downlink Data
Notification, and hears back an Acknowledge, then either a Modify Bearer (the UE came back,
`epc.sgw.sessions.modify_bearer` clears the paging) or a Failure Indication.

The notification is a procedure the SGW starts (the user plane calls
`SgwService.downlink_data`), applied in the UE's "paging" lane with a fresh request ID: the
context records that paging is under way, so other packets and other instances do not ask
again for `paging.notification_guard_s`.
"""

from __future__ import annotations

import msgspec

from epc.algorithm1 import Reply, SideEffects, StepResult
from epc.codec import gtpv2c
from epc.codec.gtpv2c import (
    DownlinkDataNotification,
    DownlinkDataNotificationAcknowledge,
    DownlinkDataNotificationFailureIndication,
)
from epc.gtpc.procedure import Request, exchange
from epc.gtpc.stored import arp_of
from epc.sgw.config import SgwConfig
from epc.sgw.context import SgwUe
from epc.sgw.sessions import rejected

PAGING_LANE = "paging"
MICROSECONDS = 1_000_000


async def notify_downlink_data(
    config: SgwConfig, teid: int, request: Request, state: SgwUe | None, effects: SideEffects
) -> StepResult[SgwUe]:
    """Ask the MME to page the UE for data that arrived on `teid` (a bearer's S5-U SGW TEID),
    unless the bearer has an eNB (the UE is connected) or paging is under way. The recorded
    reply is the MME's Acknowledge, if one was asked for."""
    found = None if state is None else state.bearer_of_teid(teid)
    if state is None or found is None or state.mme_control is None:
        return StepResult(state)
    _, bearer = found
    now_us = request.request_id[0]
    guard_us = config.paging.notification_guard_s * MICROSECONDS
    paging = state.paging_since_us is not None and now_us - state.paging_since_us < guard_us
    if bearer.enb is not None or paging:
        return StepResult(state)
    notification = DownlinkDataNotification(
        teid=state.mme_control.teid, ebi=bearer.ebi, arp=arp_of(bearer.qos)
    )
    peer = (state.mme_control.address, config.s11.mme_port)
    response = await exchange(effects, peer, notification, state.ue_id)
    assert isinstance(response, DownlinkDataNotificationAcknowledge)
    since = None if rejected(response.cause) else now_us
    ue = msgspec.structs.replace(state, paging_since_us=since)
    return StepResult(ue, Reply((gtpv2c.encode(response),)))


async def paging_failed(
    config: SgwConfig, request: Request, state: SgwUe | None, effects: SideEffects
) -> StepResult[SgwUe]:
    """The MME could not reach the UE (Failure Indication, which has no response): paging is
    over; the user plane drops what it buffered (`SgwService` tells it)."""
    assert isinstance(request.message, DownlinkDataNotificationFailureIndication)
    if state is None:
        return StepResult(state)
    return StepResult(msgspec.structs.replace(state, paging_since_us=None))
