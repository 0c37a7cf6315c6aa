"""The local core's children: started in order, each awaited until it says READY=1, watched,
and stopped in reverse order.

Readiness is what systemd would see: every daemon speaks sd_notify, so each child gets a
NOTIFY_SOCKET of its own (a datagram socket in the run directory) and is ready when READY=1
arrives there, not when a log line looks right. Children run in their own process group, so a
Ctrl-C at the terminal reaches only the supervisor, which then sends each child one SIGTERM: a
second signal would make a daemon skip its drain. They also get SIGTERM if the supervisor
dies (PR_SET_PDEATHSIG), so a killed supervisor leaves no core behind.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import ctypes
import os
import signal
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from epc.localcore.plan import Daemon, Plan

READY_TIMEOUT_S = 60.0
"""A daemon's start: interpreter, imports (pycrate ~0.5 s), store connection, listeners."""
STOP_TIMEOUT_S = 20.0
"""A daemon's own drain deadline is 10 s by default; then SIGKILL."""
TAIL_LINES = 20

LogSink = Callable[[str, str], None]
"""(child name, one line of its stderr or stdout)."""


class ChildFailed(Exception):
    """A child exited while it should be running (or never got ready)."""

    def __init__(self, child: Child, what: str) -> None:
        tail = "\n".join(f"  {line}" for line in child.tail)
        super().__init__(f"{child.name} {what}" + (f"; its last lines:\n{tail}" if tail else ""))
        self.child = child


def print_prefixed(name: str, line: str) -> None:
    print(f"{name:>6} | {line}", file=sys.stderr, flush=True)


@dataclass
class Child:
    daemon: Daemon
    config_path: Path
    process: asyncio.subprocess.Process | None = None
    tail: collections.deque[str] = field(default_factory=lambda: collections.deque(maxlen=20))
    ready_at: float = 0.0
    _ready: asyncio.Event = field(default_factory=asyncio.Event)
    _reader: asyncio.Task[None] | None = None
    _notify: asyncio.DatagramTransport | None = None

    @property
    def name(self) -> str:
        return self.daemon.name

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None


