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

from bench.suites.macro import (
    BASELINE,
    MacroSession,
    RoundFailed,
    extra_info,
    measure_window_clock,
)
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
    session = macro_session
    if benchmark.disabled:  # --benchmark-disable: one unrecorded run as a check, no figures
        session.run_round(macro_case, "check", 0)
        return
    baseline: list[dict[str, Any]] = []
    baseline_reason = None
    if macro_case.tracker != BASELINE:
        baseline, baseline_reason = session.baseline(macro_case)
    benchmark.group = "macro: {} {}, profile {}".format(*macro_case.group)
    rounds = itertools.count()
    try:
        benchmark.pedantic(
            lambda: session.round(macro_case, next(rounds)),
            rounds=session.rounds,
            warmup_rounds=session.warmup_rounds,
            iterations=1,
        )
    except RoundFailed as exc:
        if macro_case.tracker == BASELINE:  # the other configurations say why they lack it
            session.baseline_failed(macro_case, exc)
        raise
    records = session.measured(macro_case)
    benchmark.extra_info.update(extra_info(macro_case, records, baseline, baseline_reason))
    lost = benchmark.extra_info["recorded_data"]["data_loss_rounds"]
    if lost:
        pytest.fail(
            f"{macro_case.tracker} lost data in {lost} of {len(records)} rounds (the tracker "
            f"stored fewer values than were sent; see {session.out_dir}/runs.jsonl); "
            "trackerbench compare leaves those rounds out"
        )
