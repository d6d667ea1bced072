"""``trackerbench run`` with the workload families: the matrix, throughput, options, faults."""

from __future__ import annotations

import json

import pytest
import torch
from rich.console import Console

from bench.cli import _resolve_matrix, _warn_gpu_presets_on_cpu, build_parser, main
from bench.matrix import expand
from workloads.registry import load_workload

QUICK = ["--preset", "tiny", "--tracker", "none", "--reps", "1", "--steps", "20", "--warmup", "2"]


def _records(out):
    return {
        r["spec"]["workload"]: r
        for r in map(json.loads, (out / "runs.jsonl").read_text().splitlines())
    }


@pytest.mark.slow
def test_three_families_in_one_matrix_each_with_throughput(tmp_path):
    out = tmp_path / "out"
    assert main(["run", "--workload", "resnet,gpt,mlp", *QUICK, "--out", str(out)]) == 0
    recs = _records(out)
    assert set(recs) == {"resnet", "gpt", "mlp"}
    for name, rec in recs.items():
        assert rec["status"] == "ok", rec["error"]
        tp = rec["throughput"]
        config = rec["workload"]["config"]
        measure_s = rec["phases"]["measure"]["wall_s"]
        assert tp["samples_per_s"] == pytest.approx(20 * config["batch_size"] / measure_s)
        assert tp["flops_per_step"] == config["flops_per_step"] > 0
        assert tp["model_flops_per_s"] == pytest.approx(20 * tp["flops_per_step"] / measure_s)
        assert tp["mfu"] is None and "GPU" in tp["mfu_reason"]  # no CUDA device here
        assert rec["spec"]["precision"] == "fp32" and rec["spec"]["loader_workers"] == 0
        assert "samples_per_s" in rec["workload"]["last_metrics"]  # logged like a real run
        if name == "gpt":
            assert tp["tokens_per_s"] == pytest.approx(tp["samples_per_s"] * config["context"])
            assert "perplexity" in rec["workload"]["last_metrics"]
        else:
            assert tp["tokens_per_s"] is None
            assert "accuracy" in rec["workload"]["last_metrics"]


@pytest.mark.slow
def test_dataloader_mode_runs_loader_workers_inside_the_measured_tree(tmp_path):
    out = tmp_path / "out"
    args = ["run", "--workload", "mlp", *QUICK, "--dataloader", "--loader-workers", "2"]
    assert main([*args, "--out", str(out)]) == 0
    rec = _records(out)["mlp"]
    assert rec["status"] == "ok" and rec["spec"]["loader_workers"] == 2
    assert rec["workload"]["config"]["options"]["loader_workers"] == 2
    assert len(rec["process"]["processes"]) >= 3  # the worker and its two loader workers
    assert not any(p["alive_at_end"] for p in rec["process"]["processes"])


@pytest.mark.slow
def test_out_of_memory_is_a_failed_run_and_the_matrix_goes_on(tmp_path, test_trackers):
    out = tmp_path / "out"
    assert main(["run", "--workload", "test-oom,mlp", *QUICK, "--out", str(out)]) == 1
    recs = _records(out)
    assert recs["mlp"]["status"] == "ok"
    oom = recs["test-oom"]
    assert oom["status"] == "failed" and oom["phase_reached"] == "setup"
    assert "OutOfMemoryError" in oom["error"] and "out of memory" in oom["error"]
    assert oom["throughput"] is None


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--device", "cpu", "--precision", "bf16"], "CUDA"),
        (["--device", "tpu"], "valid: auto, cpu, cuda"),
        (["--compile", "--warmup", "0"], "warm-up step"),
        (["--loader-workers", "3"], "--dataloader"),
        (["--workload", "gpt", "--preset", "huge"], "tiny, small, full"),
        (["--workload", "gpt,mlp", "--preset", "full18"], "for workload 'gpt'"),
        (["--workload", "nope"], "gpt, mlp, resnet"),
    ],
)
def test_bad_workload_options_are_usage_errors(tmp_path, capsys, extra, message):
    out = tmp_path / "out"
    assert main(["run", *extra, "--out", str(out)]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this host has CUDA")
def test_cuda_requested_without_cuda_is_a_usage_error(tmp_path, capsys):
    assert main(["run", "--device", "cuda:0", "--out", str(tmp_path / "out")]) == 2
    assert "CUDA is not available" in capsys.readouterr().err


def test_gpu_preset_on_a_cpu_warns_with_an_estimate_and_the_timeout():
    args = build_parser().parse_args(
        ["run", "--workload", "gpt,mlp", "--preset", "tiny,full", "--device", "cpu", "--out", "x"]
    )
    matrix, presets, classes = _resolve_matrix(args)
    console = Console(record=True, width=400)
    _warn_gpu_presets_on_cpu(console, expand(matrix, presets), classes, timeout_s=900)
    text = console.export_text()
    assert text.count("is meant for a GPU") == 2  # gpt/full and mlp/full, not the tiny ones
    assert "gpt/full" in text and "mlp/full" in text and "tiny" not in text
    assert "estimate" in text and "GFLOP/s" in text
    assert "--timeout 900" in text  # hours of CPU time cannot fit in 900 s


def test_env_lists_every_workload_with_its_presets(capsys):
    assert main(["env", "--json"]) == 0
    workloads = json.loads(capsys.readouterr().out)["workloads"]
    assert {"gpt", "mlp", "resnet"} <= set(workloads)
    assert workloads["gpt"]["full"]["gpu"] is True and workloads["gpt"]["tiny"]["gpu"] is False
    assert workloads["resnet"]["small"]["steps"] == load_workload("resnet").presets["small"].steps
    assert "ResNet-50" in workloads["resnet"]["full"]["note"]
