"""The macro suite's engine: short training runs through the CLI's own runner and worker.

Each round of a macro benchmark is one run exactly as ``trackerbench run`` makes it
(:func:`bench.runner.run_one`: a fresh worker process, the independent sampler beside it, the
tracker's service if it has one, the recorded-data check after it), appended to
``runs.jsonl`` in the session's directory. pytest-benchmark's time for a round is the run's
*measure-window* wall time from the worker's phase marks (the macro suite's timer,
:func:`measure_window_clock`, advances by exactly that much per round), so
``--benchmark-compare-fail`` gates on the figure the report calls its headline. Everything
else the run measured goes into ``benchmark.extra_info`` (:func:`extra_info`).

The overhead against ``none`` compares rounds run back to back in one session, not
interleaved blocks: it is computed unpaired (:func:`analysis.stats.compare` with
``paired=False``), and says so.
"""

from __future__ import annotations

import dataclasses
import zlib
from pathlib import Path
from typing import Any

from analysis.metrics import METRICS, METRICS_BY_KEY
from analysis.stats import ALPHA, compare, mannwhitney_p_floor
from bench.environment import usable_cpus
from bench.matrix import MatrixSpec, RunSpec, expand
from bench.results import append_record
from bench.runner import RunnerOptions, run_one
from bench.suites.selection import MacroCase

BASELINE = "none"
SAMPLE_INTERVAL_S = 0.05
SEED = 20261204
_MEASURED_S = [0.0]
MEAN_KEYS = (
    "measure_wall_s",
    "energy_j",
    "cpu_s",
    "rss_peak_bytes",
    "init_s",
    "finish_s",
    "write_bytes",
    "disk_bytes",
)


def measure_window_clock() -> float:
    """The macro suite's pytest-benchmark timer: seconds of measure windows run so far.

    Read before and after a round, it differs by that round's measure-window wall time.
    """
    return _MEASURED_S[0]


class RoundFailed(Exception):
    """A round's run did not end ``ok``; the message carries its error and run directory."""


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


class MacroSession:
    """Runs of one pytest session, by case; the ``none`` runs double as the baseline."""

    def __init__(
        self,
        out_dir: Path,
        rounds: int,
        warmup_rounds: int,
        device: str | None = None,
        timeout_s: float = 900.0,
    ) -> None:
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.rounds = rounds
        self.warmup_rounds = warmup_rounds
        self._device = device
        self.options = RunnerOptions(
            out_dir=self.out_dir, timeout_s=timeout_s, sample_interval_s=SAMPLE_INTERVAL_S
        )
        self.records: dict[tuple[str, str, str, str], list[dict[str, Any]]] = {}
        self.failed: dict[tuple[str, str, str], str] = {}  # group -> why its none runs failed

    @property
    def device(self) -> str:
        if self._device is None:
            import torch

            self._device = "cuda" if torch.cuda.is_available() else "cpu"
        return self._device

    def spec(self, case: MacroCase, tag: str, index: int) -> RunSpec:
        """The run spec of round ``index`` (``tag``: ``r`` measured, ``w`` warm-up, ``check``
        a benchmark-disabled check, ``extra`` a call beyond the rounds, e.g. for cProfile)."""
        import torch

        from workloads.base import bf16_supported
        from workloads.registry import load_workload

        preset = load_workload(case.workload).presets[case.preset]
        matrix = MatrixSpec(
            workloads=(case.workload,),
            presets=(case.preset,),
            trackers=(case.tracker,),
            profiles=(case.profile,),
            reps=1,
            seed=SEED,
            steps=None,
            warmup_steps=None,
            threads=usable_cpus(),
            device=self.device,
            sample_interval_s=SAMPLE_INTERVAL_S,
            bf16_supported=self.device == "cpu" or bf16_supported(torch.device(self.device)),
        )
        (spec,) = expand(matrix, {(case.workload, case.preset): preset})
        run_id = f"{case.workload}.{case.preset}.{case.tracker}.{case.profile.name}.{tag}{index}"
        return dataclasses.replace(spec, run_id=run_id, rep=index, block=index)

    def run_round(self, case: MacroCase, tag: str, index: int) -> dict[str, Any]:
        """One run; measured rounds (tag ``r``) are appended to ``runs.jsonl``.

        Raises :class:`RoundFailed` unless the run ended ``ok``.
        """
        record = run_one(self.spec(case, tag, index), self.options)
        if tag == "r":
            append_record(self.out_dir, record)
        if record["status"] != "ok":
            first = (record.get("error") or "no error recorded").strip().splitlines()[0]
            raise RoundFailed(
                f"{record['run_id']}: {record['status']}: {first} (run dir: "
                f"{self.out_dir / record['files']['run_dir']})"
            )
        return record

    def round(self, case: MacroCase, index: int, timed: bool = True) -> dict[str, Any]:
        """Round ``index`` of ``case``: the first ``warmup_rounds`` are warm-up (thrown away),
        the next ``rounds`` measured and kept; a timed measured round advances
        :func:`measure_window_clock` by its measure window. Calls beyond those (pytest-benchmark
        runs the target once more for ``--benchmark-cprofile``) run untimed and unrecorded."""
        if index < self.warmup_rounds:
            return self.run_round(case, "w", index)
        index -= self.warmup_rounds
        if index >= self.rounds:
            return self.run_round(case, "extra", index - self.rounds)
        record = self.run_round(case, "r", index)
        self.records.setdefault((*case.group, case.tracker), []).append(record)
        if timed:
            _MEASURED_S[0] += float(record["phases"]["measure"]["wall_s"])
        return record

    def baseline(self, case: MacroCase) -> tuple[list[dict[str, Any]], str | None]:
        """The ``none`` runs of ``case``'s group (run now, untimed, if this session has none),
        or no runs and the reason: they failed in this session."""
        key = (*case.group, BASELINE)
        if case.group not in self.failed and key not in self.records:
            none_case = dataclasses.replace(case, tracker=BASELINE)
            try:
                for i in range(self.warmup_rounds + self.rounds):
                    self.round(none_case, i, timed=False)
            except RoundFailed as exc:
                self.baseline_failed(case, exc)
        if case.group in self.failed:
            return [], f"the {BASELINE} runs failed in this session: {self.failed[case.group]}"
        return self.records[key], None

    def baseline_failed(self, case: MacroCase, exc: RoundFailed) -> None:
        """Remember that ``case``'s group has no baseline (its rounds so far are dropped)."""
        self.failed[case.group] = str(exc)
        self.records.pop((*case.group, BASELINE), None)

    def measured(self, case: MacroCase) -> list[dict[str, Any]]:
        """The measured records of ``case`` so far."""
        return self.records.get((*case.group, case.tracker), [])


