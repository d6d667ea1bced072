"""The tracker protocol: what every tracker adapter implements.

An adapter runs inside the worker process. ``load()`` imports the tracker library (timed on its
own inside the worker's ``import`` phase), ``init()`` starts a run (``init`` phase), ``log()``,
``log_histogram()`` and ``log_artifact()`` are called as the logging profile says during warm-up
and the measure window (the worker times each call in the measure window), and ``finish()``
flushes and closes the run (``finish`` phase). ``handle()`` then returns what identifies the
stored run.

In the *runner* process: ``environment()`` gives the worker's extra environment variables
(never secrets copied into records) and ``service()`` a process to run beside the worker (an
MLflow tracking server). After the worker has exited, a separate process calls ``read_back()``
to count what the tracker actually stored (the recorded-data check).
"""

from __future__ import annotations

import importlib.metadata
import sys
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

if TYPE_CHECKING:
    from bench.profiles import Histogram
    from bench.services import Service

TELEMETRY_OFF_ENV: dict[str, str] = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "1",
    "WANDB_ERROR_REPORTING": "false",
    "WANDB_DISABLE_CODE": "true",
    "WANDB_SILENT": "true",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "GRADIO_ANALYTICS_ENABLED": "False",
}
"""Set for every worker, ``none`` included, so no run waits on an unreachable network
(trackio's own dependencies, ``huggingface_hub`` and Gradio, read the last two)."""


class TrackerError(Exception):
    """A tracker adapter could not do what was asked."""


@dataclass(frozen=True)
class TrackerOptions:
    """Settings shared by every configuration of a matrix.

    ``sysmetrics_interval_s``: the period (seconds) of a tracker's own system-metrics sampler;
    ``None`` keeps each tracker's shipped default. ``system_metrics``: the ``+sysmetrics``
    add-on switches a tracker's sampler on where it is off by default.
    """

    sysmetrics_interval_s: float | None = None
    system_metrics: bool = False


class Tracker(ABC):
    """One tracker configuration.

    ``name`` is the registered configuration name; ``distribution`` is the pip distribution
    whose version is recorded (``None`` for the baseline). ``stores_data`` is false where
    nothing is stored by design (``none``, ``wandb-disabled``): no recorded-data check then.
    ``supports_histograms`` / ``supports_artifacts``: whether the tracker has a way to store
    them (calls are not made otherwise, and the record says so). ``sysmetrics_addon``: a
    ``+sysmetrics`` variant exists. ``samples_by_default``: its system-metrics sampler runs as
    shipped (W&B, trackio). ``shipped_sysmetrics_interval_s``: the tracker's own default
    sampling period where its sampler runs.
    """

    name: ClassVar[str]
    distribution: ClassVar[str | None] = None
    stores_data: ClassVar[bool] = True
    supports_histograms: ClassVar[bool] = True
    supports_artifacts: ClassVar[bool] = True
    sysmetrics_addon: ClassVar[bool] = False
    samples_by_default: ClassVar[bool] = False
    shipped_sysmetrics_interval_s: ClassVar[float | None] = None

    def __init__(self, run_dir: Path, options: TrackerOptions | None = None) -> None:
        self.run_dir = Path(run_dir).resolve()
        self.options = options or TrackerOptions()
        self.config_name = self.name  # the full configuration name, add-ons included
        # The interpreter of the run's environment (a version's overlay, ``bench.versions``):
        # services the adapter starts must import the same release as the worker.
        self.python = sys.executable

    @classmethod
    def unavailable_reason(cls, package_here: bool = True) -> str | None:
        """Why this tracker cannot run here (library not installed, no credentials), or None.

        ``package_here=False``: the package comes from a version's own environment
        (``NAME@VERSION``, :mod:`bench.versions`), so this environment need not have it.
        """
        if cls.distribution is None or not package_here:
            return None
        try:
            importlib.metadata.version(cls.distribution)
        except importlib.metadata.PackageNotFoundError:
            return (
                f"the {cls.distribution!r} package is not installed "
                f"(pip install {cls.distribution})"
            )
        return None

    # ---------------------------------------------------------------- runner side

    def environment(self) -> dict[str, str]:
        """Extra environment variables for the worker (run files under ``run_dir``)."""
        return {}

    def service(self) -> Service | None:
        """A process the runner starts before the worker and stops after the run, or None."""
        return None

    # ---------------------------------------------------------------- worker side

    def load(self) -> None:  # noqa: B027 - optional hook
        """Import the tracker library."""

    @abstractmethod
    def init(self, run_name: str, config: dict[str, Any]) -> None:
        """Start a tracked run."""

    @abstractmethod
    def log(self, step: int, metrics: dict[str, float]) -> None:
        """Log one step's scalars (Python floats)."""

    def log_histogram(self, step: int, name: str, hist: Histogram) -> None:
        """Log a histogram of values (bin counts and edges, with exact moments)."""
        raise TrackerError(f"{self.name} cannot store histograms")

    def log_artifact(self, step: int, path: Path) -> None:
        """Log the file at ``path`` (a model checkpoint) as an artifact."""
        raise TrackerError(f"{self.name} cannot store artifacts")

    @abstractmethod
    def finish(self) -> None:
        """Flush and close the run."""

    def handle(self) -> dict[str, Any]:
        """JSON-able identifiers of the stored run, for :meth:`read_back` (after finish)."""
        return {}

    # ---------------------------------------------------------------- verify side

    def read_back(self, handle: dict[str, Any]) -> dict[str, Any]:
        """Count what the tracker stored, in a fresh process after the worker has exited.

        Returns ``{"metrics": {key: count}, "histograms": n, "artifacts": n, "method": text}``
        (a kind the tracker does not store is ``None``); may add ``system_metrics_samples``.
        """
        raise NotImplementedError

    # ---------------------------------------------------------------- facts

    def version(self) -> str | None:
        """Version of the tracker library actually importable in this process."""
        if self.distribution is None:
            return None
        try:
            return importlib.metadata.version(self.distribution)
        except importlib.metadata.PackageNotFoundError:
            return None

    def location(self) -> str | None:
        """Directory the tracker's package is imported from in this process (its
        ``site-packages``: a version's overlay or the shared environment)."""
        if self.distribution is None:
            return None
        try:
            return str(importlib.metadata.distribution(self.distribution).locate_file(""))
        except importlib.metadata.PackageNotFoundError:
            return None

    def settings(self) -> dict[str, Any]:
        """The settings this configuration ran with (no secrets)."""
        return {}

    def sysmetrics_settings(self, enabled: bool) -> dict[str, Any]:
        """The ``system_metrics`` block of :meth:`settings`: on or off, and at what period."""
        if not enabled:
            return {"enabled": False}
        chosen = self.options.sysmetrics_interval_s
        return {
            "enabled": True,
            "interval_s": chosen if chosen is not None else self.shipped_sysmetrics_interval_s,
            "interval_source": "--sysmetrics-interval" if chosen is not None else "shipped default",
        }

    @property
    def sysmetrics_interval_s(self) -> float | None:
        """The period to apply, or ``None`` to leave the tracker's shipped default alone."""
        return self.options.sysmetrics_interval_s
