"""The asyncio runtime of enbsim and its Python API: eNBs with S1 links, UEs with USIMs, and
procedures you await for a typed result.

    async with Simulator() as simulator:
        enb = simulator.enb(EnbConfig("enb-1", PlmnIdentity("001", "01"), 0x19B),
                            mme=("127.0.0.1", 36412), transport="tcp")
        await enb.connect()                      # S1 Setup
        enb.add_ue(subscriber)                   # an epc.subscriber.Subscriber (or a Usim)
        result = await enb.attach(subscriber.imsi)
        assert result.ok, result.reason          # result.latency_s, result.messages, ...

This module owns, per eNB, the I/O around the two sans-I/O cores (`enbsim.enb.Enb`, which
holds the `enbsim.ue.Ue`s): the S1 link (`enbsim.s1_connection`), the user plane
(`enbsim.userplane`, opened when asked for), and three tasks in the simulator's TaskGroup: a
reader feeding S1AP from the link into `Enb.receive_s1ap`, a writer sending the `SendS1ap`
commands in order, and one timer task sleeping until the earliest deadline of the eNB and its
UEs. Every core call returns commands and events that `_carry_out` handles in order, without
awaiting: S1AP to the writer's queue, `Bearer*` events to the user plane, the per-message
timeline (`MessageLogged`) to the UE's record, and `ProcedureSucceeded` / `ProcedureFailed`
to the API call waiting for them. Outcomes nobody asked for (a Service Request answering
paging, a network-initiated detach, a failed EMM Information) are kept for `next_outcome`.

Results: every procedure call returns a `ProcedureResult` (ok or not, why not: the core's
`Violation`, a NAS reject cause or a reason; latency; the S1AP/NAS messages exchanged during
it; the UE's NAS timeline entries). Misuse (an IMSI the eNB does not have, two calls at once
for one UE) raises `SimulatorError`; the core's misbehaviour never raises, it is a result.

Timers: the timer task needs the earliest deadline, and asking the eNB core for it is a walk
over every UE. After a batch of output only the UEs the batch names (the timeline names every
UE-associated message) can have a new, earlier deadline, so only they are asked; the full
walk happens after a timer fired. With `timeline=False` there are no names to go by and every
batch does the full walk (fine for a few hundred UEs).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import socket
import struct
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from ipaddress import IPv4Address
from typing import Any, Literal

from enbsim import s1_connection
from enbsim.enb import Enb, EnbConfig, EnbError
from enbsim.events import (
    BearerEstablished,
    BearerModified,
    BearerReleased,
    ConnectionsReset,
    MessageLogged,
    NetworkDetached,
    ProcedureFailed,
    ProcedureSucceeded,
    S1apViolationDetected,
    S1SetupCompleted,
    S1SetupFailed,
    SendS1ap,
    TunnelErrorReported,
    Violation,
)
from enbsim.s1_connection import S1Link, S1LinkClosed
from enbsim.ue import TimelineEntry, Ue, UeConfig
from enbsim.userplane import UserPlane, UserPlaneError
from enbsim.usim import Usim
from epc.codec.gtpu import GTPU_PORT
from epc.codec.nas_messages import Tai
from epc.subscriber import Subscriber

__all__ = [
    "DEFAULT_PROCEDURE_TIMEOUT_S",
    "ProcedureResult",
    "S1SetupRefused",
    "SimulatedEnb",
    "Simulator",
    "SimulatorError",
    "UserPlaneSettings",
]

DEFAULT_PROCEDURE_TIMEOUT_S = 60.0
"""How long an API call waits for its outcome. The UE's own NAS timers end every procedure
sooner or later (T3410 x 5 attempts is the longest, ~2 minutes); this is the caller's patience."""
S1_SETUP_TIMEOUT_S = 10.0
PING_TIMEOUT_S = 2.0
OUTCOMES_KEPT = 10_000
"""Unclaimed outcomes kept for `next_outcome`, oldest dropped first."""
ICMP_ECHO_REQUEST, ICMP_ECHO_REPLY = 8, 0


