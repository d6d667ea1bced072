"""The energy a tracker reports about a run, set against the independent sampler's.

Trackers that sample the machine themselves record power or energy: W&B's system stats
(``gpu.N.powerWatts``, and ``gpu.N.energyJoules`` where the release reads NVML's energy
counter), MLflow's system metrics (``system/gpu_N_power_usage_watts``), CodeCarbon's
``emissions.csv`` (``cpu_energy``, ``gpu_energy``, ``ram_energy`` over its own window). The
read-back (``Tracker.read_back``, key ``reported_energy``) collects what they stored; this module
turns each into energy over a window the way a user of that tool would, and computes our
reference over the same window and domain from the sampler's series:

- power samples (W): the trapezoid integral of the samples inside the window, the first and
  last held flat out to the window's edges;
- energy-counter samples (J): the increase between the first and last samples inside the
  window, scaled to the window's length;
- a total over the tool's own window (CodeCarbon): taken as it is, the reference then covers the
  same window.

Fewer than two samples inside the window is "too few samples", never a number. The reference
of a domain is NVML for GPUs and RAPL (``package``/``dram`` domains) for CPU and RAM; where the
host has neither it is ``None`` with "no reference on this host", and no error is computed. A
figure the tool estimated (CodeCarbon's CPU model without RAPL, its RAM model) is labelled
``"method": "estimated"``.

Tool timestamps are on the wall clock; the worker records ``time.time() - time.monotonic()``
(``clock.unix_minus_monotonic_s``) to map them onto the sampler's monotonic clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.samplers.base import EnergySource
from bench.samplers.series import Series, window_energy

MIN_SAMPLES = 2
NO_REFERENCE = "no reference on this host"


@dataclass(frozen=True)
class ToolEnergy:
    """A tool's energy over a window: ``energy_j`` (joules) or ``None`` with ``reason``."""

    energy_j: float | None
    samples_in_window: int
    achieved_interval_s: float | None  # median spacing of all the tool's samples
    reason: str | None = None


def _inside(
    ts: Sequence[float], values: Sequence[float], t0: float, t1: float
) -> tuple[np.ndarray, np.ndarray, float | None]:
    t = np.asarray(ts, dtype=float)
    v = np.asarray(values, dtype=float)
    order = np.argsort(t, kind="stable")
    t, v = t[order], v[order]
    spacing = float(np.median(np.diff(t))) if t.size >= 2 else None
    keep = (t >= t0) & (t <= t1)
    return t[keep], v[keep], spacing


def _too_few(n: int, t0: float, t1: float, spacing: float | None) -> str:
    every = f", the tool sampled every {spacing:.3g} s" if spacing is not None else ""
    return f"too few samples: {n} inside the {t1 - t0:.3g} s window ({MIN_SAMPLES} needed{every})"


def energy_from_power(
    ts: Sequence[float], watts: Sequence[float], t0: float, t1: float
) -> ToolEnergy:
    """Joules from power samples (W) over ``[t0, t1]``: trapezoids between the samples inside
    the window, the first and last value held flat to the window's edges."""
    t, v, spacing = _inside(ts, watts, t0, t1)
    if t.size < MIN_SAMPLES:
        return ToolEnergy(None, int(t.size), spacing, _too_few(int(t.size), t0, t1, spacing))
    inner = float(np.sum((v[1:] + v[:-1]) * 0.5 * np.diff(t)))
    edges = float(v[0] * (t[0] - t0) + v[-1] * (t1 - t[-1]))
    return ToolEnergy(inner + edges, int(t.size), spacing)


def energy_from_counter(
    ts: Sequence[float], joules: Sequence[float], t0: float, t1: float
) -> ToolEnergy:
    """Joules from a cumulative energy counter over ``[t0, t1]``: the increase between the
    first and last samples inside the window, times the window's length over theirs."""
    t, v, spacing = _inside(ts, joules, t0, t1)
    if t.size < MIN_SAMPLES or t[-1] <= t[0]:
        return ToolEnergy(None, int(t.size), spacing, _too_few(int(t.size), t0, t1, spacing))
    return ToolEnergy(float((v[-1] - v[0]) * (t1 - t0) / (t[-1] - t[0])), int(t.size), spacing)


def domain_of(source: EnergySource) -> str | None:
    """``gpu``, ``cpu`` or ``ram`` for an energy source of the sampler (``None``: other, such
    as RAPL's ``psys`` or ``core``, which no tool reports alone)."""
    if source.method.startswith("nvml"):
        return "gpu"
    label = source.domain.lower()
    if label.startswith("package"):
        return "cpu"
    if label.startswith("dram"):
        return "ram"
    return None


