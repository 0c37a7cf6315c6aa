"""The scripted test MME as the agent's integration tests use it: a subprocess that says
"listening PORT", answers from its script over a raw wire client, and dies on kill -9."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from harness.tls import make_pki
from harness.wire_client import WireClient

from echo_agent.wire import Frame, FrameKind
from epc.codec.s1ap import encode
from epc.codec.s1ap_messages import (
    Ecgi,
    GlobalEnbId,
    InitialUeMessage,
    PlmnIdentity,
    S1SetupRequest,
    S1SetupResponse,
    ServedGummei,
    SupportedTa,
    Tai,
)

pytestmark = pytest.mark.agent

SCRIPTED_MME = Path(__file__).parents[1] / "harness" / "scripted_mme.py"
START_TIMEOUT_S = 20.0

PLMN = PlmnIdentity("001", "01")
S1_SETUP_REQUEST = encode(
    S1SetupRequest(GlobalEnbId(PLMN, 0x19B), (SupportedTa(1, (PLMN,)),), 128, "enb-019b")
)
S1_SETUP_RESPONSE = encode(S1SetupResponse((ServedGummei((PLMN,), (2,), (1,)),), 255, "mme-1"))
INITIAL_UE_MESSAGE = encode(
    InitialUeMessage(
        42,
        bytes.fromhex("07417108091010000000001002e0e000040201d0115c0a00"),
        Tai(PLMN, 1),
        Ecgi(PLMN, 0x19B01),
        "mo-Signalling",
    )
)
PROCEDURE_S1_SETUP = 17
PROCEDURE_INITIAL_UE_MESSAGE = 12


@pytest.fixture
async def scripted_mme(tmp_path):
    """`await scripted_mme(script)`: (process, port) of a running scripted MME, killed after."""
    processes: list[asyncio.subprocess.Process] = []

    async def start(
        script: dict | None = None, *options: str
    ) -> tuple[asyncio.subprocess.Process, int]:
        arguments = [sys.executable, str(SCRIPTED_MME), "--port", "0", *options]
        if script is not None:
            path = tmp_path / "script.json"
            path.write_text(json.dumps(script))
            arguments += ["--script", str(path)]
        process = await asyncio.create_subprocess_exec(
            *arguments, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL
        )
        processes.append(process)
        async with asyncio.timeout(START_TIMEOUT_S):
            line = await process.stdout.readline()
        word, port = line.decode().split()
        assert word == "listening"
        return process, int(port)

    yield start
    for process in processes:
        if process.returncode is None:
            process.kill()
        await process.wait()


def request(request_id: int, payload: bytes, *, ue_id: int = 1, stream: int = 0) -> Frame:
    return Frame(FrameKind.REQUEST, ue_id, request_id, stream=stream, payload=payload)


async def test_the_scripted_mme_answers_from_its_script(scripted_mme) -> None:
    script = {
        "procedures": {
            str(PROCEDURE_S1_SETUP): [S1_SETUP_RESPONSE.hex()],
            str(PROCEDURE_INITIAL_UE_MESSAGE): "ignore",
        }
    }
    _, port = await scripted_mme(script)
    client = await WireClient.greeted(port, "enb-019b")
    await client.send(request(1, S1_SETUP_REQUEST, ue_id=0))
    assert await client.receive() == Frame(
        FrameKind.REPLY, 0, 1, sequence=0, payload=S1_SETUP_RESPONSE
    )
    assert await client.receive() == Frame(FrameKind.ACK, 0, 1, sequence=1)
    # Ignored: nothing comes back for it, so the PONG behind it is the next frame.
    await client.send(request(2, INITIAL_UE_MESSAGE), Frame(FrameKind.PING, request_id=3))
    assert await client.receive() == Frame(FrameKind.PONG, request_id=3)
    await client.send(Frame(FrameKind.TIMER_FIRED, ue_id=1, request_id=4, timer_id=3450))
    assert await client.receive() == Frame(FrameKind.ACK, ue_id=1, request_id=4)
    await client.close()


async def test_without_a_script_it_echoes_each_request_on_its_stream(scripted_mme) -> None:
    _, port = await scripted_mme()
    client = await WireClient.greeted(port)
    await client.send(request(9, b"not s1ap", stream=3))
    assert await client.receive() == Frame(
        FrameKind.REPLY, 1, 9, sequence=0, stream=3, payload=b"not s1ap"
    )
    assert await client.receive() == Frame(FrameKind.ACK, 1, 9, sequence=1)
    await client.close()


async def test_kill_9_drops_the_agents_connection(scripted_mme) -> None:
    process, port = await scripted_mme()
    client = await WireClient.greeted(port)
    process.send_signal(signal.SIGKILL)
    assert await client.receive_until_closed() == []
    assert await process.wait() == -signal.SIGKILL
    await client.close()


async def test_sigterm_closes_the_connections_and_exits_0(scripted_mme) -> None:
    process, port = await scripted_mme()
    client = await WireClient.greeted(port)
    process.send_signal(signal.SIGTERM)
    assert await client.receive_until_closed() == []
    assert await process.wait() == 0
    await client.close()


async def test_with_tls_options_it_serves_agents_with_a_client_certificate(
    scripted_mme, tmp_path
) -> None:
    pki = make_pki(tmp_path)
    _, port = await scripted_mme(
        None,
        *("--tls-certificate", str(pki.server_certificate), "--tls-key", str(pki.server_key)),
        *("--tls-ca", str(pki.ca_certificate)),
    )
    client = await WireClient.greeted(port, ssl_context=pki.client_context())
    await client.send(request(1, b"over tls"))
    assert (await client.receive()).payload == b"over tls"
    await client.close()


def test_a_bad_script_exits_2_with_one_line_naming_the_entry(tmp_path) -> None:
    path = tmp_path / "script.json"
    path.write_text(json.dumps({"procedures": {"17": 5}}))
    result = subprocess.run(
        [sys.executable, str(SCRIPTED_MME), "--script", str(path)],
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT_S,
    )
    assert result.returncode == 2
    assert "procedure 17" in result.stderr.splitlines()[-1]