class SimulatorError(Exception):
    """The caller asked for something the simulator cannot do (an unknown IMSI, a second
    procedure for a UE that is busy with one, an eNB not connected)."""


class S1SetupRefused(SimulatorError):
    """The MME answered the S1 Setup Request with an S1 Setup Failure."""

    def __init__(self, failure: S1SetupFailed) -> None:
        cause = failure.cause
        text = f"{getattr(cause, 'group', '')} {getattr(cause, 'value', cause)}".strip()
        super().__init__(f"the MME refused S1 Setup: cause {text}")
        self.failure = failure


@dataclass(frozen=True, slots=True)
class ProcedureResult:
    """How one procedure of one UE ended. `messages` is the per-message timeline (S1AP
    messages with the NAS message inside, both directions) from the call to the outcome;
    `nas` the UE's own timeline entries (NAS messages, state changes, timers) in that span."""

    imsi: str
    procedure: str
    ok: bool
    started_at: float
    ended_at: float
    reason: str | None = None
    violation: Violation | None = None
    reject_cause: int | None = None
    messages: tuple[MessageLogged, ...] = ()
    nas: tuple[TimelineEntry, ...] = ()
    reply: bytes | None = None
    """For `send_udp` and `ping`: the answer's payload."""

    @property
    def latency_s(self) -> float:
        return self.ended_at - self.started_at

    @property
    def failure_cause(self) -> str | None:
        """A short, stable name for why it failed, for counting failures by cause: the
        violation's message and IE, the reject cause, or the reason."""
        if self.ok:
            return None
        if self.violation is not None:
            where = self.violation.message
            return f"{where}: {self.violation.ie}" if self.violation.ie else where
        if self.reject_cause is not None:
            return f"reject: EMM cause #{self.reject_cause}"
        return self.reason or "failed"


@dataclass(frozen=True, slots=True)
class UserPlaneSettings:
    """Open the eNB's GTP-U endpoint on (the eNB's `s1u_address`, `port`); uplink goes to the
    SGW at `sgw_port`. `namespace_prefix` names the UEs' namespaces (`ping` makes one per
    UE; it needs root)."""

    port: int = GTPU_PORT
    sgw_port: int = GTPU_PORT
    namespace_prefix: str = "enbsim-"


@dataclass(slots=True)
class _Pending:
    procedure: str
    started_at: float
    future: asyncio.Future[ProcedureResult]
    done: Callable[[], bool] | None = None
    """For procedures no core reports the end of (release): checked after every batch."""


@dataclass(slots=True)
class _UeRecord:
    ue: Ue
    messages: list[MessageLogged] = field(default_factory=list)
    """Timeline since the last outcome (or since the API call started)."""
    since: float = 0.0
    pending: _Pending | None = None
    namespace: bool | None = None
    """In the user plane: None no, False without a namespace, True with one."""


Outcome = ProcedureSucceeded | ProcedureFailed | NetworkDetached


