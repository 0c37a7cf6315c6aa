"""The ECHO paper's Figure 3c with real processes (harness/core.py): an old Detach, delayed at
a slow MME instance, arrives after a newer Attach has been applied; Algorithm 1 drops it and
the UE stays attached in the store.

The instance is made slow at one place, not by timing: every MME runs under
harness/mme_pause_point.py, which holds a request whose step logged "Detach Request" after
the step ran (its Delete Session already at the SGW) and before its write to the store, until
the test sends SIGUSR1. The Detach is a switch-off one, so the UE does not wait for it and
attaches again at once, on a new S1 connection with a newer request ID.
"""

from __future__ import annotations

import os
import signal

import pytest
from core_checks import IMSI, assert_attached, attached, ok

pytestmark = [pytest.mark.e2e, pytest.mark.fault, pytest.mark.mme]


async def test_a_detach_delayed_at_a_slow_instance_is_dropped_after_a_newer_attach(whole_core):
    running = await whole_core(pause_before_commit="Detach Request")
    core, enb = running.core, running.enb
    await attached(running, IMSI)

    ok(await enb.detach(IMSI, switch_off=True))
    await core.mme_logged("pause point reached")
    (slow,) = [mme for mme in core.mmes if mme.matching("pause point reached")]
    detach_id = slow.matching("pause point reached")[0]["request_id"]

    await attached(running, IMSI, count=2)  # the newer Attach, applied while the Detach waits
    held = len(slow.matching("pause point reached"))
    os.kill(slow.process.pid, signal.SIGUSR1)
    await slow.wait_for("held request outcome", count=held)

    outcomes = {line["outcome"] for line in slow.matching("held request outcome")}
    assert outcomes == {"Dropped"}, core.logs()  # its conditional write lost, then obsolete
    assert {line["request_id"] for line in slow.matching("held request outcome")} == {detach_id}
    record = await core.mme_context(IMSI)
    assert record is not None and record.last[0] > detach_id
    await assert_attached(running, IMSI)
    assert enb.ue(IMSI).registered
    assert enb.violations == [], enb.violations
