"""Extra energy and carbon of each tracker configuration (``report --grid-intensity/--region
--pue``).

For every configuration against the ``none`` runs of the same blocks (paired by block, as the
rest of the report):

- ``extra_j_per_run``: energy of the whole run (every phase the sampler covered: import, setup,
  init, warm-up, measure, finish, teardown) minus ``none``'s, joules per run;
- ``extra_wh_per_1000_steps``: measure-window energy minus ``none``'s, per 1000 training steps,
  watt-hours;
- ``extra_wh_per_device_hour``: the same difference per hour of the baseline's training on the
  run's device (one GPU, or the CPU for CPU runs): ``mean(dE) / mean(T_none) * 1 h``,
  watt-hours per GPU-hour;
- with a grid intensity ``I`` (gCO2e/kWh) and a PUE ``P``: ``extra_g_per_device_hour`` =
  ``extra_wh_per_device_hour / 1000 * P * I`` and ``extra_g_per_1000_runs`` =
  ``extra_j_per_run / 3.6e6 * 1000 * P * I``.

Each has a BCa bootstrap interval over the blocks (pairs resampled, fixed seed, the level
expanded for small samples as everywhere in the report); the carbon figures are the energy
figures times positive constants, so their intervals are the energy intervals scaled. A figure
whose energy was not measured is ``None`` with the reason.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tomllib

from analysis.stats import MIN_BLOCKS, bootstrap_interval

GRID_TABLE = Path(__file__).with_name("data") / "grid_intensity.toml"
J_PER_WH = 3600.0
J_PER_KWH = 3.6e6
RUN_PHASES = ("import", "setup", "init", "warmup", "measure", "finish", "teardown")


class CarbonInputError(ValueError):
    """A bad grid intensity, PUE or region code (the message lists the valid codes)."""


@dataclass(frozen=True)
class Region:
    code: str
    name: str
    g_co2e_per_kwh: float
    year: int


@dataclass(frozen=True)
class GridTable:
    """The region table: where its figures come from, and one :class:`Region` per code."""

    source: str
    years: str
    regions: dict[str, Region]


@dataclass(frozen=True)
class CarbonSettings:
    """The grid intensity (gCO2e/kWh) and PUE the carbon columns use, and where from."""

    g_co2e_per_kwh: float
    pue: float
    source: str  # "--grid-intensity" or the table's source with the region and its year

    def describe(self) -> str:
        return f"grid intensity {self.g_co2e_per_kwh:g} gCO2e/kWh ({self.source}); PUE {self.pue:g}"


def load_grid_table(path: Path = GRID_TABLE) -> GridTable:
    """Read the region table (``CarbonInputError`` when it is missing or malformed)."""
    try:
        doc = tomllib.loads(Path(path).read_text(encoding="utf-8"))
        source = doc["source"]
        regions = {
            code: Region(code, str(r["name"]), float(r["g_co2e_per_kwh"]), int(r["year"]))
            for code, r in doc["regions"].items()
        }
        return GridTable(f"{source['name']}, {source['field']}", str(source["years"]), regions)
    except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError, ValueError) as exc:
        raise CarbonInputError(f"grid intensity table {path} is unreadable: {exc}") from exc


def resolve_carbon(
    grid_intensity: float | None,
    region: str | None,
    pue: float = 1.0,
    table_path: Path = GRID_TABLE,
) -> CarbonSettings | None:
    """The settings for ``--grid-intensity G`` or ``--region CODE`` with ``--pue P``; ``None``
    when neither was given (then no carbon columns). ``CarbonInputError`` for bad input."""
    if not (math.isfinite(pue) and pue >= 1.0):
        raise CarbonInputError(f"--pue must be a number of at least 1.0, got {pue!r}")
    if grid_intensity is not None and region is not None:
        raise CarbonInputError("give --grid-intensity or --region, not both")
    if grid_intensity is not None:
        if not (math.isfinite(grid_intensity) and grid_intensity >= 0):
            raise CarbonInputError(
                f"--grid-intensity must be a non-negative number of gCO2e/kWh, got "
                f"{grid_intensity!r}"
            )
        return CarbonSettings(grid_intensity, pue, "--grid-intensity")
    if region is None:
        return None
    table = load_grid_table(table_path)
    found = table.regions.get(region.upper())
    if found is None:
        raise CarbonInputError(
            f"unknown region {region!r}; valid codes (ISO 3166 alpha-3, from {table.source}): "
            + ", ".join(sorted(table.regions))
        )
    return CarbonSettings(
        found.g_co2e_per_kwh,
        pue,
        f"region {found.code} ({found.name}), {found.year} figure from {table.source}",
    )


@dataclass(frozen=True)
class Estimate:
    """A figure with its interval (same unit), or ``None`` values with ``reason``."""

    value: float | None
    ci_low: float | None = None
    ci_high: float | None = None
    n_pairs: int = 0
    reason: str | None = None

    def scaled(self, factor: float) -> Estimate:
        """The same figure times a positive constant (a unit or carbon conversion)."""

        def times(x: float | None) -> float | None:
            return None if x is None else x * factor

        return Estimate(
            times(self.value), times(self.ci_low), times(self.ci_high), self.n_pairs, self.reason
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "n_pairs": self.n_pairs,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class CarbonRow:
    """One configuration's extra energy (and carbon, with settings) against ``none``."""

    label: str
    device: str  # "GPU" or "CPU": what a device-hour is
    extra_j_per_run: Estimate
    extra_wh_per_1000_steps: Estimate
    extra_wh_per_device_hour: Estimate
    extra_g_per_device_hour: Estimate | None  # None without carbon settings
    extra_g_per_1000_runs: Estimate | None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"configuration": self.label, "device_hour": f"{self.device}-hour"}
        for key in (
            "extra_j_per_run",
            "extra_wh_per_1000_steps",
            "extra_wh_per_device_hour",
            "extra_g_per_device_hour",
            "extra_g_per_1000_runs",
        ):
            value = getattr(self, key)
            out[key] = value.to_dict() if value is not None else None
        return out


