"""Registered workloads by name: the built-ins plus the ``trackerbench.workloads`` entry points.

Importing this module does not import torch.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from bench.plugins import Registry
from workloads.base import Preset, Workload

ENTRY_POINT_GROUP = "trackerbench.workloads"

_REGISTRY: Registry[Workload] = Registry(
    "workload",
    ENTRY_POINT_GROUP,
    {
        "gpt": "workloads.gpt:GptWorkload",
        "mlp": "workloads.mlp:MlpWorkload",
        "resnet": "workloads.resnet:ResnetWorkload",
    },
    Workload,
)


def workload_names() -> list[str]:
    """Names of every registered workload, sorted."""
    return _REGISTRY.names()


def load_workload(name: str) -> type[Workload]:
    """Import and return the workload class called ``name`` (imports torch).

    ``KeyError`` for an unknown name, :class:`bench.plugins.PluginError` for a broken plugin.
    """
    return _REGISTRY.load(name)


def choose_presets(
    classes: Mapping[str, type[Workload]], presets: Iterable[str]
) -> dict[tuple[str, str], Preset]:
    """The preset of every (workload, preset name); ``KeyError`` naming the valid presets."""
    chosen: dict[tuple[str, str], Preset] = {}
    for w, cls in classes.items():
        for p in presets:
            if p not in cls.presets:
                raise KeyError(
                    f"unknown preset {p!r} for workload {w!r}; valid: {', '.join(cls.presets)}"
                )
            chosen[(w, p)] = cls.presets[p]
    return chosen