def reference_energy(
    series: Series,
    sources: Sequence[EnergySource],
    domain: str,
    t0: float,
    t1: float,
    unavailable: str | None,
    devices: int | None = None,
) -> dict[str, Any]:
    """The sampler's energy of ``domain`` over ``[t0, t1]``: ``{energy_j, method, reason}``.

    ``devices``: how many GPUs the tool reported; a different count from the sampler's makes
    the two incomparable (``None`` with the reason).
    """
    picked = [s for s in sources if domain_of(s) == domain]
    if not picked:
        why = unavailable or f"the sampler has no {domain} domain"
        return {"energy_j": None, "method": None, "reason": f"{NO_REFERENCE} ({why})"}
    if devices is not None and devices != len(picked):
        return {
            "energy_j": None,
            "method": None,
            "reason": f"the tool reported {devices} GPUs, the sampler measured {len(picked)}",
        }
    energy = window_energy(series, picked, t0, t1)
    return {"energy_j": energy.energy_j, "method": energy.method, "reason": energy.reason}


def _configured_interval(tool: str, settings: dict[str, Any]) -> float | None:
    if tool == "codecarbon":
        return (settings.get("codecarbon") or {}).get("measure_power_s")
    return (settings.get("system_metrics") or {}).get("interval_s")


def compare_reported(
    reported: list[dict[str, Any]] | None,
    result: dict[str, Any],
    series: Series,
    sources: Sequence[EnergySource],
    unavailable: str | None,
) -> dict[str, Any]:
    """The record's ``tracker.reported_energy`` block: one entry per tool x quantity.

    ``reported``: the read-back's ``reported_energy`` list (``None``: the read-back did not
    run or failed). ``result``: the worker's result (marks, clock, tracker settings).
    """
    if reported is None:
        return {"checked": False, "reason": "no read-back of the tracker's own figures"}
    if not reported:
        return {
            "checked": False,
            "reason": "this configuration runs no power or energy sampler of its own",
        }
    marks = result.get("marks") or {}
    measure = marks.get("measure")
    offset = (result.get("clock") or {}).get("unix_minus_monotonic_s")
    settings = (result.get("tracker") or {}).get("settings") or {}
    entries = []
    for item in reported:
        entry: dict[str, Any] = {
            "tool": item["tool"],
            "quantity": item["quantity"],
            "domain": item["domain"],
            "interval_s": _configured_interval(item["tool"], settings),
        }
        if item["kind"] == "total_j":
            window = item.get("window_monotonic_s") or []
            energy = item.get("energy_j")
            missing = None if energy is not None else item.get("reason") or "no figure written"
            tool = ToolEnergy(energy, 1 if energy is not None else 0, None, missing)
            devices = item.get("devices_reported") if item["domain"] == "gpu" else None
            entry["window"] = "the tool's own start-to-stop window"
        else:
            window = list(measure) if measure and len(measure) == 2 else []
            devices = len(item.get("devices") or {}) if item["domain"] == "gpu" else None
            entry["window"] = "measure"
            tool = _tool_energy(item, window, offset)
        if len(window) == 2:
            entry["window_s"] = window[1] - window[0]
            reference = reference_energy(
                series, sources, item["domain"], window[0], window[1], unavailable, devices
            )
        else:
            entry["window_s"] = None
            reference = {"energy_j": None, "method": None, "reason": "the window was not marked"}
        entry.update(
            samples_in_window=tool.samples_in_window if item["kind"] != "total_j" else None,
            achieved_interval_s=tool.achieved_interval_s,
            reported={
                "energy_j": tool.energy_j,
                "method": item["method"],
                "how": item.get("how"),
                "reason": tool.reason,
            },
            reference=reference,
            error_pct=(
                (tool.energy_j - reference["energy_j"]) / reference["energy_j"] * 100
                if tool.energy_j is not None and reference["energy_j"]
                else None
            ),
        )
        entries.append(entry)
    return {"checked": True, "entries": entries}


def _tool_energy(item: dict[str, Any], window: list[float], offset: float | None) -> ToolEnergy:
    devices = item.get("devices") or {}
    if not devices:
        return ToolEnergy(
            None, 0, None, f"the tool recorded no {item['quantity']} (it saw no such device)"
        )
    if len(window) != 2 or offset is None:
        return ToolEnergy(
            None, 0, None, "the measure window or the worker's clock was not recorded"
        )
    t0, t1 = window[0] + offset, window[1] + offset
    convert = energy_from_power if item["kind"] == "power_w" else energy_from_counter
    per_device = [convert(d["t_unix_s"], d["values"], t0, t1) for _, d in sorted(devices.items())]
    spacing = [d.achieved_interval_s for d in per_device if d.achieved_interval_s is not None]
    fewest = min(d.samples_in_window for d in per_device)
    failed = next((d for d in per_device if d.energy_j is None), None)
    if failed is not None:
        return ToolEnergy(None, fewest, max(spacing) if spacing else None, failed.reason)
    total = sum(d.energy_j for d in per_device if d.energy_j is not None)
    return ToolEnergy(total, fewest, max(spacing) if spacing else None)
