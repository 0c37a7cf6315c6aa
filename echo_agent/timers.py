"""The entry point's clocks: the retransmission policy for requests and one heap of named
deadlines (a request's retransmission, a timer the core asked the agent to run), so the
core exposes a single `next_deadline()` the way aioquic exposes `get_timer()`.

Time is monotonic seconds handed in by the caller; nothing here reads a clock.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass
from typing import Generic, NamedTuple, TypeVar

DEFAULT_INITIAL_TIMEOUT_S = 0.5
"""First retransmission timeout. One agent -> MME -> store -> MME -> agent round trip is tens of
milliseconds even across a WAN, so 0.5 s means the request is lost or the instance is stuck,
while still leaving time for several retries (and a failover) inside the UE's own NAS timers
(T3410, attach, 15 s: TS 24.301 section 10.2)."""

DEFAULT_BACKOFF_FACTOR = 2.0
"""Each timeout doubles the next one: a struggling core is not flooded with copies."""

DEFAULT_MAX_TIMEOUT_S = 4.0
"""Cap on the timeout, so a request keeps being retried at least three times per T3410 period
once the core answers again (after a failover the new endpoint restarts at the initial value)."""


@dataclass(frozen=True, slots=True)
class RetransmitPolicy:
    """How long to wait for a request's ACK before sending it again: the n-th transmission on
    a connection (n = 0, 1, ...) waits min(initial * factor**n, max) seconds."""

    initial_timeout_s: float = DEFAULT_INITIAL_TIMEOUT_S
    backoff_factor: float = DEFAULT_BACKOFF_FACTOR
    max_timeout_s: float = DEFAULT_MAX_TIMEOUT_S

    def __post_init__(self) -> None:
        if self.initial_timeout_s <= 0:
            raise ValueError("initial_timeout_s must be positive")
        if self.backoff_factor < 1:
            raise ValueError("backoff_factor must be at least 1")
        if self.max_timeout_s < self.initial_timeout_s:
            raise ValueError("max_timeout_s must be at least initial_timeout_s")

    def timeout(self, attempt: int) -> float:
        try:
            return min(self.initial_timeout_s * self.backoff_factor**attempt, self.max_timeout_s)
        except OverflowError:
            return self.max_timeout_s


class RetransmitTimer(NamedTuple):
    """The retransmission deadline of a UE's in-flight request."""

    ue_id: int


class UeTimer(NamedTuple):
    """A timer the core armed for a UE with SET_TIMER (DESIGN.md section 2, reliable timers)."""

    ue_id: int
    timer_id: int


K = TypeVar("K")

_COMPACT_SLACK = 64
"""Cancelled entries stay in the heap until popped; rebuild it once they outnumber the live
ones by this much, so memory stays proportional to the armed deadlines."""


class DeadlineHeap(Generic[K]):
    """Deadlines by key; setting a key again replaces its deadline. Cancellation is lazy: the
    heap keeps stale entries, recognised by a token, and skips them when they surface."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, K]] = []
        self._live: dict[K, tuple[float, int]] = {}
        self._tokens = itertools.count()

    def __len__(self) -> int:
        return len(self._live)

    def set(self, key: K, deadline: float) -> None:
        token = next(self._tokens)
        self._live[key] = (deadline, token)
        heapq.heappush(self._heap, (deadline, token, key))
        if len(self._heap) > 2 * len(self._live) + _COMPACT_SLACK:
            self._compact()

    def cancel(self, key: K) -> None:
        self._live.pop(key, None)

    def get(self, key: K) -> float | None:
        entry = self._live.get(key)
        return None if entry is None else entry[0]

    def earliest(self) -> float | None:
        self._drop_stale_top()
        return self._heap[0][0] if self._heap else None

    def pop_due(self, now: float) -> K | None:
        """The key with the earliest deadline at or before `now`, removed; None if none is due.
        Ties come out in the order they were set."""
        self._drop_stale_top()
        if not self._heap or self._heap[0][0] > now:
            return None
        _, _, key = heapq.heappop(self._heap)
        del self._live[key]
        return key

    def _drop_stale_top(self) -> None:
        heap = self._heap
        while heap and self._live.get(heap[0][2]) != (heap[0][0], heap[0][1]):
            heapq.heappop(heap)

    def _compact(self) -> None:
        self._heap = [(deadline, token, key) for key, (deadline, token) in self._live.items()]
        heapq.heapify(self._heap)