class LocalCore:
    """Start with `await core.start()`; `await core.first_exit()` returns the first child
    that exits; `await core.stop()` drains all (True when every child exited 0)."""

    def __init__(self, plan: Plan, run_directory: Path, sink: LogSink = print_prefixed) -> None:
        self.plan = plan
        self.run_directory = run_directory
        self._sink = sink
        paths = plan.write(run_directory)
        self.children = {d.name: Child(d, paths[d.name]) for d in plan.daemons}
        self._stopping = False

    async def start(self) -> None:
        """Each daemon in plan order, once the one before is ready; ChildFailed if one exits
        or stays silent (the ones started are stopped first)."""
        try:
            for child in self.children.values():
                await self.start_child(child.name)
        except BaseException:
            await self.stop()
            raise

    async def start_child(self, name: str) -> Child:
        """(Re)start one child and wait for its READY=1."""
        child = self.children[name]
        child._ready.clear()
        if child._notify is not None:
            child._notify.close()
        notify_path = self.run_directory / f"{name}.notify"
        with contextlib.suppress(FileNotFoundError):
            notify_path.unlink()
        loop = asyncio.get_running_loop()
        receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        receiver.bind(str(notify_path))
        child._notify, _ = await loop.create_datagram_endpoint(
            lambda: _Notifications(child), sock=receiver
        )
        environment = {**os.environ, "NOTIFY_SOCKET": str(notify_path), "PYTHONUNBUFFERED": "1"}
        environment.pop("JOURNAL_STREAM", None)  # our pipe is not the journal
        child.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            child.daemon.module,
            "--config",
            str(child.config_path),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=environment,
            preexec_fn=_own_group_terminated_with_parent,
        )
        child._reader = asyncio.ensure_future(self._read(child))
        exited = asyncio.ensure_future(child.process.wait())
        ready = asyncio.ensure_future(child._ready.wait())
        try:
            done, _ = await asyncio.wait(
                {exited, ready}, timeout=READY_TIMEOUT_S, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            exited.cancel()
            ready.cancel()
        if not child._ready.is_set():
            if child.running:
                await self._stop_child(child)
            await child._reader
            what = f"not ready within {READY_TIMEOUT_S:.0f} s"
            if child.process.returncode is not None and exited in done:
                what = f"exited with status {child.process.returncode} while starting"
            raise ChildFailed(child, what)
        return child

    async def import_subscribers(self, csv_path: Path) -> int:
        """`epcctl subscriber import --replace` on the store the first MME uses; its status."""
        mme = next(child for child in self.children.values() if child.daemon.role == "mme")
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            *("-m", "epc.epcctl", "subscriber", "import", str(csv_path)),
            *("--config", str(mme.config_path), "--replace"),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await process.communicate()
        for line in output.decode(errors="replace").splitlines():
            self._sink("epcctl", line)
        return process.returncode  # type: ignore[return-value]

    async def first_exit(self) -> Child:
        """The first child to exit (any status), waiting as long as it takes."""
        waits = {
            asyncio.ensure_future(child.process.wait()): child
            for child in self.children.values()
            if child.process is not None
        }
        try:
            done, _ = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()
        child = waits[next(iter(done))]
        if child._reader is not None:
            await child._reader
        return child

    async def kill(self, name: str) -> None:
        """SIGKILL one child (no drain: a crash, for fault benchmarks)."""
        child = self.children[name]
        if child.running:
            child.process.kill()  # type: ignore[union-attr]
            await child.process.wait()  # type: ignore[union-attr]
        if child._reader is not None:
            await child._reader

    async def stop(self) -> bool:
        """SIGTERM each running child in reverse start order (the agent, facing the eNBs,
        first), waiting for each; True when every child exited 0."""
        self._stopping = True
        clean = True
        for child in reversed(list(self.children.values())):
            if child.process is None:
                continue
            if child.running:
                clean &= await self._stop_child(child)
            elif child.process.returncode != 0:
                clean = False
            if child._reader is not None:
                await child._reader
            if child._notify is not None:
                child._notify.close()
        return clean

    async def _stop_child(self, child: Child) -> bool:
        assert child.process is not None
        child.process.send_signal(signal.SIGTERM)
        try:
            async with asyncio.timeout(STOP_TIMEOUT_S):
                status = await child.process.wait()
        except TimeoutError:
            self._sink(child.name, f"(localcore) no exit {STOP_TIMEOUT_S:.0f} s after SIGTERM")
            child.process.kill()
            await child.process.wait()
            return False
        if status != 0:
            self._sink(child.name, f"(localcore) exited with status {status} after SIGTERM")
        return status == 0

    async def _read(self, child: Child) -> None:
        assert child.process is not None and child.process.stdout is not None
        while line := await child.process.stdout.readline():
            text = line.decode(errors="replace").rstrip("\n")
            child.tail.append(text)
            self._sink(child.name, text)


class _Notifications(asyncio.DatagramProtocol):
    """sd_notify datagrams of one child: "READY=1" among newline-separated assignments."""

    def __init__(self, child: Child) -> None:
        self._child = child

    def datagram_received(self, data: bytes, address: object) -> None:
        if b"READY=1" in data.split(b"\n"):
            self._child.ready_at = time.monotonic()
            self._child._ready.set()


def _own_group_terminated_with_parent() -> None:
    """In the child before exec: a process group of its own (a terminal's Ctrl-C reaches only
    the supervisor), and SIGTERM when the supervisor dies (Linux prctl). A preexec function
    rather than `process_group=`, which uvloop's subprocess does not take."""
    os.setpgid(0, 0)
    pr_set_pdeathsig = 1
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)
