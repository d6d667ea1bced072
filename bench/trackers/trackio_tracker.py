"""``trackio``: Hugging Face's local-first tracker (a sqlite database per project).

As shipped, ``trackio.init`` starts its CPU (and, where a GPU is present, GPU) system-metrics
loggers every 10 s; ``--sysmetrics-interval`` sets both periods. Data goes to ``TRACKIO_DIR``
under the run directory; nothing is uploaded (no Space or server is given). Read-back uses
trackio's own storage reader (``SQLiteStorage``).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bench.profiles import Histogram

from bench.trackers.base import Tracker

PROJECT = "trackerbench"
TRACKIO_INTERNAL_KEYS = frozenset({"step", "timestamp"})


class TrackioTracker(Tracker):
    name = "trackio"
    distribution = "trackio"
    samples_by_default = True
    shipped_sysmetrics_interval_s = 10.0

    def environment(self) -> dict[str, str]:
        return {"TRACKIO_DIR": str(self.run_dir / "trackio")}

    def load(self) -> None:
        import trackio

        self._trackio = trackio

    def init(self, run_name: str, config: dict[str, Any]) -> None:
        kwargs: dict[str, Any] = {}
        if self.sysmetrics_interval_s is not None:
            kwargs = {
                "gpu_log_interval": self.sysmetrics_interval_s,
                "cpu_log_interval": self.sysmetrics_interval_s,
            }
        self._run_name = run_name
        self._trackio.init(project=PROJECT, name=run_name, config=config, embed=False, **kwargs)

    def log(self, step: int, metrics: dict[str, float]) -> None:
        self._trackio.log(metrics, step=step)

    def log_histogram(self, step: int, name: str, hist: Histogram) -> None:
        self._trackio.log(
            {name: self._trackio.Histogram(np_histogram=(hist.counts, hist.edges))}, step=step
        )

    def log_artifact(self, step: int, path: Path) -> None:
        self._trackio.log_artifact(str(path), name="checkpoint", type="model")

    def finish(self) -> None:
        self._trackio.finish()

    def handle(self) -> dict[str, Any]:
        return {"project": PROJECT, "run": self._run_name}

    def read_back(self, handle: dict[str, Any]) -> dict[str, Any]:
        from trackio.sqlite_storage import SQLiteStorage

        metrics: dict[str, int] = {}
        histograms = 0
        for row in SQLiteStorage.get_logs(handle["project"], handle["run"]):
            for key, value in row.items():
                if key in TRACKIO_INTERNAL_KEYS:
                    continue
                if isinstance(value, dict) and "histogram" in str(value.get("_type")):
                    histograms += 1
                else:
                    metrics[key] = metrics.get(key, 0) + 1
        artifacts = sum(len(a["versions"]) for a in SQLiteStorage.list_artifacts(handle["project"]))
        system = SQLiteStorage.get_system_logs(handle["project"], handle["run"])
        return {
            "metrics": metrics,
            "histograms": histograms,
            "artifacts": artifacts,
            "system_metrics_samples": len(system),
            "method": "trackio SQLiteStorage: logs, artifact versions, system logs",
        }

    def settings(self) -> dict[str, Any]:
        return {
            "storage": "local sqlite under TRACKIO_DIR (no Space, no server)",
            "system_metrics": self.sysmetrics_settings(True),
        }
