"""A raw ECHO wire client for tests: plays an agent (or a misbehaving peer) against an MME's
agent server, frame by frame or byte by byte, with nothing of the real agent's logic."""

from __future__ import annotations

import asyncio
import ssl

from echo_agent.wire import Frame, FrameKind, FrameReader, encode

RECEIVE_TIMEOUT_S = 5.0
"""A safety net: a test that waits longer than this for a frame has failed."""


class WireClient:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._frames = FrameReader()
        self._received: list[Frame] = []

    @classmethod
    async def connect(
        cls, port: int, *, host: str = "127.0.0.1", ssl_context: ssl.SSLContext | None = None
    ) -> WireClient:
        reader, writer = await asyncio.open_connection(
            host, port, ssl=ssl_context, server_hostname=host if ssl_context else None
        )
        return cls(reader, writer)

    @classmethod
    async def greeted(cls, port: int, enb: str = "enb-1", **options) -> WireClient:
        """Connected, HELLO sent and the server's HELLO received."""
        client = await cls.connect(port, **options)
        await client.send(Frame(FrameKind.HELLO, payload=enb.encode()))
        hello = await client.receive()
        assert hello.kind == FrameKind.HELLO, hello
        return client

    async def send(self, *frames: Frame) -> None:
        await self.send_bytes(b"".join(encode(frame) for frame in frames))

    async def send_bytes(self, data: bytes) -> None:
        self._writer.write(data)
        await self._writer.drain()

    async def receive(self) -> Frame:
        """The next frame; EOFError if the server closed the connection first."""
        async with asyncio.timeout(RECEIVE_TIMEOUT_S):
            while not self._received:
                data = await self._reader.read(65536)
                if not data:
                    raise EOFError("the server closed the connection")
                self._received += self._frames.feed(data)
        return self._received.pop(0)

    async def receive_until_closed(self) -> list[Frame]:
        """Every frame until the server closes the connection."""
        frames = []
        while True:
            try:
                frames.append(await self.receive())
            except EOFError:
                return frames

    async def close(self) -> None:
        self._writer.close()
        try:
            await self._writer.wait_closed()
        except OSError:
            pass
