"""A whole core as real processes on loopback, for the e2e and fault tests:

    enbsim --TCP--> echo-agent --ECHO--> epc-mme x2 --S11--> epc-sgw --S5--> epc-pgw
                                              \\____________ ZooKeeper ____________/

Every daemon is started by the harness that owns its kind (`harness.agent_process`,
`harness.mme_process`, `harness.gateway_process`), all on the test session's ZooKeeper under a
deployment of the test's own; subscribers are written to the store the way `epcctl subscriber
import` does. The two MME instances share the deployment and the store and are one group of
the agent's, so a kill -9 of the serving one moves the UE's requests to the other.

    core = await start_core(zookeeper.hosts, deployment, tmp_path, SUBSCRIBERS)
    enb = simulator.enb(ENB, mme=("127.0.0.1", core.s1_port), transport="tcp")
    ...
    await core.mme_context(imsi)          # the MME's record, decoded
    await core.kill_mme(0)                # SIGKILL, no drain
    await core.close()                    # SIGTERM to every daemon, in reverse start order

`user_plane` turns forwarding on in both gateways (`UserPlaneOptions`: their GTP-U addresses
and the PGW's SGi TUN; root only).

`kill_after` starts the MMEs under harness/mme_kill_point.py, which kills the instance at a
chosen point of the requests it serves (the fault tests).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
from harness.agent_process import TIMEOUT_S, AgentProcess, agent_config
from harness.gateway_process import LOOPBACK, GatewayProcess, free_udp_port, gateway_config
from harness.mme_process import MmeDaemon, mme_config_text

from epc.algorithm1 import Record
from epc.epcctl.subscribers import import_subscribers
from epc.forwarding import ForwardingRule, list_rules
from epc.mme.context import UeContext, ue_path
from epc.pgw.context import PgwUe
from epc.sgw.context import SgwUe
from epc.store import Store
from epc.subscriber import Subscriber

AGENT_IDENTITY = "enb-core"
GTPC_TIMERS = {"t3_response_s": 0.5, "n3_requests": 3, "echo_interval_s": 3600.0}
UE_POOL = "10.45.0.0/24"
PGW_APNS = [{"name": "internet", "pool": UE_POOL, "reserved": ["10.45.0.1"]}]
MME_TABLES: dict[str, dict[str, Any]] = {"s11": {"timeout_s": 0.5, "tries": 3}}
AGENT_RETRANSMIT: dict[str, Any] = {}
POLL_S = 0.02
COUNTERS_INTERVAL_S = 0.05


@dataclass(frozen=True)
class UserPlaneOptions:
    """`[userplane] enabled` in both gateways: GTP-U on `sgw_address` and `pgw_address` (port
    2152 each, hence two addresses), the PGW's SGi a TUN `sgi_device`, moved into the
    namespace `sgi_netns` when given (where the test's "internet" is routed). With
    `sgw_counters` the SGW writes its user plane's counters there (JSON, every
    `COUNTERS_INTERVAL_S`; `epc.userplane.counters.read_snapshot` reads them)."""

    sgw_address: str
    pgw_address: str
    sgi_device: str
    sgi_netns: str | None = None
    sgw_counters: str | None = None

    def sections(self, gateway: str) -> dict[str, dict[str, Any]]:
        address = self.sgw_address if gateway == "sgw" else self.pgw_address
        sections: dict[str, dict[str, Any]] = {
            "gtpu": {"address": address},
            "userplane": {"enabled": True},
        }
        if gateway == "sgw" and self.sgw_counters is not None:
            sections["userplane"].update(
                counters_path=self.sgw_counters, counters_interval_s=COUNTERS_INTERVAL_S
            )
        if gateway == "pgw":
            sgi: dict[str, Any] = {"device": self.sgi_device}
            if self.sgi_netns is not None:
                sgi["netns"] = self.sgi_netns
            sections["sgi"] = sgi
        return sections


@dataclass
class Core:
    """The running daemons and a store client of the test's own for reading what they wrote."""

    deployment: str
    zookeeper: str
    directory: Path
    store: Store
    pgw: GatewayProcess | None = None
    sgw: GatewayProcess | None = None
    mmes: list[MmeDaemon] = field(default_factory=list)
    agent: AgentProcess | None = None
    s1_port: int = 0
    store_path: Path | None = None
    """The SQLite file every daemon shares, when the core runs without ZooKeeper."""

    # --- faults ----------------------------------------------------------------------------

    async def kill_mme(self, index: int) -> None:
        """SIGKILL instance `index`: no drain, the kernel resets its agent connection."""
        await self.mmes[index].kill()

    def killed_mmes(self) -> list[int]:
        """The instances that are no longer running (killed, or killed themselves)."""
        return [i for i, mme in enumerate(self.mmes) if mme.process.returncode is not None]

    async def mme_logged(
        self, event: str, *, count: int = 1, timeout_s: float = TIMEOUT_S, **fields: Any
    ) -> None:
        """Wait until the MME instances together logged `event` (with these fields) `count`
        times: a step's log lines are written once its store write committed."""

        def total() -> int:
            return sum(len(mme.matching(event, **fields)) for mme in self.mmes)

        try:
            async with asyncio.timeout(timeout_s):
                while total() < count:
                    waits = [
                        asyncio.ensure_future(
                            mme.wait_for(
                                event, count=len(mme.matching(event, **fields)) + 1, **fields
                            )
                        )
                        for mme in self.mmes
                        if mme.process.returncode is None
                    ]
                    _, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                    for waiting in pending:
                        waiting.cancel()
                    await asyncio.gather(*waits, return_exceptions=True)
        except TimeoutError:
            raise AssertionError(
                f"the MMEs logged {event!r} {fields} {total()} times, not {count}:\n" + self.logs()
            ) from None

    async def until(
        self, condition: Callable[[], Awaitable[bool]], what: str, timeout_s: float = TIMEOUT_S
    ) -> None:
        """Wait until `condition` (a read of the store) holds. Some steps log nothing once
        they commit (an Initial Context Setup Response's Modify Bearer, a gateway's request),
        and the store has no watches behind its interface, so this reads it again every
        POLL_S: a bounded wait on a condition, not a sleep standing in for one."""
        try:
            async with asyncio.timeout(timeout_s):
                while not await condition():  # noqa: ASYNC110 - no store watch to wait on
                    await asyncio.sleep(POLL_S)
        except TimeoutError:
            raise AssertionError(f"not within {timeout_s} s: {what}\n{self.logs()}") from None

    # --- the store, as the daemons left it -------------------------------------------------

    async def mme_context(self, imsi: str) -> Record[UeContext] | None:
        return await self._record(ue_path(self.deployment, imsi), UeContext)

    async def sgw_ue(self, imsi: str) -> Record[SgwUe] | None:
        return await self._record(f"/{self.deployment}/sgw/ue/{imsi}", SgwUe)

    async def pgw_ue(self, imsi: str) -> Record[PgwUe] | None:
        return await self._record(f"/{self.deployment}/pgw/ue/{imsi}", PgwUe)

    async def forwarding(self, gateway: str, imsi: str) -> list[ForwardingRule]:
        rules = await list_rules(self.store, self.deployment, gateway)  # type: ignore[arg-type]
        return [rule for rule in rules if rule.imsi == imsi]

    async def index(self, kind: str) -> list[str]:
        """The names under /<deployment>/index/<kind> (teid, ip, s1ap, guti, mme-s11, ...)."""
        return await self.store.children(f"/{self.deployment}/index/{kind}")

    async def _record(self, path: str, state_type: type) -> Any:
        node = await self.store.get(path)
        if node is None:
            return None
        return msgspec.msgpack.decode(node.value, type=Record[state_type])

    # --- lifecycle -------------------------------------------------------------------------

    def logs(self) -> str:
        """The tail of every daemon's log, for a failing assertion's message."""
        named = [("agent", self.agent), ("sgw", self.sgw), ("pgw", self.pgw)]
        named += [(f"mme-{i}", mme) for i, mme in enumerate(self.mmes)]
        return "\n".join(
            f"--- {name}\n{process.log_text()}" for name, process in named if process is not None
        )

    async def close(self) -> None:
        """SIGTERM every daemon still running, the agent first (it faces the eNB), then the
        MMEs, the SGW and the PGW; SIGKILL whatever does not exit."""
        processes = [self.agent, *self.mmes, self.sgw, self.pgw]
        for process in processes:
            if process is None or process.process.returncode is not None:
                if process is not None:
                    await process.kill()  # reap it and finish its log reader
                continue
            try:
                await process.terminate(timeout_s=15.0)
            except TimeoutError:
                await process.kill()
        await self.store.close()


