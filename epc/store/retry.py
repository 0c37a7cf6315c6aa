"""Retry policy: how many tries, how long to wait between them, and when to give up.

A plain value object, so the same policy drives the ZooKeeper backend's reconnect retries and
the Algorithm 1 engine's back-off after a lost conditional write, and tests can reason about
exact delays by passing their own random source.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    tries: int = 6
    """Attempts in all, the first included."""
    initial_delay_s: float = 0.05
    multiplier: float = 2.0
    max_delay_s: float = 1.0
    jitter: float = 0.5
    """Each delay is scaled by a uniform factor in [1 - jitter, 1]."""
    deadline_s: float = 15.0
    """No new attempt starts after this long since the first."""

    def __post_init__(self) -> None:
        if self.tries < 1:
            raise ValueError("tries must be >= 1")
        if not 0.0 <= self.jitter <= 1.0:
            raise ValueError("jitter must be within [0, 1]")

    def delay_s(self, attempt: int, rng: random.Random | None = None) -> float:
        """The wait before attempt number `attempt + 1` (attempt counts from 1)."""
        base = min(self.max_delay_s, self.initial_delay_s * self.multiplier ** (attempt - 1))
        factor = 1.0 - self.jitter * (rng or random).random()
        return base * factor

    def allows(self, attempt: int, elapsed_s: float) -> bool:
        """Whether another attempt may follow attempt number `attempt`."""
        return attempt < self.tries and elapsed_s < self.deadline_s
