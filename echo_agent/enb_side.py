"""The agent's side of the eNB: S1AP from one eNB, over kernel SCTP or length-prefixed TCP.

It owns the listener and the one eNB connection; the agent serves a single eNB, so a second
association or connection while one is attached is refused with a log line.

- **SCTP** (`s1.transport = "sctp"`, what a real eNB speaks): `epc.sctp`, PPID 18, the stream
  of every message kept both ways (TS 36.412 section 7). A message with another PPID is
  dropped with a log line. A downlink for a stream the association does not have (an MME
  bug) goes on a stream it has, also with a log line.
- **TCP** (`s1.transport = "tcp"`, for simulators and hosts without kernel SCTP): each S1AP
  message is framed as

      | 4 octets: payload length, big-endian | 2 octets: SCTP stream, big-endian | payload |

  A length of 0 (SCTP cannot carry an empty message) is skipped with a log line; one above
  `MAX_S1AP` loses the framing, so it is logged and the connection closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from collections import deque
from typing import Protocol

from echo_agent.wire import MAX_PAYLOAD
from epc import sctp
from epc.daemon.logs import get_logger

__all__ = ["MAX_S1AP", "TCP_HEADER", "EnbLink", "EnbListener", "EnbSink", "open_listener"]

log = get_logger()

TCP_HEADER = struct.Struct("!IH")
"""The TCP transport's header: payload length, SCTP stream."""

MAX_S1AP = MAX_PAYLOAD
"""The largest S1AP message relayed: what one ECHO frame carries (far above any real one)."""


class EnbLink(Protocol):
    """The attached eNB, as the agent sends to it."""

    peer: str

    def send(self, messages: list[tuple[bytes, int]]) -> None:
        """S1AP messages (payload, stream) to the eNB, in order."""
        ...

    def close(self) -> None: ...


class EnbSink(Protocol):
    """What the eNB side tells the agent (`echo_agent.daemon.Agent`)."""

    def enb_attached(self, link: EnbLink) -> bool:
        """False if an eNB is attached already: the link is refused."""
        ...

    def enb_detached(self, link: EnbLink) -> None: ...

    def uplinks(self, messages: list[tuple[bytes, int]]) -> None:
        """S1AP messages from the eNB, (payload, stream), in arrival order."""
        ...


class EnbListener(Protocol):
    port: int

    def close(self) -> None:
        """Stop accepting and close the attached eNB's connection."""
        ...

    async def wait_closed(self) -> None: ...


async def open_listener(transport: str, host: str, port: int, streams: int, sink: EnbSink):
    """Listen for the eNB; raises `epc.sctp.SctpUnavailable` for SCTP on a kernel without it."""
    if transport == "sctp":
        listener: EnbListener = _SctpListener(sink)
        await listener.start(host, port, streams)  # type: ignore[attr-defined]
    else:
        listener = _TcpListener(sink)
        await listener.start(host, port)  # type: ignore[attr-defined]
    log.info("s1 listening", transport=transport, host=host, port=listener.port)
    return listener


# --- TCP ------------------------------------------------------------------------------------


class _TcpListener:
    def __init__(self, sink: EnbSink) -> None:
        self._sink = sink
        self._server: asyncio.Server | None = None
        self._links: set[_TcpEnbLink] = set()
        self.port = 0

    async def start(self, host: str, port: int) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _TcpEnbLink(self), host, port)
        self.port = self._server.sockets[0].getsockname()[1]

    def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for link in list(self._links):
            link.close()

    async def wait_closed(self) -> None:
        if self._server is not None:
            await self._server.wait_closed()


