"""`python -m epc.localcore` (`make run`): the plan it makes of configs/local, and the whole
core it runs, driven by enbsim over TCP and stopped by a signal."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
import tomllib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from enbsim.enb import EnbConfig
from enbsim.simulator import Simulator
from epc.codec.s1ap_messages import PlmnIdentity
from epc.localcore import Overrides, dump_toml, load_plan
from epc.localcore import plan as plan_module
from epc.subscriber import read_csv

REPO = Path(__file__).resolve().parent.parent
LOCAL = REPO / "configs" / "local"
TIMEOUT_S = 60.0


def test_dump_toml_reads_back_as_every_shipped_config() -> None:
    for path in [*REPO.glob("configs/*.toml"), *LOCAL.glob("*.toml")]:
        document = tomllib.loads(path.read_text())
        assert tomllib.loads(dump_toml(document)) == document, path


def test_the_agent_takes_tcp_when_the_kernel_has_no_sctp(monkeypatch) -> None:
    monkeypatch.setattr(plan_module, "kernel_has_sctp", lambda: False)
    assert load_plan(LOCAL).agent.config["s1"]["transport"] == "tcp"
    monkeypatch.setattr(plan_module, "kernel_has_sctp", lambda: True)
    assert load_plan(LOCAL).agent.config["s1"]["transport"] == "sctp"
    forced = load_plan(LOCAL, Overrides(transport="tcp"))
    assert forced.agent.config["s1"]["transport"] == "tcp"


def test_every_daemon_gets_the_same_store(tmp_path) -> None:
    plan = load_plan(LOCAL, Overrides(store="zookeeper", zookeeper_hosts=("10.0.0.1:2181",)))
    stores = [d.config["store"] for d in plan.daemons if d.role != "agent"]
    assert len(stores) == 4
    assert all(s["backend"] == "zookeeper" for s in stores)
    assert all(s["zookeeper"]["hosts"] == ["10.0.0.1:2181"] for s in stores)
    paths = {
        s["sqlite"]["path"]
        for s in load_plan(LOCAL).daemons
        if s.role != "agent"
        for s in [s.config["store"]]
    }
    assert len(paths) == 1 and Path(paths.pop()).is_absolute()


def test_free_ports_keep_the_daemons_pointing_at_each_other() -> None:
    plan = load_plan(LOCAL).with_free_ports()
    by_role = {d.name: d.config for d in plan.daemons}
    gtpc = by_role["sgw"]["gtpc"]["port"]
    assert by_role["pgw"]["gtpc"]["port"] == gtpc
    assert by_role["sgw"]["s11"]["mme_port"] == gtpc == by_role["sgw"]["s5"]["pgw_port"]
    agent_ports = []
    for mme in plan.mmes:
        assert mme.config["s11"]["port"] == gtpc
        assert mme.config["s11"]["sgw"] == f"127.0.0.2:{gtpc}"
        agent_ports.append(f"127.0.0.1:{mme.config['agents']['port']}")
    assert plan.agent.config["core"]["groups"] == [{"name": "local", "endpoints": agent_ports}]


# --- the whole core, as `make run` starts it ---------------------------------------------------


class Running:
    def __init__(self, process: asyncio.subprocess.Process, s1_port: int) -> None:
        self.process = process
        self.s1_port = s1_port
        self.pids: dict[str, int] = {}
        self.stderr = b""

    async def exit_status(self) -> int:
        async with asyncio.timeout(TIMEOUT_S):
            _, self.stderr = await self.process.communicate()
        return self.process.returncode  # type: ignore[return-value]


@pytest.fixture
async def local_core(tmp_path) -> AsyncIterator[Running]:
    """`python -m epc.localcore` on configs/local with free ports, its own SQLite file and the
    demo subscribers, once it printed that it is ready."""
    plan = load_plan(LOCAL, Overrides(transport="tcp")).with_free_ports()
    plan.write(tmp_path / "configs")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "epc.localcore",
        "--config-dir",
        str(tmp_path / "configs"),
        "--sqlite",
        str(tmp_path / "store.db"),
        "--subscribers",
        str(LOCAL / "subscribers.csv"),
        "--run-dir",
        str(tmp_path / "run"),
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    running = Running(process, plan.s1_endpoint()[1])
    assert process.stdout is not None
    try:
        async with asyncio.timeout(TIMEOUT_S):
            while not (line := (await process.stdout.readline()).decode()).startswith("local core"):
                assert line, "localcore exited before it was ready"
            while (line := (await process.stdout.readline()).decode()).startswith("  "):
                name, pid = re.match(r"\s+(\S+)\s+pid (\d+)", line).groups()  # type: ignore[union-attr]
                running.pids[name] = int(pid)
        yield running
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


@pytest.mark.e2e
async def test_the_local_core_attaches_detaches_and_drains_on_sigterm(local_core) -> None:
    assert set(local_core.pids) == {"pgw", "sgw", "mme-1", "mme-2", "agent"}
    subscriber = read_csv(LOCAL / "subscribers.csv")[0]
    async with Simulator() as simulator:
        enb = simulator.enb(
            EnbConfig("enb-local-test", PlmnIdentity("001", "01"), 0x19C, tacs=(1,)),
            mme=("127.0.0.1", local_core.s1_port),
            transport="tcp",
        )
        await enb.connect()
        enb.add_ue(subscriber)
        attach = await enb.attach(subscriber.imsi)
        assert attach.ok, attach.failure_cause
        detach = await enb.detach(subscriber.imsi)
        assert detach.ok, detach.failure_cause
        await enb.close()
    local_core.process.send_signal(signal.SIGTERM)
    assert await local_core.exit_status() == 0, local_core.stderr.decode()[-3000:]
    assert b"all drained" in local_core.stderr
    for pid in local_core.pids.values():
        assert not _alive(pid)


@pytest.mark.e2e
async def test_a_daemon_that_dies_stops_the_core_with_status_1(local_core) -> None:
    os.kill(local_core.pids["mme-2"], signal.SIGKILL)
    assert await local_core.exit_status() == 1
    assert b"mme-2 exited with status -9; stopping the others" in local_core.stderr
    for pid in local_core.pids.values():
        assert not _alive(pid)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
