"""Logging profiles: what a run sends its tracker, and how often.

A profile says how many scalars each logged step carries, how many steps lie between logged
steps, and whether histograms of the weights and model checkpoints (artifacts) are logged.
The worker computes every profile's data for every tracker, ``none`` included, so the difference
between configurations is the tracker's cost alone.

The scalars of a logged step are, in order: the workload's own metrics (loss, accuracy or
perplexity, lr, grad_norm) and the throughput since the previous logged step, cut to the
profile's count; then, if the profile wants more, L2 norms of equal chunks of the flattened
weights and gradients (``weights/chunk_007_norm``, ``grads/chunk_007_norm``), computed from
the model's real tensors in one pass and materialised with one device synchronisation.

User profiles come from a TOML file (``--profiles-file``)::

    [profiles.sparse]
    scalars = 8          # scalars per logged step
    every = 25           # steps between logged steps
    histogram_every = 100  # optional: a histogram of the weights every N steps
    artifact_every = 500   # optional: a checkpoint logged as an artifact every N steps
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import tomllib

if TYPE_CHECKING:
    import torch

HISTOGRAM_BINS = 64


@dataclass(frozen=True)
class Histogram:
    """Bin counts and edges (``len(edges) == len(counts) + 1``) with the values' exact
    count, sum, sum of squares, minimum and maximum."""

    counts: list[float]
    edges: list[float]
    count: int
    sum: float
    sum_squares: float
    min: float
    max: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class ProfileError(Exception):
    """A profile name or a profiles file is invalid."""


@dataclass(frozen=True)
class Profile:
    """One logging profile. Steps are training-step indices (``step % every == 0`` logs)."""

    name: str
    scalars: int
    every: int
    histogram_every: int | None = None
    artifact_every: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not re.fullmatch(r"[A-Za-z0-9_-]+", self.name):
            raise ProfileError(
                f"profile name {self.name!r}: use letters, digits, '-' and '_' only "
                "(it becomes part of each run's id and directory)"
            )
        for key in ("scalars", "every", "histogram_every", "artifact_every"):
            value = getattr(self, key)
            optional = key in ("histogram_every", "artifact_every")
            if value is None and optional:
                continue
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ProfileError(
                    f"profile {self.name!r}: {key} must be a positive integer, got {value!r}"
                )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def measured_calls(self, warmup_steps: int, steps: int) -> dict[str, int]:
        """How many log, histogram and artifact calls fall in the measure window."""
        window = range(warmup_steps, warmup_steps + steps)

        def count(every: int | None) -> int:
            return sum(1 for i in window if i % every == 0) if every else 0

        return {
            "log": count(self.every),
            "histogram": count(self.histogram_every),
            "artifact": count(self.artifact_every),
        }


BUILTIN_PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        Profile("light", scalars=4, every=10),
        Profile("standard", scalars=20, every=1),
        Profile("heavy", scalars=200, every=1, histogram_every=50),
        Profile("artifacts", scalars=20, every=1, artifact_every=100),
    )
}


def load_profiles_file(path: Path) -> dict[str, Profile]:
    """User profiles from a TOML file (``[profiles.NAME]`` tables); errors name the file."""
    path = Path(path)
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ProfileError(f"{path}: cannot read ({exc.strerror or exc})") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ProfileError(f"{path}: not valid TOML ({exc})") from exc
    tables = doc.get("profiles")
    if not isinstance(tables, dict) or not tables:
        raise ProfileError(f"{path}: no [profiles.NAME] tables found")
    known = {f.name for f in fields(Profile)} - {"name"}
    out: dict[str, Profile] = {}
    for name, table in tables.items():
        if not isinstance(table, dict):
            raise ProfileError(f"{path}: profiles.{name} must be a table")
        unknown = sorted(set(table) - known)
        if unknown:
            raise ProfileError(
                f"{path}: profiles.{name}: unknown key(s) {', '.join(unknown)}; "
                f"valid: {', '.join(sorted(known))}"
            )
        missing = sorted({"scalars", "every"} - set(table))
        if missing:
            raise ProfileError(f"{path}: profiles.{name}: missing {', '.join(missing)}")
        try:
            out[name] = Profile(name=name, **table)
        except ProfileError as exc:
            raise ProfileError(f"{path}: {exc}") from None
    return out


def resolve_profiles(names: tuple[str, ...], path: Path | None = None) -> tuple[Profile, ...]:
    """The profiles named (built-in, or from ``path``, which may redefine a built-in name)."""
    available = dict(BUILTIN_PROFILES)
    if path is not None:
        available.update(load_profiles_file(path))
    unknown = [n for n in names if n not in available]
    if unknown:
        raise ProfileError(
            f"unknown profile {unknown[0]!r}; valid: {', '.join(available)}"
            + ("" if path else " (user profiles come from --profiles-file)")
        )
    return tuple(available[n] for n in names)


# --------------------------------------------------------------------------- worker side


def chunk_norms(tensors: list[torch.Tensor], count: int) -> torch.Tensor:
    """L2 norms of ``count`` equal chunks of the tensors laid end to end (float32).

    Nothing is copied: each chunk is a set of views into the tensors (contiguous ones; others
    are flattened), their norms come from one fused ``torch._foreach_norm`` (what
    ``clip_grad_norm_`` uses) and are combined per chunk on the device; no synchronisation.
    The last chunk may be shorter.
    """
    import torch

    total = sum(t.numel() for t in tensors)
    size = -(-total // count)  # elements per chunk, rounded up
    pieces: list[torch.Tensor] = []
    owners: list[int] = []
    start = 0
    for tensor in tensors:
        flat = tensor.detach().reshape(-1)
        offset = 0
        while offset < flat.numel():
            chunk = (start + offset) // size
            take = min(flat.numel() - offset, (chunk + 1) * size - start - offset)
            pieces.append(flat[offset : offset + take])
            owners.append(chunk)
            offset += take
        start += flat.numel()
    squares = torch.stack(torch._foreach_norm(pieces)).float().square()
    index = torch.tensor(owners, device=squares.device)
    out = torch.zeros(count, dtype=torch.float32, device=squares.device)
    return out.index_add_(0, index, squares).sqrt()


class ScalarSource:
    """Builds each logged step's scalars for a profile from a model's tensors.

    ``rate_keys`` is how many throughput scalars the caller adds after the workload's metrics
    (they come before the extra norms).
    """

    def __init__(self, profile: Profile, model: torch.nn.Module, rate_keys: int = 0) -> None:
        self.profile = profile
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.rate_keys = rate_keys

    def materialise(self, metrics: dict[str, Any]) -> tuple[dict[str, float], dict[str, float]]:
        """The workload's metrics as floats, and the extra norms the profile needs.

        One device synchronisation for both (a single ``.tolist()``).
        """
        import torch

        tensors = [k for k, v in metrics.items() if isinstance(v, torch.Tensor)]
        parts = [metrics[k].detach().float().reshape(1) for k in tensors]
        extra = max(0, self.profile.scalars - len(metrics) - self.rate_keys)
        n_weights = (extra + 1) // 2
        n_grads = extra - n_weights
        if n_weights:
            parts.append(chunk_norms(self.params, n_weights))
        if n_grads:
            grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in self.params]
            parts.append(chunk_norms(grads, n_grads))
        flat = torch.cat([p.to(parts[0].device) for p in parts]).tolist() if parts else []
        read = dict(zip(tensors, flat[: len(tensors)], strict=True))
        values = {k: read[k] if k in read else float(v) for k, v in metrics.items()}
        norms = flat[len(tensors) :]
        extras = {f"weights/chunk_{k:03d}_norm": norms[k] for k in range(n_weights)}
        extras.update({f"grads/chunk_{k:03d}_norm": norms[n_weights + k] for k in range(n_grads)})
        return values, extras

    def scalars(self, base: dict[str, float], extras: dict[str, float]) -> dict[str, float]:
        """``base`` (workload metrics, throughput) cut, or filled with ``extras``, to the
        profile's count."""
        wanted = self.profile.scalars
        out = dict(list(base.items())[:wanted])
        out.update(list(extras.items())[: wanted - len(out)])
        return out

    def weight_histogram(self) -> Histogram:
        """A histogram of every weight, ``HISTOGRAM_BINS`` equal bins from min to max."""
        import torch

        flat = torch.cat([p.detach().reshape(-1).float() for p in self.params])
        lo_t, hi_t = torch.aminmax(flat)
        moments = torch.stack([flat.sum(), flat.square().sum(), lo_t, hi_t]).tolist()
        total, squares, lo, hi = moments
        top = hi if hi > lo else lo + 1.0
        counts = torch.histc(flat, bins=HISTOGRAM_BINS, min=lo, max=top).tolist()
        width = (top - lo) / HISTOGRAM_BINS
        edges = [lo + i * width for i in range(HISTOGRAM_BINS)] + [top]
        return Histogram(counts, edges, flat.numel(), total, squares, lo, hi)
