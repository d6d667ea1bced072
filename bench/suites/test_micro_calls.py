"""Micro suite, part 1: the cost of one tracker call, in this process (classic ``benchmark``).

For every selected tracker configuration: one ``log`` call of 1, 20 and 200 scalars, and one
histogram, each into a run that stays open for the configuration's benchmarks. Times are wall
time per call as the training loop sees it (an asynchronous tracker returns once the data is
queued). init+finish, which can take seconds, is in ``test_micro_init.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.suites.inprocess import InProcessTracker, LiveRun, histogram, scalars
from bench.trackers import unavailable_reason

SCALAR_COUNTS = (1, 20, 200)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "micro_tracker" in metafunc.fixturenames:
        names = metafunc.config._tb_selection.trackers  # type: ignore[attr-defined]
        metafunc.parametrize("micro_tracker", names, scope="module", indirect=True)


@pytest.fixture(scope="module")
def micro_tracker(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture(scope="module")
def live_run(micro_tracker: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveRun]:
    """An open run of the configuration, shared by its call benchmarks, finished at the end."""
    reason = unavailable_reason(micro_tracker)
    if reason:
        pytest.skip(f"{micro_tracker}: {reason}")
    root: Path = tmp_path_factory.mktemp(f"micro-{micro_tracker}")
    host = InProcessTracker(micro_tracker, root)
    try:
        host.open()
        run = LiveRun(host)
        try:
            yield run
        finally:
            run.finish()
    finally:
        host.close()


def _info(run: LiveRun, call: str, **extra: Any) -> dict[str, Any]:
    return {
        "suite": "micro",
        "call": call,
        **run.info(),
        **extra,
        "time": "wall time per call in the benchmarking process (the training loop's view)",
    }


@pytest.mark.parametrize("count", SCALAR_COUNTS, ids=[f"{n}-scalars" for n in SCALAR_COUNTS])
def test_log(benchmark: Any, live_run: LiveRun, count: int) -> None:
    metrics = scalars(count)
    benchmark.group = f"micro: log {count} scalar{'s' if count > 1 else ''}"
    benchmark.extra_info.update(_info(live_run, "log", scalars=count))
    benchmark(live_run.log, metrics)


def test_histogram(benchmark: Any, live_run: LiveRun) -> None:
    if not live_run.tracker.supports_histograms:
        pytest.skip(f"{live_run.tracker.config_name} cannot store histograms")
    hist = histogram()
    benchmark.group = "micro: log a histogram"
    benchmark.extra_info.update(_info(live_run, "histogram", bins=len(hist.counts)))
    benchmark(live_run.log_histogram, hist)
