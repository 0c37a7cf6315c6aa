"""The real `epc-mme` as a test subject: `python -m epc.mme` in a subprocess with a config
written by the test and JSON logs read as they come (the same reader as the agent's, in
`harness.agent_process`), so e2e and fault tests can start several instances on one store,
wait on their log events and kill -9 one mid-procedure.

    mme = await MmeDaemon.start(mme_config_text(store_path=db, sgw="127.0.0.1:2123"), tmp_path)
    port = await mme.agent_port()       # for the agent's [[core.groups]] endpoints
    ...
    await mme.kill()                    # SIGKILL, no drain
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import Any

from harness.agent_process import REPO, START_TIMEOUT_S, AgentProcess

KILL_POINT = Path(__file__).with_name("mme_kill_point.py")
PAUSE_POINT = Path(__file__).with_name("mme_pause_point.py")


def mme_config_text(
    *,
    name: str,
    deployment: str = "epc",
    store_path: Path | None = None,
    zookeeper_hosts: list[str] | None = None,
    sgw: str = "127.0.0.1:2123",
    pgw: str = "127.0.0.1",
    tables: dict[str, dict[str, Any]] | None = None,
) -> str:
    """A config with JSON logs, agents on a free port and the given store and SGW; `tables`
    adds or overrides keys of other tables ({"timers": {"t3450_s": 1.0}})."""
    lines = [f'deployment = "{deployment}"', "[log]", 'format = "json"', 'level = "info"']
    if zookeeper_hosts is not None:
        hosts = ", ".join(f'"{host}"' for host in zookeeper_hosts)
        lines += ["[store]", 'backend = "zookeeper"', "[store.zookeeper]", f"hosts = [{hosts}]"]
    elif store_path is not None:
        lines += ["[store.sqlite]", f'path = "{store_path}"', 'synchronous = "normal"']
    extra = dict(tables or {})
    agents = {"port": 0, "instance_name": name, **extra.pop("agents", {})}
    s11 = {"sgw": sgw, "pgw": pgw, "port": 0, **extra.pop("s11", {})}
    for table, values in {"agents": agents, "s11": s11, **extra}.items():
        lines.append(f"[{table}]")
        lines += [f"{key} = {_toml(value)}" for key, value in values.items()]
    return "\n".join(lines) + "\n"


def _toml(value: Any) -> str:
    match value:
        case bool():
            return "true" if value else "false"
        case str():
            return f'"{value}"'
        case list() | tuple():
            return "[" + ", ".join(_toml(item) for item in value) + "]"
    return str(value)


class MmeDaemon(AgentProcess):
    """A running `python -m epc.mme`; `events` holds its log lines, parsed."""

    @classmethod
    async def start(
        cls,
        config_text: str,
        directory: Path,
        name: str = "mme",
        *,
        kill_after: dict[str, int] | None = None,
        pause_before_commit: str | None = None,
    ) -> MmeDaemon:
        """`kill_after` ({"applied": n} or {"s11": n}) runs the instance under
        harness/mme_kill_point.py, which SIGKILLs it at that point (fault tests only); of the
        instances started in one directory, only the first to get there dies.
        `pause_before_commit` (a log event, "Detach Request") runs it under
        harness/mme_pause_point.py instead: the requests whose step logs it are held before
        their commit until the process gets SIGUSR1."""
        config = directory / f"{name}.toml"
        config.write_text(config_text)
        program = ["-m", "epc.mme"]
        if kill_after:
            ((point, count),) = kill_after.items()
            once = directory / "kill-point-reached"
            program = [str(KILL_POINT), f"--kill-after-{point}", str(count), "--once", str(once)]
        elif pause_before_commit:
            program = [str(PAUSE_POINT), "--pause-before-commit", pause_before_commit]
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            *program,
            "--config",
            str(config),
            cwd=directory,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        return cls(process)

    async def agent_port(self) -> int:
        """The port agents connect to, once the instance serves."""
        return (await self.wait_for("MME serving", timeout_s=START_TIMEOUT_S))["agent_port"]

    async def endpoint(self) -> str:
        return f"127.0.0.1:{await self.agent_port()}"


__all__ = ["REPO", "MmeDaemon", "mme_config_text"]
