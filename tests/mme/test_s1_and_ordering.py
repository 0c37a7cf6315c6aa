"""S1 management (S1 Setup checked against the config, Reset, Error Indication, several
eNBs) and the ordering guarantees of Algorithm 1 in the MME: the paper's Figure 3c, and one
winner when two instances handle the same request."""

import asyncio

import msgspec
import pytest
import structlog
from mme_testbed import ENB, Testbed, subscriber

from echo_agent.wire import ENB_UE_ID, Frame, FrameKind
from epc.codec import s1ap
from epc.codec.s1ap_messages import (
    Cause,
    ErrorIndication,
    GlobalEnbId,
    PlmnIdentity,
    Reset,
    ResetAcknowledge,
    S1SetupFailure,
    S1SetupRequest,
    S1SetupResponse,
    SupportedTa,
    UplinkNasTransport,
)
from epc.mme.context import EcmState, EmmState, EnbRecord
from epc.mme.frontend import MmeFrontend

pytestmark = pytest.mark.mme

IMSI = "001010000000001"


async def attached(instances: int = 1):
    bed = await Testbed.create(instances=instances)
    record = subscriber(IMSI)
    await bed.provision(record)
    await bed.s1_setup()
    radio = bed.radio(record)
    await bed.attach(radio)
    assert radio.succeeded("attach"), radio.failures()
    return bed, radio


async def test_s1_setup_is_answered_with_the_gummei_and_the_enb_recorded():
    bed = await Testbed.create()
    response = s1ap.decode(await bed.s1_setup())
    assert isinstance(response, S1SetupResponse)
    (gummei,) = response.served_gummeis
    assert gummei.mme_group_ids == (2,) and gummei.mme_codes == (1,)
    node = await bed.store.get("/test/enb/00101-19b")
    record = msgspec.msgpack.decode(node.value, type=EnbRecord)
    assert record.agent == ENB and [tai.tac for tai in record.tais] == [1]


async def test_s1_setup_with_another_plmn_fails_with_unknown_plmn_and_says_why():
    bed = await Testbed.create()
    with structlog.testing.capture_logs() as logs:
        failure = s1ap.decode(await bed.s1_setup(plmn=PlmnIdentity("999", "99")))
    assert isinstance(failure, S1SetupFailure)
    assert failure.cause == Cause("misc", "unknown-PLMN")
    (line,) = [entry for entry in logs if "refused" in entry["event"]]
    assert line["enb_plmn_tacs"] == ["99999/1"] and line["served_plmn_tacs"] == ["00101/1"]
    assert await bed.store.get("/test/enb/99999-19b") is None


async def test_s1_setup_with_an_unserved_tac_fails_too():
    bed = await Testbed.create()
    failure = s1ap.decode(await bed.s1_setup(tac=9))
    assert isinstance(failure, S1SetupFailure)


async def test_several_enbs_set_up_through_their_own_agents():
    bed = await Testbed.create()
    mme = bed.mmes[0]
    for number, agent in enumerate(("enb-a", "enb-b"), start=1):
        request = S1SetupRequest(
            GlobalEnbId(PlmnIdentity("001", "01"), number),
            (SupportedTa(1, (PlmnIdentity("001", "01"),)),),
            128,
        )
        frame = Frame(FrameKind.REQUEST, ENB_UE_ID, 100 + number, payload=s1ap.encode(request))
        (reply, *_) = await mme.process(agent, frame)
        assert isinstance(s1ap.decode(reply.payload), S1SetupResponse)
    assert await bed.store.children("/test/enb") == ["00101-1", "00101-2"]
    assert await bed.store.children("/test/s1") == ["enb-a", "enb-b"]


async def test_reset_releases_the_enb_connections_and_is_acknowledged():
    bed, _ = await attached()
    reset = Reset(Cause("transport", "unspecified"))
    (reply,) = await bed.request(ENB_UE_ID, s1ap.encode(reset), stream=0)
    assert isinstance(s1ap.decode(reply), ResetAcknowledge)
    context = await bed.context(IMSI)
    assert context.ecm is EcmState.IDLE and context.emm is EmmState.REGISTERED
    (session,) = bed.sgw.sessions_of(IMSI)
    assert session.enb_s1u is None
    assert await bed.store.children("/test/index/s1ap") == []


async def test_ue_associated_error_indication_releases_the_connection():
    bed, radio = await attached()
    indication = ErrorIndication(
        mme_ue_s1ap_id=radio.mme_ue_s1ap_id,
        enb_ue_s1ap_id=radio.enb_ue_s1ap_id,
        cause=Cause("radioNetwork", "unknown-enb-ue-s1ap-id"),
    )
    assert await bed.request(radio.agent_ue_id, s1ap.encode(indication)) == []
    context = await bed.context(IMSI)
    assert context.ecm is EcmState.IDLE


