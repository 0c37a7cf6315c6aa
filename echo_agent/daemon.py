"""The echo-agent daemon: the asyncio adapter that drives the sans-I/O entry point
(`echo_agent.entry_point`) from the eNB's connection (`echo_agent.enb_side`), the MME pool's
connections (`echo_agent.core_side`) and one deadline timer.

The adapter decides nothing about requests: every input becomes one call on the entry point
with `now = loop.time()`, then its commands are carried out in order. The hot path (an uplink
or a frame from the core) is protocol callbacks only: no task switch, no await, no log line
at info level; the entry point's per-request events exist only at `log.level = "debug"`.

Start (`serve`), in order:
1. with `s1.transport = "sctp"`, check that the kernel has SCTP; without it exit 2 with a line
   that says how to load it (`modprobe sctp`) or to use the TCP transport;
2. build the TLS context if `[core.tls]` is enabled (a file that cannot be loaded exits 2,
   naming the key);
3. listen for the eNB, start connecting to the MME pool, and report ready. Ready means
   "listening for the eNB", not "connected to an MME": the eNB must be able to attach while
   the core is unreachable (its requests wait in the entry point's queues and go out when an
   MME answers), and systemd must not hold the agent in "activating" for a core outage.

Shutdown (SIGTERM, `epc.daemon.lifecycle`): "stop accepting" closes the eNB listener and the
eNB's association (no new requests, and no reply could reach the eNB after it), and waits
until the entry point has seen it go, so the Reset that tells the core the eNB's UEs are gone
is written; "drain" closes the MME connections once what was written to them is flushed.
Nothing to drain beyond that: requests still unanswered have no eNB to answer, and the eNB
repeats them on its new association to the restarted agent. The Reset is best effort here:
with no MME connected it is lost with the process.
"""

from __future__ import annotations

import asyncio
import math
import socket
import ssl
import sys
import time

from echo_agent.commands import (
    LogEvent,
    SendErrorIndicationToEnb,
    SendToCore,
    SendToEnb,
    SwitchCoreEndpoint,
)
from echo_agent.config import AgentConfig
from echo_agent.core_side import CorePool
from echo_agent.enb_side import MAX_S1AP, EnbLink, EnbListener, open_listener
from echo_agent.entry_point import EntryPoint
from echo_agent.wire import Frame, encode
from epc.daemon.lifecycle import Lifecycle
from epc.daemon.logs import bind_context, bound_context, get_logger
from epc.sctp import kernel_has_sctp

__all__ = ["Agent", "StartupError", "serve"]

EXIT_CANNOT_START = 2
"""Exit status when the host cannot run this config (no kernel SCTP, TLS files unreadable):
the same as a bad config, which systemd's RestartPreventExitStatus=2 does not restart."""

NO_SCTP_MESSAGE = (
    's1.transport = "sctp" but this kernel has no SCTP (socket(IPPROTO_SCTP) fails): load the '
    "module with `modprobe sctp` (as root; make it permanent with a line `sctp` in "
    '/etc/modules-load.d/sctp.conf), or set s1.transport = "tcp" for a simulator'
)

log = get_logger()


class StartupError(Exception):
    """The host cannot run this config; the message is one line naming the key."""


def _wall_clock_us() -> int:
    return time.time_ns() // 1000


