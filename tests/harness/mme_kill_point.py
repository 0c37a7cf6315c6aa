"""`epc-mme` with a kill point, for the fault tests (never used outside tests/):

    python tests/harness/mme_kill_point.py --kill-after-applied N --config mme.toml
    python tests/harness/mme_kill_point.py --kill-after-s11 N --once FILE --config mme.toml

The instance runs as `python -m epc.mme` does, except that it SIGKILLs itself
- `applied`: right after its N-th UE request was applied (Algorithm 1's write committed),
  before the reply leaves for the agent: the hardest moment for a retry elsewhere, which must
  find the recorded reply;
- `s11`: right after the answer to its N-th S11 request arrived, before the step commits: the
  SGW has applied a side effect the MME never recorded, so the retry elsewhere must send the
  same request (request ID, and the MME's S11 F-TEID) to get the SGW's recorded answer.

With `--once FILE` only the first instance of a core to reach its point dies (it creates
FILE; the instance that takes over finds it and goes on), so every instance can be armed
without knowing which one the agent picks.

It writes one JSON line {"event": "kill point reached", ...} on stderr first, which tests wait
on (harness.mme_process reads the log). Stopping at a counted request instead of timing a
signal makes each fault test stop at the same place on every run.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys

from epc.algorithm1 import Applied
from epc.mme import frontend, s11
from epc.mme.__main__ import main


def _die(point: str, count: int, once: str | None) -> None:
    if once is not None:
        try:
            os.close(os.open(once, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            return  # another instance of the core died here already
    line = {"event": "kill point reached", "point": point, "count": count, "pid": os.getpid()}
    sys.stderr.write(json.dumps(line) + "\n")
    sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def arm_applied(limit: int, once: str | None) -> None:
    answer = frontend.MmeFrontend._answer_outcome
    seen = 0

    def answer_or_die(self, frame, outcome, events):
        nonlocal seen
        frames = answer(self, frame, outcome, events)
        if isinstance(outcome, Applied):
            seen += 1
            if seen == limit:
                _die("applied", seen, once)
        return frames

    frontend.MmeFrontend._answer_outcome = answer_or_die


def arm_s11(limit: int, once: str | None) -> None:
    send = s11.S11Client.send
    seen = 0

    async def send_or_die(self, target, effect_id, payload):
        nonlocal seen
        response = await send(self, target, effect_id, payload)
        seen += 1
        if seen == limit:
            _die("s11", seen, once)
        return response

    s11.S11Client.send = send_or_die


if __name__ == "__main__":
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--kill-after-applied", type=int)
    parser.add_argument("--kill-after-s11", type=int)
    parser.add_argument("--once")
    points, rest = parser.parse_known_args()
    if points.kill_after_applied:
        arm_applied(points.kill_after_applied, points.once)
    if points.kill_after_s11:
        arm_s11(points.kill_after_s11, points.once)
    main(rest)
