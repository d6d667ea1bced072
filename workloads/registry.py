"""Registered workloads by name: the built-ins plus the ``trackerbench.workloads`` entry points.

Importing this module does not import torch.
"""

from __future__ import annotations

import importlib
import importlib.metadata

from workloads.base import Workload

ENTRY_POINT_GROUP = "trackerbench.workloads"

_BUILTIN: dict[str, str] = {
    "gpt": "workloads.gpt:GptWorkload",
    "mlp": "workloads.mlp:MlpWorkload",
    "resnet": "workloads.resnet:ResnetWorkload",
}


def _registry() -> dict[str, str]:
    found = dict(_BUILTIN)
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(ep.name, ep.value)
    return found


def workload_names() -> list[str]:
    """Names of every registered workload, sorted."""
    return sorted(_registry())


def load_workload(name: str) -> type[Workload]:
    """Import and return the workload class called ``name`` (imports torch)."""
    registry = _registry()
    if name not in registry:
        raise KeyError(f"unknown workload {name!r}; valid: {', '.join(workload_names())}")
    module, _, attr = registry[name].partition(":")
    cls = getattr(importlib.import_module(module), attr)
    if not (isinstance(cls, type) and issubclass(cls, Workload)):
        raise TypeError(f"{registry[name]} (workload {name!r}) is not a Workload subclass")
    return cls