class _TcpEnbLink(asyncio.Protocol):
    def __init__(self, listener: _TcpListener) -> None:
        self._listener = listener
        self._sink = listener._sink
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()
        self._attached = False
        self.peer = "?"

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses; same interface.
        self._transport = transport  # type: ignore[assignment]
        self.peer = _peer_name(transport.get_extra_info("peername"))
        if not self._sink.enb_attached(self):
            transport.close()
            return
        self._attached = True
        self._listener._links.add(self)

    def data_received(self, data: bytes) -> None:
        if not self._attached:
            return
        buffer = self._buffer
        buffer += data
        messages: list[tuple[bytes, int]] = []
        start, size, header = 0, len(buffer), TCP_HEADER.size
        while size - start >= header:
            length, stream = TCP_HEADER.unpack_from(buffer, start)
            if length > MAX_S1AP:
                log.warning("bad eNB frame, closing", peer=self.peer, length=length, limit=MAX_S1AP)
                self._buffer = bytearray()
                self._deliver(messages)
                self.close()
                return
            end = start + header + length
            if end > size:
                break
            if length == 0:
                log.warning("bad eNB frame skipped", peer=self.peer, reason="empty message")
            else:
                messages.append((bytes(memoryview(buffer)[start + header : end]), stream))
            start = end
        if start:
            self._buffer = buffer[start:]
        self._deliver(messages)

    def _deliver(self, messages: list[tuple[bytes, int]]) -> None:
        if messages:
            self._sink.uplinks(messages)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self._attached:
            return
        self._attached = False
        self._listener._links.discard(self)
        if self._buffer:
            log.warning("eNB frame truncated", peer=self.peer, octets=len(self._buffer))
        self._sink.enb_detached(self)

    def send(self, messages: list[tuple[bytes, int]]) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        pack = TCP_HEADER.pack
        transport.write(
            b"".join(pack(len(payload), stream) + payload for payload, stream in messages)
        )

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()


# --- SCTP -----------------------------------------------------------------------------------


class _SctpListener:
    def __init__(self, sink: EnbSink) -> None:
        self._sink = sink
        self._listener: sctp.SctpListener | None = None
        self.port = 0

    async def start(self, host: str, port: int, streams: int) -> None:
        self._listener = await sctp.listen(host, port, self._serve, streams=streams)
        self.port = self._listener.address[1]

    def close(self) -> None:
        # Cancels every association handler; the listener then closes their sockets.
        if self._listener is not None:
            self._listener.close()

    async def wait_closed(self) -> None:
        if self._listener is not None:
            await self._listener.wait_closed()

    async def _serve(self, association: sctp.SctpAssociation) -> None:
        link = _SctpEnbLink(association)
        if not self._sink.enb_attached(link):
            return  # the listener closes the association
        log.info(
            "eNB association up",
            peer=link.peer,
            outbound_streams=association.outbound_streams,
            inbound_streams=association.inbound_streams,
        )
        writer = asyncio.create_task(link.write_forever(), name="enb sctp writer")
        try:
            await self._read(link, association)
        finally:
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, sctp.ConnectionClosed):
                await writer
            self._sink.enb_detached(link)

    async def _read(self, link: _SctpEnbLink, association: sctp.SctpAssociation) -> None:
        try:
            while True:
                message = await association.recv()
                if message.ppid != sctp.S1AP_PPID:
                    log.warning("uplink not S1AP, dropped", peer=link.peer, ppid=message.ppid)
                    continue
                self._sink.uplinks([(message.payload, message.stream)])
        except sctp.ConnectionClosed as error:
            log.info("eNB association ended", peer=link.peer, reason=str(error))


class _SctpEnbLink:
    """Downlinks wait in a FIFO that one writer task drains, so they leave in order and the
    agent never awaits a send."""

    def __init__(self, association: sctp.SctpAssociation) -> None:
        self._association = association
        self._queue: deque[tuple[bytes, int]] = deque()
        self._ready = asyncio.Event()
        self.peer = _peer_name(association.peer)

    def send(self, messages: list[tuple[bytes, int]]) -> None:
        streams = self._association.outbound_streams
        for payload, stream in messages:
            if stream >= streams:
                fixed = stream % streams
                log.warning(
                    "downlink stream out of range", stream=stream, streams=streams, sent=fixed
                )
                stream = fixed
            self._queue.append((payload, stream))
        self._ready.set()

    async def write_forever(self) -> None:
        queue, association = self._queue, self._association
        while True:
            await self._ready.wait()
            self._ready.clear()
            while queue:
                payload, stream = queue.popleft()
                try:
                    await association.send(payload, stream=stream)
                except ValueError as error:  # checked by epc.sctp: log it, keep the order
                    log.warning("downlink not sendable, dropped", reason=str(error))

    def close(self) -> None:
        self._association.close()


def _peer_name(peer: object) -> str:
    if isinstance(peer, tuple) and len(peer) >= 2:
        return f"{peer[0]}:{peer[1]}"
    return str(peer)
