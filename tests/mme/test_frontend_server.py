"""The MME frontend behind the real agent server, over TCP: frames in, replies, timer
commands and the ACK out, in one write; an undecodable S1AP PDU answered with an Error
Indication; the config file shipped and its errors."""

import pytest
from harness.wire_client import WireClient
from mme_testbed import Testbed, subscriber

from echo_agent.wire import ENB_UE_ID, Frame, FrameKind
from enbsim.events import SendUplinkNas
from epc.agent_server import AgentServer
from epc.codec import s1ap
from epc.codec.s1ap_messages import (
    Ecgi,
    ErrorIndication,
    GlobalEnbId,
    InitialUeMessage,
    PlmnIdentity,
    S1SetupRequest,
    S1SetupResponse,
    SupportedTa,
    Tai,
)
from epc.daemon.config import ConfigError, load_config
from epc.mme.config import MmeConfig

pytestmark = pytest.mark.mme

PLMN = PlmnIdentity("001", "01")


async def test_requests_through_the_agent_server_get_replies_timers_and_ack():
    bed = await Testbed.create()
    record = subscriber("001010000000001")
    await bed.provision(record)
    server = AgentServer(bed.mmes[0].handle, name="mme-test")
    await server.start(port=0)
    try:
        client = await WireClient.greeted(server.port, enb="enb-tcp")
        setup = S1SetupRequest(GlobalEnbId(PLMN, 7), (SupportedTa(1, (PLMN,)),), 128)
        await client.send(Frame(FrameKind.REQUEST, ENB_UE_ID, 10, payload=s1ap.encode(setup)))
        reply, ack = await client.receive(), await client.receive()
        assert isinstance(s1ap.decode(reply.payload), S1SetupResponse)
        assert (ack.kind, ack.sequence) == (FrameKind.ACK, 1)

        radio = bed.radio(record)
        (command,) = radio.ue.attach(0.0)
        assert isinstance(command, SendUplinkNas)
        initial = InitialUeMessage(
            7, command.nas_pdu, Tai(PLMN, 1), Ecgi(PLMN, 0x700), "mo-Signalling"
        )
        await client.send(Frame(FrameKind.REQUEST, 42, 11, stream=3, payload=s1ap.encode(initial)))
        reply, timer, ack = [await client.receive() for _ in range(3)]
        assert (reply.kind, reply.ue_id, reply.stream) == (FrameKind.REPLY, 42, 3)
        assert (timer.kind, timer.timer_id, timer.timer_ms) == (FrameKind.SET_TIMER, 3460, 6000)
        assert (ack.kind, ack.sequence) == (FrameKind.ACK, 1)

        await client.send(Frame(FrameKind.REQUEST, 42, 12, stream=3, payload=b"\x00\x0c"))
        reply, ack = await client.receive(), await client.receive()
        assert isinstance(s1ap.decode(reply.payload), ErrorIndication)
        await client.close()
    finally:
        await server.close()


def test_the_shipped_config_loads_with_the_documented_defaults():
    config = load_config("configs/mme.toml", MmeConfig)
    assert config.security.integrity_order == (2, 1, 3)
    assert config.security.ciphering_order == (0, 2, 1, 3)
    assert config.timers.mobile_reachable == config.timers.t3412_s + 240
    assert config.timers.t3450_s == config.timers.t3460_s == config.timers.t3470_s == 6.0
    assert config.timers.nas_retransmissions == 4


def test_a_config_error_names_the_key(tmp_path):
    path = tmp_path / "mme.toml"
    path.write_text('[security]\nintegrity = ["EIA0"]\n')
    with pytest.raises(ConfigError, match="security"):
        load_config(path, MmeConfig)
    path.write_text("[mme]\ntacs = [1, 1]\n")
    with pytest.raises(ConfigError, match="mme"):
        load_config(path, MmeConfig)
