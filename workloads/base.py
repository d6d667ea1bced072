"""The workload protocol: build a model and data on a device, run one training step."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class Preset:
    """A size preset: default step counts and the model/data shape parameters."""

    steps: int
    warmup_steps: int
    params: dict[str, Any]
    note: str = ""


class Workload(ABC):
    """One training workload. ``step()`` returns metric *tensors*, not numbers.

    The worker materialises them (``.item()``) only at the logging frequency, identically for
    every tracker configuration (``none`` included), so the tracker's cost is the only
    difference between configurations.
    """

    name: ClassVar[str]
    presets: ClassVar[dict[str, Preset]]

    @abstractmethod
    def build(self, preset: str, device: torch.device, seed: int) -> None:
        """Create the model, optimiser and all synthetic data on ``device`` (seeded)."""

    @abstractmethod
    def step(self, index: int) -> dict[str, torch.Tensor]:
        """Run one training step; return its metrics as (unsynchronised) tensors."""

    @abstractmethod
    def config(self) -> dict[str, Any]:
        """The resolved shape of the workload (parameter count, batch size, ...)."""


def materialise(metrics: dict[str, torch.Tensor]) -> dict[str, float]:
    """Turn metric tensors into Python floats (this synchronises with the device)."""
    return {key: float(value.item()) for key, value in metrics.items()}
