"""Every UE procedure of the MME end to end, through real processes: enbsim -> echo-agent ->
two epc-mme instances -> epc-sgw -> epc-pgw, on a real ZooKeeper (harness/core.py).

Each test checks what the UE sees (enbsim's strict checks: the procedure is ok and nothing
was violated) and what the store holds afterwards: the MME context's state, exactly one SGW
and one PGW session while attached and none after detach, the forwarding records of both
gateways, and one UE address held while attached and freed after.
"""

from __future__ import annotations

import pytest
from core_checks import (
    ENB,
    IMSI,
    assert_attached,
    assert_detached,
    attached,
    bearer_towards_enb,
    ecm_is,
    idle,
    ok,
)

from epc.mme.context import EcmState

pytestmark = [pytest.mark.e2e, pytest.mark.mme]


async def test_attach_then_detach_leaves_nothing_held(whole_core):
    running = await whole_core()
    enb = running.enb

    await attached(running, IMSI)
    await assert_attached(running, IMSI)

    ok(await enb.detach(IMSI))
    await enb.until(lambda: not enb.ue(IMSI).connected)
    await assert_detached(running, IMSI)
    assert enb.violations == []


async def test_switch_off_detach_frees_the_session_and_the_address(whole_core):
    running = await whole_core()
    await attached(running, IMSI)

    ok(await running.enb.detach(IMSI, switch_off=True))
    await running.core.mme_logged("Detach Request", imsi=IMSI)
    await assert_detached(running, IMSI)
    assert running.enb.violations == [], running.core.logs()


async def test_release_then_service_request_brings_the_bearer_back(whole_core):
    running = await whole_core()
    await attached(running, IMSI)
    before = await running.core.forwarding("sgw", IMSI)

    await idle(running, IMSI)
    await assert_attached(running, IMSI, connected=False)

    ok(await running.enb.service_request(IMSI))
    await running.core.until(lambda: bearer_towards_enb(running, IMSI), "S1-U back at the eNB")
    await assert_attached(running, IMSI)
    after = await running.core.forwarding("sgw", IMSI)
    assert after[0].uplink_teid == before[0].uplink_teid  # the same session, not a new one
    assert running.enb.violations == []


async def test_periodic_tau_from_idle_keeps_the_ue_registered_and_idle(whole_core):
    running = await whole_core()
    await attached(running, IMSI)
    await idle(running, IMSI)

    ok(await running.enb.tracking_area_update(IMSI))
    await running.core.until(lambda: ecm_is(running, IMSI, EcmState.IDLE), "idle after TAU")
    await running.core.mme_logged("Tracking Area Update Request", imsi=IMSI)
    await assert_attached(running, IMSI, connected=False)
    assert running.enb.violations == []


async def test_tau_with_the_active_flag_sets_the_bearer_up(whole_core):
    running = await whole_core()
    await attached(running, IMSI)
    await idle(running, IMSI)

    ok(await running.enb.tracking_area_update(IMSI, active=True))
    await running.core.until(lambda: bearer_towards_enb(running, IMSI), "S1-U back at the eNB")
    await assert_attached(running, IMSI)
    assert running.enb.ue(IMSI).connected
    assert running.enb.violations == []


async def test_attach_with_the_guti_after_a_detach(whole_core):
    running = await whole_core()
    await attached(running, IMSI)
    ok(await running.enb.detach(IMSI))
    await assert_detached(running, IMSI)

    await attached(running, IMSI, count=2, identity="guti")
    await assert_attached(running, IMSI)
    assert running.enb.violations == []


async def test_attach_of_a_registered_ue_replaces_its_session(whole_core):
    """Implicit reattach: the phone restarts (a fresh UE behind a restarted eNB) while the
    MME still holds it registered; the old PDN connection is deleted before the new one."""
    running = await whole_core()
    await attached(running, IMSI)
    await idle(running, IMSI)
    first = (await running.core.mme_context(IMSI)).state.pdn

    await running.enb.close()  # the eNB restarts: the agent resets it at the core
    running.enb = await running.another_enb(ENB)
    await attached(running, IMSI, count=2)
    await assert_attached(running, IMSI)
    now = (await running.core.mme_context(IMSI)).state.pdn
    assert first is not None and now is not None and now.sgw_s11 != first.sgw_s11
    assert running.enb.violations == []
