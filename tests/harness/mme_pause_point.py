"""`epc-mme` with a pause point, for the fault tests (never used outside tests/):

    python tests/harness/mme_pause_point.py --pause-before-commit "Detach Request" \\
        --config mme.toml

The instance runs as `python -m epc.mme` does, except that a UE request whose step logs the
named event is held after the step ran (its S11 side effects done) and before Algorithm 1
writes it to the store, until the process gets SIGUSR1: a slow instance, made slow at one
place instead of by timing. Every run of such a request is held until then (the agent's
retransmissions of it too), so this instance cannot apply it early; once released, the held
runs go on to their commit.

It writes JSON lines on stderr, which tests wait on (harness.mme_process reads the log): per
held run {"event": "pause point reached", "request_id": ...} once the SIGUSR1 handler is in
place, "pause point released" when it goes on, and "held request outcome" with what Algorithm
1 made of it in the end ("Applied", "Dropped", ...).
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import json
import os
import signal
import sys

from epc.mme import frontend
from epc.mme.__main__ import main


def _line(event: str, **fields: object) -> None:
    sys.stderr.write(json.dumps({"event": event, "pid": os.getpid(), **fields}) + "\n")
    sys.stderr.flush()


_held: contextvars.ContextVar[bool] = contextvars.ContextVar("held", default=False)
"""Set in the task of a held run: its step and its answer run in one task."""


def arm(event_name: str) -> None:
    ue_step = frontend.ue_step
    answer = frontend.MmeFrontend._answer_outcome
    released: asyncio.Event | None = None

    async def hold(request_id: tuple[int, ...]) -> None:
        nonlocal released
        if released is None:
            released = asyncio.Event()
            asyncio.get_running_loop().add_signal_handler(signal.SIGUSR1, released.set)
        if released.is_set():
            return
        _held.set(True)
        _line("pause point reached", point=event_name, request_id=request_id[0])
        await released.wait()
        _line("pause point released", point=event_name, request_id=request_id[0])

    def held_step(entry, env, store, vectors, run):
        step = ue_step(entry, env, store, vectors, run)

        async def run_then_hold(state, effects):
            result = await step(state, effects)
            if any(event.name == event_name for event in run.events):
                await hold(env.request_id)
            return result

        return run_then_hold

    def answer_and_report(self, frame, outcome, events):
        if _held.get():
            _line("held request outcome", request_id=frame.request_id, outcome=_name(outcome))
        return answer(self, frame, outcome, events)

    frontend.ue_step = held_step
    frontend.MmeFrontend._answer_outcome = answer_and_report


def _name(outcome: object) -> str:
    return type(outcome).__name__


if __name__ == "__main__":
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--pause-before-commit", required=True)
    point, rest = parser.parse_known_args()
    arm(point.pause_before_commit)
    main(rest)
