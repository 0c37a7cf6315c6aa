"""Whole-core figures (issue 6, "Performance"): attaches per second, attach latency at half that
rate, the same core on a store without persistence, Service Request latency, and what killing
the serving MME mid-attach adds.

The core is the local core of `make run` (epc.localcore: PGW, SGW, two MMEs, one agent with
`s1.transport = "tcp"`, each daemon its own process, configs/local with free ports, log level
info into a pipe), started twice: on a 1-node ZooKeeper (the tests' harness, Debian's jars, on
this machine), then on "memory". The daemons refuse the memory backend (it lives in one
process, and the core is five), so "memory" is the closest thing five processes can share: one
SQLite file on tmpfs (/dev/shm) with synchronous = "normal", so nothing reaches a disk and no
commit waits for an fsync. The load is enbsim's Python API in this process (one eNB, fresh
UEs for each measurement), on the same two cores as the daemons.

- attach_per_s: closed loop, CONCURRENCY attaches in flight, ATTACHES_PER_RUN per run, median
  of RUNS runs; attaches that completed / elapsed.
- attach_ms_p50, attach_ms_p99: open loop, UEs starting at half of attach_per_s, latency seen
  by the UE (Attach Request to Attach Complete), nearest-rank percentiles.
- attach_per_s_memory: as attach_per_s on the "memory" core; echo_overhead_ratio: attach_ms_p50
  on ZooKeeper / on "memory", both at the same offered rate (half of the ZooKeeper
  attach_per_s), one bench run.
- service_request_ms_p50: idle (UE Context Release first, not timed, until the MME has applied
  the Release Complete) -> Service Request until the UE is connected, one UE at a time,
  ZooKeeper core.
- mme_failover_extra_ms: the serving MME (the one whose CPU time grows during probe attaches)
  is SIGKILLed when the UE receives a chosen downlink of its attach (rotating Authentication
  Request, Security Mode Command, Attach Accept); the attach's latency minus the p50 of
  attaches one at a time on the same core just before; median of FAILOVER_SAMPLES. The killed
  instance is restarted between samples.
"""

from __future__ import annotations

import asyncio
import math
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from enbsim.enb import EnbConfig
from enbsim.simulator import SimulatedEnb, Simulator
from epc.codec.s1ap_messages import PlmnIdentity
from epc.localcore import LocalCore, Overrides, load_plan
from epc.subscriber import read_csv

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from harness.zookeeper import running_standalone

CONFIGS = Path(__file__).resolve().parent.parent / "configs" / "local"
K, OPC = "465b5ce8b199b49faa5f0a2ee238a6bc", "cd63cb71954a9f4e48a5994e37a02baf"
PLMN = PlmnIdentity("001", "01")
CONCURRENCY = 16
ATTACHES_PER_RUN = 200
RUNS = 3
LATENCY_ATTACHES = 200
SEQUENTIAL_ATTACHES = 30
SERVICE_REQUESTS = 50
FAILOVER_SAMPLES = 6
KILL_POINTS = ("Authentication Request", "Security Mode Command", "Attach Accept")
SUBSCRIBERS = 2000


async def run() -> dict[str, dict]:
    figures: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="bench-attach-") as directory:
        base = Path(directory)
        _write_subscribers(base / "subscribers.csv")
        with running_standalone(base / "zookeeper") as zookeeper:
            overrides = Overrides(store="zookeeper", zookeeper_hosts=(zookeeper.hosts,))
            async with _Bench.started(base / "zk", overrides) as bench:
                rate, runs = await bench.attaches_per_s()
                half = rate / 2
                latencies = await bench.open_loop_ms(half)
                service = await bench.service_request_ms()
                failover = await bench.failover_extra_ms()
        memory = Overrides(
            store="sqlite",
            sqlite_path=Path(tempfile.mkdtemp(prefix="bench-attach-", dir="/dev/shm")) / "s.db",
            sqlite_synchronous="normal",
        )
        async with _Bench.started(base / "memory", memory) as bench:
            memory_rate, memory_runs = await bench.attaches_per_s()
            memory_latencies = await bench.open_loop_ms(half)
        _remove_tree(memory.sqlite_path.parent)  # type: ignore[union-attr]
    core = "agent + 2 MME + SGW + PGW, 1 eNB (enbsim, tcp), all on this machine"
    figures["attach_per_s"] = _figure(
        rate,
        "1/s",
        f"{core}, 1-node ZooKeeper; {CONCURRENCY} attaches in flight, median of runs "
        f"{_list(runs)} ({ATTACHES_PER_RUN} attaches each)",
    )
    p50, p99 = _percentile(latencies, 50), _percentile(latencies, 99)
    at = f"{len(latencies)} attaches offered at {half:.1f}/s (half of attach_per_s)"
    figures["attach_ms_p50"] = _figure(p50, "ms", f"{core}, 1-node ZooKeeper; {at}")
    figures["attach_ms_p99"] = _figure(p99, "ms", f"{core}, 1-node ZooKeeper; {at}")
    memory_store = 'SQLite on tmpfs (/dev/shm), synchronous="normal" (daemons refuse memory)'
    figures["attach_per_s_memory"] = _figure(
        memory_rate,
        "1/s",
        f"{core}, {memory_store}; median of runs {_list(memory_runs)}",
    )
    memory_p50 = _percentile(memory_latencies, 50)
    figures["echo_overhead_ratio"] = _figure(
        p50 / memory_p50,
        "ratio",
        f"attach_ms_p50 ZooKeeper {p50:.1f} ms / {memory_store} {memory_p50:.1f} ms, "
        f"both at {half:.1f}/s offered, one run",
    )
    figures["service_request_ms_p50"] = _figure(
        _percentile(service, 50),
        "ms",
        f"{core}, 1-node ZooKeeper; {len(service)} Service Requests from idle, one at a time",
    )
    if failover is not None:
        extra, samples, baseline = failover
        figures["mme_failover_extra_ms"] = _figure(
            extra,
            "ms",
            f"serving MME SIGKILLed on the UE's {' / '.join(KILL_POINTS)}; median of "
            f"{_list(samples)} ms extra over the {baseline:.1f} ms p50 of attaches one at a time",
        )
    return figures


class _Bench:
    """A running local core and one connected enbsim eNB holding every subscriber."""

    def __init__(self, core: LocalCore, simulator: Simulator, enb: SimulatedEnb) -> None:
        self.core = core
        self.simulator = simulator
        self.enb = enb
        self._next_ue = 0
        self._agent_lines: list[str] = []
        self._agent_changed = asyncio.Event()
        self._idle_lines: list[str] = []
        self._idle_changed = asyncio.Event()

    @classmethod
    def started(cls, directory: Path, overrides: Overrides) -> _Started:
        return _Started(directory, overrides)

    def fresh(self, count: int) -> list[str]:
        """IMSIs of UEs not used yet on this core."""
        first, self._next_ue = self._next_ue, self._next_ue + count
        if self._next_ue > SUBSCRIBERS:
            raise RuntimeError("bench/attach.py: SUBSCRIBERS too small for the runs")
        return [_imsi(number) for number in range(first, self._next_ue)]

    async def attach_ms(self, imsi: str) -> float:
        result = await self.enb.attach(imsi)
        if not result.ok:
            raise RuntimeError(f"attach of {imsi} failed: {result.failure_cause}")
        return result.latency_s * 1000

    async def attaches_per_s(self) -> tuple[float, list[float]]:
        runs = []
        for _ in range(RUNS):
            pending = iter(self.fresh(ATTACHES_PER_RUN))

            async def worker(pending: Iterator[str] = pending) -> None:
                for imsi in pending:
                    await self.attach_ms(imsi)

            started = time.perf_counter()
            async with asyncio.TaskGroup() as workers:
                for _ in range(CONCURRENCY):
                    workers.create_task(worker())
            runs.append(ATTACHES_PER_RUN / (time.perf_counter() - started))
        return statistics.median(runs), runs

    async def open_loop_ms(self, rate: float) -> list[float]:
        imsis = self.fresh(LATENCY_ATTACHES)
        loop = asyncio.get_running_loop()
        start = loop.time()

        async def one(index: int, imsi: str) -> float:
            await asyncio.sleep(max(0.0, start + index / rate - loop.time()))
            return await self.attach_ms(imsi)

        async with asyncio.TaskGroup() as attaches:
            tasks = [attaches.create_task(one(i, imsi)) for i, imsi in enumerate(imsis)]
        return [task.result() for task in tasks]

    async def service_request_ms(self) -> list[float]:
        latencies = []
        for imsi in self.fresh(SERVICE_REQUESTS):
            await self.attach_ms(imsi)
            _ok(await self.enb.release(imsi))
            await self._until_idle_at_mme(imsi)
            result = _ok(await self.enb.service_request(imsi))
            latencies.append(result.latency_s * 1000)
        return latencies

    async def failover_extra_ms(self) -> tuple[float, list[float], float] | None:
        baseline = _percentile(
            [await self.attach_ms(imsi) for imsi in self.fresh(SEQUENTIAL_ATTACHES)], 50
        )
        samples = []
        for sample in range(FAILOVER_SAMPLES):
            serving = await self._serving_mme()
            imsi = self.fresh(1)[0]
            ue = self.enb.ue(imsi)
            kill_point = KILL_POINTS[sample % len(KILL_POINTS)]
            attach = asyncio.ensure_future(self.enb.attach(imsi))
            await self.enb.until(
                lambda ue=ue, kill_point=kill_point, attach=attach: (
                    attach.done()
                    or any(e.kind == "received" and e.text == kill_point for e in ue.timeline)
                )
            )
            if attach.done():
                continue  # the attach ended before the kill point: not a failover sample
            await self.core.kill(serving)
            result = _ok(await attach)
            samples.append(round(result.latency_s * 1000 - baseline, 1))
            await self._restart(serving)
        if not samples:
            return None
        return statistics.median(samples), samples, baseline

    async def _serving_mme(self) -> str:
        """The MME whose CPU time grows most over a few attaches: the agent sends one eNB's
        requests to one endpoint of its group."""
        mmes = [child for child in self.core.children.values() if child.daemon.role == "mme"]
        before = {child.name: _cpu_s(child.process.pid) for child in mmes}  # type: ignore[union-attr]
        for imsi in self.fresh(3):
            await self.attach_ms(imsi)
        grown = {
            child.name: _cpu_s(child.process.pid) - before[child.name]  # type: ignore[union-attr]
            for child in mmes
        }
        return max(grown, key=grown.__getitem__)

    async def _restart(self, name: str) -> None:
        """Start the killed instance again and wait until the agent is connected to it."""
        connected = self._agent_count(f"instance={name}")
        await self.core.start_child(name)
        async with asyncio.timeout(30):
            while self._agent_count(f"instance={name}") <= connected:
                self._agent_changed.clear()
                await self._agent_changed.wait()

    async def _until_idle_at_mme(self, imsi: str) -> None:
        """Until an MME has applied the UE's Release Complete. The eNB counts the UE idle once
        it has sent it; a Service Request sent before the MME has applied it races it for the
        UE's context, and the loser's back-off after its lost conditional write (25-50 ms,
        Algorithm 1) would be measured instead of the Service Request."""
        needle = f"imsi={imsi}"
        async with asyncio.timeout(10):
            while not any(needle in line for line in self._idle_lines):
                self._idle_changed.clear()
                await self._idle_changed.wait()

    def _agent_count(self, needle: str) -> int:
        return sum("core connected" in line and needle in line for line in self._agent_lines)

    def sink(self, name: str, line: str) -> None:
        if name == "agent":
            self._agent_lines.append(line)
            self._agent_changed.set()
        elif "UE is ECM-IDLE" in line:
            self._idle_lines.append(line)
            self._idle_changed.set()
        elif name == "epcctl" or "error" in line or "Traceback" in line:
            print(f"  [{name}] {line}")


