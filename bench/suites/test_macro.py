"""Macro suite: one short training run per round, through the CLI's runner and worker.

One benchmark per (workload, preset, profile, tracker configuration) of the ``--tb-*``
selection, ``none`` first in each group. pytest-benchmark's times are measure-window wall
times (see :mod:`bench.suites.macro`); ``extra_info`` holds the overhead against ``none``, energy
with its method (or ``null`` with the reason), CPU, memory, init and finish times, the
recorded-data check and every round's figures.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from bench.suites.macro import BASELINE, MacroSession, extra_info, measure_window_clock
from bench.suites.selection import MacroCase
from bench.trackers import unavailable_reason


def _cases(config: pytest.Config) -> dict[str, MacroCase]:
    return {c.id: c for c in config._tb_selection.macro_cases()}  # type: ignore[attr-defined]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "macro_case" in metafunc.fixturenames:
        # By id, so pytest-benchmark's JSON holds a readable "params" entry.
        metafunc.parametrize("macro_case", list(_cases(metafunc.config)), indirect=True)


@pytest.fixture
def macro_case(request: pytest.FixtureRequest) -> MacroCase:
    return _cases(request.config)[request.param]


@pytest.mark.benchmark(timer=measure_window_clock)
def test_training_run(benchmark: Any, macro_session: MacroSession, macro_case: MacroCase) -> None:
    reason = unavailable_reason(macro_case.tracker)
    if reason:
        pytest.skip(f"{macro_case.tracker}: {reason}")
    baseline = None if macro_case.tracker == BASELINE else macro_session.baseline(macro_case)
    benchmark.group = "macro: {} {}, profile {}".format(*macro_case.group)
    rounds = itertools.count()
    benchmark.pedantic(
        lambda: macro_session.round(macro_case, next(rounds)),
        rounds=macro_session.rounds,
        warmup_rounds=macro_session.warmup_rounds,
        iterations=1,
    )
    records = macro_session.measured(macro_case)
    if macro_case.tracker == BASELINE:
        baseline = records
    benchmark.extra_info.update(extra_info(macro_case, records, baseline))
    lost = benchmark.extra_info["recorded_data"]["data_loss_rounds"]
    if lost:
        pytest.fail(
            f"{macro_case.tracker} lost data in {lost} of {len(records)} rounds (the tracker "
            f"stored fewer values than were sent; see {macro_session.out_dir}/runs.jsonl)"
        )
