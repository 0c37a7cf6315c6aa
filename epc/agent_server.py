"""The MME side of the ECHO agent protocol: a thin asyncio adapter around `echo_agent.wire`.

It owns the agent connections an MME instance accepts (TCP, or TLS with client certificates
when given an `ssl.SSLContext` that asks for them), the HELLO exchange, the delivery of each
REQUEST and TIMER_FIRED to the MME's handler, and the answers to bad frames. The MME frontend
runs Algorithm 1 in the handler and answers through the `AgentConnection` it is given, or
reaches an eNB's agent by identity (core-initiated messages: paging, network detach).

A connection, in order:

1. The TLS handshake, if any, completes within `hello_timeout_s`, then the agent's HELLO with
   its eNB's identity (1 to 255 octets of printable UTF-8) within as long again; the server
   answers HELLO with its instance name. A refused TLS handshake (no or a bad client
   certificate) never reaches this module: asyncio drops the connection, and logs it only in
   its debug mode. (Starting TLS here instead, with `start_tls`, loses the race with the
   client's first TLS record, which the plain stream has already read.) Anything else first is
   answered with ERROR(UNEXPECTED_KIND), a bad identity with ERROR(BAD_HELLO), and closed.
2. REQUEST and TIMER_FIRED go to `handler(connection, frame)`. Frames of one UE are handled one
   at a time, in arrival order; different UEs run concurrently. (Across connections, say an
   agent that reconnected, Algorithm 1's versioned writes settle who wins.) At most
   `max_pending` frames wait or run per connection; beyond that the server stops reading, and
   TCP pushes back on the agent. A handler that raises is logged and the next frame goes on.
3. PING is answered with PONG; PONG is ignored; an ERROR from the agent is logged.
4. Bad frames follow the wire's error rule: ERROR and close for a broken stream, ERROR and skip
   for an unknown kind or a kind the MME does not take; one log line each, never a crash.

Shutdown, in the daemon's phases (`epc.daemon.lifecycle`): `stop_accepting()` in "stop
accepting", `close()` in "drain": each connection stops reading, its running handlers finish
(frames not yet started are dropped: the agent resends them elsewhere), then it closes.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from collections.abc import Awaitable, Callable, Sequence

from echo_agent.wire import (
    ErrorCode,
    Frame,
    FrameError,
    FrameKind,
    FrameReader,
    UnknownKind,
    encode,
    error_frame,
)
from epc.daemon.logs import bound_context, get_logger

__all__ = ["AgentConnection", "AgentServer", "Handler"]

HELLO_TIMEOUT_S = 10.0
MAX_PENDING_FRAMES = 1024
MAX_IDENTITY_OCTETS = 255
READ_SIZE = 64 * 1024
CLOSE_TIMEOUT_S = 5.0

_HANDLED_KINDS = (FrameKind.REQUEST, FrameKind.TIMER_FIRED)

log = get_logger()


class AgentConnection:
    """One agent's connection, after its HELLO: what the MME sends frames through.

    Every send returns False instead of raising when the connection is gone; the agent resends
    the request to another instance and Algorithm 1 resends the recorded replies."""

    def __init__(self, writer: asyncio.StreamWriter, enb: str, peer: str) -> None:
        self._writer = writer
        self.enb = enb
        """The eNB identity from the agent's HELLO."""
        self.peer = peer
        """The agent's address, host:port."""

    @property
    def closed(self) -> bool:
        return self._writer.is_closing()

    async def send(self, *frames: Frame) -> bool:
        """Write the frames in one go; True if they were handed to the connection."""
        return await _write(self._writer, frames)

    async def reply(
        self, ue_id: int, request_id: int, sequence: int, payload: bytes, *, stream: int = 0
    ) -> bool:
        frame = Frame(FrameKind.REPLY, ue_id, request_id, sequence, stream=stream, payload=payload)
        return await self.send(frame)

    async def ack(self, ue_id: int, request_id: int, replies: int) -> bool:
        """Acknowledge a request that produced `replies` REPLY frames."""
        return await self.send(Frame(FrameKind.ACK, ue_id, request_id, sequence=replies))

    async def set_timer(self, ue_id: int, request_id: int, timer_id: int, timer_ms: int) -> bool:
        frame = Frame(FrameKind.SET_TIMER, ue_id, request_id, timer_id=timer_id, timer_ms=timer_ms)
        return await self.send(frame)

    async def cancel_timer(self, ue_id: int, request_id: int, timer_id: int) -> bool:
        return await self.send(Frame(FrameKind.CANCEL_TIMER, ue_id, request_id, timer_id=timer_id))

    async def core_initiated(
        self, ue_id: int, request_id: int, sequence: int, payload: bytes, *, stream: int = 0
    ) -> bool:
        frame = Frame(
            FrameKind.CORE_INITIATED, ue_id, request_id, sequence, stream=stream, payload=payload
        )
        return await self.send(frame)

    def __repr__(self) -> str:
        return f"<AgentConnection enb={self.enb!r} peer={self.peer}>"


