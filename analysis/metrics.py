"""The figures the report compares, and how each is read from a run record."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from analysis.stats import Kind


def _get(record: dict[str, Any], *path: str) -> Any:
    node: Any = record
    for key in path:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _sum_present(*values: Any) -> float | None:
    """The sum of the numbers; ``None`` when the first (the worker's own figure) is missing."""
    numbers = [_number(v) for v in values]
    if numbers[0] is None:
        return None
    return sum(n for n in numbers if n is not None)


@dataclass(frozen=True)
class Metric:
    """One compared figure.

    ``kind``: ``ratio`` metrics are reported as a percentage change of the mean against
    ``none``'s; ``difference`` metrics as the mean amount added, in ``unit``.
    ``worse``: which direction costs (``higher`` for times, ``lower`` for throughput).
    ``words``: the verdict for a significant change in the costly and in the other direction.
    """

    key: str
    label: str
    unit: str
    kind: Kind
    worse: Literal["higher", "lower"]
    words: tuple[str, str]
    read: Callable[[dict[str, Any]], float | None]
    missing_reason: Callable[[dict[str, Any]], str | None] = lambda record: None


def _energy_reason(record: dict[str, Any]) -> str | None:
    return _get(record, "phases", "measure", "energy_reason")


METRICS: tuple[Metric, ...] = (
    Metric(
        "measure_wall_s",
        "measure-window wall time",
        "s",
        "ratio",
        "higher",
        ("slower", "faster"),
        lambda r: _number(_get(r, "phases", "measure", "wall_s")),
    ),
    Metric(
        "samples_per_s",
        "throughput",
        "samples/s",
        "ratio",
        "lower",
        ("slower", "faster"),
        lambda r: _number(_get(r, "throughput", "samples_per_s")),
    ),
    Metric(
        "step_p99_s",
        "step time p99",
        "s",
        "ratio",
        "higher",
        ("slower", "faster"),
        lambda r: _number(_get(r, "steps", "p99_s")),
    ),
    Metric(
        "energy_pct",
        "energy, measure window",
        "J",
        "ratio",
        "higher",
        ("more energy", "less energy"),
        lambda r: _number(_get(r, "phases", "measure", "energy_j")),
        _energy_reason,
    ),
    Metric(
        "energy_j",
        "energy added, measure window",
        "J",
        "difference",
        "higher",
        ("more energy", "less energy"),
        lambda r: _number(_get(r, "phases", "measure", "energy_j")),
        _energy_reason,
    ),
    Metric(
        "cpu_s",
        "CPU time added (worker tree + service)",
        "s",
        "difference",
        "higher",
        ("more CPU", "less CPU"),
        lambda r: _sum_present(_get(r, "process", "cpu_s"), _get(r, "service", "cpu_s_during_run")),
    ),
    Metric(
        "rss_peak_bytes",
        "peak RSS added (worker tree + service peaks)",
        "B",
        "difference",
        "higher",
        ("more memory", "less memory"),
        lambda r: _sum_present(
            _get(r, "process", "rss_peak_bytes"), _get(r, "service", "rss_peak_bytes")
        ),
    ),
    Metric(
        "init_s",
        "tracker init time added",
        "s",
        "difference",
        "higher",
        ("slower", "faster"),
        lambda r: _number(_get(r, "phases", "init", "wall_s")),
    ),
    Metric(
        "finish_s",
        "tracker finish time added",
        "s",
        "difference",
        "higher",
        ("slower", "faster"),
        lambda r: _number(_get(r, "phases", "finish", "wall_s")),
    ),
    Metric(
        "write_bytes",
        "bytes written added (worker tree, kernel I/O counters)",
        "B",
        "difference",
        "higher",
        ("more writes", "fewer writes"),
        lambda r: _number(_get(r, "process", "write_bytes")),
    ),
    Metric(
        "disk_bytes",
        "bytes left on disk by the tracker (run dir + service store)",
        "B",
        "difference",
        "higher",
        ("more disk", "less disk"),
        lambda r: _sum_present(_get(r, "tracker", "disk_bytes"), _get(r, "service", "disk_bytes")),
    ),
)

HEADLINE = METRICS[0]
METRICS_BY_KEY = {m.key: m for m in METRICS}
