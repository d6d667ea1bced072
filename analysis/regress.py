"""``trackerbench regress``: did a tracker release get worse than the one before it?

The input is a result directory whose matrix has several versions of a configuration
(``mlflow-sqlite@3.16.1``, ``mlflow-sqlite@3.17.2``: :mod:`bench.versions`), interleaved in the
same randomised blocks. For every workload x preset x profile and configuration, each later
version is compared with the *first* version given (the reference), metric by metric, *paired
by block*: both ran in the same block, minutes apart, so block-to-block drift of the host
cancels (Wilcoxon signed-rank, BCa bootstrap interval of the ratio of means or the difference).

The verdict rule is :func:`analysis.report.threshold_verdict`, the one ``compare`` uses: a
metric *regressed* only when the change is significant after Holm correction (one family: every
row of the directory) AND the whole 95 % interval lies beyond the noise threshold (default 2 %
of the reference's mean); *improved* symmetrically; otherwise *unchanged*, with the minimum
detectable effect. A version whose runs failed (an API the adapter does not fit, a crash) is
listed with the error: it cannot be called unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from analysis.compare import CompareRow, decide, markdown_rows, row_json
from analysis.metrics import METRICS
from analysis.report import (
    DEFAULT_RESAMPLES,
    DEFAULT_SEED,
    DEFAULT_THRESHOLD,
    ReportInputError,
    excluded_reason,
    load_runs,
    missing_reason,
    seed_for,
    values_by_block,
)
from analysis.stats import compare
from analysis.summary import profile_name
from bench.versions import split_version, with_version


@dataclass
class FailedVersion:
    """Runs of one version that are left out: how many of how many, and the first error."""

    tracker: str
    version: str
    group: str
    failed: int
    total: int
    error: str


@dataclass
class Regression:
    """Every later version against its reference, per group and metric."""

    source: Path
    versions: dict[str, list[str]]  # configuration -> versions, reference first
    rows: list[CompareRow]
    failed: list[FailedVersion]
    threshold: float
    seed: int
    n_resamples: int
    blocks: int
    imported: dict[str, list[str]] = field(default_factory=dict)  # config@version -> seen

    @property
    def regressions(self) -> list[CompareRow]:
        return [r for r in self.rows if r.regression]

    @property
    def improvements(self) -> list[CompareRow]:
        return [r for r in self.rows if r.status == "improved"]


def versions_in(trackers: list[str]) -> dict[str, list[str]]:
    """``{configuration: [versions in the order given]}`` of the ``NAME@VERSION`` entries."""
    out: dict[str, list[str]] = {}
    for name in trackers:
        base, version = split_version(name)
        if version is not None:
            out.setdefault(base, []).append(version)
    return out


def build_regression(
    out_dir: Path,
    metrics: tuple[str, ...] | None = None,
    threshold: float = DEFAULT_THRESHOLD,
    seed: int = DEFAULT_SEED,
    n_resamples: int = DEFAULT_RESAMPLES,
) -> Regression:
    """The version comparisons of ``out_dir`` (see the module docstring).

    ``metrics``: metric keys to keep (default: every metric of the report). Raises
    :class:`ReportInputError` when the directory has no configuration in two versions.
    """
    records, meta, _ = load_runs(out_dir)
    trackers = list((meta.get("matrix") or {}).get("trackers") or [])
    if not trackers:  # no meta.json: the order of first appearance
        trackers = list(dict.fromkeys(str(r["spec"]["tracker"]) for r in records))
    versions = {base: vs for base, vs in versions_in(trackers).items() if len(vs) >= 2}
    if not versions:
        raise ReportInputError(
            f"{out_dir}: no configuration was run in two or more versions "
            "(trackerbench regress --tracker NAME --versions OLD,NEW makes such a directory)"
        )
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for rec in records:
        spec = rec["spec"]
        groups.setdefault((spec["workload"], spec["preset"], profile_name(rec)), []).append(rec)
    rows: list[CompareRow] = []
    failed: list[FailedVersion] = []
    imported: dict[str, set[str]] = {}
    for (workload, preset, profile), recs in sorted(groups.items()):
        title = f"{workload} {preset} {profile}"
        by_config: dict[str, list[dict[str, Any]]] = {}
        for rec in recs:
            by_config.setdefault(str(rec["spec"]["tracker"]), []).append(rec)
        for base, vs in versions.items():
            usable: dict[str, list[dict[str, Any]]] = {}
            for version in vs:
                config = with_version(base, version)
                runs = by_config.get(config, [])
                usable[version] = [r for r in runs if excluded_reason(r) is None]
                for r in usable[version]:
                    seen = (r.get("tracker") or {}).get("version")
                    imported.setdefault(config, set()).add(str(seen))
                bad = [r for r in runs if excluded_reason(r) is not None]
                if bad:
                    failed.append(
                        FailedVersion(
                            base, version, title, len(bad), len(runs), excluded_reason(bad[0]) or ""
                        )
                    )
            reference = vs[0]
            for version in vs[1:]:
                label = f"{title} {base}: {reference} → {version}"
                for metric in METRICS:
                    if metrics is not None and metric.key not in metrics:
                        continue
                    new = values_by_block(metric, usable[version])
                    old = values_by_block(metric, usable[reference])
                    reason = None
                    if not usable[version] or not usable[reference]:
                        side = version if not usable[version] else reference
                        reason = f"no usable runs of {base} {side}"
                    elif not new or not old:
                        reason = "not measured" + (
                            f": {r}"
                            if (r := missing_reason(metric, usable[version] + usable[reference]))
                            else ""
                        )
                    c = (
                        None
                        if reason
                        else compare(
                            new,
                            old,
                            metric.kind,
                            seed_for(seed, "regress", title, base, reference, version, metric.key),
                            n_resamples=n_resamples,
                            paired=True,
                        )
                    )
                    reason = reason or (c.reason if c else None)
                    rows.append(CompareRow(label, metric, c, reason, label=label))
    decide(rows, threshold, "runs")
    return Regression(
        source=Path(out_dir),
        versions=versions,
        rows=rows,
        failed=failed,
        threshold=threshold,
        seed=seed,
        n_resamples=n_resamples,
        blocks=len({int(r["spec"]["block"]) for r in records}),
        imported={k: sorted(v) for k, v in imported.items()},
    )


def headline(result: Regression) -> str:
    """One line: the regressions, the failed versions, or that there is neither."""
    parts = []
    if result.regressions:
        parts.append(f"{len(result.regressions)} regression(s)")
    if result.failed:
        parts.append(f"failed runs in {len(result.failed)} version(s)")
    if result.improvements:
        parts.append(f"{len(result.improvements)} improvement(s)")
    if not result.regressions and not result.failed:
        parts.insert(0, "no regression")
    return ", ".join(parts)


def method_line(result: Regression) -> str:
    family = sum(1 for r in result.rows if r.p_holm is not None)
    return (
        f"Each later version against the first, paired by block ({result.blocks} randomised "
        f"blocks, every version in each); Holm over {family} rows; a metric regressed only when "
        f"p (Holm) < 0.05 and the whole 95 % CI lies beyond {result.threshold:.0%} of the "
        "reference's mean, improved symmetrically, otherwise unchanged (MDE: the smallest "
        "change these runs could detect)."
    )


def to_markdown(result: Regression) -> str:
    """A pull-request comment: the verdict first, then every row and the failed versions."""
    pairs = "; ".join(f"{base} {' → '.join(vs)}" for base, vs in result.versions.items())
    lines = [
        f"### trackerbench regress: **{headline(result)}**",
        "",
        f"{pairs} ({result.source.name}). {method_line(result)}",
        "",
        markdown_rows(result.rows, "ref", "new"),
    ]
    if result.failed:
        lines += ["", "Failed runs (left out of the statistics):", ""]
        lines += [
            f"- {f.group} {f.tracker} {f.version}: {f.failed} of {f.total} runs: {f.error}"
            for f in result.failed
        ]
    return "\n".join(lines) + "\n"


def to_json(result: Regression) -> dict[str, Any]:
    """Every number, for ``--format json`` and ``regress.json``."""
    return {
        "source": str(result.source),
        "design": "paired by block: each later version against the first (reference)",
        "versions": result.versions,
        "imported_versions": result.imported,
        "threshold": result.threshold,
        "seed": result.seed,
        "resamples": result.n_resamples,
        "blocks": result.blocks,
        "rows": [row_json(r) for r in result.rows],
        "failed": [vars(f) for f in result.failed],
        "regressions": len(result.regressions),
        "improvements": len(result.improvements),
        "headline": headline(result),
    }
