"""kill -9 of the serving MME instance at each step of an attach, with real processes
(harness/core.py): the agent sends the UE's request in flight to the other instance, which
finds the step's recorded reply (or runs it again with the same request ID), so the UE sees
one attach that succeeds, no message twice, and the gateways hold one session.

Each test stops the instance at one place of its own requests (harness/mme_kill_point.py),
counted, not timed:
- "applied" n: the n-th UE request of the attach was applied and committed, its reply not
  yet sent: 1 Attach Request, 2 Authentication Response, 3 Security Mode Complete, 4 Initial
  Context Setup Response, 5 Attach Complete;
- "s11" 1: the SGW answered the Create Session, the step has not committed: the retry
  elsewhere must send the SGW the same request, the MME's S11 F-TEID included.
"""

from __future__ import annotations

import pytest
from core_checks import IMSI, assert_attached, assert_detached, attached, ok

pytestmark = [pytest.mark.e2e, pytest.mark.fault, pytest.mark.mme]

KILL_POINTS = {
    "after the Attach Request": {"applied": 1},
    "after the Authentication Response": {"applied": 2},
    "after Security Mode Complete": {"applied": 3},
    "after the Initial Context Setup Response": {"applied": 4},
    "after Attach Complete": {"applied": 5},
    "between Create Session and its commit": {"s11": 1},
}


@pytest.mark.parametrize("kill_after", KILL_POINTS.values(), ids=KILL_POINTS.keys())
async def test_the_attach_survives_a_kill_of_the_serving_mme(whole_core, kill_after):
    running = await whole_core(kill_after=kill_after)
    core, enb = running.core, running.enb

    await attached(running, IMSI)

    assert len(core.killed_mmes()) == 1, core.logs()
    killed = core.mmes[core.killed_mmes()[0]]
    assert killed.process.returncode == -9
    assert killed.matching("kill point reached")
    result_ues = enb.ue(IMSI)
    assert result_ues.registered and enb.violations == []
    await assert_attached(running, IMSI)
    sgw = await core.sgw_ue(IMSI)
    assert sgw is not None and len(sgw.state.sessions) == 1

    ok(await enb.detach(IMSI))  # the survivor serves what follows
    await assert_detached(running, IMSI)
