"""Throughput, model FLOPs utilisation, and the expected time of a preset on this host.

Peak FLOP rates are vendor datasheet figures (dense, no structured sparsity), used only as the
denominator of model FLOPs utilisation (MFU) and named as such in every record that uses one.
"""

from __future__ import annotations

import time
from typing import Any

PEAK_SOURCE = "NVIDIA datasheet, dense BF16 tensor-core peak (no sparsity)"
# (words that must all be in torch.cuda.get_device_name(), words that must not be,
#  peak dense BF16 FLOP/s). A MIG slice has a fraction of the chip: no peak on record.
_BF16_PEAKS: tuple[tuple[tuple[str, ...], tuple[str, ...], float], ...] = (
    (("H200",), ("NVL", "MIG"), 989e12),
    (("H100", "HBM3"), ("MIG",), 989e12),
    (("H100", "SXM5"), ("MIG",), 989e12),
    (("H100", "PCIe"), ("MIG",), 756e12),
    (("A100",), ("MIG",), 312e12),
)


def peak_flops_per_s(device_name: str | None, precision: str) -> tuple[float | None, str]:
    """Peak FLOP/s of ``device_name`` at ``precision`` and its source, or ``None`` and why."""
    if not device_name:
        return None, "no CUDA device: MFU is stated for GPU runs only"
    if precision != "bf16":
        return None, f"peak FLOP/s is tabulated for bf16 only (this run: {precision})"
    words = set(device_name.replace("-", " ").split())
    for need, avoid, peak in _BF16_PEAKS:
        if words.issuperset(need) and not words.intersection(avoid):
            return peak, PEAK_SOURCE
    return None, f"no peak FLOP/s on record for {device_name!r}"


def summarise_throughput(
    workload: dict[str, Any] | None,
    steps: int,
    measure_wall_s: float | None,
    device_name: str | None,
    precision: str,
) -> dict[str, Any] | None:
    """The record's ``throughput``: rates over the measure window, FLOPs and MFU.

    ``workload`` is the workload's ``config()`` as the worker recorded it; ``None`` (the run
    failed before building it) gives ``None``.
    """
    if not workload or not measure_wall_s or measure_wall_s <= 0:
        return None
    samples = workload.get("samples_per_step")
    tokens = workload.get("tokens_per_step")
    flops = workload.get("flops_per_step")
    flops_per_s = flops * steps / measure_wall_s if flops else None
    peak, peak_note = peak_flops_per_s(device_name, precision)
    mfu = flops_per_s / peak if flops_per_s and peak else None
    return {
        "method": "steps x per-step count / measure-window wall time",
        "samples_per_s": samples * steps / measure_wall_s if samples else None,
        "tokens_per_s": tokens * steps / measure_wall_s if tokens else None,
        "samples_per_step": samples,
        "tokens_per_step": tokens,
        "flops_per_step": flops,
        "model_flops_per_s": flops_per_s,
        "mfu": mfu,
        "peak_flops_per_s": peak,
        "peak_flops_source": peak_note if peak else None,
        "mfu_reason": None if mfu is not None else peak_note,
    }


def probe_cpu_flops_per_s(threads: int, seconds: float = 0.3) -> float:
    """FLOP/s of fp32 matrix products on this CPU with ``threads`` threads (a short probe).

    Used only to *estimate* how long a GPU-sized preset would take here; the estimate is
    labelled as one wherever it is shown.
    """
    import torch

    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        n = 512
        a, b = torch.randn(n, n), torch.randn(n, n)
        a @ b  # first call pays for thread-pool start-up
        count, t0 = 0, time.perf_counter()
        while (elapsed := time.perf_counter() - t0) < seconds:
            a @ b
            count += 1
        return 2 * n**3 * count / elapsed
    finally:
        torch.set_num_threads(previous)