async def provision(store: Store, deployment: str, subscribers: Sequence[Subscriber]) -> None:
    """Write the subscriber records, as `epcctl subscriber import --replace` does."""
    await import_subscribers(store, deployment, subscribers, replace=True)


async def start_core(
    zookeeper: str,
    deployment: str,
    directory: Path,
    subscribers: Sequence[Subscriber] = (),
    *,
    mme_count: int = 2,
    kill_after: dict[str, int] | None = None,
    pause_before_commit: str | None = None,
    mme_tables: dict[str, dict[str, Any]] | None = None,
    store_path: Path | None = None,
    transport: str = "tcp",
    user_plane: UserPlaneOptions | None = None,
) -> Core:
    """PGW, SGW, the MMEs, then the agent, each once ready; the subscribers provisioned
    first. `kill_after` ({"applied": n} or {"s11": n}) arms every MME's kill point;
    `pause_before_commit` (a log event) every MME's pause point (harness/mme_pause_point.py).
    With `store_path` every daemon shares that SQLite file instead of ZooKeeper (`zookeeper`
    is then ignored: the VM tier has no JVM to spare); `transport` is the agent's eNB side
    ("tcp", or "sctp" where the kernel has it); `user_plane` turns forwarding on."""
    if store_path is not None:
        from epc.store.sqlite import SqliteStore

        store: Store = await SqliteStore.open(store_path, synchronous="normal")
    else:
        from epc.store.zookeeper import ZooKeeperStore

        store = await ZooKeeperStore.connect(zookeeper)
    core = Core(deployment, zookeeper, directory, store, store_path=store_path)
    try:
        await provision(store, deployment, subscribers)
        pgw_port, sgw_port = free_udp_port(), free_udp_port()
        mme_s11_ports = [free_udp_port() for _ in range(mme_count)]
        core.pgw = await _gateway(
            core, "epc.pgw", "pgw", pgw_port, {"s5": {"sgw_port": sgw_port}}, user_plane
        )
        core.sgw = await _gateway(
            core,
            "epc.sgw",
            "sgw",
            sgw_port,
            # Requests the SGW starts go to one MME's port: F-TEIDs carry no port.
            {"s11": {"mme_port": mme_s11_ports[0]}, "s5": {"pgw_port": pgw_port}},
            user_plane,
        )
        for index, s11_port in enumerate(mme_s11_ports):
            tables = {**MME_TABLES, **(mme_tables or {})}
            tables["s11"] = {**tables.get("s11", {}), "port": s11_port}
            text = mme_config_text(
                name=f"mme-{index}",
                deployment=deployment,
                zookeeper_hosts=None if store_path else zookeeper.split(","),
                store_path=store_path,
                sgw=f"{LOOPBACK}:{sgw_port}",
                pgw=LOOPBACK,
                tables={"agents": {"host": LOOPBACK}, **tables},
            )
            mme = await MmeDaemon.start(
                text,
                directory,
                name=f"mme-{index}",
                kill_after=kill_after,
                pause_before_commit=pause_before_commit,
            )
            core.mmes.append(mme)
        endpoints = [await mme.endpoint() for mme in core.mmes]
        text = agent_config(
            [("dc1", endpoints)],
            identity=AGENT_IDENTITY,
            retransmit=AGENT_RETRANSMIT,
            transport=transport,
        )
        core.agent = await AgentProcess.start(text, directory)
        core.s1_port = await core.agent.s1_port()
    except BaseException:
        await core.close()
        raise
    return core


async def _gateway(
    core: Core,
    module: str,
    name: str,
    port: int,
    sections: dict[str, dict[str, Any]],
    user_plane: UserPlaneOptions | None = None,
) -> GatewayProcess:
    if user_plane is not None:
        sections = {**sections, **user_plane.sections(name)}
    text = gateway_config(
        deployment=core.deployment,
        zookeeper=core.zookeeper,
        gtpc={"address": LOOPBACK, "port": port, **GTPC_TIMERS},
        sections=sections,
        arrays={"apn": PGW_APNS} if name == "pgw" else None,
        store_path=core.store_path,
    )
    process = await GatewayProcess.start_module(module, text, core.directory, name)
    await process.listening()
    return process
