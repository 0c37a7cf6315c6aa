"""The daemon shell every daemon shares, exercised on real processes: config errors, sd_notify
(READY, WATCHDOG, STOPPING), ordered shutdown on SIGTERM, forced exit, journald fields.

Most tests run `python -m epc.mme`. The drain tests need a daemon with something to drain, which
the MME does not have yet, so they run DRAINING_DAEMON below: a real `run_daemon` whose "drain"
phase waits, as a real server does, until its open TCP connections are closed by their peers.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from epc.daemon.logs import journal_field

REPO = Path(__file__).resolve().parents[1]
TIMEOUT_S = 30.0
JOURNAL_SOCKET = Path("/run/systemd/journal/socket")

MME = [sys.executable, "-m", "epc.mme"]

DRAINING_DAEMON_SOURCE = """
import asyncio

from epc.daemon.config import DaemonConfig
from epc.daemon.lifecycle import run_daemon
from epc.daemon.logs import bound_context, get_logger

log = get_logger()


async def serve(config, lifecycle):
    connections = set()
    idle = asyncio.Event()
    idle.set()

    async def handle(reader, writer):
        connections.add(writer)
        idle.clear()
        log.info("connection open")
        await reader.read()  # until the peer closes
        writer.close()
        connections.discard(writer)
        if not connections:
            idle.set()

    async def stop_accepting():
        server.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    lifecycle.on_shutdown("drain", idle.wait)
    lifecycle.on_shutdown("stop accepting", stop_accepting)
    with bound_context(imsi="001010000000001", request_id=7):
        log.info("listening", port=server.sockets[0].getsockname()[1])
    lifecycle.ready()
    await lifecycle.stopped()


run_daemon("epc-test-daemon", None, DaemonConfig, serve)
"""
DRAINING_DAEMON = [sys.executable, "-c", DRAINING_DAEMON_SOURCE]


class Daemon:
    """A daemon subprocess whose stderr is read line by line on a thread, so tests can wait
    for a given line with a timeout."""

    def __init__(
        self,
        command: list[str],
        config: Path,
        cwd: Path,
        environment: dict[str, str],
        *,
        journal_stream: bool = False,
    ) -> None:
        read_end, write_end = os.pipe()
        environment = dict(environment)
        if journal_stream:
            status = os.fstat(write_end)
            environment["JOURNAL_STREAM"] = f"{status.st_dev}:{status.st_ino}"
        self.process = subprocess.Popen(
            [*command, "--config", str(config)],
            cwd=cwd,
            env=environment,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=write_end,
        )
        os.close(write_end)
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, args=(read_end,), daemon=True)
        self._reader.start()

    def _read(self, fd: int) -> None:
        with open(fd, encoding="utf-8", errors="replace") as stderr:
            for line in stderr:
                self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for_line(self, matches: Callable[[str], bool], what: str) -> str:
        deadline = time.monotonic() + TIMEOUT_S
        while True:
            try:
                line = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(
                    f"no {what} within {TIMEOUT_S} s; stderr: {self.lines}"
                ) from None
            if line is None:
                raise AssertionError(f"stderr closed before {what}; stderr: {self.lines}")
            self.lines.append(line)
            if matches(line):
                return line

    def wait_for_event(self, event: str, **fields: object) -> dict:
        """The next JSON log line (`format = "json"`) with this event and fields."""

        def matches(line: str) -> bool:
            record = json.loads(line)
            return record["event"] == event and all(record.get(k) == v for k, v in fields.items())

        return json.loads(self.wait_for_line(matches, f"event {event!r} {fields}"))

    def events(self) -> list[dict]:
        return [json.loads(line) for line in self.lines]

    def send_signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def wait_for_exit(self) -> int:
        code = self.process.wait(timeout=TIMEOUT_S)
        self._reader.join(timeout=TIMEOUT_S)
        while (line := self._queue.get_nowait()) is not None:
            self.lines.append(line)
        return code


class NotifySocket:
    """The socket systemd listens on for sd_notify(3) datagrams (NOTIFY_SOCKET)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.received: list[str] = []
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._socket.bind(str(path))

    def wait_for(self, message: str, count: int = 1) -> None:
        """Until `message` has arrived `count` times in all."""
        deadline = time.monotonic() + TIMEOUT_S
        while self.received.count(message) < count:
            self._socket.settimeout(max(0.001, deadline - time.monotonic()))
            try:
                datagram = self._socket.recv(4096)
            except TimeoutError:
                raise AssertionError(
                    f"no {message} within {TIMEOUT_S} s; got {self.received}"
                ) from None
            self.received.extend(datagram.decode().splitlines())

    def close(self) -> None:
        self._socket.close()


