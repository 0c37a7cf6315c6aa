"""Shared fuzzing helpers for the codec tests: mutated golden messages, and the peak memory a
batch of bad inputs costs to decode.

- `mutations(golden)`: a hypothesis strategy that picks one golden message and applies 1 to
  `max_edits` edits to it: flip one bit, xor one octet with a non-zero mask, truncate, insert
  1-8 random octets, delete 1-8 octets, or extend the end by 1-8 random octets. The messages
  stay close enough to valid that the decoder gets past the header and meets the damage deep
  inside, where random bytes rarely reach.
- `random_mutation(generator, golden)`: the same edits drawn from a seeded `random.Random`,
  for batches built outside hypothesis (the memory bounds).
- `peak_memory_bytes(function, inputs)`: calls `function` on every input under tracemalloc
  and returns the peak traced memory in bytes, for asserting that bad input cannot make a
  decoder allocate without bound.
"""

from __future__ import annotations

import random
import tracemalloc
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

from hypothesis import strategies as st

T = TypeVar("T")

Choose = Callable[[int, int], int]
"""`choose(low, high)` returns an integer in [low, high], both ends included."""

EDITS = ("flip", "xor", "truncate", "insert", "delete", "extend")
MAX_RUN = 8
"""The most octets one insert, delete or extend edit adds or removes."""


def mutate(data: bytes, choose: Choose, *, max_edits: int = 4) -> bytes:
    """`data` after 1 to `max_edits` edits, every choice made by `choose`. A flip, xor or
    delete drawn at the end of the data changes nothing."""
    edited = bytearray(data)
    for _ in range(choose(1, max_edits)):
        position = choose(0, len(edited))
        match EDITS[choose(0, len(EDITS) - 1)]:
            case "flip" if position < len(edited):
                edited[position] ^= 1 << choose(0, 7)
            case "xor" if position < len(edited):
                edited[position] ^= choose(1, 0xFF)
            case "truncate":
                del edited[position:]
            case "insert":
                edited[position:position] = _octets(choose)
            case "delete":
                del edited[position : position + choose(1, MAX_RUN)]
            case "extend":
                edited += _octets(choose)
    return bytes(edited)


def _octets(choose: Choose) -> bytes:
    return bytes(choose(0, 0xFF) for _ in range(choose(1, MAX_RUN)))


def _checked(golden: Sequence[bytes], max_edits: int) -> tuple[bytes, ...]:
    if not golden:
        raise ValueError("no golden messages to mutate")
    if max_edits < 1:
        raise ValueError(f"max_edits must be at least 1, not {max_edits}")
    return tuple(golden)


def mutations(golden: Sequence[bytes], *, max_edits: int = 4) -> st.SearchStrategy[bytes]:
    """Hypothesis strategy: one of `golden` with 1 to `max_edits` edits (see `mutate`)."""
    messages = _checked(golden, max_edits)

    @st.composite
    def mutated(draw: st.DrawFn) -> bytes:
        return mutate(
            draw(st.sampled_from(messages)),
            lambda low, high: draw(st.integers(low, high)),
            max_edits=max_edits,
        )

    return mutated()


def random_mutation(
    generator: random.Random, golden: Sequence[bytes], *, max_edits: int = 4
) -> bytes:
    """One of `golden` with 1 to `max_edits` edits, every choice drawn from `generator`."""
    messages = _checked(golden, max_edits)
    return mutate(generator.choice(messages), generator.randint, max_edits=max_edits)


def peak_memory_bytes(function: Callable[[T], object], inputs: Iterable[T]) -> int:
    """Peak memory traced by tracemalloc, in bytes, while `function` runs on every input in
    turn. Build `inputs` beforehand (a list, not a generator), so that only what `function`
    allocates counts. Exceptions from `function` propagate; tracing stops either way."""
    tracemalloc.start()
    try:
        for item in inputs:
            function(item)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak
