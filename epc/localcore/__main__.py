"""`python -m epc.localcore` (`make run`): a whole local core in the foreground.

    python -m epc.localcore [--config-dir configs/local] [--store sqlite|zookeeper]
        [--zookeeper HOST:PORT,...] [--sqlite PATH] [--transport auto|sctp|tcp]
        [--subscribers FILE.csv] [--run-dir DIR]

Starts PGW, SGW, the MMEs and the agent, each once the one before is ready, prefixes every
child's log lines with its name, and prints where each listens and how to point enbsim or
srsenb at it. SIGTERM or SIGINT: every child gets one SIGTERM (agent first) and drains; exit 0
when all exited 0. A child that exits on its own: named, the others stopped, exit 1. Exit 2:
bad command line, config directory or subscriber file.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import NoReturn

from epc.localcore.plan import Overrides, Plan, PlanError, load_plan
from epc.localcore.supervisor import ChildFailed, LocalCore

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
PROG = "python -m epc.localcore"


def main(argv: list[str] | None = None) -> NoReturn:
    arguments = _parser().parse_args(argv)
    overrides = Overrides(
        store=arguments.store,
        sqlite_path=arguments.sqlite,
        zookeeper_hosts=tuple(arguments.zookeeper.split(",")) if arguments.zookeeper else None,
        transport=arguments.transport,
    )
    try:
        plan = load_plan(arguments.config_dir, overrides)
    except PlanError as error:
        print(f"{PROG}: {error}", file=sys.stderr)
        sys.exit(EXIT_USAGE)
    run_directory = arguments.run_dir or Path(tempfile.mkdtemp(prefix="echo-localcore-"))
    core = LocalCore(plan, run_directory)  # writes the effective configs
    sys.exit(asyncio.run(_run(core, arguments)))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__.split("\n\n")[0])
    parser.add_argument("--config-dir", type=Path, default=Path("configs/local"))
    parser.add_argument("--store", choices=("sqlite", "zookeeper"), help="default: the files'")
    parser.add_argument("--zookeeper", metavar="HOST:PORT,...", help="ZooKeeper hosts")
    parser.add_argument("--sqlite", type=Path, metavar="PATH", help="the shared SQLite file")
    parser.add_argument(
        "--transport",
        choices=("auto", "sctp", "tcp"),
        default="auto",
        help="the agent's S1 transport; \"auto\": the file's, or tcp without kernel SCTP",
    )
    parser.add_argument("--subscribers", type=Path, metavar="FILE.csv", help="import first")
    parser.add_argument("--run-dir", type=Path, help="effective configs (default: a temp dir)")
    return parser


async def _run(core: LocalCore, arguments: argparse.Namespace) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    if arguments.subscribers is not None:
        status = await core.import_subscribers(arguments.subscribers)
        if status != 0:
            print(f"localcore: subscriber import failed ({status})", file=sys.stderr)
            return status
    started = time.monotonic()
    starting = asyncio.ensure_future(core.start())
    stopped = asyncio.ensure_future(stop.wait())
    await asyncio.wait({starting, stopped}, return_when=asyncio.FIRST_COMPLETED)
    if not starting.done():
        starting.cancel()  # start() stops what it started
        await asyncio.gather(starting, return_exceptions=True)
        print("localcore: interrupted while starting", file=sys.stderr)
        return EXIT_FAILED
    try:
        starting.result()
    except ChildFailed as error:
        print(f"localcore: {error}; stopped the others", file=sys.stderr)
        return EXIT_FAILED
    print(describe(core, arguments, time.monotonic() - started), flush=True)
    exited = asyncio.ensure_future(core.first_exit())
    await asyncio.wait({exited, stopped}, return_when=asyncio.FIRST_COMPLETED)
    if exited.done():
        child = exited.result()
        assert child.process is not None
        print(
            f"localcore: {child.name} exited with status {child.process.returncode}; "
            "stopping the others",
            file=sys.stderr,
            flush=True,
        )
        await core.stop()
        return EXIT_FAILED
    exited.cancel()
    print("localcore: stopping (SIGTERM to each daemon, agent first)", file=sys.stderr, flush=True)
    clean = await core.stop()
    print(f"localcore: {'all drained' if clean else 'not all drained'}", file=sys.stderr)
    return EXIT_OK if clean else EXIT_FAILED


def describe(core: LocalCore, arguments: argparse.Namespace, took_s: float) -> str:
    """Where each daemon listens and how to point an eNB at the agent."""
    plan = core.plan
    host, port, transport = plan.s1_endpoint()
    lines = [f"local core ready in {took_s:.1f} s, {_store_text(plan)}"]
    for child in core.children.values():
        pid = child.process.pid if child.process is not None else 0
        lines.append(f"  {child.name:<7} pid {pid:<7} {_listens(child.daemon.config, child)}")
    subscribers = arguments.subscribers or Path("subscribers.csv")
    lines.append(
        f"enbsim: enbsim run --mme {host}:{port} --transport {transport} "
        f"--subscribers {subscribers} --ues 10 --rate 5 --scenario attach,service,detach"
    )
    sctp = "this kernel has SCTP" if plan.sctp_on_host else "this kernel has no SCTP"
    if transport == "sctp":
        lines.append(f"srsenb: mme_addr = this host's address, S1AP over SCTP port {port} ({sctp})")
    else:
        lines.append(
            f"srsenb: needs SCTP, and {sctp}; the agent takes S1AP over TCP framing only "
            "(enbsim --transport tcp)"
        )
    lines.append(f"configs: {core.run_directory}; Ctrl-C or SIGTERM drains and stops the core")
    return "\n".join(lines)


def _store_text(plan: Plan) -> str:
    store = plan.mmes[0].config.get("store", {})
    if store.get("backend", "sqlite") == "zookeeper":
        hosts = ",".join(store.get("zookeeper", {}).get("hosts", ["127.0.0.1:2181"]))
        return f"store: ZooKeeper {hosts}"
    return f"store: SQLite {store.get('sqlite', {}).get('path', 'store.db')}"


def _listens(config: dict, child) -> str:
    role = child.daemon.role
    if role == "agent":
        s1 = config.get("s1", {})
        endpoints = [e for g in config.get("core", {}).get("groups", []) for e in g["endpoints"]]
        return (
            f"S1AP over {s1.get('transport')} on {s1.get('host')}:{s1.get('port')}, "
            f"relaying to {', '.join(endpoints)}"
        )
    if role == "mme":
        agents, s11 = config.get("agents", {}), config.get("s11", {})
        return (
            f"agents on {agents.get('host')}:{agents.get('port')}, "
            f"S11 {s11.get('address')}:{s11.get('port')} -> SGW {s11.get('sgw')}"
        )
    gtpc = config.get("gtpc", {})
    interfaces = "S11 + S5" if role == "sgw" else "S5"
    return f"GTP-C ({interfaces}) on {gtpc.get('address')}:{gtpc.get('port')}"


if __name__ == "__main__":
    main()
