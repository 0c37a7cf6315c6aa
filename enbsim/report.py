"""What an `enbsim run` reports: counts of procedures, failures by cause and latency
percentiles per procedure, as a live progress line, a table for people and JSON for programs.

`Tally` takes `ProcedureResult`s as they come (`add`) and makes the `Summary` at the end; it
owns no I/O. Percentiles use the nearest-rank method on every latency seen (a run holds a few
hundred thousand at most: kept, sorted once).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from enbsim.simulator import ProcedureResult

__all__ = ["PERCENTILES", "ProcedureStats", "Summary", "Tally", "percentile"]

PERCENTILES = (50, 95, 99)


def percentile(ordered: list[float], rank: float) -> float:
    """The nearest-rank percentile of sorted values (NaN for none)."""
    if not ordered:
        return math.nan
    index = max(math.ceil(rank / 100 * len(ordered)) - 1, 0)
    return ordered[index]


@dataclass(frozen=True, slots=True)
class ProcedureStats:
    name: str
    count: int
    ok: int
    failed: int
    latency_ms: dict[int, float]
    """Percentile -> milliseconds, over the procedures that succeeded."""


@dataclass(frozen=True, slots=True)
class Summary:
    duration_s: float
    ues: int
    enbs: int
    procedures: tuple[ProcedureStats, ...]
    failures: tuple[tuple[str, str, int], ...]
    """(procedure, cause, count), most frequent first."""
    s1ap_violations: tuple[tuple[str, int], ...] = ()
    """S1AP violations that concerned no UE, by violation, most frequent first."""
    interrupted: bool = False

    @property
    def failed(self) -> int:
        return sum(stats.failed for stats in self.procedures)

    def to_json(self) -> dict[str, Any]:
        return {
            "duration_s": round(self.duration_s, 3),
            "ues": self.ues,
            "enbs": self.enbs,
            "interrupted": self.interrupted,
            "procedures": {
                stats.name: {
                    "count": stats.count,
                    "ok": stats.ok,
                    "failed": stats.failed,
                    "latency_ms": {
                        f"p{rank}": None if math.isnan(value) else round(value, 3)
                        for rank, value in stats.latency_ms.items()
                    },
                }
                for stats in self.procedures
            },
            "failures": [
                {"procedure": procedure, "cause": cause, "count": count}
                for procedure, cause, count in self.failures
            ],
            "s1ap_violations": [
                {"violation": violation, "count": count}
                for violation, count in self.s1ap_violations
            ],
        }

    def table(self) -> str:
        """The summary for a terminal: one row per procedure, then failures by cause."""
        header = f"{'procedure':<16}{'count':>8}{'ok':>8}{'failed':>8}"
        header += "".join(f"{f'p{rank} ms':>10}" for rank in PERCENTILES)
        lines = [header, "-" * len(header)]
        for stats in self.procedures:
            row = f"{stats.name:<16}{stats.count:>8}{stats.ok:>8}{stats.failed:>8}"
            row += "".join(_milliseconds(stats.latency_ms[rank]) for rank in PERCENTILES)
            lines.append(row)
        if not self.procedures:
            lines.append("(no procedures ran)")
        if self.failures:
            lines += ["", "failures by cause:"]
            lines += [
                f"{count:>8}  {procedure}: {cause}" for procedure, cause, count in self.failures
            ]
        if self.s1ap_violations:
            lines += ["", "S1AP violations concerning no UE:"]
            lines += [f"{count:>8}  {violation}" for violation, count in self.s1ap_violations]
        state = "interrupted after" if self.interrupted else "in"
        lines += ["", f"{self.ues} UEs on {self.enbs} eNBs {state} {self.duration_s:.1f} s"]
        return "\n".join(lines)


def _milliseconds(value: float) -> str:
    return f"{'-':>10}" if math.isnan(value) else f"{value:>10.1f}"


@dataclass
class Tally:
    """Results as they come in."""

    order: list[str] = field(default_factory=list)
    """Procedure names in the order first seen (the table's row order)."""
    latencies: dict[str, list[float]] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)
    failures: Counter[tuple[str, str]] = field(default_factory=Counter)
    s1ap_violations: Counter[str] = field(default_factory=Counter)

    @property
    def done(self) -> int:
        return sum(self.counts.values())

    @property
    def failed(self) -> int:
        return sum(self.failures.values())

    def add(self, result: ProcedureResult) -> None:
        if result.procedure not in self.counts:
            self.order.append(result.procedure)
            self.latencies[result.procedure] = []
        self.counts[result.procedure] += 1
        if result.ok:
            self.latencies[result.procedure].append(result.latency_s * 1000)
        else:
            self.failures[(result.procedure, result.failure_cause or "failed")] += 1

    def add_violation(self, violation: str) -> None:
        self.s1ap_violations[violation] += 1

    def progress_line(self, elapsed_s: float) -> str:
        rate = self.done / elapsed_s if elapsed_s > 0 else 0.0
        return (
            f"{elapsed_s:7.1f} s  {self.done:>8} procedures done  {self.failed:>6} failed"
            f"  {rate:8.1f}/s"
        )

    def summary(self, duration_s: float, ues: int, enbs: int, *, interrupted: bool = False):
        procedures = []
        for name in self.order:
            ordered = sorted(self.latencies[name])
            failed = sum(
                count for (procedure, _), count in self.failures.items() if procedure == name
            )
            procedures.append(
                ProcedureStats(
                    name,
                    self.counts[name],
                    self.counts[name] - failed,
                    failed,
                    {rank: percentile(ordered, rank) for rank in PERCENTILES},
                )
            )
        failures = tuple(
            (procedure, cause, count) for (procedure, cause), count in self.failures.most_common()
        )
        return Summary(
            duration_s,
            ues,
            enbs,
            tuple(procedures),
            failures,
            tuple(self.s1ap_violations.most_common()),
            interrupted,
        )
