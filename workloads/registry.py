"""Registered workloads by name. Importing this module does not import torch."""

from __future__ import annotations

import importlib

from workloads.base import Workload

_WORKLOADS: dict[str, str] = {
    "mlp": "workloads.mlp:MlpWorkload",
}


def workload_names() -> list[str]:
    """Names of every registered workload, sorted."""
    return sorted(_WORKLOADS)


def load_workload(name: str) -> type[Workload]:
    """Import and return the workload class called ``name`` (imports torch)."""
    if name not in _WORKLOADS:
        raise KeyError(f"unknown workload {name!r}; valid: {', '.join(workload_names())}")
    module, _, attr = _WORKLOADS[name].partition(":")
    return getattr(importlib.import_module(module), attr)
