"""``trackerbench compare A B``: did B get worse than A?

A and B are two pytest-benchmark JSON files (``--benchmark-json`` output, or
``--benchmark-autosave``/``--benchmark-save`` files written with ``--benchmark-save-data``) or
two result directories (``trackerbench run --out``). Entries are matched by name: a benchmark's
``fullname``, or a result directory's workload, preset, profile and tracker configuration. For
each match and metric, B is compared with A the way the report compares a configuration with
``none`` (:func:`analysis.stats.compare`: ratio of means or difference of means, 95 % BCa
bootstrap interval, Holm-adjusted p-value), *unpaired*: the two sets were run separately, so
their round or block numbers say nothing about shared conditions (Mann-Whitney U instead of
Wilcoxon).

The verdict rule is the report's, with a noise threshold on top: a change is called only when
the Holm-adjusted p < 0.05 (Holm over every compared row, all entries and metrics, since any of
them can fail the comparison) and the whole interval lies beyond the threshold (default 2 % of
A's mean, as criterion.rs does): rounds of one session share its conditions (clock speed, host
load), so a small difference between two sessions can be significant and still only be the host.
A called change in a metric's costly direction is a *regression*; ``trackerbench compare`` exits
1 when there is one. Where the exact Mann-Whitney test cannot reach p < 0.05 after Holm with the
rounds given (3 against 3 never can), the verdict says "cannot be called", not "no difference".

Which values are compared: for a macro benchmark, every metric of the report from its
``extra_info["per_round"]``; for any other benchmark, its per-round times (``stats.data``); for
a result directory, every metric of the report over its usable runs (failed runs and runs with
data loss left out, as in the report; macro rounds with data loss are left out too). Above
:data:`MAX_VALUES` values a side (a micro benchmark can have 100 000 rounds) the values are
replaced by :data:`MAX_VALUES` means of consecutive batches, which keeps the bootstrap tractable
and damps the autocorrelation of back-to-back rounds; the output says when.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from analysis.formatting import format_ci, format_effect, format_p, format_value
from analysis.metrics import METRICS, METRICS_BY_KEY, Metric
from analysis.report import (
    DEFAULT_RESAMPLES,
    DEFAULT_SEED,
    DEFAULT_THRESHOLD,
    ReportInputError,
    excluded_reason,
    load_runs,
    missing_reason,
    seed_for,
    threshold_verdict,
)
from analysis.stats import Comparison, compare, holm
from analysis.summary import profile_name
from bench.versions import split_version

MAX_VALUES = 2000

TIME = Metric(
    "time_s",
    "time per round (pytest-benchmark)",
    "s",
    "ratio",
    "higher",
    ("slower", "faster"),
    lambda record: None,
)
"""A non-macro benchmark's own figure: pytest-benchmark's time per round (per iteration)."""

NO_DATA = (
    "no per-round data in the file: --benchmark-autosave and --benchmark-save files hold them "
    "only when written with --benchmark-save-data (--benchmark-json output always does)"
)


class CompareInputError(ReportInputError):
    """An input cannot be compared: missing, corrupt, of the wrong kind, or nothing matches."""


@dataclass
class Entry:
    """The values of one benchmark or configuration per metric key (``missing``: why a metric
    has none)."""

    name: str
    values: dict[str, list[float]] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)
    metrics: tuple[Metric, ...] = ()
    label: str = ""  # how it is shown (a benchmark's short name)
    iterations: int | None = None  # calls averaged in each per-round time (pytest-benchmark)
    dropped_rounds: int = 0  # macro rounds left out for data loss
    versions: tuple[str, ...] = ()  # tracker versions the runs imported (result directories)


@dataclass
class Side:
    """One input: its entries by name, what kind it is, and its description."""

    path: Path
    kind: str  # "pytest-benchmark JSON file" or "result directory"
    entries: dict[str, Entry]
    facts: dict[str, Any] = field(default_factory=dict)
    environment: dict[str, str | None] = field(default_factory=dict)  # environment_facts()


@dataclass
class CompareRow:
    """B against A for one entry and metric."""

    name: str
    metric: Metric
    comparison: Comparison | None
    reason: str | None = None
    batched: bool = False
    label: str = ""
    p_holm: float | None = None
    verdict: str = ""
    status: str = "not compared"  # regressed, improved, unchanged (threshold_verdict)

    @property
    def significant(self) -> bool:
        """A change was called (beyond the noise threshold)."""
        return self.status in ("regressed", "improved")

    @property
    def regression(self) -> bool:
        return self.status == "regressed"


@dataclass
class Comparisons:
    a: Side
    b: Side
    rows: list[CompareRow]
    only_a: list[str]
    only_b: list[str]
    seed: int
    n_resamples: int
    threshold: float = DEFAULT_THRESHOLD
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # environment facts that differ

    @property
    def regressions(self) -> list[CompareRow]:
        return [r for r in self.rows if r.regression]


# --------------------------------------------------------------------------- inputs


def load_side(path: Path) -> Side:
    """A pytest-benchmark JSON file or a result directory, as entries by name."""
    path = Path(path)
    if path.is_dir():
        return _load_directory(path)
    if not path.exists():
        raise CompareInputError(f"{path}: no such file or directory")
    return _load_benchmark_json(path)


def _load_benchmark_json(path: Path) -> Side:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CompareInputError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise CompareInputError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("benchmarks"), list):
        raise CompareInputError(
            f"{path}: not a pytest-benchmark JSON file (no 'benchmarks' list); pass a file "
            "written by --benchmark-json or --benchmark-autosave, or a result directory"
        )
    entries: dict[str, Entry] = {}
    for number, bench in enumerate(doc["benchmarks"]):
        if not isinstance(bench, dict) or not isinstance(bench.get("fullname"), str):
            raise CompareInputError(f"{path}: benchmark #{number} has no 'fullname'")
        entry = _benchmark_entry(path, bench)
        entry.label = str(bench.get("name") or entry.name)
        entries[bench["fullname"]] = entry
    if not entries:
        raise CompareInputError(f"{path}: holds no benchmarks")
    machine = doc.get("machine_info") or {}
    ours = machine.get("trackerbench") if isinstance(machine.get("trackerbench"), dict) else {}
    return Side(
        path,
        "pytest-benchmark JSON file",
        entries,
        {"pytest-benchmark": doc.get("version"), "machine": machine.get("node")},
        environment_facts(ours, ours.get("threads")) if ours else {},
    )


def _finite(values: Any) -> list[float] | None:
    if not isinstance(values, list):
        return None
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            return None
        out.append(float(v))
    return out


def _benchmark_entry(path: Path, bench: dict[str, Any]) -> Entry:
    name = bench["fullname"]
    extra = bench.get("extra_info") or {}
    if extra.get("suite") == "macro":
        rounds = extra.get("per_round")
        if not isinstance(rounds, list) or not all(isinstance(r, dict) for r in rounds):
            raise CompareInputError(f"{path}: {name}: extra_info.per_round is not a list of rounds")
        entry = Entry(name, metrics=METRICS)
        entry.dropped_rounds = sum(1 for r in rounds if r.get("data_loss") is True)
        rounds = [r for r in rounds if r.get("data_loss") is not True]
        for metric in METRICS:
            present = [r.get(metric.key) for r in rounds if r.get(metric.key) is not None]
            values = _finite(present)
            if values is None:
                raise CompareInputError(f"{path}: {name}: per_round {metric.key} is not numeric")
            if values:
                entry.values[metric.key] = values
            elif entry.dropped_rounds and not rounds:
                entry.missing[metric.key] = "every round lost data"
            else:
                entry.missing[metric.key] = _macro_missing(metric, extra)
        return entry
    entry = Entry(name, metrics=(TIME,))
    iterations = (bench.get("stats") or {}).get("iterations")
    entry.iterations = iterations if isinstance(iterations, int) else None
    data = (bench.get("stats") or {}).get("data")
    if data is None:
        entry.missing[TIME.key] = NO_DATA
        return entry
    values = _finite(data)
    if values is None or not values:
        raise CompareInputError(f"{path}: {name}: stats.data is not a list of numbers")
    entry.values[TIME.key] = values
    return entry


def _macro_missing(metric: Metric, extra: dict[str, Any]) -> str:
    if metric.key in ("energy_j", "energy_pct") and extra.get("energy_reason"):
        return f"not measured: {extra['energy_reason']}"
    return "not measured"


def _load_directory(path: Path) -> Side:
    records, meta, _ = load_runs(path)
    usable = [r for r in records if excluded_reason(r) is None]
    if not usable:
        raise CompareInputError(f"{path}: no usable runs (every run failed or lost data)")
    # A requested version (mlflow-sqlite@3.17.2) is dropped from the name when the directory
    # holds one version of that configuration, so that two releases run separately match.
    requested: dict[str, set[str]] = {}
    for rec in usable:
        base, version = split_version(str(rec["spec"]["tracker"]))
        requested.setdefault(base, set()).add(version or "")
    by_name: dict[str, list[dict[str, Any]]] = {}
    for rec in usable:
        spec = rec["spec"]
        tracker = str(spec["tracker"])
        base = split_version(tracker)[0]
        shown = base if len(requested[base]) == 1 else tracker
        name = f"{spec['workload']} {spec['preset']} {profile_name(rec)} {shown}"
        by_name.setdefault(name, []).append(rec)
    entries: dict[str, Entry] = {}
    for name, recs in sorted(by_name.items()):
        entry = Entry(name, metrics=METRICS)
        entry.versions = tuple(
            sorted({str(v) for r in recs if (v := (r.get("tracker") or {}).get("version"))})
        )
        for metric in METRICS:
            values = [v for r in recs if (v := metric.read(r)) is not None]
            if values:
                entry.values[metric.key] = values
            else:
                reason = missing_reason(metric, recs)
                entry.missing[metric.key] = "not measured" + (f": {reason}" if reason else "")
        entries[name] = entry
    env = meta.get("environment") or {}
    return Side(
        path,
        "result directory",
        entries,
        {"command": meta.get("command"), "harness_commit": env.get("harness_commit")},
        environment_facts(env, (meta.get("matrix") or {}).get("threads")),
    )


ENVIRONMENT_FACTS = {
    "gpu": "GPU",
    "gpu_driver": "GPU driver",
    "torch": "torch",
    "cpu_model": "CPU model",
    "threads": "torch threads",
    "python": "Python",
}


def environment_facts(env: dict[str, Any], threads: Any) -> dict[str, str | None]:
    """The facts two sessions must share to be compared: GPU and driver, torch, CPU model,
    thread count and Python (from ``meta.json``'s or ``machine_info``'s host facts)."""
    host = env.get("host") or {}
    nvml = (env.get("samplers") or {}).get("nvml") or {}
    gpus = [str(g.get("name")) for g in nvml.get("gpus") or []]
    return {
        "gpu": ", ".join(gpus) if gpus else "none",
        "gpu_driver": nvml.get("driver_version"),
        "torch": (env.get("packages") or {}).get("torch"),
        "cpu_model": host.get("cpu_model"),
        "threads": str(threads) if threads is not None else None,
        "python": env.get("python"),
    }


def environment_warnings(a: Side, b: Side) -> list[str]:
    """One line per environment fact that differs between A and B (unknown on both: none)."""
    out = []
    for key, label in ENVIRONMENT_FACTS.items():
        va, vb = a.environment.get(key), b.environment.get(key)
        if (va is not None or vb is not None) and va != vb:
            out.append(f"{label} differs: {va or 'unknown'} in A, {vb or 'unknown'} in B")
    return out


# --------------------------------------------------------------------------- statistics


def batch_means(values: list[float], limit: int = MAX_VALUES) -> tuple[list[float], bool]:
    """``values`` as at most ``limit`` means of consecutive batches (and whether it batched)."""
    if len(values) <= limit:
        return values, False
    return [float(b.mean()) for b in np.array_split(np.asarray(values), limit)], True


def compare_sides(
    a: Side,
    b: Side,
    metrics: tuple[str, ...] | None = None,
    seed: int = DEFAULT_SEED,
    n_resamples: int = DEFAULT_RESAMPLES,
    threshold: float = DEFAULT_THRESHOLD,
) -> Comparisons:
    """B against A for every matched entry and metric (``metrics``: keys to keep).

    ``threshold``: the fraction of A's mean the whole interval must clear for a change to be
    called (0 for the report's rule alone).
    """
    if a.kind != b.kind:
        raise CompareInputError(
            f"{a.path} is a {a.kind} and {b.path} a {b.kind}: compare two of the same kind"
        )
    common = [name for name in a.entries if name in b.entries]
    if not common:
        raise CompareInputError(
            f"{a.path} and {b.path} have no benchmark or configuration in common "
            f"(A: {', '.join(sorted(a.entries)[:5])}; B: {', '.join(sorted(b.entries)[:5])})"
        )
    rows: list[CompareRow] = []
    notes: list[str] = []
    for name in common:
        ea, eb = a.entries[name], b.entries[name]
        if ea.iterations and eb.iterations and ea.iterations != eb.iterations:
            notes.append(
                f"{ea.label or name}: each round averages {ea.iterations} calls in A and "
                f"{eb.iterations} in B (pytest-benchmark calibrates per session), so the rounds' "
                "spreads differ; compare the means with care"
            )
        if ea.versions and eb.versions and ea.versions != eb.versions:
            notes.append(
                f"{ea.label or name}: tracker version {', '.join(ea.versions)} in A, "
                f"{', '.join(eb.versions)} in B"
            )
        for side, entry in (("A", ea), ("B", eb)):
            if entry.dropped_rounds:
                notes.append(
                    f"{entry.label or name}: {entry.dropped_rounds} round(s) of {side} lost data "
                    "and were left out"
                )
        for metric in ea.metrics:
            if metrics is not None and metric.key not in metrics:
                continue
            va, vb = ea.values.get(metric.key), eb.values.get(metric.key)
            if not va or not vb:
                reason = ea.missing.get(metric.key) if not va else eb.missing.get(metric.key)
                side = "A" if not va else "B"
                row = CompareRow(name, metric, None, f"{side}: {reason or 'no values'}")
                row.label = ea.label or name
                rows.append(row)
                continue
            va, batched_a = batch_means(va)
            vb, batched_b = batch_means(vb)
            c = compare(
                dict(enumerate(vb)),
                dict(enumerate(va)),
                metric.kind,
                seed_for(seed, "compare", name, metric.key),
                n_resamples=n_resamples,
                paired=False,
            )
            rows.append(
                CompareRow(name, metric, c, c.reason, batched_a or batched_b, ea.label or name)
            )
    decide(rows, threshold, "rounds")
    return Comparisons(
        a=a,
        b=b,
        rows=rows,
        only_a=sorted(set(a.entries) - set(b.entries)),
        only_b=sorted(set(b.entries) - set(a.entries)),
        seed=seed,
        n_resamples=n_resamples,
        threshold=threshold,
        notes=notes,
        warnings=environment_warnings(a, b),
    )


def decide(rows: list[CompareRow], threshold: float, unpaired_unit: str) -> None:
    """Holm over every row (any of them can fail the check), then each row's verdict by
    :func:`analysis.report.threshold_verdict`; fills ``p_holm``, ``status`` and ``verdict``."""
    p_values = [r.comparison.p_value if r.comparison else None for r in rows]
    family = sum(1 for p in p_values if p is not None)
    for row, p_adj in zip(rows, holm(p_values), strict=True):
        row.p_holm = p_adj
        decision = threshold_verdict(
            row.metric, row.comparison, p_adj, family, threshold, unpaired_unit, row.reason or ""
        )
        row.status, row.verdict = decision.status, decision.words


def metric_keys(text: str) -> tuple[str, ...]:
    """``--metric`` values, checked: report metric keys or ``time_s``."""
    valid = [TIME.key, *METRICS_BY_KEY]
    keys = tuple(k.strip() for k in text.split(",") if k.strip())
    unknown = [k for k in keys if k not in valid]
    if unknown or not keys:
        raise CompareInputError(
            f"unknown metric {unknown[0] if unknown else text!r}; valid: {', '.join(valid)}"
        )
    return keys


def row_json(r: CompareRow) -> dict[str, Any]:
    """Every number of one compared row (``compare`` and ``regress`` JSON)."""
    c = r.comparison
    return {
        "name": r.name,
        "metric": r.metric.key,
        "unit": r.metric.unit,
        "kind": r.metric.kind,
        "a_mean": c.baseline_mean if c else None,
        "b_mean": c.config_mean if c else None,
        "n_a": c.n_baseline if c else None,
        "n_b": c.n_config if c else None,
        "estimate": c.estimate if c else None,
        "ci95": [c.ci_low, c.ci_high] if c and c.ci_low is not None else None,
        "p": c.p_value if c else None,
        "p_holm": r.p_holm,
        "mde": c.mde if c else None,
        "batched": r.batched,
        "verdict": r.verdict,
        "status": r.status,
        "significant": r.significant,
        "regression": r.regression,
    }


def to_json(result: Comparisons) -> dict[str, Any]:
    """Every number of a comparison, for ``--format json``."""
    return {
        "a": {"path": str(result.a.path), "kind": result.a.kind, **result.a.facts},
        "b": {"path": str(result.b.path), "kind": result.b.kind, **result.b.facts},
        "design": "unpaired (separate sessions), B relative to A",
        "threshold": result.threshold,
        "notes": result.notes,
        "environment_warnings": result.warnings,
        "environment": {"a": result.a.environment, "b": result.b.environment},
        "seed": result.seed,
        "resamples": result.n_resamples,
        "rows": [row_json(r) for r in result.rows],
        "only_in_a": result.only_a,
        "only_in_b": result.only_b,
        "regressions": len(result.regressions),
    }


STATUS_MARK = {"regressed": "❌ ", "improved": "✅ ", "unchanged": "", "not compared": "⚠️ "}


def change_cells(r: CompareRow) -> list[str]:
    """Formatted cells of a row: metric, reference mean, candidate mean, n, change [95 % CI],
    p (Holm), verdict."""
    c = r.comparison
    change = "-"
    if c is not None and c.estimate is not None:
        change = format_effect(r.metric, c.estimate)
        if c.ci_low is not None:
            change += " " + format_ci(r.metric, c.ci_low, c.ci_high)
    return [
        r.metric.key + (" *" if r.batched else ""),
        format_value(r.metric, c.baseline_mean if c else None),
        format_value(r.metric, c.config_mean if c else None),
        f"{c.n_baseline}/{c.n_config}" if c else "-",
        change,
        format_p(r.p_holm),
        f"{r.status}: {r.verdict}" if r.significant else r.verdict,
    ]


CHANGE_COLUMNS = ("metric", "{a} mean", "{b} mean", "n {a}/{b}", "change [95 % CI]", "p (Holm)")


def numbered_cells(rows: list[CompareRow]) -> tuple[list[list[str]], dict[str, int]]:
    """:func:`change_cells` of every row, a not-compared row's (long, often shared) reason
    replaced by a note number; and the notes (text -> number)."""
    notes: dict[str, int] = {}
    table = []
    for r in rows:
        cells = change_cells(r)
        if r.status == "not compared":
            cells[-1] = f"not compared [{notes.setdefault(r.verdict, len(notes) + 1)}]"
        table.append(cells)
    return table, notes


def markdown_rows(rows: list[CompareRow], a: str = "A", b: str = "B") -> str:
    """Rows as a markdown table (one table; the entry in the first column)."""
    head = ["entry", *(h.format(a=a, b=b) for h in CHANGE_COLUMNS), "verdict"]
    out = ["| " + " | ".join(head) + " |", "|---|---|" + "---:|" * 5 + "---|"]
    table, notes = numbered_cells(rows)
    for r, row_cells in zip(rows, table, strict=True):
        cells = [r.label or r.name, *row_cells]
        cells[-1] = STATUS_MARK.get(r.status, "") + cells[-1]
        out.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    out += [""] + [f"[{n}] {text}" for text, n in notes.items()] if notes else []
    return "\n".join(out)


def to_markdown(result: Comparisons) -> str:
    """A pull-request comment: the verdict first, then every row, notes and warnings."""
    regressions = result.regressions
    head = f"**{len(regressions)} regression(s)**" if regressions else "**No regression**"
    lines = [
        f"### trackerbench compare: {head}",
        "",
        f"B `{result.b.path}` against A `{result.a.path}` ({result.a.kind}s): unpaired "
        f"(separate sessions), Holm over {sum(1 for r in result.rows if r.p_holm is not None)} "
        f"rows; a change is called when p (Holm) < 0.05 and the whole 95 % CI lies beyond "
        f"{result.threshold:.0%} of A's mean.",
        "",
    ]
    lines += [f"> ⚠️ {w}" for w in result.warnings]
    if result.warnings:
        lines.append("")
    lines.append(markdown_rows(result.rows))
    lines += [""] + [f"- {n}" for n in result.notes] if result.notes else []
    for side, names in (("A", result.only_a), ("B", result.only_b)):
        if names:
            lines.append(f"- only in {side} (not compared): {', '.join(names)}")
    return "\n".join(lines).rstrip() + "\n"
