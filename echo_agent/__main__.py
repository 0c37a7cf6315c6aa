"""`echo-agent` / `python -m echo_agent`: the ECHO entry point beside one eNB."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from echo_agent.config import AgentConfig
from echo_agent.daemon import serve
from epc.daemon.lifecycle import run_daemon


def main(argv: Sequence[str] | None = None) -> None:
    run_daemon("echo-agent", sys.argv[1:] if argv is None else argv, AgentConfig, serve)


if __name__ == "__main__":
    main()
