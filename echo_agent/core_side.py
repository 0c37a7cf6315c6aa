"""The agent's side of the core: ECHO frames over TCP (optionally TLS with a client
certificate) to a pool of MME instances in priority groups (data centres).

It owns the connections and the choice of the one endpoint requests go to; what to send and
when is the entry point's (`echo_agent.entry_point`), reached through a `CoreSink`.

- **Connections.** One connector task per endpoint of the active group keeps a connection up:
  connect, send HELLO with the eNB identity, wait for the MME's HELLO (all within
  `connect_timeout_s`), then reconnect with backoff (`[core.reconnect]`) whenever it fails or
  drops. Every greeted connection delivers frames, whichever endpoint requests go to, so a
  core-initiated message (paging, detach) may come from any instance that has a connection.
- **Current endpoint.** Requests go to one greeted connection of the active group, chosen by
  a rotation derived from the eNB identity so the agents of many eNBs spread over a group's
  instances. It changes only when it must: its connection drops, or the entry point reports
  it unresponsive (`switch_away_from`).
- **Groups.** The pool starts with the first group and moves to the next (wrapping around)
  when every endpoint of the active group has failed to connect since the group became
  active, or when the entry point reports `switch_after_timeouts` consecutive timeouts: a
  connection that is up but does not answer means the instances' store or data centre is in
  trouble, not one process (a dead process drops its connection or stops answering PING).
  With a single group a timeout report moves requests to the group's next live endpoint.
  Connections of a group left behind stay open while they live (their frames still count) but
  are not reconnected. Backoff is per endpoint and survives group changes, so a pool whose
  every data centre is down cycles at the reconnect backoff, not in a tight loop.
- **Liveness.** Every `ping_interval_s` each connection gets a PING; one that has sent nothing
  for `ping_timeout_s` (a dead host sends no FIN) is closed as lost.
- **Bad frames** follow the wire's error rule (`echo_agent.wire`): one log line each, ERROR
  answered, the connection closed only when the stream has lost its framing.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import ssl
import zlib
from typing import Protocol

from echo_agent.config import CoreConfig, Endpoint, ReconnectConfig, parse_endpoint
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
from epc.daemon.logs import get_logger

__all__ = ["CoreLink", "CorePool", "CoreSink", "LinkClosed"]

log = get_logger()

_TO_ENTRY_POINT = frozenset(
    {
        FrameKind.REPLY,
        FrameKind.ACK,
        FrameKind.SET_TIMER,
        FrameKind.CANCEL_TIMER,
        FrameKind.CORE_INITIATED,
        FrameKind.ERROR,
    }
)
"""Kinds an MME sends that the entry point decides about; HELLO, PING and PONG stay here."""

_REASON_CHARS = 200
"""An ERROR frame's reason is logged up to this length: readable, bounded for a peer."""


class CoreSink(Protocol):
    """What the pool tells the entry point's adapter (`echo_agent.daemon.Agent`)."""

    def core_connected(self, endpoint: str) -> None: ...

    def core_disconnected(self, endpoint: str) -> None: ...

    def frames_from_core(self, frames: list[Frame]) -> None: ...


class LinkClosed(ConnectionError):
    """The connection closed (or answered ERROR) before the MME's HELLO came."""


