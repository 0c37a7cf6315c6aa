"""An in-process core for the gateway tests: a PGW and two SGW instances (each its own GTP-C
node on loopback, all on one store, as separate processes would be) and a test MME. The
daemons themselves are exercised in test_gateway_daemons.py; here every procedure can be
driven and its context, indexes and forwarding records read back directly."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import msgspec
from harness.gateway_process import FAST_TIMERS, LOOPBACK, TestMme

from epc.forwarding import Change, list_rules
from epc.gtpc.gateway import Gateway, start_gateway
from epc.pgw.config import PgwConfig
from epc.pgw.context import PgwUe
from epc.pgw.service import PgwService
from epc.sgw.config import SgwConfig
from epc.sgw.context import SgwUe
from epc.sgw.service import SgwService
from epc.store import Store


@dataclass
class Recorder:
    """A ForwardingListener that keeps what it is told."""

    changes: list[Change] = field(default_factory=list)

    def forwarding_changed(self, changes: list[Change]) -> None:
        self.changes += changes


def gtpc_table(**overrides: Any) -> dict[str, Any]:
    return {
        "address": LOOPBACK,
        "port": 0,
        "t3_response_s": FAST_TIMERS.t3_response_s,
        "n3_requests": FAST_TIMERS.n3_requests,
        "echo_interval_s": FAST_TIMERS.echo_interval_s,
        **overrides,
    }


@dataclass
class Core:
    store: Store
    deployment: str
    mme: TestMme
    pgw: Gateway
    sgws: list[Gateway]
    pgw_config: PgwConfig
    sgw_config: SgwConfig
    forwarding: Recorder
    paging_failures: list[str]
    paging_failed: asyncio.Event

    @property
    def sgw(self) -> Gateway:
        return self.sgws[0]

    def sgw_peer(self, index: int = 0):
        return self.sgws[index].node.address

    async def sgw_ue(self, imsi: str) -> SgwUe | None:
        return await self.sgw.frontend.read(imsi)

    async def pgw_ue(self, imsi: str) -> PgwUe | None:
        return await self.pgw.frontend.read(imsi)

    async def index(self, kind: str) -> list[str]:
        return await self.store.children(f"/{self.deployment}/index/{kind}")

    async def rules(self, gateway: str):
        return {rule.key: rule for rule in await list_rules(self.store, self.deployment, gateway)}

    async def close(self) -> None:
        for gateway in [*self.sgws, self.pgw]:
            await gateway.node.close()
        await self.mme.close()


def pgw_config(deployment: str, **sections: Any) -> PgwConfig:
    table = {
        "deployment": deployment,
        "gtpc": gtpc_table(),
        "apn": [
            {"name": "internet", "pool": "10.45.0.0/24", "reserved": ["10.45.0.1"]},
            {"name": "ims", "pool": "10.46.0.0/30"},
        ],
        "policy": [
            {
                "name": "voice",
                "apn": "internet",
                "qci": 1,
                "gbr_uplink_kbps": 128,
                "gbr_downlink_kbps": 128,
                "mbr_uplink_kbps": 128,
                "mbr_downlink_kbps": 128,
                "packet_filters": [
                    {
                        "remote_network": "10.200.0.0/16",
                        "protocol": 17,
                        "remote_ports": [5060, 5061],
                    },
                ],
            }
        ],
        **sections,
    }
    return msgspec.convert(table, PgwConfig)


async def start_core(
    store: Store,
    deployment: str,
    *,
    sgw_count: int = 2,
    pgw_sections: dict[str, Any] | None = None,
    sgw_gtpc: dict[str, Any] | None = None,
) -> Core:
    mme = await TestMme.open()
    pgw_cfg = pgw_config(deployment, **(pgw_sections or {}))
    forwarding = Recorder()
    pgw = await start_gateway(
        "pgw",
        pgw_cfg,
        store,
        recovery=1,
        state_type=PgwUe,
        build_service=partial(PgwService, config=pgw_cfg),
        listener=forwarding,
    )
    sgw_cfg = msgspec.convert(
        {
            "deployment": deployment,
            "gtpc": gtpc_table(**(sgw_gtpc or {})),
            "s11": {"mme_port": mme.address[1]},
            "s5": {"pgw_port": pgw.node.address[1]},
        },
        SgwConfig,
    )
    paging_failures: list[str] = []
    paging_failed = asyncio.Event()

    def on_paging_failed(imsi: str) -> None:
        paging_failures.append(imsi)
        paging_failed.set()

    sgws = []
    for _ in range(sgw_count):
        sgws.append(
            await start_gateway(
                "sgw",
                sgw_cfg,
                store,
                recovery=1,
                state_type=SgwUe,
                build_service=partial(
                    SgwService, config=sgw_cfg, on_paging_failed=on_paging_failed
                ),
                listener=forwarding,
            )
        )
    # The PGW reaches the SGWs' S5-C on their port: all SGW instances share the first's port
    # in a real core (2123); here the PGW talks to the first SGW instance.
    pgw.service.config = msgspec.structs.replace(
        pgw_cfg, s5=msgspec.convert({"sgw_port": sgws[0].node.address[1]}, type(pgw_cfg.s5))
    )
    return Core(
        store,
        deployment,
        mme,
        pgw,
        sgws,
        pgw_cfg,
        sgw_cfg,
        forwarding,
        paging_failures,
        paging_failed,
    )
