"""Tracker registry: built-in adapters plus the ``trackerbench.trackers`` entry-point group.

A configuration name is a registered adapter name followed by optional add-ons and an optional
``@VERSION`` of the adapter's package (run from its own environment, :mod:`bench.versions`):
``mlflow-sqlite+sysmetrics`` (the tracker's own system-metrics sampler on, for adapters that
have it off by default) and ``...+codecarbon`` (an ``OfflineEmissionsTracker`` wrapped around
any configuration), e.g. ``mlflow-server-async+sysmetrics+codecarbon`` or
``mlflow-sqlite@3.16.1``. A configuration that samples system metrics of its own may carry the
period of that sampler before the version: ``wandb-offline:1s``,
``mlflow-sqlite+sysmetrics:2.5s@3.17.2`` (``trackerbench run --sysmetrics-interval default,1``
makes these); without it the tracker runs at its shipped period.
"""

from __future__ import annotations

from pathlib import Path

from bench.plugins import PluginError, Registry
from bench.trackers.base import TELEMETRY_OFF_ENV, Tracker, TrackerError, TrackerOptions
from bench.versions import split_version

ENTRY_POINT_GROUP = "trackerbench.trackers"
ADDONS = ("sysmetrics", "codecarbon")
INTERVAL_SEPARATOR = ":"
MIN_SYSMETRICS_INTERVAL_S = 0.1  # W&B refuses shorter periods (x_stats_sampling_interval)

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


def interval_text(interval_s: float) -> str:
    """``1.0`` -> ``"1s"``, ``2.5`` -> ``"2.5s"``: the suffix form of a sampling period."""
    return f"{interval_s:g}s"


def with_interval(config: str, interval_s: float | None) -> str:
    """``config`` with its own sampler at ``interval_s`` seconds (``None``: unchanged), the
    interval placed before any ``@VERSION``."""
    if interval_s is None:
        return config
    base, version = split_version(config)
    named = f"{base}{INTERVAL_SEPARATOR}{interval_text(interval_s)}"
    return named if version is None else f"{named}@{version}"


def split_interval(name: str) -> tuple[str, float | None]:
    """``"wandb-offline:1s@0.31.0"`` -> ``("wandb-offline@0.31.0", 1.0)``.

    ``KeyError`` for a suffix that is not a period of at least 0.1 s (``1s``, ``2.5s``).
    """
    base, version = split_version(name)
    head, sep, text = base.partition(INTERVAL_SEPARATOR)
    if not sep:
        return name, None
    try:
        value = float(text[:-1]) if text.endswith("s") else float("nan")
    except ValueError:
        value = float("nan")
    if not value >= MIN_SYSMETRICS_INTERVAL_S or value == float("inf"):
        raise KeyError(
            f"bad sampling period {text!r} in {name!r}: write seconds followed by s, at least "
            f"{MIN_SYSMETRICS_INTERVAL_S:g} (e.g. {head}:1s)"
        )
    return (head if version is None else f"{head}@{version}"), value


def has_own_sampler(cls: type[Tracker], addons: tuple[str, ...]) -> bool:
    """Whether the configuration runs a system-metrics or power sampler of its own."""
    return cls.samples_by_default or bool({"sysmetrics", "codecarbon"} & set(addons))


def parse_name(name: str) -> tuple[type[Tracker], tuple[str, ...]]:
    """Split a configuration name into its adapter class and add-ons (checked).

    ``KeyError`` (with the valid choices) for an unknown adapter or add-on, an add-on that
    does not apply to the adapter, or a sampling period on a configuration without a sampler.
    """
    plain, interval = split_interval(name)
    base, *addons = split_version(plain)[0].split("+")
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
    if interval is not None and not has_own_sampler(cls, tuple(addons)):
        raise KeyError(
            f"{name!r}: {base!r} runs no system-metrics sampler of its own here, so it has no "
            "sampling period (add +sysmetrics where the adapter has it, or +codecarbon)"
        )
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
    plain, interval = split_interval(name)
    name = split_version(plain)[0]  # the record carries the version and the period
    options = options or TrackerOptions()
    if interval is not None:
        options = TrackerOptions(interval, options.system_metrics)
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
    "INTERVAL_SEPARATOR",
    "TELEMETRY_OFF_ENV",
    "PluginError",
    "Tracker",
    "TrackerError",
    "TrackerOptions",
    "configurations",
    "has_own_sampler",
    "load_tracker",
    "make_tracker",
    "parse_name",
    "split_interval",
    "tracker_names",
    "unavailable_reason",
    "with_interval",
]
