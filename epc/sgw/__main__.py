"""`epc-sgw` / `python -m epc.sgw`: runs one SGW control frontend instance."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from functools import partial

from epc.daemon.lifecycle import Lifecycle, run_daemon
from epc.gtpc.gateway import open_gateway
from epc.sgw.config import SgwConfig
from epc.sgw.context import SgwUe
from epc.sgw.service import SgwService


async def serve(config: SgwConfig, lifecycle: Lifecycle) -> None:
    build = partial(SgwService, config=config)
    await open_gateway("epc-sgw", "sgw", config, lifecycle, SgwUe, build)
    await lifecycle.stopped()


def main(argv: Sequence[str] | None = None) -> None:
    run_daemon("epc-sgw", sys.argv[1:] if argv is None else argv, SgwConfig, serve)


if __name__ == "__main__":
    main()
