"""The pytest-benchmark suites in bench/ and `trackerbench compare`.

The smoke test runs the real suites (tiny, one round) in a pytest subprocess, as a user would,
so they cannot rot; the rest check the pieces on constructed inputs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from analysis.compare import MAX_VALUES, NO_DATA, batch_means, compare_sides, load_side
from bench.cli import main
from bench.profiles import BUILTIN_PROFILES
from bench.suites import macro
from bench.suites.macro import MacroSession, RoundFailed, extra_info, measure_window_clock
from bench.suites.selection import MacroCase, SelectionError, parse_selection
from bench.trackers import configurations
from tests.conftest import PLUGINS
from tests.test_report import _record, _simulate, _write_dir

ROOT = Path(__file__).resolve().parents[1]
STANDARD = BUILTIN_PROFILES["standard"]


def _pytest_bench(tmp_path: Path, *args: str, timeout: float = 900) -> subprocess.CompletedProcess:
    """``python -m pytest bench/ ...`` in a subprocess, with the test-only trackers visible."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(PLUGINS), str(ROOT)) if p)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "bench/", "-p", "no:cacheprovider", "-rs", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.mark.slow
def test_smoke_suites_write_micro_and_macro_entries(tmp_path, capsys):
    """The issue's done-when, on a subset: micro and macro entries, energy null with its reason,
    overhead_ratio, GPU/NVML facts in machine_info, a missing tracker skipped with its reason."""
    out = tmp_path / "out.json"
    proc = _pytest_bench(
        tmp_path,
        "--benchmark-only",
        "--tb-tracker",
        "none,mlflow-sqlite,test-missing",
        "--tb-rounds",
        "1",
        "--tb-warmup-rounds",
        "0",
        "--tb-out",
        str(tmp_path / "macro"),
        "--benchmark-max-time",
        "0.02",
        "--benchmark-min-rounds",
        "3",
        f"--benchmark-json={out}",
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "SKIPPED" in proc.stdout and "test-missing" in proc.stdout
    assert "'tb-not-installed' package is not installed" in proc.stdout
    doc = json.loads(out.read_text())
    gpu = doc["machine_info"]["trackerbench"]["gpu"]
    assert isinstance(gpu["available"], bool)
    if not gpu["available"]:
        assert gpu["reason"].startswith("no GPU energy figures on this host: ")
    assert doc["machine_info"]["trackerbench"]["trackers"]["mlflow-sqlite"]["version"]
    by_group: dict[str, set[str]] = {}
    for bench in doc["benchmarks"]:
        by_group.setdefault(bench["group"], set()).add(bench["extra_info"]["tracker"])
    for group in (
        "micro: log 1 scalar",
        "micro: log 20 scalars",
        "micro: log 200 scalars",
        "micro: log a histogram",
        "micro: init+finish",
        "macro: mlp tiny, profile standard",
    ):
        assert by_group[group] == {"none", "mlflow-sqlite"}, group
    macro_entries = {
        b["extra_info"]["tracker"]: b for b in doc["benchmarks"] if b["group"].startswith("macro")
    }
    for bench in macro_entries.values():
        info = bench["extra_info"]
        assert "energy_j" in info and "overhead_ratio" in info
        if info["energy_j"] is None:
            assert info["energy_reason"]
        # pytest-benchmark's time is the measure window the worker measured
        assert bench["stats"]["mean"] == pytest.approx(info["per_round"][0]["measure_wall_s"])
        assert info["rounds"] == 1 and len(info["per_round"]) == 1
    assert macro_entries["none"]["extra_info"]["overhead_ratio"] is None
    assert macro_entries["none"]["extra_info"]["overhead_reason"] == "this is the baseline"
    mlflow = macro_entries["mlflow-sqlite"]["extra_info"]
    expected = mlflow["measure_wall_s"] / macro_entries["none"]["extra_info"]["measure_wall_s"]
    assert mlflow["overhead_ratio"] == pytest.approx(expected)
    assert mlflow["recorded_data"] == {
        "checked_rounds": 1,
        "data_loss_rounds": 0,
        "not_checked_reason": None,
    }
    assert mlflow["tracker_version"]
    records = (tmp_path / "macro" / "runs.jsonl").read_text().splitlines()
    assert len(records) == 2  # measured rounds only
    assert not (ROOT / "mlruns").exists()  # in-process MLflow wrote into its own directory

    # the file compares with itself: micro times compared (no change), 1-round macros not
    assert main(["compare", str(out), str(out), "--resamples", "999", "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)["rows"]
    micro = [r for r in rows if r["metric"] == "time_s" and r["estimate"] is not None]
    assert len(micro) >= 8  # log x3 and histogram per tracker (init+finish has 1 round)
    assert all(r["estimate"] == 0 and not r["significant"] for r in micro)
    macro_rows = [r for r in rows if r["metric"] == "measure_wall_s"]
    assert len(macro_rows) == 2
    assert all(r["verdict"] == "too few values for a CI (1; 3 needed)" for r in macro_rows)


def test_unknown_selection_value_is_a_usage_error_listing_valid_names(tmp_path):
    proc = _pytest_bench(tmp_path, "--collect-only", "--tb-tracker", "none,nope", timeout=300)
    assert proc.returncode == 4  # pytest's usage error
    assert "--tb-tracker: unknown tracker 'nope'" in proc.stderr
    assert "mlflow-sqlite" in proc.stderr and "wandb-offline" in proc.stderr


def test_parse_selection_checks_every_axis():
    with pytest.raises(SelectionError, match="unknown workload 'nope'.*mlp"):
        parse_selection(workload="nope")
    with pytest.raises(SelectionError, match="unknown preset 'huge' for workload 'mlp'; valid: "):
        parse_selection(preset="huge")
    with pytest.raises(SelectionError, match="unknown profile 'loud'; valid: light, standard"):
        parse_selection(profile="loud")
    with pytest.raises(SelectionError, match="'wandb-offline' has no \\+sysmetrics"):
        parse_selection(tracker="wandb-offline+sysmetrics")
    with pytest.raises(SelectionError, match="compare releases with `trackerbench regress`"):
        parse_selection(tracker="mlflow-sqlite@3.16.1")
    with pytest.raises(SelectionError, match="--tb-rounds: must be an integer >= 1"):
        parse_selection(rounds=0)
    with pytest.raises(SelectionError, match="an empty list"):
        parse_selection(tracker=" , ")
    every = parse_selection()
    assert every.trackers == tuple(configurations())
    assert "mlflow-sqlite+sysmetrics" in every.trackers
    picked = parse_selection(tracker="mlflow-sqlite,none", preset="tiny,small", workload="mlp")
    cases = picked.macro_cases()
    assert [c.tracker for c in cases] == ["none", "mlflow-sqlite"] * 2  # none first per group
    assert [c.preset for c in cases] == ["tiny", "tiny", "small", "small"]


# --------------------------------------------------------------------------- macro engine


def _fake_record(run_id: str, measure_s: float, status: str = "ok") -> dict:
    return {
        "run_id": run_id,
        "status": status,
        "error": None if status == "ok" else "RuntimeError: boom\ntraceback",
        "phases": {"measure": {"wall_s": measure_s}},
        "files": {"run_dir": f"work/{run_id}"},
    }


def test_macro_rounds_advance_the_timer_by_the_measure_window_only(tmp_path, monkeypatch):
    walls = iter([9.0, 2.0, 3.0])  # one warm-up round, then two measured
    seen = []

    def fake_run_one(spec, opts):
        seen.append(spec.run_id)
        return _fake_record(spec.run_id, next(walls))

    monkeypatch.setattr(macro, "run_one", fake_run_one)
    session = MacroSession(tmp_path, rounds=2, warmup_rounds=1, device="cpu")
    case = MacroCase("mlp", "tiny", STANDARD, "none")
    before = measure_window_clock()
    session.round(case, 0)
    assert measure_window_clock() == before  # warm-up: not timed
    session.round(case, 1)
    assert measure_window_clock() - before == pytest.approx(2.0)
    session.round(case, 2)
    assert measure_window_clock() - before == pytest.approx(5.0)
    assert seen == ["mlp.tiny.none.standard.w0", "mlp.tiny.none.standard.r0"] + [
        "mlp.tiny.none.standard.r1"
    ]
    lines = (tmp_path / "runs.jsonl").read_text().splitlines()
    assert [json.loads(x)["run_id"] for x in lines] == seen[1:]  # warm-up not recorded
    assert [r["run_id"] for r in session.measured(case)] == seen[1:]


def test_a_failed_round_raises_with_its_error_and_run_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(macro, "run_one", lambda spec, opts: _fake_record(spec.run_id, 1, "failed"))
    session = MacroSession(tmp_path, rounds=1, warmup_rounds=0, device="cpu")
    with pytest.raises(RoundFailed, match=r"r0: failed: RuntimeError: boom \(run dir: .*work/"):
        session.round(MacroCase("mlp", "tiny", STANDARD, "wandb-offline"), 0)
    assert json.loads((tmp_path / "runs.jsonl").read_text())["status"] == "failed"


def test_baseline_is_run_untimed_when_the_session_has_none(tmp_path, monkeypatch):
    monkeypatch.setattr(macro, "run_one", lambda spec, opts: _fake_record(spec.run_id, 1.5))
    session = MacroSession(tmp_path, rounds=3, warmup_rounds=1, device="cpu")
    before = measure_window_clock()
    base, reason = session.baseline(MacroCase("mlp", "tiny", STANDARD, "mlflow-sqlite"))
    assert reason is None
    assert [r["run_id"] for r in base] == [f"mlp.tiny.none.standard.r{i}" for i in range(3)]
    assert measure_window_clock() == before


def test_a_failed_baseline_is_remembered_and_given_as_the_reason(tmp_path, monkeypatch):
    calls = []

    def failing(spec, opts):
        calls.append(spec.run_id)
        return _fake_record(spec.run_id, 1.0, "failed")

    monkeypatch.setattr(macro, "run_one", failing)
    session = MacroSession(tmp_path, rounds=3, warmup_rounds=1, device="cpu")
    case = MacroCase("mlp", "tiny", STANDARD, "mlflow-sqlite")
    for _ in range(2):
        runs, reason = session.baseline(case)
        assert runs == []
        assert reason.startswith("the none runs failed in this session: mlp.tiny.none.standard.w0")
    assert len(calls) == 1  # not retried for every configuration


def test_calls_beyond_the_rounds_are_neither_timed_nor_recorded(tmp_path, monkeypatch):
    monkeypatch.setattr(macro, "run_one", lambda spec, opts: _fake_record(spec.run_id, 4.0))
    session = MacroSession(tmp_path, rounds=1, warmup_rounds=0, device="cpu")
    case = MacroCase("mlp", "tiny", STANDARD, "none")
    session.round(case, 0)
    before = measure_window_clock()
    extra = session.round(case, 1)  # what --benchmark-cprofile adds
    assert extra["run_id"] == "mlp.tiny.none.standard.extra0"
    assert measure_window_clock() == before
    assert len((tmp_path / "runs.jsonl").read_text().splitlines()) == 1
    assert len(session.measured(case)) == 1


def test_extra_info_overhead_against_none_with_ci_from_three_rounds():
    none = [_record("none", b, w) for b, w in enumerate([2.0, 2.1, 1.9])]
    tracked = [_record("wandb-offline", b, w) for b, w in enumerate([3.0, 3.1, 2.9])]
    for rec in none + tracked:
        rec["spec"].update(device="cpu", precision="fp32", steps=1000, warmup_steps=50)
    case = MacroCase("mlp", "tiny", STANDARD, "wandb-offline")
    info = extra_info(case, tracked, none)
    assert info["overhead_ratio"] == pytest.approx(1.5)
    low, high = info["overhead_ci95"]
    assert low < 1.5 < high
    assert info["energy_j"] is None and "no energy sampler" in info["energy_reason"]
    assert info["measure_wall_s"] == pytest.approx(3.0)
    assert [r["measure_wall_s"] for r in info["per_round"]] == [3.0, 3.1, 2.9]
    assert info["recorded_data"]["data_loss_rounds"] == 0
    assert info["overhead_reason"] == (
        "with 3 and 3 rounds no p-value below 0.100 is possible: raise --tb-rounds"
    )
    alone = extra_info(case, tracked, [])
    assert alone["overhead_ratio"] is None
    assert alone["overhead_reason"] == "no none runs in this session"
    failed = extra_info(case, tracked, [], "the none runs failed in this session: boom")
    assert failed["overhead_reason"] == "the none runs failed in this session: boom"
    assert info["energy_method"] is None


def test_in_process_tracker_restores_environment_and_directory(tmp_path, monkeypatch):
    from bench.suites.inprocess import InProcessTracker, LiveRun, scalars

    monkeypatch.setenv("MLFLOW_ENABLE_ASYNC_LOGGING", "false")  # a user's setting
    monkeypatch.setenv("TB_TEST_KEPT", "1")
    cwd, env = os.getcwd(), dict(os.environ)
    host = InProcessTracker("mlflow-sqlite-async", tmp_path / "host")
    host.open()
    try:
        assert os.getcwd() == str(tmp_path / "host")
        assert os.environ["MLFLOW_DISABLE_TELEMETRY"] == "true"
        run = LiveRun(host)
        assert os.environ["MLFLOW_ENABLE_ASYNC_LOGGING"].lower() == "true"  # set by init
        run.log(scalars(3))
        run.finish()
    finally:
        host.close()
    assert os.getcwd() == cwd and dict(os.environ) == env
    assert list((tmp_path / "host").glob("run-000/mlflow.db"))


def test_machine_facts_say_why_there_is_no_gpu():
    from bench.suites.machine import machine_facts

    facts = machine_facts()
    assert facts["torch"]["version"]
    assert facts["trackers"]["mlflow-sqlite"]["usable"] is True
    if not facts["gpu"]["available"]:
        assert "NVML" in facts["gpu"]["reason"]
    else:
        assert facts["gpu"]["gpus"] and "energy_counter" in facts["gpu"]["gpus"][0]
    json.dumps(facts)  # machine_info must serialise


# --------------------------------------------------------------------------- compare


def _bench_json(path: Path, rounds: dict[str, list[float] | None]) -> Path:
    """A pytest-benchmark JSON file with one micro benchmark per name (``None``: no data)."""
    benchmarks = []
    for name, data in rounds.items():
        stats = {"mean": float(np.mean(data)) if data else 1.0, "rounds": len(data or [1])}
        if data is not None:
            stats["data"] = list(data)
        benchmarks.append(
            {
                "group": "micro: log 20 scalars",
                "name": name,
                "fullname": f"bench/suites/test_micro_calls.py::{name}",
                "stats": stats,
                "extra_info": {"suite": "micro"},
            }
        )
    doc = {"machine_info": {"node": "test"}, "benchmarks": benchmarks, "version": "5.3.1"}
    path.write_text(json.dumps(doc))
    return path


def _times(seed: int, scale: float = 1.0, n: int = 60) -> list[float]:
    rng = np.random.default_rng(seed)
    return list(scale * 1e-3 * (1 + 0.05 * rng.standard_normal(n)))


def test_compare_calls_a_ten_percent_slower_call_a_regression(tmp_path, capsys):
    a = _bench_json(tmp_path / "a.json", {"test_log[x]": _times(1), "test_log[y]": _times(2)})
    b = _bench_json(tmp_path / "b.json", {"test_log[x]": _times(3, 1.10), "test_log[y]": _times(4)})
    assert main(["compare", str(a), str(b), "--resamples", "999"]) == 1
    out = capsys.readouterr().out
    assert "1 regression(s): bench/suites/test_micro_calls.py::test_log[x] time_s slower" in out
    result = compare_sides(load_side(a), load_side(b), n_resamples=999)
    row = {r.name.split("::")[1]: r for r in result.rows}
    assert 0.07 < row["test_log[x]"].comparison.estimate < 0.13
    assert not row["test_log[y]"].significant
    assert row["test_log[y]"].verdict.startswith("no detectable difference (MDE ")


def test_compare_identical_and_faster_are_not_regressions(tmp_path):
    a = _bench_json(tmp_path / "a.json", {"test_log[x]": _times(1)})
    same = _bench_json(tmp_path / "same.json", {"test_log[x]": _times(5)})
    faster = _bench_json(tmp_path / "faster.json", {"test_log[x]": _times(6, 0.8)})
    assert main(["compare", str(a), str(same), "--resamples", "999"]) == 0
    assert main(["compare", str(a), str(faster), "--resamples", "999"]) == 0
    result = compare_sides(load_side(a), load_side(faster), n_resamples=999)
    assert result.rows[0].significant and result.rows[0].verdict == "faster"


def test_compare_without_saved_data_is_not_a_pass(tmp_path, capsys):
    a = _bench_json(tmp_path / "a.json", {"test_log[x]": None})
    assert main(["compare", str(a), str(a)]) == 2
    err = capsys.readouterr().err
    assert "nothing could be compared: A: no per-round data" in err
    assert "--benchmark-save-data" in err
    both = _bench_json(tmp_path / "b.json", {"test_log[x]": None, "test_log[y]": _times(1)})
    assert main(["compare", str(both), str(both)]) == 0
    assert "not compared [1]" in capsys.readouterr().out


def test_compare_noise_threshold_and_rounds_too_few_to_call(tmp_path, capsys):
    a = _bench_json(tmp_path / "a.json", {"test_log[x]": _times(1, n=1500)})
    b = _bench_json(tmp_path / "b.json", {"test_log[x]": _times(2, 1.01, n=1500)})
    assert main(["compare", str(a), str(b), "--resamples", "999", "--format", "json"]) == 0
    row = json.loads(capsys.readouterr().out)["rows"][0]
    assert row["status"] == "unchanged"
    assert row["verdict"].startswith(
        "slower, but within the noise threshold (2% of the reference's mean; MDE "
    )
    assert main(["compare", str(a), str(b), "--resamples", "999", "--threshold", "0"]) == 1
    capsys.readouterr()
    few_a = _bench_json(tmp_path / "fa.json", {"test_log[x]": _times(1, n=3)})
    few_b = _bench_json(tmp_path / "fb.json", {"test_log[x]": _times(2, 2.0, n=3)})
    assert main(["compare", str(few_a), str(few_b), "--resamples", "999"]) == 0
    (row,) = compare_sides(load_side(few_a), load_side(few_b), n_resamples=999).rows
    assert row.comparison.estimate > 0.5  # twice as slow, yet 3 rounds cannot show it
    assert row.verdict == "cannot be called with 3/3 rounds (smallest possible p (Holm) 0.100)"


def test_compare_leaves_macro_rounds_with_data_loss_out(tmp_path, capsys):
    def macro_json(path: Path, walls: list[float], lost: list[bool]) -> Path:
        rounds = [
            {"run_id": f"r{i}", "data_loss": loss, "measure_wall_s": w}
            for i, (w, loss) in enumerate(zip(walls, lost, strict=True))
        ]
        bench = {
            "group": "macro: mlp tiny, profile standard",
            "name": "test_training_run[mlp-tiny-standard-x]",
            "fullname": "bench/suites/test_macro.py::test_training_run[mlp-tiny-standard-x]",
            "stats": {"mean": float(np.mean(walls)), "iterations": 1},
            "extra_info": {"suite": "macro", "per_round": rounds},
        }
        path.write_text(json.dumps({"benchmarks": [bench], "machine_info": {}}))
        return path

    a = macro_json(tmp_path / "a.json", [2.0, 2.02, 1.98, 2.01, 1.99], [False] * 5)
    # the fast rounds are the ones that lost data: left out, B is not "faster"
    b = macro_json(tmp_path / "b.json", [2.0, 2.01, 1.99, 1.0, 1.0], [False] * 3 + [True] * 2)
    code = main(["compare", str(a), str(b), "--metric", "measure_wall_s", "--format", "json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 0
    assert doc["rows"][0]["n_b"] == 3 and doc["rows"][0]["significant"] is False
    assert "2 round(s) of B lost data and were left out" in doc["notes"][0]


def test_compare_bad_inputs_are_exit_2(tmp_path, capsys):
    good = _bench_json(tmp_path / "a.json", {"test_log[x]": _times(1)})
    _bench_json(tmp_path / "o.json", {"test_log[z]": _times(1)})
    (tmp_path / "broken.json").write_text("{not json")
    (tmp_path / "list.json").write_text("[1, 2]")
    result_dir = _write_dir(tmp_path / "dir", _simulate({"wandb-offline": 0.1}, 3, seed=1))
    cases = {
        "missing.json": "no such file or directory",
        "broken.json": "not valid JSON",
        "list.json": "not a pytest-benchmark JSON file",
        "o.json": "no benchmark or configuration in common",
        "dir": "compare two of the same kind",
    }
    for name, message in cases.items():
        assert main(["compare", str(good), str(tmp_path / name)]) == 2, name
        assert message in capsys.readouterr().err, name
    assert main(["compare", str(good), str(good), "--metric", "nope"]) == 2
    assert "unknown metric 'nope'; valid: time_s, measure_wall_s" in capsys.readouterr().err
    assert main(["compare", str(result_dir), str(result_dir), "--metric", "time_s"]) == 2


def test_compare_result_directories_flags_the_slowed_tracker_only(tmp_path, capsys):
    old = _write_dir(tmp_path / "old", _simulate({"wandb-offline": 0.05}, 10, seed=7))
    slowed = _simulate({"wandb-offline": 0.05}, 10, seed=8)
    for rec in slowed:
        if rec["spec"]["tracker"] == "wandb-offline":
            rec["phases"]["measure"]["wall_s"] *= 1.3
    new = _write_dir(tmp_path / "new", slowed)
    code = main(["compare", str(old), str(new), "--metric", "measure_wall_s", "--format", "json"])
    doc = json.loads(capsys.readouterr().out)
    assert code == 1
    rows = {r["name"]: r for r in doc["rows"]}
    assert rows["mlp tiny standard wandb-offline"]["regression"] is True
    assert 0.2 < rows["mlp tiny standard wandb-offline"]["estimate"] < 0.4
    assert rows["mlp tiny standard none"]["regression"] is False
    assert doc["regressions"] == 1 and doc["design"].startswith("unpaired")
    same = _write_dir(tmp_path / "same", _simulate({"wandb-offline": 0.05}, 10, seed=9))
    assert main(["compare", str(old), str(same), "--metric", "measure_wall_s"]) == 0


def test_batch_means_keep_the_mean_and_cap_the_count():
    values = list(np.arange(10 * MAX_VALUES + 7, dtype=float))
    batched, did = batch_means(values)
    assert did and len(batched) == MAX_VALUES
    assert np.mean(batched) == pytest.approx(np.mean(values), rel=1e-3)
    assert batch_means([1.0, 2.0]) == ([1.0, 2.0], False)
    assert NO_DATA.startswith("no per-round data")
