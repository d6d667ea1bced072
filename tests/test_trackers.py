"""Tracker configuration names, the recorded-data comparison, and tracker faults."""

import json

import pytest

from bench.cli import main
from bench.trackers import configurations, make_tracker, parse_name, unavailable_reason
from bench.trackers.codecarbon_addon import CodecarbonAddon
from bench.trackers.mlflow_tracker import MlflowServer, MlflowSqlite
from bench.trackers.wandb_tracker import WandbOnline
from bench.verify import compare_recorded
from tests.conftest import process_gone

FAST = ["run", "--workload", "mlp", "--preset", "tiny", "--steps", "30", "--warmup", "2"]


def test_configurations_cover_every_mode_of_the_issue():
    names = set(configurations())
    for mode in ("sqlite", "sqlite-async", "server", "server-async", "file"):
        assert {f"mlflow-{mode}", f"mlflow-{mode}+sysmetrics"} <= names
    wandb = {"wandb-offline", "wandb-offline-nostats", "wandb-disabled", "wandb-online"}
    assert wandb | {"none", "tensorboard", "trackio"} <= names
    assert "wandb-offline+sysmetrics" not in names  # it samples as shipped


def test_add_ons_parse_and_wrap(tmp_path):
    cls, addons = parse_name("mlflow-server-async+sysmetrics+codecarbon")
    assert cls is not MlflowSqlite and addons == ("sysmetrics", "codecarbon")
    tracker = make_tracker("mlflow-sqlite+sysmetrics+codecarbon", tmp_path)
    assert isinstance(tracker, CodecarbonAddon)
    assert tracker.config_name == "mlflow-sqlite+sysmetrics+codecarbon"
    assert tracker.inner.config_name == "mlflow-sqlite+sysmetrics"
    assert tracker.inner.options.system_metrics is True
    settings = tracker.settings()
    assert settings["system_metrics"] == {
        "enabled": True,
        "interval_s": 10.0,
        "interval_source": "shipped default",
    }
    assert settings["codecarbon"]["tracker"] == "OfflineEmissionsTracker"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("mlflow-sqlite+gpu", "unknown tracker add-on 'gpu'"),
        ("wandb-offline+sysmetrics", "has no +sysmetrics variant"),
        ("mlflow-sqlite+codecarbon+codecarbon", "repeats an add-on"),
        ("neptune", "unknown tracker 'neptune'; valid: none,"),
    ],
)
def test_bad_configuration_names_are_usage_errors(tmp_path, capsys, name, message):
    assert main(["run", "--tracker", name, "--out", str(tmp_path / "o")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_wandb_online_needs_credentials(monkeypatch, tmp_path):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.netrc
    monkeypatch.setenv("NETRC", str(tmp_path / "none"))
    reason = WandbOnline.unavailable_reason()
    assert reason is not None and "no W&B credentials" in reason
    assert unavailable_reason("wandb-online") == reason


def test_missing_tracker_package_is_named(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(MlflowServer, "distribution", "mlflow-not-installed-here")
    assert main(["run", "--tracker", "mlflow-server", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "'mlflow-not-installed-here' package is not installed" in err


def test_sysmetrics_interval_is_applied_and_recorded(tmp_path):
    for name in ("wandb-offline", "trackio", "mlflow-file+sysmetrics"):
        tracker = make_tracker(name, tmp_path, options=_options(2.5))
        block = tracker.settings()["system_metrics"]
        assert block == {
            "enabled": True,
            "interval_s": 2.5,
            "interval_source": "--sysmetrics-interval",
        }
    assert make_tracker("mlflow-file", tmp_path).settings()["system_metrics"] == {"enabled": False}


def test_sysmetrics_interval_below_what_wandb_accepts_is_a_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["run", "--sysmetrics-interval", "0.05", "--out", str(tmp_path / "o")])
    assert exit_.value.code == 2
    assert "at least 0.1 s" in capsys.readouterr().err


def _options(interval):
    from bench.trackers import TrackerOptions

    return TrackerOptions(sysmetrics_interval_s=interval)


def test_compare_recorded_counts_loss_per_key_and_kind():
    sent = {"metrics": {"loss": 10, "lr": 10}, "histograms": 2, "artifacts": None}
    found = {"metrics": {"loss": 10, "lr": 7, "system/cpu": 3}, "histograms": 2, "method": "m"}
    block = compare_recorded(sent, found)
    assert block["data_loss"] is True
    assert block["missing"] == {"metrics": {"lr": 3}}
    assert block["expected"] == {"metric_keys": 2, "metric_values": 20, "histograms": 2}
    assert block["found"] == {"metric_keys": 2, "metric_values": 17, "histograms": 2}
    assert block["extra"] == {"metrics": {"system/cpu": 3}}  # more than sent is not loss

    ok = compare_recorded(sent, {"metrics": {"loss": 10, "lr": 11}, "histograms": 3})
    assert ok["data_loss"] is False and ok["missing"] == {}
    lost_kind = compare_recorded(sent, {"metrics": {"loss": 10, "lr": 10}, "histograms": 0})
    assert lost_kind["missing"] == {"histograms": 2}
    # a key never stored at all
    gone = compare_recorded(sent, {"metrics": {"loss": 10}, "histograms": 2})
    assert gone["missing"] == {"metrics": {"lr": 10}} and gone["found"]["metric_keys"] == 1
    # the emissions add-on must have written its row
    cc = compare_recorded({"metrics": {}}, {"metrics": None, "emissions_rows": 0})
    assert cc["missing"] == {"emissions_rows": 1}


@pytest.mark.slow
def test_dropping_tracker_is_caught_by_the_recorded_data_check(tmp_path, test_trackers, capsys):
    out = tmp_path / "out"
    args = [*FAST, "--reps", "1", "--profile", "light,standard", "--out", str(out)]
    assert main([*args, "--tracker", "test-dropping"]) == 0
    recs = {
        r["spec"]["profile"]["name"]: r
        for r in map(json.loads, (out / "runs.jsonl").read_text().splitlines())
    }
    standard = recs["standard"]  # 32 log calls (steps 0..31): calls 10, 20, 30 dropped
    assert standard["status"] == "ok" and standard["data_loss"] is True
    recorded = standard["tracker"]["recorded"]
    assert recorded["expected"]["metric_values"] == 32 * 20
    assert recorded["found"]["metric_values"] == 29 * 20
    assert set(recorded["missing"]["metrics"].values()) == {3}
    light = recs["light"]  # steps 0, 10, 20, 30: 4 calls, none of them the 10th
    assert light["data_loss"] is False and light["tracker"]["recorded"]["found"] == {
        "metric_keys": 4,
        "metric_values": 16,
    }
    printed = capsys.readouterr().out
    assert "Data loss" in printed


@pytest.mark.slow
def test_service_that_never_gets_healthy_fails_the_run_and_is_stopped(tmp_path, test_trackers):
    out = tmp_path / "out"
    args = [*FAST, "--reps", "1", "--tracker", "test-unhealthy-service,none"]
    assert main([*args, "--service-timeout", "3", "--out", str(out)]) == 1
    recs = {r["spec"]["tracker"]: r for r in map(json.loads, (out / "runs.jsonl").open())}
    failed = recs["test-unhealthy-service"]
    assert failed["status"] == "failed" and failed["phase_reached"] is None
    assert "did not answer" in failed["error"] and "within 3 s" in failed["error"]
    assert "test service booting" in failed["error"]  # the service's log tail
    assert process_gone(failed["service"]["pid"])
    assert recs["none"]["status"] == "ok"  # the matrix went on


def test_codecarbon_and_pytest_benchmark_share_a_working_cpuinfo():
    """Both depend on a ``cpuinfo`` module (py-cpuinfo, py-cpuinfo2); whichever was installed
    last provides it, and both must still get CPU facts from it."""
    import cpuinfo
    from codecarbon.core import cpu  # noqa: F401 - imports cpuinfo at module level

    info = cpuinfo.get_cpu_info()
    assert isinstance(info, dict) and info.get("arch") and info.get("count")


def test_run_environment_drops_stray_tracker_settings_and_bypasses_proxies():
    from bench.runner import base_environment

    env = base_environment(
        {
            "MLFLOW_ENABLE_ASYNC_LOGGING": "true",  # would turn mlflow-sqlite into async
            "TRACKIO_SPACE_ID": "me/space",  # would make trackio upload
            "WANDB_MODE": "online",
            "WANDB_API_KEY": "kept-for-wandb-online",
            "NO_PROXY": "example.org",
            "PATH": "/usr/bin",
        }
    )
    assert "MLFLOW_ENABLE_ASYNC_LOGGING" not in env and "TRACKIO_SPACE_ID" not in env
    assert "WANDB_MODE" not in env and env["WANDB_API_KEY"] == "kept-for-wandb-online"
    assert env["NO_PROXY"] == "example.org,127.0.0.1,localhost"
    assert env["no_proxy"] == "127.0.0.1,localhost"
    assert env["MLFLOW_DISABLE_TELEMETRY"] == "true" and env["PATH"] == "/usr/bin"


def test_malformed_or_empty_read_back_is_not_reported_as_no_loss():
    from bench.verify import check_found

    sent = {"metrics": {"loss": 3}, "histograms": 1, "artifacts": None}
    block = compare_recorded(sent, {})
    assert block["checked"] is False and block["data_loss"] is None
    assert block["unchecked_kinds"] == ["metrics", "histograms"]
    partial = compare_recorded(sent, {"metrics": {"loss": 3}})
    assert partial["data_loss"] is False and partial["unchecked_kinds"] == ["histograms"]
    for bad in ([], {"metrics": {"loss": "3"}}, {"histograms": 1.5}):
        with pytest.raises(TypeError):
            check_found(bad)