Handler = Callable[[AgentConnection, Frame], Awaitable[None]]
"""`async def handle(connection, frame)`: one REQUEST or TIMER_FIRED of the connection's agent."""


class AgentServer:
    """Accepts agent connections and tracks them per eNB identity."""

    def __init__(
        self,
        handler: Handler,
        *,
        name: str,
        ssl_context: ssl.SSLContext | None = None,
        hello_timeout_s: float = HELLO_TIMEOUT_S,
        max_pending: int = MAX_PENDING_FRAMES,
    ) -> None:
        self._handler = handler
        self.name = name
        """This instance's name, sent in the HELLO answer."""
        self._ssl_context = ssl_context
        self._hello_timeout_s = hello_timeout_s
        self._max_pending = max_pending
        self._server: asyncio.Server | None = None
        self._sessions: dict[asyncio.Task[None], _Session] = {}
        self._by_enb: dict[str, list[AgentConnection]] = {}
        self._closing = False

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Listen on host:port (port 0: any free port, then see `port`)."""
        self._server = await asyncio.start_server(
            self._serve,
            host,
            port,
            ssl=self._ssl_context,
            ssl_handshake_timeout=self._hello_timeout_s if self._ssl_context else None,
            limit=READ_SIZE,
        )
        log.info("agent server listening", name=self.name, port=self.port, tls=self._tls)

    @property
    def port(self) -> int:
        if self._server is None or not self._server.sockets:
            raise RuntimeError("the agent server is not listening")
        return self._server.sockets[0].getsockname()[1]

    @property
    def _tls(self) -> bool:
        return self._ssl_context is not None

    def connections(self, enb: str | None = None) -> list[AgentConnection]:
        """The greeted connections, of one eNB or of all, oldest HELLO first."""
        if enb is not None:
            return list(self._by_enb.get(enb, ()))
        return [connection for group in self._by_enb.values() for connection in group]

    def connection_for(self, enb: str) -> AgentConnection | None:
        """A connected agent of the eNB (the most recently greeted), or None."""
        group = self._by_enb.get(enb)
        return group[-1] if group else None

    async def send_to_enb(self, enb: str, *frames: Frame) -> bool:
        """Send to any connected agent of the eNB; False if there is none (or it went away)."""
        connection = self.connection_for(enb)
        return connection is not None and await connection.send(*frames)

    async def stop_accepting(self) -> None:
        """Close the listening sockets; connections already accepted go on."""
        self._closing = True
        if self._server is not None and self._server.is_serving():
            self._server.close()
            await self._server.wait_closed()
            log.info("agent server stopped accepting", name=self.name)

    async def close(self) -> None:
        """Stop accepting, let every connection finish its running handlers, close them all.
        Cancelled (a shutdown deadline), it cancels what is still running."""
        await self.stop_accepting()
        for session in self._sessions.values():
            session.stop()
        tasks = list(self._sessions)
        if not tasks:
            return
        try:
            await asyncio.wait(tasks)
        except asyncio.CancelledError:
            for task in tasks:
                task.cancel()
            raise

    async def __aenter__(self) -> AgentServer:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._closing:
            writer.close()
            return
        task = asyncio.current_task()
        assert task is not None
        session = _Session(self, reader, writer)
        self._sessions[task] = session
        try:
            await session.run()
        finally:
            del self._sessions[task]
            self._forget(session.connection)

    def _greeted(self, connection: AgentConnection) -> None:
        self._by_enb.setdefault(connection.enb, []).append(connection)

    def _forget(self, connection: AgentConnection | None) -> None:
        if connection is None:
            return
        group = self._by_enb[connection.enb]
        group.remove(connection)
        if not group:
            del self._by_enb[connection.enb]


class _Session:
    """The life of one accepted connection: reading, per-UE queues, answers, closing."""

    def __init__(
        self, server: AgentServer, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self._server = server
        self._reader = reader
        self._writer = writer
        self._frames = FrameReader()
        self._peer = _peer_name(writer)
        self._log = log.bind(peer=self._peer)
        self.connection: AgentConnection | None = None
        self._queues: dict[int, deque[Frame]] = {}
        self._pending = asyncio.Semaphore(server._max_pending)
        self._hello_deadline: asyncio.Timeout | None = None
        self._reading: asyncio.Task[None] | None = None
        self._workers: asyncio.TaskGroup | None = None
        self._stopping = False

    async def run(self) -> None:
        try:
            async with asyncio.TaskGroup() as workers:
                self._workers = workers
                self._reading = workers.create_task(self._read(), name=f"agent {self._peer}")
        finally:
            await _close(self._writer)
            self._log.info("agent disconnected")

    def stop(self) -> None:
        """Stop reading; running handlers finish, queued frames are dropped."""
        self._stopping = True
        if self._reading is not None:
            self._reading.cancel()

    async def _read(self) -> None:
        try:
            async with asyncio.timeout(self._server._hello_timeout_s) as self._hello_deadline:
                while data := await self._reader.read(READ_SIZE):
                    for outcome in self._frames.feed(data):
                        await self._dispatch(outcome)
                self._frames.end_of_stream()
        except FrameError as error:
            await self._refuse(error)
        except TimeoutError:
            self._log.warning(
                "agent sent no HELLO in time", timeout_s=self._server._hello_timeout_s
            )
        except ssl.SSLError as error:
            self._log.warning("agent TLS failed", error=str(error))
        except OSError as error:
            self._log.info("agent connection lost", error=str(error))

    async def _dispatch(self, outcome: Frame | UnknownKind) -> None:
        match outcome:
            case UnknownKind():
                await self._skip(outcome.answer())
            case Frame(kind=FrameKind.HELLO) if self.connection is None:
                await self._greet(outcome)
            case _ if self.connection is None:
                raise FrameError(ErrorCode.UNEXPECTED_KIND, f"{outcome.kind.name} before HELLO")
            case Frame(kind=kind) if kind in _HANDLED_KINDS:
                await self._queue(outcome)
            case Frame(kind=FrameKind.PING):
                await self.connection.send(Frame(FrameKind.PONG, request_id=outcome.request_id))
            case Frame(kind=FrameKind.PONG):
                pass
            case Frame(kind=FrameKind.ERROR):
                self._log.warning(
                    "agent reported an error",
                    code=_code_name(outcome.sequence),
                    reason=outcome.payload.decode(errors="replace"),
                )
            case Frame(kind=kind):
                reason = f"{kind.name} is not for the MME"
                await self._skip(error_frame(ErrorCode.UNEXPECTED_KIND, reason))

    async def _greet(self, hello: Frame) -> None:
        enb = _enb_identity(hello.payload)
        self._hello_deadline.reschedule(None)
        self.connection = AgentConnection(self._writer, enb, self._peer)
        self._log = self._log.bind(enb=enb)
        self._server._greeted(self.connection)
        await self.connection.send(Frame(FrameKind.HELLO, payload=self._server.name.encode()))
        self._log.info("agent connected", tls=self._server._tls)

    async def _queue(self, frame: Frame) -> None:
        # Waits while max_pending frames wait or run: reading stops, and TCP pushes back.
        await self._pending.acquire()
        queue = self._queues.get(frame.ue_id)
        if queue is not None:
            queue.append(frame)
            return
        self._queues[frame.ue_id] = deque([frame])
        self._workers.create_task(self._serve_ue(frame.ue_id), name=f"ue {frame.ue_id}")

    async def _serve_ue(self, ue_id: int) -> None:
        """Handle the UE's frames one at a time until its queue is empty."""
        queue = self._queues[ue_id]
        try:
            while queue and not self._stopping:
                await self._handle(queue[0])
                queue.popleft()
                self._pending.release()
        finally:
            del self._queues[ue_id]

    async def _handle(self, frame: Frame) -> None:
        with bound_context(enb=self.connection.enb, ue_id=frame.ue_id, request_id=frame.request_id):
            try:
                await self._server._handler(self.connection, frame)
            except Exception:
                self._log.exception("agent request handler failed", kind=frame.kind.name)

    async def _skip(self, answer: Frame) -> None:
        """Answer a frame that is skipped, per the wire's error rule; the connection stays."""
        self._log.warning(
            "bad frame from agent skipped",
            code=_code_name(answer.sequence),
            reason=answer.payload.decode(),
        )
        await _write(self._writer, (answer,))

    async def _refuse(self, error: FrameError) -> None:
        """Answer a broken stream, per the wire's error rule, and close."""
        self._log.warning(
            "bad frame from agent, closing", code=error.code.name, reason=error.reason
        )
        if error.code != ErrorCode.TRUNCATED:
            await _write(self._writer, (error.answer(),))
        self._writer.close()


