"""The S1 link of one simulated eNB: whole S1AP PDUs, each with its SCTP stream, to and from
an MME or the echo-agent in front of one.

Two transports behind one small interface (`S1Link`: `send(pdu, stream)`, `receive()`,
`close()`):

- `"sctp"`: kernel SCTP through `epc.sctp`, PPID 18 (TS 36.412 7). The association's
  agreed outbound streams are `outbound_streams`, for `Enb.start(now, outbound_streams=...)`;
  a message with another PPID is dropped with a log line.
- `"tcp"`: the echo-agent's framing for hosts without kernel SCTP (docs/decisions.md, the
  agent's `echo_agent/enb_side.py`): per PDU a 4-octet big-endian length, a 2-octet stream,
  the PDU. `outbound_streams` is what SCTP would have asked for, so the eNB spreads its UEs
  over the same streams either way.

Connecting fails with `S1Unreachable`, whose message names the transport and the address
(what the CLI prints on one line before exiting 2). Once up, `receive` and `send` raise
`S1LinkClosed` when the peer goes away.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
from typing import Protocol

import structlog

from epc import sctp

__all__ = [
    "MAX_S1AP",
    "TCP_HEADER",
    "TRANSPORTS",
    "S1Link",
    "S1LinkClosed",
    "S1LinkError",
    "S1Unreachable",
    "connect",
]

TRANSPORTS = ("sctp", "tcp")
TCP_HEADER = struct.Struct("!IH")
"""The agent's TCP framing: payload length, SCTP stream (both big-endian)."""
MAX_S1AP = 256 * 1024
"""The largest PDU accepted on TCP: the most one ECHO frame carries (the agent's limit);
a longer length means the framing is lost."""
MAX_STREAM = 0xFFFF
CONNECT_TIMEOUT_S = 10.0

_log = structlog.get_logger(__name__)


class S1LinkError(OSError):
    """Base of this module's errors: an OSError, like the socket errors under it."""


class S1Unreachable(S1LinkError):
    """The core could not be reached; the message names the transport and the address."""


class S1LinkClosed(S1LinkError):
    """The link is over: the peer closed it, it broke, or it was closed here."""


class S1Link(Protocol):
    peer: str
    """host:port of the MME or agent."""
    outbound_streams: int
    """Streams the eNB may send on: 0 .. outbound_streams - 1."""

    async def send(self, pdu: bytes, stream: int) -> None:
        """One whole S1AP PDU on `stream`; waits only while the kernel's buffer is full."""
        ...

    async def receive(self) -> tuple[bytes, int]:
        """The next whole S1AP PDU and its stream."""
        ...

    async def close(self) -> None:
        """Idempotent; pending and later calls raise S1LinkClosed."""
        ...


async def connect(
    transport: str,
    host: str,
    port: int = sctp.S1AP_PORT,
    *,
    streams: int = sctp.DEFAULT_STREAMS,
    timeout_s: float = CONNECT_TIMEOUT_S,
) -> S1Link:
    """Open the S1 link; `S1Unreachable` if the core does not answer within `timeout_s`."""
    if transport not in TRANSPORTS:
        raise ValueError(f"transport: one of {TRANSPORTS}, got {transport!r}")
    where = f"{host}:{port}"
    try:
        async with asyncio.timeout(timeout_s):
            if transport == "sctp":
                return _SctpLink(await sctp.connect(host, port, streams=streams), where)
            reader, writer = await asyncio.open_connection(host, port)
            return _TcpLink(reader, writer, where, streams)
    except sctp.SctpUnavailable as error:
        raise S1Unreachable(f"cannot reach the core at {where} over SCTP: {error}") from error
    except TimeoutError:
        raise S1Unreachable(
            f"cannot reach the core at {where} over {transport.upper()}: "
            f"no answer within {timeout_s:g} s"
        ) from None
    except OSError as error:
        reason = error.strerror or str(error) or type(error).__name__
        raise S1Unreachable(
            f"cannot reach the core at {where} over {transport.upper()}: {reason}"
        ) from error


class _TcpLink:
    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: str, streams: int
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._closed = False
        self.peer = peer
        self.outbound_streams = streams

    async def send(self, pdu: bytes, stream: int) -> None:
        if not pdu or len(pdu) > MAX_S1AP:
            raise ValueError(f"an S1AP PDU of {len(pdu)} octets cannot be framed")
        if not 0 <= stream <= MAX_STREAM:
            raise ValueError(f"stream {stream} does not fit the framing's two octets")
        self._raise_if_closed()
        try:
            self._writer.write(TCP_HEADER.pack(len(pdu), stream) + pdu)
            await self._writer.drain()
        except ConnectionError as error:
            raise S1LinkClosed(f"S1 link to {self.peer} broke: {error}") from error

    async def receive(self) -> tuple[bytes, int]:
        self._raise_if_closed()
        try:
            length, stream = TCP_HEADER.unpack(await self._reader.readexactly(TCP_HEADER.size))
            if length == 0 or length > MAX_S1AP:
                await self.close()
                raise S1LinkClosed(f"S1 link to {self.peer}: a frame of {length} octets")
            return await self._reader.readexactly(length), stream
        except asyncio.IncompleteReadError:
            raise S1LinkClosed(f"{self.peer} closed the S1 link") from None
        except ConnectionError as error:
            raise S1LinkClosed(f"S1 link to {self.peer} broke: {error}") from error

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._writer.close()
        with contextlib.suppress(OSError):
            await self._writer.wait_closed()

    def _raise_if_closed(self) -> None:
        if self._closed:
            raise S1LinkClosed(f"S1 link to {self.peer} was closed here")


class _SctpLink:
    def __init__(self, association: sctp.SctpAssociation, peer: str) -> None:
        self._association = association
        self.peer = peer
        self.outbound_streams = association.outbound_streams

    async def send(self, pdu: bytes, stream: int) -> None:
        try:
            await self._association.send(pdu, ppid=sctp.S1AP_PPID, stream=stream)
        except sctp.ConnectionClosed as error:
            raise S1LinkClosed(str(error)) from error

    async def receive(self) -> tuple[bytes, int]:
        while True:
            try:
                message = await self._association.recv()
            except sctp.ConnectionClosed as error:
                raise S1LinkClosed(str(error)) from error
            if message.ppid == sctp.S1AP_PPID:
                return message.payload, message.stream
            _log.warning("s1 message not S1AP, dropped", peer=self.peer, ppid=message.ppid)

    async def close(self) -> None:
        self._association.close()
