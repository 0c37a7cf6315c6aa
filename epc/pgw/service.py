"""The PGW's request dispatch (S5 from the SGWs), its local-policy API, and what it does when
an SGW restarts.

`PgwService.create_dedicated_bearer(imsi, rule_name)` and `delete_dedicated_bearer` are the
functions an `epcctl` command (or any caller in the PGW process) uses; rules with
`activate = "on-create"` are started by the service itself after each Create Session for their
APN has committed.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from functools import partial

from epc.algorithm1 import Applied, Outcome, Replayed
from epc.codec import gtpv2c
from epc.codec.gtpv2c import (
    CreateSessionRequest,
    CreateSessionResponse,
    DeleteSessionRequest,
    GtpcMessage,
    IeType,
    ModifyBearerRequest,
)
from epc.daemon.logs import get_logger
from epc.gtpc import Peer, format_peer
from epc.gtpc.frontend import Frontend
from epc.gtpc.gateway import Background
from epc.gtpc.node import IncomingRequest
from epc.pgw import policy, sessions
from epc.pgw.config import PgwConfig
from epc.pgw.context import PgwUe

RESTART_LANE = "restart"

log = get_logger()


@dataclass(frozen=True, slots=True)
class PolicyOutcome:
    """What a policy request came to: `response` is the SGW's answer (None when nothing was
    sent: no session for the rule's APN, the bearer already there or already gone, or the
    request could not be applied, see `applied`)."""

    applied: bool
    response: GtpcMessage | None = None


class PgwService:
    def __init__(self, frontend: Frontend[PgwUe], config: PgwConfig) -> None:
        self.frontend = frontend
        self.config = config
        self._background = Background()

    # --- S5 requests -------------------------------------------------------------------------

    async def handle(self, request: IncomingRequest) -> GtpcMessage | None:
        message = request.message
        match message:
            case CreateSessionRequest(imsi=None):
                log.info("create session without IMSI", peer=format_peer(request.peer))
                return CreateSessionResponse(
                    teid=message.sender_fteid.teid,
                    cause=gtpv2c.Cause(
                        gtpv2c.CauseValue.CONDITIONAL_IE_MISSING, offending_ie=(IeType.IMSI, 0)
                    ),
                )
            case CreateSessionRequest(imsi=imsi):
                procedure = partial(sessions.create_session, self.config)
                response = await self.frontend.handle(request, procedure, imsi=imsi)
                self._after_create(imsi, message, response)
                return response
            case ModifyBearerRequest():
                procedure = partial(sessions.modify_bearer, self.config)
            case DeleteSessionRequest():
                procedure = partial(sessions.delete_session, self.config)
            case _:
                log.info(
                    "request not handled by a PGW",
                    peer=format_peer(request.peer),
                    message_type=int(message.MESSAGE_TYPE),
                )
                return None
        return await self.frontend.handle(request, procedure)

    def _after_create(
        self, imsi: str, request: CreateSessionRequest, response: GtpcMessage | None
    ) -> None:
        """Start the APN's "on-create" rules. Their request IDs derive from the Create Session's
        stamp, so a retried Create Session (here or at another instance) repeats the same
        policy requests, which Algorithm 1 applies once, instead of asking for a second
        bearer."""
        accepted = isinstance(response, CreateSessionResponse) and response.cause.value < 64
        if not accepted:
            return
        stamped = None if request.stamp is None else request.stamp.request_id
        for index, rule in enumerate(self.config.policy):
            if rule.activate == "on-create" and rule.apn.lower() == request.apn.lower():
                request_id = None if not stamped else (*stamped, index)
                self._background.start(
                    self._activate_later(imsi, rule.name, rule.delay_s, request_id),
                    name=f"policy {rule.name} for {imsi}",
                )

    async def _activate_later(
        self, imsi: str, rule_name: str, delay_s: float, request_id: tuple[int, ...] | None
    ) -> None:
        await asyncio.sleep(delay_s)
        outcome = await self.create_dedicated_bearer(imsi, rule_name, request_id)
        log.info(
            "policy bearer requested",
            imsi=imsi,
            rule=rule_name,
            applied=outcome.applied,
            cause=None if outcome.response is None else outcome.response.cause.value,
        )

    # --- local policy (epcctl) -----------------------------------------------------------------

    async def create_dedicated_bearer(
        self, imsi: str, rule_name: str, request_id: tuple[int, ...] | None = None
    ) -> PolicyOutcome:
        """Set up the dedicated bearer of the policy rule `rule_name` for the UE. KeyError for
        an unknown rule. Pass the same `request_id` to retry a request whose outcome was lost."""
        procedure = partial(policy.create_dedicated_bearer, self.config, self._rule(rule_name))
        return await self._originate(imsi, procedure, request_id)

    async def delete_dedicated_bearer(
        self, imsi: str, rule_name: str, request_id: tuple[int, ...] | None = None
    ) -> PolicyOutcome:
        procedure = partial(policy.delete_dedicated_bearer, self.config, self._rule(rule_name))
        return await self._originate(imsi, procedure, request_id)

    def _rule(self, rule_name: str):
        rule = self.config.rule_named(rule_name)
        if rule is None:
            raise KeyError(f"no policy rule named {rule_name!r}")
        return rule

    async def _originate(self, imsi, procedure, request_id) -> PolicyOutcome:
        outcome = await self.frontend.originate(
            policy.POLICY_LANE, imsi, procedure, request_id=request_id
        )
        return _policy_outcome(outcome)

    # --- peers -------------------------------------------------------------------------------

    def peer_restarted(self, peer: Peer, previous: int, current: int) -> None:
        """TS 23.007: an SGW that restarted lost its sessions, unless it is one of this core's
        stateless SGWs (config `gtpc.on_peer_restart`, "keep" by default)."""
        if self.config.gtpc.on_peer_restart == "keep":
            log.info("peer restart: sessions kept", peer=format_peer(peer), recovery=current)
            return
        self._background.start(self._drop_sessions_of(peer), name=f"restart of {peer}")

    async def _drop_sessions_of(self, peer: Peer) -> None:
        dropped = 0
        for imsi in await self.frontend.imsis():
            ue = await self.frontend.read(imsi)
            if ue is None or not sessions.sessions_with_sgw(self.config, ue, peer):
                continue
            procedure = partial(sessions.drop_sessions_of_peer, self.config, peer)
            outcome = await self.frontend.originate(RESTART_LANE, imsi, procedure)
            dropped += isinstance(outcome, Applied)
        log.warning("peer restart: sessions deleted", peer=format_peer(peer), ues=dropped)

    async def drain(self) -> None:
        await self._background.drain()


def _policy_outcome(outcome: Outcome | None) -> PolicyOutcome:
    match outcome:
        case Applied(reply) | Replayed(reply):
            response = gtpv2c.decode(reply.messages[0]) if reply.messages else None
            return PolicyOutcome(True, response)
    return PolicyOutcome(False)
