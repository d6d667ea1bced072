"""What the pytest-benchmark suites run: the ``--tb-*`` options, checked.

Every option takes a comma-separated list, like the CLI's matrix flags. ``--tb-tracker all``
(the default) means every registered configuration (adapters and their ``+sysmetrics``
variants); one that cannot run here is skipped with its reason, never failed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.plugins import PluginError
from bench.profiles import Profile, ProfileError, resolve_profiles
from bench.trackers import configurations, parse_name
from bench.versions import split_version

DEFAULTS = {
    "workload": "mlp",
    "preset": "tiny",
    "tracker": "all",
    "profile": "standard",
}
"""The tiny CPU set: seconds per run on a CPU; a GPU host passes ``--tb-preset full``."""

DEFAULT_ROUNDS = 3
DEFAULT_WARMUP_ROUNDS = 1


class SelectionError(Exception):
    """A ``--tb-*`` value is not valid; the message names the valid choices."""


@dataclass(frozen=True)
class Selection:
    """The suites' axes and round counts.

    ``rounds``: measured rounds of every macro benchmark and of the micro suite's init+finish;
    ``warmup_rounds``: rounds run first and thrown away. ``out``: where the macro suite's runs go
    (``None``: a directory under pytest's temporary root).
    """

    workloads: tuple[str, ...]
    presets: tuple[str, ...]
    trackers: tuple[str, ...]
    profiles: tuple[Profile, ...]
    rounds: int = DEFAULT_ROUNDS
    warmup_rounds: int = DEFAULT_WARMUP_ROUNDS
    out: Path | None = None

    def macro_cases(self) -> list[MacroCase]:
        """Every (workload, preset, profile, tracker), ``none`` first in each group."""
        trackers = sorted(self.trackers, key=lambda t: t != "none")
        return [
            MacroCase(workload, preset, profile, tracker)
            for workload in self.workloads
            for preset in self.presets
            for profile in self.profiles
            for tracker in trackers
        ]


@dataclass(frozen=True)
class MacroCase:
    """One macro benchmark: a tracker configuration on a workload, preset and profile."""

    workload: str
    preset: str
    profile: Profile
    tracker: str

    @property
    def group(self) -> tuple[str, str, str]:
        return (self.workload, self.preset, self.profile.name)

    @property
    def id(self) -> str:
        return f"{self.workload}-{self.preset}-{self.profile.name}-{self.tracker}"


def _split(option: str, value: str) -> tuple[str, ...]:
    from bench.cli import UsageError, split_list

    try:
        return split_list(value)
    except UsageError as exc:
        raise SelectionError(f"--tb-{option}: {exc}") from None


def parse_selection(
    workload: str = DEFAULTS["workload"],
    preset: str = DEFAULTS["preset"],
    tracker: str = DEFAULTS["tracker"],
    profile: str = DEFAULTS["profile"],
    rounds: int = DEFAULT_ROUNDS,
    warmup_rounds: int = DEFAULT_WARMUP_ROUNDS,
    out: Path | None = None,
    profiles_file: Path | None = None,
) -> Selection:
    """Check the options' values against the registries; :class:`SelectionError` otherwise."""
    from workloads.registry import choose_presets, load_workload

    workloads = _split("workload", workload)
    presets = _split("preset", preset)
    trackers = _split("tracker", tracker)
    if "all" in trackers:
        trackers = tuple(dict.fromkeys([*configurations(), *(t for t in trackers if t != "all")]))
    try:
        classes = {w: load_workload(w) for w in workloads}
    except KeyError as exc:
        raise SelectionError(f"--tb-workload: {exc.args[0]}") from None
    except PluginError as exc:
        raise SelectionError(f"--tb-workload: {exc}") from None
    try:
        choose_presets(classes, presets)
    except KeyError as exc:
        raise SelectionError(f"--tb-preset: {exc.args[0]}") from None
    for name in trackers:
        if split_version(name)[1] is not None:
            raise SelectionError(
                f"--tb-tracker {name}: the suites measure the tracker installed here (the micro "
                "suite runs in this process); compare releases with `trackerbench regress`"
            )
        try:
            parse_name(name)
        except KeyError as exc:
            raise SelectionError(f"--tb-tracker: {exc.args[0]} (or 'all')") from None
        except PluginError as exc:
            raise SelectionError(f"--tb-tracker: {exc}") from None
    try:
        profiles = resolve_profiles(_split("profile", profile), profiles_file)
    except ProfileError as exc:
        raise SelectionError(f"--tb-profile: {exc}") from None
    for option, value, least in (("rounds", rounds, 1), ("warmup-rounds", warmup_rounds, 0)):
        if not isinstance(value, int) or value < least:
            raise SelectionError(f"--tb-{option}: must be an integer >= {least}, got {value!r}")
    return Selection(workloads, presets, trackers, profiles, rounds, warmup_rounds, out)


def from_pytest_config(config: Any) -> Selection:
    """The selection given on pytest's command line (see ``bench/conftest.py``)."""
    return parse_selection(
        workload=config.getoption("tb_workload"),
        preset=config.getoption("tb_preset"),
        tracker=config.getoption("tb_tracker"),
        profile=config.getoption("tb_profile"),
        rounds=config.getoption("tb_rounds"),
        warmup_rounds=config.getoption("tb_warmup_rounds"),
        out=config.getoption("tb_out"),
        profiles_file=config.getoption("tb_profiles_file"),
    )
