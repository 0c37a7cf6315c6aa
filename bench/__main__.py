"""Runs the benchmarks, prints each figure as it is measured and writes bench/results.json.

`python -m bench` runs all of them; `--only store` one group (its figures are merged into the
existing results file). A figure that could not be measured is left out, never invented.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import uvloop

from bench import agent, attach, codec, gtpu, store

RESULTS = Path(__file__).with_name("results.json")
GROUPS = {
    "agent": agent.run,
    "attach": attach.run,
    "codec": codec.run,
    "gtpu": gtpu.run,
    "store": store.run,
}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--only", choices=sorted(GROUPS), help="run one group of benchmarks")
    arguments = parser.parse_args()
    groups = [arguments.only] if arguments.only else sorted(GROUPS)
    figures = _previous_figures() if arguments.only else {}
    for group in groups:
        for name, figure in uvloop.run(GROUPS[group]()).items():
            print(f"{name:32} {figure['value']:>12.3f} {figure['unit']:6} {figure['detail']}")
            figures[name] = figure
    RESULTS.write_text(json.dumps(_document(figures), indent=2) + "\n")
    print(f"wrote {RESULTS}")


def _previous_figures() -> dict:
    try:
        return json.loads(RESULTS.read_text())["figures"]
    except (FileNotFoundError, json.JSONDecodeError, KeyError):
        return {}


def _document(figures: dict) -> dict:
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=False
    ).stdout.strip()
    machine = {
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "kernel": platform.release(),
    }
    return {"commit": commit or "unknown", "machine": machine, "figures": figures}


if __name__ == "__main__":
    sys.exit(main())
