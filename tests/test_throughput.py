"""Throughput and MFU arithmetic, and the peak-FLOPs lookup."""

import pytest

from workloads.throughput import peak_flops_per_s, summarise_throughput

CONFIG = {"samples_per_step": 16, "tokens_per_step": 16 * 1024, "flops_per_step": 2e12}


def test_throughput_is_steps_times_per_step_counts_over_the_measure_window():
    tp = summarise_throughput(
        CONFIG, steps=300, measure_wall_s=6.0, device_name="NVIDIA H200", precision="bf16"
    )
    assert tp["samples_per_s"] == pytest.approx(16 * 300 / 6.0)
    assert tp["tokens_per_s"] == pytest.approx(16 * 1024 * 300 / 6.0)
    assert tp["model_flops_per_s"] == pytest.approx(1e14)
    assert tp["peak_flops_per_s"] == 989e12 and "datasheet" in tp["peak_flops_source"]
    assert tp["mfu"] == pytest.approx(1e14 / 989e12) and tp["mfu_reason"] is None


@pytest.mark.parametrize(
    ("device", "precision", "reason"),
    [
        (None, "fp32", "GPU runs only"),
        ("NVIDIA H200", "fp32", "bf16 only"),
        ("NVIDIA H200 NVL", "bf16", "no peak"),
        ("NVIDIA H100 80GB HBM3 MIG 3g.40gb", "bf16", "no peak"),
        ("NVIDIA GeForce RTX 4090", "bf16", "no peak"),
    ],
)
def test_mfu_is_null_with_a_reason_where_no_peak_is_on_record(device, precision, reason):
    tp = summarise_throughput(CONFIG, 10, 1.0, device, precision)
    assert tp["mfu"] is None and tp["peak_flops_per_s"] is None and reason in tp["mfu_reason"]
    assert tp["samples_per_s"] == 160  # the rates do not depend on a peak


@pytest.mark.parametrize(
    ("name", "peak"),
    [
        ("NVIDIA H100 80GB HBM3", 989e12),
        ("NVIDIA H100 PCIe", 756e12),
        ("NVIDIA A100-SXM4-80GB", 312e12),
        ("NVIDIA A100 80GB PCIe", 312e12),
    ],
)
def test_known_gpus_get_their_datasheet_peak(name, peak):
    assert peak_flops_per_s(name, "bf16")[0] == peak


def test_no_throughput_without_a_completed_measure_window():
    assert summarise_throughput(None, 10, 1.0, None, "fp32") is None
    assert summarise_throughput(CONFIG, 10, None, None, "fp32") is None
    no_tokens = summarise_throughput({**CONFIG, "tokens_per_step": None}, 10, 2.0, None, "fp32")
    assert no_tokens["tokens_per_s"] is None and no_tokens["samples_per_s"] == 80
