"""What a local core runs: one daemon per config file of a directory, in start order, with the
overrides the command line asks for (store, transport, free ports), written back as TOML.

    configs/local/pgw.toml        -> python -m epc.pgw
    configs/local/sgw.toml        -> python -m epc.sgw
    configs/local/mme-*.toml      -> python -m epc.mme   (one instance per file, sorted)
    configs/local/echo-agent.toml -> python -m echo_agent

Each file is a complete daemon config of its own (`epc-mme --config configs/local/mme-1.toml`
works without this module); the plan reads it, changes only what it is told to, and writes the
effective file into the run directory, so what runs is always on disk to read.
"""

from __future__ import annotations

import json
import socket
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from epc.sctp import kernel_has_sctp

StoreBackend = Literal["sqlite", "zookeeper"]
Transport = Literal["auto", "sctp", "tcp"]


class PlanError(Exception):
    """The config directory or the overrides cannot make a local core (exit 2)."""


@dataclass(frozen=True)
class Daemon:
    """One child: its name in logs, the module it runs and its effective config."""

    name: str
    module: str
    config: dict[str, Any]

    @property
    def file_name(self) -> str:
        """The file it is read from, so a written plan is itself a config directory."""
        return "echo-agent.toml" if self.role == "agent" else f"{self.name}.toml"

    @property
    def role(self) -> str:
        return {"epc.pgw": "pgw", "epc.sgw": "sgw", "epc.mme": "mme"}.get(self.module, "agent")


@dataclass(frozen=True)
class Overrides:
    """What the command line changes in every daemon's config; None keeps the file's value."""

    store: StoreBackend | None = None
    sqlite_path: Path | None = None
    sqlite_synchronous: str | None = None
    zookeeper_hosts: tuple[str, ...] | None = None
    deployment: str | None = None
    transport: Transport = "auto"
    log_level: str | None = None
    log_format: str | None = None
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per role ("mme", "sgw", ...): dotted key -> value, set last (benchmarks, tests)."""


@dataclass(frozen=True)
class Plan:
    daemons: tuple[Daemon, ...]
    sctp_on_host: bool

    @property
    def agent(self) -> Daemon:
        return next(daemon for daemon in self.daemons if daemon.role == "agent")

    @property
    def mmes(self) -> list[Daemon]:
        return [daemon for daemon in self.daemons if daemon.role == "mme"]

    def s1_endpoint(self) -> tuple[str, int, str]:
        """(host to connect to, port, transport) of the agent's S1 listener."""
        s1 = self.agent.config.get("s1", {})
        host = s1.get("host", "0.0.0.0")
        return (
            ("127.0.0.1" if host in ("0.0.0.0", "::") else host),
            s1.get("port", 36412),
            (s1.get("transport", "sctp")),
        )

    def write(self, directory: Path) -> dict[str, Path]:
        """The effective config files, one per daemon: name -> path."""
        directory.mkdir(parents=True, exist_ok=True)
        paths = {}
        for daemon in self.daemons:
            path = directory / daemon.file_name
            path.write_text(dump_toml(daemon.config))
            paths[daemon.name] = path
        return paths

    def with_free_ports(self) -> Plan:
        """Every listening port replaced by one free now: one GTP-C port for every GTP-C node
        (each has its own address, and the SGW knows one MME port), a TCP port per MME's agent
        listener and one for the agent's S1. For tests and benchmarks beside a running core."""
        addresses = sorted(
            daemon.config.get("s11" if daemon.role == "mme" else "gtpc", {}).get(
                "address", "127.0.0.1"
            )
            for daemon in self.daemons
            if daemon.role != "agent"
        )
        gtpc = _free_udp_port(addresses)
        agent_ports = iter(_free_tcp_ports(len(self.mmes) + 1))
        daemons, endpoints = [], []
        for daemon in self.daemons:
            config = json.loads(json.dumps(daemon.config))
            if daemon.role in ("pgw", "sgw"):
                _set(config, "gtpc.port", gtpc)
                _set(config, "s5.pgw_port" if daemon.role == "sgw" else "s5.sgw_port", gtpc)
                if daemon.role == "sgw":
                    _set(config, "s11.mme_port", gtpc)
            elif daemon.role == "mme":
                port = next(agent_ports)
                _set(config, "agents.port", port)
                _set(config, "s11.port", gtpc)
                sgw_host = config.get("s11", {}).get("sgw", "127.0.0.1").rsplit(":", 1)[0]
                _set(config, "s11.sgw", f"{sgw_host}:{gtpc}")
                endpoints.append(f"{config.get('agents', {}).get('host', '127.0.0.1')}:{port}")
            else:
                _set(config, "s1.port", next(agent_ports))
                _set(config, "s1.host", "127.0.0.1")
                config["core"] = {
                    **config.get("core", {}),
                    "groups": [{"name": "local", "endpoints": endpoints}],
                }
            daemons.append(replace(daemon, config=config))
        return replace(self, daemons=tuple(daemons))


