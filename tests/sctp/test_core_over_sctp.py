"""The whole core's attach-to-detach flow once over real kernel SCTP (VM tier: make test-sctp):
enbsim's eNB -> SCTP -> echo-agent -> two epc-mme instances -> epc-sgw -> epc-pgw
(harness/core.py), every daemon on one SQLite file rather than ZooKeeper, whose JVM would take
minutes to start under the VM's software emulation; the store behaviour the flow relies on is
the same (the store conformance suite runs on both).
"""

from __future__ import annotations

import pytest
from harness.core import start_core

from enbsim.enb import EnbConfig
from enbsim.simulator import Simulator
from epc.codec.s1ap_messages import PlmnIdentity
from epc.mme.context import EmmState
from epc.subscriber import Subscriber

pytestmark = [pytest.mark.sctp, pytest.mark.e2e, pytest.mark.mme]

SUBSCRIBER = Subscriber(
    imsi="001010000000001",
    k=bytes.fromhex("465b5ce8b199b49faa5f0a2ee238a6bc"),
    opc=bytes.fromhex("cd63cb71954a9f4e48a5994e37a02baf"),
    sqn=0x40,
    apn="internet",
)
IMSI = SUBSCRIBER.imsi
ENB = EnbConfig("enb-core", PlmnIdentity("001", "01"), 0x19B, tacs=(1,))


async def test_attach_then_detach_over_sctp_through_the_agent_leaves_nothing_held(tmp_path):
    core = await start_core(
        "", "sctp-core", tmp_path, [SUBSCRIBER], store_path=tmp_path / "store.db", transport="sctp"
    )
    try:
        async with Simulator() as simulator:
            enb = simulator.enb(ENB, mme=("127.0.0.1", core.s1_port), transport="sctp")
            await enb.connect()
            enb.add_ue(SUBSCRIBER)

            attach = await enb.attach(IMSI)
            assert attach.ok, (attach.failure_cause, core.logs())
            await core.mme_logged("attach complete", imsi=IMSI)
            context = (await core.mme_context(IMSI)).state
            assert context.emm is EmmState.REGISTERED
            assert context.pdn.ue_ipv4 == str(enb.ue(IMSI).pdn_address)
            assert len((await core.sgw_ue(IMSI)).state.sessions) == 1
            assert await core.index("ip") == [context.pdn.ue_ipv4]

            detach = await enb.detach(IMSI)
            assert detach.ok, (detach.failure_cause, core.logs())
            await core.mme_logged("UE is ECM-IDLE", imsi=IMSI)
            context = (await core.mme_context(IMSI)).state
            assert context.emm is EmmState.DEREGISTERED and context.pdn is None
            assert not (await core.sgw_ue(IMSI)).state.sessions
            assert await core.forwarding("sgw", IMSI) == []
            assert await core.index("ip") == []
            assert enb.violations == []
    finally:
        await core.close()
