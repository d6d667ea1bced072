"""Tracker registry: built-in adapters plus the ``trackerbench.trackers`` entry-point group."""

from __future__ import annotations

from bench.plugins import PluginError, Registry
from bench.trackers.base import TELEMETRY_OFF_ENV, Tracker, TrackerError

ENTRY_POINT_GROUP = "trackerbench.trackers"

_REGISTRY: Registry[Tracker] = Registry(
    "tracker",
    ENTRY_POINT_GROUP,
    {
        "none": "bench.trackers.none:NoneTracker",
        "wandb-offline": "bench.trackers.wandb_offline:WandbOfflineTracker",
        "mlflow-sqlite": "bench.trackers.mlflow_sqlite:MlflowSqliteTracker",
    },
    Tracker,
    order=lambda name: (name != "none", name),
)


def tracker_names() -> list[str]:
    """Every registered tracker configuration name, sorted (``none`` first)."""
    return _REGISTRY.names()


def load_tracker(name: str) -> type[Tracker]:
    """Return the adapter class registered as ``name`` (does not import the tracker library).

    ``KeyError`` for an unknown name, :class:`PluginError` for a broken adapter.
    """
    return _REGISTRY.load(name)


__all__ = [
    "ENTRY_POINT_GROUP",
    "TELEMETRY_OFF_ENV",
    "PluginError",
    "Tracker",
    "TrackerError",
    "load_tracker",
    "tracker_names",
]
