"""A whole local core on one host, as child processes: PGW, SGW, the MME instances and one ECHO
agent, from one directory of configs (`configs/local/`), on one shared store (the embedded
SQLite file by default). `make run` = `python -m epc.localcore`; tests and benchmarks use
`load_plan` and `LocalCore` the same way.

    plan = load_plan(Path("configs/local"), Overrides(store="zookeeper", ...))
    core = LocalCore(plan, run_directory)
    await core.start()          # each child once it sent READY=1
    ...                         # core.children["mme-1"].process.pid, core.kill("mme-1")
    await core.stop()           # SIGTERM in reverse order; True when all exited 0
"""

from epc.localcore.plan import Daemon, Overrides, Plan, PlanError, dump_toml, load_plan
from epc.localcore.supervisor import ChildFailed, LocalCore

__all__ = [
    "ChildFailed",
    "Daemon",
    "LocalCore",
    "Overrides",
    "Plan",
    "PlanError",
    "dump_toml",
    "load_plan",
]
