"""ECHO agent figures: the latency the agent adds to an uplink, the messages one agent process
relays per second, and its resident memory with 64 attached UEs.

The agent is the real daemon (`python -m echo_agent`, uvloop) in its own process, with
`s1.transport = "tcp"`: the build hosts' kernel has no SCTP (the SCTP relay runs in the VM
tier, not here). This process plays the eNB (the TCP transport's framing) and a minimal MME (the
ECHO wire, answering each request at once with one Downlink NAS Transport and an ACK), both as
asyncio protocols on one uvloop, so they cost little next to the agent.

- agent_relay_us_p50: what the agent's own work adds to one uplink, one message at a time:
  timed inside the real agent process (a stopwatch wrapped around the eNB side's
  data_received, which parses the message, runs the entry point, encodes the ECHO frame and
  writes it to the MME socket; on loopback that write runs the receiving side of TCP and
  wakes the MME's process, ~40 us of the figure here). The end-to-end times are in the
  detail, the three paths in a shuffled order each round: eNB write -> request at the MME
  via the agent process, via a do-nothing relay process (uvloop, bytes forwarded as they
  come) and direct. On these VMs waking a process that sleeps between messages costs 40 to
  150 us by itself, and its caches are cold when it wakes (the agent's work takes about
  twice as long then as in a busy process), so the detail also gives the agent's adapter
  run inside this process, warm.
- agent_msgs_per_s: 64 UEs, each with one Uplink NAS Transport outstanding at a time and the
  next sent when its downlink arrives; uplinks plus downlinks through the agent per second.
  The agent's CPU use over the run is given in the detail: below ~100 % the load generator,
  not the agent, set the figure.
- agent_rss_mb: VmRSS of the agent process after 64 UEs attached (S1 Setup, then for each UE
  an Initial UE Message answered with a Downlink NAS Transport, which gives the agent its
  MME-UE-S1AP-ID) and a round of traffic for each.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import structlog

from echo_agent.config import AgentConfig, CoreConfig, GroupConfig, S1Config
from echo_agent.daemon import Agent
from echo_agent.enb_side import TCP_HEADER
from echo_agent.wire import HEADER, Frame, FrameKind, FrameReader, encode
from epc.codec import s1ap
from epc.codec.s1ap_messages import (
    DownlinkNasTransport,
    Ecgi,
    GlobalEnbId,
    InitialUeMessage,
    PlmnIdentity,
    S1SetupRequest,
    S1SetupResponse,
    ServedGummei,
    SupportedTa,
    Tai,
    UplinkNasTransport,
)

UES = 64
LATENCY_SAMPLES = 2000
LATENCY_WARMUP = 200
THROUGHPUT_SECONDS = 3.0
THROUGHPUT_RUNS = 3
START_TIMEOUT_S = 15.0

PLMN = PlmnIdentity("001", "01")
TAI = Tai(PLMN, 1)
ECGI = Ecgi(PLMN, 0x19B01)
NAS = bytes(40)
"""A 40-octet NAS PDU: the size of a protected Attach or Service Request."""
S1_SETUP_REQUEST = s1ap.encode(
    S1SetupRequest(GlobalEnbId(PLMN, 0x19B), (SupportedTa(1, (PLMN,)),), 128, "bench-enb")
)
S1_SETUP_RESPONSE = s1ap.encode(S1SetupResponse((ServedGummei((PLMN,), (2,), (1,)),), 255, "m"))
MME_UE_ID_BASE = 1000
TIMED_AGENT_SOURCE = """
import atexit, sys, time
from echo_agent import enb_side
from echo_agent.__main__ import main

durations = []
handle = enb_side._TcpEnbLink.data_received

def timed(self, data):
    started = time.perf_counter()
    handle(self, data)
    durations.append(time.perf_counter() - started)

def dump():
    with open(sys.argv[1], "w") as file:
        file.write("\\n".join(f"{duration * 1e6:.3f}" for duration in durations))

