"""``trackerbench report DIR``: the statistics of a result directory, as data.

:func:`build_report` turns the runs of a result directory into a :class:`Report`: for every
workload x preset x logging profile, every tracker configuration (and version) against the
``none`` runs of the same blocks, for every metric of :data:`analysis.metrics.METRICS`. Rendering
(``analysis.render``) and plots (``analysis.plots``) only format it. The report is a pure
function of the directory and the seed: the same input gives byte-identical files.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from analysis.carbon import CarbonRow, CarbonSettings, carbon_row
from analysis.formatting import format_effect
from analysis.metrics import METRICS, Metric
from analysis.reported import ReportedRow, reported_rows
from analysis.stats import (
    ALPHA,
    MIN_BLOCKS,
    Comparison,
    compare,
    holm,
    mad_outliers,
    mannwhitney_p_floor,
    wilcoxon_p_floor,
)
from analysis.summary import profile_name
from bench.results import META_FILE, RUNS_FILE, ResultsError, iter_records, read_meta
from bench.versions import SEPARATOR

BASELINE = "none"
DEFAULT_SEED = 20261204
DEFAULT_RESAMPLES = 9999


class ReportInputError(ResultsError):
    """The directory cannot be reported on: missing, corrupt, unknown schema, no baseline."""


@dataclass(frozen=True)
class Config:
    """A tracker configuration as compared: its name and the tracker package's version."""

    tracker: str
    version: str | None
    label: str = field(default="", compare=False)


@dataclass
class Row:
    """One configuration x metric in one group: the comparison and its verdict."""

    workload: str
    preset: str
    profile: str
    config: Config
    metric: Metric
    comparison: Comparison
    p_holm: float | None = None
    verdict: str = ""
    significant: bool = False
    outlier_blocks: list[int] = field(default_factory=list)
    baseline_outlier_blocks: list[int] = field(default_factory=list)
    excluded_runs: int = 0


@dataclass
class Group:
    """The runs of one workload x preset x profile, with their ``none`` baseline."""

    workload: str
    preset: str
    profile: str
    configs: list[Config]
    baseline_runs: int
    baseline_excluded: int
    blocks: list[int]
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    runs: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # label -> usable runs
    baseline_means: dict[str, float | None] = field(default_factory=dict)  # metric key -> mean
    carbon: list[CarbonRow] = field(default_factory=list)  # extra energy (and carbon) per config

    @property
    def title(self) -> str:
        return f"{self.workload} {self.preset}, profile {self.profile}"


@dataclass
class ExcludedRun:
    run_id: str
    status: str
    reason: str


@dataclass
class Report:
    source: str
    meta: dict[str, Any]
    groups: list[Group]
    excluded: list[ExcludedRun]
    skipped_lines: list[str]
    seed: int
    n_resamples: int
    runs_total: int
    energy_methods: list[str]
    carbon: CarbonSettings | None = None  # grid intensity and PUE of the carbon columns
    reported: list[ReportedRow] = field(default_factory=list)  # trackers' own energy figures

    @property
    def rows(self) -> list[Row]:
        return [row for group in self.groups for row in group.rows]


def load_runs(
    out_dir: Path, skip_corrupt: bool = False
) -> tuple[list[dict[str, Any]], dict[str, Any], list[str]]:
    """The latest record of every run in ``out_dir``, its ``meta.json`` and the skipped lines.

    Raises :class:`ReportInputError` for a missing directory or ``runs.jsonl``, a corrupt line
    (unless ``skip_corrupt``), an unknown ``schema_version`` or a record without its spec.
    """
    out_dir = Path(out_dir)
    if not out_dir.is_dir():
        raise ReportInputError(f"{out_dir}: no such result directory")
    path = out_dir / RUNS_FILE
    if not path.is_file():
        raise ReportInputError(
            f"{out_dir}: no {RUNS_FILE} (not a result directory; `trackerbench run --out "
            f"{out_dir}` writes one)"
        )
    skipped: list[str] | None = [] if skip_corrupt else None
    latest: dict[str, dict[str, Any]] = {}
    try:
        for doc in iter_records(path, skipped=skipped):
            problem = _record_problem(doc)
            if problem is not None:
                message = f"{path}: record {doc.get('run_id')!r}: {problem}"
                if skipped is None:
                    raise ReportInputError(message)
                skipped.append(message)
                continue
            latest[doc["run_id"]] = doc
        meta = read_meta(out_dir) or {}
    except ReportInputError:
        raise
    except ResultsError as exc:
        raise ReportInputError(str(exc)) from exc
    if not latest:
        raise ReportInputError(f"{path}: no usable records")
    return [latest[k] for k in sorted(latest)], meta, list(skipped or [])


