"""Render a :class:`analysis.report.Report` as Markdown, CSV, LaTeX (booktabs), HTML and JSON.

Every renderer is deterministic: rows sorted, numbers in fixed formats, no timestamps other
than the data's own, so rendering the same directory twice gives byte-identical files.
"""

from __future__ import annotations

import csv
import html
import io
import json
from dataclasses import dataclass
from typing import Any

from analysis.carbon import Estimate
from analysis.formatting import format_blocks, format_ci, format_effect, format_p, format_value
from analysis.metrics import HEADLINE, METRICS, Metric
from analysis.report import Group, Report, Row
from analysis.stats import ALPHA, CONFIDENCE, MAD_THRESHOLD, MIN_BLOCKS, POWER

METHOD = (
    f"Each configuration is compared with the `none` runs of the same randomised blocks: the "
    f"estimate is the ratio of the means over the paired blocks minus 1 (or, for amounts "
    f"added, the difference of the means), with a {CONFIDENCE:.0%} BCa bootstrap interval "
    f"(scipy.stats.bootstrap, pairs resampled, fixed seed, nominal level expanded for small "
    f"samples after Hesterberg 2015) and a two-sided Wilcoxon "
    f"signed-rank p-value (Mann-Whitney U where runs cannot be paired), Holm-adjusted over the "
    f"configurations of each metric in each workload x preset x profile. A change is called only "
    f"when the adjusted p < {ALPHA} and the interval excludes zero; otherwise the table gives "
    f"the minimum detectable effect of a paired test (alpha {ALPHA}, power {POWER}) from the "
    f"block-to-block spread; a block whose contrast with `none` (ratio or difference) lies "
    f"more than {MAD_THRESHOLD} scaled median absolute deviations from the configuration's "
    f"median contrast is flagged as an outlier but kept."
)


@dataclass
class Table:
    """A rendered table: a title, column headers and rows of already formatted cells."""

    title: str
    columns: list[str]
    rows: list[list[str]]
    numeric: list[bool]


def _effect_cells(row: Row) -> tuple[str, str]:
    c = row.comparison
    if c.estimate is None:
        return "-", "-"
    if c.ci_low is None:
        return format_effect(row.metric, c.estimate), "-"
    return format_effect(row.metric, c.estimate), format_ci(row.metric, c.ci_low, c.ci_high)


def _outlier_cell(row: Row) -> str:
    return format_blocks(row.outlier_blocks)


def headline_table(group: Group) -> Table:
    """The measure-window wall time of every configuration in ``group`` against ``none``."""
    rows: list[list[str]] = []
    metric_rows = [r for r in group.rows if r.metric is HEADLINE]
    rows.append(
        [
            "none",
            str(group.baseline_runs),
            format_value(HEADLINE, group.baseline_means.get(HEADLINE.key)),
            "baseline",
            "-",
            "-",
            "-",
            format_blocks(metric_rows[0].baseline_outlier_blocks if metric_rows else []),
            str(group.baseline_excluded),
        ]
    )
    for r in metric_rows:
        effect, ci = _effect_cells(r)
        rows.append(
            [
                r.config.label,
                str(r.comparison.n_pairs),
                format_value(HEADLINE, r.comparison.config_mean),
                effect,
                ci,
                format_p(r.p_holm),
                r.verdict,
                _outlier_cell(r),
                str(r.excluded_runs),
            ]
        )
    return Table(
        title=f"{group.title}: {HEADLINE.label}",
        columns=[
            "tracker",
            "blocks",
            "mean",
            "change",
            f"{CONFIDENCE:.0%} CI",
            "p (Holm)",
            "verdict",
            "outliers",
            "excluded",
        ],
        rows=rows,
        numeric=[False, True, True, True, True, True, False, False, True],
    )


def metric_table(report: Report, metric: Metric) -> Table:
    """One metric across every group and configuration."""
    rows: list[list[str]] = []
    for group in report.groups:
        for r in group.rows:
            if r.metric is not metric:
                continue
            c = r.comparison
            effect, ci = _effect_cells(r)
            rows.append(
                [
                    f"{group.workload} {group.preset}",
                    group.profile,
                    r.config.label,
                    str(c.n_pairs),
                    format_value(metric, c.baseline_mean),
                    format_value(metric, c.config_mean),
                    effect,
                    ci,
                    format_p(c.p_value),
                    format_p(r.p_holm),
                    format_effect(metric, c.mde, signed=False),
                    r.verdict,
                    _outlier_cell(r),
                ]
            )
    title = metric.label + (" (% change)" if metric.kind == "ratio" else f" ({metric.unit})")
    return Table(
        title=title,
        columns=[
            "workload",
            "profile",
            "tracker",
            "blocks",
            "none mean",
            "mean",
            "change",
            f"{CONFIDENCE:.0%} CI",
            "p",
            "p (Holm)",
            "MDE",
            "verdict",
            "outliers",
        ],
        rows=rows,
        numeric=[False, False, False, True, True, True, True, True, True, True, True, False, False],
    )


