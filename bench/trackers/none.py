"""``none``: the baseline. Same training loop and metric materialisation, no tracker."""

from __future__ import annotations

from typing import Any

from bench.trackers.base import Tracker


class NoneTracker(Tracker):
    name = "none"

    def init(self, run_name: str, config: dict[str, Any]) -> None:
        pass

    def log(self, step: int, metrics: dict[str, float]) -> None:
        pass

    def finish(self) -> None:
        pass
