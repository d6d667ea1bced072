"""Test-only tracker adapters (and one workload), registered through the real entry-point group.

They are found only when ``tests/plugins`` is on ``sys.path`` / ``PYTHONPATH`` (the runner
tests put it there); the CLI never sees them otherwise.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from typing import Any

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
