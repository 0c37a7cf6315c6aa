"""Real ZooKeeper servers for the tests: one standalone server per session, 3-node ensembles.

A pytest plugin (loaded from tests/conftest.py). It runs the ZooKeeper jars Debian installs
in /usr/share/java under a JVM tuned to start fast and stay small, each server in its own
temporary directory with its own zoo.cfg, data directory and log file, on free loopback ports.
Readiness and roles are read with the `srvr` four-letter word, the same way an operator would.
Disk syncs stay on (ZooKeeper's default forceSync) because the benchmarks measure durable writes.

Owns: the server processes (killed at teardown) and their directories.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

JAVA_DIR = Path("/usr/share/java")
# zookeeper.jar's manifest names its own runtime dependencies (netty, jute, metrics, ...);
# the two log4j jars give slf4j a backend so the server's log lands in its directory.
JARS = (
    "zookeeper.jar",
    "zookeeper-jute.jar",
    "slf4j-api.jar",
    "slf4j-log4j12.jar",
    "log4j-1.2.jar",
)
MAIN_CLASS = "org.apache.zookeeper.server.quorum.QuorumPeerMain"
JVM_OPTIONS = (
    "-Xmx256m",
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-XX:-UsePerfData",
    "-Djava.net.preferIPv4Stack=true",
    "-Dzookeeper.jmx.log4j.disable=true",
)
# A short tick makes elections and session-expiry detection fast; the session timeout bounds
# are set explicitly because by default they derive from the tick (2x .. 20x).
TICK_MS = 200
BASE_CONFIG = {
    "tickTime": TICK_MS,
    "initLimit": 25,
    "syncLimit": 10,
    "minSessionTimeout": 2 * TICK_MS,
    "maxSessionTimeout": 60_000,
    "maxClientCnxns": 0,
    "4lw.commands.whitelist": "*",
    "admin.enableServer": "false",
}
LOG4J_CONFIG = """\
log4j.rootLogger=INFO, FILE
log4j.appender.FILE=org.apache.log4j.FileAppender
log4j.appender.FILE.File={log}
log4j.appender.FILE.layout=org.apache.log4j.PatternLayout
log4j.appender.FILE.layout.ConversionPattern=%d{{ISO8601}} %-5p [%t:%C{{1}}@%L] %m%n
"""
# The kernel kills the JVM when the thread that started it dies, so a pytest run that is
# itself killed leaves no server holding ports (util-linux, present on every Debian).
ORPHAN_GUARD = ("setpriv", "--pdeathsig", "KILL")
START_TIMEOUT_S = 60.0
SERVING_MODES = ("standalone", "leader", "follower")


def java_command() -> list[str]:
    """The JVM command line up to the config file; fails the test run if the JDK or jars are
    missing, since a store test that quietly skips proves nothing."""
    java = shutil.which("java")
    missing = [name for name in JARS if not (JAVA_DIR / name).is_file()]
    if java is None or missing:
        what = "java" if java is None else ", ".join(str(JAVA_DIR / name) for name in missing)
        pytest.fail(
            f"ZooKeeper tests need a JDK and Debian's zookeeper jars; missing: {what}. "
            "Run `make setup` to install them.",
            pytrace=False,
        )
    classpath = ":".join(str(JAVA_DIR / name) for name in JARS)
    guard = ORPHAN_GUARD if shutil.which(ORPHAN_GUARD[0]) else ()
    return [*guard, java, *JVM_OPTIONS, "-cp", classpath]


def free_ports(count: int) -> list[int]:
    """Distinct free loopback ports: all are held open together so none is handed out twice."""
    with contextlib.ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]


@dataclass
class ZooKeeperServer:
    """One ZooKeeper server process and its directory. `peers` lists, for every member of an
    ensemble, (myid, quorum port, election port); empty for a standalone server."""

    directory: Path
    client_port: int
    myid: int = 1
    peers: list[tuple[int, int, int]] = field(default_factory=list)
    process: subprocess.Popen | None = None

    @property
    def hosts(self) -> str:
        return f"127.0.0.1:{self.client_port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self) -> None:
        """Launch the JVM (again, after a kill: the data directory survives). Call it from a
        long-lived thread such as the main one: the server dies with the thread."""
        config = self._write_files()
        with open(self.directory / "stdout.log", "ab") as output:
            self.process = subprocess.Popen(
                [*java_command(), self._log_option(), MAIN_CLASS, str(config)],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
            )

    def kill(self) -> None:
        """kill -9: no shutdown hook runs, exactly like a crashed host."""
        if self.running:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()

    def four_letter_word(self, word: str) -> str | None:
        """The server's answer to a four-letter word, or None when it does not answer."""
        try:
            with socket.create_connection(("127.0.0.1", self.client_port), timeout=2.0) as sock:
                sock.sendall(word.encode())
                chunks = iter(lambda: sock.recv(4096), b"")
                return b"".join(chunks).decode(errors="replace")
        except OSError:
            return None

    def mode(self) -> str | None:
        """'standalone', 'leader' or 'follower' while the server serves clients, else None."""
        for line in (self.four_letter_word("srvr") or "").splitlines():
            if line.startswith("Mode: "):
                return line.removeprefix("Mode: ").strip()
        return None

    def wait_until_serving(self) -> None:
        wait_until(lambda: self.mode() in SERVING_MODES, "server", [self])

    def log_tail(self, lines: int = 30) -> str:
        text = ""
        for name in ("stdout.log", "zookeeper.log"):
            with contextlib.suppress(OSError):
                text += (self.directory / name).read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def _write_files(self) -> Path:
        data = self.directory / "data"
        data.mkdir(parents=True, exist_ok=True)
        settings: dict[str, object] = {
            **BASE_CONFIG,
            "dataDir": data,
            "clientPort": self.client_port,
            "clientPortAddress": "127.0.0.1",
        }
        for myid, quorum_port, election_port in self.peers:
            settings[f"server.{myid}"] = f"127.0.0.1:{quorum_port}:{election_port}"
        if self.peers:
            (data / "myid").write_text(f"{self.myid}\n")
        config = self.directory / "zoo.cfg"
        config.write_text("".join(f"{key}={value}\n" for key, value in settings.items()))
        log4j = self.directory / "log4j.properties"
        log4j.write_text(LOG4J_CONFIG.format(log=self.directory / "zookeeper.log"))
        return config

    def _log_option(self) -> str:
        return f"-Dlog4j.configuration=file:{self.directory / 'log4j.properties'}"


