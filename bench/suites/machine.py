"""Host facts for pytest-benchmark's ``machine_info`` (``machine_info["trackerbench"]``).

Named facts only (never the environment): GPUs as NVML sees them (driver, CUDA driver version,
whether each GPU's total-energy counter works) or why NVML is not there, the CPU model, RAPL,
torch and its CUDA build, and every tracker's version and whether it can run here.
"""

from __future__ import annotations

from typing import Any

from bench.environment import PACKAGES, cpu_model, harness_commit, package_version, tracker_facts


def torch_facts() -> dict[str, Any]:
    """torch's version, the CUDA version it was built with, and the CUDA devices it sees."""
    try:
        import torch
    except ImportError as exc:
        return {"importable": False, "reason": str(exc)}
    available = torch.cuda.is_available()
    return {
        "version": torch.__version__,
        "cuda_build": torch.version.cuda,
        "cuda_available": available,
        "devices": (
            [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
            if available
            else []
        ),
    }


def machine_facts() -> dict[str, Any]:
    """The facts merged into ``machine_info`` (JSON-serialisable)."""
    import psutil

    from bench.samplers.nvml import nvml_facts
    from bench.samplers.rapl import rapl_facts

    nvml = nvml_facts()
    gpu: dict[str, Any] = dict(nvml)
    if not nvml.get("available"):
        gpu = {
            "available": False,
            "reason": f"no GPU energy figures on this host: {nvml.get('reason')}",
        }
    return {
        "gpu": gpu,
        "cpu": {
            "model": cpu_model(),
            "logical": psutil.cpu_count(logical=True),
            "physical": psutil.cpu_count(logical=False),
            "memory_bytes": psutil.virtual_memory().total,
        },
        "rapl": rapl_facts(),
        "torch": torch_facts(),
        "trackers": {
            name: {k: fact[k] for k in ("version", "usable", "reason") if k in fact}
            for name, fact in tracker_facts().items()
        },
        "packages": {name: package_version(name) for name in PACKAGES},
        "harness_commit": harness_commit(),
    }
