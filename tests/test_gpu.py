"""CUDA paths of the workloads and the CLI: skipped on hosts without a CUDA device."""

from __future__ import annotations

import json

import pytest
import torch

from bench.cli import main
from workloads.base import Options, bf16_supported, materialise
from workloads.registry import load_workload

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device on this host"),
]


@pytest.mark.parametrize("name", ["gpt", "mlp", "resnet"])
def test_tiny_presets_train_on_cuda_with_bf16_and_a_dataloader(name):
    device = torch.device("cuda", torch.cuda.current_device())
    precision = "bf16" if bf16_supported(device) else "fp32"
    workload = load_workload(name)()
    workload.build("tiny", device, 0, Options(precision=precision, loader_workers=2))
    losses = [materialise(workload.step(i))["loss"] for i in range(30)]
    workload.close()
    assert all(loss == loss for loss in losses)  # no NaN
    assert sum(losses[-5:]) < sum(losses[:5])
    config = workload.config()
    assert config["tf32"] is (precision == "bf16")
    assert config["channels_last"] is (name == "resnet")


def test_cli_on_cuda_records_device_name_precision_and_mfu_fields(tmp_path):
    out = tmp_path / "out"
    args = ["run", "--workload", "gpt", "--preset", "tiny", "--tracker", "none", "--reps", "1"]
    assert main([*args, "--steps", "20", "--device", "auto", "--out", str(out)]) == 0
    rec = json.loads((out / "runs.jsonl").read_text().splitlines()[0])
    assert rec["status"] == "ok", rec["error"]
    assert rec["workload"]["torch"]["device"].startswith("cuda:")
    assert rec["workload"]["torch"]["device_name"] == torch.cuda.get_device_name()
    assert rec["spec"]["precision"] == "fp32"  # tiny is not a GPU preset
    tp = rec["throughput"]
    assert tp["mfu"] is None and "bf16 only" in tp["mfu_reason"]
