"""`epc-sgw` and `epc-pgw` as processes on a real ZooKeeper: every S11 / S5 message through
them, tshark reading every datagram of every hop, bad input answered with its cause and one
log line, and the daemon shell (config errors, drain on SIGTERM)."""

from __future__ import annotations

import socket
import subprocess
import sys
from ipaddress import IPv4Network

import pytest
from daemon_core import start_daemon_core
from harness.agent_process import REPO
from harness.gateway_process import (
    IMSI,
    create_session_request,
    delete_session_request,
    modify_bearer_request,
    next_request_number,
    release_access_bearers_request,
    stamp,
)
from harness.tshark import dissect, udp

from epc.codec import gtpv2c
from epc.codec.gtpv2c import (
    Ambr,
    Arp,
    BearerQos,
    Cause,
    CauseValue,
    CreateBearerRequest,
    CreateSessionResponse,
    DeleteBearerRequest,
    DeleteBearerResponse,
    DownlinkDataNotificationFailureIndication,
    EchoRequest,
    EchoResponse,
    EchoStamp,
    IeType,
    UpdateBearerRequest,
    UpdateBearerRequestContext,
    UpdateBearerResponse,
)

pytestmark = [pytest.mark.gateway, pytest.mark.e2e]


@pytest.fixture
async def daemons(zookeeper, deployment, tmp_path):
    core = await start_daemon_core(zookeeper.hosts, deployment, tmp_path)
    yield core
    await core.close()


async def test_every_message_through_the_daemons_and_tshark_reads_every_datagram(daemons):
    core = daemons
    n = next_request_number()
    # Attach: Create Session (S11, then S5), Modify Bearer with the eNB's F-TEID.
    created = await core.mme.request(core.s11, create_session_request(stamp=stamp(n)))
    assert isinstance(created, CreateSessionResponse)
    assert created.cause.value == CauseValue.REQUEST_ACCEPTED
    assert created.paa.ipv4 in IPv4Network("10.45.0.0/24")
    s11 = created.sender_fteid.teid
    modified = await core.mme.request(core.s11, modify_bearer_request(s11, stamp=stamp(n + 1)))
    assert modified.cause.value == CauseValue.REQUEST_ACCEPTED
    # A second PDN connection (APN "ims") whose on-create policy rule makes the PGW ask for a
    # dedicated bearer: Create Bearer Request PGW -> SGW -> MME, and the answers back.
    ims = create_session_request(apn="ims", ebi=9, stamp=stamp(n + 2))
    assert (await core.mme.request(core.s11, ims)).cause.value == CauseValue.REQUEST_ACCEPTED
    asked = (await core.mme.next_request()).message
    assert isinstance(asked, CreateBearerRequest) and asked.linked_ebi == 9
    dedicated = await _wait_for_bearer(core, linked_ebi=9, ebi=6)  # the test MME gives EBI 6
    # Update and Delete Bearer from the PGW's side (the test plays the PGW on S5).
    sgw_s5c = dedicated.s5c_sgw_teid
    update = UpdateBearerRequest(
        teid=sgw_s5c,
        bearer_contexts=(UpdateBearerRequestContext(ebi=6, bearer_qos=BearerQos(2, Arp(3))),),
        apn_ambr=Ambr(1_000, 2_000),
        stamp=EchoStamp((n + 3, 0, 0), IMSI.encode()),
    )
    updated = await core.mme.request(core.sgw_direct(0), update)
    assert isinstance(updated, UpdateBearerResponse)
    assert isinstance((await core.mme.next_request()).message, UpdateBearerRequest)
    delete = DeleteBearerRequest(
        teid=sgw_s5c, ebis=(6,), stamp=EchoStamp((n + 4, 0, 0), IMSI.encode())
    )
    deleted_bearer = await core.mme.request(core.sgw_direct(0), delete)
    assert isinstance(deleted_bearer, DeleteBearerResponse)
    assert deleted_bearer.bearer_contexts[0].cause.value == CauseValue.REQUEST_ACCEPTED
    assert isinstance((await core.mme.next_request()).message, DeleteBearerRequest)
    # Idle and back: Release Access Bearers, a paging failure, Modify Bearer.
    released = await core.mme.request(
        core.s11, release_access_bearers_request(s11, stamp=stamp(n + 5))
    )
    assert released.cause.value == CauseValue.REQUEST_ACCEPTED
    failure = DownlinkDataNotificationFailureIndication(
        teid=s11, cause=Cause(CauseValue.UE_NOT_RESPONDING), stamp=stamp(n + 6)
    )
    core.mme.node.notify(core.s11, failure)
    back = modify_bearer_request(s11, cell=0x19B02, stamp=stamp(n + 7))
    assert (await core.mme.request(core.s11, back)).cause.value == CauseValue.REQUEST_ACCEPTED
    # Echo, then detach: Delete Session of both PDN connections.
    echo = await core.mme.request(core.s11, EchoRequest(recovery=1))
    assert isinstance(echo, EchoResponse)
    for k, ebi in enumerate((9, 5)):
        request = delete_session_request(s11, ebi=ebi, stamp=stamp(n + 8, k))
        deleted = await core.mme.request(core.s11, request)
        assert deleted.cause.value == CauseValue.REQUEST_ACCEPTED
    assert (await core.sgw_ue(IMSI)).state.sessions == {}
    assert (await core.pgw_ue(IMSI)).state.sessions == {}
    assert await core.index("ip") == []

    datagrams = core.datagrams()
    types = {gtpv2c.decode(data).MESSAGE_TYPE for data in datagrams}
    assert types >= {1, 2, 32, 33, 34, 35, 36, 37, 70, 95, 96, 97, 98, 99, 100, 170, 171}
    dissections = dissect([udp(data, 2123) for data in datagrams])
    for data, dissection in zip(datagrams, dissections, strict=True):
        assert dissection.problems == [], (gtpv2c.decode(data), dissection.problems)
        assert dissection.fields("gtpv2.message_type"), dissection.layers.keys()
    stamped = [
        d for data, d in zip(datagrams, dissections, strict=True) if gtpv2c.decode(data).stamp
    ]
    assert stamped and all(
        str(int(IeType.PRIVATE_EXTENSION)) in d.fields("gtpv2.ie_type") for d in stamped
    )
    tft_ports = {port for d in dissections for port in d.fields("gsm_a.gm.sm.tft.port_low")}
    assert tft_ports == {"5060"}, "the dedicated bearer's TFT, as the policy wrote it"