async def test_an_unknown_mme_ue_s1ap_id_gets_an_error_indication():
    bed, radio = await attached()
    payload = bed.uplink_nas(radio, b"\x07\x60\x62")  # EMM Status
    message = s1ap.decode(payload)
    stale = (
        s1ap.encode(msgspec.structs.replace(message, mme_ue_s1ap_id=message.mme_ue_s1ap_id ^ 1))
        if False
        else None
    )
    assert stale is None

    other = UplinkNasTransport(
        message.mme_ue_s1ap_id ^ 1,
        message.enb_ue_s1ap_id,
        message.nas_pdu,
        message.ecgi,
        message.tai,
    )
    (reply,) = await bed.request(radio.agent_ue_id, s1ap.encode(other))
    indication = s1ap.decode(reply)
    assert isinstance(indication, ErrorIndication)
    assert indication.cause == Cause("radioNetwork", "unknown-mme-ue-s1ap-id")


class SlowStore:
    """The shared store as a slow instance sees it: UE context reads wait for `go`."""

    def __init__(self, store) -> None:
        self._store = store
        self.go = asyncio.Event()
        self.waiting = asyncio.Event()

    async def get(self, path):
        if path.startswith("/test/ue/"):
            self.waiting.set()
            await self.go.wait()
        return await self._store.get(path)

    def __getattr__(self, name):
        return getattr(self._store, name)


async def test_figure_3c_an_old_detach_delayed_at_a_slow_instance_is_dropped():
    bed, radio = await attached()
    slow = SlowStore(bed.store)
    fast = bed.mmes[0]
    slow_mme = MmeFrontend(slow, bed.config, fast.send_effect, clock=fast.clock)

    bed.queue(radio, radio.ue.detach(0.0))
    _, payload = bed._uplink.popleft()
    detach = Frame(FrameKind.REQUEST, radio.agent_ue_id, bed.next_request_id(), 1, payload=payload)
    delayed = asyncio.create_task(slow_mme.process(ENB, detach))
    await slow.waiting.wait()  # the slow instance holds the Detach

    # The agent times out and sends the Detach to another instance, which applies it;
    # then the UE attaches again.
    bed.deliver(radio, await bed.send(detach))
    await bed.pump()
    assert radio.succeeded("detach")
    await bed.attach(radio)
    assert (await bed.context(IMSI)).emm is EmmState.REGISTERED
    deletes = [r for r in bed.sgw.requests if type(r).__name__ == "DeleteSessionRequest"]

    slow.go.set()
    (ack,) = await delayed
    assert ack.kind is FrameKind.ACK and ack.sequence == 0  # dropped: no reply
    context = await bed.context(IMSI)
    assert context.emm is EmmState.REGISTERED and context.pdn is not None
    assert len(bed.sgw.sessions_of(IMSI)) == 1
    assert [r for r in bed.sgw.requests if type(r).__name__ == "DeleteSessionRequest"] == deletes


async def test_two_instances_handling_the_same_request_leave_one_winner():
    bed = await Testbed.create(instances=2)
    record = subscriber(IMSI)
    await bed.provision(record)
    await bed.s1_setup()
    radio = bed.radio(record)
    bed.queue(radio, radio.ue.attach(0.0))
    for _ in range(2):  # Attach Request, Authentication Response
        _, replies = await bed.exchange()
        bed.deliver(radio, replies)
    _, payload = bed._uplink.popleft()  # Security Mode Complete: Create Session follows
    frame = Frame(FrameKind.REQUEST, radio.agent_ue_id, bed.next_request_id(), 1, payload=payload)
    bed.sgw.gate = asyncio.Event()
    first = asyncio.create_task(bed.mmes[0].process(ENB, frame))
    second = asyncio.create_task(bed.mmes[1].process(ENB, frame))
    for _ in range(50):
        await asyncio.sleep(0)
    with structlog.testing.capture_logs() as logs:
        bed.sgw.gate.set()
        answers = await asyncio.gather(first, second)

    assert [entry["event"] for entry in logs].count(
        "request already applied; recorded reply sent again"
    ) == 1

    assert answers[0] == answers[1]  # the loser replays the winner's recorded reply
    assert len(bed.sgw.sessions_of(IMSI)) == 1
    assert len(await bed.store.children("/test/index/guti")) == 1
    assert len(await bed.store.children("/test/index/mme-s11")) == 1
    bed.deliver(radio, bed.take(frame, answers[0]))
    await bed.pump()
    assert radio.succeeded("attach"), radio.failures()
