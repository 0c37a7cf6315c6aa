"""Restart detection (TS 23.007 clause 18) between the gateways: a restarted PGW comes back with a
new Recovery value, the SGW's Echo sees it, and the SGW keeps its sessions (peers that keep
their contexts in the store, the default) or deletes them and tells the MME (peers that lose
them, `on_peer_restart = "delete"`)."""

from __future__ import annotations

import asyncio
from functools import partial

import msgspec
import pytest
from gateway_testbed import gtpc_table, start_core
from harness.gateway_process import (
    IMSI,
    create_session_request,
    modify_bearer_request,
    next_request_number,
    stamp,
)

from epc.codec.gtpv2c import CauseValue, DeleteBearerRequest, EchoRequest
from epc.gtpc.gateway import start_gateway
from epc.gtpc.recovery import advance_recovery
from epc.pgw.context import PgwUe
from epc.pgw.service import PgwService
from epc.store.memory import MemoryStore

pytestmark = pytest.mark.gateway

ECHO_EVERY = 0.2


async def restarted_pgw(core, recovery: int):
    """Stop the PGW's node and start a new PGW on the same port with `recovery`."""
    port = core.pgw.node.address[1]
    await core.pgw.node.close()
    config = msgspec.structs.replace(
        core.pgw.service.config,
        gtpc=msgspec.convert(gtpc_table(port=port), type(core.pgw.service.config.gtpc)),
    )
    core.pgw = await start_gateway(
        "pgw",
        config,
        core.store,
        recovery=recovery,
        state_type=PgwUe,
        build_service=partial(PgwService, config=config),
    )
    return core.pgw


async def learn_recovery(core) -> None:
    """Make sure the SGW knows the PGW's Recovery before the restart (its first Echo may
    still be on the way): one Echo of our own through the SGW's node."""
    node = core.sgw.node
    await node.request(core.pgw.node.address, EchoRequest(recovery=node.recovery))
    assert node.peer_recovery(core.pgw.node.address) == 1


def restart_seen(gateway) -> asyncio.Future:
    seen = asyncio.get_running_loop().create_future()
    react = gateway.node.on_peer_restarted

    def observe(peer, previous, current):
        react(peer, previous, current)
        if not seen.done():
            seen.set_result((peer, previous, current))

    gateway.node.on_peer_restarted = observe
    return seen


@pytest.fixture
async def echoing_core(request, deployment):
    store = MemoryStore()
    policy = getattr(request, "param", "keep")
    core = await start_core(
        store,
        deployment,
        sgw_count=1,
        sgw_gtpc={"echo_interval_s": ECHO_EVERY, "on_peer_restart": policy},
    )
    yield core
    await core.close()


async def attach(core) -> tuple[int, int]:
    n = next_request_number()
    created = await core.mme.request(core.sgw_peer(), create_session_request(stamp=stamp(n)))
    s11 = created.sender_fteid.teid
    await core.mme.request(core.sgw_peer(), modify_bearer_request(s11, stamp=stamp(n + 1)))
    return s11, n + 1


async def test_sgw_sees_the_new_recovery_and_keeps_sessions_of_a_stateless_pgw(echoing_core):
    core = echoing_core
    s11, n = await attach(core)
    await learn_recovery(core)
    seen = restart_seen(core.sgw)
    await restarted_pgw(core, recovery=2)
    async with asyncio.timeout(10):
        peer, previous, current = await seen
    assert (peer, previous, current) == (core.pgw.node.address, 1, 2)
    await core.sgw.service.drain()
    assert list((await core.sgw_ue(IMSI)).sessions) == [5]
    # The session goes on: a new location still reaches the (new) PGW, which has it.
    moved = modify_bearer_request(s11, cell=0x19B03, stamp=stamp(n + 1))
    response = await core.mme.request(core.sgw_peer(), moved)
    assert response.cause.value == CauseValue.REQUEST_ACCEPTED


@pytest.mark.parametrize("echoing_core", ["delete"], indirect=True)
async def test_sgw_deletes_sessions_of_a_pgw_that_lost_them_and_tells_the_mme(echoing_core):
    core = echoing_core
    await attach(core)
    await learn_recovery(core)
    seen = restart_seen(core.sgw)
    await restarted_pgw(core, recovery=2)
    async with asyncio.timeout(10):
        await seen
        told = (await core.mme.next_request()).message
        await core.sgw.service.drain()
    assert isinstance(told, DeleteBearerRequest)
    assert told.linked_ebi == 5 and told.cause.value == 8  # reactivation requested
    assert (await core.sgw_ue(IMSI)).sessions == {}
    assert await core.rules("sgw") == {}


async def test_recovery_counter_advances_at_each_start_and_rolls_over(store, deployment):
    values = [await advance_recovery(store, deployment, "pgw-a") for _ in range(3)]
    assert values == [0, 1, 2]
    assert await advance_recovery(store, deployment, "pgw-b") == 0
    await store.put(f"/{deployment}/gtpc/recovery/pgw-a", b"255", 2)
    assert await advance_recovery(store, deployment, "pgw-a") == 0
