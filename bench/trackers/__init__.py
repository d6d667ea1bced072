"""Tracker registry: built-in adapters plus the ``trackerbench.trackers`` entry-point group.

A configuration name is a registered adapter name followed by optional add-ons and an optional
``@VERSION`` of the adapter's package (run from its own environment, :mod:`bench.versions`):
``mlflow-sqlite+sysmetrics`` (the tracker's own system-metrics sampler on, for adapters that
have it off by default) and ``...+codecarbon`` (an ``OfflineEmissionsTracker`` wrapped around
any configuration), e.g. ``mlflow-server-async+sysmetrics+codecarbon`` or
``mlflow-sqlite@3.16.1``.
"""

from __future__ import annotations

from pathlib import Path

from bench.plugins import PluginError, Registry
from bench.trackers.base import TELEMETRY_OFF_ENV, Tracker, TrackerError, TrackerOptions
from bench.versions import split_version

ENTRY_POINT_GROUP = "trackerbench.trackers"
ADDONS = ("sysmetrics", "codecarbon")

_REGISTRY: Registry[Tracker] = Registry(
    "tracker",
    ENTRY_POINT_GROUP,
    {
        "none": "bench.trackers.none:NoneTracker",
        "wandb-offline": "bench.trackers.wandb_tracker:WandbOffline",
        "wandb-offline-nostats": "bench.trackers.wandb_tracker:WandbOfflineNoStats",
        "wandb-disabled": "bench.trackers.wandb_tracker:WandbDisabled",
        "wandb-online": "bench.trackers.wandb_tracker:WandbOnline",
        "mlflow-sqlite": "bench.trackers.mlflow_tracker:MlflowSqlite",
        "mlflow-sqlite-async": "bench.trackers.mlflow_tracker:MlflowSqliteAsync",
        "mlflow-server": "bench.trackers.mlflow_tracker:MlflowServer",
        "mlflow-server-async": "bench.trackers.mlflow_tracker:MlflowServerAsync",
        "mlflow-file": "bench.trackers.mlflow_tracker:MlflowFile",
        "tensorboard": "bench.trackers.tensorboard_tracker:TensorboardTracker",
        "trackio": "bench.trackers.trackio_tracker:TrackioTracker",
    },
    Tracker,
    order=lambda name: (name != "none", name),
)


def tracker_names() -> list[str]:
    """Every registered adapter name, sorted (``none`` first); add-ons not expanded."""
    return _REGISTRY.names()


def load_tracker(name: str) -> type[Tracker]:
    """Return the adapter class registered as ``name`` (does not import the tracker library).

    ``KeyError`` for an unknown name, :class:`PluginError` for a broken adapter.
    """
    return _REGISTRY.load(name)


def parse_name(name: str) -> tuple[type[Tracker], tuple[str, ...]]:
    """Split a configuration name into its adapter class and add-ons (checked).

    ``KeyError`` (with the valid choices) for an unknown adapter or add-on, or an add-on that
    does not apply to the adapter.
    """
    base, *addons = split_version(name)[0].split("+")
    cls = load_tracker(base)
    for addon in addons:
        if addon not in ADDONS:
            raise KeyError(
                f"unknown tracker add-on {addon!r} in {name!r}; valid: "
                + ", ".join(f"+{a}" for a in ADDONS)
            )
        if addon == "sysmetrics" and not cls.sysmetrics_addon:
            raise KeyError(
                f"{base!r} has no +sysmetrics variant (it either samples system metrics as "
                "shipped or has no sampler); trackers with one: "
                + ", ".join(n for n in tracker_names() if load_tracker(n).sysmetrics_addon)
            )
    if len(set(addons)) != len(addons):
        raise KeyError(f"tracker {name!r} repeats an add-on")
    return cls, tuple(addons)


def unavailable_reason(name: str) -> str | None:
    """Why configuration ``name`` cannot run here, or ``None`` (the name must parse)."""
    cls, addons = parse_name(name)
    reason = cls.unavailable_reason(package_here=split_version(name)[1] is None)
    if reason is None and "codecarbon" in addons:
        from bench.trackers.codecarbon_addon import CodecarbonAddon

        reason = CodecarbonAddon.unavailable_reason()
    return reason


def make_tracker(
    name: str, run_dir: Path, options: TrackerOptions | None = None, python: str | None = None
) -> Tracker:
    """The tracker for configuration ``name`` (adapter plus add-ons), ready to ``load()``.

    ``python``: the interpreter of the run's environment, for services the adapter starts
    (default: this one).
    """
    cls, addons = parse_name(name)
    name = split_version(name)[0]  # the record carries the version the worker imported
    options = options or TrackerOptions()
    if "sysmetrics" in addons:
        options = TrackerOptions(options.sysmetrics_interval_s, system_metrics=True)
    tracker = cls(run_dir, options)
    if python is not None:
        tracker.python = python
    tracker.config_name = "+".join(p for p in name.split("+") if p != "codecarbon")
    if "codecarbon" in addons:
        from bench.trackers.codecarbon_addon import CodecarbonAddon

        tracker = CodecarbonAddon(tracker)
        tracker.config_name = name
    return tracker


def configurations() -> list[str]:
    """Every registered adapter plus its ``+sysmetrics`` variant where it has one."""
    out: list[str] = []
    for name in tracker_names():
        out.append(name)
        try:
            if load_tracker(name).sysmetrics_addon:
                out.append(name + "+sysmetrics")
        except PluginError:
            pass
    return out


__all__ = [
    "ADDONS",
    "ENTRY_POINT_GROUP",
    "TELEMETRY_OFF_ENV",
    "PluginError",
    "Tracker",
    "TrackerError",
    "TrackerOptions",
    "configurations",
    "load_tracker",
    "make_tracker",
    "parse_name",
    "tracker_names",
    "unavailable_reason",
]
