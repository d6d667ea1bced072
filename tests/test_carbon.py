"""Carbon arithmetic against hand-computed values, the region table, and the interval axis."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.carbon import CarbonInputError, load_grid_table, resolve_carbon
from analysis.output import write_report
from analysis.report import build_report
from bench.cli import main
from bench.matrix import MatrixSpec, expand
from bench.profiles import resolve_profiles
from bench.trackers import make_tracker, parse_name, split_interval, with_interval
from tests.test_report import _record, _write_dir

NONE_J = [100.0, 110.0, 120.0, 105.0]
WANDB_J = [131.0, 139.0, 152.0, 133.0]  # +31, +29, +32, +28: mean +30 J per measure window
WALL_S = [10.0, 11.0, 9.0, 10.0]  # none's measure window: mean 10 s


def _records() -> list[dict]:
    out = []
    for b in range(4):
        for tracker, energy in (("none", NONE_J[b]), ("wandb-offline", WANDB_J[b])):
            rec = _record(tracker, b, WALL_S[b], energy_j=energy)
            rec["spec"]["steps"] = 500
            rec["spec"]["device"] = "cpu"
            for phase in ("init", "finish"):  # 1 J more for the tracker in each
                rec["phases"][phase]["energy_j"] = 2.0 if tracker == "none" else 3.0
            if tracker != "none":
                rec["tracker"]["reported_energy"] = {
                    "checked": True,
                    "entries": [
                        {
                            "tool": "wandb",
                            "quantity": "gpu.N.powerWatts",
                            "domain": "gpu",
                            "window": "measure",
                            "interval_s": 15.0,
                            "samples_in_window": 0,
                            "reported": {
                                "energy_j": None,
                                "method": "measured",
                                "how": "NVML power",
                                "reason": "too few samples: 0 inside the 10 s window",
                            },
                            "reference": {
                                "energy_j": energy,
                                "method": "nvml-energy-counter",
                                "reason": None,
                            },
                            "error_pct": None,
                        }
                    ],
                }
            out.append(rec)
    return out


def test_carbon_figures_match_a_hand_calculation(tmp_path):
    settings = resolve_carbon(400.0, None, 1.2)
    report = build_report(_write_dir(tmp_path / "d", _records()), carbon=settings)
    (row,) = report.groups[0].carbon
    # Per run: +30 J in the measure window, +1 J in init and in finish.
    assert row.extra_j_per_run.value == pytest.approx(32.0)
    # Per 1000 steps: 30 J / 500 steps * 1000 = 60 J = 60 / 3600 Wh.
    assert row.extra_wh_per_1000_steps.value == pytest.approx(60 / 3600)
    # Per device-hour: 30 J over none's mean 10 s = 3 W: 3 Wh per CPU-hour.
    assert row.device == "CPU"
    assert row.extra_wh_per_device_hour.value == pytest.approx(3.0)
    # gCO2e: 3 Wh * 1.2 PUE * 400 g/kWh / 1000 = 1.44 g per CPU-hour; per 1000 runs:
    # 32 J * 1000 = 32 kJ = 0.008889 kWh * 1.2 * 400 = 4.2667 g.
    assert row.extra_g_per_device_hour.value == pytest.approx(1.44)
    assert row.extra_g_per_1000_runs.value == pytest.approx(32e3 / 3.6e6 * 1.2 * 400)
    # The intervals are carried through: the carbon interval is the energy interval scaled.
    energy, carbon = row.extra_wh_per_device_hour, row.extra_g_per_device_hour
    assert energy.ci_low < energy.value < energy.ci_high
    assert carbon.ci_low == pytest.approx(energy.ci_low * 1.2 * 400 / 1000)
    assert carbon.ci_high == pytest.approx(energy.ci_high * 1.2 * 400 / 1000)
    per_run = np.array(WANDB_J) - np.array(NONE_J) + 2
    assert row.extra_j_per_run.ci_low >= per_run.min() - 1e-9
    assert row.extra_j_per_run.ci_high <= per_run.max() + 1e-9


def test_report_files_show_the_carbon_columns_and_the_reported_table(tmp_path):
    settings = resolve_carbon(None, "fra", 1.2)
    report, _ = write_report(_write_dir(tmp_path / "d", _records()), carbon=settings)
    md = (tmp_path / "d" / "report" / "report.md").read_text()
    assert "extra gCO2e per CPU-hour [CI]" in md and "extra gCO2e per 1000 runs [CI]" in md
    france = load_grid_table().regions["FRA"]
    assert f"grid intensity {france.g_co2e_per_kwh:g} gCO2e/kWh" in md
    assert f"region FRA (France), {france.year} figure from CodeCarbon" in md
    assert "PUE 1.2" in md
    assert "Tracker-reported vs measured energy" in md
    assert "too few samples: 0 inside the 10 s window" in md
    (row,) = report.reported
    assert row.reported_j is None and row.reference_j == pytest.approx(np.mean(WANDB_J))
    assert (row.n_compared, row.n_runs, row.interval_s) == (0, 4, 15.0)


def test_without_energy_the_columns_say_why(tmp_path):
    records = [_record(t, b, 10.0) for b in range(3) for t in ("none", "mlflow-sqlite")]
    report = build_report(_write_dir(tmp_path / "d", records), carbon=resolve_carbon(400, None))
    (row,) = report.groups[0].carbon
    assert row.extra_g_per_1000_runs.value is None
    assert "no energy sampler available on this host" in row.extra_g_per_1000_runs.reason


def test_unknown_region_lists_the_valid_codes():
    with pytest.raises(CarbonInputError) as err:
        resolve_carbon(None, "XXX")
    assert "unknown region 'XXX'" in str(err.value)
    assert "USA" in str(err.value) and "FRA" in str(err.value)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--region", "NOPE"], "unknown region 'NOPE'"),
        (["--grid-intensity", "400", "--region", "USA"], "not both"),
        (["--grid-intensity", "-1"], "non-negative"),
        (["--grid-intensity", "400", "--pue", "0.9"], "at least 1.0"),
    ],
)
def test_bad_carbon_flags_are_exit_2(tmp_path, capsys, args, words):
    path = _write_dir(tmp_path / "d", _records())
    assert main(["report", str(path), *args]) == 2
    assert words in capsys.readouterr().err
    assert not (path / "report").exists()  # nothing written


def test_the_region_table_states_its_source_and_years():
    table = load_grid_table()
    assert "CodeCarbon" in table.source and "carbon_intensity" in table.source
    assert len(table.regions) > 200
    assert all(
        0 <= r.g_co2e_per_kwh < 2000 and 2000 < r.year < 2030 for r in table.regions.values()
    )


# --- sampling interval as a matrix axis -----------------------------------------------------


def test_interval_names_parse_and_place_before_the_version():
    assert with_interval("wandb-offline", 1.0) == "wandb-offline:1s"
    assert with_interval("mlflow-sqlite+sysmetrics@3.17.2", 2.5) == (
        "mlflow-sqlite+sysmetrics:2.5s@3.17.2"
    )
    assert split_interval("mlflow-sqlite+sysmetrics:2.5s@3.17.2") == (
        "mlflow-sqlite+sysmetrics@3.17.2",
        2.5,
    )
    tracker = make_tracker("wandb-offline:1s", "/tmp/x")
    assert tracker.sysmetrics_interval_s == 1.0 and tracker.config_name == "wandb-offline"
    for bad, words in (
        ("none:1s", "no system-metrics sampler"),
        ("mlflow-sqlite:1s", "no system-metrics sampler"),
        ("wandb-offline-nostats:1s", "no system-metrics sampler"),
        ("wandb-offline:0.05s", "at least 0.1"),
        ("wandb-offline:fast", "bad sampling period"),
    ):
        with pytest.raises(KeyError) as err:
            parse_name(bad)
        assert words in err.value.args[0]
    parse_name("none+codecarbon:1s")  # CodeCarbon's sampler counts


def test_interval_axis_expands_only_trackers_with_a_sampler(tmp_path, capsys):
    from bench.cli import _expand_intervals

    out = tmp_path / "d"

    assert _expand_intervals(
        ("none", "mlflow-sqlite", "wandb-offline", "mlflow-sqlite+sysmetrics"), [None, 1.0]
    ) == (
        "none",
        "mlflow-sqlite",
        "wandb-offline",
        "wandb-offline:1s",
        "mlflow-sqlite+sysmetrics",
        "mlflow-sqlite+sysmetrics:1s",
    )
    assert (
        main(
            ["run", "--tracker", "none", "--sysmetrics-interval", "default,1"] + ["--out", str(out)]
        )
        == 2
    )
    assert "no tracker in --tracker runs a system-metrics sampler" in capsys.readouterr().err
    spec = MatrixSpec(
        workloads=("mlp",),
        presets=("tiny",),
        trackers=("wandb-offline", "wandb-offline:1s"),
        profiles=tuple(resolve_profiles(["standard"], None)),
        reps=1,
        seed=0,
        steps=10,
        warmup_steps=1,
        threads=1,
        device="cpu",
        sample_interval_s=0.05,
    )
    from workloads.registry import choose_presets, load_workload

    presets = choose_presets({"mlp": load_workload("mlp")}, ("tiny",))
    intervals = {r.tracker: r.sysmetrics_interval_s for r in expand(spec, presets)}
    assert intervals == {"wandb-offline": None, "wandb-offline:1s": 1.0}