@pytest.fixture
def environment() -> dict[str, str]:
    """The test's environment without any systemd variables it may itself be running under."""
    inherited = {
        key: value
        for key, value in os.environ.items()
        if key not in {"NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "JOURNAL_STREAM"}
    }
    return {**inherited, "PYTHONPATH": str(REPO)}


@pytest.fixture
def start(tmp_path, environment) -> Iterator[Callable[..., Daemon]]:
    """Starts daemons in tmp_path; kills any a test leaves running."""
    started: list[Daemon] = []

    def start_daemon(
        command: list[str],
        config_text: str,
        *,
        extra_env: dict[str, str] | None = None,
        journal_stream: bool = False,
    ) -> Daemon:
        config = tmp_path / "daemon.toml"
        config.write_text(config_text)
        daemon = Daemon(
            command,
            config,
            tmp_path,
            {**environment, **(extra_env or {})},
            journal_stream=journal_stream,
        )
        started.append(daemon)
        return daemon

    yield start_daemon
    for daemon in started:
        if daemon.process.poll() is None:
            daemon.process.kill()
            daemon.process.wait()


@pytest.fixture
def notify_socket(tmp_path) -> Iterator[NotifySocket]:
    notify = NotifySocket(tmp_path / "notify.sock")
    yield notify
    notify.close()


MINIMAL = 'deployment = "test"\n'
MME_MINIMAL = MINIMAL + "[agents]\nport = 0\n"
"""Any free port for the MME's agent listener, so tests run side by side."""
JSON_LOGS = '[log]\nformat = "json"\n'
MME_PHASES = ("stop accepting", "drain", "close store")


@pytest.mark.parametrize(
    ("config_text", "expected"),
    [
        pytest.param("[store]\nbogus = 1\n", "store.bogus: unknown key", id="unknown-key"),
        pytest.param(
            '[lifecycle]\ndrain_timeout_s = "soon"\n',
            'lifecycle.drain_timeout_s: expected a number > 0, got "soon"',
            id="wrong-type",
        ),
        pytest.param(
            "[store.zookeeper]\nsession_timeout_s = -1\n",
            "store.zookeeper.session_timeout_s: expected a number > 0, got -1",
            id="out-of-range",
        ),
        pytest.param(
            '[log]\nlevel = "loud"\n',
            'log.level: expected one of "debug", "info", "warning", "error", got "loud"',
            id="bad-enum",
        ),
        pytest.param(
            'deployment = "Core_1"\n',
            "deployment: expected a string of at most 64 characters matching ^[a-z0-9-]+$,"
            ' got "Core_1"',
            id="bad-deployment",
        ),
        pytest.param(
            "[store.zookeeper]\nhosts = []\n",
            "store.zookeeper.hosts: expected a non-empty array of strings, got []",
            id="empty-array",
        ),
        pytest.param(None, "no such file", id="missing-file"),
        pytest.param(
            '[log]\nlevel = "info"\nformat =\n',
            "TOML syntax error: Invalid value (at line 3, column 9)",
            id="toml-syntax",
        ),
    ],
)
def test_bad_config_exits_2_with_one_stderr_line_naming_the_problem(
    tmp_path, environment, config_text, expected
):
    config = tmp_path / "mme.toml"
    if config_text is not None:
        config.write_text(config_text)
    result = subprocess.run(
        [*MME, "--config", str(config)],
        env=environment,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    assert result.returncode == 2
    assert result.stderr.splitlines() == [f"{config}: {expected}"]
    assert result.stdout == ""
    assert not (tmp_path / "store.db").exists()


def test_shipped_mme_config_passes_check_config(environment, tmp_path):
    config = REPO / "configs" / "mme.toml"
    result = subprocess.run(
        [*MME, "--config", str(config), "--check-config"],
        env=environment,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == f"{config}: ok\n"


def test_mme_notifies_ready_and_watchdog_then_stops_on_sigterm_through_its_phases(
    start, notify_socket, tmp_path
):
    mme = start(
        MME,
        MME_MINIMAL,
        extra_env={"NOTIFY_SOCKET": str(notify_socket.path), "WATCHDOG_USEC": "100000"},
    )
    notify_socket.wait_for("READY=1")
    mme.wait_for_line(lambda line: "ready" in line, "the ready line")
    notify_socket.wait_for("WATCHDOG=1", count=3)  # every 50 ms, not just once

    mme.send_signal(signal.SIGTERM)
    notify_socket.wait_for("STOPPING=1")
    assert mme.wait_for_exit() == 0
    phases = [line for line in mme.lines if "shutdown phase" in line]
    assert [name for line in phases for name in MME_PHASES if name in line] == list(MME_PHASES)
    assert "stopped" in mme.lines[-1]
    # Not a terminal: plain lines, no colour codes.
    assert not any("\x1b[" in line for line in mme.lines)
    assert (tmp_path / "store.db").exists()  # the default path, relative to the cwd


def test_watchdog_of_another_process_is_not_pinged(start, notify_socket):
    mme = start(
        MME,
        MME_MINIMAL,
        extra_env={
            "NOTIFY_SOCKET": str(notify_socket.path),
            "WATCHDOG_USEC": "20000",
            "WATCHDOG_PID": "1",
        },
    )
    notify_socket.wait_for("READY=1")
    mme.send_signal(signal.SIGTERM)
    notify_socket.wait_for("STOPPING=1")
    assert mme.wait_for_exit() == 0
    assert "WATCHDOG=1" not in notify_socket.received


def test_exception_escaping_serve_is_logged_with_traceback_and_exits_1(start, tmp_path):
    mme = start(MME, f'{JSON_LOGS}[store.sqlite]\npath = "no-such-dir/store.db"\n')
    assert mme.wait_for_exit() == 1
    (failure,) = [event for event in mme.events() if event["event"] == "daemon failed"]
    assert failure["level"] == "error"
    assert "Traceback" in failure["exception"]
    assert "StoreUnavailable" in failure["exception"]


def test_stop_while_the_store_is_unreachable_abandons_the_start_and_exits_0(start):
    pytest.importorskip("epc.store.zookeeper")
    # Nothing listens on port 1: the store retries, so the MME is still starting.
    mme = start(
        MME,
        f'{JSON_LOGS}[store]\nbackend = "zookeeper"\n[store.zookeeper]\nhosts = ["127.0.0.1:1"]\n',
    )
    refused = mme.wait_for_line(lambda line: "kazoo" in line, "a kazoo log line")
    assert json.loads(refused)["logger"].startswith("kazoo")  # library logs come through too
    mme.send_signal(signal.SIGTERM)
    assert mme.wait_for_exit() == 0
    own = [event["event"] for event in mme.events() if event["logger"] == "epc-mme"]
    assert own == ["starting", "stop requested", "stopped"]


def _connect(daemon: Daemon) -> socket.socket:
    port = daemon.wait_for_event("listening")["port"]
    connection = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_S)
    daemon.wait_for_event("connection open")
    return connection


def test_drain_waits_for_open_connections_and_exits_0_when_they_close(start):
    daemon = start(DRAINING_DAEMON, JSON_LOGS)
    with _connect(daemon):
        daemon.send_signal(signal.SIGTERM)
        daemon.wait_for_event("shutdown phase", phase="drain")
    assert daemon.wait_for_exit() == 0
    phases = [event["phase"] for event in daemon.events() if event["event"] == "shutdown phase"]
    assert phases == ["stop accepting", "drain"]


def test_drain_past_the_deadline_exits_1(start):
    daemon = start(DRAINING_DAEMON, JSON_LOGS + "[lifecycle]\ndrain_timeout_s = 0.2\n")
    with _connect(daemon):
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait_for_exit() == 1
    (late,) = [e for e in daemon.events() if e["event"] == "shutdown deadline passed"]
    assert (late["phase"], late["skipped"]) == ("drain", [])


def test_second_signal_during_slow_drain_forces_immediate_nonzero_exit(start):
    daemon = start(DRAINING_DAEMON, JSON_LOGS)
    with _connect(daemon):
        daemon.send_signal(signal.SIGTERM)
        daemon.wait_for_event("shutdown phase", phase="drain")
        daemon.send_signal(signal.SIGINT)
        assert daemon.wait_for_exit() == 128 + signal.SIGINT
    assert daemon.events()[-1]["event"] == "forced exit"


class JournalSocket:
    """Stands in for journald's native socket, parsing each datagram into its fields."""

    def __init__(self) -> None:
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._socket.bind(str(JOURNAL_SOCKET))

    def wait_for(self, message: str) -> dict[str, str]:
        deadline = time.monotonic() + TIMEOUT_S
        seen = []
        while True:
            self._socket.settimeout(max(0.001, deadline - time.monotonic()))
            try:
                entry = parse_journal_entry(self._socket.recv(65536))
            except TimeoutError:
                raise AssertionError(f"no journal entry {message!r}; got {seen}") from None
            seen.append(entry)
            if entry.get("MESSAGE") == message:
                return entry

    def close(self) -> None:
        self._socket.close()


def parse_journal_entry(datagram: bytes) -> dict[str, str]:
    """journald's native protocol: `KEY=value\\n`, or `KEY\\n<u64 LE length><bytes>\\n` for
    values with newlines."""
    fields = {}
    while datagram:
        head, _, rest = datagram.partition(b"\n")
        if b"=" in head:
            key, _, value = head.partition(b"=")
            datagram = rest
        else:
            key, (length,) = head, struct.unpack_from("<Q", rest)
            value, datagram = rest[8 : 8 + length], rest[8 + length + 1 :]
        fields[key.decode()] = value.decode()
    return fields


@pytest.fixture
def journal() -> Iterator[JournalSocket]:
    if JOURNAL_SOCKET.exists():
        pytest.skip(f"a journald already listens on {JOURNAL_SOCKET}; this test stands in for it")
    if os.geteuid() != 0:
        pytest.skip(f"binding {JOURNAL_SOCKET} needs root")
    created = not JOURNAL_SOCKET.parent.exists()
    JOURNAL_SOCKET.parent.mkdir(parents=True, exist_ok=True)
    journal = JournalSocket()
    yield journal
    journal.close()
    JOURNAL_SOCKET.unlink()
    if created:
        JOURNAL_SOCKET.parent.rmdir()


def test_under_journald_events_arrive_as_fields_with_bound_context(start, journal):
    daemon = start(DRAINING_DAEMON, MINIMAL, journal_stream=True)
    listening = journal.wait_for("listening")
    assert listening["PRIORITY"] == "6"
    assert listening["SYSLOG_IDENTIFIER"] == "epc-test-daemon"
    assert listening["IMSI"] == "001010000000001"
    assert listening["REQUEST_ID"] == "7"
    assert int(listening["PORT"]) > 0
    ready = journal.wait_for("ready")
    assert "IMSI" not in ready  # the context ended with its `with` block
    daemon.send_signal(signal.SIGTERM)
    assert journal.wait_for("shutdown phase")["PHASE"] == "stop accepting"
    assert daemon.wait_for_exit() == 0
    assert daemon.lines == []  # everything went to the journal, nothing to the stream


@pytest.mark.parametrize(
    ("key", "field"),
    [
        ("imsi", "IMSI"),
        ("request_id", "REQUEST_ID"),
        ("enb-id", "ENB_ID"),
        ("_private", "PRIVATE"),
        ("5g", "FIELD_5G"),
        ("message", "FIELD_MESSAGE"),
    ],
)
def test_bound_keys_become_valid_journal_field_names(key, field):
    assert journal_field(key) == field
