"""GTP-U user-plane figures: gtpu_kpps_64b, G-PDUs one SGW-U worker relays per second
(uplink S1-U -> S5-U and downlink S5-U -> S1-U alternately, 64-octet payloads).

The worker is the real adapter (`epc.userplane.UserPlane.open_sgw` on uvloop, its rules from a
memory store) in its own process. This process is the load generator: it plays the eNB and the
PGW on two loopback sockets, keeps a window of packets in flight (sends until `WINDOW` are
outstanding, then reads what came back), and counts what the worker forwarded. Reported: the
forwarded rate, the generator's own send rate, and the worker's CPU microseconds per packet
(utime + stime from /proc over the run). With both on one 2-core machine, a worker below
100 % CPU means the generator set the figure. gtpu_mbps_1400b (several workers) is not
measured: scale-out is not built yet.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time

from epc.codec.gtpu import encode_gpdu

SGW, ENB, PGW = "127.0.0.2", "127.0.0.4", "127.0.0.3"
PORT = 21520
S1U_SGW, S5U_SGW, S5U_PGW, S1U_ENB = 0x100, 0x101, 0x200, 0xE1
PAYLOAD = 64
WINDOW = 256
DURATION_S = 3.0
RUNS = 3


async def _worker() -> None:
    from epc.forwarding import Endpoint, ForwardingRule, encode_rule, rule_path
    from epc.store.memory import MemoryStore
    from epc.userplane import UserPlane
    from epc.userplane.config import UserPlaneConfig

    store = MemoryStore()
    rule = ForwardingRule(
        gateway="sgw",
        imsi="001010000000001",
        ebi=5,
        linked_ebi=5,
        user_plane=SGW,
        uplink_teid=S1U_SGW,
        uplink_peer=Endpoint(S5U_PGW, PGW),
        downlink_teid=S5U_SGW,
        downlink_peer=Endpoint(S1U_ENB, ENB),
    )
    await store.create(rule_path("bench", "sgw", rule.imsi, 5), encode_rule(rule))
    config = UserPlaneConfig(enabled=True, port=PORT, peer_port=PORT, poll_interval_s=3600)
    user_plane = await UserPlane.open_sgw(SGW, config, store, "bench")
    await user_plane.start()
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await user_plane.close()


def _cpu_s(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _socket(address: str) -> socket.socket:
    opened = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    opened.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    opened.bind((address, PORT))
    opened.setblocking(False)
    return opened


def _load(duration_s: float) -> tuple[int, int, float]:
    """(sent, received, seconds): alternately uplink and downlink, a window in flight."""
    enb, pgw = _socket(ENB), _socket(PGW)
    payload = bytes(PAYLOAD)
    uplink, downlink = encode_gpdu(S1U_SGW, payload), encode_gpdu(S5U_SGW, payload)
    target = (SGW, PORT)
    sent = received = lost = 0
    started = time.perf_counter()
    deadline = started + duration_s
    try:
        while time.perf_counter() < deadline:
            while sent - received - lost < WINDOW:
                enb.sendto(uplink, target)
                pgw.sendto(downlink, target)
                sent += 2
            got = _drain(pgw) + _drain(enb)
            if not got:
                time.sleep(0.001)
                got = _drain(pgw) + _drain(enb)
                if not got:  # the worker dropped what is in flight: open the window again
                    lost = sent - received
            received += got
        return sent, received, time.perf_counter() - started
    finally:
        enb.close()
        pgw.close()


def _drain(sock: socket.socket) -> int:
    count = 0
    while True:
        try:
            sock.recv(2048)
        except BlockingIOError:
            return count
        count += 1


def _one_run() -> tuple[float, float, float, float]:
    worker = subprocess.Popen(
        [sys.executable, "-m", "bench.gtpu", "--worker"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert worker.stdout is not None and worker.stdout.readline().strip() == "ready"
        cpu_before = _cpu_s(worker.pid)
        sent, received, seconds = _load(DURATION_S)
        cpu = _cpu_s(worker.pid) - cpu_before
    finally:
        worker.communicate("", timeout=10)
    return received / seconds, sent / seconds, cpu / seconds, cpu / max(received, 1) * 1e6


async def run() -> dict[str, dict]:
    runs = sorted([await asyncio.to_thread(_one_run) for _ in range(RUNS)], key=lambda r: r[0])
    forwarded, generated, busy, us_per_packet = runs[len(runs) // 2]
    detail = (
        f"one SGW-U worker (uvloop), S1-U<->S5-U relay, uplink+downlink alternately, loopback; "
        f"load generator sent {generated / 1000:.0f} kpps; worker CPU {busy * 100:.0f} %, "
        f"{us_per_packet:.1f} us/packet; median of {RUNS} runs of {DURATION_S:.0f} s; "
        f"{os.cpu_count()} cores shared by generator and worker"
    )
    return {
        "gtpu_kpps_64b": {"value": round(forwarded / 1000, 1), "unit": "kpps", "detail": detail}
    }


if __name__ == "__main__":
    if sys.argv[1:] == ["--worker"]:
        import uvloop

        uvloop.run(_worker())
    else:
        import json

        print(json.dumps(asyncio.run(run()), indent=2))
