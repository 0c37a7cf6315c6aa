"""The asyncio side of a gateway's user plane: the GTP-U socket, the SGi device, keeping the
forwarding table current, paging requests, the counters file.

Where rules come from (see docs/decisions.md, "User plane"):

- at start, every record of the role in the store (`epc.forwarding.snapshot`): a restarted
  gateway forwards again at once, with no UE re-attaching;
- this process's own commits, at once: the user plane is the control frontend's
  `ForwardingListener`;
- other instances' commits (another SGW instance handled the UE's Modify Bearer), by polling:
  every `[userplane] poll_interval_s` the records are read again and the differences from the
  previous reading applied. Only records whose `user_plane` is this instance's GTP-U address
  are installed.

Everything this object starts (the poll, the counters writer, paging requests) is a task it
owns and cancels in `close`.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Awaitable, Callable
from typing import Any

from epc.daemon.logs import get_logger
from epc.forwarding import (
    Change,
    Endpoint,
    ForwardingRule,
    GatewayRole,
    Snapshot,
    changes,
    snapshot,
)
from epc.store import Store, StoreError
from epc.userplane.config import UserPlaneConfig
from epc.userplane.counters import DropReason, add_snapshots, write_snapshot
from epc.userplane.forwarder import Forwarder, PgwForwarder, SgwForwarder
from epc.userplane.gtpu_socket import GtpuSocket
from epc.userplane.tun import Sgi, read_packets
from epc.userplane.workers import WorkerProcess, reuseport_group

log = get_logger()

SOCKET_BUFFER_BYTES = 4 << 20
"""Socket buffers big enough for a burst of a few thousand packets while the loop is busy."""


class UserPlane:
    """One gateway's user plane; make one with `open_sgw` or `open_pgw`, then `start`."""

    def __init__(
        self,
        role: GatewayRole,
        config: UserPlaneConfig,
        store: Store,
        deployment: str,
        gtpu: GtpuSocket,
    ) -> None:
        self.role = role
        self.config = config
        self.forwarder: Forwarder
        self._store = store
        self._deployment = deployment
        self._gtpu = gtpu
        self._tasks: set[asyncio.Task[Any]] = set()
        self._snapshot: Snapshot = {}
        self._sgi: Sgi | None = None
        self._paging: Callable[[int], Awaitable[Any]] | None = None
        self.on_error_indication: Callable[[ForwardingRule, Endpoint], None] | None = None
        self._workers: list[WorkerProcess] = []
        self._extra_sockets: list[socket.socket] = []

    # --- opening --------------------------------------------------------------------------

    @classmethod
    def _bind(
        cls, address: str, config: UserPlaneConfig, sock: socket.socket | None
    ) -> tuple[GtpuSocket, list[socket.socket]]:
        """This process's GTP-U socket and, `config.workers` > 1, the other workers'."""
        if sock is not None:
            group = [sock]
        elif config.workers > 1:
            group = reuseport_group(address, config.port, config.workers)
        else:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((address, config.port))
            group = [sock]
        for each in group:
            for option in (socket.SO_RCVBUF, socket.SO_SNDBUF):
                each.setsockopt(socket.SOL_SOCKET, option, SOCKET_BUFFER_BYTES)
            each.setblocking(False)
        return GtpuSocket(group[0]), group[1:]

    @classmethod
    async def open_sgw(
        cls,
        address: str,
        config: UserPlaneConfig,
        store: Store,
        deployment: str,
        *,
        sock: socket.socket | None = None,
    ) -> UserPlane:
        """The SGW-U on (`address`, `config.port`), or on `sock` (bound already, tests).
        Call `set_paging` once the SGW service exists."""
        gtpu, others = cls._bind(address, config, sock)
        user_plane = cls("sgw", config, store, deployment, gtpu)
        user_plane._extra_sockets = others
        user_plane.forwarder = SgwForwarder(
            address,
            gtpu.send,
            asyncio.get_running_loop().time,
            notify=user_plane._notify,
            buffer_packets=config.buffer_packets,
            buffer_bytes=config.buffer_bytes,
            peer_port=config.peer_port,
            error_indications_per_s=config.error_indications_per_s,
            on_error_indication=user_plane._error_indication,
        )
        user_plane._listen()
        return user_plane

    @classmethod
    async def open_pgw(
        cls,
        address: str,
        config: UserPlaneConfig,
        store: Store,
        deployment: str,
        sgi: Sgi,
        *,
        sock: socket.socket | None = None,
    ) -> UserPlane:
        """The PGW-U on (`address`, `config.port`) and the SGi device (open already)."""
        gtpu, others = cls._bind(address, config, sock)
        user_plane = cls("pgw", config, store, deployment, gtpu)
        user_plane._extra_sockets = others
        user_plane._sgi = sgi
        forwarder = PgwForwarder(
            address,
            gtpu.send,
            asyncio.get_running_loop().time,
            write_sgi=user_plane._write_sgi,
            peer_port=config.peer_port,
            error_indications_per_s=config.error_indications_per_s,
            on_error_indication=user_plane._error_indication,
        )
        user_plane.forwarder = forwarder
        user_plane._listen()
        asyncio.get_running_loop().add_reader(sgi.fd, read_packets, sgi.fd, forwarder.sgi_received)
        return user_plane

    def _listen(self) -> None:
        endpoint = self.forwarder.counters[self.forwarder.ENDPOINT]
        self._gtpu.start(
            asyncio.get_running_loop(),
            self.forwarder.datagram_received,
            lambda: endpoint.drop(DropReason.SEND_FAILED),
        )

    def set_paging(self, downlink_data: Callable[[int], Awaitable[Any]]) -> None:
        """SGW: how to ask for a UE to be paged (`SgwService.downlink_data`)."""
        self._paging = downlink_data

    @property
    def address(self) -> tuple[str, int]:
        return self._gtpu.address

    # --- rules ----------------------------------------------------------------------------

    async def start(self) -> int:
        """Install every record of the store, then keep following it; the number of rules."""
        self._snapshot = await snapshot(self._store, self._deployment, self.role)
        rules = [rule for rule, _ in self._snapshot.values()]
        self.forwarder.replace(rules)
        await self._start_workers(rules)
        self._own(self._poll(), "forwarding poll")
        if self.config.counters_path is not None:
            self._own(self._write_counters(self.config.counters_path), "counters")
        return len(self.forwarder.rules)

    def forwarding_changed(self, committed: list[Change]) -> None:
        """`ForwardingListener`: this process's control frontend committed these."""
        self.forwarder.apply(committed)
        self._tell_workers(("apply", committed))

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self.config.poll_interval_s)
            await self.refresh()

    async def refresh(self) -> None:
        """Read the records again and apply what changed since the last reading."""
        try:
            current = await snapshot(self._store, self._deployment, self.role)
        except StoreError as error:
            log.warning("forwarding poll failed", error=str(error))
            return
        found = changes(self.role, self._snapshot, current)
        self._snapshot = current
        if found:
            self.forwarder.apply(found)
            self._tell_workers(("apply", found))

    # --- idle UEs (SGW) -------------------------------------------------------------------

    def _notify(self, teid: int) -> None:
        if self._paging is None:
            return
        self._own(self._ask_paging(teid), f"downlink data {teid:#x}")

    async def _ask_paging(self, teid: int) -> None:
        assert self._paging is not None and isinstance(self.forwarder, SgwForwarder)
        try:
            outcome = await self._paging(teid)
        except Exception:
            log.exception("downlink data notification failed", teid=teid)
            self._notification_failed(teid)
            return
        if getattr(outcome, "notified", False):
            self.forwarder.counters.count("downlink_data_notifications")
        if not getattr(outcome, "applied", True):
            self._notification_failed(teid)

    def _notification_failed(self, teid: int) -> None:
        assert isinstance(self.forwarder, SgwForwarder)
        self.forwarder.notification_failed(teid)
        self._tell_workers(("notification_failed", teid))

    def paging_failed(self, imsi: str) -> None:
        """`SgwService(on_paging_failed=...)`: drop what was buffered for the UE."""
        if isinstance(self.forwarder, SgwForwarder):
            self.forwarder.paging_failed(imsi)
            self._tell_workers(("paging_failed", imsi))

    # --- path messages --------------------------------------------------------------------

    def _error_indication(self, rule: ForwardingRule, far: Endpoint) -> None:
        log.warning(
            "gtpu error indication",
            imsi=rule.imsi,
            ebi=rule.ebi,
            peer=far.address,
            teid=far.teid,
        )
        if self.on_error_indication is not None:
            self.on_error_indication(rule, far)

    # --- SGi (PGW) ------------------------------------------------------------------------

    def _write_sgi(self, packet: bytes) -> None:
        try:
            os.write(self._sgi.fd, packet)  # type: ignore[union-attr]
        except OSError:
            self.forwarder.counters["sgi"].drop(DropReason.SEND_FAILED)

    # --- counters -------------------------------------------------------------------------

    def counters(self) -> dict[str, Any]:
        """All workers' counters together (the others' as they last reported them)."""
        total = self.forwarder.counters.snapshot()
        for worker in self._workers:
            if worker.counters is not None:
                total = add_snapshots(total, worker.counters)
        return total

    async def _write_counters(self, path: str) -> None:
        while True:
            write_snapshot(path, {"role": self.role, **self.counters()})
            await asyncio.sleep(self.config.counters_interval_s)

    # --- other workers (epc.userplane.workers) ---------------------------------------------

    async def _start_workers(self, rules: list[ForwardingRule]) -> None:
        queues = self._sgi.queues if self._sgi is not None else ()
        for index, sock in enumerate(self._extra_sockets):
            sgi_fd = queues[index] if queues else None
            init = {
                "role": self.role,
                "address": self.forwarder.local_address,
                "config": self.config,
                "gtpu_fd": sock.fileno(),
                "sgi_fd": sgi_fd,
            }
            fds = (sock.fileno(),) if sgi_fd is None else (sock.fileno(), sgi_fd)
            worker = await WorkerProcess.start(init, fds)
            worker.send(("replace", rules))
            self._workers.append(worker)
            self._own(worker.events(self._worker_event), f"userplane worker {index + 1}")
        for sock in self._extra_sockets:
            sock.close()  # the workers have their copies
        self._extra_sockets = []
        if self._sgi is not None:
            self._sgi.close_queues()

    def _tell_workers(self, message: tuple[Any, ...]) -> None:
        for worker in self._workers:
            worker.send(message)

    def _worker_event(self, message: tuple[Any, ...]) -> None:
        match message:
            case ("notify", teid):
                self._notify(teid)
            case ("error_indication", rule, far):
                self._error_indication(rule, far)

    # --- life -----------------------------------------------------------------------------

    def _own(self, coroutine: Any, name: str) -> None:
        task = asyncio.get_running_loop().create_task(coroutine, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        """Stop the other workers (their last counters arrive), stop following the store,
        close the socket, remove the SGi device."""
        await asyncio.gather(*(worker.stop() for worker in self._workers))
        for task in list(self._tasks):
            if task.get_name().startswith("userplane worker"):
                await asyncio.gather(task, return_exceptions=True)  # reads the last counters
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for sock in self._extra_sockets:
            sock.close()
        if self.config.counters_path is not None:
            write_snapshot(self.config.counters_path, {"role": self.role, **self.counters()})
        self._gtpu.close(asyncio.get_running_loop())
        if self._sgi is not None and self._sgi.fd >= 0:
            asyncio.get_running_loop().remove_reader(self._sgi.fd)
            self._sgi.close()
