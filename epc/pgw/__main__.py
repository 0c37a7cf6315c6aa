"""`epc-pgw` / `python -m epc.pgw`: runs one PGW control frontend instance."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from functools import partial

from epc.daemon.lifecycle import Lifecycle, run_daemon
from epc.gtpc.gateway import open_gateway
from epc.pgw.config import PgwConfig
from epc.pgw.context import PgwUe
from epc.pgw.service import PgwService


async def serve(config: PgwConfig, lifecycle: Lifecycle) -> None:
    build = partial(PgwService, config=config)
    await open_gateway("epc-pgw", "pgw", config, lifecycle, PgwUe, build)
    await lifecycle.stopped()


def main(argv: Sequence[str] | None = None) -> None:
    run_daemon("epc-pgw", sys.argv[1:] if argv is None else argv, PgwConfig, serve)


if __name__ == "__main__":
    main()
