"""`python -m epc.mme` as a process: serves agents on its port, answers S1 Setup from the
store it opened, drains and exits 0 on SIGTERM."""

import pytest
from harness.mme_process import MmeDaemon, mme_config_text
from harness.wire_client import WireClient

from echo_agent.wire import ENB_UE_ID, Frame, FrameKind
from epc.codec import s1ap
from epc.codec.s1ap_messages import (
    GlobalEnbId,
    PlmnIdentity,
    S1SetupRequest,
    S1SetupResponse,
    SupportedTa,
)

pytestmark = [pytest.mark.mme, pytest.mark.e2e]

PLMN = PlmnIdentity("001", "01")


async def test_the_daemon_serves_s1_setup_and_stops_on_sigterm(tmp_path):
    config = mme_config_text(name="mme-a", store_path=tmp_path / "store.db")
    mme = await MmeDaemon.start(config, tmp_path, name="mme-a")
    try:
        client = await WireClient.greeted(await mme.agent_port(), enb="enb-daemon")
        setup = S1SetupRequest(GlobalEnbId(PLMN, 9), (SupportedTa(1, (PLMN,)),), 128)
        await client.send(Frame(FrameKind.REQUEST, ENB_UE_ID, 1, payload=s1ap.encode(setup)))
        reply = await client.receive()
        assert isinstance(s1ap.decode(reply.payload), S1SetupResponse)
        await client.close()
        assert await mme.terminate() == 0
    finally:
        if mme.process.returncode is None:
            await mme.kill()