def _record_problem(doc: dict[str, Any]) -> str | None:
    if not isinstance(doc.get("run_id"), str):
        return "no run_id"
    if not isinstance(doc.get("status"), str):
        return "no status"
    spec = doc.get("spec")
    if not isinstance(spec, dict):
        return "no spec"
    for key in ("workload", "preset", "tracker", "block"):
        if key not in spec:
            return f"spec has no {key}"
    return None


def excluded_reason(record: dict[str, Any]) -> str | None:
    """Why a run is left out of the statistics, or ``None`` when it is used."""
    if record["status"] != "ok":
        error = str(record.get("error") or "no error recorded").strip().splitlines()
        return error[0][:300] if error else "no error recorded"
    if record.get("data_loss") is True:
        recorded = (record.get("tracker") or {}).get("recorded") or {}
        missing = recorded.get("missing") or {}
        lost = sum(v for v in missing.values() if isinstance(v, int))
        return f"data loss: the tracker stored {lost} fewer values than were sent"
    return None


def seed_for(seed: int, *parts: object) -> int:
    """A per-comparison seed: stable, and independent of which other rows exist."""
    return zlib.crc32(":".join(map(str, (seed, *parts))).encode())


def verdict(
    metric: Metric,
    c: Comparison,
    p_holm: float | None,
    family: int = 1,
    unpaired_unit: str = "runs",
) -> tuple[str, bool]:
    """The verdict words of a comparison and whether a change is called.

    A change is called when the Holm-adjusted p < ALPHA and the interval excludes zero. Where
    the exact test's smallest possible p (Wilcoxon for pairs, Mann-Whitney otherwise) times the
    Holm ``family`` size reaches ALPHA, no change could have been called: the words say so
    ("cannot be called with n blocks"), not "no detectable difference".
    """
    if c.estimate is None or c.p_value is None:
        return c.reason or "not computed", False
    if p_holm is not None and p_holm < ALPHA and c.ci_excludes_zero:
        costly = (c.estimate > 0) == (metric.worse == "higher")
        return metric.words[0] if costly else metric.words[1], True
    if c.design == "paired":
        floor, sizes = wilcoxon_p_floor(c.n_pairs) * family, f"{c.n_pairs} blocks"
    else:
        floor = mannwhitney_p_floor(c.n_baseline, c.n_config) * family
        sizes = f"{c.n_baseline}/{c.n_config} {unpaired_unit}"
    if floor >= ALPHA:
        return (
            f"cannot be called with {sizes} (smallest possible p (Holm) {min(1.0, floor):.3f})",
            False,
        )
    if c.ci_low is None:
        return f"no CI: {c.reason}", False
    mde = format_effect(metric, c.mde, signed=False) if c.mde is not None else "n/a"
    return f"no detectable difference (MDE {mde})", False


DEFAULT_THRESHOLD = 0.02


@dataclass(frozen=True)
class Decision:
    """The one verdict rule of ``compare`` and ``regress``: ``status`` is ``regressed``,
    ``improved``, ``unchanged`` or ``not compared``; ``words`` says why."""

    status: str
    words: str


def beyond(c: Comparison, threshold: float) -> bool:
    """Whether the whole interval lies beyond ``threshold`` (a fraction of the reference's
    mean; for a ratio the interval is already a fraction)."""
    if c.ci_low is None or c.ci_high is None or c.baseline_mean is None:
        return False
    margin = threshold if c.kind == "ratio" else threshold * abs(c.baseline_mean)
    return c.ci_low > margin or c.ci_high < -margin


def threshold_verdict(
    metric: Metric,
    c: Comparison | None,
    p_holm: float | None,
    family: int,
    threshold: float = DEFAULT_THRESHOLD,
    unpaired_unit: str = "runs",
    missing: str = "not compared",
) -> Decision:
    """Criterion-style: a metric *regressed* only when :func:`verdict` calls the change
    (Holm-adjusted p < 0.05, interval excluding zero) in its costly direction AND the whole 95 %
    interval lies beyond ``threshold`` (a fraction of the reference's mean); *improved*
    symmetrically; otherwise *unchanged*, with the minimum detectable effect (or why nothing
    could be called)."""
    if c is None or c.estimate is None:
        return Decision("not compared", (c.reason if c else None) or missing)
    words, significant = verdict(metric, c, p_holm, family, unpaired_unit)
    mde = format_effect(metric, c.mde, signed=False) if c.mde is not None else "n/a"
    if significant and beyond(c, threshold):
        costly = (c.estimate > 0) == (metric.worse == "higher")
        return Decision("regressed" if costly else "improved", words)
    if significant:
        return Decision(
            "unchanged",
            f"{words}, but within the noise threshold ({threshold:.0%} of the reference's "
            f"mean; MDE {mde})",
        )
    return Decision("unchanged", words)


