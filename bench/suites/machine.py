"""Host facts for pytest-benchmark's ``machine_info`` (``machine_info["trackerbench"]``).

Named facts only (never the environment): the host facts ``meta.json`` records (CPU model,
memory, packages, every tracker's version and whether it can run here, NVML and RAPL), GPUs as
NVML sees them (driver, CUDA driver version, whether each GPU's total-energy counter works) or
why NVML is not there, and torch with its CUDA build.
"""

from __future__ import annotations

from typing import Any

from bench.environment import collect, usable_cpus


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
    """The facts merged into ``machine_info`` (JSON-serialisable): what ``meta.json`` records
    (:func:`bench.environment.collect`), plus ``gpu`` (NVML's facts, or why there is no GPU
    energy figure) and ``torch``."""
    facts = collect()
    nvml = facts["samplers"]["nvml"]
    facts["gpu"] = (
        nvml
        if nvml.get("available")
        else {
            "available": False,
            "reason": f"no GPU energy figures on this host: {nvml.get('reason')}",
        }
    )
    facts["torch"] = torch_facts()
    facts["threads"] = usable_cpus()  # the macro rounds' torch threads
    return facts
