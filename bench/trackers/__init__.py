"""Tracker registry: built-in adapters plus the ``trackerbench.trackers`` entry-point group."""

from __future__ import annotations

import importlib
import importlib.metadata

from bench.trackers.base import TELEMETRY_OFF_ENV, Tracker, TrackerError

ENTRY_POINT_GROUP = "trackerbench.trackers"

_BUILTIN: dict[str, str] = {
    "none": "bench.trackers.none:NoneTracker",
    "wandb-offline": "bench.trackers.wandb_offline:WandbOfflineTracker",
    "mlflow-sqlite": "bench.trackers.mlflow_sqlite:MlflowSqliteTracker",
}


def _registry() -> dict[str, str]:
    found = dict(_BUILTIN)
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(ep.name, ep.value)
    return found


def tracker_names() -> list[str]:
    """Every registered tracker configuration name, sorted (``none`` first)."""
    return sorted(_registry(), key=lambda n: (n != "none", n))


def load_tracker(name: str) -> type[Tracker]:
    """Return the adapter class registered as ``name`` (does not import the tracker library)."""
    registry = _registry()
    if name not in registry:
        raise KeyError(f"unknown tracker {name!r}; valid: {', '.join(tracker_names())}")
    module, _, attr = registry[name].partition(":")
    cls = getattr(importlib.import_module(module), attr)
    if not (isinstance(cls, type) and issubclass(cls, Tracker)):
        raise TrackerError(f"{registry[name]} (tracker {name!r}) is not a Tracker subclass")
    return cls


__all__ = [
    "ENTRY_POINT_GROUP",
    "TELEMETRY_OFF_ENV",
    "Tracker",
    "TrackerError",
    "load_tracker",
    "tracker_names",
]