def _phase_energy(record: dict[str, Any], phase: str) -> float | None:
    value = ((record.get("phases") or {}).get(phase) or {}).get("energy_j")
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def run_energy_j(record: dict[str, Any]) -> float | None:
    """Energy of every phase the record has, summed; ``None`` if any phase lacks it."""
    phases = [p for p in RUN_PHASES if p in (record.get("phases") or {})]
    values = [_phase_energy(record, p) for p in phases]
    if not phases or any(v is None for v in values):
        return None
    return float(sum(v for v in values if v is not None))


def _energy_reason(records: list[dict[str, Any]]) -> str:
    for rec in records:
        for phase in RUN_PHASES:
            reason = ((rec.get("phases") or {}).get(phase) or {}).get("energy_reason")
            if reason:
                return f"energy not measured: {reason}"
    return "energy not measured"


def _by_block(records: list[dict[str, Any]], read: Any) -> dict[int, tuple[float, ...]]:
    out: dict[int, tuple[float, ...]] = {}
    for rec in records:
        values = read(rec)
        if values is not None and all(v is not None for v in values):
            out[int(rec["spec"]["block"])] = values
    return out


def _paired_estimate(
    columns: tuple[np.ndarray, ...], statistic: Any, seed: int, n_resamples: int
) -> Estimate:
    n = len(columns[0])
    value = float(statistic(*columns))
    if n < MIN_BLOCKS:
        return Estimate(
            value, None, None, n, f"too few blocks for a CI ({n} paired; {MIN_BLOCKS} needed)"
        )
    if all(np.ptp(c) == 0 for c in columns):
        return Estimate(value, value, value, n)
    low, high, reason = bootstrap_interval(columns, statistic, True, seed, n_resamples)
    return Estimate(value, low, high, n, reason)


def _mean_difference(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(x, axis=axis) - np.mean(y, axis=axis)


def _difference_per_time(x: np.ndarray, y: np.ndarray, t: np.ndarray, axis: int = -1) -> np.ndarray:
    return (np.mean(x, axis=axis) - np.mean(y, axis=axis)) / np.mean(t, axis=axis)


def carbon_row(
    label: str,
    runs: list[dict[str, Any]],
    base_runs: list[dict[str, Any]],
    settings: CarbonSettings | None,
    seed: int,
    n_resamples: int,
) -> CarbonRow:
    """The extra energy of ``runs`` over ``base_runs`` (paired by block), and its carbon."""
    device = (
        "GPU" if any(str(r["spec"].get("device", "")).startswith("cuda") for r in runs) else "CPU"
    )

    def whole(rec: dict[str, Any]) -> tuple[float | None]:
        return (run_energy_j(rec),)

    def measure(rec: dict[str, Any]) -> tuple[float | None, float | None, float | None]:
        wall = ((rec.get("phases") or {}).get("measure") or {}).get("wall_s")
        steps = rec["spec"].get("steps")
        return (_phase_energy(rec, "measure"), wall, float(steps) if steps else None)

    reason = _energy_reason(runs + base_runs)

    def estimate(read: Any, pick: Any, statistic: Any, salt: int) -> Estimate:
        mine, theirs = _by_block(runs, read), _by_block(base_runs, read)
        blocks = sorted(set(mine) & set(theirs))
        if not blocks:
            return Estimate(None, reason=reason if not (mine and theirs) else "no paired blocks")
        columns = pick(mine, theirs, blocks)
        return _paired_estimate(columns, statistic, seed + salt, n_resamples)

    per_run = estimate(
        whole,
        lambda a, b, bl: (np.array([a[k][0] for k in bl]), np.array([b[k][0] for k in bl])),
        _mean_difference,
        1,
    )
    per_1000_steps = estimate(
        measure,
        lambda a, b, bl: (
            np.array([a[k][0] / a[k][2] * 1000 / J_PER_WH for k in bl]),
            np.array([b[k][0] / b[k][2] * 1000 / J_PER_WH for k in bl]),
        ),
        _mean_difference,
        2,
    )
    # Same work per block on both sides (the same steps): dE / T_none is watts, and watts
    # times one hour is Wh per device-hour of the baseline's training.
    per_hour = estimate(
        measure,
        lambda a, b, bl: (
            np.array([a[k][0] for k in bl]),
            np.array([b[k][0] for k in bl]),
            np.array([b[k][1] for k in bl]),
        ),
        _difference_per_time,
        3,
    )
    g_per_hour = g_per_1000_runs = None
    if settings is not None:
        g_per_wh = settings.pue * settings.g_co2e_per_kwh / 1000
        g_per_hour = per_hour.scaled(g_per_wh)
        g_per_1000_runs = per_run.scaled(1000 * settings.pue * settings.g_co2e_per_kwh / J_PER_KWH)
    return CarbonRow(label, device, per_run, per_1000_steps, per_hour, g_per_hour, g_per_1000_runs)