async def _write(writer: asyncio.StreamWriter, frames: Sequence[Frame]) -> bool:
    """Write the frames in one go; False if the connection is closing or gone."""
    if writer.is_closing():
        return False
    writer.write(b"".join(encode(frame) for frame in frames))
    try:
        await writer.drain()
    except ConnectionError:
        return False
    return True


async def _close(writer: asyncio.StreamWriter) -> None:
    """Close gracefully (written frames flushed, TLS closed), or abort after CLOSE_TIMEOUT_S: a
    peer that stopped reading must not hold the connection, or the shutdown, open."""
    writer.close()
    try:
        async with asyncio.timeout(CLOSE_TIMEOUT_S):
            await writer.wait_closed()
    except TimeoutError:
        writer.transport.abort()
    except OSError:
        pass


def _enb_identity(payload: bytes) -> str:
    """The eNB identity a HELLO carries; FrameError(BAD_HELLO) if it is not one."""
    try:
        identity = payload.decode()
    except UnicodeDecodeError:
        raise FrameError(ErrorCode.BAD_HELLO, "eNB identity is not UTF-8") from None
    if not 0 < len(payload) <= MAX_IDENTITY_OCTETS or not identity.isprintable():
        raise FrameError(
            ErrorCode.BAD_HELLO,
            f"eNB identity must be 1 to {MAX_IDENTITY_OCTETS} octets of printable text",
        )
    return identity


def _code_name(code: int) -> str:
    try:
        return ErrorCode(code).name
    except ValueError:
        return str(code)


def _peer_name(writer: asyncio.StreamWriter) -> str:
    peer = writer.get_extra_info("peername")
    if isinstance(peer, tuple) and len(peer) >= 2:
        return f"{peer[0]}:{peer[1]}"
    return str(peer)
