"""`trackerbench report`: statistics on simulated records with known overheads, and its files."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats as sps

from analysis.metrics import HEADLINE, METRICS, METRICS_BY_KEY
from analysis.output import write_report
from analysis.render import CSV_COLUMNS, render_json, tex_escape
from analysis.report import ReportInputError, build_report
from analysis.stats import compare, holm, mad_outliers, wilcoxon_p_floor
from bench import SCHEMA_VERSION
from bench.cli import main
from tests.conftest import DATA


def _record(
    tracker: str,
    block: int,
    wall_s: float,
    workload: str = "mlp",
    profile: str = "standard",
    status: str = "ok",
    data_loss: bool | None = False,
    energy_j: float | None = None,
    samples_per_s: float | None = None,
    version: str | None = "1.0",
) -> dict:
    """A minimal schema-2 run record with the figures the report reads."""
    phase = {"energy_j": None, "energy_reason": "no energy sampler available on this host"}
    return {
        "schema_version": SCHEMA_VERSION,
        "run_id": f"{workload}.tiny.{tracker}.{profile}.r{block}",
        "status": status,
        "error": None if status == "ok" else "RuntimeError: boom",
        "data_loss": None if tracker == "none" else data_loss,
        "spec": {
            "workload": workload,
            "preset": "tiny",
            "tracker": tracker,
            "block": block,
            "profile": {"name": profile, "scalars": 20, "every": 1},
        },
        "phases": {
            "measure": {
                **phase,
                "wall_s": wall_s,
                "energy_j": energy_j,
                "energy_method": "nvml energy counter" if energy_j is not None else None,
            },
            "init": {**phase, "wall_s": 0.0 if tracker == "none" else 0.5},
            "finish": {**phase, "wall_s": 0.0 if tracker == "none" else 0.1},
        },
        "throughput": {"samples_per_s": samples_per_s or 64000.0 / wall_s},
        "steps": {"p50_s": wall_s / 1000, "p99_s": wall_s / 500},
        "process": {"cpu_s": 2 * wall_s, "rss_peak_bytes": 400 << 20, "write_bytes": 4096},
        "tracker": {
            "version": None if tracker == "none" else version,
            "disk_bytes": 0 if tracker == "none" else 1 << 20,
            "recorded": {"missing": {"loss": 7}} if data_loss else {},
        },
        "files": {"run_dir": f"work/{tracker}.r{block}"},
    }


def _simulate(
    overheads: dict[str, float], blocks: int, seed: int, noise: float = 0.03
) -> list[dict]:
    """Runs in blocks: a drifting block level, per-run noise, and each tracker's true overhead.

    Noise has mean 1, so the true ratio of means is exactly ``1 + overhead``.
    """
    rng = np.random.default_rng(seed)
    records = []
    for b in range(blocks):
        level = 2.0 * (1 + 0.1 * rng.standard_normal())
        for tracker, overhead in {"none": 0.0, **overheads}.items():
            wall = level * (1 + overhead) * (1 + noise * rng.standard_normal())
            records.append(_record(tracker, b, wall))
    return records


def _write_dir(path: Path, records: list[dict], meta: dict | None = None) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps(r, sort_keys=True) for r in records]
    (path / "runs.jsonl").write_text("\n".join(lines) + "\n")
    doc = {
        "schema_version": SCHEMA_VERSION,
        "command": "trackerbench run --reps 10 --out X",
        "created_at": "2026-12-04T00:00:00Z",
        "environment": {"harness_commit": "abc123", "host": {"cpu_model": "Test CPU"}},
    }
    (path / "meta.json").write_text(json.dumps(meta or doc))
    return path


def _rows(report, metric=HEADLINE):
    return {r.config.tracker: r for r in report.rows if r.metric is metric}


# --- statistics -----------------------------------------------------------------------------


def test_ci_covers_the_injected_overhead_in_at_least_90_percent_of_seeds():
    true = 0.05
    covered = 0
    seeds = 200
    for seed in range(seeds):
        rng = np.random.default_rng(seed)
        base = {b: 2.0 * (1 + 0.1 * rng.standard_normal()) for b in range(10)}
        cfg = {b: v * (1 + true) * (1 + 0.03 * rng.standard_normal()) for b, v in base.items()}
        base = {b: v * (1 + 0.03 * rng.standard_normal()) for b, v in base.items()}
        c = compare(cfg, base, "ratio", seed=seed, n_resamples=2000)
        covered += c.ci_low <= true <= c.ci_high
    assert covered / seeds >= 0.90, covered


def test_zero_overhead_is_called_significant_in_at_most_about_5_percent():
    seeds = 300
    raw_hits = holm_hits = 0
    for seed in range(seeds):
        report_p = []
        rng = np.random.default_rng(10_000 + seed)
        base = {b: 2.0 * (1 + 0.1 * rng.standard_normal()) for b in range(10)}
        for _ in range(3):  # three configurations with no overhead in one family
            cfg = {b: v * (1 + 0.03 * rng.standard_normal()) for b, v in base.items()}
            report_p.append(compare(cfg, base, "ratio", seed=seed, n_resamples=999).p_value)
        raw_hits += report_p[0] < 0.05
        holm_hits += min(holm(report_p)) < 0.05
    assert raw_hits / seeds <= 0.08, raw_hits
    # Holm keeps the family-wise rate near alpha although three tests are made.
    assert holm_hits / seeds <= 0.08, holm_hits


def test_holm_matches_a_hand_computation():
    # sorted: 0.005*4=0.02, 0.01*3=0.03, 0.03*2=0.06, 0.04*1=0.04 -> monotone 0.06
    assert holm([0.01, 0.04, 0.03, None, 0.005]) == pytest.approx([0.03, 0.06, 0.06, None, 0.02])
    assert holm([0.5, 0.9]) == [1.0, 1.0]
    assert holm([]) == []


def test_mde_is_the_paired_t_formula_relative_to_the_baseline_mean():
    base = {b: 10.0 for b in range(6)}
    diffs = [0.1, -0.2, 0.3, 0.0, 0.2, -0.1]
    cfg = {b: 10.0 + d for b, d in enumerate(diffs)}
    c = compare(cfg, base, "ratio", seed=1)
    sd = np.std(diffs, ddof=1)
    expected = (sps.t.ppf(0.975, 5) + sps.t.ppf(0.8, 5)) * sd / math.sqrt(6) / 10.0
    assert c.mde == pytest.approx(expected)
    d = compare(cfg, base, "difference", seed=1)
    assert d.mde == pytest.approx(expected * 10.0)
    assert d.estimate == pytest.approx(np.mean(diffs))


def test_unpairable_runs_fall_back_to_mann_whitney():
    cfg = {b: 3.0 + 0.1 * b for b in range(0, 5)}
    base = {b: 2.0 + 0.1 * b for b in range(10, 15)}
    c = compare(cfg, base, "ratio", seed=1)
    assert c.design == "unpaired" and c.n_pairs == 0
    assert c.p_value == pytest.approx(
        sps.mannwhitneyu(list(cfg.values()), list(base.values())).pvalue
    )
    assert c.ci_low < c.estimate < c.ci_high


def test_too_few_blocks_give_no_numbers():
    c = compare({0: 2.0, 1: 2.1}, {0: 1.0, 1: 1.1}, "ratio", seed=1)
    assert c.estimate is None and c.ci_low is None and c.p_value is None
    assert "too few blocks" in c.reason


def test_constant_differences_give_a_point_interval():
    c = compare({b: 5.0 for b in range(4)}, {b: 4.0 for b in range(4)}, "difference", seed=1)
    assert (c.estimate, c.ci_low, c.ci_high) == (1.0, 1.0, 1.0)


def test_mad_flags_the_wild_value_only():
    values = {b: 1.0 + 0.01 * (b % 3) for b in range(9)}
    values[4] = 9.0
    assert mad_outliers(values) == [4]
    assert mad_outliers({0: 1.0, 1: 1.0, 2: 1.0}) == []


def test_wilcoxon_floor():
    assert wilcoxon_p_floor(10) == pytest.approx(2 / 1024)
    ten = {b: 1.0 + b for b in range(10)}
    c = compare({b: v + 1 + 0.01 * b for b, v in ten.items()}, ten, "difference", seed=1)
    assert c.p_value == pytest.approx(wilcoxon_p_floor(10))


# --- the report --------------------------------------------------------------------------------


def test_report_calls_a_real_overhead_and_not_a_null_one(tmp_path):
    records = _simulate({"slowtracker": 0.20, "freetracker": 0.0}, blocks=10, seed=3)
    report = build_report(_write_dir(tmp_path / "d", records), n_resamples=2000)
    rows = _rows(report)
    slow, free = rows["slowtracker"], rows["freetracker"]
    assert slow.significant and slow.verdict == "slower"
    assert slow.comparison.ci_low < 0.20 < slow.comparison.ci_high
    assert not free.significant
    assert free.verdict.startswith("no detectable difference (MDE ")
    # Throughput falls where wall time rises: the same verdict word.
    assert _rows(report, METRICS_BY_KEY["samples_per_s"])["slowtracker"].verdict == "slower"
    # Holm over the family of this metric and group.
    assert [slow.p_holm, free.p_holm] == pytest.approx(
        holm([slow.comparison.p_value, free.comparison.p_value])
    )


def test_failed_and_data_loss_runs_are_listed_and_excluded(tmp_path):
    records = _simulate({"t": 0.1}, blocks=5, seed=1)
    records.append(_record("t", 5, 99.0, status="failed"))
    records.append(_record("t", 6, 99.0, data_loss=True))
    records += [_record("none", 5, 2.0), _record("none", 6, 2.0)]
    report = build_report(_write_dir(tmp_path / "d", records), n_resamples=999)
    assert {(e.run_id, e.status) for e in report.excluded} == {
        ("mlp.tiny.t.standard.r5", "failed"),
        ("mlp.tiny.t.standard.r6", "ok"),
    }
    reasons = {e.reason for e in report.excluded}
    assert "RuntimeError: boom" in reasons
    assert any("data loss" in r and "7 fewer" in r for r in reasons)
    row = _rows(report)["t"]
    assert row.excluded_runs == 2 and row.comparison.n_pairs == 5  # the 99 s runs never count


def test_outliers_are_flagged_and_kept(tmp_path):
    records = _simulate({"t": 0.1}, blocks=8, seed=2, noise=0.01)
    for rec in records:
        if rec["spec"]["tracker"] == "t" and rec["spec"]["block"] == 3:
            rec["phases"]["measure"]["wall_s"] *= 5
    report = build_report(_write_dir(tmp_path / "d", records), n_resamples=999)
    row = _rows(report)["t"]
    assert row.outlier_blocks == [3]
    assert row.comparison.n_pairs == 8


def test_energy_null_says_not_measured_with_the_reason(tmp_path):
    report = build_report(_write_dir(tmp_path / "d", _simulate({"t": 0.1}, 4, 1)), n_resamples=999)
    row = _rows(report, METRICS_BY_KEY["energy_j"])["t"]
    assert row.comparison.estimate is None
    assert row.verdict == "not measured: no energy sampler available on this host"


def test_two_tracker_versions_are_two_configurations(tmp_path):
    records = _simulate({}, blocks=4, seed=1)
    for b in range(4):
        records.append(_record("wandb", b, 2.2, version="0.30.0"))
        records.append(_record("wandb", b, 2.4, version="0.31.0"))
    for i, rec in enumerate(records):
        rec["run_id"] += f".{i}"  # distinct runs
    report = build_report(_write_dir(tmp_path / "d", records), n_resamples=999)
    labels = sorted(r.config.label for r in report.rows if r.metric is HEADLINE)
    assert labels == ["wandb 0.30.0", "wandb 0.31.0"]


def test_rendering_twice_is_byte_identical_and_complete(tmp_path):
    records = _simulate({"a": 0.1, "b": 0.0}, blocks=5, seed=4)
    records += [
        _record("a", 1, 2.0, workload="resnet", profile="light"),
        _record("none", 1, 2.0, workload="resnet", profile="light"),
    ]
    src = _write_dir(tmp_path / "d", records)
    _, first = write_report(src, n_resamples=999)
    snapshot = {p.relative_to(src): p.read_bytes() for p in first}
    _, second = write_report(src, n_resamples=999)
    assert {p.relative_to(src): p.read_bytes() for p in second} == snapshot
    names = {str(p.relative_to(src / "report")) for p in first}
    assert {"report.md", "summary.csv", "report.tex", "report.html"} <= names
    assert "plots/overhead-measure_wall_s.svg" in names and "plots/step-times.png" in names
    md = (src / "report" / "report.md").read_text()
    assert "trackerbench run --reps 10 --out X" in md and "abc123" in md
    assert "too few blocks for a CI (1 paired; 3 needed)" in md  # the resnet group
    html = (src / "report" / "report.html").read_text()
    assert "<svg" in html and "http" not in html.split("<svg")[0].lower()  # nothing fetched
    rows = (src / "report" / "summary.csv").read_text().splitlines()
    assert rows[0].split(",") == CSV_COLUMNS
    assert len(rows) - 1 == 3 * len(METRICS)  # (a, b) in mlp, a in resnet
    tex = (src / "report" / "report.tex").read_text()
    assert r"\toprule" in tex and r"\bottomrule" in tex and r"\%" in tex


def test_tex_escape():
    assert tex_escape("a_b 5% & {x}") == r"a\_b 5\% \& \{x\}"


def test_json_format_prints_every_number(tmp_path, capsys):
    src = _write_dir(tmp_path / "d", _simulate({"a": 0.1}, blocks=4, seed=1))
    assert main(["report", str(src), "--format", "json", "--resamples", "999"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["harness_commit"] == "abc123"
    assert len(doc["rows"]) == len(METRICS)
    head = next(r for r in doc["rows"] if r["metric"] == "measure_wall_s")
    assert head["ci_low"] < head["estimate"] < head["ci_high"] and head["n_pairs"] == 4
    # 4 blocks: the exact Wilcoxon cannot go below p = 2/16, so nothing can be called.
    assert head["verdict"] == "cannot be called with 4 blocks (smallest possible p (Holm) 0.125)"
    assert (
        render_json(build_report(src, n_resamples=999))
        == json.dumps(doc, indent=2, sort_keys=True) + "\n"
    )


# --- bad input ---------------------------------------------------------------------------------


def test_directory_without_runs_is_exit_2(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    assert "no runs.jsonl" in capsys.readouterr().err


def test_unknown_schema_is_exit_2(tmp_path, capsys):
    records = _simulate({"a": 0.1}, blocks=3, seed=1)
    records[2]["schema_version"] = 99
    src = _write_dir(tmp_path / "d", records)
    assert main(["report", str(src)]) == 2
    assert "unknown schema_version 99" in capsys.readouterr().err
    assert main(["report", str(src), "--skip-corrupt"]) == 2  # not a corrupt line: still fatal


def test_corrupt_line_names_its_number_and_can_be_skipped(tmp_path, capsys):
    src = _write_dir(tmp_path / "d", _simulate({"a": 0.1}, blocks=4, seed=1))
    lines = (src / "runs.jsonl").read_text().splitlines()
    lines.insert(3, '{"run_id": "half')
    (src / "runs.jsonl").write_text("\n".join(lines) + "\n")
    assert main(["report", str(src)]) == 2
    assert "runs.jsonl:4: corrupt record" in capsys.readouterr().err
    assert main(["report", str(src), "--skip-corrupt", "--resamples", "999"]) == 0
    assert "1 corrupt lines skipped" in capsys.readouterr().out
    assert "runs.jsonl:4: corrupt record" in (src / "report" / "report.md").read_text()


def test_group_without_baseline_is_exit_2(tmp_path, capsys):
    records = [r for r in _simulate({"a": 0.1}, 3, 1) if r["spec"]["tracker"] != "none"]
    src = _write_dir(tmp_path / "d", records)
    with pytest.raises(ReportInputError, match="no `none` baseline runs for mlp tiny"):
        build_report(src)
    assert main(["report", str(src)]) == 2


def _a100_power_w(rows: int) -> list[float]:
    """Instant power readings (W) of a real A100 trace."""
    with open(DATA / "nvml-traces" / "A100_transient_gpudata.csv") as fh:
        lines = fh.read().splitlines()[1 : rows + 1]
    return [float(line.split(",")[6]) for line in lines]


def test_power_plot_only_where_power_was_sampled(tmp_path):
    records = _simulate({"a": 0.1}, blocks=3, seed=1)
    src = _write_dir(tmp_path / "d", records)
    _, written = write_report(src, n_resamples=999)
    assert not any(p.name.startswith("power") for p in written)

    watts = _a100_power_w(300)
    for rec in records:
        if rec["spec"]["block"] == 1:
            run_dir = src / rec["files"]["run_dir"]
            run_dir.mkdir(parents=True)
            doc = {"t": [0.013 * i for i in range(len(watts))], "channels": {"gpu0.power_w": watts}}
            (run_dir / "samples.json").write_text(json.dumps(doc))
    _, written = write_report(src, n_resamples=999)
    names = {p.name for p in written}
    assert {"power.png", "power.svg"} <= names
    assert "plots/power.png" in (src / "report" / "report.md").read_text()


def test_a_tracker_whose_runs_all_failed_keeps_its_row(tmp_path):
    records = _simulate({"a": 0.1}, blocks=3, seed=1)
    for b in range(3):
        failed = _record("broken", b, 1.0, status="failed")
        failed["tracker"]["version"] = None  # failed before the adapter said its version
        records.append(failed)
    report = build_report(_write_dir(tmp_path / "d", records), n_resamples=999)
    row = _rows(report)["broken"]
    assert row.excluded_runs == 3 and row.comparison.estimate is None
    assert row.verdict == "no usable broken runs (all left out)"
    assert sorted(r.config.label for r in report.rows if r.metric is HEADLINE) == ["a", "broken"]


def test_the_published_set_renders_to_its_committed_tables(tmp_path):
    """The committed report of the published set is what `trackerbench report` makes of it.

    Text outputs only: the plots' bytes depend on the matplotlib and FreeType builds.
    """
    published = Path(__file__).parent.parent / "results" / "cpu-2026-12-04"
    write_report(published, out_dir=tmp_path)
    for name in ("report.md", "summary.csv", "report.tex"):
        assert (tmp_path / name).read_bytes() == (published / "report" / name).read_bytes(), name
