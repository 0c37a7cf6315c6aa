"""The asyncio adapter of the GTPv2-C transaction layer: one UDP endpoint, one deadline timer,
and the tasks that run the owner's request handler.

    node = await GtpcNode.open(("10.0.0.2", 2123), recovery=7, handler=handle)
    response = await node.request(("10.0.0.3", 2123), CreateSessionRequest(...))

`request` numbers the message, retransmits it per T3-RESPONSE / N3-REQUESTS and returns the
decoded response, or raises `RequestTimeout`. Incoming requests go to `handler(request)`, one
task each; what it returns is the response (sent and cached for retransmissions), None means
no response (the request is forgotten, so a retransmission is handed over again). A handler
that raises is logged and treated as None: bad input never takes the node down.

Every decision is the core's (`epc.gtpc.transactions`); this module only moves datagrams, keeps
time and owns tasks. Events for the log become one line each.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import cast

from epc.codec.gtpv2c import GtpcMessage
from epc.daemon.logs import get_logger
from epc.gtpc import NodeClosed, Peer, RequestTimeout, format_peer
from epc.gtpc.transactions import (
    DEFAULT_TIMERS,
    SEQUENCE_MODULUS,
    Event,
    IncomingKey,
    MessageDiscarded,
    PathFailed,
    PeerFound,
    PeerRestarted,
    RequestArrived,
    RequestRejected,
    RequestTimedOut,
    ResponseArrived,
    Timers,
    Transactions,
    Transmit,
)

log = get_logger()


@dataclass(frozen=True, slots=True)
class IncomingRequest:
    """A request for the owner: who sent it and what it says."""

    peer: Peer
    message: GtpcMessage


Handler = Callable[[IncomingRequest], Awaitable[GtpcMessage | None]]


class GtpcNode(asyncio.DatagramProtocol):
    """One GTP-C endpoint. Build with `open`; see the module docstring."""

    def __init__(
        self,
        transactions: Transactions,
        handler: Handler,
        *,
        on_peer_restarted: Callable[[Peer, int, int], None] | None = None,
        on_path_failed: Callable[[Peer], None] | None = None,
    ) -> None:
        self._core = transactions
        self._handler = handler
        self.on_peer_restarted = on_peer_restarted
        """Called with (peer, previous, current Recovery) when a peer restarted; settable."""
        self.on_path_failed = on_path_failed
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.DatagramTransport | None = None
        self._waiting: dict[tuple[Peer, int], asyncio.Future[GtpcMessage]] = {}
        self._handling: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._timer: asyncio.Task[None] | None = None
        self._accepting = True
        self._socket_closed = self._loop.create_future()

    @classmethod
    async def open(
        cls,
        local: Peer,
        *,
        recovery: int,
        handler: Handler,
        timers: Timers = DEFAULT_TIMERS,
        on_peer_restarted: Callable[[Peer, int, int], None] | None = None,
        on_path_failed: Callable[[Peer], None] | None = None,
    ) -> GtpcNode:
        """Bind `local` (port 0 picks a free one) and start the timer."""
        first_sequence = random.SystemRandom().randrange(SEQUENCE_MODULUS)
        transactions = Transactions(recovery, timers, first_sequence)
        loop = asyncio.get_running_loop()
        node = cls(
            transactions,
            handler,
            on_peer_restarted=on_peer_restarted,
            on_path_failed=on_path_failed,
        )
        await loop.create_datagram_endpoint(lambda: node, local_addr=local)
        node._timer = loop.create_task(node._run_timer(), name="gtpc timer")
        return node

    # --- the API -------------------------------------------------------------------------------

    @property
    def address(self) -> Peer:
        assert self._transport is not None
        host, port = self._transport.get_extra_info("sockname")[:2]
        return host, port

    @property
    def recovery(self) -> int:
        return self._core.recovery

    @property
    def timers(self) -> Timers:
        return self._core.timers

    async def request(self, peer: Peer, message: GtpcMessage) -> GtpcMessage:
        """Send an initial message and return its response. RequestTimeout after N3
        retransmissions; NodeClosed if the node closes first."""
        if self._transport is None:
            raise NodeClosed("the GTP-C node is closed")
        sequence, events = self._core.send_request(peer, message, self._loop.time())
        waiter: asyncio.Future[GtpcMessage] = self._loop.create_future()
        self._waiting[(peer, sequence)] = waiter
        self._carry_out(events)
        self._wake.set()
        try:
            return await waiter
        finally:
            self._waiting.pop((peer, sequence), None)
            self._core.cancel_request(peer, sequence)

    def notify(self, peer: Peer, message: GtpcMessage) -> None:
        """Send an initial message that has no response, once."""
        self._carry_out(self._core.send_notification(peer, message))

    def peer_recovery(self, peer: Peer) -> int | None:
        return self._core.peer_recovery(peer)

    def stop_accepting(self) -> None:
        """Ignore new requests from now on (peers retransmit, then fail over); responses to
        our own requests and retransmitted answers still flow."""
        self._accepting = False

    async def drain(self) -> None:
        """Wait until every request being handled has been answered."""
        while self._handling:
            await asyncio.wait(set(self._handling))

    async def close(self) -> None:
        """Stop the timer, fail waiting requests, cancel handlers, close the socket."""
        if self._timer is not None:
            self._timer.cancel()
            await asyncio.gather(self._timer, return_exceptions=True)
        for task in list(self._handling):
            task.cancel()
        await asyncio.gather(*self._handling, return_exceptions=True)
        for waiter in self._waiting.values():
            if not waiter.done():
                waiter.set_exception(NodeClosed("the GTP-C node closed"))
        if self._transport is not None:
            self._transport.close()
            self._transport = None
            await self._socket_closed  # the port is free again once this returns

    # --- asyncio.DatagramProtocol --------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.DatagramTransport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._socket_closed.done():
            self._socket_closed.set_result(None)

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        peer = (addr[0], addr[1])
        self._carry_out(self._core.receive(peer, data, self._loop.time()))
        self._wake.set()

    def error_received(self, exc: Exception) -> None:
        # ICMP port unreachable and the like: the retransmission timer covers it.
        log.debug("gtpc socket error", error=str(exc))

    # --- inside --------------------------------------------------------------------------------

    async def _run_timer(self) -> None:
        while True:
            deadline = self._core.next_deadline()
            delay = None if deadline is None else max(0.0, deadline - self._loop.time())
            self._wake.clear()
            try:
                async with asyncio.timeout(delay):
                    await self._wake.wait()
                continue
            except TimeoutError:
                pass
            self._carry_out(self._core.handle_timer(self._loop.time()))

    def _carry_out(self, events: list[Event]) -> None:
        for event in events:
            match event:
                case Transmit(peer, data):
                    if self._transport is not None:
                        self._transport.sendto(data, peer)
                case RequestArrived():
                    self._dispatch(event)
                case ResponseArrived(peer, sequence, message):
                    self._resolve(peer, sequence, message)
                case RequestTimedOut(peer, sequence, message_type, transmissions):
                    error = RequestTimeout(peer, message_type, transmissions)
                    waiter = self._waiting.get((peer, sequence))
                    if waiter is not None and not waiter.done():
                        waiter.set_exception(error)
                case PeerRestarted(peer, previous, current):
                    log.warning(
                        "gtpc peer restarted",
                        peer=format_peer(peer),
                        previous=previous,
                        recovery=current,
                    )
                    if self.on_peer_restarted is not None:
                        self.on_peer_restarted(peer, previous, current)
                case PeerFound(peer, recovery):
                    log.info("gtpc peer found", peer=format_peer(peer), recovery=recovery)
                case PathFailed(peer):
                    log.warning("gtpc path failure", peer=format_peer(peer))
                    if self.on_path_failed is not None:
                        self.on_path_failed(peer)
                case MessageDiscarded(peer, reason):
                    log.info("gtpc message discarded", peer=format_peer(peer), reason=reason)
                case RequestRejected(peer, message_type, cause, offending_ie, reason):
                    log.warning(
                        "gtpc request rejected",
                        peer=format_peer(peer),
                        message_type=message_type,
                        cause=cause,
                        offending_ie=offending_ie,
                        reason=reason,
                    )

    def _resolve(self, peer: Peer, sequence: int, message: GtpcMessage) -> None:
        waiter = self._waiting.get((peer, sequence))
        if waiter is not None and not waiter.done():
            waiter.set_result(message)

    def _dispatch(self, event: RequestArrived) -> None:
        if not self._accepting:
            self._core.forget_request(event.key)
            return
        task = self._loop.create_task(self._handle(event.key, event.peer, event.message))
        self._handling.add(task)
        task.add_done_callback(self._handling.discard)

    async def _handle(self, key: IncomingKey, peer: Peer, message: GtpcMessage) -> None:
        try:
            response = await self._handler(IncomingRequest(peer, message))
        except Exception:
            log.exception(
                "gtpc request handler failed",
                peer=format_peer(peer),
                message_type=int(message.MESSAGE_TYPE),
            )
            response = None
        if response is None:
            self._core.forget_request(key)
            return
        self._carry_out(self._core.send_response(key, response, self._loop.time()))
        self._wake.set()