async def _wait_for_bearer(core, *, linked_ebi: int, ebi: int):
    """The SGW's session with the dedicated bearer. The SGW commits before it answers the
    PGW, and the PGW logs the outcome after that answer, so the log line is the cue."""
    await core.pgw.wait_for("policy bearer requested")
    session = (await core.sgw_ue(IMSI)).state.sessions[linked_ebi]
    assert ebi in session.bearers
    return session


async def test_bad_input_is_answered_with_its_cause_and_logged_once(daemons):
    core = daemons
    sgw = core.sgw_direct(0)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as raw:
        raw.settimeout(10)
        raw.sendto(bytes([0x32, 1, 0, 4, 0, 0, 0, 0, 0, 1, 0, 0]), sgw)  # GTPv1 Echo
        answer = _answer(raw)
        assert isinstance(answer, gtpv2c.VersionNotSupportedIndication)
        raw.sendto(_without_apn(create_session_request(stamp=stamp(1))), sgw)
        rejected = _answer(raw)
        assert rejected.cause.value == CauseValue.MANDATORY_IE_MISSING
        assert rejected.cause.offending_ie == (IeType.APN, 0)
        raw.sendto(gtpv2c.encode(modify_bearer_request(0x7777, stamp=stamp(1))), sgw)
        unknown = _answer(raw)
        assert unknown.cause.value == CauseValue.CONTEXT_NOT_FOUND
        raw.sendto(b"\x48\x20\x00", sgw)  # garbage: no answer, the daemon stays up
        raw.sendto(gtpv2c.encode(EchoRequest(sequence_number=5, recovery=1)), sgw)
        assert isinstance(_answer(raw), EchoResponse)
    process = core.sgws[0]
    await process.wait_for("gtpc request rejected", cause=CauseValue.MANDATORY_IE_MISSING)
    await process.wait_for("request for an unknown TEID", teid=0x7777)
    await process.wait_for("gtpc message discarded", count=2)
    assert len(process.matching("gtpc request rejected")) == 1
    assert len(process.matching("request for an unknown TEID", teid=0x7777)) == 1
    assert len(process.matching("gtpc message discarded")) == 2  # the GTPv1 one, the garbage
    assert process.process.returncode is None


def _answer(raw: socket.socket):
    """The next datagram from the SGW that is not its own Echo Request (it probes the path to
    every peer that sent it a request)."""
    while True:
        message = gtpv2c.decode(raw.recv(2048))
        if not isinstance(message, EchoRequest):
            return message


def _without_apn(message) -> bytes:
    data = gtpv2c.encode(message)
    body, offset, kept = data[12:], 0, b""
    while offset < len(body):
        length = int.from_bytes(body[offset + 1 : offset + 3], "big")
        if body[offset] != IeType.APN:
            kept += body[offset : offset + 4 + length]
        offset += 4 + length
    header = bytearray(data[:12])
    header[2:4] = (len(kept) + 8).to_bytes(2, "big")
    return bytes(header) + kept


async def test_sigterm_drains_in_order_and_exits_0(daemons):
    process = daemons.sgws[0]
    assert await process.terminate() == 0
    phases = [line["phase"] for line in process.matching("shutdown phase")]
    assert phases == ["stop accepting", "drain", "close store"]


@pytest.mark.parametrize(
    ("module", "text", "key"),
    [
        (
            "epc.pgw",
            '[[apn]]\nname = "a"\npool = "10.0.0.0/8"\n[[apn]]\nname = "b"\npool = "10.1.0.0/16"\n',
            "apn[0].pool",
        ),
        ("epc.pgw", '[[apn]]\nname = "a"\npool = "not-a-network"\n', "pool"),
        ("epc.sgw", '[gtpc]\naddress = "here"\n', "gtpc"),
        ("epc.sgw", "[gtpc]\nn3_requests = -1\n", "gtpc.n3_requests"),
        ("epc.sgw", '[s5]\npgw_adress = "127.0.0.1"\n', "s5.pgw_adress"),
    ],
)
def test_bad_config_exits_2_with_one_line_naming_the_key(tmp_path, module, text, key):
    config = tmp_path / "bad.toml"
    config.write_text(text)
    result = subprocess.run(
        [sys.executable, "-m", module, "--config", str(config)],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and key in lines[0], result.stderr


@pytest.mark.parametrize("module", ["epc.sgw", "epc.pgw"])
def test_the_example_configs_are_valid(module):
    name = module.split(".")[1]
    result = subprocess.run(
        [sys.executable, "-m", module, "--config", f"configs/{name}.toml", "--check-config"],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
