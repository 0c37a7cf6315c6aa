"""`epc-sgw` / `python -m epc.sgw`: runs one SGW control frontend instance and, with
`[userplane] enabled`, its SGW-U (epc.userplane)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from functools import partial

from epc.daemon.lifecycle import Lifecycle, run_daemon
from epc.daemon.logs import get_logger
from epc.gtpc.gateway import Gateway, open_gateway
from epc.sgw.config import SgwConfig
from epc.sgw.context import SgwUe
from epc.sgw.service import SgwService
from epc.userplane import UserPlane, UserPlaneLink

log = get_logger()


async def serve(config: SgwConfig, lifecycle: Lifecycle) -> None:
    if not config.userplane.enabled:
        build = partial(SgwService, config=config)
        await open_gateway("epc-sgw", "sgw", config, lifecycle, SgwUe, build)
        await lifecycle.stopped()
        return
    link = UserPlaneLink()
    build = partial(SgwService, config=config, on_paging_failed=link.paging_failed)

    async def start_user_plane(gateway: Gateway) -> None:
        user_plane = await UserPlane.open_sgw(
            config.gtpu.address, config.userplane, gateway.frontend.store, config.deployment
        )
        lifecycle.on_shutdown("drain", user_plane.close)
        user_plane.set_paging(gateway.service.downlink_data)  # type: ignore[attr-defined]
        link.user_plane = user_plane
        rules = await user_plane.start()
        log.info(
            "gtpu listening", address=config.gtpu.address, port=user_plane.address[1], rules=rules
        )

    await open_gateway(
        "epc-sgw",
        "sgw",
        config,
        lifecycle,
        SgwUe,
        build,
        listener=link,
        before_ready=start_user_plane,
    )
    await lifecycle.stopped()


def main(argv: Sequence[str] | None = None) -> None:
    run_daemon("epc-sgw", sys.argv[1:] if argv is None else argv, SgwConfig, serve)


if __name__ == "__main__":
    main()