def excluded_table(report: Report) -> Table:
    return Table(
        title="Runs left out of the statistics",
        columns=["run", "status", "reason"],
        rows=[[e.run_id, e.status, e.reason] for e in report.excluded],
        numeric=[False, False, False],
    )


def environment_lines(report: Report) -> list[str]:
    """What produced the data: command, harness commit, host, packages, energy samplers."""
    meta = report.meta
    env = meta.get("environment") or {}
    host = env.get("host") or {}
    lines = [
        f"- Data: `{report.source}`, {report.runs_total} runs, started "
        f"{meta.get('created_at', 'unknown')}.",
        f"- Command: `{meta.get('command', 'unknown')}`",
        f"- Harness commit: `{env.get('harness_commit', 'unknown')}`",
        f"- Host: {host.get('cpu_model', '?')}, {host.get('cpu_logical', '?')} logical CPUs, "
        f"{_gib(host.get('memory_bytes'))} memory, {host.get('os', '?')}; Python "
        f"{env.get('python', '?')}; CUDA_VISIBLE_DEVICES={env.get('cuda_visible_devices')}",
    ]
    gpus = env.get("gpus")
    if gpus:
        lines.append(f"- GPUs: {json.dumps(gpus, sort_keys=True)}")
    packages = env.get("packages") or {}
    if packages:
        lines.append(
            "- Packages: " + ", ".join(f"{k} {v}" for k, v in sorted(packages.items()) if v)
        )
    for name, sampler in sorted((env.get("samplers") or {}).items()):
        state = "available" if sampler.get("available") else f"unavailable: {sampler.get('reason')}"
        lines.append(f"- Sampler {name}: {state}")
    methods = ", ".join(report.energy_methods) if report.energy_methods else "none (not measured)"
    lines.append(f"- Energy methods in the data: {methods}")
    return lines


def _gib(value: Any) -> str:
    return f"{value / 2**30:.1f} GiB" if isinstance(value, (int, float)) else "?"


def _number(value: float | None, signed: bool = True) -> str:
    if value is None:
        return "-"
    return f"{value:+.3g}" if signed else f"{value:.3g}"


class _Notes:
    """Long reasons as numbered notes below a table; cells carry ``[n]``."""

    def __init__(self) -> None:
        self.numbers: dict[str, int] = {}

    def mark(self, reason: str | None) -> str:
        if not reason:
            return ""
        number = self.numbers.setdefault(reason, len(self.numbers) + 1)
        return f" [{number}]"

    def lines(self) -> list[str]:
        return [f"[{n}] {text}" for text, n in self.numbers.items()]


def _estimate_cell(estimate: Estimate | None, notes: _Notes) -> str:
    if estimate is None:
        return "-"
    if estimate.value is None:
        return "-" + notes.mark(estimate.reason)
    ci = (
        f" [{_number(estimate.ci_low)}, {_number(estimate.ci_high)}]"
        if estimate.ci_low is not None
        else notes.mark(estimate.reason)
    )
    return _number(estimate.value) + ci


def carbon_lines(report: Report) -> list[str]:
    """What the carbon columns assume (or how to get them)."""
    if report.carbon is None:
        return [
            "Carbon: no columns (give `--grid-intensity G` in gCO2e/kWh or `--region CODE`, "
            "with `--pue P`)."
        ]
    return [f"Carbon: {report.carbon.describe()}."]


def energy_table(group: Group, report: Report) -> tuple[Table, list[str]]:
    """Extra energy (and carbon) of each configuration against ``none``, with intervals."""
    device = group.carbon[0].device if group.carbon else "GPU"
    columns = [
        "configuration",
        "extra J per run [CI]",
        "extra Wh per 1000 steps [CI]",
        f"extra Wh per {device}-hour [CI]",
    ]
    if report.carbon is not None:
        columns += [f"extra gCO2e per {device}-hour [CI]", "extra gCO2e per 1000 runs [CI]"]
    notes = _Notes()
    rows = []
    for row in group.carbon:
        cells = [
            row.label,
            _estimate_cell(row.extra_j_per_run, notes),
            _estimate_cell(row.extra_wh_per_1000_steps, notes),
            _estimate_cell(row.extra_wh_per_device_hour, notes),
        ]
        if report.carbon is not None:
            cells += [
                _estimate_cell(row.extra_g_per_device_hour, notes),
                _estimate_cell(row.extra_g_per_1000_runs, notes),
            ]
        rows.append(cells)
    table = Table(
        f"Extra energy and carbon: {group.title}",
        columns,
        rows,
        [False] + [True] * (len(columns) - 1),
    )
    return table, notes.lines()


