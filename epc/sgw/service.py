"""The SGW's request dispatch (S11 from the MMEs, S5 from the PGWs), the API its user plane
calls, and what it does when a peer restarts.

For the user plane (issue 8):
- `downlink_data(teid)`: data arrived for an idle UE on that S5-U SGW TEID; sends a Downlink
  Data Notification unless one is under way, returns the outcome;
- `on_paging_failed(imsi)` (constructor argument): the MME sent a Failure Indication; drop the
  UE's buffered packets;
- forwarding changes this process commits reach the `ForwardingListener` given to the frontend.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from epc.algorithm1 import Applied, Replayed
from epc.codec import gtpv2c
from epc.codec.gtpv2c import (
    Cause,
    CauseValue,
    CreateBearerRequest,
    CreateSessionRequest,
    CreateSessionResponse,
    DeleteBearerRequest,
    DeleteSessionRequest,
    DownlinkDataNotificationFailureIndication,
    GtpcMessage,
    IeType,
    ModifyBearerRequest,
    ReleaseAccessBearersRequest,
    UpdateBearerRequest,
)
from epc.daemon.logs import get_logger
from epc.gtpc import Peer, format_peer
from epc.gtpc.frontend import Frontend
from epc.gtpc.gateway import Background
from epc.gtpc.node import IncomingRequest
from epc.sgw import bearers, paging, restart, sessions
from epc.sgw.config import SgwConfig
from epc.sgw.context import SgwUe

log = get_logger()

S11_PROCEDURES = {
    ModifyBearerRequest: sessions.modify_bearer,
    DeleteSessionRequest: sessions.delete_session,
    ReleaseAccessBearersRequest: sessions.release_access_bearers,
    DownlinkDataNotificationFailureIndication: paging.paging_failed,
}
S5_PROCEDURES = {
    CreateBearerRequest: bearers.create_bearer,
    UpdateBearerRequest: bearers.update_bearer,
    DeleteBearerRequest: bearers.delete_bearer,
}


@dataclass(frozen=True, slots=True)
class DownlinkDataOutcome:
    """What `downlink_data` came to: `notified` when a Downlink Data Notification went out
    and `cause` is the MME's answer; otherwise nothing was needed (UE connected, paging
    already under way, unknown TEID) or the store could not be reached (`applied` False)."""

    applied: bool
    notified: bool = False
    cause: int | None = None


class SgwService:
    def __init__(
        self,
        frontend: Frontend[SgwUe],
        config: SgwConfig,
        on_paging_failed: Callable[[str], None] | None = None,
    ) -> None:
        self.frontend = frontend
        self.config = config
        self._on_paging_failed = on_paging_failed
        self._background = Background()

    async def handle(self, request: IncomingRequest) -> GtpcMessage | None:
        message = request.message
        procedure = S11_PROCEDURES.get(type(message))
        if procedure is not None:
            response = await self.frontend.handle(request, partial(procedure, self.config))
            if isinstance(message, DownlinkDataNotificationFailureIndication):
                self._paging_failed(message)
            return response
        procedure = S5_PROCEDURES.get(type(message))
        if procedure is not None:
            return await self.frontend.handle(
                request, partial(procedure, self.config), lane=bearers.S5_LANE
            )
        if isinstance(message, CreateSessionRequest):
            return await self._create_session(request, message)
        log.info(
            "request not handled by an SGW",
            peer=format_peer(request.peer),
            message_type=int(message.MESSAGE_TYPE),
        )
        return None

    async def _create_session(
        self, request: IncomingRequest, message: CreateSessionRequest
    ) -> GtpcMessage | None:
        if message.imsi is None:
            log.info("create session without IMSI", peer=format_peer(request.peer))
            cause = Cause(CauseValue.CONDITIONAL_IE_MISSING, offending_ie=(IeType.IMSI, 0))
            return CreateSessionResponse(teid=message.sender_fteid.teid, cause=cause)
        procedure = partial(sessions.create_session, self.config)
        return await self.frontend.handle(request, procedure, imsi=message.imsi)

    def _paging_failed(self, message: DownlinkDataNotificationFailureIndication) -> None:
        if self._on_paging_failed is None:
            return

        async def tell() -> None:
            imsi = message.imsi or await self.frontend.imsi_of_teid(message.teid)
            if imsi is not None and self._on_paging_failed is not None:
                self._on_paging_failed(imsi)

        self._background.start(tell(), name="paging failed")

    # --- the user plane's API ------------------------------------------------------------------

    async def downlink_data(self, teid: int) -> DownlinkDataOutcome:
        """Downlink data arrived on `teid` (an S5-U SGW TEID) for a bearer without an eNB."""
        imsi = await self.frontend.imsi_of_teid(teid)
        if imsi is None:
            return DownlinkDataOutcome(applied=True)
        procedure = partial(paging.notify_downlink_data, self.config, teid)
        outcome = await self.frontend.originate(paging.PAGING_LANE, imsi, procedure)
        match outcome:
            case Applied(reply) | Replayed(reply):
                if not reply.messages:
                    return DownlinkDataOutcome(applied=True)
                acknowledge = gtpv2c.decode(reply.messages[0])
                return DownlinkDataOutcome(True, True, acknowledge.cause.value)
        return DownlinkDataOutcome(applied=False)

    # --- peers -------------------------------------------------------------------------------

    def peer_restarted(self, peer: Peer, previous: int, current: int) -> None:
        """TS 23.007: a PGW or MME that restarted lost its contexts, unless it is one of this
        core's stateless frontends (config `gtpc.on_peer_restart`, "keep" by default)."""
        if self.config.gtpc.on_peer_restart == "keep":
            log.info("peer restart: sessions kept", peer=format_peer(peer), recovery=current)
            return
        self._background.start(self._drop_sessions_of(peer), name=f"restart of {peer}")

    async def _drop_sessions_of(self, peer: Peer) -> None:
        dropped = 0
        for imsi in await self.frontend.imsis():
            ue = await self.frontend.read(imsi)
            if ue is None or not restart.sessions_with_peer(self.config, ue, peer):
                continue
            procedure = partial(restart.drop_sessions_of_peer, self.config, peer)
            outcome = await self.frontend.originate(restart.RESTART_LANE, imsi, procedure)
            dropped += isinstance(outcome, Applied)
        log.warning("peer restart: sessions deleted", peer=format_peer(peer), ues=dropped)

    async def drain(self) -> None:
        await self._background.drain()
