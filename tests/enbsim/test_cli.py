"""The `enbsim` command as a process (`python -m enbsim`): a short run through the real
echo-agent to the test MME writes the JSON summary the table shows; failures are counted by
cause with exit status 1; UDP and ICMP pings go through the bearer the MME set up; SIGINT
stops a run in order and still reports; and bad configuration, an unreachable core or a
refused S1 Setup end in exactly one line on stderr and exit status 2, never a traceback."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys

import pytest
from conftest import AGENT_IDENTITY, OPC, SQN, SUBSCRIBERS, K
from harness.agent_process import REPO, START_TIMEOUT_S, AgentProcess, agent_config, free_port
from harness.nas_mme import AgentMme, DirectMme, EchoSgw, Fault, NasMme
from harness.nas_network import Tamper

from epc.codec.s1ap_messages import InitialUeMessage

RUN_TIMEOUT_S = 60.0


def write_subscribers(path, subscribers=SUBSCRIBERS) -> str:
    rows = ["imsi,k,opc,sqn"] + [f"{s.imsi},{K.hex()},{OPC.hex()},{SQN}" for s in subscribers]
    path.write_text("\n".join(rows) + "\n")
    return str(path)


async def enbsim(*arguments: str, stop_when=None) -> tuple[int, str, str]:
    """Run `python -m enbsim run ...`: (exit status, stdout, stderr). With `stop_when`, an
    awaitable: SIGINT once it is done."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "enbsim",
        "run",
        *arguments,
        cwd=REPO,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(RUN_TIMEOUT_S + START_TIMEOUT_S):
        if stop_when is not None:
            await stop_when
            process.send_signal(signal.SIGINT)
        stdout, stderr = await process.communicate()
    return process.returncode, stdout.decode(), stderr.decode()


@pytest.fixture
async def direct_mme():
    """`await direct_mme(**options)`: a NasMme on the eNB's TCP framing, closed after."""
    started: list[DirectMme] = []

    async def start(**options) -> DirectMme:
        front = await DirectMme(NasMme(SUBSCRIBERS, **options)).start()
        started.append(front)
        return front

    yield start
    for front in started:
        await front.close()


@pytest.mark.e2e
async def test_a_short_run_through_the_agent_writes_the_summary_as_json(tmp_path):
    mme = NasMme(SUBSCRIBERS)
    front = await AgentMme(mme).start()
    text = agent_config([("dc1", [front.endpoint])], identity=AGENT_IDENTITY)
    agent = await AgentProcess.start(text, tmp_path)
    try:
        port = await agent.s1_port()
        status, stdout, stderr = await enbsim(
            *("--mme", f"127.0.0.1:{port}", "--transport", "tcp"),
            *("--subscribers", write_subscribers(tmp_path / "subscribers.csv")),
            *("--ues", "4", "--rate", "50", "--scenario", "attach,service,tau,detach"),
            *("--json", str(tmp_path / "summary.json"), "--progress", "always"),
        )
    finally:
        await agent.kill()
        await front.close()
    assert status == 0, stderr
    summary = json.loads((tmp_path / "summary.json").read_text())
    counts = {name: (row["count"], row["ok"]) for name, row in summary["procedures"].items()}
    assert counts == {
        "attach": (4, 4),
        "release": (8, 8),  # before the service request, and before the TAU
        "service_request": (4, 4),
        "tau": (4, 4),
        "detach": (4, 4),
    }
    assert summary["failures"] == [] and summary["ues"] == 4 and summary["enbs"] == 1
    for row in summary["procedures"].values():
        p50, p95, p99 = (row["latency_ms"][key] for key in ("p50", "p95", "p99"))
        assert 0 < p50 <= p95 <= p99
    assert stdout.splitlines()[0].split()[:4] == ["procedure", "count", "ok", "failed"]
    assert "procedures done" in stderr and "Traceback" not in stderr
    assert mme.uplink_errors == []


async def test_failures_are_counted_by_cause_and_the_exit_status_is_1(tmp_path, direct_mme):
    front = await direct_mme(faults=[Fault("Attach Accept", tamper=Tamper(bad_mac=True))])
    status, stdout, _ = await enbsim(
        *("--mme", f"127.0.0.1:{front.port}", "--transport", "tcp", "--enbs", "2"),
        *("--subscribers", write_subscribers(tmp_path / "subscribers.csv")),
        *("--ues", "4", "--rate", "100", "--scenario", "attach,detach"),
        *("--json", str(tmp_path / "summary.json")),
    )
    assert status == 1
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["enbs"] == 2
    assert summary["procedures"]["attach"] == summary["procedures"]["attach"] | {
        "count": 4,
        "ok": 3,
        "failed": 1,
    }
    assert summary["procedures"]["detach"]["count"] == 3  # the failed UE stopped there
    assert summary["failures"] == [
        {"procedure": "attach", "cause": "Attach Accept: NAS-MAC", "count": 1}
    ]
    assert "failures by cause:" in stdout and "attach: Attach Accept: NAS-MAC" in stdout


async def test_ping_over_udp_goes_through_the_bearer_and_comes_back(tmp_path, direct_mme):
    front = await direct_mme()
    sgw = await EchoSgw(front.mme).start()
    try:
        status, stdout, stderr = await enbsim(
            *("--mme", f"127.0.0.1:{front.port}", "--transport", "tcp"),
            *("--subscribers", write_subscribers(tmp_path / "subscribers.csv")),
            *("--ues", "2", "--scenario", "attach,detach", "--ping", "10.99.0.1:7"),
            *("--gtpu-port", "0", "--sgw-port", str(sgw.port)),
            *("--json", str(tmp_path / "summary.json")),
        )
    finally:
        sgw.close()
    assert status == 0, stdout + stderr
    procedures = json.loads((tmp_path / "summary.json").read_text())["procedures"]
    assert list(procedures) == ["attach", "udp", "detach"]
    assert procedures["udp"]["ok"] == 2
    assert len(sgw.uplink) == 2


