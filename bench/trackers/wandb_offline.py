"""``wandb-offline``: Weights & Biases in offline mode, system stats on as shipped.

Offline mode still starts the ``wandb-core`` service process, writes the run files (under this
run's directory) and samples system statistics; only the upload is skipped.
"""

from __future__ import annotations

from typing import Any

from bench.trackers.base import Tracker


class WandbOfflineTracker(Tracker):
    name = "wandb-offline"
    distribution = "wandb"

    def environment(self) -> dict[str, str]:
        d = str(self.run_dir / "wandb")
        return {
            "WANDB_MODE": "offline",
            "WANDB_DIR": d,
            "WANDB_CONFIG_DIR": d + "/config",
            "WANDB_CACHE_DIR": d + "/cache",
            "WANDB_DATA_DIR": d + "/data",
        }

    def load(self) -> None:
        import wandb

        self._wandb = wandb

    def init(self, run_name: str, config: dict[str, Any]) -> None:
        (self.run_dir / "wandb").mkdir(parents=True, exist_ok=True)
        self._run = self._wandb.init(
            project="trackerbench",
            name=run_name,
            config=config,
            mode="offline",
            dir=str(self.run_dir / "wandb"),
        )

    def log(self, step: int, metrics: dict[str, float]) -> None:
        self._run.log(metrics, step=step)

    def finish(self) -> None:
        self._run.finish()

    def settings(self) -> dict[str, Any]:
        return {"mode": "offline", "system_stats": "on (shipped default)"}