class CoreLink(asyncio.Protocol):
    """One connection to one MME endpoint: frames in and out, HELLO, PING/PONG."""

    def __init__(self, endpoint: str, pool: CorePool) -> None:
        self.endpoint = endpoint
        self._pool = pool
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._reader = FrameReader()
        self._transport: asyncio.Transport | None = None
        self.greeted: asyncio.Future[str] = loop.create_future()
        """The instance name from the MME's HELLO; LinkClosed if it closes first."""
        self.closed: asyncio.Future[None] = loop.create_future()
        self.up = False
        """Greeted: its frames go to the entry point (set by the pool)."""
        self.last_heard = loop.time()
        self.instance = ""

    # --- asyncio.Protocol --------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses; same interface.
        self._transport = transport  # type: ignore[assignment]
        self.last_heard = self._loop.time()
        transport.write(encode(Frame(FrameKind.HELLO, payload=self._pool.identity.encode())))

    def data_received(self, data: bytes) -> None:
        self.last_heard = self._loop.time()
        try:
            outcomes = self._reader.feed(data)
        except FrameError as error:
            self._refuse(error)
            return
        frames: list[Frame] = []
        for outcome in outcomes:
            if type(outcome) is UnknownKind:
                self._skip(outcome.answer())
            elif outcome.kind in _TO_ENTRY_POINT and self.up:
                frames.append(outcome)
            else:
                self._own_frame(outcome)
        if frames:
            self._pool.deliver(frames)

    def connection_lost(self, exc: Exception | None) -> None:
        try:
            self._reader.end_of_stream()
        except FrameError as error:
            log.warning("core frame truncated", endpoint=self.endpoint, reason=error.reason)
        if not self.greeted.done():
            self.greeted.set_exception(LinkClosed(str(exc) if exc else "closed before HELLO"))
            self.greeted.exception()  # retrieved: a failed connect is logged by the connector
        if not self.closed.done():
            self.closed.set_result(None)
        if self.up:
            self.up = False
            self._pool.link_lost(self, exc)

    # --- what the pool and the agent call ------------------------------------------------

    def send(self, frame: Frame) -> None:
        self.write(encode(frame))

    def write(self, data: bytes) -> None:
        transport = self._transport
        if transport is not None and not transport.is_closing():
            transport.write(data)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    # --- frames handled here -----------------------------------------------------------------

    def _own_frame(self, frame: Frame) -> None:
        kind = frame.kind
        if kind is FrameKind.PING:
            self.send(Frame(FrameKind.PONG, request_id=frame.request_id))
        elif kind is FrameKind.PONG:
            pass
        elif kind is FrameKind.HELLO and not self.greeted.done():
            self.instance = frame.payload.decode("utf-8", "replace")[:_REASON_CHARS]
            self.greeted.set_result(self.instance)
            # Up at once, not when the connector resumes: frames behind the HELLO in this
            # very read (a core-initiated message, say) go to the entry point.
            self._pool.link_greeted(self)
        elif kind is FrameKind.ERROR:
            # Before HELLO (an answer to ours, say BAD_HELLO): the MME closes; the connector
            # logs the failed connect with this reason.
            reason = frame.payload.decode("utf-8", "replace")[:_REASON_CHARS]
            log.warning(
                "core reported an error",
                endpoint=self.endpoint,
                code=_code_name(frame.sequence),
                reason=reason,
            )
        else:
            why = "HELLO twice" if kind is FrameKind.HELLO else f"{kind.name} is not for the agent"
            if not self.up and kind is not FrameKind.HELLO:
                why = f"{kind.name} before HELLO"
            self._skip(error_frame(ErrorCode.UNEXPECTED_KIND, why))

    def _skip(self, answer: Frame) -> None:
        """A frame skipped per the wire's error rule: one line, ERROR answered, stay."""
        log.warning(
            "bad frame from core skipped",
            endpoint=self.endpoint,
            code=_code_name(answer.sequence),
            reason=answer.payload.decode(),
        )
        self.send(answer)

    def _refuse(self, error: FrameError) -> None:
        """A stream that lost its framing: one line, ERROR answered, closed."""
        log.warning(
            "bad frame from core, closing",
            endpoint=self.endpoint,
            code=error.code.name,
            reason=error.reason,
        )
        self.send(error.answer())
        self.close()


