"""The runner end to end: real worker and sampler processes (seconds each, no GPU)."""

import importlib.metadata
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from bench.cli import main
from bench.samplers.nvml import nvml_facts
from bench.samplers.rapl import rapl_facts
from tests.conftest import process_gone

FAST = [
    "run",
    "--workload",
    "mlp",
    "--preset",
    "tiny",
    "--steps",
    "20",
    "--warmup",
    "2",
    "--reps",
    "1",
]
NO_ENERGY_HERE = not nvml_facts()["available"] and not rapl_facts()["available"]


def _records(out):
    return [json.loads(line) for line in (out / "runs.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_real_matrix_writes_the_record_contract_and_resumes(tmp_path):
    out = tmp_path / "out"
    args = [*FAST, "--tracker", "none,wandb-offline,mlflow-sqlite", "--out", str(out)]
    assert main(args) == 0
    recs = _records(out)
    assert sorted(r["spec"]["tracker"] for r in recs) == ["mlflow-sqlite", "none", "wandb-offline"]
    for rec in recs:
        assert rec["schema_version"] == 2 and rec["status"] == "ok" and rec["error"] is None
        spec = rec["spec"]
        assert {"workload", "preset", "tracker", "rep", "block", "seed", "steps"} <= set(spec)
        for phase in ("import", "init", "warmup", "measure", "finish"):
            assert rec["phases"][phase]["wall_s"] > 0
        measure = rec["phases"]["measure"]
        assert "energy_j" in measure and "energy_method" in measure
        if NO_ENERGY_HERE:
            assert measure["energy_j"] is None and measure["energy_method"] is None
            assert "NVML" in measure["energy_reason"] and "powercap" in measure["energy_reason"]
        assert rec["steps"]["count"] == 20
        assert 0 < rec["steps"]["p50_s"] <= rec["steps"]["p99_s"] <= rec["steps"]["max_s"]
        assert rec["process"]["cpu_s"] >= rec["phases"]["measure"]["cpu_s"] > 0
        assert rec["process"]["rss_peak_bytes"] > 50 * 2**20
        assert rec["sampler"]["cpu_s"] > 0 and rec["sampler"]["sample_count"] > 10
        tracker = rec["tracker"]
        assert tracker["name"] == spec["tracker"]
        dist = {"none": None, "wandb-offline": "wandb", "mlflow-sqlite": "mlflow"}[spec["tracker"]]
        assert tracker["version"] == (dist and importlib.metadata.version(dist))
    wandb = next(r for r in recs if r["spec"]["tracker"] == "wandb-offline")
    names = {p["name"] for p in wandb["process"]["processes"]}
    assert any("wandb" in n for n in names), names  # wandb-core / wandb-symon were followed
    assert (out / wandb["files"]["run_dir"] / "wandb").is_dir()  # run files under OUT
    meta = json.loads((out / "meta.json").read_text())
    assert meta["schema_version"] == 2 and meta["matrix"]["trackers"] == [
        "none",
        "wandb-offline",
        "mlflow-sqlite",
    ]
    assert "WANDB_MODE" not in json.dumps(meta)  # no environment dump

    before = (out / "runs.jsonl").read_bytes()
    t0 = time.monotonic()
    assert main(args) == 0
    assert (out / "runs.jsonl").read_bytes() == before  # nothing re-run
    assert time.monotonic() - t0 < 30


@pytest.mark.slow
def test_mismatched_spec_is_refused_and_nothing_written(tmp_path, capsys):
    out = tmp_path / "out"
    assert main([*FAST, "--tracker", "none", "--out", str(out)]) == 0
    before = (out / "runs.jsonl").read_bytes()
    capsys.readouterr()
    assert main([*FAST, "--tracker", "none", "--steps", "30", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "different comparison" in err and "steps" in err
    assert (out / "runs.jsonl").read_bytes() == before


@pytest.mark.parametrize(
    ("flag", "value", "listed"),
    [
        ("--workload", "resnet9000", "mlp"),
        ("--preset", "huge", "tiny"),
        ("--tracker", "none,comet-ml", "wandb-offline"),
    ],
)
def test_unknown_names_list_the_valid_ones(tmp_path, capsys, flag, value, listed):
    out = tmp_path / "out"
    assert main(["run", flag, value, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert value.split(",")[-1] in err and listed in err
    assert not out.exists()


def test_bad_reps_and_unwritable_dir_exit_2_and_write_nothing(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["run", "--reps", "0", "--out", str(tmp_path / "x")])
    assert exc.value.code == 2
    assert "at least 1" in capsys.readouterr().err
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert main(["run", "--tracker", "none", "--out", str(blocker / "out")]) == 2
    assert "not a directory" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


@pytest.mark.slow
def test_hanging_worker_times_out_and_its_whole_tree_is_killed(tmp_path, test_trackers):
    out = tmp_path / "out"
    assert main([*FAST, "--tracker", "test-hang", "--timeout", "12", "--out", str(out)]) == 1
    (rec,) = _records(out)
    assert rec["status"] == "timeout" and "12 s timeout" in rec["error"]
    child = int((out / rec["files"]["run_dir"] / "child.pid").read_text())
    assert process_gone(child)  # started in a session of its own, still killed
    assert rec["phase_reached"] == "init"


@pytest.mark.slow
def test_worker_killed_by_sigkill_keeps_file_valid_and_only_that_run_reruns(
    tmp_path, test_trackers, monkeypatch
):
    monkeypatch.setenv("TB_TEST_MARKER", str(tmp_path / "marker"))
    out = tmp_path / "out"
    args = [*FAST, "--tracker", "none,test-sigkill-once", "--out", str(out)]
    assert main(args) == 1
    first = (out / "runs.jsonl").read_text().splitlines()
    recs = {r["spec"]["tracker"]: r for r in map(json.loads, first)}
    assert recs["none"]["status"] == "ok"
    assert recs["test-sigkill-once"]["status"] == "failed"
    assert "SIGKILL" in recs["test-sigkill-once"]["error"]
    assert main(args) == 0
    lines = (out / "runs.jsonl").read_text().splitlines()
    assert lines[:2] == first  # never rewritten
    assert len(lines) == 3 and json.loads(lines[2])["spec"]["tracker"] == "test-sigkill-once"
    assert json.loads(lines[2])["status"] == "ok"


@pytest.mark.slow
def test_orphan_cpu_after_worker_exit_is_counted(tmp_path, test_trackers):
    out = tmp_path / "out"
    assert main([*FAST, "--tracker", "test-orphan", "--out", str(out)]) == 0
    (rec,) = _records(out)
    proc = rec["process"]
    assert 1.2 <= proc["orphan_cpu_s"] <= 2.0
    assert proc["cpu_s"] == pytest.approx(proc["worker_cpu_s"] + proc["orphan_cpu_s"])
    assert sum(p["orphan"] for p in proc["processes"]) == 1


@pytest.mark.slow
def test_ctrl_c_records_the_run_as_interrupted_and_leaves_a_valid_file(tmp_path, test_trackers):
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "bench.cli", *FAST, "--tracker", "test-hang", "--out", str(out)]
    runner = subprocess.Popen(
        cmd,
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        # A Ctrl-C at a terminal: SIGINT handled. A test session started in the background
        # (`cmd &` in a script) passes SIGINT down as ignored, and Python keeps it ignored.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    pid_file = out / "work" / "mlp.tiny.test-hang.standard.r0" / "child.pid"
    deadline = time.monotonic() + 60
    while not pid_file.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert pid_file.exists()
    runner.send_signal(signal.SIGINT)
    output = runner.communicate(timeout=60)[0].decode()
    assert runner.returncode == 130, output
    (rec,) = _records(out)
    assert rec["status"] == "interrupted"
    assert process_gone(int(pid_file.read_text()))
