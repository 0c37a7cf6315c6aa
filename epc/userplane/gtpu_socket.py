"""The GTP-U socket of a user-plane worker: read in bursts, written in UDP GSO batches.

Why not an asyncio `DatagramProtocol`: the profile of one SGW-U worker (py-spy, docs/decisions.md
"User plane") showed the kernel's `sendmsg` as half of the worker's time and the loop's
per-datagram callback machinery as much as the forwarding itself. So:

- when the socket is readable, up to `RECEIVE_BURST` datagrams are read with `recvfrom_into`
  into one preallocated buffer, each handed to the forwarder as a writable `memoryview` it may
  rewrite in place (no allocation for the packet);
- with `gso` (off by default: measured on loopback, a receiver without UDP_GRO is charged the
  whole batch's buffer for each segment and drops most of them, see docs/decisions.md), what
  the forwarder sends during a burst is gathered per peer, and each run of same-size
  datagrams to one peer leaves in one `sendmsg` with `UDP_SEGMENT` (Linux UDP GSO, 4.18+): the
  kernel cuts it into ordinary datagrams, one per packet, so peers see no difference. Order
  per peer is kept. A GSO send the kernel refuses is retried datagram by datagram;
- sends outside a burst (Echo answers from timers, buffered packets flushed when a rule
  changes) go at once.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Callable

Address = tuple[str, int]

UDP_SEGMENT = 103
"""setsockopt/cmsg level SOL_UDP: the GSO segment size (linux/udp.h)."""
GSO_MAX_SEGMENTS = 64
"""UDP_MAX_SEGMENTS in the kernel."""
GSO_MAX_BYTES = 65000
"""Below the 64 KiB an IPv4 datagram can carry, headers included."""
RECEIVE_BURST = 256
"""Datagrams read per wake-up before the loop gets its turn (SGi, timers, the store)."""
RECEIVE_SIZE = 65535

_SEGMENT_SIZE = struct.Struct("=H")


class _Batch:
    __slots__ = ("count", "data", "size")

    def __init__(self, data: bytearray | memoryview) -> None:
        self.size = len(data)
        self.data = bytearray(data)
        self.count = 1


class GtpuSocket:
    """`send(data, peer)` is what the forwarder is given; once it exists, `start` reads the
    socket into `received(data, source)`; `on_send_failed()` counts a datagram the kernel
    refused."""

    def __init__(self, sock: socket.socket, gso: bool = False) -> None:
        self.sock = sock
        self._gso = gso
        self._received: Callable[[memoryview, Address], None] | None = None
        self._on_send_failed: Callable[[], None] = _ignore
        self._buffer = memoryview(bytearray(RECEIVE_SIZE))
        self._gathering = False
        self._batches: dict[Address, _Batch] = {}

    def start(
        self,
        loop: asyncio.AbstractEventLoop,
        received: Callable[[memoryview, Address], None],
        on_send_failed: Callable[[], None],
    ) -> None:
        self._received = received
        self._on_send_failed = on_send_failed
        loop.add_reader(self.sock.fileno(), self._readable)

    def close(self, loop: asyncio.AbstractEventLoop) -> None:
        if self.sock.fileno() >= 0:
            loop.remove_reader(self.sock.fileno())
            self.sock.close()

    @property
    def address(self) -> Address:
        return self.sock.getsockname()

    # --- receiving ------------------------------------------------------------------------

    def _readable(self) -> None:
        receive = self.sock.recvfrom_into
        buffer = self._buffer
        received = self._received
        assert received is not None
        self._gathering = True
        try:
            for _ in range(RECEIVE_BURST):
                try:
                    size, source = receive(buffer)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError:
                    break  # an ICMP error queued for an earlier send: not ours to fix
                received(buffer[:size], source)
        finally:
            self._gathering = False
            self._flush()

    # --- sending --------------------------------------------------------------------------

    def send(self, data: bytes | bytearray | memoryview, peer: Address) -> None:
        if not (self._gso and self._gathering):
            self._send_one(data, peer)
            return
        batch = self._batches.get(peer)
        if batch is None:
            self._batches[peer] = _Batch(data)
            return
        size = len(data)
        if (
            size != batch.size
            or batch.count >= GSO_MAX_SEGMENTS
            or len(batch.data) + size > GSO_MAX_BYTES
        ):
            self._send_batch(batch, peer)
            self._batches[peer] = _Batch(data)
            return
        batch.data += data
        batch.count += 1

    def _flush(self) -> None:
        if self._batches:
            for peer, batch in self._batches.items():
                self._send_batch(batch, peer)
            self._batches.clear()

    def _send_batch(self, batch: _Batch, peer: Address) -> None:
        if batch.count == 1:
            self._send_one(batch.data, peer)
            return
        control = [(socket.SOL_UDP, UDP_SEGMENT, _SEGMENT_SIZE.pack(batch.size))]
        try:
            self.sock.sendmsg([batch.data], control, 0, peer)
        except OSError:
            # No GSO here (old kernel, a device that cannot), or a datagram bigger than the
            # path MTU, which GSO will not fragment: one by one.
            view = memoryview(batch.data)
            for start in range(0, len(view), batch.size):
                self._send_one(view[start : start + batch.size], peer)

    def _send_one(self, data: bytes | bytearray | memoryview, peer: Address) -> None:
        try:
            self.sock.sendto(data, peer)
        except OSError:
            self._on_send_failed()


def _ignore() -> None:
    pass