class CorePool:
    """The MME endpoints, their connections and the current endpoint; see the module doc."""

    def __init__(
        self,
        config: CoreConfig,
        identity: str,
        sink: CoreSink,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        self.identity = identity
        self._config = config
        self._sink = sink
        self._ssl = ssl_context
        self._server_name = config.tls.server_name or None
        self._endpoints: dict[str, Endpoint] = {}
        self._groups: list[tuple[str, list[str]]] = []
        rotation = zlib.crc32(identity.encode())
        for group in config.groups:
            members = list(group.endpoints)
            shift = rotation % len(members)
            self._groups.append((group.name, members[shift:] + members[:shift]))
            for text in members:
                self._endpoints[text] = parse_endpoint(text)
        self._active = 0
        self._wanted: frozenset[str] = frozenset()
        self._failed: set[str] = set()
        self._links: dict[str, CoreLink] = {}
        self._connectors: dict[str, asyncio.Task[None]] = {}
        self._backoff = {text: _Backoff(config.reconnect) for text in self._endpoints}
        self._tasks: asyncio.TaskGroup | None = None
        self._stop = asyncio.Event()
        self._ping_id = 0
        self.current: str | None = None

    @property
    def active_group(self) -> str:
        return self._groups[self._active][0]

    def live_endpoints(self) -> list[str]:
        return list(self._links)

    # --- life ------------------------------------------------------------------------------

    async def run(self) -> None:
        """Keep the pool connected until `close()`."""
        async with asyncio.TaskGroup() as tasks:
            self._tasks = tasks
            self._activate(0, "start")
            pinger = tasks.create_task(self._ping_forever(), name="core ping")
            await self._stop.wait()
            pinger.cancel()
            for connector in list(self._connectors.values()):
                connector.cancel()

    async def close(self) -> None:
        """Stop connecting and close every connection (what is written is flushed)."""
        self._stop.set()
        links = list(self._links.values())
        for link in links:
            link.close()
        for link in links:
            with contextlib.suppress(asyncio.CancelledError):
                await link.closed
        log.info("core connections closed", count=len(links))

    # --- what the agent calls ------------------------------------------------------------

    def send(self, endpoint: str, data: bytes) -> None:
        """Send encoded frames on the endpoint's connection; dropped if it has none (the entry
        point resends on its next connection or timeout)."""
        link = self._links.get(endpoint)
        if link is not None:
            link.write(data)

    def switch_away_from(self, endpoint: str, timeouts: int) -> None:
        """The entry point saw `timeouts` consecutive timeouts on `endpoint`."""
        if endpoint != self.current:
            return  # already moved on
        if len(self._groups) > 1:
            self._advance(f"{timeouts} consecutive timeouts at {endpoint}")
            return
        members = self._groups[self._active][1]
        start = members.index(endpoint) if endpoint in members else -1
        for step in range(1, len(members)):
            candidate = members[(start + step) % len(members)]
            if candidate in self._links:
                log.warning(
                    "core endpoint unresponsive, moving",
                    endpoint=endpoint,
                    new=candidate,
                    timeouts=timeouts,
                )
                self._make_current(candidate)
                return
        log.warning("core endpoint unresponsive, no other live", endpoint=endpoint)

    def deliver(self, frames: list[Frame]) -> None:
        self._sink.frames_from_core(frames)

    # --- connections -----------------------------------------------------------------------

    async def _connect_forever(self, endpoint: str) -> None:
        loop = asyncio.get_running_loop()
        backoff = self._backoff[endpoint]
        try:
            while endpoint in self._wanted and not self._stop.is_set():
                wait = backoff.retry_at - loop.time()
                if wait > 0:
                    await asyncio.sleep(wait)
                    continue  # the group may have changed meanwhile
                link = await self._open(endpoint)
                if link is None:
                    backoff.failed(loop.time())
                    self._connect_failed(endpoint)
                    continue
                backoff.reset()
                await link.closed
                backoff.failed(loop.time())  # a dropped connection waits before reconnecting
        finally:
            if self._connectors.get(endpoint) is asyncio.current_task():
                del self._connectors[endpoint]

    async def _open(self, endpoint: str) -> CoreLink | None:
        """A greeted connection to `endpoint`, or None (logged) if it could not be made."""
        address = self._endpoints[endpoint]
        loop = asyncio.get_running_loop()
        link = CoreLink(endpoint, self)
        try:
            async with asyncio.timeout(self._config.connect_timeout_s):
                await loop.create_connection(
                    lambda: link,
                    address.host,
                    address.port,
                    ssl=self._ssl,
                    server_hostname=(self._server_name or address.host) if self._ssl else None,
                )
                await link.greeted
        except (OSError, TimeoutError, ssl.SSLError) as error:
            link.abort()
            log.info(
                "core connect failed",
                endpoint=endpoint,
                group=self.active_group,
                error=str(error) or type(error).__name__,
            )
            return None
        return link

    def link_greeted(self, link: CoreLink) -> None:
        """The MME answered the link's HELLO: its frames count from now on."""
        if self._stop.is_set():
            link.close()
            return
        link.up = True
        endpoint = link.endpoint
        old = self._links.get(endpoint)
        self._links[endpoint] = link
        if old is not None:
            old.close()
        self._failed.discard(endpoint)
        log.info(
            "core connected",
            endpoint=endpoint,
            instance=link.instance,
            group=self._group_of(endpoint),
            tls=self._ssl is not None,
        )
        self._choose()

    def link_lost(self, link: CoreLink, error: Exception | None) -> None:
        endpoint = link.endpoint
        if self._links.get(endpoint) is not link:
            return
        del self._links[endpoint]
        report = log.info if self._stop.is_set() else log.warning
        report(
            "core connection lost",
            endpoint=endpoint,
            instance=link.instance,
            error=str(error) if error else None,
        )
        if endpoint == self.current:
            self.current = None
            self._sink.core_disconnected(endpoint)
        self._choose()

    def _connect_failed(self, endpoint: str) -> None:
        if endpoint not in self._wanted:
            return
        self._failed.add(endpoint)
        members = self._groups[self._active][1]
        if all(member in self._failed for member in members):
            self._advance("every endpoint of the group failed to connect")

    # --- groups and the current endpoint ---------------------------------------------------

    def _advance(self, reason: str) -> None:
        if len(self._groups) == 1:
            return  # nowhere to go: the connectors keep retrying with backoff
        self._activate((self._active + 1) % len(self._groups), reason)

    def _activate(self, index: int, reason: str) -> None:
        old = self.active_group if self._wanted else None
        self._active = index
        name, members = self._groups[index]
        self._wanted = frozenset(members)
        self._failed = set()
        if old is None:
            log.info("core group", new=name, endpoints=members)
        else:
            log.warning("core group", old=old, new=name, reason=reason, endpoints=members)
        assert self._tasks is not None
        for endpoint in members:
            if endpoint not in self._connectors:
                self._connectors[endpoint] = self._tasks.create_task(
                    self._connect_forever(endpoint), name=f"core {endpoint}"
                )
        self._choose()

    def _choose(self) -> None:
        """Keep the current endpoint while it is a live member of the active group; else the
        first live member; else keep a live current of a group left behind; else any live."""
        members = self._groups[self._active][1]
        if self.current in self._links and self.current in self._wanted:
            return
        candidate = next((member for member in members if member in self._links), None)
        if candidate is None:
            if self.current in self._links:
                return
            candidate = next(iter(self._links), None)
        if candidate is not None and candidate != self.current:
            self._make_current(candidate)

    def _make_current(self, endpoint: str) -> None:
        self.current = endpoint
        self._sink.core_connected(endpoint)

    def _group_of(self, endpoint: str) -> str:
        return next(name for name, members in self._groups if endpoint in members)

    async def _ping_forever(self) -> None:
        loop = asyncio.get_running_loop()
        interval, timeout = self._config.ping_interval_s, self._config.ping_timeout_s
        while True:
            await asyncio.sleep(interval)
            now = loop.time()
            for link in list(self._links.values()):
                silent = now - link.last_heard
                if silent > timeout:
                    log.warning("core endpoint silent", endpoint=link.endpoint, silent_s=silent)
                    link.abort()
                else:
                    self._ping_id += 1
                    link.send(Frame(FrameKind.PING, request_id=self._ping_id))


class _Backoff:
    """Per endpoint: when the next connection attempt may start."""

    def __init__(self, config: ReconnectConfig) -> None:
        self._config = config
        self._delay = 0.0
        self.retry_at = 0.0

    def failed(self, now: float) -> None:
        config = self._config
        if self._delay == 0.0:
            self._delay = config.initial_delay_s
        else:
            self._delay = min(self._delay * config.multiplier, config.max_delay_s)
        self.retry_at = now + self._delay * (1 - config.jitter * random.random())

    def reset(self) -> None:
        self._delay = 0.0
        self.retry_at = 0.0


def _code_name(code: int) -> str:
    try:
        return ErrorCode(code).name
    except ValueError:
        return str(code)