enb_side._TcpEnbLink.data_received = timed
atexit.register(dump)
main(sys.argv[2:])
"""
"""`python -m echo_agent` with a stopwatch around the eNB side's data_received: from the
uplink's bytes to its ECHO frame written to the MME socket (parse, entry point, encode,
write). The durations go to a file at exit."""


async def run() -> dict[str, dict]:
    in_process_us, baseline_us = await _in_process_relay_us()
    with tempfile.TemporaryDirectory(prefix="bench-agent-") as directory:
        mme = await FastMme.start()
        # The stopwatch's own cost stays out of the throughput and memory figures: those are
        # taken from a plain `python -m echo_agent`.
        agent = await AgentProcess.start(Path(directory), mme.port, timed=True)
        try:
            enb = await Enb.connect(agent.s1_port)
            await enb.setup(UES)
            via_agent_us, via_relay_us, direct_us = await _relay_us(enb, mme)
            enb.close()
        finally:
            await agent.stop()
        # The latency phase's calls come right after the setup's (S1 Setup, then per UE an
        # Initial UE Message and an Uplink NAS Transport, one call each).
        first = 1 + 2 * UES + LATENCY_WARMUP
        inside_us = statistics.median(agent.uplink_us()[first : first + LATENCY_SAMPLES])
        mme.close()

        mme = await FastMme.start()
        agent = await AgentProcess.start(Path(directory), mme.port)
        try:
            enb = await Enb.connect(agent.s1_port)
            await enb.setup(UES)
            rss_mb = agent.rss_mb()
            runs = []
            for _ in range(THROUGHPUT_RUNS):
                cpu_before = agent.cpu_seconds()
                rate, elapsed = await _messages_per_s(enb)
                runs.append((rate, (agent.cpu_seconds() - cpu_before) / elapsed))
            enb.close()
        finally:
            await agent.stop()
            mme.close()
    rate, cpu = sorted(runs)[len(runs) // 2]
    return {
        "agent_relay_us_p50": _figure(
            inside_us,
            "us",
            f"median of {LATENCY_SAMPLES} uplinks one at a time, timed inside the agent process "
            "from the uplink's bytes to its ECHO frame written to the MME socket; TCP transport "
            "(no SCTP in this host's kernel). End to end, eNB write -> request at the MME: "
            f"{via_agent_us:.0f} us via the agent process, {via_relay_us:.0f} us via a "
            f"do-nothing relay process, {direct_us:.0f} us direct; with the agent's adapter "
            f"in the measuring process (warm, no process wake-up) {in_process_us:.0f} us "
            f"against {baseline_us:.0f} us direct",
        ),
        "agent_msgs_per_s": _figure(
            rate,
            "1/s",
            f"uplink + downlink S1AP messages, {UES} UEs closed-loop, median of "
            f"{THROUGHPUT_RUNS} x {THROUGHPUT_SECONDS:.0f} s; agent CPU {cpu * 100:.0f} % of "
            "one core; TCP transport, eNB and MME simulated in one other process",
        ),
        "agent_rss_mb": _figure(
            rss_mb,
            "MB",
            f"VmRSS of the agent process (python -m echo_agent, uvloop) with {UES} UEs attached",
        ),
    }


# --- measurements ------------------------------------------------------------------------------


async def _in_process_relay_us() -> tuple[float, float]:
    """Medians of eNB write -> request at the MME through an `Agent` on this loop, and of the
    same write straight to a receiver, samples alternating."""
    mme = await FastMme.start()
    config = AgentConfig(
        s1=S1Config(transport="tcp", host="127.0.0.1", port=0),
        core=CoreConfig(groups=(GroupConfig(name="bench", endpoints=(mme.endpoint,)),)),
    )
    with _quiet_logs():
        agent = Agent(config, "bench-in-process")
        await agent.listen()
        pool = asyncio.create_task(agent.core.run())
        direct = await _OneWay.open(through_relay=False)
        try:
            assert agent.listener is not None
            enb = await Enb.connect(agent.listener.port)
            await enb.setup(1)
            message = TCP_HEADER.pack(len(enb.uplink[0]), 1) + enb.uplink[0]
            through, straight = [], []
            for sample in range(LATENCY_WARMUP + LATENCY_SAMPLES):
                arrived = mme.next_arrival()
                downlink = enb.next_downlink(0)
                started = time.perf_counter()
                enb.send(enb.uplink[0], stream=1)
                arrival = await arrived
                await downlink
                direct_us = await direct.sample(message)
                if sample >= LATENCY_WARMUP:
                    through.append((arrival - started) * 1e6)
                    straight.append(direct_us)
            enb.close()
        finally:
            await direct.close()
            await agent.stop_accepting()
            await agent.close()
            await pool
            mme.close()
    return statistics.median(through), statistics.median(straight)


@contextlib.contextmanager
def _quiet_logs() -> Iterator[None]:
    """The in-process agent logs only warnings (its info lines would land in the figures)."""
    saved = structlog.get_config()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    try:
        yield
    finally:
        structlog.configure(**saved)


async def _relay_us(enb: Enb, mme: FastMme) -> tuple[float, float, float]:
    """Median microseconds from the eNB's write to the request's arrival at the MME: through
    the agent process, through a do-nothing relay process, and straight to a receiver here.
    The three paths take turns in a shuffled order each round: how fast a process wakes here
    depends on what ran just before, and a fixed order would favour one path."""
    message = TCP_HEADER.pack(len(enb.uplink[0]), 1) + enb.uplink[0]
    relay, direct = await _OneWay.open(through_relay=True), await _OneWay.open(through_relay=False)

    async def via_agent() -> float:
        arrived = mme.next_arrival()
        downlink = enb.next_downlink(0)
        started = time.perf_counter()
        enb.send(enb.uplink[0], stream=1)
        arrival = await arrived
        await downlink
        return (arrival - started) * 1e6

    paths = {
        "agent": via_agent,
        "relay": lambda: relay.sample(message),
        "direct": lambda: direct.sample(message),
    }
    samples: dict[str, list[float]] = {name: [] for name in paths}
    order = random.Random(1)
    try:
        for sample in range(LATENCY_WARMUP + LATENCY_SAMPLES):
            names = list(paths)
            order.shuffle(names)
            for name in names:
                taken = await paths[name]()
                if sample >= LATENCY_WARMUP:
                    samples[name].append(taken)
    finally:
        await relay.close()
        await direct.close()
    return tuple(statistics.median(samples[name]) for name in paths)  # type: ignore[return-value]


RELAY_SOURCE = """
import asyncio, sys, uvloop