REPORTED_METHOD = (
    "Each tracker's own power or energy samples are turned into energy over the measure window "
    "as a user of the tool would: power samples inside the window are integrated (trapezoids, "
    "the first and last held to the window's edges), an energy counter's increase between its "
    "first and last samples inside the window is scaled to the window; CodeCarbon's totals "
    "cover its own start-to-stop window. The reference is the independent sampler's energy of "
    "the same domain over the same window (NVML for GPUs, RAPL package/dram for CPU/RAM). "
    "Error = (reported - reference) / reference; mean over the runs, BCa interval over the runs. "
    "Fewer than two samples inside the window: too few samples, no number."
)


def reported_table(report: Report) -> tuple[Table, list[str]]:
    """The trackers' reported energy against the reference, per configuration and quantity."""
    notes = _Notes()
    rows = []
    for r in report.reported:
        error = _number(r.error_pct)
        if r.error_ci is not None:
            error += f" [{_number(r.error_ci[0])}, {_number(r.error_ci[1])}]"
        reported = _number(r.reported_j, signed=False)
        reference = _number(r.reference_j, signed=False)
        for reason in r.reasons:
            if reason.startswith("reported: ") and r.reported_j is None:
                reported += notes.mark(reason.removeprefix("reported: "))
            elif reason.startswith("reference: ") and r.reference_j is None:
                reference += notes.mark(reason.removeprefix("reference: "))
        rows.append(
            [
                f"{r.workload} {r.preset} {r.profile}",
                r.configuration,
                f"{r.tool}: {r.quantity}",
                r.method + notes.mark(r.how),
                "-" if r.interval_s is None else f"{r.interval_s:g}",
                "-" if r.samples_in_window is None else f"{r.samples_in_window:g}",
                reported,
                reference,
                error,
                f"{r.n_compared}/{r.n_runs}",
            ]
        )
    columns = [
        "group",
        "configuration",
        "tool: quantity",
        "tool's figure",
        "interval s",
        "samples in window",
        "reported J",
        "reference J",
        "error % [CI]",
        "compared/runs",
    ]
    numeric = [False, False, False, False, True, True, True, True, True, True]
    return Table("Tracker-reported vs measured energy", columns, rows, numeric), notes.lines()


def energy_sections(report: Report) -> list[tuple[Table, list[str]]]:
    """The energy and carbon tables of every group, then the reported-vs-measured table."""
    out = [energy_table(g, report) for g in report.groups if g.carbon]
    if report.reported:
        out.append(reported_table(report))
    return out


def _md_table(table: Table) -> str:
    def cell(text: str) -> str:
        return text.replace("|", "\\|")

    out = ["| " + " | ".join(table.columns) + " |"]
    out.append("|" + "|".join("---:" if n else "---" for n in table.numeric) + "|")
    out += ["| " + " | ".join(cell(c) for c in row) + " |" for row in table.rows]
    return "\n".join(out)


def render_markdown(report: Report, plots: list[str]) -> str:
    """``report.md``: headline, method, environment, per-metric tables, exclusions, plots."""
    parts = [
        f"# trackerbench report: {report.source}",
        "",
        "## Headline: what each tracker adds to the measure window",
        "",
    ]
    for group in report.groups:
        parts += [f"### {group.title}", "", _md_table(headline_table(group)), ""]
        parts += [f"> {note}" for note in group.notes]
        if group.notes:
            parts.append("")
    parts += ["## Energy and carbon", "", *carbon_lines(report), ""]
    for table, notes in energy_sections(report):
        parts += [f"### {table.title}", "", _md_table(table), ""]
        if table.title == "Tracker-reported vs measured energy":
            parts += [REPORTED_METHOD, ""]
        parts += [f"{line}  " for line in notes] + ([""] if notes else [])
    parts += ["## Method", "", METHOD, "", _counts_line(report), "", "## Environment", ""]
    parts += environment_lines(report)
    parts += ["", "## Every metric", ""]
    for metric in METRICS:
        table = metric_table(report, metric)
        parts += [f"### {table.title}", "", _md_table(table), ""]
    parts += ["## Excluded runs", ""]
    if report.excluded:
        parts += [_md_table(excluded_table(report)), ""]
    else:
        parts += ["None: every run was `ok` and no check found data loss.", ""]
    if report.skipped_lines:
        parts += [f"{len(report.skipped_lines)} corrupt lines skipped (`--skip-corrupt`):", ""]
        parts += [f"- {line}" for line in report.skipped_lines] + [""]
    parts += ["## Plots", ""]
    parts += [f"- [{name}](plots/{name})" for name in plots] or ["None."]
    return "\n".join(parts).rstrip("\n") + "\n"


