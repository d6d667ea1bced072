"""Fixed number formatting shared by every rendering (so re-rendering is byte-identical)."""

from __future__ import annotations

from analysis.metrics import Metric

MIB = 1024 * 1024


def format_value(metric: Metric, value: float | None) -> str:
    """A mean of the metric in its unit (``-`` when absent)."""
    if value is None:
        return "-"
    if metric.unit == "s":
        return f"{value:.3f} s" if abs(value) >= 1 else f"{value * 1000:.1f} ms"
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
        if abs(value) >= 1:
            return f"{value:{sign}.3f} s"
        return f"{value * 1000:{sign}.1f} ms"
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