def build_report(
    out_dir: Path,
    skip_corrupt: bool = False,
    seed: int = DEFAULT_SEED,
    n_resamples: int = DEFAULT_RESAMPLES,
    carbon: CarbonSettings | None = None,
) -> Report:
    """The statistics of ``out_dir`` (see the module docstring).

    ``carbon``: grid intensity and PUE for the carbon columns of the energy table (without it
    the table has energy only). Raises :class:`ReportInputError` on bad input, including a
    group without any ``none`` run.
    """
    records, meta, skipped = load_runs(out_dir, skip_corrupt=skip_corrupt)
    by_group: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for rec in records:
        spec = rec["spec"]
        key = (str(spec["workload"]), str(spec["preset"]), profile_name(rec))
        by_group.setdefault(key, []).append(rec)

    excluded: list[ExcludedRun] = []
    groups: list[Group] = []
    energy_methods: set[str] = set()
    for (workload, preset, profile), recs in sorted(by_group.items()):
        usable: dict[Config, list[dict[str, Any]]] = {}
        dropped: dict[str, int] = {}  # tracker name -> runs left out
        for rec in recs:
            tracker = str(rec["spec"]["tracker"])
            reason = excluded_reason(rec)
            if reason is None:
                config = Config(tracker, (rec.get("tracker") or {}).get("version"))
                usable.setdefault(config, []).append(rec)
                method = ((rec.get("phases") or {}).get("measure") or {}).get("energy_method")
                if method:
                    energy_methods.add(str(method))
            else:
                # A failed run may lack the version: it counts against the tracker's name.
                dropped[tracker] = dropped.get(tracker, 0) + 1
                excluded.append(ExcludedRun(rec["run_id"], rec["status"], reason))
        for tracker in dropped:  # every run failed: the configuration still gets its row
            if not any(c.tracker == tracker for c in usable):
                usable[Config(tracker, None)] = []
        if not any(c.tracker == BASELINE for c in usable):
            raise ReportInputError(
                f"{out_dir}: no `{BASELINE}` baseline runs for {workload} {preset}, profile "
                f"{profile}: every comparison needs one (run the matrix with --tracker "
                f"{BASELINE},...)"
            )
        base_runs = [r for c in usable if c.tracker == BASELINE for r in usable[c]]
        configs = _labelled(sorted((c for c in usable if c.tracker != BASELINE), key=_config_order))
        group = Group(
            workload=workload,
            preset=preset,
            profile=profile,
            configs=configs,
            baseline_runs=len(base_runs),
            baseline_excluded=dropped.get(BASELINE, 0),
            blocks=sorted({int(r["spec"]["block"]) for r in recs}),
            runs={BASELINE: base_runs, **{c.label: usable[c] for c in configs}},
        )
        for metric in METRICS:
            base_values = values_by_block(metric, base_runs)
            group.baseline_means[metric.key] = (
                sum(base_values.values()) / len(base_values) if base_values else None
            )
            base_outliers = mad_outliers(base_values)
            rows: list[Row] = []
            for config in configs:
                values = values_by_block(metric, usable[config])
                if not values or not base_values:
                    comparison = _with_reason(
                        compare(values, base_values, metric.kind, 0),
                        _missing(metric, config, usable[config], base_runs, values, base_values),
                    )
                else:
                    comparison = compare(
                        values,
                        base_values,
                        metric.kind,
                        seed_for(
                            seed,
                            workload,
                            preset,
                            profile,
                            config.tracker,
                            config.version,
                            metric.key,
                        ),
                        n_resamples=n_resamples,
                    )
                rows.append(
                    Row(
                        workload=workload,
                        preset=preset,
                        profile=profile,
                        config=config,
                        metric=metric,
                        comparison=comparison,
                        outlier_blocks=mad_outliers(_contrasts(metric, values, base_values)),
                        baseline_outlier_blocks=base_outliers,
                        excluded_runs=dropped.get(config.tracker, 0),
                    )
                )
            # The family for Holm: one metric in one group (every configuration against the
            # same baseline runs).
            family = sum(1 for r in rows if r.comparison.p_value is not None)
            for row, p_adj in zip(rows, holm([r.comparison.p_value for r in rows]), strict=True):
                row.p_holm = p_adj
                row.verdict, row.significant = verdict(metric, row.comparison, p_adj, family)
            group.rows.extend(rows)
        group.carbon = [
            carbon_row(
                c.label,
                usable[c],
                base_runs,
                carbon,
                seed_for(seed, workload, preset, profile, c.tracker, c.version, "carbon"),
                n_resamples,
            )
            for c in configs
        ]
        pairs = [
            r.comparison.n_pairs for r in group.rows if r.metric is METRICS[0] and r.comparison
        ]
        if pairs and configs:
            n = min(pairs)
            floor = wilcoxon_p_floor(n) * len(configs)
            if n >= MIN_BLOCKS and floor >= ALPHA:
                group.notes.append(
                    f"With {n} paired blocks and {len(configs)} configurations, the smallest "
                    f"Holm-adjusted Wilcoxon p-value possible is {min(1.0, floor):.3f}: this group "
                    "cannot call any difference significant; run more blocks."
                )
        groups.append(group)
    return Report(
        source=Path(out_dir).name,
        meta=meta,
        groups=groups,
        excluded=sorted(excluded, key=lambda e: e.run_id),
        skipped_lines=skipped,
        seed=seed,
        n_resamples=n_resamples,
        runs_total=len(records),
        energy_methods=sorted(energy_methods),
        carbon=carbon,
        reported=reported_rows(
            [((g.workload, g.preset, g.profile), g.runs) for g in groups],
            seed_for(seed, "reported"),
            n_resamples,
        ),
    )


