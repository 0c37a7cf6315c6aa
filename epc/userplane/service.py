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
from epc.userplane.counters import DropReason, write_snapshot
from epc.userplane.forwarder import Forwarder, PgwForwarder, SgwForwarder
from epc.userplane.tun import Sgi

log = get_logger()

SOCKET_BUFFER_BYTES = 4 << 20
"""Socket buffers big enough for a burst of a few thousand packets while the loop is busy."""
SGI_READ_BURST = 64
"""Packets read from SGi per wake-up before the socket gets its turn."""
SGI_READ_SIZE = 65535


class _Protocol(asyncio.DatagramProtocol):
    def error_received(self, exc: Exception) -> None:
        pass  # an ICMP error for an earlier datagram (peer not listening): not ours to fix


class UserPlane:
    """One gateway's user plane; make one with `open_sgw` or `open_pgw`, then `start`."""

    def __init__(
        self,
        role: GatewayRole,
        config: UserPlaneConfig,
        store: Store,
        deployment: str,
        transport: asyncio.DatagramTransport,
    ) -> None:
        self.role = role
        self.config = config
        self.forwarder: Forwarder
        self._store = store
        self._deployment = deployment
        self._transport = transport
        self._tasks: set[asyncio.Task[Any]] = set()
        self._snapshot: Snapshot = {}
        self._sgi: Sgi | None = None
        self._paging: Callable[[int], Awaitable[Any]] | None = None
        self.on_error_indication: Callable[[ForwardingRule, Endpoint], None] | None = None

    # --- opening --------------------------------------------------------------------------

    @classmethod
    async def _bind(
        cls, address: str, config: UserPlaneConfig, sock: socket.socket | None
    ) -> tuple[asyncio.DatagramTransport, _Protocol]:
        loop = asyncio.get_running_loop()
        if sock is None:
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((address, config.port))
        for option in (socket.SO_RCVBUF, socket.SO_SNDBUF):
            sock.setsockopt(socket.SOL_SOCKET, option, SOCKET_BUFFER_BYTES)
        sock.setblocking(False)
        transport, protocol = await loop.create_datagram_endpoint(_Protocol, sock=sock)
        return transport, protocol  # type: ignore[return-value]

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
        transport, protocol = await cls._bind(address, config, sock)
        user_plane = cls("sgw", config, store, deployment, transport)
        user_plane.forwarder = SgwForwarder(
            address,
            transport.sendto,
            asyncio.get_running_loop().time,
            notify=user_plane._notify,
            buffer_packets=config.buffer_packets,
            buffer_bytes=config.buffer_bytes,
            peer_port=config.peer_port,
            error_indications_per_s=config.error_indications_per_s,
            on_error_indication=user_plane._error_indication,
        )
        protocol.datagram_received = user_plane.forwarder.datagram_received  # type: ignore[method-assign]
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
        transport, protocol = await cls._bind(address, config, sock)
        user_plane = cls("pgw", config, store, deployment, transport)
        user_plane._sgi = sgi
        forwarder = PgwForwarder(
            address,
            transport.sendto,
            asyncio.get_running_loop().time,
            write_sgi=user_plane._write_sgi,
            peer_port=config.peer_port,
            error_indications_per_s=config.error_indications_per_s,
            on_error_indication=user_plane._error_indication,
        )
        user_plane.forwarder = forwarder
        protocol.datagram_received = forwarder.datagram_received  # type: ignore[method-assign]
        asyncio.get_running_loop().add_reader(sgi.fd, user_plane._read_sgi, forwarder)
        return user_plane

    def set_paging(self, downlink_data: Callable[[int], Awaitable[Any]]) -> None:
        """SGW: how to ask for a UE to be paged (`SgwService.downlink_data`)."""
        self._paging = downlink_data

    @property
    def address(self) -> tuple[str, int]:
        return self._transport.get_extra_info("sockname")

    # --- rules ----------------------------------------------------------------------------

    async def start(self) -> int:
        """Install every record of the store, then keep following it; the number of rules."""
        self._snapshot = await snapshot(self._store, self._deployment, self.role)
        self.forwarder.replace(rule for rule, _ in self._snapshot.values())
        self._own(self._poll(), "forwarding poll")
        if self.config.counters_path is not None:
            self._own(self._write_counters(self.config.counters_path), "counters")
        return len(self.forwarder.rules)

    def forwarding_changed(self, committed: list[Change]) -> None:
        """`ForwardingListener`: this process's control frontend committed these."""
        self.forwarder.apply(committed)

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
            self.forwarder.notification_failed(teid)
            return
        if getattr(outcome, "notified", False):
            self.forwarder.counters.count("downlink_data_notifications")
        if not getattr(outcome, "applied", True):
            self.forwarder.notification_failed(teid)

    def paging_failed(self, imsi: str) -> None:
        """`SgwService(on_paging_failed=...)`: drop what was buffered for the UE."""
        if isinstance(self.forwarder, SgwForwarder):
            self.forwarder.paging_failed(imsi)

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

    def _read_sgi(self, forwarder: PgwForwarder) -> None:
        assert self._sgi is not None
        fd = self._sgi.fd
        received = forwarder.sgi_received
        for _ in range(SGI_READ_BURST):
            try:
                packet = os.read(fd, SGI_READ_SIZE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return  # the device is going away
            received(packet)

    def _write_sgi(self, packet: bytes) -> None:
        try:
            os.write(self._sgi.fd, packet)  # type: ignore[union-attr]
        except OSError:
            self.forwarder.counters["sgi"].drop(DropReason.SEND_FAILED)

    # --- counters -------------------------------------------------------------------------

    def counters(self) -> dict[str, Any]:
        return self.forwarder.counters.snapshot()

    async def _write_counters(self, path: str) -> None:
        while True:
            write_snapshot(path, {"role": self.role, **self.counters()})
            await asyncio.sleep(self.config.counters_interval_s)

    # --- life -----------------------------------------------------------------------------

    def _own(self, coroutine: Any, name: str) -> None:
        task = asyncio.get_running_loop().create_task(coroutine, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def close(self) -> None:
        """Stop following the store, close the socket, remove the SGi device."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.config.counters_path is not None:
            write_snapshot(self.config.counters_path, {"role": self.role, **self.counters()})
        self._transport.close()
        if self._sgi is not None and self._sgi.fd >= 0:
            asyncio.get_running_loop().remove_reader(self._sgi.fd)
            self._sgi.close()