@pytest.mark.skipif(os.geteuid() != 0, reason="UE namespaces need root")
async def test_ping_over_icmp_from_each_ue_namespace(tmp_path, direct_mme):
    front = await direct_mme()
    sgw = await EchoSgw(front.mme).start()
    try:
        status, _, stderr = await enbsim(
            *("--mme", f"127.0.0.1:{front.port}", "--transport", "tcp"),
            *("--subscribers", write_subscribers(tmp_path / "subscribers.csv")),
            *("--ues", "2", "--scenario", "attach", "--ping", "10.99.0.1"),
            *("--gtpu-port", "0", "--sgw-port", str(sgw.port)),
            *("--json", str(tmp_path / "summary.json")),
        )
    finally:
        sgw.close()
    assert status == 0, stderr
    procedures = json.loads((tmp_path / "summary.json").read_text())["procedures"]
    assert procedures["ping"]["ok"] == 2


async def test_sigint_stops_starting_ues_and_still_reports(tmp_path, direct_mme):
    front = await direct_mme()
    first_attach = front.until(
        lambda: any(isinstance(m, InitialUeMessage) for m in front.mme.received)
    )
    status, stdout, stderr = await enbsim(
        *("--mme", f"127.0.0.1:{front.port}", "--transport", "tcp"),
        *("--subscribers", write_subscribers(tmp_path / "subscribers.csv")),
        *("--rate", "0.5", "--scenario", "attach"),
        *("--json", str(tmp_path / "summary.json")),
        stop_when=first_attach,
    )
    assert status == 130, stderr
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["interrupted"] is True
    assert summary["procedures"]["attach"]["count"] < len(SUBSCRIBERS)
    assert "interrupted after" in stdout


# --- one line and exit 2 -------------------------------------------------------------------


def assert_one_line_error(status: int, stdout: str, stderr: str, text: str) -> None:
    assert status == 2
    assert stdout == ""
    assert stderr.count("\n") == 1 and stderr.startswith("enbsim: error: "), stderr
    assert text in stderr


async def test_an_unreachable_core_is_one_line_and_exit_2(tmp_path):
    port = free_port()
    status, stdout, stderr = await enbsim(
        *("--mme", f"127.0.0.1:{port}", "--transport", "tcp"),
        *("--subscribers", write_subscribers(tmp_path / "subscribers.csv")),
    )
    assert_one_line_error(
        status, stdout, stderr, f"cannot reach the core at 127.0.0.1:{port} over TCP"
    )


async def test_a_refused_s1_setup_is_one_line_and_exit_2(tmp_path, direct_mme):
    front = await direct_mme(refuse_s1_setup=1)
    status, stdout, stderr = await enbsim(
        *("--mme", f"127.0.0.1:{front.port}", "--transport", "tcp"),
        *("--subscribers", write_subscribers(tmp_path / "subscribers.csv")),
    )
    assert_one_line_error(
        status, stdout, stderr, "the MME refused S1 Setup: cause misc om-intervention"
    )


@pytest.mark.parametrize(
    ("changes", "text"),
    [
        ({"--subscribers": "/nonexistent/subscribers.csv"}, "--subscribers: /nonexistent"),
        ({"--ues": "99"}, "--ues 99, but"),
        ({"--scenario": "attach,fly"}, "--scenario: unknown step 'fly'"),
        ({"--mme": "127.0.0.1:notaport"}, "--mme: not HOST:PORT"),
        ({"--mme": None}, "the following arguments are required: --mme"),
        ({"--rate": "0"}, "--rate: UEs per second, above 0"),
        ({"--plmn": "0010"}, "--plmn: MCC+MNC"),
        ({"--transport": "carrier-pigeon"}, "argument --transport: invalid choice"),
        ({"--no-such-option": ""}, "unrecognized arguments: --no-such-option"),
        ({"--scenario": "attach,ping"}, "the ping step needs --ping"),
        ({"--ping": "not-an-address"}, "--ping: not an IPv4 address"),
    ],
    ids=lambda value: value if isinstance(value, str) else None,
)
async def test_bad_configuration_is_one_line_and_exit_2(tmp_path, changes, text):
    options = {
        "--mme": "127.0.0.1:36412",
        "--transport": "tcp",
        "--subscribers": write_subscribers(tmp_path / "subscribers.csv"),
    } | changes
    arguments = [
        item
        for option, value in options.items()
        if value is not None
        for item in ((option, value) if value else (option,))
    ]
    status, stdout, stderr = await enbsim(*arguments)
    assert_one_line_error(status, stdout, stderr, text)


async def test_a_malformed_subscriber_file_names_the_line(tmp_path):
    path = tmp_path / "subscribers.csv"
    write_subscribers(path)
    path.write_text(path.read_text() + "001010000009999,not-hex,00,0\n")
    status, stdout, stderr = await enbsim(
        "--mme", "127.0.0.1:36412", "--transport", "tcp", "--subscribers", str(path)
    )
    assert_one_line_error(status, stdout, stderr, "subscribers.csv:10: k: not hex: 'not-hex'")
