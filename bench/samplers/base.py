"""The sampler protocol shared by every energy / resource sampler.

A sampler is opened once inside the sampler process (never inside the training worker), then
``read()`` is called at a fixed interval. Each reading is a flat mapping of *channel* names to
numbers; channel names carry their unit (``gpu0.power_w``, ``gpu0.energy_j``,
``rapl.package-0.energy_j``, ``proc.cpu_s``). Channels ending in ``energy_j`` are cumulative
since ``open()`` (already corrected for counter wrap-around); everything else is an instant
value. ``energy_sources()`` says which channel the energy of each domain comes from and how.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from typing import Any, ClassVar, Literal


class SamplerError(Exception):
    """Base class of every error a sampler raises."""


class SamplerUnavailable(SamplerError):
    """The sampler cannot work on this host; ``reason`` says why in words for the user."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class EnergySource:
    """Where the energy of one domain (a GPU, a CPU package) comes from.

    ``kind`` is ``"cumulative_j"`` when ``channel`` is a cumulative energy counter in joules,
    or ``"power_w"`` when ``channel`` is an instant power in watts that must be integrated over
    time. ``method`` is the label written into records (e.g. ``"nvml-energy-counter"``).
    """

    domain: str
    channel: str
    kind: Literal["cumulative_j", "power_w"]
    method: str

    def to_dict(self) -> dict[str, str]:
        return asdict(self)


class Sampler(ABC):
    """One source of measurements, polled by the sampler process."""

    name: ClassVar[str]

    @abstractmethod
    def open(self) -> None:
        """Prepare to read. Raises :class:`SamplerUnavailable` with a reason if it cannot."""

    @abstractmethod
    def read(self) -> dict[str, float]:
        """Take one reading: channel name -> value (units in the channel names)."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release resources. Safe to call more than once."""

    def describe(self) -> dict[str, Any]:
        """Static facts about what is being sampled (devices, which readings are used)."""
        return {}

    def energy_sources(self) -> list[EnergySource]:
        """The energy domains this sampler measures (empty for non-energy samplers)."""
        return []
