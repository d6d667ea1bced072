"""``tensorboard``: ``torch.utils.tensorboard.SummaryWriter`` writing event files.

Scalars are written one ``add_scalar`` call per key (how training scripts use it), histograms
with ``add_histogram_raw`` from the worker's exact bin counts and moments. TensorBoard has no
artifact store, so checkpoints are not logged (the record says so). Read-back loads the event
files with TensorBoard's ``EventAccumulator`` (nothing sampled away: size guidance 0).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bench.profiles import Histogram

from bench.trackers.base import Tracker


class TensorboardTracker(Tracker):
    name = "tensorboard"
    distribution = "tensorboard"
    supports_artifacts = False

    @property
    def log_dir(self) -> Path:
        return self.run_dir / "tensorboard"

    def load(self) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self._writer_cls = SummaryWriter

    def init(self, run_name: str, config: dict[str, Any]) -> None:
        self._writer = self._writer_cls(log_dir=str(self.log_dir))
        self._writer.add_text("config", repr(config), 0)

    def log(self, step: int, metrics: dict[str, float]) -> None:
        for key, value in metrics.items():
            self._writer.add_scalar(key, value, step)

    def log_histogram(self, step: int, name: str, hist: Histogram) -> None:
        self._writer.add_histogram_raw(
            name,
            min=hist.min,
            max=hist.max,
            num=hist.count,
            sum=hist.sum,
            sum_squares=hist.sum_squares,
            bucket_limits=hist.edges[1:],
            bucket_counts=hist.counts,
            global_step=step,
        )

    def finish(self) -> None:
        self._writer.close()

    def read_back(self, handle: dict[str, Any]) -> dict[str, Any]:
        from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

        acc = EventAccumulator(str(self.log_dir), size_guidance={"scalars": 0, "histograms": 0})
        acc.Reload()
        tags = acc.Tags()
        return {
            "metrics": {tag: len(acc.Scalars(tag)) for tag in tags.get("scalars", [])},
            "histograms": sum(len(acc.Histograms(tag)) for tag in tags.get("histograms", [])),
            "artifacts": None,
            "method": "TensorBoard EventAccumulator over the event files (no sampling)",
        }

    def settings(self) -> dict[str, Any]:
        return {
            "writer": "torch.utils.tensorboard.SummaryWriter (default flush_secs=120, queue 10)",
            "scalars": "one add_scalar call per key",
            "artifacts": "not supported by TensorBoard; checkpoints not logged",
            "system_metrics": {"enabled": False},
        }
