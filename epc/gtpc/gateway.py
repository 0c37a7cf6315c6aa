"""What the `epc-sgw` and `epc-pgw` daemons share: start-up (store, the node's Recovery counter,
the GTP-C node wired to the role's service) and the ordered shutdown:

    stop accepting   the node ignores new requests (peers retransmit, then fail over)
    drain            requests in progress are answered, background work finishes
    close store      the node's socket closes, then the store session

Ready means "the GTP-C endpoint is bound and the Recovery counter is advanced".
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Protocol

from epc.clock import LoopClock
from epc.codec.gtpv2c import GtpcMessage
from epc.daemon.lifecycle import Lifecycle
from epc.daemon.logs import get_logger
from epc.forwarding import ForwardingListener
from epc.gtpc import Peer, format_peer
from epc.gtpc.frontend import Frontend
from epc.gtpc.node import GtpcNode, IncomingRequest
from epc.gtpc.recovery import advance_recovery
from epc.store import Store
from epc.store.factory import open_store

log = get_logger()


class GatewayService(Protocol):
    """A role's request dispatch and reactions to peers (epc.sgw.service, epc.pgw.service)."""

    async def handle(self, request: IncomingRequest) -> GtpcMessage | None: ...

    def peer_restarted(self, peer: Peer, previous: int, current: int) -> None: ...

    async def drain(self) -> None: ...


class Background:
    """Work a service starts outside any request (cleanup after a peer restart, dedicated
    bearers on create): owned here, logged when it fails, awaited at drain."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def start(self, coroutine: Coroutine[Any, Any, Any], *, name: str) -> None:
        task = asyncio.get_running_loop().create_task(self._logged(coroutine, name), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _logged(self, coroutine: Coroutine[Any, Any, Any], name: str) -> None:
        try:
            await coroutine
        except Exception:
            log.exception("background work failed", work=name)

    async def drain(self) -> None:
        while self._tasks:
            await asyncio.wait(set(self._tasks))

    async def cancel(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


@dataclass(frozen=True, slots=True)
class Gateway:
    """A running gateway: the request pipeline, the role's service and the GTP-C node."""

    frontend: Frontend
    service: GatewayService
    node: GtpcNode


async def start_gateway(
    role: str,
    config: Any,
    store: Store,
    *,
    recovery: int,
    state_type: type,
    build_service: Callable[[Frontend], GatewayService],
    listener: ForwardingListener | None = None,
) -> Gateway:
    """Wire a frontend, the role's service and a GTP-C node on `config.gtpc` over `store`."""
    frontend = Frontend(
        store=store,
        deployment=config.deployment,
        role=role,
        state_type=state_type,
        clock=LoopClock(),
        retry=config.store.retry.policy(),
        listener=listener,
    )
    service = build_service(frontend)
    node = await GtpcNode.open(
        config.gtpc.local,
        recovery=recovery,
        handler=service.handle,
        timers=config.gtpc.timers(),
        on_peer_restarted=service.peer_restarted,
    )
    frontend.node = node
    return Gateway(frontend, service, node)


async def open_gateway(
    daemon: str,
    role: str,
    config: Any,
    lifecycle: Lifecycle,
    state_type: type,
    build_service: Callable[[Frontend], GatewayService],
    *,
    listener: ForwardingListener | None = None,
    before_ready: Callable[[Gateway], Awaitable[None]] | None = None,
) -> Gateway:
    """Open everything a gateway daemon serves with, register its shutdown, report ready.
    `listener` hears the forwarding changes the frontend commits; `before_ready` starts what
    else the daemon serves with (its user plane) before readiness is reported."""
    store = await open_store(config.store, config.store.retry.policy())
    lifecycle.on_shutdown("close store", store.close)
    node_name = config.gtpc.name_for(daemon)
    recovery = await advance_recovery(store, config.deployment, node_name)
    gateway = await start_gateway(
        role,
        config,
        store,
        recovery=recovery,
        state_type=state_type,
        build_service=build_service,
        listener=listener,
    )
    _register_shutdown(lifecycle, gateway.node, gateway.service)
    log.info(
        "gtpc listening",
        address=format_peer(gateway.node.address),
        port=gateway.node.address[1],
        recovery=recovery,
        node=node_name,
        backend=config.store.backend,
        deployment=config.deployment,
    )
    if before_ready is not None:
        await before_ready(gateway)
    lifecycle.ready()
    return gateway


def _register_shutdown(lifecycle: Lifecycle, node: GtpcNode, service: GatewayService) -> None:
    async def stop_accepting() -> None:
        node.stop_accepting()

    async def drain() -> None:
        await node.drain()
        await service.drain()

    lifecycle.on_shutdown("stop accepting", stop_accepting)
    lifecycle.on_shutdown("drain", drain)
    lifecycle.on_shutdown("drain", node.close)
