"""The real echo-agent as a test subject: `python -m echo_agent` in a subprocess with a config
written by the test and JSON logs read as they come; the scripted test MME
(harness/scripted_mme.py) as a process to kill; a simulated eNB on the TCP transport; and the
S1AP messages such an eNB and the test MMEs exchange (built with epc.codec.s1ap). Tests wait on
log events and messages with timeouts, never on sleeps."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import socket
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from echo_agent.enb_side import TCP_HEADER
from epc.codec import s1ap
from epc.codec.s1ap_messages import (
    DownlinkNasTransport,
    Ecgi,
    EnbConfigurationUpdate,
    EnbConfigurationUpdateAcknowledge,
    GlobalEnbId,
    InitialUeMessage,
    PlmnIdentity,
    Reset,
    ResetAcknowledge,
    S1SetupRequest,
    S1SetupResponse,
    ServedGummei,
    SupportedTa,
    Tai,
    UplinkNasTransport,
)

REPO = Path(__file__).resolve().parents[2]
TIMEOUT_S = 30.0
"""A safety net: a test that waits longer than this for an event or a message has failed.
Generous for the SCTP tier, whose VM runs under software emulation (~10x slower)."""
START_TIMEOUT_S = 120.0
"""For a process to start: importing the codecs takes ~0.6 s here and tens of seconds in the
emulated VM."""

# --- S1AP of the simulated eNB and the test MMEs ---------------------------------------------

PLMN = PlmnIdentity("001", "01")
TAI = Tai(PLMN, 1)
ECGI = Ecgi(PLMN, 0x19B01)
S1_SETUP_REQUEST = s1ap.encode(
    S1SetupRequest(GlobalEnbId(PLMN, 0x19B), (SupportedTa(1, (PLMN,)),), 128, "enb-019b")
)


def s1_setup_response(mme: str) -> bytes:
    """What the test MMEs answer an S1 Setup Request with: it names the instance."""
    return s1ap.encode(S1SetupResponse((ServedGummei((PLMN,), (2,), (1,)),), 255, mme))


def initial_ue(enb_ue_s1ap_id: int, nas: bytes = b"\x07\x41") -> bytes:
    return s1ap.encode(InitialUeMessage(enb_ue_s1ap_id, nas, TAI, ECGI, "mo-Signalling"))


def uplink_nas(enb_ue_s1ap_id: int, mme_ue_s1ap_id: int, nas: bytes) -> bytes:
    return s1ap.encode(UplinkNasTransport(mme_ue_s1ap_id, enb_ue_s1ap_id, nas, ECGI, TAI))


def downlink_nas(enb_ue_s1ap_id: int, mme_ue_s1ap_id: int, nas: bytes) -> bytes:
    """What the test MMEs answer a UE message with: its NAS PDU echoed, MME-UE-S1AP-ID
    100 + the eNB-UE-S1AP-ID."""
    return s1ap.encode(DownlinkNasTransport(mme_ue_s1ap_id, enb_ue_s1ap_id, nas))


def mme_answer(payload: bytes, mme: str) -> bytes:
    """The S1AP answer of a test MME to an uplink: S1 Setup Response (naming the instance),
    Reset Acknowledge, eNB Configuration Update Acknowledge, or for a UE message the Downlink
    NAS Transport above."""
    message = s1ap.decode(payload)
    match message:
        case S1SetupRequest():
            return s1_setup_response(mme)
        case Reset():
            return s1ap.encode(ResetAcknowledge(message.connections))
        case EnbConfigurationUpdate():
            return s1ap.encode(EnbConfigurationUpdateAcknowledge())
        case _:
            enb_id = message.enb_ue_s1ap_id
            return downlink_nas(enb_id, 100 + enb_id, message.nas_pdu)


def free_port() -> int:
    """A loopback TCP port free right now (for a process the test starts later)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# --- the agent process -------------------------------------------------------------------------


def agent_config(
    groups: Sequence[tuple[str, Sequence[str]]],
    *,
    transport: str = "tcp",
    identity: str = "enb-test",
    core: dict[str, Any] | None = None,
    retransmit: dict[str, Any] | None = None,
    reconnect: dict[str, Any] | None = None,
    tls: dict[str, Any] | None = None,
) -> str:
    """A config file's text: S1 on a free loopback port, JSON logs, the given MME groups."""
    lines = [
        f'identity = "{identity}"',
        "[s1]",
        f'transport = "{transport}"',
        'host = "127.0.0.1"',
        "port = 0",
        "[log]",
        'format = "json"',
        "[lifecycle]",
        "drain_timeout_s = 5.0",
        "[core]",
        *_table(core),
        "[core.reconnect]",
        *_table({"initial_delay_s": 0.05, "max_delay_s": 0.5, **(reconnect or {})}),
        "[core.retransmit]",
        *_table(retransmit),
        "[core.tls]",
        *_table(tls),
    ]
    for name, endpoints in groups:
        lines += ["[[core.groups]]", f'name = "{name}"', f"endpoints = {json.dumps(endpoints)}"]
    return "\n".join(lines) + "\n"


def _table(values: dict[str, Any] | None) -> list[str]:
    return [f"{key} = {json.dumps(value)}" for key, value in (values or {}).items()]


