"""Facts about the host for ``meta.json`` and ``trackerbench env``.

Only named facts are collected: never a dump of environment variables (they hold secrets).
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path
from typing import Any

import psutil

from bench.trackers import PluginError, load_tracker, tracker_names

PACKAGES = (
    "torch",
    "wandb",
    "mlflow",
    "tensorboard",
    "trackio",
    "codecarbon",
    "nvidia-ml-py",
    "psutil",
    "numpy",
    "scipy",
)


def package_version(dist: str) -> str | None:
    """Installed version of distribution ``dist``, or ``None``."""
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def cpu_model() -> str:
    """The CPU model name from ``/proc/cpuinfo`` (Linux), else ``platform.processor()``."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith(("model name", "hardware", "cpu model")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def harness_commit() -> str | None:
    """Git commit of the trackerbench source tree, when it is a git checkout."""
    root = Path(__file__).resolve().parents[1]
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")


def sampler_facts() -> dict[str, Any]:
    """Which energy samplers work here, and why the others do not."""
    from bench.samplers.nvml import nvml_facts
    from bench.samplers.rapl import rapl_facts

    return {"nvml": nvml_facts(), "rapl": rapl_facts(), "proctree": {"available": True}}


def tracker_facts() -> dict[str, Any]:
    """Every registered tracker (and add-on), its version and whether it is usable here.

    ``variants`` names the add-on forms a tracker also runs as (``+sysmetrics``).
    """
    from bench.trackers.codecarbon_addon import CodecarbonAddon

    facts: dict[str, Any] = {}
    classes: list[tuple[str, Any]] = []
    for name in tracker_names():
        try:
            classes.append((name, load_tracker(name)))
        except PluginError as exc:
            facts[name] = {"usable": False, "reason": str(exc)}
    classes.append(("+codecarbon", CodecarbonAddon))
    for name, cls in classes:
        reason = cls.unavailable_reason()
        facts[name] = {
            "usable": reason is None,
            "reason": reason,
            "package": cls.distribution,
            "version": package_version(cls.distribution) if cls.distribution else None,
            "variants": [name + "+sysmetrics"] if cls.sysmetrics_addon else [],
        }
    return dict(sorted(facts.items(), key=lambda kv: (kv[0] != "none", kv[0].startswith("+"))))


def collect(include_samplers: bool = True) -> dict[str, Any]:
    """All host facts as one JSON-serialisable mapping."""
    mem = psutil.virtual_memory()
    facts: dict[str, Any] = {
        "host": {
            "cpu_model": cpu_model(),
            "cpu_logical": psutil.cpu_count(logical=True),
            "cpu_physical": psutil.cpu_count(logical=False),
            "memory_bytes": mem.total,
            "kernel": platform.release(),
            "os": platform.platform(),
            "machine": platform.machine(),
        },
        "python": platform.python_version(),
        "packages": {name: package_version(name) for name in PACKAGES},
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "harness_commit": harness_commit(),
        "trackers": tracker_facts(),
    }
    if include_samplers:
        facts["samplers"] = sampler_facts()
    return facts
