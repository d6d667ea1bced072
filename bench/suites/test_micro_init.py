"""Micro suite, part 2: init+finish of a run, in this process (``benchmark.pedantic``).

Each round makes a fresh adapter in a fresh run directory (setup, not timed), then times
``init`` followed by ``finish`` (trackio writes every run into the directory it was imported
with; see :mod:`bench.suites.inprocess`). The process is warm after the warm-up round:
one-time costs (importing the tracker, W&B starting its wandb-core service) fall outside the
measured rounds. The macro suite's ``init_s`` and ``finish_s`` are the cold, per-process
figures.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from bench.suites.inprocess import MICRO_CONFIG, InProcessTracker
from bench.suites.selection import Selection
from bench.trackers import Tracker, make_tracker, unavailable_reason


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "micro_tracker" in metafunc.fixturenames:
        names = metafunc.config._tb_selection.trackers  # type: ignore[attr-defined]
        metafunc.parametrize("micro_tracker", names)


@pytest.fixture
def host(micro_tracker: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    reason = unavailable_reason(micro_tracker)
    if reason:
        pytest.skip(f"{micro_tracker}: {reason}")
    host = InProcessTracker(micro_tracker, tmp_path_factory.mktemp(f"init-{micro_tracker}"))
    try:
        host.open()
        yield host
    finally:
        host.close()


def test_init_finish(benchmark: Any, host: InProcessTracker, selection: Selection) -> None:
    def setup() -> tuple[tuple[Tracker, str], dict[str, Any]]:
        return (host.fresh(), host.run_name()), {}

    def init_finish(tracker: Tracker, run_name: str) -> None:
        tracker.init(run_name, dict(MICRO_CONFIG))
        tracker.finish()

    benchmark.group = "micro: init+finish"
    benchmark.pedantic(
        init_finish,
        setup=setup,
        rounds=selection.rounds,
        warmup_rounds=selection.warmup_rounds,
        iterations=1,
    )
    tracker = make_tracker(host.name, host.root)  # names and version only: no run directory
    benchmark.extra_info.update(
        {
            "suite": "micro",
            "call": "init+finish",
            "tracker": tracker.config_name,
            "tracker_version": tracker.version(),
            "time": "wall time of init then finish in the (warm) benchmarking process",
        }
    )
