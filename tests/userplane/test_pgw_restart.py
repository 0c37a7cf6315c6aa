"""`epc-pgw` as a process in the core namespace, its SGi a real TUN: forwarding records in its
SQLite store (as the control frontends leave them), a raw SGW peer sends a UE's UDP to the
internet host and gets the answer; after kill -9 and a restart forwarding resumes from the
store, with no UE re-attaching, within 2 s. Also: without CAP_NET_ADMIN the daemon says so in
one line and exits 2."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
from topology import ECHO_PORT, INTERNET, UE, Peer, Topology, udp_echo_server, udp_packet
from topology import udp_payload as payload_of

from epc.codec.gtpu import encode_gpdu
from epc.forwarding import Endpoint, ForwardingRule, encode_rule, rule_path
from epc.store.sqlite import SqliteStore

pytestmark = [
    pytest.mark.userplane,
    pytest.mark.e2e,
    pytest.mark.fault,
    pytest.mark.skipif(os.geteuid() != 0, reason="namespaces and TUN devices need root"),
]

DEPLOYMENT = "uprestart"
SGW, PGW = "127.0.0.2", "127.0.0.3"
S5U_SGW, S5U_PGW = 0x101, 0x200
RESUME_DEADLINE_S = 2.0


def config_text(tmp_path, device: str) -> str:
    return f"""
deployment = "{DEPLOYMENT}"
[log]
format = "console"
[store.sqlite]
path = "{tmp_path / "store.db"}"
[gtpc]
address = "{PGW}"
port = 0
[gtpu]
address = "{PGW}"
[userplane]
enabled = true
counters_path = "{tmp_path / "counters.json"}"
[sgi]
device = "{device}"
[[apn]]
name = "internet"
pool = "10.45.0.0/24"
reserved = ["10.45.0.1"]
"""


def start_pgw(topology: Topology, config: str, log) -> subprocess.Popen:
    command = ["ip", "netns", "exec", topology.core, sys.executable, "-m", "epc.pgw"]
    return subprocess.Popen([*command, "--config", config], stdout=log, stderr=log)


async def until_answered(sgw: Peer, payload: bytes, deadline_s: float) -> float:
    """Send the UE's datagram every 50 ms until its answer comes back; the seconds it took."""
    started = time.monotonic()
    while time.monotonic() - started < deadline_s:
        sgw.send(encode_gpdu(S5U_PGW, udp_packet(payload)), (PGW, 2152))
        try:
            teid, answer = await sgw.receive_gpdu(0.05)
        except TimeoutError:
            continue
        if teid == S5U_SGW and payload_of(answer)[2] == payload:
            return time.monotonic() - started
    raise AssertionError(f"no answer within {deadline_s} s")


@pytest.fixture
def topology():
    made = Topology.make()
    yield made
    made.close()


@pytest.fixture
def pgw_log(tmp_path):
    with open(tmp_path / "pgw.log", "wb") as log:
        yield log


async def test_a_killed_pgw_restarted_forwards_again_from_the_store_within_2_s(
    topology, tmp_path, pgw_log
):
    store = await SqliteStore.open(tmp_path / "store.db")
    rule = ForwardingRule(
        gateway="pgw",
        imsi="001010000000001",
        ebi=5,
        linked_ebi=5,
        user_plane=PGW,
        ue_ipv4=UE,
        uplink_teid=S5U_PGW,
        downlink_peer=Endpoint(S5U_SGW, SGW),
    )
    await store.create(rule_path(DEPLOYMENT, "pgw", rule.imsi, 5), encode_rule(rule))
    await store.close()
    config = tmp_path / "pgw.toml"
    config.write_text(config_text(tmp_path, f"sgi{topology.tag}"))
    sgw = Peer(topology.socket(topology.core, (SGW, 2152)))
    internet = topology.socket(topology.internet, (INTERNET, ECHO_PORT))
    echo = asyncio.create_task(udp_echo_server(internet))
    log = pgw_log
    pgw = start_pgw(topology, str(config), log)
    try:
        await until_answered(sgw, b"before", 10.0)
        pgw.send_signal(signal.SIGKILL)
        pgw.wait()
        pgw = start_pgw(topology, str(config), log)
        took = await until_answered(sgw, b"after", RESUME_DEADLINE_S + 8)
        assert took < RESUME_DEADLINE_S, f"forwarding resumed after {took:.2f} s"
        pgw.send_signal(signal.SIGTERM)
        assert pgw.wait(10) == 0
        # Clean exit: the SGi device is gone with the daemon.
        links = await asyncio.to_thread(
            subprocess.run,
            ["ip", "netns", "exec", topology.core, "ip", "link"],
            capture_output=True,
            text=True,
        )
        assert f"sgi{topology.tag}" not in links.stdout
    finally:
        if pgw.poll() is None:
            pgw.kill()
            pgw.wait()
        echo.cancel()
        await asyncio.gather(echo, return_exceptions=True)
        sgw.close()
        internet.close()


@pytest.mark.skipif(shutil.which("capsh") is None, reason="needs capsh to drop CAP_NET_ADMIN")
def test_without_cap_net_admin_the_pgw_says_so_in_one_line_and_exits_2(tmp_path):
    config = tmp_path / "pgw.toml"
    config.write_text(config_text(tmp_path, "sgicap0"))
    command = f"{sys.executable} -m epc.pgw --config {config}"
    done = subprocess.run(
        ["capsh", "--drop=cap_net_admin", "--", "-c", command],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2, done.stderr
    errors = [line for line in done.stderr.splitlines() if "CAP_NET_ADMIN" in line]
    assert len(errors) == 1 and errors[0].startswith("epc-pgw: ")