def extra_info(
    case: MacroCase,
    records: list[dict[str, Any]],
    baseline: list[dict[str, Any]],
    baseline_reason: str | None = None,
) -> dict[str, Any]:
    """What a macro benchmark adds to pytest-benchmark's JSON besides its times.

    Means over the measured rounds (seconds, joules, bytes); ``overhead_ratio`` is the mean
    measure window over ``none``'s mean from the same session (``None`` for ``none`` itself, or
    without ``none`` runs, with the reason), with its 95 % bootstrap CI and Mann-Whitney p where
    each side has 3 rounds or more. ``per_round`` holds every metric of the report per measured
    round, and whether it lost data, for ``trackerbench compare``.
    """
    first = records[0]
    info: dict[str, Any] = {
        "suite": "macro",
        "time": "measure-window wall time (s) of each round, from the worker's phase marks; a "
        "round is one fresh worker process started by the CLI's runner",
        "workload": case.workload,
        "preset": case.preset,
        "profile": case.profile.name,
        "tracker": case.tracker,
        "tracker_version": (first.get("tracker") or {}).get("version"),
        "device": first["spec"]["device"],
        "precision": first["spec"]["precision"],
        "steps": first["spec"]["steps"],
        "warmup_steps": first["spec"]["warmup_steps"],
        "rounds": len(records),
    }
    # Means of the report's figures; None where a round lacks one (energy: with the reason).
    for key in MEAN_KEYS:
        values = [METRICS_BY_KEY[key].read(r) for r in records]
        present = [v for v in values if v is not None]
        info[key] = _mean(present) if len(present) == len(values) else None
    info.update(_overhead(case, records, baseline, baseline_reason))
    measured = info["energy_j"] is not None
    info["energy_method"] = first["phases"]["measure"].get("energy_method") if measured else None
    info["energy_reason"] = (
        None
        if measured
        else METRICS_BY_KEY["energy_j"].missing_reason(first)
        or "energy not measured in every round"
    )
    info["recorded_data"] = _recorded(records)
    info["per_round"] = [
        {
            "run_id": r["run_id"],
            "data_loss": r.get("data_loss"),
            **{m.key: m.read(r) for m in METRICS},
        }
        for r in records
    ]
    return info


def _overhead(
    case: MacroCase,
    records: list[dict[str, Any]],
    baseline: list[dict[str, Any]],
    baseline_reason: str | None,
) -> dict[str, Any]:
    none: dict[str, Any] = {
        "overhead_ratio": None,
        "overhead_ci95": None,
        "overhead_p": None,
        "overhead_design": "unpaired: rounds of one session run back to back, not interleaved",
    }
    if case.tracker == BASELINE:
        return {**none, "overhead_reason": "this is the baseline"}
    if not baseline:
        return {**none, "overhead_reason": baseline_reason or f"no {BASELINE} runs in this session"}
    read = METRICS_BY_KEY["measure_wall_s"].read
    values = {i: v for i, r in enumerate(records) if (v := read(r)) is not None}
    base = {i: v for i, r in enumerate(baseline) if (v := read(r)) is not None}
    seed = zlib.crc32(f"{SEED}:{case.id}".encode())
    c = compare(values, base, "ratio", seed, paired=False)
    if c.config_mean is None or not c.baseline_mean:
        return {**none, "overhead_reason": "measure window not measured"}
    reason = c.reason
    if reason is None and mannwhitney_p_floor(len(values), len(base)) >= ALPHA:
        reason = (
            f"with {len(values)} and {len(base)} rounds no p-value below "
            f"{mannwhitney_p_floor(len(values), len(base)):.3f} is possible: raise --tb-rounds"
        )
    return {
        **none,
        "overhead_ratio": c.config_mean / c.baseline_mean,
        "overhead_ci95": [1 + c.ci_low, 1 + c.ci_high] if c.ci_high is not None else None,
        "overhead_p": c.p_value,
        "overhead_reason": reason,
        "baseline_rounds": len(base),
    }


def _recorded(records: list[dict[str, Any]]) -> dict[str, Any]:
    """The recorded-data check over the rounds: how many were checked and lost data."""
    blocks = [(r.get("tracker") or {}).get("recorded") or {} for r in records]
    checked = sum(1 for b in blocks if b.get("checked"))
    lost = sum(1 for r in records if r.get("data_loss") is True)
    reasons = sorted({str(b.get("reason")) for b in blocks if not b.get("checked")})
    return {
        "checked_rounds": checked,
        "data_loss_rounds": lost,
        "not_checked_reason": "; ".join(reasons) or None,
    }
