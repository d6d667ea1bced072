"""Quick per-configuration summary of a result directory (the line ``trackerbench run`` ends with).

This is a description of the runs, not the statistics of the report: medians of ``ok`` runs and
their ratio to the ``none`` baseline of the same workload, preset and logging profile.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

from analysis.metrics import METRICS_BY_KEY


@dataclass(frozen=True)
class ConfigSummary:
    """Median figures of one configuration over its ``ok`` runs (seconds unless named)."""

    workload: str
    preset: str
    tracker: str
    profile: str
    ok_runs: int
    other_runs: int
    measure_wall_s_median: float | None
    ratio_to_none: float | None
    samples_per_s_median: float | None
    cpu_s_median: float | None
    sampler_cpu_s_median: float | None
    init_s_median: float | None = None
    finish_s_median: float | None = None
    log_call_p50_s_median: float | None = None
    data_loss_runs: int = 0
    checked_runs: int = 0
    unchecked_runs: int = 0


def _median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def profile_name(record: dict[str, Any]) -> str:
    """The record's logging profile (schema 1 records had none: ``every N`` of their log_every)."""
    spec = record["spec"]
    if "profile" in spec:
        return spec["profile"]["name"]
    return f"every {spec.get('log_every')}"


# One reading of each figure, shared with the report (analysis.metrics).
_MEASURE = METRICS_BY_KEY["measure_wall_s"].read
_CPU = METRICS_BY_KEY["cpu_s"].read  # worker tree + a tracker service during the run
_INIT = METRICS_BY_KEY["init_s"].read
_FINISH = METRICS_BY_KEY["finish_s"].read


def summarise(records: list[dict[str, Any]]) -> list[ConfigSummary]:
    """One :class:`ConfigSummary` per (workload, preset, tracker, profile), ``none`` first.

    ``ratio_to_none`` is the configuration's median measure-window wall time divided by the
    ``none`` median of the same workload, preset and profile (``None`` without a baseline).
    ``cpu_s_median``: the worker's process tree plus a tracker service's CPU during the run.
    ``data_loss_runs``: ok runs whose recorded-data check found less than was sent;
    ``checked_runs``: ok runs whose check was made; ``unchecked_runs``: ok runs of a storing
    tracker whose check could not be made.
    """
    groups: dict[tuple[str, str, str, str], list[dict[str, Any]]] = {}
    for rec in records:
        spec = rec["spec"]
        key = (spec["workload"], spec["preset"], spec["tracker"], profile_name(rec))
        groups.setdefault(key, []).append(rec)
    medians: dict[tuple[str, str, str, str], float | None] = {}
    for key, recs in groups.items():
        ok = [r for r in recs if r["status"] == "ok"]
        medians[key] = _median([_MEASURE(r) for r in ok])
    out: list[ConfigSummary] = []
    for key in sorted(groups, key=lambda k: (k[0], k[1], k[3], k[2] != "none", k[2])):
        recs = groups[key]
        ok = [r for r in recs if r["status"] == "ok"]
        base = medians.get((key[0], key[1], "none", key[3]))
        own = medians[key]
        recorded = [((r.get("tracker") or {}).get("recorded") or {}) for r in ok]
        out.append(
            ConfigSummary(
                workload=key[0],
                preset=key[1],
                tracker=key[2],
                profile=key[3],
                ok_runs=len(ok),
                other_runs=len(recs) - len(ok),
                measure_wall_s_median=own,
                ratio_to_none=own / base if own is not None and base else None,
                samples_per_s_median=_median(
                    [(r.get("throughput") or {}).get("samples_per_s") for r in ok]
                ),
                cpu_s_median=_median([_CPU(r) for r in ok]),
                sampler_cpu_s_median=_median([r["sampler"]["cpu_s"] for r in ok]),
                init_s_median=_median([_INIT(r) for r in ok]),
                finish_s_median=_median([_FINISH(r) for r in ok]),
                log_call_p50_s_median=_median(
                    [((r["tracker"].get("calls") or {}).get("log") or {}).get("p50_s") for r in ok]
                ),
                data_loss_runs=sum(1 for r in ok if r.get("data_loss")),
                checked_runs=sum(1 for b in recorded if b.get("checked")),
                unchecked_runs=sum(
                    1 for b in recorded if not b.get("checked") and b.get("applicable") is not False
                ),
            )
        )
    return out
