"""The replicated session store: the Store protocol on a ZooKeeper ensemble, through kazoo.

Owns one kazoo session and everything needed to keep the asyncio side honest about it:

- kazoo does its I/O on its own threads; every request goes through a `*_async` call whose
  result is handed back to the event loop, so the loop never blocks and many requests from
  many tasks are in flight on the one session at once (ZooKeeper applies a session's requests
  in the order they were sent).
- kazoo reconnects by itself, forever, until `close()`: after a dropped connection with the
  same session, after an expired session with a new one.
- The retry policy decides how long an operation keeps trying across those reconnections.
  A read is simply repeated. A write whose reply was lost may or may not have been applied,
  so before it is sent again the touched nodes are read back: if they show the write's
  post-state it has succeeded; otherwise it is resent and ZooKeeper's conditions decide
  (the pre-state makes it apply, anything else makes it raise its Conflict). When the policy
  is exhausted the operation raises StoreUnavailable, never a silent loss.
- Missing parents of a created node are made, empty, just before the write and outside it,
  so a create or multi that then fails can leave them behind (harmless: nobody can tell them
  from parents made earlier). A cache of the parents known to exist keeps creating
  `/<deployment>/ue/<imsi>` at one round trip once `/<deployment>/ue` has been made. (So,
  unlike memory, one multi cannot delete a node and then create a child under it.)
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import math
import select
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

from kazoo.client import KazooClient
from kazoo.exceptions import (
    BadVersionError,
    ConnectionLoss,
    NodeExistsError,
    NoNodeError,
    NotEmptyError,
    OperationTimeoutError,
    RequestTimeoutError,
    RolledBackError,
    RuntimeInconsistency,
    SessionExpiredError,
    SessionMovedError,
    ZookeeperError,
)
from kazoo.handlers.threading import AsyncResult, SequentialThreadingHandler
from kazoo.interfaces import IAsyncResult
from kazoo.protocol.states import KazooState
from kazoo.retry import KazooRetry

from epc.store import (
    Check,
    CommittingStore,
    Conflict,
    Create,
    Delete,
    NodeExists,
    NoNode,
    NotEmpty,
    Op,
    Put,
    StoreError,
    StoreUnavailable,
    VersionConflict,
    Versioned,
    parent_paths,
    validate_path,
)
from epc.store.retry import RetryPolicy

# Failures of the session, not of the operation's conditions: worth another try. TimeoutError
# is the policy's own deadline running out while an attempt waits.
TRANSIENT_ERRORS = (
    ConnectionLoss,
    SessionExpiredError,
    SessionMovedError,
    OperationTimeoutError,
    RequestTimeoutError,
    TimeoutError,
)
CONFLICTS: dict[type[ZookeeperError], tuple[type[Conflict], str]] = {
    BadVersionError: (VersionConflict, "version differs from the expected one"),
    NoNodeError: (NoNode, "node does not exist"),
    NodeExistsError: (NodeExists, "node already exists"),
    NotEmptyError: (NotEmpty, "node has children"),
}
DEFAULT_RETRY = RetryPolicy()  # frozen, so one shared default is safe
# What a failed multi reports for the ops that did not cause the failure.
NOT_THE_CAUSE = (RolledBackError, RuntimeInconsistency)


class PollingHandler(SequentialThreadingHandler):
    """kazoo's threading handler with a cheaper `select`.

    kazoo's connection thread selects several times per request and per reply; the stock
    `select` builds, registers and closes an epoll selector every time, and with 64 requests
    in flight that thread, not ZooKeeper, is the bottleneck. One poll(2) call does the same
    job (without select(2)'s limit on descriptor numbers): 20-40 % more conditional writes
    per second, measured on a 2-CPU host.
    """

    def select(self, rlist, wlist, xlist, timeout=None):
        masks: defaultdict[int, int] = defaultdict(int)
        for fileobj in rlist:
            masks[_fileno(fileobj)] |= select.POLLIN
        for fileobj in wlist:
            masks[_fileno(fileobj)] |= select.POLLOUT
        poller = select.poll()
        for fd, mask in masks.items():
            poller.register(fd, mask)
        ready = dict(poller.poll(None if timeout is None else math.ceil(timeout * 1000)))
        # Like select(2), report a hung-up or failed descriptor as ready, so the caller's
        # recv/send meets the error.
        failed = select.POLLHUP | select.POLLERR | select.POLLNVAL
        readable = [f for f in rlist if ready.get(_fileno(f), 0) & (select.POLLIN | failed)]
        writable = [f for f in wlist if ready.get(_fileno(f), 0) & (select.POLLOUT | failed)]
        return readable, writable, []

    def async_result(self):
        return _DirectAsyncResult(self)


class _DirectAsyncResult(AsyncResult):
    """Runs completion callbacks where the result is set, on kazoo's connection thread,
    instead of queueing them for kazoo's completion thread: one thread hop less per request.
    Safe because the store's only callback (`ZooKeeperStore._deliver`) just hands the result
    to the event loop, and the store uses none of kazoo's helpers that link blocking ones."""

    def _do_callbacks(self):
        for callback in self._callbacks:
            callback(self)


class ZooKeeperStore(CommittingStore):
    def __init__(self, client: KazooClient, retry: RetryPolicy) -> None:
        self._client = client
        self._retry = retry
        self._loop = asyncio.get_running_loop()
        self._connected = asyncio.Event()
        self._known_nodes: set[str] = set()
        self._batcher = _WriteBatcher(client, self._submit)
        self._closed = False

    @classmethod
    async def connect(
        cls, hosts: str, *, session_timeout_s: float = 10.0, retry: RetryPolicy = DEFAULT_RETRY
    ) -> ZooKeeperStore:
        """A store on a connected session; StoreUnavailable if no server answers in time."""
        # Reconnection never gives up on its own: the retry policy bounds each operation
        # instead, and a frontend must find the store again whenever the ensemble comes back.
        reconnect = KazooRetry(
            max_tries=-1,
            delay=retry.initial_delay_s,
            backoff=retry.multiplier,
            max_delay=retry.max_delay_s,
        )
        client = KazooClient(
            hosts=hosts,
            timeout=session_timeout_s,
            connection_retry=reconnect,
            handler=PollingHandler(),
        )
        store = cls(client, retry)
        client.add_listener(store._on_state_change)
        client.start_async()
        try:
            async with asyncio.timeout(retry.deadline_s):
                await store._wait_until_connected()
        except TimeoutError:
            await store.close()
            raise StoreUnavailable(
                f"no ZooKeeper server of {hosts} answered within {retry.deadline_s} s"
            ) from None
        except asyncio.CancelledError:
            # A daemon stopped while still connecting: end kazoo's reconnect thread too.
            await asyncio.shield(store.close())
            raise
        return store

    @property
    def client_id(self) -> tuple[int, bytes] | None:
        """The current session's (id, password), None while disconnected: for diagnostics,
        and for tests that force the session to expire."""
        return self._client.client_id

    async def get(self, path: str) -> Versioned | None:
        return await self._retrying(f"get {path}", functools.partial(self._read_node, path))

    async def children(self, path: str) -> list[str]:
        return await self._retrying(f"children of {path}", functools.partial(self._children, path))

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._connected.set()  # wakes operations waiting for a reconnect, so they fail now
        await asyncio.to_thread(self._stop_client)

    def _stop_client(self) -> None:
        """Blocking: ends the session and joins kazoo's threads."""
        self._client.stop()
        self._client.close()

    # -- reads

    async def _read_node(self, path: str) -> Versioned | None:
        try:
            value, stat = await self._submit(self._client.get_async, path)
        except NoNodeError:
            return None
        return Versioned(value, stat.version)

    async def _children(self, path: str) -> list[str]:
        try:
            return sorted(await self._submit(self._client.get_children_async, path))
        except NoNodeError:
            return []

    # -- writes

    async def _commit(self, ops: list[Op], *, indexed: bool) -> list[int | None]:
        """Apply `ops` all or nothing, resolving attempts whose outcome a lost connection hid."""
        self._check_open()
        for op in ops:
            validate_path(op.path)
        post_state = _post_state(ops)
        results = _results(ops)
        ambiguous = False

        async def attempt() -> list[int | None]:
            nonlocal ambiguous
            if ambiguous and await self._shows(post_state):
                return results
            try:
                await self._apply(ops, indexed)
            except Conflict:
                # Our earlier attempt may have landed between the read above and this one.
                if ambiguous and await self._shows(post_state):
                    return results
                raise
            except TRANSIENT_ERRORS:
                ambiguous = True
                raise
            return results

        await self._retrying(_describe(ops), attempt)
        self._forget_deleted(ops)
        return results

    async def _apply(self, ops: list[Op], indexed: bool) -> None:
        try:
            await self._ensure_parents(ops)
            await self._send(ops, indexed)
        except NoNode:
            if not any(isinstance(op, Create) for op in ops):
                raise
            # Perhaps a parent we believed in was deleted by another client since: forget
            # them and make the paths again, once. A genuine NoNode simply recurs.
            for op in ops:
                self._known_nodes.difference_update(parent_paths(op.path))
            await self._ensure_parents(ops)
            await self._send(ops, indexed)

    async def _send(self, ops: list[Op], indexed: bool) -> None:
        """Commit the ops (batched with other writes), raising the typed Conflict of the op
        that failed."""
        failure = await self._batcher.commit(ops)
        if failure is not None:
            index, error = failure
            raise _typed_error(ops[index], error, index if indexed else None) from error

    async def _ensure_parents(self, ops: list[Op]) -> None:
        """Create the missing parents of every Create, outermost first, as empty nodes."""
        needed = _parents_to_ensure(ops, self._known_nodes)
        if not needed:
            return
        # All sent before any reply is awaited: one session's requests apply in order, so an
        # inner parent's create always finds its outer parent.
        replies = [self._submit(self._client.create_async, parent, b"") for parent in needed]
        outcomes = await asyncio.gather(*replies, return_exceptions=True)
        for parent, outcome in zip(needed, outcomes, strict=True):
            if isinstance(outcome, TRANSIENT_ERRORS):
                raise outcome
            if isinstance(outcome, Exception) and not isinstance(outcome, NodeExistsError):
                raise _typed_error(Create(parent, b""), outcome, None) from outcome
            self._known_nodes.add(parent)

    async def _shows(self, post_state: dict[str, Versioned | None]) -> bool:
        """Whether the store holds exactly the post-state of a write, for every node it wrote."""
        if not post_state:
            return False  # only Checks: nothing to recognise, and sending again is harmless
        seen = await asyncio.gather(*(self._read_node(path) for path in post_state))
        return list(post_state.values()) == seen

    def _forget_deleted(self, ops: list[Op]) -> None:
        for op in ops:
            if isinstance(op, Delete):
                self._known_nodes.discard(op.path)

    # -- sessions, retries and the thread boundary

    async def _retrying(self, what: str, attempt: Callable[[], Awaitable[Any]]) -> Any:
        """Run `attempt` until it returns or raises a non-transient error, within the policy."""
        started = self._loop.time()
        tries = 1
        while True:
            self._check_open()
            try:
                async with asyncio.timeout_at(started + self._retry.deadline_s):
                    await self._wait_until_connected()
                    return await attempt()
            except TRANSIENT_ERRORS as error:
                self._check_open()  # a close() explains the error better than the error does
                elapsed = self._loop.time() - started
                if not self._retry.allows(tries, elapsed):
                    raise StoreUnavailable(
                        f"{what}: ZooKeeper did not answer in {tries} tries over "
                        f"{elapsed:.1f} s (last error: {type(error).__name__})"
                    ) from error
            await asyncio.sleep(self._retry.delay_s(tries))
            tries += 1

    async def _wait_until_connected(self) -> None:
        # kazoo's own flag flips on its connection thread the moment a connection drops,
        # before the loop hears of it; requests sent while it is down would wait in kazoo's
        # queue past our deadline, so they are held back here instead.
        while not self._client.connected:
            self._connected.clear()
            await self._connected.wait()
            self._check_open()

    def _on_state_change(self, state: KazooState) -> None:
        """kazoo's connection thread reports a state; only reconnects wake the loop."""
        if state == KazooState.CONNECTED:
            with contextlib.suppress(RuntimeError):  # the loop has already been closed
                self._loop.call_soon_threadsafe(self._connected.set)

    def _submit(self, method: Callable[..., IAsyncResult], *args: Any) -> asyncio.Future:
        """Hand a request to kazoo now and return a future for its reply."""
        future = self._loop.create_future()
        method(*args).rawlink(functools.partial(self._deliver, future))
        return future

    def _deliver(self, future: asyncio.Future, result: IAsyncResult) -> None:
        """Runs on kazoo's completion thread: move the reply onto the loop's thread."""
        with contextlib.suppress(RuntimeError):  # the loop has already been closed
            self._loop.call_soon_threadsafe(_settle, future, result)

    def _check_open(self) -> None:
        if self._closed:
            raise StoreUnavailable("ZooKeeper store is closed")


Failure = tuple[int, ZookeeperError] | None
"""How a write's ops fared: None when applied, else the index of the op that failed and why."""


class _WriteBatcher:
    """Coalesces the writes issued in one turn of the event loop into one ZooKeeper multi.

    Why: kazoo spends about as much CPU on its connection thread per request as ZooKeeper
    does, so with many UEs writing at once one request for all their writes, rather than one
    each, is what lets a single frontend process sustain thousands of conditional writes per
    second. A lone write is sent as it is, so an idle store adds no latency.

    Each write keeps its own all-or-nothing meaning: if one of its ops fails, ZooKeeper rolls
    the whole multi back; the write that failed learns which op and why, and the others, not
    applied, go again at the head of the next batch, in their original order. (Writes issued
    concurrently by different tasks were never ordered for their callers, so none can tell.)
    A connection lost under a batch fails every write in it with the transient error, so each
    one's retry policy and post-state check decide what happened, as for a write sent alone.
    """

    MAX_OPS = 256
    MAX_BYTES = 512 * 1024  # well under ZooKeeper's 1 MB request limit (jute.maxbuffer)

    def __init__(self, client: KazooClient, submit: Callable[..., asyncio.Future]) -> None:
        self._client = client
        self._submit = submit
        self._loop = asyncio.get_running_loop()
        self._queued: list[tuple[list[Op], asyncio.Future[Failure]]] = []
        self._flush_scheduled = False

    def commit(self, ops: list[Op]) -> asyncio.Future[Failure]:
        outcome: asyncio.Future[Failure] = self._loop.create_future()
        self._queue([(ops, outcome)])
        return outcome

    def _queue(
        self, writes: list[tuple[list[Op], asyncio.Future[Failure]]], *, ahead: bool = False
    ) -> None:
        """Queue writes for the next flush; `ahead` puts them before those already waiting."""
        self._queued = [*writes, *self._queued] if ahead else [*self._queued, *writes]
        if not self._flush_scheduled:
            self._flush_scheduled = True
            self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        queued, self._queued = self._queued, []
        while queued:
            count = _batch_size(queued, self.MAX_OPS, self.MAX_BYTES)
            batch = [(ops, outcome) for ops, outcome in queued[:count] if not outcome.done()]
            del queued[:count]
            if batch:
                self._send(batch)

    def _send(self, batch: list[tuple[list[Op], asyncio.Future[Failure]]]) -> None:
        lone = len(batch) == 1 and len(batch[0][0]) == 1 and not isinstance(batch[0][0][0], Check)
        if lone:
            reply = self._submit(*_single_request(self._client, batch[0][0][0]))
        else:
            transaction = self._client.transaction()
            for ops, _ in batch:
                for op in ops:
                    _add_to_transaction(transaction, op)
            reply = self._submit(transaction.commit_async)
        reply.add_done_callback(functools.partial(self._settle, batch, lone))

    def _settle(
        self,
        batch: list[tuple[list[Op], asyncio.Future[Failure]]],
        lone: bool,
        reply: asyncio.Future,
    ) -> None:
        error = ConnectionLoss("request cancelled") if reply.cancelled() else reply.exception()
        if isinstance(error, ZookeeperError) and not isinstance(error, TRANSIENT_ERRORS):
            _resolve(batch[0][1], (0, error))  # only a lone write's request raises a Conflict
        elif error is not None:
            for _, outcome in batch:
                _fail(outcome, error)
        elif lone or (failed_at := _first_cause(reply.result())) is None:
            for _, outcome in batch:
                _resolve(outcome, None)
        else:
            self._requeue_all_but_failed(batch, failed_at, reply.result()[failed_at])

    def _requeue_all_but_failed(
        self,
        batch: list[tuple[list[Op], asyncio.Future[Failure]]],
        failed_at: int,
        error: ZookeeperError,
    ) -> None:
        """The write holding op `failed_at` of the multi failed; the rest were rolled back."""
        offset = 0
        for position, (ops, outcome) in enumerate(batch):
            if offset <= failed_at < offset + len(ops):
                _resolve(outcome, (failed_at - offset, error))
                self._queue([*batch[:position], *batch[position + 1 :]], ahead=True)
                return
            offset += len(ops)


def _batch_size(queued: list, max_ops: int, max_bytes: int) -> int:
    """How many writes from the head of `queued` fit the limits (at least one)."""
    ops_count = size = 0
    for taken, (ops, _) in enumerate(queued):
        ops_count += len(ops)
        size += sum(len(getattr(op, "value", b"")) + len(op.path) for op in ops)
        if taken and (ops_count > max_ops or size > max_bytes):
            return taken
    return len(queued)


def _first_cause(outcomes: list) -> int | None:
    """Index of the op that made a multi fail (the others report RolledBackError)."""
    for index, outcome in enumerate(outcomes):
        if isinstance(outcome, Exception) and not isinstance(outcome, NOT_THE_CAUSE):
            return index
    return None


def _resolve(outcome: asyncio.Future, value: Failure) -> None:
    if not outcome.done():
        outcome.set_result(value)


def _fail(outcome: asyncio.Future, error: BaseException) -> None:
    if not outcome.done():
        outcome.set_exception(error)


def _fileno(fileobj: Any) -> int:
    return fileobj if isinstance(fileobj, int) else fileobj.fileno()


def _settle(future: asyncio.Future, result: IAsyncResult) -> None:
    # kazoo can complete a request twice when it races with close(), and the policy's
    # deadline may have cancelled the waiter: only the first report to a live future counts.
    if future.done():
        return
    if result.successful():
        future.set_result(result.value)
    else:
        future.set_exception(result.exception)


def _single_request(client: KazooClient, op: Op) -> tuple[Callable[..., IAsyncResult], ...]:
    match op:
        case Create(path, value):
            return client.create_async, path, value
        case Put(path, value, version):
            return client.set_async, path, value, version
        case Delete(path, version):
            return client.delete_async, path, version
        case _:
            raise TypeError(f"{op!r} is only meaningful inside a multi-op")


def _add_to_transaction(transaction: Any, op: Op) -> None:
    match op:
        case Check(path, version):
            transaction.check(path, version)
        case Create(path, value):
            transaction.create(path, value)
        case Put(path, value, version):
            transaction.set_data(path, value, version)
        case Delete(path, version):
            transaction.delete(path, version)


def _typed_error(op: Op, error: Exception, index: int | None) -> StoreError:
    conflict = CONFLICTS.get(type(error))
    if conflict is None:
        return StoreError(f"{op.path}: ZooKeeper refused {type(op).__name__}: {error!r}")
    kind, detail = conflict
    return kind(op.path, detail, index)


def _parents_to_ensure(ops: list[Op], known: set[str]) -> dict[str, None]:
    """Parents of the Creates in `ops`, outermost first, unless known to exist or created by an
    earlier op of the same multi (a later one must still meet its NodeExists, as in memory)."""
    needed: dict[str, None] = {}
    created_earlier: set[str] = set()
    for op in ops:
        if isinstance(op, Create):
            for parent in parent_paths(op.path):
                if parent not in created_earlier and parent not in known:
                    needed[parent] = None
            created_earlier.add(op.path)
    return needed


def _post_state(ops: list[Op]) -> dict[str, Versioned | None]:
    """Each written node as the ops leave it (None: deleted)."""
    state: dict[str, Versioned | None] = {}
    for op in ops:
        match op:
            case Create(path, value):
                state[path] = Versioned(value, 0)
            case Put(path, value, version):
                state[path] = Versioned(value, version + 1)
            case Delete(path, _):
                state[path] = None
    return state


def _results(ops: list[Op]) -> list[int | None]:
    """What a successful multi returns, known in advance since every version is explicit."""
    results: list[int | None] = []
    for op in ops:
        match op:
            case Create():
                results.append(0)
            case Put(_, _, version):
                results.append(version + 1)
            case _:
                results.append(None)
    return results


def _describe(ops: list[Op]) -> str:
    if len(ops) == 1:
        return f"{type(ops[0]).__name__.lower()} {ops[0].path}"
    return f"multi-op of {len(ops)} ops on {ops[0].path if ops else 'nothing'}"
