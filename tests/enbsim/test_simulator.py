"""enbsim's Python API and runtime against a test MME that speaks S1AP and NAS with real
crypto (harness/nas_mme.py).

The e2e tests go through the real echo-agent process over TCP: attach (with the timeline it
returns), detach normal and switch-off, service request after a release, periodic TAU and
TAU into another tracking area, identity request, GUTI reallocation and EMM information,
attach with the GUTI, paging answered, SQN resynchronisation. Every one also checks the
network's side: the MME verified each uplink (`uplink_errors` stays empty) and its KeNB,
GUTI and PDN address are the UE's.

The runtime tests use the MME without the agent: many UEs on two eNBs at once, S1 Setup
retried after Time to wait (the timer task), refused, unreachable, a lost S1 link, misuse,
and the user plane through the E-RAB the MME set up (UDP, and ICMP from a namespace as root).
"""

from __future__ import annotations

import asyncio
import os

import msgspec
import pytest
from conftest import ENB, IMSI, PLMN, SUBSCRIBERS
from harness.nas_mme import EchoSgw

from enbsim.enb import EnbConfig
from enbsim.s1_connection import S1Unreachable
from enbsim.simulator import S1SetupRefused, Simulator, SimulatorError, UserPlaneSettings
from epc.codec.nas_messages import (
    AttachComplete,
    AttachRequest,
    EpsUpdateType,
    GutiReallocationComplete,
    IdentityResponse,
    Imsi,
    TrackingAreaUpdateRequest,
)
from epc.codec.s1ap_messages import InitialUeMessage, STmsi, UeContextReleaseComplete

e2e = pytest.mark.e2e
ATTACH_MESSAGES = [
    ("uplink", "Initial UE Message", "Attach Request"),
    ("downlink", "Downlink NAS Transport", "Authentication Request"),
    ("uplink", "Uplink NAS Transport", "Authentication Response"),
    ("downlink", "Downlink NAS Transport", "Security Mode Command (integrity protected)"),
    ("uplink", "Uplink NAS Transport", "protected"),
    ("downlink", "Initial Context Setup Request", "protected"),
    ("uplink", "Initial Context Setup Response", None),
    ("uplink", "Uplink NAS Transport", "protected"),
]
"""S1AP message and the NAS inside as the eNB can name it without keys (ciphered: protected)."""


def lines(result) -> list[tuple[str, str, str | None]]:
    return [(message.direction, message.message, message.nas) for message in result.messages]


def sent_and_received(result) -> list[str]:
    return [f"{entry.kind} {entry.text}" for entry in result.nas if entry.kind != "state"]


# --- through the agent ----------------------------------------------------------------------


@e2e
async def test_attach_through_the_agent_gives_the_ue_the_networks_address_guti_and_kenb(
    through_agent,
):
    core = await through_agent()
    result = await core.enb.attach(IMSI)

    assert result.ok and result.procedure == "attach" and result.violation is None
    assert 0 < result.latency_s < 10
    assert lines(result) == ATTACH_MESSAGES
    assert sent_and_received(result) == [
        "sent Attach Request",
        "received Authentication Request",
        "sent Authentication Response",
        "received Security Mode Command",
        "sent Security Mode Complete",
        "received Attach Accept",
        "sent Attach Complete",
    ]
    ue, network = core.enb.ue(IMSI), core.mme.networks[IMSI]
    assert ue.registered and ue.connected
    assert ue.pdn_address == network.pdn_address
    assert ue.guti == network.guti and ue.guti is not None
    assert ue.kenb == network.kenb and ue.kenb is not None
    assert {message.stream for message in result.messages} == {result.messages[0].stream} != {0}
    await core.front.until(lambda: any(isinstance(m, AttachComplete) for m in network.received))
    assert core.mme.uplink_errors == [] and core.enb.violations == []


