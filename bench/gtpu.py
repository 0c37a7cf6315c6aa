"""GTP-U user-plane figures: gtpu_kpps_64b, G-PDUs one SGW-U worker relays per second (64-octet
payloads), and gtpu_mbps_1400b, the payload bit rate of all workers (`[userplane] workers`,
default one per core) with 1400-octet payloads; uplink S1-U -> S5-U and downlink S5-U -> S1-U.

The gateway is the real adapter (`epc.userplane.UserPlane.open_sgw` on uvloop, rules from a
memory store, extra workers as the daemon starts them) in its own process. This process is the
load generator: it plays the eNB and the PGW on two loopback sockets, `BEARERS` bearers, and
keeps a window of packets in flight (sends until `WINDOW` are outstanding, then reads what came
back). It sends datagram by datagram (what it sends in UDP GSO batches arrives at the gateway's
socket, on loopback, charged the whole batch's buffer per segment and overflows it), and reads
the gateway's GSO batches whole (UDP_GRO). Reported: the
forwarded rate, the generator's own send rate and CPU, and the gateway's CPU microseconds per
packet (utime + stime from /proc of every worker over the run). Generator and workers share
the machine's cores.
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
BEARERS = 16
S1U_SGW, S5U_SGW, S5U_PGW, S1U_ENB = 0x1000, 0x2000, 0x3000, 0x4000
"""First TEID of each kind; bearer i uses first + i (consecutive: every worker gets some)."""
WINDOW = 256
DURATION_S = 3.0
RUNS = 3
UDP_GRO = 104
"""The generator takes what the gateway sent in one GSO batch as one read (its own cost down;
and on loopback the segments of a batch are each charged the whole batch's buffer otherwise,
which overflows the receive buffer)."""


async def _worker(workers: int) -> None:
    from epc.forwarding import Endpoint, ForwardingRule, encode_rule, rule_path
    from epc.store.memory import MemoryStore
    from epc.userplane import UserPlane
    from epc.userplane.config import UserPlaneConfig

    store = MemoryStore()
    for index in range(BEARERS):
        rule = ForwardingRule(
            gateway="sgw",
            imsi=f"0010100000{index:05d}",
            ebi=5,
            linked_ebi=5,
            user_plane=SGW,
            uplink_teid=S1U_SGW + index,
            uplink_peer=Endpoint(S5U_PGW + index, PGW),
            downlink_teid=S5U_SGW + index,
            downlink_peer=Endpoint(S1U_ENB + index, ENB),
        )
        await store.create(rule_path("bench", "sgw", rule.imsi, 5), encode_rule(rule))
    config = UserPlaneConfig(
        enabled=True, port=PORT, peer_port=PORT, poll_interval_s=3600, workers=workers
    )
    user_plane = await UserPlane.open_sgw(SGW, config, store, "bench")
    await user_plane.start()
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await user_plane.close()


def _cpu_s(pid: int) -> float:
    """CPU seconds of `pid` and its children (the extra workers)."""
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    seconds = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    with open(f"/proc/{pid}/task/{pid}/children") as children:
        return seconds + sum(_cpu_s(int(child)) for child in children.read().split())


def _socket(address: str) -> socket.socket:
    opened = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    opened.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    opened.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8 << 20)
    opened.setsockopt(socket.SOL_UDP, UDP_GRO, 1)
    opened.bind((address, PORT))
    opened.setblocking(False)
    return opened


def _packets(first_teid: int, payload: bytes) -> list[bytes]:
    return [encode_gpdu(first_teid + index, payload) for index in range(BEARERS)]


def _load(duration_s: float, payload_size: int) -> tuple[int, int, float]:
    """(sent, received, seconds): uplink and downlink of every bearer, a window in flight."""
    enb, pgw = _socket(ENB), _socket(PGW)
    payload = bytes(payload_size)
    uplink, downlink = _packets(S1U_SGW, payload), _packets(S5U_SGW, payload)
    target = (SGW, PORT)
    buffer = bytearray(65536)
    sent = received = lost = 0
    started = time.perf_counter()
    deadline = started + duration_s
    try:
        while time.perf_counter() < deadline:
            while sent - received - lost < WINDOW:
                for up, down in zip(uplink, downlink, strict=True):
                    enb.sendto(up, target)
                    pgw.sendto(down, target)
                sent += 2 * BEARERS
            got = (_drain(pgw, buffer) + _drain(enb, buffer)) // (payload_size + 8)
            if not got:
                time.sleep(0.001)
                got = (_drain(pgw, buffer) + _drain(enb, buffer)) // (payload_size + 8)
                if not got:  # the gateway dropped what is in flight: open the window again
                    lost = sent - received
            received += got
        return sent, received, time.perf_counter() - started
    finally:
        enb.close()
        pgw.close()


def _drain(sock: socket.socket, buffer: bytearray) -> int:
    """Octets read (GRO: several datagrams of one size in one read)."""
    receive = sock.recv_into
    octets = 0
    while True:
        try:
            octets += receive(buffer)
        except BlockingIOError:
            return octets


def _one_run(workers: int, payload_size: int) -> tuple[float, float, float, float, float]:
    """(forwarded/s, generated/s, gateway CPU share, gateway CPU us/packet, generator CPU)."""
    worker = subprocess.Popen(
        [sys.executable, "-m", "bench.gtpu", "--worker", str(workers)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert worker.stdout is not None and worker.stdout.readline().strip() == "ready"
        cpu_before, own_before = _cpu_s(worker.pid), time.process_time()
        sent, received, seconds = _load(DURATION_S, payload_size)
        cpu = _cpu_s(worker.pid) - cpu_before
        own = time.process_time() - own_before
    finally:
        worker.communicate("", timeout=20)
    per_packet = cpu / max(received, 1) * 1e6
    return received / seconds, sent / seconds, cpu / seconds, per_packet, own / seconds


def _median(workers: int, payload_size: int) -> tuple[float, ...]:
    runs = sorted((_one_run(workers, payload_size) for _ in range(RUNS)), key=lambda r: r[0])
    return runs[len(runs) // 2]


def _detail(workers: int, figures: tuple[float, ...]) -> str:
    _, generated, busy, us_per_packet, generator = figures
    return (
        f"{workers} SGW-U worker{'s' if workers > 1 else ''} (uvloop, recvfrom_into bursts), "
        f"S1-U<->S5-U relay of {BEARERS} bearers, uplink+downlink, loopback; "
        f"load generator sent {generated / 1000:.0f} kpps at "
        f"{generator * 100:.0f} % CPU; gateway CPU {busy * 100:.0f} %, "
        f"{us_per_packet:.1f} us/packet; median of {RUNS} runs of {DURATION_S:.0f} s; "
        f"{os.cpu_count()} cores shared by generator and gateway"
    )


async def run() -> dict[str, dict]:
    workers = os.cpu_count() or 1
    small = await asyncio.to_thread(_median, 1, 64)
    large = await asyncio.to_thread(_median, workers, 1400)
    return {
        "gtpu_kpps_64b": {
            "value": round(small[0] / 1000, 1),
            "unit": "kpps",
            "detail": _detail(1, small),
        },
        "gtpu_mbps_1400b": {
            "value": round(large[0] * 1400 * 8 / 1e6),
            "unit": "Mbit/s",
            "detail": _detail(workers, large) + "; payload octets only (no IP/UDP/GTP-U)",
        },
    }


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        import uvloop

        uvloop.run(_worker(int(sys.argv[2])))
    else:
        import json

        print(json.dumps(asyncio.run(run()), indent=2))