class AgentProcess:
    """A running `python -m echo_agent`; `events` holds its log lines, parsed."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.events: list[dict[str, Any]] = []
        self.raw_stderr: list[str] = []
        self._changed = asyncio.Condition()
        self._reading = asyncio.ensure_future(self._read())

    @classmethod
    async def start(cls, config_text: str, directory: Path) -> AgentProcess:
        config = directory / "echo-agent.toml"
        config.write_text(config_text)
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "echo_agent",
            "--config",
            str(config),
            cwd=REPO,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        return cls(process)

    async def _read(self) -> None:
        assert self.process.stderr is not None
        while line := await self.process.stderr.readline():
            text = line.decode(errors="replace").rstrip("\n")
            self.raw_stderr.append(text)
            try:
                event = json.loads(text)
            except json.JSONDecodeError:
                event = {"event": None, "text": text}
            async with self._changed:
                self.events.append(event if isinstance(event, dict) else {"event": None})
                self._changed.notify_all()
        async with self._changed:
            self._changed.notify_all()

    def matching(self, event: str, **fields: Any) -> list[dict[str, Any]]:
        return [
            line
            for line in self.events
            if line.get("event") == event
            and all(line.get(key) == value for key, value in fields.items())
        ]

    async def wait_for(
        self, event: str, *, count: int = 1, timeout_s: float = TIMEOUT_S, **fields: Any
    ) -> dict[str, Any]:
        """The `count`-th log line with this event and these field values (waiting for it)."""

        def found() -> bool:
            return len(self.matching(event, **fields)) >= count or self._reading.done()

        try:
            async with asyncio.timeout(timeout_s), self._changed:
                await self._changed.wait_for(found)
        except TimeoutError:
            raise AssertionError(
                f"no {count} x {event!r} {fields} within {timeout_s} s; log:\n" + self.log_text()
            ) from None
        matches = self.matching(event, **fields)
        if len(matches) < count:
            raise AssertionError(
                f"the agent exited (status {self.process.returncode}) before {event!r} "
                f"{fields}; log:\n" + self.log_text()
            )
        return matches[count - 1]

    async def s1_port(self) -> int:
        return (await self.wait_for("s1 listening", timeout_s=START_TIMEOUT_S))["port"]

    def log_text(self) -> str:
        return "\n".join(self.raw_stderr[-80:])

    async def terminate(self, timeout_s: float = START_TIMEOUT_S) -> int:
        """SIGTERM, then the exit status."""
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        return await self.wait(timeout_s)

    async def wait(self, timeout_s: float = START_TIMEOUT_S) -> int:
        async with asyncio.timeout(timeout_s):
            status = await self.process.wait()
            await self._reading
        return status

    async def kill(self) -> None:
        if self.process.returncode is None:
            self.process.kill()
        await self.process.wait()
        await self._reading


class MmeProcess:
    """harness/scripted_mme.py as a process, answering from `script` (procedure code ->
    reply payloads, or "ignore"); see that module for the script's meaning."""

    _REQUEST = re.compile(r"\] (request(?: ignored)?) .*")
    _FIELD = re.compile(r"\b(ue_id|request_id)=(\d+)")

    def __init__(self, process: asyncio.subprocess.Process, name: str, port: int) -> None:
        self.process = process
        self.name = name
        self.port = port
        self.requests: asyncio.Queue[tuple[int, int, bool]] = asyncio.Queue()
        """(UE ID, request ID, ignored) of each request, as the MME logs it."""
        self._reading = asyncio.ensure_future(self._read())

    @classmethod
    async def start(
        cls, name: str, script: dict[int, list[bytes] | str], directory: Path, *, port: int = 0
    ) -> MmeProcess:
        procedures = {
            str(code): answer if isinstance(answer, str) else [reply.hex() for reply in answer]
            for code, answer in script.items()
        }
        script_path = directory / f"{name}.json"
        script_path.write_text(json.dumps({"procedures": procedures}))
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            str(REPO / "tests" / "harness" / "scripted_mme.py"),
            *("--name", name, "--port", str(port), "--script", str(script_path)),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert process.stdout is not None
        async with asyncio.timeout(START_TIMEOUT_S):
            line = (await process.stdout.readline()).decode().split()
        if line[:1] != ["listening"]:
            raise RuntimeError(f"scripted MME {name} did not start: {line}")
        return cls(process, name, int(line[1]))

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    async def _read(self) -> None:
        assert self.process.stderr is not None
        while line := await self.process.stderr.readline():
            text = line.decode(errors="replace")
            if match := self._REQUEST.search(text):
                fields = dict(self._FIELD.findall(text))
                ignored = match[1] == "request ignored"
                self.requests.put_nowait((int(fields["ue_id"]), int(fields["request_id"]), ignored))

    async def next_request(self) -> tuple[int, int, bool]:
        async with asyncio.timeout(TIMEOUT_S):
            return await self.requests.get()

    async def kill(self) -> None:
        """SIGKILL: no drain, no goodbye; the kernel resets its connections."""
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGKILL)
        await self.process.wait()
        await self._reading


class TcpEnb:
    """A simulated eNB on the agent's TCP transport (4-octet length, 2-octet stream, payload)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    @classmethod
    async def connect(cls, port: int) -> TcpEnb:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def send(self, payload: bytes, stream: int = 0) -> None:
        await self.send_bytes(TCP_HEADER.pack(len(payload), stream) + payload)

    async def send_bytes(self, data: bytes) -> None:
        self._writer.write(data)
        await self._writer.drain()

    async def receive(self, timeout_s: float = TIMEOUT_S) -> tuple[bytes, int]:
        """The next S1AP message and its stream; EOFError if the agent closed first."""
        async with asyncio.timeout(timeout_s):
            try:
                header = await self._reader.readexactly(TCP_HEADER.size)
                length, stream = TCP_HEADER.unpack(header)
                return await self._reader.readexactly(length), stream
            except asyncio.IncompleteReadError:
                raise EOFError("the agent closed the eNB connection") from None

    async def closed_by_agent(self, timeout_s: float = TIMEOUT_S) -> bool:
        async with asyncio.timeout(timeout_s):
            return await self._reader.read(1) == b""

    async def close(self) -> None:
        self._writer.close()
        try:
            await self._writer.wait_closed()
        except OSError:
            pass