@e2e
async def test_detach_normal_and_switch_off_end_with_the_ue_context_released(through_agent):
    core = await through_agent()
    normal, switch_off = SUBSCRIBERS[0].imsi, SUBSCRIBERS[1].imsi
    await core.attached(normal)
    await core.attached(switch_off)

    result = await core.enb.detach(normal)
    assert result.ok, result.reason
    assert ("downlink", "Downlink NAS Transport", "protected") in lines(result)
    await core.enb.until(lambda: not core.enb.ue(normal).connected)

    result = await core.enb.detach(switch_off, switch_off=True)
    assert result.ok, result.reason
    assert not core.enb.ue(switch_off).connected  # at once, without waiting for the core
    # The MME still releases the S1 connection, and the eNB answers as a real one does.
    await core.front.until(
        lambda: sum(isinstance(m, UeContextReleaseComplete) for m in core.mme.received) == 2
    )
    assert not core.enb.ue(normal).registered and not core.enb.ue(switch_off).registered
    assert core.enb.ue(normal).pdn_address is None
    assert core.mme.uplink_errors == [] and core.enb.violations == []


@e2e
async def test_service_request_after_a_release_sets_the_context_up_with_a_fresh_kenb(
    through_agent,
):
    core = await through_agent()
    await core.attached()
    attach_kenb = core.enb.ue(IMSI).kenb

    release = await core.enb.release(IMSI)
    assert release.ok and not core.enb.ue(IMSI).connected
    assert [line[1] for line in lines(release)] == [
        "UE Context Release Request",
        "UE Context Release Command",
        "UE Context Release Complete",
    ]

    result = await core.enb.service_request(IMSI)
    assert result.ok, result.reason
    assert lines(result) == [
        ("uplink", "Initial UE Message", "Service Request"),
        ("downlink", "Initial Context Setup Request", None),
        ("uplink", "Initial Context Setup Response", None),
    ]
    ue, network = core.enb.ue(IMSI), core.mme.networks[IMSI]
    assert ue.connected and ue.kenb == network.kenb and ue.kenb != attach_kenb
    initial = [m for m in core.mme.received if isinstance(m, InitialUeMessage)][-1]
    assert initial.rrc_establishment_cause == "mo-Data"
    assert initial.s_tmsi == STmsi(ue.guti.mme_code, ue.guti.m_tmsi)
    assert core.mme.uplink_errors == []


@e2e
async def test_periodic_tau_and_tau_into_a_new_tracking_area(through_agent):
    core = await through_agent()
    await core.attached()
    assert (await core.enb.release(IMSI)).ok
    enb, ue = core.enb, core.enb.ue(IMSI)

    periodic = await enb.tracking_area_update(IMSI)
    assert periodic.ok, periodic.reason
    assert lines(periodic)[0] == (
        "uplink",
        "Initial UE Message",
        "Tracking Area Update Request (integrity protected)",
    )
    await enb.until(lambda: not ue.connected)  # the MME releases after a TAU from idle

    moved = await enb.tracking_area_update(IMSI, tac=2)
    assert moved.ok, moved.reason
    await enb.until(lambda: not ue.connected)
    assert ue.tai.tac == 2
    initial = [m for m in core.mme.received if isinstance(m, InitialUeMessage)][-1]
    assert initial.tai.tac == 2
    requests = [
        m for m in core.mme.networks[IMSI].received if isinstance(m, TrackingAreaUpdateRequest)
    ]
    assert [request.update_type.value for request in requests] == [
        EpsUpdateType.PERIODIC_UPDATING,
        EpsUpdateType.TA_UPDATING,
    ]

    active = await enb.tracking_area_update(IMSI, active=True)
    assert active.ok, active.reason
    assert ("downlink", "Initial Context Setup Request", "protected") in lines(active)
    assert ue.connected and ue.kenb == core.mme.networks[IMSI].kenb
    assert core.mme.uplink_errors == []


@e2e
async def test_an_identity_request_during_attach_is_answered_with_the_imsi(through_agent):
    core = await through_agent(ask_identity=True)
    result = await core.attached()
    assert ("downlink", "Downlink NAS Transport", "Identity Request") in lines(result)
    answers = [m for m in core.mme.networks[IMSI].received if isinstance(m, IdentityResponse)]
    assert [answer.identity for answer in answers] == [Imsi(IMSI)]


@e2e
async def test_guti_reallocation_and_emm_information_after_attach_are_taken_in(through_agent):
    core = await through_agent(after_attach=("emm_information", "guti_reallocation"))
    result = await core.attached()
    ue, network = core.enb.ue(IMSI), core.mme.networks[IMSI]
    first_guti = ue.guti

    await core.enb.until(lambda: ue.guti == network.guti != first_guti)
    assert ue.network_names == ("Simulated Network", "SimNet")
    await core.front.until(
        lambda: any(isinstance(m, GutiReallocationComplete) for m in network.received)
    )
    assert result.ok and core.mme.uplink_errors == []
    # The next connection presents the new GUTI's S-TMSI.
    assert (await core.enb.release(IMSI)).ok
    assert (await core.enb.service_request(IMSI)).ok
    initial = [m for m in core.mme.received if isinstance(m, InitialUeMessage)][-1]
    assert initial.s_tmsi == STmsi(network.guti.mme_code, network.guti.m_tmsi)