class Simulator:
    """Many eNBs, each with its S1 link and UEs; owns the tasks of them all (a TaskGroup)."""

    def __init__(self) -> None:
        self._tasks: asyncio.TaskGroup | None = None
        self._enbs: list[SimulatedEnb] = []

    async def __aenter__(self) -> Simulator:
        self._tasks = asyncio.TaskGroup()
        await self._tasks.__aenter__()
        return self

    async def __aexit__(self, *exc_info: Any) -> bool | None:
        """Close every eNB (drain what it has to send, close the link and the user plane),
        then wait for the tasks."""
        assert self._tasks is not None
        for enb in self._enbs:
            await enb.close()
        return await self._tasks.__aexit__(*exc_info)

    @property
    def enbs(self) -> list[SimulatedEnb]:
        return list(self._enbs)

    def enb(
        self,
        config: EnbConfig,
        *,
        mme: tuple[str, int],
        transport: Literal["sctp", "tcp"] = "tcp",
        streams: int | None = None,
        timeline: bool = True,
        user_plane: UserPlaneSettings | None = None,
        procedure_timeout_s: float = DEFAULT_PROCEDURE_TIMEOUT_S,
    ) -> SimulatedEnb:
        """A new eNB (not yet connected: `await enb.connect()`)."""
        if self._tasks is None:
            raise SimulatorError("use the Simulator in `async with` before adding eNBs")
        enb = SimulatedEnb(
            self._tasks,
            config,
            mme=mme,
            transport=transport,
            streams=streams,
            timeline=timeline,
            user_plane=user_plane,
            procedure_timeout_s=procedure_timeout_s,
        )
        self._enbs.append(enb)
        return enb