class Agent:
    """One eNB's entry point and its I/O: the `EnbSink` of the eNB side, the `CoreSink` of
    the MME pool."""

    def __init__(
        self, config: AgentConfig, identity: str, ssl_context: ssl.SSLContext | None = None
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self._config = config
        self.identity = identity
        self.entry = EntryPoint(
            wall_clock_us=_wall_clock_us,
            retransmit=config.core.retransmit.policy(),
            switch_after_timeouts=config.core.switch_after_timeouts,
            debug_events=config.log.level == "debug",
        )
        self.core = CorePool(config.core, identity, self, ssl_context)
        self.enb: EnbLink | None = None
        self.listener: EnbListener | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = math.inf
        self._dispatching = False
        self._dropped_downlinks = 0
        self._enb_gone = asyncio.Event()
        self._enb_gone.set()
        self._log_levels = {"debug": log.debug, "info": log.info, "warning": log.warning}

    # --- start and stop ------------------------------------------------------------------

    async def listen(self) -> None:
        s1 = self._config.s1
        self.listener = await open_listener(s1.transport, s1.host, s1.port, s1.streams, self)

    async def stop_accepting(self) -> None:
        """Close the eNB listener and the eNB's connection, and wait until it is detached."""
        with bound_context(enb=self.identity):
            if self.listener is not None:
                self.listener.close()
                await self.listener.wait_closed()
            if self.enb is not None:
                self.enb.close()
            await self._enb_gone.wait()
            log.info("s1 closed")

    async def close(self) -> None:
        """Close the MME connections, once what was written to them has gone out."""
        with bound_context(enb=self.identity):
            if self._timer is not None:
                self._timer.cancel()
            await self.core.close()

    # --- the eNB side (EnbSink) ------------------------------------------------------------

    def enb_attached(self, link: EnbLink) -> bool:
        if self.enb is not None:
            log.warning("second eNB refused: an agent serves one eNB", peer=link.peer)
            return False
        self.enb = link
        self._enb_gone.clear()
        log.info("eNB attached", peer=link.peer, dropped_downlinks=self._dropped_downlinks)
        self._dropped_downlinks = 0
        return True

    def enb_detached(self, link: EnbLink) -> None:
        if self.enb is link:
            self.enb = None
            log.info("eNB detached", peer=link.peer)
            self.entry.enb_disconnected(self._loop.time())
            self._run_commands()
            self._enb_gone.set()

    def uplinks(self, messages: list[tuple[bytes, int]]) -> None:
        now = self._loop.time()
        uplink = self.entry.uplink_s1ap
        for payload, stream in messages:
            if len(payload) > MAX_S1AP:
                log.warning("uplink too long, dropped", octets=len(payload), limit=MAX_S1AP)
                continue
            uplink(now, payload, stream)
        self._run_commands()

    # --- the core side (CoreSink) --------------------------------------------------------

    def core_connected(self, endpoint: str) -> None:
        self.entry.core_connected(self._loop.time(), endpoint)
        self._run_commands()

    def core_disconnected(self, endpoint: str) -> None:
        self.entry.core_disconnected(self._loop.time(), endpoint)
        self._run_commands()

    def frames_from_core(self, frames: list[Frame]) -> None:
        now = self._loop.time()
        handle = self.entry.frame_from_core
        for frame in frames:
            handle(now, frame)
        self._run_commands()

    # --- commands and the deadline timer -------------------------------------------------

    def _run_commands(self) -> None:
        """Carry out the entry point's commands in order. Writes are gathered per socket and
        made once at the end, one system call for a whole batch of frames.

        A command that leads back into the entry point (a switch that connects at once)
        appends to its list; the loop here picks those up after the ones before them, so the
        order holds."""
        if self._dispatching:
            return
        self._dispatching = True
        to_core: dict[str, list[bytes]] = {}
        to_enb: list[tuple[bytes, int]] = []
        try:
            while commands := self.entry.pop_commands():
                for command in commands:
                    kind = type(command)
                    if kind is SendToCore:
                        chunks = to_core.get(command.endpoint)
                        if chunks is None:
                            chunks = to_core[command.endpoint] = []
                        chunks.append(encode(command.frame))
                    elif kind is SendToEnb or kind is SendErrorIndicationToEnb:
                        to_enb.append((command.payload, command.stream))
                    elif kind is LogEvent:
                        self._log_levels[command.level](command.event, **command.fields)
                    elif kind is SwitchCoreEndpoint:
                        self._flush(to_core, to_enb)
                        self.core.switch_away_from(command.endpoint, command.timeouts)
            self._flush(to_core, to_enb)
        finally:
            self._dispatching = False
        self._arm_timer()

    def _flush(self, to_core: dict[str, list[bytes]], to_enb: list[tuple[bytes, int]]) -> None:
        for endpoint, chunks in to_core.items():
            self.core.send(endpoint, chunks[0] if len(chunks) == 1 else b"".join(chunks))
        to_core.clear()
        if to_enb:
            self._to_enb(to_enb)
            to_enb.clear()

    def _to_enb(self, messages: list[tuple[bytes, int]]) -> None:
        enb = self.enb
        if enb is None:
            # Delivered once already as far as the entry point knows: the eNB is gone, and
            # with it the UE contexts the messages were for. Counted, logged on reattach.
            self._dropped_downlinks += len(messages)
            return
        if not all(payload for payload, _ in messages):
            log.warning("empty downlink dropped")
            messages = [message for message in messages if message[0]]
        enb.send(messages)

    def _arm_timer(self) -> None:
        """One loop timer for the entry point's earliest deadline. A timer already armed at
        or before it is kept (it fires, finds nothing due, and is armed again): most inputs
        push the earliest deadline later, and this saves a cancel and a call_at for each."""
        deadline = self.entry.next_deadline()
        if deadline is None or deadline >= self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._loop.call_at(deadline, self._on_timer)
        self._timer_at = deadline

    def _on_timer(self) -> None:
        # The loop may run a timer up to its clock resolution early; the armed deadline
        # counts as reached.
        now = max(self._loop.time(), self._timer_at)
        self._timer = None
        self._timer_at = math.inf
        self.entry.handle_deadline(now)
        self._run_commands()


def check_host(config: AgentConfig) -> ssl.SSLContext | None:
    """What the host must provide for this config; StartupError if it does not. Returns the
    TLS context for the core connections, if any."""
    if config.s1.transport == "sctp" and not kernel_has_sctp():
        raise StartupError(NO_SCTP_MESSAGE)
    tls = config.core.tls
    if not tls.enabled:
        return None
    try:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=tls.ca or None)
    except (OSError, ssl.SSLError) as error:
        raise StartupError(f"core.tls.ca: cannot load {tls.ca!r}: {error}") from None
    if tls.certificate:
        try:
            context.load_cert_chain(tls.certificate, tls.key)
        except (OSError, ssl.SSLError) as error:
            raise StartupError(
                f"core.tls.certificate: cannot load {tls.certificate!r} with key {tls.key!r}: "
                f"{error}"
            ) from None
    return context


async def serve(config: AgentConfig, lifecycle: Lifecycle) -> None:
    try:
        ssl_context = check_host(config)
    except StartupError as error:
        print(error, file=sys.stderr, flush=True)
        raise SystemExit(EXIT_CANNOT_START) from None
    identity = config.identity or socket.gethostname()
    bind_context(enb=identity)  # every line of the agent, its tasks' included
    agent = Agent(config, identity, ssl_context)
    await agent.listen()
    lifecycle.on_shutdown("stop accepting", agent.stop_accepting)
    lifecycle.on_shutdown("drain", agent.close)
    lifecycle.start(agent.core.run(), name="core pool")
    lifecycle.ready()
    await lifecycle.stopped()