@e2e
async def test_attach_with_the_guti_after_a_detach_is_integrity_protected(through_agent):
    core = await through_agent()
    await core.attached()
    assert (await core.enb.detach(IMSI)).ok
    await core.enb.until(lambda: not core.enb.ue(IMSI).connected)

    result = await core.enb.attach(IMSI, identity="guti")
    assert result.ok, result.reason
    assert lines(result)[0] == (
        "uplink",
        "Initial UE Message",
        "Attach Request (integrity protected)",
    )
    requests = [m for m in core.mme.networks[IMSI].received if isinstance(m, AttachRequest)]
    assert isinstance(requests[0].identity, Imsi) and not isinstance(requests[1].identity, Imsi)
    assert core.mme.uplink_errors == []


@e2e
async def test_paging_is_answered_with_a_service_request(through_agent):
    core = await through_agent()
    await core.attached()
    assert (await core.enb.release(IMSI)).ok

    await core.page(IMSI)
    outcome = await core.enb.next_outcome(IMSI, "service_request", timeout_s=15)
    assert outcome.ok, outcome.reason
    assert "received Paging" in sent_and_received(outcome)
    initial = [m for m in core.mme.received if isinstance(m, InitialUeMessage)][-1]
    assert initial.rrc_establishment_cause == "mt-Access"
    assert core.enb.ue(IMSI).connected and core.mme.uplink_errors == []


@e2e
async def test_an_sqn_the_usim_finds_stale_is_resynchronised_with_auts(through_agent):
    behind = [msgspec.structs.replace(subscriber, sqn=0) for subscriber in SUBSCRIBERS]
    core = await through_agent(subscribers=behind)
    result = await core.attached()
    assert sent_and_received(result)[:5] == [
        "sent Attach Request",
        "received Authentication Request",
        "sent Authentication Failure",
        "received Authentication Request",
        "sent Authentication Response",
    ]
    assert core.mme.networks[IMSI].sqn > SUBSCRIBERS[0].sqn


@e2e
@pytest.mark.sctp
async def test_attach_and_detach_over_kernel_sctp_to_the_agent(through_agent):
    core = await through_agent(transport="sctp")
    result = await core.attached()
    assert {message.stream for message in result.messages} != {0}
    assert (await core.enb.detach(IMSI)).ok
    assert core.mme.uplink_errors == []


# --- the runtime, without the agent ----------------------------------------------------------


