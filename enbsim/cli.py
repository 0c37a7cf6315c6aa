"""The `enbsim` command: simulated eNBs and UEs against a core, for people and benchmarks.

    enbsim run --mme 127.0.0.1:36412 --subscribers subscribers.csv \\
               --ues 1000 --rate 100 --scenario attach,service,detach [--enbs 4] \\
               [--transport sctp|tcp] [--ping 8.8.8.8 | --ping 10.0.0.1:7] [--json out.json]

Every UE runs the scenario's steps in order and stops at its first failure; UEs start at
`--rate` per second, spread over the eNBs round-robin. Steps:

- `attach` (with the IMSI), `detach`, `switch-off` (detach with switch-off);
- `release`: the eNB asks the MME to release the UE (UE Context Release Request);
- `service`: a Service Request from EMM-IDLE (after a `release` it does itself if needed);
- `tau`: a periodic tracking area update from EMM-IDLE (releasing first if needed), waiting
  for the network to release the connection after it, as TS 24.301 5.5.3.2.4 has it;
- `ping`: `--ping ADDR` sends an ICMP Echo Request from the UE's own network namespace
  (root only) through its bearer; `--ping ADDR:PORT` a UDP datagram (no root), which
  needs something at ADDR:PORT that answers. With `--ping`, a `ping` step follows the first
  `attach` unless the scenario places it.

A live progress line goes to stderr when it is a terminal; the summary table (counts,
failures by cause, latency p50/p95/p99 per procedure) to stdout, and the same as JSON to
`--json FILE`. Exit status: 0 all procedures succeeded, 1 some failed, 2 bad configuration
or a core that cannot be reached or refuses S1 Setup (one line on stderr, no traceback),
130 interrupted (SIGINT/SIGTERM: no new UEs, running steps get `DRAIN_S` to finish).

Subscribers come from the CSV that `epcctl subscriber import` reads (`epc.subscriber`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import json
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from enbsim.enb import EnbConfig
from enbsim.report import Summary, Tally
from enbsim.s1_connection import TRANSPORTS, S1Unreachable
from enbsim.simulator import (
    ProcedureResult,
    SimulatedEnb,
    Simulator,
    SimulatorError,
    UserPlaneSettings,
)
from epc.codec.gtpu import GTPU_PORT
from epc.codec.s1ap_messages import PlmnIdentity
from epc.sctp import S1AP_PORT
from epc.subscriber import Subscriber, SubscriberError, read_csv

EXIT_OK, EXIT_FAILURES, EXIT_CONFIG, EXIT_INTERNAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
STEPS = ("attach", "detach", "switch-off", "release", "service", "tau", "ping")
DRAIN_S = 5.0
"""After SIGINT/SIGTERM: how long steps already running may take to finish."""
PROGRESS_INTERVAL_S = 0.5
IDLE_AFTER_TAU_S = 5.0
"""How long the `tau` step waits for the network's release after the Accept."""
FIRST_ENB_ID = 0x19B


class ConfigError(Exception):
    """A bad option or subscriber file: one line, exit 2."""


@dataclass(frozen=True, slots=True)
class PingTarget:
    address: str
    port: int | None = None
    """None: ICMP echo; a port: one UDP datagram."""


@dataclass(frozen=True, slots=True)
class RunConfig:
    """`enbsim run`'s options, validated once."""

    mmes: tuple[tuple[str, int], ...]
    transport: str
    subscribers: tuple[Subscriber, ...]
    ues: int
    rate: float
    scenario: tuple[str, ...]
    enbs: int
    ping: PingTarget | None
    json_path: Path | None
    plmn: PlmnIdentity
    tac: int
    s1u_addresses: tuple[str, ...]
    gtpu_port: int
    sgw_port: int
    timeout_s: float
    progress: bool

    def enb_configs(self) -> list[EnbConfig]:
        return [
            EnbConfig(
                f"enbsim-{index + 1}",
                self.plmn,
                FIRST_ENB_ID + index,
                tacs=(self.tac,),
                s1u_address=self.s1u_addresses[index],
            )
            for index in range(self.enbs)
        ]