def _missing(
    metric: Metric,
    config: Config,
    runs: list[dict[str, Any]],
    base_runs: list[dict[str, Any]],
    values: dict[int, float],
    base_values: dict[int, float],
) -> str:
    """Why a comparison has no numbers: no usable runs, or the figure was not measured."""
    if not runs:
        return f"no usable {config.label or config.tracker} runs (all left out)"
    if not base_runs:
        return f"no usable {BASELINE} runs (all left out)"
    reason = missing_reason(metric, runs + base_runs)
    side = ""
    if values:
        side = f" for {BASELINE}"
    elif base_values:
        side = f" for {config.label}"
    return f"not measured{side}: {reason}" if reason else f"not measured{side}"


def missing_reason(metric: Metric, runs: list[dict[str, Any]]) -> str:
    """Why ``metric`` is missing from some of ``runs`` (the first reason, sorted; ``""`` if
    none is given)."""
    lacking = [r for r in runs if metric.read(r) is None]
    return next((r for r in sorted({metric.missing_reason(r) or "" for r in lacking}) if r), "")


def _with_reason(c: Comparison, reason: str) -> Comparison:
    return replace(c, reason=reason)


def _labelled(configs: list[Config]) -> list[Config]:
    """Configurations named by tracker, with the version added where a tracker has several."""
    counts: dict[str, int] = {}
    for c in configs:
        counts[c.tracker] = counts.get(c.tracker, 0) + 1
    return [
        replace(
            c,
            label=(
                c.tracker.replace(SEPARATOR, " ")  # a requested version: mlflow-sqlite@3.17.2
                if SEPARATOR in c.tracker
                else f"{c.tracker} {c.version}"
                if counts[c.tracker] > 1
                else c.tracker
            ),
        )
        for c in configs
    ]


def _config_order(config: Config) -> tuple[str, str]:
    return (config.tracker, config.version or "")


def _contrasts(
    metric: Metric, values: dict[int, float], base: dict[int, float]
) -> dict[int, float]:
    """What outliers are judged on: each block's contrast with ``none`` where blocks pair
    (block-to-block drift cancels), the raw values otherwise."""
    blocks = set(values) & set(base)
    if len(blocks) < 3:
        return values
    if metric.kind == "ratio" and all(base[b] > 0 for b in blocks):
        return {b: values[b] / base[b] for b in blocks}
    return {b: values[b] - base[b] for b in blocks}


def values_by_block(metric: Metric, runs: list[dict[str, Any]]) -> dict[int, float]:
    """Block -> value of the metric over ``runs`` (runs without the figure left out)."""
    out: dict[int, float] = {}
    for rec in runs:
        value = metric.read(rec)
        if value is not None:
            out[int(rec["spec"]["block"])] = value
    return out


__all__ = [
    "BASELINE",
    "META_FILE",
    "Config",
    "ExcludedRun",
    "Group",
    "Report",
    "ReportInputError",
    "Row",
    "build_report",
    "load_runs",
]
