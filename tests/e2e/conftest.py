"""Fixtures of the whole-core tests: the daemons of harness/core.py on the session's
ZooKeeper under a deployment of the test's own, and enbsim's eNB in front of the agent
holding every subscriber of `SUBSCRIBERS` as a UE."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from core_checks import ENB, SUBSCRIBERS, Running
from harness.core import start_core

from enbsim.enb import EnbConfig
from enbsim.simulator import Simulator, UserPlaneSettings


@pytest.fixture
def deployment(root) -> str:
    return root.lstrip("/")


@pytest.fixture
async def whole_core(zookeeper, deployment, tmp_path) -> AsyncIterator[Callable[..., Awaitable]]:
    """`await whole_core(**start_core_options)`: the daemons, and a connected eNB (`enb`
    its config, `enb_user_plane` its GTP-U endpoint's settings, none by default)."""
    cleanups: list[Callable[[], Awaitable[Any]]] = []

    async def start(
        *,
        enb: EnbConfig = ENB,
        enb_user_plane: UserPlaneSettings | None = None,
        **options: Any,
    ) -> Running:
        core = await start_core(zookeeper.hosts, deployment, tmp_path, SUBSCRIBERS, **options)
        cleanups.append(core.close)
        simulator = Simulator()
        await simulator.__aenter__()
        cleanups.append(lambda: simulator.__aexit__(None, None, None))
        simulated = simulator.enb(
            enb,
            mme=("127.0.0.1", core.s1_port),
            transport="tcp",
            user_plane=enb_user_plane,
        )
        await simulated.connect()
        for subscriber in SUBSCRIBERS:
            simulated.add_ue(subscriber)
        return Running(core, simulated, simulator)

    yield start
    for cleanup in reversed(cleanups):
        await cleanup()
