"""Fixed number formatting shared by every rendering (so re-rendering is byte-identical)."""

from __future__ import annotations

from analysis.metrics import Metric

MIB = 1024 * 1024


def _seconds(value: float, sign: str = "") -> str:
    """Seconds at a readable scale: s from 1 s, ms from 1 ms, then µs, then ns."""
    size = abs(value)
    if size >= 1:
        return f"{value:{sign}.3f} s"
    if size >= 1e-3 or size == 0:
        return f"{value * 1e3:{sign}.1f} ms"
    if size >= 1e-6:
        return f"{value * 1e6:{sign}.1f} µs"
    return f"{value * 1e9:{sign}.0f} ns"


def format_value(metric: Metric, value: float | None) -> str:
    """A mean of the metric in its unit (``-`` when absent)."""
    if value is None:
        return "-"
    if metric.unit == "s":
        return _seconds(value)
    if metric.unit == "B":
        return f"{value / MIB:.2f} MiB"
    if metric.unit == "J":
        return f"{value:.1f} J"
    return f"{value:.0f} {metric.unit}"


def format_effect(metric: Metric, value: float | None, signed: bool = True) -> str:
    """An effect: a percentage for ratio metrics, an amount in the unit for difference ones."""
    if value is None:
        return "-"
    sign = "+" if signed else ""
    if metric.kind == "ratio":
        return f"{value * 100:{sign}.1f} %"
    if metric.unit == "s":
        return _seconds(value, sign)
    if metric.unit == "B":
        return f"{value / MIB:{sign}.2f} MiB"
    if metric.unit == "J":
        return f"{value:{sign}.1f} J"
    return f"{value:{sign}.3g} {metric.unit}"


def format_ci(metric: Metric, low: float | None, high: float | None) -> str:
    """``[low, high]`` of an effect, in the effect's format."""
    if low is None or high is None:
        return "-"
    return f"[{format_effect(metric, low)}, {format_effect(metric, high)}]"


def format_p(p: float | None) -> str:
    """A p-value: three decimals, ``<0.001`` below that, ``-`` when absent."""
    if p is None:
        return "-"
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def format_blocks(blocks: list[int]) -> str:
    """Block numbers as ``b3, b7`` (``-`` when none)."""
    return ", ".join(f"b{b}" for b in blocks) if blocks else "-"
