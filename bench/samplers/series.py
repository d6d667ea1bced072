"""Pure functions that turn sampled time series into per-window figures.

Times are ``time.monotonic()`` seconds (CLOCK_MONOTONIC, shared by every process on the host),
so the worker's phase marks and the sampler's readings can be compared directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bench.samplers.base import EnergySource


@dataclass(frozen=True)
class WindowEnergy:
    """Energy of one window: ``energy_j`` in joules, or ``None`` with ``reason``."""

    energy_j: float | None
    method: str | None
    reason: str | None
    by_domain_j: dict[str, float]


def _covered(ts: np.ndarray, t0: float, t1: float) -> bool:
    return ts.size >= 2 and ts[0] <= t0 and ts[-1] >= t1


def cumulative_between(ts: Sequence[float], values: Sequence[float], t0: float, t1: float) -> float:
    """Increase of a cumulative counter between ``t0`` and ``t1`` (linear interpolation).

    Raises ``ValueError`` when the samples do not cover the window.
    """
    t = np.asarray(ts, dtype=float)
    v = np.asarray(values, dtype=float)
    if not _covered(t, t0, t1):
        raise ValueError("samples do not cover the window")
    return float(np.interp(t1, t, v) - np.interp(t0, t, v))


def integrate_between(ts: Sequence[float], values: Sequence[float], t0: float, t1: float) -> float:
    """Trapezoid integral of an instant quantity (e.g. watts -> joules) over ``[t0, t1]``.

    The series is linearly interpolated at the window edges. Raises ``ValueError`` when the
    samples do not cover the window.
    """
    t = np.asarray(ts, dtype=float)
    v = np.asarray(values, dtype=float)
    if not _covered(t, t0, t1):
        raise ValueError("samples do not cover the window")
    inside = (t > t0) & (t < t1)
    grid = np.concatenate(([t0], t[inside], [t1]))
    vals = np.interp(grid, t, v)
    return float(np.sum((vals[1:] + vals[:-1]) * 0.5 * np.diff(grid)))


def channel(samples: Sequence[tuple[float, dict[str, float]]], name: str) -> tuple[list, list]:
    """Extract one channel from ``(t, reading)`` samples, skipping readings that lack it."""
    ts, vs = [], []
    for t, reading in samples:
        if name in reading and reading[name] is not None:
            ts.append(t)
            vs.append(reading[name])
    return ts, vs


def window_energy(
    samples: Sequence[tuple[float, dict[str, float]]],
    sources: Sequence[EnergySource],
    t0: float,
    t1: float,
    unavailable_reason: str | None = None,
) -> WindowEnergy:
    """Energy of every domain in ``sources`` over ``[t0, t1]``, summed.

    The total is ``None`` (with a reason) when there are no sources, or when any domain's
    samples do not cover the window: a partial sum would understate the energy silently.
    """
    if not sources:
        return WindowEnergy(None, None, unavailable_reason or "no energy sampler available", {})
    by_domain: dict[str, float] = {}
    methods: list[str] = []
    for src in sources:
        ts, vs = channel(samples, src.channel)
        try:
            if src.kind == "cumulative_j":
                by_domain[src.domain] = cumulative_between(ts, vs, t0, t1)
            else:
                by_domain[src.domain] = integrate_between(ts, vs, t0, t1)
        except ValueError:
            return WindowEnergy(
                None,
                None,
                f"{src.domain}: samples do not cover the window "
                f"({len(ts)} samples, window {t1 - t0:.3f} s)",
                {},
            )
        if src.method not in methods:
            methods.append(src.method)
    return WindowEnergy(float(sum(by_domain.values())), "+".join(methods), None, by_domain)


def value_between(
    samples: Sequence[tuple[float, dict[str, float]]], name: str, t0: float, t1: float
) -> float | None:
    """Increase of cumulative channel ``name`` over ``[t0, t1]``, or ``None`` if not covered."""
    ts, vs = channel(samples, name)
    try:
        return cumulative_between(ts, vs, t0, t1)
    except ValueError:
        return None
