"""Real `epc-sgw` and `epc-pgw` processes on a real ZooKeeper, with a test MME and a recording
UDP relay on every hop:

    TestMme --(s11)--> relay --> SGW --(s5)--> relay --> PGW
    TestMme <--(s11 back)-- relay <-- SGW <--(s5 back)-- relay <-- PGW

Requests the SGW starts go to `s11.mme_port` = the "s11 back" relay, requests the PGW starts to
`s5.sgw_port` = the "s5 back" relay; answers come back the way their request went. Every
datagram of every hop is recorded for tshark."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec
from harness.gateway_process import (
    LOOPBACK,
    GatewayProcess,
    TestMme,
    UdpRelay,
    free_udp_port,
    gateway_config,
)

from epc.algorithm1 import Record
from epc.gtpc import Peer
from epc.pgw.context import PgwUe
from epc.sgw.context import SgwUe
from epc.store import Store

FAST_GTPC = {"t3_response_s": 0.5, "n3_requests": 3, "echo_interval_s": 3600.0}
PGW_APNS = [
    {"name": "internet", "pool": "10.45.0.0/24", "reserved": ["10.45.0.1"]},
    {"name": "ims", "pool": "10.46.0.0/24"},
]
PGW_POLICY = [
    {
        "name": "voice",
        "apn": "ims",
        "activate": "on-create",
        "delay_s": 0.2,
        "qci": 1,
        "gbr_uplink_kbps": 128,
        "gbr_downlink_kbps": 128,
        "mbr_uplink_kbps": 128,
        "mbr_downlink_kbps": 128,
        "packet_filters": [
            {"remote_network": "10.200.0.0/16", "protocol": 17, "remote_ports": [5060, 5061]}
        ],
    }
]


@dataclass
class DaemonCore:
    deployment: str
    zookeeper: str
    directory: Path
    store: Store
    mme: TestMme
    relays: dict[str, UdpRelay] = field(default_factory=dict)
    sgws: list[GatewayProcess] = field(default_factory=list)
    sgw_ports: list[int] = field(default_factory=list)
    pgw: GatewayProcess | None = None
    pgw_port: int = 0

    @property
    def s11(self) -> Peer:
        """Where the MME sends S11 requests: the relay in front of the first SGW."""
        return LOOPBACK, self.relays["s11"].port

    def sgw_direct(self, index: int) -> Peer:
        return LOOPBACK, self.sgw_ports[index]

    def datagrams(self) -> list[bytes]:
        return [data for relay in self.relays.values() for data in relay.datagrams]

    async def start_pgw(self, **gtpc: Any) -> GatewayProcess:
        self.pgw_port = self.pgw_port or free_udp_port()
        text = gateway_config(
            deployment=self.deployment,
            zookeeper=self.zookeeper,
            gtpc={"address": LOOPBACK, "port": self.pgw_port, **FAST_GTPC, **gtpc},
            sections={"s5": {"sgw_port": self.relays["s5 back"].port}},
            arrays={"apn": PGW_APNS, "policy": PGW_POLICY},
        )
        self.pgw = await GatewayProcess.start_module("epc.pgw", text, self.directory, "pgw")
        await self.pgw.listening()
        return self.pgw

    async def start_sgw(self, index: int, *, pgw_port: int | None = None, **gtpc: Any):
        port = self.sgw_ports[index]
        text = gateway_config(
            deployment=self.deployment,
            zookeeper=self.zookeeper,
            gtpc={"address": LOOPBACK, "port": port, **FAST_GTPC, **gtpc},
            sections={
                "s11": {"mme_port": self.relays["s11 back"].port},
                "s5": {"pgw_port": pgw_port or self.relays["s5"].port},
            },
        )
        process = await GatewayProcess.start_module("epc.sgw", text, self.directory, f"sgw-{index}")
        await process.listening()
        if index < len(self.sgws):
            self.sgws[index] = process
        else:
            self.sgws.append(process)
        return process

    async def sgw_ue(self, imsi: str) -> Record[SgwUe] | None:
        return await self._record(f"/{self.deployment}/sgw/ue/{imsi}", SgwUe)

    async def pgw_ue(self, imsi: str) -> Record[PgwUe] | None:
        return await self._record(f"/{self.deployment}/pgw/ue/{imsi}", PgwUe)

    async def _record(self, path: str, state_type: type):
        node = await self.store.get(path)
        if node is None:
            return None
        return msgspec.msgpack.decode(node.value, type=Record[state_type])

    async def index(self, kind: str) -> list[str]:
        return await self.store.children(f"/{self.deployment}/index/{kind}")

    async def close(self) -> None:
        for process in [*self.sgws, self.pgw]:
            if process is not None:
                await process.kill()
        for relay in self.relays.values():
            relay.close()
        await self.mme.close()
        await self.store.close()


async def start_daemon_core(
    zookeeper: str, deployment: str, directory: Path, *, sgw_count: int = 1
) -> DaemonCore:
    """Relays first (their targets are ports chosen now), then the PGW, then the SGWs."""
    from epc.store.zookeeper import ZooKeeperStore

    store = await ZooKeeperStore.connect(zookeeper)
    mme = await TestMme.open()
    core = DaemonCore(deployment, zookeeper, directory, store, mme)
    core.sgw_ports = [free_udp_port() for _ in range(max(sgw_count, 1))]
    core.pgw_port = free_udp_port()
    core.relays = {
        "s11": await UdpRelay.open((LOOPBACK, core.sgw_ports[0])),
        "s11 back": await UdpRelay.open(mme.address),
        "s5": await UdpRelay.open((LOOPBACK, core.pgw_port)),
        "s5 back": await UdpRelay.open((LOOPBACK, core.sgw_ports[0])),
    }
    try:
        await core.start_pgw()
        for index in range(sgw_count):
            await core.start_sgw(index)
    except BaseException:
        await core.close()
        raise
    return core
