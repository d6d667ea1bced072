"""Pure functions that turn sampled time series into per-window figures.

Times are ``time.monotonic()`` seconds (CLOCK_MONOTONIC, shared by every process on the host),
so the worker's phase marks and the sampler's readings can be compared directly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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


@dataclass(frozen=True)
class Series:
    """Readings in the columnar form the sampler process writes.

    ``t`` holds the reading times; ``channels`` one column per channel, aligned with ``t``,
    with ``None`` where a reading lacked the channel (e.g. after a sampler failed).
    """

    t: Sequence[float]
    channels: Mapping[str, Sequence[float | None]]

    @classmethod
    def from_readings(cls, readings: Sequence[tuple[float, dict[str, float]]]) -> Series:
        """Build from ``(t, reading)`` pairs."""
        names = sorted({name for _, reading in readings for name in reading})
        return cls(
            t=[t for t, _ in readings],
            channels={n: [reading.get(n) for _, reading in readings] for n in names},
        )

    def channel(self, name: str) -> tuple[list[float], list[float]]:
        """Times and values of one channel, skipping readings that lack it."""
        column = self.channels.get(name, ())
        pairs = [(t, v) for t, v in zip(self.t, column, strict=True) if v is not None]
        return [t for t, _ in pairs], [v for _, v in pairs]

    def last(self, name: str) -> float | None:
        """The latest value of channel ``name``, or ``None`` if it was never read."""
        _, values = self.channel(name)
        return values[-1] if values else None


def window_energy(
    series: Series,
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
        ts, vs = series.channel(src.channel)
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


def value_between(series: Series, name: str, t0: float, t1: float) -> float | None:
    """Increase of cumulative channel ``name`` over ``[t0, t1]``, or ``None`` if not covered."""
    ts, vs = series.channel(name)
    try:
        return cumulative_between(ts, vs, t0, t1)
    except ValueError:
        return None