class SimulatedEnb:
    """One eNB with its S1 link, its UEs and the procedures run on them. Made by
    `Simulator.enb`."""

    def __init__(
        self,
        tasks: asyncio.TaskGroup,
        config: EnbConfig,
        *,
        mme: tuple[str, int],
        transport: Literal["sctp", "tcp"],
        streams: int | None,
        timeline: bool,
        user_plane: UserPlaneSettings | None,
        procedure_timeout_s: float,
    ) -> None:
        self.config = config
        self.mme = mme
        self.transport = transport
        self.procedure_timeout_s = procedure_timeout_s
        self.core = Enb(config, timeline=timeline)
        self.s1_setup: S1SetupCompleted | None = None
        self.violations: list[S1apViolationDetected] = []
        """S1AP violations that concern no UE (the per-UE ones fail procedures)."""
        self.resets: list[ConnectionsReset] = []
        self.tunnel_errors: list[TunnelErrorReported] = []
        self.user_plane: UserPlane | None = None
        self.link_error: str | None = None
        """Why the S1 link is gone, once it is."""
        self._tasks = tasks
        self._streams = streams
        self._timeline = timeline
        self._user_plane_settings = user_plane
        self._loop = asyncio.get_running_loop()
        self._link: S1Link | None = None
        self._outbox: asyncio.Queue[SendS1ap] = asyncio.Queue()
        self._own_tasks: list[asyncio.Task[None]] = []
        self._ues: dict[str, _UeRecord] = {}
        self._outcomes: deque[ProcedureResult] = deque(maxlen=OUTCOMES_KEPT)
        self._waiting: set[str] = set()
        """UEs whose pending procedure ends on a condition (`_Pending.done`)."""
        self._setup: asyncio.Future[S1SetupCompleted] | None = None
        self._changed = asyncio.Event()
        self._timer_at = math.inf
        self._timer_changed = asyncio.Event()
        self._closed = False

    def __repr__(self) -> str:
        return f"<SimulatedEnb {self.config.name} mme={self.mme[0]}:{self.mme[1]}>"

    # --- connecting -----------------------------------------------------------------------

    async def connect(
        self, *, link: S1Link | None = None, timeout_s: float = S1_SETUP_TIMEOUT_S
    ) -> S1SetupCompleted:
        """Open the S1 link (or take `link`), start the tasks and run S1 Setup. Raises
        `s1_connection.S1Unreachable`, `S1SetupRefused`, or `SimulatorError` when no answer
        comes within `timeout_s`."""
        if self._link is not None:
            raise SimulatorError(f"{self.config.name} is connected already")
        if link is None:
            host, port = self.mme
            options = {} if self._streams is None else {"streams": self._streams}
            link = await s1_connection.connect(self.transport, host, port, **options)
        self._link = link
        if self._user_plane_settings is not None:
            await self._open_user_plane(self._user_plane_settings)
        for body in (self._read, self._write, self._run_timers):
            self._own_tasks.append(self._tasks.create_task(body()))
        self._setup = self._loop.create_future()
        now = self._now()
        self._carry_out(self.core.start(now, outbound_streams=link.outbound_streams), ())
        try:
            async with asyncio.timeout(timeout_s):
                self.s1_setup = await self._setup
        except TimeoutError:
            raise SimulatorError(
                f"{self.config.name}: no S1 Setup Response from {link.peer} within {timeout_s:g} s"
            ) from None
        return self.s1_setup

    async def _open_user_plane(self, settings: UserPlaneSettings) -> None:
        address = self.config.s1u_address
        try:
            self.user_plane = await UserPlane.open(
                address,
                settings.port,
                sgw_port=settings.sgw_port,
                namespace_prefix=settings.namespace_prefix,
                on_event=self._user_plane_event,
            )
        except OSError as error:
            reason = error.strerror or str(error)
            raise SimulatorError(
                f"{self.config.name}: no GTP-U endpoint on {address}:{settings.port}: {reason}"
            ) from None

    async def close(self) -> None:
        """Send what is queued (briefly), close the link and the user plane, stop the
        tasks; idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._link is not None and self.link_error is None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(1.0):
                    await self._outbox.join()
        if self._link is not None:
            await self._link.close()
        for task in self._own_tasks:
            task.cancel()
        for task in self._own_tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.user_plane is not None:
            await self.user_plane.close()
        self._lost("the eNB was closed")

    # --- UEs --------------------------------------------------------------------------------

    def add_ue(self, card: Subscriber | Usim, config: UeConfig | None = None) -> Ue:
        """A UE with this USIM (a Subscriber's becomes one) camps on the eNB's first cell.
        Without a `config`, the UE's PLMN and TAC are the eNB's."""
        usim = Usim.from_subscriber(card) if isinstance(card, Subscriber) else card
        if config is None:
            config = UeConfig(plmn=self._plmn, tac=self.config.tacs[0])
        ue = Ue(usim, config)
        try:
            self.core.add_ue(ue)
        except EnbError as error:
            raise SimulatorError(str(error)) from None
        self._ues[ue.imsi] = _UeRecord(ue)
        return ue

    def ue(self, imsi: str) -> Ue:
        return self._record(imsi).ue

    @property
    def imsis(self) -> list[str]:
        return list(self._ues)

    @property
    def _plmn(self) -> str:
        return self.config.plmn.mcc + self.config.plmn.mnc

    def _record(self, imsi: str) -> _UeRecord:
        try:
            return self._ues[imsi]
        except KeyError:
            raise SimulatorError(f"no UE {imsi} on {self.config.name}") from None

    # --- procedures ---------------------------------------------------------------------

    async def attach(
        self,
        imsi: str,
        *,
        identity: Literal["imsi", "guti"] = "imsi",
        timeout_s: float | None = None,
    ) -> ProcedureResult:
        """Attach (TS 24.301 5.5.1.2) with the IMSI or the stored GUTI."""
        result = await self._run(
            imsi, "attach", lambda ue, now: ue.attach(now, identity=identity), timeout_s
        )
        if result.ok:
            await self._forget_user_plane(imsi)  # a new PDN address, maybe
        return result

    async def detach(
        self, imsi: str, *, switch_off: bool = False, timeout_s: float | None = None
    ) -> ProcedureResult:
        """UE-initiated detach (TS 24.301 5.5.2.2), normal or switch-off."""
        result = await self._run(
            imsi, "detach", lambda ue, now: ue.detach(now, switch_off=switch_off), timeout_s
        )
        if result.ok:
            await self._forget_user_plane(imsi)
        return result

    async def service_request(
        self, imsi: str, *, timeout_s: float | None = None
    ) -> ProcedureResult:
        """Service Request from EMM-IDLE (TS 24.301 5.6.1): ok once the Initial Context
        Setup brought the radio bearers back."""
        return await self._run(
            imsi, "service_request", lambda ue, now: ue.service_request(now), timeout_s
        )

    async def tracking_area_update(
        self,
        imsi: str,
        *,
        tac: int | None = None,
        active: bool = False,
        timeout_s: float | None = None,
    ) -> ProcedureResult:
        """Tracking area update (TS 24.301 5.5.3.2): periodic without `tac` (or with the
        UE's current one), normal after moving the UE to the cell of `tac`."""
        record = self._record(imsi)
        if tac is not None and tac != record.ue.tai.tac:
            try:
                self.core.camp(imsi, tac)
            except EnbError as error:
                raise SimulatorError(str(error)) from None
        tai = Tai(self._plmn, record.ue.tai.tac if tac is None else tac)
        return await self._run(
            imsi,
            "tau",
            lambda ue, now: ue.tracking_area_update(now, tai=tai, active=active),
            timeout_s,
        )

    async def release(
        self, imsi: str, *, cause: str = "user-inactivity", timeout_s: float | None = None
    ) -> ProcedureResult:
        """The eNB asks the MME to release the UE's S1 connection (UE Context Release
        Request, TS 36.413 8.3.2): ok once the UE is in EMM-IDLE."""
        record = self._record(imsi)

        def request(ue: Ue, now: float) -> list[Any]:
            try:
                return self.core.ue_context_release_request(imsi, now, cause)
            except EnbError as error:
                return [ProcedureFailed(imsi, "release", now, str(error))]

        return await self._run(
            imsi,
            "release",
            request,
            timeout_s,
            done=lambda: not record.ue.connected,
            through_enb=False,
        )

    async def send_udp(
        self,
        imsi: str,
        destination: str,
        port: int,
        payload: bytes,
        *,
        reply_timeout_s: float = PING_TIMEOUT_S,
    ) -> ProcedureResult:
        """One UDP datagram from the UE's PDN address through its default bearer; ok when an
        answer came back within `reply_timeout_s` (its payload in `reply`). No namespace
        needed (the user plane builds the packet)."""
        started = self._now()
        problem = await self._user_plane_ready(imsi, namespace=False)
        if problem is not None:
            return self._local_result(imsi, "udp", started, problem)
        assert self.user_plane is not None
        try:
            reply = await self.user_plane.send_udp(
                imsi, destination, port, payload, reply_timeout_s=reply_timeout_s
            )
        except UserPlaneError as error:
            return self._local_result(imsi, "udp", started, str(error))
        reason = None if reply is not None else f"no answer within {reply_timeout_s:g} s"
        return self._local_result(imsi, "udp", started, reason, reply=reply)

    async def ping(
        self, imsi: str, destination: str, *, timeout_s: float = PING_TIMEOUT_S
    ) -> ProcedureResult:
        """One ICMP Echo Request from the UE's namespace (made on first use; needs root)
        through its default bearer; ok when the Echo Reply came back."""
        started = self._now()
        problem = await self._user_plane_ready(imsi, namespace=True)
        if problem is not None:
            return self._local_result(imsi, "ping", started, problem)
        assert self.user_plane is not None
        try:
            reply = await _icmp_echo(self.user_plane, imsi, destination, timeout_s)
        except (OSError, UserPlaneError) as error:
            return self._local_result(imsi, "ping", started, f"ping: {error}")
        reason = None if reply is not None else f"no Echo Reply within {timeout_s:g} s"
        return self._local_result(imsi, "ping", started, reason, reply=reply)

    async def flush(self) -> None:
        """Wait until every S1AP message queued so far has been handed to the link."""
        await self._outbox.join()

    # --- waiting for what nobody asked for -------------------------------------------------

    async def next_outcome(
        self,
        imsi: str | None = None,
        procedure: str | None = None,
        *,
        timeout_s: float | None = None,
    ) -> ProcedureResult:
        """The oldest outcome no API call claimed (a Service Request answering paging, a
        network detach as "network_detach", a network procedure that failed), of this UE
        and procedure if given, waiting for it. TimeoutError after `timeout_s`."""

        def found() -> ProcedureResult | None:
            for outcome in self._outcomes:
                if imsi in (None, outcome.imsi) and procedure in (None, outcome.procedure):
                    return outcome
            return None

        outcome = await self.until(found, timeout_s=timeout_s)
        self._outcomes.remove(outcome)
        return outcome

    async def until(self, predicate: Callable[[], Any], *, timeout_s: float | None = None) -> Any:
        """Wait until `predicate()` is true (it is checked after every batch of work); return
        its value. TimeoutError after `timeout_s` (default: the procedure timeout)."""
        async with asyncio.timeout(timeout_s or self.procedure_timeout_s):
            while not (value := predicate()):
                self._changed.clear()
                await self._changed.wait()
        return value

    # --- running a procedure ---------------------------------------------------------------

    async def _run(
        self,
        imsi: str,
        procedure: str,
        start: Callable[[Ue, float], list[Any]],
        timeout_s: float | None,
        *,
        done: Callable[[], bool] | None = None,
        through_enb: bool = True,
    ) -> ProcedureResult:
        record = self._record(imsi)
        now = self._now()
        if record.pending is not None:
            raise SimulatorError(f"UE {imsi} is busy with {record.pending.procedure}")
        if self.link_error is not None:
            return self._local_result(imsi, procedure, now, self.link_error)
        if self._link is None:
            raise SimulatorError(f"{self.config.name} is not connected (await connect())")
        pending = _Pending(procedure, now, self._loop.create_future(), done)
        record.pending, record.messages, record.since = pending, [], now
        if done is not None:
            self._waiting.add(imsi)
        commands = start(record.ue, now)
        output = self.core.from_ue(commands, now) if through_enb else commands
        self._carry_out(output, (imsi,))
        timeout_s = timeout_s or self.procedure_timeout_s
        try:
            async with asyncio.timeout(timeout_s):
                return await asyncio.shield(pending.future)
        except TimeoutError:
            return self._result(
                record, procedure, now, self._now(), reason=f"no outcome within {timeout_s:g} s"
            )
        finally:
            if record.pending is pending:  # timed out or cancelled: the UE is the caller's again
                record.pending = None

    def _local_result(
        self,
        imsi: str,
        procedure: str,
        started: float,
        reason: str | None,
        *,
        reply: bytes | None = None,
    ) -> ProcedureResult:
        return ProcedureResult(
            imsi, procedure, reason is None, started, self._now(), reason=reason, reply=reply
        )

    def _result(
        self,
        record: _UeRecord,
        procedure: str,
        started: float,
        ended: float,
        *,
        ok: bool = False,
        reason: str | None = None,
        violation: Violation | None = None,
        reject_cause: int | None = None,
        take_messages: bool = True,
    ) -> ProcedureResult:
        """The result, with the UE's timeline since `started`; `take_messages`: the
        per-message timeline collected so far belongs to it (and starts over)."""
        messages: tuple[MessageLogged, ...] = ()
        if take_messages:
            messages, record.messages = tuple(record.messages), []
            record.since = ended
        nas = tuple(entry for entry in record.ue.timeline if entry.at >= started)
        return ProcedureResult(
            record.ue.imsi,
            procedure,
            ok,
            started,
            ended,
            reason,
            violation,
            reject_cause,
            messages,
            nas,
        )

    # --- carrying out what the cores said ----------------------------------------------

    def _carry_out(self, output: list[Any], touched: tuple[str, ...]) -> None:
        """Do what one core call returned, in order; then settle the outcomes, which by now
        have every message of the batch in their timeline; then the timer."""
        imsis = set(touched)
        outcomes: list[Outcome] = []
        for item in output:
            match item:
                case SendS1ap():
                    self._outbox.put_nowait(item)
                case MessageLogged(imsi=imsi) if imsi is not None and imsi in self._ues:
                    self._ues[imsi].messages.append(item)
                    imsis.add(imsi)
                case BearerEstablished() | BearerModified() | BearerReleased():
                    if self.user_plane is not None:
                        self.user_plane.apply(item)
                case ProcedureSucceeded() | ProcedureFailed() | NetworkDetached():
                    outcomes.append(item)
                    imsis.add(item.imsi)
                case S1SetupCompleted():
                    if self._setup is not None and not self._setup.done():
                        self._setup.set_result(item)
                case S1SetupFailed():
                    self._s1_setup_failed(item)
                case S1apViolationDetected():
                    self.violations.append(item)
                case ConnectionsReset():
                    self.resets.append(item)
        for outcome in outcomes:
            self._settle(outcome)
        self._settle_waiting()
        self._changed.set()
        self._note_deadlines(imsis)

    def _settle(self, outcome: Outcome) -> None:
        record = self._ues.get(outcome.imsi)
        if record is None:
            return
        pending = record.pending
        match outcome:
            case ProcedureSucceeded() if pending is not None and pending.procedure == (
                outcome.procedure
            ):
                self._finish(record, ok=True)
            case ProcedureFailed() if pending is not None:
                self._finish(
                    record,
                    reason=outcome.reason,
                    violation=outcome.violation,
                    reject_cause=outcome.reject_cause,
                )
            case ProcedureSucceeded():
                self._keep(record, outcome.procedure, outcome.at, ok=True)
            case ProcedureFailed():
                self._keep(
                    record,
                    outcome.procedure,
                    outcome.at,
                    reason=outcome.reason,
                    violation=outcome.violation,
                    reject_cause=outcome.reject_cause,
                )
            case NetworkDetached():
                reason = "re-attach required" if outcome.reattach_required else None
                self._keep(record, "network_detach", outcome.at, ok=True, reason=reason)

    def _finish(self, record: _UeRecord, **how: Any) -> None:
        pending = record.pending
        assert pending is not None
        record.pending = None
        result = self._result(record, pending.procedure, pending.started_at, self._now(), **how)
        if not pending.future.done():
            pending.future.set_result(result)

    def _keep(self, record: _UeRecord, procedure: str, at: float, **how: Any) -> None:
        """An outcome nobody waits for. While an API call waits for another, the messages
        so far are that call's."""
        take = record.pending is None
        result = self._result(record, procedure, record.since, at, take_messages=take, **how)
        self._outcomes.append(result)

    def _settle_waiting(self) -> None:
        """Procedures that end when a condition holds (release)."""
        for imsi in list(self._waiting):
            record = self._ues[imsi]
            pending = record.pending
            if pending is None or pending.done is None:
                self._waiting.discard(imsi)
            elif pending.done():
                self._waiting.discard(imsi)
                self._finish(record, ok=True)

    def _s1_setup_failed(self, failure: S1SetupFailed) -> None:
        if failure.retry_at is not None:
            self._note_deadline(failure.retry_at)  # the core tries again on its own
        elif self._setup is not None and not self._setup.done():
            self._setup.set_exception(S1SetupRefused(failure))

    def _user_plane_event(self, event: object) -> None:
        if isinstance(event, TunnelErrorReported):
            self.tunnel_errors.append(event)
            self._changed.set()

    def _lost(self, reason: str) -> None:
        """The link is gone: every waiting call ends, and later ones fail at once."""
        if self.link_error is None:
            self.link_error = reason
        for record in self._ues.values():
            if record.pending is not None:
                self._finish(record, reason=f"S1 link lost: {self.link_error}")
        if self._setup is not None and not self._setup.done():
            self._setup.set_exception(SimulatorError(f"S1 link lost: {self.link_error}"))
        self._changed.set()

    # --- the tasks --------------------------------------------------------------------------

    async def _read(self) -> None:
        assert self._link is not None
        try:
            while True:
                pdu, stream = await self._link.receive()
                self._carry_out(self.core.receive_s1ap(pdu, stream, self._now()), ())
        except S1LinkClosed as error:
            self._lost(str(error))

    async def _write(self) -> None:
        assert self._link is not None
        while True:
            command = await self._outbox.get()
            try:
                await self._link.send(command.pdu, command.stream)
            except S1LinkClosed as error:
                self._lost(str(error))
            finally:
                self._outbox.task_done()

    async def _run_timers(self) -> None:
        """Sleep until the earliest deadline (or until an earlier one is noted), run it."""
        while True:
            delay = self._timer_at - self._now()
            if delay > 0:
                self._timer_changed.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(None if math.isinf(delay) else delay):
                        await self._timer_changed.wait()
                continue
            self._timer_at = math.inf
            now = self._now()
            self._carry_out(self.core.handle_timer(now), ())
            self._note_deadline(self.core.deadline())

    def _note_deadlines(self, imsis: set[str]) -> None:
        if not self._timeline:
            self._note_deadline(self.core.deadline())
            return
        for imsi in imsis:
            record = self._ues.get(imsi)
            if record is not None:
                self._note_deadline(record.ue.deadline())

    def _note_deadline(self, deadline: float | None) -> None:
        if deadline is not None and deadline < self._timer_at:
            self._timer_at = deadline
            self._timer_changed.set()

    def _now(self) -> float:
        return self._loop.time()

    # --- the user plane -------------------------------------------------------------------

    async def _user_plane_ready(self, imsi: str, *, namespace: bool) -> str | None:
        """Put the UE in the user plane (with a namespace if asked); None, or why not."""
        record = self._record(imsi)
        if self.user_plane is None:
            return f"{self.config.name} has no user plane (UserPlaneSettings)"
        address = record.ue.pdn_address
        if address is None:
            return f"UE {imsi} has no PDN address (not attached)"
        if record.namespace is not None and (record.namespace or not namespace):
            return None
        await self._forget_user_plane(imsi)
        try:
            await self.user_plane.add_ue(imsi, str(address), namespace=namespace)
        except (UserPlaneError, OSError) as error:
            return str(error)
        record.namespace = namespace
        return None

    async def _forget_user_plane(self, imsi: str) -> None:
        record = self._ues[imsi]
        if record.namespace is not None and self.user_plane is not None:
            await self.user_plane.remove_ue(imsi)
        record.namespace = None


async def _icmp_echo(
    user_plane: UserPlane, imsi: str, destination: str, timeout_s: float
) -> bytes | None:
    """One Echo Request from a raw ICMP socket in the UE's namespace; the Echo Reply's data,
    or None if none came in time."""
    loop = asyncio.get_running_loop()
    identifier, sequence = int(imsi[-4:]) & 0xFFFF, 1
    payload = b"enbsim " + imsi.encode()
    request = bytearray(struct.pack("!BBHHH", ICMP_ECHO_REQUEST, 0, 0, identifier, sequence))
    request += payload
    request[2:4] = _checksum(bytes(request)).to_bytes(2, "big")
    target = str(IPv4Address(destination))
    with await user_plane.open_socket(
        imsi, socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP
    ) as icmp:
        await loop.sock_sendto(icmp, bytes(request), (target, 0))
        try:
            async with asyncio.timeout(timeout_s):
                while True:
                    packet = await loop.sock_recv(icmp, 65535)
                    body = packet[(packet[0] & 0x0F) * 4 :]
                    if (
                        len(body) >= 8
                        and body[0] == ICMP_ECHO_REPLY
                        and struct.unpack("!HH", body[4:8]) == (identifier, sequence)
                    ):
                        return body[8:]
        except TimeoutError:
            return None


def _checksum(data: bytes) -> int:
    """RFC 1071 Internet checksum."""
    if len(data) % 2:
        data += b"\x00"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF
