"""The trackers' own energy figures against the independent reference, from the records.

Each ok run of a configuration that samples power or energy itself carries
``tracker.reported_energy`` (:mod:`bench.reported`): per tool and quantity, the energy the tool
reported over a window, our reference over the same window and domain, and the error. This
module gathers them per workload x preset x profile x configuration x tool quantity: the mean
reported and reference energy, the mean error with a bootstrap interval over the runs, the
tool's configured sampling interval and the median number of its samples inside the window. A
run whose reference or reported figure is missing counts in ``n_runs`` only; the reason is kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from analysis.stats import MIN_BLOCKS, bootstrap_interval


@dataclass
class ReportedRow:
    workload: str
    preset: str
    profile: str
    configuration: str
    tool: str
    quantity: str
    domain: str
    window: str
    method: str  # "measured" or "estimated": how the tool got its figure
    how: str | None
    interval_s: float | None
    n_runs: int
    samples_in_window: float | None  # median over runs (None for a tool's own total)
    reported_j: float | None  # mean over runs with a figure
    reference_j: float | None
    error_pct: float | None  # mean over runs with both
    error_ci: tuple[float, float] | None
    n_compared: int
    reasons: list[str] = field(default_factory=list)  # why figures are missing, deduplicated

    def to_dict(self) -> dict[str, Any]:
        return {
            "workload": self.workload,
            "preset": self.preset,
            "profile": self.profile,
            "configuration": self.configuration,
            "tool": self.tool,
            "quantity": self.quantity,
            "domain": self.domain,
            "window": self.window,
            "method": self.method,
            "how": self.how,
            "interval_s": self.interval_s,
            "n_runs": self.n_runs,
            "n_compared": self.n_compared,
            "samples_in_window_median": self.samples_in_window,
            "reported_j_mean": self.reported_j,
            "reference_j_mean": self.reference_j,
            "error_pct_mean": self.error_pct,
            "error_pct_ci": list(self.error_ci) if self.error_ci else None,
            "reasons": self.reasons,
        }


def mean_ci(values: list[float], seed: int, n_resamples: int) -> tuple[float, float] | None:
    """BCa bootstrap interval of the mean (level expanded for small samples); ``None`` with
    fewer than :data:`MIN_BLOCKS` values or when undefined."""
    if len(values) < MIN_BLOCKS:
        return None
    x = np.asarray(values, dtype=float)
    if np.ptp(x) == 0:
        return float(x[0]), float(x[0])
    low, high, _ = bootstrap_interval((x,), np.mean, False, seed, n_resamples)
    return (low, high) if low is not None and high is not None else None


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None


def reported_rows(
    groups: list[tuple[tuple[str, str, str], dict[str, list[dict[str, Any]]]]],
    seed: int,
    n_resamples: int,
) -> list[ReportedRow]:
    """One row per group x configuration x tool quantity that reported anything.

    ``groups``: ``((workload, preset, profile), {configuration label: usable runs})``.
    """
    rows: list[ReportedRow] = []
    for (workload, preset, profile), by_label in groups:
        for label, runs in by_label.items():
            collected: dict[tuple[str, str], list[dict[str, Any]]] = {}
            for rec in runs:
                block = (rec.get("tracker") or {}).get("reported_energy") or {}
                for entry in block.get("entries") or []:
                    collected.setdefault((entry["tool"], entry["quantity"]), []).append(entry)
            for (tool, quantity), entries in sorted(collected.items()):
                row = _row(workload, preset, profile, label, tool, quantity, entries)
                errors = [e["error_pct"] for e in entries if e.get("error_pct") is not None]
                row.error_ci = mean_ci(errors, seed + len(rows), n_resamples)
                rows.append(row)
    return rows


def _row(
    workload: str,
    preset: str,
    profile: str,
    label: str,
    tool: str,
    quantity: str,
    entries: list[dict[str, Any]],
) -> ReportedRow:
    reported = [e["reported"]["energy_j"] for e in entries if e["reported"]["energy_j"] is not None]
    reference = [
        e["reference"]["energy_j"] for e in entries if e["reference"]["energy_j"] is not None
    ]
    errors = [e["error_pct"] for e in entries if e.get("error_pct") is not None]
    samples = [e["samples_in_window"] for e in entries if e.get("samples_in_window") is not None]
    reasons: list[str] = []
    for e in entries:
        for side in ("reported", "reference"):
            reason = e[side].get("reason")
            if reason and f"{side}: {reason}" not in reasons:
                reasons.append(f"{side}: {reason}")
    first = entries[0]
    return ReportedRow(
        workload=workload,
        preset=preset,
        profile=profile,
        configuration=label,
        tool=tool,
        quantity=quantity,
        domain=first["domain"],
        window=first.get("window", ""),
        method=first["reported"].get("method") or "",
        how=first["reported"].get("how"),
        interval_s=first.get("interval_s"),
        n_runs=len(entries),
        samples_in_window=float(np.median(samples)) if samples else None,
        reported_j=_mean(reported),
        reference_j=_mean(reference),
        error_pct=_mean(errors),
        error_ci=None,
        n_compared=len(errors),
        reasons=reasons,
    )
