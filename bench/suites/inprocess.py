"""Tracker configurations run inside the pytest process, for the micro suite.

The worker's isolation is not needed to time one ``log`` call, but the worker's environment is:
while a configuration runs, the process environment is the runner's (inherited tracker settings
dropped, telemetry off) plus the tracker's own variables, the current directory is the
configuration's directory, and its service (an MLflow tracking server) runs beside it. All three
are undone by :meth:`InProcessTracker.close`.

What a micro benchmark times is the call as the training loop sees it: an asynchronous tracker
(W&B's service, MLflow's async logging) returns once the data is queued.

One process is not a fresh process per configuration, and some state outlives ``close()``: the
tracker modules stay imported; W&B's wandb-core service, started by the first W&B run, serves
every later W&B run of the process; trackio reads ``TRACKIO_DIR`` once, at import, so every
trackio run of the process writes into the first one's directory (its database grows across
rounds). The macro suite's fresh worker per run has none of this.
"""

from __future__ import annotations

import itertools
import os
from pathlib import Path
from typing import Any

from bench.profiles import HISTOGRAM_BINS, Histogram
from bench.runner import base_environment
from bench.services import Service
from bench.trackers import Tracker, make_tracker

MICRO_CONFIG = {"workload": "micro", "preset": "none", "profile": "micro"}


def scalars(count: int) -> dict[str, float]:
    """``count`` scalars with fixed names and values (Python floats), as a profile sends."""
    return {f"metric_{i:03d}": 0.5 + i / 1000 for i in range(count)}


def histogram(seed: int = 0) -> Histogram:
    """A histogram of 100 000 normal values in the profiles' bin count."""
    import numpy as np

    values = np.random.default_rng(seed).standard_normal(100_000)
    counts, edges = np.histogram(values, bins=HISTOGRAM_BINS)
    return Histogram(
        counts=[float(c) for c in counts],
        edges=[float(e) for e in edges],
        count=int(values.size),
        sum=float(values.sum()),
        sum_squares=float((values**2).sum()),
        min=float(values.min()),
        max=float(values.max()),
    )


class InProcessTracker:
    """One tracker configuration in this process: its environment, service and runs.

    ``open()`` applies the environment and starts the service; :meth:`fresh` makes a new
    adapter with its own run directory (loaded, not yet initialised); ``close()`` stops the
    service and restores the environment.
    """

    def __init__(self, name: str, root: Path) -> None:
        self.name = name
        self.root = Path(root)
        self._dirs = itertools.count()
        self._names = itertools.count()
        self._saved_env: dict[str, str] | None = None
        self._saved_cwd: str | None = None
        self.service: Service | None = None

    def open(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        # The worker runs in its run directory: files a tracker puts under the current
        # directory (MLflow's default artifact root ./mlruns) go there, not into the checkout.
        self._saved_cwd = os.getcwd()
        os.chdir(self.root)
        self._saved_env = dict(os.environ)
        env = base_environment(self._saved_env)
        first = make_tracker(self.name, self.root / "service")
        self.service = first.service()
        if self.service is not None:
            self.service.start(env)
        env.update(first.environment())  # after service(): it names the service's port
        os.environ.clear()
        os.environ.update(env)

    def fresh(self) -> Tracker:
        """A new adapter for this configuration in a run directory of its own, loaded."""
        run_dir = self.root / f"run-{next(self._dirs):03d}"
        run_dir.mkdir(parents=True)
        tracker = make_tracker(self.name, run_dir)
        os.environ.update(tracker.environment())
        tracker.load()
        return tracker

    def run_name(self) -> str:
        return f"micro-{self.name}-{next(self._names):03d}"

    def close(self) -> None:
        try:
            if self.service is not None and self.service.proc is not None:
                self.service.stop()
        finally:
            if self._saved_env is not None:
                os.environ.clear()
                os.environ.update(self._saved_env)
                self._saved_env = None
            if self._saved_cwd is not None:
                os.chdir(self._saved_cwd)
                self._saved_cwd = None


class LiveRun:
    """An initialised run of one configuration, logged to by the call benchmarks.

    ``step()`` gives increasing step numbers across every benchmark of the run (W&B refuses
    steps that go back).
    """

    def __init__(self, host: InProcessTracker) -> None:
        self.host = host
        self.tracker = host.fresh()
        self.tracker.init(host.run_name(), dict(MICRO_CONFIG))
        self._steps = itertools.count()

    def step(self) -> int:
        return next(self._steps)

    def log(self, metrics: dict[str, float]) -> None:
        self.tracker.log(self.step(), metrics)

    def log_histogram(self, hist: Histogram) -> None:
        self.tracker.log_histogram(self.step(), "weights", hist)

    def finish(self) -> None:
        self.tracker.finish()

    def info(self) -> dict[str, Any]:
        return {"tracker": self.tracker.config_name, "tracker_version": self.tracker.version()}
