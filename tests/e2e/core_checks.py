"""What the whole-core tests share: the subscribers (provisioned in the store and held by
enbsim's UEs), the running core with its eNB, and the checks of what the UE saw and what
the store holds."""

from __future__ import annotations

from dataclasses import dataclass

from harness.core import Core

from enbsim.enb import EnbConfig
from enbsim.simulator import SimulatedEnb, Simulator
from epc.codec.s1ap_messages import PlmnIdentity
from epc.mme.context import EcmState, EmmState
from epc.subscriber import Subscriber

K = bytes.fromhex("465b5ce8b199b49faa5f0a2ee238a6bc")
OPC = bytes.fromhex("cd63cb71954a9f4e48a5994e37a02baf")
"""TS 35.208 test set 1."""
SUBSCRIBERS = tuple(
    Subscriber(imsi=f"0010100000{number:05d}", k=K, opc=OPC, sqn=0x40, apn="internet")
    for number in range(1, 5)
)
IMSI = SUBSCRIBERS[0].imsi
PLMN = PlmnIdentity("001", "01")
ENB = EnbConfig("enb-core", PLMN, 0x19B, tacs=(1,))


@dataclass
class Running:
    core: Core
    enb: SimulatedEnb
    simulator: Simulator

    async def another_enb(self, config: EnbConfig) -> SimulatedEnb:
        """Another eNB on the agent (one at a time: an agent serves one eNB), holding every
        subscriber as a fresh UE."""
        enb = self.simulator.enb(config, mme=("127.0.0.1", self.core.s1_port), transport="tcp")
        await enb.connect()
        for subscriber in SUBSCRIBERS:
            enb.add_ue(subscriber)
        return enb


def ok(result) -> None:
    assert result.ok, f"{result.procedure}: {result.failure_cause}"
    assert result.violation is None


async def attached(running: Running, imsi: str, *, count: int = 1, **options) -> None:
    """Attach, then wait for the MME to have applied the Attach Complete (the UE is done
    when it sent it; the MME's Modify Bearer follows)."""
    enb = running.enb
    ue = enb.ue(imsi)
    informed = emm_informations(ue)
    ok(await enb.attach(imsi, **options))
    await running.core.mme_logged("attach complete", imsi=imsi, count=count)
    # The attach ends with EMM Information; a procedure started before it arrived would
    # see it out of place.
    await enb.until(lambda: emm_informations(ue) > informed)


def emm_informations(ue) -> int:
    return sum(
        entry.kind == "received" and entry.text == "EMM Information" for entry in ue.timeline
    )


async def assert_attached(running: Running, imsi: str, *, connected: bool = True) -> None:
    """The store holds one UE attached with one PDN connection, end to end."""
    core, ue = running.core, running.enb.ue(imsi)
    record = await core.mme_context(imsi)
    assert record is not None and record.state is not None, core.logs()
    context = record.state
    assert context.emm is EmmState.REGISTERED
    assert context.ecm is (EcmState.CONNECTED if connected else EcmState.IDLE)
    assert (context.connection is not None) is connected
    assert context.pdn is not None and context.pdn.ue_ipv4 == str(ue.pdn_address)
    assert ue.guti is not None and context.m_tmsi == ue.guti.m_tmsi
    sgw, pgw = await core.sgw_ue(imsi), await core.pgw_ue(imsi)
    assert sgw is not None and sgw.state is not None and len(sgw.state.sessions) == 1
    assert pgw is not None and pgw.state is not None and len(pgw.state.sessions) == 1
    assert sgw.state.mme_control is not None
    assert sgw.state.mme_control.teid == context.mme_s11_teid
    sgw_rules, pgw_rules = await core.forwarding("sgw", imsi), await core.forwarding("pgw", imsi)
    assert len(sgw_rules) == 1 and len(pgw_rules) == 1
    assert pgw_rules[0].ue_ipv4 == context.pdn.ue_ipv4
    # S1-U towards the eNB only while the UE is connected (Release Access Bearers drops it).
    assert (sgw_rules[0].downlink_peer is not None) is connected
    assert await core.index("ip") == [context.pdn.ue_ipv4]


async def assert_detached(running: Running, imsi: str) -> None:
    core = running.core
    record = await core.mme_context(imsi)
    assert record is not None
    context = record.state
    assert context is None or (context.emm is EmmState.DEREGISTERED and context.pdn is None)
    for gateway_ue in (await core.sgw_ue(imsi), await core.pgw_ue(imsi)):
        assert gateway_ue is None or gateway_ue.state is None or not gateway_ue.state.sessions
    assert await core.forwarding("sgw", imsi) == []
    assert await core.forwarding("pgw", imsi) == []
    assert await core.index("ip") == []


async def idle(running: Running, imsi: str) -> None:
    """eNB-initiated release, and the MME's step for the release complete applied."""
    ok(await running.enb.release(imsi))
    await running.core.until(lambda: ecm_is(running, imsi, EcmState.IDLE), f"{imsi} idle")


async def ecm_is(running: Running, imsi: str, state: EcmState) -> bool:
    record = await running.core.mme_context(imsi)
    return record is not None and record.state is not None and record.state.ecm is state


async def bearer_towards_enb(running: Running, imsi: str) -> bool:
    """The SGW's S1-U downlink points at the eNB again (the Modify Bearer applied)."""
    rules = await running.core.forwarding("sgw", imsi)
    return bool(rules) and rules[0].downlink_peer is not None
