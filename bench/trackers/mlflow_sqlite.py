"""``mlflow-sqlite``: MLflow logging synchronously to a sqlite file under the run directory.

Each run gets a fresh database file, so ``init`` includes creating the schema.
"""

from __future__ import annotations

from typing import Any

from bench.trackers.base import Tracker


class MlflowSqliteTracker(Tracker):
    name = "mlflow-sqlite"
    distribution = "mlflow"

    @property
    def tracking_uri(self) -> str:
        return "sqlite:///" + str(self.run_dir / "mlflow.db")

    def environment(self) -> dict[str, str]:
        return {"MLFLOW_TRACKING_URI": self.tracking_uri}

    def load(self) -> None:
        import mlflow

        self._mlflow = mlflow

    def init(self, run_name: str, config: dict[str, Any]) -> None:
        self._mlflow.set_tracking_uri(self.tracking_uri)
        self._mlflow.set_experiment("trackerbench")
        self._mlflow.start_run(run_name=run_name)
        self._mlflow.log_params(config)

    def log(self, step: int, metrics: dict[str, float]) -> None:
        self._mlflow.log_metrics(metrics, step=step)

    def finish(self) -> None:
        self._mlflow.end_run()

    def settings(self) -> dict[str, Any]:
        return {
            "backend": "sqlite",
            "database": "fresh file per run (init includes schema creation)",
            "async_logging": False,
            "system_metrics": False,
        }