def wait_until(condition, what: str, servers: list[ZooKeeperServer]) -> None:
    """Poll an external process's state with a deadline; fail with the servers' logs."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while not condition():
        exited = [server for server in servers if not server.running]
        if exited or time.monotonic() > deadline:
            reason = "exited" if exited else f"not ready after {START_TIMEOUT_S:.0f} s"
            logs = "\n".join(f"--- {s.directory}\n{s.log_tail()}" for s in servers)
            pytest.fail(f"ZooKeeper {what} {reason}\n{logs}", pytrace=False)
        time.sleep(0.05)


@dataclass
class Ensemble:
    """Three ZooKeeper servers forming one quorum."""

    nodes: list[ZooKeeperServer]

    @property
    def hosts(self) -> str:
        return ",".join(node.hosts for node in self.nodes)

    def leader(self) -> ZooKeeperServer:
        leaders = [node for node in self.nodes if node.mode() == "leader"]
        assert len(leaders) == 1, f"expected one leader, found {len(leaders)}"
        return leaders[0]

    def kill(self, node: ZooKeeperServer) -> None:
        node.kill()

    def wait_for_quorum(self) -> None:
        """Until the members still running agree on one leader and follow it."""
        live = [node for node in self.nodes if node.running]

        def serving() -> bool:
            modes = [node.mode() for node in live]
            return modes.count("leader") == 1 and modes.count("follower") == len(live) - 1

        wait_until(serving, "ensemble quorum", live)


def standalone(directory: Path) -> ZooKeeperServer:
    """A single server on a free port (not started)."""
    (client_port,) = free_ports(1)
    return ZooKeeperServer(directory, client_port)


def ensemble(directory: Path) -> Ensemble:
    """Three servers with distinct client, quorum and election ports (not started)."""
    ports = free_ports(9)
    client_ports, quorum_ports, election_ports = ports[0:3], ports[3:6], ports[6:9]
    myids = (1, 2, 3)
    peers = list(zip(myids, quorum_ports, election_ports, strict=True))
    return Ensemble(
        [
            ZooKeeperServer(directory / f"node{myid}", client_port, myid, peers)
            for myid, client_port in zip(myids, client_ports, strict=True)
        ]
    )


@contextlib.contextmanager
def running_standalone(directory: Path) -> Iterator[ZooKeeperServer]:
    """A standalone server, serving on entry and killed on exit."""
    server = standalone(directory)
    with _killed_on_exit([server]):
        server.start()
        server.wait_until_serving()
        yield server


@contextlib.contextmanager
def _killed_on_exit(servers: list[ZooKeeperServer]) -> Iterator[None]:
    try:
        yield
    finally:
        for server in servers:
            server.kill()


@pytest.fixture(scope="session")
def zookeeper(tmp_path_factory) -> Iterator[ZooKeeperServer]:
    """One standalone ZooKeeper shared by the whole session; tests separate by path prefix."""
    with running_standalone(tmp_path_factory.mktemp("zookeeper")) as server:
        yield server


@pytest.fixture
def zookeeper_ensemble(tmp_path_factory) -> Iterator[Ensemble]:
    """A fresh 3-node ensemble per test, since tests that use it kill its members."""
    members = ensemble(tmp_path_factory.mktemp("zookeeper-ensemble"))
    with _killed_on_exit(members.nodes):
        for node in members.nodes:
            node.start()
        members.wait_for_quorum()
        yield members
