"""Plots of a report (matplotlib, Agg backend, PNG and SVG, deterministic output).

- ``overhead-<metric>``: each configuration's change against ``none`` with its confidence
  interval as whiskers, one panel per workload x preset x profile;
- ``step-times``: every run's step-time p50 and p99 per configuration;
- ``power``: sampled power over the run, one line per configuration, where power was sampled
  and the run directories (``samples.json``) are still there.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from analysis.formatting import MIB
from analysis.metrics import METRICS, Metric
from analysis.report import BASELINE, Group, Report

# Fixed SVG ids and no dates: the same report renders to the same bytes.
_RC = {
    "svg.hashsalt": "trackerbench",
    "svg.fonttype": "path",
    "font.size": 8,
    "axes.grid": True,
    "grid.alpha": 0.3,
}
_SVG_META = {"Date": None, "Creator": None}
_PNG_META = {"Software": None}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return matplotlib, plt


def _save(fig: Any, out_dir: Path, stem: str) -> list[str]:
    fig.savefig(out_dir / f"{stem}.png", dpi=110, metadata=_PNG_META)
    fig.savefig(out_dir / f"{stem}.svg", metadata=_SVG_META)
    return [f"{stem}.png", f"{stem}.svg"]


def _scale(metric: Metric) -> tuple[float, str]:
    if metric.kind == "ratio":
        return 100.0, "change vs none, %"
    if metric.unit == "B":
        return 1.0 / MIB, "added vs none, MiB"
    return 1.0, f"added vs none, {metric.unit}"


def overhead_plot(report: Report, metric: Metric, out_dir: Path) -> list[str]:
    """Estimates with CI whiskers per configuration; ``[]`` when no group has an estimate."""
    groups = [
        g
        for g in report.groups
        if any(r.metric is metric and r.comparison.estimate is not None for r in g.rows)
    ]
    if not groups:
        return []
    matplotlib, plt = _pyplot()
    scale, xlabel = _scale(metric)
    with matplotlib.rc_context(_RC):
        height = sum(0.35 * max(len(g.configs), 1) + 0.7 for g in groups)
        fig, axes = plt.subplots(
            len(groups),
            1,
            figsize=(7, max(2.0, height)),
            squeeze=False,
            height_ratios=[max(len(g.configs), 1) for g in groups],
        )
        for ax, group in zip(axes[:, 0], groups, strict=True):
            rows = [r for r in group.rows if r.metric is metric]
            for y, row in enumerate(rows):
                c = row.comparison
                if c.estimate is None:
                    continue
                color = "#b2182b" if row.significant else "#4d4d4d"
                if c.ci_low is not None and c.ci_high is not None:
                    ax.hlines(y, c.ci_low * scale, c.ci_high * scale, color=color, lw=1.5)
                ax.plot(
                    c.estimate * scale,
                    y,
                    "o",
                    color=color,
                    markerfacecolor=color if row.significant else "white",
                )
            ax.axvline(0, color="black", lw=0.8)
            ax.set_yticks(range(len(rows)), [r.config.label for r in rows])
            ax.invert_yaxis()
            ax.set_title(group.title, loc="left")
        axes[-1, 0].set_xlabel(f"{metric.label}: {xlabel} (95 % CI; filled = significant)")
        fig.tight_layout()
        names = _save(fig, out_dir, f"overhead-{metric.key}")
        plt.close(fig)
    return names


def step_time_plot(report: Report, out_dir: Path) -> list[str]:
    """Per-run step-time p50 (dots) and p99 (crosses) per configuration, log scale."""
    groups = [g for g in report.groups if any(g.runs.values())]
    if not groups:
        return []
    matplotlib, plt = _pyplot()
    with matplotlib.rc_context(_RC):
        fig, axes = plt.subplots(
            len(groups), 1, figsize=(7, 0.3 * sum(len(g.runs) + 2 for g in groups)), squeeze=False
        )
        for ax, group in zip(axes[:, 0], groups, strict=True):
            labels = [BASELINE] + [c.label for c in group.configs]
            for y, label in enumerate(labels):
                runs = group.runs.get(label, [])
                for key, marker, size, color in (
                    ("p50_s", "o", 3, "#2166ac"),
                    ("p99_s", "x", 4, "#b2182b"),
                ):
                    ms_values = [v * 1e3 for v in (_step(r, key) for r in runs) if v]
                    ax.plot(
                        ms_values,
                        [y] * len(ms_values),
                        marker,
                        ms=size,
                        color=color,
                        alpha=0.7,
                    )
            ax.set_xscale("log")
            ax.set_yticks(range(len(labels)), labels)
            ax.invert_yaxis()
            ax.set_title(group.title, loc="left")
        axes[-1, 0].set_xlabel("step time per run, ms (o: p50, x: p99)")
        fig.tight_layout()
        names = _save(fig, out_dir, "step-times")
        plt.close(fig)
    return names


def _step(record: dict[str, Any], key: str) -> float | None:
    value = (record.get("steps") or {}).get(key)
    return float(value) if isinstance(value, (int, float)) and value > 0 else None


def power_series(result_dir: Path, record: dict[str, Any]) -> tuple[list[float], list[float]]:
    """``(t_s, watts)`` of a run: the sum of its sampled ``*.power_w`` channels.

    ``([], [])`` when the run directory or its ``samples.json`` is gone or holds no power.
    """
    run_dir = (record.get("files") or {}).get("run_dir")
    if not run_dir:
        return [], []
    try:
        doc = json.loads((Path(result_dir) / run_dir / "samples.json").read_text("utf-8"))
    except (OSError, ValueError):
        return [], []
    t = doc.get("t") or []
    channels = {k: v for k, v in (doc.get("channels") or {}).items() if k.endswith("power_w")}
    if not t or not channels:
        return [], []
    total: list[float] = []
    times: list[float] = []
    for i, ti in enumerate(t):
        values = [series[i] for series in channels.values() if i < len(series)]
        if values and all(isinstance(v, (int, float)) for v in values):
            times.append(float(ti) - float(t[0]))
            total.append(float(sum(values)))
    return times, total


def power_plot(report: Report, result_dir: Path, out_dir: Path) -> list[str]:
    """Power over time of each configuration's first run with power, per group."""
    panels: list[tuple[Group, list[tuple[str, list[float], list[float]]]]] = []
    for group in report.groups:
        lines = []
        for label in [BASELINE] + [c.label for c in group.configs]:
            for record in sorted(group.runs.get(label, []), key=lambda r: r["spec"]["block"]):
                t, w = power_series(result_dir, record)
                if t:
                    lines.append((label, t, w))
                    break
        if lines:
            panels.append((group, lines))
    if not panels:
        return []
    matplotlib, plt = _pyplot()
    with matplotlib.rc_context(_RC):
        fig, axes = plt.subplots(len(panels), 1, figsize=(7, 2.4 * len(panels)), squeeze=False)
        for ax, (group, lines) in zip(axes[:, 0], panels, strict=True):
            for label, t, w in lines:
                ax.plot(t, w, lw=0.8, label=label)
            ax.set_title(group.title, loc="left")
            ax.set_ylabel("power, W")
            ax.legend(fontsize=6, ncol=3)
        axes[-1, 0].set_xlabel("time since the sampler started, s")
        fig.tight_layout()
        names = _save(fig, out_dir, "power")
        plt.close(fig)
    return names


def render_plots(report: Report, result_dir: Path, out_dir: Path) -> list[str]:
    """Write every plot into ``out_dir``; the file names written, sorted."""
    out_dir.mkdir(parents=True, exist_ok=True)
    names: list[str] = []
    for metric in METRICS:
        names += overhead_plot(report, metric, out_dir)
    names += step_time_plot(report, out_dir)
    names += power_plot(report, result_dir, out_dir)
    return sorted(names)
