"""Test-only tracker adapters (and one workload), registered through the real entry-point group.

They are found only when ``tests/plugins`` is on ``sys.path`` / ``PYTHONPATH`` (the runner
tests put it there); the CLI never sees them otherwise.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.services import Service, free_port
from bench.trackers.none import NoneTracker
from workloads.mlp import MlpWorkload


class _Quiet(NoneTracker):
    """A do-nothing adapter (the baseline's behaviour) that tests override one call of."""


class HangTracker(_Quiet):
    """Starts a child in a session of its own (like wandb-core), then hangs in ``init``."""

    name = "test-hang"

    def init(self, run_name: str, config: dict[str, Any]) -> None:
        child = subprocess.Popen(["sleep", "1000"], start_new_session=True)
        (self.run_dir / "child.pid").write_text(str(child.pid))
        time.sleep(1000)


class SigkillOnceTracker(_Quiet):
    """Kills its own worker with SIGKILL in ``log`` unless a marker file says it did already."""

    name = "test-sigkill-once"

    def log(self, step: int, metrics: dict[str, float]) -> None:
        marker = os.environ["TB_TEST_MARKER"]
        if not os.path.exists(marker):
            with open(marker, "w") as fh:
                fh.write("killed once")
            os.kill(os.getpid(), signal.SIGKILL)


class OrphanTracker(_Quiet):
    """Starts a detached child that burns CPU for 1.5 s after ``finish`` (outlives the worker)."""

    name = "test-orphan"

    def finish(self) -> None:
        code = (
            "import time\n"
            "time.sleep(0.5)\n"
            "t = time.process_time()\n"
            "while time.process_time() - t < 1.5: pass\n"
        )
        subprocess.Popen([sys.executable, "-c", code], start_new_session=True)


class DroppingTracker(_Quiet):
    """Stores each log call as a JSON line but silently drops every 10th call."""

    name = "test-dropping"
    stores_data = True

    def init(self, run_name: str, config: dict[str, Any]) -> None:
        self._calls = 0
        self._fh = open(self.run_dir / "store.jsonl", "w")  # noqa: SIM115

    def log(self, step: int, metrics: dict[str, float]) -> None:
        self._calls += 1
        if self._calls % 10:
            self._fh.write(json.dumps(metrics) + "\n")

    def finish(self) -> None:
        self._fh.close()

    def read_back(self, handle: dict[str, Any]) -> dict[str, Any]:
        counts: dict[str, int] = {}
        for line in (self.run_dir / "store.jsonl").read_text().splitlines():
            for key in json.loads(line):
                counts[key] = counts.get(key, 0) + 1
        return {"metrics": counts, "histograms": None, "artifacts": None, "method": "jsonl"}


class UnhealthyServiceTracker(_Quiet):
    """Needs a service that prints a line, then never answers its health URL."""

    name = "test-unhealthy-service"

    def service(self) -> Service:
        code = "import time\nprint('test service booting', flush=True)\ntime.sleep(600)\n"
        (self.run_dir / "server").mkdir(exist_ok=True)
        return Service(
            name="test service",
            argv=[sys.executable, "-c", code],
            health_url=f"http://127.0.0.1:{free_port()}/health",
            cwd=Path(self.run_dir),
            log_path=self.run_dir / "service.log",
        )


class OomWorkload(MlpWorkload):
    """``mlp`` whose model does not fit: building it raises torch's out-of-memory error.

    The error is the one CUDA raises (``torch.OutOfMemoryError``), so the test runs on a CPU.
    """

    name = "test-oom"
    presets = {"full": MlpWorkload.presets["tiny"], "tiny": MlpWorkload.presets["tiny"]}

    def make_model(self, params: dict[str, Any]) -> Any:
        import torch

        raise torch.OutOfMemoryError(
            "CUDA out of memory. Tried to allocate 96.00 GiB. GPU 0 has a total capacity of "
            "79.19 GiB of which 12.00 MiB is free."
        )


class MissingTracker(_Quiet):
    """An adapter whose tracker package is not installed: unusable here, with the reason."""

    name = "test-missing"
    distribution = "tb-not-installed"


class SlowlogTracker(_Quiet):
    """Logs through ``tb_slowlog``, a package the tests build as local wheels in several
    versions whose ``log`` costs a known time (``tests/test_versions.py``)."""

    name = "test-slowlog"
    distribution = "tb-slowlog"

    def load(self) -> None:
        import tb_slowlog

        self._lib = tb_slowlog

    def log(self, step: int, metrics: dict[str, float]) -> None:
        self._lib.log(metrics)