def _counts_line(report: Report) -> str:
    return (
        f"{report.runs_total} runs read; {len(report.excluded)} left out of the statistics "
        f"(failed, timed out, interrupted or data loss; listed below); "
        f"{len(report.skipped_lines)} corrupt lines skipped. Bootstrap: {report.n_resamples} "
        f"resamples, seed {report.seed}. Fewer than {MIN_BLOCKS} blocks: no interval."
    )


_TEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}


def tex_escape(text: str) -> str:
    """``text`` with LaTeX's special characters escaped."""
    return "".join(_TEX_SPECIAL.get(ch, ch) for ch in text)


def _tex_table(table: Table) -> str:
    spec = "".join("r" if n else "l" for n in table.numeric)
    lines = [
        r"\begin{table}[htbp]",
        r"\centering",
        r"\scriptsize",
        rf"\caption{{{tex_escape(table.title)}}}",
        rf"\begin{{tabular}}{{{spec}}}",
        r"\toprule",
        " & ".join(tex_escape(c) for c in table.columns) + r" \\",
        r"\midrule",
    ]
    lines += [" & ".join(tex_escape(c) for c in row) + r" \\" for row in table.rows]
    lines += [r"\bottomrule", r"\end{tabular}", r"\end{table}"]
    return "\n".join(lines)


def render_tex(report: Report) -> str:
    """``report.tex``: a standalone document of booktabs tables (headline, then every metric)."""
    parts = [
        r"\documentclass{article}",
        r"\usepackage{booktabs}",
        r"\usepackage[margin=1.5cm,landscape]{geometry}",
        r"\begin{document}",
        rf"\section*{{trackerbench report: {tex_escape(report.source)}}}",
        tex_escape(METHOD),
        "",
    ]
    parts += [_tex_table(headline_table(g)) + "\n" for g in report.groups]
    parts += [tex_escape(line) + "\n" for line in carbon_lines(report)]
    for table, notes in energy_sections(report):
        parts.append(_tex_table(table) + "\n")
        parts += [tex_escape(line) + "\n" for line in notes]
    parts += [_tex_table(metric_table(report, m)) + "\n" for m in METRICS]
    if report.excluded:
        parts.append(_tex_table(excluded_table(report)) + "\n")
    parts.append(r"\end{document}")
    return "\n".join(parts) + "\n"


_CSS = (
    "body{font-family:system-ui,sans-serif;margin:2em;max-width:1400px}"
    "table{border-collapse:collapse;margin:1em 0;font-size:13px}"
    "th,td{padding:3px 8px;border-bottom:1px solid #ddd}th{border-bottom:2px solid #333}"
    "td.n{text-align:right;font-variant-numeric:tabular-nums}caption{text-align:left;"
    "font-weight:bold}.note{color:#a40}figure{margin:1em 0}svg{max-width:100%;height:auto}"
)


def _html_table(table: Table) -> str:
    out = [f"<table><caption>{html.escape(table.title)}</caption><tr>"]
    out += [f"<th>{html.escape(c)}</th>" for c in table.columns]
    out.append("</tr>")
    for row in table.rows:
        out.append("<tr>")
        out += [
            f'<td class="n">{html.escape(c)}</td>' if n else f"<td>{html.escape(c)}</td>"
            for c, n in zip(row, table.numeric, strict=True)
        ]
        out.append("</tr>")
    out.append("</table>")
    return "".join(out)


