"""`epc-mme` / `python -m epc.mme`: runs one MME frontend instance."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import structlog

from epc.daemon.config import DaemonConfig
from epc.daemon.lifecycle import Lifecycle, run_daemon
from epc.store.factory import open_store

log = structlog.get_logger()


class MmeConfig(DaemonConfig, kw_only=True):
    """The MME's config file; the S1AP and NAS tables are added with their procedures."""


async def serve(config: MmeConfig, lifecycle: Lifecycle) -> None:
    store = await open_store(config.store, config.store.retry.policy())
    lifecycle.on_shutdown("close store", store.close)
    log.info("store open", backend=config.store.backend, deployment=config.deployment)
    log.warning("S1AP/NAS procedures are not built yet (issue 6); serving nothing")
    lifecycle.ready()
    await lifecycle.stopped()


def main(argv: Sequence[str] | None = None) -> None:
    run_daemon("epc-mme", sys.argv[1:] if argv is None else argv, MmeConfig, serve)


if __name__ == "__main__":
    main()
