"""Quick per-configuration summary of a result directory (the line ``trackerbench run`` ends with).

This is a description of the runs, not the statistics of the report: medians of ``ok`` runs and
their ratio to the ``none`` baseline of the same workload and preset.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ConfigSummary:
    """Median figures of one configuration over its ``ok`` runs."""

    workload: str
    preset: str
    tracker: str
    ok_runs: int
    other_runs: int
    measure_wall_s_median: float | None
    ratio_to_none: float | None
    samples_per_s_median: float | None
    cpu_s_median: float | None
    sampler_cpu_s_median: float | None


def _median(values: list[float]) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def summarise(records: list[dict[str, Any]]) -> list[ConfigSummary]:
    """One :class:`ConfigSummary` per (workload, preset, tracker), ``none`` first in each group.

    ``ratio_to_none`` is the configuration's median measure-window wall time divided by the
    ``none`` median of the same workload and preset (``None`` without a baseline).
    """
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for rec in records:
        spec = rec["spec"]
        groups.setdefault((spec["workload"], spec["preset"], spec["tracker"]), []).append(rec)
    medians: dict[tuple[str, str, str], float | None] = {}
    out: list[ConfigSummary] = []
    for key, recs in groups.items():
        ok = [r for r in recs if r["status"] == "ok"]
        medians[key] = _median([r["phases"]["measure"]["wall_s"] for r in ok])
    for key in sorted(groups, key=lambda k: (k[0], k[1], k[2] != "none", k[2])):
        recs = groups[key]
        ok = [r for r in recs if r["status"] == "ok"]
        base = medians.get((key[0], key[1], "none"))
        own = medians[key]
        out.append(
            ConfigSummary(
                workload=key[0],
                preset=key[1],
                tracker=key[2],
                ok_runs=len(ok),
                other_runs=len(recs) - len(ok),
                measure_wall_s_median=own,
                ratio_to_none=own / base if own is not None and base else None,
                samples_per_s_median=_median(
                    [(r.get("throughput") or {}).get("samples_per_s") for r in ok]
                ),
                cpu_s_median=_median([r["process"]["cpu_s"] for r in ok]),
                sampler_cpu_s_median=_median([r["sampler"]["cpu_s"] for r in ok]),
            )
        )
    return out
