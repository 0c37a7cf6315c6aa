"""The life of a daemon process, shared by every daemon's `main()`.

`run_daemon` parses the command line, loads the config (a bad one exits 2 with one line on
stderr), sets up logging and runs the daemon's `serve(config, lifecycle)` on uvloop. `serve`
starts its servers with `lifecycle.start(...)`, registers what to do at shutdown with
`lifecycle.on_shutdown(phase, action)`, calls `lifecycle.ready()` and awaits
`lifecycle.stopped()`; if at the stop `serve` is anywhere else (still starting, say retrying the
store), it is cancelled, and the phases registered so far still run. An exception escaping
`serve` or one of its tasks is logged with its traceback, the registered phases run, and the
daemon exits 1.

Shutdown follows hypercorn and uvicorn: SIGTERM or SIGINT only sets an event. Then systemd hears
STOPPING=1, and the registered shutdown work runs phase by phase, always in this order whatever
the order of registration, each phase logged, all under one deadline (`drain_timeout_s`):

    stop accepting  ->  tell peers  ->  drain  ->  close store

Drained in time: exit 0. Deadline passed or a phase failed: exit 1. A second signal while
draining exits at once with 128 + the signal number, as a shell reports a killed process.

Under systemd (Type=notify) the daemon sends READY=1 from `ready()`, STOPPING=1 on the first
signal, and WATCHDOG=1 every WATCHDOG_USEC / 2 from a task on the event loop, so a wedged loop
stops the pings and systemd restarts the daemon.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from typing import Any, NoReturn, TypeVar

import structlog
import uvloop

from epc.daemon.config import ConfigError, DaemonConfig, load_config
from epc.daemon.logs import configure_logging

__all__ = ["SHUTDOWN_PHASES", "Lifecycle", "SystemdNotifier", "run_daemon"]

SHUTDOWN_PHASES = ("stop accepting", "tell peers", "drain", "close store")

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_CONFIG = 2

ConfigT = TypeVar("ConfigT", bound=DaemonConfig)
Serve = Callable[[ConfigT, "Lifecycle"], Awaitable[None]]

log = structlog.get_logger()


def run_daemon(
    name: str, argv: Sequence[str] | None, config_type: type[ConfigT], serve: Serve[ConfigT]
) -> NoReturn:
    """The whole `main()` of a daemon: exits with the codes described in the module docstring."""
    parser = argparse.ArgumentParser(prog=name)
    parser.add_argument("--config", required=True, metavar="PATH", help="TOML config file")
    parser.add_argument(
        "--check-config", action="store_true", help="validate the config file and exit"
    )
    arguments = parser.parse_args(argv)
    try:
        config = load_config(arguments.config, config_type)
    except ConfigError as error:
        print(error, file=sys.stderr)
        sys.exit(EXIT_BAD_CONFIG)
    if arguments.check_config:
        print(f"{arguments.config}: ok")
        sys.exit(EXIT_OK)
    configure_logging(name, config.log)
    log.info("starting", config=arguments.config, pid=os.getpid())
    notifier = SystemdNotifier.from_environment(os.environ)
    sys.exit(uvloop.run(_run(config, serve, notifier)))


class SystemdNotifier:
    """sd_notify(3) messages, sent only when systemd gave us a NOTIFY_SOCKET."""

    def __init__(self, enabled: bool, watchdog_interval_s: float | None) -> None:
        self._enabled = enabled
        self.watchdog_interval_s = watchdog_interval_s

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> SystemdNotifier:
        enabled = bool(environ.get("NOTIFY_SOCKET"))
        interval = None
        usec = environ.get("WATCHDOG_USEC", "")
        pid = environ.get("WATCHDOG_PID", "")
        # sd_watchdog_enabled(3): the watchdog is ours unless WATCHDOG_PID names another process.
        if enabled and usec.isdigit() and int(usec) > 0 and pid in ("", str(os.getpid())):
            interval = int(usec) / 2 / 1_000_000
        return cls(enabled, interval)

    def ready(self) -> None:
        self._send("READY")

    def stopping(self) -> None:
        self._send("STOPPING")

    def watchdog(self) -> None:
        self._send("WATCHDOG")

    def _send(self, state: str) -> None:
        if not self._enabled:
            return
        # Imported only under systemd: it loads libsystemd, which boards need not pay for.
        from cysystemd import daemon

        daemon.notify(daemon.Notification[state])


class Lifecycle:
    """What `serve` gets besides its config: owned tasks for its servers, shutdown phases,
    readiness and the stop event."""

    def __init__(self, tasks: asyncio.TaskGroup, notifier: SystemdNotifier) -> None:
        self._tasks = tasks
        self._running: set[asyncio.Task[object]] = set()
        self._notifier = notifier
        self._stop = asyncio.Event()
        self._waiting_for_stop: set[asyncio.Task[Any] | None] = set()
        self._phases: dict[str, list[Callable[[], Awaitable[object]]]] = {
            phase: [] for phase in SHUTDOWN_PHASES
        }
        self.is_ready = False

    def start(self, coroutine: Coroutine[Any, Any, object], *, name: str) -> asyncio.Task[object]:
        """Run `coroutine` as a task owned by the daemon: one that fails takes the daemon down
        (exit 1); one still running after the last shutdown phase is cancelled."""
        task = self._tasks.create_task(coroutine, name=name)
        self._running.add(task)
        task.add_done_callback(self._running.discard)
        return task

    def on_shutdown(self, phase: str, action: Callable[[], Awaitable[object]]) -> None:
        """Run `action` in `phase` (one of SHUTDOWN_PHASES) at shutdown; actions within one
        phase run in the order they were registered."""
        if phase not in self._phases:
            raise ValueError(f"unknown shutdown phase {phase!r}; use one of {SHUTDOWN_PHASES}")
        self._phases[phase].append(action)

    def ready(self) -> None:
        """Tell systemd (and the log) that the daemon serves."""
        if self.is_ready:
            return
        self.is_ready = True
        self._notifier.ready()
        log.info("ready")

    def stop(self, **reason: object) -> None:
        """Ask the daemon to shut down, as SIGTERM does; `reason` goes into the log line."""
        if self.stopping:
            return
        log.info("stop requested", **reason)
        self._notifier.stopping()
        self._stop.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    async def stopped(self) -> None:
        """Return once shutdown has been requested."""
        task = asyncio.current_task()
        self._waiting_for_stop.add(task)
        try:
            await self._stop.wait()
        finally:
            self._waiting_for_stop.discard(task)

    def is_waiting_for_stop(self, task: asyncio.Task[Any]) -> bool:
        return task in self._waiting_for_stop

    async def shut_down(self, deadline_s: float) -> bool:
        """Run the registered phases in order under one deadline; True if all succeeded."""
        succeeded = True
        pending = [(phase, actions) for phase, actions in self._phases.items() if actions]
        try:
            async with asyncio.timeout(deadline_s):
                while pending:
                    phase, actions = pending[0]
                    log.info("shutdown phase", phase=phase)
                    for action in actions:
                        succeeded &= await _attempt(phase, action)
                    pending.pop(0)
        except TimeoutError:
            log.error(
                "shutdown deadline passed",
                phase=pending[0][0],
                skipped=[phase for phase, _ in pending[1:]],
                drain_timeout_s=deadline_s,
            )
            return False
        return succeeded

    def cancel_tasks(self) -> None:
        for task in self._running:
            task.cancel()


async def _attempt(phase: str, action: Callable[[], Awaitable[object]]) -> bool:
    try:
        await action()
    except Exception:
        log.exception("shutdown phase failed", phase=phase)
        return False
    return True


async def _run(config: ConfigT, serve: Serve[ConfigT], notifier: SystemdNotifier) -> int:
    watchdog = None
    if notifier.watchdog_interval_s is not None:
        watchdog = asyncio.create_task(_ping_watchdog(notifier), name="watchdog")
    try:
        return await _serve_until_stopped(config, serve, notifier)
    finally:
        if watchdog is not None:
            watchdog.cancel()
            await asyncio.gather(watchdog, return_exceptions=True)


async def _serve_until_stopped(
    config: ConfigT, serve: Serve[ConfigT], notifier: SystemdNotifier
) -> int:
    lifecycle: Lifecycle | None = None
    drained = False
    try:
        async with asyncio.TaskGroup() as tasks:
            lifecycle = Lifecycle(tasks, notifier)
            _handle_signals(lifecycle)
            serving = tasks.create_task(serve(config, lifecycle), name="serve")
            await lifecycle.stopped()
            if not lifecycle.is_waiting_for_stop(serving):
                # Still starting (say, retrying the store) or serving in its own way:
                # cancelling it is how it learns of the stop.
                serving.cancel()
            await asyncio.wait([serving])
            drained = await lifecycle.shut_down(config.lifecycle.drain_timeout_s)
            lifecycle.cancel_tasks()
    except Exception as error:
        failure = (
            error.exceptions[0]
            if isinstance(error, ExceptionGroup) and len(error.exceptions) == 1
            else error
        )
        log.error("daemon failed", exc_info=failure)
        if lifecycle is not None and not lifecycle.stopping:
            # Still release what serve set up (the store session) before exiting.
            lifecycle.stop(reason="failure")
            await lifecycle.shut_down(config.lifecycle.drain_timeout_s)
        return EXIT_FAILED
    if not drained:
        return EXIT_FAILED
    log.info("stopped")
    return EXIT_OK


def _handle_signals(lifecycle: Lifecycle) -> None:
    loop = asyncio.get_running_loop()

    def on_signal(signum: signal.Signals) -> None:
        if not lifecycle.stopping:
            lifecycle.stop(signal=signum.name)
            return
        log.error("forced exit", signal=signum.name)
        _exit_now(128 + signum)

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signum)


def _exit_now(code: int) -> NoReturn:
    """Exit without unwinding: the drain is what the operator wants to cut short."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


async def _ping_watchdog(notifier: SystemdNotifier) -> None:
    assert notifier.watchdog_interval_s is not None
    while True:
        notifier.watchdog()
        await asyncio.sleep(notifier.watchdog_interval_s)
