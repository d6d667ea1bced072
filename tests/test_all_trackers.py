"""Every tracker configuration, for real, on ``mlp`` ``tiny`` (one matrix, then checks per run).

Each configuration must finish ``ok``, its recorded-data check must find everything that was
sent, and nothing it started (worker, tracker helpers, an MLflow server) may still run.
"""

import json

import pytest

from bench.cli import main
from bench.trackers import configurations, unavailable_reason
from tests.conftest import process_gone

STEPS, WARMUP = 30, 2
CONFIGS = [c for c in configurations() if unavailable_reason(c) is None]
CONFIGS += ["none+codecarbon", "mlflow-sqlite+codecarbon"]
RICH = ["wandb-offline", "mlflow-sqlite", "tensorboard", "trackio"]  # histograms, artifacts


def _run(out, trackers, profiles, steps):
    args = ["run", "--workload", "mlp", "--preset", "tiny", "--reps", "1", "--out", str(out)]
    args += ["--steps", str(steps), "--warmup", str(WARMUP), "--tracker", ",".join(trackers)]
    assert main([*args, "--profile", profiles]) == 0
    return [json.loads(line) for line in (out / "runs.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def standard(tmp_path_factory):
    recs = _run(tmp_path_factory.mktemp("all") / "out", CONFIGS, "standard", STEPS)
    return {r["spec"]["tracker"]: r for r in recs}


@pytest.fixture(scope="module")
def rich(tmp_path_factory):
    recs = _run(tmp_path_factory.mktemp("rich") / "out", RICH, "heavy,artifacts", 100)
    return {(r["spec"]["tracker"], r["spec"]["profile"]["name"]): r for r in recs}


@pytest.mark.slow
def test_the_matrix_has_every_configuration_but_online(standard):
    assert set(standard) == set(CONFIGS)
    assert "wandb-online" not in CONFIGS  # no credentials or server on a CI machine
    assert len(CONFIGS) >= 18  # 16 adapters and variants, 2 with the codecarbon add-on


@pytest.mark.slow
@pytest.mark.parametrize("name", CONFIGS)
def test_configuration_runs_keeps_all_data_and_leaves_nothing_running(standard, name):
    rec = standard[name]
    assert rec["status"] == "ok", rec["error"]
    tracker = rec["tracker"]
    assert tracker["name"] == name
    calls = tracker["calls"]["log"]
    assert calls["count"] == STEPS and 0 < calls["p50_s"] <= calls["p99_s"] <= calls["max_s"]
    assert tracker["import_s"] >= 0 and rec["phases"]["init"]["wall_s"] >= 0
    recorded = tracker["recorded"]
    if name in ("none", "wandb-disabled"):
        assert recorded["checked"] is False and recorded["applicable"] is False
        assert "stores nothing" in recorded["reason"]
        assert rec["data_loss"] is None
    else:
        assert recorded["checked"] is True, recorded
        assert rec["data_loss"] is False, recorded["missing"]
        assert recorded["found"] == recorded["expected"]
        if not name.startswith("none"):
            assert recorded["expected"]["metric_values"] == (STEPS + WARMUP) * 20
    if "+sysmetrics" in name:
        assert tracker["settings"]["system_metrics"]["enabled"] is True
    pids = [p["pid"] for p in rec["process"]["processes"]]
    service = rec["service"]
    if "mlflow-server" in name:
        assert service["start_s"] > 0 and service["cpu_s"] > 0 and service["exit_code"] == 0
        assert service["rss_peak_bytes"] > 0 and service["disk_bytes"] > 0
        assert rec["phases"]["measure"]["service_cpu_s"] is not None
        pids += [service["pid"], *(p["pid"] for p in service["processes"])]
    else:
        assert service is None
    assert all(process_gone(pid) for pid in pids)


@pytest.mark.slow
@pytest.mark.parametrize("name", RICH)
def test_histograms_and_artifacts_are_stored(rich, name):
    heavy, artifacts = rich[(name, "heavy")], rich[(name, "artifacts")]
    for rec in (heavy, artifacts):
        assert rec["status"] == "ok" and rec["data_loss"] is False, rec["tracker"]["recorded"]
    expected = heavy["tracker"]["recorded"]["expected"]
    assert expected["metric_keys"] == 200 and expected["histograms"] == 3  # steps 0, 50, 100
    assert heavy["tracker"]["calls"]["histogram"]["count"] == 2  # 50 and 100 are measured
    if name == "tensorboard":  # no artifact store: no calls, and the record says so
        assert "artifacts" not in artifacts["tracker"]["recorded"]["expected"]
        assert artifacts["tracker"]["calls"]["artifact"]["count"] == 0
    else:
        assert artifacts["tracker"]["recorded"]["found"]["artifacts"] == 2  # steps 0 and 100
