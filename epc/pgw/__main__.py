"""`epc-pgw` / `python -m epc.pgw`: runs one PGW control frontend instance and, with
`[userplane] enabled`, its PGW-U and SGi device (epc.userplane)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from functools import partial

from epc.daemon.lifecycle import EXIT_BAD_CONFIG, Lifecycle, run_daemon
from epc.daemon.logs import get_logger
from epc.gtpc.gateway import Gateway, open_gateway
from epc.pgw.config import PgwConfig
from epc.pgw.context import PgwUe
from epc.pgw.service import PgwService
from epc.userplane import UserPlane, UserPlaneLink
from epc.userplane.tun import NoNetAdmin, open_sgi

log = get_logger()


async def serve(config: PgwConfig, lifecycle: Lifecycle) -> None:
    build = partial(PgwService, config=config)
    if not config.userplane.enabled:
        await open_gateway("epc-pgw", "pgw", config, lifecycle, PgwUe, build)
        await lifecycle.stopped()
        return
    try:
        sgi = await open_sgi(
            config.sgi,
            config.sgi_routes(),
            netns=config.sgi.netns,
            queues=config.userplane.workers,
        )
    except NoNetAdmin as error:
        print(
            f"epc-pgw: {error} (run as root or with AmbientCapabilities=CAP_NET_ADMIN)",
            file=sys.stderr,
        )
        raise SystemExit(EXIT_BAD_CONFIG) from None
    lifecycle.on_shutdown("close store", _closer(sgi))
    log.info("sgi up", device=sgi.device, address=config.sgi.address, routes=config.sgi_routes())
    link = UserPlaneLink()

    async def start_user_plane(gateway: Gateway) -> None:
        user_plane = await UserPlane.open_pgw(
            config.gtpu.address, config.userplane, gateway.frontend.store, config.deployment, sgi
        )
        lifecycle.on_shutdown("drain", user_plane.close)
        link.user_plane = user_plane
        rules = await user_plane.start()
        log.info(
            "gtpu listening", address=config.gtpu.address, port=user_plane.address[1], rules=rules
        )

    await open_gateway(
        "epc-pgw",
        "pgw",
        config,
        lifecycle,
        PgwUe,
        build,
        listener=link,
        before_ready=start_user_plane,
    )
    await lifecycle.stopped()


def _closer(sgi):
    async def close() -> None:
        sgi.close()  # idempotent: the user plane closed it already when it started

    return close


def main(argv: Sequence[str] | None = None) -> None:
    run_daemon("epc-pgw", sys.argv[1:] if argv is None else argv, PgwConfig, serve)


if __name__ == "__main__":
    main()