class _Started:
    def __init__(self, directory: Path, overrides: Overrides) -> None:
        self._directory = directory
        self._overrides = overrides
        self._bench: _Bench | None = None

    async def __aenter__(self) -> _Bench:
        overrides = Overrides(
            **{**self._overrides.__dict__, "transport": "tcp", "deployment": "bench"}
        )
        plan = load_plan(CONFIGS, overrides).with_free_ports()
        sink_owner: list[_Bench] = []
        core = LocalCore(plan, self._directory, lambda name, line: sink_owner[0].sink(name, line))
        simulator = Simulator()
        bench = _Bench(core, simulator, None)  # type: ignore[arg-type]
        sink_owner.append(bench)
        status = await core.import_subscribers(self._directory.parent / "subscribers.csv")
        if status != 0:
            raise RuntimeError(f"subscriber import failed with {status}")
        await core.start()
        await simulator.__aenter__()
        host, port, _ = plan.s1_endpoint()
        enb = simulator.enb(
            EnbConfig("bench-enb", PLMN, 0x1B0, tacs=(1,)), mme=(host, port), transport="tcp"
        )
        await enb.connect()
        for subscriber in read_csv(self._directory.parent / "subscribers.csv"):
            enb.add_ue(subscriber)
        bench.enb = enb
        self._bench = bench
        return bench

    async def __aexit__(self, *exc_info: object) -> None:
        assert self._bench is not None
        await self._bench.enb.close()
        await self._bench.simulator.__aexit__(None, None, None)
        await self._bench.core.stop()


def _write_subscribers(path: Path) -> None:
    rows = [f"{_imsi(n)},{K},{OPC},,8000,64,internet,9,100000,100000" for n in range(SUBSCRIBERS)]
    header = "imsi,k,opc,op,amf,sqn,apn,qci,ambr_ul_kbps,ambr_dl_kbps"
    path.write_text("\n".join([header, *rows]) + "\n")


def _imsi(number: int) -> str:
    return f"00101{number:010d}"


def _ok(result):
    if not result.ok:
        raise RuntimeError(f"{result.procedure} failed: {result.failure_cause}")
    return result


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _percentile(values: list[float], percent: float) -> float:
    """Nearest rank, as enbsim's summary."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(percent / 100 * len(ordered)) - 1)]


def _remove_tree(path: Path) -> None:
    for child in path.iterdir():
        child.unlink()
    path.rmdir()


def _list(values: list[float]) -> str:
    return "[" + ", ".join(f"{value:.1f}" for value in values) + "]"


def _figure(value: float, unit: str, detail: str) -> dict:
    return {"value": round(value, 3), "unit": unit, "detail": detail}


if __name__ == "__main__":
    import uvloop

    for name, figure in uvloop.run(run()).items():
        print(f"{name:24} {figure['value']:>10.3f} {figure['unit']:4} {figure['detail']}")
