"""pytest-benchmark suites of trackerbench: ``pytest bench/ --benchmark-only``.

Loaded only when pytest is pointed at ``bench/`` (the plain test command collects ``tests/``).
Adds the ``--tb-*`` selection options, the host's GPU/NVML, CPU, torch and tracker facts to
pytest-benchmark's ``machine_info``, and the session-wide fixtures of the suites.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench.cli import int_at_least
from bench.suites.selection import (
    DEFAULT_ROUNDS,
    DEFAULT_WARMUP_ROUNDS,
    DEFAULTS,
    Selection,
    SelectionError,
    from_pytest_config,
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("trackerbench", "trackerbench suites (comma-separated lists)")
    for name, help_text in (
        ("workload", "workloads of the macro suite"),
        ("preset", "size presets of the macro suite (full: a GPU workload)"),
        ("tracker", "tracker configurations, or 'all' (every registered one)"),
        ("profile", "logging profiles of the macro suite"),
    ):
        group.addoption(
            f"--tb-{name}",
            default=DEFAULTS[name],
            help=f"{help_text} (default: {DEFAULTS[name]})",
        )
    group.addoption(
        "--tb-rounds",
        type=int_at_least(1),
        default=DEFAULT_ROUNDS,
        help=f"measured rounds per macro benchmark and per init+finish (default: {DEFAULT_ROUNDS})",
    )
    group.addoption(
        "--tb-warmup-rounds",
        type=int_at_least(0),
        default=DEFAULT_WARMUP_ROUNDS,
        help=f"rounds run first and not measured (default: {DEFAULT_WARMUP_ROUNDS})",
    )
    group.addoption(
        "--tb-out",
        type=Path,
        default=None,
        help="directory for the macro suite's runs (runs.jsonl and run dirs; default: under "
        "pytest's temporary directory)",
    )
    group.addoption("--tb-profiles-file", type=Path, default=None, help="user profiles (TOML)")


def pytest_configure(config: pytest.Config) -> None:
    try:
        config._tb_selection = from_pytest_config(config)  # type: ignore[attr-defined]
    except SelectionError as exc:
        raise pytest.UsageError(str(exc)) from None


def pytest_benchmark_update_machine_info(config: pytest.Config, machine_info: dict) -> None:
    from bench.suites.machine import machine_facts

    machine_info["trackerbench"] = machine_facts()


@pytest.fixture(scope="session")
def selection(pytestconfig: pytest.Config) -> Selection:
    return pytestconfig._tb_selection  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def macro_session(selection: Selection, tmp_path_factory: pytest.TempPathFactory) -> Any:
    from bench.suites.macro import MacroSession

    out = selection.out or tmp_path_factory.mktemp("macro")
    return MacroSession(out, selection.rounds, selection.warmup_rounds)