# --- the command line ---------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        """One line, not argparse's usage block (item 7 of the issue: one clear line)."""
        self.exit(EXIT_CONFIG, f"enbsim: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="enbsim", description="Simulated eNBs and UEs against an LTE core.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    run = commands.add_parser("run", help="run a scenario on many UEs and report")
    run.add_argument(
        "--mme",
        required=True,
        help="HOST:PORT of the MME or the agent; several comma-separated (eNB k uses the "
        "k-th, round-robin)",
    )
    run.add_argument("--transport", default="sctp", choices=TRANSPORTS)
    run.add_argument("--subscribers", required=True, type=Path, help="subscriber CSV")
    run.add_argument("--ues", type=int, help="UEs to run (default: every subscriber)")
    run.add_argument("--rate", type=float, default=10.0, help="UEs started per second")
    run.add_argument(
        "--scenario",
        default="attach,detach",
        help=f"comma-separated steps from: {', '.join(STEPS)}",
    )
    run.add_argument("--enbs", type=int, default=1, help="simulated eNBs")
    run.add_argument("--ping", help="ADDR (ICMP, needs root) or ADDR:PORT (UDP) after attach")
    run.add_argument("--json", type=Path, dest="json_path", help="write the summary here")
    run.add_argument("--plmn", default="00101", help="MCC+MNC of the eNBs and UEs")
    run.add_argument("--tac", type=int, default=1, help="tracking area code of the cells")
    run.add_argument(
        "--s1u-address",
        default="127.0.0.1",
        help="GTP-U address of the first eNB; the next eNBs take the following addresses",
    )
    run.add_argument("--gtpu-port", type=int, default=GTPU_PORT, help="the eNBs' GTP-U port")
    run.add_argument("--sgw-port", type=int, default=GTPU_PORT, help="the SGW's GTP-U port")
    run.add_argument(
        "--timeout", type=float, default=60.0, dest="timeout_s", help="per procedure, seconds"
    )
    run.add_argument(
        "--progress",
        choices=("auto", "always", "never"),
        default="auto",
        help="the live progress line on stderr (auto: when it is a terminal)",
    )
    run.add_argument("--debug", action="store_true", help="tracebacks for unexpected errors")
    return parser


def load_config(arguments: argparse.Namespace) -> RunConfig:
    """Everything validated, or ConfigError with one line naming the option."""
    mmes = tuple(_endpoint(text) for text in arguments.mme.split(",") if text.strip())
    if not mmes:
        raise ConfigError("--mme: give HOST:PORT")
    scenario = tuple(step.strip() for step in arguments.scenario.split(",") if step.strip())
    unknown = [step for step in scenario if step not in STEPS]
    if not scenario or unknown:
        raise ConfigError(f"--scenario: unknown step {unknown[0]!r}" if unknown else "--scenario")
    ping = _ping_target(arguments.ping) if arguments.ping else None
    if ping is not None and "ping" not in scenario:
        first = scenario.index("attach") + 1 if "attach" in scenario else len(scenario)
        scenario = (*scenario[:first], "ping", *scenario[first:])
    if "ping" in scenario and ping is None:
        raise ConfigError("--scenario: the ping step needs --ping ADDR or --ping ADDR:PORT")
    if ping is not None and ping.port is None and os.geteuid() != 0:
        raise ConfigError(
            f"--ping {ping.address}: ICMP from a UE needs a network namespace, which needs "
            f"root; run as root or ping UDP with --ping {ping.address}:PORT"
        )
    try:
        subscribers = tuple(read_csv(arguments.subscribers))
    except SubscriberError as error:
        raise ConfigError(f"--subscribers: {error}") from None
    ues = len(subscribers) if arguments.ues is None else arguments.ues
    if ues < 1:
        raise ConfigError(f"--ues: at least 1, got {ues}")
    if ues > len(subscribers):
        raise ConfigError(
            f"--ues {ues}, but {arguments.subscribers} has {len(subscribers)} subscribers"
        )
    if not arguments.rate > 0:
        raise ConfigError(f"--rate: UEs per second, above 0, got {arguments.rate}")
    if not 1 <= arguments.enbs <= 255:
        raise ConfigError(f"--enbs: 1 to 255, got {arguments.enbs}")
    if not arguments.timeout_s > 0:
        raise ConfigError(f"--timeout: above 0, got {arguments.timeout_s}")
    for option in ("gtpu_port", "sgw_port"):
        if not 0 <= getattr(arguments, option) <= 0xFFFF:
            raise ConfigError(f"--{option.replace('_', '-')}: a UDP port")
    plmn = arguments.plmn
    if len(plmn) not in (5, 6) or not plmn.isdigit():
        raise ConfigError(f"--plmn: MCC+MNC, 5 or 6 digits, got {plmn!r}")
    if not 0 <= arguments.tac <= 0xFFFF:
        raise ConfigError(f"--tac: 0 to 65535, got {arguments.tac}")
    try:
        first = ipaddress.IPv4Address(arguments.s1u_address)
        addresses = tuple(str(first + index) for index in range(arguments.enbs))
    except (ValueError, ipaddress.AddressValueError) as error:
        raise ConfigError(f"--s1u-address: {error}") from None
    config = RunConfig(
        mmes=mmes,
        transport=arguments.transport,
        subscribers=subscribers[:ues],
        ues=ues,
        rate=arguments.rate,
        scenario=scenario,
        enbs=arguments.enbs,
        ping=ping,
        json_path=arguments.json_path,
        plmn=PlmnIdentity(plmn[:3], plmn[3:]),
        tac=arguments.tac,
        s1u_addresses=addresses,
        gtpu_port=arguments.gtpu_port,
        sgw_port=arguments.sgw_port,
        timeout_s=arguments.timeout_s,
        progress=_progress_wanted(arguments.progress),
    )
    try:
        config.enb_configs()
    except ValueError as error:
        raise ConfigError(str(error)) from None
    return config


def _endpoint(text: str, default_port: int = S1AP_PORT) -> tuple[str, int]:
    text = text.strip()
    host, separator, port = text.rpartition(":")
    if not separator or "]" in port:
        host, port = text, str(default_port)
    host = host.strip("[]")
    if not host or not port.isdigit() or not 0 < int(port) <= 0xFFFF:
        raise ConfigError(f"--mme: not HOST:PORT: {text!r}")
    return host, int(port)


def _ping_target(text: str) -> PingTarget:
    address, _, port = text.partition(":")
    try:
        ipaddress.IPv4Address(address)
    except ValueError:
        raise ConfigError(f"--ping: not an IPv4 address: {address!r}") from None
    if port and (not port.isdigit() or not 0 < int(port) <= 0xFFFF):
        raise ConfigError(f"--ping: not a UDP port: {port!r}")
    return PingTarget(address, int(port) if port else None)


def _progress_wanted(choice: str) -> bool:
    return choice == "always" or (choice == "auto" and sys.stderr.isatty())


# --- running ----------------------------------------------------------------------------------


Step = Callable[[SimulatedEnb, str, RunConfig], Awaitable[list[ProcedureResult]]]


async def _attach(enb: SimulatedEnb, imsi: str, config: RunConfig) -> list[ProcedureResult]:
    return [await enb.attach(imsi)]


async def _detach(enb: SimulatedEnb, imsi: str, config: RunConfig) -> list[ProcedureResult]:
    return [await enb.detach(imsi)]


async def _switch_off(enb: SimulatedEnb, imsi: str, config: RunConfig) -> list[ProcedureResult]:
    return [await enb.detach(imsi, switch_off=True)]


async def _release(enb: SimulatedEnb, imsi: str, config: RunConfig) -> list[ProcedureResult]:
    return [await enb.release(imsi)]


async def _idle_first(enb: SimulatedEnb, imsi: str) -> list[ProcedureResult]:
    return [await enb.release(imsi)] if enb.ue(imsi).connected else []


async def _service(enb: SimulatedEnb, imsi: str, config: RunConfig) -> list[ProcedureResult]:
    results = await _idle_first(enb, imsi)
    if all(result.ok for result in results):
        results.append(await enb.service_request(imsi))
    return results


async def _tau(enb: SimulatedEnb, imsi: str, config: RunConfig) -> list[ProcedureResult]:
    results = await _idle_first(enb, imsi)
    if all(result.ok for result in results):
        results.append(await enb.tracking_area_update(imsi))
        ue = enb.ue(imsi)
        with contextlib.suppress(TimeoutError):
            await enb.until(lambda: not ue.connected, timeout_s=IDLE_AFTER_TAU_S)
    return results


async def _ping(enb: SimulatedEnb, imsi: str, config: RunConfig) -> list[ProcedureResult]:
    target = config.ping
    assert target is not None
    if target.port is None:
        return [await enb.ping(imsi, target.address)]
    return [await enb.send_udp(imsi, target.address, target.port, b"enbsim " + imsi.encode())]


STEP_FUNCTIONS: dict[str, Step] = {
    "attach": _attach,
    "detach": _detach,
    "switch-off": _switch_off,
    "release": _release,
    "service": _service,
    "tau": _tau,
    "ping": _ping,
}


class Run:
    """One `enbsim run`: connect the eNBs, start the UEs at the rate, tally, summarise."""

    def __init__(self, config: RunConfig) -> None:
        self.config = config
        self.tally = Tally()
        self.stop = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._started_at = self._loop.time()

    async def execute(self) -> Summary:
        config = self.config
        user_plane = None
        if config.ping is not None:
            user_plane = UserPlaneSettings(port=config.gtpu_port, sgw_port=config.sgw_port)
        async with Simulator() as simulator:
            enbs = [
                simulator.enb(
                    enb_config,
                    mme=config.mmes[index % len(config.mmes)],
                    transport=config.transport,  # type: ignore[arg-type]
                    user_plane=user_plane,
                    procedure_timeout_s=config.timeout_s,
                )
                for index, enb_config in enumerate(config.enb_configs())
            ]
            for enb in enbs:
                await enb.connect()
            self._started_at = self._loop.time()
            interrupted = await self._run_ues(enbs)
            for enb in enbs:
                for violation in enb.violations:
                    self.tally.add_violation(str(violation.violation))
        duration = self._loop.time() - self._started_at
        return self.tally.summary(duration, config.ues, config.enbs, interrupted=interrupted)

    async def _run_ues(self, enbs: list[SimulatedEnb]) -> bool:
        """Start a UE every 1/rate s until all ran or `stop`; True if stopped early."""
        config = self.config
        ue_tasks: list[asyncio.Task[None]] = []
        async with asyncio.TaskGroup() as group:
            progress = group.create_task(self._progress()) if config.progress else None
            stopper = group.create_task(self._drain_on_stop(ue_tasks))
            for index, subscriber in enumerate(config.subscribers):
                if await self._stopped_before(self._started_at + index / config.rate):
                    break
                enb = enbs[index % len(enbs)]
                enb.add_ue(subscriber)
                ue_tasks.append(group.create_task(self._run_ue(enb, subscriber.imsi)))
            if ue_tasks:
                await asyncio.wait(ue_tasks)
            stopper.cancel()
            if progress is not None:
                progress.cancel()
        if config.progress:
            elapsed = self._loop.time() - self._started_at
            print("\r" + self.tally.progress_line(elapsed), file=sys.stderr, flush=True)
        return self.stop.is_set()

    async def _drain_on_stop(self, ue_tasks: list[asyncio.Task[None]]) -> None:
        """On SIGINT/SIGTERM: the running UEs get DRAIN_S to finish their step, then stop."""
        await self.stop.wait()
        running = [task for task in ue_tasks if not task.done()]
        if running:
            await asyncio.wait(running, timeout=DRAIN_S)
        for task in running:
            task.cancel()

    async def _stopped_before(self, start_at: float) -> bool:
        delay = start_at - self._loop.time()
        if delay <= 0:
            return self.stop.is_set()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(delay):
                await self.stop.wait()
        return self.stop.is_set()

    async def _run_ue(self, enb: SimulatedEnb, imsi: str) -> None:
        for step in self.config.scenario:
            if self.stop.is_set():
                return
            results = await STEP_FUNCTIONS[step](enb, imsi, self.config)
            for result in results:
                self.tally.add(result)
            if not all(result.ok for result in results):
                return

    async def _progress(self) -> None:
        while True:
            elapsed = self._loop.time() - self._started_at
            print("\r" + self.tally.progress_line(elapsed), end="", file=sys.stderr, flush=True)
            await asyncio.sleep(PROGRESS_INTERVAL_S)


async def run(config: RunConfig) -> Summary:
    """Run with SIGINT/SIGTERM stopping it in order (no new UEs, running steps drain).

    The handlers are `signal.signal` ones, not `loop.add_signal_handler`: pyroute2 forks
    helper processes (for namespaces) and stops them with SIGTERM, and a forked child shares
    the loop's signal wakeup fd, so with asyncio's handlers the child's SIGTERM would stop
    this run."""
    runner = Run(config)
    loop = asyncio.get_running_loop()
    parent = os.getpid()

    def stop(number: int, frame: object) -> None:
        if os.getpid() == parent:
            loop.call_soon_threadsafe(runner.stop.set)

    previous = {number: signal.signal(number, stop) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        return await runner.execute()
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = build_parser().parse_args(argv)
    try:
        config = load_config(arguments)
        summary = asyncio.run(run(config))
    except ConfigError as error:
        return _fail(str(error))
    except S1Unreachable as error:
        return _fail(str(error))
    except SimulatorError as error:
        return _fail(str(error))
    except Exception as error:
        # An ExceptionGroup from the TaskGroups wraps the error a task met.
        found = _expected(error)
        if found is not None:
            return _fail(str(found))
        if arguments.debug:
            raise
        return _fail(
            f"unexpected {type(error).__name__}: {error} (--debug shows the traceback)",
            EXIT_INTERNAL,
        )
    print(summary.table())
    if config.json_path is not None:
        try:
            config.json_path.write_text(json.dumps(summary.to_json(), indent=2) + "\n")
        except OSError as error:
            return _fail(f"--json {config.json_path}: {error.strerror}")
    if summary.interrupted:
        return EXIT_INTERRUPTED
    return EXIT_FAILURES if summary.failed else EXIT_OK


def _expected(error: BaseException) -> BaseException | None:
    """The configuration or reachability error inside an exception group, if that is it."""
    if isinstance(error, S1Unreachable | SimulatorError | ConfigError):
        return error
    if isinstance(error, BaseExceptionGroup):
        for inner in error.exceptions:
            found = _expected(inner)
            if found is not None:
                return found
    return None


def _fail(message: str, status: int = EXIT_CONFIG) -> int:
    print(f"enbsim: error: {message}", file=sys.stderr)
    return status