async def main():
    loop = asyncio.get_running_loop()
    upstream, _ = await loop.create_connection(asyncio.Protocol, "127.0.0.1", int(sys.argv[1]))

    class Relay(asyncio.Protocol):
        def data_received(self, data):
            upstream.write(data)

    server = await loop.create_server(Relay, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await asyncio.Event().wait()

uvloop.run(main())
"""


class _OneWay:
    """A TCP path from this process to a receiver in this process, straight or through a
    do-nothing relay process (RELAY_SOURCE)."""

    def __init__(self, receiver: _Receiver, server: asyncio.Server) -> None:
        self._receiver = receiver
        self._server = server
        self._transport: asyncio.Transport | None = None
        self._relay: asyncio.subprocess.Process | None = None

    @classmethod
    async def open(cls, *, through_relay: bool) -> _OneWay:
        loop = asyncio.get_running_loop()
        receiver = _Receiver()
        server = await loop.create_server(lambda: receiver, "127.0.0.1", 0)
        path = cls(receiver, server)
        port = server.sockets[0].getsockname()[1]
        if through_relay:
            path._relay = await asyncio.create_subprocess_exec(
                sys.executable, "-c", RELAY_SOURCE, str(port), stdout=asyncio.subprocess.PIPE
            )
            assert path._relay.stdout is not None
            port = int(await asyncio.wait_for(path._relay.stdout.readline(), START_TIMEOUT_S))
        transport, _ = await loop.create_connection(asyncio.Protocol, "127.0.0.1", port)
        path._transport = transport  # type: ignore[assignment]  # uvloop's: same interface
        return path

    async def sample(self, message: bytes) -> float:
        """Microseconds from writing `message` to its last octet arriving."""
        assert self._transport is not None
        arrived = self._receiver.next_arrival(len(message))
        started = time.perf_counter()
        self._transport.write(message)
        return (await arrived - started) * 1e6

    async def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
        self._server.close()
        if self._relay is not None:
            self._relay.kill()
            await self._relay.wait()


async def _messages_per_s(enb: Enb) -> tuple[float, float]:
    """Closed loop: each UE's next uplink goes when its downlink arrives."""
    stop = False
    done = asyncio.get_running_loop().create_future()
    outstanding = UES
    round_trips = 0

    def on_downlink(ue: int) -> None:
        nonlocal round_trips, outstanding
        round_trips += 1
        if stop:
            outstanding -= 1
            if outstanding == 0 and not done.done():
                done.set_result(None)
            return
        enb.send(enb.uplink[ue], stream=1)

    enb.on_downlink = on_downlink
    started = time.perf_counter()
    for ue in range(UES):
        enb.send(enb.uplink[ue], stream=1)
    await asyncio.sleep(THROUGHPUT_SECONDS)
    stop = True
    elapsed = time.perf_counter() - started
    counted = round_trips
    await asyncio.wait_for(done, START_TIMEOUT_S)
    enb.on_downlink = None
    return 2 * counted / elapsed, elapsed


# --- the agent process -------------------------------------------------------------------------


class AgentProcess:
    def __init__(self, process: asyncio.subprocess.Process, s1_port: int, durations: Path) -> None:
        self.process = process
        self.s1_port = s1_port
        self.durations = durations
        self._drain = asyncio.ensure_future(self._drain_stderr())

    @classmethod
    async def start(cls, directory: Path, mme_port: int, *, timed: bool = False) -> AgentProcess:
        """The agent with S1 on a free loopback port; `timed`: with the stopwatch."""
        config = directory / "agent.toml"
        config.write_text(
            'identity = "bench-enb"\n'
            '[s1]\ntransport = "tcp"\nhost = "127.0.0.1"\nport = 0\n'
            '[log]\nformat = "json"\n'
            f'[[core.groups]]\nname = "bench"\nendpoints = ["127.0.0.1:{mme_port}"]\n'
        )
        durations = directory / "uplink_us.txt"
        command = ["-c", TIMED_AGENT_SOURCE, str(durations)] if timed else ["-m", "echo_agent"]
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            *command,
            "--config",
            str(config),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        assert process.stderr is not None
        async with asyncio.timeout(START_TIMEOUT_S):
            while line := await process.stderr.readline():
                event = json.loads(line)
                if event.get("event") == "s1 listening":
                    return cls(process, event["port"], durations)
        raise RuntimeError(f"the agent exited with {await process.wait()} before listening")

    def uplink_us(self) -> list[float]:
        """Each data_received's duration, in order; readable once the agent has exited."""
        return [float(line) for line in self.durations.read_text().split()]

    async def _drain_stderr(self) -> None:
        assert self.process.stderr is not None
        while await self.process.stderr.readline():
            pass

    def rss_mb(self) -> float:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        kilobytes = next(int(line.split()[1]) for line in status.splitlines() if "VmRSS" in line)
        return kilobytes / 1024

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.terminate()
        await self.process.wait()
        await self._drain


# --- the simulated eNB -------------------------------------------------------------------------


class Enb(asyncio.Protocol):
    """Speaks the agent's TCP transport; UE i has eNB-UE-S1AP-ID i."""

    def __init__(self) -> None:
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._waiters: dict[int, asyncio.Future[bytes]] = {}
        self.on_downlink: Callable[[int], None] | None = None
        self.uplink: list[bytes] = []
        """Each UE's Uplink NAS Transport, once the MME-UE-S1AP-ID is known."""

    @classmethod
    async def connect(cls, port: int) -> Enb:
        loop = asyncio.get_running_loop()
        _, enb = await loop.create_connection(cls, "127.0.0.1", port)
        return enb

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        start, size, header = 0, len(buffer), TCP_HEADER.size
        while size - start >= header:
            length, _ = TCP_HEADER.unpack_from(buffer, start)
            end = start + header + length
            if end > size:
                break
            self._downlink(bytes(buffer[start + header : end]))
            start = end
        if start:
            self._buffer = buffer[start:]

    def _downlink(self, payload: bytes) -> None:
        # The MME's downlinks carry the UE index in the NAS PDU's first two octets.
        ue = int.from_bytes(payload[-2:], "big") if len(payload) > 2 else -1
        if self.on_downlink is not None and ue >= 0:
            self.on_downlink(ue)
            return
        key = -1 if payload == S1_SETUP_RESPONSE else ue
        waiter = self._waiters.pop(key, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(payload)

    def next_downlink(self, ue: int) -> asyncio.Future[bytes]:
        waiter = asyncio.get_running_loop().create_future()
        self._waiters[ue] = waiter
        return waiter

    def send(self, payload: bytes, *, stream: int = 0) -> None:
        assert self._transport is not None
        self._transport.write(TCP_HEADER.pack(len(payload), stream) + payload)

    async def setup(self, ues: int) -> None:
        """S1 Setup, then each UE attached (Initial UE Message answered) and one round trip."""
        response = self.next_downlink(-1)
        self.send(S1_SETUP_REQUEST)
        await asyncio.wait_for(response, START_TIMEOUT_S)
        for ue in range(ues):
            downlink = self.next_downlink(ue)
            self.send(s1ap.encode(InitialUeMessage(ue, NAS, TAI, ECGI, "mo-Signalling")), stream=1)
            await asyncio.wait_for(downlink, START_TIMEOUT_S)
            self.uplink.append(
                s1ap.encode(UplinkNasTransport(MME_UE_ID_BASE + ue, ue, NAS, ECGI, TAI))
            )
        for ue in range(ues):
            downlink = self.next_downlink(ue)
            self.send(self.uplink[ue], stream=1)
            await asyncio.wait_for(downlink, START_TIMEOUT_S)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


# --- the minimal MME ---------------------------------------------------------------------------


class FastMme(asyncio.Protocol):
    """Answers every request at once: the S1 Setup with a response, anything else with a
    Downlink NAS Transport (its NAS PDU ends in the UE index) and an ACK, in one write."""

    def __init__(self) -> None:
        self._reader = FrameReader()
        self._transport: asyncio.Transport | None = None
        self._downlinks: dict[int, bytes] = {}
        """Per agent UE ID, the downlink to answer with (peeked once)."""
        self._arrival: asyncio.Future[float] | None = None
        self._server: asyncio.Server | None = None
        self.port = 0

    @property
    def endpoint(self) -> str:
        return f"127.0.0.1:{self.port}"

    @classmethod
    async def start(cls) -> FastMme:
        mme = cls()
        loop = asyncio.get_running_loop()
        mme._server = await loop.create_server(lambda: mme, "127.0.0.1", 0)
        mme.port = mme._server.sockets[0].getsockname()[1]
        return mme

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport  # type: ignore[assignment]

    def next_arrival(self) -> asyncio.Future[float]:
        self._arrival = asyncio.get_running_loop().create_future()
        return self._arrival

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        out = []
        for frame in self._reader.feed(data):
            kind = frame.kind
            if kind is FrameKind.REQUEST:
                if self._arrival is not None and not self._arrival.done():
                    self._arrival.set_result(now)
                out.append(self._answer(frame))
            elif kind is FrameKind.HELLO:
                out.append(encode(Frame(FrameKind.HELLO, payload=b"bench-mme")))
            elif kind is FrameKind.PING:
                out.append(encode(Frame(FrameKind.PONG, request_id=frame.request_id)))
        if out and self._transport is not None:
            self._transport.write(b"".join(out))

    def _answer(self, frame: Frame) -> bytes:
        downlink = self._downlinks.get(frame.ue_id)
        if downlink is None:
            downlink = self._downlink_for(frame)
        ue_id, request_id = frame.ue_id, frame.request_id
        return (
            HEADER.pack(b"EC", 1, FrameKind.REPLY, len(downlink), ue_id, request_id, 0, 0, 0, 1)
            + downlink
            + HEADER.pack(b"EC", 1, FrameKind.ACK, 0, ue_id, request_id, 1, 0, 0, 0)
        )

    def _downlink_for(self, frame: Frame) -> bytes:
        peek = s1ap.peek(frame.payload)
        if peek.enb_ue_s1ap_id is None:
            return S1_SETUP_RESPONSE  # not cached: the eNB's queue only sees setups here
        ue = peek.enb_ue_s1ap_id
        nas = NAS[:-2] + ue.to_bytes(2, "big")
        downlink = s1ap.encode(DownlinkNasTransport(MME_UE_ID_BASE + ue, ue, nas))
        self._downlinks[frame.ue_id] = downlink
        return downlink

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
        if self._server is not None:
            self._server.close()


class _Receiver(asyncio.Protocol):
    def __init__(self) -> None:
        self._waiter: asyncio.Future[float] | None = None
        self._expected = 0
        self._received = 0

    def next_arrival(self, size: int) -> asyncio.Future[float]:
        self._waiter = asyncio.get_running_loop().create_future()
        self._expected, self._received = size, 0
        return self._waiter

    def data_received(self, data: bytes) -> None:
        now = time.perf_counter()
        self._received += len(data)
        if self._waiter is not None and self._received >= self._expected:
            if not self._waiter.done():
                self._waiter.set_result(now)


def _figure(value: float, unit: str, detail: str) -> dict:
    return {"value": round(value, 3), "unit": unit, "detail": detail}


if __name__ == "__main__":
    import uvloop

    for name, figure in uvloop.run(run()).items():
        print(f"{name:24} {figure['value']:>10.3f} {figure['unit']:4} {figure['detail']}")
