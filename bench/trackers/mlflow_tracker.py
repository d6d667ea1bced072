"""MLflow configurations, in the deployment modes teams run.

- ``mlflow-sqlite``: synchronous logging to a sqlite file under the run directory (a fresh
  database per run, so ``init`` includes creating the schema).
- ``mlflow-sqlite-async``: the same with ``mlflow.config.enable_async_logging()``: calls queue,
  a background thread writes, ``end_run`` waits for the queue to drain.
- ``mlflow-server`` / ``mlflow-server-async``: a real ``mlflow server`` the runner starts on
  127.0.0.1 on a free port (sqlite backend, artifacts served from a local directory), logging
  over HTTP. The server's CPU and memory are recorded as the service's cost.
- ``mlflow-file``: the legacy file store (``MLFLOW_ALLOW_FILE_STORE=true``).
- ``+sysmetrics`` on any of them: ``log_system_metrics=True`` (MLflow samples every 10 s as
  shipped, or at ``--sysmetrics-interval``).

MLflow has no histogram type: a histogram is logged as a JSON artifact
(``histograms/NAME/step_000050.json``, via ``mlflow.log_dict``), as teams do. Checkpoints go to
``checkpoints/`` via ``mlflow.log_artifact``. Read-back uses ``MlflowClient`` against the same
tracking URI: the metric history of every key the run holds, and the artifact listings.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from bench.services import Service, free_port

if TYPE_CHECKING:
    from bench.profiles import Histogram

from bench.trackers.base import Tracker

SYSTEM_PREFIX = "system/"
_GPU_POWER = re.compile(r"gpu_(\d+)_power_usage_watts")


class _Mlflow(Tracker):
    distribution = "mlflow"
    backend: ClassVar[str] = "sqlite"
    async_logging: ClassVar[bool] = False
    sysmetrics_addon = True
    shipped_sysmetrics_interval_s = 10.0

    def __init__(self, run_dir: Path, options: Any = None) -> None:
        super().__init__(run_dir, options)
        self._port: int | None = None

    @property
    def tracking_uri(self) -> str:
        if self.backend == "sqlite":
            return "sqlite:///" + str(self.run_dir / "mlflow.db")
        if self.backend == "file":
            return (self.run_dir / "mlruns").as_uri()
        if self._port is not None:  # the runner, after service() chose the port
            return f"http://127.0.0.1:{self._port}"
        if "MLFLOW_TRACKING_URI" in os.environ:  # the worker, given the URL by the runner
            return os.environ["MLFLOW_TRACKING_URI"]
        raise RuntimeError("the server's port is chosen by service() before environment()")

    def environment(self) -> dict[str, str]:
        env = {"MLFLOW_TRACKING_URI": self.tracking_uri}
        if self.backend == "file":
            env["MLFLOW_ALLOW_FILE_STORE"] = "true"
        return env

    def load(self) -> None:
        import mlflow

        self._mlflow = mlflow

    def init(self, run_name: str, config: dict[str, Any]) -> None:
        mlflow = self._mlflow
        mlflow.set_tracking_uri(self.tracking_uri)
        # Set either way: the setting is process-wide, and the micro suite runs several
        # configurations in one process.
        mlflow.config.enable_async_logging(self.async_logging)
        if self.options.system_metrics and self.sysmetrics_interval_s is not None:
            mlflow.set_system_metrics_sampling_interval(self.sysmetrics_interval_s)
        mlflow.set_experiment("trackerbench")
        self._run = mlflow.start_run(
            run_name=run_name, log_system_metrics=self.options.system_metrics
        )
        mlflow.log_params(config)

    def log(self, step: int, metrics: dict[str, float]) -> None:
        self._mlflow.log_metrics(metrics, step=step)

    def log_histogram(self, step: int, name: str, hist: Histogram) -> None:
        self._mlflow.log_dict(
            {"step": step, **hist.to_dict()}, f"histograms/{name}/step_{step:06d}.json"
        )

    def log_artifact(self, step: int, path: Path) -> None:
        self._mlflow.log_artifact(str(path), artifact_path="checkpoints")

    def finish(self) -> None:
        self._mlflow.end_run()

    def handle(self) -> dict[str, Any]:
        return {"run_id": self._run.info.run_id, "tracking_uri": self.tracking_uri}

    def read_back(self, handle: dict[str, Any]) -> dict[str, Any]:
        from mlflow import MlflowClient

        client = MlflowClient(handle["tracking_uri"])
        run_id = handle["run_id"]
        keys = client.get_run(run_id).data.metrics
        metrics: dict[str, int] = {}
        system_samples = 0 if self.options.system_metrics else None
        power: dict[str, dict[str, list[float]]] = {}
        for key in keys:
            history = client.get_metric_history(run_id, key)
            count = len(history)
            if key.startswith(SYSTEM_PREFIX):
                system_samples = max(system_samples or 0, count)
                match = _GPU_POWER.fullmatch(key[len(SYSTEM_PREFIX) :])
                if match:
                    ordered = sorted(history, key=lambda m: m.timestamp)
                    power[match.group(1)] = {
                        "t_unix_s": [m.timestamp / 1000 for m in ordered],
                        "values": [float(m.value) for m in ordered],
                    }
            else:
                metrics[key] = count
        reported = []
        if self.options.system_metrics:
            reported.append(
                {
                    "tool": "mlflow",
                    "quantity": "system/gpu_N_power_usage_watts",
                    "domain": "gpu",
                    "kind": "power_w",
                    "method": "measured",
                    "how": "NVML power reading per GPU (nvmlDeviceGetPowerUsage), taken at the "
                    "start of each sampling interval and stamped when logged at its end",
                    "devices": power,
                }
            )
        histograms = sum(
            len(client.list_artifacts(run_id, d.path))
            for d in client.list_artifacts(run_id, "histograms")
            if d.is_dir
        )
        return {
            "metrics": metrics,
            "histograms": histograms,
            "artifacts": len(client.list_artifacts(run_id, "checkpoints")),
            "system_metrics_samples": system_samples,
            "reported_energy": reported,
            "method": "MlflowClient: metric history per key, artifact listings",
        }

    def settings(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "async_logging": self.async_logging,
            "system_metrics": self.sysmetrics_settings(self.options.system_metrics),
            "histograms": "JSON artifact per histogram (mlflow.log_dict)",
            **(
                {"database": "fresh file per run (init includes schema creation)"}
                if self.backend == "sqlite"
                else {}
            ),
        }


class MlflowSqlite(_Mlflow):
    name = "mlflow-sqlite"


class MlflowSqliteAsync(_Mlflow):
    name = "mlflow-sqlite-async"
    async_logging = True


class MlflowFile(_Mlflow):
    name = "mlflow-file"
    backend = "file"


class MlflowServer(_Mlflow):
    """Logs over HTTP to an ``mlflow server`` the runner starts for this run."""

    name = "mlflow-server"
    backend = "server"

    def service(self) -> Service:
        self._port = free_port()
        store = self.run_dir / "server"
        store.mkdir(parents=True, exist_ok=True)
        return Service(
            name="mlflow server",
            argv=[
                self.python,
                "-m",
                "mlflow",
                "server",
                "--host",
                "127.0.0.1",
                "--port",
                str(self._port),
                "--backend-store-uri",
                "sqlite:///" + str(store / "mlflow.db"),
                "--artifacts-destination",
                str(store / "artifacts"),
            ],
            health_url=f"http://127.0.0.1:{self._port}/health",
            cwd=store,
            log_path=self.run_dir / "service.log",
        )

    def settings(self) -> dict[str, Any]:
        return {
            **super().settings(),
            "server": "mlflow server on 127.0.0.1 (sqlite backend, local artifacts, "
            "default workers), started by the runner for this run",
        }


class MlflowServerAsync(MlflowServer):
    name = "mlflow-server-async"
    async_logging = True