async def test_many_ues_on_two_enbs_attach_at_once_each_with_its_own_guti(direct):
    core = await direct()
    configs = [
        EnbConfig("enb-a", PLMN, 0x1A0, tacs=(1,), s1u_address="127.0.0.1"),
        EnbConfig("enb-b", PLMN, 0x1A1, tacs=(1,), s1u_address="127.0.0.2"),
    ]
    async with Simulator() as simulator:
        enbs = [simulator.enb(config, mme=("127.0.0.1", core.front.port)) for config in configs]
        for enb in enbs:
            await enb.connect()
        homes = {s.imsi: enbs[index % 2] for index, s in enumerate(SUBSCRIBERS)}
        for subscriber in SUBSCRIBERS:
            homes[subscriber.imsi].add_ue(subscriber)

        results = await asyncio.gather(*(enb.attach(imsi) for imsi, enb in homes.items()))
        assert all(result.ok for result in results), [result.reason for result in results]
        gutis = {enb.ue(imsi).guti for imsi, enb in homes.items()}
        assert len(gutis) == len(SUBSCRIBERS)
        assert {len(enb.imsis) for enb in enbs} == {len(SUBSCRIBERS) // 2}
        detaches = await asyncio.gather(*(enb.detach(imsi) for imsi, enb in homes.items()))
        assert all(result.ok for result in detaches)
    assert core.mme.uplink_errors == []


async def test_s1_setup_is_sent_again_after_the_time_to_wait(direct):
    """The S1 Setup Failure says wait 1 s: the eNB's timer task sends the request again."""
    core = await direct()
    core.mme.refuse_s1_setup, core.mme.time_to_wait = 1, 1
    async with Simulator() as simulator:
        enb = simulator.enb(ENB, mme=("127.0.0.1", core.front.port))
        loop = asyncio.get_running_loop()
        started = loop.time()
        setup = await enb.connect()
        assert setup.mme_name == "nas-mme" and loop.time() - started >= 1.0


async def test_s1_setup_refused_without_time_to_wait_raises_with_the_cause(direct):
    core = await direct()
    core.mme.refuse_s1_setup = 1
    async with Simulator() as simulator:
        enb = simulator.enb(ENB, mme=("127.0.0.1", core.front.port))
        with pytest.raises(S1SetupRefused, match="cause misc om-intervention"):
            await enb.connect()


async def test_an_unreachable_core_raises_one_line_naming_the_address():
    async with Simulator() as simulator:
        enb = simulator.enb(ENB, mme=("127.0.0.1", 1))
        with pytest.raises(
            S1Unreachable, match=r"cannot reach the core at 127\.0\.0\.1:1 over TCP"
        ):
            await enb.connect()


async def test_a_lost_s1_link_ends_the_waiting_procedure_and_fails_later_ones(direct):
    core = await direct()
    await core.front.close()
    result = await core.enb.attach(IMSI, timeout_s=10)
    assert not result.ok and result.reason.startswith("S1 link lost")
    later = await core.enb.detach(SUBSCRIBERS[1].imsi)
    assert not later.ok and later.reason == core.enb.link_error


async def test_a_procedure_the_ue_state_does_not_allow_fails_at_once(direct):
    core = await direct()
    result = await core.enb.service_request(IMSI)
    assert not result.ok and result.procedure == "service_request"
    assert result.reason == "not possible in EMM-DEREGISTERED"
    assert result.failure_cause == "not possible in EMM-DEREGISTERED"


async def test_misuse_raises_simulator_error(direct):
    core = await direct()
    with pytest.raises(SimulatorError, match="no UE 001019999999999"):
        await core.enb.attach("001019999999999")
    with pytest.raises(SimulatorError, match="is on this eNB already"):
        core.enb.add_ue(SUBSCRIBERS[0])
    async with asyncio.TaskGroup() as group:
        attach = group.create_task(core.enb.attach(IMSI))
        await core.enb.until(lambda: core.enb.ue(IMSI).procedure == "attach")
        with pytest.raises(SimulatorError, match="busy with attach"):
            await core.enb.detach(IMSI)
    assert attach.result().ok


@pytest.fixture
async def echo_sgw():
    sgw = await EchoSgw().start()
    yield sgw
    sgw.close()


async def test_send_udp_goes_up_the_bearer_the_mme_set_up_and_the_answer_comes_back(
    direct, echo_sgw
):
    settings = UserPlaneSettings(port=0, sgw_port=echo_sgw.port)
    core = await direct(user_plane=settings)
    echo_sgw.mme = core.mme
    await core.attached()
    result = await core.enb.send_udp(IMSI, "10.99.0.1", 7, b"hello core")
    assert result.ok and result.reply == b"hello core", result.reason
    teid, packet = echo_sgw.uplink[-1]
    assert teid in core.mme.tunnels
    assert packet[12:16] == core.enb.ue(IMSI).pdn_address.packed

    assert (await core.enb.detach(IMSI)).ok
    after = await core.enb.send_udp(IMSI, "10.99.0.1", 7, b"late")
    assert not after.ok and after.reason == f"UE {IMSI} has no PDN address (not attached)"


@pytest.mark.skipif(os.geteuid() != 0, reason="a UE namespace needs root")
async def test_ping_from_the_ue_namespace_gets_the_echo_reply(direct, echo_sgw):
    prefix = f"enbsim-t{os.getpid()}-"
    settings = UserPlaneSettings(port=0, sgw_port=echo_sgw.port, namespace_prefix=prefix)
    core = await direct(user_plane=settings)
    echo_sgw.mme = core.mme
    await core.attached()
    result = await core.enb.ping(IMSI, "10.99.0.1")
    assert result.ok, result.reason
    assert result.reply == b"enbsim " + IMSI.encode()
