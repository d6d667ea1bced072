"""Expand a comparison into runs, ordered as randomised complete blocks.

Each block (one repetition) runs every configuration exactly once, in an order drawn from a
seeded random generator, so slow drift on the host (heat, clocks, neighbours) hits every
configuration alike and blocks can be paired in the analysis.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import random
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from bench.profiles import Profile

if TYPE_CHECKING:
    from workloads.base import Preset


def resolve_precision(
    requested: str, device: str, gpu_preset: bool, bf16_supported: bool = True
) -> str:
    """``auto`` is bf16 (autocast, TF32) for GPU presets on a CUDA device with bf16 hardware
    (compute capability 8.0 and newer) and fp32 everywhere else."""
    if requested != "auto":
        return requested
    return "bf16" if gpu_preset and device.startswith("cuda") and bf16_supported else "fp32"


# Fields added to the matrix after result directories already existed, with the value they
# implicitly had before: at that value they stay out of the fingerprint, so an older directory
# of the same comparison still resumes.
LATER_FIELDS = {
    "precision": "auto",
    "compile": False,
    "loader_workers": 0,
    "bf16_supported": True,
    "sysmetrics_interval_s": None,
}


@dataclass(frozen=True)
class MatrixSpec:
    """What the user asked for: the axes and the settings shared by every run.

    ``profiles`` carries each logging profile's full definition (user profiles from a file
    included), so a changed definition is a different comparison.
    """

    workloads: tuple[str, ...]
    presets: tuple[str, ...]
    trackers: tuple[str, ...]
    profiles: tuple[Profile, ...]
    reps: int
    seed: int
    steps: int | None
    warmup_steps: int | None
    threads: int
    device: str
    sample_interval_s: float
    precision: str = "auto"
    compile: bool = False
    loader_workers: int = 0
    bf16_supported: bool = True  # the CUDA device has bf16 hardware (for ``auto`` precision)
    sysmetrics_interval_s: float | None = None  # trackers' own samplers; None: shipped default

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        for key in ("workloads", "presets", "trackers", "profiles"):
            d[key] = list(d[key])
        return d

    def fingerprint(self) -> str:
        """Stable hash of the spec: a result directory holds runs of one spec only."""
        d = {k: v for k, v in self.to_dict().items() if LATER_FIELDS.get(k, object()) != v}
        blob = json.dumps(d, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


@dataclass(frozen=True)
class RunSpec:
    """One run: a configuration in a block. ``position`` is its place inside the block."""

    run_id: str
    workload: str
    preset: str
    tracker: str
    profile: dict[str, Any]
    rep: int
    block: int
    position: int
    seed: int
    steps: int
    warmup_steps: int
    threads: int
    device: str
    precision: str = "fp32"
    compile: bool = False
    loader_workers: int = 0
    sysmetrics_interval_s: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _interval(tracker: str, matrix_wide: float | None) -> float | None:
    """A configuration's own sampling period (``NAME:1s``) or the matrix-wide one."""
    from bench.trackers import split_interval

    return split_interval(tracker)[1] or matrix_wide


def run_id(workload: str, preset: str, tracker: str, profile: str, rep: int) -> str:
    """Identifier of a run, stable across resumes: ``workload.preset.tracker.profile.rN``."""
    return f"{workload}.{preset}.{tracker}.{profile}.r{rep}"


def expand(spec: MatrixSpec, presets: Mapping[tuple[str, str], Preset]) -> list[RunSpec]:
    """All runs of ``spec`` in execution order (block by block, shuffled inside each block).

    ``presets`` maps ``(workload, preset)`` to the workload's preset: its step counts are used
    where the spec does not override them, and ``gpu`` decides ``auto`` precision.
    """
    configs = list(itertools.product(spec.workloads, spec.presets, spec.trackers, spec.profiles))
    runs: list[RunSpec] = []
    for rep in range(spec.reps):
        order = list(configs)
        random.Random(f"trackerbench:{spec.seed}:{rep}").shuffle(order)
        for position, (workload, preset, tracker, profile) in enumerate(order):
            defaults = presets[(workload, preset)]
            runs.append(
                RunSpec(
                    run_id=run_id(workload, preset, tracker, profile.name, rep),
                    workload=workload,
                    preset=preset,
                    tracker=tracker,
                    profile=profile.to_dict(),
                    rep=rep,
                    block=rep,
                    position=position,
                    seed=spec.seed,
                    steps=spec.steps if spec.steps is not None else defaults.steps,
                    warmup_steps=(
                        spec.warmup_steps
                        if spec.warmup_steps is not None
                        else defaults.warmup_steps
                    ),
                    threads=spec.threads,
                    device=spec.device,
                    precision=resolve_precision(
                        spec.precision, spec.device, defaults.gpu, spec.bf16_supported
                    ),
                    compile=spec.compile,
                    loader_workers=spec.loader_workers,
                    sysmetrics_interval_s=_interval(tracker, spec.sysmetrics_interval_s),
                )
            )
    return runs
