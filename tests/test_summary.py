"""The end-of-run summary: groups by profile, baselines per profile, data loss counted."""

from analysis.summary import summarise


def _rec(tracker, profile, measure_s, status="ok", data_loss=None, recorded=None):
    return {
        "spec": {
            "workload": "mlp",
            "preset": "tiny",
            "tracker": tracker,
            "profile": {"name": profile},
        },
        "status": status,
        "phases": {"measure": {"wall_s": measure_s}, "init": {"wall_s": 0.5}},
        "process": {"cpu_s": 1.0},
        "sampler": {"cpu_s": 0.1},
        "tracker": {"calls": {"log": {"p50_s": 0.002}}, "recorded": recorded or {}},
        "data_loss": data_loss,
    }


def test_ratios_use_the_baseline_of_the_same_profile_and_loss_is_counted():
    checked = {"checked": True}
    records = [
        _rec("none", "light", 2.0, recorded={"checked": False, "applicable": False}),
        _rec("none", "heavy", 4.0, recorded={"checked": False, "applicable": False}),
        _rec("x", "light", 3.0, data_loss=False, recorded=checked),
        _rec("x", "heavy", 10.0, data_loss=True, recorded=checked),
        _rec("x", "heavy", 12.0, data_loss=None, recorded={"checked": False, "reason": "timeout"}),
        _rec("x", "heavy", 99.0, status="failed"),
    ]
    rows = {(r.tracker, r.profile): r for r in summarise(records)}
    assert rows[("x", "light")].ratio_to_none == 1.5
    assert rows[("x", "heavy")].ratio_to_none == 11.0 / 4.0  # median of the two ok runs
    assert rows[("x", "heavy")].data_loss_runs == 1 and rows[("x", "heavy")].unchecked_runs == 1
    assert rows[("x", "heavy")].checked_runs == 1
    assert rows[("x", "heavy")].other_runs == 1
    assert rows[("none", "heavy")].unchecked_runs == 0  # stores nothing: not "unchecked"
    assert rows[("x", "light")].log_call_p50_s_median == 0.002


def test_schema_1_records_group_under_their_log_interval():
    old = _rec("none", "unused", 1.0)
    old["spec"].pop("profile")
    old["spec"]["log_every"] = 10
    assert summarise([old])[0].profile == "every 10"


def test_cpu_includes_the_service_of_server_modes():
    rec = _rec("mlflow-server", "light", 1.0, recorded={"checked": True}, data_loss=False)
    rec["service"] = {"cpu_s_during_run": 2.5}
    (row,) = summarise([rec])
    assert row.cpu_s_median == 3.5  # 1.0 s worker tree + 2.5 s server
