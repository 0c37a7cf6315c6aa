"""Extra forwarding workers (`[userplane] workers` > 1): processes that only forward.

The gateway daemon's own user plane is worker 0: it reads the store, follows its control
frontend, asks for paging and writes the counters. Workers 1..N-1 are children running
`epc.userplane.workers.main` that get everything from it over a pipe and hold no store
session, no privilege and no config file:

- at start, their file descriptors (inherited): a GTP-U socket of the daemon's SO_REUSEPORT
  group and, at the PGW, a queue of the multi-queue SGi TUN; then every rule and every change
  the daemon applies to its own forwarder, in the same order;
- back to the daemon: paging requests (SGW), Error Indications received, and their counters
  every `counters_interval_s`, which the daemon adds to its own.

Which worker gets a G-PDU: the kernel's choice in the SO_REUSEPORT group, steered by a classic
BPF program to TEID mod N (`steer_by_teid`), so one bearer's packets always meet the same
worker (its order, its buffer while the UE is idle) even when all of them come from one peer
address and port, as GTP-U between two nodes does. Downlink from SGi: the TUN queue the kernel
picks by flow; every worker has every rule.

Messages both ways are pickled tuples with a 4-octet length in front; both ends are this
code, started together.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import pickle
import socket
import struct
import sys
from collections.abc import Callable
from typing import Any

from epc.userplane.config import UserPlaneConfig
from epc.userplane.counters import DropReason
from epc.userplane.forwarder import Forwarder, PgwForwarder, SgwForwarder
from epc.userplane.gtpu_socket import GtpuSocket
from epc.userplane.tun import read_packets

SO_ATTACH_REUSEPORT_CBPF = 51
"""asm-generic/socket.h: a classic BPF program choosing the socket of a SO_REUSEPORT group."""
_LENGTH = struct.Struct("!I")
_BPF_INSTRUCTION = struct.Struct("=HBBI")


def steer_by_teid(sock: socket.socket, workers: int) -> None:
    """Make the kernel give each datagram to the group's socket number TEID mod `workers`
    (sockets are numbered in the order they joined). The program sees the UDP payload: the
    TEID is octets 4-7 of the GTP-U header; a datagram too short for one goes to socket 0."""
    program = b"".join(
        (
            _BPF_INSTRUCTION.pack(0x20, 0, 0, 4),  # BPF_LD | BPF_W | BPF_ABS: A = TEID
            _BPF_INSTRUCTION.pack(0x94, 0, 0, workers),  # BPF_ALU | BPF_MOD | BPF_K
            _BPF_INSTRUCTION.pack(0x16, 0, 0, 0),  # BPF_RET | BPF_A
        )
    )
    instructions = ctypes.create_string_buffer(program, len(program))
    count = len(program) // _BPF_INSTRUCTION.size
    fprog = struct.pack("@HP", count, ctypes.addressof(instructions))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, fprog)


def reuseport_group(address: str, port: int, workers: int) -> list[socket.socket]:
    """`workers` UDP sockets on one address and port, steered by TEID."""
    group = []
    try:
        for _ in range(workers):
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            group.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((address, port))
        steer_by_teid(group[0], workers)
    except BaseException:
        for sock in group:
            sock.close()
        raise
    return group


def frame(message: tuple[Any, ...]) -> bytes:
    body = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return _LENGTH.pack(len(body)) + body


async def read_message(reader: asyncio.StreamReader) -> tuple[Any, ...]:
    """The next message; `asyncio.IncompleteReadError` when the other end is gone."""
    (length,) = _LENGTH.unpack(await reader.readexactly(_LENGTH.size))
    return pickle.loads(await reader.readexactly(length))


class WorkerProcess:
    """The daemon's handle on one worker: `send` a message, `events` to read its answers."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.counters: dict[str, Any] | None = None

    @classmethod
    async def start(cls, init: dict[str, Any], fds: tuple[int, ...]) -> WorkerProcess:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            "from epc.userplane.workers import main; main()",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            pass_fds=fds,
        )
        worker = cls(process)
        worker.send(("init", init))
        return worker

    def send(self, message: tuple[Any, ...]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(frame(message))

    async def events(self, handle: Callable[[tuple[Any, ...]], None]) -> None:
        """Give each message from the worker to `handle` until it exits."""
        assert self.process.stdout is not None
        while True:
            try:
                message = await read_message(self.process.stdout)
            except asyncio.IncompleteReadError:
                return
            if message[0] == "counters":
                self.counters = message[1]
            else:
                handle(message)

    async def stop(self) -> None:
        """Close its pipe (it exits, sending its last counters) and wait for it."""
        if self.process.stdin is not None and not self.process.stdin.is_closing():
            self.process.stdin.close()
        try:
            await asyncio.wait_for(self.process.wait(), 5.0)
        except TimeoutError:
            self.process.kill()
            await self.process.wait()


# --- the worker process -------------------------------------------------------------------


def _make_forwarder(
    init: dict[str, Any], gtpu: GtpuSocket, tell: Callable[[tuple[Any, ...]], None]
) -> Forwarder:
    config: UserPlaneConfig = init["config"]
    clock = asyncio.get_running_loop().time
    common = {
        "peer_port": config.peer_port,
        "error_indications_per_s": config.error_indications_per_s,
        "on_error_indication": lambda rule, far: tell(("error_indication", rule, far)),
    }
    if init["role"] == "sgw":
        return SgwForwarder(
            init["address"],
            gtpu.send,
            clock,
            notify=lambda teid: tell(("notify", teid)),
            buffer_packets=config.buffer_packets,
            buffer_bytes=config.buffer_bytes,
            **common,
        )
    sgi_fd = init["sgi_fd"]

    def write_sgi(packet: memoryview) -> None:
        try:
            os.write(sgi_fd, packet)
        except OSError:
            forwarder.counters["sgi"].drop(DropReason.SEND_FAILED)

    forwarder = PgwForwarder(init["address"], gtpu.send, clock, write_sgi=write_sgi, **common)
    return forwarder


def _follow(forwarder: Forwarder, message: tuple[Any, ...]) -> None:
    match message:
        case ("replace", rules):
            forwarder.replace(rules)
        case ("apply", changes):
            forwarder.apply(changes)
        case ("paging_failed", imsi) if isinstance(forwarder, SgwForwarder):
            forwarder.paging_failed(imsi)
        case ("notification_failed", teid) if isinstance(forwarder, SgwForwarder):
            forwarder.notification_failed(teid)


async def _serve() -> None:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    out = sys.stdout.buffer

    def tell(message: tuple[Any, ...]) -> None:
        out.write(frame(message))
        out.flush()

    _, init = await read_message(reader)
    gtpu = GtpuSocket(socket.socket(fileno=init["gtpu_fd"]))
    forwarder = _make_forwarder(init, gtpu, tell)
    endpoint = forwarder.counters[forwarder.ENDPOINT]
    gtpu.start(loop, forwarder.datagram_received, lambda: endpoint.drop(DropReason.SEND_FAILED))
    if init.get("sgi_fd") is not None:
        assert isinstance(forwarder, PgwForwarder)
        loop.add_reader(init["sgi_fd"], read_packets, init["sgi_fd"], forwarder.sgi_received)

    async def report() -> None:
        while True:
            await asyncio.sleep(init["config"].counters_interval_s)
            tell(("counters", forwarder.counters.snapshot()))

    reporter = loop.create_task(report())
    try:
        while True:
            try:
                message = await read_message(reader)
            except asyncio.IncompleteReadError:
                break  # the daemon closed the pipe: stop
            _follow(forwarder, message)
    finally:
        reporter.cancel()
        tell(("counters", forwarder.counters.snapshot()))
        gtpu.close(loop)


def main() -> None:
    """The worker process (see `WorkerProcess.start`)."""
    import uvloop

    uvloop.run(_serve())