def load_plan(directory: Path, overrides: Overrides = Overrides()) -> Plan:
    """The daemons of `directory` with `overrides` applied; PlanError names what is wrong."""
    files = _files(directory)
    sctp = kernel_has_sctp()
    daemons = []
    for name, module, path in files:
        try:
            config = tomllib.loads(path.read_text())
        except (OSError, tomllib.TOMLDecodeError) as error:
            raise PlanError(f"{path}: {error}") from None
        daemon = Daemon(name, module, config)
        daemons.append(replace(daemon, config=_overridden(daemon, overrides, sctp, directory)))
    return Plan(tuple(daemons), sctp)


def _files(directory: Path) -> list[tuple[str, str, Path]]:
    mmes = sorted(directory.glob("mme*.toml"))
    wanted = [
        ("pgw", "epc.pgw", directory / "pgw.toml"),
        ("sgw", "epc.sgw", directory / "sgw.toml"),
        *[(path.stem, "epc.mme", path) for path in mmes],
        ("agent", "echo_agent", directory / "echo-agent.toml"),
    ]
    missing = [str(path) for _, _, path in wanted if not path.is_file()]
    if missing or not mmes:
        raise PlanError(
            f"{directory}: needs pgw.toml, sgw.toml, mme*.toml and echo-agent.toml; "
            f"missing {', '.join(missing) or 'mme*.toml'}"
        )
    return wanted


def _overridden(daemon: Daemon, overrides: Overrides, sctp: bool, directory: Path) -> dict:
    config = json.loads(json.dumps(daemon.config))
    if overrides.deployment is not None and daemon.role != "agent":
        config["deployment"] = overrides.deployment
    if overrides.log_level is not None:
        _set(config, "log.level", overrides.log_level)
    if overrides.log_format is not None:
        _set(config, "log.format", overrides.log_format)
    if daemon.role == "agent":
        s1 = config.setdefault("s1", {})
        if overrides.transport != "auto":
            s1["transport"] = overrides.transport
        elif s1.get("transport", "sctp") == "sctp" and not sctp:
            s1["transport"] = "tcp"
    else:
        _store(config, overrides, directory)
    for key, value in overrides.tables.get(daemon.role, {}).items():
        _set(config, key, value)
    return config


def _store(config: dict, overrides: Overrides, directory: Path) -> None:
    store = config.setdefault("store", {})
    if overrides.store is not None:
        store["backend"] = overrides.store
    sqlite = store.setdefault("sqlite", {})
    if overrides.sqlite_path is not None:
        sqlite["path"] = str(overrides.sqlite_path.absolute())
    elif "path" in sqlite:
        # Relative to where the local core runs, not to the run directory: one shared file.
        sqlite["path"] = str(Path(sqlite["path"]).absolute())
    if overrides.sqlite_synchronous is not None:
        sqlite["synchronous"] = overrides.sqlite_synchronous
    if overrides.zookeeper_hosts is not None:
        store.setdefault("zookeeper", {})["hosts"] = list(overrides.zookeeper_hosts)


def _set(config: dict, dotted: str, value: Any) -> None:
    *tables, key = dotted.split(".")
    for table in tables:
        config = config.setdefault(table, {})
    config[key] = value


def _free_udp_port(addresses: list[str]) -> int:
    """A UDP port free on every one of `addresses` right now."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind((addresses[0], 0))
            port = probe.getsockname()[1]
            if all(_udp_free(address, port) for address in addresses[1:]):
                return port
    raise PlanError("no UDP port free on every GTP-C address")


def _udp_free(address: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind((address, port))
        except OSError:
            return False
    return True


def _free_tcp_ports(count: int) -> list[int]:
    probes = [socket.socket() for _ in range(count)]
    try:
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [probe.getsockname()[1] for probe in probes]
    finally:
        for probe in probes:
            probe.close()


# --- TOML out (tomllib only reads) -------------------------------------------------------------


def dump_toml(document: dict[str, Any]) -> str:
    """`document` as TOML text: plain keys first, then tables and arrays of tables."""
    return "\n".join(_table_lines(document, ())) + "\n"


def _table_lines(table: dict[str, Any], path: tuple[str, ...]) -> Iterator[str]:
    for key, value in table.items():
        if not isinstance(value, dict) and not _is_table_array(value):
            yield f"{_key(key)} = {_value(value)}"
    for key, value in table.items():
        if isinstance(value, dict):
            yield f"\n[{'.'.join(map(_key, (*path, key)))}]"
            yield from _table_lines(value, (*path, key))
        elif _is_table_array(value):
            for item in value:
                yield f"\n[[{'.'.join(map(_key, (*path, key)))}]]"
                yield from _table_lines(item, (*path, key))


def _is_table_array(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def _key(key: str) -> str:
    return key if key.replace("_", "").replace("-", "").isalnum() else json.dumps(key)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_value(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + "}"
    raise PlanError(f"cannot write {value!r} as TOML")
