"""How a stateless GTP-C frontend (SGW, PGW) applies a request to a UE's context in the store,
through the shared Algorithm 1 engine, and how its side effects are stamped and sent.

Request IDs. A request stamped by its sender (the ECHO Private Extension) is applied under the
stamp's request ID; the k-th side effect it sends goes out stamped with that ID and k appended
(Algorithm 1's `SideEffects`), carrying the same UE ID. A request without a stamp (a GTPv2
peer outside this core) gets a fresh ID from the frontend's `RequestClock`, a hybrid logical
clock in microseconds that also stays above every stamped ID it has seen: it is always applied
as new, and duplicates of it are caught by the transaction layer's response cache only (so a
retransmission that reaches another instance runs again; the third-party peer's own state
machine has to cope with that, as it would with any GTP node).

Lanes. Requests the UE's own procedures cause (S11 from the MME, S5 from the SGW) are ordered
by the entry point's request IDs: they are Algorithm 1 on the context itself (`/<deployment>/
<role>/ue/<imsi>`), the "ue" lane. Requests a gateway starts (the PGW's dedicated bearers from
its local policy, relayed by the SGW; the SGW's Downlink Data Notification; cleanup after a peer
restart) are numbered by another clock, which must not make the UE's requests look obsolete.
Each such origin has its own lane: an Algorithm 1 record at `/<deployment>/<role>/lane/<lane>/
<imsi>` that keeps that origin's last request ID and recorded replies, while the step reads the
context and writes it back (conditional on the version it read) in the same multi-op. The two
lanes serialise on the context's version; neither's order disturbs the other's.

Replies are recorded as encoded GTPv2-C messages with sequence number 0; the transaction layer
puts in the number of the request being answered, whichever instance recorded them.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Generic, TypeVar

import msgspec

from epc.algorithm1 import (
    Abandoned,
    Algorithm1,
    Applied,
    Clock,
    Dropped,
    Outcome,
    Record,
    Replayed,
    RequestId,
    SideEffectDropped,
    SideEffects,
    StepResult,
    lane_step,
)
from epc.codec import gtpv2c
from epc.codec.gtpv2c import EchoStamp, GtpcMessage
from epc.daemon.logs import bound_context, get_logger
from epc.forwarding import ForwardingListener, changes_of_ops
from epc.gtpc import GtpcError, Peer, format_peer, parse_peer
from epc.gtpc.claims import Claims, Draws, RequestClaims
from epc.gtpc.node import GtpcNode, IncomingRequest
from epc.gtpc.procedure import Procedure, Request, RequestClock, context_not_found
from epc.store import Op, Store, StoreUnavailable
from epc.store.retry import RetryPolicy

S = TypeVar("S")

UE_LANE = "ue"

log = get_logger()


class Frontend(Generic[S]):
    """The request pipeline of one gateway role; its node is attached once open."""

    def __init__(
        self,
        *,
        store: Store,
        deployment: str,
        role: str,
        state_type: type[S],
        clock: Clock,
        retry: RetryPolicy = RetryPolicy(),
        listener: ForwardingListener | None = None,
        request_clock: RequestClock | None = None,
    ) -> None:
        self.store = store
        self.deployment = deployment
        self.role = role
        self.claims = Claims(store, deployment)
        self.request_clock = request_clock or RequestClock()
        self.node: GtpcNode | None = None
        self._listener = listener
        self._engine = Algorithm1(store, state_type, clock, self.send_effect, retry)
        self._lane_engine = Algorithm1(store, int, clock, self.send_effect, retry)
        self._decoder = msgspec.msgpack.Decoder(Record[state_type])

    # --- paths -------------------------------------------------------------------------------

    def context_path(self, imsi: str) -> str:
        return f"/{self.deployment}/{self.role}/ue/{imsi}"

    def lane_path(self, lane: str, imsi: str) -> str:
        return f"/{self.deployment}/{self.role}/lane/{lane}/{imsi}"

    async def imsi_of_teid(self, teid: int) -> str | None:
        """The IMSI whose context holds `teid` (a control TEID of this role), or None."""
        holder = await self.claims.holder_of_teid(teid)
        prefix = f"/{self.deployment}/{self.role}/ue/"
        if holder is None or not holder.startswith(prefix):
            return None
        return holder[len(prefix) :]

    async def read(self, imsi: str) -> S | None:
        """The committed state of a UE (None when it has none), for lookups outside requests."""
        record = await self._engine.read(self.context_path(imsi))
        return None if record is None else record.state

    async def imsis(self) -> list[str]:
        return await self.store.children(f"/{self.deployment}/{self.role}/ue")

    # --- incoming requests ---------------------------------------------------------------------

    async def handle(
        self,
        incoming: IncomingRequest,
        procedure: Procedure[S],
        *,
        imsi: str | None = None,
        lane: str = UE_LANE,
    ) -> GtpcMessage | None:
        """Apply a request: to the context of `imsi`, or else of the TEID in its header. The
        response to send, or None (obsolete, abandoned, or a notification)."""
        message = incoming.message
        if imsi is None:
            imsi = await self.imsi_of_teid(getattr(message, "teid", 0))
            if imsi is None:
                log.info(
                    "request for an unknown TEID",
                    peer=format_peer(incoming.peer),
                    message_type=int(message.MESSAGE_TYPE),
                    teid=getattr(message, "teid", 0),
                )
                return context_not_found(message)
        request_id, ue_id = self._identify(message.stamp)
        with bound_context(imsi=imsi, request_id=".".join(map(str, request_id))):
            outcome = await self._run(
                lane, imsi, request_id, ue_id, procedure, message, incoming.peer
            )
            return self._response(outcome, message)

    def _identify(self, stamp: EchoStamp | None) -> tuple[RequestId, bytes]:
        return self.request_clock.identify(stamp)

    def _response(self, outcome: Outcome | None, message: GtpcMessage) -> GtpcMessage | None:
        message_type = int(message.MESSAGE_TYPE)
        match outcome:
            case Applied(reply) | Replayed(reply):
                if isinstance(outcome, Replayed):
                    log.info("recorded reply resent", message_type=message_type)
                if not reply.messages:
                    return None
                return gtpv2c.decode(reply.messages[0])
            case Dropped():
                log.info("obsolete request dropped", message_type=int(message.MESSAGE_TYPE))
            case Abandoned(reason):
                log.warning(
                    "request abandoned", message_type=int(message.MESSAGE_TYPE), reason=reason
                )
        return None

    # --- requests this frontend starts ---------------------------------------------------------

    async def originate(
        self,
        lane: str,
        imsi: str,
        procedure: Procedure[S],
        *,
        request_id: RequestId | None = None,
        ue_id: bytes = b"",
    ) -> Outcome | None:
        """Apply a procedure this frontend starts (not a request it received) in `lane`;
        `request_id` defaults to a fresh one. None if the store could not be reached."""
        request_id = request_id or (self.request_clock.next(),)
        with bound_context(imsi=imsi, request_id=".".join(map(str, request_id)), lane=lane):
            return await self._run(lane, imsi, request_id, ue_id, procedure, None, None)

    # --- the engine ----------------------------------------------------------------------------

    async def _run(
        self,
        lane: str,
        imsi: str,
        request_id: RequestId,
        ue_id: bytes,
        procedure: Procedure[S],
        message: GtpcMessage | None,
        peer: Peer | None,
    ) -> Outcome | None:
        path = self.context_path(imsi)
        request = Request(
            imsi=imsi,
            path=path,
            request_id=request_id,
            ue_id=ue_id,
            claims=self.claims.for_request(path, Draws(path, request_id)),
            message=message,
            peer=peer,
        )
        committed: list[tuple[Op, ...]] = []
        try:
            if lane == UE_LANE:
                outcome = await self._engine.handle(
                    path, request_id, self._ue_step(request, procedure, committed)
                )
            else:
                outcome = await self._lane_engine.handle(
                    self.lane_path(lane, imsi),
                    request_id,
                    self._lane_step(request, procedure, committed),
                )
        except StoreUnavailable as error:
            log.error("store unavailable; request not applied", error=str(error))
            return None
        if isinstance(outcome, Applied) and committed and self._listener is not None:
            changes = changes_of_ops(self.deployment, committed[-1])
            if changes:
                self._listener.forwarding_changed(changes)
        return outcome

    def _ue_step(self, request: Request, procedure: Procedure[S], committed: list):
        async def step(state: S | None, effects: SideEffects) -> StepResult[S]:
            # Each run claims afresh: the candidates are the same, the reads are new.
            run = replace(request, claims=self._fresh_claims(request))
            result = await procedure(run, state, effects)
            committed.append(result.ops)
            return result

        return step

    def _lane_step(self, request: Request, procedure: Procedure[S], committed: list):
        async def step(state: S | None, effects: SideEffects) -> StepResult[S]:
            run = replace(request, claims=self._fresh_claims(request))
            result = await procedure(run, state, effects)
            committed.append(result.ops)
            return result

        return lane_step(self.store, request.path, self._decoder, step)

    def _fresh_claims(self, request: Request) -> RequestClaims:
        return self.claims.for_request(request.path, Draws(request.path, request.request_id))

    async def send_effect(self, target: str, effect_id: RequestId, data: bytes) -> bytes:
        """Algorithm 1's side-effect sender: stamp the message with the effect's ID (keeping
        its UE ID), send it through the node, return the encoded response. No response after
        the node's retransmissions means the target dropped it (or is gone)."""
        if self.node is None:
            raise SideEffectDropped("the GTP-C node is not open")
        message = gtpv2c.decode(data)
        ue_id = b"" if message.stamp is None else message.stamp.ue_id
        message = replace(message, stamp=EchoStamp(effect_id, ue_id))
        try:
            response = await self.node.request(parse_peer(target), message)
        except GtpcError as error:
            raise SideEffectDropped(str(error)) from None
        return gtpv2c.encode(response)
