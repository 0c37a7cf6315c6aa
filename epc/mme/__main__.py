"""`epc-mme` / `python -m epc.mme`: runs one MME frontend instance.

Start: open the store, advance this instance's GTP-C restart counter, open the S11 node,
listen for agents; ready. Stop (SIGTERM), in the lifecycle's phases: stop accepting agents,
let the running requests finish and close the agent connections ("drain"), close the S11
node, close the store.
"""

from __future__ import annotations

import ssl
import sys
from collections.abc import Sequence

from epc.agent_server import AgentServer
from epc.codec.gtpv2c import GtpcMessage
from epc.daemon.lifecycle import Lifecycle, run_daemon
from epc.daemon.logs import get_logger
from epc.gtpc.node import GtpcNode, IncomingRequest
from epc.gtpc.recovery import advance_recovery
from epc.gtpc.transactions import Timers
from epc.mme.config import MmeConfig, TlsSection
from epc.mme.frontend import MmeFrontend, PagingTimers
from epc.mme.s11 import S11Client
from epc.store.factory import open_store

log = get_logger()

__all__ = ["MmeConfig", "main", "serve"]


async def serve(config: MmeConfig, lifecycle: Lifecycle) -> None:
    store = await open_store(config.store, config.store.retry.policy())
    lifecycle.on_shutdown("close store", store.close)
    log.info("store open", backend=config.store.backend, deployment=config.deployment)
    name = config.agents.resolved_instance_name()
    s11 = config.s11
    recovery = await advance_recovery(store, config.deployment, f"mme-{s11.address}-{s11.port}")
    frontend: MmeFrontend | None = None

    async def handle_s11(request: IncomingRequest) -> GtpcMessage | None:
        if frontend is None:
            return None  # not serving yet: the SGW sends it again
        return await frontend.handle_s11(request)

    node = await GtpcNode.open(
        (s11.address, s11.port),
        recovery=recovery,
        handler=handle_s11,
        timers=Timers(t3_response_s=s11.timeout_s, n3_requests=s11.tries - 1),
    )
    client = S11Client(node, s11.sgw_endpoint)
    frontend = MmeFrontend(store, config, client.send, notify_sgw=client.notify)
    server = AgentServer(frontend.handle, name=name, ssl_context=_tls(config.agents.tls))
    frontend.agents = server
    paging_timers = frontend.paging_timers
    await server.start(config.agents.host, config.agents.port)
    lifecycle.on_shutdown("stop accepting", server.stop_accepting)
    lifecycle.on_shutdown("drain", server.close)
    if isinstance(paging_timers, PagingTimers):
        lifecycle.on_shutdown("drain", paging_timers.close)
    lifecycle.on_shutdown("drain", node.close)
    log.info(
        "MME serving",
        instance=name,
        agent_port=server.port,
        s11=f"{node.address[0]}:{node.address[1]}",
        sgw=s11.sgw,
        recovery=recovery,
    )
    lifecycle.ready()
    await lifecycle.stopped()


def _tls(tls: TlsSection) -> ssl.SSLContext | None:
    if not tls.enabled:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tls.certificate, tls.key)
    if tls.client_ca:
        context.load_verify_locations(tls.client_ca)
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def main(argv: Sequence[str] | None = None) -> None:
    run_daemon("epc-mme", sys.argv[1:] if argv is None else argv, MmeConfig, serve)


if __name__ == "__main__":
    main()
