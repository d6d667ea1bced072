"""The tracker protocol: what every tracker adapter implements.

An adapter runs inside the worker process. ``load()`` imports the tracker library (the worker's
``import`` phase), ``init()`` starts a run (``init`` phase), ``log()`` is called at the logging
frequency during warm-up and the measure window, and ``finish()`` flushes and closes the run
(``finish`` phase). ``environment()`` runs in the *runner* and returns the environment variables
the worker needs (never secrets copied into records).
"""

from __future__ import annotations

import importlib.metadata
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

TELEMETRY_OFF_ENV: dict[str, str] = {
    "MLFLOW_DISABLE_TELEMETRY": "true",
    "DO_NOT_TRACK": "1",
    "WANDB_ERROR_REPORTING": "false",
    "WANDB_DISABLE_CODE": "true",
}
"""Set for every worker, ``none`` included, so no run waits on an unreachable network."""


class TrackerError(Exception):
    """A tracker adapter could not do what was asked."""


class Tracker(ABC):
    """One tracker configuration.

    ``name`` is the registered configuration name; ``distribution`` is the pip distribution
    whose version is recorded (``None`` for the baseline).
    """

    name: ClassVar[str]
    distribution: ClassVar[str | None] = None

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = Path(run_dir).resolve()

    @classmethod
    def unavailable_reason(cls) -> str | None:
        """Why this tracker cannot run here (library not installed), or ``None``."""
        if cls.distribution is None:
            return None
        try:
            importlib.metadata.version(cls.distribution)
        except importlib.metadata.PackageNotFoundError:
            return f"the {cls.distribution!r} package is not installed"
        return None

    def environment(self) -> dict[str, str]:
        """Extra environment variables for the worker (run files under ``run_dir``)."""
        return {}

    def load(self) -> None:  # noqa: B027 - optional hook
        """Import the tracker library."""

    @abstractmethod
    def init(self, run_name: str, config: dict[str, Any]) -> None:
        """Start a tracked run."""

    @abstractmethod
    def log(self, step: int, metrics: dict[str, float]) -> None:
        """Log one step's metrics (Python floats)."""

    @abstractmethod
    def finish(self) -> None:
        """Flush and close the run."""

    def version(self) -> str | None:
        """Version of the tracker library actually importable in this process."""
        if self.distribution is None:
            return None
        try:
            return importlib.metadata.version(self.distribution)
        except importlib.metadata.PackageNotFoundError:
            return None

    def settings(self) -> dict[str, Any]:
        """The settings this configuration ran with (no secrets)."""
        return {}
