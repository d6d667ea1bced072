"""``none``: the baseline. Same training loop, metrics, histograms and checkpoints, no tracker."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bench.profiles import Histogram

from bench.trackers.base import Tracker


class NoneTracker(Tracker):
    name = "none"
    stores_data = False

    def init(self, run_name: str, config: dict[str, Any]) -> None:
        pass

    def log(self, step: int, metrics: dict[str, float]) -> None:
        pass

    def log_histogram(self, step: int, name: str, hist: Histogram) -> None:
        pass

    def log_artifact(self, step: int, path: Path) -> None:
        pass

    def finish(self) -> None:
        pass