def render_html(report: Report, svgs: dict[str, str]) -> str:
    """``report.html``: one self-contained page (inline CSS, plots inlined as SVG)."""
    title = html.escape(f"trackerbench report: {report.source}")
    parts = [
        "<!DOCTYPE html>",
        f'<html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{title}</h1>",
        "<h2>Headline: what each tracker adds to the measure window</h2>",
    ]
    for group in report.groups:
        parts.append(_html_table(headline_table(group)))
        parts += [f'<p class="note">{html.escape(n)}</p>' for n in group.notes]
    parts.append("<h2>Energy and carbon</h2>")
    parts += [f"<p>{html.escape(line)}</p>" for line in carbon_lines(report)]
    for table, notes in energy_sections(report):
        parts.append(_html_table(table))
        parts += [f'<p class="note">{html.escape(line)}</p>' for line in notes]
    parts += [f"<h2>Method</h2><p>{html.escape(METHOD)}</p>"]
    parts += [f"<p>{html.escape(_counts_line(report))}</p>", "<h2>Environment</h2><ul>"]
    parts += [f"<li>{html.escape(line[2:])}</li>" for line in environment_lines(report)]
    parts.append("</ul><h2>Every metric</h2>")
    parts += [_html_table(metric_table(report, m)) for m in METRICS]
    parts.append("<h2>Excluded runs</h2>")
    parts.append(_html_table(excluded_table(report)) if report.excluded else "<p>None.</p>")
    parts.append("<h2>Plots</h2>")
    for name, svg in sorted(svgs.items()):
        parts.append(f"<figure>{svg}<figcaption>{html.escape(name)}</figcaption></figure>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


CSV_COLUMNS = [
    "workload",
    "preset",
    "profile",
    "tracker",
    "tracker_version",
    "metric",
    "unit",
    "kind",
    "design",
    "n_pairs",
    "n_config",
    "n_baseline",
    "baseline_mean",
    "config_mean",
    "estimate",
    "ci_low",
    "ci_high",
    "p_value",
    "p_holm",
    "mde",
    "significant",
    "verdict",
    "outlier_blocks",
    "baseline_outlier_blocks",
    "excluded_runs",
]


def row_dict(row: Row) -> dict[str, Any]:
    """One configuration x metric as plain data (``estimate``/``ci``/``mde`` as in Comparison)."""
    c = row.comparison
    return {
        "workload": row.workload,
        "preset": row.preset,
        "profile": row.profile,
        "tracker": row.config.tracker,
        "tracker_version": row.config.version,
        "metric": row.metric.key,
        "unit": row.metric.unit if row.metric.kind == "difference" else "fraction",
        "kind": row.metric.kind,
        "design": c.design,
        "n_pairs": c.n_pairs,
        "n_config": c.n_config,
        "n_baseline": c.n_baseline,
        "baseline_mean": c.baseline_mean,
        "config_mean": c.config_mean,
        "estimate": c.estimate,
        "ci_low": c.ci_low,
        "ci_high": c.ci_high,
        "p_value": c.p_value,
        "p_holm": row.p_holm,
        "mde": c.mde,
        "significant": row.significant,
        "verdict": row.verdict,
        "outlier_blocks": row.outlier_blocks,
        "baseline_outlier_blocks": row.baseline_outlier_blocks,
        "excluded_runs": row.excluded_runs,
    }


def render_csv(report: Report) -> str:
    """``summary.csv``: one row per configuration x metric, full-precision numbers."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in report.rows:
        doc = row_dict(row)
        writer.writerow(
            [
                " ".join(f"b{b}" for b in v)
                if isinstance(v, list)
                else ("" if v is None else repr(v) if isinstance(v, float) else v)
                for v in (doc[k] for k in CSV_COLUMNS)
            ]
        )
    return buf.getvalue()


def render_json(report: Report) -> str:
    """The numbers for machines: rows, groups' notes, exclusions and provenance."""
    env = report.meta.get("environment") or {}
    doc = {
        "source": report.source,
        "command": report.meta.get("command"),
        "harness_commit": env.get("harness_commit"),
        "runs_total": report.runs_total,
        "seed": report.seed,
        "n_resamples": report.n_resamples,
        "method": METHOD,
        "notes": {g.title: g.notes for g in report.groups if g.notes},
        "rows": [row_dict(r) for r in report.rows],
        "carbon": {
            "settings": (
                {
                    "g_co2e_per_kwh": report.carbon.g_co2e_per_kwh,
                    "pue": report.carbon.pue,
                    "source": report.carbon.source,
                }
                if report.carbon is not None
                else None
            ),
            "rows": {g.title: [c.to_dict() for c in g.carbon] for g in report.groups},
        },
        "reported_energy": {
            "method": REPORTED_METHOD,
            "rows": [r.to_dict() for r in report.reported],
        },
        "excluded": [
            {"run_id": e.run_id, "status": e.status, "reason": e.reason} for e in report.excluded
        ],
        "skipped_lines": report.skipped_lines,
    }
    return json.dumps(doc, indent=2, sort_keys=True, allow_nan=False) + "\n"
